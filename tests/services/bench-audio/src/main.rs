//! Benchmark: the default pipeline (`pipeline.toml`, granted as in the
//! default system) run for 1,000 LL periods in this one service, with each
//! DP block run as soon as it is ready. It measures the LL components of
//! each period and each DP block separately (CCOUNT before and after) and
//! prints the sums, which `cargo xtask bench` turns into instructions.
//! Without ll-sched, streaming or other services, nothing but the rare
//! kernel tick interrupts the measured code. A second line gives what
//! saving the state that outlives a restart costs (`audio_dsp::persist`:
//! the LL side after each period, the DP FIR after each block).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use audio_dsp::PERIOD_SAMPLES;
use audio_dsp::config::Pipeline;
use audio_dsp::dai_ring::Timeline;
use audio_dsp::graph::{Ends, Graph, Staged};
use audio_dsp::persist::{self, Store};
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
        graph.ll_period(&pipeline, buffers, None, &mut out);
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
    // Saving: the LL side's record after a period, the DP FIR's after a
    // block, into a kept area (here on the stack).
    let mut kept = [0u32; persist::AREA_BYTES / 4];
    let config = persist::config_id(mem::mapped(CONFIG).expect("the configuration region"));
    let mut store = Store::attach_words(&mut kept, config).expect("an area");
    let timeline = Timeline::default();
    let staged = Staged::load(&pipeline, buffers, Ends::ll(&pipeline));
    let (mut ll_save, mut dp_save) = (0u64, 0u64);
    for _ in 0..PERIODS {
        let start = sys::cycles();
        persist::save_ll(&mut store, &pipeline, &graph, &staged, &timeline);
        ll_save += u64::from(sys::cycles().wrapping_sub(start));
    }
    if let Some(index) = dp.first() {
        let staged = Staged::load(&pipeline, buffers, Ends::dp(&pipeline, *index));
        for _ in 0..PERIODS {
            let start = sys::cycles();
            persist::save_dp(&mut store, &pipeline, *index, &graph, &staged, blocks);
            dp_save += u64::from(sys::cycles().wrapping_sub(start));
        }
    }
    println!(
        "bench audio-save: {PERIODS} LL saves {ll_save} cycles, {PERIODS} DP saves {dp_save} cycles, empty {empty} cycles"
    );
    println!(
        "bench audio: {PERIODS} periods {ll_cycles} cycles, {blocks} blocks {dp_cycles} cycles, empty {empty} cycles, {} underruns",
        graph.underruns
    );
}
