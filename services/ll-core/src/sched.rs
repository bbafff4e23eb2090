//! The task table and the tick rules.
//!
//! Every tick runs each QUEUED task that is due, in priority order (lower
//! value first) and FIFO among equal priorities (the order they were
//! queued). A task of period N and phase P is due on ticks `t` with
//! `t % N == P` (SOF ignores periods; here a task may run every N ticks).
//! A run returns RESCHEDULE (stays queued) or COMPLETED. Cancelling takes
//! effect before the next run. A tick whose work takes longer than the tick
//! period is an overrun, charged to the task that ran longest in it.
//!
//! The table is kept in run order: scheduling a task puts it after every
//! task of its priority or a more urgent one, so a tick only walks it and
//! tests each QUEUED task for being due — no allocation and no sorting per
//! tick. The walk hands out [`Batch`]es: consecutive due tasks of one owner,
//! run by one call into it ([`LlScheduler::next_batch`]).
//!
//! Two more kinds of overrun, with their causes:
//! - a run that does not reply by the end of its LL tick is cut off there
//!   ([`LlScheduler::timed_out`]): charged to that task, and its owner is
//!   *stalled* — none of its tasks runs (each due run is counted as
//!   missed) until it says it listens again ([`LlScheduler::resume`]);
//! - LL ticks in which the scheduler never ran (a more urgent thread had
//!   the CPU) are counted as missed ticks ([`LlScheduler::missed`]), and
//!   every queued task's due runs in them as missed runs.

use alloc::vec::Vec;

use crate::proto::{LlError, MAX_BATCH, MAX_LOCAL, MAX_PRIORITY, Outcome, Policy, TaskState};

/// Per-task statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskStats {
    /// Runs so far.
    pub runs: u32,
    /// Cycles over all runs.
    pub total_cycles: u64,
    /// Longest run.
    pub max_cycles: u32,
    /// Overruns charged to it (its tick took too long, or it was cut off
    /// at its budget).
    pub overruns: u32,
    /// Due runs that did not happen: ticks the scheduler missed, or its
    /// owner was stalled.
    pub missed: u32,
}

impl TaskStats {
    /// Average cycles per run.
    pub fn average(&self) -> u32 {
        if self.runs == 0 {
            0
        } else {
            (self.total_cycles / u64::from(self.runs)) as u32
        }
    }
}

/// A task.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Task {
    id: u32,
    owner: u32,
    /// Its index among its owner's tasks (below [`MAX_LOCAL`]).
    local: u8,
    priority: u8,
    period: u16,
    phase: u16,
    policy: Policy,
    state: TaskState,
    skip_next: bool,
    /// Its owner has not answered since a run was cut off: not called.
    stalled: bool,
    stats: TaskStats,
}

impl Task {
    /// Whether it runs on tick `tick` if nothing stops it: queued, and
    /// the tick is on its period and phase.
    #[inline]
    fn due(&self, tick: u32) -> bool {
        self.state == TaskState::Queued
            && (self.period == 1 || tick % u32::from(self.period) == u32::from(self.phase))
    }
}

/// Why an overrun was charged to a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The tick's work took longer than the tick; this task ran longest.
    Work,
    /// The task's run did not reply by the end of its LL tick and was cut
    /// off; its owner is stalled until it answers.
    Budget,
}

/// An overrun: the tick's work ran past the next tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overrun {
    /// The task that ran longest in that tick.
    pub task: u32,
    /// Its owner.
    pub owner: u32,
    /// Its policy.
    pub policy: Policy,
    /// Cycles the tick's work took ([`Cause::Work`]), or the run took
    /// until it was cut off ([`Cause::Budget`]).
    pub cycles: u32,
    /// Why.
    pub cause: Cause,
    /// [`Cause::Budget`]: the client whose run was cut off (and is now
    /// stalled); it may differ from `owner` when an earlier, longer run of
    /// the tick left that run too little of it.
    pub stalled: Option<u32>,
}

/// Statistics over ticks that ran tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickStats {
    /// Ticks with work.
    pub ticks: u32,
    /// Cycles over all of them.
    pub total_cycles: u64,
    /// Longest.
    pub max_cycles: u32,
    /// Overruns: ticks whose work overran, runs cut off at their budget,
    /// and ticks missed.
    pub overruns: u32,
    /// Of those, LL ticks that never ran (the scheduler did not run in
    /// them).
    pub missed: u32,
    /// Of those, runs cut off at their budget.
    pub cut_off: u32,
}

/// Consecutive due tasks of one owner, run by one call into it, in order
/// (small: it is handed out once per call, on the tick's path).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Their owner.
    pub owner: u32,
    /// Their local indices, 4 bits each in run order, as the `RUN` call
    /// carries them ([`crate::proto::run_words`]).
    pub locals: u32,
    len: u32,
    /// Their places in the table (room for [`MAX_BATCH`]; the rest fills
    /// whole words: a batch is moved as five words).
    at: [u8; 8],
}

const _: () = assert!(MAX_BATCH <= 8 && core::mem::size_of::<Batch>() == 20);

impl Batch {
    /// How many tasks.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// The place in the table of its `i`-th task.
    #[inline]
    fn at(&self, i: usize) -> usize {
        usize::from(self.at[i % 8])
    }

    /// The places of its tasks, in order.
    #[inline]
    fn places(&self) -> impl Iterator<Item = usize> + '_ {
        self.at
            .iter()
            .take(self.len())
            .map(|place| usize::from(*place))
    }

    /// Whether it has none (never, from [`LlScheduler::next_batch`]).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A walk of the table ([`LlScheduler::next_batch`]'s), before it is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scan {
    /// The batch it makes (none: `len` 0).
    batch: Batch,
    /// Where the walk goes on.
    next: usize,
    /// It passed a due task it leaves out (one to skip, a stalled
    /// owner's): taking it changes that task.
    passed: bool,
}

/// The first batch of an LL tick, found before the tick
/// ([`LlScheduler::prepare`]; the default is none, of no tick).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    /// The LL tick.
    pub tick: u32,
    /// The table's version it was found in.
    version: u32,
    /// Where the walk goes on after it.
    next: u32,
    batch: Batch,
}

impl Prepared {
    /// The batch.
    #[inline]
    pub fn batch(&self) -> &Batch {
        &self.batch
    }
}

/// What [`LlScheduler::finish_batch`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished {
    /// Bit `i`: the batch's `i`-th task completed.
    pub completed: u32,
    /// The place in the batch of the first of its longest runs.
    pub longest: usize,
    /// Its cycles.
    pub most: u32,
}

impl TickStats {
    #[inline]
    fn add_tick(&mut self, cycles: u32) {
        self.ticks += 1;
        self.total_cycles += u64::from(cycles);
        self.max_cycles = self.max_cycles.max(cycles);
    }
}

/// The LL scheduler's state (lives on `ll-sched`'s heap).
pub struct LlScheduler {
    /// In run order: priority, then the order they were queued.
    tasks: Vec<Task>,
    max_tasks: usize,
    next_id: u32,
    /// The tick being walked and where the walk is.
    walk_tick: u32,
    walk_next: usize,
    /// Changes with every change of the table that a walk sees (a
    /// [`Prepared`] batch is good only in the version it was found in).
    version: u32,
    /// Tick statistics since the last report.
    pub window: TickStats,
    /// Tick statistics since boot.
    pub total: TickStats,
    /// An overrun was charged in the current tick already (a run cut off):
    /// the tick's work is not charged again.
    charged: bool,
}

