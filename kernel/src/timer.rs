//! Time without a periodic tick. The tick stays the unit of time (ticks =
//! CCOUNT cycles since boot / tick period, 64-bit, wrap-safe), but the
//! timer interrupt comes only when something is due: CCOMPARE0 is set to
//! the earliest deadline of a [`DeadlineQueue`].
//!
//! - [`TickClock`]: the tick count, read from the free-running 32-bit cycle
//!   counter, and the comparator value for a tick (always on the grid
//!   `armed + n * period`, so nothing drifts).
//! - [`DeadlineQueue`]: a sorted queue of deadlines in ticks over fixed
//!   slots (a timer object, a thread): FIFO among equal deadlines, O(1)
//!   head, removal and pop, insertion past the earlier deadlines only.
//! - [`ClockPlan`]: the kernel's own deadlines (the first tick, `tick N`
//!   reports, the end of the run) and the choice of the next one.

use core::num::NonZeroU32;

/// The tick count on a free-running 32-bit counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickClock {
    /// Non-zero by type: dividing by it needs no zero check.
    period: NonZeroU32,
    /// Most ticks an alarm is set ahead (2^31 cycles' worth).
    most_ahead: u32,
    /// The current tick (the last one the counter was seen past).
    tick: u64,
    /// Counter value at which `tick` began (on the grid).
    tick_start: u32,
}

impl TickClock {
    /// Tick 0 begins at `now`. `period` must be non-zero and below 2^31
    /// (so "passed" is unambiguous).
    #[inline]
    pub fn start(now: u32, period: u32) -> TickClock {
        debug_assert!(period > 0 && period < 1 << 31);
        let period = NonZeroU32::new(period).unwrap_or(NonZeroU32::MIN);
        TickClock {
            period,
            most_ahead: (1 << 31) / period,
            tick: 0,
            tick_start: now,
        }
    }

    /// The most ticks an alarm is set ahead (`compare_ahead` clamps).
    pub fn most_ahead(&self) -> u32 {
        self.most_ahead
    }

    /// The tick period in counter cycles.
    pub fn period(&self) -> u32 {
        self.period.get()
    }

    /// The tick as of the last [`TickClock::now`].
    pub fn ticks(&self) -> u64 {
        self.tick
    }

    /// The tick at counter value `ccount`. The counter must be read at
    /// least once per 2^32 cycles; [`TickClock::compare_for`] never sets an
    /// alarm further than 2^31 cycles ahead, so the interrupt sees to it.
    /// (Out of line: the division is long, and every path through the
    /// clock shares one copy.)
    #[inline(never)]
    pub fn now(&mut self, ccount: u32) -> u64 {
        let elapsed = ccount.wrapping_sub(self.tick_start);
        if elapsed >= self.period.get() {
            let ticks = elapsed / self.period;
            self.tick += u64::from(ticks);
            self.tick_start = self
                .tick_start
                .wrapping_add(ticks.wrapping_mul(self.period.get()));
        }
        self.tick
    }

    /// The counter is in tick `tick`, which began at `start` (on the
    /// grid, not before the current tick): what [`TickClock::now`] would
    /// count there.
    #[inline]
    pub fn arrive(&mut self, tick: u64, start: u32) {
        self.tick = tick;
        self.tick_start = start;
    }

    /// The comparator value for the start of tick `tick` (after the
    /// current one; an earlier tick gives the next one), and the tick it
    /// is the start of. Beyond 2^31 cycles ahead, the last tick boundary
    /// before that: an early interrupt with nothing due, which keeps the
    /// count across counter wraps.
    pub fn compare_for(&self, tick: u64) -> (u32, u64) {
        self.compare_ahead(ticks_ahead(self.tick, tick))
    }

    /// [`TickClock::compare_for`] the tick `ahead` ticks after the current
    /// one (0 counts as 1), in 32 bits.
    #[inline]
    pub fn compare_ahead(&self, ahead: u32) -> (u32, u64) {
        // (`max` then `min`, not `clamp`: `most_ahead` is at least 1, as
        // `period` is below 2^31, and `clamp` would check it every time.)
        let ahead = ahead.max(1).min(self.most_ahead);
        (
            self.tick_start
                .wrapping_add(ahead.wrapping_mul(self.period.get())),
            self.tick + u64::from(ahead),
        )
    }

