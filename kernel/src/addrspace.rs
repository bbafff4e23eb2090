//! A service's address space: where its segments and stack go, the page
//! tables that map them (sharing the kernel's tables), the physical frames
//! behind them, and the check every user pointer passes before the kernel
//! touches it.
//!
//! Layout of every service (each has its own tables and ASID, so all are
//! linked at the same addresses):
//!
//! ```text
//! 0x0000_0000 ..            kernel (ring 0 only), incl. the frame pool
//! USER_TEXT_BASE ..         code RX, rodata R, data+bss RW   (ring 1)
//!                           ... unmapped ...
//! USER_STACK_TOP - stack    stack RW (ring 1), guard page below unmapped
//!   below, per thread        each further thread's stack, guard page below
//! PTE_WINDOW_BASE + n*4MiB  this space's page-table window (ring 0)
//! ```

use core::fmt;

use sotto_abi::text::{Message, Part};

use heapless::Vec;
use sotto_abi::Error;
use sotto_abi::layout::{
    IPC_BUFFER_VA, PAGE_SIZE, USER_IMAGE_LIMIT, USER_RING, USER_STACK_FLOOR, USER_STACK_TOP,
    USER_TEXT_BASE, pte_window, thread_stack_top,
};
use sotto_abi::manifest::{MAX_SEGMENTS, MAX_SERVICE_THREADS, SegmentKind, Service};

use crate::pagetable::{Access, CacheMode, MapError, Mapping, PageTables};

/// Second-level tables a service gets (see `sotto_abi::layout`).
pub const SERVICE_L2_TABLES: usize = sotto_abi::layout::SERVICE_L2_TABLES as usize;

/// Why a service cannot be given an address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// A segment is not page aligned or is empty.
    BadSegment(u32),
    /// A segment lies outside `USER_TEXT_BASE..USER_IMAGE_LIMIT`.
    SegmentOutOfRange(u32),
    /// A segment's initial bytes are larger than the segment.
    FileLargerThanSegment(u32),
    /// The stack size is zero, not a page multiple, or too large.
    BadStack(u32),
    /// The entry point is not in a code segment.
    BadEntry(u32),
    /// A memory object's initial contents (offset, length in the image's
    /// service blob) lie outside the blob or exceed the object.
    BadContents(u32, u32),
    /// The frame pool is exhausted.
    OutOfMemory,
    /// The page tables refused a mapping (overlapping segments, ...).
    Map(MapError),
}

impl From<MapError> for LoadError {
    fn from(error: MapError) -> Self {
        LoadError::Map(error)
    }
}

impl LoadError {
    /// What went wrong, as the kernel prints it.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.addrspace_message")
    )]
    pub fn message(&self) -> Message {
        match *self {
            LoadError::BadSegment(va) => Message::one(
                &[
                    Part::Str("segment at "),
                    Part::Hex,
                    Part::Str(" is empty or not page aligned"),
                ],
                u64::from(va),
            ),
            LoadError::BadContents(offset, len) => Message {
                parts: &[
                    Part::Str("initial contents ("),
                    Part::Dec,
                    Part::Str(" bytes at offset "),
                    Part::HexShort,
                    Part::Str(") lie outside the image or exceed the object"),
                ],
                args: [u64::from(len), u64::from(offset), 0],
            },
            LoadError::SegmentOutOfRange(va) => Message {
                parts: &[
                    Part::Str("segment at "),
                    Part::Hex,
                    Part::Str(" lies outside "),
                    Part::Hex,
                    Part::Str(".."),
                    Part::Hex,
                ],
                args: [
                    u64::from(va),
                    u64::from(USER_TEXT_BASE),
                    u64::from(USER_IMAGE_LIMIT),
                ],
            },
            LoadError::FileLargerThanSegment(va) => Message::one(
                &[
                    Part::Str("segment at "),
                    Part::Hex,
                    Part::Str(" has more bytes than room"),
                ],
                u64::from(va),
            ),
            LoadError::BadStack(size) => Message::one(
                &[
                    Part::Str("stack size "),
                    Part::HexShort,
                    Part::Str(" is zero, unaligned or too large"),
                ],
                u64::from(size),
            ),
            LoadError::BadEntry(entry) => Message::one(
                &[
                    Part::Str("entry point "),
                    Part::Hex,
                    Part::Str(" is not in a code segment"),
                ],
                u64::from(entry),
            ),
            LoadError::OutOfMemory => Message::plain(&[Part::Str("out of memory for services")]),
            LoadError::Map(error) => error.message(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.message().fmt(f)
    }
}

/// A bump allocator of physical pages. Frames are handed out once.
pub struct FramePool {
    next: u32,
    end: u32,
}

impl FramePool {
    /// The pool `base..base+size` (page aligned).
    pub const fn new(base: u32, size: u32) -> FramePool {
        FramePool {
            next: base,
            end: base + size,
        }
    }

    /// `pages` contiguous frames.
    pub fn alloc(&mut self, pages: u32) -> Result<u32, LoadError> {
        let bytes = pages.checked_mul(PAGE_SIZE).ok_or(LoadError::OutOfMemory)?;
        if self.end - self.next < bytes {
            return Err(LoadError::OutOfMemory);
        }
        let pa = self.next;
        self.next += bytes;
        Ok(pa)
    }

    /// Bytes still free.
    pub fn free(&self) -> u32 {
        self.end - self.next
    }
}

/// Physical memory a service region occupies, and what to fill it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Virtual start.
    pub va: u32,
    /// Physical start.
    pub pa: u32,
    /// Length (page multiple). All of it is zeroed before the service runs.
    pub len: u32,
    /// Offset and length of the initial bytes in the services blob.
    pub file: Option<(u32, u32)>,
}

