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
}

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