    /// Whether the counter, at `ccount`, is at or past `compare`.
    pub fn passed(ccount: u32, compare: u32) -> bool {
        (ccount.wrapping_sub(compare) as i32) >= 0
    }
}

/// No slot (end of a list).
const NIL: u16 = u16::MAX;

/// A sorted queue of deadlines (in ticks) over `N` slots, each queued at
/// most once: a doubly linked list through its slots, in deadline order,
/// FIFO among equal deadlines. Its code is written once, for
/// [`Queue<[Slot]>`](Queue) (what a queue of any size derefs to), so the
/// kernel's two queues share one copy of it.
pub type DeadlineQueue<const N: usize> = Queue<[Slot; N]>;

/// One slot of a [`DeadlineQueue`]. `repr(C)`, fixed-width fields: the
/// entry's express `CallTimeout` queues a deadline alone in assembly
/// ([`layout`]).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Slot {
    deadline: u64,
    next: u16,
    prev: u16,
    queued: bool,
}

/// A [`DeadlineQueue`] over slots `S`: an array, or a slice of any length.
/// `repr(C)`, as [`Slot`].
#[repr(C)]
pub struct Queue<S: ?Sized> {
    head: u16,
    /// Set when the head (the earliest deadline) changed.
    changed: bool,
    /// Counts every change of the queue (an express plan made for one
    /// version holds only while it lasts).
    version: u32,
    slots: S,
}

/// Offsets into a [`Queue`] and its [`Slot`]s for the assembly (the same
/// on host and target: `repr(C)`, fixed-width fields).
pub mod layout {
    use core::mem::offset_of;

    use super::{Queue, Slot};

    /// `head` (a u16; [`super::NIL`]: empty).
    pub const HEAD: u32 = offset_of!(Queue<[Slot; 1]>, head) as u32;
    /// `changed` (a byte).
    pub const CHANGED: u32 = offset_of!(Queue<[Slot; 1]>, changed) as u32;
    /// `version`.
    pub const VERSION: u32 = offset_of!(Queue<[Slot; 1]>, version) as u32;
    /// `slots[0]`.
    pub const SLOTS: u32 = offset_of!(Queue<[Slot; 1]>, slots) as u32;
    /// A slot's `deadline` (a u64).
    pub const DEADLINE: u32 = offset_of!(Slot, deadline) as u32;
    /// A slot's `next`, then its `prev`: one word stores both.
    pub const LINKS: u32 = offset_of!(Slot, next) as u32;
    /// A slot's `queued` (a byte).
    pub const QUEUED: u32 = offset_of!(Slot, queued) as u32;
    /// log2 of a slot's size.
    pub const SLOT_SHIFT: u32 = 4;
    const _: () = assert!(size_of::<Slot>() == 1 << SLOT_SHIFT);
    const _: () = assert!(offset_of!(Slot, prev) == offset_of!(Slot, next) + 2);
    const _: () = assert!(LINKS.is_multiple_of(4) && DEADLINE.is_multiple_of(4));
    const _: () = assert!(super::NIL == u16::MAX, "NIL: a halfword of ones");
}

impl<const N: usize> Default for DeadlineQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> DeadlineQueue<N> {
    /// Empty.
    pub const fn new() -> Self {
        assert!(N < NIL as usize);
        Queue {
            head: NIL,
            changed: false,
            version: 0,
            slots: [Slot {
                deadline: 0,
                next: NIL,
                prev: NIL,
                queued: false,
            }; N],
        }
    }
}

impl<const N: usize> core::ops::Deref for DeadlineQueue<N> {
    type Target = Queue<[Slot]>;

    #[inline(always)]
    fn deref(&self) -> &Queue<[Slot]> {
        self
    }
}

impl<const N: usize> core::ops::DerefMut for DeadlineQueue<N> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Queue<[Slot]> {
        self
    }
}