impl LlScheduler {
    /// Room for `max_tasks` tasks (at most 255: a batch names its tasks'
    /// places in a byte), allocated now.
    pub fn new(max_tasks: usize) -> LlScheduler {
        let max_tasks = max_tasks.min(usize::from(u8::MAX));
        LlScheduler {
            tasks: Vec::with_capacity(max_tasks),
            max_tasks,
            next_id: 0,
            walk_tick: 0,
            walk_next: usize::MAX,
            version: 0,
            window: TickStats::default(),
            total: TickStats::default(),
            charged: false,
        }
    }

    /// Most tasks one client may hold: a quarter of the table (at least
    /// one, at most [`MAX_LOCAL`]), so a client that takes all it can
    /// leaves room for three more.
    pub fn per_owner(&self) -> usize {
        (self.max_tasks / 4).clamp(1, MAX_LOCAL)
    }

    /// Bytes of heap the table takes.
    pub fn memory_use(&self) -> usize {
        self.tasks.capacity() * core::mem::size_of::<Task>() + core::mem::size_of::<Self>()
    }

    /// The table changed (or may: whoever gets a task to change).
    #[inline]
    fn changed(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    fn find(&mut self, owner: u32, id: u32) -> Result<&mut Task, LlError> {
        self.changed();
        let task = self
            .tasks
            .iter_mut()
            .find(|task| task.id == id)
            .ok_or(LlError::UnknownTask)?;
        if task.owner != owner {
            return Err(LlError::NotOwner);
        }
        Ok(task)
    }

    /// A new task in state INIT.
    pub fn init(
        &mut self,
        owner: u32,
        priority: u32,
        policy: u32,
        period: u32,
        phase: u32,
    ) -> Result<u32, LlError> {
        if priority > u32::from(MAX_PRIORITY) {
            return Err(LlError::BadPriority);
        }
        let policy = Policy::from_raw(policy).ok_or(LlError::BadPeriod)?;
        if period == 0 || period > u32::from(u16::MAX) || phase >= period {
            return Err(LlError::BadPeriod);
        }
        let owned = self.tasks.iter().filter(|task| task.owner == owner).count();
        if self.tasks.len() >= self.max_tasks || owned >= self.per_owner() {
            return Err(LlError::TooManyTasks);
        }
        // The lowest local index its owner does not use (there is one: it
        // holds fewer than `per_owner` <= MAX_LOCAL tasks).
        let used = self
            .tasks
            .iter()
            .filter(|task| task.owner == owner)
            .fold(0u32, |used, task| used | 1 << task.local);
        let local = (!used).trailing_zeros() as u8;
        let id = self.next_id;
        self.next_id += 1;
        self.changed();
        // Not queued: where it stands does not matter until it is.
        self.tasks.push(Task {
            id,
            owner,
            local,
            priority: priority as u8,
            period: period as u16,
            phase: phase as u16,
            policy,
            state: TaskState::Init,
            skip_next: false,
            stalled: false,
            stats: TaskStats::default(),
        });
        Ok(id)
    }

    /// A task's index among its owner's tasks (the `RUN` call names it so).
    pub fn local(&mut self, owner: u32, id: u32) -> Result<u32, LlError> {
        Ok(u32::from(self.find(owner, id)?.local))
    }

    /// Queue a task (from INIT, CANCELLED or COMPLETED): it moves behind
    /// every task of its priority and the more urgent ones (FIFO among
    /// equals), so the table stays in run order.
    pub fn schedule(&mut self, owner: u32, id: u32) -> Result<(), LlError> {
        let task = self.find(owner, id)?;
        if matches!(task.state, TaskState::Queued | TaskState::Running) {
            return Err(LlError::AlreadyScheduled);
        }
        task.state = TaskState::Queued;
        let priority = task.priority;
        let from = self
            .tasks
            .iter()
            .position(|task| task.id == id)
            .ok_or(LlError::UnknownTask)?;
        let task = self.tasks.remove(from);
        let to = self
            .tasks
            .iter()
            .position(|other| other.priority > priority)
            .unwrap_or(self.tasks.len());
        self.tasks.insert(to, task);
        Ok(())
    }

    /// Cancel a task: it does not run again.
    pub fn cancel(&mut self, owner: u32, id: u32) -> Result<(), LlError> {
        self.find(owner, id)?.state = TaskState::Cancelled;
        Ok(())
    }

    /// Forget a task.
    pub fn free(&mut self, owner: u32, id: u32) -> Result<(), LlError> {
        self.find(owner, id)?;
        self.tasks.retain(|task| task.id != id);
        Ok(())
    }

    /// A task's state.
    pub fn state(&mut self, owner: u32, id: u32) -> Result<TaskState, LlError> {
        Ok(self.find(owner, id)?.state)
    }

    /// A task's statistics.
    pub fn stats(&mut self, owner: u32, id: u32) -> Result<TaskStats, LlError> {
        Ok(self.find(owner, id)?.stats)
    }

    /// Whether any task is queued (else the tick timer can stop).
    pub fn any_queued(&self) -> bool {
        self.tasks
            .iter()
            .any(|task| task.state == TaskState::Queued)
    }

    /// Start walking tick `tick`'s due tasks ([`next_batch`](Self::next_batch)).
    #[inline]
    pub fn start_tick(&mut self, tick: u32) {
        self.walk_tick = tick;
        self.walk_next = 0;
    }

    /// The next batch of the tick being walked: consecutive due tasks of
    /// one owner, at most `max(owner)` (and [`MAX_BATCH`]) of them, in
    /// run order, marked RUNNING; `None` when the tick has no more. A task
    /// marked to skip (overrun policy) is left out once; a task of a
    /// stalled owner is left out and its run counted as missed (neither
    /// ends a batch: neither runs). No request comes in during a tick (the
    /// scheduler serves none meanwhile), so the table stays as it is.
    pub fn next_batch(&mut self, max: impl Fn(u32) -> usize) -> Option<Batch> {
        if self.walk_next >= self.tasks.len() {
            // (Walked to the end: the common last call of a tick.)
            return None;
        }
        let scan = self.scan(self.walk_tick, self.walk_next, max);
        self.take(&scan);
        (scan.batch.len > 0).then_some(scan.batch)
    }

    /// The first batch of LL tick `tick`, as [`start_tick`](Self::start_tick)
    /// and [`next_batch`](Self::next_batch) would make it, found without
    /// changing anything: made while the scheduler waits, so that the
    /// tick's first call goes out as soon as the tick comes
    /// ([`start_prepared`](Self::start_prepared)). `None` if the tick has
    /// no due task, or if the walk to the batch would change a task it
    /// passes (one to skip, a stalled owner's): that tick walks as usual.
    pub fn prepare(&self, tick: u32, max: impl Fn(u32) -> usize) -> Option<Prepared> {
        let scan = self.scan(tick, 0, max);
        (scan.batch.len > 0 && !scan.passed).then_some(Prepared {
            tick,
            version: self.version,
            next: scan.next as u32,
            batch: scan.batch,
        })
    }

    /// Whether the table is as it was when `prepared` was made (then
    /// [`start_prepared`](Self::start_prepared) takes it).
    #[inline]
    pub fn is_current(&self, prepared: &Prepared) -> bool {
        prepared.version == self.version
    }

    /// Start walking LL tick `prepared.tick` with the batch prepared for
    /// it, taken as [`next_batch`](Self::next_batch) would take it (marked
    /// RUNNING; the walk goes on after it). False, nothing changed, if
    /// the table changed since it was prepared.
    #[inline]
    pub fn start_prepared(&mut self, prepared: &Prepared) -> bool {
        if !self.is_current(prepared) {
            return false;
        }
        self.walk_tick = prepared.tick;
        self.walk_next = 0;
        self.take(&Scan {
            batch: prepared.batch,
            next: prepared.next as usize,
            passed: false,
        });
        true
    }

    /// The walk of tick `tick` from place `from`, changing nothing: the
    /// batch it makes, where it stops, whether it passed a due task it
    /// leaves out (one to skip, a stalled owner's).
    #[inline]
    fn scan(&self, tick: u32, from: usize, max: impl Fn(u32) -> usize) -> Scan {
        let mut batch = Batch {
            owner: 0,
            locals: 0,
            len: 0,
            at: [0; 8],
        };
        let mut passed = false;
        let mut limit = 1;
        let mut n = 0;
        let mut next = from;
        for task in self.tasks.get(from..).unwrap_or_default() {
            if !task.due(tick) {
                next += 1;
                continue;
            }
            if task.stalled || task.skip_next {
                passed = true;
                next += 1;
                continue;
            }
            if n == 0 {
                batch.owner = task.owner;
                limit = max(task.owner).clamp(1, MAX_BATCH);
            } else if batch.owner != task.owner || n >= limit {
                break;
            }
            if let Some(at) = batch.at.get_mut(n) {
                *at = next as u8;
            }
            batch.locals |= u32::from(task.local) << (4 * n);
            n += 1;
            next += 1;
        }
        batch.len = n as u32;
        Scan {
            batch,
            next,
            passed,
        }
    }

    /// Take the walk `scan` (which starts at the walk's place): its
    /// batch's tasks are RUNNING, the tasks it left out are skipped once
    /// or counted as missed, and the walk goes on where it stopped.
    #[inline(always)]
    fn take(&mut self, scan: &Scan) {
        self.changed();
        if scan.passed {
            self.take_passed(scan.next);
        }
        for at in scan.batch.places() {
            if let Some(task) = self.tasks.get_mut(at) {
                task.state = TaskState::Running;
            }
        }
        self.walk_next = scan.next;
    }

    /// The tasks the walk passes up to place `to` (one to skip, a stalled
    /// owner's) are skipped once or counted as missed (seldom: out of line).
    #[inline(never)]
    fn take_passed(&mut self, to: usize) {
        let tick = self.walk_tick;
        let from = self.walk_next;
        for task in self.tasks.get_mut(from..to).into_iter().flatten() {
            if task.due(tick) && (task.stalled || task.skip_next) {
                if task.stalled {
                    task.stats.missed += 1;
                }
                task.skip_next = false;
            }
        }
    }

    /// The id of the `i`-th task of `batch`.
    #[inline]
    pub fn batch_id(&self, batch: &Batch, i: usize) -> u32 {
        self.tasks
            .get(batch.at(i % MAX_BATCH))
            .map_or(u32::MAX, |task| task.id)
    }

    /// A batch ran: its `i`-th task took the `i`-th of `cycles` (0 if
    /// there are fewer) and completed if bit `i` of `completed` is set
    /// (else it is queued again). Returns the bits of those that
    /// completed, and the first of the longest runs: its place in the
    /// batch and its cycles.
    pub fn finish_batch(
        &mut self,
        batch: &Batch,
        cycles: impl IntoIterator<Item = u32>,
        completed: u32,
    ) -> Finished {
        let mut finished = Finished {
            completed: 0,
            longest: 0,
            most: 0,
        };
        let mut cycles = cycles.into_iter();
        self.changed();
        for (i, at) in batch.places().enumerate() {
            let outcome = if completed & 1 << i != 0 {
                Outcome::Completed
            } else {
                Outcome::Reschedule
            };
            let spent = cycles.next().unwrap_or(0);
            if i == 0 || spent > finished.most {
                (finished.longest, finished.most) = (i, spent);
            }
            if self.finish_at(at, spent, outcome) {
                finished.completed |= 1 << i;
            }
        }
        finished
    }

    /// The run of the task at `at` ended: account `cycles`; the task is
    /// queued again or done. Returns whether it completed.
    #[inline]
    fn finish_at(&mut self, at: usize, cycles: u32, outcome: Outcome) -> bool {
        let Some(task) = self.tasks.get_mut(at) else {
            return false;
        };
        task.stats.runs += 1;
        task.stats.total_cycles += u64::from(cycles);
        task.stats.max_cycles = task.stats.max_cycles.max(cycles);
        let completed = outcome == Outcome::Completed;
        if task.state == TaskState::Running {
            task.state = if completed {
                TaskState::Completed
            } else {
                TaskState::Queued
            };
        }
        completed
    }

    /// A batch was not answered by the end of its budget: cut off after
    /// `cycles`. Its first task counts the run and is charged (as
    /// [`timed_out`](Self::timed_out)); the others' runs are counted as
    /// missed (their outcomes, if they ran, come with the owner's
    /// [`resume`](Self::resume)), and they stay queued.
    pub fn timed_out_batch(
        &mut self,
        batch: &Batch,
        cycles: u32,
        longer: Option<u32>,
    ) -> Option<Overrun> {
        let overrun = self.timed_out(self.batch_id(batch, 0), cycles, longer);
        for at in batch.places().skip(1) {
            if let Some(task) = self.tasks.get_mut(at) {
                task.stats.missed += 1;
                if task.state == TaskState::Running {
                    task.state = TaskState::Queued;
                }
            }
        }
        overrun
    }

    /// A batch's call failed (its owner is gone or may not be called):
    /// each of its tasks counts a run ending its work, of `cycles` for the
    /// first.
    pub fn abandon_batch(&mut self, batch: &Batch, cycles: u32) {
        self.finish_batch(batch, [cycles], u32::MAX);
    }

    /// Close a tick whose work took `cycles` of a `period_cycles` tick;
    /// `longest` ran longest. An overrun is charged and returned.
    #[inline]
    pub fn end_tick(
        &mut self,
        cycles: u32,
        period_cycles: u32,
        longest: Option<u32>,
    ) -> Option<Overrun> {
        // (Both by hand: a loop over the two is an iterator on every tick.)
        self.window.add_tick(cycles);
        self.total.add_tick(cycles);
        if core::mem::take(&mut self.charged) || cycles <= period_cycles {
            return None;
        }
        self.window.overruns += 1;
        self.total.overruns += 1;
        self.changed();
        let task = self
            .tasks
            .iter_mut()
            .find(|task| Some(task.id) == longest)?;
        task.stats.overruns += 1;
        if task.policy == Policy::Skip {
            task.skip_next = true;
        }
        Some(Overrun {
            stalled: None,
            task: task.id,
            owner: task.owner,
            policy: task.policy,
            cycles,
            cause: Cause::Work,
        })
    }

    /// The run of `id` did not reply within its budget and was cut off
    /// after `cycles`: it counts as a run (its outcome unknown, the task
    /// stays queued) and its owner is stalled. The overrun of the tick is
    /// charged, with its policy, to `id`, or to `longer` when that is
    /// another task whose run in the same tick took longer than this one:
    /// a greedy run that returned just in time, and left the runs after it
    /// only the last few cycles, is what made the tick overrun. The tick is
    /// not charged again by [`end_tick`](Self::end_tick).
    pub fn timed_out(&mut self, id: u32, cycles: u32, longer: Option<u32>) -> Option<Overrun> {
        self.changed();
        let task = self.tasks.iter_mut().find(|task| task.id == id)?;
        task.stats.runs += 1;
        task.stats.total_cycles += u64::from(cycles);
        task.stats.max_cycles = task.stats.max_cycles.max(cycles);
        if task.state == TaskState::Running {
            task.state = TaskState::Queued;
        }
        let stalled = task.owner;
        let charged_id = longer
            .filter(|other| *other != id && self.tasks.iter().any(|task| task.id == *other))
            .unwrap_or(id);
        let charged = self.tasks.iter_mut().find(|task| task.id == charged_id)?;
        charged.stats.overruns += 1;
        if charged.policy == Policy::Skip {
            charged.skip_next = true;
        }
        let overrun = Overrun {
            task: charged.id,
            owner: charged.owner,
            policy: charged.policy,
            cycles,
            cause: Cause::Budget,
            stalled: Some(stalled),
        };
        for task in self.tasks.iter_mut().filter(|task| task.owner == stalled) {
            task.stalled = true;
        }
        for stats in [&mut self.window, &mut self.total] {
            stats.overruns += 1;
            stats.cut_off += 1;
        }
        self.charged = true;
        Some(overrun)
    }

    /// Whether `owner` is stalled (a run of its was cut off and it has not
    /// answered since).
    pub fn stalled(&self, owner: u32) -> bool {
        self.tasks
            .iter()
            .any(|task| task.owner == owner && task.stalled)
    }

    /// `owner` listens again after the cut-off run of its task `id`, whose
    /// handler returned `outcome`, in a batch whose tasks with the local
    /// indices in `completed` (one bit each) completed too: its tasks run
    /// from their next due tick, and those complete. Returns whether it
    /// was stalled (if not, its reply came in time and nothing changes).
    pub fn resume(&mut self, owner: u32, id: u32, outcome: Outcome, completed: u32) -> bool {
        if !self.stalled(owner) {
            return false;
        }
        self.changed();
        for task in self.tasks.iter_mut().filter(|task| task.owner == owner) {
            task.stalled = false;
            let done = (task.id == id && outcome == Outcome::Completed)
                || completed & 1 << task.local != 0;
            if done && task.state == TaskState::Queued {
                task.state = TaskState::Completed;
            }
        }
        true
    }

    /// The scheduler runs LL tick `now` after LL tick `last`: the ticks in
    /// between never ran. Each counts as a missed tick and an overrun, and
    /// each queued task's due runs in them as missed runs. Returns how many
    /// ticks were missed.
    pub fn missed(&mut self, last: u32, now: u32) -> u32 {
        // LL tick numbers wrap ([`crate::LlClock`]): `now` is after `last`.
        let missed = now.wrapping_sub(last).saturating_sub(1);
        if missed == 0 {
            return 0;
        }
        for stats in [&mut self.window, &mut self.total] {
            stats.missed += missed;
            stats.overruns += missed;
        }
        for task in self
            .tasks
            .iter_mut()
            .filter(|task| task.state == TaskState::Queued)
        {
            let (period, phase) = (u64::from(task.period), u64::from(task.phase));
            // Ticks below `end` on which the task is due (counted on from
            // `last` across a wrap).
            let due_below = |end: u64| end / period + u64::from(end % period > phase);
            let first = u64::from(last) + 1;
            let due = due_below(first + u64::from(missed)) - due_below(first);
            task.stats.missed = task.stats.missed.saturating_add(due as u32);
        }
        missed
    }

    /// The owner `owner` is gone: cancel its tasks. Returns their ids.
    pub fn owner_gone(&mut self, owner: u32) -> Vec<u32> {
        self.changed();
        let mut cancelled = Vec::new();
        for task in self.tasks.iter_mut().filter(|task| task.owner == owner) {
            if matches!(
                task.state,
                TaskState::Queued | TaskState::Running | TaskState::Init
            ) {
                task.state = TaskState::Cancelled;
                cancelled.push(task.id);
            }
        }
        cancelled
    }

    /// `owner` registers (again): the tasks of its earlier registration
    /// are forgotten, whatever their state — queued, stalled, cancelled
    /// when it was found gone. A client that registers again is a new
    /// instance (it restarted, or the scheduler dropped it): it makes its
    /// tasks anew and knows nothing of the old ones, which would otherwise
    /// run into an instance that never asked for them and hold its share
    /// of the table and its local indices. Returns their ids, in table
    /// order.
    pub fn drop_owner(&mut self, owner: u32) -> Vec<u32> {
        let dropped: Vec<u32> = self
            .tasks
            .iter()
            .filter(|task| task.owner == owner)
            .map(|task| task.id)
            .collect();
        if !dropped.is_empty() {
            self.changed();
            self.tasks.retain(|task| task.owner != owner);
        }
        dropped
    }

    /// Every task: id, owner, priority, period, statistics (for reports),
    /// by id (the order they were made, whatever order they run in).
    pub fn each(&self) -> impl Iterator<Item = (u32, u32, u8, u16, TaskStats)> + '_ {
        // The next id above the last one each time: no allocation, and
        // the table is small.
        let mut last: Option<u32> = None;
        core::iter::from_fn(move || {
            let task = self
                .tasks
                .iter()
                .filter(|task| last.is_none_or(|last| task.id > last))
                .min_by_key(|task| task.id)?;
            last = Some(task.id);
            Some((task.id, task.owner, task.priority, task.period, task.stats))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Batch, Cause, LlScheduler};
    use crate::proto::{LlError, Outcome, Policy, TaskState};

    const A: u32 = 1;
    const B: u32 = 2;

    /// The batches of tick `tick`, at most `max` tasks each, as (owner,
    /// ids); each task takes 100 cycles and returns `outcome(id)`.
    fn batches(
        s: &mut LlScheduler,
        tick: u32,
        max: usize,
        outcome: impl Fn(u32) -> Outcome,
    ) -> Vec<(u32, Vec<u32>)> {
        s.start_tick(tick);
        let mut ran = Vec::new();
        while let Some(batch) = s.next_batch(|_| max) {
            let ids = ids(s, &batch);
            let completed = ids
                .iter()
                .enumerate()
                .filter(|(_, id)| outcome(**id) == Outcome::Completed)
                .fold(0, |bits, (i, _)| bits | 1 << i);
            s.finish_batch(&batch, [100; 5], completed);
            ran.push((batch.owner, ids));
        }
        ran
    }

    /// The ids of a batch's tasks, in run order.
    fn ids(s: &LlScheduler, batch: &Batch) -> Vec<u32> {
        (0..batch.len()).map(|i| s.batch_id(batch, i)).collect()
    }

    /// Its local indices, in run order.
    fn locals(batch: &Batch) -> Vec<u32> {
        (0..batch.len())
            .map(|i| batch.locals >> (4 * i) & 0xF)
            .collect()
    }

    /// The tasks run on tick `tick`, one call each, in order.
    fn run_tick(s: &mut LlScheduler, tick: u32, outcome: impl Fn(u32) -> Outcome) -> Vec<u32> {
        batches(s, tick, 1, outcome)
            .into_iter()
            .flat_map(|(_, ids)| ids)
            .collect()
    }

    /// The first batch of tick `tick` (the walk goes on from there).
    fn first_batch(s: &mut LlScheduler, tick: u32, max: usize) -> Batch {
        s.start_tick(tick);
        s.next_batch(|_| max).expect("a due task")
    }

    #[test]
    fn the_sof_boot_test_runs_four_times_and_completes() {
        let mut s = LlScheduler::new(8);
        let id = s.init(A, 0, 0, 1, 0).unwrap();
        assert_eq!(s.state(A, id), Ok(TaskState::Init));
        assert!(!s.any_queued());
        s.schedule(A, id).unwrap();
        for tick in 10..13 {
            assert_eq!(run_tick(&mut s, tick, |_| Outcome::Reschedule), vec![id]);
        }
        // The fourth run completes.
        assert_eq!(run_tick(&mut s, 13, |_| Outcome::Completed), vec![id]);
        assert!(run_tick(&mut s, 14, |_| Outcome::Reschedule).is_empty());
        assert_eq!(s.state(A, id), Ok(TaskState::Completed));
        assert_eq!(s.stats(A, id).unwrap().runs, 4);
        assert!(!s.any_queued(), "the timer may stop");
    }

    #[test]
    fn priority_order_then_fifo_among_equals() {
        let mut s = LlScheduler::new(8);
        let low_first = s.init(A, 5, 0, 1, 0).unwrap();
        let high = s.init(B, 1, 0, 1, 0).unwrap();
        let low_second = s.init(A, 5, 0, 1, 0).unwrap();
        for id in [low_first, high] {
            s.schedule(if id == high { B } else { A }, id).unwrap();
        }
        s.schedule(A, low_second).unwrap();
        assert_eq!(
            run_tick(&mut s, 0, |_| Outcome::Reschedule),
            vec![high, low_first, low_second]
        );
        // Requeueing after completion goes to the back among equals.
        s.cancel(A, low_first).unwrap();
        s.schedule(A, low_first).unwrap();
        assert_eq!(
            run_tick(&mut s, 1, |_| Outcome::Reschedule),
            vec![high, low_second, low_first]
        );
    }

    /// SOF's order: priority first, then the order tasks were *queued*
    /// (not made), whoever owns them; a task queued again goes behind its
    /// equals, and one of a more urgent priority queued later still runs
    /// before them.
    #[test]
    fn sof_order_is_priority_then_queueing_order_across_owners() {
        let mut s = LlScheduler::new(16);
        let a1 = s.init(A, 3, 0, 1, 0).unwrap();
        let b1 = s.init(B, 3, 0, 1, 0).unwrap();
        let a2 = s.init(A, 3, 0, 1, 0).unwrap();
        let b_urgent = s.init(B, 0, 0, 1, 0).unwrap();
        let a_last = s.init(A, 7, 0, 1, 0).unwrap();
        // Queued in another order than made.
        for (owner, id) in [(A, a_last), (A, a2), (B, b1), (A, a1), (B, b_urgent)] {
            s.schedule(owner, id).unwrap();
        }
        let reschedule = |_| Outcome::Reschedule;
        assert_eq!(
            run_tick(&mut s, 0, reschedule),
            vec![b_urgent, a2, b1, a1, a_last]
        );
        // Batched, the order is the same; consecutive tasks of one owner
        // share a call.
        assert_eq!(
            batches(&mut s, 1, 5, reschedule),
            vec![
                (B, vec![b_urgent]),
                (A, vec![a2]),
                (B, vec![b1]),
                (A, vec![a1, a_last])
            ]
        );
        // b1 completes, is queued again: behind a1 now.
        assert_eq!(
            run_tick(&mut s, 2, |id| if id == b1 {
                Outcome::Completed
            } else {
                Outcome::Reschedule
            }),
            vec![b_urgent, a2, b1, a1, a_last]
        );
        s.schedule(B, b1).unwrap();
        assert_eq!(
            batches(&mut s, 3, 5, reschedule),
            vec![
                (B, vec![b_urgent]),
                (A, vec![a2, a1]),
                (B, vec![b1]),
                (A, vec![a_last])
            ]
        );
    }

    /// A batch ends at another owner's task, at the owner's limit, and at
    /// five; tasks that do not run (not due, skipped, stalled owner) do
    /// not end it. Each task of a batch gets its own cycles and outcome.
    #[test]
    fn batches_are_runs_of_one_owner_and_end_where_they_must() {
        let mut s = LlScheduler::new(32);
        // A: seven tasks of priority 1, one of them every 2 ticks (phase
        // 1); B: one of priority 1 between them, one of priority 0.
        let a: Vec<u32> = (0..7)
            .map(|i| {
                s.init(A, 1, 0, if i == 2 { 2 } else { 1 }, u32::from(i == 2))
                    .unwrap()
            })
            .collect();
        let b_first = s.init(B, 0, 0, 1, 0).unwrap();
        let b_mid = s.init(B, 1, 0, 1, 0).unwrap();
        for &id in &a[..3] {
            s.schedule(A, id).unwrap();
        }
        s.schedule(B, b_mid).unwrap();
        for &id in &a[3..] {
            s.schedule(A, id).unwrap();
        }
        s.schedule(B, b_first).unwrap();
        let reschedule = |_| Outcome::Reschedule;
        // Tick 0: a[2] is not due (odd ticks only).
        assert_eq!(
            batches(&mut s, 0, 5, reschedule),
            vec![
                (B, vec![b_first]),
                (A, vec![a[0], a[1]]),
                (B, vec![b_mid]),
                (A, vec![a[3], a[4], a[5], a[6]])
            ]
        );
        // Tick 1: a[2] is due; an owner limit of 2 splits A's runs.
        s.start_tick(1);
        let mut seen = Vec::new();
        while let Some(batch) = s.next_batch(|owner| if owner == A { 2 } else { 5 }) {
            s.finish_batch(&batch, [1, 2], 0);
            seen.push(ids(&s, &batch));
        }
        assert_eq!(
            seen,
            vec![
                vec![b_first],
                vec![a[0], a[1]],
                vec![a[2]],
                vec![b_mid],
                vec![a[3], a[4]],
                vec![a[5], a[6]]
            ]
        );
        // B stalled: its runs are missed and do not split A's batches; at
        // most five a call.
        let batch = first_batch(&mut s, 2, 5);
        assert_eq!(ids(&s, &batch), vec![b_first]);
        s.timed_out_batch(&batch, 10_000, None).unwrap();
        let total = |s: &mut LlScheduler| -> Vec<u64> {
            [a[0], a[1], a[3], a[4], a[5], a[6]]
                .iter()
                .map(|id| s.stats(A, *id).unwrap().total_cycles)
                .collect()
        };
        let before = total(&mut s);
        let mut rest = Vec::new();
        while let Some(batch) = s.next_batch(|_| 5) {
            s.finish_batch(&batch, [10, 20, 30, 40, 50], 0b10);
            rest.push(ids(&s, &batch));
        }
        assert_eq!(
            rest,
            vec![vec![a[0], a[1], a[3], a[4], a[5]], vec![a[6]]],
            "a[2] not due; b_mid missed"
        );
        assert_eq!(s.stats(B, b_mid).unwrap().missed, 1);
        // Each task of the batch got its own share and outcome.
        let cycles: Vec<u64> = total(&mut s)
            .iter()
            .zip(before)
            .map(|(after, before)| after - before)
            .collect();
        assert_eq!(cycles, vec![10, 20, 30, 40, 50, 10]);
        assert_eq!(s.state(A, a[1]), Ok(TaskState::Completed));
        assert_eq!(
            s.state(A, a[6]),
            Ok(TaskState::Queued),
            "first of its batch"
        );
        assert_eq!(s.state(A, a[0]), Ok(TaskState::Queued));
    }

    /// Local indices: the lowest one free among the owner's tasks, each
    /// owner counting from 0, reused after a free; a batch names its tasks
    /// by them.
    #[test]
    fn tasks_have_local_indices_per_owner() {
        let mut s = LlScheduler::new(32);
        let a0 = s.init(A, 0, 0, 1, 0).unwrap();
        let b0 = s.init(B, 0, 0, 1, 0).unwrap();
        let a1 = s.init(A, 0, 0, 1, 0).unwrap();
        let a2 = s.init(A, 1, 0, 1, 0).unwrap();
        assert_eq!(s.local(A, a0), Ok(0));
        assert_eq!(s.local(B, b0), Ok(0));
        assert_eq!(s.local(A, a1), Ok(1));
        assert_eq!(s.local(A, a2), Ok(2));
        s.free(A, a1).unwrap();
        let a3 = s.init(A, 0, 0, 1, 0).unwrap();
        assert_eq!(s.local(A, a3), Ok(1), "reused");
        for (owner, id) in [(A, a2), (A, a3), (A, a0), (B, b0)] {
            s.schedule(owner, id).unwrap();
        }
        // In run order: a3, a0 (priority 0, queued in that order), b0, a2.
        let batch = first_batch(&mut s, 0, 5);
        assert_eq!(ids(&s, &batch), vec![a3, a0]);
        assert_eq!(locals(&batch), vec![1, 0]);
        s.finish_batch(&batch, [0, 0], 0);
        assert_eq!(locals(&s.next_batch(|_| 5).unwrap()), vec![0]);
        assert_eq!(locals(&s.next_batch(|_| 5).unwrap()), vec![2]);
    }

    /// A batch cut off at its budget: its first task is charged the run,
    /// the others' runs are missed; the owner's `Resume` reports which of
    /// them completed (by local index).
    #[test]
    fn a_batch_cut_off_stalls_its_owner_and_resume_completes_what_it_says() {
        let mut s = LlScheduler::new(32);
        let ids: Vec<u32> = (0..3).map(|_| s.init(A, 0, 0, 1, 0).unwrap()).collect();
        for &id in &ids {
            s.schedule(A, id).unwrap();
        }
        let batch = first_batch(&mut s, 0, 5);
        assert_eq!(super::tests::ids(&s, &batch), ids);
        let overrun = s.timed_out_batch(&batch, 10_000, None).unwrap();
        assert_eq!((overrun.task, overrun.cause), (ids[0], Cause::Budget));
        assert_eq!(s.next_batch(|_| 5), None);
        let stats: Vec<(u32, u32, u32)> = ids
            .iter()
            .map(|id| {
                let stats = s.stats(A, *id).unwrap();
                (stats.runs, stats.overruns, stats.missed)
            })
            .collect();
        assert_eq!(stats, vec![(1, 1, 0), (0, 0, 1), (0, 0, 1)]);
        assert!(s.stalled(A));
        assert!(batches(&mut s, 1, 5, |_| Outcome::Reschedule).is_empty());
        // The client says its batch's tasks with local indices 0 and 2
        // completed.
        assert!(s.resume(A, u32::MAX, Outcome::Reschedule, 0b101));
        assert_eq!(s.state(A, ids[0]), Ok(TaskState::Completed));
        assert_eq!(s.state(A, ids[1]), Ok(TaskState::Queued));
        assert_eq!(s.state(A, ids[2]), Ok(TaskState::Completed));
        assert_eq!(
            batches(&mut s, 2, 5, |_| Outcome::Reschedule),
            vec![(A, vec![ids[1]])]
        );
    }

    #[test]
    fn reports_list_tasks_by_id_whatever_order_they_run_in() {
        let mut s = LlScheduler::new(8);
        let late = s.init(A, 9, 0, 1, 0).unwrap();
        let early = s.init(B, 0, 0, 1, 0).unwrap();
        let middle = s.init(A, 5, 0, 1, 0).unwrap();
        for (owner, id) in [(B, early), (A, middle), (A, late)] {
            s.schedule(owner, id).unwrap();
        }
        assert_eq!(
            run_tick(&mut s, 0, |_| Outcome::Reschedule),
            vec![early, middle, late]
        );
        let ids: Vec<u32> = s.each().map(|(id, ..)| id).collect();
        assert_eq!(ids, vec![late, early, middle]);
    }

    #[test]
    fn periods_and_phases() {
        let mut s = LlScheduler::new(8);
        let every4 = s.init(A, 0, 0, 4, 1).unwrap();
        let every3 = s.init(A, 0, 0, 3, 0).unwrap();
        s.schedule(A, every4).unwrap();
        s.schedule(A, every3).unwrap();
        let mut log = Vec::new();
        for tick in 0..12 {
            for id in run_tick(&mut s, tick, |_| Outcome::Reschedule) {
                log.push((tick, id));
            }
        }
        assert_eq!(
            log,
            vec![
                (0, every3),
                (1, every4),
                (3, every3),
                (5, every4),
                (6, every3),
                (9, every4),
                (9, every3)
            ]
        );
    }

    #[test]
    fn cancel_takes_effect_before_the_next_run() {
        let mut s = LlScheduler::new(8);
        let id = s.init(A, 0, 0, 1, 0).unwrap();
        s.schedule(A, id).unwrap();
        s.cancel(A, id).unwrap();
        assert!(run_tick(&mut s, 0, |_| Outcome::Reschedule).is_empty());
        assert_eq!(s.state(A, id), Ok(TaskState::Cancelled));
        // Queued again, it runs; cancelled between two ticks, it does not.
        s.schedule(A, id).unwrap();
        assert_eq!(run_tick(&mut s, 1, |_| Outcome::Reschedule), vec![id]);
        s.cancel(A, id).unwrap();
        assert!(run_tick(&mut s, 2, |_| Outcome::Reschedule).is_empty());
        assert_eq!(s.stats(A, id).unwrap().runs, 1);
    }

    #[test]
    fn every_api_error_is_distinct() {
        let mut s = LlScheduler::new(2);
        assert_eq!(s.init(A, 32, 0, 1, 0), Err(LlError::BadPriority));
        assert_eq!(s.init(A, 0, 0, 0, 0), Err(LlError::BadPeriod));
        assert_eq!(
            s.init(A, 0, 0, 4, 4),
            Err(LlError::BadPeriod),
            "phase must be below the period"
        );
        assert_eq!(s.init(A, 0, 9, 1, 0), Err(LlError::BadPeriod), "policy");
        let id = s.init(A, 0, 0, 1, 0).unwrap();
        s.schedule(A, id).unwrap();
        assert_eq!(s.schedule(A, id), Err(LlError::AlreadyScheduled));
        assert_eq!(s.cancel(B, id), Err(LlError::NotOwner));
        assert_eq!(s.state(A, 99), Err(LlError::UnknownTask));
        s.init(B, 0, 0, 1, 0).unwrap();
        assert_eq!(s.init(B, 0, 0, 1, 0), Err(LlError::TooManyTasks));
        s.free(A, id).unwrap();
        assert_eq!(s.state(A, id), Err(LlError::UnknownTask));
    }

    #[test]
    fn overruns_are_charged_to_the_longest_task_and_skip_policy_skips_once() {
        let mut s = LlScheduler::new(8);
        let slow = s.init(A, 0, Policy::Skip as u32, 1, 0).unwrap();
        let other = s.init(A, 1, 0, 1, 0).unwrap();
        s.schedule(A, slow).unwrap();
        s.schedule(A, other).unwrap();
        run_tick(&mut s, 0, |_| Outcome::Reschedule);
        let overrun = s.end_tick(12_000, 10_000, Some(slow)).unwrap();
        assert_eq!(
            (overrun.task, overrun.policy, overrun.cycles),
            (slow, Policy::Skip, 12_000)
        );
        assert_eq!(s.stats(A, slow).unwrap().overruns, 1);
        assert_eq!(
            run_tick(&mut s, 1, |_| Outcome::Reschedule),
            vec![other],
            "skipped once"
        );
        assert_eq!(
            run_tick(&mut s, 2, |_| Outcome::Reschedule),
            vec![slow, other]
        );
        assert_eq!(s.end_tick(9_000, 10_000, Some(slow)), None);
        assert_eq!(
            (s.total.ticks, s.total.overruns, s.total.max_cycles),
            (2, 1, 12_000)
        );
    }

    #[test]
    fn ticks_the_scheduler_missed_are_overruns_and_missed_runs_of_the_due_tasks() {
        let mut s = LlScheduler::new(8);
        let every = s.init(A, 0, 0, 1, 0).unwrap();
        let every4 = s.init(A, 1, 0, 4, 1).unwrap();
        let idle = s.init(B, 0, 0, 1, 0).unwrap();
        s.schedule(A, every).unwrap();
        s.schedule(A, every4).unwrap();
        // On time: nothing missed.
        assert_eq!(s.missed(9, 10), 0);
        assert_eq!(s.missed(10, 10), 0, "the same tick again is not a gap");
        // Ticks 11..=19 never ran: `every` was due on all nine, `every4`
        // on 13 and 17, `idle` (never queued) on none.
        assert_eq!(s.missed(10, 20), 9);
        assert_eq!(s.stats(A, every).unwrap().missed, 9);
        assert_eq!(s.stats(A, every4).unwrap().missed, 2);
        assert_eq!(s.stats(B, idle).unwrap().missed, 0);
        assert_eq!((s.window.missed, s.window.overruns), (9, 9));
        // Over a long gap the count is exact too (every 4th of 300 ticks).
        assert_eq!(s.missed(100, 401), 300);
        assert_eq!(s.stats(A, every4).unwrap().missed, 2 + 75);
        assert_eq!((s.total.missed, s.total.overruns), (309, 309));
        // No run was charged for them.
        assert_eq!(s.stats(A, every).unwrap().overruns, 0);
        // Across the wrap of the LL tick number too (review S: this counted
        // nothing).
        assert_eq!(s.missed(u32::MAX - 1, 3), 4);
        assert_eq!(s.stats(A, every).unwrap().missed, 309 + 4);
    }

    #[test]
    fn a_run_left_too_little_by_a_greedy_one_stalls_its_owner_but_charges_the_greedy() {
        let mut s = LlScheduler::new(8);
        let greedy = s.init(A, 0, Policy::Skip as u32, 1, 0).unwrap();
        let modest = s.init(B, 0, Policy::Skip as u32, 1, 0).unwrap();
        s.schedule(A, greedy).unwrap();
        s.schedule(B, modest).unwrap();
        let first = first_batch(&mut s, 0, 5);
        assert_eq!((first.owner, ids(&s, &first)), (A, vec![greedy]));
        s.finish_batch(&first, [9_700], 0);
        let second = s.next_batch(|_| 5).unwrap();
        assert_eq!((second.owner, ids(&s, &second)), (B, vec![modest]));
        // Cut off after 300 cycles: the greedy run (9,700) took the tick.
        let overrun = s.timed_out_batch(&second, 300, Some(greedy)).unwrap();
        assert_eq!(
            (overrun.task, overrun.owner, overrun.stalled, overrun.policy),
            (greedy, A, Some(B), Policy::Skip)
        );
        assert!(s.stalled(B) && !s.stalled(A));
        let modest_stats = s.stats(B, modest).unwrap();
        assert_eq!((modest_stats.runs, modest_stats.overruns), (1, 0));
        let greedy_stats = s.stats(A, greedy).unwrap();
        assert_eq!((greedy_stats.runs, greedy_stats.overruns), (1, 1));
        // The greedy task's Skip policy applies to it, not to the victim.
        assert!(s.resume(B, modest, Outcome::Reschedule, 0));
        assert_eq!(run_tick(&mut s, 1, |_| Outcome::Reschedule), vec![modest]);
        // A run cut off by itself (no longer run before it) is its own.
        let first = first_batch(&mut s, 2, 5);
        assert_eq!(ids(&s, &first), vec![greedy]);
        s.finish_batch(&first, [50], 0);
        let batch = s.next_batch(|_| 5).unwrap();
        let alone = s.timed_out_batch(&batch, 9_900, None).unwrap();
        assert_eq!((alone.task, alone.stalled), (modest, Some(B)));
    }

    #[test]
    fn a_run_cut_off_at_its_budget_stalls_its_owner_until_it_answers() {
        let mut s = LlScheduler::new(8);
        let stuck = s.init(A, 0, Policy::Notify as u32, 1, 0).unwrap();
        let sibling = s.init(A, 2, 0, 1, 0).unwrap();
        let other = s.init(B, 1, 0, 1, 0).unwrap();
        for (owner, id) in [(A, stuck), (A, sibling), (B, other)] {
            s.schedule(owner, id).unwrap();
        }
        // Tick 0: `stuck` runs first and is cut off; `other` still runs;
        // `sibling`, of the same owner, does not.
        let batch = first_batch(&mut s, 0, 5);
        assert_eq!((batch.owner, ids(&s, &batch)), (A, vec![stuck]));
        let overrun = s.timed_out_batch(&batch, 9_800, None).unwrap();
        assert_eq!(
            (overrun.task, overrun.owner, overrun.policy, overrun.cause),
            (stuck, A, Policy::Notify, Cause::Budget)
        );
        assert!(s.stalled(A) && !s.stalled(B));
        let batch = s.next_batch(|_| 5).unwrap();
        assert_eq!((batch.owner, ids(&s, &batch)), (B, vec![other]));
        s.finish_batch(&batch, [100], 0);
        assert_eq!(s.next_batch(|_| 5), None, "sibling's owner is stalled");
        // The tick took the whole period, but it is charged once.
        assert_eq!(s.end_tick(10_500, 10_000, Some(stuck)), None);
        assert_eq!((s.window.overruns, s.window.cut_off), (1, 1));
        let stats = s.stats(A, stuck).unwrap();
        assert_eq!(
            (stats.runs, stats.overruns, stats.max_cycles),
            (1, 1, 9_800)
        );
        assert_eq!(s.state(A, stuck), Ok(TaskState::Queued), "outcome unknown");
        // While A is stalled, the others' ticks go on; A's runs are missed.
        for tick in 1..4 {
            assert_eq!(run_tick(&mut s, tick, |_| Outcome::Reschedule), vec![other]);
            assert_eq!(s.end_tick(200, 10_000, Some(other)), None);
        }
        assert_eq!(s.stats(B, other).unwrap().runs, 4);
        assert_eq!(s.stats(A, stuck).unwrap().missed, 3);
        assert_eq!(s.stats(A, sibling).unwrap().missed, 4);
        assert_eq!(s.stats(A, stuck).unwrap().overruns, 1, "charged once");
        // B saying it resumes changes nothing; A resuming with the late
        // outcome COMPLETED completes `stuck`, and `sibling` runs again.
        assert!(!s.resume(B, other, Outcome::Completed, 0));
        assert_eq!(s.state(B, other), Ok(TaskState::Queued));
        assert!(s.resume(A, stuck, Outcome::Completed, 0));
        assert!(!s.stalled(A));
        assert_eq!(s.state(A, stuck), Ok(TaskState::Completed));
        assert_eq!(
            run_tick(&mut s, 4, |_| Outcome::Reschedule),
            vec![other, sibling]
        );
        assert!(
            !s.resume(A, stuck, Outcome::Reschedule, 0),
            "not stalled now"
        );
    }

    #[test]
    fn a_cut_off_task_with_the_skip_policy_skips_one_run_in_all() {
        let mut s = LlScheduler::new(8);
        let slow = s.init(A, 0, Policy::Skip as u32, 1, 0).unwrap();
        s.schedule(A, slow).unwrap();
        let batch = first_batch(&mut s, 0, 5);
        s.timed_out_batch(&batch, 10_000, None).unwrap();
        // Tick 1 finds A stalled: that is the skipped run.
        assert!(run_tick(&mut s, 1, |_| Outcome::Reschedule).is_empty());
        assert!(s.resume(A, slow, Outcome::Reschedule, 0));
        assert_eq!(run_tick(&mut s, 2, |_| Outcome::Reschedule), vec![slow]);
        assert_eq!(s.state(A, slow), Ok(TaskState::Queued));
        let stats = s.stats(A, slow).unwrap();
        assert_eq!((stats.runs, stats.overruns, stats.missed), (2, 1, 1));
    }

    /// Found by review: the task table (32 in ll-sched) was shared with no
    /// share per client, so one client that made 32 tasks (and never
    /// scheduled them) left every other client `TooManyTasks`, the audio
    /// pipeline included. Each client now holds at most a quarter of it.
    #[test]
    fn one_client_cannot_take_every_task_slot() {
        let mut s = LlScheduler::new(32);
        const HOSTILE: u32 = 9;
        while s.init(HOSTILE, 0, 0, 1, 0).is_ok() {}
        assert_eq!(s.per_owner(), 8);
        assert_eq!(
            s.init(HOSTILE, 0, 0, 1, 0),
            Err(LlError::TooManyTasks),
            "its share is taken"
        );
        assert!(
            s.init(A, 0, 0, 1, 0).is_ok(),
            "a well-behaved client gets no task at all"
        );
    }

    #[test]
    fn a_gone_owner_loses_its_tasks_and_others_go_on() {
        let mut s = LlScheduler::new(8);
        let mine = s.init(A, 0, 0, 1, 0).unwrap();
        let theirs = s.init(B, 0, 0, 1, 0).unwrap();
        s.schedule(A, mine).unwrap();
        s.schedule(B, theirs).unwrap();
        assert_eq!(s.owner_gone(A), vec![mine]);
        assert_eq!(run_tick(&mut s, 0, |_| Outcome::Reschedule), vec![theirs]);
        assert!(s.memory_use() > 0);
    }

    /// A batch prepared before its tick is the one the tick's walk makes,
    /// taken with the same effects, whatever happened to the table (tasks
    /// made, queued, cancelled, completed, cut off, skipped, owners
    /// stalled and resumed, periods and phases); one prepared before a
    /// change is refused. Two tables get the same requests, one walks
    /// each tick as usual, the other starts with the prepared batch
    /// where there is one.
    #[test]
    fn a_prepared_first_batch_is_the_walks_first_batch() {
        let mut seed = 0x2545_f491_u32;
        let mut random = move |below: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed % below
        };
        let max = |owner: u32| if owner == 3 { 1 } else { owner as usize + 2 };
        let (mut prepared_used, mut refused) = (0, 0);
        for _ in 0..40 {
            let (mut usual, mut early) = (LlScheduler::new(32), LlScheduler::new(32));
            let mut ids: Vec<(u32, u32)> = Vec::new();
            for tick in 0..60u32 {
                // A prepared batch from before this tick's requests.
                let stale = early.prepare(tick, max);
                // Whether a request changed the table.
                let mut changed = false;
                for _ in 0..random(4) {
                    let pick = ids.get(random(ids.len().max(1) as u32) as usize).copied();
                    match (random(7), pick) {
                        (0 | 1, _) => {
                            let owner = 1 + random(3);
                            let period = 1 + random(3);
                            let args = (owner, random(3), random(2), period, random(period));
                            let made = usual.init(args.0, args.1, args.2, args.3, args.4);
                            let again = early.init(args.0, args.1, args.2, args.3, args.4);
                            assert_eq!(made, again);
                            if let Ok(id) = made {
                                ids.push((owner, id));
                                changed = true;
                            }
                        }
                        (2 | 3, Some((owner, id))) => {
                            let queued = usual.schedule(owner, id);
                            assert_eq!(queued, early.schedule(owner, id));
                            changed |= queued.is_ok();
                        }
                        (4, Some((owner, id))) => {
                            let cancelled = usual.cancel(owner, id);
                            assert_eq!(cancelled, early.cancel(owner, id));
                            changed |= cancelled.is_ok();
                        }
                        (5, Some((owner, id))) => {
                            let outcome = Outcome::from_raw(random(2));
                            let resumed = usual.resume(owner, id, outcome, 0);
                            assert_eq!(resumed, early.resume(owner, id, outcome, 0));
                            changed |= resumed;
                        }
                        _ => {}
                    }
                }
                let fresh = early.prepare(tick, max);
                if changed && let Some(stale) = stale {
                    assert!(!early.start_prepared(&stale), "changed since");
                    refused += 1;
                }
                // Both walk the tick; the same outcomes, cycles, cut-offs.
                usual.start_tick(tick);
                let mut first = match fresh {
                    Some(fresh) => {
                        prepared_used += 1;
                        assert!(early.start_prepared(&fresh), "unchanged");
                        Some(*fresh.batch())
                    }
                    None => {
                        early.start_tick(tick);
                        None
                    }
                };
                let mut cycles_seen = 0;
                loop {
                    let expected = usual.next_batch(max);
                    let got = first.take().or_else(|| early.next_batch(max));
                    assert_eq!(expected, got, "tick {tick}");
                    let Some(batch) = expected else { break };
                    let cycles = 50 + random(200);
                    cycles_seen += cycles;
                    if random(12) == 0 {
                        let longer = Some(usual.batch_id(&batch, 0));
                        assert_eq!(
                            usual.timed_out_batch(&batch, cycles, longer),
                            early.timed_out_batch(&batch, cycles, longer)
                        );
                    } else {
                        let completed = random(1 << batch.len()) & random(4);
                        assert_eq!(
                            usual.finish_batch(&batch, [cycles; 5], completed),
                            early.finish_batch(&batch, [cycles; 5], completed)
                        );
                    }
                }
                let longest = ids.first().map(|(_, id)| *id);
                assert_eq!(
                    usual.end_tick(cycles_seen, 300, longest),
                    early.end_tick(cycles_seen, 300, longest)
                );
                let table = |s: &LlScheduler| s.each().collect::<Vec<_>>();
                assert_eq!(table(&usual), table(&early));
                for &(owner, id) in &ids {
                    assert_eq!(usual.state(owner, id), early.state(owner, id));
                    assert_eq!(usual.stalled(owner), early.stalled(owner));
                }
            }
        }
        assert!(
            prepared_used > 500 && refused > 100,
            "{prepared_used} {refused}"
        );
    }

    /// Ticks that skip or miss a task are not prepared (the walk changes
    /// the task it passes): the tick walks as usual.
    #[test]
    fn no_batch_is_prepared_past_a_task_the_walk_changes() {
        let mut s = LlScheduler::new(8);
        let first = s.init(A, 0, Policy::Skip as u32, 1, 0).unwrap();
        let second = s.init(B, 1, 0, 1, 0).unwrap();
        s.schedule(A, first).unwrap();
        s.schedule(B, second).unwrap();
        let prepared = s.prepare(0, |_| 5).expect("a batch");
        assert_eq!(ids(&s, prepared.batch()), vec![first]);
        assert!(s.start_prepared(&prepared));
        s.finish_batch(prepared.batch(), [500], 0);
        let batch = s.next_batch(|_| 5).unwrap();
        s.finish_batch(&batch, [10], 0);
        assert!(s.next_batch(|_| 5).is_none());
        // `first` overran: its next run is skipped.
        assert!(s.end_tick(510, 300, Some(first)).is_some());
        assert_eq!(s.prepare(1, |_| 5), None);
        assert_eq!(run_tick(&mut s, 1, |_| Outcome::Reschedule), vec![second]);
        assert_eq!(
            ids(&s, s.prepare(2, |_| 5).as_ref().unwrap().batch()),
            vec![first]
        );
        assert_eq!(s.prepare(3, |_| 5).map(|p| p.tick), Some(3));
    }
}