/// The stack region of a service with `stack_size` bytes of stack.
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.addrspace_stack_range")
)]
pub fn stack_range(stack_size: u32) -> Result<(u32, u32), LoadError> {
    stack_under(USER_STACK_TOP, stack_size)
}

/// The stack region of `stack_size` bytes ending at `top`, its guard page
/// under it: all above [`USER_STACK_FLOOR`] (the stacks, their guard
/// pages and nothing else share their 4 MiB table with the IPC buffer).
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.addrspace_stack_under")
)]
pub fn stack_under(top: u32, stack_size: u32) -> Result<(u32, u32), LoadError> {
    let room = top.saturating_sub(USER_STACK_FLOOR + PAGE_SIZE);
    if stack_size == 0 || !stack_size.is_multiple_of(PAGE_SIZE) || stack_size > room {
        return Err(LoadError::BadStack(stack_size));
    }
    Ok((top - stack_size, top))
}

/// Every stack of `service` (its main thread's first, then its further
/// threads' in order, each under the guard page of the one before), as
/// (bottom, top).
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.addrspace_stacks")
)]
pub fn stacks(
    service: &Service,
) -> Result<Vec<(u32, u32), { MAX_SERVICE_THREADS + 1 }>, LoadError> {
    let mut stacks = Vec::new();
    let mut range = stack_range(service.stack_size)?;
    let _ = stacks.push(range);
    for thread in &service.threads {
        range = stack_under(thread_stack_top(range.0), thread.stack_size)?;
        let _ = stacks.push(range);
    }
    Ok(stacks)
}

