//! Example service: sleeps on the kernel tick a few times and reports how
//! much virtual time each sleep took.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::{println, sys};

sotto_rt::entry!(main);

fn main(period_ms: u32) {
    let period_ms = period_ms.max(1);
    for round in 1..=4 {
        let before = sys::cycles();
        sys::sleep_us(period_ms * 1000);
        let slept = sys::cycles().wrapping_sub(before);
        println!(
            "round {round}: slept {} µs (tick {})",
            slept / 10,
            sys::ticks()
        );
    }
}
