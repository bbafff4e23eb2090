//! Services on the hardware: loading them from the boot manifest into
//! their own address spaces, entering and leaving user mode, and applying
//! the effects of system calls, faults and ticks to the scheduler.

use core::ptr::addr_of;

use heapless::Vec;
use sotto_abi::layout::{
    FIRST_SERVICE_ASID, KERNEL_BASE, L2_SPAN, PAGE_SIZE, USER_POOL_BASE, USER_POOL_SIZE,
    USER_STACK_TOP, pte_window,
};
use sotto_abi::manifest::{MANIFEST_SIZE, MAX_NAME, MAX_SERVICES, ManifestError, Service};
use sotto_abi::{Error, ExceptionCause, Manifest};
use sotto_kernel::addrspace::{self, FramePool, SERVICE_L2_TABLES, UserSlice};
use sotto_kernel::arch::xtensa as arch;
use sotto_kernel::kprintln;
use sotto_kernel::pagetable::{PageTables, Table};
use sotto_kernel::sched::{Scheduler, ThreadId};
use sotto_kernel::syscall::{self, Effect, Env, LinePrefixer};
use sotto_kernel::trap::{FaultReport, TrapFrame, ps};

use crate::Global;

unsafe extern "C" {
    static _sotto_services_start: u8;
    static _sotto_services_end: u8;
}

/// Written by `cargo xtask build` after linking (see `sotto_image`).
#[unsafe(link_section = ".sotto.manifest")]
#[used]
static MANIFEST: [u8; MANIFEST_SIZE] = [0; MANIFEST_SIZE];

/// How a service ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It called exit with this status.
    Exited(u32),
    /// It panicked.
    Panicked,
    /// The kernel stopped it after a fault.
    Faulted,
}

/// The registers that select an address space.
#[derive(Clone, Copy)]
struct SpaceRegs {
    ptevaddr: u32,
    rasid: u32,
    l1_pte: u32,
    l1_pin: u32,
    l2_pte: u32,
    l2_pin: u32,
}

/// One loaded service (one thread each, for now).
pub struct Slot {
    name: heapless::String<MAX_NAME>,
    frame: TrapFrame,
    tables: PageTables<'static>,
    space: SpaceRegs,
    stack_guard: u32,
    console: LinePrefixer,
    ending: Option<Ending>,
}

/// Every service, indexed by thread id (thread `n` is service `n`).
pub static SLOTS: Global<Vec<Slot, MAX_SERVICES>> = Global::new(Vec::new());
/// The scheduler.
pub static SCHED: Global<Scheduler> = Global::new(Scheduler::new());
/// The address space currently in the MMU (`None`: the kernel's boot tables).
static ACTIVE: Global<Option<ThreadId>> = Global::new(None);

/// Where the manifest is read to (kept off the kernel stack).
static MANIFEST_COPY: Global<[u8; MANIFEST_SIZE]> = Global::new([0; MANIFEST_SIZE]);

/// The frame the user vector saves into; the assembly reads and writes it.
#[unsafe(no_mangle)]
static mut sotto_current_frame: *mut TrapFrame = core::ptr::null_mut();

/// Why the services could not be loaded.
pub enum LoadFailure {
    /// The manifest section does not decode.
    Manifest(ManifestError),
    /// A service could not be placed.
    Service(heapless::String<MAX_NAME>, addrspace::LoadError),
}

fn section(start: &u8, end: &u8) -> &'static [u8] {
    let start = start as *const u8;
    let len = end as *const u8 as usize - start as usize;
    // SAFETY: the linker script brackets the section with these symbols;
    // it is read-only data that lives as long as the kernel.
    unsafe { core::slice::from_raw_parts(start, len) }
}

/// Load every service of the manifest into its own address space.
pub fn load_all(kernel: &PageTables<'static>) -> Result<usize, LoadFailure> {
    // SAFETY: only the addresses of the linker symbols are taken.
    let blob = unsafe {
        section(
            &*addr_of!(_sotto_services_start),
            &*addr_of!(_sotto_services_end),
        )
    };
    let manifest = MANIFEST_COPY.with(|bytes| {
        for (i, byte) in bytes.iter_mut().enumerate() {
            // SAFETY: reading within the static; volatile because xtask
            // writes it after compilation, so the compiler must not assume
            // zeros.
            *byte = unsafe { core::ptr::read_volatile(MANIFEST.as_ptr().add(i)) };
        }
        Manifest::decode(bytes)
    });
    let manifest = manifest.map_err(LoadFailure::Manifest)?;
    let mut pool = FramePool::new(USER_POOL_BASE, USER_POOL_SIZE);
    for (index, service) in manifest.services.iter().enumerate() {
        let slot = load_one(index, service, kernel, &mut pool, blob)
            .map_err(|error| LoadFailure::Service(service.name.clone(), error))?;
        let thread = SCHED.with(|sched| sched.add(service.priority));
        if thread != Some(index) {
            return Err(LoadFailure::Service(
                service.name.clone(),
                addrspace::LoadError::OutOfMemory,
            ));
        }
        kprintln!(
            "service {}: priority {}, entry {:#010x}, stack {} KiB, ASID {}",
            service.name,
            service.priority,
            service.entry,
            service.stack_size / 1024,
            (slot.space.rasid >> 8) & 0xFF
        );
        if SLOTS.with(|slots| slots.push(slot)).is_err() {
            return Err(LoadFailure::Service(
                service.name.clone(),
                addrspace::LoadError::OutOfMemory,
            ));
        }
    }
    kprintln!(
        "services: {} loaded, {} KiB of the pool left",
        manifest.services.len(),
        pool.free() / 1024
    );
    Ok(manifest.services.len())
}

