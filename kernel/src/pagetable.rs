//! Two-level page tables for the Xtensa MMU v3 (as on `dc233c` and Intel's
//! ACE audio DSPs), built and checked in plain Rust.
//!
//! The first-level table (L1) holds 1024 PTEs, one per 4 MiB of virtual
//! space; each points at a second-level table (L2) of 1024 PTEs for 4 KiB
//! pages. The hardware refills its TLB by loading the PTE of a virtual
//! address `va` from the *virtual* address `PTEVADDR + (va >> 10)`: the L1
//! therefore maps itself into the 4 MiB window at `PTEVADDR`, and the L2
//! tables appear there as ordinary pages.
//!
//! Unmapped entries hold an illegal attribute ([`Pte::INVALID`]), never zero:
//! a zero PTE is a valid read-only mapping of physical page 0.

use core::fmt;

use sotto_abi::text::{Message, Part};

use sotto_abi::layout::{L2_SPAN, PAGE_SIZE};

/// Entries in one table.
pub const ENTRIES: usize = 1024;

/// The wired 4 KiB DTLB ways (7, 8, 9: never refilled by the hardware) the
/// kernel uses.
pub mod way {
    /// The current space's L1, at its page in the space's window: pinned
    /// on demand by the double vector (`vectors.S`), not by the switch.
    pub const L1_PIN: u32 = 7;
    /// The kernel's L2 in the boot tables' window: at boot only, for the
    /// boot code and the MMU trampoline.
    pub const KERNEL_L2_PIN: u32 = 8;
}

/// One page table (L1 or L2), exactly one page.
pub type Table = [u32; ENTRIES];

/// What a mapping allows. Reads are always allowed by valid Xtensa PTEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
    /// Read and execute.
    ReadExecute,
    /// Read, write and execute (not used for services: W^X).
    ReadWriteExecute,
}

/// Cache attribute of a mapping; always explicit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheMode {
    /// Uncached: every access goes to memory (DMA buffers, mailboxes).
    Bypass,
    /// Write-back cached: private code and data.
    WriteBack,
    /// Write-through cached.
    WriteThrough,
}

/// A page-table entry: PPN in bits 31:12, ring in 5:4, attribute in 3:0.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pte(pub u32);

const ATTR_EXECUTE: u32 = 1 << 0;
const ATTR_WRITE: u32 = 1 << 1;
const ATTR_CACHE_SHIFT: u32 = 2;
const ATTR_ILLEGAL: u32 = 0xC;

impl Pte {
    /// An entry that makes every access fault (attribute 12, "illegal").
    ///
    /// Its ring is the user ring, 1, for two reasons. A refill installs
    /// even an illegal entry, tagged with the ASID of its ring: ring 1's ASID
    /// is the running service's own, so the entry can never shadow a valid
    /// mapping of another address space (ring 0's ASID 1 and ring 3's are
    /// shared by all). And a service touching it passes the privilege check
    /// and faults as what it is, "prohibited" (unmapped).
    pub const INVALID: Pte = Pte((1 << 4) | ATTR_ILLEGAL);

    /// A valid entry mapping the page at physical address `pa`.
    pub const fn new(pa: u32, ring: u8, access: Access, cache: CacheMode) -> Pte {
        let rights = match access {
            Access::Read => 0,
            Access::ReadWrite => ATTR_WRITE,
            Access::ReadExecute => ATTR_EXECUTE,
            Access::ReadWriteExecute => ATTR_WRITE | ATTR_EXECUTE,
        };
        let cache = match cache {
            CacheMode::Bypass => 0,
            CacheMode::WriteBack => 1,
            CacheMode::WriteThrough => 2,
        };
        Pte((pa & !(PAGE_SIZE - 1))
            | ((ring as u32 & 3) << 4)
            | (cache << ATTR_CACHE_SHIFT)
            | rights)
    }

