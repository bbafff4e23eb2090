//! The DP scheduler. After each LL tick (the pipeline signals bit 0 of its
//! notification) it checks every DP component's buffers — mapped read-only
//! — and gives each one that can run a block a deadline one block period
//! away (each DP component has its own block size). Worker N is released
//! by giving its semaphore (slot 10 + N) and signals bit N + 1 when done.
//!
//! Preemptive (the default): every ready task is released at once, its
//! worker thread first given the task's absolute deadline through its
//! `thread` capability (slot 20 + N) — CCOUNT cycles, the tick the task
//! became ready plus its block period — and the kernel runs the DP
//! workers, all at one priority, earliest deadline first: a short block
//! that becomes ready preempts a long one with a later deadline, as SOF's
//! DP threads on Zephyr. One at a time (argument bit 0): the ready task
//! with the earliest deadline is released only when no other runs within
//! its deadline, and runs to the end of its block.
//!
//! Finishing after the deadline, or still running when it passes, is a
//! miss, and a task past its deadline no longer holds the others back.
//! A runner that starts again (restarted by its supervisor after a fault)
//! signals bit 16 + N: the block released to its previous instance was
//! not done, and is released again on the next tick (counted as a
//! restart, not as a block).
//! DP workers run at a lower priority than every LL thread, and their
//! output starts with two blocks of prefilled latency, so the LL side
//! never waits for a DP task that meets its deadlines. The statistics give
//! each task's share of the CPU over the last report, from the kernel's
//! CPU time of its worker thread.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use audio_dsp::config::{Kind, Pipeline};
use audio_dsp::edf::{self, DpTask};
use audio_dsp::graph::Graph;
use audio_dsp::{PERIOD_FRAMES, RATE, config::MAX_COMPONENTS};
use sotto_rt::thread::{self, Clock64};
use sotto_rt::{CCOUNT_HZ, ObjectKind, Rights, cap, mem, println, sync};

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them (0 is the console, 2 the clock).
const DP_TICK: u32 = 1;
const CONFIG: u32 = 3;
const BUFFERS: u32 = 4;
const WORKERS: u32 = 10;
const THREADS: u32 = 20;

/// Argument bit 0: release one task at a time (non-preemptive).
const ONE_AT_A_TIME: u32 = 1;
/// Argument bit 1 (for tests): print the cycle of each release of the
/// blocks in [`TRACED`], to measure the latency to the worker's start.
const TRACE_RELEASES: u32 = 2;
/// The blocks (numbered from 0 per task) a trace covers.
const TRACED: core::ops::Range<u32> = 100..120;

/// Print statistics this often (LL ticks).
const REPORT_EVERY: u32 = 500;

/// CCOUNT cycles per LL period.
const PERIOD_CYCLES: u64 = CCOUNT_HZ as u64 * PERIOD_FRAMES as u64 / RATE as u64;

/// `, N restarts` in a task's statistics, when there were any.
struct Restarts(u32);

impl core::fmt::Display for Restarts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            0 => Ok(()),
            1 => f.write_str(", 1 restart of its runner"),
            n => write!(f, ", {n} restarts of its runner"),
        }
    }
}

/// Whether `slot` holds a capability of `kind` with `rights`.
fn holds(slot: u32, kind: ObjectKind, rights: Rights) -> bool {
    cap::info(slot).is_ok_and(|info| info.kind == kind && info.rights.contains(rights))
}

