//! Client library of the LL scheduler (`ll-sched`). A service registers the
//! endpoint the scheduler calls to run its tasks, makes tasks, queues them,
//! then serves: each tick, `ll-sched` calls it for its due tasks and the
//! handler runs here, in the owner's own address space. Consecutive due
//! tasks of this service come in one call (a batch), run in order; a
//! service that holds a clock capability reads the cycle counter after
//! each task but the last of a batch, and the reply tells the scheduler
//! when each ended (a service without one gets one task per call, timed
//! by the scheduler alone).
//!
//! A run has a budget: the end of the LL tick it was called in. The
//! scheduler stops waiting for a handler that has not returned by then (the
//! kernel drops its late reply) and calls none of this service's tasks
//! until it hears from it again; [`Scheduler::serve`] sees the lateness on
//! the kernel's tick count and tells the scheduler ([`Op::Resume`], with the
//! late outcome) before it receives the next call. It reads the tick count
//! again after each reply, since the budget may end while it replies.
//!
//! ```ignore
//! let ll = ll::Scheduler::connect(LL, TASKS)?;
//! let task = ll::Task::new(0, 1).phase(0).create(&ll)?;
//! task.schedule()?;
//! ll.serve(TASKS, |run| if run.count == 4 { Outcome::Completed } else { Outcome::Reschedule });
//! ```

#![no_std]
#![forbid(unsafe_code)]

use core::cell::Cell;

pub use ll_core::proto::{LlError, Outcome, Policy, TaskState};
use ll_core::proto::{
    MAX_BATCH, MAX_LOCAL, Op, REGISTER_BATCHES, batch_reply, init_words, local_at, run_fields,
};
use sotto_rt::Rights;
use sotto_rt::cap::Slot;
use sotto_rt::ipc::{self, Message};

/// A task id no task has (a `Resume` that completes nothing).
const NO_TASK: u32 = u32::MAX;

/// The slot `connect` uses for a moment (the last one).
pub const SCRATCH_SLOT: Slot = 31;

/// A connection to the scheduler.
pub struct Scheduler {
    endpoint: Slot,
    live: Cell<u32>,
    /// Kernel ticks per LL tick (from the registration's reply).
    period: u32,
    /// This service's task ids by local index (the scheduler's calls name
    /// tasks by it).
    ids: [Cell<u32>; MAX_LOCAL],
    /// Whether it runs batches (it may read the cycle counter).
    batches: bool,
}

fn request(
    endpoint: Slot,
    op: Op,
    words: [u32; 2],
    cap: Option<Slot>,
) -> Result<[u32; 3], LlError> {
    let message = Message {
        words: [op as u32, words[0], words[1]],
        len: 0,
        cap,
    };
    let reply = ipc::call(endpoint, &message, None).map_err(|_| LlError::Unreachable)?;
    LlError::check(reply.message.words[0])?;
    Ok(reply.message.words)
}

impl Scheduler {
    /// Register with the scheduler at `endpoint` (SEND). `task_endpoint`
    /// is this service's endpoint capability with SEND + GRANT: the
    /// scheduler gets a copy and calls it to run this service's tasks.
    /// The scheduler keeps only SEND on it (a copy made in slot
    /// [`SCRATCH_SLOT`], which is free again afterwards).
    pub fn connect(endpoint: Slot, task_endpoint: Slot) -> Result<Scheduler, LlError> {
        sotto_rt::cap::derive(task_endpoint, SCRATCH_SLOT, Rights::SEND | Rights::GRANT, 0)
            .map_err(|_| LlError::BadRegistration)?;
        // Batches need each task's end: only with the cycle counter.
        let batches = sotto_rt::sys::try_cycles().is_ok();
        let flags = if batches { REGISTER_BATCHES } else { 0 };
        let registered = request(endpoint, Op::Register, [flags, 0], Some(SCRATCH_SLOT));
        let _ = sotto_rt::cap::delete(SCRATCH_SLOT);
        let words = registered?;
        Ok(Scheduler {
            endpoint,
            live: Cell::new(0),
            period: words[1].max(1),
            ids: core::array::from_fn(|_| Cell::new(NO_TASK)),
            batches,
        })
    }

