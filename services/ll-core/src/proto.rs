//! The LL protocol: requests from clients to `ll-sched` (three words in an
//! IPC call, the reply's first word a status), and the dispatch call from
//! `ll-sched` to a task's owner: one call runs a *batch*, up to
//! [`MAX_BATCH`] consecutive due tasks of that owner, in order, and the
//! reply says which completed and when each ended (so each task's cost is
//! known without a system call in `ll-sched`), all in registers.

/// Requests, in word 0 of a call to the scheduler's endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// Register the caller's task endpoint, sent along as a capability
    /// (SEND + GRANT): the scheduler calls it to run the caller's tasks.
    /// Word 1: [`REGISTER_BATCHES`] if the client runs batches of more than
    /// one task (it times each task itself: it holds a clock capability).
    /// Reply: status, kernel ticks per LL tick (see [`budget_end`]).
    Register = 0,
    /// New task: word 1 = priority | policy << 8, word 2 = period | phase << 16.
    /// Reply: status, task id, its index among the client's tasks (below
    /// [`MAX_LOCAL`]: the [`RUN`] call names tasks by it).
    Init = 1,
    /// Queue task (word 1).
    Schedule = 2,
    /// Cancel task (word 1): it does not run again.
    Cancel = 3,
    /// Free task (word 1).
    Free = 4,
    /// State of task (word 1). Reply: status, [`TaskState`].
    State = 5,
    /// Statistics of task (word 1). Reply: status, runs, overruns.
    Counts = 6,
    /// Cycle statistics of task (word 1). Reply: status, average, maximum.
    Cycles = 7,
    /// The client listens again after a run that ran past its budget
    /// (word 1 = that task, word 2 bit 0 = the [`Outcome`] its handler
    /// returned, which the scheduler never got: the kernel dropped the late
    /// reply; word 2 bits 8.. = the local indices of the tasks of that
    /// batch that completed, one bit each). Until then the scheduler calls
    /// none of the client's tasks. Reply: status, 1 if the client had been
    /// stalled (0: the reply had come in time after all, and nothing
    /// changes).
    Resume = 8,
    /// Due runs of task (word 1) that did not happen: ticks the scheduler
    /// missed, or its client stalled. Reply: status, missed runs.
    Missed = 9,
}

impl Op {
    /// Decode word 0.
    pub fn from_raw(raw: u32) -> Option<Op> {
        [
            Op::Register,
            Op::Init,
            Op::Schedule,
            Op::Cancel,
            Op::Free,
            Op::State,
            Op::Counts,
            Op::Cycles,
            Op::Resume,
            Op::Missed,
        ]
        .into_iter()
        .find(|op| *op as u32 == raw)
    }
}

/// Word 0 of the scheduler's call to a task's owner, bits 0..24: run a
/// batch of tasks (bits 24.. = how many, 1..=[`MAX_BATCH`]; word 1 = the
/// kernel tick; word 2 = their local indices, 4 bits each, in run order).
/// The owner runs them in that order and replies with [`batch_reply`].
pub const RUN: u32 = 0x52_55_4E;

/// [`Op::Register`] word 1: the client runs batches of several tasks.
pub const REGISTER_BATCHES: u32 = 1;

/// Most tasks one [`RUN`] call runs (the reply has room for the end of
/// each but the last).
pub const MAX_BATCH: usize = 5;

/// Local task indices of one client are below this (4 bits in [`RUN`]).
pub const MAX_LOCAL: usize = 16;

/// The words of a [`RUN`] call on kernel tick `tick` of `count` tasks
/// (1..=[`MAX_BATCH`]) whose local indices are `packed`, 4 bits each in
/// run order ([`pack_locals`]).
#[inline]
pub fn run_words(tick: u32, count: usize, packed: u32) -> [u32; 3] {
    [RUN | (count as u32) << 24, tick, packed]
}

/// Local indices (each below [`MAX_LOCAL`], at most [`MAX_BATCH`]) packed
/// as a [`RUN`] call carries them.
pub fn pack_locals(locals: &[u8]) -> u32 {
    locals
        .iter()
        .take(MAX_BATCH)
        .enumerate()
        .fold(0, |packed, (i, local)| {
            packed | u32::from(*local & 0xF) << (4 * i)
        })
}

/// A [`RUN`] call's fields: the tick, how many tasks, and their packed
/// local indices ([`local_at`]); `None` for any other call.
#[inline]
pub fn run_fields(words: [u32; 3]) -> Option<(u32, usize, u32)> {
    let count = (words[0] >> 24) as usize;
    (words[0] & 0xFF_FFFF == RUN && (1..=MAX_BATCH).contains(&count))
        .then_some((words[1], count, words[2]))
}

