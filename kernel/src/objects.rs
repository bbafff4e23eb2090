//! Kernel objects as plain state machines: notifications, semaphores,
//! timers and endpoint queues. They say who wakes up; the kernel binary
//! moves registers and tells the scheduler.

use sotto_abi::Error;
use sotto_abi::manifest::TimerTarget;

use crate::sched::{MAX_THREADS, ThreadId};

/// A FIFO of waiting threads (each thread waits on one thing at a time, so
/// it never overflows): thread numbers, oldest first, always from the
/// first (taking one moves the rest up: at most fifteen bytes, and the
/// oldest is one load, with no head index, for the entry's IPC fast
/// paths), and their count, after them or, with `LEN_FIRST`, before them
/// (an endpoint's receivers: its two counts are then one halfword, which
/// the express `ReplyRecv` reads at once). Fixed width: those paths read
/// and write an endpoint's queues ([`queue`] has the offsets).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct WaitQueue<const LEN_FIRST: bool = false> {
    bytes: [u8; MAX_THREADS + 1],
}

/// Offsets into a [`WaitQueue`] for the assembly.
pub mod queue {
    use super::{MAX_THREADS, WaitQueue};

    /// The count.
    pub const fn len(len_first: bool) -> u32 {
        if len_first { 0 } else { MAX_THREADS as u32 }
    }
    /// The oldest thread.
    pub const fn oldest(len_first: bool) -> u32 {
        if len_first { 1 } else { 0 }
    }
    const _: () = assert!(size_of::<WaitQueue<true>>() == MAX_THREADS + 1);
    const _: () = assert!(size_of::<WaitQueue<false>>() == MAX_THREADS + 1);
}

const _: () = assert!(MAX_THREADS.is_power_of_two() && MAX_THREADS <= 128);

impl<const LEN_FIRST: bool> Default for WaitQueue<LEN_FIRST> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const LEN_FIRST: bool> WaitQueue<LEN_FIRST> {
    /// Where the count is.
    const LEN_AT: usize = queue::len(LEN_FIRST) as usize;
    /// Where the oldest is.
    const OLDEST_AT: usize = queue::oldest(LEN_FIRST) as usize;

    /// Nobody waits.
    pub const fn new() -> Self {
        WaitQueue {
            bytes: [0; MAX_THREADS + 1],
        }
    }

    /// How many wait.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.bytes[Self::LEN_AT])
    }

    /// Whether nobody waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The oldest.
    #[inline]
    pub fn front(&self) -> Option<&u8> {
        (!self.is_empty()).then_some(&self.bytes[Self::OLDEST_AT])
    }

    /// Take the oldest.
    #[inline]
    pub fn pop_front(&mut self) -> Option<u8> {
        (!self.is_empty()).then(|| take(&mut self.bytes, Self::OLDEST_AT, Self::LEN_AT, 0))
    }

    /// Add the newest; `Err` (with it) when full.
    #[inline]
    pub fn push_back(&mut self, thread: u8) -> Result<(), u8> {
        push(&mut self.bytes, Self::OLDEST_AT, Self::LEN_AT, thread)
    }

    /// Take `thread` out, keeping the others' order; whether it waited.
    /// (A thread waits at most once: the first match is the only one.)
    #[inline]
    pub fn remove(&mut self, thread: ThreadId) -> bool {
        remove_thread(&mut self.bytes, Self::OLDEST_AT, Self::LEN_AT, thread)
    }

    /// Oldest first.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = &u8> {
        self.bytes[Self::OLDEST_AT..Self::OLDEST_AT + self.len().min(MAX_THREADS)].iter()
    }
}

/// Take the thread `at` places after the oldest (at `oldest_at`) of a
/// queue's bytes whose count (not 0) is at `len_at`: the younger ones move
/// up one place. (Out of line, for both layouts: one copy for every
/// queue.)
#[inline(never)]
fn take(bytes: &mut [u8; MAX_THREADS + 1], oldest_at: usize, len_at: usize, at: usize) -> u8 {
    let place = |index: usize| (oldest_at + index).min(MAX_THREADS);
    let len = usize::from(bytes[len_at.min(MAX_THREADS)]);
    let thread = bytes[place(at)];
    for later in at..len.saturating_sub(1) {
        bytes[place(later)] = bytes[place(later + 1)];
    }
    bytes[len_at.min(MAX_THREADS)] = len.saturating_sub(1) as u8;
    thread
}

