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
//! The library survives a restart of `ll-sched` by itself: it keeps a
//! book of this service's tasks (`ll_core::book`: each task's priority,
//! period, phase and overrun policy, whether it is queued, its id and
//! local index at the scheduler). When the scheduler turns out to have
//! forgotten this service — a request in flight fails with the kernel's
//! `PeerRestarted`, a later one is answered `NotRegistered`, or `serve`'s
//! wait for the next run wakes with `PeerRestarted` (the restarted
//! scheduler's copy of the task endpoint is gone) — it registers again,
//! makes every task again, queues again those that were queued (in their
//! order), retries the request and goes on serving; one console line says
//! so. Task handles keep working: a [`Task`] names its place in the book,
//! and its id at the scheduler is looked up ([`Task::id`]). [`Run::count`]
//! goes on across the restart (runs since the task was made); what the
//! scheduler counts ([`Task::counts`], [`Task::cycles`], [`Task::missed`])
//! starts again from zero with the new instance.
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

use ll_core::book::{Book, Params, Transport};
pub use ll_core::book::{NO_TASK, Replayed};
pub use ll_core::proto::{LlError, Outcome, Policy, TaskState};
use ll_core::proto::{MAX_BATCH, Op, REGISTER_BATCHES, batch_reply, local_at, run_fields};
use sotto_rt::cap::Slot;
use sotto_rt::ipc::{self, Message, Received};
use sotto_rt::{Error, Rights, println};

/// The slot `connect` uses for a moment (the last one).
pub const SCRATCH_SLOT: Slot = 31;

/// A connection to the scheduler.
pub struct Scheduler {
    endpoint: Slot,
    /// This service's task endpoint (registered again after a restart of
    /// the scheduler).
    task_endpoint: Slot,
    /// Kernel ticks per LL tick (from the registration's reply).
    period: Cell<u32>,
    /// Whether it runs batches (it may read the cycle counter).
    batches: bool,
    /// This service's tasks: what making them again takes, their ids by
    /// local index (the scheduler's calls name tasks by it), their runs.
    book: Book,
}

/// A kernel error of a call to the scheduler, as the library sees it.
fn transport_error(error: Error) -> LlError {
    if error == Error::PeerRestarted {
        LlError::Restarted
    } else {
        LlError::Unreachable
    }
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
    let reply = ipc::call(endpoint, &message, None).map_err(transport_error)?;
    LlError::check(reply.message.words[0])?;
    Ok(reply.message.words)
}

/// Register `task_endpoint` with the scheduler at `endpoint`: the reply's
/// kernel ticks per LL tick.
fn register(endpoint: Slot, task_endpoint: Slot, batches: bool) -> Result<u32, LlError> {
    sotto_rt::cap::derive(task_endpoint, SCRATCH_SLOT, Rights::SEND | Rights::GRANT, 0)
        .map_err(|_| LlError::BadRegistration)?;
    let flags = if batches { REGISTER_BATCHES } else { 0 };
    let registered = request(endpoint, Op::Register, [flags, 0], Some(SCRATCH_SLOT));
    let _ = sotto_rt::cap::delete(SCRATCH_SLOT);
    Ok(registered?[1].max(1))
}

impl Transport for Scheduler {
    fn request(&self, op: Op, words: [u32; 2]) -> Result<[u32; 3], LlError> {
        request(self.endpoint, op, words, None)
    }

    fn register(&self) -> Result<(), LlError> {
        self.period
            .set(register(self.endpoint, self.task_endpoint, self.batches)?);
        Ok(())
    }

    fn reconnected(&self, replayed: &Replayed) {
        println!(
            "ll: ll-sched restarted: registered again, {} task(s) made again, {} queued again{}",
            replayed.made,
            replayed.queued,
            if replayed.lost > 0 {
                " (some refused)"
            } else {
                ""
            }
        );
    }
}

impl Scheduler {
    /// Register with the scheduler at `endpoint` (SEND). `task_endpoint`
    /// is this service's endpoint capability with SEND + GRANT: the
    /// scheduler gets a copy and calls it to run this service's tasks.
    /// The scheduler keeps only SEND on it (a copy made in slot
    /// [`SCRATCH_SLOT`], which is free again afterwards). Registering
    /// again (a second connection of the same service) replaces the
    /// registration: the scheduler drops the tasks of the earlier one.
    pub fn connect(endpoint: Slot, task_endpoint: Slot) -> Result<Scheduler, LlError> {
        // Batches need each task's end: only with the cycle counter.
        let batches = sotto_rt::sys::try_cycles().is_ok();
        let period = register(endpoint, task_endpoint, batches)?;
        Ok(Scheduler {
            endpoint,
            task_endpoint,
            period: Cell::new(period),
            batches,
            book: Book::new(),
        })
    }

