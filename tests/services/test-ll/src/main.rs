//! Test client of `ll-sched`; the argument picks the test:
//! 0 the SOF boot test (a task runs exactly 4 times and completes),
//! 1 priority order and FIFO among equals, 2 periods with phases,
//! 3 cancel while queued, 4 an overrunning task (skip policy),
//! 5 every API error, 6 a client that faults with a task queued,
//! 7 a dispatch benchmark, 8 a supervisor waiting for overrun signals,
//! 9 an overrunning task whose policy notifies the supervisor,
//! 10 a task whose handler never returns (blocks from its 3rd run on;
//! notify policy),
//! 11 a client with 20 runs next to it, that then checks the supervisor,
//! 12 no client: from kernel tick `arg >> 20` spin for `(arg >> 8) & 0xFFF`
//! ticks (run at priority 0: nothing else runs meanwhile),
//! 13 register twice (as a client reconnecting does), then the SOF boot
//! test, 14 wait 20 ms (the others have registered), then the SOF boot test,
//! 15 runs whose handlers return ever later around the end of their budget
//! (one instruction-scale step per run), `arg >> 8` runs in all,
//! 16 a greedy client: LL priority 0, each run returns just before the end
//! of its tick, 200 runs, 17 the SOF boot test with 3 ms of other work
//! between scheduling the task and serving it, 18 after 20 ms, 20 runs of
//! 300 cycles each that must not be charged, 19 a batch: three tasks due
//! on the same ticks, one of them spinning, each charged its own cycles,
//! 20 a batch cut off at its budget whose second task completes late.
//! Each run prints `run T at tick N`; checks print `pass`/`FAIL`.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicBool, Ordering};

use ll::{LlError, Outcome, Policy, Task, TaskState};
use sotto_rt::{fault, println, sys};

sotto_rt::entry!(main);

/// Slots, as `tests/system.toml` grants them (0 is the console, 3 the clock).
const LL: u32 = 1;
const TASKS: u32 = 2;
const SUPERVISOR: u32 = 4;

static FAILED: AtomicBool = AtomicBool::new(false);

fn check(what: &str, ok: bool) {
    println!("{} {what}", if ok { "pass" } else { "FAIL" });
    if !ok {
        FAILED.store(true, Ordering::Relaxed);
    }
}

fn connect() -> ll::Scheduler {
    ll::Scheduler::connect(LL, TASKS).expect("register")
}

/// `Completed` on a task's `last` run, `Reschedule` before.
fn done_after(count: u32, last: u32) -> Outcome {
    if count == last {
        Outcome::Completed
    } else {
        Outcome::Reschedule
    }
}

/// Serve, printing each run, until every task has run `last` times.
fn serve_printing(scheduler: &ll::Scheduler, last: u32) {
    scheduler
        .serve(TASKS, |run| {
            println!("run {} at tick {}", run.task, run.tick);
            done_after(run.count, last)
        })
        .expect("serve");
}

fn sof_boot() {
    let scheduler = connect();
    let task = Task::new(0, 1).create(&scheduler).expect("init");
    check("a new task is INIT", task.state() == Ok(TaskState::Init));
    task.schedule().expect("schedule");
    check(
        "a scheduled task is QUEUED",
        task.state() == Ok(TaskState::Queued),
    );
    let mut ticks = [0u32; 4];
    scheduler
        .serve(TASKS, |run| {
            println!("run {} at tick {}", run.task, run.tick);
            ticks[run.count as usize - 1] = run.tick;
            done_after(run.count, 4)
        })
        .expect("serve");
    check(
        "ran on 4 consecutive ticks",
        ticks.windows(2).all(|pair| pair[1] == pair[0] + 1),
    );
    check(
        "the task is COMPLETED",
        task.state() == Ok(TaskState::Completed),
    );
    check("4 runs counted", task.counts() == Ok((4, 0)));
}

fn order() {
    let scheduler = connect();
    let first = Task::new(2, 1).create(&scheduler).expect("init");
    let urgent = Task::new(1, 1).create(&scheduler).expect("init");
    let second = Task::new(2, 1).create(&scheduler).expect("init");
    for task in [&first, &urgent, &second] {
        task.schedule().expect("schedule");
    }
    println!(
        "tasks: first {} urgent {} second {}",
        first.id(),
        urgent.id(),
        second.id()
    );
    serve_printing(&scheduler, 2);
}