/// Take `thread` out of a queue's bytes (as [`take`]), keeping the
/// others' order; whether it waited.
#[inline(never)]
fn remove_thread(
    bytes: &mut [u8; MAX_THREADS + 1],
    oldest_at: usize,
    len_at: usize,
    thread: ThreadId,
) -> bool {
    let len = usize::from(bytes[len_at.min(MAX_THREADS)]);
    let Some(at) =
        (0..len).find(|&at| usize::from(bytes[(oldest_at + at).min(MAX_THREADS)]) == thread)
    else {
        return false;
    };
    take(bytes, oldest_at, len_at, at);
    true
}

/// Add `thread` after the others in a queue's bytes (as [`take`]); `Err`
/// (with it) when full.
#[inline(never)]
fn push(
    bytes: &mut [u8; MAX_THREADS + 1],
    oldest_at: usize,
    len_at: usize,
    thread: u8,
) -> Result<(), u8> {
    let len = usize::from(bytes[len_at.min(MAX_THREADS)]);
    if len >= MAX_THREADS {
        return Err(thread);
    }
    bytes[(oldest_at + len).min(MAX_THREADS)] = thread;
    bytes[len_at.min(MAX_THREADS)] = len as u8 + 1;
    Ok(())
}

/// Byte offsets of the words the system-call entry reads and writes
/// itself in a [`Notification`] or [`Semaphore`] (its give and signal
/// fast paths): the value (bits or count), the most it may count to, and
/// how many threads wait.
pub mod fast {
    /// Bits of a notification, count of a semaphore.
    pub const VALUE: u32 = 0;
    /// A semaphore's most (a notification's: `u32::MAX`, unused).
    pub const MAX: u32 = 4;
    /// Threads waiting (the queue's length).
    pub const WAITING: u32 = 8;
}

/// A word of signal bits.
#[repr(C)]
pub struct Notification {
    bits: u32,
    _max: u32,
    /// `waiters.len()`, where the entry reads it.
    waiting: u32,
    waiters: WaitQueue,
}

impl Default for Notification {
    fn default() -> Self {
        Notification {
            bits: 0,
            _max: u32::MAX,
            waiting: 0,
            waiters: WaitQueue::new(),
        }
    }
}

impl Notification {
    /// Set `bits`. If a thread waits, it gets every pending bit (and they
    /// are cleared): returns it and the bits.
    #[inline(always)]
    pub fn signal(&mut self, bits: u32) -> Option<(ThreadId, u32)> {
        self.bits |= bits;
        if self.bits == 0 {
            return None;
        }
        let waiter = self.waiters.pop_front()? as usize;
        self.waiting = self.waiters.len() as u32;
        Some((waiter, core::mem::take(&mut self.bits)))
    }

    /// Wait: the pending bits now (cleared), or `None` and `thread` waits.
    pub fn wait(&mut self, thread: ThreadId) -> Option<u32> {
        if self.bits != 0 {
            return Some(core::mem::take(&mut self.bits));
        }
        let _ = self.waiters.push_back(thread as u8);
        self.waiting = self.waiters.len() as u32;
        None
    }

    /// The oldest waiter takes every pending bit (the express tick's
    /// signal, whose bits its plan knows): it leaves the queue, nothing
    /// stays pending.
    #[inline(always)]
    pub fn hand_to_first(&mut self) {
        let _ = self.waiters.pop_front();
        self.waiting = self.waiters.len() as u32;
        self.bits = 0;
    }

    /// The thread a signal would wake now (the oldest waiter), if any.
    #[inline]
    pub fn first_waiter(&self) -> Option<ThreadId> {
        // (Masked, as `Scheduler::current`: no bounds check where it is used.)
        self.waiters
            .front()
            .map(|thread| usize::from(*thread) % MAX_THREADS)
    }

    /// The pending bits, left pending (read-only: invariant checks).
    pub fn pending(&self) -> u32 {
        self.bits
    }

    /// The pending bits (cleared), without waiting.
    #[inline(never)]
    pub fn poll(&mut self) -> u32 {
        core::mem::take(&mut self.bits)
    }

