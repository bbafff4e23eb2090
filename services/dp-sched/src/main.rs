//! The DP scheduler. After each LL tick (the pipeline signals bit 0 of its
//! notification) it checks every DP component's buffers — mapped read-only
//! — and gives each one that can run a block a deadline one block period
//! away; the ready one with the earliest deadline is released by giving its
//! worker's semaphore (slot 10 + its DP number). Worker N signals bit
//! N + 1 when done; finishing after the deadline, or still running when it
//! passes, is a miss, and a task past its deadline no longer holds the
//! others back. DP workers run at a lower priority than every LL thread,
//! and their output starts with two blocks of prefilled latency, so the LL
//! side never waits for a DP task that meets its deadlines.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use audio_dsp::config::{Kind, Pipeline};
use audio_dsp::edf::{self, DpTask};
use audio_dsp::graph::Graph;
use audio_dsp::{PERIOD_FRAMES, config::MAX_COMPONENTS};
use sotto_rt::{ObjectKind, Rights, cap, mem, println, sync};

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them (0 is the console, 2 the clock).
const DP_TICK: u32 = 1;
const CONFIG: u32 = 3;
const BUFFERS: u32 = 4;
const WORKERS: u32 = 10;

/// Print statistics this often (LL ticks).
const REPORT_EVERY: u32 = 500;

fn main(_: u32) {
    let pipeline = Pipeline::decode(mem::mapped(CONFIG).expect("the configuration region"))
        .expect("a pipeline description");
    let buffers: &[u8] = mem::mapped(BUFFERS).expect("the buffer region");
    // DP components: pipeline index and block period in ticks.
    let dp: heapless::Vec<(usize, u32), MAX_COMPONENTS> = pipeline
        .components
        .iter()
        .enumerate()
        .filter_map(|(index, component)| match component.kind {
            Kind::Fir {
                block_frames,
                dp: true,
                ..
            } => Some((index, block_frames / PERIOD_FRAMES as u32)),
            _ => None,
        })
        .collect();
    let mut tasks = [DpTask::default(); MAX_COMPONENTS];
    println!("{} DP task(s), earliest deadline first", dp.len());
    // A task without a worker to release is never made ready.
    let mut schedulable = [false; MAX_COMPONENTS];
    for (number, (index, _)) in dp.iter().enumerate() {
        let slot = WORKERS + number as u32;
        schedulable[number] = cap::info(slot).is_ok_and(|info| {
            info.kind == ObjectKind::Semaphore && info.rights.contains(Rights::SEND)
        });
        if !schedulable[number] {
            println!(
                "{}: no worker semaphore at slot {slot} (see system.toml): it will not run",
                pipeline.components[*index].name
            );
        }
    }
    // Time is counted in LL ticks (the pipeline's periods), not kernel
    // ticks: deadlines stay in periods whatever the kernel's tick rate, and
    // a block that ends just after a tick interrupt is not judged by it.
    let mut ticks = 0u32;
    loop {
        let bits = sync::wait(DP_TICK).expect("wait");
        let now = ticks;
        for (number, (index, _)) in dp.iter().enumerate() {
            let task = &mut tasks[number];
            if bits & edf::done_bit(number) != 0 && task.running {
                let deadline = task.deadline.unwrap_or(0);
                if edf::done(task, now) {
                    println!(
                        "DEADLINE MISS: {} finished at tick {now}, deadline {deadline}",
                        pipeline.components[*index].name
                    );
                }
            }
        }
        if bits & edf::TICK_BIT != 0 {
            ticks += 1;
            let now = ticks;
            for (number, (index, block_ticks)) in dp.iter().enumerate() {
                if edf::overdue(&mut tasks[number], now) {
                    println!(
                        "DEADLINE MISS: {} still running at tick {now}, deadline {}",
                        pipeline.components[*index].name,
                        tasks[number].deadline.unwrap_or(0)
                    );
                }
                edf::update(
                    &mut tasks[number],
                    schedulable[number] && Graph::dp_ready(&pipeline, buffers, *index),
                    now,
                    *block_ticks,
                );
            }
            if ticks % REPORT_EVERY == 0 {
                for (number, (index, _)) in dp.iter().enumerate() {
                    let task = tasks[number];
                    println!(
                        "stats: {}: {} blocks, {} deadline misses",
                        pipeline.components[*index].name, task.runs, task.misses
                    );
                }
            }
        }
        if let Some(number) = edf::next(&tasks[..dp.len()]) {
            if sync::give(WORKERS + number as u32).is_ok() {
                tasks[number].running = true;
            } else {
                println!("cannot release DP task {number}: it will not run");
                schedulable[number] = false;
                tasks[number].deadline = None;
            }
        }
    }
}