    /// Kernel ticks per LL tick, as the scheduler said at registration.
    pub fn period_ticks(&self) -> u32 {
        self.period.get()
    }

    /// How many times this connection registered again by itself (the
    /// scheduler restarted, or had dropped this service).
    pub fn reconnections(&self) -> u32 {
        self.book.restarts()
    }

    /// Wait for the scheduler's next call; if the scheduler restarted
    /// meanwhile (the kernel wakes the wait: no one else can call the
    /// task endpoint), register again, replay the tasks, say we listen
    /// and wait again.
    fn next_call(&self) -> Result<Received, LlError> {
        loop {
            match ipc::receive(self.task_endpoint, None) {
                Ok(call) => return Ok(call),
                Err(Error::PeerRestarted) => self.again()?,
                Err(_) => return Err(LlError::Unreachable),
            }
        }
    }

    /// The reply to a run did not reach the scheduler (`Ok`: it was cut
    /// off at its budget, or restarted under it) or the wait for the next
    /// call failed (`Err`): say we listen again, with what the lost reply
    /// said (`words`: the scheduler stalls this client's tasks until we
    /// do), registering again if the scheduler restarted, and wait for the
    /// next call. (Out of line: not the hot path, and `serve` is made once
    /// per handler.)
    #[inline(never)]
    fn after_lost_reply(
        &self,
        result: Result<(), Error>,
        words: [u32; 2],
    ) -> Result<Received, LlError> {
        match result {
            Ok(()) => self.book.listen(self, words)?,
            Err(Error::PeerRestarted) => self.again()?,
            Err(_) => return Err(LlError::Unreachable),
        }
        self.next_call()
    }

    /// Register again after a restart, then say we listen.
    #[inline(never)]
    fn again(&self) -> Result<(), LlError> {
        self.book.reconnect(self)?;
        self.book
            .listen(self, [NO_TASK, Outcome::Reschedule as u32])
    }

    /// Serve this service's tasks until each one scheduled has completed:
    /// every call of the scheduler runs `handler` with the task and tick.
    /// A handler that returns after its run's budget (the end of the LL
    /// tick) lost its reply: the scheduler is told, with the outcome, and
    /// the next call is received as usual. If the scheduler restarts,
    /// the tasks are made and queued again and serving goes on (see the
    /// crate's documentation).
    ///
    /// It starts by telling the scheduler it listens: a run called before
    /// this service got here (a task scheduled, then other work) waited
    /// in vain until the end of its LL tick, and the scheduler would call
    /// none of its tasks again.
    ///
    /// `task_endpoint` is the endpoint given to [`connect`](Self::connect)
    /// (the connection keeps it, to register it again after a restart;
    /// the argument stays for callers that name it).
    pub fn serve(
        &self,
        task_endpoint: Slot,
        mut handler: impl FnMut(Run) -> Outcome,
    ) -> Result<(), LlError> {
        let _ = task_endpoint;
        self.book
            .listen(self, [NO_TASK, Outcome::Reschedule as u32])?;
        // The cycle counts as each task but a batch's last ended: a batch
        // of `count` replies with the first `count - 1`, all written by
        // its runs (so not cleared for each call).
        let mut ends = [0u32; MAX_BATCH - 1];
        let mut call = self.next_call()?;
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
                    let (task, runs) = self.book.run(local);
                    let outcome = handler(Run {
                        task,
                        tick,
                        count: runs,
                    });
                    if i == 0 {
                        (first, first_outcome) = (task, outcome);
                    }
                    if outcome == Outcome::Completed {
                        completed |= 1 << i;
                        locals_done |= 1 << local;
                        self.book.completed(local);
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
            if self.book.live() == 0 {
                // (A reply the scheduler never gets, as it restarted, is
                // no loss: nothing is left to run.)
                let _ = ipc::reply(&reply).map_err(transport_error)?;
                return Ok(());
            }
            // The kernel says whether the reply reached the scheduler: a
            // run past its budget was cut off there and its reply dropped
            // (or the scheduler restarted under it); then say we listen
            // again, with what the lost reply said (the scheduler stalls
            // this client's tasks until we do), and only then wait for
            // the next call.
            call = match ipc::reply_receive_unless_dropped(self.task_endpoint, &reply, None) {
                Ok(Some(next)) => next,
                other => self.after_lost_reply(
                    other.map(drop),
                    [first, first_outcome as u32 | locals_done << 8],
                )?,
            };
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
    /// The task's id at the scheduler (as [`Task::id`] says now: it
    /// changes when a restarted scheduler makes the task again).
    pub task: u32,
    /// The kernel tick it runs on.
    pub tick: u32,
    /// How many times this task has run, this one included: since it was
    /// made, across restarts of the scheduler (the handler's runs, which
    /// the scheduler's own count, restarting from zero with it, is not).
    pub count: u32,
}

/// How to make a task.
#[derive(Clone, Copy, Debug)]
pub struct TaskBuilder {
    params: Params,
}

/// A task of this service: its place in the library's book (which stays
/// the same when a restarted scheduler makes it again under another id).
pub struct Task<'s> {
    scheduler: &'s Scheduler,
    handle: u8,
}

impl Task<'_> {
    /// A task of LL priority `priority` (0 runs first) that runs every
    /// `period_ticks` ticks.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(priority: u8, period_ticks: u16) -> TaskBuilder {
        TaskBuilder {
            params: Params {
                priority,
                period: period_ticks,
                phase: 0,
                policy: Policy::Log,
            },
        }
    }

    /// Its id at the scheduler now ([`NO_TASK`] once freed).
    pub fn id(&self) -> u32 {
        self.scheduler.book.id(self.handle)
    }

    /// Its place among this service's tasks (the same for its whole life).
    pub fn handle(&self) -> u8 {
        self.handle
    }

    /// Runs its handler was told of so far ([`Run::count`] of the last).
    pub fn runs(&self) -> u32 {
        self.scheduler.book.runs(self.handle)
    }
}

