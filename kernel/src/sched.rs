//! Threads and the scheduler: preemptive fixed priorities (0 is the most
//! urgent); within a priority, earliest deadline first (EDF), then the
//! threads without a deadline, FIFO and round-robin at tick boundaries.
//! Sleeps and wait timeouts sit in a [`DeadlineQueue`], so a tick looks
//! only at what is due. Plain data, no hardware: the kernel binary drives
//! it from traps.
//!
//! # Deadlines (mechanism only)
//!
//! A thread's deadline is an absolute 64-bit time that the kernel only
//! compares, never reads a clock for: [`NO_DEADLINE`] (`u64::MAX`) is
//! none. The convention (`sotto_abi::syscall::Syscall::ThreadDeadline`) is
//! CCOUNT cycles extended to 64 bits, finer than the tick (a 2 ms and a
//! 20 ms block differ by 20,000 and 200,000 cycles at 10 MHz). Each run
//! queue is kept sorted by deadline, FIFO among equal ones (so threads
//! without a deadline, all at `u64::MAX`, come last, in arrival order):
//! the head of a queue is the thread EDF picks, and the entry's express
//! paths, which only ever take the head of a queue or a thread with no
//! ready rival at least as urgent, need not know about deadlines. The one
//! express path that would put a thread back into a queue (the yield)
//! declines while any thread has a deadline ([`EDF`] in the alarm byte).
//! The running thread keeps the CPU against ready threads of its priority
//! with a deadline no earlier than its own; one that becomes ready with an
//! earlier one preempts it ([`Scheduler::preempts_current`]): where that
//! comes about (a sorted insertion, a change of deadline, priority or
//! suspension) the scheduler notes it, so the hot decisions compare no
//! 64-bit deadline. A tick's slice puts the running thread back sorted:
//! with the earliest deadline it runs on, with an equal one it goes
//! round-robin.
//!
//! # Suspension
//!
//! A suspended thread is in no run queue: it is never picked until
//! resumed. Its wait goes on (a blocked thread stays blocked and may be
//! woken); it runs again only when both are over.
//!
//! # CPU time
//!
//! [`Scheduler::account`] charges the cycles since the last accounted
//! event to the thread on the CPU: the kernel binary
//! (`kernel/src/services.rs`) calls it on every entry into Rust from a
//! thread (interrupts, system calls on the light or the full path,
//! faults), and restarts the count without charging anyone when the CPU
//! idled ([`Scheduler::count_from`]). The entry's express IPC and yield
//! hand-offs account nothing (they stay as short as they are): the time
//! of the threads they run goes to the thread running at the next
//! accounted event. Threads switched by interrupts and ordinary system
//! calls are charged exactly.

use heapless::Vec;

use crate::timer::DeadlineQueue;

/// Index of a thread.
pub type ThreadId = usize;
/// Most threads the kernel runs.
pub const MAX_THREADS: usize = 16;
const _: () = assert!(MAX_THREADS.is_power_of_two());
/// Number of priority levels.
pub const PRIORITIES: usize = 8;

/// The end of a run queue.
const NONE: u8 = u8::MAX;

/// No deadline (sorts after every deadline).
pub const NO_DEADLINE: u64 = u64::MAX;

/// The lowest set bit of each byte ([`NONE`] for 0): the most urgent ready
/// priority of a ready mask.
#[unsafe(no_mangle)]
pub static sotto_lowest_bit: [u8; 256] = {
    let mut table = [NONE; 256];
    let mut mask = 1;
    while mask < 256 {
        table[mask] = (mask as u32).trailing_zeros() as u8;
        mask += 1;
    }
    table
};

const _: () = assert!(PRIORITIES <= 8, "sotto_lowest_bit covers eight priorities");

/// For each priority `p`, the ready-mask bits of `p` and everything more
/// urgent (`(2 << p) - 1`): [`Scheduler::would_run_next`] and the entry's
/// IPC fast paths read it.
#[unsafe(no_mangle)]
pub static sotto_urgent_masks: [u32; PRIORITIES] = URGENT_MASKS;

/// The table of [`sotto_urgent_masks`] (the express IPC paths read a
/// thread's own mask from its entry, `ThreadEntry::urgent`).
pub const URGENT_MASKS: [u32; PRIORITIES] = {
    let mut masks = [0; PRIORITIES];
    let mut priority = 0;
    while priority < PRIORITIES {
        masks[priority] = (2 << priority) - 1;
        priority += 1;
    }
    masks
};

/// Where a thread is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Waiting in its priority's queue.
    Ready,
    /// On the CPU.
    Running,
    /// Waiting until the tick count reaches `until`.
    Sleeping {
        /// Tick at which it becomes ready.
        until: u64,
    },
    /// Waiting for an object (IPC, semaphore, notification), until woken
    /// or, if `until` is set, until that tick (a timeout).
    Blocked {
        /// Tick at which the wait times out.
        until: Option<u64>,
    },
    /// Exited or stopped; never runs again.
    Ended,
}

/// The run queues and thread states. `repr(C)` with the small, hot fields
/// first, so the switch paths reach them with short load offsets. The
/// out-of-line operations index the per-thread arrays by thread masked
/// into them (`% MAX_THREADS`, a power of two): thread numbers are the
/// kernel's own, and the mask costs no more than the bounds check it
/// replaces, without its abort path.
#[repr(C)]
pub struct Scheduler {
    /// The thread on the CPU ([`NONE`]: none). The fields up to `kind`
    /// have the same layout on the host and the target: the entry's IPC
    /// fast paths (trap.S) reach them by the offsets of [`layout`].
    current: u8,
    /// [`ALARM_STALE`] and [`SLICE_ARMED`] (one byte: one load on the
    /// trap exit's check).
    alarm: u8,
    /// Bit `p` set when queue `p` is not empty: the most urgent ready
    /// priority is the lowest set bit.
    ready_mask: u32,
    priority: [u8; MAX_THREADS],
    /// Each thread's state, one of [`kind`] (its tick, if it has one, in
    /// `until`): [`Scheduler::state`] builds the [`ThreadState`].
    kind: [u8; MAX_THREADS],
    /// Run queues, intrusive: `head[p]`..`tail[p]` through `next` (no
    /// copies, no capacity checks; [`NONE`] ends a list).
    head: [u8; PRIORITIES],
    tail: [u8; PRIORITIES],
    next: [u8; MAX_THREADS],
    /// Threads added (a usize, 8-aligned: `until` is at the same offset
    /// on host and target, asserted in [`layout`]).
    count: usize,
    until: [u64; MAX_THREADS],
    /// When sleepers wake and waits time out. An entry whose thread was
    /// woken earlier (its state no longer names that deadline) is skipped
    /// when it comes up.
    timeouts: DeadlineQueue<MAX_THREADS>,
    /// The tick the alarm is set for (`u64::MAX`: not known): a deadline
    /// at or after it needs no new alarm (that one comes first and sets
    /// the next).
    armed: u64,
    // What follows is read by Rust only (no assembly offsets).
    /// Each thread's absolute deadline ([`NO_DEADLINE`]: none): the order
    /// of its run queue.
    deadline: [u64; MAX_THREADS],
    /// Each thread's CPU time, in cycles ([`Scheduler::account`]).
    cpu: [u64; MAX_THREADS],
    /// CCOUNT at the last accounted event.
    since: u32,
    /// Bit `t`: thread `t` is suspended.
    suspended: u32,
    /// Bit `t`: thread `t` has a deadline (the [`EDF`] bit of `alarm`
    /// follows whether any has).
    with_deadline: u32,
    /// `suspended | with_deadline`: the threads [`Self::enqueue`] leaves
    /// to its out-of-line part (one test on its path).
    special: u32,
    /// Each thread's ceiling: the most urgent priority it may be given.
    ceiling: [u8; MAX_THREADS],
    /// The running thread when the head of its queue has an earlier
    /// deadline ([`NONE`]: none): noted where a thread becomes ready or a
    /// deadline, priority or suspension changes, cleared when a queue's
    /// head runs. A value left behind by a switch the entry made
    /// (express IPC) names a thread that can only run again through Rust,
    /// which clears it, while that head is still queued.
    preempt: u8,
}

const _: () = assert!(
    MAX_THREADS <= 32,
    "suspended and with_deadline are u32 masks"
);

