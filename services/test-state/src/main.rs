//! Test service: user-writable processor state is per service. The
//! argument's low byte picks the check, the rest is a seed:
//!
//! - 1, registers: a fresh service finds SCOMPARE1, THREADPTR, ACCLO,
//!   ACCHI, M0..M3, LITBASE and EXPSTATE zero; then, many times, it writes its own
//!   values into all of them, yields (another service writes its values
//!   meanwhile) and checks they are still its own.
//! - 2, atomics: adds 1 to a shared counter 1000 × `arg >> 8 & 0xFFFF` times
//!   with compare-and-swap (a wide window between `wsr scompare1` and
//!   `s32c1i`, so preemption lands inside it), then, once every one of
//!   `arg >> 24` services is done, prints the counter.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::Ordering;

use sotto_rt::fault::{self, STATE_NAMES, STATE_REGISTERS};
use sotto_rt::println;
use sotto_rt::sys::Syscall;

sotto_rt::entry!(main);

/// The shared region (tests/system.toml): word 0 the counter, word 1 how
/// many services are done.
const SHARED: u32 = 1;
/// Register rounds in the registers check.
const ROUNDS: u32 = 2000;

fn main(arg: u32) {
    match arg & 0xFF {
        1 => registers(arg >> 8),
        2 => atomics(((arg >> 8) & 0xFFFF) * 1000, arg >> 24),
        _ => println!("no such check"),
    }
}

/// The values written in round `round`: distinct per seed and round, with
/// each register's width respected (ACCHI holds 8 bits, LITBASE a page
/// address and its enable bit).
fn pattern(seed: u32, round: u32) -> [u32; STATE_REGISTERS] {
    let base = seed.wrapping_mul(0x9E37_79B9) ^ round.wrapping_mul(0x85EB_CA6B);
    let mut values = [0; STATE_REGISTERS];
    for (index, value) in values.iter_mut().enumerate() {
        *value = base.rotate_left(index as u32 * 3) ^ (index as u32);
    }
    values[3] = (base & 0x7F) | 1; // ACCHI: 8 bits, sign-extended
    values[8] = 0x4000_0000 | ((base & 0xFFF) << 12) | 1; // LITBASE on
    values
}

fn registers(seed: u32) {
    let fresh = fault::read_state();
    for (name, value) in STATE_NAMES.iter().zip(fresh) {
        if value != 0 {
            println!("LEAK: fresh {name} = {value:#010x}, not 0");
        }
    }
    println!("registers: fresh state checked");
    let mut lost = 0;
    for round in 0..ROUNDS {
        let values = pattern(seed, round);
        let (seen, status) = fault::swap_state(&values, Syscall::Yield as u32, 0);
        if status != 0 {
            println!("FAIL: yield returned {status}");
        }
        for ((name, wrote), read) in STATE_NAMES.iter().zip(values).zip(seen) {
            if wrote != read && lost < 10 {
                println!("LEAK: round {round}: {name} was {wrote:#010x}, now {read:#010x}");
            }
            lost += u32::from(wrote != read);
        }
    }
    println!("registers: {ROUNDS} rounds, {lost} registers changed");
}

fn atomics(times: u32, services: u32) {
    let Ok(words) = sotto_rt::mem::shared_words(SHARED) else {
        println!("FAIL: no shared region");
        return;
    };
    fault::atomic_add_slow(&words[0], times);
    words[1].fetch_add(1, Ordering::SeqCst);
    while words[1].load(Ordering::SeqCst) < services {
        sotto_rt::sys::yield_now();
    }
    println!(
        "atomics: counter {} after {services} services added {times} each",
        words[0].load(Ordering::SeqCst)
    );
}
