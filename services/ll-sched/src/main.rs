//! The LL scheduler: a user-space service that owns nothing but its
//! capabilities — a periodic timer, the notification it signals, a heap on
//! which every scheduler object lives, the cycle counter, and an endpoint
//! its clients manage their tasks through. Every LL tick it runs each due
//! task by calling the service that owns it (the task's code runs in its
//! owner's address space), measures it, and reports. With nothing queued
//! it stops its timer, and re-arms it, on the tick grid, when a task is
//! queued.
//!
//! A tick costs ll-sched little: the kernel hands it the cycle counter and
//! the tick count with the timer's signal, the task table is kept in run
//! order (a tick walks it, no allocation or sorting), consecutive due tasks
//! of one client run in one call (a batch), and each reply brings the
//! cycle counter at its delivery, from which, with the ends the client
//! reports, each task's cost follows — no `Cycles` or `Ticks` call on the
//! way (only a second client's call in the same tick reads the tick count).
//! The tick's first call is prepared while ll-sched waits ([`Ll::prepare`])
//! and goes out as soon as the signal comes.
//!
//! A restart (by a supervisor, after a fault) starts ll-sched from nothing:
//! its heap is zeroed, its copies of its clients' endpoints are gone, its
//! timer disarmed. Its clients' `ll` library registers them again and
//! makes their tasks again by itself. The other way round, a client that
//! registers again (it restarted) loses the tasks of its old registration;
//! one that restarts while ll-sched calls it (`PeerRestarted`) is treated
//! as gone until it registers again.
//!
//! No client can stall the tick: each run is a call with a time limit, the
//! end of the LL tick it runs in. A run that has not replied by then is cut
//! off and charged as an overrun, and its client is stalled (not called)
//! until it says it listens again. LL ticks in which ll-sched never ran —
//! a more urgent thread had the CPU — are counted as missed ticks, and as
//! overruns.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use core::cell::Cell;

use alloc::format;
use alloc::string::String;

use ll_core::proto::{
    LlError, MAX_BATCH, MAX_PRIORITY, Op, Outcome, Policy, REGISTER_BATCHES, batch_completed,
    batch_cycles, budget_end, init_fields, run_words,
};
use ll_core::{Batch, Cause, Clients, LlClock, LlScheduler, Overrun, Prepared};
use sotto_rt::ipc::{self, Event, Message, Received, SignalTime};
use sotto_rt::{CCOUNT_HZ, Error, Rights, cap, heap, println, sync, sys};

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them (0 is the console).
const ENDPOINT: u32 = 1;
const TICK: u32 = 2;
const TIMER: u32 = 3;
const HEAP: u32 = 4;
/// Slot 5: the clock (read implicitly by `sys::cycles`).
const SUPERVISOR: u32 = 6;
/// Clients' task endpoints arrive from here on (up to one slot past
/// `MAX_CLIENTS` of them: one is always free to receive into).
const CLIENT_SLOTS: u32 = 8;
const MAX_CLIENTS: usize = 16;
const MAX_TASKS: usize = 32;

/// The next LL tick's first call, prepared while ll-sched waits for the
/// tick ([`Ll::prepare`]): its batch, its client's endpoint and whether
/// that client runs batches, its message.
/// (Kept in place, all words: nothing to move on the tick's path.)
#[derive(Default)]
struct First {
    /// The kernel tick the LL tick starts on: the call is for a signal on
    /// that tick (later, the time left differs: the tick walks as usual).
    start: u32,
    /// The client's endpoint.
    slot: u32,
    words: [u32; 3],
    prepared: Prepared,
}

/// Where an LL tick's calls are.
struct Walk {
    /// The kernel tick the tick was signalled on.
    now: u32,
    /// The cycle count the last call ended at (the signal's, at first).
    mark: u32,
    /// The task that ran longest so far, and its cycles.
    longest: Option<(u32, u32)>,
    calls: u32,
}

