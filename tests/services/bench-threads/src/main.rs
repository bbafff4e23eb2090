//! Benchmark service of two threads (`tests/bench-threads.toml`): the
//! main thread and its `partner` thread, of the same priority, yield to
//! each other; the main thread counts instructions per context switch
//! between two threads of one service, measured as `bench`'s switch
//! between two services (same loop, same repetitions).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::{println, sys};

sotto_rt::entry!(main);
sotto_rt::thread!(partner_main, partner);

const REPETITIONS: u32 = 10_000;

fn main(_arg: u32) {
    sys::yield_now();
    let start = sys::cycles();
    for _ in 0..REPETITIONS {
        sys::yield_now();
    }
    let counts = sys::cycles().wrapping_sub(start);
    // Each iteration switches away and back: two switches.
    let hundredths = (u64::from(counts) * 100 * 100 / u64::from(2 * REPETITIONS)) as u32;
    println!(
        "bench context-switch-threads: {}.{:02} instructions",
        hundredths / 100,
        hundredths % 100
    );
}

/// The `partner` thread: yields back until the main thread has measured
/// (then it sleeps for good; the main thread's return ends the service).
fn partner(_arg: u32) {
    for _ in 0..=REPETITIONS + 1 {
        sys::yield_now();
    }
}