    /// Kernel ticks per LL tick, as the scheduler said at registration.
    pub fn period_ticks(&self) -> u32 {
        self.period
    }

    fn call(&self, op: Op, words: [u32; 2]) -> Result<[u32; 3], LlError> {
        request(self.endpoint, op, words, None)
    }

    /// Serve this service's tasks until each one scheduled has completed:
    /// every call of the scheduler runs `handler` with the task and tick.
    /// A handler that returns after its run's budget (the end of the LL
    /// tick) lost its reply: the scheduler is told, with the outcome, and
    /// the next call is received as usual.
    ///
    /// It starts by telling the scheduler it listens: a run called before
    /// this service got here (a task scheduled, then other work) waited
    /// in vain until the end of its LL tick, and the scheduler would call
    /// none of its tasks again.
    pub fn serve(
        &self,
        task_endpoint: Slot,
        mut handler: impl FnMut(Run) -> Outcome,
    ) -> Result<(), LlError> {
        self.call(Op::Resume, [NO_TASK, Outcome::Reschedule as u32])?;
        let mut counts = [0u32; MAX_LOCAL];
        // The cycle counts as each task but a batch's last ended: a batch
        // of `count` replies with the first `count - 1`, all written by
        // its runs (so not cleared for each call).
        let mut ends = [0u32; MAX_BATCH - 1];
        let mut call = ipc::receive(task_endpoint, None).map_err(|_| LlError::Unreachable)?;
        loop {
            // What the handlers returned: bit `i` for the batch's `i`-th
            // task that completed, bit `local` for each such task; the
            // first task and its outcome (for a lost reply).
            let (mut completed, mut locals_done) = (0u32, 0u32);
            let (mut first, mut first_outcome) = (NO_TASK, Outcome::Completed);
            let mut count = 0;
            if let Some((tick, tasks, packed)) = run_fields(call.message.words) {
                count = tasks;
                for i in 0..tasks {
                    let local = local_at(packed, i);
                    let runs = &mut counts[local];
                    *runs += 1;
                    let task = self.ids[local].get();
                    let outcome = handler(Run {
                        task,
                        tick,
                        count: *runs,
                    });
                    if i == 0 {
                        (first, first_outcome) = (task, outcome);
                    }
                    if outcome == Outcome::Completed {
                        completed |= 1 << i;
                        locals_done |= 1 << local;
                        self.live.set(self.live.get().saturating_sub(1));
                    }
                    if i + 1 < tasks
                        && let Some(end) = ends.get_mut(i)
                    {
                        *end = sotto_rt::sys::cycles();
                    }
                }
            } else {
                // Not a run: answered as one that completed.
                completed = 1;
            }
            let reply = Message {
                words: batch_reply(completed, &ends[..count.saturating_sub(1)]),
                len: 0,
                cap: None,
            };
            if self.live.get() == 0 {
                return ipc::reply(&reply)
                    .map(drop)
                    .map_err(|_| LlError::Unreachable);
            }
            // The kernel says whether the reply reached the scheduler: a
            // run past its budget was cut off there and its reply dropped;
            // then say we listen again, with what the lost reply said (the
            // scheduler stalls this client's tasks until we do), and only
            // then wait for the next call.
            match ipc::reply_receive_unless_dropped(task_endpoint, &reply, None) {
                Ok(Some(next)) => call = next,
                Ok(None) => {
                    self.call(Op::Resume, [first, first_outcome as u32 | locals_done << 8])?;
                    call = ipc::receive(task_endpoint, None).map_err(|_| LlError::Unreachable)?;
                }
                Err(_) => return Err(LlError::Unreachable),
            }
        }
    }

    /// Whether this service runs several tasks in one call of the
    /// scheduler (it holds a clock capability to time each).
    pub fn batches(&self) -> bool {
        self.batches
    }
}

/// One run of a task, as the handler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// The task.
    pub task: u32,
    /// The kernel tick it runs on.
    pub tick: u32,
    /// How many times this task has run, this one included.
    pub count: u32,
}

