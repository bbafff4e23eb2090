//! Benchmark: the default pipeline (`pipeline.toml`, granted as in the
//! default system) run for 1,000 LL periods in this one service, with each
//! DP block run as soon as it is ready. It measures the LL components of
//! each period and each DP block separately (CCOUNT before and after) and
//! prints the sums, which `cargo xtask bench` turns into instructions.
//! Without ll-sched, streaming or other services, nothing but the rare
//! kernel tick interrupts the measured code.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use audio_dsp::PERIOD_SAMPLES;
use audio_dsp::config::Pipeline;
use audio_dsp::graph::Graph;
use sotto_rt::{mem, println, sys};

sotto_rt::entry!(main);

/// Slots, as `tests/system.toml` grants them (0 is the console, 1 the
/// clock that `sys::cycles` needs).
const CONFIG: u32 = 2;
const BUFFERS: u32 = 3;

/// LL periods to run.
const PERIODS: u32 = 1000;

fn main(_: u32) {
    let pipeline = Pipeline::decode(mem::mapped(CONFIG).expect("the configuration region"))
        .expect("a pipeline description");
    let buffers = mem::mapped(BUFFERS).expect("the buffer region");
    let mut graph = Graph::new(&pipeline);
    let dp: heapless::Vec<usize, { audio_dsp::config::MAX_COMPONENTS }> =
        pipeline.dp_components().collect();
    let mut out = [0i32; PERIOD_SAMPLES];
    let mut scratch = [0i32; audio_dsp::DP_SCRATCH_SAMPLES];
    let (mut ll_cycles, mut dp_cycles, mut blocks) = (0u64, 0u64, 0u32);
    for _ in 0..PERIODS {
        let start = sys::cycles();
        graph.ll_period(&pipeline, buffers, &mut out);
        ll_cycles += u64::from(sys::cycles().wrapping_sub(start));
        for index in &dp {
            let start = sys::cycles();
            if graph.dp_block(&pipeline, buffers, *index, &mut scratch) {
                dp_cycles += u64::from(sys::cycles().wrapping_sub(start));
                blocks += 1;
            }
        }
    }
    // An empty measurement: what the two cycle reads themselves cost.
    let mut empty = 0u64;
    for _ in 0..PERIODS {
        let start = sys::cycles();
        empty += u64::from(sys::cycles().wrapping_sub(start));
    }
    println!(
        "bench audio: {PERIODS} periods {ll_cycles} cycles, {blocks} blocks {dp_cycles} cycles, empty {empty} cycles, {} underruns",
        graph.underruns
    );
}
