//! Supervision through service capabilities (CONTROL): restart, stop and
//! query a service, and take the fault messages the kernel queues for a
//! supervisor. See `sotto_abi::Syscall::ServiceRestart` and the calls
//! after it, and `sotto_abi::supervise` for what the words mean.

use sotto_abi::Syscall;
pub use sotto_abi::supervise::{
    FAULT_BIT, FaultKind, FaultMessage, Restart, ServiceState, ServiceStatus, Supervision,
};

use crate::Error;
use crate::cap::Slot;
use crate::sys::call_regs;

/// Restart the service (not the caller's own): every thread back to its
/// entry, data, bss, stacks and capabilities as the image has them;
/// callers in flight get [`Error::PeerRestarted`]. Works on a running,
/// faulted or stopped service.
pub fn restart(service: Slot) -> Result<(), Error> {
    call_regs(Syscall::ServiceRestart, [service, 0, 0, 0, 0]).map(drop)
}

/// Stop the service for good (its callers get [`Error::PeerGone`]); a
/// later [`restart`] may still bring it back.
pub fn stop(service: Slot) -> Result<(), Error> {
    call_regs(Syscall::ServiceStop, [service, 0, 0, 0, 0]).map(drop)
}

/// The service's index, state, restarts, policy and run time.
pub fn query(service: Slot) -> Result<ServiceStatus, Error> {
    let words = call_regs(Syscall::ServiceQuery, [service, 0, 0, 0, 0])?;
    ServiceStatus::from_words(words).ok_or(Error::BadArgument)
}

/// The next fault of a service this one supervises, `None` when none is
/// pending (the kernel's [`Error::WouldBlock`]). Call it until `None`
/// after [`FAULT_BIT`] arrives on the faults notification.
pub fn take_fault() -> Result<Option<FaultMessage>, Error> {
    match call_regs(Syscall::FaultTake, [0; 5]) {
        Ok(words) => FaultMessage::from_words(words)
            .map(Some)
            .ok_or(Error::BadArgument),
        Err(Error::WouldBlock) => Ok(None),
        Err(error) => Err(error),
    }
}
