//! The kernel's trace of the schedule (`cargo xtask run --trace`): a ring
//! of fixed-size records (`sotto_abi::trace`) the kernel owns, written
//! out to the host file `sotto_abi::trace::FILE` through semihosting
//! when it is half full (at a timer interrupt, before threads run) and
//! at shutdown.
//!
//! Off (the boot configuration's `trace` flag clear), nothing is
//! recorded: every hook is one load and one branch ([`on`]) and the ring
//! is never touched. On, the boot makes the entry's express paths decline
//! (`Kernel::trace_express_off`, and the kernel binary's express tick), so
//! every thread switch passes the kernel's Rust code, where [`switch`]
//! records it: the running slices of every thread are exact.
//!
//! The ring's bookkeeping ([`Ring`]) is plain Rust, tested on the host;
//! the ring itself is a static of the kernel binary in a section of its
//! own (`.bss.sotto_trace`, placed after `.bss` and not zeroed at boot:
//! only records written since boot are ever read). One hook for anything
//! in the kernel: [`record`] of an [`Event`].

use sotto_abi::trace::{NO_THREAD, RING_RECORDS, Record, code};

use crate::sched::ThreadId;

/// Something the kernel records (services record through the `Trace`
/// system call; switches through [`switch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A timer interrupt handles tick `tick`.
    TimerIrq {
        /// The tick (low 32 bits).
        tick: u32,
    },
    /// Thread `thread` faulted.
    Fault {
        /// The kernel's thread number.
        thread: ThreadId,
        /// `sotto_abi::supervise::FaultKind` as a number.
        kind: u16,
        /// EXCCAUSE (0 for a panic or an injected fault).
        cause: u32,
        /// Where.
        pc: u32,
    },
    /// Service `service` was restarted.
    Restart {
        /// Its number in the manifest.
        service: usize,
        /// Its restarts so far.
        restarts: u32,
    },
    /// A DAI's DMA period.
    DaiPeriod {
        /// The DAI's ring (its memory object's number: `DaiParams::ring`).
        dai: u16,
        /// Its periods so far.
        periods: u32,
        /// Its xruns so far.
        xruns: u32,
    },
    /// A DAI's xrun.
    DaiXrun {
        /// The DAI's ring, as for `DaiPeriod`.
        dai: u16,
        /// Its xruns so far.
        xruns: u32,
    },
}

impl Event {
    /// The record's words after its time stamp: tag, `a`, `b`.
    #[inline(always)]
    pub fn words(self) -> [u32; 3] {
        match self {
            Event::TimerIrq { tick } => [Record::tag(code::TIMER_IRQ, NO_THREAD, 0), tick, 0],
            Event::Fault {
                thread,
                kind,
                cause,
                pc,
            } => [Record::tag(code::FAULT, thread as u8, kind), cause, pc],
            Event::Restart { service, restarts } => [
                Record::tag(code::RESTART, NO_THREAD, service as u16),
                restarts,
                0,
            ],
            Event::DaiPeriod {
                dai,
                periods,
                xruns,
            } => [
                Record::tag(code::DAI_PERIOD, NO_THREAD, dai),
                periods,
                xruns,
            ],
            Event::DaiXrun { dai, xruns } => {
                [Record::tag(code::DAI_XRUN, NO_THREAD, dai), xruns, 0]
            }
        }
    }
}

/// The ring's bookkeeping (the records themselves are in a slice the
/// caller passes: the kernel binary's static, or a test's array).
#[derive(Clone, Copy, Debug)]
pub struct Ring {
    /// Whether tracing is on.
    pub on: bool,
    /// Records written since boot (the next goes to `written %
    /// RING_RECORDS`).
    written: u32,
    /// Records written out to the file.
    drained: u32,
    /// Records dropped in the whole run (the ring was full; saturates:
    /// a service tracing in a loop while it is full makes every call one).
    dropped: u32,
    /// Of those, how many a [`code::DROPPED`] record told already.
    told: u32,
    /// Records written out in the whole run.
    total_drained: u32,
    /// The trace file's descriptor.
    pub fd: u32,
}

