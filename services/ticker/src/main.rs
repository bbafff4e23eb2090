//! Example service driven by a periodic timer: the timer (armed at boot in
//! `system.toml`) signals a notification; each wait returns on the exact
//! tick of the period.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::{println, sync, sys};

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them.
const TICK: u32 = 1;
const TIMER: u32 = 2;

fn main(rounds: u32) {
    let mut last = sys::ticks();
    for round in 1..=rounds.max(1) {
        let bits = sync::wait(TICK).expect("wait for the timer");
        let now = sys::ticks();
        println!(
            "round {round}: tick {now} (+{}), bits {bits:#x}",
            now - last
        );
        last = now;
    }
    sync::cancel(TIMER).expect("stop the timer");
}
