//! Benchmark service. With argument 0 it measures the null system call;
//! with 1 and 2, two instances at the same priority yield to each other
//! and instance 1 measures the round trip (two context switches, each with
//! an address-space switch). Counts come from the kernel's cycle counter:
//! under `-icount shift=0` one count is 100 instructions.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::{println, sys};

sotto_rt::entry!(main);

const REPETITIONS: u32 = 10_000;

/// Instructions per repetition, in hundredths.
fn per_op(counts: u32, operations: u32) -> u32 {
    (u64::from(counts) * 100 * 100 / u64::from(operations)) as u32
}

fn main(role: u32) {
    match role {
        0 => {
            let start = sys::cycles();
            for _ in 0..REPETITIONS {
                sys::null();
            }
            let counts = sys::cycles().wrapping_sub(start);
            let hundredths = per_op(counts, REPETITIONS);
            println!(
                "bench null-syscall: {}.{:02} instructions per call",
                hundredths / 100,
                hundredths % 100
            );
        }
        1 => {
            sys::yield_now();
            let start = sys::cycles();
            for _ in 0..REPETITIONS {
                sys::yield_now();
            }
            let counts = sys::cycles().wrapping_sub(start);
            // Each iteration switches away and back: two switches.
            let hundredths = per_op(counts, 2 * REPETITIONS);
            println!(
                "bench context-switch: {}.{:02} instructions per switch (yield, address-space change included)",
                hundredths / 100,
                hundredths % 100
            );
        }
        _ => {
            for _ in 0..=REPETITIONS + 1 {
                sys::yield_now();
            }
        }
    }
}