fn periods() {
    let scheduler = connect();
    let every4 = Task::new(0, 4).phase(1).create(&scheduler).expect("init");
    let every3 = Task::new(0, 3).create(&scheduler).expect("init");
    every4.schedule().expect("schedule");
    every3.schedule().expect("schedule");
    println!("tasks: every4 {} every3 {}", every4.id(), every3.id());
    serve_printing(&scheduler, 3);
}

fn cancel() {
    let scheduler = connect();
    let cancelled = Task::new(0, 1).create(&scheduler).expect("init");
    let kept = Task::new(1, 1).create(&scheduler).expect("init");
    cancelled.schedule().expect("schedule");
    kept.schedule().expect("schedule");
    cancelled.cancel().expect("cancel while queued");
    check(
        "a cancelled task is CANCELLED",
        cancelled.state() == Ok(TaskState::Cancelled),
    );
    let mut others = 0;
    scheduler
        .serve(TASKS, |run| {
            println!("run {} at tick {}", run.task, run.tick);
            if run.task != kept.id() {
                others += 1;
            }
            done_after(run.count, 2)
        })
        .expect("serve");
    check(
        "the cancelled task never ran",
        others == 0 && cancelled.counts() == Ok((0, 0)),
    );
}

fn overrun(policy: Policy) {
    let scheduler = connect();
    let slow = Task::new(0, 1)
        .on_overrun(policy)
        .create(&scheduler)
        .expect("init");
    slow.schedule().expect("schedule");
    scheduler
        .serve(TASKS, |run| {
            println!("run {} at tick {}", run.task, run.tick);
            if run.count == 1 {
                // About 1.5 ticks of work: 15,000 counts of 100 instructions.
                let start = sys::cycles();
                while sys::cycles().wrapping_sub(start) < 15_000 {}
            }
            done_after(run.count, 3)
        })
        .expect("serve");
    check(
        "the overrun was charged to the task",
        slow.counts() == Ok((3, 1)),
    );
    // Its run was cut off at the end of its tick: ll-sched waited about a
    // tick (10,000 counts), not the 1.5 ticks the handler took.
    check(
        "its longest run was cut off at the end of its tick",
        slow.cycles()
            .is_ok_and(|(_, max)| (9_000..=10_500).contains(&max)),
    );
    // The tick after it, the client was still busy (stalled): that run was
    // missed; after the client answered, it ran on every tick again.
    check("one run was missed", slow.missed() == Ok(1));
}

/// Runs twice, then never returns from the third run.
fn stuck() {
    let scheduler = connect();
    let task = Task::new(0, 1)
        .on_overrun(Policy::Notify)
        .create(&scheduler)
        .expect("init");
    task.schedule().expect("schedule");
    scheduler
        .serve(TASKS, |run| {
            println!("run {} at tick {}", run.task, run.tick);
            if run.count == 3 {
                // Blocked for good (as on a lock that is never released);
                // a handler that spins instead also takes CPU time from
                // every service of its priority, which the kernel's round
                // robin hands it.
                println!("stuck in run 3 from tick {}", sys::ticks());
                loop {
                    sys::sleep_us(1_000_000);
                }
            }
            Outcome::Reschedule
        })
        .expect("serve");
}

/// A client next to the stuck one: its 20 runs all happen, none is missed
/// or charged, and the stuck task's overrun reaches the supervisor.
fn beside_stuck() {
    let scheduler = connect();
    let task = Task::new(1, 1).create(&scheduler).expect("init");
    task.schedule().expect("schedule");
    let (mut first, mut last) = (0, 0);
    let mut steady = true;
    scheduler
        .serve(TASKS, |run| {
            println!("run {} at tick {}", run.task, run.tick);
            // A run may come a tick late (the one called after the stuck
            // run was cut off, on the next kernel tick), never more.
            if run.count == 1 {
                first = run.tick;
            }
            steady &= run.tick >= last && run.tick <= first + run.count;
            last = run.tick;
            done_after(run.count, 20)
        })
        .expect("serve");
    check("ran on every tick, at most one tick late", steady);
    check(
        "20 runs, none charged an overrun",
        task.counts() == Ok((20, 0)),
    );
    check("no run missed", task.missed() == Ok(0));
    let bits = sotto_rt::sync::poll(SUPERVISOR).unwrap_or(0);
    check("the supervisor was signalled (notify policy)", bits == 1);
    println!("supervisor bits {bits:#x}");
}

