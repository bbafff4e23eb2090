//! A DP worker service: one DP component of the pipeline (argument bits
//! 0..8: which one, counting only DP components: 0 is the first `dp =
//! true` component of the pipeline file, wherever it stands), isolated in
//! its own address space — a fault in it stops it alone, and its
//! supervisor may restart it. It runs the loop the pipeline's DP threads
//! run (`dp_task::run`): one block at a time, each time dp-sched gives its
//! semaphore, then signals dp-sched (bit `number + 1`). Its state (the
//! FIR's history, its ring cursors, the blocks done) is saved after every
//! block in a kept memory object (slot 6, optional: without one a restart
//! starts cold), from which a restarted worker resumes. For tests, bits
//! 8, 10 and 11 are `dp_task::test_hooks`'s, and bit 9 makes it fault on
//! its first block.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use audio_dsp::config::Pipeline;
use audio_dsp::persist;
use dp_task::{Point, Slots};
use sotto_rt::{fault, mem, println};

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them (0 is the console, 5 the clock).
const GO: u32 = 1;
const DP_TICK: u32 = 2;
const CONFIG: u32 = 3;
const BUFFERS: u32 = 4;
/// The kept state region (`keep = true`), if granted: area 0 is this
/// worker's.
const STATE: u32 = 6;

fn main(arg: u32) {
    let config = mem::mapped(CONFIG).expect("the configuration region");
    let pipeline = Pipeline::decode(config).expect("a pipeline description");
    let config = persist::config_id(config);
    let buffers = mem::mapped(BUFFERS).expect("the buffer region");
    let state = mem::mapped(STATE)
        .ok()
        .and_then(|region| persist::area(region, 0));
    let slots = Slots {
        go: GO,
        dp_tick: DP_TICK,
    };
    let number = (arg & 0xFF) as usize;
    let mut hooks = dp_task::test_hooks(arg);
    dp_task::run(
        &pipeline,
        buffers,
        number,
        slots,
        "DP worker",
        state,
        config,
        |point, blocks| {
            if point == Point::Released && blocks == 0 && arg & (1 << 9) != 0 {
                println!("faulting on purpose");
                fault::illegal_instruction();
            }
            hooks(point, blocks);
        },
    )
}
