//! The DP task loop, as dp-sched drives it: wait on the release semaphore,
//! run one block of one DP component of the pipeline, signal dp-sched
//! (bit `number + 1` of its notification), and again. The pipeline's DP
//! threads (in its own address space, the default) and the `pipeline-dp`
//! worker service (a DP component isolated in its own address space) run
//! this same loop on the same buffers.
//!
//! It uses no IPC buffer (semaphore, notification and console calls take
//! registers and its own stack), so it may run as a further thread of a
//! service whose other threads use theirs. Each of its console lines is
//! one system call (shorter than the console's 128-byte buffer), so a
//! more urgent thread of the same service never splits one.

#![no_std]
#![forbid(unsafe_code)]

use audio_dsp::config::Pipeline;
use audio_dsp::edf;
use audio_dsp::graph::Graph;
use sotto_rt::sync::{self, Timeout};
use sotto_rt::{println, sys};

/// Print the block cost this often (blocks).
const REPORT_EVERY: u32 = 50;

/// The capability slots the loop uses.
#[derive(Clone, Copy, Debug)]
pub struct Slots {
    /// The release semaphore (receive).
    pub go: u32,
    /// dp-sched's notification (send).
    pub dp_tick: u32,
}

/// The test hooks of a DP task's argument (bits 0..8 say which DP
/// component): bit 8 delays its first block by 15 ms (a deadline miss on
/// purpose), bit 10 prints the cycle each of blocks 100..120 starts at
/// (dp-sched's argument bit 1 prints their releases). For [`run`]'s
/// `before`.
pub fn test_hooks(arg: u32) -> impl FnMut(u32) {
    move |blocks| {
        if arg & (1 << 10) != 0 && (100..120).contains(&blocks) {
            println!("start: block {blocks} at cycle {}", sys::cycles());
        }
        if blocks == 0 && arg & (1 << 8) != 0 {
            sys::sleep_us(15_000);
        }
    }
}

/// Run DP component `number` (counting only DP components: 0 is the first
/// `dp = true` component of the pipeline, wherever it stands) forever.
/// `before(blocks)` runs after each release, before the block (for
/// tests: delays, faults, traces); `who` names the runner in its lines.
pub fn run(
    pipeline: &Pipeline,
    buffers: &mut [u8],
    number: usize,
    slots: Slots,
    who: &str,
    mut before: impl FnMut(u32),
) -> ! {
    let mut graph = Graph::new(pipeline);
    let Some(index) = pipeline.dp_components().nth(number) else {
        // dp-sched has no DP task to release this runner for.
        println!("the pipeline has no DP component #{number}: idle");
        loop {
            let _ = sync::take(slots.go, Timeout::Forever);
        }
    };
    let done = edf::done_bit(number);
    let name = pipeline.components[index].name.as_str();
    println!("{who} #{number}: component {index} ({name})");
    let mut scratch = [0i32; audio_dsp::DP_SCRATCH_SAMPLES];
    let mut blocks = 0u32;
    let (mut total, mut most) = (0u64, 0u32);
    loop {
        sync::take(slots.go, Timeout::Forever).expect("wait to be released");
        before(blocks);
        let start = sys::cycles();
        if graph.dp_block(pipeline, buffers, index, &mut scratch) {
            let spent = sys::cycles().wrapping_sub(start);
            total += u64::from(spent);
            most = most.max(spent);
            blocks += 1;
            if blocks % REPORT_EVERY == 0 {
                // `stats NAME:`, so a report keeps apart the DP threads
                // of one service (`cargo xtask run`).
                println!(
                    "stats {name}: {blocks} blocks, avg {} max {most} cycles per block",
                    total / u64::from(blocks)
                );
            }
        }
        let _ = sync::signal(slots.dp_tick, done);
    }
}
