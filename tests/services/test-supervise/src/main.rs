//! Test service for supervision (`tests/supervision.toml`,
//! `tests/tests/supervision.rs`). The argument's low byte picks the role:
//!
//! - 0, crasher: faults (an illegal instruction) as soon as it starts,
//!   every time: its supervisor restarts it after `min_run`, then holds it.
//! - 1, server: on its endpoint, answers [`ECHO`] with its epoch (how
//!   many times it started, kept in a `keep = true` region) and faults
//!   (a load from address 0) on [`FAULT`], with the call in flight. At
//!   start it checks that the kept region survived a restart and that a
//!   region it writes without `keep` was put back (zeroed). Its first line
//!   gives the tick and cycle counter of its first instruction.
//! - 2, client: calls the server (epoch 1), makes it fault mid-call
//!   (`PeerRestarted`), calls it again through the same capability (epoch
//!   2: the new instance), then asks the supervisor for the server's
//!   status (bits 8..16 of the argument: the server's index).
//!
//! Checks print `pass ...` or `FAIL ...`; the test counts them.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::ipc::{self, Message};
use sotto_rt::{Error, fault, mem, println, sys};
use supervisor_core::proto::{self, List, State, Status};

sotto_rt::entry!(main);

/// Server call: answer with the epoch.
const ECHO: u32 = 1;
/// Server call: fault with the call in flight.
const FAULT: u32 = 2;

/// The server's slots: clock, endpoint, kept region, scratch region.
const SERVER_ENDPOINT: u32 = 2;
const KEPT: u32 = 3;
const SCRATCH: u32 = 4;
/// The client's slots: the server's endpoint, the supervisor's.
const CLIENT_SERVER: u32 = 1;
const CLIENT_SUPERVISOR: u32 = 2;

/// Marks an initialised kept region.
const MAGIC: u32 = 0x5355_5056; // "SUPV"
/// Words of the known pattern.
const PATTERN_WORDS: usize = 64;

fn main(arg: u32) {
    // The first instruction of an instance, as near as a service gets:
    // read the clock before anything else.
    let cycles = sys::try_cycles().unwrap_or(0);
    let tick = sys::ticks();
    match arg & 0xFF {
        0 => crasher(tick),
        1 => server(tick, cycles),
        2 => client((arg >> 8) as u8),
        other => println!("FAIL unknown role {other}"),
    }
}

fn crasher(tick: u32) {
    println!("crasher started at tick {tick}");
    fault::illegal_instruction();
}

fn check(ok: bool, what: &str) {
    println!("{} {what}", if ok { "pass" } else { "FAIL" });
}

fn pattern(i: usize) -> u32 {
    (i as u32).wrapping_mul(0x9E37_79B9) ^ 0xA5A5_0000
}

fn word(bytes: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap_or([0; 4]))
}

fn set_word(bytes: &mut [u8], i: usize, value: u32) {
    bytes[4 * i..4 * i + 4].copy_from_slice(&value.to_le_bytes());
}

fn server(tick: u32, cycles: u32) {
    let kept = mem::mapped(KEPT).expect("the kept region");
    let scratch = mem::mapped(SCRATCH).expect("the scratch region");
    let epoch = if word(kept, 0) == MAGIC {
        word(kept, 1) + 1
    } else {
        1
    };
    println!("server started: epoch {epoch}, tick {tick}, cycles {cycles}");
    if epoch > 1 {
        let intact = (0..PATTERN_WORDS).all(|i| word(kept, 2 + i) == pattern(i));
        check(intact, "the kept region survived the restart");
        let zeroed = scratch.iter().all(|&b| b == 0);
        check(zeroed, "the region without keep was zeroed by the restart");
    }
    set_word(kept, 0, MAGIC);
    set_word(kept, 1, epoch);
    for i in 0..PATTERN_WORDS {
        set_word(kept, 2 + i, pattern(i));
        set_word(scratch, i, !pattern(i));
    }
    let mut call = ipc::receive(SERVER_ENDPOINT, None);
    loop {
        let words = match call {
            Ok(received) => match received.message.words[0] {
                ECHO => [epoch, 0, 0],
                FAULT => {
                    let (tick, cycles) = (sys::ticks(), sys::try_cycles().unwrap_or(0));
                    println!("server faulting: epoch {epoch}, tick {tick}, cycles {cycles}");
                    fault::load(0);
                    [0, 0, 0]
                }
                _ => [u32::MAX, 0, 0],
            },
            Err(error) => {
                println!("FAIL server receive: {error:?}");
                return;
            }
        };
        let reply = Message {
            words,
            ..Message::default()
        };
        call = ipc::reply_receive(SERVER_ENDPOINT, &reply, None);
    }
}

fn call(slot: u32, words: [u32; 3]) -> Result<[u32; 3], Error> {
    let message = Message {
        words,
        ..Message::default()
    };
    ipc::call(slot, &message, None).map(|reply| reply.message.words)
}

fn client(server_index: u8) {
    let first = call(CLIENT_SERVER, [ECHO, 0, 0]);
    check(first == Ok([1, 0, 0]), "the first call reaches epoch 1");
    let faulted = call(CLIENT_SERVER, [FAULT, 0, 0]);
    println!("the call in flight returned {faulted:?}");
    check(
        faulted == Err(Error::PeerRestarted),
        "a call in flight to a server that faults gets PeerRestarted",
    );
    let again = call(CLIENT_SERVER, [ECHO, 0, 0]);
    check(
        again == Ok([2, 0, 0]),
        "the next call through the same capability reaches the new instance",
    );

    let status = call(CLIENT_SUPERVISOR, proto::status_call(server_index))
        .map_err(|_| proto::Refusal::UnknownRequest)
        .and_then(Status::from_words);
    println!("supervisor status of the server: {status:?}");
    match status {
        Ok(status) => {
            check(status.restarts == 1, "the supervisor counts 1 restart");
            check(
                status.state == State::Running,
                "the supervisor reports the server running",
            );
            let cause = status.last_fault.map(|last| (last.kind, last.cause));
            check(
                cause == Some((sotto_rt::supervise::FaultKind::Exception, 28)),
                "the supervisor reports the last cause (LoadProhibited)",
            );
        }
        Err(refusal) => check(false, refusal_text(refusal)),
    }
    let unsupervised = call(CLIENT_SUPERVISOR, proto::status_call(200))
        .map_err(|_| proto::Refusal::UnknownRequest)
        .and_then(Status::from_words);
    check(
        unsupervised == Err(proto::Refusal::NotSupervised),
        "the supervisor refuses a service it does not supervise",
    );
    let list = call(CLIENT_SUPERVISOR, proto::list_call())
        .map_err(|_| proto::Refusal::UnknownRequest)
        .and_then(List::from_words);
    println!("supervisor list: {list:?}");
    check(
        list.is_ok_and(|list| list.supervised & 1 << server_index != 0),
        "the supervisor lists the server",
    );
    println!("client done");
}

fn refusal_text(refusal: proto::Refusal) -> &'static str {
    match refusal {
        proto::Refusal::UnknownRequest => "the status query was refused: unknown request",
        proto::Refusal::NotSupervised => "the status query was refused: not supervised",
    }
}
