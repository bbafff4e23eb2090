//! The trace of the schedule: the events the kernel records into its
//! trace ring (`cargo xtask run --trace`), their fixed-size records, the
//! file the kernel writes them to, and the codes services trace with
//! [`crate::Syscall::Trace`]. One definition for the kernel, the services
//! and the host tools (xtask's conversion to the Chrome trace-event
//! format).
//!
//! # Timebase
//!
//! Every record is stamped with CCOUNT as the kernel read it while
//! recording: 32 bits at [`CCOUNT_HZ`] (10 MHz: one count is 0.1 µs of
//! virtual time; under QEMU `-icount shift=0` one count is 100
//! instructions). CCOUNT wraps every 2^32 counts (about 429 s); the host
//! unwraps it by order: records are written in time order, and two
//! consecutive records are always less than 2^31 counts apart (the kernel
//! records every timer interrupt, and its alarm is never set further
//! ahead than that). Times a record carries as arguments (the start of an
//! LL tick, a DP deadline) are CCOUNT values too (their low 32 bits),
//! within 2^31 counts of the record's own stamp.
//!
//! # File
//!
//! [`FILE`] in QEMU's working directory: a [`Header`] of
//! [`HEADER_SIZE`] bytes, then records of [`RECORD_SIZE`] bytes each
//! (little-endian words), in time order, ending with one
//! [`code::END`] record.

use crate::layout::CCOUNT_HZ;

/// The trace file the kernel writes (semihosting, QEMU's working
/// directory), NUL-terminated for the open call.
pub const FILE_C: &[u8] = b"trace.bin\0";
/// [`FILE_C`] without its NUL.
pub const FILE: &str = "trace.bin";

/// The first bytes of a trace file.
pub const MAGIC: [u8; 4] = *b"SOTR";
/// The file format's version (bump when a record's meaning changes).
pub const VERSION: u32 = 1;
/// Bytes of the header: magic, version, CCOUNT rate, tick period.
pub const HEADER_SIZE: usize = 16;
/// Bytes of one record.
pub const RECORD_SIZE: usize = 16;
/// Records the kernel's ring holds; it is written out when it is half
/// full (at a timer interrupt, before threads run) and at shutdown.
pub const RING_RECORDS: usize = 8192;
/// No thread (the CPU idles) in a record's thread byte.
pub const NO_THREAD: u8 = 0xFF;

/// The file's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// CCOUNT counts per second.
    pub ccount_hz: u32,
    /// CCOUNT counts per kernel tick.
    pub tick_cycles: u32,
}

impl Header {
    /// The header of a kernel running at `tick_cycles` counts per tick.
    pub const fn new(tick_cycles: u32) -> Header {
        Header {
            ccount_hz: CCOUNT_HZ,
            tick_cycles,
        }
    }

    /// As the file starts.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        out[..4].copy_from_slice(&MAGIC);
        out[4..8].copy_from_slice(&VERSION.to_le_bytes());
        out[8..12].copy_from_slice(&self.ccount_hz.to_le_bytes());
        out[12..16].copy_from_slice(&self.tick_cycles.to_le_bytes());
        out
    }

    /// Read a file's header: `None` unless it is one of this version.
    pub fn decode(bytes: &[u8]) -> Option<Header> {
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        if bytes.get(..4)? != MAGIC || word(4)? != VERSION {
            return None;
        }
        Some(Header {
            ccount_hz: word(8)?,
            tick_cycles: word(12)?,
        })
    }
}