/// Where kernel ticks start, in cycles: to spin to a point of a later tick.
struct TickPhase {
    /// The cycle count at a tick's start (a little after it).
    phase: u32,
    /// Cycles per kernel tick.
    per_tick: u32,
}

impl TickPhase {
    /// Wait for the next kernel tick and note when it started.
    fn next() -> TickPhase {
        let now = sys::ticks();
        while sys::ticks() == now {}
        TickPhase {
            phase: sys::cycles(),
            per_tick: sotto_rt::CCOUNT_HZ / sys::tick_hz(),
        }
    }

    /// Spin until `back` cycles before the end of the current tick.
    fn spin_until_end_less(&self, back: u32) {
        let into = sys::cycles().wrapping_sub(self.phase) % self.per_tick;
        let target = sys::cycles()
            .wrapping_add(self.per_tick - into)
            .wrapping_sub(back);
        while (target.wrapping_sub(sys::cycles()) as i32) > 0 {}
    }
}

/// `runs` runs whose handlers return ever closer to, then past, the end of
/// their budget (the next kernel tick), a few instructions later each run:
/// one of them returns just before it, and the tick comes while `serve`
/// replies. Every run must still happen: a reply dropped in that moment
/// must not leave this client stalled for good.
fn boundary(runs: u32) {
    let scheduler = connect();
    let task = Task::new(0, 1).create(&scheduler).expect("init");
    let ticks = TickPhase::next();
    task.schedule().expect("schedule");
    let mut late = 0u32;
    // Cycles before the estimated tick start at which the handler stops
    // spinning: one more after a late run, one less after one in time, so
    // the returns hover around the budget's end.
    let mut back = 50u32;
    scheduler
        .serve(TASKS, |run| {
            ticks.spin_until_end_less(back);
            // Then a few instructions more per run, up to about 3 cycles.
            let mut spin = 0u32;
            for step in 0..run.count % 64 {
                spin = core::hint::black_box(spin.wrapping_add(step));
            }
            if sys::ticks() > run.tick {
                late += 1;
                back += 1;
            } else {
                back = back.saturating_sub(1);
            }
            done_after(run.count, runs)
        })
        .expect("serve");
    let (done, cut) = task.counts().unwrap_or((0, 0));
    println!("boundary: {done} runs, {cut} cut off, {late} returned late");
    check("every run happened", done == runs);
}

/// Schedules a task, works 3 ms (its first runs are called meanwhile and
/// cut off), then serves: its 4 runs must still happen.
fn late_to_serve() {
    let scheduler = connect();
    let task = Task::new(0, 1).create(&scheduler).expect("init");
    task.schedule().expect("schedule");
    sys::sleep_us(3_000);
    serve_printing(&scheduler, 4);
    check(
        "4 runs served, the one called before serving cut off",
        task.counts() == Ok((5, 1)),
    );
}

/// A client with modest runs (300 cycles, 3% of a tick), queued after the
/// others: none of its runs may be charged an overrun.
fn modest() {
    sys::sleep_us(20_000);
    let scheduler = connect();
    let task = Task::new(0, 1).create(&scheduler).expect("init");
    task.schedule().expect("schedule");
    scheduler
        .serve(TASKS, |run| {
            let start = sys::cycles();
            while sys::cycles().wrapping_sub(start) < 300 {}
            done_after(run.count, 20)
        })
        .expect("serve");
    let counts = task.counts();
    println!("modest: (runs, overruns) {counts:?}");
    check("20 runs, none charged", counts == Ok((20, 0)));
}

/// A client whose runs each take all of their tick but a few cycles, and
/// (nearly always) return in time.
fn greedy() {
    let scheduler = connect();
    let task = Task::new(0, 1).create(&scheduler).expect("init");
    let ticks = TickPhase::next();
    task.schedule().expect("schedule");
    // Cycles before the estimated end of the tick it stops at: more after
    // a late run, less after one in time (it ends up a few cycles short of
    // the tick's end, a few hundred instructions).
    let mut back = 300u32;
    scheduler
        .serve(TASKS, |run| {
            ticks.spin_until_end_less(back);
            if sys::ticks() > run.tick {
                back += 10;
            } else {
                back = back.saturating_sub(2);
            }
            done_after(run.count, 200)
        })
        .expect("serve");
    let (runs, overruns) = task.counts().unwrap_or((0, 0));
    println!("greedy: {runs} runs, {overruns} overruns");
}

