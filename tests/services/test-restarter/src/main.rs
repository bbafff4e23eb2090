//! Test supervisor (`tests/ll-restart.toml`): restarts every service it
//! supervises that faults, at once, always, and prints one line per fault
//! and one per restart. It holds its faults notification in slot 1 and a
//! service capability (CONTROL) for each service it supervises from slot 2
//! on; which slot is which service it asks the kernel (`ServiceQuery`).
//! Raw system calls (`sys::call_regs`): the LL tests need no more than
//! this, and the default system's supervisor is `services/supervisor`.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_abi::Syscall;
use sotto_abi::supervise::{FAULT_BIT, FaultMessage, ServiceStatus};
use sotto_rt::{Error, println, sync, sys};

sotto_rt::entry!(main);

/// Slots, as `tests/ll-restart.toml` grants them (0 is the console).
const FAULTS: u32 = 1;
const FIRST_SERVICE: u32 = 2;
/// Service capabilities it may hold (slots 2..2 + this).
const MAX_SERVICES: u32 = 8;

/// The slot of the service capability for kernel service `service`.
fn slot_of(service: u8) -> Option<u32> {
    (FIRST_SERVICE..FIRST_SERVICE + MAX_SERVICES).find(|slot| {
        sys::call_regs(Syscall::ServiceQuery, [*slot, 0, 0, 0, 0])
            .ok()
            .and_then(ServiceStatus::from_words)
            .is_some_and(|status| status.service == service)
    })
}

fn main(_: u32) {
    println!("supervising");
    loop {
        let bits = match sync::wait(FAULTS) {
            Ok(bits) => bits,
            Err(error) => {
                println!("wait failed: {error:?}");
                return;
            }
        };
        if bits & FAULT_BIT == 0 {
            continue;
        }
        loop {
            let fault = match sys::call_regs(Syscall::FaultTake, [0; 5]) {
                Ok(words) => FaultMessage::from_words(words),
                Err(Error::WouldBlock) => break,
                Err(error) => {
                    println!("FaultTake failed: {error:?}");
                    break;
                }
            };
            let Some(fault) = fault else {
                println!("an undecodable fault message");
                continue;
            };
            println!(
                "service {} faulted ({} at pc {:#x}, tick {}): restarting it",
                fault.service,
                fault.kind.name(),
                fault.pc,
                fault.tick
            );
            let Some(slot) = slot_of(fault.service) else {
                println!("no capability for service {}", fault.service);
                continue;
            };
            match sys::call_regs(Syscall::ServiceRestart, [slot, 0, 0, 0, 0]) {
                Ok(_) => println!(
                    "service {} restarted at tick {}",
                    fault.service,
                    sys::ticks()
                ),
                Err(error) => println!("restarting service {} failed: {error:?}", fault.service),
            }
        }
    }
}