/// How [`ThreadState`] is stored (`Scheduler::kind`).
pub mod kind {
    /// [`super::ThreadState::Ready`].
    pub const READY: u8 = 0;
    /// [`super::ThreadState::Running`].
    pub const RUNNING: u8 = 1;
    /// [`super::ThreadState::Sleeping`].
    pub const SLEEPING: u8 = 2;
    /// [`super::ThreadState::Blocked`] without a time limit.
    pub const BLOCKED: u8 = 3;
    /// [`super::ThreadState::Blocked`] until a tick.
    pub const BLOCKED_UNTIL: u8 = 4;
    /// [`super::ThreadState::Ended`].
    pub const ENDED: u8 = 5;
}

/// Offsets into [`Scheduler`] for the assembly (equal on host and target:
/// only fixed-width fields come before them).
pub mod layout {
    use core::mem::offset_of;

    use super::Scheduler;

    /// `current`.
    pub const CURRENT: u32 = offset_of!(Scheduler, current) as u32;
    /// `alarm`.
    pub const ALARM: u32 = offset_of!(Scheduler, alarm) as u32;
    /// `ready_mask`.
    pub const READY_MASK: u32 = offset_of!(Scheduler, ready_mask) as u32;
    /// `priority[0]`.
    pub const PRIORITY: u32 = offset_of!(Scheduler, priority) as u32;
    /// `kind[0]`.
    pub const KIND: u32 = offset_of!(Scheduler, kind) as u32;
    /// `head[0]` (run queues).
    pub const HEAD: u32 = offset_of!(Scheduler, head) as u32;
    /// `tail[0]`.
    pub const TAIL: u32 = offset_of!(Scheduler, tail) as u32;
    /// `next[0]`.
    pub const NEXT: u32 = offset_of!(Scheduler, next) as u32;
    /// The alarm value with which a yield may skip setting the alarm: a
    /// slice armed, no deadline changed ([`super::SLICE_ARMED`]).
    pub const ALARM_SLICE_ONLY: u32 = super::SLICE_ARMED as u32;
    /// `until[0]` (u64s).
    pub const UNTIL: u32 = offset_of!(Scheduler, until) as u32;
    /// `timeouts` (a [`crate::timer::layout`] queue).
    pub const TIMEOUTS: u32 = offset_of!(Scheduler, timeouts) as u32;
    /// `armed` (a u64).
    pub const ARMED: u32 = offset_of!(Scheduler, armed) as u32;
    const _: () =
        assert!(UNTIL.is_multiple_of(8) && ARMED.is_multiple_of(8) && TIMEOUTS.is_multiple_of(8));
    // `count` (a usize) ends 8 bytes on, padded or not: host and target
    // agree on `until` and what follows it.
    const _: () = assert!(offset_of!(Scheduler, count).is_multiple_of(8));
    const _: () = assert!(UNTIL as usize == offset_of!(Scheduler, count) + 8);
}

/// The earliest deadline (of a timeout or, noted by the kernel, of a
/// timer) changed since the alarm was set.
const ALARM_STALE: u8 = 1;
/// The alarm comes at the next tick boundary (which slices).
const SLICE_ARMED: u8 = 2;
/// A thread has a deadline: the entry's express yield, which puts its
/// caller at the back of its queue, declines (its check of the alarm
/// byte against [`SLICE_ARMED`] fails), so Rust's `rotate` sorts it in.
pub const EDF: u8 = 4;
/// The bit of `with_deadline` (and so of `special`) that
/// [`Scheduler::express_yield_off`] sets: no thread's (there are at most
/// [`MAX_THREADS`]), so no thread is sorted differently for it.
const NO_EXPRESS_YIELD: u32 = 1 << 31;
const _: () = assert!(MAX_THREADS < 31);

impl Default for Scheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler {
    /// No threads.
    pub const fn new() -> Scheduler {
        Scheduler {
            priority: [0; MAX_THREADS],
            kind: [kind::ENDED; MAX_THREADS],
            until: [0; MAX_THREADS],
            count: 0,
            head: [NONE; PRIORITIES],
            tail: [NONE; PRIORITIES],
            next: [NONE; MAX_THREADS],
            ready_mask: 0,
            current: NONE,
            timeouts: DeadlineQueue::new(),
            alarm: 0,
            armed: u64::MAX,
            deadline: [NO_DEADLINE; MAX_THREADS],
            cpu: [0; MAX_THREADS],
            since: 0,
            suspended: 0,
            with_deadline: 0,
            special: 0,
            preempt: NONE,
            ceiling: [0; MAX_THREADS],
        }
    }

