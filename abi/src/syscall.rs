//! System calls: numbers, the register convention, and error codes.
//!
//! Convention (call0, so a stub is just `syscall; ret`): the number in a2,
//! arguments in a3..a8; on return a2 holds the status ([`Error`] code or 0
//! for success) and a3..a7 the values. Numbers and codes are decoded with
//! checks: an unknown number is an error code, never a crash.
//!
//! What a system call keeps, like a call0 function call: a0, a1, a12..a15,
//! THREADPTR and LITBASE always. a2..a11 and SAR are not kept
//! (a register that carries no result comes back zero or with the caller's
//! own value, never the kernel's or another service's). SCOMPARE1, MAC16
//! (ACCLO, ACCHI, M0..M3), EXPSTATE and the loop registers (LBEG, LEND,
//! LCOUNT) survive every call except a `Call`, `CallTimeout`, `ReplyRecv`
//! or `Yield` that switches threads on a fast path, which returns them
//! zero: compilers keep none of them live across a call. A preempted
//! thread keeps everything.

/// A system call number.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// Do nothing and return: measures the cost of entry and exit.
    Null = 0,
    /// Write `len` bytes at `ptr` (a3, a4) to the console; needs a console
    /// capability. Value: bytes written.
    ConsoleWrite = 1,
    /// End the calling service with status a3. Does not return.
    Exit = 2,
    /// Give the CPU to the next ready thread of the same priority.
    Yield = 3,
    /// Sleep for at least a3 microseconds (rounded up to whole ticks).
    Sleep = 4,
    /// Report a panic message (`ptr`, `len` in a3, a4) and end the service.
    Panic = 5,
    /// Value: the kernel's cycle counter (CCOUNT, 10 MHz on QEMU `sim`);
    /// needs a clock capability (READ). A caller holding one also gets
    /// CCOUNT with IPC results, without this call: see [`Syscall::Call`]
    /// and [`Syscall::RecvOrWait`].
    Cycles = 6,
    /// Value: ticks since boot; a4 = the tick rate in Hz.
    Ticks = 7,
    /// Copy slot a3 into empty slot a4 with rights a5 (a subset) and badge
    /// a6 (0: keep the source's). Needs GRANT.
    CapDerive = 8,
    /// Move slot a3 to empty slot a4.
    CapMove = 9,
    /// Empty slot a3.
    CapDelete = 10,
    /// Remove everything derived from slot a3, in every service. Value:
    /// how many capabilities were removed.
    CapRevoke = 11,
    /// Describe slot a3: a3 = kind, a4 = rights, a5 = badge.
    CapInfo = 12,
    /// Set bits a4 in notification a3 (SEND).
    NotifySignal = 13,
    /// Wait for bits of notification a3 (RECEIVE); value: the bits, now clear.
    NotifyWait = 14,
    /// Take the bits of notification a3 without waiting (RECEIVE).
    NotifyPoll = 15,
    /// Give semaphore a3 (SEND).
    SemGive = 16,
    /// Take semaphore a3 (RECEIVE), waiting at most a4 microseconds
    /// (0: do not wait, `u32::MAX`: forever).
    SemTake = 17,
    /// Arm timer a3 (CONTROL): first expiry after a4, then every a5 (0:
    /// once), in ticks (a6 = 0) or microseconds (a6 = 1).
    TimerArm = 18,
    /// Disarm timer a3 (CONTROL).
    TimerCancel = 19,
    /// Map memory region a3 at address a4 with rights a5 (READ, WRITE).
    MemMap = 20,
    /// Unmap memory region a3.
    MemUnmap = 21,
    /// Where region a3 is mapped: a3 = address (0: not mapped), a4 = size.
    MemInfo = 22,
    /// Call endpoint a3 (SEND): a4 = [`MsgInfo`], a5..a7 words; blocks for
    /// the reply, which comes back the same way: a3 = info, a5..a7 words,
    /// and a4 = the cycle counter (CCOUNT) read by the kernel as it
    /// delivered the reply, if the caller holds a clock capability (READ,
    /// as [`Syscall::Cycles`] needs), else 0. A caller times its calls
    /// with it, without a `Cycles` call after each. (On an error, a3..a7
    /// are 0.)
    Call = 23,
    /// Receive on endpoint a3 (RECEIVE); a4 = [`MsgInfo`] (receive slot).
    /// Returns a3 = badge, a4 = info, a5..a7 words.
    Recv = 24,
    /// Reply to the last call received: a4 = info, a5..a7 words. Value: 1
    /// if the reply reached its caller, 0 if the caller no longer waits for
    /// it (it timed out or ended) and the reply was dropped.
    Reply = 25,
    /// Reply, then receive on endpoint a3, in one call. With
    /// [`MsgInfo::reply_dropped`] set in a4, a reply that is dropped makes
    /// the call return at once (a4 = info with `reply_dropped` set, nothing
    /// received), so a server can tell its caller it is listening again.
    ReplyRecv = 26,
    /// Receive on endpoint a3 (info a4) or take the bits of notification
    /// a5, whichever comes first: a server that also reacts to signals (a
    /// timer). A signal returns a3 = 0, a4 = info with `signalled` set,
    /// a5 = the bits, a6 = the cycle counter (CCOUNT) as the kernel took
    /// the bits for it (0 unless the caller holds a clock capability with
    /// READ) and a7 = the tick count then (low 32 bits, as
    /// [`Syscall::Ticks`]): a tick-driven server starts its tick without a
    /// `Cycles` or `Ticks` call. A call returns as from [`Syscall::Recv`].
    RecvOrWait = 27,
    /// `Call` with a deadline: as `Call` (a3 endpoint, a4 info, a5..a7
    /// words), and a8 = the tick by which the reply must come, as the low
    /// 32 bits of the tick count ([`Syscall::Ticks`], or a7 of a signalled
    /// [`Syscall::RecvOrWait`]; wrapping: at most 2^31 ticks ahead). The
    /// caller computes it from the tick it already has, so the kernel
    /// reads no clock and converts no unit. A deadline not after the
    /// kernel's tick count (passed, or any other value) ends the wait at
    /// the next tick, as a limit of one tick would: every value is
    /// accepted. On expiry the call fails with [`Error::TimedOut`]: a
    /// queued message is withdrawn, a received one's reply is discarded
    /// when it comes. A reply in time comes back as from
    /// [`Syscall::Call`], a4 = CCOUNT included.
    CallTimeout = 28,
    /// Give thread a3 (a `thread` capability with CONTROL) priority a4
    /// (0 = most urgent ..= 7), never more urgent than its ceiling (its
    /// priority in `system.toml`): [`Error::AboveCeiling`]. A queued
    /// thread moves to the back of its new priority's threads of its
    /// deadline; the caller is preempted at once if the change makes
    /// another thread outrank it. Calls through endpoints follow the new
    /// priority (a server made less urgent than a caller refuses its
    /// calls, [`Error::PriorityInversion`]). A call in flight never runs
    /// uphill: a server may not be made less urgent than the caller it
    /// owes a reply, nor a caller more urgent than the server whose reply
    /// it waits for ([`Error::PriorityInversion`], nothing changed).
    ThreadPriority = 29,
    /// Set thread a3's (CONTROL) absolute deadline to a4 | a5 << 32, or
    /// clear it with `u64::MAX`. Among ready threads of one priority the
    /// earliest deadline runs, threads without one after them
    /// (round-robin); a thread that becomes ready (woken, resumed, given
    /// an earlier deadline) with an earlier deadline than the running
    /// thread of its priority preempts it. The kernel only compares
    /// deadlines: by convention they are CCOUNT cycles extended to 64
    /// bits (`sotto_rt::thread::Clock64`), the time base of
    /// [`Syscall::ThreadCpuTime`].
    ThreadDeadline = 30,
    /// Suspend thread a3 (CONTROL; the caller's own thread too): it is
    /// never picked until resumed. A blocked thread keeps its wait and
    /// runs only when both are over. [`Error::AlreadySuspended`] if it is.
    ThreadSuspend = 31,
    /// Resume thread a3 (CONTROL). [`Error::NotSuspended`] if it is not.
    ThreadResume = 32,
    /// Thread a3's (CONTROL) CPU time in cycles: a3 = low, a4 = high word.
    /// Charged, to the thread that ran, whenever the kernel's Rust code is
    /// entered from a thread (every interrupt, every system call the entry
    /// does not answer itself); the entry's express IPC and yield
    /// hand-offs (trap.S) account nothing, so the time of a thread they
    /// run goes to the thread running at the next such entry (a server
    /// called through the express path is charged to its client if the
    /// client is the one running then, or the other way round). Exact for
    /// threads switched by interrupts and ordinary system calls
    /// (preemption, blocking, waking). An ended thread's stays readable.
    ThreadCpuTime = 33,
    /// Restart service a3 (a service capability with CONTROL; not the
    /// caller's own): every thread back to its entry with its stack and
    /// registers as the image has them, data and bss put back, its
    /// capabilities back to the manifest's grants (mappings with them),
    /// what it derived for other services revoked (a loan withdrawn, a
    /// copy of its endpoint gone: `EmptySlot` there, not a wait for an
    /// instance that does not know the caller), the timers it controls
    /// disarmed (a timer the manifest arms at boot
    /// is armed again from now), memory objects it may write put back as
    /// the image has them unless declared `keep = true`; threads waiting
    /// for its replies get [`Error::PeerRestarted`], and so does a thread
    /// blocked receiving on an endpoint only the restarted service could
    /// call (its copies of runtime capabilities are gone). Works on a
    /// running, faulted or stopped service. See `crate::supervise`.
    ServiceRestart = 34,
    /// Stop service a3 (CONTROL; not the caller's own) for good, as a
    /// fault without a supervisor does: its callers get
    /// [`Error::PeerGone`]. A stopped service may still be restarted.
    ServiceStop = 35,
    /// Service a3's (CONTROL) state and policy:
    /// `crate::supervise::ServiceStatus` in a3..a7.
    ServiceQuery = 36,
    /// The next fault of a service the caller supervises:
    /// `crate::supervise::FaultMessage` in a3..a7; [`Error::WouldBlock`]
    /// when none is pending. The kernel signals the supervisor's faults
    /// notification (`faults` in `system.toml`) with
    /// `crate::supervise::FAULT_BIT` when it queues one.
    FaultTake = 37,
    /// Record a service event in the kernel's trace of the schedule
    /// (`crate::trace`): a3 = its code (a service code,
    /// `crate::trace::code::is_service`), a4 and a5 its two words. No
    /// capability: any thread may trace; the record names it. Value: 1 if
    /// the event was recorded, 0 if tracing is off (nothing recorded: a
    /// caller may stop tracing until it restarts). Any other code:
    /// [`Error::BadArgument`] (whether tracing is on or off).
    Trace = 38,
}