    /// Whether the entry grants any access (attribute below 12).
    pub const fn is_valid(self) -> bool {
        self.attribute() < 12
    }

    /// Physical address of the page.
    pub const fn pa(self) -> u32 {
        self.0 & !(PAGE_SIZE - 1)
    }

    /// Ring the page belongs to (accessible from this ring and more privileged ones).
    pub const fn ring(self) -> u8 {
        ((self.0 >> 4) & 3) as u8
    }

    /// The 4-bit attribute field.
    pub const fn attribute(self) -> u32 {
        self.0 & 0xF
    }

    /// The access the entry allows, if valid.
    pub const fn access(self) -> Option<Access> {
        if !self.is_valid() {
            return None;
        }
        Some(match self.0 & (ATTR_WRITE | ATTR_EXECUTE) {
            0 => Access::Read,
            ATTR_WRITE => Access::ReadWrite,
            ATTR_EXECUTE => Access::ReadExecute,
            _ => Access::ReadWriteExecute,
        })
    }

    /// The cache mode, if valid.
    pub const fn cache(self) -> Option<CacheMode> {
        if !self.is_valid() {
            return None;
        }
        match (self.0 >> ATTR_CACHE_SHIFT) & 3 {
            0 => Some(CacheMode::Bypass),
            1 => Some(CacheMode::WriteBack),
            2 => Some(CacheMode::WriteThrough),
            _ => None,
        }
    }
}

impl fmt::Debug for Pte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.access(), self.cache()) {
            (Some(access), Some(cache)) => write!(
                f,
                "Pte(pa {:#010x}, ring {}, {access:?}, {cache:?})",
                self.pa(),
                self.ring()
            ),
            _ => write!(f, "Pte(invalid {:#010x})", self.0),
        }
    }
}

/// A request to map `len` bytes at virtual `va` onto physical `pa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First virtual address (page aligned).
    pub va: u32,
    /// First physical address (page aligned).
    pub pa: u32,
    /// Length in bytes (page multiple, non-zero).
    pub len: u32,
    /// Ring 0 for the kernel, 1..=3 for services.
    pub ring: u8,
    /// What the pages allow.
    pub access: Access,
    /// How the pages are cached.
    pub cache: CacheMode,
}

/// Why a mapping was refused. Nothing is changed when a mapping fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// `len` is zero.
    Empty,
    /// The virtual address is not page aligned.
    UnalignedVirtual(u32),
    /// The physical address is not page aligned.
    UnalignedPhysical(u32),
    /// The length is not a page multiple.
    UnalignedLength(u32),
    /// The range runs past the end of the 32-bit address space.
    Wraps,
    /// The ring is above 3.
    BadRing(u8),
    /// This virtual page is already mapped.
    Overlap(u32),
    /// The range overlaps the page-table window at `PTEVADDR`.
    InPteWindow(u32),
    /// No free second-level table is left in the pool.
    OutOfTables,
    /// The table memory handed to the builder is misplaced.
    BadTableMemory,
    /// This 4 MiB region uses a second-level table shared with other
    /// address spaces (the kernel's), which these tables may not change.
    SharedTable(u32),
}