fn main(arg: u32) {
    let preemptive = arg & ONE_AT_A_TIME == 0;
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
    println!(
        "{} DP task(s), earliest deadline first, {}",
        dp.len(),
        if preemptive {
            "preemptive (kernel deadlines)"
        } else {
            "one at a time"
        }
    );
    // A task without a worker to release is never made ready; one without
    // a thread capability runs without a kernel deadline (and without a
    // CPU share in the statistics).
    let mut schedulable = [false; MAX_COMPONENTS];
    let mut controlled = [false; MAX_COMPONENTS];
    for (number, (index, _)) in dp.iter().enumerate() {
        let name = &pipeline.components[*index].name;
        let slot = WORKERS + number as u32;
        schedulable[number] = holds(slot, ObjectKind::Semaphore, Rights::SEND);
        if !schedulable[number] {
            println!(
                "{name}: no worker semaphore at slot {slot} (see system.toml): it will not run"
            );
        }
        let slot = THREADS + number as u32;
        controlled[number] = holds(slot, ObjectKind::Thread, Rights::CONTROL);
        if !controlled[number] {
            println!(
                "{name}: no thread capability at slot {slot} (see system.toml): no kernel deadline, no CPU share"
            );
        }
    }
    let mut clock = Clock64::new();
    // Kernel deadlines (cycles) of the ready tasks, and the CPU time of
    // each worker and the clock at the last report.
    let mut kernel_deadline = [0u64; MAX_COMPONENTS];
    let mut cpu_then = [0u64; MAX_COMPONENTS];
    let mut report_then = clock.now();
    // Time is counted in LL ticks (the pipeline's periods), not kernel
    // ticks: deadlines stay in periods whatever the kernel's tick rate, and
    // a block that ends just after a tick interrupt is not judged by it.
    let mut ticks = 0u32;
    let mut traced: [Option<(u32, u32)>; MAX_COMPONENTS] = [None; MAX_COMPONENTS];
    loop {
        let bits = sync::wait(DP_TICK).expect("wait");
        for (number, (index, _)) in dp.iter().enumerate() {
            if let Some((block, cycle)) = traced[number].take() {
                let name = &pipeline.components[*index].name;
                println!("release: {name} block {block} at cycle {cycle}");
            }
        }
        let now = ticks;
        for (number, (index, _)) in dp.iter().enumerate() {
            let task = &mut tasks[number];
            if bits & edf::started_bit(number) != 0 && edf::restarted(task) {
                println!(
                    "{}: its runner started again at tick {now}: the block released to it goes again",
                    pipeline.components[*index].name
                );
            }
            if bits & edf::done_bit(number) != 0 && task.running {
                let deadline = task.deadline.unwrap_or(0);
                if edf::done(task, now) {
                    sotto_rt::trace::dp_miss(number as u32, kernel_deadline[number]);
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
            let tick_cycles = clock.now();
            for (number, (index, block_ticks)) in dp.iter().enumerate() {
                let task = &mut tasks[number];
                if edf::overdue(task, now) {
                    sotto_rt::trace::dp_miss(number as u32, kernel_deadline[number]);
                    println!(
                        "DEADLINE MISS: {} still running at tick {now}, deadline {}",
                        pipeline.components[*index].name,
                        task.deadline.unwrap_or(0)
                    );
                }
                let was_ready = task.deadline.is_some();
                edf::update(
                    task,
                    schedulable[number] && Graph::dp_ready(&pipeline, buffers, *index),
                    now,
                    *block_ticks,
                );
                if task.deadline.is_some() && !was_ready {
                    kernel_deadline[number] = tick_cycles + u64::from(*block_ticks) * PERIOD_CYCLES;
                }
            }
            if ticks % REPORT_EVERY == 0 {
                let elapsed = tick_cycles.saturating_sub(report_then).max(1);
                report_then = tick_cycles;
                for (number, (index, _)) in dp.iter().enumerate() {
                    let task = tasks[number];
                    let name = &pipeline.components[*index].name;
                    match thread::cpu_time(THREADS + number as u32) {
                        Ok(cpu) if controlled[number] => {
                            // Per mille, rounded.
                            let share = (cpu.saturating_sub(cpu_then[number]) * 1000 + elapsed / 2)
                                / elapsed;
                            cpu_then[number] = cpu;
                            println!(
                                "stats: {name}: {} blocks, {} deadline misses, cpu {}.{}%{}",
                                task.runs,
                                task.misses,
                                share / 10,
                                share % 10,
                                Restarts(task.restarts)
                            );
                        }
                        _ => println!(
                            "stats: {name}: {} blocks, {} deadline misses{}",
                            task.runs,
                            task.misses,
                            Restarts(task.restarts)
                        ),
                    }
                }
            }
        }
        loop {
            let released = if preemptive {
                edf::next_preemptive(&tasks[..dp.len()])
            } else {
                edf::next(&tasks[..dp.len()])
            };
            let Some(number) = released else {
                break;
            };
            // The deadline first: the worker is woken with it, and the
            // kernel picks among the DP workers by it.
            if controlled[number]
                && thread::set_deadline(THREADS + number as u32, kernel_deadline[number]).is_err()
            {
                println!("cannot set DP task {number}'s deadline: it runs without one");
                controlled[number] = false;
            }
            let released_at = sotto_rt::sys::cycles();
            if sync::give(WORKERS + number as u32).is_ok() {
                sotto_rt::trace::dp_release(number as u32, kernel_deadline[number]);
                tasks[number].running = true;
                if arg & TRACE_RELEASES != 0 && TRACED.contains(&tasks[number].runs) {
                    // Printed at the next wake: not between the release
                    // and the switch to the worker it measures.
                    traced[number] = Some((tasks[number].runs, released_at));
                }
            } else {
                println!("cannot release DP task {number}: it will not run");
                schedulable[number] = false;
                tasks[number].deadline = None;
            }
        }
    }
}