impl Queue<[Slot]> {
    /// Queue `slot` at `deadline` (after every entry due at or before it),
    /// replacing its earlier place if it had one. Walks past the earlier
    /// deadlines only. (Out of line: one copy for every queue, not one per
    /// caller.) Into an empty queue it is [`Queue::insert_alone`]: nothing
    /// to take out or walk past.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn insert(&mut self, slot: usize, deadline: u64) {
        if self.insert_alone(slot, deadline) {
            return;
        }
        self.remove(slot);
        let mut prev = NIL;
        let mut at = self.head;
        while let Some(entry) = self.slots.get(at as usize)
            && entry.deadline <= deadline
        {
            prev = at;
            at = entry.next;
        }
        self.slots[slot] = Slot {
            deadline,
            next: at,
            prev,
            queued: true,
        };
        self.version = self.version.wrapping_add(1);
        if let Some(entry) = self.slots.get_mut(at as usize) {
            entry.prev = slot as u16;
        }
        match self.slots.get_mut(prev as usize) {
            Some(entry) => entry.next = slot as u16,
            None => {
                self.head = slot as u16;
                self.changed = true;
            }
        }
    }

    /// [`DeadlineQueue::insert`] into an empty queue, where `slot` is the
    /// only entry and nothing is walked; `false` (nothing done) if the
    /// queue is not empty.
    #[inline]
    pub fn insert_alone(&mut self, slot: usize, deadline: u64) -> bool {
        if self.head != NIL {
            return false;
        }
        let Some(entry) = self.slots.get_mut(slot) else {
            return false;
        };
        *entry = Slot {
            deadline,
            next: NIL,
            prev: NIL,
            queued: true,
        };
        self.version = self.version.wrapping_add(1);
        self.head = slot as u16;
        self.changed = true;
        true
    }

    /// Take `slot` out; whether it was queued.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    #[inline(never)]
    pub fn remove(&mut self, slot: usize) -> bool {
        self.unlink(slot, true)
    }

    /// [`Queue::remove`], not counted as a change of the earliest
    /// deadline: for an entry whose deadline no longer matters (an alarm
    /// set for it finds nothing due).
    pub fn forget(&mut self, slot: usize) -> bool {
        self.unlink(slot, false)
    }

    // (Out of line: remove and forget share one copy.)
    #[inline(never)]
    fn unlink(&mut self, slot: usize, note_change: bool) -> bool {
        let Some(entry) = self.slots.get_mut(slot).filter(|entry| entry.queued) else {
            return false;
        };
        entry.queued = false;
        let (prev, next) = (entry.prev, entry.next);
        match self.slots.get_mut(prev as usize) {
            Some(entry) => entry.next = next,
            None => {
                self.head = next;
                self.changed |= note_change;
            }
        }
        if let Some(entry) = self.slots.get_mut(next as usize) {
            entry.prev = prev;
        }
        self.version = self.version.wrapping_add(1);
        true
    }

    /// The earliest entry: slot and deadline.
    pub fn peek(&self) -> Option<(usize, u64)> {
        let head = self.head as usize;
        self.slots.get(head).map(|entry| (head, entry.deadline))
    }

    /// Whether `slot` is queued.
    #[inline]
    pub fn is_queued(&self, slot: usize) -> bool {
        self.slots.get(slot).is_some_and(|entry| entry.queued)
    }

    /// Whether nothing is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// The number of changes so far (wrapping): equal numbers, the same
    /// queue.
    #[inline]
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The deadline of the entry after the earliest, if any.
    #[inline]
    pub fn second(&self) -> Option<u64> {
        let next = self.slots.get(self.head as usize)?.next;
        self.slots.get(next as usize).map(|entry| entry.deadline)
    }

    /// The earliest deadline.
    pub fn earliest(&self) -> Option<u64> {
        self.peek().map(|(_, deadline)| deadline)
    }

    /// Move the earliest entry to `deadline` (not before its current one):
    /// in place when it stays first (FIFO: strictly before the next
    /// entry), as a periodic timer's re-arm mostly does; else re-inserted.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn advance_head(&mut self, deadline: u64) {
        let head = self.head;
        let Some(entry) = self.slots.get(head as usize) else {
            return;
        };
        let next = entry.next;
        if self
            .slots
            .get(next as usize)
            .is_none_or(|entry| entry.deadline > deadline)
        {
            self.slots[head as usize].deadline = deadline;
            self.changed = true;
            self.version = self.version.wrapping_add(1);
        } else {
            self.insert(head as usize, deadline);
        }
    }

    /// [`Queue::advance_head`] where the head stays first
    /// (`deadline` before the next entry's: the caller knows).
    #[inline]
    pub fn advance_head_in_place(&mut self, deadline: u64) {
        if let Some(entry) = self.slots.get_mut(self.head as usize) {
            entry.deadline = deadline;
            self.changed = true;
            self.version = self.version.wrapping_add(1);
        }
    }

    /// Take the earliest entry if it is due at `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<(usize, u64)> {
        let (slot, deadline) = self.peek()?;
        if deadline > now {
            return None;
        }
        self.remove(slot);
        Some((slot, deadline))
    }

    /// Where `slot` is queued, if it is.
    pub fn deadline(&self, slot: usize) -> Option<u64> {
        self.slots
            .get(slot)
            .filter(|entry| entry.queued)
            .map(|entry| entry.deadline)
    }

    /// Whether the earliest deadline changed since the last call (it was
    /// replaced, removed or preceded): the alarm must be set again.
    pub fn take_changed(&mut self) -> bool {
        core::mem::take(&mut self.changed)
    }

    /// Every entry, earliest first (checks and tests).
    pub fn iter(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let mut at = self.head;
        core::iter::from_fn(move || {
            let slot = at as usize;
            let entry = self.slots.get(slot)?;
            at = entry.next;
            Some((slot, entry.deadline))
        })
    }
}