fn load_one(
    index: usize,
    service: &Service,
    kernel: &PageTables<'static>,
    pool: &mut FramePool,
    blob: &[u8],
) -> Result<Slot, addrspace::LoadError> {
    let l1_pa = pool.alloc(1)?;
    let l2_pa = pool.alloc(SERVICE_L2_TABLES as u32)?;
    // SAFETY: the frames were just taken from the pool, which is mapped
    // ring 0 in the kernel's tables (identity) and handed out once.
    let (l1, l2) = unsafe {
        (
            &mut *(l1_pa as *mut Table),
            core::slice::from_raw_parts_mut(l2_pa as *mut Table, SERVICE_L2_TABLES),
        )
    };
    let window = pte_window(index as u32 + 1);
    let mut tables = PageTables::new(l1, l1_pa, l2, l2_pa, window)?;
    // Kernel code, data and the frame pool: the kernel's own L2 tables.
    let mut va = 0;
    while va < USER_POOL_BASE + USER_POOL_SIZE {
        tables.share(va, kernel.l1_entry(va).pa())?;
        va += L2_SPAN;
    }
    let placements = addrspace::load(service, &mut tables, pool)?;
    for placement in &placements {
        // SAFETY: the placement's frames come from the pool (identity
        // mapped, ring 0, writable) and belong to this service alone.
        let memory = unsafe {
            core::slice::from_raw_parts_mut(placement.pa as *mut u8, placement.len as usize)
        };
        memory.fill(0);
        if let Some((offset, size)) = placement.file {
            let bytes = blob
                .get(offset as usize..(offset + size) as usize)
                .ok_or(addrspace::LoadError::BadSegment(placement.va))?;
            memory[..bytes.len()].copy_from_slice(bytes);
        }
    }
    let asid = u32::from(FIRST_SERVICE_ASID) + index as u32;
    let space = SpaceRegs {
        ptevaddr: window,
        rasid: 0xFFFE_0001 | (asid << 8),
        l1_pte: tables.l1_entry(window).0,
        l1_pin: (tables.pte_vaddr(window) & !(PAGE_SIZE - 1)) | 7,
        l2_pte: tables.l1_entry(KERNEL_BASE).0,
        l2_pin: (tables.pte_vaddr(KERNEL_BASE) & !(PAGE_SIZE - 1)) | 8,
    };
    let mut frame = TrapFrame::default();
    frame.pc = service.entry;
    frame.a[1] = USER_STACK_TOP;
    frame.a[2] = service.arg;
    // Ring 1, user vector, EXCM set until `rfe`, every interrupt enabled.
    frame.ps = ps::UM | (1 << ps::RING_SHIFT) | ps::EXCM;
    let stack_guard = USER_STACK_TOP - service.stack_size - PAGE_SIZE;
    Ok(Slot {
        name: service.name.clone(),
        frame,
        tables,
        space,
        stack_guard,
        console: LinePrefixer::default(),
        ending: None,
    })
}

fn switch_to(thread: ThreadId) {
    if ACTIVE.with(|active| *active) == Some(thread) {
        return;
    }
    let space = SLOTS.with(|slots| slots[thread].space);
    arch::switch_space(
        space.ptevaddr,
        space.rasid,
        space.l1_pte,
        space.l1_pin,
        space.l2_pte,
        space.l2_pin,
    );
    ACTIVE.with(|active| *active = Some(thread));
}

/// Pick the next thread, idling until one is ready; switch to its address
/// space and return its frame. Shuts the system down when every service
/// has ended.
pub fn next_frame() -> *mut TrapFrame {
    loop {
        if let Some(thread) = SCHED.with(|sched| sched.schedule()) {
            switch_to(thread);
            return SLOTS.with(|slots| &mut slots[thread].frame as *mut TrapFrame);
        }
        if SCHED.with(|sched| sched.all_ended()) {
            crate::shutdown_after_services();
        }
        arch::wait_for_interrupt();
    }
}

/// A summary of how services ended: (exited 0, exited non-zero, panicked, faulted).
pub fn endings() -> (u32, u32, u32, u32) {
    SLOTS.with(|slots| {
        let mut counts = (0, 0, 0, 0);
        for slot in slots.iter() {
            match slot.ending {
                Some(Ending::Exited(0)) => counts.0 += 1,
                Some(Ending::Exited(_)) => counts.1 += 1,
                Some(Ending::Panicked) => counts.2 += 1,
                Some(Ending::Faulted) => counts.3 += 1,
                None => {}
            }
        }
        counts
    })
}