    /// `thread` stops waiting (it ended).
    pub fn forget(&mut self, thread: ThreadId) {
        self.waiters.remove(thread);
        self.waiting = self.waiters.len() as u32;
    }

    /// The waiting threads, oldest first (read-only: invariant checks).
    pub fn waiters(&self) -> impl Iterator<Item = ThreadId> + '_ {
        self.waiters.iter().map(|thread| usize::from(*thread))
    }
}

/// A counting semaphore.
#[repr(C)]
pub struct Semaphore {
    count: u32,
    max: u32,
    /// `waiters.len()`, where the entry reads it.
    waiting: u32,
    waiters: WaitQueue,
}

impl Semaphore {
    /// Count `initial` (at most `max`).
    pub fn new(initial: u32, max: u32) -> Semaphore {
        Semaphore {
            count: initial.min(max),
            max,
            waiting: 0,
            waiters: WaitQueue::new(),
        }
    }

    /// The count.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Give: wake the first waiter (returned) or count up.
    pub fn give(&mut self) -> Result<Option<ThreadId>, Error> {
        if let Some(waiter) = self.waiters.pop_front() {
            self.waiting = self.waiters.len() as u32;
            return Ok(Some(waiter as usize));
        }
        if self.count >= self.max {
            return Err(Error::Overflow);
        }
        self.count += 1;
        Ok(None)
    }

    /// Take: `Ok(true)` if taken now, `Ok(false)` if `thread` now waits,
    /// `WouldBlock` if it may not wait.
    pub fn take(&mut self, thread: ThreadId, may_wait: bool) -> Result<bool, Error> {
        if self.count > 0 {
            self.count -= 1;
            return Ok(true);
        }
        if !may_wait {
            return Err(Error::WouldBlock);
        }
        let _ = self.waiters.push_back(thread as u8);
        self.waiting = self.waiters.len() as u32;
        Ok(false)
    }

    /// `thread` stops waiting (timeout, or it ended); whether it was waiting.
    pub fn forget(&mut self, thread: ThreadId) -> bool {
        let found = self.waiters.remove(thread);
        self.waiting = self.waiters.len() as u32;
        found
    }

    /// The waiting threads, oldest first (read-only: invariant checks).
    pub fn waiters(&self) -> impl Iterator<Item = ThreadId> + '_ {
        self.waiters.iter().map(|thread| usize::from(*thread))
    }
}

/// A one-shot or periodic timer on the kernel tick.
pub struct Timer {
    /// What firing does.
    pub target: TimerTarget,
    deadline: Option<u64>,
    period: u64,
    fired: u64,
}

impl Timer {
    /// Disarmed.
    pub fn new(target: TimerTarget) -> Timer {
        Timer {
            target,
            deadline: None,
            period: 0,
            fired: 0,
        }
    }

    /// First expiry at tick `now + delay`, then every `period` ticks (0:
    /// once). Re-arming replaces the previous setting.
    pub fn arm(&mut self, now: u64, delay: u64, period: u64) {
        self.deadline = Some(now + delay.max(1));
        self.period = period;
    }

    /// Disarm.
    pub fn cancel(&mut self) {
        self.deadline = None;
    }

    /// The next expiry.
    pub fn deadline(&self) -> Option<u64> {
        self.deadline
    }

    /// Ticks between expiries (0: once).
    #[inline]
    pub fn period(&self) -> u64 {
        self.period
    }

    /// Times fired so far.
    pub fn fired(&self) -> u64 {
        self.fired
    }

    /// One expiry, the next at `next` (its deadline plus its period: what
    /// [`Timer::expire`] does when exactly one is due).
    #[inline]
    pub fn fire_once(&mut self, next: u64) {
        self.fired += 1;
        self.deadline = Some(next);
    }

    /// Expiries due at tick `now`. A periodic timer advances on its own
    /// grid (`deadline += period`), so it never drifts.
    pub fn expire(&mut self, now: u64) -> u32 {
        let Some(mut next) = self.deadline.filter(|deadline| *deadline <= now) else {
            return 0;
        };
        if self.period == 0 {
            self.deadline = None;
            self.fired += 1;
            return 1;
        }
        // Mostly once: a loop, no 64-bit division (a builtin call here).
        let mut count = 0;
        while next <= now {
            count += 1;
            next += self.period;
        }
        self.fired += u64::from(count);
        self.deadline = Some(next);
        count
    }
}