/// Map `service` into `tables` (already sharing the kernel's tables), with
/// frames from `pool`. Returns where each region went.
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.addrspace_load")
)]
pub fn load(
    service: &Service,
    tables: &mut PageTables<'_>,
    pool: &mut FramePool,
) -> Result<Vec<Placement, { MAX_SEGMENTS + 1 + MAX_SERVICE_THREADS }>, LoadError> {
    let mut placements = Vec::new();
    let mut entry_ok = false;
    let mut entries_ok = 0;
    for segment in &service.segments {
        let va = segment.vaddr;
        if segment.mem_size == 0
            || !va.is_multiple_of(PAGE_SIZE)
            || !segment.mem_size.is_multiple_of(PAGE_SIZE)
        {
            return Err(LoadError::BadSegment(va));
        }
        let end = va
            .checked_add(segment.mem_size)
            .ok_or(LoadError::SegmentOutOfRange(va))?;
        if va < USER_TEXT_BASE || end > USER_IMAGE_LIMIT {
            return Err(LoadError::SegmentOutOfRange(va));
        }
        if segment.file_size > segment.mem_size {
            return Err(LoadError::FileLargerThanSegment(va));
        }
        let access = match segment.kind {
            SegmentKind::Code => Access::ReadExecute,
            SegmentKind::ReadOnly => Access::Read,
            SegmentKind::ReadWrite => Access::ReadWrite,
        };
        if segment.kind == SegmentKind::Code && (va..end).contains(&service.entry) {
            entry_ok = true;
        }
        for thread in &service.threads {
            if segment.kind == SegmentKind::Code && (va..end).contains(&thread.entry) {
                entries_ok += 1;
            }
        }
        let pa = pool.alloc(segment.mem_size / PAGE_SIZE)?;
        tables.map(Mapping {
            va,
            pa,
            len: segment.mem_size,
            ring: USER_RING,
            access,
            cache: CacheMode::WriteBack,
        })?;
        let file = (segment.file_size > 0).then_some((segment.offset, segment.file_size));
        // Capacity: the segments and the stacks.
        let _ = placements.push(Placement {
            va,
            pa,
            len: segment.mem_size,
            file,
        });
    }
    if !entry_ok {
        return Err(LoadError::BadEntry(service.entry));
    }
    if entries_ok != service.threads.len() {
        let bad = service.threads.iter().find(|thread| {
            !service.segments.iter().any(|segment| {
                segment.kind == SegmentKind::Code
                    && thread.entry >= segment.vaddr
                    && thread.entry - segment.vaddr < segment.mem_size
            })
        });
        return Err(LoadError::BadEntry(bad.map_or(0, |thread| thread.entry)));
    }
    for (stack_bottom, stack_top) in stacks(service)? {
        let pa = pool.alloc((stack_top - stack_bottom) / PAGE_SIZE)?;
        tables.map(Mapping {
            va: stack_bottom,
            pa,
            len: stack_top - stack_bottom,
            ring: USER_RING,
            access: Access::ReadWrite,
            cache: CacheMode::WriteBack,
        })?;
        let _ = placements.push(Placement {
            va: stack_bottom,
            pa,
            len: stack_top - stack_bottom,
            file: None,
        });
    }
    Ok(placements)
}

/// A service's address space, built: its tables, where its regions went,
/// and its IPC buffer.
pub struct Space<'t> {
    /// The tables.
    pub tables: PageTables<'t>,
    /// Physical address of the L1 table.
    pub l1_pa: u32,
    /// Segments and stack.
    pub placements: Vec<Placement, { MAX_SEGMENTS + 1 + MAX_SERVICE_THREADS }>,
    /// Physical address of the IPC buffer page.
    pub ipc_buffer: u32,
}

/// Build the address space of service `index`, the one way both the kernel
/// and the host tools do it (so the tools show the physical layout the
/// kernel makes): an L1 and [`SERVICE_L2_TABLES`] tables from `pool`,
/// `make_tables` turning their frames into tables, the kernel's tables
/// shared for `shared` (4 MiB region address, L2 physical address), then
/// segments, stack and the IPC buffer. Frames are not zeroed here.
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.addrspace_build_space")
)]
pub fn build_space<'t>(
    service: &Service,
    index: u32,
    pool: &mut FramePool,
    shared: &[(u32, u32)],
    make_tables: impl FnOnce(u32, u32, u32) -> Result<PageTables<'t>, MapError>,
) -> Result<Space<'t>, LoadError> {
    let l1_pa = pool.alloc(1)?;
    let l2_pa = pool.alloc(SERVICE_L2_TABLES as u32)?;
    let mut tables = make_tables(l1_pa, l2_pa, pte_window(index + 1))?;
    for &(va, l2) in shared {
        tables.share(va, l2)?;
    }
    let placements = load(service, &mut tables, pool)?;
    let ipc_buffer = pool.alloc(1)?;
    tables.map(Mapping {
        va: IPC_BUFFER_VA,
        pa: ipc_buffer,
        len: PAGE_SIZE,
        ring: USER_RING,
        access: Access::ReadWrite,
        cache: CacheMode::WriteBack,
    })?;
    Ok(Space {
        tables,
        l1_pa,
        placements,
        ipc_buffer,
    })
}

