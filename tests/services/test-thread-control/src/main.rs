//! Test service for thread control and deadline scheduling
//! (`tests/thread-control.toml`). Argument 0: the boss, which holds `thread`
//! capabilities to the two workers and drives the phases below; 1: worker
//! `a`; 2: worker `b` (both CPU-bound, at one priority). Prints
//! `pass`/`FAIL` lines; the boss exits 1 on any failure.
//!
//! 1. Misuse of thread capabilities gets its error codes.
//! 2. `a` suspended, `b` runs alone: `a`'s CPU time stays 0.
//! 3. `a` resumed with a late deadline runs; `b`, released by a timer with
//!    an earlier one, preempts it and runs to its end with no `a` line in
//!    between (round-robin would interleave them at every tick).
//! 4. `b` blocked and suspended: given its semaphore, it runs only once
//!    resumed.
//! 5. CPU times: each worker got at least the work it did.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicBool, Ordering};

use sotto_rt::sync::{self, Timeout};
use sotto_rt::thread::{self, Clock64};
use sotto_rt::{Error, println, sys};

sotto_rt::entry!(main);

/// The boss's slots (`tests/thread-control.toml`; 0 is the console).
const CLOCK: u32 = 1;
const A: u32 = 2;
const B: u32 = 3;
const A_GRANT_ONLY: u32 = 4;
const RELEASE_B: u32 = 5;
const GO_B: u32 = 6;
/// The workers' semaphore slot.
const WORKER_GO: u32 = 1;

/// Iterations of one chunk of work (about 1 ms: a few instructions each).
const CHUNK: u32 = 150_000;
/// `a`'s chunks in phase 3, `b`'s per release.
const A_CHUNKS: u32 = 12;
const B_CHUNKS: u32 = 3;

static FAILED: AtomicBool = AtomicBool::new(false);

fn check(what: &str, ok: bool) {
    println!("{} {what}", if ok { "pass" } else { "FAIL" });
    if !ok {
        FAILED.store(true, Ordering::Relaxed);
    }
}

fn expect(what: &str, got: Result<(), Error>, want: Error) {
    check(what, got == Err(want));
}

/// CPU-bound work: `chunks` chunks, never yielding.
fn work(chunks: u32) {
    for _ in 0..chunks {
        let mut x = 0u32;
        for i in 0..CHUNK {
            x = core::hint::black_box(x.wrapping_add(i));
        }
        core::hint::black_box(x);
    }
}

fn main(arg: u32) {
    match arg {
        0 => boss(),
        1 => {
            println!("a start");
            for chunk in 1..=A_CHUNKS {
                work(1);
                println!("a chunk {chunk}");
            }
            println!("a done");
        }
        _ => {
            // Phase 2: alone (a suspended), then twice released.
            work(B_CHUNKS);
            println!("b phase 2 done");
            for release in 1..=2 {
                let _ = sync::take(WORKER_GO, Timeout::Forever);
                println!("b start {release}");
                work(B_CHUNKS);
                println!("b done {release}");
            }
        }
    }
}

fn boss() {
    let mut clock = Clock64::new();
    // 1. Misuse.
    expect("wrong kind", thread::suspend(CLOCK), Error::WrongKind);
    expect(
        "missing right",
        thread::suspend(A_GRANT_ONLY),
        Error::MissingRight,
    );
    expect(
        "above the ceiling",
        thread::set_priority(A, 3),
        Error::AboveCeiling,
    );
    expect(
        "no such priority",
        thread::set_priority(A, 8),
        Error::BadArgument,
    );
    expect("not suspended", thread::resume(A), Error::NotSuspended);
    check("lowered", thread::set_priority(A, 6).is_ok());
    check("back to the ceiling", thread::set_priority(A, 4).is_ok());
    // 2. a suspended: b alone.
    check("suspend a", thread::suspend(A).is_ok());
    expect(
        "suspended twice",
        thread::suspend(A),
        Error::AlreadySuspended,
    );
    sys::sleep_us(8_000);
    let a_time = thread::cpu_time(A).unwrap_or(u64::MAX);
    // b's CPU time for B_CHUNKS chunks: the measure of the checks below.
    let phase_2 = thread::cpu_time(B).unwrap_or(0);
    println!("phase 2 cpu: a {a_time} b {phase_2}");
    check("a suspended: no CPU time", a_time == 0);
    check("b ran", phase_2 > 0);
    // 3. a with a late deadline, b released 3 ticks later by the timer
    // with an earlier one.
    let now = clock.now();
    check(
        "a late deadline",
        thread::set_deadline(A, now + 200_000).is_ok(),
    );
    check(
        "b early deadline",
        thread::set_deadline(B, now + 60_000).is_ok(),
    );
    check("arm the release", sync::arm_ticks(RELEASE_B, 3, 0).is_ok());
    check("resume a", thread::resume(A).is_ok());
    sys::sleep_us(40_000);
    // 4. b waits for its semaphore: suspended, given it, it stays put.
    check("suspend b (blocked)", thread::suspend(B).is_ok());
    check("give b's semaphore", sync::give(GO_B).is_ok());
    let before = thread::cpu_time(B).unwrap_or(0);
    sys::sleep_us(5_000);
    let after = thread::cpu_time(B).unwrap_or(u64::MAX);
    check("suspended b did not run", before == after);
    println!("resuming b");
    check("resume b", thread::resume(B).is_ok());
    sys::sleep_us(10_000);
    // 5. CPU times.
    let a_time = thread::cpu_time(A).unwrap_or(0);
    let b_time = thread::cpu_time(B).unwrap_or(0);
    println!("cpu: a {a_time} b {b_time}");
    // Each worker got the time of the chunks it did (b's phase 2 its
    // measure; a tenth of slack for what a switch charges either way).
    let chunk = phase_2 / u64::from(B_CHUNKS);
    check(
        "a's CPU time",
        a_time * 10 >= u64::from(A_CHUNKS) * chunk * 9,
    );
    check("b's CPU time", b_time * 10 >= 3 * phase_2 * 9);
    check("no more than the run", a_time + b_time < 1_000_000);
    expect("ended", thread::clear_deadline(A), Error::ThreadEnded);
    expect("ended", thread::resume(A), Error::ThreadEnded);
    sys::exit(u32::from(FAILED.load(Ordering::Relaxed)));
}
