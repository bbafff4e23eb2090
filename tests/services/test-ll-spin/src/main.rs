//! Test LL client (`tests/ll-restart.toml`, `ll-spin`): one task every LL
//! tick, 30 runs, each printed as `run COUNT at tick N`; the first run on
//! kernel tick 10 or later spins into the next kernel tick (with a 2-tick
//! LL period it still replies in time). The tests inject a fault there —
//! of ll-sched, or of this client — while ll-sched waits in its call. It
//! has no code for either: what happens is the QEMU test's to read. (Its
//! own crate, not a test of `test-ll`: that one is also the LL benchmark's
//! client, whose code layout the benchmark's figures depend on.)

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use ll::{Outcome, Task};
use sotto_rt::{println, sys};

sotto_rt::entry!(main);

/// Slots, as `tests/ll-restart.toml` grants them (0 is the console, 3 the
/// clock).
const LL: u32 = 1;
const TASKS: u32 = 2;

fn main(_: u32) {
    let scheduler = ll::Scheduler::connect(LL, TASKS).expect("register");
    let task = Task::new(0, 1).create(&scheduler).expect("init");
    task.schedule().expect("schedule");
    let mut spun = false;
    scheduler
        .serve(TASKS, |run| {
            println!("run {} at tick {}", run.count, run.tick);
            if !spun && run.tick >= 10 {
                spun = true;
                println!("spinning from tick {}", sys::ticks());
                while sys::ticks() <= run.tick {}
                let start = sys::cycles();
                while sys::cycles().wrapping_sub(start) < 1_000 {}
                println!("spun until tick {}", sys::ticks());
            }
            if run.count == 30 {
                Outcome::Completed
            } else {
                Outcome::Reschedule
            }
        })
        .expect("serve");
    println!("done: state {:?} after {} runs", task.state(), task.runs());
}