impl Syscall {
    /// Every system call, in number order.
    pub const ALL: [Syscall; 39] = [
        Syscall::Null,
        Syscall::ConsoleWrite,
        Syscall::Exit,
        Syscall::Yield,
        Syscall::Sleep,
        Syscall::Panic,
        Syscall::Cycles,
        Syscall::Ticks,
        Syscall::CapDerive,
        Syscall::CapMove,
        Syscall::CapDelete,
        Syscall::CapRevoke,
        Syscall::CapInfo,
        Syscall::NotifySignal,
        Syscall::NotifyWait,
        Syscall::NotifyPoll,
        Syscall::SemGive,
        Syscall::SemTake,
        Syscall::TimerArm,
        Syscall::TimerCancel,
        Syscall::MemMap,
        Syscall::MemUnmap,
        Syscall::MemInfo,
        Syscall::Call,
        Syscall::Recv,
        Syscall::Reply,
        Syscall::ReplyRecv,
        Syscall::RecvOrWait,
        Syscall::CallTimeout,
        Syscall::ThreadPriority,
        Syscall::ThreadDeadline,
        Syscall::ThreadSuspend,
        Syscall::ThreadResume,
        Syscall::ThreadCpuTime,
        Syscall::ServiceRestart,
        Syscall::ServiceStop,
        Syscall::ServiceQuery,
        Syscall::FaultTake,
        Syscall::Trace,
    ];

