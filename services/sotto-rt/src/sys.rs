//! Safe wrappers for every system call. They are safe even when given
//! arbitrary addresses: the kernel checks every pointer against the
//! caller's own mappings and answers with an error code.

use sotto_abi::Error;
pub use sotto_abi::Syscall;

unsafe extern "C" {
    fn sotto_rt_syscall(number: u32, a: u32, b: u32, c: u32, d: u32) -> u64;
    fn sotto_rt_syscall_regs7(regs: *mut [u32; 7]);
}

#[cfg(not(feature = "threads"))]
unsafe extern "C" {
    fn sotto_rt_syscall_out(number: u32, a3: u32, a4: u32, a5: u32, a6: u32, a7: u32) -> Regs4;
    fn sotto_rt_syscall_out8(
        number: u32,
        a3: u32,
        a4: u32,
        a5: u32,
        a6: u32,
        a7: u32,
        a8: u32,
    ) -> Regs4;
}

/// a2..a5 after a call, as `sotto_rt_syscall_out` returns them: the call0
/// ABI returns a 16-byte aggregate in a2..a5, so they need no memory.
#[cfg(not(feature = "threads"))]
#[repr(C)]
struct Regs4([u32; 4]);

/// a6 and a7 after the last `sotto_rt_syscall_out` or `_out8`, stored by
/// the stub (a service of one thread: nothing else runs its code in
/// between, so a static needs no pointer passed on the stack; with the
/// `threads` feature, calls use `sotto_rt_syscall_regs7` instead).
#[unsafe(no_mangle)]
static mut sotto_rt_a6_a7: [u32; 2] = [0; 2];

/// a2..a7 after a call: `Ok([a3..a7])`, or the kernel's error (a2).
#[inline]
fn results(regs: &[u32]) -> Result<[u32; 5], Error> {
    match Error::check(regs[0]) {
        Ok(()) => Ok([regs[1], regs[2], regs[3], regs[4], regs[5]]),
        Err(error) => Err(error.unwrap_or(Error::BadArgument)),
    }
}

/// A call with five arguments (a3..a7) and five results: `Ok([a3..a7])`.
#[cfg(not(feature = "threads"))]
#[inline]
pub fn call_regs(syscall: Syscall, args: [u32; 5]) -> Result<[u32; 5], Error> {
    let [a3, a4, a5, a6, a7] = args;
    // SAFETY: the arguments are registers, which the kernel checks; the
    // stub returns a2..a5 and stores a6, a7 into `sotto_rt_a6_a7`, read
    // here by value right after (this thread is the only one that runs
    // this service's code).
    let (Regs4([status, first, b, c]), [d, e]) = unsafe {
        let regs = sotto_rt_syscall_out(syscall as u32, a3, a4, a5, a6, a7);
        (regs, (&raw const sotto_rt_a6_a7).read())
    };
    results(&[status, first, b, c, d, e])
}

/// [`call_regs`] with a sixth argument in a8 (`CallTimeout`'s deadline).
/// (Always inline, as `ipc::call_timeout`: the LL scheduler's first call
/// of a tick.)
#[cfg(not(feature = "threads"))]
#[inline(always)]
pub fn call_regs_a8(syscall: Syscall, args: [u32; 5], a8: u32) -> Result<[u32; 5], Error> {
    let [a3, a4, a5, a6, a7] = args;
    // SAFETY: as in `call_regs`: registers only, which the kernel checks;
    // the stub returns a2..a5 and stores a6, a7 into `sotto_rt_a6_a7`.
    let (Regs4([status, first, b, c]), [d, e]) = unsafe {
        let regs = sotto_rt_syscall_out8(syscall as u32, a3, a4, a5, a6, a7, a8);
        (regs, (&raw const sotto_rt_a6_a7).read())
    };
    results(&[status, first, b, c, d, e])
}

/// [`call_regs`] of a service with several threads: the results come
/// back in an array on the calling thread's stack, not through the one
/// word pair the single-threaded stub shares (another thread of the
/// service could overwrite it between the call and the read).
#[cfg(feature = "threads")]
#[inline]
pub fn call_regs(syscall: Syscall, args: [u32; 5]) -> Result<[u32; 5], Error> {
    call_regs_a8(syscall, args, 0)
}

/// [`call_regs_a8`] of a service with several threads (see [`call_regs`]).
#[cfg(feature = "threads")]
#[inline]
pub fn call_regs_a8(syscall: Syscall, args: [u32; 5], a8: u32) -> Result<[u32; 5], Error> {
    let [a3, a4, a5, a6, a7] = args;
    let mut regs = [syscall as u32, a3, a4, a5, a6, a7, a8];
    // SAFETY: the stub reads the seven words of `regs` and writes the
    // first six, a live local array on this thread's stack; the kernel
    // checks every argument.
    unsafe { sotto_rt_syscall_regs7(&mut regs) };
    results(&regs)
}

/// Make a system call; `Ok(value)` or the kernel's error.
#[inline]
pub(crate) fn call(syscall: Syscall, a: u32, b: u32, c: u32, d: u32) -> Result<u32, Error> {
    // SAFETY: a system call only passes registers to the kernel, which
    // validates every argument; memory the call reads or writes is the
    // caller's, checked by the kernel first.
    let result = unsafe { sotto_rt_syscall(syscall as u32, a, b, c, d) };
    let (status, value) = (result as u32, (result >> 32) as u32);
    match Error::check(status) {
        Ok(()) => Ok(value),
        Err(error) => Err(error.unwrap_or(Error::BadArgument)),
    }
}

