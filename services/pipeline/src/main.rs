//! The audio pipeline's LL side. It reads the pipeline description from its
//! configuration region, registers one LL task with ll-sched, and on every
//! tick runs its LL components in order on the rings in the shared buffer
//! region (`audio_dsp::runner`); the sink's period goes to the playback
//! DAI `dai-out`, whose DMA (the kernel's model) writes a period to the
//! host file `dai-out.pcm` every millisecond, and the DP scheduler is told
//! a tick passed. The argument is how many periods to play (0: until
//! stopped). Nothing audio crosses the console.
//!
//! The pipeline starts the playback DAI after its first period, so the
//! DAI's first period is the sink's first. The DAI takes a period every
//! millisecond whether or not the pipeline ran: one it did not get is an
//! xrun the DAI counts (the kernel's count, in the statistics lines and at
//! shutdown) and plays as silence, so the file keeps the run's time; the
//! pipeline counts those periods as underruns (`UNDERRUN: N period(s)
//! went by ...`) from the DAI's own position.
//!
//! A pipeline with a capture component (`kind = "dai-capture"`) starts the
//! capture DAI `dai-in` on its first tick and runs one period for each
//! period the DAI has captured from `dai-in.pcm` (none before the first:
//! it waits; after being late it catches up), so period k of its output
//! is always made from captured period k.
//!
//! Slots, as `system.toml` grants them: 0 the console, 1 ll-sched's
//! endpoint, 2 its task endpoint, 3 the clock, 4 the description
//! (0x50000000), 5 the buffer region (0x50100000), 6 `dp-tick`, 7 the
//! playback DAI's ring `dai-out-ring` (read+write, 0x50300000: registers
//! and samples, `sotto_abi::dai`), 8 the kept state (0x50200000,
//! optional), 9 the capture DAI's ring `dai-in-ring` (read+write,
//! 0x50310000; needed only by a capture pipeline), 10 + N DP thread N's
//! release semaphore.
//!
//! Its DP components run in its further threads (`[[service.thread]]`
//! with `entry = "dp_main"` in `system.toml`, `arg` = which DP component,
//! counting only DP components), one thread each, at a priority below
//! every LL thread: each runs `dp_task::run` on the pipeline's own
//! mappings, released by dp-sched through the semaphore at slot
//! `DP_GO + arg`, and dp-sched sets its kernel deadline through the
//! thread's capability. (A DP component may instead run isolated in a
//! `pipeline-dp` worker service: then the pipeline declares no thread
//! for it.)
//!
//! A restart (its supervisor's, after a fault) starts the service over
//! from its image, so what the audio must not forget lives in a kept
//! memory object (`keep = true`, slot 8, optional): area 0 holds the LL
//! side's state — every LL component's (sine phase, ramp position, ...),
//! the ring cursors it owns, where its periods are in the DAIs' streams
//! and the counters — saved after every period (`audio_dsp::persist`),
//! and area 1 + N DP thread N's. A restarted pipeline resumes from it
//! when it checks out (one line says so, or why it starts cold): it
//! registers with ll-sched again (which drops its previous instance's
//! task) and makes its task anew. The DAIs' rings are kept too, and their
//! DMA ran on while it was down: the periods the playback DAI went
//! without are xruns (silence in the file); a sine pipeline runs them
//! with their output dropped, so what it plays next is what it would
//! have played then — the tone in phase, the ramp where it would be. The
//! shared buffer region must be kept as well: its rings hold the samples
//! between the components, and the saved cursors refer to them. (A
//! period is staged, saved, published, then written to the DAI: a fault
//! between its save and its write leaves the DAI without it, an xrun.)

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use audio_dsp::config::Pipeline;
use audio_dsp::dai_ring::Dai;
use audio_dsp::dai_ring::Direction;
use audio_dsp::edf;
use audio_dsp::graph::Graph;
use audio_dsp::persist::{self, Rebuild, Store};
use audio_dsp::runner::Runner;
use dp_task::Slots;
use ll::{Outcome, Task};
use sotto_rt::{mem, println, sync, sys};

sotto_rt::entry!(main);
sotto_rt::thread!(dp_main, dp);

/// Slots, as `system.toml` grants them (0 is the console, 3 the clock).
const LL: u32 = 1;
const TASKS: u32 = 2;
const CONFIG: u32 = 4;
const BUFFERS: u32 = 5;
const DP_TICK: u32 = 6;
/// The playback DAI's ring (`dai-out-ring`).
const DAI_OUT: u32 = 7;
/// The kept state region (`keep = true`), if granted.
const STATE: u32 = 8;
/// The capture DAI's ring (`dai-in-ring`), for a capture pipeline.
const DAI_IN: u32 = 9;
/// DP thread N's release semaphore.
const DP_GO: u32 = 10;

/// Print statistics this often (periods).
const REPORT_EVERY: u32 = 500;