/// Record codes (the byte at offset 4 of a record). Below
/// [`code::SERVICE_FIRST`]: recorded by the kernel itself; from it on:
/// by services, through [`crate::Syscall::Trace`].
pub mod code {
    /// Thread `thread` runs from now on ([`super::NO_THREAD`]: the CPU
    /// idles). Recorded every time the kernel's Rust code resumes a
    /// thread (so also when the one that ran goes on: nothing changes
    /// then), so the running slices of every thread follow.
    pub const SWITCH: u8 = 1;
    /// A timer interrupt: `a` = the tick it handles (low 32 bits). It
    /// interrupted the thread the last switch named.
    pub const TIMER_IRQ: u8 = 2;
    /// Thread `thread` faulted: `arg` = its `FaultKind` (as
    /// `crate::supervise::FaultKind` numbers it), `a` = EXCCAUSE, `b` = PC.
    pub const FAULT: u8 = 3;
    /// Service `arg` (its number in the manifest) was restarted: `a` =
    /// its restarts so far.
    pub const RESTART: u8 = 4;
    /// A DAI's counts after a DMA period: `arg` = the DAI's ring (its
    /// memory object's number, `crate::dai::DaiParams::ring`, which names
    /// the DAI), `a` = its periods so far, `b` = its xruns so far. The
    /// kernel records every DAI after each DMA period of any: a period is
    /// a record whose period count moved, an xrun one whose xrun count
    /// did.
    pub const DAI_PERIOD: u8 = 5;
    /// A DAI's xrun, as a hook of its own would record it: `arg` = the
    /// DAI's ring, as for [`DAI_PERIOD`], `a` = its xruns so far.
    pub const DAI_XRUN: u8 = 6;
    /// The ring was full: `a` records were dropped before this one
    /// (counted since the last `DROPPED`).
    pub const DROPPED: u8 = 7;
    /// The last record of a file: `a` = records dropped in the whole run.
    pub const END: u8 = 8;
    /// The first service code.
    pub const SERVICE_FIRST: u8 = 0x40;
    /// An LL tick ran (recorded at its end by ll-sched): `a` = the
    /// kernel tick it started on, `b` = CCOUNT at its start (the
    /// timer's signal).
    pub const LL_TICK: u8 = 0x40;
    /// dp-sched released DP task `a` (its number among the DP
    /// components): `b` = its deadline (CCOUNT, low 32 bits).
    pub const DP_RELEASE: u8 = 0x41;
    /// A DP task finished a block (recorded by its runner): `a` = the
    /// task, `b` = CCOUNT when the block started.
    pub const DP_COMPLETE: u8 = 0x42;
    /// dp-sched saw DP task `a` miss its deadline: `b` = the deadline
    /// (CCOUNT, low 32 bits).
    pub const DP_MISS: u8 = 0x43;
    /// One past the last service code.
    pub const SERVICE_END: u8 = 0x44;

    /// Whether a service may trace `code` (the kernel refuses any other
    /// with `BadArgument`).
    #[inline]
    pub const fn is_service(code: u32) -> bool {
        code >= SERVICE_FIRST as u32 && code < SERVICE_END as u32
    }
}

/// One record, decoded: `[ccount, code | thread << 8 | arg << 16, a, b]`
/// as four little-endian words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// CCOUNT when it was recorded (see the module's timebase).
    pub ccount: u32,
    /// What happened ([`code`]).
    pub code: u8,
    /// The thread it concerns (the kernel's thread number; for a service
    /// event, the thread that traced it), or [`NO_THREAD`].
    pub thread: u8,
    /// A small argument (see [`code`]).
    pub arg: u16,
    /// The first word.
    pub a: u32,
    /// The second word.
    pub b: u32,
}

impl Record {
    /// The second word of a record: code, thread and small argument.
    #[inline(always)]
    pub const fn tag(code: u8, thread: u8, arg: u16) -> u32 {
        code as u32 | (thread as u32) << 8 | (arg as u32) << 16
    }

    /// As the ring and the file hold it.
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        let words = [
            self.ccount,
            Record::tag(self.code, self.thread, self.arg),
            self.a,
            self.b,
        ];
        for (i, word) in words.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// Read one record (`None` if `bytes` is short).
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let word = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(
                bytes.get(4 * i..4 * i + 4)?.try_into().ok()?,
            ))
        };
        let tag = word(1)?;
        Some(Record {
            ccount: word(0)?,
            code: tag as u8,
            thread: (tag >> 8) as u8,
            arg: (tag >> 16) as u16,
            a: word(2)?,
            b: word(3)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Header, NO_THREAD, Record, code};

    #[test]
    fn records_and_headers_round_trip() {
        let record = Record {
            ccount: 0xFFFF_FFF0,
            code: code::FAULT,
            thread: 7,
            arg: 0x1234,
            a: 5,
            b: 0x4000_0100,
        };
        assert_eq!(Record::decode(&record.encode()), Some(record));
        assert_eq!(Record::decode(&record.encode()[..15]), None);
        let header = Header::new(10_000);
        assert_eq!(Header::decode(&header.encode()), Some(header));
        let mut bad = header.encode();
        bad[4] = 9;
        assert_eq!(Header::decode(&bad), None, "another version");
        assert_eq!(NO_THREAD, 0xFF);
    }

    #[test]
    fn only_service_codes_are_open_to_services() {
        for c in 0..=255u32 {
            let kernel = c < u32::from(code::SERVICE_FIRST);
            assert_eq!(
                code::is_service(c),
                !kernel && c < u32::from(code::SERVICE_END),
                "{c}"
            );
        }
        assert!(code::is_service(u32::from(code::LL_TICK)));
        assert!(code::is_service(u32::from(code::DP_MISS)));
        assert!(!code::is_service(u32::from(code::SWITCH)));
        assert!(!code::is_service(0x4000_0040));
    }
}
