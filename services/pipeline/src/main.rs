//! The audio pipeline's LL side. It reads the pipeline description from its
//! configuration region, registers one LL task with ll-sched, and on every
//! tick runs its LL components in order on the rings in the shared buffer
//! region; the DAI sink streams each period to the host (`pcm <base64>`
//! lines that `cargo xtask run` turns into a WAV file) and the DP
//! scheduler is told a tick passed. The argument is how many periods to
//! play (0: until stopped).
//!
//! Underruns are measured against time: the DAI takes a period every
//! millisecond whether or not the pipeline ran. Periods that went by while
//! it did not run (the kernel's tick count says how many) are underruns,
//! streamed to the host as `pcm-gap N` lines: the host puts N periods of
//! silence there, so `out.wav` keeps the run's time.
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
//! the ring cursors it owns, the DAI clock and the counters — saved after
//! every period (`audio_dsp::persist`), and area 1 + N DP thread N's. A
//! restarted pipeline resumes from it when it checks out (one line says
//! so, or why it starts cold): it registers with ll-sched again (which
//! drops its previous instance's task) and makes its task anew, and the
//! periods the DAI went without while it was down are streamed as
//! `pcm-gap N` and run with their output dropped, so what it plays next is
//! what it would have played then — the tone in phase, the ramp where it
//! would be. The shared buffer region must be kept as well: its rings hold
//! the samples between the components, and the saved cursors refer to
//! them. (A period is staged, saved, published, then streamed: a fault in
//! the few hundred instructions between its save and its `pcm` line would
//! leave the stream one period short.)

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use audio_dsp::PERIOD_SAMPLES;
use audio_dsp::config::Pipeline;
use audio_dsp::dai::DaiClock;
use audio_dsp::edf;
use audio_dsp::graph::{Graph, pcm_base64};
use audio_dsp::persist::{self, Rebuild, Store};
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
/// The kept state region (`keep = true`), if granted.
const STATE: u32 = 8;
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

fn main(periods: u32) {
    let config = mem::mapped(CONFIG).expect("the configuration region");
    let pipeline = Pipeline::decode(config).expect("a pipeline description");
    let config = persist::config_id(config);
    let buffers = mem::mapped(BUFFERS).expect("the buffer region");
    let mut store = mem::mapped(STATE)
        .ok()
        .and_then(|region| persist::area(region, 0))
        .and_then(|area| Store::attach(area, config));
    let dp = pipeline.dp_components().count();
    println!(
        "{} components ({dp} DP), {} buffers; streaming PCM",
        pipeline.components.len(),
        pipeline.buffers.len()
    );
    let mut graph = Graph::empty();
    graph.reset(&pipeline);
    let restored = store
        .as_mut()
        .map(|store| persist::restore_ll(store, &pipeline, buffers, &mut graph));
    let (mut dai, resumed) = match restored {
        Some(Ok(resumed)) => {
            println!(
                "state: resumed after period {} (epoch {}) at tick {}",
                graph.periods,
                store.as_ref().map_or(0, Store::epoch),
                sys::ticks()
            );
            (resumed.dai, true)
        }
        Some(Err(Rebuild::Empty)) | None => (DaiClock::new(sys::tick_hz()), false),
        Some(Err(why)) => {
            println!(
                "state: rebuilt ({why}) at tick {}: a cold start",
                sys::ticks()
            );
            (DaiClock::new(sys::tick_hz()), false)
        }
    };
    // Registering again, a restarted pipeline's previous tasks are
    // dropped by ll-sched: it makes its task anew.
    let scheduler = ll::Scheduler::connect(LL, TASKS).expect("register with ll-sched");
    let task = Task::new(0, 1).create(&scheduler).expect("the LL task");
    task.schedule().expect("schedule");
    let mut out = [0i32; PERIOD_SAMPLES];
    let mut line = [0u8; 256];
    // Cycles of the components alone, without streaming to the host, over
    // the periods played (missed ones took none), and of saving the state.
    let (mut total, mut most, mut played) = (0u64, 0u32, 0u32);
    let (mut saving, mut kept) = (0u64, true);
    // After a restore, periods missed are run (output dropped); else they
    // are late (nothing upstream ran either).
    let mut catch_up = resumed;
    let mut next_report = (graph.periods / REPORT_EVERY + 1) * REPORT_EVERY;
    scheduler
        .serve(TASKS, |run| {
            let missed = dai.missed(sys::ticks());
            if missed > 0 {
                println!(
                    "UNDERRUN: {missed} period(s) went by before tick {} without the pipeline running",
                    run.tick
                );
                println!("pcm-gap {missed}");
                if catch_up {
                    for _ in 0..missed {
                        let staged = graph.ll_stage_missed(&pipeline, buffers);
                        if let Some(store) = store.as_mut() {
                            kept &= persist::save_ll(store, &pipeline, &graph, &staged, &dai);
                        }
                        staged.publish(&pipeline, buffers);
                    }
                } else {
                    graph.missed_periods(missed);
                }
            }
            catch_up = false;
            let start = sys::cycles();
            let staged = graph.ll_stage(&pipeline, buffers, &mut out);
            let computed = sys::cycles();
            if let Some(store) = store.as_mut()
                && !persist::save_ll(store, &pipeline, &graph, &staged, &dai)
                && kept
            {
                println!("state: does not fit its area: not kept");
                kept = false;
            }
            let saved = sys::cycles();
            staged.publish(&pipeline, buffers);
            let spent = computed.wrapping_sub(start) + sys::cycles().wrapping_sub(saved);
            saving += u64::from(saved.wrapping_sub(computed));
            total += u64::from(spent);
            played += 1;
            most = most.max(spent);
            pcm_base64(&out, &mut line);
            println!("pcm {}", core::str::from_utf8(&line).unwrap_or(""));
            let _ = sync::signal(DP_TICK, edf::TICK_BIT);
            // Every REPORT_EVERY periods (once, if missed ones jump past it).
            if graph.periods >= next_report {
                next_report = (graph.periods / REPORT_EVERY + 1) * REPORT_EVERY;
                println!(
                    "stats: {} periods, {} underruns, {} starved components; components avg {} max {most} cycles per period, saving state avg {}",
                    graph.periods,
                    graph.underruns,
                    graph.starved,
                    total / u64::from(played.max(1)),
                    saving / u64::from(played.max(1))
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
        "done: {} periods, {} underruns, {} starved components",
        graph.periods, graph.underruns, graph.starved
    );
}