/// A call number the runtime has no wrapper for (tests of the kernel's
/// decoding): returns status and value as the kernel gave them.
pub fn raw_syscall(number: u32, args: [u32; 4]) -> (u32, u32) {
    // SAFETY: as in `call`: registers only, checked by the kernel.
    let result = unsafe { sotto_rt_syscall(number, args[0], args[1], args[2], args[3]) };
    (result as u32, (result >> 32) as u32)
}

/// Any call number with six argument registers (a3..a8: `CallTimeout`
/// takes its deadline tick in a8), as the kernel answers it: the status (a2)
/// and a3..a7. For tests that pass the kernel raw, possibly wrong values.
pub fn raw_syscall_regs(number: u32, args: [u32; 6]) -> (u32, [u32; 5]) {
    let mut regs = [number, args[0], args[1], args[2], args[3], args[4], args[5]];
    // SAFETY: the stub reads the seven words of `regs` and writes the
    // first six, a live local array; the kernel checks every argument.
    unsafe { sotto_rt_syscall_regs7(&mut regs) };
    (regs[0], [regs[1], regs[2], regs[3], regs[4], regs[5]])
}

/// The cheapest system call: enter the kernel and come back.
pub fn null() {
    // SAFETY: registers only; the null call has no result to check.
    let _ = unsafe { sotto_rt_syscall(Syscall::Null as u32, 0, 0, 0, 0) };
}

/// Write bytes to the console; returns how many were written.
pub fn console_write(bytes: &[u8]) -> Result<usize, Error> {
    call(
        Syscall::ConsoleWrite,
        bytes.as_ptr() as u32,
        bytes.len() as u32,
        0,
        0,
    )
    .map(|n| n as usize)
}

/// `console_write` with a raw address and length, which the kernel checks.
pub fn console_write_raw(address: u32, len: u32) -> Result<usize, Error> {
    call(Syscall::ConsoleWrite, address, len, 0, 0).map(|n| n as usize)
}

/// End this service with `status` (0 = success).
pub fn exit(status: u32) -> ! {
    let _ = call(Syscall::Exit, status, 0, 0, 0);
    unreachable_after_end()
}

/// Report a panic and end this service.
pub fn panic(message: &[u8]) -> ! {
    let _ = call(
        Syscall::Panic,
        message.as_ptr() as u32,
        message.len() as u32,
        0,
        0,
    );
    unreachable_after_end()
}

fn unreachable_after_end() -> ! {
    // The kernel never resumes an ended service; spin if it somehow did.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Let other ready services of the same priority run.
pub fn yield_now() {
    let _ = call(Syscall::Yield, 0, 0, 0, 0);
}

/// Sleep for at least `micros` microseconds (whole ticks, rounded up).
pub fn sleep_us(micros: u32) {
    let _ = call(Syscall::Sleep, micros, 0, 0, 0);
}

/// The cycle counter (10 MHz on QEMU's `sim` machine).
#[inline]
pub fn cycles() -> u32 {
    call(Syscall::Cycles, 0, 0, 0, 0).unwrap_or(0)
}

/// The cycle counter, or the kernel's error (`MissingRight` without a clock
/// capability): whether this service may read it at all.
#[inline]
pub fn try_cycles() -> Result<u32, Error> {
    call(Syscall::Cycles, 0, 0, 0, 0)
}

/// Ticks since boot.
#[inline]
pub fn ticks() -> u32 {
    call(Syscall::Ticks, 0, 0, 0, 0).unwrap_or(0)
}

/// The kernel's tick rate in Hz.
pub fn tick_hz() -> u32 {
    call_regs(Syscall::Ticks, [0; 5]).map_or(1000, |regs| regs[1])
}

/// A sum of cycle-counter phases within a period (`CCOUNT % period`), for
/// benchmarks that average how far past a grid point something runs.
/// Each phase is unwrapped against the first one (the samples lie within
/// half a period of each other), so samples on both sides of the period's
/// wrap average correctly; each counts one period high, which keeps the
/// sum positive (its reader takes the average modulo the period).
///
/// Without the unwrapping, a grid point just before the wrap (the LL
/// bench's was at phase 9,965 of 10,000) splits the samples: some at
/// 9,999, some at 0, and the average lands a whole tick off.
pub struct PhaseSum {
    period: u32,
    first: Option<u32>,
    /// The unwrapped phases, one period added to each.
    pub sum: u64,
}

impl PhaseSum {
    /// No samples; `period` in counts, below 2^31.
    pub const fn new(period: u32) -> PhaseSum {
        PhaseSum {
            period,
            first: None,
            sum: 0,
        }
    }

    /// Add the phase of counter value `ccount`.
    pub fn add(&mut self, ccount: u32) {
        let phase = ccount % self.period;
        let first = *self.first.get_or_insert(phase);
        let half = self.period / 2;
        // phase - first, in [-half, period - half), plus half.
        let from_first = (phase + self.period + half - first) % self.period;
        self.sum += u64::from(first + self.period + from_first - half);
    }
}
