//! Example server. It answers calls on its endpoint: a text payload comes
//! back upper-cased; a memory capability sent along is mapped and read (the
//! lender may revoke it, which unmaps it here). It serves until a call asks
//! it to stop.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::ipc::{self, Message};
use sotto_rt::{Rights, mem, println};

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them (0 is the console).
const REQUESTS: u32 = 1;
/// Where a received region capability lands.
const RECEIVED: u32 = 8;
/// Where received regions are mapped.
const MAP_AT: u32 = 0x5800_0000;

/// Request codes (word 0).
const UPPERCASE: u32 = 1;
const READ_REGION: u32 = 2;
const STOP: u32 = 3;

fn main(_: u32) {
    let mut request = ipc::receive(REQUESTS, Some(RECEIVED)).expect("receive");
    loop {
        let reply = match request.message.words[0] {
            UPPERCASE => {
                let len = request.message.len;
                ipc::with_buffer(|buffer| buffer[..len as usize].make_ascii_uppercase());
                println!("uppercased {len} bytes for badge {}", request.badge);
                Message {
                    words: [0, 0, 0],
                    len,
                    cap: None,
                }
            }
            READ_REGION if request.cap_received => {
                mem::map(RECEIVED, MAP_AT, Rights::READ).expect("map the region");
                let (_, size) = mem::info(RECEIVED).expect("region info");
                let bytes = mem::region_bytes(MAP_AT, size);
                let text_len = bytes
                    .iter()
                    .position(|byte| *byte == 0)
                    .unwrap_or(bytes.len());
                let text = core::str::from_utf8(&bytes[..text_len]).unwrap_or("(not UTF-8)");
                println!("region from badge {} says: {text}", request.badge);
                let sum: u32 = bytes.iter().map(|byte| u32::from(*byte)).sum();
                // Keep it: the lender decides when the loan ends (revoke).
                Message {
                    words: [0, sum, 0],
                    len: 0,
                    cap: None,
                }
            }
            STOP => {
                match mem::info(RECEIVED) {
                    Err(error) => {
                        println!("the loaned region is gone ({error:?}): revoked by its lender")
                    }
                    Ok(_) => println!("still holding the loaned region"),
                }
                ipc::reply(&Message::default()).expect("reply");
                println!("stopping");
                return;
            }
            other => Message {
                words: [other, u32::MAX, 0],
                len: 0,
                cap: None,
            },
        };
        request = ipc::reply_receive(REQUESTS, &reply, Some(RECEIVED)).expect("reply and receive");
    }
}
