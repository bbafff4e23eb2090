//! Example client. It calls the echo server with a text payload, then
//! writes into a shared buffer and lends the server a read-only copy of the
//! buffer's capability, then revokes it; finally it asks the server to stop.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::ipc::{self, Message};
use sotto_rt::{Rights, cap, mem, println};

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them.
const REQUESTS: u32 = 1;
const FRAMES: u32 = 2;
/// Where the read-only copy for the server is made.
const LOAN: u32 = 5;

fn main(_: u32) {
    let text = b"hello from user space";
    ipc::with_buffer(|buffer| buffer[..text.len()].copy_from_slice(text));
    let reply = ipc::call(
        REQUESTS,
        &Message {
            words: [1, 0, 0],
            len: text.len() as u16,
            cap: None,
        },
        None,
    )
    .expect("call echo");
    let mut answer = [0u8; 32];
    let len = reply.message.len as usize;
    ipc::with_buffer(|buffer| answer[..len].copy_from_slice(&buffer[..len]));
    println!(
        "echo answered: {}",
        core::str::from_utf8(&answer[..len]).unwrap_or("?")
    );

    let (address, size) = mem::info(FRAMES).expect("frames");
    let frames = mem::region_bytes(address.expect("frames are mapped at boot"), size);
    let note = b"samples 1 2 3 written by hello";
    frames[..note.len()].copy_from_slice(note);
    cap::derive(FRAMES, LOAN, Rights::READ | Rights::GRANT, 0).expect("derive a read-only copy");
    let reply = ipc::call(
        REQUESTS,
        &Message {
            words: [2, 0, 0],
            len: 0,
            cap: Some(LOAN),
        },
        None,
    )
    .expect("lend frames");
    println!("echo summed the buffer: {}", reply.message.words[1]);
    let revoked = cap::revoke(LOAN).expect("revoke");
    println!("revoked {revoked} capabilities derived from the loan");
    ipc::call(
        REQUESTS,
        &Message {
            words: [3, 0, 0],
            len: 0,
            cap: None,
        },
        None,
    )
    .expect("stop echo");
}
