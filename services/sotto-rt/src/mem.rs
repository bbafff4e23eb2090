//! Memory regions (heaps, shared buffers) granted as capabilities, and
//! safe access to mapped ones.

use sotto_abi::Syscall;
use sotto_abi::cap::Rights;

use crate::Error;
use crate::cap::Slot;
use crate::sys::{call, call_regs};

/// Map region `slot` at `address` with `rights` (READ, maybe WRITE).
pub fn map(slot: Slot, address: u32, rights: Rights) -> Result<(), Error> {
    call(Syscall::MemMap, slot, address, rights.bits(), 0).map(drop)
}

/// Unmap region `slot`.
pub fn unmap(slot: Slot) -> Result<(), Error> {
    call(Syscall::MemUnmap, slot, 0, 0, 0).map(drop)
}

/// Where region `slot` is mapped (`None`: not mapped) and its size.
pub fn info(slot: Slot) -> Result<(Option<u32>, u32), Error> {
    let [address, size, ..] = call_regs(Syscall::MemInfo, [slot, 0, 0, 0, 0])?;
    Ok(((address != 0).then_some(address), size))
}

/// The bytes of region `slot`, mapped at boot (`at` in `system.toml`);
/// `BadAddress` if it is not mapped. Call it once per region: like
/// [`region_bytes`], it hands out the mapping itself.
pub fn mapped(slot: Slot) -> Result<&'static mut [u8], Error> {
    match info(slot)? {
        (Some(address), size) => Ok(region_bytes(address, size)),
        (None, _) => Err(Error::BadAddress),
    }
}

/// The bytes of a region this service has mapped writable at `address`
/// (`size` bytes, from [`info`]).
///
/// The kernel maps a region once per service and only where nothing else
/// is, so the slice aliases no Rust object; unmapping it while the slice is
/// in use would fault the service (never the kernel).
pub fn region_bytes(address: u32, size: u32) -> &'static mut [u8] {
    // SAFETY: see the function documentation: the range is a mapping the
    // kernel made for this service and nothing else in the service owns it.
    unsafe { core::slice::from_raw_parts_mut(address as *mut u8, size as usize) }
}

/// The words of region `slot`, mapped at boot, as atomics: memory shared
/// with other services that change it concurrently (counters, flags).
/// `BadAddress` if it is not mapped.
pub fn shared_words(slot: Slot) -> Result<&'static [core::sync::atomic::AtomicU32], Error> {
    match info(slot)? {
        (Some(address), size) => {
            // SAFETY: as for `region_bytes`: a page-aligned mapping the
            // kernel made for this service; atomics may alias across
            // services by design, and every access through them is atomic.
            Ok(unsafe {
                core::slice::from_raw_parts(
                    address as *const core::sync::atomic::AtomicU32,
                    (size / 4) as usize,
                )
            })
        }
        (None, _) => Err(Error::BadAddress),
    }
}