impl MapError {
    /// What went wrong, as the kernel prints it (one copy: cold).
    #[inline(never)]
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.pagetable_message")
    )]
    pub fn message(&self) -> Message {
        match *self {
            MapError::Empty => Message::plain(&[Part::Str("empty mapping")]),
            MapError::UnalignedVirtual(va) => Message::one(
                &[
                    Part::Str("virtual address "),
                    Part::Hex,
                    Part::Str(" is not page aligned"),
                ],
                u64::from(va),
            ),
            MapError::UnalignedPhysical(pa) => Message::one(
                &[
                    Part::Str("physical address "),
                    Part::Hex,
                    Part::Str(" is not page aligned"),
                ],
                u64::from(pa),
            ),
            MapError::UnalignedLength(len) => Message::one(
                &[
                    Part::Str("length "),
                    Part::HexShort,
                    Part::Str(" is not a multiple of the page size"),
                ],
                u64::from(len),
            ),
            MapError::Wraps => {
                Message::plain(&[Part::Str("range wraps past the end of the address space")])
            }
            MapError::BadRing(ring) => Message::one(
                &[
                    Part::Str("ring "),
                    Part::Dec,
                    Part::Str(" does not exist (0..=3)"),
                ],
                u64::from(ring),
            ),
            MapError::Overlap(va) => Message::one(
                &[
                    Part::Str("page "),
                    Part::Hex,
                    Part::Str(" is already mapped"),
                ],
                u64::from(va),
            ),
            MapError::InPteWindow(va) => Message::one(
                &[
                    Part::Str("page "),
                    Part::Hex,
                    Part::Str(" lies in the page-table window"),
                ],
                u64::from(va),
            ),
            MapError::OutOfTables => {
                Message::plain(&[Part::Str("no second-level page table left")])
            }
            MapError::BadTableMemory => {
                Message::plain(&[Part::Str("page-table memory is not page aligned")])
            }
            MapError::SharedTable(va) => Message::one(
                &[
                    Part::Str("page "),
                    Part::Hex,
                    Part::Str(" lies in a shared kernel table"),
                ],
                u64::from(va),
            ),
        }
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.message().fmt(f)
    }
}

/// Builds one address space's tables in memory the caller provides: an L1
/// table and a pool of L2 tables, with the physical addresses they have.
pub struct PageTables<'t> {
    l1: &'t mut Table,
    l1_pa: u32,
    pool: &'t mut [Table],
    pool_pa: u32,
    /// Bit `n` set: pool table `n` is in use (the pool holds at most 32).
    in_use: u32,
    ptevaddr: u32,
}