    /// Decode a number from a2.
    #[inline]
    pub fn from_raw(raw: u32) -> Option<Syscall> {
        // A static, not `Self::ALL`: a const array would be built on the
        // stack at every call, on the kernel's hottest path.
        static ALL: [Syscall; Syscall::ALL.len()] = Syscall::ALL;
        ALL.get(raw as usize).copied()
    }
}

impl From<Syscall> for u32 {
    fn from(call: Syscall) -> u32 {
        call as u32
    }
}

/// "No slot" in a [`MsgInfo`] slot field.
pub const NO_SLOT: u8 = 0xFF;

/// The info word of an IPC message: payload length (bytes in the IPC
/// buffer), a capability to send, the slot to receive one into, and
/// whether one arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgInfo {
    /// Payload bytes in the IPC buffer (at most [`IPC_PAYLOAD_MAX`]).
    pub len: u16,
    /// Slot of a capability to transfer, or [`NO_SLOT`].
    pub send_cap: u8,
    /// Slot to receive a capability into, or [`NO_SLOT`].
    pub recv_slot: u8,
    /// Set by the kernel: a capability was received into `recv_slot`.
    pub cap_received: bool,
    /// Set by the kernel (`RecvOrWait`): a notification, not a call.
    pub signalled: bool,
    /// `ReplyRecv`: set by the server, "if my reply finds no caller (it
    /// timed out or ended), return at once instead of receiving"; set by
    /// the kernel in the info it then returns (nothing was received).
    pub reply_dropped: bool,
}