struct Ll {
    tasks: LlScheduler,
    clients: Clients,
    /// Kernel ticks per LL tick.
    period: u32,
    cycles_per_tick: u32,
    armed: bool,
    /// The last LL tick that ran (or, after arming, the one before the
    /// first), to see ticks that never ran; across the wrap of the
    /// kernel's 32-bit tick count.
    clock: LlClock,
    /// LL ticks since the first, missed ones included.
    ll_ticks: u32,
    /// Most tasks in one call to a client that runs batches: a batch's
    /// reply carries its tasks' ends as 16-bit distances, so only while
    /// every run is cut off before 2^15 cycles (else one task a call).
    batch_max: usize,
    /// The next LL tick's first call, if `first_ready`.
    first: First,
    first_ready: bool,
    /// The slot the next capability is received into (changes only when
    /// a client registers or goes).
    inbox: u32,
    /// A task may have left the queue since the last tick (a request, a
    /// completion, a client gone): whether the timer can stop is checked.
    maybe_idle: bool,
}

impl Ll {
    fn request(&mut self, call: &Received, received_into: u32) -> Result<[u32; 2], LlError> {
        let [op, a, b] = call.message.words;
        let owner = call.badge;
        let op = Op::from_raw(op).ok_or(LlError::UnknownOp)?;
        if op == Op::Register {
            if !call.cap_received || !send_only(received_into) {
                return Err(LlError::BadRegistration);
            }
            // A client registering again is a new instance of it (it
            // restarted, or was dropped as unreachable): its old endpoint
            // and the tasks of its old registration go.
            let batches = a & REGISTER_BATCHES != 0;
            let admitted = self
                .clients
                .admit(&mut self.tasks, owner, received_into, batches)?;
            if let Some(old) = admitted.old_slot {
                let _ = cap::delete(old);
            }
            if !admitted.dropped.is_empty() {
                self.maybe_idle = true;
                println!(
                    "client {owner} registered again: dropped the tasks of its old registration {:?}",
                    admitted.dropped
                );
            }
            self.inbox = self.clients.inbox();
            return Ok([self.period, 0]);
        }
        if self.clients.slot(owner).is_none() {
            return Err(LlError::NotRegistered);
        }
        match op {
            Op::Register => Ok([self.period, 0]),
            Op::Init => {
                let (priority, policy, period, phase) = init_fields([a, b]);
                let id = self.tasks.init(owner, priority, policy, period, phase)?;
                Ok([id, self.tasks.local(owner, id)?])
            }
            Op::Schedule => self.tasks.schedule(owner, a).map(|()| [0, 0]),
            Op::Cancel => self.tasks.cancel(owner, a).map(|()| [0, 0]),
            Op::Free => self.tasks.free(owner, a).map(|()| [0, 0]),
            Op::State => self.tasks.state(owner, a).map(|state| [state as u32, 0]),
            Op::Counts => self
                .tasks
                .stats(owner, a)
                .map(|stats| [stats.runs, stats.overruns]),
            Op::Cycles => self
                .tasks
                .stats(owner, a)
                .map(|stats| [stats.average(), stats.max_cycles]),
            Op::Missed => self.tasks.stats(owner, a).map(|stats| [stats.missed, 0]),
            Op::Resume => {
                let resumed = self
                    .tasks
                    .resume(owner, a, Outcome::from_raw(b & 0xFF), b >> 8);
                if resumed && self.tasks.state(owner, a).is_ok() {
                    println!(
                        "client {owner} answers again (task {a} returned {:?} late): its tasks run from their next tick",
                        Outcome::from_raw(b & 0xFF)
                    );
                } else if resumed {
                    // No task of its: it listens again after a call it
                    // never received (it was not serving yet).
                    println!(
                        "client {owner} listens again (a run of its was called before it served): its tasks run from their next tick"
                    );
                }
                Ok([u32::from(resumed), 0])
            }
        }
    }

    /// Start the timer so that LL ticks fall on multiples of the period.
    fn arm(&mut self) {
        let now = sys::ticks();
        let delay = self.period - now % self.period;
        sync::arm_ticks(TIMER, delay, self.period).expect("arm the LL timer");
        self.armed = true;
        // The first LL tick is the next one: nothing before it was missed.
        self.clock = LlClock::armed(now, self.period);
        println!(
            "timer armed at tick {now}: LL ticks every {} kernel tick(s)",
            self.period
        );
    }