impl<'t> PageTables<'t> {
    /// Start empty tables whose window sits at `ptevaddr` (4 MiB aligned).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.pagetable_new")
    )]
    pub fn new(
        l1: &'t mut Table,
        l1_pa: u32,
        pool: &'t mut [Table],
        pool_pa: u32,
        ptevaddr: u32,
    ) -> Result<Self, MapError> {
        if !l1_pa.is_multiple_of(PAGE_SIZE)
            || !pool_pa.is_multiple_of(PAGE_SIZE)
            || !ptevaddr.is_multiple_of(L2_SPAN)
        {
            return Err(MapError::BadTableMemory);
        }
        l1.fill(Pte::INVALID.0);
        // The window maps the L1 itself: the hardware reads L2 PTEs there.
        l1[(ptevaddr / L2_SPAN) as usize] =
            Pte::new(l1_pa, 0, Access::Read, CacheMode::WriteBack).0;
        if pool.len() > 32 {
            return Err(MapError::BadTableMemory);
        }
        Ok(PageTables {
            l1,
            l1_pa,
            pool,
            pool_pa,
            in_use: 0,
            ptevaddr,
        })
    }

    /// The `PTEVADDR` these tables are built for.
    pub fn ptevaddr(&self) -> u32 {
        self.ptevaddr
    }

    /// Physical address of the L1 table.
    pub fn l1_pa(&self) -> u32 {
        self.l1_pa
    }

    /// L2 tables of the pool in use now.
    pub fn tables_used(&self) -> usize {
        self.in_use.count_ones() as usize
    }

    /// Use an existing second-level table (at physical `l2_pa`, owned by
    /// someone else: the kernel's tables) for the 4 MiB region holding `va`.
    /// Every address space shares the kernel's L2 tables this way.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.pagetable_share")
    )]
    pub fn share(&mut self, va: u32, l2_pa: u32) -> Result<(), MapError> {
        if !l2_pa.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::BadTableMemory);
        }
        if va / L2_SPAN == self.ptevaddr / L2_SPAN {
            return Err(MapError::InPteWindow(va & !(L2_SPAN - 1)));
        }
        if self.l1_entry(va).is_valid() {
            return Err(MapError::Overlap(va & !(L2_SPAN - 1)));
        }
        self.l1[(va / L2_SPAN) as usize] = Pte::new(l2_pa, 0, Access::Read, CacheMode::WriteBack).0;
        Ok(())
    }

    /// The PTE stored in the L1 for virtual address `va`.
    pub fn l1_entry(&self, va: u32) -> Pte {
        Pte(self.l1[(va / L2_SPAN) as usize])
    }

    /// The virtual address, inside the window, where the hardware finds the
    /// PTE of `va`.
    pub fn pte_vaddr(&self, va: u32) -> u32 {
        self.ptevaddr | ((va >> 10) & !3)
    }

    /// Map a range. Checks everything first, so a refused mapping changes
    /// nothing.
    pub fn map(&mut self, mapping: Mapping) -> Result<(), MapError> {
        let Mapping {
            va,
            pa,
            len,
            ring,
            access,
            cache,
        } = mapping;
        if len == 0 {
            return Err(MapError::Empty);
        }
        if va % PAGE_SIZE != 0 {
            return Err(MapError::UnalignedVirtual(va));
        }
        if pa % PAGE_SIZE != 0 {
            return Err(MapError::UnalignedPhysical(pa));
        }
        if len % PAGE_SIZE != 0 {
            return Err(MapError::UnalignedLength(len));
        }
        if va.checked_add(len - 1).is_none() || pa.checked_add(len - 1).is_none() {
            return Err(MapError::Wraps);
        }
        if ring > 3 {
            return Err(MapError::BadRing(ring));
        }
        let window_end = self.ptevaddr as u64 + L2_SPAN as u64;
        if (va as u64) < window_end && va as u64 + len as u64 > self.ptevaddr as u64 {
            return Err(MapError::InPteWindow(va.max(self.ptevaddr)));
        }
        let pages = len / PAGE_SIZE;
        let mut new_tables = 0;
        let mut last_new_l1 = None;
        for page in 0..pages {
            let page_va = va + page * PAGE_SIZE;
            match self.l2_index(page_va) {
                Some(l2) => {
                    if Pte(self.pool[l2][Self::l2_slot(page_va)]).is_valid() {
                        return Err(MapError::Overlap(page_va));
                    }
                }
                None if self.l1_entry(page_va).is_valid() => {
                    return Err(MapError::SharedTable(page_va));
                }
                None => {
                    let l1_index = page_va / L2_SPAN;
                    if last_new_l1 != Some(l1_index) {
                        new_tables += 1;
                        last_new_l1 = Some(l1_index);
                    }
                }
            }
        }
        if self.tables_used() + new_tables > self.pool.len() {
            return Err(MapError::OutOfTables);
        }
        for page in 0..pages {
            let page_va = va + page * PAGE_SIZE;
            let l2 = match self.l2_index(page_va) {
                Some(l2) => l2,
                None => self.new_l2(page_va),
            };
            self.pool[l2][Self::l2_slot(page_va)] =
                Pte::new(pa + page * PAGE_SIZE, ring, access, cache).0;
        }
        Ok(())
    }

    /// Remove the mappings of `len` bytes at `va` (page aligned); returns
    /// how many pages were mapped. A pool table left with no mapping goes
    /// back to the pool (its L1 entry becomes illegal again). The caller
    /// flushes the TLB.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn unmap(&mut self, va: u32, len: u32) -> Result<u32, MapError> {
        if !va.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::UnalignedVirtual(va));
        }
        if !len.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::UnalignedLength(len));
        }
        if len > 0 && va.checked_add(len - 1).is_none() {
            return Err(MapError::Wraps);
        }
        let mut removed = 0;
        for page in 0..len / PAGE_SIZE {
            let page_va = va + page * PAGE_SIZE;
            if let Some(l2) = self.l2_index(page_va) {
                let entry = &mut self.pool[l2][Self::l2_slot(page_va)];
                if Pte(*entry).is_valid() {
                    removed += 1;
                }
                *entry = Pte::INVALID.0;
                let last_page_of_table = (page_va % L2_SPAN) / PAGE_SIZE == ENTRIES as u32 - 1;
                if (last_page_of_table || page + 1 == len / PAGE_SIZE)
                    && self.pool[l2].iter().all(|pte| !Pte(*pte).is_valid())
                {
                    self.in_use &= !(1 << l2);
                    self.l1[(page_va / L2_SPAN) as usize] = Pte::INVALID.0;
                }
            }
        }
        Ok(removed)
    }

    /// The PTE mapping `va`, if any.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn translate(&self, va: u32) -> Option<Pte> {
        let l2 = self.l2_index(va)?;
        let pte = Pte(self.pool[l2][Self::l2_slot(va)]);
        pte.is_valid().then_some(pte)
    }

    fn l2_slot(va: u32) -> usize {
        ((va % L2_SPAN) / PAGE_SIZE) as usize
    }

    /// Index in the pool of the L2 table covering `va`, if there is one.
    fn l2_index(&self, va: u32) -> Option<usize> {
        let entry = self.l1_entry(va);
        if !entry.is_valid() || va / L2_SPAN == self.ptevaddr / L2_SPAN {
            return None;
        }
        let offset = entry.pa().checked_sub(self.pool_pa)?;
        let index = (offset / PAGE_SIZE) as usize;
        (index < self.pool.len() && self.in_use & (1 << index) != 0).then_some(index)
    }

    /// Take a free pool table for the 4 MiB holding `va` (the caller
    /// checked that one is free).
    fn new_l2(&mut self, va: u32) -> usize {
        let index = (!self.in_use).trailing_zeros() as usize;
        self.in_use |= 1 << index;
        self.pool[index].fill(Pte::INVALID.0);
        let pa = self.pool_pa + index as u32 * PAGE_SIZE;
        self.l1[(va / L2_SPAN) as usize] = Pte::new(pa, 0, Access::Read, CacheMode::WriteBack).0;
        index
    }
}

