//! Example LL client. It makes one task (LL priority, period, phase and
//! run count from its argument), lets `ll-sched` run it, and prints each
//! run and the task's statistics. The argument is
//! `runs | priority << 8 | period << 16 | phase << 24`.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use ll::{Outcome, Task};
use sotto_rt::println;

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them (0 is the console, 3 the clock).
const LL: u32 = 1;
const TASKS: u32 = 2;

fn main(arg: u32) {
    let runs = (arg & 0xFF).max(1);
    let priority = (arg >> 8) as u8;
    let period = ((arg >> 16) as u8).max(1);
    let phase = (arg >> 24) as u8;
    let scheduler = ll::Scheduler::connect(LL, TASKS).expect("register with ll-sched");
    let task = Task::new(priority, u16::from(period))
        .phase(u16::from(phase))
        .create(&scheduler)
        .expect("make the task");
    task.schedule().expect("schedule");
    println!(
        "task {} queued: LL priority {priority}, every {period} tick(s), phase {phase}, {runs} runs",
        task.id()
    );
    scheduler
        .serve(TASKS, |run| {
            let start = sotto_rt::sys::cycles();
            // A little signal processing: a few hundred instructions.
            let mut acc: u32 = run.tick;
            for i in 0..100u32 {
                acc = acc
                    .wrapping_mul(1_664_525)
                    .wrapping_add(core::hint::black_box(i));
            }
            println!(
                "run {} at tick {} ({} cycles in the handler, {acc:#010x})",
                run.count,
                run.tick,
                sotto_rt::sys::cycles().wrapping_sub(start)
            );
            if run.count >= runs {
                Outcome::Completed
            } else {
                Outcome::Reschedule
            }
        })
        .expect("serve");
    let (runs_done, overruns) = task.counts().expect("counts");
    let (average, max) = task.cycles().expect("cycles");
    println!(
        "done: state {:?}, {runs_done} runs, {overruns} overruns, avg {average} max {max} cycles",
        task.state().expect("state")
    );
}