struct ServiceEnv<'s> {
    slot: &'s mut Slot,
}

impl Env for ServiceEnv<'_> {
    fn tables(&self) -> &PageTables<'_> {
        &self.slot.tables
    }

    fn user_bytes(&self, slice: UserSlice) -> &[u8] {
        // SAFETY: `slice` passed `check_user` against this service's
        // tables, which are the active ones during its system call: every
        // page is mapped and readable, and the kernel (ring 0) may read it.
        unsafe { core::slice::from_raw_parts(slice.ptr as *const u8, slice.len as usize) }
    }

    fn console(&mut self, bytes: &[u8]) {
        let Slot { name, console, .. } = &mut *self.slot;
        console.write(name, bytes, arch::console_write);
    }

    fn panic_message(&mut self, message: Result<&[u8], Error>) {
        match message {
            Ok(text) => kprintln!(
                "service {} panicked: {}",
                self.slot.name,
                core::str::from_utf8(text).unwrap_or("(message is not UTF-8)")
            ),
            Err(error) => kprintln!(
                "service {} panicked (message unreadable: {})",
                self.slot.name,
                error.describe()
            ),
        }
    }

    fn cycles(&self) -> u32 {
        arch::read_ccount()
    }

    fn ticks(&self) -> u64 {
        crate::tick_state().0
    }

    fn tick_hz(&self) -> u32 {
        crate::tick_state().1
    }
}

fn end_service(thread: ThreadId, ending: Ending) {
    SLOTS.with(|slots| slots[thread].ending = Some(ending));
    SCHED.with(|sched| sched.end(thread));
}

/// Handle a system call of `thread`, whose frame is `frame`.
fn on_syscall(thread: ThreadId, frame: &mut TrapFrame) {
    frame.pc = frame.pc.wrapping_add(3);
    // A `syscall` ending a zero-overhead loop: continue the loop.
    if frame.lcount != 0 && frame.pc == frame.lend {
        frame.lcount -= 1;
        frame.pc = frame.lbeg;
    }
    let args = [frame.a[3], frame.a[4], frame.a[5], frame.a[6]];
    let effect = SLOTS.with(|slots| {
        let mut env = ServiceEnv {
            slot: &mut slots[thread],
        };
        syscall::dispatch(frame.a[2], args, &mut env)
    });
    match effect {
        Effect::Return { status, value } => {
            frame.a[2] = status;
            frame.a[3] = value;
        }
        Effect::Yield => {
            frame.a[2] = 0;
            SCHED.with(|sched| sched.yield_current());
        }
        Effect::Sleep { ticks: count } => {
            frame.a[2] = 0;
            let now = crate::tick_state().0;
            SCHED.with(|sched| sched.sleep_current(now + count));
        }
        Effect::Exit { code } => {
            let name = SLOTS.with(|slots| slots[thread].name.clone());
            kprintln!("service {name} exited with status {code}");
            end_service(thread, Ending::Exited(code));
        }
        Effect::Panic => end_service(thread, Ending::Panicked),
    }
}

/// Stop `thread` after a fault and say why, in one line.
fn on_fault(thread: ThreadId, report: FaultReport) {
    let (name, guard) = SLOTS.with(|slots| (slots[thread].name.clone(), slots[thread].stack_guard));
    let overflow = match report.cause {
        ExceptionCause::LoadProhibited
        | ExceptionCause::StoreProhibited
        | ExceptionCause::LoadStoreTlbMiss
            if (guard..guard + PAGE_SIZE).contains(&report.address) =>
        {
            " (stack overflow into the guard page)"
        }
        _ => "",
    };
    kprintln!(
        "service {name} stopped: {}: {} at PC={:#010x} address={:#010x}{overflow}",
        report.cause.name(),
        report.cause.explain(),
        report.pc,
        report.address
    );
    end_service(thread, Ending::Faulted);
}

/// Called by `_user_exception` with the running thread's saved frame;
/// returns the frame of the thread to run next.
#[unsafe(no_mangle)]
extern "C" fn sotto_user_trap(frame: &mut TrapFrame) -> *mut TrapFrame {
    let Some(thread) = SCHED.with(|sched| sched.current()) else {
        crate::fatal("user trap with no current thread");
    };
    match ExceptionCause::from_raw(frame.exccause) {
        ExceptionCause::Syscall => on_syscall(thread, frame),
        ExceptionCause::Level1Interrupt => crate::on_interrupts(),
        cause => on_fault(
            thread,
            FaultReport {
                cause,
                pc: frame.pc,
                address: frame.excvaddr,
                ps: frame.ps & !ps::EXCM,
            },
        ),
    }
    next_frame()
}

/// Enter the first service. Never returns: from here on the kernel runs
/// only in traps.
pub fn start() -> ! {
    let frame = next_frame();
    arch::enter_user(frame)
}