#[cfg(test)]
mod tests {
    use super::{Access, CacheMode, ENTRIES, MapError, Mapping, PageTables, Pte, Table};
    use sotto_abi::layout::{L2_SPAN, PAGE_SIZE, pte_window};

    const L1_PA: u32 = 0x0020_0000;
    const POOL_PA: u32 = 0x0020_1000;

    fn tables(pool_size: usize) -> (Box<Table>, Vec<Table>) {
        (Box::new([0; ENTRIES]), vec![[0; ENTRIES]; pool_size])
    }

    fn text(va: u32, len: u32) -> Mapping {
        Mapping {
            va,
            pa: va,
            len,
            ring: 0,
            access: Access::ReadExecute,
            cache: CacheMode::WriteBack,
        }
    }

    #[test]
    fn pte_encoding_matches_the_hardware_attributes() {
        assert_eq!(
            Pte::new(0x0010_1000, 0, Access::ReadExecute, CacheMode::WriteBack).0,
            0x0010_1005
        );
        assert_eq!(
            Pte::new(0x0010_1000, 0, Access::ReadWrite, CacheMode::WriteBack).0,
            0x0010_1006
        );
        assert_eq!(
            Pte::new(0x0040_0000, 2, Access::ReadWrite, CacheMode::Bypass).0,
            0x0040_0022
        );
        assert_eq!(
            Pte::new(0x0040_0000, 1, Access::Read, CacheMode::WriteThrough).0,
            0x0040_0018
        );
        assert_eq!(
            Pte::new(
                0x1234_5fff,
                3,
                Access::ReadWriteExecute,
                CacheMode::WriteBack
            )
            .0,
            0x1234_5037
        );
        assert!(!Pte::INVALID.is_valid());
        assert!(
            Pte(0).is_valid(),
            "a zero PTE is a valid mapping of page 0: never use it for 'unmapped'"
        );
        let pte = Pte::new(0x0030_0000, 1, Access::ReadWrite, CacheMode::WriteThrough);
        assert_eq!(
            (pte.pa(), pte.ring(), pte.access(), pte.cache()),
            (
                0x0030_0000,
                1,
                Some(Access::ReadWrite),
                Some(CacheMode::WriteThrough)
            )
        );
    }

