//! Test service for kernel objects and capability misuse. The argument
//! picks the test: 0 periodic timer, 1 semaphore, 2 heap, 3 misuse errors,
//! 4 sleep. Prints `pass`/`FAIL` lines; exits 1 on any failure.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use sotto_rt::ipc::{self, Message};
use sotto_rt::sync::{self, Timeout};
use sotto_rt::{Error, Rights, cap, heap, println, sys};

sotto_rt::entry!(main);

/// Slots, as `tests/system.toml` grants them (0 is the console).
const BITS: u32 = 1;
const TIMER: u32 = 2;
const SEMAPHORE: u32 = 3;
const HEAP: u32 = 4;
const NOTE: u32 = 5;
const ENDPOINT: u32 = 6;
const CLOCK: u32 = 7;

static FAILED: AtomicBool = AtomicBool::new(false);

fn check(what: &str, ok: bool) {
    println!("{} {what}", if ok { "pass" } else { "FAIL" });
    if !ok {
        FAILED.store(true, Ordering::Relaxed);
    }
}

fn expect<T: core::fmt::Debug>(what: &str, got: Result<T, Error>, want: Error) {
    let ok = matches!(&got, Err(error) if *error == want);
    println!("{} {what}: {got:?}", if ok { "pass" } else { "FAIL" });
    if !ok {
        FAILED.store(true, Ordering::Relaxed);
    }
}

fn periodic_timer() {
    let start = sys::ticks();
    sync::arm_ticks(TIMER, 3, 5).expect("arm");
    let mut at = [0u32; 10];
    for slot in at.iter_mut() {
        sync::wait(BITS).expect("wait");
        *slot = sys::ticks();
    }
    sync::cancel(TIMER).expect("cancel");
    println!("timer expiries at ticks {at:?} (armed at {start})");
    check("first expiry 3 ticks after arming", at[0] == start + 3);
    check(
        "every period exactly 5 ticks",
        at.windows(2).all(|pair| pair[1] - pair[0] == 5),
    );
    sys::sleep_us(20_000);
    check("no expiry after cancel", sync::poll(BITS) == Ok(0));
}

fn semaphore() {
    expect(
        "try-take of an empty semaphore",
        sync::take(SEMAPHORE, Timeout::Never),
        Error::WouldBlock,
    );
    let before = sys::ticks();
    expect(
        "take with a 3 ms timeout",
        sync::take(SEMAPHORE, Timeout::Micros(3_000)),
        Error::TimedOut,
    );
    let waited = sys::ticks() - before;
    check("the timeout took 3 ticks", waited == 3);
    check("give", sync::give(SEMAPHORE).is_ok());
    check("give up to the maximum", sync::give(SEMAPHORE).is_ok());
    expect(
        "give past the maximum",
        sync::give(SEMAPHORE),
        Error::Overflow,
    );
    check(
        "take",
        sync::take(SEMAPHORE, Timeout::Micros(1_000)).is_ok(),
    );
    check(
        "take forever (count is 1)",
        sync::take(SEMAPHORE, Timeout::Forever).is_ok(),
    );
}

fn heap_test() {
    let size = heap::init(HEAP).expect("heap");
    let free = heap::free();
    let squares: Vec<u32> = (0..1000).map(|i| i * i).collect();
    let sum: u64 = squares.iter().map(|&n| u64::from(n)).sum();
    check("a 1000-element Vec", sum == 332_833_500);
    let boxed = Box::new([7u8; 512]);
    check("a boxed array", boxed.iter().all(|&b| b == 7));
    let text = format!("{} bytes of heap", size);
    check("a formatted String", text == "16384 bytes of heap");
    check("the heap is in use", heap::free() < free);
    drop(squares);
    drop(boxed);
    drop(text);
    check("and freed again", heap::free() == free);
}

fn misuse() {
    // The entry reads the counter on its own for a clock holder: the
    // right is looked up live, so a deleted capability counts at once.
    check("the cycle counter with a clock", sys::try_cycles().is_ok());
    cap::delete(CLOCK).expect("delete the clock");
    expect(
        "the cycle counter without a clock",
        sys::try_cycles(),
        Error::MissingRight,
    );
    expect("bad slot", cap::info(40), Error::BadSlot);
    expect("empty slot", cap::info(30), Error::EmptySlot);
    expect("wrong kind", sync::give(BITS), Error::WrongKind);
    expect(
        "missing right (wait on a send-only notification)",
        sync::wait(NOTE),
        Error::MissingRight,
    );
    expect(
        "derive without grant",
        cap::derive(NOTE, 20, Rights::SEND, 0),
        Error::MissingRight,
    );
    expect(
        "derive widening rights",
        cap::derive(
            SEMAPHORE,
            20,
            Rights::SEND | Rights::RECEIVE | Rights::CONTROL,
            0,
        ),
        Error::WidenRights,
    );
    check(
        "derive with a badge",
        cap::derive(SEMAPHORE, 20, Rights::SEND | Rights::GRANT, 5).is_ok(),
    );
    expect(
        "re-badge a badged capability",
        cap::derive(20, 21, Rights::SEND, 6),
        Error::AlreadyBadged,
    );
    expect(
        "derive into a used slot",
        cap::derive(SEMAPHORE, 20, Rights::SEND, 0),
        Error::SlotInUse,
    );
    expect(
        "move into a used slot",
        cap::move_to(SEMAPHORE, 20),
        Error::SlotInUse,
    );
    check(
        "revoke removes the copy",
        cap::revoke(SEMAPHORE) == Ok(1) && cap::info(20) == Err(Error::EmptySlot),
    );
    expect(
        "timer in an unknown unit",
        sotto_rt::sys::call_regs(sotto_rt::sys::Syscall::TimerArm, [TIMER, 1, 1, 9, 0]),
        Error::BadArgument,
    );
    expect(
        "reply with no call received",
        ipc::reply(&Message::default()),
        Error::BadArgument,
    );
    expect(
        "call without a receiver alive",
        ipc::call(ENDPOINT, &Message::default(), None),
        Error::PeerGone,
    );
    expect(
        "a payload over one page",
        ipc::call(
            ENDPOINT,
            &Message {
                len: 5000,
                ..Message::default()
            },
            None,
        ),
        Error::BadLength,
    );
    check(
        "unmap the heap mapped at boot",
        sotto_rt::mem::unmap(HEAP).is_ok(),
    );
    expect(
        "unmap it again",
        sotto_rt::mem::unmap(HEAP),
        Error::BadArgument,
    );
    expect(
        "map outside the region window",
        sotto_rt::mem::map(HEAP, 0x4000_0000, Rights::READ),
        Error::BadAddress,
    );
    check("delete", cap::delete(NOTE).is_ok());
    expect("use after delete", sync::signal(NOTE, 1), Error::EmptySlot);
}

fn sleep() {
    for round in 1..=4 {
        let before = sys::ticks();
        sys::sleep_us(5_000);
        let slept = sys::ticks() - before;
        println!("round {round}: slept {slept} ticks");
        check("slept 5 ticks", slept == 5);
    }
}

fn main(test: u32) {
    match test {
        0 => periodic_timer(),
        1 => semaphore(),
        2 => heap_test(),
        3 => misuse(),
        4 => sleep(),
        _ => check("a known test", false),
    }
    if FAILED.load(Ordering::Relaxed) {
        sys::exit(1);
    }
    println!("objects: all checks passed");
}