/// The deadlines the kernel keeps for itself, from the boot configuration:
/// the first tick (always taken: the boot report times it), a `tick N`
/// line every `report_every` ticks, the end of the run, the next fault to
/// inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockPlan {
    report_every: u32,
    /// The next tick to report (0: none).
    next_report: u64,
    run_ticks: u32,
    first_seen: bool,
    /// The tick of the next fault to inject (0: none).
    fault_at: u64,
    /// The tick of the next DMA period of the DAIs (`u64::MAX`: none).
    dma_at: u64,
}

impl ClockPlan {
    /// Report every `report_every` ticks (0: never), stop at `run_ticks`
    /// (0: never).
    pub const fn new(report_every: u32, run_ticks: u32) -> ClockPlan {
        ClockPlan {
            report_every,
            next_report: report_every as u64,
            run_ticks,
            first_seen: false,
            fault_at: 0,
            dma_at: u64::MAX,
        }
    }

    /// The DAIs' next DMA period is at tick `tick` (`u64::MAX`: none).
    pub fn set_dma_at(&mut self, tick: u64) {
        self.dma_at = tick;
    }

    /// Whether the DAIs have a DMA period due at tick `now`.
    pub fn dma_due(&self, now: u64) -> bool {
        self.dma_at <= now
    }

    /// The next tick after `now` the kernel needs an interrupt at, the
    /// DAIs' DMA periods included (`u64::MAX`: none): [`Self::next_after`]
    /// and the DMA's, which it keeps apart (one 64-bit minimum here is
    /// less code than one more deadline there).
    #[inline(always)]
    pub fn own_after(&self, now: u64) -> u64 {
        self.next_after(now).unwrap_or(u64::MAX).min(self.dma_at)
    }

    /// The next fault to inject is at tick `tick` (0: none left).
    pub fn set_fault_at(&mut self, tick: u64) {
        self.fault_at = tick;
    }

    /// Whether a fault is to be injected at tick `now`.
    pub fn fault_due(&self, now: u64) -> bool {
        self.fault_at != 0 && self.fault_at <= now
    }

    /// The next tick after `now` the kernel itself needs an interrupt at,
    /// but for the DAIs' DMA periods ([`Self::own_after`]).
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn next_after(&self, now: u64) -> Option<u64> {
        let first = (!self.first_seen).then_some(1);
        let report = (self.next_report != 0).then_some(self.next_report);
        let end = (self.run_ticks != 0 && now < u64::from(self.run_ticks))
            .then_some(u64::from(self.run_ticks));
        // (Never at or before `now`: a due one is injected, and the next
        // set, before the kernel asks.)
        let fault = (self.fault_at != 0).then_some(self.fault_at);
        earliest(earliest(first, report), earliest(end, fault))
    }