/// The queues of an endpoint: callers waiting for a receiver, receivers
/// waiting for a caller. `repr(C)`, fixed width: the entry's IPC fast
/// paths reach it by the offsets of [`endpoint`].
#[derive(Default)]
#[repr(C)]
pub struct Endpoint {
    /// Threads blocked in `call`, oldest first.
    pub callers: WaitQueue,
    /// Threads blocked in `receive`, oldest first (its count first: the
    /// two counts are one halfword, `endpoint::LENS`).
    pub receivers: WaitQueue<true>,
    /// The threads of the live services holding a RECEIVE capability on
    /// it, one bit each (kept by the kernel whenever such a capability
    /// comes or goes, so a call needs no scan of the capability tables).
    pub holders: u16,
    /// The least urgent priority among the services of `holders` (theirs:
    /// their main threads'; 0 when none).
    pub least_urgent: u8,
    /// Set when a restart left it with no caller outside its receivers'
    /// services while none of them was waiting on it: the next receive
    /// that would wait fails with `PeerRestarted` instead, once (a
    /// receiver woken then would have been: `crate::supervise`).
    pub notice: u8,
}

/// Offsets into [`Endpoint`] for the assembly.
pub mod endpoint {
    use core::mem::offset_of;

    use super::Endpoint;

    use super::queue;

    /// The callers' count (a byte).
    pub const CALLERS_LEN: u32 = offset_of!(Endpoint, callers) as u32 + queue::len(false);
    /// The receivers' count (a byte).
    pub const RECEIVERS_LEN: u32 = offset_of!(Endpoint, receivers) as u32 + queue::len(true);
    /// The oldest receiver (a byte).
    pub const RECEIVERS_OLDEST: u32 = offset_of!(Endpoint, receivers) as u32 + queue::oldest(true);
    /// Both counts, a halfword: nonzero when anyone waits.
    pub const LENS: u32 = CALLERS_LEN;
    const _: () = assert!(RECEIVERS_LEN == CALLERS_LEN + 1 && CALLERS_LEN.is_multiple_of(2));
    /// `least_urgent`.
    pub const LEAST_URGENT: u32 = offset_of!(Endpoint, least_urgent) as u32;
}

impl Endpoint {
    /// Pop the oldest caller.
    #[inline]
    pub fn next_caller(&mut self) -> Option<ThreadId> {
        self.callers
            .pop_front()
            .map(|thread| usize::from(thread) % MAX_THREADS)
    }

    /// Pop the oldest receiver.
    #[inline]
    pub fn next_receiver(&mut self) -> Option<ThreadId> {
        self.receivers
            .pop_front()
            .map(|thread| usize::from(thread) % MAX_THREADS)
    }

    /// `thread` stops waiting here; whether it was.
    pub fn forget(&mut self, thread: ThreadId) -> bool {
        self.callers.remove(thread) | self.receivers.remove(thread)
    }
}

#[cfg(test)]
mod tests {
    use super::{Endpoint, Notification, Semaphore, Timer, fast};