/// The local index of the `i`-th task of a batch (packed as in [`RUN`]).
#[inline]
pub fn local_at(packed: u32, i: usize) -> usize {
    (packed >> (4 * i) & 0xF) as usize
}

/// The reply to a [`RUN`] call of `count` tasks: bit `i` of `completed` if
/// the `i`-th returned [`Outcome::Completed`]; `ends[i]` = the cycle
/// counter as the `i`-th ended, for each but the last (the scheduler has
/// the kernel's count at the reply for that one). Word 1 = the first end,
/// then the distances between ends in 16 bits each (word 2, then word 0's
/// upper half): a batch is only sent when a whole LL tick is shorter than
/// 2^15 cycles (longer runs are cut off), so they fit. A one-task reply is
/// its [`Outcome`] in word 0.
pub fn batch_reply(completed: u32, ends: &[u32]) -> [u32; 3] {
    let gap = |i: usize| match (ends.get(i), i.checked_sub(1).and_then(|j| ends.get(j))) {
        (Some(end), Some(before)) => end.wrapping_sub(*before).min(0xFFFF),
        _ => 0,
    };
    [
        (completed & 0xFF) | gap(3) << 16,
        ends.first().copied().unwrap_or(0),
        gap(1) | gap(2) << 16,
    ]
}

/// Which tasks of a batch completed (bit `i`: the `i`-th), from a reply.
#[inline]
pub fn batch_completed(words: [u32; 3], count: usize) -> u32 {
    words[0] & ((1 << count.min(8)) - 1)
}

/// The cycles each of the `count` tasks of a batch took, from its reply
/// `words`, in order: the batch ran from cycle count `start` (the call) to
/// `end` (the reply); a task's share runs from the previous end to its
/// own. The ends a client reports are kept in order within `start..=end`.
/// (An iterator, not an array: nothing to fill or copy on the tick path.)
#[inline]
pub fn batch_cycles(words: [u32; 3], count: usize, start: u32, end: u32) -> BatchCycles {
    BatchCycles {
        gaps: [words[2] & 0xFFFF, words[2] >> 16, words[0] >> 16],
        count: count.clamp(1, MAX_BATCH),
        next: 0,
        total: end.wrapping_sub(start),
        previous: 0,
        offset: words[1].wrapping_sub(start),
    }
}

/// [`batch_cycles`].
#[derive(Clone, Copy, Debug)]
pub struct BatchCycles {
    gaps: [u32; 3],
    count: usize,
    next: usize,
    total: u32,
    /// Where the last task ended, from the start.
    previous: u32,
    /// Where the client says the next one ended, from the start.
    offset: u32,
}

impl Iterator for BatchCycles {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        let i = self.next;
        if i >= self.count {
            return None;
        }
        self.next += 1;
        let at = if i + 1 == self.count {
            self.total
        } else {
            if i > 0 {
                self.offset = self.offset.wrapping_add(self.gaps[i - 1]);
            }
            // (An end before `start` reads as a wrapped, huge offset.)
            let at = if (self.offset as i32) < 0 {
                0
            } else {
                self.offset.min(self.total)
            };
            at.max(self.previous)
        };
        let share = at - self.previous;
        self.previous = at;
        Some(share)
    }
}

/// The budget of a run: a run called in the LL tick that began on kernel
/// tick `tick` must reply before kernel tick `budget_end(tick, period)`,
/// the start of the next LL tick (`period` kernel ticks per LL tick). The
/// scheduler calls with that deadline (`CallTimeout`'s, in kernel ticks)
/// and stops waiting then; a client
/// whose handler returns at or after it knows its reply is lost and says
/// [`Op::Resume`].
#[inline]
pub fn budget_end(tick: u32, period: u32) -> u32 {
    let period = period.max(1);
    // The LL tick's start plus a period, at most the end of time (no
    // 64-bit multiply: this is on every tick's path).
    (tick - tick % period).saturating_add(period)
}

/// What a task's run returns (SOF's RESCHEDULE / COMPLETED).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Outcome {
    /// Run again at the task's next period.
    Reschedule = 0,
    /// Done: the task completes.
    Completed = 1,
}

impl Outcome {
    /// Decode a reply word (anything unknown completes the task: a
    /// confused owner does not keep running).
    pub fn from_raw(raw: u32) -> Outcome {
        if raw == Outcome::Reschedule as u32 {
            Outcome::Reschedule
        } else {
            Outcome::Completed
        }
    }
}

