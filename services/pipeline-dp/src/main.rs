//! A DP worker: it runs one DP component of the pipeline (argument bits
//! 0..8: which one, counting only DP components: 0 is the first `dp =
//! true` component of the pipeline file, wherever it stands) one block at
//! a time, each time dp-sched gives its semaphore, and signals dp-sched
//! when done (bit `number + 1`). For tests, argument bit 8 delays its
//! first block by 15 ms (a deadline miss on purpose), bit 9 makes it
//! fault on its first block, and bit 10 prints the cycle each of blocks
//! 100..120 starts at (dp-sched's argument bit 1 prints their releases).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use audio_dsp::config::Pipeline;
use audio_dsp::edf;
use audio_dsp::graph::Graph;
use sotto_rt::sync::{self, Timeout};
use sotto_rt::{fault, mem, println, sys};

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them (0 is the console).
const GO: u32 = 1;
const DP_TICK: u32 = 2;
const CONFIG: u32 = 3;
const BUFFERS: u32 = 4;

/// Print the block cost this often (blocks).
const REPORT_EVERY: u32 = 50;

fn main(arg: u32) {
    let number = (arg & 0xFF) as usize;
    let pipeline = Pipeline::decode(mem::mapped(CONFIG).expect("the configuration region"))
        .expect("a pipeline description");
    let buffers = mem::mapped(BUFFERS).expect("the buffer region");
    let mut graph = Graph::new(&pipeline);
    let Some(index) = pipeline.dp_components().nth(number) else {
        // dp-sched has no DP task to release this worker for.
        println!("the pipeline has no DP component #{number}: idle");
        loop {
            let _ = sync::take(GO, Timeout::Forever);
        }
    };
    let done = edf::done_bit(number);
    println!(
        "DP worker #{number}: component {index} ({})",
        pipeline.components[index].name
    );
    let mut scratch = [0i32; audio_dsp::DP_SCRATCH_SAMPLES];
    let mut blocks = 0u32;
    let (mut total, mut most) = (0u64, 0u32);
    loop {
        sync::take(GO, Timeout::Forever).expect("wait to be released");
        if arg & (1 << 10) != 0 && (100..120).contains(&blocks) {
            println!("start: block {blocks} at cycle {}", sys::cycles());
        }
        if blocks == 0 && arg & (1 << 9) != 0 {
            println!("faulting on purpose");
            fault::illegal_instruction();
        }
        if blocks == 0 && arg & (1 << 8) != 0 {
            sys::sleep_us(15_000);
        }
        let start = sys::cycles();
        if graph.dp_block(&pipeline, buffers, index, &mut scratch) {
            let spent = sys::cycles().wrapping_sub(start);
            total += u64::from(spent);
            most = most.max(spent);
            blocks += 1;
            if blocks % REPORT_EVERY == 0 {
                println!(
                    "stats: {blocks} blocks, avg {} max {most} cycles per block",
                    total / u64::from(blocks)
                );
            }
        }
        let _ = sync::signal(DP_TICK, done);
    }
}
