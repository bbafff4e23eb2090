//! Threads and the scheduler: preemptive fixed priorities (0 is the most
//! urgent), FIFO within a priority, round-robin among equals at tick
//! boundaries. Sleeps and wait timeouts sit in a [`DeadlineQueue`], so a
//! tick looks only at what is due. Plain data, no hardware: the kernel
//! binary drives it from traps.

use heapless::{Deque, Vec};

use crate::timer::DeadlineQueue;

/// Index of a thread.
pub type ThreadId = usize;
/// Most threads the kernel runs.
pub const MAX_THREADS: usize = 16;
/// Number of priority levels.
pub const PRIORITIES: usize = 8;

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

/// The run queues and thread states.
pub struct Scheduler {
    priority: [u8; MAX_THREADS],
    state: [ThreadState; MAX_THREADS],
    count: usize,
    queues: [Deque<u8, MAX_THREADS>; PRIORITIES],
    /// Bit `p` set when queue `p` is not empty: the most urgent ready
    /// priority is one count-trailing-zeros away.
    ready_mask: u32,
    current: Option<ThreadId>,
    /// When sleepers wake and waits time out. An entry whose thread was
    /// woken earlier (its state no longer names that deadline) is skipped
    /// when it comes up.
    timeouts: DeadlineQueue<MAX_THREADS>,
    /// [`ALARM_STALE`] and [`SLICE_ARMED`] (one byte: one load on the
    /// trap exit's check).
    alarm: u8,
}