/// Physical addresses of the memory objects, in declaration order, taken
/// from `pool` before any service (the order the kernel uses).
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.addrspace_place_regions")
)]
pub fn place_regions(
    sizes: impl Iterator<Item = Option<u32>>,
    pool: &mut FramePool,
) -> Result<Vec<u32, 64>, LoadError> {
    let mut addresses = Vec::new();
    for size in sizes {
        let pa = match size {
            Some(size) => pool.alloc(size.div_ceil(PAGE_SIZE))?,
            None => 0,
        };
        addresses.push(pa).map_err(|_| LoadError::OutOfMemory)?;
    }
    Ok(addresses)
}

/// A user buffer the kernel has checked: every page of `ptr..ptr+len` is
/// mapped for the service's ring with the access asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserSlice {
    /// Start address (in the service's address space).
    pub ptr: u32,
    /// Length in bytes.
    pub len: u32,
}

/// Check a user pointer claim against the caller's own tables. Anything
/// not mapped to the user ring (kernel memory, unmapped pages, a range
/// running off its mapping) is `BadAddress`; a range that wraps or exceeds
/// `max_len` is `BadLength`.
#[cfg_attr(target_arch = "xtensa", optimize(size))]
pub fn check_user(
    tables: &PageTables<'_>,
    ptr: u32,
    len: u32,
    write: bool,
    max_len: u32,
) -> Result<UserSlice, Error> {
    if len > max_len {
        return Err(Error::BadLength);
    }
    if len == 0 {
        return Ok(UserSlice { ptr, len });
    }
    let last = ptr.checked_add(len - 1).ok_or(Error::BadLength)?;
    let mut page = ptr & !(PAGE_SIZE - 1);
    loop {
        let pte = tables.translate(page).ok_or(Error::BadAddress)?;
        let writable = matches!(
            pte.access(),
            Some(Access::ReadWrite | Access::ReadWriteExecute)
        );
        if pte.ring() != USER_RING || (write && !writable) {
            return Err(Error::BadAddress);
        }
        match page.checked_add(PAGE_SIZE) {
            Some(next) if next <= last => page = next,
            _ => return Ok(UserSlice { ptr, len }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FramePool, LoadError, SERVICE_L2_TABLES, check_user, load, stack_range};
    use crate::pagetable::{Access, ENTRIES, MapError, PageTables, Table};
    use sotto_abi::Error;
    use sotto_abi::layout::{PAGE_SIZE, USER_STACK_TOP, USER_TEXT_BASE, pte_window};
    use sotto_abi::manifest::{Segment, SegmentKind, Service};

    fn segment(vaddr: u32, pages: u32, file_size: u32, kind: SegmentKind) -> Segment {
        Segment {
            vaddr,
            mem_size: pages * PAGE_SIZE,
            offset: 0x100,
            file_size,
            kind,
        }
    }

    fn service(segments: &[Segment]) -> Service {
        Service {
            name: heapless::String::try_from("svc").unwrap(),
            priority: 3,
            entry: USER_TEXT_BASE + 0x10,
            stack_size: 2 * PAGE_SIZE,
            arg: 0,
            segments: heapless::Vec::from_slice(segments).unwrap(),
            caps: heapless::Vec::new(),
            threads: heapless::Vec::new(),
            supervision: sotto_abi::supervise::Supervision::default(),
        }
    }

    fn standard() -> Service {
        service(&[
            segment(USER_TEXT_BASE, 2, 0x1800, SegmentKind::Code),
            segment(USER_TEXT_BASE + 0x2000, 1, 0x200, SegmentKind::ReadOnly),
            segment(USER_TEXT_BASE + 0x3000, 3, 0x10, SegmentKind::ReadWrite),
        ])
    }

    struct Space {
        l1: Box<Table>,
        l2: Vec<Table>,
    }

    impl Space {
        fn new() -> Space {
            Space {
                l1: Box::new([0; ENTRIES]),
                l2: vec![[0; ENTRIES]; SERVICE_L2_TABLES],
            }
        }

        fn tables(&mut self) -> PageTables<'_> {
            let mut tables = PageTables::new(
                &mut self.l1,
                0x0040_0000,
                &mut self.l2,
                0x0040_1000,
                pte_window(3),
            )
            .unwrap();
            tables.share(0, 0x0011_0000).unwrap();
            tables
        }
    }

    #[test]
    fn maps_segments_and_stack_with_user_permissions() {
        let mut space = Space::new();
        let mut tables = space.tables();
        let mut pool = FramePool::new(0x0050_0000, 0x10_0000);
        let placed = load(&standard(), &mut tables, &mut pool).unwrap();
        assert_eq!(placed.len(), 4);
        let expect = [
            (USER_TEXT_BASE, Access::ReadExecute),
            (USER_TEXT_BASE + 0x1000, Access::ReadExecute),
            (USER_TEXT_BASE + 0x2000, Access::Read),
            (USER_TEXT_BASE + 0x5000, Access::ReadWrite),
            (USER_STACK_TOP - 0x1000, Access::ReadWrite),
            (USER_STACK_TOP - 0x2000, Access::ReadWrite),
        ];
        for (va, access) in expect {
            let pte = tables
                .translate(va)
                .unwrap_or_else(|| panic!("{va:#x} unmapped"));
            assert_eq!((pte.ring(), pte.access()), (1, Some(access)), "{va:#x}");
        }
        // Frames are distinct and come from the pool, in order.
        assert_eq!(placed[0].pa, 0x0050_0000);
        assert_eq!(placed[1].pa, 0x0050_2000);
        assert_eq!(placed[2].pa, 0x0050_3000);
        assert_eq!(placed[3].pa, 0x0050_6000);
        assert_eq!(placed[0].file, Some((0x100, 0x1800)));
        assert_eq!(placed[3].file, None);
        assert_eq!(pool.free(), 0x10_0000 - 8 * PAGE_SIZE);
    }

    #[test]
    fn threads_get_stacks_under_guard_pages() {
        let mut svc = standard();
        for (name, pages, entry) in [("a", 1, 0x20), ("b", 3, 0x1ffc)] {
            svc.threads
                .push(sotto_abi::manifest::Thread {
                    name: heapless::String::try_from(name).unwrap(),
                    priority: 4,
                    max_priority: 4,
                    entry: USER_TEXT_BASE + entry,
                    stack_size: pages * PAGE_SIZE,
                    arg: 0,
                })
                .unwrap();
        }
        let stacks = super::stacks(&svc).unwrap();
        let top = USER_STACK_TOP;
        assert_eq!(
            &stacks[..],
            &[
                (top - 0x2000, top),
                (top - 0x4000, top - 0x3000),
                (top - 0x8000, top - 0x5000)
            ]
        );
        let mut space = Space::new();
        let mut tables = space.tables();
        let placed = load(
            &svc,
            &mut tables,
            &mut FramePool::new(0x0050_0000, 0x10_0000),
        )
        .unwrap();
        assert_eq!(placed.len(), 6);
        for (bottom, top) in stacks {
            assert!(tables.translate(bottom).is_some());
            assert!(tables.translate(top - 4).is_some());
            assert_eq!(tables.translate(bottom - PAGE_SIZE), None, "guard page");
        }
        // An entry outside the code, a stack running into the IPC buffer.
        svc.threads[1].entry = USER_TEXT_BASE + 0x2000;
        let mut pool = FramePool::new(0x0050_0000, 0x10_0000);
        assert_eq!(
            load(&svc, &mut space.tables(), &mut pool).err(),
            Some(LoadError::BadEntry(USER_TEXT_BASE + 0x2000))
        );
        svc.threads[1].entry = USER_TEXT_BASE;
        svc.threads[1].stack_size = (4 << 20) - 6 * PAGE_SIZE;
        assert_eq!(
            super::stacks(&svc),
            Err(LoadError::BadStack((4 << 20) - 6 * PAGE_SIZE))
        );
        svc.threads[1].stack_size = (4 << 20) - 7 * PAGE_SIZE;
        assert!(super::stacks(&svc).is_ok());
    }

    #[test]
    fn guard_pages_and_the_gap_stay_unmapped() {
        let mut space = Space::new();
        let mut tables = space.tables();
        load(
            &standard(),
            &mut tables,
            &mut FramePool::new(0x0050_0000, 0x10_0000),
        )
        .unwrap();
        let (bottom, _) = stack_range(2 * PAGE_SIZE).unwrap();
        assert_eq!(
            tables.translate(bottom - PAGE_SIZE),
            None,
            "guard page under the stack"
        );
        assert_eq!(
            tables.translate(USER_TEXT_BASE + 0x6000),
            None,
            "page after the image"
        );
        assert_eq!(tables.translate(USER_TEXT_BASE - PAGE_SIZE), None);
        assert_eq!(tables.translate(USER_STACK_TOP), None);
    }

    #[test]
    fn refuses_overlapping_or_misplaced_segments() {
        let mut pool = FramePool::new(0x0050_0000, 0x10_0000);
        let overlapping = service(&[
            segment(USER_TEXT_BASE, 2, 0, SegmentKind::Code),
            segment(USER_TEXT_BASE + 0x1000, 1, 0, SegmentKind::ReadWrite),
        ]);
        let mut space = Space::new();
        assert_eq!(
            load(&overlapping, &mut space.tables(), &mut pool),
            Err(LoadError::Map(MapError::Overlap(USER_TEXT_BASE + 0x1000)))
        );
        let low = service(&[segment(0x0010_0000, 1, 0, SegmentKind::Code)]);
        assert_eq!(
            load(&low, &mut Space::new().tables(), &mut pool),
            Err(LoadError::SegmentOutOfRange(0x0010_0000))
        );
        let unaligned = service(&[segment(USER_TEXT_BASE + 4, 1, 0, SegmentKind::Code)]);
        assert_eq!(
            load(&unaligned, &mut Space::new().tables(), &mut pool),
            Err(LoadError::BadSegment(USER_TEXT_BASE + 4))
        );
        let stuffed = service(&[segment(USER_TEXT_BASE, 1, 0x2000, SegmentKind::Code)]);
        assert_eq!(
            load(&stuffed, &mut Space::new().tables(), &mut pool),
            Err(LoadError::FileLargerThanSegment(USER_TEXT_BASE))
        );
        let data_entry = service(&[segment(USER_TEXT_BASE, 1, 0, SegmentKind::ReadWrite)]);
        assert_eq!(
            load(&data_entry, &mut Space::new().tables(), &mut pool),
            Err(LoadError::BadEntry(USER_TEXT_BASE + 0x10))
        );
    }

    #[test]
    fn refuses_bad_stacks_and_running_out_of_memory() {
        for size in [0, 100, 4 << 20] {
            assert_eq!(stack_range(size), Err(LoadError::BadStack(size)));
        }
        let mut pool = FramePool::new(0x0050_0000, 4 * PAGE_SIZE);
        assert_eq!(
            load(&standard(), &mut Space::new().tables(), &mut pool),
            Err(LoadError::OutOfMemory)
        );
    }

    #[test]
    fn user_pointers_are_checked_against_the_callers_mappings() {
        let mut space = Space::new();
        let mut tables = space.tables();
        load(
            &standard(),
            &mut tables,
            &mut FramePool::new(0x0050_0000, 0x10_0000),
        )
        .unwrap();
        let max = 4096;
        // Inside rodata: readable, not writable.
        assert!(check_user(&tables, USER_TEXT_BASE + 0x2010, 16, false, max).is_ok());
        assert_eq!(
            check_user(&tables, USER_TEXT_BASE + 0x2010, 16, true, max),
            Err(Error::BadAddress)
        );
        // Spanning code and rodata (both mapped): fine to read.
        assert!(check_user(&tables, USER_TEXT_BASE + 0x1ff0, 0x20, false, max).is_ok());
        // Running off the end of the data mapping.
        assert_eq!(
            check_user(&tables, USER_TEXT_BASE + 0x5ff0, 0x20, false, max),
            Err(Error::BadAddress)
        );
        // Kernel memory (shared, ring 0) and unmapped memory.
        assert_eq!(
            check_user(&tables, 0x0010_0000, 4, false, max),
            Err(Error::BadAddress)
        );
        assert_eq!(
            check_user(&tables, 0, 4, false, max),
            Err(Error::BadAddress)
        );
        assert_eq!(
            check_user(&tables, pte_window(3), 4, false, max),
            Err(Error::BadAddress)
        );
        // Lengths: too long, wrapping, empty.
        assert_eq!(
            check_user(&tables, USER_TEXT_BASE, max + 1, false, max),
            Err(Error::BadLength)
        );
        assert_eq!(
            check_user(&tables, 0xffff_fff0, 0x20, false, u32::MAX),
            Err(Error::BadLength)
        );
        assert!(check_user(&tables, 0, 0, false, max).is_ok());
        // The stack's last byte.
        assert!(check_user(&tables, USER_STACK_TOP - 1, 1, true, max).is_ok());
    }
}