const _: () = assert!(RING_RECORDS.is_power_of_two());

impl Ring {
    /// Off: nothing recorded.
    pub const OFF: Ring = Ring {
        on: false,
        written: 0,
        drained: 0,
        dropped: 0,
        told: 0,
        total_drained: 0,
        fd: 0,
    };

    /// Records waiting to be written out.
    pub fn pending(&self) -> usize {
        self.written.wrapping_sub(self.drained) as usize
    }

    /// Whether the ring is half full or more: time to write it out.
    #[inline]
    pub fn drain_due(&self) -> bool {
        self.pending() >= RING_RECORDS / 2
    }

    /// Records dropped in the whole run.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// Records written out in the whole run.
    pub fn written_out(&self) -> u32 {
        self.total_drained
    }

    /// Store one record (`words`: tag, `a`, `b`) stamped `ccount` into
    /// `slots`; counted as dropped when the ring is full (the next
    /// write-out says how many, [`Ring::tell_dropped`]).
    #[inline(always)]
    pub fn push(&mut self, slots: &mut [[u32; 4]; RING_RECORDS], ccount: u32, words: [u32; 3]) {
        if self.pending() >= RING_RECORDS {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        slots[self.written as usize % RING_RECORDS] = [ccount, words[0], words[1], words[2]];
        self.written = self.written.wrapping_add(1);
    }

    /// After a write-out: a [`code::DROPPED`] record of the records
    /// dropped since the last one, if any (stamped `ccount`). (Inlined
    /// into `drain`, exit code: out of line it would be resident.)
    #[inline(always)]
    pub fn tell_dropped(&mut self, slots: &mut [[u32; 4]; RING_RECORDS], ccount: u32) {
        let untold = self.dropped - self.told;
        if untold != 0 && self.pending() < RING_RECORDS {
            self.told = self.dropped;
            self.push(
                slots,
                ccount,
                [Record::tag(code::DROPPED, NO_THREAD, 0), untold, 0],
            );
        }
    }

    /// The records waiting to be written out, oldest first, as (at most)
    /// two runs of `slots` (the ring wraps): the index and length of each.
    pub fn runs(&self) -> [(usize, usize); 2] {
        let pending = self.pending().min(RING_RECORDS);
        let start = self.drained as usize % RING_RECORDS;
        let first = pending.min(RING_RECORDS - start);
        [(start, first), (0, pending - first)]
    }

    /// The pending records were written out.
    pub fn drained_all(&mut self) {
        self.total_drained = self
            .total_drained
            .wrapping_add(self.pending().min(RING_RECORDS) as u32);
        self.drained = self.written;
    }
}

#[cfg(target_arch = "xtensa")]
mod state {
    use core::cell::UnsafeCell;

    use sotto_abi::trace::RING_RECORDS;

    use super::Ring;

    /// The ring's bookkeeping and its records.
    pub struct Shared<T>(pub UnsafeCell<T>);

    // SAFETY: the kernel runs on one core with interrupts masked while it
    // runs (it is never re-entered while a borrow is live: every function
    // of this module borrows for its own body only and calls nothing that
    // borrows again).
    unsafe impl<T> Sync for Shared<T> {}

    /// The bookkeeping (in `.bss`).
    pub static RING: Shared<Ring> = Shared(UnsafeCell::new(Ring::OFF));

    /// The records: after `.bss`, not zeroed at boot (xtask's linker
    /// script places `.bss.sotto_trace` apart): a record is only read
    /// once written.
    #[unsafe(link_section = ".bss.sotto_trace")]
    pub static SLOTS: Shared<[[u32; 4]; RING_RECORDS]> =
        Shared(UnsafeCell::new([[0; 4]; RING_RECORDS]));

