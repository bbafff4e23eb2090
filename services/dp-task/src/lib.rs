//! The DP task loop, as dp-sched drives it: wait on the release semaphore,
//! run one block of one DP component of the pipeline, signal dp-sched
//! (bit `number + 1` of its notification), and again. The pipeline's DP
//! threads (in its own address space, the default) and the `pipeline-dp`
//! worker service (a DP component isolated in its own address space) run
//! this same loop on the same buffers.
//!
//! State that outlives a restart: given a kept area (`audio_dsp::persist`,
//! a `keep = true` memory object), the loop stages each block (input read,
//! output in free ring slots, nothing published), saves the FIR's history,
//! its ring cursors and the block count, then publishes. A restarted
//! runner resumes from the area when it checks out — completing a block
//! saved but not published, redoing one staged but not saved, so no block
//! is lost — and starts cold when it does not (one console line says
//! which). Either way it first signals its started bit
//! (`edf::started_bit`): the release its previous instance took died with
//! it, and dp-sched releases the block again on its next tick.
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
use audio_dsp::persist::{self, Rebuild, Store};
use sotto_rt::sync::{self, Timeout};
use sotto_rt::{fault, println, sys};

/// Print the block cost this often (blocks).
const REPORT_EVERY: u32 = 50;

/// Test hook argument bit: delay the first block by 15 ms.
pub const DELAY_FIRST: u32 = 1 << 8;
/// Test hook argument bit: print the cycle blocks 100..120 start at.
pub const TRACE_STARTS: u32 = 1 << 10;
/// Test hook argument bit: fault (a load from address 0) in the middle
/// of every 100th block — its input read and its output computed into
/// the rings' free slots, nothing saved or published — but the first
/// block a (restarted) runner runs.
pub const FAULT_EVERY_100: u32 = 1 << 11;

/// The capability slots the loop uses.
#[derive(Clone, Copy, Debug)]
pub struct Slots {
    /// The release semaphore (receive).
    pub go: u32,
    /// dp-sched's notification (send).
    pub dp_tick: u32,
}

/// Where in a block a hook is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// Released, before the block.
    Released,
    /// The block computed and staged, not yet saved or published.
    Staged,
}

/// The test hooks of a DP task's argument (bits 0..8 say which DP
/// component): [`DELAY_FIRST`] delays its first block by 15 ms (a
/// deadline miss on purpose), [`TRACE_STARTS`] prints the cycle each of
/// blocks 100..120 starts at (dp-sched's argument bit 1 prints their
/// releases), [`FAULT_EVERY_100`] faults in every 100th block. For
/// [`run`]'s `hook` (`blocks`: blocks done before this one).
pub fn test_hooks(arg: u32) -> impl FnMut(Point, u32) {
    // Blocks this instance ran (a restarted runner runs its first).
    let mut ran = 0u32;
    move |point, blocks| match point {
        Point::Released => {
            if arg & TRACE_STARTS != 0 && (100..120).contains(&blocks) {
                println!("start: block {blocks} at cycle {}", sys::cycles());
            }
            if blocks == 0 && arg & DELAY_FIRST != 0 {
                sys::sleep_us(15_000);
            }
        }
        Point::Staged => {
            if arg & FAULT_EVERY_100 != 0 && ran > 0 && (blocks + 1) % 100 == 0 {
                println!(
                    "faulting on purpose in block {} at tick {}",
                    blocks + 1,
                    sys::ticks()
                );
                fault::load(0);
            }
            ran += 1;
        }
    }
}

/// Run DP component `number` (counting only DP components: 0 is the first
/// `dp = true` component of the pipeline, wherever it stands) forever.
/// `state` is its kept area (`persist::area` of a `keep = true` region),
/// `config` the pipeline's id (`persist::config_id` of the configuration
/// region); `hook(point, blocks)` runs after each release and in the
/// middle of each block (for tests: delays, faults, traces); `who` names
/// the runner in its lines.
#[allow(clippy::too_many_arguments, reason = "the runner's whole setting")]
pub fn run(
    pipeline: &Pipeline,
    buffers: &mut [u8],
    number: usize,
    slots: Slots,
    who: &str,
    state: Option<&mut [u8]>,
    config: u32,
    mut hook: impl FnMut(Point, u32),
) -> ! {
    let Some(index) = pipeline.dp_components().nth(number) else {
        // dp-sched has no DP task to release this runner for.
        println!("the pipeline has no DP component #{number}: idle");
        loop {
            let _ = sync::take(slots.go, Timeout::Forever);
        }
    };
    let done = edf::done_bit(number);
    let name = pipeline.components[index].name.as_str();
    let mut store = state.and_then(|area| Store::attach(area, config));
    let mut graph = Graph::empty();
    graph.reset(pipeline);
    let restored = store
        .as_mut()
        .map(|store| persist::restore_dp(store, pipeline, index, buffers, &mut graph));
    let tick = sys::ticks();
    let mut blocks = match restored {
        Some(Ok(blocks)) => {
            let epoch = store.as_ref().map_or(0, Store::epoch);
            println!(
                "{who} #{number}: component {index} ({name}) resumed after block {blocks} (epoch {epoch}) at tick {tick}"
            );
            blocks
        }
        Some(Err(Rebuild::Empty)) => {
            println!("{who} #{number}: component {index} ({name})");
            0
        }
        Some(Err(why)) => {
            println!(
                "{who} #{number}: component {index} ({name}) state rebuilt ({why}) at tick {tick}"
            );
            0
        }
        None => {
            println!("{who} #{number}: component {index} ({name}), no kept state");
            0
        }
    };
    // Started: a release a previous instance took is void.
    let _ = sync::signal(slots.dp_tick, edf::started_bit(number));
    let mut scratch = [0i32; audio_dsp::DP_SCRATCH_SAMPLES];
    let (mut total, mut most, mut ran) = (0u64, 0u32, 0u32);
    let mut kept = true;
    loop {
        sync::take(slots.go, Timeout::Forever).expect("wait to be released");
        hook(Point::Released, blocks);
        let start = sys::cycles();
        if let Some(staged) = graph.dp_stage(pipeline, buffers, index, &mut scratch) {
            hook(Point::Staged, blocks);
            blocks += 1;
            if let Some(store) = store.as_mut()
                && !persist::save_dp(store, pipeline, index, &graph, &staged, blocks)
                && kept
            {
                println!("{who} #{number}: the state does not fit its area: not kept");
                kept = false;
            }
            staged.publish(pipeline, buffers);
            sotto_rt::trace::dp_complete(number as u32, start);
            let spent = sys::cycles().wrapping_sub(start);
            total += u64::from(spent);
            most = most.max(spent);
            ran += 1;
            if blocks % REPORT_EVERY == 0 {
                // `stats NAME:`, so a report keeps apart the DP threads
                // of one service (`cargo xtask run`).
                println!(
                    "stats {name}: {blocks} blocks, avg {} max {most} cycles per block",
                    total / u64::from(ran)
                );
            }
        }
        let _ = sync::signal(slots.dp_tick, done);
    }
}