    #[test]
    fn a_wait_queue_removes_from_anywhere_and_keeps_the_order() {
        let mut queue = super::WaitQueue::<false>::new();
        // Wrap the ring first, so the removal crosses its end.
        for thread in 0..14u8 {
            queue.push_back(thread).unwrap();
        }
        for _ in 0..12 {
            queue.pop_front();
        }
        for thread in [3u8, 4, 5, 6] {
            queue.push_back(thread).unwrap();
        }
        assert_eq!(
            queue.iter().copied().collect::<Vec<_>>(),
            [12, 13, 3, 4, 5, 6]
        );
        assert!(queue.remove(13));
        assert!(!queue.remove(13), "gone");
        assert!(queue.remove(6));
        assert!(queue.remove(12));
        assert_eq!(queue.iter().copied().collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(queue.front(), Some(&3));
        queue.push_back(9).unwrap();
        assert_eq!(queue.iter().copied().collect::<Vec<_>>(), [3, 4, 5, 9]);
        assert!(!queue.remove(7));
    }

    /// The entry reads the oldest waiter at `queue::THREADS`, with no
    /// head index: it is always `threads[0]`, however the queue was used,
    /// and a full queue refuses one more.
    #[test]
    fn a_wait_queues_oldest_is_always_first() {
        let mut queue = super::WaitQueue::<false>::new();
        for round in 0..40u8 {
            if queue.len() < 16 {
                queue.push_back(round % 16).unwrap();
            }
            if round % 3 == 0 {
                queue.pop_front();
            }
            if round % 5 == 0 {
                queue.remove(usize::from(round % 16));
            }
            if let Some(&oldest) = queue.front() {
                assert_eq!(queue.bytes[0], oldest, "round {round}");
            }
        }
        let mut full = super::WaitQueue::<false>::new();
        for thread in 0..16u8 {
            full.push_back(thread).unwrap();
        }
        assert_eq!(full.push_back(16), Err(16));
        assert_eq!(full.pop_front(), Some(0));
        assert_eq!(full.bytes[0], 1);
        assert_eq!(full.len(), 15);
    }

    /// Both layouts against a plain list, through full capacity (16),
    /// removals from anywhere and refusals when full: the order, the
    /// count, and where the entry reads them (the oldest and the count at
    /// their layout's bytes; an endpoint's two counts in one halfword).
    #[test]
    fn both_wait_queue_layouts_follow_a_list_at_any_fill() {
        fn check<const LEN_FIRST: bool>(seed: u32) {
            let mut queue = super::WaitQueue::<LEN_FIRST>::new();
            let mut model: Vec<u8> = Vec::new();
            let mut state = seed;
            for step in 0..4000 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let thread = ((state >> 16) % 16) as u8;
                match (state >> 8) % 4 {
                    0 | 1 if !model.contains(&thread) => {
                        let pushed = queue.push_back(thread);
                        if model.len() == 16 {
                            assert_eq!(pushed, Err(thread), "step {step}");
                        } else {
                            assert_eq!(pushed, Ok(()), "step {step}");
                            model.push(thread);
                        }
                    }
                    2 => {
                        let expected = model.iter().position(|&t| t == thread);
                        assert_eq!(queue.remove(usize::from(thread)), expected.is_some());
                        if let Some(at) = expected {
                            model.remove(at);
                        }
                    }
                    _ => {
                        let expected = (!model.is_empty()).then(|| model.remove(0));
                        assert_eq!(queue.pop_front(), expected, "step {step}");
                    }
                }
                assert_eq!(
                    queue.iter().copied().collect::<Vec<_>>(),
                    model,
                    "step {step}"
                );
                assert_eq!(queue.len(), model.len());
                let len_at = super::queue::len(LEN_FIRST) as usize;
                let oldest_at = super::queue::oldest(LEN_FIRST) as usize;
                assert_eq!(usize::from(queue.bytes[len_at]), model.len());
                if let Some(&oldest) = model.first() {
                    assert_eq!(queue.bytes[oldest_at], oldest, "step {step}");
                }
            }
        }
        for seed in 0..8 {
            check::<false>(seed);
            check::<true>(seed);
        }
        let mut endpoint = Endpoint::default();
        for thread in 0..16u8 {
            endpoint.receivers.push_back(thread).unwrap();
        }
        for thread in 0..3u8 {
            endpoint.callers.push_back(thread).unwrap();
        }
        assert!(endpoint.forget(7));
        // SAFETY: `Endpoint` is `repr(C)`, at least 2-aligned (`holders`),
        // and `LENS` is an even offset within it.
        let lens = unsafe {
            core::ptr::from_ref(&endpoint)
                .cast::<u8>()
                .add(super::endpoint::LENS as usize)
                .cast::<u16>()
                .read()
        };
        assert_eq!(
            lens,
            3 | (15 << 8),
            "the callers' count low, the receivers' high"
        );
        // SAFETY: as above, a byte within it.
        let oldest = unsafe {
            core::ptr::from_ref(&endpoint)
                .cast::<u8>()
                .add(super::endpoint::RECEIVERS_OLDEST as usize)
                .read()
        };
        assert_eq!(oldest, 0);
        assert_eq!(endpoint.next_receiver(), Some(0));
        assert_eq!(
            endpoint.receivers.iter().copied().collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15]
        );
    }

    #[test]
    fn the_fast_words_are_where_the_entry_reads_them() {
        use core::mem::offset_of;
        assert_eq!(offset_of!(Semaphore, count) as u32, fast::VALUE);
        assert_eq!(offset_of!(Semaphore, max) as u32, fast::MAX);
        assert_eq!(offset_of!(Semaphore, waiting) as u32, fast::WAITING);
        assert_eq!(offset_of!(Notification, bits) as u32, fast::VALUE);
        assert_eq!(offset_of!(Notification, waiting) as u32, fast::WAITING);
        let mut semaphore = Semaphore::new(0, 1);
        assert_eq!(semaphore.take(3, true), Ok(false));
        assert_eq!(semaphore.waiting, 1, "the mirror follows the queue");
        assert!(semaphore.forget(3));
        assert_eq!(semaphore.waiting, 0);
        let mut note = Notification::default();
        assert_eq!(note.wait(2), None);
        assert_eq!(note.waiting, 1);
        assert_eq!(note.signal(1), Some((2, 1)));
        assert_eq!(note.waiting, 0);
    }
    use sotto_abi::Error;
    use sotto_abi::manifest::TimerTarget;

    #[test]
    fn notification_bits_accumulate_and_wake_one_waiter() {
        let mut n = Notification::default();
        assert_eq!(n.poll(), 0);
        assert_eq!(n.signal(0b01), None);
        assert_eq!(n.signal(0b10), None);
        assert_eq!(n.wait(4), Some(0b11), "pending bits are returned at once");
        assert_eq!(n.wait(4), None);
        assert_eq!(n.wait(5), None);
        assert_eq!(n.signal(0b100), Some((4, 0b100)));
        assert_eq!(n.signal(0), None, "no bits, no wakeup");
        n.forget(5);
        assert_eq!(n.signal(1), None);
        assert_eq!(n.poll(), 1);
    }

    #[test]
    fn semaphore_counts_to_its_maximum_and_queues_waiters() {
        let mut s = Semaphore::new(1, 2);
        assert_eq!(s.take(1, false), Ok(true));
        assert_eq!(s.take(1, false), Err(Error::WouldBlock));
        assert_eq!(s.take(1, true), Ok(false));
        assert_eq!(s.take(2, true), Ok(false));
        assert_eq!(s.give(), Ok(Some(1)), "the first waiter");
        assert!(s.forget(2), "a timed-out waiter leaves the queue");
        assert!(!s.forget(2));
        assert_eq!(s.give(), Ok(None));
        assert_eq!(s.give(), Ok(None));
        assert_eq!(s.give(), Err(Error::Overflow));
        assert_eq!(s.count(), 2);
        assert_eq!(Semaphore::new(9, 3).count(), 3);
    }

    #[test]
    fn periodic_timer_keeps_its_phase() {
        let mut t = Timer::new(TimerTarget::Give { object: 0 });
        t.arm(100, 3, 10);
        assert_eq!(t.deadline(), Some(103));
        assert_eq!(t.expire(102), 0);
        assert_eq!(t.expire(103), 1);
        // Seen late (tick 125): two expiries, and the grid stays 113, 123, 133.
        assert_eq!(t.expire(125), 2);
        assert_eq!(t.deadline(), Some(133));
        assert_eq!(t.fired(), 3);
        t.cancel();
        assert_eq!(t.expire(1000), 0);
    }

    #[test]
    fn one_shot_timer_fires_once_and_can_be_rearmed() {
        let mut t = Timer::new(TimerTarget::Notify { object: 1, bits: 4 });
        t.arm(0, 5, 0);
        assert_eq!(t.expire(9), 1);
        assert_eq!(t.deadline(), None);
        t.arm(9, 0, 0);
        assert_eq!(
            t.deadline(),
            Some(10),
            "a zero delay still waits for the next tick"
        );
    }

    #[test]
    fn endpoint_queues_are_fifo_and_forget_works() {
        let mut e = Endpoint::default();
        let _ = e.callers.push_back(3);
        let _ = e.callers.push_back(4);
        assert!(e.forget(3));
        assert_eq!(e.next_caller(), Some(4));
        assert_eq!(e.next_caller(), None);
        assert_eq!(e.next_receiver(), None);
    }
}
