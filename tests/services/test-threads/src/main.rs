//! Test service: several threads in one service (`tests/threads.toml`).
//! The main thread's argument picks the part:
//!
//! - 1, threads: the main thread calls the `echo` thread (same service)
//!   `ROUNDS` times through the endpoint in slot 1, which the `peer`
//!   service (part 3) calls too; it then wakes the `worker` thread
//!   through the notification in slot 2 and waits for its answer in slot
//!   3. Each thread prints where its stack is and its argument; the main
//!   thread checks the threads saw distinct stacks and exits once the
//!   echo thread answered every call of both.
//! - 2, overflow: the main thread wakes the worker with bit 2; the worker
//!   recurses into the guard page under its stack, which stops the whole
//!   service (one report naming `threads/worker`).
//! - 3, peer: a separate service calls the echo thread `ROUNDS` times.
//! - 4, late peer: waits until the threads service has stopped, then
//!   calls: the call fails with `PeerGone` (nobody receives any more).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

use sotto_rt::ipc::{self, Message};
use sotto_rt::{Error, println, sync, sys};

sotto_rt::entry!(main);
sotto_rt::thread!(echo_main, echo);
sotto_rt::thread!(worker_main, worker);

/// Slots, as `tests/threads.toml` grants them (0 is the console).
const ENDPOINT: u32 = 1;
const WAKE: u32 = 2;
const DONE: u32 = 3;
/// Calls each caller makes.
const ROUNDS: u32 = 50;

/// Calls the echo thread answered (both callers).
static ANSWERED: AtomicU32 = AtomicU32::new(0);
/// Where each thread found its stack (the address of a local).
static ECHO_STACK: AtomicU32 = AtomicU32::new(0);
static WORKER_STACK: AtomicU32 = AtomicU32::new(0);

/// An address on the calling thread's stack.
fn stack_here() -> u32 {
    let local = 0u32;
    core::hint::black_box(&local) as *const u32 as u32
}

fn main(arg: u32) {
    match arg & 0xFF {
        1 => threads(),
        2 => overflow(),
        3 => peer(),
        4 => late_peer(),
        _ => println!("FAIL: unknown part {arg}"),
    }
}

fn threads() {
    let main_stack = stack_here();
    println!("main: stack at {main_stack:#x}");
    let mut wrong = 0;
    for round in 0..ROUNDS {
        let message = Message {
            words: [round, round * 2, round * 3],
            ..Message::default()
        };
        match ipc::call(ENDPOINT, &message, None) {
            Ok(reply) if reply.message.words == [round + 1, round * 2 + 1, round * 3 + 1] => {}
            other => {
                wrong += 1;
                println!("FAIL: round {round}: {other:?}");
            }
        }
    }
    println!("main: {ROUNDS} calls to the echo thread, {wrong} wrong");
    if sync::signal(WAKE, 1).is_err() {
        println!("FAIL: signal the worker");
    }
    match sync::wait(DONE) {
        Ok(bits) => println!("main: the worker answered {bits:#x}"),
        Err(error) => println!("FAIL: wait for the worker: {error:?}"),
    }
    // The peer's calls too, before this service (and its echo thread) ends.
    for _ in 0..1000 {
        if ANSWERED.load(Ordering::Acquire) >= 2 * ROUNDS {
            break;
        }
        sys::sleep_us(1000);
    }
    let stacks = [
        main_stack,
        ECHO_STACK.load(Ordering::Acquire),
        WORKER_STACK.load(Ordering::Acquire),
    ];
    let distinct = stacks[0] != stacks[1] && stacks[1] != stacks[2] && stacks[0] != stacks[2];
    println!(
        "main: echo answered {} calls, stacks distinct: {distinct}",
        ANSWERED.load(Ordering::Acquire)
    );
    if wrong == 0 && distinct && ANSWERED.load(Ordering::Acquire) == 2 * ROUNDS {
        println!("threads: all checks passed");
    } else {
        sys::exit(1);
    }
}

/// The `echo` thread: answers every call with each word plus one.
fn echo(arg: u32) {
    ECHO_STACK.store(stack_here(), Ordering::Release);
    println!("echo: stack at {:#x}, arg {arg}", stack_here());
    let mut received = ipc::receive(ENDPOINT, None);
    loop {
        let call = match received {
            Ok(call) => call,
            Err(error) => {
                println!("FAIL: echo receive: {error:?}");
                return;
            }
        };
        let [a, b, c] = call.message.words;
        ANSWERED.fetch_add(1, Ordering::AcqRel);
        let reply = Message {
            words: [a + 1, b + 1, c + 1],
            ..Message::default()
        };
        received = ipc::reply_receive(ENDPOINT, &reply, None);
    }
}

/// The `worker` thread: waits for the main thread's word; bit 1: answer
/// with where its stack is; bit 2: overflow its stack.
fn worker(arg: u32) {
    WORKER_STACK.store(stack_here(), Ordering::Release);
    println!("worker: stack at {:#x}, arg {arg}", stack_here());
    match sync::wait(WAKE) {
        Ok(2) => {
            println!("worker: overflowing its stack");
            let depth = deep(1 << 20);
            println!("FAIL: the worker came back from depth {depth}");
        }
        Ok(bits) => {
            let _ = sync::signal(DONE, bits << 4);
        }
        Err(error) => println!("FAIL: worker wait: {error:?}"),
    }
}

/// Recursion with a frame of its own at each level, until the stack runs
/// into its guard page.
fn deep(n: u32) -> u32 {
    let mut frame = [0u8; 256];
    frame[0] = n as u8;
    core::hint::black_box(&mut frame);
    if n == 0 {
        return 0;
    }
    deep(n - 1).wrapping_add(u32::from(frame[0]))
}

fn overflow() {
    println!("main: waking the worker to overflow");
    if sync::signal(WAKE, 2).is_err() {
        println!("FAIL: signal the worker");
    }
    // The worker's fault stops this thread too: it never wakes.
    let _ = sync::wait(DONE);
    println!("FAIL: the main thread ran on after the worker's fault");
}

fn peer() {
    let mut wrong = 0;
    for round in 0..ROUNDS {
        let message = Message {
            words: [round + 100, 0, 7],
            ..Message::default()
        };
        match ipc::call(ENDPOINT, &message, None) {
            Ok(reply) if reply.message.words == [round + 101, 1, 8] => {}
            other => {
                wrong += 1;
                println!("FAIL: round {round}: {other:?}");
            }
        }
    }
    println!("peer: {ROUNDS} calls to the echo thread, {wrong} wrong");
    if wrong != 0 {
        sys::exit(1);
    }
}

fn late_peer() {
    // Long after the threads service stopped (it faults at once).
    sys::sleep_us(50_000);
    match ipc::call(ENDPOINT, &Message::default(), None) {
        Err(Error::PeerGone) => println!("late peer: PeerGone after the stop"),
        other => {
            println!("FAIL: late call: {other:?}");
            sys::exit(1);
        }
    }
}
