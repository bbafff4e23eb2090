//! Test service: revoke is exact across services, on the target. Two
//! instances: the owner (argument 0) hands capabilities to the holder
//! (argument 1) over the `rv-ctl` endpoint, one per request, then revokes
//! them while the holder uses them:
//!
//! 1. a RECEIVE copy of `rv-ep` while the holder waits in receive on it:
//!    the holder wakes with `Revoked`;
//! 2. a badged (9) SEND copy while the holder's call through it is queued:
//!    the call fails with `Revoked`, and the owner's next receive gets the
//!    holder's call through another copy (badge 10), never the revoked one;
//! 3. a writable copy of the region `rv-mem` the holder mapped writable,
//!    while it keeps a read-only copy: it can still read, and its next
//!    write faults (the test expects the kernel to stop it there).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::ipc::{self, Message};
use sotto_rt::{Error, Rights, cap, mem, println, sys};

sotto_rt::entry!(main);

/// Slots as tests/system.toml grants them.
const CTL: u32 = 1;
/// The owner's capabilities (all rights).
const EP: u32 = 2;
const MEM: u32 = 3;
/// What the owner derives and hands out, by request number.
const HANDED: [(u32, u32); 5] = [(1, 20), (2, 21), (3, 22), (4, 23), (5, 24)];
/// Where the holder maps the region.
const REGION_VA: u32 = 0x5000_0000;

fn main(role: u32) {
    match role {
        0 => owner(),
        1 => holder(),
        _ => println!("no such role"),
    }
}

fn check(what: &str, ok: bool) {
    println!("{} {what}", if ok { "pass" } else { "FAIL" });
}

fn owner() {
    let grant = Rights::GRANT;
    cap::derive(EP, 20, Rights::RECEIVE | grant, 0).expect("derive receive");
    cap::derive(MEM, 21, Rights::READ | Rights::WRITE | grant, 0).expect("derive rw");
    cap::derive(MEM, 22, Rights::READ | grant, 0).expect("derive ro");
    cap::derive(EP, 23, Rights::SEND | grant, 9).expect("derive badge 9");
    cap::derive(EP, 24, Rights::SEND | grant, 10).expect("derive badge 10");
    let mut request = ipc::receive(CTL, None).expect("first request");
    loop {
        let step = request.message.words[0];
        let handed = HANDED
            .iter()
            .find(|(n, _)| *n == step)
            .map(|(_, slot)| *slot);
        ipc::reply(&Message {
            cap: handed,
            ..Message::default()
        })
        .expect("reply");
        match step {
            6 => {
                sys::sleep_us(3000);
                println!("revoking the receive copy: {:?}", cap::revoke(20));
            }
            7 => {
                sys::sleep_us(3000);
                println!("revoking the badge-9 send copy: {:?}", cap::revoke(23));
                let first = ipc::receive(EP, None).expect("receive on rv-ep");
                check(
                    "the first call after the revoke is the badge-10 one",
                    first.badge == 10 && first.message.words[0] == 10,
                );
                ipc::reply(&Message::default()).expect("reply");
            }
            8 => {
                sys::sleep_us(3000);
                println!("revoking the writable copy: {:?}", cap::revoke(21));
                return;
            }
            _ => {}
        }
        request = ipc::receive(CTL, None).expect("request");
    }
}

fn ask(step: u32, into: Option<u32>) {
    let message = Message {
        words: [step, 0, 0],
        ..Message::default()
    };
    let got = ipc::call(CTL, &message, into).expect("request");
    if into.is_some() && !got.cap_received {
        println!("FAIL no capability for request {step}");
    }
}

fn holder() {
    for (step, slot) in [(1, 5), (2, 6), (3, 7), (4, 8), (5, 9)] {
        ask(step, Some(slot));
    }
    mem::map(6, REGION_VA, Rights::READ | Rights::WRITE).expect("map writable");
    let Ok(words) = mem::shared_words(6) else {
        println!("FAIL region not mapped");
        return;
    };
    words[0].store(0x1234, core::sync::atomic::Ordering::SeqCst);

    ask(6, None);
    let received = ipc::receive(5, None);
    println!(
        "receive after the revoke: {:?}",
        received.as_ref().map(drop)
    );
    check(
        "receive ended by the revoke",
        matches!(received, Err(Error::Revoked)),
    );

    ask(7, None);
    let secret = Message {
        words: [9, 0, 0],
        ..Message::default()
    };
    let queued = ipc::call(8, &secret, None);
    check(
        "the call queued through the revoked copy failed with Revoked",
        matches!(queued, Err(Error::Revoked)),
    );
    let later = Message {
        words: [10, 0, 0],
        ..Message::default()
    };
    check(
        "a call through the other copy is answered",
        ipc::call(9, &later, None).is_ok(),
    );

    ask(8, None);
    sys::sleep_us(6000);
    check(
        "the region is still readable through the read-only copy",
        words[0].load(core::sync::atomic::Ordering::SeqCst) == 0x1234,
    );
    println!("writing after the revoke");
    words[0].store(0x5678, core::sync::atomic::Ordering::SeqCst);
    println!("FAIL the write after the revoke went through");
}
