//! A DP worker service: one DP component of the pipeline (argument bits
//! 0..8: which one, counting only DP components: 0 is the first `dp =
//! true` component of the pipeline file, wherever it stands), isolated in
//! its own address space — a fault in it stops it alone. It runs the loop
//! the pipeline's DP threads run (`dp_task::run`): one block at a time,
//! each time dp-sched gives its semaphore, then signals dp-sched (bit
//! `number + 1`). For tests, bits 8 and 10 are `dp_task::test_hooks`'s,
//! and bit 9 makes it fault on its first block.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use audio_dsp::config::Pipeline;
use dp_task::Slots;
use sotto_rt::{fault, mem, println};

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them (0 is the console).
const GO: u32 = 1;
const DP_TICK: u32 = 2;
const CONFIG: u32 = 3;
const BUFFERS: u32 = 4;

fn main(arg: u32) {
    let pipeline = Pipeline::decode(mem::mapped(CONFIG).expect("the configuration region"))
        .expect("a pipeline description");
    let buffers = mem::mapped(BUFFERS).expect("the buffer region");
    let slots = Slots {
        go: GO,
        dp_tick: DP_TICK,
    };
    let number = (arg & 0xFF) as usize;
    let mut hooks = dp_task::test_hooks(arg);
    dp_task::run(&pipeline, buffers, number, slots, "DP worker", |blocks| {
        if blocks == 0 && arg & (1 << 9) != 0 {
            println!("faulting on purpose");
            fault::illegal_instruction();
        }
        hooks(blocks);
    })
}