    /// The ring and its records (the only borrows: see `Shared`).
    #[inline(always)]
    pub fn ring() -> (&'static mut Ring, &'static mut [[u32; 4]; RING_RECORDS]) {
        // SAFETY: single core, no re-entry; each caller drops both before
        // anything else borrows them (see `Shared`).
        unsafe { (&mut *RING.0.get(), &mut *SLOTS.0.get()) }
    }
}

/// Whether tracing is on: the hooks' test (one load, one branch).
#[inline(always)]
pub fn on() -> bool {
    #[cfg(target_arch = "xtensa")]
    {
        // SAFETY: a plain read of a field no borrow holds (see `Shared`).
        unsafe { (*state::RING.0.get()).on }
    }
    #[cfg(not(target_arch = "xtensa"))]
    false
}

/// Record `event` if tracing is on.
#[inline(always)]
pub fn record(event: Event) {
    if on() {
        let [tag, a, b] = event.words();
        put(tag, a, b);
    }
}

/// Thread `thread` runs from now on (`None`: the CPU idles), recorded if
/// tracing is on (a resumed thread is recorded again: the host takes a
/// switch to the thread running as nothing).
#[inline(always)]
pub fn switch(thread: Option<ThreadId>) {
    if on() {
        switched(thread.map_or(NO_THREAD, |thread| thread as u8));
    }
}

/// [`switch`]'s record (out of line: the hooks stay a test and a call).
#[inline(never)]
fn switched(thread: u8) {
    put(Record::tag(code::SWITCH, thread, 0), 0, 0);
}

/// The one resident recorder (tracing on): stamp with CCOUNT and store
/// the record whose words after the stamp are `tag`, `a`, `b`.
#[inline(never)]
pub fn put(tag: u32, a: u32, b: u32) {
    #[cfg(target_arch = "xtensa")]
    {
        let now = crate::arch::xtensa::read_ccount();
        let (ring, slots) = state::ring();
        ring.push(slots, now, [tag, a, b]);
    }
    #[cfg(not(target_arch = "xtensa"))]
    let _ = (tag, a, b);
}

/// Whether the ring is due to be written out ([`drain`], cold code).
#[inline(always)]
pub fn drain_due() -> bool {
    #[cfg(target_arch = "xtensa")]
    {
        // SAFETY: a plain read (see `Shared`).
        unsafe { (*state::RING.0.get()).drain_due() }
    }
    #[cfg(not(target_arch = "xtensa"))]
    false
}

/// The `Trace` system call of `thread`: service event `code` (not yet
/// checked) with its words. `Ok(recorded)`, or `BadArgument` for a code
/// that is not a service code.
#[inline(always)]
pub fn service(thread: ThreadId, code: u32, a: u32, b: u32) -> Result<bool, sotto_abi::Error> {
    if !code::is_service(code) {
        return Err(sotto_abi::Error::BadArgument);
    }
    if !on() {
        return Ok(false);
    }
    put(Record::tag(code as u8, thread as u8, 0), a, b);
    Ok(true)
}

/// Start tracing into the host file (boot code): open it, write its
/// header; whether it could (if not, nothing changed: tracing stays off).
#[cfg(target_arch = "xtensa")]
#[unsafe(link_section = ".text.sotto_boot.trace_start")]
pub fn start(tick_cycles: u32) -> bool {
    use crate::arch::xtensa::{host_flags, host_open};
    let flags = host_flags::WRITE | host_flags::CREATE_TRUNCATE;
    let Some(fd) = host_open(sotto_abi::trace::FILE_C, flags, 0o644) else {
        return false;
    };
    // `Header::encode`, as words (no resident copy of it is linked).
    let header = [
        u32::from_le_bytes(sotto_abi::trace::MAGIC),
        sotto_abi::trace::VERSION,
        sotto_abi::layout::CCOUNT_HZ,
        tick_cycles,
    ];
    if !host_write(fd, &header) {
        return false;
    }
    let (ring, _) = state::ring();
    ring.fd = fd;
    ring.on = true;
    true
}

/// Write `words` (little-endian, as the file holds them) to the trace
/// file `fd`; whether all were written.
#[cfg(target_arch = "xtensa")]
#[inline(always)]
fn host_write(fd: u32, words: &[u32]) -> bool {
    use crate::arch::xtensa::{HostFile, host_file};
    let len = size_of_val(words) as u32;
    // SAFETY: the words are kernel memory, mapped readable in ring 0
    // (the kernel's data megabyte), and a write only reads them.
    unsafe { host_file(HostFile::Write, fd, words.as_ptr() as u32, len) == len }
}

/// Write the pending records out (cold code, through the exit gate),
/// then say how many were dropped since the last time, if any.
#[cfg(target_arch = "xtensa")]
#[inline(never)]
#[optimize(size)]
#[unsafe(link_section = ".text.sotto_exit.trace_drain")]
pub fn drain() {
    let (ring, slots) = state::ring();
    for (start, len) in ring.runs() {
        if len != 0 {
            let records = slots[start..start + len].as_flattened();
            let _ = host_write(ring.fd, records);
        }
    }
    ring.drained_all();
    ring.tell_dropped(slots, crate::arch::xtensa::read_ccount());
}

/// The end of the run (cold code: the exit code): the last record, the
/// ring written out, and (records written, records dropped); `None` if
/// tracing was off.
#[cfg(target_arch = "xtensa")]
#[inline(never)]
#[optimize(size)]
#[unsafe(link_section = ".text.sotto_exit.trace_finish")]
pub fn finish() -> Option<(u32, u32)> {
    if !on() {
        return None;
    }
    // Written out first, so the end record fits (it counts the drops).
    drain();
    drain();
    let (ring, slots) = state::ring();
    let dropped = ring.dropped();
    ring.push(
        slots,
        crate::arch::xtensa::read_ccount(),
        [Record::tag(code::END, NO_THREAD, 0), dropped, 0],
    );
    drain();
    let (ring, _) = state::ring();
    ring.on = false;
    Some((ring.written_out(), ring.dropped()))
}

#[cfg(test)]
mod tests {
    use sotto_abi::trace::{NO_THREAD, RING_RECORDS, Record, code};

