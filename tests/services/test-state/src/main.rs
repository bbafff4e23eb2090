//! Test service: user-writable processor state is per service. The
//! argument's low byte picks the check, the rest is a seed:
//!
//! - 1, registers: a fresh service finds SCOMPARE1, THREADPTR, ACCLO,
//!   ACCHI, M0..M3, LITBASE and EXPSTATE zero; then, many times, it writes its own
//!   values into all of them, yields (another service writes its values
//!   meanwhile) and checks they are still its own. Every other round it
//!   signals a notification instead of yielding: with LITBASE on, a
//!   system call the entry handles on its own (give, signal, the cycle
//!   counter) must not let the user's LITBASE steer the entry's `l32r`.
//! - 3 and 4, IPC: a server (3) and a client (4) on the endpoint in slot 2
//!   exchange `ROUNDS` registers-only messages (the IPC fast path), each
//!   writing its own values into every register above (LITBASE off, so
//!   the fast path is taken) before each call; after each, every register
//!   must hold the thread's own value or zero (the fast path does not
//!   keep caller-saved state, EXPSTATE included), never the other side's.
//!   THREADPTR must be the thread's own.
//! - 5, yields: as 3 and 4 with `Yield` between two services of one
//!   priority (LITBASE off, so the entry's express yield is taken once the
//!   slice alarm is armed): every register holds the thread's own value
//!   or zero after each yield, never the other's.
//! - 6 and 7, timer wakes: the ticked one (6) arms a periodic timer and,
//!   `ROUNDS` times, wakes the other (7, through a notification), writes
//!   its own values into every register above (LITBASE off) and waits for
//!   the timer; the other writes its values and waits for the next wake,
//!   so the CPU idles with them in the registers and the timer's express
//!   tick (the entry's, on an idle CPU) runs the ticked one: after each
//!   wait, every register holds the thread's own value or zero, never the
//!   other's.
//! - 8, scratch: a register a system call does not keep (SAR, LBEG, LEND,
//!   a4..a11) comes back zero or the caller's own, never the kernel's,
//!   and LCOUNT zero, for calls each kind of entry path answers (the
//!   express give/signal/cycles, the light path in Rust, the full path,
//!   the express yield), `ROUNDS` / 10 rounds of each, then the express
//!   delete once for two capabilities.
//! - 9 and 10, scratch IPC: as 3 and 4, with SAR, the loop bounds and
//!   a8..a11 (a server (9), a client (10), whose every other call is a
//!   `CallTimeout`): after each call they hold the thread's own value or
//!   zero, never the other side's or the kernel's.
//! - 2, atomics: adds 1 to a shared counter 1000 × `arg >> 8 & 0xFFFF` times
//!   with compare-and-swap (a wide window between `wsr scompare1` and
//!   `s32c1i`, so preemption lands inside it), then, once every one of
//!   `arg >> 24` services is done, prints the counter.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::Ordering;

use sotto_rt::fault::{self, SCRATCH_NAMES, STATE_NAMES, STATE_REGISTERS};
use sotto_rt::println;
use sotto_rt::sys::Syscall;

sotto_rt::entry!(main);

/// The shared region (tests/system.toml): word 0 the counter, word 1 how
/// many services are done.
const SHARED: u32 = 1;
/// A notification the registers check signals (tests/isolation.toml).
const NOTE: u32 = 3;
/// Register rounds in the registers check.
const ROUNDS: u32 = 2000;

