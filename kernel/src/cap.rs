//! Capability tables: a fixed array of slots per service, each holding an
//! object reference, rights and a badge. Every capability remembers the one
//! it was derived from, so `revoke` removes exactly the capabilities made
//! from it, in every service, and nothing else.
//!
//! Rules: deriving (a copy, possibly to another service) needs GRANT on the
//! source and may only keep or drop rights; a badge can be set once, on an
//! unbadged source; deleting a capability hands its children to its own
//! parent, so revoking further up still finds them.

use heapless::Vec;
use sotto_abi::Error;
use sotto_abi::cap::{CAP_SLOTS, ObjectKind, Rights};

/// Index of a kernel object.
pub type ObjectId = u16;

/// Where a capability lives: service (capability space) and slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapRef {
    /// Capability space (the service's index).
    pub space: u8,
    /// Slot in that space.
    pub slot: u8,
}

/// A capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    /// The object.
    pub object: ObjectId,
    /// Its kind.
    pub kind: ObjectKind,
    /// What the holder may do with it.
    pub rights: Rights,
    /// Delivered to servers (endpoints) and waiters (notifications); 0 =
    /// unbadged.
    pub badge: u32,
    parent: Option<CapRef>,
}

impl Cap {
    /// An original capability (made at boot, derived from nothing).
    pub fn original(object: ObjectId, kind: ObjectKind, rights: Rights, badge: u32) -> Cap {
        Cap {
            object,
            kind,
            rights,
            badge,
            parent: None,
        }
    }

    /// The capability it was derived from.
    pub fn parent(&self) -> Option<CapRef> {
        self.parent
    }
}

/// Where the entry's express paths (trap.S: a `Call` carrying a
/// capability, `CapDelete`) find a slot's parts: offsets into
/// [`CapSpaces`] and into a slot (`Option<Cap>`), and the bytes that say
/// whether a slot is empty and whether its capability has a parent — read
/// from the compiler's own layout at build time (a layout these cannot
/// describe stops the build).
pub mod layout {
    use core::mem::{MaybeUninit, offset_of, size_of, transmute};

    use super::{Cap, CapRef, CapSpaces};
    use sotto_abi::cap::{CAP_SLOTS, ObjectKind, Rights};

    type Spaces = CapSpaces<{ sotto_abi::manifest::MAX_SERVICES }>;

    /// `CapSpaces::slots`.
    pub const SLOTS: u32 = offset_of!(Spaces, slots) as u32;
    /// `CapSpaces::children`.
    pub const CHILDREN: u32 = offset_of!(Spaces, children) as u32;
    /// log2 of a slot's size.
    pub const SLOT_SHIFT: u32 = size_of::<Option<Cap>>().trailing_zeros();
    /// log2 of a space's slots' size.
    pub const SPACE_SHIFT: u32 = SLOT_SHIFT + CAP_SLOTS.trailing_zeros();
    /// log2 of a space's child counts' size.
    pub const CHILDREN_SHIFT: u32 = 1 + CAP_SLOTS.trailing_zeros();
    const _: () = assert!(size_of::<Option<Cap>>() == 1 << SLOT_SHIFT);
    const _: () = assert!(size_of::<Option<Cap>>() == size_of::<Cap>());
    const _: () = assert!(size_of::<u16>() == 2 && CAP_SLOTS.is_power_of_two());