/// Most payload bytes in one message (the IPC buffer is one page).
pub const IPC_PAYLOAD_MAX: u16 = 4096;

impl MsgInfo {
    /// A message with `len` payload bytes and no capability.
    #[inline]
    pub const fn new(len: u16) -> MsgInfo {
        MsgInfo {
            len,
            send_cap: NO_SLOT,
            recv_slot: NO_SLOT,
            cap_received: false,
            signalled: false,
            reply_dropped: false,
        }
    }

    /// Pack into a register. Slot fields hold `slot + 1`, so an all-zero
    /// register is a plain message with no capability.
    #[inline]
    pub const fn encode(self) -> u32 {
        (self.len as u32 & 0x1FFF)
            | ((self.cap_received as u32) << 13)
            | ((self.signalled as u32) << 14)
            | ((self.reply_dropped as u32) << 15)
            | ((self.send_cap.wrapping_add(1) as u32) << 16)
            | ((self.recv_slot.wrapping_add(1) as u32) << 24)
    }

    /// Unpack a register.
    #[inline]
    pub const fn decode(raw: u32) -> MsgInfo {
        MsgInfo {
            len: (raw & 0x1FFF) as u16,
            cap_received: raw & (1 << 13) != 0,
            signalled: raw & (1 << 14) != 0,
            reply_dropped: raw & (1 << 15) != 0,
            send_cap: ((raw >> 16) as u8).wrapping_sub(1),
            recv_slot: ((raw >> 24) as u8).wrapping_sub(1),
        }
    }
}

/// Recoverable errors, returned in a2. 0 is success and is not an `Error`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No system call has this number.
    UnknownSyscall = 1,
    /// A pointer argument is not mapped for the caller with the access the
    /// call needs (unmapped, kernel memory, or runs off its mapping).
    BadAddress = 2,
    /// A length argument is out of range (too long, or wraps).
    BadLength = 3,
    /// An argument has a value the call does not accept.
    BadArgument = 4,
    /// The capability slot number is outside the table.
    BadSlot = 5,
    /// The slot holds no capability.
    EmptySlot = 6,
    /// The destination slot already holds a capability.
    SlotInUse = 7,
    /// The capability names an object of another kind.
    WrongKind = 8,
    /// The capability lacks a right the operation needs.
    MissingRight = 9,
    /// A derived capability may not have rights its source lacks.
    WidenRights = 10,
    /// A badged capability cannot be given another badge.
    AlreadyBadged = 11,
    /// The operation would wait, and the caller asked not to.
    WouldBlock = 12,
    /// The wait ended by timeout.
    TimedOut = 13,
    /// A semaphore is at its maximum count.
    Overflow = 14,
    /// The peer ended (server died, caller gone).
    PeerGone = 15,
    /// The capability the caller waited or called through was revoked or
    /// deleted while it waited; the wait or the queued call is abandoned.
    Revoked = 16,
    /// The receiver is less urgent (a higher priority number) than the
    /// caller: a call may never run uphill, so it is refused rather than
    /// left to a priority inversion.
    PriorityInversion = 17,
    /// The kernel has no free page table for this mapping (unmap another
    /// region first).
    OutOfTables = 18,
    /// A thread may not be given a priority more urgent than its ceiling.
    AboveCeiling = 19,
    /// The thread is suspended already.
    AlreadySuspended = 20,
    /// The thread is not suspended.
    NotSuspended = 21,
    /// The thread has ended (its service exited, panicked or faulted).
    ThreadEnded = 22,
    /// The server was restarted while the call was in flight (received,
    /// not yet answered), or a receive could only have been answered by a
    /// service that was restarted; calls through the same capability
    /// reach the new instance.
    PeerRestarted = 23,
    /// The service is not in a state the operation applies to.
    BadState = 24,
}

// `Error::check` indexes `Error::ALL` by code - 1.
const _: () = {
    let mut i = 0;
    while i < Error::ALL.len() {
        assert!(Error::ALL[i] as usize == i + 1);
        i += 1;
    }
};