impl TaskBuilder {
    /// Run on ticks `t` with `t % period == phase`.
    pub fn phase(mut self, phase: u16) -> Self {
        self.params.phase = phase;
        self
    }

    /// What to do when it overruns its tick.
    pub fn on_overrun(mut self, policy: Policy) -> Self {
        self.params.policy = policy;
        self
    }

    /// Make it (state INIT).
    pub fn create(self, scheduler: &Scheduler) -> Result<Task<'_>, LlError> {
        let handle = scheduler.book.create(scheduler, self.params)?;
        Ok(Task { scheduler, handle })
    }
}

impl Task<'_> {
    fn request(&self, op: Op) -> Result<[u32; 3], LlError> {
        self.scheduler
            .book
            .task_request(self.scheduler, op, self.handle, 0)
    }

    /// Queue it: it runs from the next tick it is due.
    pub fn schedule(&self) -> Result<(), LlError> {
        self.scheduler.book.schedule(self.scheduler, self.handle)
    }

    /// Cancel it: it does not run again.
    pub fn cancel(&self) -> Result<(), LlError> {
        self.scheduler.book.cancel(self.scheduler, self.handle)
    }

    /// Forget it.
    pub fn free(self) -> Result<(), LlError> {
        self.scheduler.book.free(self.scheduler, self.handle)
    }

    /// Its state.
    pub fn state(&self) -> Result<TaskState, LlError> {
        let words = self.request(Op::State)?;
        TaskState::from_raw(words[1]).ok_or(LlError::Unreachable)
    }

    /// Runs and overruns so far (counted by the scheduler: from zero
    /// again after it restarts).
    pub fn counts(&self) -> Result<(u32, u32), LlError> {
        let words = self.request(Op::Counts)?;
        Ok((words[1], words[2]))
    }

    /// Due runs that did not happen: ticks the scheduler missed, or runs
    /// left out while this service was stalled after a late run.
    pub fn missed(&self) -> Result<u32, LlError> {
        Ok(self.request(Op::Missed)?[1])
    }

    /// Average and longest run, in cycles.
    pub fn cycles(&self) -> Result<(u32, u32), LlError> {
        let words = self.request(Op::Cycles)?;
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
    let reply = ipc::call(endpoint, &message, None).map_err(transport_error)?;
    LlError::check(reply.message.words[0])?;
    Ok(reply.message.words)
}
