//! Thread control through `thread` capabilities (CONTROL): priority
//! (never more urgent than the thread's ceiling), absolute deadline
//! (earliest deadline first among equal priorities), suspend and resume,
//! CPU time. See `sotto_abi::Syscall::ThreadPriority` and the calls after
//! it.

use sotto_abi::Syscall;

use crate::Error;
use crate::cap::Slot;
use crate::sys::{call, call_regs};

/// "No deadline", as the kernel takes it.
pub const NO_DEADLINE: u64 = u64::MAX;

/// Give the thread priority `priority` (0 = most urgent ..= 7);
/// [`Error::AboveCeiling`] above its ceiling.
pub fn set_priority(thread: Slot, priority: u8) -> Result<(), Error> {
    call(Syscall::ThreadPriority, thread, u32::from(priority), 0, 0).map(drop)
}

/// Set the thread's absolute deadline (by convention a 64-bit cycle
/// count, see [`Clock64`]); [`NO_DEADLINE`] clears it.
pub fn set_deadline(thread: Slot, deadline: u64) -> Result<(), Error> {
    call(
        Syscall::ThreadDeadline,
        thread,
        deadline as u32,
        (deadline >> 32) as u32,
        0,
    )
    .map(drop)
}

/// Clear the thread's deadline (it goes after the threads with one).
pub fn clear_deadline(thread: Slot) -> Result<(), Error> {
    set_deadline(thread, NO_DEADLINE)
}

/// Suspend the thread: never picked until [`resume`]d.
pub fn suspend(thread: Slot) -> Result<(), Error> {
    call(Syscall::ThreadSuspend, thread, 0, 0, 0).map(drop)
}

/// Resume a suspended thread.
pub fn resume(thread: Slot) -> Result<(), Error> {
    call(Syscall::ThreadResume, thread, 0, 0, 0).map(drop)
}

/// The thread's CPU time in cycles (as of the kernel's last accounting).
pub fn cpu_time(thread: Slot) -> Result<u64, Error> {
    call_regs(Syscall::ThreadCpuTime, [thread, 0, 0, 0, 0])
        .map(|regs| u64::from(regs[0]) | (u64::from(regs[1]) << 32))
}

/// The cycle counter extended to 64 bits (the deadlines' time base), kept
/// by reading it at least once every 2^32 cycles (7 minutes at 10 MHz).
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock64 {
    last: u64,
}

impl Clock64 {
    /// A clock from 0.
    pub const fn new() -> Clock64 {
        Clock64 { last: 0 }
    }

    /// The cycle count now (needs a clock capability, as
    /// [`crate::sys::cycles`]).
    pub fn now(&mut self) -> u64 {
        let low = crate::sys::cycles();
        let ahead = low.wrapping_sub(self.last as u32);
        self.last += u64::from(ahead);
        self.last
    }
}