    use super::{Event, Ring};

    type Slots = Box<[[u32; 4]; RING_RECORDS]>;

    fn ring() -> (Ring, Slots) {
        let mut ring = Ring::OFF;
        ring.on = true;
        (ring, Box::new([[0; 4]; RING_RECORDS]))
    }

    /// Drain into a vector of decoded records (as the kernel's `drain`).
    fn drain(ring: &mut Ring, slots: &mut Slots, out: &mut Vec<Record>) {
        for (start, len) in ring.runs() {
            for words in &slots[start..start + len] {
                let mut bytes = [0u8; 16];
                for (i, word) in words.iter().enumerate() {
                    bytes[4 * i..4 * i + 4].copy_from_slice(&word.to_le_bytes());
                }
                out.push(Record::decode(&bytes).unwrap());
            }
        }
        ring.drained_all();
        ring.tell_dropped(slots, 7);
    }

    #[test]
    fn records_come_out_in_order_across_the_wrap() {
        let (mut ring, mut slots) = ring();
        let mut out = Vec::new();
        for i in 0..(3 * RING_RECORDS as u32) {
            ring.push(&mut slots, i, Event::TimerIrq { tick: i }.words());
            if ring.drain_due() {
                drain(&mut ring, &mut slots, &mut out);
            }
        }
        drain(&mut ring, &mut slots, &mut out);
        assert_eq!(out.len(), 3 * RING_RECORDS);
        assert!(
            out.iter()
                .enumerate()
                .all(|(i, r)| r.ccount == i as u32 && r.a == i as u32 && r.code == code::TIMER_IRQ)
        );
        assert_eq!(ring.dropped(), 0);
        assert_eq!(ring.written_out(), 3 * RING_RECORDS as u32);
    }

