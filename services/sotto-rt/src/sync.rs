//! Notifications, semaphores and timers, through the capabilities the
//! service holds.

use sotto_abi::Syscall;

use crate::Error;
use crate::cap::Slot;
use crate::sys::call;

/// Set `bits` in a notification (SEND).
#[inline]
pub fn signal(notification: Slot, bits: u32) -> Result<(), Error> {
    call(Syscall::NotifySignal, notification, bits, 0, 0).map(drop)
}

/// Wait until a notification has bits set; returns and clears them
/// (RECEIVE).
pub fn wait(notification: Slot) -> Result<u32, Error> {
    call(Syscall::NotifyWait, notification, 0, 0, 0)
}

/// The bits set now (cleared), without waiting; 0 if none.
pub fn poll(notification: Slot) -> Result<u32, Error> {
    call(Syscall::NotifyPoll, notification, 0, 0, 0)
}

/// Give a semaphore (SEND).
#[inline]
pub fn give(semaphore: Slot) -> Result<(), Error> {
    call(Syscall::SemGive, semaphore, 0, 0, 0).map(drop)
}

/// How long `take` may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// Do not wait (`WouldBlock` if the count is 0).
    Never,
    /// At most this many microseconds (`TimedOut` after).
    Micros(u32),
    /// Until given.
    Forever,
}

/// Take a semaphore (RECEIVE).
pub fn take(semaphore: Slot, timeout: Timeout) -> Result<(), Error> {
    let micros = match timeout {
        Timeout::Never => 0,
        Timeout::Micros(micros) => micros.clamp(1, u32::MAX - 1),
        Timeout::Forever => u32::MAX,
    };
    call(Syscall::SemTake, semaphore, micros, 0, 0).map(drop)
}

/// Arm a timer (CONTROL): first expiry after `delay` ticks, then every
/// `period` ticks (0: once).
pub fn arm_ticks(timer: Slot, delay: u32, period: u32) -> Result<(), Error> {
    call(Syscall::TimerArm, timer, delay, period, 0).map(drop)
}

/// Arm a timer in microseconds (rounded up to whole ticks).
pub fn arm_micros(timer: Slot, delay: u32, period: u32) -> Result<(), Error> {
    call(Syscall::TimerArm, timer, delay, period, 1).map(drop)
}

/// Disarm a timer.
pub fn cancel(timer: Slot) -> Result<(), Error> {
    call(Syscall::TimerCancel, timer, 0, 0, 0).map(drop)
}