    /// Add a ready thread; `None` when full or the priority does not exist.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.sched_add")
    )]
    pub fn add(&mut self, priority: u8) -> Option<ThreadId> {
        if self.count == MAX_THREADS || priority as usize >= PRIORITIES {
            return None;
        }
        let id = self.count;
        self.count += 1;
        self.priority[id % MAX_THREADS] = priority;
        self.ceiling[id % MAX_THREADS] = priority;
        self.kind[id % MAX_THREADS] = kind::READY;
        self.enqueue(id);
        Some(id)
    }

    /// The thread on the CPU, if any.
    pub fn current(&self) -> Option<ThreadId> {
        // (Masked: what indexes by it then needs no bounds check.)
        (self.current != NONE).then_some(usize::from(self.current) % MAX_THREADS)
    }

    /// The current thread, which leaves the CPU.
    fn take_current(&mut self) -> Option<ThreadId> {
        let current = self.current();
        self.current = NONE;
        current
    }

    /// A thread's state.
    pub fn state(&self, id: ThreadId) -> ThreadState {
        match self.kind[id % MAX_THREADS] {
            kind::READY => ThreadState::Ready,
            kind::RUNNING => ThreadState::Running,
            kind::SLEEPING => ThreadState::Sleeping {
                until: self.until[id % MAX_THREADS],
            },
            kind::BLOCKED => ThreadState::Blocked { until: None },
            kind::BLOCKED_UNTIL => ThreadState::Blocked {
                until: Some(self.until[id % MAX_THREADS]),
            },
            _ => ThreadState::Ended,
        }
    }

    /// Store a thread's state (kind and, where it has one, its tick).
    fn set_state(&mut self, id: ThreadId, state: ThreadState) {
        let (kind, until) = match state {
            ThreadState::Ready => (kind::READY, 0),
            ThreadState::Running => (kind::RUNNING, 0),
            ThreadState::Sleeping { until } => (kind::SLEEPING, until),
            ThreadState::Blocked { until: None } => (kind::BLOCKED, 0),
            ThreadState::Blocked { until: Some(until) } => (kind::BLOCKED_UNTIL, until),
            ThreadState::Ended => (kind::ENDED, 0),
        };
        self.kind[id % MAX_THREADS] = kind;
        self.until[id % MAX_THREADS] = until;
    }

    /// A thread's priority.
    pub fn priority(&self, id: ThreadId) -> u8 {
        self.priority[id % MAX_THREADS]
    }

    /// Whether every thread has ended.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn all_ended(&self) -> bool {
        // (`get`: `count` is at most `MAX_THREADS`, and a range index
        // would keep an abort path for it.)
        self.kind
            .get(..self.count)
            .unwrap_or_default()
            .iter()
            .all(|kind| *kind == kind::ENDED)
    }

    #[inline(never)]
    fn enqueue(&mut self, id: ThreadId) {
        // A thread is queued at most once (only Ready threads are).
        if self.special & (1 << (id % MAX_THREADS)) != 0 {
            return self.enqueue_special(id);
        }
        let priority = usize::from(self.priority[id % MAX_THREADS]) % PRIORITIES;
        let id = id as u8;
        self.next[usize::from(id) % MAX_THREADS] = NONE;
        match self.tail[priority] {
            NONE => self.head[priority] = id,
            last => self.next[usize::from(last) % MAX_THREADS] = id,
        }
        self.tail[priority] = id;
        self.ready_mask |= 1 << priority;
    }

    /// [`Self::enqueue`] of a thread with a deadline: before the first
    /// thread of its queue with a later one (FIFO among equal deadlines);
    /// of a suspended one: nowhere (it is queued when resumed).
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn enqueue_special(&mut self, id: ThreadId) {
        if self.is_suspended(id) {
            return;
        }
        let priority = usize::from(self.priority[id % MAX_THREADS]) % PRIORITIES;
        let key = self.deadline[id % MAX_THREADS];
        let (mut previous, mut at) = (NONE, self.head[priority]);
        while at != NONE && self.deadline[usize::from(at) % MAX_THREADS] <= key {
            previous = at;
            at = self.next[usize::from(at) % MAX_THREADS];
        }
        let id = id as u8;
        self.next[usize::from(id) % MAX_THREADS] = at;
        match previous {
            NONE => self.head[priority] = id,
            before => self.next[usize::from(before) % MAX_THREADS] = id,
        }
        if at == NONE {
            self.tail[priority] = id;
        }
        self.ready_mask |= 1 << priority;
        // Ready with an earlier deadline than the running thread of its
        // priority: it preempts it (`outranks`).
        self.refresh_preempt();
    }

    /// The current thread gives up the CPU and goes to the back of its queue.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    #[inline(never)]
    pub fn yield_current(&mut self) {
        if let Some(id) = self.take_current() {
            self.set_state(id, ThreadState::Ready);
            self.enqueue(id);
        }
    }

    /// The current thread sleeps until tick `until`.
    pub fn sleep_current(&mut self, until: u64) {
        if let Some(id) = self.take_current() {
            self.set_state(id, ThreadState::Sleeping { until });
            self.queue_timeout(id, until);
        }
    }

    /// `id` times out at tick `until`. The alarm is set again only for a
    /// deadline before the one it is set for: a later one is found when
    /// that alarm comes (out of line: most fast paths wait without a
    /// time limit).
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn queue_timeout(&mut self, id: ThreadId, until: u64) {
        self.timeouts.insert(id, until);
        if self.timeouts.take_changed() && until < self.armed {
            self.alarm |= ALARM_STALE;
        }
    }

    /// The current thread waits for an object, at most until tick `until`.
    pub fn block_current(&mut self, until: Option<u64>) {
        if let Some(id) = self.take_current() {
            self.set_state(id, ThreadState::Blocked { until });
            if let Some(until) = until {
                self.queue_timeout(id, until);
            }
        }
    }

    /// Make a blocked or sleeping thread ready (no effect otherwise).
    pub fn wake(&mut self, id: ThreadId) {
        if matches!(
            self.state(id),
            ThreadState::Blocked { .. } | ThreadState::Sleeping { .. }
        ) {
            if self.timeouts.is_queued(id) {
                self.forget_timeout(id);
            }
            self.set_state(id, ThreadState::Ready);
            self.enqueue(id);
        }
    }

    /// `id` no longer waits for its deadline: its entry leaves the queue
    /// now, not when it comes up (a stale head would cost the tick that
    /// finds it, or an interrupt for nothing). The alarm is not set again
    /// for it: at worst it comes early and finds nothing due.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn forget_timeout(&mut self, id: ThreadId) {
        self.timeouts.forget(id);
    }

    /// Take a ready thread out of its queue, keeping the others' order.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn unqueue(&mut self, id: ThreadId) {
        let priority = usize::from(self.priority[id % MAX_THREADS]) % PRIORITIES;
        let (mut previous, mut at) = (NONE, self.head[priority]);
        while at != NONE && usize::from(at) != id {
            previous = at;
            at = self.next[usize::from(at) % MAX_THREADS];
        }
        if at == NONE {
            return;
        }
        let after = self.next[id % MAX_THREADS];
        match previous {
            NONE => self.head[priority] = after,
            before => self.next[usize::from(before) % MAX_THREADS] = after,
        }
        if self.tail[priority] == at {
            self.tail[priority] = previous;
        }
        if self.head[priority] == NONE {
            self.ready_mask &= !(1 << priority);
        }
    }

    /// Run `id` now (a directed switch, as IPC does): the current thread
    /// goes back to its queue. `id` must be ready or already current.
    pub fn switch_to(&mut self, id: ThreadId) -> bool {
        if self.current() == Some(id) {
            return true;
        }
        if self.state(id) != ThreadState::Ready || self.is_suspended(id) {
            return false;
        }
        self.unqueue(id);
        self.yield_current();
        self.set_state(id, ThreadState::Running);
        self.current = id as u8;
        self.refresh_preempt();
        true
    }

    /// The current thread yields: it goes to the back of its queue and the
    /// head of the most urgent queue runs. `None` when that is the current
    /// thread again (nothing at least as urgent was ready): then nothing
    /// changed at all. `yield_current` then `schedule`, in one step.
    #[inline]
    pub fn rotate(&mut self) -> Option<ThreadId> {
        let current = self.current()?;
        if self.would_run_next(self.priority[current]) {
            return None;
        }
        self.set_state(current, ThreadState::Ready);
        self.enqueue(current);
        let next = self.dequeue(self.most_urgent_ready()?)?;
        self.set_state(next, ThreadState::Running);
        self.current = next as u8;
        // Sorted back in first (its deadline is the earliest): it goes on,
        // the queue as it was.
        (next != current).then_some(next)
    }

    /// Whether a thread more urgent than the current one is ready (the
    /// next `schedule` would switch).
    pub fn preempts_current(&self) -> bool {
        match (self.current(), self.most_urgent_ready()) {
            (Some(current), Some(priority)) => self.outranks(priority, current),
            (None, _) => true,
            (Some(_), None) => false,
        }
    }

    /// Whether the head of ready queue `priority` should run instead of
    /// `current`: it is more urgent, or as urgent with an earlier deadline
    /// (`preempt`, noted where that came about: no deadline is compared
    /// here).
    #[inline]
    fn outranks(&self, priority: u8, current: ThreadId) -> bool {
        priority < self.priority[current % MAX_THREADS] || self.preempt == current as u8
    }

    /// Note whether the head of the running thread's queue has an earlier
    /// deadline than it ([`Self::outranks`]), after something changed
    /// that may have made it so or not (a change of priority, deadline or
    /// suspension, an end, a directed switch).
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn refresh_preempt(&mut self) {
        self.preempt = NONE;
        if let Some(current) = self.current() {
            let head = self.head[usize::from(self.priority[current]) % PRIORITIES];
            if head != NONE
                && self.deadline[usize::from(head) % MAX_THREADS] < self.deadline[current]
            {
                self.preempt = current as u8;
            }
        }
    }

    /// Whether a thread of `priority` made ready now, with the current one
    /// blocked, would run next: no ready thread is at least as urgent
    /// (equals would go first, FIFO).
    pub fn would_run_next(&self, priority: u8) -> bool {
        self.ready_mask & sotto_urgent_masks[usize::from(priority) % PRIORITIES] == 0
    }

    /// The current thread blocks (at most until tick `until`) and `to`,
    /// blocked until now, runs at once: the direct switch of an IPC fast
    /// path, valid where [`Self::would_run_next`] holds for `to`. No queue
    /// changes: neither thread is queued before or after.
    #[inline(always)]
    pub fn hand_over(&mut self, to: ThreadId, until: Option<u64>) {
        if let Some(current) = self.current() {
            match until {
                // (The kind byte alone: `set_state` out of line costs more
                // than the rest of a hand-over.)
                None => self.kind[current] = kind::BLOCKED,
                Some(until) => self.block_until(current, until),
            }
        }
        if self.timeouts.is_queued(to) {
            self.forget_timeout(to);
        }
        self.kind[to] = kind::RUNNING;
        self.current = to as u8;
    }

    /// Whether handing the CPU to blocked thread `id` ([`Self::hand_over`])
    /// drops at most the timeout queue's only entry: `id` waits without a
    /// deadline, or its deadline is alone in the queue. The entry's express
    /// `ReplyRecv` then empties the queue itself (trap.S); else it declines.
    pub fn forget_express(&self, id: ThreadId) -> bool {
        self.kind[id] != kind::BLOCKED_UNTIL
            || (self.timeouts.peek().is_some_and(|(head, _)| head == id)
                && self.timeouts.second().is_none())
    }

    /// Whether blocking a thread until tick `until` ([`Self::block_until`])
    /// queues it alone and leaves the alarm as it is: the timeout queue is
    /// empty (`insert_alone`) and the alarm is set for `until` or before
    /// (no [`ALARM_STALE`]). The entry's express `CallTimeout` then queues
    /// the deadline itself (trap.S); else it declines.
    pub fn timeout_express(&self, until: u64) -> bool {
        self.timeouts.is_empty() && until >= self.armed
    }

    /// Blocked thread `id` waits at most until tick `until`, as
    /// `hand_over` queues it.
    pub fn block_until(&mut self, id: ThreadId, until: u64) {
        self.set_state(id, ThreadState::Blocked { until: Some(until) });
        self.queue_timeout(id, until);
    }

    /// End a thread, wherever it is.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn end(&mut self, id: ThreadId) {
        if self.state(id) == ThreadState::Ready {
            self.unqueue(id);
        }
        if self.current() == Some(id) {
            self.current = NONE;
        }
        self.set_state(id, ThreadState::Ended);
        // Its deadline goes (the express yield may come back); the
        // preemption note follows (`change`).
        self.change(id, Change::Deadline(NO_DEADLINE));
    }

    /// Bring ended thread `id` back (its service restarted): ready at
    /// `priority`, its ceiling `ceiling`, no deadline, not suspended; its
    /// CPU time is kept. No effect on a thread that has not ended. (Cold
    /// code, as the restart that calls it.)
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.sched_revive")
    )]
    pub fn revive(&mut self, id: ThreadId, priority: u8, ceiling: u8) {
        if id >= self.count || self.kind[id % MAX_THREADS] != kind::ENDED {
            return;
        }
        if self.timeouts.is_queued(id) {
            self.forget_timeout(id);
        }
        // Not queued while ended: the changes only set the fields.
        self.change(id, Change::Suspend(false));
        self.change(id, Change::Deadline(NO_DEADLINE));
        self.priority[id % MAX_THREADS] = priority % PRIORITIES as u8;
        self.ceiling[id % MAX_THREADS] = ceiling.min(priority);
        self.set_state(id, ThreadState::Ready);
        self.enqueue(id);
    }

    /// A tick: wake every sleeper whose time has come and every blocked
    /// thread whose wait timed out (earliest deadline first, FIFO among
    /// equal ones; the timed-out ones are returned, for the caller to tell
    /// them), then time-slice ([`Scheduler::slice`]). The kernel itself
    /// uses [`Scheduler::wake_expired`] and [`Scheduler::slice`].
    pub fn tick(&mut self, now: u64) -> Vec<ThreadId, MAX_THREADS> {
        let mut timed_out = Vec::new();
        while let Some((id, timeout)) = self.wake_expired(now) {
            if timeout {
                let _ = timed_out.push(id);
            }
        }
        self.slice();
        timed_out
    }

    /// Whether nothing runs and nothing is ready: a tick that wakes one
    /// thread (and times nothing out) then only has to run it
    /// ([`Scheduler::run_woken`]).
    #[inline]
    pub fn idle_and_nothing_ready(&self) -> bool {
        self.current == NONE && self.ready_mask == 0
    }

    /// Whether the timeout queue has entries (perhaps stale).
    #[inline]
    pub fn has_timeouts(&self) -> bool {
        !self.timeouts.is_empty()
    }

    /// The timeout queue's [version](DeadlineQueue::version).
    #[inline]
    pub fn timeouts_version(&self) -> u32 {
        self.timeouts.version()
    }

    /// Whether `id` is blocked without a time limit.
    #[inline]
    pub fn blocked_untimed(&self, id: ThreadId) -> bool {
        self.kind.get(id) == Some(&kind::BLOCKED) && !self.is_suspended(id)
    }

    /// A tick's time slice, [`Scheduler::wake`] of `id` and
    /// [`Scheduler::schedule`] in one step, where they come to this: on
    /// an idle CPU with nothing ready
    /// ([`Scheduler::idle_and_nothing_ready`]) and no timeout queued
    /// ([`Scheduler::has_timeouts`]), `id`, [blocked without a time
    /// limit](Scheduler::blocked_untimed), runs.
    #[inline]
    pub fn run_woken(&mut self, id: ThreadId) {
        self.alarm &= !SLICE_ARMED;
        let id = id % MAX_THREADS;
        self.kind[id] = kind::RUNNING;
        self.next[id] = NONE;
        self.current = id as u8;
    }

    /// The next thread whose sleep ends or whose wait times out by tick
    /// `now`, made ready: its id and whether it was a timed-out wait.
    /// Looks only at the head of the deadline queue.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn wake_expired(&mut self, now: u64) -> Option<(ThreadId, bool)> {
        while let Some((id, deadline)) = self.timeouts.pop_due(now) {
            let timed_out = match self.state(id) {
                ThreadState::Sleeping { until } if until == deadline => false,
                ThreadState::Blocked { until: Some(until) } if until == deadline => true,
                _ => continue, // woken before its deadline
            };
            self.set_state(id, ThreadState::Ready);
            self.enqueue(id);
            return Some((id, timed_out));
        }
        None
    }

    /// Time slicing at a tick boundary: if a thread at least as urgent as
    /// the current one is ready, the current one goes to the back of its
    /// queue.
    pub fn slice(&mut self) {
        self.alarm &= !SLICE_ARMED;
        if let Some(current) = self.current()
            && self
                .most_urgent_ready()
                .is_some_and(|priority| priority <= self.priority[current % MAX_THREADS])
        {
            self.yield_current();
        }
    }

    /// Whether the next tick boundary must slice: another thread of the
    /// running thread's priority is ready. (A more urgent one would be
    /// running already.) With deadlines, the slice puts the running thread
    /// back sorted by its deadline: an earlier one than the others' runs
    /// on, an equal one goes round-robin.
    #[inline]
    pub fn slice_wanted(&self) -> bool {
        match self.current() {
            Some(current) => self.ready_mask & (1 << self.priority[current % MAX_THREADS]) != 0,
            None => false,
        }
    }

    /// Whether a sleep or a wait timeout (or a stale entry) is due at
    /// `now`: one compare against the head of the queue.
    #[inline]
    pub fn timeout_due(&self, now: u64) -> bool {
        self.timeouts
            .earliest()
            .is_some_and(|deadline| deadline <= now)
    }

    /// The earliest sleep end or wait timeout still pending (entries of
    /// threads woken earlier are dropped on the way).
    #[inline]
    pub fn next_timeout(&mut self) -> Option<u64> {
        if self.timeouts.is_empty() {
            return None;
        }
        self.next_live_timeout()
    }

    /// [`Scheduler::next_timeout`] with entries queued.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn next_live_timeout(&mut self) -> Option<u64> {
        while let Some((id, deadline)) = self.timeouts.peek() {
            match self.state(id) {
                ThreadState::Sleeping { until } | ThreadState::Blocked { until: Some(until) }
                    if until == deadline =>
                {
                    return Some(deadline);
                }
                _ => {
                    self.timeouts.remove(id);
                }
            }
        }
        None
    }

    /// Whether the alarm is set for a time slice and nothing else changed
    /// (a yield then needs no new alarm: the entry's express yield).
    pub fn alarm_slice_only(&self) -> bool {
        self.alarm == SLICE_ARMED
    }

    /// Whether a deadline changed since the alarm was set (the IPC
    /// express paths leave such a switch to the light path, which sets the
    /// alarm again).
    pub fn alarm_stale(&self) -> bool {
        self.alarm & ALARM_STALE != 0
    }

    /// The earliest deadline of something else (a timer) changed.
    pub fn deadlines_changed(&mut self) {
        self.alarm |= ALARM_STALE;
    }

    /// The alarm was set from the current deadlines, for tick `at`
    /// (`None`: not known); `slice_armed`: it comes at the next tick
    /// boundary (which slices).
    pub fn alarm_set(&mut self, slice_armed: bool, at: Option<u64>) {
        self.alarm = (self.alarm & EDF) | if slice_armed { SLICE_ARMED } else { 0 };
        self.armed = at.unwrap_or(u64::MAX);
    }

    /// Whether the alarm must be set again after a scheduling decision: a
    /// deadline changed, or a time slice is wanted and no interrupt comes
    /// at the next tick boundary. Cheap: it runs on every trap exit.
    #[inline]
    pub fn alarm_wanted(&self) -> bool {
        match self.alarm & !EDF {
            0 => self.ready_mask != 0 && self.slice_wanted(),
            alarm => alarm & ALARM_STALE != 0,
        }
    }

    /// Where `id` is in the timeout queue (checks).
    pub fn queued_timeout(&self, id: ThreadId) -> Option<u64> {
        self.timeouts.deadline(id)
    }

    fn most_urgent_ready(&self) -> Option<u8> {
        // The lowest set bit, from a table: LLVM's Xtensa backend expands
        // both `trailing_zeros` and `leading_zeros` into a 20-instruction
        // population count (it does not emit `nsau`).
        match sotto_lowest_bit[(self.ready_mask & 0xFF) as usize] {
            NONE => None,
            priority => Some(priority),
        }
    }

    /// Take the head of `priority`'s queue. (Out of line: one copy for
    /// the schedule and the rotation.)
    #[inline(never)]
    fn dequeue(&mut self, priority: u8) -> Option<ThreadId> {
        let priority = usize::from(priority) % PRIORITIES;
        let id = self.head[priority];
        if id == NONE {
            return None;
        }
        let after = self.next[usize::from(id) % MAX_THREADS];
        self.head[priority] = after;
        if after == NONE {
            self.tail[priority] = NONE;
            self.ready_mask &= !(1 << priority);
        }
        // What runs next is the head: nothing of its queue outranks it.
        self.preempt = NONE;
        Some(usize::from(id) % MAX_THREADS)
    }

    /// Choose the thread to run: the current one, unless a more urgent one
    /// is ready; else the head of the most urgent non-empty queue.
    pub fn schedule(&mut self) -> Option<ThreadId> {
        if let Some(current) = self.current() {
            match self.most_urgent_ready() {
                Some(priority) if self.outranks(priority, current) => self.yield_current(),
                _ => return Some(current),
            }
        }
        let priority = self.most_urgent_ready()?;
        let id = self.dequeue(priority)?;
        self.set_state(id, ThreadState::Running);
        self.current = id as u8;
        Some(id)
    }
}

