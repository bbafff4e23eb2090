//! Test service: a minimal supervisor for the audio restart tests
//! (`tests/tests/audio_restart.rs`). It waits on its faults notification
//! (slot 1), takes every fault message the kernel queued (`FaultTake`
//! until `WouldBlock`) and restarts the faulted service at once through
//! its service capability — slots 2.. hold one for each service it
//! supervises, matched to the fault by the service index `ServiceQuery`
//! reports. One line per fault and restart, with ticks, so a test can
//! measure how long a service was down. No policy, no backoff: that is
//! `services/supervisor`'s.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_abi::supervise::{FaultMessage, ServiceStatus};
use sotto_rt::sys::{self, Syscall};
use sotto_rt::{Error, println, sync};

sotto_rt::entry!(main);

/// Its own faults notification (receive).
const FAULTS: u32 = 1;
/// The first service capability (control); the others follow.
const SERVICES: u32 = 2;
/// Slots it looks at for service capabilities.
const MAX_SERVICES: u32 = 8;

/// The slot of the service capability of service `index`, if it holds
/// one.
fn slot_of(index: u8) -> Option<u32> {
    (SERVICES..SERVICES + MAX_SERVICES).find(|slot| {
        sys::call_regs(Syscall::ServiceQuery, [*slot, 0, 0, 0, 0])
            .ok()
            .and_then(ServiceStatus::from_words)
            .is_some_and(|status| status.service == index)
    })
}

fn main(_: u32) {
    println!("supervising");
    loop {
        if sync::wait(FAULTS).is_err() {
            println!("cannot wait for faults");
            return;
        }
        loop {
            let words = match sys::call_regs(Syscall::FaultTake, [0; 5]) {
                Ok(words) => words,
                Err(Error::WouldBlock) => break,
                Err(error) => {
                    println!("FaultTake failed: {error:?}");
                    break;
                }
            };
            let Some(fault) = FaultMessage::from_words(words) else {
                println!("an undecodable fault message");
                continue;
            };
            let Some(slot) = slot_of(fault.service) else {
                println!("fault of service {}: not mine", fault.service);
                continue;
            };
            let result = sys::call_regs(Syscall::ServiceRestart, [slot, 0, 0, 0, 0]);
            println!(
                "fault of service {} thread {} ({}, cause {}, pc {:#x}, address {:#x}) at tick {}: restart {} at tick {}",
                fault.service,
                fault.thread,
                fault.kind.name(),
                fault.cause,
                fault.pc,
                fault.address,
                fault.tick,
                if result.is_ok() { "done" } else { "FAILED" },
                sys::ticks()
            );
        }
    }
}