    /// Tick `now` came: whether it is the first one seen.
    pub fn first_tick(&mut self, now: u64) -> bool {
        let first = now > 0 && !self.first_seen;
        self.first_seen |= first;
        first
    }

    /// The next tick at or before `now` to report, if any (call until
    /// `None`: ticks passed unseen are reported too).
    pub fn take_report(&mut self, now: u64) -> Option<u64> {
        if self.next_report == 0 || self.next_report > now {
            return None;
        }
        let tick = self.next_report;
        self.next_report += u64::from(self.report_every);
        Some(tick)
    }

    /// Whether the run ends at tick `now`.
    pub fn ends(&self, now: u64) -> bool {
        self.run_ticks != 0 && now >= u64::from(self.run_ticks)
    }
}

/// The tick to set the alarm for at tick `now`: the next boundary if a
/// time slice is wanted, else the earliest of `due` (a timer, a sleep, a
/// timeout) and `own` (the kernel's); an alarm set before and not handled
/// yet (`pending`) is kept if it is earlier, since setting the comparator
/// clears its interrupt. A tick at or before `now` means at once: it came
/// while interrupts were masked and nothing has handled it.
pub fn alarm_target(
    now: u64,
    due: Option<u64>,
    own: u64,
    slice: bool,
    pending: Option<u64>,
) -> u64 {
    let target = if slice {
        now + 1
    } else {
        due.map_or(own, |due| due.min(own))
    };
    pending.map_or(target, |pending| pending.min(target))
}

/// How many ticks `tick` is after `now`: 0 if it is not, `u32::MAX` if it
/// is that many or more (as good as never: no alarm is set that far).
#[inline(never)]
pub fn ticks_ahead(now: u64, tick: u64) -> u32 {
    match tick.checked_sub(now) {
        Some(ahead) if ahead >> 32 == 0 => ahead as u32,
        Some(_) => u32::MAX,
        None => 0,
    }
}

/// [`alarm_target`] as ticks after `now` ([`ticks_ahead`]), spelled with
/// one 64-bit subtraction per deadline, then 32-bit minimums. The kernel
/// sets the alarm with `ticks_ahead(now, alarm_target(..))` instead, equal
/// (`ticks_ahead` is monotonic; tested): its 64-bit minimums come out
/// smaller and no slower on this core, and a late alarm needs the target
/// tick anyway.
pub fn alarm_ahead(now: u64, due: Option<u64>, own: u64, slice: bool, pending: Option<u64>) -> u32 {
    let target = if slice {
        1
    } else {
        let own = ticks_ahead(now, own);
        due.map_or(own, |due| ticks_ahead(now, due).min(own))
    };
    pending.map_or(target, |pending| ticks_ahead(now, pending).min(target))
}