/// What [`Scheduler::change`] changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The priority (a queue the scheduler has).
    Priority(u8),
    /// The absolute deadline ([`NO_DEADLINE`]: none).
    Deadline(u64),
    /// Suspended (`true`) or resumed.
    Suspend(bool),
}

/// Thread control ([`crate::thread_ctl`]) and CPU time: out of the hot
/// paths, compiled for size.
impl Scheduler {
    /// Whether thread `id` is suspended.
    #[inline]
    pub fn is_suspended(&self, id: ThreadId) -> bool {
        self.suspended & (1 << (id % MAX_THREADS)) != 0
    }

    /// Whether `id` is a thread that was added and has not ended.
    pub fn is_live(&self, id: ThreadId) -> bool {
        id < self.count && self.kind[id % MAX_THREADS] != kind::ENDED
    }

    /// Whether `id` sits in its run queue (ready, not suspended, not on
    /// the CPU).
    fn queued(&self, id: ThreadId) -> bool {
        self.kind[id % MAX_THREADS] == kind::READY && !self.is_suspended(id)
    }

    /// Suspend `id`: out of its run queue (off the CPU if it runs), its
    /// wait, if any, kept.
    pub fn suspend(&mut self, id: ThreadId) {
        self.change(id, Change::Suspend(true));
    }

