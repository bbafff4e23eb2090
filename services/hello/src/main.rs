//! Example service: greets, does a little work in slices, yielding between
//! them, and exits. Runs in its own address space in ring 1.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::{println, sys};

sotto_rt::entry!(main);

fn main(arg: u32) {
    println!("hello from user space (ring 1, own address space), arg {arg}");
    let mut sum: u32 = 0;
    for slice in 1..=3 {
        for i in 0..10_000u32 {
            sum = sum.wrapping_add(core::hint::black_box(i));
        }
        println!("slice {slice}: sum {sum}");
        sys::yield_now();
    }
}