/// A task's state (SOF's, plus COMPLETED).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum TaskState {
    /// Made, not queued.
    Init = 0,
    /// Runs on its ticks.
    Queued = 1,
    /// Running now.
    Running = 2,
    /// Cancelled: never runs again unless scheduled anew.
    Cancelled = 3,
    /// Returned COMPLETED.
    Completed = 4,
}

impl TaskState {
    /// Decode.
    pub fn from_raw(raw: u32) -> Option<TaskState> {
        [
            TaskState::Init,
            TaskState::Queued,
            TaskState::Running,
            TaskState::Cancelled,
            TaskState::Completed,
        ]
        .into_iter()
        .find(|state| *state as u32 == raw)
    }
}

/// What happens when a task overruns its tick (runs past the next one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Policy {
    /// Count it and print a line.
    Log = 0,
    /// Also skip the task's next run, to let the tick catch up.
    Skip = 1,
    /// Also signal the supervisor notification.
    Notify = 2,
}

impl Policy {
    /// Decode.
    pub fn from_raw(raw: u32) -> Option<Policy> {
        [Policy::Log, Policy::Skip, Policy::Notify]
            .into_iter()
            .find(|policy| *policy as u32 == raw)
    }
}

/// Errors of the LL API, in word 0 of the reply (0 is success).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum LlError {
    /// No task has this id.
    UnknownTask = 1,
    /// The task belongs to another client.
    NotOwner = 2,
    /// The task is already queued or running.
    AlreadyScheduled = 3,
    /// Priority above [`MAX_PRIORITY`].
    BadPriority = 4,
    /// Period zero, phase not below the period, or unknown policy.
    BadPeriod = 5,
    /// The client has not registered its task endpoint.
    NotRegistered = 6,
    /// The task table is full.
    TooManyTasks = 7,
    /// The request does not exist.
    UnknownOp = 8,
    /// Registering failed: no endpoint capability came with it, or the
    /// scheduler has no room for another client.
    BadRegistration = 9,
    /// The scheduler cannot be reached (transport error).
    Unreachable = 10,
    /// The scheduler restarted while the request was in flight (the
    /// kernel's `PeerRestarted`): its new instance knows nothing of this
    /// client. The `ll` library registers again, makes its tasks again and
    /// retries by itself ([`crate::book`]); a client sees it only if that
    /// keeps failing.
    Restarted = 11,
}

impl LlError {
    /// Every error.
    pub const ALL: [LlError; 11] = [
        LlError::UnknownTask,
        LlError::NotOwner,
        LlError::AlreadyScheduled,
        LlError::BadPriority,
        LlError::BadPeriod,
        LlError::NotRegistered,
        LlError::TooManyTasks,
        LlError::UnknownOp,
        LlError::BadRegistration,
        LlError::Unreachable,
        LlError::Restarted,
    ];

    /// Whether the scheduler this client talks to has forgotten it: it
    /// restarted with the request in flight ([`LlError::Restarted`]), or a
    /// new instance (or one that dropped this client) does not know it
    /// ([`LlError::NotRegistered`]). Either way the client registers again.
    pub fn forgotten(self) -> bool {
        matches!(self, LlError::Restarted | LlError::NotRegistered)
    }

    /// Decode a status word: `Ok(())` for 0.
    pub fn check(status: u32) -> Result<(), LlError> {
        if status == 0 {
            return Ok(());
        }
        Err(Self::ALL
            .into_iter()
            .find(|error| *error as u32 == status)
            .unwrap_or(LlError::Unreachable))
    }
}

/// Lowest LL priority (0 runs first).
pub const MAX_PRIORITY: u8 = 31;

/// Pack an `Init` request's words 1 and 2.
pub fn init_words(priority: u8, policy: Policy, period: u16, phase: u16) -> [u32; 2] {
    [
        u32::from(priority) | (policy as u32) << 8,
        u32::from(period) | u32::from(phase) << 16,
    ]
}

/// Unpack an `Init` request: priority, policy (raw), period, phase.
pub fn init_fields(words: [u32; 2]) -> (u32, u32, u32, u32) {
    (
        words[0] & 0xFF,
        (words[0] >> 8) & 0xFF,
        words[1] & 0xFFFF,
        words[1] >> 16,
    )
}

#[cfg(test)]
mod tests {
    use super::{
        LlError, Op, Outcome, Policy, RUN, TaskState, batch_completed, batch_cycles, batch_reply,
        budget_end, init_fields, init_words, local_at, pack_locals, run_fields, run_words,
    };

