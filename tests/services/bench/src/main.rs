//! Benchmark service; the argument picks the measurement. Counts come from
//! the kernel's cycle counter: under `-icount shift=0` one count is 100
//! instructions, and 10,000 repetitions give 0.01-instruction resolution.
//!
//! 0 null system call; 1 and 2 yield to each other (context switch);
//! 3 IPC server and 4 IPC client (call + reply round trip); 5 semaphore
//! give with no waiter; 6 notification signal with no waiter; 7 timer
//! interrupt to this thread running (prints the wake-up cycle counts for
//! `cargo xtask bench` to subtract the tick grid); 8 IPC server and 9 IPC
//! client with a capability in every call (the server drops it before
//! the next receive); 10 the cost of a timer interrupt (a spin loop
//! without and with a timer firing every tick); 11 idle (waits forever:
//! the kernel counts the timer interrupts it takes); 12 spins through 20
//! ticks of its own and reports which ticks it ran in (two of them at one
//! priority share the CPU a tick at a time); 13 a service event of the
//! trace of the schedule (the `Trace` call; the image traces or not).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::ipc::{self, Message};
use sotto_rt::{cap, println, sync, sys};

sotto_rt::entry!(main);

/// Slots, as `tests/system.toml` grants them (0 is the console).
const ENDPOINT: u32 = 1;
const SEMAPHORE: u32 = 2;
const NOTE: u32 = 3;
const TIMER: u32 = 4;
/// The semaphore again, with the right to pass it on.
const GRANTABLE: u32 = 6;
/// Where the IPC server receives a capability.
const RECEIVED: u32 = 7;

const REPETITIONS: u32 = 10_000;

/// Print instructions per operation, in hundredths, for `operations`
/// operations that took `counts` CCOUNT counts.
fn report(what: &str, counts: u32, operations: u32) {
    let hundredths = (u64::from(counts) * 100 * 100 / u64::from(operations)) as u32;
    println!(
        "bench {what}: {}.{:02} instructions",
        hundredths / 100,
        hundredths % 100
    );
}

/// Run `op` REPETITIONS times and report the cost of one.
fn measure(what: &str, mut op: impl FnMut()) {
    op();
    let start = sys::cycles();
    for _ in 0..REPETITIONS {
        op();
    }
    report(what, sys::cycles().wrapping_sub(start), REPETITIONS);
}

fn main(role: u32) {
    match role {
        0 => measure("null-syscall", sys::null),
        1 => {
            sys::yield_now();
            let start = sys::cycles();
            for _ in 0..REPETITIONS {
                sys::yield_now();
            }
            // Each iteration switches away and back: two switches.
            report(
                "context-switch",
                sys::cycles().wrapping_sub(start),
                2 * REPETITIONS,
            );
        }
        2 => {
            for _ in 0..=REPETITIONS + 1 {
                sys::yield_now();
            }
        }
        3 => {
            let mut request = ipc::receive(ENDPOINT, None).expect("receive");
            loop {
                let reply = Message {
                    words: [request.message.words[0] + 1, 0, 0],
                    len: 0,
                    cap: None,
                };
                request = ipc::reply_receive(ENDPOINT, &reply, None).expect("reply and receive");
            }
        }
        4 => {
            let mut value = 0;
            measure("ipc-round-trip", || {
                let reply = ipc::call(
                    ENDPOINT,
                    &Message {
                        words: [value, 0, 0],
                        len: 0,
                        cap: None,
                    },
                    None,
                )
                .expect("call");
                value = reply.message.words[0];
            });
            println!("bench ipc-round-trip: {value} replies checked");
            sys::exit(0);
        }
        5 => measure("semaphore-give", || sync::give(SEMAPHORE).expect("give")),
        6 => measure("notification-signal", || {
            sync::signal(NOTE, 1).expect("signal")
        }),
        7 => {
            const WAKES: u32 = 100;
            sync::arm_ticks(TIMER, 1, 1).expect("arm");
            sync::wait(NOTE).expect("first wait");
            // One tick is 10,000 counts (1 kHz tick, 10 MHz CCOUNT).
            let mut phases = sys::PhaseSum::new(10_000);
            for _ in 0..WAKES {
                sync::wait(NOTE).expect("wait");
                phases.add(sys::cycles());
            }
            let sum = phases.sum;
            sync::cancel(TIMER).expect("cancel");
            println!("bench timer-wake: {WAKES} wakes, phase sum {sum}");
        }
        8 => {
            let mut request = ipc::receive(ENDPOINT, Some(RECEIVED)).expect("receive");
            loop {
                assert!(request.cap_received, "a capability with every call");
                cap::delete(RECEIVED).expect("drop the capability");
                let reply = Message {
                    words: [request.message.words[0] + 1, 0, 0],
                    len: 0,
                    cap: None,
                };
                request = ipc::reply_receive(ENDPOINT, &reply, Some(RECEIVED))
                    .expect("reply and receive");
            }
        }
        9 => {
            let mut value = 0;
            measure("ipc-cap-round-trip", || {
                let reply = ipc::call(
                    ENDPOINT,
                    &Message {
                        words: [value, 0, 0],
                        len: 0,
                        cap: Some(GRANTABLE),
                    },
                    None,
                )
                .expect("call");
                value = reply.message.words[0];
            });
            println!("bench ipc-cap-round-trip: {value} replies checked");
            sys::exit(0);
        }
        10 => {
            // About 1,000 ticks (10^9 instructions) of spinning; the same loop without any
            // interrupt, then with a timer firing on every tick.
            const SPINS: u32 = 200_000_000;
            let spin = || {
                for i in 0..SPINS {
                    core::hint::black_box(i);
                }
            };
            let window = || {
                let (ticks, start) = (sys::ticks(), sys::cycles());
                spin();
                let counts = sys::cycles().wrapping_sub(start);
                (sys::ticks().wrapping_sub(ticks), counts)
            };
            spin();
            let (quiet_ticks, quiet) = window();
            sync::arm_ticks(TIMER, 1, 1).expect("arm");
            let (ticks, busy) = window();
            sync::cancel(TIMER).expect("cancel");
            println!(
                "bench tick-cost: {ticks} interrupts, counts {busy} with them, {quiet} without ({quiet_ticks} ticks)"
            );
        }
        11 => {
            sync::wait(NOTE).expect("wait");
        }
        12 => {
            let first = sys::ticks();
            let (mut last, mut seen) = (first, 1);
            while seen < 20 {
                let now = sys::ticks();
                if now != last {
                    last = now;
                    seen += 1;
                }
            }
            println!("spun in {seen} ticks from tick {first} to tick {last}");
        }
        13 => {
            // A service event in the trace of the schedule (the `Trace`
            // call itself, as ll-sched's tick makes it): recorded when the
            // boot configuration traces, a no-op answer when not.
            let code = u32::from(sotto_rt::trace::code::LL_TICK);
            let (status, recorded) = sys::raw_syscall(sys::Syscall::Trace as u32, [code, 1, 2, 0]);
            measure("trace-event", || {
                let _ = sys::raw_syscall(sys::Syscall::Trace as u32, [code, 1, 2, 0]);
            });
            println!("bench trace status {status}, recorded {recorded}");
        }
        _ => println!("bench: unknown role {role}"),
    }
}
