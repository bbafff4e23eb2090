//! Faults on purpose, for the isolation tests: each runs one instruction
//! the kernel must stop the service for. Only with the `fault-injection`
//! feature.

unsafe extern "C" {
    fn sotto_rt_fault_illegal();
    fn sotto_rt_fault_read_ccount() -> u32;
    fn sotto_rt_fault_write_ps();
    fn sotto_rt_fault_load(address: u32) -> u32;
    fn sotto_rt_fault_store(address: u32, value: u32);
    fn sotto_rt_fault_divide(dividend: u32, divisor: u32) -> u32;
    fn sotto_rt_fault_simcall();
    fn sotto_rt_fault_jump(address: u32);
    fn sotto_rt_fault_break();
    fn sotto_rt_fault_break_n();
    fn sotto_rt_state_read(out: *mut [u32; STATE_REGISTERS]);
    fn sotto_rt_state_swap(
        values: *const [u32; STATE_REGISTERS],
        out: *mut [u32; STATE_REGISTERS],
        number: u32,
        arg: u32,
    ) -> u32;
    fn sotto_rt_scratch_swap(
        values: *const [u32; 4],
        out: *mut [u32; SCRATCH_REGISTERS],
        number: u32,
        arg: u32,
    ) -> u32;
    fn sotto_rt_atomic_add_slow(counter: *mut u32, times: u32);
    fn sotto_rt_fault_loop_into(lbeg: u32, lend: u32, lcount: u32) -> u32;
}

/// How many user-writable registers [`read_state`] and [`swap_state`] cover:
/// SCOMPARE1, THREADPTR, ACCLO, ACCHI, M0..M3, LITBASE, EXPSTATE.
pub const STATE_REGISTERS: usize = 10;

/// Their names, in that order.
pub const STATE_NAMES: [&str; STATE_REGISTERS] = [
    "SCOMPARE1",
    "THREADPTR",
    "ACCLO",
    "ACCHI",
    "M0",
    "M1",
    "M2",
    "M3",
    "LITBASE",
    "EXPSTATE",
];

// SAFETY (for every function below): the instruction faults in the user
// ring; the kernel stops the service and never returns here. Should it not
// fault, the helper returns normally and touches nothing else.

/// An illegal instruction.
pub fn illegal_instruction() {
    // SAFETY: see the module comment.
    unsafe { sotto_rt_fault_illegal() }
}

/// Read CCOUNT (privileged).
pub fn read_ccount() -> u32 {
    // SAFETY: see the module comment.
    unsafe { sotto_rt_fault_read_ccount() }
}

/// Write PS (privileged).
pub fn write_ps() {
    // SAFETY: see the module comment.
    unsafe { sotto_rt_fault_write_ps() }
}

/// Load a word from `address`.
pub fn load(address: u32) -> u32 {
    // SAFETY: see the module comment; a load that succeeds changes nothing.
    unsafe { sotto_rt_fault_load(address) }
}

/// Store `value` to `address`.
pub fn store(address: u32, value: u32) {
    // SAFETY: see the module comment; used only on addresses the service
    // may not write.
    unsafe { sotto_rt_fault_store(address, value) }
}

/// Integer division in hardware (Rust's `/` checks for zero itself).
pub fn divide(dividend: u32, divisor: u32) -> u32 {
    // SAFETY: see the module comment.
    unsafe { sotto_rt_fault_divide(dividend, divisor) }
}

/// Semihosting from user mode.
pub fn simcall() {
    // SAFETY: see the module comment.
    unsafe { sotto_rt_fault_simcall() }
}

/// Jump to `address`.
pub fn jump(address: u32) {
    // SAFETY: see the module comment.
    unsafe { sotto_rt_fault_jump(address) }
}

/// The address of a function in the service's own code.
pub fn own_code_address() -> u32 {
    own_code_address as *const () as u32
}

/// `break 1, 15`: a debug exception in user mode.
pub fn breakpoint() {
    // SAFETY: see the module comment.
    unsafe { sotto_rt_fault_break() }
}

/// `break.n 1`: the narrow form.
pub fn breakpoint_narrow() {
    // SAFETY: see the module comment.
    unsafe { sotto_rt_fault_break_n() }
}

/// The user-writable registers as they are now.
pub fn read_state() -> [u32; STATE_REGISTERS] {
    let mut out = [0; STATE_REGISTERS];
    // SAFETY: the helper only stores ten words into `out`, a live local.
    unsafe { sotto_rt_state_read(&mut out) };
    out
}