    /// The first call of the next LL tick, made ready before ll-sched
    /// waits for it: when the tick comes, it goes out at once (nothing can
    /// change the table or the clients while ll-sched waits; if anything
    /// did, the table's version says so and the tick walks as usual).
    #[inline(never)]
    fn prepare(&mut self) {
        self.first_ready = false;
        if !self.armed {
            return;
        }
        let (tick, start) = self.clock.next();
        let client = Cell::new(None);
        let Some(prepared) = self.tasks.prepare(tick, |owner| {
            batch_limit(&self.clients, self.batch_max, owner, &client)
        }) else {
            return;
        };
        // (A client not registered: the tick walks as usual, and says so.)
        let Some((slot, _)) = client.get() else {
            return;
        };
        let batch = prepared.batch();
        self.first = First {
            start,
            slot,
            words: run_words(start, batch.len(), batch.locals),
            prepared,
        };
        self.first_ready = true;
    }

    /// The first call as prepared, if the signal (at `time`) came on the
    /// tick it was prepared for (then none was missed) and the table is as
    /// it was: made first thing after the signal (inline, before
    /// [`Ll::tick`]'s own setup); its result for `tick`.
    #[inline(always)]
    fn call_first(&mut self, time: SignalTime) -> Option<Result<Received, Error>> {
        let now = time.ticks;
        if !(core::mem::take(&mut self.first_ready)
            && now == self.first.start
            && self.tasks.is_current(&self.first.prepared))
        {
            return None;
        }
        let first = &self.first;
        Some(ipc::call_timeout(
            first.slot,
            &Message {
                words: first.words,
                len: 0,
                cap: None,
            },
            None,
            // Called on the tick's first kernel tick: the whole LL tick
            // is left.
            now.wrapping_add(self.period),
        ))
    }

    /// One LL tick (the timer signalled at `time`: the kernel's cycle
    /// counter and tick count as it took the signal for ll-sched), `first`
    /// the prepared first call's result if [`Ll::call_first`] made it.
    /// Returns the LL ticks that passed since the last one that ran (1
    /// when none was missed; 0 if this one ran already).
    #[inline(never)]
    fn tick(&mut self, time: SignalTime, first: Option<Result<Received, Error>>) -> u32 {
        let now = time.ticks;
        // The tick's work is timed from the signal on; each batch from the
        // end of the one before (the kernel's count at its reply).
        let mut walk = Walk {
            now,
            mark: time.cycles,
            longest: None,
            calls: 0,
        };
        let passed;
        // The first call went out as prepared: the bookkeeping follows
        // (nothing saw the table meanwhile).
        if let Some(result) = first {
            // (One LL tick on from the last: `start` is the next one's.)
            self.clock.advance(now);
            passed = 1;
            self.tasks.start_prepared(&self.first.prepared);
            let batch = *self.first.prepared.batch();
            walk.calls = 1;
            self.answered(&mut walk, &batch, result);
        } else {
            if !self.armed {
                // A signal of the timer from before ll-sched restarted (or
                // stopped it): no LL tick.
                return 0;
            }
            let Some((last, ll_tick)) = self.clock.advance(now) else {
                // A signal left from the tick that already ran (its work
                // ended past the next kernel tick of a multi-tick LL
                // period).
                return 0;
            };
            passed = ll_tick.wrapping_sub(last);
            let missed = self.tasks.missed(last, ll_tick);
            if missed > 0 {
                println!(
                    "MISSED TICKS at tick {now}: {missed} LL tick(s) {}..={} never ran (ll-sched did not run); counted as overruns",
                    last.wrapping_add(1),
                    ll_tick.wrapping_sub(1)
                );
            }
            self.tasks.start_tick(ll_tick);
        }
        // The client of the batch, looked up once: its endpoint's slot and
        // whether it runs batches.
        let client = Cell::new(None);
        loop {
            let (clients, batch_max) = (&self.clients, self.batch_max);
            let Some(batch) = self
                .tasks
                .next_batch(|owner| batch_limit(clients, batch_max, owner, &client))
            else {
                break;
            };
            let Some((slot, _)) = client.get() else {
                self.tasks.abandon_batch(&batch, 0);
                self.owner_gone(batch.owner, "not registered");
                continue;
            };
            let (tick, until) = self.budget(now, walk.calls);
            let result = ipc::call_timeout(
                slot,
                &Message {
                    words: run_words(tick, batch.len(), batch.locals),
                    len: 0,
                    cap: None,
                },
                None,
                until,
            );
            walk.calls += 1;
            self.answered(&mut walk, &batch, result);
        }
        let Walk {
            mark,
            longest,
            calls,
            ..
        } = walk;
        let start = time.cycles;
        if calls > 0 {
            let work = mark.wrapping_sub(start);
            if let Some(overrun) =
                self.tasks
                    .end_tick(work, self.cycles_per_tick, longest.map(|(id, _)| id))
            {
                self.overrun(now, &overrun);
            }
        }
        if core::mem::take(&mut self.maybe_idle) && !self.tasks.any_queued() && self.armed {
            let _ = sync::cancel(TIMER);
            self.armed = false;
            println!("no task queued: timer stopped at tick {now}");
        }
        // The tick's slice in the trace of the schedule (`cargo xtask run
        // --trace`), from the signal to now.
        sotto_rt::trace::ll_tick(now, start);
        passed
    }