/// The earliest deadline (of a timeout or, noted by the kernel, of a
/// timer) changed since the alarm was set.
const ALARM_STALE: u8 = 1;
/// The alarm comes at the next tick boundary (which slices).
const SLICE_ARMED: u8 = 2;

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
            state: [ThreadState::Ended; MAX_THREADS],
            count: 0,
            queues: [const { Deque::new() }; PRIORITIES],
            ready_mask: 0,
            current: None,
            timeouts: DeadlineQueue::new(),
            alarm: 0,
        }
    }

    /// Add a ready thread; `None` when full or the priority does not exist.
    pub fn add(&mut self, priority: u8) -> Option<ThreadId> {
        if self.count == MAX_THREADS || priority as usize >= PRIORITIES {
            return None;
        }
        let id = self.count;
        self.count += 1;
        self.priority[id] = priority;
        self.state[id] = ThreadState::Ready;
        self.enqueue(id);
        Some(id)
    }

    /// The thread on the CPU, if any.
    pub fn current(&self) -> Option<ThreadId> {
        self.current
    }

    /// A thread's state.
    pub fn state(&self, id: ThreadId) -> ThreadState {
        self.state[id]
    }

    /// A thread's priority.
    pub fn priority(&self, id: ThreadId) -> u8 {
        self.priority[id]
    }

    /// Whether every thread has ended.
    pub fn all_ended(&self) -> bool {
        self.state[..self.count]
            .iter()
            .all(|state| *state == ThreadState::Ended)
    }

    fn enqueue(&mut self, id: ThreadId) {
        // Capacity is MAX_THREADS per queue and a thread is queued at most
        // once, so this cannot fail.
        let priority = self.priority[id] as usize;
        let _ = self.queues[priority].push_back(id as u8);
        self.ready_mask |= 1 << priority;
    }

    /// The current thread gives up the CPU and goes to the back of its queue.
    pub fn yield_current(&mut self) {
        if let Some(id) = self.current.take() {
            self.state[id] = ThreadState::Ready;
            self.enqueue(id);
        }
    }

    /// The current thread sleeps until tick `until`.
    pub fn sleep_current(&mut self, until: u64) {
        if let Some(id) = self.current.take() {
            self.state[id] = ThreadState::Sleeping { until };
            self.timeouts.insert(id, until);
            if self.timeouts.take_changed() {
                self.alarm |= ALARM_STALE;
            }
        }
    }

    /// The current thread waits for an object, at most until tick `until`.
    pub fn block_current(&mut self, until: Option<u64>) {
        if let Some(id) = self.current.take() {
            self.state[id] = ThreadState::Blocked { until };
            if let Some(until) = until {
                self.timeouts.insert(id, until);
                if self.timeouts.take_changed() {
                    self.alarm |= ALARM_STALE;
                }
            }
        }
    }

    /// Make a blocked or sleeping thread ready (no effect otherwise).
    pub fn wake(&mut self, id: ThreadId) {
        if matches!(
            self.state[id],
            ThreadState::Blocked { .. } | ThreadState::Sleeping { .. }
        ) {
            self.state[id] = ThreadState::Ready;
            self.enqueue(id);
        }
    }

    /// Take a ready thread out of its queue, keeping the others' order.
    fn unqueue(&mut self, id: ThreadId) {
        let priority = self.priority[id] as usize;
        let queue = &mut self.queues[priority];
        for _ in 0..queue.len() {
            if let Some(queued) = queue.pop_front()
                && queued as usize != id
            {
                let _ = queue.push_back(queued);
            }
        }
        if queue.is_empty() {
            self.ready_mask &= !(1 << priority);
        }
    }

    /// Run `id` now (a directed switch, as IPC does): the current thread
    /// goes back to its queue. `id` must be ready or already current.
    pub fn switch_to(&mut self, id: ThreadId) -> bool {
        if self.current == Some(id) {
            return true;
        }
        if self.state[id] != ThreadState::Ready {
            return false;
        }
        self.unqueue(id);
        self.yield_current();
        self.state[id] = ThreadState::Running;
        self.current = Some(id);
        true
    }

    /// End a thread, wherever it is.
    pub fn end(&mut self, id: ThreadId) {
        if self.state[id] == ThreadState::Ready {
            self.unqueue(id);
        }
        if self.current == Some(id) {
            self.current = None;
        }
        self.state[id] = ThreadState::Ended;
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

    /// The next thread whose sleep ends or whose wait times out by tick
    /// `now`, made ready: its id and whether it was a timed-out wait.
    /// Looks only at the head of the deadline queue.
    pub fn wake_expired(&mut self, now: u64) -> Option<(ThreadId, bool)> {
        while let Some((id, deadline)) = self.timeouts.pop_due(now) {
            let timed_out = match self.state[id] {
                ThreadState::Sleeping { until } if until == deadline => false,
                ThreadState::Blocked { until: Some(until) } if until == deadline => true,
                _ => continue, // woken before its deadline
            };
            self.state[id] = ThreadState::Ready;
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
        if let Some(current) = self.current
            && self
                .most_urgent_ready()
                .is_some_and(|priority| priority <= self.priority[current])
        {
            self.yield_current();
        }
    }

    /// Whether the next tick boundary must slice: another thread of the
    /// running thread's priority is ready. (A more urgent one would be
    /// running already.)
    #[inline]
    pub fn slice_wanted(&self) -> bool {
        match self.current {
            Some(current) => self.ready_mask & (1 << self.priority[current]) != 0,
            None => false,
        }
    }

    /// The earliest sleep end or wait timeout still pending (entries of
    /// threads woken earlier are dropped on the way).
    pub fn next_timeout(&mut self) -> Option<u64> {
        while let Some((id, deadline)) = self.timeouts.peek() {
            match self.state[id] {
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

    /// The earliest deadline of something else (a timer) changed.
    pub fn deadlines_changed(&mut self) {
        self.alarm |= ALARM_STALE;
    }

    /// The alarm was set from the current deadlines; `slice_armed`: it
    /// comes at the next tick boundary (which slices).
    pub fn alarm_set(&mut self, slice_armed: bool) {
        self.alarm = if slice_armed { SLICE_ARMED } else { 0 };
    }

    /// Whether the alarm must be set again after a scheduling decision: a
    /// deadline changed, or a time slice is wanted and no interrupt comes
    /// at the next tick boundary. Cheap: it runs on every trap exit.
    #[inline]
    pub fn alarm_wanted(&self) -> bool {
        match self.alarm {
            0 => self.ready_mask != 0 && self.slice_wanted(),
            alarm => alarm & ALARM_STALE != 0,
        }
    }

    /// Where `id` is in the timeout queue (checks).
    pub fn queued_timeout(&self, id: ThreadId) -> Option<u64> {
        self.timeouts.deadline(id)
    }

    fn most_urgent_ready(&self) -> Option<u8> {
        (self.ready_mask != 0).then(|| self.ready_mask.trailing_zeros() as u8)
    }

    fn dequeue(&mut self, priority: u8) -> Option<ThreadId> {
        let queue = &mut self.queues[priority as usize];
        let id = queue.pop_front()?;
        if queue.is_empty() {
            self.ready_mask &= !(1 << priority);
        }
        Some(id as usize)
    }

    /// Choose the thread to run: the current one, unless a more urgent one
    /// is ready; else the head of the most urgent non-empty queue.
    pub fn schedule(&mut self) -> Option<ThreadId> {
        if let Some(current) = self.current {
            match self.most_urgent_ready() {
                Some(priority) if priority < self.priority[current] => self.yield_current(),
                _ => return Some(current),
            }
        }
        let priority = self.most_urgent_ready()?;
        let id = self.dequeue(priority)?;
        self.state[id] = ThreadState::Running;
        self.current = Some(id);
        Some(id)
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
        s.alarm_set(true);
        assert!(!s.alarm_wanted(), "the next boundary is armed");
        s.slice();
        assert_eq!(s.schedule(), Some(b));
        assert!(s.alarm_wanted(), "the slice was taken: arm the next one");
        s.block_current(Some(9));
        assert_eq!(s.schedule(), Some(a));
        assert!(s.alarm_wanted(), "a new earliest deadline");
        s.alarm_set(false);
        assert!(!s.alarm_wanted(), "a alone: no slice");
        s.sleep_current(20);
        assert!(!s.alarm_wanted(), "a later deadline changes nothing");
        s.deadlines_changed();
        assert!(s.alarm_wanted());
    }
}