    #[test]
    fn maps_and_translates_with_attributes() {
        let (mut l1, mut pool) = tables(4);
        let mut pt = PageTables::new(&mut l1, L1_PA, &mut pool, POOL_PA, pte_window(0)).unwrap();
        pt.map(text(0x0010_0000, 3 * PAGE_SIZE)).unwrap();
        pt.map(Mapping {
            va: 0x4000_0000,
            pa: 0x0080_0000,
            len: PAGE_SIZE,
            ring: 2,
            access: Access::ReadWrite,
            cache: CacheMode::Bypass,
        })
        .unwrap();
        assert_eq!(
            pt.translate(0x0010_2abc),
            Some(Pte::new(
                0x0010_2000,
                0,
                Access::ReadExecute,
                CacheMode::WriteBack
            ))
        );
        assert_eq!(
            pt.translate(0x0010_3000),
            None,
            "one past the end is unmapped"
        );
        assert_eq!(pt.translate(0x000f_f000), None);
        let user = pt.translate(0x4000_0004).unwrap();
        assert_eq!(
            (user.pa(), user.ring(), user.access(), user.cache()),
            (
                0x0080_0000,
                2,
                Some(Access::ReadWrite),
                Some(CacheMode::Bypass)
            )
        );
        assert_eq!(pt.tables_used(), 2);
    }

    #[test]
    fn the_window_maps_the_l1_and_every_l2_table() {
        let window = pte_window(3);
        let (mut l1, mut pool) = tables(2);
        let mut pt = PageTables::new(&mut l1, L1_PA, &mut pool, POOL_PA, window).unwrap();
        pt.map(text(0x0010_0000, PAGE_SIZE)).unwrap();
        // The L1 entry of the window itself points at the L1.
        assert_eq!(pt.l1_entry(window).pa(), L1_PA);
        assert_eq!(pt.l1_entry(window).ring(), 0);
        // The L2 covering 0..4 MiB is the first pool page.
        assert_eq!(pt.l1_entry(0x0010_0000).pa(), POOL_PA);
        // Hardware PTE address of 0x00101000 = window + (va >> 10).
        assert_eq!(pt.pte_vaddr(0x0010_1234), window + 0x404);
        // The PTE of that window page (the L2's mapping) is the L1 entry.
        assert_eq!(pt.pte_vaddr(window), window + (window >> 10));
        // Untouched regions stay illegal, not zero.
        assert_eq!(pt.l1_entry(0x2000_0000), Pte::INVALID);
    }

    #[test]
    fn refuses_overlaps_without_changing_anything() {
        let (mut l1, mut pool) = tables(4);
        let mut pt = PageTables::new(&mut l1, L1_PA, &mut pool, POOL_PA, pte_window(0)).unwrap();
        pt.map(text(0x0010_2000, PAGE_SIZE)).unwrap();
        // Spans the 4 MiB boundary and ends on the mapped page: refused
        // whole, and the new L2 it would have needed is not taken.
        assert_eq!(pt.map(text(0x003f_f000, PAGE_SIZE)), Ok(()));
        assert_eq!(
            pt.map(text(0x0010_0000, 3 * PAGE_SIZE)),
            Err(MapError::Overlap(0x0010_2000))
        );
        assert_eq!(pt.translate(0x0010_0000), None);
        assert_eq!(pt.translate(0x0010_1000), None);
        assert_eq!(
            pt.map(text(0x003f_f000, 2 * PAGE_SIZE)),
            Err(MapError::Overlap(0x003f_f000))
        );
        assert_eq!(pt.tables_used(), 1);
        assert_eq!(pt.translate(0x0040_0000), None);
    }