    /// The call of `batch` returned `result`: its tasks' runs are
    /// accounted, or its cut-off, or its client's end.
    fn answered(&mut self, walk: &mut Walk, batch: &Batch, result: Result<Received, Error>) {
        let (now, owner) = (walk.now, batch.owner);
        match result {
            Ok(reply) => {
                let words = reply.message.words;
                let cycles = batch_cycles(words, batch.len(), walk.mark, reply.cycles);
                walk.mark = reply.cycles;
                let finished =
                    self.tasks
                        .finish_batch(batch, cycles, batch_completed(words, batch.len()));
                if walk.longest.is_none_or(|(_, most)| finished.most > most) {
                    let id = self.tasks.batch_id(batch, finished.longest);
                    walk.longest = Some((id, finished.most));
                }
                if finished.completed != 0 {
                    for i in 0..batch.len() {
                        if finished.completed & 1 << i != 0 {
                            let id = self.tasks.batch_id(batch, i);
                            self.completed(owner, id, now);
                        }
                    }
                }
            }
            Err(Error::TimedOut) => {
                // (No count with an error: read it.)
                let at = sys::cycles();
                let spent = at.wrapping_sub(walk.mark);
                walk.mark = at;
                // An earlier, longer run of this tick is what left this
                // one too little: that one is charged.
                let longer = walk
                    .longest
                    .filter(|(_, cycles)| *cycles > spent)
                    .map(|(task, _)| task);
                if let Some(overrun) = self.tasks.timed_out_batch(batch, spent, longer) {
                    self.overrun(now, &overrun);
                }
                if walk.longest.is_none_or(|(_, most)| spent > most) {
                    walk.longest = Some((self.tasks.batch_id(batch, 0), spent));
                }
            }
            Err(error) => {
                let at = sys::cycles();
                self.tasks.abandon_batch(batch, at.wrapping_sub(walk.mark));
                walk.mark = at;
                self.owner_gone(
                    owner,
                    match error {
                        Error::PeerGone => "gone",
                        // It restarted while being called: gone until its
                        // new instance registers (which drops these tasks).
                        Error::PeerRestarted => "restarted",
                        // Its restart revoked the copy of its endpoint it
                        // gave ll-sched.
                        Error::EmptySlot | Error::Revoked => {
                            "restarted (its endpoint was withdrawn)"
                        }
                        Error::PriorityInversion => {
                            "less urgent than ll-sched (a call may not run uphill)"
                        }
                        _ => "unreachable",
                    },
                );
            }
        }
    }