/// A DP thread: DP component `arg` bits 0..8 (counting only DP
/// components; the other bits are `dp_task::test_hooks`').
fn dp(arg: u32) {
    let number = arg & 0xFF;
    let config = mem::mapped(CONFIG).expect("the configuration region");
    let pipeline = Pipeline::decode(config).expect("a pipeline description");
    let config = persist::config_id(config);
    let buffers = mem::mapped(BUFFERS).expect("the buffer region");
    let state = mem::mapped(STATE)
        .ok()
        .and_then(|region| persist::area(region, 1 + number as usize));
    let slots = Slots {
        go: DP_GO + number,
        dp_tick: DP_TICK,
    };
    dp_task::run(
        &pipeline,
        buffers,
        number as usize,
        slots,
        "DP thread",
        state,
        config,
        dp_task::test_hooks(arg),
    )
}

/// The DAI whose ring is at `slot`, moving samples in `direction`. Its
/// format words are the kernel's (written at boot and every DMA period):
/// a ring put back as the image has it is tried again for a few ticks.
fn attach(slot: u32, direction: Direction) -> Dai<'static> {
    let name = match direction {
        Direction::Playback => "playback DAI (dai-out-ring, slot 7)",
        Direction::Capture => "capture DAI (dai-in-ring, slot 9)",
    };
    let words = mem::shared_words(slot).unwrap_or_else(|error| panic!("the {name}: {error:?}"));
    let mut tries = 0;
    loop {
        match Dai::attach(words, direction) {
            Ok(dai) => return dai,
            Err(why) if tries == 3 => panic!("the {name}: {why}"),
            Err(_) => {
                tries += 1;
                sys::sleep_us(1000);
            }
        }
    }
}

fn main(periods: u32) {
    let config = mem::mapped(CONFIG).expect("the configuration region");
    let pipeline = Pipeline::decode(config).expect("a pipeline description");
    let config = persist::config_id(config);
    let buffers = mem::mapped(BUFFERS).expect("the buffer region");
    let mut store = mem::mapped(STATE)
        .ok()
        .and_then(|region| persist::area(region, 0))
        .and_then(|area| Store::attach(area, config));
    let mut playback = attach(DAI_OUT, Direction::Playback);
    let mut capture = pipeline
        .captures()
        .then(|| attach(DAI_IN, Direction::Capture));
    let dp = pipeline.dp_components().count();
    match &capture {
        Some(capture) => println!(
            "{} components ({dp} DP), {} buffers; capture DAI {}-bit, playback DAI {}-bit",
            pipeline.components.len(),
            pipeline.buffers.len(),
            capture.bits(),
            playback.bits()
        ),
        None => println!(
            "{} components ({dp} DP), {} buffers; playback DAI {}-bit",
            pipeline.components.len(),
            pipeline.buffers.len(),
            playback.bits()
        ),
    }
    let mut graph = Graph::empty();
    graph.reset(&pipeline);
    let restored = store
        .as_mut()
        .map(|store| persist::restore_ll(store, &pipeline, buffers, &mut graph));
    let timeline = match restored {
        Some(Ok(resumed)) => {
            println!(
                "state: resumed after period {} (epoch {}) at tick {}",
                graph.periods,
                store.as_ref().map_or(0, Store::epoch),
                sys::ticks()
            );
            Some(resumed.timeline)
        }
        Some(Err(Rebuild::Empty)) | None => None,
        Some(Err(why)) => {
            println!(
                "state: rebuilt ({why}) at tick {}: a cold start",
                sys::ticks()
            );
            None
        }
    };
    let mut runner = Runner::new(timeline, &playback, capture.as_mut());
    // Registering again, a restarted pipeline's previous tasks are
    // dropped by ll-sched: it makes its task anew.
    let scheduler = ll::Scheduler::connect(LL, TASKS).expect("register with ll-sched");
    let task = Task::new(0, 1).create(&scheduler).expect("the LL task");
    task.schedule().expect("schedule");
    let mut next_report = (graph.periods / REPORT_EVERY + 1) * REPORT_EVERY;
    scheduler
        .serve(TASKS, |run| {
            let ran = runner.run(
                &pipeline,
                buffers,
                &mut graph,
                &mut playback,
                capture.as_mut(),
                store.as_mut(),
                &mut sys::cycles,
            );
            if ran.late > 0 {
                println!(
                    "UNDERRUN: {} period(s) went by before tick {} without the pipeline running",
                    ran.late, run.tick
                );
            }
            if ran.not_kept {
                println!("state: does not fit its area: not kept");
            }
            let _ = sync::signal(DP_TICK, edf::TICK_BIT);
            // Every REPORT_EVERY periods (once, if missed ones jump past it).
            if graph.periods >= next_report {
                next_report = (graph.periods / REPORT_EVERY + 1) * REPORT_EVERY;
                let costs = &runner.costs;
                println!(
                    "stats: {} periods, {} underruns, {} starved components, {} DAI xruns; components avg {} max {} cycles per period, DAI avg {}, saving state avg {}",
                    graph.periods,
                    graph.underruns,
                    graph.starved,
                    playback.xruns(),
                    costs.average(costs.components),
                    costs.most,
                    costs.average(costs.dai),
                    costs.average(costs.saving)
                );
            }
            if periods != 0 && run.count >= periods {
                Outcome::Completed
            } else {
                Outcome::Reschedule
            }
        })
        .expect("serve");
    println!(
        "done: {} periods, {} underruns, {} starved components, {} DAI xruns",
        graph.periods,
        graph.underruns,
        graph.starved,
        playback.xruns()
    );
}