    /// A parent's bytes: space 0xA5, slot 0x5A.
    const PARENT: [u8; 3] = {
        assert!(size_of::<Option<CapRef>>() == 3);
        // SAFETY: every byte of a `Some(CapRef)` is initialised (a tag and
        // two `u8`s, no padding: the size is checked).
        unsafe {
            transmute::<Option<CapRef>, [u8; 3]>(Some(CapRef {
                space: 0xA5,
                slot: 0x5A,
            }))
        }
    };
    const fn find(byte: u8) -> usize {
        let mut at = 0;
        while PARENT[at] != byte {
            at += 1;
        }
        at
    }
    const PARENT_AT: usize = offset_of!(Cap, parent);
    /// The parent's space (a `u8`), in a slot.
    pub const PARENT_SPACE: u32 = (PARENT_AT + find(0xA5)) as u32;
    /// The parent's slot (a `u8`), in a slot.
    pub const PARENT_SLOT: u32 = (PARENT_AT + find(0xA5)) as u32 + 1;
    const TAG_IN_PARENT: usize = 3 - find(0xA5) - find(0x5A);
    const _: () = assert!(find(0x5A) == find(0xA5) + 1 && TAG_IN_PARENT < 3);
    /// The byte that tells a parent from none and an empty slot from a
    /// capability.
    pub const TAG: u32 = (PARENT_AT + TAG_IN_PARENT) as u32;
    /// `TAG`'s value: a capability with a parent.
    pub const HAS_PARENT: u32 = PARENT[TAG_IN_PARENT] as u32;
    /// `TAG`'s value: a capability without one.
    // SAFETY: the tag byte of a `None` is initialised (reading another
    // would stop the build).
    pub const NO_PARENT: u32 = unsafe {
        transmute::<Option<CapRef>, [MaybeUninit<u8>; 3]>(None)[TAG_IN_PARENT].assume_init()
    } as u32;
    /// `TAG`'s value: an empty slot (`None`, whose niche is that byte).
    // SAFETY: as above; a `None` whose niche is elsewhere leaves this
    // byte uninitialised, and reading it stops the build.
    pub const EMPTY: u32 = unsafe {
        transmute::<Option<Cap>, [MaybeUninit<u8>; size_of::<Cap>()]>(None)[TAG as usize]
            .assume_init()
    } as u32;
    const _: () = assert!(EMPTY != HAS_PARENT && EMPTY != NO_PARENT && HAS_PARENT != NO_PARENT);
    // A capability's tag is one of the two (never the empty one).
    const _: () = {
        let cap = Cap {
            object: 0,
            kind: ObjectKind::Endpoint,
            rights: Rights::empty(),
            badge: 0,
            parent: None,
        };
        // SAFETY: any bytes may be viewed as `MaybeUninit`.
        let bytes =
            unsafe { transmute::<Option<Cap>, [MaybeUninit<u8>; size_of::<Cap>()]>(Some(cap)) };
        // SAFETY: the tag byte of a `Some` is initialised.
        let tag = unsafe { bytes[TAG as usize].assume_init() };
        assert!(tag as u32 == NO_PARENT);
    };
}

/// Most capabilities one revoke can remove (every slot of every space).
pub const MAX_REVOKED: usize = sotto_abi::manifest::MAX_SERVICES * CAP_SLOTS;

/// What one revoke removed: where each capability was, and what it was.
pub type Revoked = Vec<(CapRef, Cap), MAX_REVOKED>;

/// Every service's table.
pub struct CapSpaces<const SPACES: usize> {
    slots: [[Option<Cap>; CAP_SLOTS]; SPACES],
    /// Per slot, how many capabilities name it as their parent: a delete
    /// or move of a capability nothing was derived from (a transferred
    /// one, typically) skips the scan of every table for its children.
    children: [[u16; CAP_SLOTS]; SPACES],
}

impl<const SPACES: usize> Default for CapSpaces<SPACES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SPACES: usize> CapSpaces<SPACES> {
    /// All empty.
    pub const fn new() -> Self {
        CapSpaces {
            slots: [[None; CAP_SLOTS]; SPACES],
            children: [[0; CAP_SLOTS]; SPACES],
        }
    }

    /// Whether `at` is in the tables. The operations check it first, then
    /// index with `% SPACES` and `% CAP_SLOTS` (the identity after the
    /// check): LLVM does not always drop the bounds checks the check makes
    /// redundant, and each one left costs a branch to an abort.
    fn check(&self, at: CapRef) -> Result<(), Error> {
        if at.space as usize >= SPACES || at.slot as usize >= CAP_SLOTS {
            return Err(Error::BadSlot);
        }
        Ok(())
    }

    /// A reference from a slot number a service passed (checked).
    pub fn slot_ref(space: u8, slot: u32) -> Result<CapRef, Error> {
        u8::try_from(slot)
            .ok()
            .filter(|slot| (*slot as usize) < CAP_SLOTS)
            .map(|slot| CapRef { space, slot })
            .ok_or(Error::BadSlot)
    }