    /// The tick a call of the LL tick signalled on kernel tick `now` is
    /// made for, after `calls` calls, and its deadline (the kernel tick
    /// it must reply by, `CallTimeout`'s unit). A batch has what is left
    /// of the LL tick. One called after the tick's end (a batch
    /// before it was cut off there) says so: its tick is the kernel tick
    /// it is called on, and its budget ends with the LL tick that one is
    /// in. The client sees the same end from the tick it is given
    /// (`budget_end`). The first call of the tick is made on the tick
    /// signalled.
    fn budget(&self, now: u32, calls: u32) -> (u32, u32) {
        // Every run of this tick must reply by the start of the next one.
        let end = budget_end(now, self.period);
        let called = if calls == 0 { now } else { sys::ticks() };
        // (Compared as distances from `now`, and at most one LL tick:
        // the kernel's tick count wraps.)
        let tick = if called.wrapping_sub(now) >= end.wrapping_sub(now) {
            called
        } else {
            now
        };
        (tick, budget_end(tick, self.period))
    }

    /// Task `id` of `owner` completed on tick `now`.
    fn completed(&mut self, owner: u32, id: u32, now: u32) {
        self.maybe_idle = true;
        let runs = self.tasks.stats(owner, id).map_or(0, |stats| stats.runs);
        println!("task {id} of client {owner} completed after {runs} runs (tick {now})");
    }

    /// Report an overrun and apply its policy (skipping is ll-core's).
    fn overrun(&self, now: u32, overrun: &Overrun) {
        match overrun.cause {
            Cause::Work => println!(
                "OVERRUN at tick {now}: {} cycles > {} per tick, charged to task {} of client {} (policy {:?})",
                overrun.cycles, self.cycles_per_tick, overrun.task, overrun.owner, overrun.policy
            ),
            Cause::Budget => println!(
                "OVERRUN at tick {now}: no reply by the end of the LL tick (kernel tick {}): cut off after {} cycles, client {} stalled until it answers; charged to task {} of client {} (policy {:?})",
                budget_end(now, self.period),
                overrun.cycles,
                overrun.stalled.unwrap_or(overrun.owner),
                overrun.task,
                overrun.owner,
                overrun.policy
            ),
        }
        if overrun.policy == Policy::Notify {
            let _ = sync::signal(SUPERVISOR, 1);
        }
    }

    fn owner_gone(&mut self, owner: u32, why: &str) {
        let cancelled = self.tasks.owner_gone(owner);
        self.maybe_idle = true;
        if let Some(slot) = self.clients.remove(owner) {
            let _ = cap::delete(slot);
        }
        self.inbox = self.clients.inbox();
        println!("client {owner} is {why}: cancelled its tasks {cancelled:?}; going on");
    }

    fn report(&mut self, ticks: u32) {
        let window = core::mem::take(&mut self.tasks.window);
        let average = if window.ticks == 0 {
            0
        } else {
            (window.total_cycles / u64::from(window.ticks)) as u32
        };
        let causes = if window.missed + window.cut_off > 0 {
            format!(
                " (missed ticks: {} (ll-sched did not run), runs cut off at their budget: {})",
                window.missed, window.cut_off
            )
        } else {
            String::new()
        };
        println!(
            "stats after {ticks} LL ticks: tick work avg {average} max {} cycles, {} overruns{}",
            window.max_cycles,
            window.overruns,
            causes.as_str()
        );
        for (id, owner, priority, period, stats) in self.tasks.each() {
            let mut missed = String::new();
            if stats.missed > 0 {
                missed = format!(", {} missed runs", stats.missed);
            }
            if self.tasks.stalled(owner) {
                missed.push_str(", client stalled");
            }
            println!(
                "  task {id} (client {owner}, priority {priority}, every {period}): {} runs, avg {} max {} cycles, {} overruns{}",
                stats.runs,
                stats.average(),
                stats.max_cycles,
                stats.overruns,
                missed.as_str()
            );
        }
    }
}