    #[test]
    fn refuses_unaligned_empty_wrapping_and_window_ranges() {
        let (mut l1, mut pool) = tables(4);
        let window = pte_window(1);
        let mut pt = PageTables::new(&mut l1, L1_PA, &mut pool, POOL_PA, window).unwrap();
        assert_eq!(pt.map(text(0x0010_0000, 0)), Err(MapError::Empty));
        assert_eq!(
            pt.map(text(0x0010_0004, PAGE_SIZE)),
            Err(MapError::UnalignedVirtual(0x0010_0004))
        );
        assert_eq!(
            pt.map(text(0x0010_0000, 100)),
            Err(MapError::UnalignedLength(100))
        );
        let mut unaligned_pa = text(0x0010_0000, PAGE_SIZE);
        unaligned_pa.pa = 0x0010_0800;
        assert_eq!(
            pt.map(unaligned_pa),
            Err(MapError::UnalignedPhysical(0x0010_0800))
        );
        assert_eq!(
            pt.map(text(0xffff_f000, 2 * PAGE_SIZE)),
            Err(MapError::Wraps)
        );
        let mut bad_ring = text(0x0010_0000, PAGE_SIZE);
        bad_ring.ring = 4;
        assert_eq!(pt.map(bad_ring), Err(MapError::BadRing(4)));
        assert_eq!(
            pt.map(text(window - PAGE_SIZE, 2 * PAGE_SIZE)),
            Err(MapError::InPteWindow(window))
        );
        assert_eq!(
            pt.map(text(window + L2_SPAN - PAGE_SIZE, PAGE_SIZE)),
            Err(MapError::InPteWindow(window + L2_SPAN - PAGE_SIZE))
        );
        assert_eq!(pt.map(text(window + L2_SPAN, PAGE_SIZE)), Ok(()));
        assert_eq!(pt.tables_used(), 1);
    }

    #[test]
    fn runs_out_of_tables_cleanly() {
        let (mut l1, mut pool) = tables(1);
        let mut pt = PageTables::new(&mut l1, L1_PA, &mut pool, POOL_PA, pte_window(0)).unwrap();
        assert_eq!(
            pt.map(text(0x003f_f000, 2 * PAGE_SIZE)),
            Err(MapError::OutOfTables)
        );
        assert_eq!(pt.translate(0x003f_f000), None);
        pt.map(text(0x003f_f000, PAGE_SIZE)).unwrap();
        assert_eq!(
            pt.map(text(0x0080_0000, PAGE_SIZE)),
            Err(MapError::OutOfTables)
        );
    }

    #[test]
    fn unmaps_exactly_the_range() {
        let (mut l1, mut pool) = tables(2);
        let mut pt = PageTables::new(&mut l1, L1_PA, &mut pool, POOL_PA, pte_window(0)).unwrap();
        pt.map(text(0x5000_0000, 4 * PAGE_SIZE)).unwrap();
        assert_eq!(pt.unmap(0x5000_1000, 2 * PAGE_SIZE), Ok(2));
        assert!(pt.translate(0x5000_0000).is_some());
        assert_eq!(pt.translate(0x5000_1000), None);
        assert_eq!(pt.translate(0x5000_2000), None);
        assert!(pt.translate(0x5000_3000).is_some());
        assert_eq!(pt.unmap(0x5000_1000, PAGE_SIZE), Ok(0), "already unmapped");
        assert_eq!(pt.unmap(0x6000_0000, PAGE_SIZE), Ok(0), "no table there");
        assert_eq!(
            pt.unmap(0x5000_0004, PAGE_SIZE),
            Err(MapError::UnalignedVirtual(0x5000_0004))
        );
        // Remapping an unmapped page works.
        pt.map(text(0x5000_1000, PAGE_SIZE)).unwrap();
    }

