//! Test service: faults on purpose. The argument picks the fault class;
//! the kernel must stop this service alone and report the cause.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::{fault, println};

sotto_rt::entry!(main);

/// Kernel text: mapped, but ring 0.
const KERNEL_TEXT: u32 = 0x0010_0000;
/// The user vector (VECBASE + 0x340).
const USER_VECTOR: u32 = KERNEL_TEXT + 0x340;
/// No page table covers this address.
const FAR_UNMAPPED: u32 = 0x3000_0120;
/// This service's page-table window (ring 0).
const PTE_WINDOW: u32 = 0xC040_0000;

fn main(kind: u32) {
    println!("about to fault: class {}", kind & 0xFF);
    match kind & 0xFF {
        0 => fault::illegal_instruction(),
        1 => {
            fault::read_ccount();
        }
        2 => fault::write_ps(),
        3 => {
            fault::load(0);
        }
        4 => {
            fault::load(KERNEL_TEXT);
        }
        5 => fault::store(fault::own_code_address(), 0),
        6 => {
            let aligned = fault::own_code_address() & !3;
            fault::load(aligned + 1);
        }
        7 => {
            fault::divide(10, core::hint::black_box(0));
        }
        8 => {
            recurse(0);
        }
        9 => fault::simcall(),
        10 => {
            fault::load(FAR_UNMAPPED);
        }
        11 => fault::jump(KERNEL_TEXT),
        12 => {
            let on_stack = [0u32; 4];
            fault::jump(core::hint::black_box(&on_stack).as_ptr() as u32);
        }
        13 => fault::store(PTE_WINDOW, 0),
        14 => panic!("deliberate panic, class {kind}"),
        15 => sotto_rt::sys::exit(3),
        16 => fault::breakpoint(),
        17 => fault::breakpoint_narrow(),
        18 => {
            // Loop back from inside the user vector (after its second
            // instruction) to the start of kernel code, 1000 times.
            let status = fault::loop_into(KERNEL_TEXT, USER_VECTOR + 6, 1000);
            println!("loop registers aimed at the kernel: null call returned {status}");
            sotto_rt::sys::exit(0);
        }
        19 => {
            // Probe `kind >> 8 & 0xFF` (see sotto_rt::fault::PROBES) with
            // an address picked by `kind >> 16`: kernel text, kernel data,
            // own code, no page table.
            let index = (kind >> 8 & 0xFF) as usize;
            let address = match kind >> 16 {
                0 => KERNEL_TEXT,
                1 => KERNEL_TEXT + 0x3_0000,
                2 => fault::own_code_address() & !3,
                _ => FAR_UNMAPPED,
            };
            let name = fault::PROBES.get(index).copied().unwrap_or("?");
            println!("probe {index} ({name}) at {address:#010x}");
            if fault::probe(index, address) {
                println!("probe {index} ({name}) returned");
                sotto_rt::sys::exit(0);
            }
            println!("no such probe");
        }
        // An address of the caller's choosing (the argument with its low
        // byte cleared): load from it, store to it, jump to it.
        20 => {
            fault::load(kind & !0xFF);
        }
        21 => fault::store(kind & !0xFF, 0x5A5A_5A5A),
        22 => fault::jump(kind & !0xFF),
        _ => println!("no such fault class"),
    }
    println!("FAIL: class {kind} did not fault");
}

/// Use 512 bytes of stack per call until the guard page stops it.
#[allow(unconditional_recursion)]
fn recurse(depth: u32) -> u32 {
    let mut frame = [0u8; 512];
    core::hint::black_box(&mut frame);
    recurse(depth + 1).wrapping_add(u32::from(frame[depth as usize % 512]))
}