/// Write `values` into the user-writable registers, make system call
/// `number` (argument `arg`) with them in place, read them back; LITBASE is
/// off again on return. Returns the registers after the call and its status.
pub fn swap_state(
    values: &[u32; STATE_REGISTERS],
    number: u32,
    arg: u32,
) -> ([u32; STATE_REGISTERS], u32) {
    let mut out = [0; STATE_REGISTERS];
    // SAFETY: the helper reads ten words from `values` and writes ten
    // into `out`; with LITBASE on it runs no `l32r`, and it turns LITBASE
    // off before returning to compiled code.
    let status = unsafe { sotto_rt_state_swap(values, &mut out, number, arg) };
    (out, status)
}

/// How many registers [`swap_scratch`] reads back: SAR, LBEG, LEND,
/// LCOUNT, a4..a11.
pub const SCRATCH_REGISTERS: usize = 12;

/// Their names, in that order.
pub const SCRATCH_NAMES: [&str; SCRATCH_REGISTERS] = [
    "SAR", "LBEG", "LEND", "LCOUNT", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11",
];

/// Write SAR, LBEG and LEND from `values[0..3]` and `values[3]` into
/// a6..a11, make system call `number` (a3 = `arg`, a4 = a5 = 0), and read
/// back what the call left in the registers it does not keep (SAR, the
/// loop registers, a4..a11). Returns them and the call's status.
pub fn swap_scratch(values: &[u32; 4], number: u32, arg: u32) -> ([u32; SCRATCH_REGISTERS], u32) {
    let mut out = [0; SCRATCH_REGISTERS];
    // SAFETY: the helper reads four words from `values`, writes twelve
    // into `out` (live locals), and restores its stack; LCOUNT stays zero,
    // so the loop bounds it writes never loop.
    let status = unsafe { sotto_rt_scratch_swap(values, &mut out, number, arg) };
    (out, status)
}

/// Add 1 to the word at `counter` `times` times with compare-and-swap,
/// leaving a wide window between setting SCOMPARE1 and the exchange.
pub fn atomic_add_slow(counter: &core::sync::atomic::AtomicU32, times: u32) {
    // SAFETY: `counter` is a live, aligned word; the helper touches only
    // it, atomically.
    unsafe { sotto_rt_atomic_add_slow(counter.as_ptr(), times) }
}

/// Arm the zero-overhead loop registers to loop back from `lend` to `lbeg`
/// (`lcount` more times), make a null system call, disarm them; returns
/// the call's status.
pub fn loop_into(lbeg: u32, lend: u32, lcount: u32) -> u32 {
    // SAFETY: the helper writes only the loop registers and clears LCOUNT
    // before returning to compiled code; `lend` lies outside this service,
    // so its own code never reaches it meanwhile.
    unsafe { sotto_rt_fault_loop_into(lbeg, lend, lcount) }
}

/// Instructions [`probe`] runs, by index (see `asm/cpu-state.S`).
pub const PROBES: [&str; 36] = [
    "entry a1, 32",
    "retw",
    "movsp a3, a1",
    "rotw 1",
    "l32e a3, a1, -64",
    "s32e a3, a1, -64",
    "rfwo",
    "rfwu",
    "rfe",
    "rfde",
    "rfi 6",
    "waiti 0",
    "rsil a3, 15",
    "idtlb a2",
    "ihi a2, 0",
    "ipf a2, 0",
    "dhwbi a2, 0",
    "dhwb a2, 0",
    "dhi a2, 0",
    "iii a2, 0",
    "rer a3, a2",
    "wer a3, a2",
    "rsr a3, 176",
    "wsr a3, intset",
    "xsr a3, excsave1",
    "wsr a3, 40 (prefctl)",
    "wur a3, 0",
    "wsr a3, cpenable",
    "wsr a3, ibreakenable",
    "wsr a3, atomctl",
    "wsr a3, windowstart",
    "s32c1i a3, a2, 0",
    "l32ai a3, a2, 0",
    "callx12",
    "rsr a3, misc0",
    "rsr a3, misc1",
];

unsafe extern "C" {
    fn sotto_rt_probe(index: u32, address: u32);
}

/// Run probe `index` (one of [`PROBES`]) with a2 = `address`; `false` if
/// there is no such probe. A probe that faults never returns.
pub fn probe(index: usize, address: u32) -> bool {
    if index >= PROBES.len() {
        return false;
    }
    // SAFETY: see the module comment; `index` is inside the assembly's
    // table (one entry per name in PROBES), and the probes that do not
    // fault change only caller-saved registers (callx12 restores a12).
    unsafe { sotto_rt_probe(index as u32, address) };
    true
}
