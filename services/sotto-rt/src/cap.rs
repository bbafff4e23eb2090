//! Capability operations on the service's own table. Slots are numbers:
//! `system.toml` says which capability starts in which slot.

use sotto_abi::Syscall;
use sotto_abi::cap::{ObjectKind, Rights};

use crate::Error;
use crate::sys::{call, call_regs};

/// A slot in this service's capability table.
pub type Slot = u32;

/// Copy `from` into empty slot `to` with `rights` (a subset), badged with
/// `badge` (0: keep the source's). The source needs GRANT.
pub fn derive(from: Slot, to: Slot, rights: Rights, badge: u32) -> Result<(), Error> {
    call(Syscall::CapDerive, from, to, rights.bits(), badge).map(drop)
}

/// Move a capability to an empty slot.
pub fn move_to(from: Slot, to: Slot) -> Result<(), Error> {
    call(Syscall::CapMove, from, to, 0, 0).map(drop)
}

/// Empty a slot. (Inlined: a server dropping what it received on every
/// call pays no call of its own.)
#[inline(always)]
pub fn delete(slot: Slot) -> Result<(), Error> {
    call(Syscall::CapDelete, slot, 0, 0, 0).map(drop)
}

/// Remove every capability derived from `slot`, in every service; how
/// many went.
pub fn revoke(slot: Slot) -> Result<u32, Error> {
    call(Syscall::CapRevoke, slot, 0, 0, 0)
}

/// What a slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// Object kind.
    pub kind: ObjectKind,
    /// Rights.
    pub rights: Rights,
    /// Badge (0: none).
    pub badge: u32,
}

/// Describe a slot.
pub fn info(slot: Slot) -> Result<Info, Error> {
    let [kind, rights, badge, ..] = call_regs(Syscall::CapInfo, [slot, 0, 0, 0, 0])?;
    Ok(Info {
        kind: *ObjectKind::ALL
            .get(kind as usize)
            .ok_or(Error::BadArgument)?,
        rights: Rights::from_bits_truncate(rights),
        badge,
    })
}
