//! Service events in the kernel's trace of the schedule
//! (`cargo xtask run --trace`; `sotto_abi::trace`): an LL tick, a DP
//! release, completion or miss. With tracing off the kernel records
//! nothing and says so once; from then on (until the service restarts)
//! an event costs a load and a branch here, no system call.

use core::sync::atomic::{AtomicU8, Ordering};

pub use sotto_abi::trace::code;

use crate::sys::{Syscall, call};

/// Not asked yet.
const UNKNOWN: u8 = 0;
/// The kernel records (the last call said 1).
const ON: u8 = 1;
/// The kernel does not record: no more calls.
const OFF: u8 = 2;

/// What the last `Trace` call said (shared by the service's threads: a
/// plain load and store, no read-modify-write).
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Record event `code` (a service code of `sotto_abi::trace::code`) with
/// its words `a`, `b`. Errors are dropped: a trace never changes what a
/// service does.
#[inline]
pub fn event(code: u8, a: u32, b: u32) {
    if STATE.load(Ordering::Relaxed) != OFF {
        record(code, a, b);
    }
}

#[inline(never)]
fn record(code: u8, a: u32, b: u32) {
    match call(Syscall::Trace, u32::from(code), a, b, 0) {
        Ok(0) => STATE.store(OFF, Ordering::Relaxed),
        Ok(_) => STATE.store(ON, Ordering::Relaxed),
        Err(_) => {}
    }
}

/// An LL tick that started on kernel tick `tick` at CCOUNT `start` ended
/// now (ll-sched).
#[inline]
pub fn ll_tick(tick: u32, start: u32) {
    event(code::LL_TICK, tick, start);
}

/// DP task `task` was released now with deadline `deadline` (CCOUNT,
/// 64-bit; its low 32 bits are recorded).
#[inline]
pub fn dp_release(task: u32, deadline: u64) {
    event(code::DP_RELEASE, task, deadline as u32);
}

/// DP task `task` finished a block it started at CCOUNT `start`.
#[inline]
pub fn dp_complete(task: u32, start: u32) {
    event(code::DP_COMPLETE, task, start);
}

/// DP task `task` missed its deadline `deadline` (CCOUNT, 64-bit).
#[inline]
pub fn dp_miss(task: u32, deadline: u64) {
    event(code::DP_MISS, task, deadline as u32);
}