    #[test]
    fn shares_kernel_tables_without_touching_them() {
        let (mut l1, mut pool) = tables(2);
        let mut pt = PageTables::new(&mut l1, L1_PA, &mut pool, POOL_PA, pte_window(2)).unwrap();
        pt.share(0x0010_0000, 0x0030_0000).unwrap();
        assert_eq!(pt.l1_entry(0x0020_0000).pa(), 0x0030_0000);
        // The shared region cannot be mapped into, nor shared twice.
        assert_eq!(
            pt.map(text(0x0020_0000, PAGE_SIZE)),
            Err(MapError::SharedTable(0x0020_0000))
        );
        assert_eq!(
            pt.share(0x0000_0000, 0x0031_0000),
            Err(MapError::Overlap(0))
        );
        assert_eq!(
            pt.share(pte_window(2), 0x0031_0000),
            Err(MapError::InPteWindow(pte_window(2)))
        );
        assert_eq!(
            pt.share(0x0040_0000, 0x0031_0004),
            Err(MapError::BadTableMemory)
        );
        // Lookups in it report nothing: it is not these tables' to describe.
        assert_eq!(pt.translate(0x0010_0000), None);
        assert_eq!(pt.tables_used(), 0);
    }

    #[test]
    fn refuses_misplaced_table_memory() {
        let (mut l1, mut pool) = tables(1);
        assert!(matches!(
            PageTables::new(&mut l1, L1_PA + 4, &mut pool, POOL_PA, pte_window(0)),
            Err(MapError::BadTableMemory)
        ));
        let (mut l1, mut pool) = tables(1);
        assert!(matches!(
            PageTables::new(&mut l1, L1_PA, &mut pool, POOL_PA, 0x1000),
            Err(MapError::BadTableMemory)
        ));
    }

    #[test]
    fn unmapping_returns_emptied_tables_to_the_pool() {
        let (mut l1, mut pool) = tables(2);
        let window = pte_window(1);
        let mut t = PageTables::new(&mut l1, L1_PA, &mut pool, POOL_PA, window).unwrap();
        let span = |n: u32| Mapping {
            va: 0x5000_0000 + n * L2_SPAN,
            pa: 0x0100_0000,
            len: L2_SPAN,
            ring: 1,
            access: Access::ReadWrite,
            cache: CacheMode::WriteBack,
        };
        t.map(span(0)).unwrap();
        t.map(span(1)).unwrap();
        assert_eq!(t.map(span(2)), Err(MapError::OutOfTables));
        // A partial unmap keeps the table (it still maps pages).
        assert_eq!(t.unmap(0x5000_0000, PAGE_SIZE), Ok(1));
        assert_eq!(t.tables_used(), 2);
        assert_eq!(t.map(span(2)), Err(MapError::OutOfTables));
        // Unmapping the rest frees it: a third span fits, forever.
        assert_eq!(t.unmap(0x5000_1000, L2_SPAN - PAGE_SIZE), Ok(1023));
        assert_eq!(t.tables_used(), 1);
        assert!(
            !t.l1_entry(0x5000_0000).is_valid(),
            "L1 entry illegal again"
        );
        for round in 0..10 {
            let n = 2 + round;
            t.map(span(n)).unwrap();
            assert_eq!(
                t.translate(span(n).va).map(|pte| pte.pa()),
                Some(0x0100_0000)
            );
            assert_eq!(t.unmap(span(n).va, L2_SPAN), Ok(1024));
        }
        assert_eq!(t.tables_used(), 1);
        assert_eq!(
            t.translate(0x5040_0000).map(|pte| pte.pa()),
            Some(0x0100_0000)
        );
    }
}
