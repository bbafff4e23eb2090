//! System calls: numbers, the register convention, and error codes.
//!
//! Convention (call0, so a stub is just `syscall; ret`): the number in a2,
//! arguments in a3..a6; on return a2 holds the status ([`Error`] code or 0
//! for success) and a3 a value. Numbers and codes are decoded with checks:
//! an unknown number is an error code, never a crash.

/// A system call number.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// Do nothing and return: measures the cost of entry and exit.
    Null = 0,
    /// Write `len` bytes at `ptr` (a3, a4) to the console. Value: bytes written.
    ConsoleWrite = 1,
    /// End the calling service with status a3. Does not return.
    Exit = 2,
    /// Give the CPU to the next ready thread of the same priority.
    Yield = 3,
    /// Sleep for at least a3 microseconds (rounded up to whole ticks).
    Sleep = 4,
    /// Report a panic message (`ptr`, `len` in a3, a4) and end the service.
    Panic = 5,
    /// Value: the kernel's cycle counter (CCOUNT, 10 MHz on QEMU `sim`).
    Cycles = 6,
    /// Value: ticks since boot.
    Ticks = 7,
}

impl Syscall {
    /// Every system call, in number order.
    pub const ALL: [Syscall; 8] = [
        Syscall::Null,
        Syscall::ConsoleWrite,
        Syscall::Exit,
        Syscall::Yield,
        Syscall::Sleep,
        Syscall::Panic,
        Syscall::Cycles,
        Syscall::Ticks,
    ];

    /// Decode a number from a2.
    pub fn from_raw(raw: u32) -> Option<Syscall> {
        Self::ALL.get(raw as usize).copied()
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
}

impl Error {
    /// Every error, in code order.
    pub const ALL: [Error; 15] = [
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
    ];

    /// Decode a status from a2: `Ok(())` for 0, else the error (unknown
    /// codes come back as `None` inside `Err`).
    pub fn check(status: u32) -> Result<(), Option<Error>> {
        if status == 0 {
            return Ok(());
        }
        Err(Self::ALL.into_iter().find(|error| *error as u32 == status))
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
    fn error_codes_are_distinct_and_never_zero() {
        assert_eq!(Error::check(0), Ok(()));
        for error in Error::ALL {
            assert_ne!(error as u32, 0);
            assert_eq!(Error::check(error as u32), Err(Some(error)));
        }
        assert_eq!(Error::check(999), Err(None));
    }
}
