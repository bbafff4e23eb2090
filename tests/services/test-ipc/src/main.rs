//! Test service for IPC. Argument 0: the server; 1: the client. The client
//! checks words, payload, badge and a capability going both ways, then asks
//! the server to die and checks its calls fail with `PeerGone` instead of
//! hanging. Each side prints `pass ...`/`FAIL ...` lines and exits 1 on a
//! failure.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::ipc::{self, Message};
use sotto_rt::{Error, ObjectKind, Rights, cap, println, sync, sys};

sotto_rt::entry!(main);

/// Slots, as `tests/system.toml` grants them (0 is the console).
const ENDPOINT: u32 = 1;
const SEMAPHORE: u32 = 2;
/// Where capabilities arrive.
const INBOX: u32 = 9;

static FAILED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn check(what: &str, ok: bool) {
    if ok {
        println!("pass {what}");
    } else {
        println!("FAIL {what}");
        FAILED.store(true, core::sync::atomic::Ordering::Relaxed);
    }
}

fn finish(role: &str) {
    if FAILED.load(core::sync::atomic::Ordering::Relaxed) {
        sys::exit(1);
    }
    println!("{role}: all checks passed");
}

fn server() {
    let first = ipc::receive(ENDPOINT, Some(INBOX)).expect("receive");
    check("server got the words", first.message.words == [1, 2, 3]);
    check("server got the badge", first.badge == 7);
    let payload_ok = ipc::with_buffer(|buffer| &buffer[..4] == b"ping");
    check(
        "server got the payload",
        first.message.len == 4 && payload_ok,
    );
    check("server got a capability", first.cap_received);
    let info = cap::info(INBOX);
    check(
        "the capability is a semaphore with send",
        info.is_ok_and(|info| {
            info.kind == ObjectKind::Semaphore && info.rights.contains(Rights::SEND)
        }),
    );
    check("the capability works", sync::give(INBOX).is_ok());
    ipc::with_buffer(|buffer| buffer[..4].copy_from_slice(b"pong"));
    // Reply with a capability of our own (the received one, moved back).
    let reply = Message {
        words: [3, 2, 1],
        len: 4,
        cap: Some(INBOX),
    };
    let second = ipc::reply_receive(ENDPOINT, &reply, None).expect("reply and receive");
    check(
        "second call asks the server to die",
        second.message.words[0] == 0xDEAD,
    );
    finish("server");
    panic!("dying on request, with a caller waiting for the reply");
}

fn client() {
    ipc::with_buffer(|buffer| buffer[..4].copy_from_slice(b"ping"));
    let message = Message {
        words: [1, 2, 3],
        len: 4,
        cap: Some(SEMAPHORE),
    };
    let reply = ipc::call(ENDPOINT, &message, Some(INBOX)).expect("call");
    check("reply words", reply.message.words == [3, 2, 1]);
    let payload_ok = ipc::with_buffer(|buffer| &buffer[..4] == b"pong");
    check("reply payload", reply.message.len == 4 && payload_ok);
    check(
        "reply carried a capability",
        reply.cap_received && cap::info(INBOX).is_ok(),
    );
    check(
        "the server's give reached the semaphore",
        sync::take(SEMAPHORE, sync::Timeout::Never).is_ok(),
    );
    let dying = ipc::call(
        ENDPOINT,
        &Message {
            words: [0xDEAD, 0, 0],
            len: 0,
            cap: None,
        },
        None,
    );
    check(
        "a call whose server dies fails with PeerGone",
        dying == Err(Error::PeerGone),
    );
    let after = ipc::call(ENDPOINT, &Message::default(), None);
    check(
        "later calls fail at once with PeerGone",
        after == Err(Error::PeerGone),
    );
    finish("client");
}

fn main(role: u32) {
    match role {
        0 => server(),
        _ => client(),
    }
}