/// Most tasks in a call to `owner` (at most `batch_max`, one unless it
/// runs batches); its entry (endpoint slot, runs batches) goes into
/// `client`.
#[inline]
fn batch_limit(
    clients: &Clients,
    batch_max: usize,
    owner: u32,
    client: &Cell<Option<(u32, bool)>>,
) -> usize {
    let entry = clients.entry(owner);
    client.set(entry);
    match entry {
        Some((_, true)) => batch_max,
        _ => 1,
    }
}

/// A slot used for a moment (narrowing a received capability).
const SCRATCH: u32 = 30;

/// Keep only SEND of the endpoint capability a client sent into `slot`
/// (it came with GRANT, which sending it needs): ll-sched calls its
/// clients and can hand their endpoints to nobody. False, and the slot
/// left as it is, if it is not an endpoint ll-sched may call.
fn send_only(slot: u32) -> bool {
    let Ok(info) = cap::info(slot) else {
        return false;
    };
    if info.kind != sotto_rt::ObjectKind::Endpoint || !info.rights.contains(Rights::SEND) {
        return false;
    }
    if cap::derive(slot, SCRATCH, Rights::SEND, 0).is_err() {
        return false;
    }
    let moved = cap::delete(slot).is_ok() && cap::move_to(SCRATCH, slot).is_ok();
    let _ = cap::delete(SCRATCH);
    moved
}

fn main(arg: u32) {
    let period = (arg & 0xFF).max(1);
    let report_every = match (arg >> 8) & 0xFFFF {
        0 => 1024,
        every => every,
    };
    let heap_size = heap::init(HEAP).expect("the scheduler's heap");
    let tick_hz = sys::tick_hz();
    let cycles_per_tick = CCOUNT_HZ / tick_hz * period;
    let clients = Clients::new(CLIENT_SLOTS, MAX_CLIENTS);
    let mut ll = Ll {
        tasks: LlScheduler::new(MAX_TASKS),
        inbox: clients.inbox(),
        clients,
        period,
        cycles_per_tick,
        armed: false,
        clock: LlClock::armed(0, period),
        ll_ticks: 0,
        batch_max: if cycles_per_tick < 1 << 15 {
            MAX_BATCH
        } else {
            1
        },
        maybe_idle: false,
        first: First::default(),
        first_ready: false,
    };
    println!(
        "ready: {} KiB heap, {} bytes for {MAX_TASKS} tasks and {MAX_CLIENTS} clients, priorities 0..={MAX_PRIORITY}, report every {report_every} LL ticks",
        heap_size / 1024,
        ll.tasks.memory_use() + ll.clients.memory_use()
    );
    // LL ticks until the next report.
    let mut until_report = report_every;
    loop {
        let inbox = ll.inbox;
        ll.prepare();
        match ipc::receive_or_wait_at(ENDPOINT, TICK, Some(inbox)) {
            Ok((Event::Call(call), _)) => {
                let result = ll.request(&call, inbox);
                if call.cap_received && !ll.clients.holds(inbox) {
                    let _ = cap::delete(inbox);
                }
                let words = match result {
                    Ok([a, b]) => [0, a, b],
                    Err(error) => [error as u32, 0, 0],
                };
                let _ = ipc::reply(&Message {
                    words,
                    len: 0,
                    cap: None,
                });
                // (A cancel, a free: the next tick sees whether any is
                // queued still.)
                ll.maybe_idle = true;
                if ll.tasks.any_queued() && !ll.armed {
                    ll.arm();
                }
            }
            Ok((Event::Signal(_), time)) => {
                let first = ll.call_first(time);
                let passed = ll.tick(time, first);
                ll.ll_ticks = ll.ll_ticks.wrapping_add(passed);
                // Every `report_every` LL ticks, or once when missed
                // ticks jump past a multiple of it (counted down: no
                // division on every tick).
                if passed >= until_report {
                    ll.report(ll.ll_ticks);
                    until_report = report_every - ll.ll_ticks % report_every;
                } else {
                    until_report -= passed;
                }
            }
            Err(error) => println!("receive failed: {error:?}"),
        }
    }
}