    /// Resume `id`: back into its run queue if its wait, if any, is over.
    pub fn resume(&mut self, id: ThreadId) {
        self.change(id, Change::Suspend(false));
    }

    /// The most urgent priority `id` may be given.
    pub fn ceiling(&self, id: ThreadId) -> u8 {
        self.ceiling[id % MAX_THREADS]
    }

    /// Make `ceiling` the most urgent priority thread `id` may be given
    /// (`system.toml`'s `max_priority`; [`Scheduler::add`] starts it at
    /// the thread's priority).
    pub fn set_ceiling(&mut self, id: ThreadId, ceiling: u8) {
        self.ceiling[id % MAX_THREADS] = ceiling;
    }

    /// Give `id` priority `priority` (a queue the scheduler has: the caller
    /// checks it and the ceiling).
    pub fn set_priority(&mut self, id: ThreadId, priority: u8) {
        self.change(id, Change::Priority(priority));
    }

    /// `id`'s absolute deadline ([`NO_DEADLINE`]: none).
    pub fn deadline(&self, id: ThreadId) -> u64 {
        self.deadline[id % MAX_THREADS]
    }

    /// Set (or, with [`NO_DEADLINE`], clear) `id`'s absolute deadline.
    pub fn set_deadline(&mut self, id: ThreadId, deadline: u64) {
        self.change(id, Change::Deadline(deadline));
    }

    /// Change `id`'s priority, deadline or suspension. A queued thread
    /// leaves its queue first and comes back sorted in by what it is now
    /// (not at all while suspended); a running one that is suspended
    /// leaves the CPU. (One copy of the requeueing for every change.)
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn change(&mut self, id: ThreadId, change: Change) {
        let id = id % MAX_THREADS;
        let bit = 1 << id;
        if self.queued(id) {
            self.unqueue(id);
        }
        match change {
            Change::Priority(priority) => self.priority[id] = priority % PRIORITIES as u8,
            Change::Deadline(deadline) => {
                self.deadline[id] = deadline;
                self.with_deadline &= !bit;
                if deadline != NO_DEADLINE {
                    self.with_deadline |= bit;
                }
            }
            Change::Suspend(true) => {
                if usize::from(self.current) == id {
                    self.current = NONE;
                    self.kind[id] = kind::READY;
                }
                self.suspended |= bit;
            }
            Change::Suspend(false) => self.suspended &= !bit,
        }
        self.special = self.suspended | self.with_deadline;
        self.alarm &= !EDF;
        if self.with_deadline != 0 {
            self.alarm |= EDF;
        }
        if self.queued(id) {
            self.enqueue(id);
        }
        self.refresh_preempt();
    }