/// The earlier of two optional deadlines.
pub fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::{
        ClockPlan, DeadlineQueue, TickClock, alarm_ahead, alarm_target, earliest, ticks_ahead,
    };

    #[test]
    fn the_alarm_goes_to_the_earliest_deadline_or_the_next_slice() {
        const NONE: u64 = u64::MAX;
        // Idle: the kernel's own deadline, else none.
        assert_eq!(alarm_target(10, None, 1000, false, None), 1000);
        assert_eq!(alarm_target(10, None, NONE, false, None), NONE);
        // The earliest of a timer and the kernel's own.
        assert_eq!(alarm_target(10, Some(15), 1000, false, None), 15);
        assert_eq!(alarm_target(10, Some(2000), 1000, false, None), 1000);
        // Two threads share the CPU: the next boundary, nothing sooner.
        assert_eq!(alarm_target(10, Some(15), 1000, true, None), 11);
        // An alarm not handled yet stays when it is earlier...
        assert_eq!(alarm_target(10, Some(15), 1000, false, Some(12)), 12);
        assert_eq!(alarm_target(10, Some(15), 1000, false, Some(20)), 15);
        // ... and one whose boundary passed while interrupts were masked
        // (a timer armed then, or the pending alarm itself) means at once:
        // setting the comparator would clear its interrupt.
        assert_eq!(alarm_target(12, Some(15), 1000, false, Some(12)), 12);
        assert_eq!(alarm_target(12, Some(12), 1000, true, None), 13);
        assert_eq!(alarm_target(12, Some(11), 1000, false, None), 11);
        assert_eq!(alarm_target(12, None, 1000, true, Some(12)), 12);
    }

    #[test]
    fn counts_ticks_on_the_grid_without_drift() {
        let mut clock = TickClock::start(1000, 10_000);
        assert_eq!(clock.compare_for(1), (11_000, 1));
        assert_eq!(clock.now(10_999), 0, "before the first boundary");
        // Seen late by 37 cycles: still tick 1, the grid unchanged.
        assert_eq!(clock.now(11_037), 1);
        assert_eq!(clock.compare_for(2), (21_000, 2));
        assert_eq!(clock.compare_for(5), (51_000, 5));
        assert_eq!(
            clock.compare_for(0),
            (21_000, 2),
            "a past tick: the next one"
        );
    }

    #[test]
    fn counts_every_tick_that_passed_unseen() {
        let mut clock = TickClock::start(0, 100);
        assert_eq!(clock.now(350), 3);
        assert_eq!(clock.compare_for(4), (400, 4));
        assert_eq!(clock.now(350), 3);
        assert_eq!(clock.now(400), 4);
    }

    #[test]
    fn inserting_alone_is_inserting_into_an_empty_queue() {
        let (mut alone, mut walked) = (DeadlineQueue::<4>::new(), DeadlineQueue::<4>::new());
        assert!(alone.insert_alone(2, 7));
        walked.insert(2, 7);
        assert_eq!(
            alone.iter().collect::<Vec<_>>(),
            walked.iter().collect::<Vec<_>>()
        );
        assert_eq!(alone.version(), walked.version());
        assert_eq!(alone.take_changed(), walked.take_changed());
        assert!(!alone.insert_alone(1, 3), "not empty: nothing done");
        assert!(
            !DeadlineQueue::<4>::new().insert_alone(4, 3),
            "no such slot"
        );
        alone.insert(1, 3);
        walked.insert(1, 3);
        assert_eq!(
            alone.iter().collect::<Vec<_>>(),
            walked.iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn arriving_at_an_alarm_counts_as_now_does() {
        // An alarm three ticks ahead, across the counter's wrap; the
        // interrupt comes anywhere in that tick.
        let clock = TickClock::start(u32::MAX - 50, 100);
        let (compare, tick) = clock.compare_ahead(3);
        assert_eq!((compare, tick), (249, 3));
        for ccount in [249, 300, 348] {
            assert!(ccount - compare < clock.period(), "the express test");
            let (mut arrived, mut counted) = (clock, clock);
            arrived.arrive(tick, compare);
            assert_eq!(counted.now(ccount), 3);
            assert_eq!(arrived, counted, "at {ccount}");
        }
    }

    #[test]
    fn survives_counter_wrap() {
        let mut clock = TickClock::start(u32::MAX - 50, 100);
        assert_eq!(clock.compare_for(1), (49, 1));
        assert_eq!(clock.now(u32::MAX), 0);
        assert!(!TickClock::passed(u32::MAX, 49));
        assert!(TickClock::passed(60, 49));
        assert_eq!(clock.now(60), 1);
        assert_eq!(clock.compare_for(2), (149, 2));
        // Many wraps, each seen within 2^31 cycles: the count goes on.
        let mut ccount = 60u32;
        for _ in 0..10 {
            ccount = ccount.wrapping_add(1 << 31);
            clock.now(ccount);
        }
        assert_eq!(clock.ticks(), (111 + 10 * (1u64 << 31)) / 100);
    }

    #[test]
    fn a_far_alarm_comes_early_within_half_the_counter() {
        let clock = TickClock::start(0, 10_000);
        let (compare, tick) = clock.compare_for(1_000_000_000);
        assert!(compare <= 1 << 31 && compare > (1 << 31) - 10_000);
        assert_eq!(compare % 10_000, 0, "on the grid");
        assert_eq!(u64::from(compare / 10_000), tick);
    }

    #[test]
    fn the_alarm_ahead_is_the_alarm_target_in_ticks_after_now() {
        const NONE: u64 = u64::MAX;
        let ticks = [
            0,
            1,
            9,
            10,
            11,
            12,
            15,
            1000,
            1 << 32,
            (1 << 32) + 10,
            NONE - 1,
            NONE,
        ];
        for now in [0, 10, 12, (1 << 32) + 5] {
            for due in ticks.iter().map(|&t| Some(t)).chain([None]) {
                for own in ticks {
                    for pending in ticks.iter().map(|&t| Some(t)).chain([None]) {
                        for slice in [false, true] {
                            let target = alarm_target(now, due, own, slice, pending);
                            assert_eq!(
                                alarm_ahead(now, due, own, slice, pending),
                                ticks_ahead(now, target),
                                "now {now} due {due:?} own {own} slice {slice} pending {pending:?}"
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(ticks_ahead(10, 9), 0);
        assert_eq!(ticks_ahead(10, 10), 0);
        assert_eq!(ticks_ahead(10, 11), 1);
        assert_eq!(ticks_ahead(10, 10 + (1 << 32)), u32::MAX);
    }

    #[test]
    fn the_head_advances_in_place_while_it_stays_first() {
        let mut q = DeadlineQueue::<4>::new();
        q.insert(0, 10);
        q.insert(1, 20);
        q.take_changed();
        q.advance_head(15);
        assert_eq!(order(&q), vec![(0, 15), (1, 20)]);
        assert_eq!(q.second(), Some(20));
        assert!(q.take_changed(), "the earliest deadline moved");
        q.advance_head(20);
        assert_eq!(order(&q), vec![(1, 20), (0, 20)], "FIFO: after its equal");
        q.advance_head(30);
        assert_eq!(order(&q), vec![(0, 20), (1, 30)]);
        q.remove(0);
        q.advance_head(40);
        assert_eq!(order(&q), vec![(1, 40)], "alone: in place");
        assert_eq!(q.second(), None);
        q.remove(1);
        q.advance_head(50);
        assert_eq!(order(&q), vec![], "empty: nothing");
    }

    fn order<const N: usize>(queue: &DeadlineQueue<N>) -> Vec<(usize, u64)> {
        queue.iter().collect()
    }

    #[test]
    fn queue_keeps_deadline_order_and_fifo_among_equals() {
        let mut q = DeadlineQueue::<8>::new();
        assert_eq!(q.peek(), None);
        q.insert(3, 50);
        q.insert(1, 20);
        q.insert(5, 50);
        q.insert(0, 20);
        q.insert(7, 90);
        q.insert(2, 50);
        assert_eq!(
            order(&q),
            vec![(1, 20), (0, 20), (3, 50), (5, 50), (2, 50), (7, 90)]
        );
        assert_eq!(q.pop_due(19), None);
        assert_eq!(q.pop_due(20), Some((1, 20)));
        assert_eq!(q.pop_due(60), Some((0, 20)));
        assert_eq!(q.pop_due(60), Some((3, 50)));
        assert_eq!(q.pop_due(60), Some((5, 50)));
        assert_eq!(q.pop_due(60), Some((2, 50)));
        assert_eq!(q.pop_due(60), None);
        assert_eq!(q.earliest(), Some(90));
    }

    #[test]
    fn queue_cancel_and_rearm() {
        let mut q = DeadlineQueue::<4>::new();
        q.insert(0, 10);
        q.insert(1, 20);
        q.insert(2, 30);
        assert!(q.take_changed(), "a first head");
        assert!(q.remove(1), "cancel in the middle");
        assert!(!q.remove(1), "twice: nothing");
        assert!(!q.take_changed(), "the head stayed");
        assert_eq!(order(&q), vec![(0, 10), (2, 30)]);
        // Re-arming replaces the earlier place, never duplicates.
        q.insert(0, 40);
        assert!(q.take_changed());
        assert_eq!(order(&q), vec![(2, 30), (0, 40)]);
        q.insert(2, 40);
        assert_eq!(order(&q), vec![(0, 40), (2, 40)], "re-armed: behind equals");
        assert_eq!(q.deadline(2), Some(40));
        assert_eq!(q.deadline(1), None);
        assert!(q.remove(0));
        assert!(q.take_changed(), "the head was cancelled");
        assert!(q.remove(2));
        assert_eq!(q.peek(), None);
        assert!(!q.remove(9), "out of range");
        // Deadlines far apart, near the top of the range.
        q.insert(3, u64::MAX);
        q.insert(1, u64::MAX - 1);
        assert_eq!(order(&q), vec![(1, u64::MAX - 1), (3, u64::MAX)]);
    }

    #[test]
    fn queue_matches_a_sorted_model() {
        // Pseudo-random inserts, removals and pops against a stable sort.
        let mut q = DeadlineQueue::<16>::new();
        let mut model: Vec<(usize, u64, u64)> = Vec::new(); // slot, deadline, order
        let mut seed = 12345u64;
        let mut stamp = 0;
        for _ in 0..5000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let slot = (seed >> 33) as usize % 16;
            let deadline = (seed >> 50) % 32;
            match (seed >> 20) % 3 {
                0 | 1 => {
                    q.insert(slot, deadline);
                    model.retain(|entry| entry.0 != slot);
                    stamp += 1;
                    model.push((slot, deadline, stamp));
                }
                _ => {
                    let was = model.iter().any(|entry| entry.0 == slot);
                    assert_eq!(q.remove(slot), was);
                    model.retain(|entry| entry.0 != slot);
                }
            }
            model.sort_by_key(|entry| (entry.1, entry.2));
            let expected: Vec<(usize, u64)> = model.iter().map(|e| (e.0, e.1)).collect();
            assert_eq!(order(&q), expected);
        }
    }

    #[test]
    fn plan_takes_the_first_tick_reports_and_the_end() {
        let mut plan = ClockPlan::new(250, 1000);
        assert_eq!(plan.next_after(0), Some(1));
        assert!(plan.first_tick(1));
        assert!(!plan.first_tick(2));
        assert_eq!(plan.next_after(1), Some(250));
        assert_eq!(plan.take_report(249), None);
        assert_eq!(plan.take_report(250), Some(250));
        assert_eq!(plan.take_report(250), None);
        assert_eq!(plan.next_after(250), Some(500));
        // Ticks passed unseen are reported all the same.
        assert_eq!(plan.take_report(1000), Some(500));
        assert_eq!(plan.take_report(1000), Some(750));
        assert_eq!(plan.take_report(1000), Some(1000));
        assert_eq!(plan.take_report(1000), None);
        assert!(!plan.ends(999));
        assert!(plan.ends(1000));
        let mut plan = ClockPlan::new(0, 1000);
        assert!(plan.first_tick(3), "a first tick seen late");
        assert_eq!(plan.next_after(10), Some(1000));
        assert_eq!(plan.take_report(5000), None);
        let mut plan = ClockPlan::new(0, 0);
        plan.first_tick(1);
        assert_eq!(plan.next_after(10), None);
        assert!(!plan.ends(u64::MAX));
        assert_eq!(earliest(None, Some(3)), Some(3));
        assert_eq!(earliest(Some(4), Some(3)), Some(3));
        assert_eq!(earliest(None, None), None);
    }

    #[test]
    fn plan_takes_the_dma_periods() {
        let mut plan = ClockPlan::new(250, 1000);
        plan.first_tick(1);
        assert!(!plan.dma_due(u64::MAX - 1), "no DAIs: never");
        assert_eq!(plan.own_after(1), 250);
        plan.set_dma_at(4);
        assert_eq!(plan.own_after(1), 4);
        assert!(!plan.dma_due(3));
        assert!(plan.dma_due(4) && plan.dma_due(6));
        plan.set_dma_at(300);
        assert_eq!(plan.own_after(4), 250, "a report first");
        plan.set_dma_at(u64::MAX);
        assert_eq!(plan.take_report(260), Some(250));
        assert_eq!(plan.own_after(260), 500);
        let mut plan = ClockPlan::new(0, 0);
        plan.first_tick(1);
        assert_eq!(plan.own_after(10), u64::MAX, "nothing at all");
    }
}