impl Error {
    /// Every error, in code order.
    pub const ALL: [Error; 24] = [
        Error::UnknownSyscall,
        Error::BadAddress,
        Error::BadLength,
        Error::BadArgument,
        Error::BadSlot,
        Error::EmptySlot,
        Error::SlotInUse,
        Error::WrongKind,
        Error::MissingRight,
        Error::WidenRights,
        Error::AlreadyBadged,
        Error::WouldBlock,
        Error::TimedOut,
        Error::Overflow,
        Error::PeerGone,
        Error::Revoked,
        Error::PriorityInversion,
        Error::OutOfTables,
        Error::AboveCeiling,
        Error::AlreadySuspended,
        Error::NotSuspended,
        Error::ThreadEnded,
        Error::PeerRestarted,
        Error::BadState,
    ];

    /// Decode a status from a2: `Ok(())` for 0, else the error (unknown
    /// codes come back as `None` inside `Err`).
    #[inline]
    pub fn check(status: u32) -> Result<(), Option<Error>> {
        if status == 0 {
            return Ok(());
        }
        // A static, not `Self::ALL`: a const array would be copied onto the
        // stack at every call, on every service's system-call path.
        // Codes run 1..=N in `ALL`'s order (asserted below): an index, not
        // a search, so every service's `call` stays small enough to inline.
        static ALL: [Error; Error::ALL.len()] = Error::ALL;
        Err(ALL.get(status.wrapping_sub(1) as usize).copied())
    }

    /// A short description.
    pub fn describe(self) -> &'static str {
        match self {
            Error::UnknownSyscall => "unknown system call",
            Error::BadAddress => "bad address",
            Error::BadLength => "bad length",
            Error::BadArgument => "bad argument",
            Error::BadSlot => "no such capability slot",
            Error::EmptySlot => "empty capability slot",
            Error::SlotInUse => "capability slot in use",
            Error::WrongKind => "capability of the wrong kind",
            Error::MissingRight => "capability lacks a right",
            Error::WidenRights => "derived rights exceed the source's",
            Error::AlreadyBadged => "capability already badged",
            Error::WouldBlock => "would block",
            Error::TimedOut => "timed out",
            Error::Overflow => "count at its maximum",
            Error::PeerGone => "peer gone",
            Error::Revoked => "capability revoked while waiting",
            Error::PriorityInversion => "receiver less urgent than the caller",
            Error::OutOfTables => "no free page table",
            Error::AboveCeiling => "priority above the thread's ceiling",
            Error::AlreadySuspended => "thread already suspended",
            Error::NotSuspended => "thread not suspended",
            Error::ThreadEnded => "thread ended",
            Error::PeerRestarted => "peer restarted",
            Error::BadState => "service not in a state for that",
        }
    }
}

/// Most bytes one `ConsoleWrite` takes.
pub const CONSOLE_WRITE_MAX: u32 = 4096;

#[cfg(test)]
mod tests {
    use super::{Error, Syscall};

    #[test]
    fn numbers_decode_with_checks() {
        for (number, call) in Syscall::ALL.iter().enumerate() {
            assert_eq!(*call as u32, number as u32);
            assert_eq!(Syscall::from_raw(number as u32), Some(*call));
        }
        assert_eq!(Syscall::from_raw(Syscall::ALL.len() as u32), None);
        assert_eq!(Syscall::from_raw(u32::MAX), None);
    }

    #[test]
    fn message_info_packs_into_one_register() {
        let info = super::MsgInfo {
            len: 4096,
            send_cap: 3,
            recv_slot: 31,
            cap_received: true,
            signalled: true,
            reply_dropped: true,
        };
        assert_eq!(super::MsgInfo::decode(info.encode()), info);
        assert_eq!(
            super::MsgInfo::decode(super::MsgInfo::new(7).encode()).send_cap,
            super::NO_SLOT
        );
        assert_eq!(
            super::MsgInfo::decode(0),
            super::MsgInfo::new(0),
            "zero means no capability"
        );
    }

    #[test]
    fn error_codes_are_distinct_and_never_zero() {
        assert_eq!(Error::check(0), Ok(()));
        for error in Error::ALL {
            assert_ne!(error as u32, 0);
            assert_eq!(Error::check(error as u32), Err(Some(error)));
        }
        assert_eq!(Error::check(999), Err(None));
    }
}