fn main(arg: u32) {
    match arg & 0xFF {
        1 => registers(arg >> 8),
        2 => atomics(((arg >> 8) & 0xFFFF) * 1000, arg >> 24),
        3 => ipc(arg >> 8, true),
        4 => ipc(arg >> 8, false),
        5 => yields(arg >> 8),
        6 => ticked(arg >> 8),
        7 => woken(arg >> 8),
        8 => scratch(arg >> 8),
        9 => scratch_ipc(arg >> 8, true),
        10 => scratch_ipc(arg >> 8, false),
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
        let call = match round % 2 {
            0 => Syscall::Yield,
            _ => Syscall::NotifySignal,
        };
        let (seen, status) = fault::swap_state(&values, call as u32, NOTE);
        if status != 0 {
            println!("FAIL: {call:?} returned {status}");
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

/// The endpoint both IPC sides hold (tests/isolation.toml).
const ENDPOINT: u32 = 2;

/// Round `round` of an exchange: write the pattern (LITBASE off: the fast
/// paths' condition), make system call `call` on `slot`, and count the
/// registers that came back the thread's own, zero (`cleared`), or
/// anything else (`leaks`, reported).
fn exchange(seed: u32, round: u32, call: Syscall, slot: u32, leaks: &mut u32, cleared: &mut u32) {
    let mut values = pattern(seed, round);
    values[8] = 0;
    let (seen, status) = fault::swap_state(&values, call as u32, slot);
    if status != 0 {
        println!("FAIL: round {round}: status {status}");
    }
    for (index, ((name, wrote), read)) in STATE_NAMES.iter().zip(values).zip(seen).enumerate() {
        // THREADPTR (1) always survives; EXPSTATE (9), like MAC16, only
        // where no fast path switched threads (`sotto_abi::syscall`).
        let kept_only = index == 1;
        let fine = read == wrote || (read == 0 && !kept_only);
        if !fine && *leaks < 10 {
            println!("LEAK: round {round}: {name} was {wrote:#010x}, now {read:#010x}");
        }
        *leaks += u32::from(!fine);
        *cleared += u32::from(read != wrote && fine);
    }
}

fn ipc(seed: u32, server: bool) {
    let (mut leaks, mut cleared) = (0, 0);
    for round in 0..ROUNDS {
        let call = match (server, round) {
            (true, 0) => Syscall::Recv,
            (true, _) => Syscall::ReplyRecv,
            (false, _) => Syscall::Call,
        };
        exchange(seed, round, call, ENDPOINT, &mut leaks, &mut cleared);
    }
    if server {
        release_last_caller();
    }
    println!("ipc: {ROUNDS} rounds, {leaks} leaks, {cleared} registers cleared");
}

fn yields(seed: u32) {
    let (mut leaks, mut cleared) = (0, 0);
    for round in 0..ROUNDS {
        exchange(seed, round, Syscall::Yield, 0, &mut leaks, &mut cleared);
    }
    println!("yields: {ROUNDS} rounds, {leaks} leaks, {cleared} registers cleared");
}

/// The timer the ticked service arms, the notification it signals, and
/// the one that wakes the other service (tests/isolation.toml).
const TIMER: u32 = 4;
const TICK: u32 = 5;
const WAKE: u32 = 6;

fn ticked(seed: u32) {
    let (mut leaks, mut cleared) = (0, 0);
    if sotto_rt::sync::arm_ticks(TIMER, 1, 1).is_err() {
        println!("FAIL: arm");
    }
    for round in 0..ROUNDS {
        if sotto_rt::sync::signal(WAKE, 1).is_err() {
            println!("FAIL: signal");
        }
        exchange(
            seed,
            round,
            Syscall::NotifyWait,
            TICK,
            &mut leaks,
            &mut cleared,
        );
    }
    let _ = sotto_rt::sync::cancel(TIMER);
    println!("ticks: {ROUNDS} rounds, {leaks} leaks, {cleared} registers cleared");
}

fn woken(seed: u32) {
    let (mut leaks, mut cleared) = (0, 0);
    for round in 0..ROUNDS {
        exchange(
            seed,
            round,
            Syscall::NotifyWait,
            WAKE,
            &mut leaks,
            &mut cleared,
        );
    }
    println!("woken: {ROUNDS} rounds, {leaks} leaks, {cleared} registers cleared");
}

/// SAR (1..=31), LBEG, LEND and a fill word for a6..a11 of round `round`:
/// distinct per seed and round, never zero.
fn scratch_pattern(seed: u32, round: u32) -> [u32; 4] {
    let base = seed.wrapping_mul(0x9E37_79B9) ^ round.wrapping_mul(0x85EB_CA6B);
    [
        base % 31 + 1,
        base.rotate_left(7) | 1,
        base.rotate_left(13) | 2,
        base.rotate_left(21) | 4,
    ]
}

/// Round `round` of system call `call` (a3 = `arg`): count the registers
/// of the scratch set that came back neither the caller's own nor zero,
/// and LCOUNT not zero (a4..a7 may carry results: not checked); report
/// the first few.
fn scratch_round(seed: u32, round: u32, call: Syscall, arg: u32, leaks: &mut u32) {
    let values = scratch_pattern(seed, round);
    let (seen, _status) = fault::swap_scratch(&values, call as u32, arg);
    for (index, (name, read)) in SCRATCH_NAMES.iter().zip(seen).enumerate() {
        let own = match index {
            0..=2 => values[index],
            3 => 0,
            _ => values[3],
        };
        let fine = (4..8).contains(&index) || read == own || read == 0;
        if !fine && *leaks < 10 {
            println!("LEAK: round {round}: {call:?}: {name} = {read:#010x}, own {own:#010x}");
        }
        *leaks += u32::from(!fine);
    }
}

fn scratch(seed: u32) {
    let mut leaks = 0;
    // Slot 3 a notification it may signal, 5 one it may poll, 0 the
    // console (no semaphore: the light path answers WrongKind), 30 empty.
    let calls = [
        (Syscall::Null, 0),
        (Syscall::NotifySignal, NOTE),
        (Syscall::NotifyPoll, TICK),
        (Syscall::SemGive, 0),
        (Syscall::Cycles, 0),
        (Syscall::CapDelete, 30),
        (Syscall::Ticks, 0),
        (Syscall::Yield, 0),
        (Syscall::NotifyWait, 30),
    ];
    for round in 0..ROUNDS / 10 {
        for (call, arg) in calls {
            scratch_round(seed, round, call, arg, &mut leaks);
        }
    }
    // The entry's express delete (a capability with the DROP bit, no
    // children): the timer and the wake notification, once each.
    for slot in [TIMER, WAKE] {
        scratch_round(seed, ROUNDS, Syscall::CapDelete, slot, &mut leaks);
    }
    if sotto_rt::cap::info(TIMER).is_ok() || sotto_rt::cap::info(WAKE).is_ok() {
        println!("FAIL: a deleted capability is still there");
    }
    println!("scratch: {} rounds, {leaks} leaks", ROUNDS / 10);
}

fn scratch_ipc(seed: u32, server: bool) {
    let mut leaks = 0;
    for round in 0..ROUNDS {
        // Every other call is a `CallTimeout` (its a8, the deadline tick,
        // is the fill word: any deadline is valid, a passed one ends the
        // wait at the next tick, and the server answers before that): the
        // entry's express timed call wipes as the plain one does.
        let call = match (server, round) {
            (true, 0) => Syscall::Recv,
            (true, _) => Syscall::ReplyRecv,
            (false, _) if round % 2 == 1 => Syscall::CallTimeout,
            (false, _) => Syscall::Call,
        };
        scratch_round(seed, round, call, ENDPOINT, &mut leaks);
    }
    if server {
        release_last_caller();
    }
    println!("scratch ipc: {ROUNDS} rounds, {leaks} leaks");
}

/// The server's last round received a call it has not answered: answer
/// it, so the client's last call returns.
fn release_last_caller() {
    let _ = sotto_rt::ipc::reply(&sotto_rt::ipc::Message {
        words: [0; 3],
        len: 0,
        cap: None,
    });
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
