//! Test service: prints `work N/M` lines with busy work between them, then
//! exits 0. The argument is `lines * 1000 + busy` (busy = thousands of
//! loop iterations between lines), so one crate serves several tests.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::println;

sotto_rt::entry!(main);

fn main(arg: u32) {
    let lines = (arg / 1000).max(1);
    let busy = arg % 1000;
    let mut sum: u32 = 0;
    for line in 1..=lines {
        for i in 0..busy * 1000 {
            sum = sum.wrapping_add(core::hint::black_box(i));
        }
        println!("work {line}/{lines}");
    }
    println!("done (checksum {sum})");
}