/// Take the CPU from kernel tick `from` for `ticks` ticks.
fn spin(from: u32, ticks: u32) {
    let now = sys::ticks();
    if from > now {
        sys::sleep_us((from - now) * (1_000_000 / sys::tick_hz()));
    }
    let start = sys::ticks();
    while sys::ticks() < start + ticks {}
    println!("spun from tick {start} to tick {}", sys::ticks());
}

/// Three tasks of this client due on every tick run in one call (a
/// batch), in order; the middle one spins 2,000 cycles on each run. Each
/// is charged its own cycles, not the batch's.
fn batch_costs() {
    let scheduler = connect();
    check(
        "this client runs batches (it holds the clock)",
        scheduler.batches(),
    );
    let tasks: [Task<'_>; 3] =
        core::array::from_fn(|_| Task::new(0, 1).create(&scheduler).expect("init"));
    for task in &tasks {
        task.schedule().expect("schedule");
    }
    let spinner = tasks[1].id();
    let mut order_ok = true;
    let mut last = (u32::MAX, 0u32);
    scheduler
        .serve(TASKS, |run| {
            // Within a tick the tasks come in the order they were queued.
            if run.tick == last.0 {
                order_ok &= run.task > last.1;
            }
            last = (run.tick, run.task);
            if run.task == spinner {
                let start = sys::cycles();
                while sys::cycles().wrapping_sub(start) < 2_000 {}
            }
            done_after(run.count, 10)
        })
        .expect("serve");
    check("in queueing order within each tick", order_ok);
    let cycles: [(u32, u32); 3] = core::array::from_fn(|i| tasks[i].cycles().expect("cycles"));
    println!("batch: (avg, max) cycles per task {cycles:?}");
    check(
        "the spinning task is charged its spin",
        (2_000..3_000).contains(&cycles[1].0),
    );
    check(
        "the others are not",
        cycles[0].1 < 1_000 && cycles[2].1 < 1_000,
    );
    check(
        "each ran 10 times",
        tasks.iter().all(|task| task.counts() == Ok((10, 0))),
    );
}

/// Two tasks in one batch; the second spins 1.5 ticks on its third run
/// and completes then, after its batch was cut off: the late reply is
/// dropped, `serve` tells ll-sched which tasks of the batch completed
/// (`Resume`), and the first task goes on to its fifth run.
fn batch_cut_off() {
    let scheduler = connect();
    let first = Task::new(0, 1).create(&scheduler).expect("init");
    let second = Task::new(0, 1).create(&scheduler).expect("init");
    first.schedule().expect("schedule");
    second.schedule().expect("schedule");
    scheduler
        .serve(TASKS, |run| {
            println!("run {} at tick {}", run.task, run.tick);
            if run.task == second.id() {
                if run.count < 3 {
                    return Outcome::Reschedule;
                }
                let start = sys::cycles();
                while sys::cycles().wrapping_sub(start) < 15_000 {}
                return Outcome::Completed;
            }
            done_after(run.count, 5)
        })
        .expect("serve");
    check(
        "the late task completed (its outcome came with Resume)",
        second.state() == Ok(TaskState::Completed),
    );
    check(
        "the late task ran twice in time and missed the two cut-off ticks",
        second.counts() == Ok((2, 0)) && second.missed() == Ok(2),
    );
    check(
        "the batch's first task ran 5 times and was charged the cut-off",
        first.counts() == Ok((5, 1)) && first.missed() == Ok(1),
    );
    check(
        "the first task completed",
        first.state() == Ok(TaskState::Completed),
    );
}

fn errors() {
    // Let another client register and make its task first.
    sys::sleep_us(5_000);
    // Before registering.
    let unregistered = ll::raw_request_at(LL, 1, [0, 1]);
    check(
        "init before registering: NotRegistered",
        unregistered == Err(LlError::NotRegistered),
    );
    // Registering an endpoint ll-sched could not call (no SEND).
    let no_send = {
        use sotto_rt::ipc::{self, Message};
        const SCRATCH: u32 = 30;
        sotto_rt::cap::derive(
            TASKS,
            SCRATCH,
            sotto_rt::Rights::RECEIVE | sotto_rt::Rights::GRANT,
            0,
        )
        .expect("derive");
        let reply = ipc::call(
            LL,
            &Message {
                words: [0, 0, 0],
                len: 0,
                cap: Some(SCRATCH),
            },
            None,
        );
        let _ = sotto_rt::cap::delete(SCRATCH);
        reply.map(|reply| reply.message.words[0])
    };
    check(
        "an endpoint without SEND: BadRegistration",
        no_send == Ok(LlError::BadRegistration as u32),
    );
    let scheduler = connect();
    check(
        "unknown request: UnknownOp",
        ll::raw_request(&scheduler, 77, [0, 0]) == Err(LlError::UnknownOp),
    );
    check(
        "priority 32: BadPriority",
        Task::new(32, 1).create(&scheduler).err() == Some(LlError::BadPriority),
    );
    check(
        "period 0: BadPeriod",
        Task::new(0, 0).create(&scheduler).err() == Some(LlError::BadPeriod),
    );
    check(
        "phase 4 of period 4: BadPeriod",
        Task::new(0, 4).phase(4).create(&scheduler).err() == Some(LlError::BadPeriod),
    );
    let task = Task::new(0, 1).create(&scheduler).expect("init");
    task.schedule().expect("schedule");
    check(
        "double schedule: AlreadyScheduled",
        task.schedule() == Err(LlError::AlreadyScheduled),
    );
    check(
        "unknown task: UnknownTask",
        ll::raw_request(&scheduler, 5, [999, 0]) == Err(LlError::UnknownTask),
    );
    let others =
        (0..task.id()).any(|id| ll::raw_request(&scheduler, 3, [id, 0]) == Err(LlError::NotOwner));
    check("another client's task: NotOwner", others);
    task.cancel().expect("cancel");
    task.free().expect("free");
}

fn faulting_client() {
    let scheduler = connect();
    let task = Task::new(0, 1).create(&scheduler).expect("init");
    task.schedule().expect("schedule");
    println!("task {} queued; faulting now", task.id());
    fault::illegal_instruction();
}

/// Benchmark: four tasks on every tick for 50 ticks. The first handler
/// of each tick records its phase within the tick (CCOUNT % 10,000, one
/// tick at 1 kHz), unwrapped around the first tick's phase: handlers that
/// straddle the end of the period (some at 9,990, some at 10) average to
/// 10,000, not 5,000. Each later handler records the counts since the
/// previous one.
fn bench() {
    let scheduler = connect();
    let tasks: [Task<'_>; 4] =
        core::array::from_fn(|i| Task::new(i as u8, 1).create(&scheduler).expect("init"));
    for task in &tasks {
        task.schedule().expect("schedule");
    }
    let mut first = sys::PhaseSum::new(10_000);
    let (mut first_n, mut next_sum, mut next_n) = (0u64, 0u64, 0u64);
    let mut last = 0u32;
    let mut last_tick = u32::MAX;
    scheduler
        .serve(TASKS, |run| {
            let now = sys::cycles();
            if run.tick != last_tick {
                first.add(now);
                first_n += 1;
                last_tick = run.tick;
            } else {
                next_sum += u64::from(now.wrapping_sub(last));
                next_n += 1;
            }
            last = sys::cycles();
            done_after(run.count, 50)
        })
        .expect("serve");
    let first_sum = first.sum;
    println!(
        "ll-bench: first handler phase sum {first_sum} over {first_n} ticks; next handler sum {next_sum} over {next_n}"
    );
}

fn main(arg: u32) {
    let test = arg & 0xFF;
    match test {
        0 => sof_boot(),
        1 => order(),
        2 => periods(),
        3 => cancel(),
        4 => overrun(Policy::Skip),
        5 => errors(),
        6 => faulting_client(),
        7 => bench(),
        8 => {
            let bits = sotto_rt::sync::wait(SUPERVISOR).expect("wait for the scheduler");
            check("the supervisor was signalled", bits == 1);
            println!("supervisor: overrun signalled (bits {bits:#x})");
        }
        9 => overrun(Policy::Notify),
        10 => stuck(),
        11 => beside_stuck(),
        12 => spin(arg >> 20, (arg >> 8) & 0xFFF),
        13 => {
            let _first = connect();
            sof_boot();
        }
        15 => boundary(arg >> 8),
        16 => greedy(),
        17 => late_to_serve(),
        18 => modest(),
        19 => batch_costs(),
        20 => batch_cut_off(),
        14 => {
            sys::sleep_us(20_000);
            sof_boot();
        }
        _ => check("a known test", false),
    }
    if FAILED.load(Ordering::Relaxed) {
        sys::exit(1);
    }
    println!("ll test {test}: all checks passed");
}