    #[test]
    fn a_full_ring_counts_what_it_drops_and_says_so_once_written_out() {
        let (mut ring, mut slots) = ring();
        let mut out = Vec::new();
        for i in 0..(RING_RECORDS as u32 + 10) {
            ring.push(&mut slots, i, Event::DaiXrun { dai: 4, xruns: i }.words());
        }
        assert_eq!(ring.dropped(), 10);
        assert_eq!(ring.pending(), RING_RECORDS);
        drain(&mut ring, &mut slots, &mut out);
        ring.push(
            &mut slots,
            99,
            Event::Restart {
                service: 2,
                restarts: 1,
            }
            .words(),
        );
        drain(&mut ring, &mut slots, &mut out);
        assert_eq!(out.len(), RING_RECORDS + 2);
        let dropped = out[RING_RECORDS];
        assert_eq!(
            (dropped.code, dropped.a, dropped.ccount),
            (code::DROPPED, 10, 7)
        );
        let restart = out[RING_RECORDS + 1];
        assert_eq!(
            (restart.code, restart.arg, restart.a),
            (code::RESTART, 2, 1)
        );
        assert_eq!(out[5].code, code::DAI_XRUN);
        assert_eq!((out[5].arg, out[5].a), (4, 5));
        assert_eq!(ring.dropped(), 10, "the run's total stays");
        drain(&mut ring, &mut slots, &mut out);
        assert_eq!(out.len(), RING_RECORDS + 2, "told once");
    }

    #[test]
    fn a_flood_of_drops_never_overflows_the_counts() {
        // A service that traces in a loop while the ring is full makes
        // every call a drop: 2^32 of them are minutes of virtual time,
        // and the count must not wrap (nor panic on the host).
        let (mut ring, mut slots) = ring();
        let mut out = Vec::new();
        for i in 0..RING_RECORDS as u32 {
            ring.push(&mut slots, i, Event::TimerIrq { tick: i }.words());
        }
        ring.dropped = u32::MAX - 1;
        for _ in 0..3 {
            ring.push(&mut slots, 0, Event::TimerIrq { tick: 0 }.words());
        }
        assert_eq!(ring.dropped(), u32::MAX, "saturated, not wrapped");
        drain(&mut ring, &mut slots, &mut out);
        drain(&mut ring, &mut slots, &mut out);
        assert_eq!(out.len(), RING_RECORDS + 1);
        assert_eq!(
            (out[RING_RECORDS].code, out[RING_RECORDS].a),
            (code::DROPPED, u32::MAX)
        );
        ring.push(&mut slots, 0, Event::TimerIrq { tick: 0 }.words());
        drain(&mut ring, &mut slots, &mut out);
        assert_eq!(out.len(), RING_RECORDS + 2, "nothing more told");
    }

    #[test]
    fn events_encode_their_fields() {
        let fault = Event::Fault {
            thread: 9,
            kind: 2,
            cause: 28,
            pc: 0x4000_1234,
        }
        .words();
        assert_eq!(fault, [Record::tag(code::FAULT, 9, 2), 28, 0x4000_1234]);
        let period = Event::DaiPeriod {
            dai: 30,
            periods: 7,
            xruns: 2,
        }
        .words();
        assert_eq!(period, [Record::tag(code::DAI_PERIOD, NO_THREAD, 30), 7, 2]);
        assert!(!super::on(), "the host kernel never traces");
        assert_eq!(super::service(0, u32::from(code::LL_TICK), 1, 2), Ok(false));
        let refused = Err(sotto_abi::Error::BadArgument);
        assert_eq!(super::service(0, u32::from(code::SWITCH), 1, 2), refused);
        assert_eq!(
            super::service(0, 0x100 | u32::from(code::LL_TICK), 1, 2),
            refused
        );
    }
}