    /// Make the entry's express yield decline for good (tracing: every
    /// switch through Rust, `Kernel::trace_express_off`), as it does
    /// while a thread has a deadline: a bit of `with_deadline` that no
    /// thread has ([`NO_EXPRESS_YIELD`]) keeps [`EDF`] set in the alarm
    /// byte. Rust's `rotate` decides as before.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.sched_express_yield_off")
    )]
    pub fn express_yield_off(&mut self) {
        self.with_deadline |= NO_EXPRESS_YIELD;
        self.special = self.suspended | self.with_deadline;
        self.alarm |= EDF;
    }

    /// Charge the cycles since the last accounted event (CCOUNT `now`,
    /// 32-bit wrapping: events are less than 2^31 cycles apart, as the
    /// alarm is) to the thread on the CPU, if any; count from `now`.
    #[inline]
    pub fn account(&mut self, now: u32) {
        self.charge(self.current(), now);
    }

    /// [`Self::account`] for `thread`, on the CPU until now.
    #[inline(never)]
    fn charge(&mut self, thread: Option<ThreadId>, now: u32) {
        if let Some(thread) = thread {
            self.cpu[thread % MAX_THREADS] += u64::from(now.wrapping_sub(self.since));
        }
        self.since = now;
    }

    /// Count from CCOUNT `now` without charging anyone (the CPU idled
    /// until then).
    #[inline]
    pub fn count_from(&mut self, now: u32) {
        self.since = now;
    }

    /// `id`'s CPU time in cycles, as of the last accounted event.
    pub fn cpu_time(&self, id: ThreadId) -> u64 {
        self.cpu[id % MAX_THREADS]
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_THREADS, PRIORITIES, Scheduler, ThreadState};

    #[test]
    fn runs_the_most_urgent_first_and_fifo_among_equals() {
        let mut s = Scheduler::new();
        let low = s.add(5).unwrap();
        let a = s.add(2).unwrap();
        let b = s.add(2).unwrap();
        assert_eq!(s.schedule(), Some(a));
        assert_eq!(
            s.schedule(),
            Some(a),
            "no preemption without a more urgent thread"
        );
        s.yield_current();
        assert_eq!(s.schedule(), Some(b));
        s.end(b);
        assert_eq!(s.schedule(), Some(a));
        s.end(a);
        assert_eq!(s.schedule(), Some(low));
        assert_eq!(s.state(low), ThreadState::Running);
    }

    #[test]
    fn ticks_round_robin_among_equals_only() {
        let mut s = Scheduler::new();
        let a = s.add(1).unwrap();
        let b = s.add(1).unwrap();
        let low = s.add(3).unwrap();
        assert_eq!(s.schedule(), Some(a));
        s.tick(1);
        assert_eq!(s.schedule(), Some(b));
        s.tick(2);
        assert_eq!(s.schedule(), Some(a));
        s.end(b);
        s.tick(3);
        assert_eq!(
            s.schedule(),
            Some(a),
            "a less urgent thread never slices in"
        );
        assert_eq!(s.state(low), ThreadState::Ready);
    }

    #[test]
    fn sleepers_wake_on_their_tick_and_preempt_less_urgent_threads() {
        let mut s = Scheduler::new();
        let urgent = s.add(0).unwrap();
        let worker = s.add(4).unwrap();
        assert_eq!(s.schedule(), Some(urgent));
        s.sleep_current(10);
        assert_eq!(s.next_timeout(), Some(10));
        assert_eq!(s.schedule(), Some(worker));
        s.tick(9);
        assert_eq!(s.schedule(), Some(worker));
        s.tick(10);
        assert_eq!(s.schedule(), Some(urgent));
        assert_eq!(s.state(worker), ThreadState::Ready);
        assert_eq!(s.next_timeout(), None);
    }

    #[test]
    fn blocked_threads_wake_when_told_or_when_their_wait_times_out() {
        let mut s = Scheduler::new();
        let a = s.add(2).unwrap();
        let b = s.add(2).unwrap();
        assert_eq!(s.schedule(), Some(a));
        s.block_current(None);
        assert_eq!(s.schedule(), Some(b));
        s.block_current(Some(5));
        assert_eq!(s.schedule(), None);
        assert!(s.tick(4).is_empty());
        assert_eq!(s.tick(5).as_slice(), &[b], "b timed out");
        assert_eq!(s.state(a), ThreadState::Blocked { until: None });
        s.wake(a);
        s.wake(a);
        assert_eq!(s.schedule(), Some(b));
        s.yield_current();
        assert_eq!(s.schedule(), Some(a));
        s.wake(b);
        assert_eq!(
            s.state(b),
            ThreadState::Ready,
            "waking a ready thread changes nothing"
        );
    }

    #[test]
    fn ending_a_queued_thread_removes_it() {
        let mut s = Scheduler::new();
        let a = s.add(2).unwrap();
        let b = s.add(2).unwrap();
        let c = s.add(2).unwrap();
        s.end(b);
        assert_eq!(s.schedule(), Some(a));
        s.yield_current();
        assert_eq!(s.schedule(), Some(c));
        s.end(c);
        s.end(a);
        assert_eq!(s.schedule(), None);
        assert!(s.all_ended());
    }

    #[test]
    fn a_directed_switch_takes_a_thread_from_anywhere_in_its_queue() {
        let mut s = Scheduler::new();
        let ids: Vec<_> = (0..4).map(|_| s.add(3).unwrap()).collect();
        assert!(s.switch_to(ids[2]), "from the middle");
        assert!(
            s.switch_to(ids[3]),
            "from the tail (ids[2] went to the back)"
        );
        // Queue now: 0, 1, 2; 3 runs.
        s.yield_current();
        let order: Vec<_> = (0..4)
            .map(|_| {
                let next = s.schedule().unwrap();
                s.yield_current();
                next
            })
            .collect();
        assert_eq!(order, [ids[0], ids[1], ids[2], ids[3]]);
        s.end(ids[0]);
        s.end(ids[3]);
        assert_eq!(s.schedule(), Some(ids[1]));
        s.yield_current();
        assert_eq!(s.schedule(), Some(ids[2]));
        s.end(ids[2]);
        s.end(ids[1]);
        assert_eq!(s.schedule(), None, "every queue empty, the mask clear");
    }

    #[test]
    fn refuses_too_many_threads_and_bad_priorities() {
        let mut s = Scheduler::new();
        assert_eq!(s.add(PRIORITIES as u8), None);
        for _ in 0..MAX_THREADS {
            assert!(s.add(7).is_some());
        }
        assert_eq!(s.add(7), None);
    }

    #[test]
    fn a_thread_woken_before_its_timeout_is_not_woken_again() {
        let mut s = Scheduler::new();
        let a = s.add(2).unwrap();
        let b = s.add(2).unwrap();
        assert_eq!(s.schedule(), Some(a));
        s.block_current(Some(5));
        assert_eq!(s.schedule(), Some(b));
        s.block_current(Some(7));
        assert_eq!(s.next_timeout(), Some(5));
        s.wake(a); // woken by the object before tick 5
        assert_eq!(s.next_timeout(), Some(7), "the stale entry is dropped");
        assert_eq!(s.schedule(), Some(a));
        s.block_current(None); // waits again, without a timeout
        assert_eq!(s.wake_expired(6), None);
        assert_eq!(s.wake_expired(7), Some((b, true)));
        assert_eq!(s.wake_expired(100), None);
        assert_eq!(s.state(a), ThreadState::Blocked { until: None });
        // Sleepers and timeouts come out earliest first, FIFO among equals.
        assert_eq!(s.schedule(), Some(b));
        s.sleep_current(20);
        s.wake(a);
        assert_eq!(s.schedule(), Some(a));
        s.block_current(Some(20));
        assert_eq!(s.tick(25).as_slice(), &[a], "a timed out, b slept");
        assert_eq!(s.state(b), ThreadState::Ready);
    }

    #[test]
    fn a_slice_is_wanted_only_with_two_ready_threads_of_the_running_priority() {
        let mut s = Scheduler::new();
        let a = s.add(2).unwrap();
        let low = s.add(4).unwrap();
        assert_eq!(s.schedule(), Some(a));
        assert!(
            !s.slice_wanted(),
            "a less urgent ready thread needs no slice"
        );
        let b = s.add(2).unwrap();
        assert!(s.slice_wanted());
        s.block_current(None);
        assert_eq!(s.schedule(), Some(b));
        assert!(!s.slice_wanted());
        s.wake(a);
        assert!(s.slice_wanted());
        s.end(a);
        s.end(b);
        assert_eq!(s.schedule(), Some(low));
        assert!(!s.slice_wanted());
    }

    #[test]
    fn the_alarm_is_wanted_after_a_new_earliest_deadline_or_an_unarmed_slice() {
        let mut s = Scheduler::new();
        let a = s.add(2).unwrap();
        let b = s.add(2).unwrap();
        assert_eq!(s.schedule(), Some(a));
        assert!(s.alarm_wanted(), "b and a share the CPU: a slice");
        s.alarm_set(true, None);
        assert!(!s.alarm_wanted(), "the next boundary is armed");
        s.slice();
        assert_eq!(s.schedule(), Some(b));
        assert!(s.alarm_wanted(), "the slice was taken: arm the next one");
        s.block_current(Some(9));
        assert_eq!(s.schedule(), Some(a));
        assert!(s.alarm_wanted(), "a new earliest deadline");
        s.alarm_set(false, None);
        assert!(!s.alarm_wanted(), "a alone: no slice");
        s.sleep_current(20);
        assert!(!s.alarm_wanted(), "a later deadline changes nothing");
        s.deadlines_changed();
        assert!(s.alarm_wanted());
    }

    #[test]
    fn a_deadline_at_or_after_the_armed_alarm_needs_no_new_one() {
        let mut s = Scheduler::new();
        let a = s.add(2).unwrap();
        let b = s.add(3).unwrap();
        let c = s.add(4).unwrap();
        assert_eq!(s.schedule(), Some(a));
        s.alarm_set(false, Some(10));
        s.block_current(Some(10));
        assert!(!s.alarm_wanted(), "the alarm at 10 comes anyway");
        assert_eq!(s.schedule(), Some(b));
        s.sleep_current(12);
        assert!(!s.alarm_wanted(), "later: found when the alarm at 10 comes");
        assert_eq!(s.schedule(), Some(c));
        s.block_current(Some(9));
        assert!(s.alarm_wanted(), "earlier than the armed alarm");
        s.alarm_set(false, None);
        s.wake(a);
        assert_eq!(s.schedule(), Some(a));
        s.block_current(Some(5));
        assert!(s.alarm_wanted(), "no alarm known: any new earliest");
    }

    /// What the entry's express `CallTimeout` and `ReplyRecv` write
    /// (trap.S) is all that `block_until` and `hand_over` change where
    /// `timeout_express` and `forget_express` hold: the kind and tick, one
    /// slot alone in the queue (or none), the head-changed flag clear, a
    /// new version, the alarm as it was.
    #[test]
    fn the_express_deadline_is_a_lone_entry_and_leaves_the_alarm() {
        for armed in [None, Some(1), Some(5), Some(6), Some(1 << 40)] {
            for until in [1, 5, 6, 7, 1 << 40, (1 << 40) + 1] {
                let mut s = Scheduler::new();
                let (a, b) = (s.add(2).unwrap(), s.add(2).unwrap());
                assert_eq!(s.schedule(), Some(a));
                s.alarm_set(false, armed);
                let express = s.timeout_express(until);
                assert_eq!(express, armed.is_some_and(|armed| until >= armed));
                let version = s.timeouts.version();
                s.unqueue(b);
                s.hand_over(b, Some(until));
                if express {
                    assert_eq!(s.kind[a], super::kind::BLOCKED_UNTIL);
                    assert_eq!(s.until[a], until);
                    assert_eq!(s.timeouts.iter().collect::<Vec<_>>(), [(a, until)]);
                    assert_eq!(s.timeouts.version(), version.wrapping_add(1));
                    assert!(!s.alarm_stale() && !s.timeouts.take_changed());
                }
                // The reply: `a`'s deadline alone in the queue leaves it.
                assert!(s.forget_express(a));
                let version = s.timeouts.version();
                s.hand_over(a, None);
                assert!(s.timeouts.is_empty() && !s.timeouts.is_queued(a));
                assert_eq!(s.timeouts.version(), version.wrapping_add(1));
            }
        }
        // Not alone: the entry declines.
        let mut s = Scheduler::new();
        let (a, b, c) = (s.add(2).unwrap(), s.add(2).unwrap(), s.add(2).unwrap());
        assert_eq!(s.schedule(), Some(a));
        s.block_current(Some(9));
        assert_eq!(s.schedule(), Some(b));
        assert!(!s.timeout_express(u64::MAX), "the queue holds a's deadline");
        s.unqueue(c);
        s.hand_over(c, Some(8));
        assert!(!s.forget_express(a) && !s.forget_express(b), "two entries");
        assert!(s.forget_express(c), "no deadline");
    }

    #[test]
    fn a_thread_woken_before_its_deadline_leaves_the_timeout_queue() {
        let mut s = Scheduler::new();
        let a = s.add(2).unwrap();
        let b = s.add(2).unwrap();
        let c = s.add(3).unwrap();
        assert_eq!(s.schedule(), Some(a));
        s.block_current(Some(5));
        assert_eq!(s.schedule(), Some(b));
        s.sleep_current(9);
        assert_eq!(s.schedule(), Some(c));
        assert_eq!(s.queued_timeout(a), Some(5));
        s.wake(a);
        assert_eq!(s.queued_timeout(a), None, "woken: its entry goes");
        assert_eq!(s.next_timeout(), Some(9));
        s.wake(b);
        assert_eq!(s.queued_timeout(b), None, "a sleep cut short too");
        assert_eq!(s.next_timeout(), None);
        // The direct switch of a reply to a timed call.
        assert_eq!(s.schedule(), Some(a));
        s.hand_over(b, Some(20));
        assert_eq!(s.queued_timeout(a), Some(20));
        s.hand_over(a, None);
        assert_eq!(s.queued_timeout(a), None, "replied to in time");
        assert_eq!(s.state(a), ThreadState::Running);
        assert_eq!(s.state(b), ThreadState::Blocked { until: None });
    }

    /// A thread that becomes ready with an earlier deadline than the
    /// running one of its priority preempts it; one with a later deadline
    /// or none waits; a more urgent priority still comes first.
    #[test]
    fn an_earlier_deadline_preempts_an_equal_priority() {
        let mut s = Scheduler::new();
        let long = s.add(3).unwrap();
        let short = s.add(3).unwrap();
        let plain = s.add(3).unwrap();
        s.set_deadline(long, 200);
        assert_eq!(s.schedule(), Some(long), "a deadline comes before none");
        s.block_current(None);
        assert_eq!(s.schedule(), Some(short));
        s.block_current(None);
        assert_eq!(s.schedule(), Some(plain));
        s.wake(long);
        assert!(
            s.preempts_current(),
            "a deadline preempts a thread with none"
        );
        assert_eq!(s.schedule(), Some(long));
        s.set_deadline(short, 20);
        s.wake(short);
        assert!(s.preempts_current(), "an earlier deadline preempts");
        assert_eq!(s.schedule(), Some(short));
        s.slice();
        assert_eq!(
            s.schedule(),
            Some(short),
            "the tick's slice sorts it back first"
        );
        assert_eq!(s.rotate(), None, "a yield keeps the earliest deadline on");
        s.block_current(None);
        assert_eq!(s.schedule(), Some(long));
        s.set_deadline(short, 500);
        s.wake(short);
        assert!(!s.preempts_current(), "a later deadline waits");
        let urgent = s.add(1).unwrap();
        assert!(s.preempts_current(), "priority first");
        assert_eq!(s.schedule(), Some(urgent));
        s.end(urgent);
        assert_eq!(s.schedule(), Some(long));
        s.block_current(None);
        assert_eq!(s.schedule(), Some(short));
        s.block_current(None);
        assert_eq!(s.schedule(), Some(plain), "no deadline: last");
    }

    #[test]
    fn equal_deadlines_and_no_deadlines_go_round_robin() {
        let mut s = Scheduler::new();
        let (a, b, c) = (s.add(2).unwrap(), s.add(2).unwrap(), s.add(2).unwrap());
        s.set_deadline(a, 7);
        s.set_deadline(b, 7);
        assert_eq!(
            s.alarm & super::EDF,
            super::EDF,
            "the express yield declines"
        );
        assert_eq!(s.schedule(), Some(a));
        assert!(s.slice_wanted());
        assert_eq!(s.rotate(), Some(b));
        assert_eq!(s.rotate(), Some(a));
        s.set_deadline(a, super::NO_DEADLINE);
        assert!(s.preempts_current(), "a lost its deadline");
        assert_eq!(s.schedule(), Some(b));
        s.set_deadline(b, super::NO_DEADLINE);
        assert_eq!(s.alarm & super::EDF, 0, "no deadline left");
        assert!(!s.preempts_current());
        assert_eq!(s.rotate(), Some(c), "FIFO again: c, then a");
        assert_eq!(s.rotate(), Some(a));
        assert_eq!(s.rotate(), Some(b));
    }

    #[test]
    fn a_suspended_thread_runs_only_when_resumed_and_its_wait_is_over() {
        let mut s = Scheduler::new();
        let (a, b) = (s.add(2).unwrap(), s.add(4).unwrap());
        assert_eq!(s.schedule(), Some(a));
        s.suspend(a);
        assert_eq!(s.current(), None, "off the CPU");
        assert_eq!(s.schedule(), Some(b));
        s.resume(a);
        assert_eq!(s.schedule(), Some(a), "resumed: it preempts b");
        s.block_current(Some(9));
        s.suspend(a);
        assert!(!s.blocked_untimed(a));
        assert_eq!(s.schedule(), Some(b));
        assert_eq!(s.tick(9).as_slice(), &[a], "its wait still times out");
        assert_eq!(s.schedule(), Some(b), "but it stays suspended");
        s.resume(a);
        assert_eq!(s.schedule(), Some(a));
        s.block_current(None);
        s.suspend(a);
        s.resume(a);
        assert_eq!(s.schedule(), Some(b), "resumed, still blocked");
        s.suspend(a);
        s.wake(a);
        assert_eq!(s.schedule(), Some(b), "woken, still suspended");
        assert!(!s.switch_to(a));
        s.suspend(b);
        assert_eq!(s.schedule(), None);
        s.resume(a);
        assert_eq!(s.schedule(), Some(a));
        s.end(b);
    }

    #[test]
    fn a_priority_change_moves_a_queued_thread_and_keeps_the_ceiling() {
        let mut s = Scheduler::new();
        let (a, b) = (s.add(3).unwrap(), s.add(5).unwrap());
        assert_eq!((s.ceiling(a), s.ceiling(b)), (3, 5));
        assert_eq!(s.schedule(), Some(a));
        s.set_priority(b, 1);
        assert!(s.preempts_current());
        assert_eq!(s.schedule(), Some(b));
        s.set_priority(b, 6);
        assert_eq!(s.schedule(), Some(a), "lowered while running: preempted");
        assert_eq!(s.ceiling(b), 5, "the ceiling stays");
    }

    #[test]
    fn cpu_time_goes_to_the_thread_on_the_cpu() {
        let mut s = Scheduler::new();
        let (a, b) = (s.add(2).unwrap(), s.add(2).unwrap());
        s.count_from(u32::MAX - 9);
        assert_eq!(s.schedule(), Some(a));
        s.account(90); // wraps: 100 cycles
        s.block_current(None);
        assert_eq!(s.schedule(), Some(b));
        s.account(120);
        s.block_current(None);
        s.account(500); // idle: nobody
        assert_eq!((s.cpu_time(a), s.cpu_time(b)), (100, 30));
    }

    mod model {
        use proptest::prelude::*;

        use super::super::{NO_DEADLINE, Scheduler, ThreadState};

        #[derive(Clone, Copy, Debug, PartialEq)]
        enum St {
            Ready,
            Running,
            Blocked,
        }

        /// The rule, written plainly: pick = min by (priority, deadline
        /// (none last), order of becoming ready).
        struct Model {
            prio: Vec<u8>,
            dl: Vec<u64>,
            st: Vec<St>,
            seq: Vec<u64>,
            suspended: Vec<bool>,
            current: Option<usize>,
            clock: u64,
        }

        impl Model {
            fn queued(&self, i: usize) -> bool {
                self.st[i] == St::Ready && !self.suspended[i]
            }
            fn enqueue(&mut self, i: usize) {
                self.clock += 1;
                self.seq[i] = self.clock;
            }
            fn best(&self) -> Option<usize> {
                (0..self.prio.len())
                    .filter(|&i| self.queued(i))
                    .min_by_key(|&i| (self.prio[i], self.dl[i], self.seq[i]))
            }
            fn outranks(&self, r: usize, c: usize) -> bool {
                self.prio[r] < self.prio[c]
                    || (self.prio[r] == self.prio[c] && self.dl[r] < self.dl[c])
            }
            fn yield_current(&mut self) {
                if let Some(c) = self.current.take() {
                    self.st[c] = St::Ready;
                    self.enqueue(c);
                }
            }
            fn run(&mut self, i: usize) {
                self.st[i] = St::Running;
                self.current = Some(i);
            }
            fn schedule(&mut self) -> Option<usize> {
                if let Some(c) = self.current {
                    match self.best() {
                        Some(r) if self.outranks(r, c) => self.yield_current(),
                        _ => return Some(c),
                    }
                }
                let next = self.best()?;
                self.run(next);
                Some(next)
            }
        }

        #[derive(Clone, Debug)]
        enum Op {
            Schedule,
            Yield,
            Rotate,
            Slice,
            Block,
            Wake(usize),
            Deadline(usize, Option<u64>),
            Priority(usize, u8),
            Suspend(usize),
            Resume(usize),
            /// The IPC fast paths' direct switch to a blocked thread.
            HandOver(usize),
        }

        fn op(n: usize) -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => Just(Op::Schedule),
                1 => Just(Op::Yield),
                1 => Just(Op::Rotate),
                1 => Just(Op::Slice),
                2 => Just(Op::Block),
                3 => (0..n).prop_map(Op::Wake),
                3 => (0..n, proptest::option::of(0u64..4)).prop_map(|(i, d)| Op::Deadline(i, d)),
                1 => (0..n, 0u8..3).prop_map(|(i, p)| Op::Priority(i, p)),
                1 => (0..n).prop_map(Op::Suspend),
                1 => (0..n).prop_map(Op::Resume),
                2 => (0..n).prop_map(Op::HandOver),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn the_scheduler_picks_as_the_reference_model(
                prios in proptest::collection::vec(0u8..3, 6),
                ops in proptest::collection::vec(op(6), 1..60),
            ) {
                let n = prios.len();
                let mut s = Scheduler::new();
                let mut m = Model {
                    prio: prios.clone(),
                    dl: vec![NO_DEADLINE; n],
                    st: vec![St::Ready; n],
                    seq: vec![0; n],
                    suspended: vec![false; n],
                    current: None,
                    clock: 0,
                };
                for (i, p) in prios.iter().enumerate() {
                    prop_assert_eq!(s.add(*p), Some(i));
                    m.enqueue(i);
                }
                for op in ops {
                    match op {
                        Op::Schedule => prop_assert_eq!(s.schedule(), m.schedule()),
                        Op::Yield => {
                            s.yield_current();
                            m.yield_current();
                        }
                        Op::Rotate => {
                            let expected = match m.current {
                                None => None,
                                Some(c) => {
                                    let rival = (0..n).any(|i| m.queued(i) && m.prio[i] <= m.prio[c]);
                                    if !rival {
                                        None
                                    } else {
                                        m.yield_current();
                                        let next = m.best().unwrap();
                                        m.run(next);
                                        (next != c).then_some(next)
                                    }
                                }
                            };
                            prop_assert_eq!(s.rotate(), expected);
                        }
                        Op::Slice => {
                            if let Some(c) = m.current
                                && (0..n).any(|i| m.queued(i) && m.prio[i] <= m.prio[c])
                            {
                                m.yield_current();
                            }
                            s.slice();
                        }
                        Op::Block => {
                            if let Some(c) = m.current.take() {
                                m.st[c] = St::Blocked;
                            }
                            s.block_current(None);
                        }
                        Op::Wake(i) => {
                            if m.st[i] == St::Blocked {
                                m.st[i] = St::Ready;
                                m.enqueue(i);
                            }
                            s.wake(i);
                        }
                        Op::Deadline(i, d) => {
                            let d = d.unwrap_or(NO_DEADLINE);
                            m.dl[i] = d;
                            if m.queued(i) {
                                m.enqueue(i);
                            }
                            s.set_deadline(i, d);
                        }
                        Op::Priority(i, p) => {
                            m.prio[i] = p;
                            if m.queued(i) {
                                m.enqueue(i);
                            }
                            s.set_priority(i, p);
                        }
                        Op::Suspend(i) => {
                            if m.current == Some(i) {
                                m.current = None;
                                m.st[i] = St::Ready;
                            }
                            m.suspended[i] = true;
                            s.suspend(i);
                        }
                        Op::HandOver(i) => {
                            // Where the fast paths take it: `i` waits,
                            // nothing at least as urgent is ready.
                            let takes = m.st[i] == St::Blocked
                                && !m.suspended[i]
                                && s.would_run_next(m.prio[i]);
                            prop_assert_eq!(
                                s.would_run_next(m.prio[i]),
                                !(0..n).any(|j| m.queued(j) && m.prio[j] <= m.prio[i])
                            );
                            if takes {
                                if let Some(c) = m.current.take() {
                                    m.st[c] = St::Blocked;
                                }
                                m.run(i);
                                s.hand_over(i, None);
                            }
                        }
                        Op::Resume(i) => {
                            // (A queued thread that was not suspended goes
                            // to the back of its equals, as any change
                            // does: the system call refuses that case.)
                            m.suspended[i] = false;
                            if m.queued(i) {
                                m.enqueue(i);
                            }
                            s.resume(i);
                        }
                    }
                    // Every queue holds exactly the model's queued threads
                    // of its priority, in its order; the states agree.
                    prop_assert_eq!(s.current(), m.current);
                    for p in 0..3u8 {
                        let mut expected: Vec<usize> =
                            (0..n).filter(|&i| m.queued(i) && m.prio[i] == p).collect();
                        expected.sort_by_key(|&i| (m.dl[i], m.seq[i]));
                        let mut got = Vec::new();
                        let mut at = s.head[usize::from(p)];
                        while at != super::super::NONE {
                            got.push(usize::from(at));
                            at = s.next[usize::from(at)];
                        }
                        prop_assert_eq!(s.ready_mask & (1 << p) != 0, !got.is_empty());
                        let tail = got.last().map_or(super::super::NONE, |&t| t as u8);
                        prop_assert_eq!(s.tail[usize::from(p)], tail);
                        prop_assert_eq!(got, expected, "queue {}", p);
                    }
                    for i in 0..n {
                        let state = match m.st[i] {
                            St::Ready => ThreadState::Ready,
                            St::Running => ThreadState::Running,
                            St::Blocked => ThreadState::Blocked { until: None },
                        };
                        prop_assert_eq!(s.state(i), state);
                        prop_assert_eq!(s.is_suspended(i), m.suspended[i]);
                    }
                    // The running thread is never outranked after a pick.
                    if let Some(c) = m.current
                        && let Some(r) = m.best()
                    {
                        prop_assert_eq!(s.preempts_current(), m.outranks(r, c));
                    }
                }
            }
        }
    }
}