/// How to make a task.
#[derive(Clone, Copy, Debug)]
pub struct TaskBuilder {
    priority: u8,
    period: u16,
    phase: u16,
    policy: Policy,
}

/// A task of this service.
pub struct Task<'s> {
    scheduler: &'s Scheduler,
    /// Its id at the scheduler.
    pub id: u32,
}

impl Task<'_> {
    /// A task of LL priority `priority` (0 runs first) that runs every
    /// `period_ticks` ticks.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(priority: u8, period_ticks: u16) -> TaskBuilder {
        TaskBuilder {
            priority,
            period: period_ticks,
            phase: 0,
            policy: Policy::Log,
        }
    }
}

impl TaskBuilder {
    /// Run on ticks `t` with `t % period == phase`.
    pub fn phase(self, phase: u16) -> Self {
        TaskBuilder { phase, ..self }
    }

    /// What to do when it overruns its tick.
    pub fn on_overrun(self, policy: Policy) -> Self {
        TaskBuilder { policy, ..self }
    }

    /// Make it (state INIT).
    pub fn create(self, scheduler: &Scheduler) -> Result<Task<'_>, LlError> {
        let words = scheduler.call(
            Op::Init,
            init_words(self.priority, self.policy, self.period, self.phase),
        )?;
        if let Some(slot) = scheduler.ids.get(words[2] as usize) {
            slot.set(words[1]);
        }
        Ok(Task {
            scheduler,
            id: words[1],
        })
    }
}

impl Task<'_> {
    /// Queue it: it runs from the next tick it is due.
    pub fn schedule(&self) -> Result<(), LlError> {
        self.scheduler.call(Op::Schedule, [self.id, 0])?;
        self.scheduler.live.set(self.scheduler.live.get() + 1);
        Ok(())
    }

    /// Cancel it: it does not run again.
    pub fn cancel(&self) -> Result<(), LlError> {
        self.scheduler.call(Op::Cancel, [self.id, 0])?;
        self.scheduler
            .live
            .set(self.scheduler.live.get().saturating_sub(1));
        Ok(())
    }

    /// Forget it.
    pub fn free(self) -> Result<(), LlError> {
        self.scheduler.call(Op::Free, [self.id, 0]).map(drop)
    }

    /// Its state.
    pub fn state(&self) -> Result<TaskState, LlError> {
        let words = self.scheduler.call(Op::State, [self.id, 0])?;
        TaskState::from_raw(words[1]).ok_or(LlError::Unreachable)
    }

    /// Runs and overruns so far.
    pub fn counts(&self) -> Result<(u32, u32), LlError> {
        let words = self.scheduler.call(Op::Counts, [self.id, 0])?;
        Ok((words[1], words[2]))
    }

    /// Due runs that did not happen: ticks the scheduler missed, or runs
    /// left out while this service was stalled after a late run.
    pub fn missed(&self) -> Result<u32, LlError> {
        Ok(self.scheduler.call(Op::Missed, [self.id, 0])?[1])
    }

    /// Average and longest run, in cycles.
    pub fn cycles(&self) -> Result<(u32, u32), LlError> {
        let words = self.scheduler.call(Op::Cycles, [self.id, 0])?;
        Ok((words[1], words[2]))
    }
}

/// A raw request by task id, for tests of the scheduler's checks (another
/// client's task, unknown ids).
pub fn raw_request(scheduler: &Scheduler, op: u32, words: [u32; 2]) -> Result<[u32; 3], LlError> {
    raw_request_at(scheduler.endpoint, op, words)
}

/// A raw request to the scheduler at endpoint slot `endpoint`, without
/// registering (for tests of `NotRegistered`).
pub fn raw_request_at(endpoint: Slot, op: u32, words: [u32; 2]) -> Result<[u32; 3], LlError> {
    let message = Message {
        words: [op, words[0], words[1]],
        len: 0,
        cap: None,
    };
    let reply = ipc::call(endpoint, &message, None).map_err(|_| LlError::Unreachable)?;
    LlError::check(reply.message.words[0])?;
    Ok(reply.message.words)
}