    /// The capability at `at`, if any.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn get(&self, at: CapRef) -> Result<&Cap, Error> {
        self.check(at)?;
        self.slots[at.space as usize % SPACES][at.slot as usize % CAP_SLOTS]
            .as_ref()
            .ok_or(Error::EmptySlot)
    }

    /// The capability at `at`, which must name a `kind` object and hold
    /// `needed` rights.
    pub fn lookup(&self, at: CapRef, kind: ObjectKind, needed: Rights) -> Result<&Cap, Error> {
        let cap = self.get(at)?;
        if cap.kind != kind {
            return Err(Error::WrongKind);
        }
        if !cap.rights.contains(needed) {
            return Err(Error::MissingRight);
        }
        Ok(cap)
    }

    /// Put an original capability into an empty slot (boot).
    pub fn install(&mut self, at: CapRef, cap: Cap) -> Result<(), Error> {
        self.check(at)?;
        let slot = &mut self.slots[at.space as usize % SPACES][at.slot as usize % CAP_SLOTS];
        if slot.is_some() {
            return Err(Error::SlotInUse);
        }
        *slot = Some(Cap {
            parent: None,
            ..cap
        });
        Ok(())
    }

    /// Copy `from` into the empty slot `to` (any space) with `rights` (a
    /// subset of the source's) and optionally a badge.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn derive(
        &mut self,
        from: CapRef,
        to: CapRef,
        rights: Rights,
        badge: Option<u32>,
    ) -> Result<Cap, Error> {
        let source = *self.get(from)?;
        self.check(to)?;
        if !source.rights.contains(Rights::GRANT) {
            return Err(Error::MissingRight);
        }
        if !source.rights.contains(rights) {
            return Err(Error::WidenRights);
        }
        let badge = match badge {
            Some(badge) if source.badge != 0 && badge != source.badge => {
                return Err(Error::AlreadyBadged);
            }
            Some(badge) => badge,
            None => source.badge,
        };
        if self.slots[to.space as usize % SPACES][to.slot as usize % CAP_SLOTS].is_some() {
            return Err(Error::SlotInUse);
        }
        let derived = Cap {
            rights,
            badge,
            parent: Some(from),
            ..source
        };
        self.slots[to.space as usize % SPACES][to.slot as usize % CAP_SLOTS] = Some(derived);
        self.children[from.space as usize % SPACES][from.slot as usize % CAP_SLOTS] += 1;
        Ok(derived)
    }

    /// Move a capability to the empty slot `to` (any space); what was
    /// derived from it follows it.
    pub fn move_cap(&mut self, from: CapRef, to: CapRef) -> Result<(), Error> {
        let cap = *self.get(from)?;
        self.check(to)?;
        if from == to {
            return Ok(());
        }
        if self.slots[to.space as usize % SPACES][to.slot as usize % CAP_SLOTS].is_some() {
            return Err(Error::SlotInUse);
        }
        self.slots[to.space as usize % SPACES][to.slot as usize % CAP_SLOTS] = Some(cap);
        self.slots[from.space as usize % SPACES][from.slot as usize % CAP_SLOTS] = None;
        self.reparent(from, Some(to));
        Ok(())
    }

    /// Remove the capability at `at`; its children keep working and now
    /// descend from its parent.
    pub fn delete(&mut self, at: CapRef) -> Result<Cap, Error> {
        self.check(at)?;
        let cap = self.slots[at.space as usize % SPACES][at.slot as usize % CAP_SLOTS]
            .take()
            .ok_or(Error::EmptySlot)?;
        if let Some(parent) = cap.parent {
            self.children[parent.space as usize % SPACES][parent.slot as usize % CAP_SLOTS] -= 1;
        }
        self.reparent(at, cap.parent);
        Ok(cap)
    }

    /// The children of `old` (an emptied slot) now descend from `new`:
    /// a scan of every table, only when `old` has children.
    #[inline]
    fn reparent(&mut self, old: CapRef, new: Option<CapRef>) {
        let moved = core::mem::take(
            &mut self.children[old.space as usize % SPACES][old.slot as usize % CAP_SLOTS],
        );
        if moved != 0 {
            self.reparent_children(old, new, moved);
        }
    }

    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn reparent_children(&mut self, old: CapRef, new: Option<CapRef>, moved: u16) {
        if let Some(new) = new {
            self.children[new.space as usize % SPACES][new.slot as usize % CAP_SLOTS] += moved;
        }
        for space in self.slots.iter_mut() {
            for cap in space.iter_mut().flatten() {
                if cap.parent == Some(old) {
                    cap.parent = new;
                }
            }
        }
    }

    /// What the entry's express `Call` does to pass a capability (trap.S,
    /// no checks: it made them): `to` gets `from`'s capability with
    /// `from` as its parent, which counts one child more. Tests compare
    /// it with [`CapSpaces::derive`].
    #[cfg(test)]
    pub fn express_copy(&mut self, from: CapRef, to: CapRef) {
        let cap = self.slots[from.space as usize][from.slot as usize].expect("a capability");
        self.slots[to.space as usize][to.slot as usize] = Some(Cap {
            parent: Some(from),
            ..cap
        });
        self.children[from.space as usize][from.slot as usize] += 1;
    }

    /// What the entry's express `CapDelete` does (trap.S, no checks: it
    /// made them): the slot empties, its parent counts one child less
    /// (nothing to hand on). Tests compare it with [`CapSpaces::delete`].
    #[cfg(test)]
    pub fn express_empty(&mut self, at: CapRef) {
        let cap = self.slots[at.space as usize][at.slot as usize].take();
        if let Some(parent) = cap.and_then(|cap| cap.parent) {
            self.children[parent.space as usize][parent.slot as usize] -= 1;
        }
    }

    /// How many capabilities were derived from the one at `at` (checks).
    pub fn children(&self, at: CapRef) -> u16 {
        self.children
            .get(at.space as usize)
            .and_then(|space| space.get(at.slot as usize))
            .copied()
            .unwrap_or(0)
    }

    /// Remove every capability derived from `at`, directly or not, in every
    /// space; `at` itself stays. Returns what was removed, so the caller
    /// can undo its effects (unmap memory, ...). Host code and tests; the
    /// kernel uses [`CapSpaces::revoke_into`] with a list it keeps off the
    /// stack.
    pub fn revoke(&mut self, at: CapRef) -> Result<Revoked, Error> {
        let mut removed = Revoked::new();
        self.revoke_into(at, &mut removed)?;
        Ok(removed)
    }

    /// [`CapSpaces::revoke`] into `removed` (cleared first): the list can
    /// hold every slot of every space, ~10 KiB, too much for the kernel
    /// stack of every trap, so the kernel passes one of its own.
    pub fn revoke_into(&mut self, at: CapRef, removed: &mut Revoked) -> Result<(), Error> {
        self.get(at)?;
        removed.clear();
        // Breadth first: the removed list doubles as the work queue.
        let mut next = 0;
        let mut parent = at;
        loop {
            self.remove_children(parent, removed);
            match removed.get(next) {
                Some((child, _)) => parent = *child,
                None => return Ok(()),
            }
            next += 1;
        }
    }

    /// Empty every slot whose capability descends directly from `parent`,
    /// onto `removed`; a leaf needs no scan.
    fn remove_children(&mut self, parent: CapRef, removed: &mut Revoked) {
        let count = &mut self.children[parent.space as usize][parent.slot as usize];
        if core::mem::take(count) == 0 {
            return;
        }
        for space in 0..SPACES {
            for slot in 0..CAP_SLOTS {
                if let Some(cap) = self.slots[space][slot]
                    && cap.parent == Some(parent)
                {
                    self.slots[space][slot] = None;
                    let _ = removed.push((
                        CapRef {
                            space: space as u8,
                            slot: slot as u8,
                        },
                        cap,
                    ));
                }
            }
        }
    }

    /// Every capability of `space`, with its slot.
    pub fn iter_space(&self, space: u8) -> impl Iterator<Item = (u8, &Cap)> {
        self.slots[space as usize]
            .iter()
            .enumerate()
            .filter_map(|(slot, cap)| cap.as_ref().map(|cap| (slot as u8, cap)))
    }

    /// Remove every capability of `space` (its service ended); their
    /// children elsewhere descend from their parents.
    pub fn clear_space(&mut self, space: u8) {
        for slot in 0..CAP_SLOTS as u8 {
            let _ = self.delete(CapRef { space, slot });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Cap, CapRef, CapSpaces};
    use sotto_abi::Error;
    use sotto_abi::cap::{ObjectKind, Rights};

    fn at(space: u8, slot: u8) -> CapRef {
        CapRef { space, slot }
    }

    fn endpoint_rights() -> Rights {
        Rights::SEND | Rights::RECEIVE | Rights::GRANT
    }

    fn spaces() -> CapSpaces<3> {
        let mut spaces = CapSpaces::new();
        spaces
            .install(
                at(0, 0),
                Cap::original(7, ObjectKind::Endpoint, endpoint_rights(), 0),
            )
            .unwrap();
        spaces
    }

    #[test]
    fn derive_narrows_rights_and_sets_a_badge_once() {
        let mut s = spaces();
        let child = s
            .derive(at(0, 0), at(1, 3), Rights::SEND | Rights::GRANT, Some(42))
            .unwrap();
        assert_eq!(
            (child.object, child.rights, child.badge, child.parent()),
            (7, Rights::SEND | Rights::GRANT, 42, Some(at(0, 0)))
        );
        assert_eq!(
            s.derive(at(1, 3), at(2, 0), Rights::SEND | Rights::RECEIVE, None),
            Err(Error::WidenRights)
        );
        assert_eq!(
            s.derive(at(1, 3), at(2, 0), Rights::SEND, Some(43)),
            Err(Error::AlreadyBadged)
        );
        assert_eq!(
            s.derive(at(1, 3), at(2, 0), Rights::SEND, None)
                .unwrap()
                .badge,
            42
        );
        // No GRANT, no copies.
        assert_eq!(
            s.derive(at(2, 0), at(2, 1), Rights::SEND, None),
            Err(Error::MissingRight)
        );
    }

    #[test]
    fn every_misuse_has_its_own_error() {
        let mut s = spaces();
        assert_eq!(s.get(at(0, 1)).err(), Some(Error::EmptySlot));
        assert_eq!(s.get(at(0, 32)).err(), Some(Error::BadSlot));
        assert_eq!(s.get(at(3, 0)).err(), Some(Error::BadSlot));
        assert_eq!(CapSpaces::<3>::slot_ref(0, 1000), Err(Error::BadSlot));
        assert_eq!(
            s.lookup(at(0, 0), ObjectKind::Semaphore, Rights::empty())
                .err(),
            Some(Error::WrongKind)
        );
        s.derive(at(0, 0), at(1, 0), Rights::SEND, None).unwrap();
        assert_eq!(
            s.lookup(at(1, 0), ObjectKind::Endpoint, Rights::RECEIVE)
                .err(),
            Some(Error::MissingRight)
        );
        assert_eq!(
            s.derive(at(0, 0), at(1, 0), Rights::SEND, None),
            Err(Error::SlotInUse)
        );
        assert_eq!(s.move_cap(at(0, 0), at(1, 0)), Err(Error::SlotInUse));
        assert_eq!(s.delete(at(2, 2)), Err(Error::EmptySlot));
        assert_eq!(s.revoke(at(2, 2)).err(), Some(Error::EmptySlot));
    }

    #[test]
    fn revoke_removes_every_descendant_in_every_space_and_nothing_else() {
        let mut s = spaces();
        s.install(
            at(2, 9),
            Cap::original(8, ObjectKind::Semaphore, Rights::SEND | Rights::GRANT, 0),
        )
        .unwrap();
        s.derive(at(0, 0), at(1, 0), endpoint_rights(), None)
            .unwrap();
        s.derive(at(1, 0), at(2, 0), Rights::SEND | Rights::GRANT, Some(5))
            .unwrap();
        s.derive(at(2, 0), at(0, 1), Rights::SEND, None).unwrap();
        s.derive(at(0, 0), at(2, 1), Rights::RECEIVE, None).unwrap();
        s.derive(at(2, 9), at(1, 9), Rights::SEND, None).unwrap();
        let removed = s.revoke(at(1, 0)).unwrap();
        let places: Vec<CapRef> = removed.iter().map(|(place, _)| *place).collect();
        assert_eq!(places, vec![at(2, 0), at(0, 1)]);
        assert!(
            s.get(at(1, 0)).is_ok(),
            "the revoked capability itself stays"
        );
        assert!(s.get(at(2, 1)).is_ok(), "a sibling stays");
        assert!(s.get(at(1, 9)).is_ok(), "other objects are untouched");
        assert_eq!(s.revoke(at(0, 0)).unwrap().len(), 2);
        assert_eq!(s.iter_space(0).count(), 1);
    }

    #[test]
    fn delete_and_move_keep_revoke_exact() {
        let mut s = spaces();
        s.derive(at(0, 0), at(1, 0), endpoint_rights(), None)
            .unwrap();
        s.derive(at(1, 0), at(2, 0), Rights::SEND, None).unwrap();
        // Deleting the middle: the grandchild now descends from the root.
        s.delete(at(1, 0)).unwrap();
        assert_eq!(s.get(at(2, 0)).unwrap().parent(), Some(at(0, 0)));
        // Moving the root: children follow.
        s.move_cap(at(0, 0), at(1, 5)).unwrap();
        assert_eq!(s.get(at(0, 0)).err(), Some(Error::EmptySlot));
        assert_eq!(s.get(at(2, 0)).unwrap().parent(), Some(at(1, 5)));
        assert_eq!(s.revoke(at(1, 5)).unwrap().len(), 1);
        assert_eq!(s.get(at(2, 0)).err(), Some(Error::EmptySlot));
    }

    #[test]
    fn clearing_a_space_keeps_what_others_derived() {
        let mut s = spaces();
        s.derive(at(0, 0), at(1, 0), endpoint_rights(), None)
            .unwrap();
        s.derive(at(1, 0), at(2, 0), Rights::SEND, None).unwrap();
        s.clear_space(1);
        assert_eq!(s.iter_space(1).count(), 0);
        assert_eq!(s.get(at(2, 0)).unwrap().parent(), Some(at(0, 0)));
    }
}