    #[test]
    fn codes_round_trip() {
        for op in 0..10 {
            assert_eq!(Op::from_raw(op).map(|op| op as u32), Some(op));
        }
        assert_eq!(Op::from_raw(10), None);
        for error in LlError::ALL {
            assert_eq!(LlError::check(error as u32), Err(error));
        }
        assert_eq!(LlError::check(0), Ok(()));
        assert_eq!(TaskState::from_raw(4), Some(TaskState::Completed));
        assert_eq!(Policy::from_raw(2), Some(Policy::Notify));
        assert_eq!(Outcome::from_raw(0), Outcome::Reschedule);
        assert_eq!(Outcome::from_raw(77), Outcome::Completed);
    }

    #[test]
    fn a_run_must_reply_by_the_start_of_the_next_ll_tick() {
        // One kernel tick per LL tick: the next kernel tick.
        assert_eq!(budget_end(41, 1), 42);
        // Four per LL tick: the next multiple of four, wherever in the LL
        // tick the run was called.
        assert_eq!(budget_end(40, 4), 44);
        assert_eq!(budget_end(43, 4), 44);
        assert_eq!(budget_end(7, 0), 8, "a zero period counts as one");
        assert_eq!(
            budget_end(u32::MAX, 1),
            u32::MAX,
            "no wrap at the end of time"
        );
        // As `(tick / period + 1) * period`, saturated, in every case.
        let old = |tick: u32, period: u32| (tick / period).saturating_add(1).saturating_mul(period);
        for period in [1, 2, 3, 4, 7, 255, 1000, u32::MAX / 2, u32::MAX] {
            for tick in [
                0,
                1,
                5,
                41,
                999,
                u32::MAX / 2,
                u32::MAX - 300,
                u32::MAX - 1,
                u32::MAX,
            ] {
                assert_eq!(
                    budget_end(tick, period),
                    old(tick, period),
                    "{tick} {period}"
                );
            }
        }
    }

    #[test]
    fn a_run_call_names_up_to_five_tasks_by_local_index() {
        let words = run_words(77, 5, pack_locals(&[3, 15, 0, 9, 1]));
        let (tick, count, packed) = run_fields(words).unwrap();
        assert_eq!((tick, count), (77, 5));
        let locals: Vec<usize> = (0..count).map(|i| local_at(packed, i)).collect();
        assert_eq!(locals, vec![3, 15, 0, 9, 1]);
        assert_eq!(
            run_fields(run_words(5, 1, pack_locals(&[2]))),
            Some((5, 1, 2))
        );
        assert_eq!(run_fields([RUN, 1, 2]), None, "no count");
        assert_eq!(run_fields([RUN | 6 << 24, 1, 2]), None, "too many");
        assert_eq!(run_fields([0x1234, 1, 2]), None);
    }

    #[test]
    fn a_batch_reply_gives_each_task_its_own_cycles() {
        // Five tasks from cycle 1,000 (the call) to 2,000 (the reply):
        // they ended at 1,100, 1,150, 1,400 and 1,410.
        let reply = batch_reply(0b10010, &[1_100, 1_150, 1_400, 1_410]);
        assert_eq!(batch_completed(reply, 5), 0b10010);
        let cycles = |words, count, start, end| -> Vec<u32> {
            batch_cycles(words, count, start, end).collect()
        };
        assert_eq!(cycles(reply, 5, 1_000, 2_000), [100, 50, 250, 10, 590]);
        // Across the wrap of the cycle counter.
        let base = u32::MAX - 120;
        let ends = [base.wrapping_add(100), base.wrapping_add(300)];
        let reply = batch_reply(0b1, &ends);
        assert_eq!(
            cycles(reply, 3, base, base.wrapping_add(1_000)),
            [100, 200, 700]
        );
        // One task: its outcome in word 0, the whole call its cost.
        let single = [Outcome::Completed as u32, 0, 0];
        assert_eq!(batch_completed(single, 1), 1);
        assert_eq!(cycles(single, 1, 10, 60), [50]);
        assert_eq!(batch_completed([Outcome::Reschedule as u32, 0, 0], 1), 0);
        // Ends a client made up stay within the call, in order.
        let liar = batch_reply(0, &[5_000, 4_000]);
        assert_eq!(cycles(liar, 3, 1_000, 2_000), [1_000, 0, 0]);
        let early = batch_reply(0, &[900, 950]);
        assert_eq!(cycles(early, 3, 1_000, 2_000), [0, 0, 1_000]);
    }

    #[test]
    fn init_requests_pack_into_two_words() {
        let words = init_words(17, Policy::Skip, 4, 3);
        assert_eq!(init_fields(words), (17, 1, 4, 3));
    }
}
