//! Services on the hardware: building their address spaces from the boot
//! manifest, the kernel objects they share, entering and leaving user mode.
//! What system calls, ticks and faults do is decided by the portable
//! [`Kernel`]; this file gives it the machine.

use core::ptr::addr_of;

use heapless::String;
use sotto_abi::layout::{
    FIRST_SERVICE_ASID, KERNEL_BASE, L2_SPAN, PAGE_SIZE, USER_POOL_BASE, USER_POOL_SIZE,
    USER_STACK_TOP,
};
use sotto_abi::manifest::{
    MANIFEST_SIZE, MAX_NAME, ManifestError, ManifestReader, ObjectParams, Service as ServiceDesc,
};
use sotto_abi::{ExceptionCause, ExitCode};
use sotto_kernel::addrspace::{self, FramePool, LoadError};
use sotto_kernel::arch::xtensa as arch;
use sotto_kernel::kernel::{Ending, Hardware, Kernel, Object, Service, Wait};
use sotto_kernel::kprintln;
use sotto_kernel::pagetable::{PageTables, Table};
use sotto_kernel::sched::ThreadId;
use sotto_kernel::trap::{FaultReport, TrapFrame, ps};

use crate::Global;

unsafe extern "C" {
    static _sotto_services_start: u8;
    static _sotto_services_end: u8;
}

use sotto_kernel::addrspace::SERVICE_L2_TABLES;

/// Written by `cargo xtask build` after linking (see `sotto_image`).
#[unsafe(link_section = ".sotto.manifest")]
#[used]
static MANIFEST: [u8; MANIFEST_SIZE] = [0; MANIFEST_SIZE];

/// Where the manifest is read to (kept off the kernel stack).
static MANIFEST_COPY: Global<[u8; MANIFEST_SIZE]> = Global::new([0; MANIFEST_SIZE]);

/// The machine as the portable kernel sees it.
pub struct Machine;

impl Hardware for Machine {
    fn console(&mut self, service: ThreadId, name: &str, bytes: &[u8]) {
        sotto_kernel::console::service_write(service, name, bytes);
    }

    fn console_line(&mut self, args: core::fmt::Arguments<'_>) {
        sotto_kernel::console::kernel_line(args);
    }

    fn cycles(&self) -> u32 {
        arch::read_ccount()
    }

    fn phys(&mut self, pa: u32, len: u32) -> &mut [u8] {
        let in_pool = pa >= USER_POOL_BASE
            && pa
                .checked_add(len)
                .is_some_and(|end| end <= USER_POOL_BASE + USER_POOL_SIZE);
        if !in_pool {
            crate::fatal("physical access outside the service pool");
        }
        // SAFETY: the pool is mapped ring 0, identity, writable in every
        // address space; the kernel hands its frames out and is the only
        // code running, so no other reference to these bytes is live.
        unsafe { core::slice::from_raw_parts_mut(pa as *mut u8, len as usize) }
    }

    fn flush_tlb(&mut self) {
        arch::flush_tlb();
    }

    fn ticks(&mut self) -> Option<u64> {
        Some(crate::current_tick())
    }
}

/// The kernel state.
pub static KERNEL: Global<Kernel<Machine>> = Global::new(Kernel::new(Machine, 1000));

/// The address space currently in the MMU (`None`: the boot tables).
static ACTIVE: Global<Option<ThreadId>> = Global::new(None);

/// The frame the user vector saves into; the assembly reads and writes it.
#[unsafe(no_mangle)]
static mut sotto_current_frame: *mut TrapFrame = core::ptr::null_mut();

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

static SPACES: Global<[Option<SpaceRegs>; sotto_abi::manifest::MAX_SERVICES]> =
    Global::new([None; sotto_abi::manifest::MAX_SERVICES]);

/// Why the services could not be loaded.
pub enum LoadFailure {
    /// The manifest section does not decode.
    Manifest(ManifestError),
    /// An object could not be made.
    Object(String<MAX_NAME>, LoadError),
    /// A service could not be placed.
    Service(String<MAX_NAME>, LoadError),
    /// A service's capabilities could not be installed.
    Grant(String<MAX_NAME>, sotto_abi::Error),
}

fn section(start: &u8, end: &u8) -> &'static [u8] {
    let start = start as *const u8;
    let len = end as *const u8 as usize - start as usize;
    // SAFETY: the linker script brackets the section with these symbols;
    // it is read-only data that lives as long as the kernel.
    unsafe { core::slice::from_raw_parts(start, len) }
}

/// Make the manifest's objects, then load every service into its own
/// address space. Returns how many services there are.
pub fn load_all(kernel_tables: &PageTables<'static>, tick_hz: u32) -> Result<usize, LoadFailure> {
    // SAFETY: only the addresses of the linker symbols are taken.
    let blob = unsafe {
        section(
            &*addr_of!(_sotto_services_start),
            &*addr_of!(_sotto_services_end),
        )
    };
    MANIFEST_COPY.with(|bytes| {
        for (i, byte) in bytes.iter_mut().enumerate() {
            // SAFETY: reading within the static; volatile because xtask
            // writes it after compilation, so the compiler must not assume
            // zeros.
            *byte = unsafe { core::ptr::read_volatile(MANIFEST.as_ptr().add(i)) };
        }
    });
    // SAFETY: MANIFEST_COPY is written above and only read from here on.
    let bytes: &'static [u8] =
        MANIFEST_COPY.with(|bytes| unsafe { &*(bytes as *const [u8; MANIFEST_SIZE]) });
    let mut reader = ManifestReader::new(bytes).map_err(LoadFailure::Manifest)?;
    let mut pool = FramePool::new(USER_POOL_BASE, USER_POOL_SIZE);
    KERNEL.with(|kernel| kernel.tick_hz = tick_hz);
    while let Some(object) = reader.next_object() {
        let object = object.map_err(LoadFailure::Manifest)?;
        let size = match object.params {
            ObjectParams::Memory { size, .. } => Some(size),
            _ => None,
        };
        // One object at a time, in the order `addrspace::place_regions` uses.
        let pa = addrspace::place_regions(core::iter::once(size), &mut pool)
            .map_err(|error| LoadFailure::Object(object.name.clone(), error))?[0];
        if let Some(size) = size {
            let mut machine = Machine;
            let memory = machine.phys(pa, size);
            memory.fill(0);
            if let ObjectParams::Memory {
                init: Some((offset, len)),
                ..
            } = object.params
            {
                // The manifest is checked like a service's segments: a
                // range outside the blob or larger than the object fails.
                let bytes = offset
                    .checked_add(len)
                    .and_then(|end| blob.get(offset as usize..end as usize))
                    .filter(|bytes| bytes.len() <= memory.len())
                    .ok_or(LoadFailure::Object(
                        object.name.clone(),
                        LoadError::BadContents(offset, len),
                    ))?;
                memory[..bytes.len()].copy_from_slice(bytes);
            }
        }
        let made = Object::new(&object.params, pa, 0);
        if KERNEL.with(|kernel| kernel.add_object(made)).is_err() {
            return Err(LoadFailure::Object(object.name, LoadError::OutOfMemory));
        }
    }
    let mut count = 0;
    while let Some(service) = reader.next_service() {
        let service = service.map_err(LoadFailure::Manifest)?;
        let index = count;
        let (loaded, space) = load_one(index, &service, kernel_tables, &mut pool, blob)
            .map_err(|error| LoadFailure::Service(service.name.clone(), error))?;
        KERNEL
            .with(|kernel| kernel.add_service(loaded, service.priority, &service.caps))
            .map_err(|error| LoadFailure::Grant(service.name.clone(), error))?;
        SPACES.with(|spaces| spaces[index] = Some(space));
        kprintln!(
            "service {}: priority {}, entry {:#010x}, stack {} KiB, ASID {}, {} capabilities",
            service.name,
            service.priority,
            service.entry,
            service.stack_size / 1024,
            (space.rasid >> 8) & 0xFF,
            service.caps.len()
        );
        count += 1;
    }
    let objects = KERNEL.with(|kernel| kernel.objects.len());
    kprintln!(
        "services: {count} loaded, {objects} objects, {} KiB of the pool left",
        pool.free() / 1024
    );
    Ok(count)
}

fn load_one(
    index: usize,
    service: &ServiceDesc,
    kernel_tables: &PageTables<'static>,
    pool: &mut FramePool,
    blob: &[u8],
) -> Result<(Service, SpaceRegs), LoadError> {
    // Kernel code, data and the frame pool: the kernel's own L2 tables.
    let mut shared: heapless::Vec<(u32, u32), 4> = heapless::Vec::new();
    let mut va = 0;
    while va < USER_POOL_BASE + USER_POOL_SIZE {
        let _ = shared.push((va, kernel_tables.l1_entry(va).pa()));
        va += L2_SPAN;
    }
    let space = addrspace::build_space(
        service,
        index as u32,
        pool,
        &shared,
        |l1_pa, l2_pa, window| {
            // SAFETY: the frames were just taken from the pool, which is mapped
            // ring 0 in the kernel's tables (identity) and handed out once.
            let (l1, l2) = unsafe {
                (
                    &mut *(l1_pa as *mut Table),
                    core::slice::from_raw_parts_mut(l2_pa as *mut Table, SERVICE_L2_TABLES),
                )
            };
            PageTables::new(l1, l1_pa, l2, l2_pa, window)
        },
    )?;
    let tables = space.tables;
    let ipc_buffer = space.ipc_buffer;
    let mut machine = Machine;
    machine.phys(ipc_buffer, PAGE_SIZE).fill(0);
    for placement in &space.placements {
        let memory = machine.phys(placement.pa, placement.len);
        memory.fill(0);
        if let Some((offset, size)) = placement.file {
            let bytes = blob
                .get(offset as usize..(offset + size) as usize)
                .ok_or(LoadError::BadSegment(placement.va))?;
            memory[..bytes.len()].copy_from_slice(bytes);
        }
    }
    let window = tables.ptevaddr();
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
    let loaded = Service {
        name: service.name.clone(),
        frame,
        tables,
        stack_guard: USER_STACK_TOP - service.stack_size - PAGE_SIZE,
        ipc_buffer,
        ending: None,
        wait: Wait::None,
        reply_to: None,
        regions: heapless::Vec::new(),
    };
    Ok((loaded, space))
}

fn switch_to(thread: ThreadId) {
    if ACTIVE.with(|active| *active) == Some(thread) {
        return;
    }
    let Some(space) = SPACES.with(|spaces| spaces[thread]) else {
        crate::fatal("a thread without an address space");
    };
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
        let next = KERNEL.with(|kernel| kernel.sched.schedule());
        // The earliest deadline or the need for a time slice may have
        // changed: every path back to a thread or to idle passes here.
        crate::timer_after_schedule();
        if let Some(thread) = next {
            switch_to(thread);
            return KERNEL.with(|kernel| &mut kernel.services[thread].frame as *mut TrapFrame);
        }
        if KERNEL.with(|kernel| kernel.sched.all_ended()) {
            crate::shutdown_after_services();
        }
        arch::wait_for_interrupt();
    }
}

/// One line per service still running, saying what it waits for.
pub fn report_running() {
    KERNEL.with(|kernel| {
        for index in 0..kernel.services.len() {
            let service = &kernel.services[index];
            if service.ending.is_some() {
                continue;
            }
            let (name, wait, state) = (
                service.name.clone(),
                service.wait,
                kernel.sched.state(index),
            );
            kernel.report(format_args!("  {name}: {state:?}, waiting for {wait:?}"));
        }
    });
}

/// How services ended: (exited 0, exited non-zero, panicked, faulted).
pub fn endings() -> (u32, u32, u32, u32) {
    KERNEL.with(|kernel| {
        let mut counts = (0, 0, 0, 0);
        for service in kernel.services.iter() {
            match service.ending {
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

/// Stop `thread` after a fault and say why, in one line.
fn on_fault(kernel: &mut Kernel<Machine>, thread: ThreadId, report: FaultReport) {
    let name = kernel.services[thread].name.clone();
    let guard = kernel.services[thread].stack_guard;
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
    // EXCVADDR only where the cause defines it: elsewhere it is stale.
    let mut address: heapless::String<20> = heapless::String::new();
    if report.cause.has_address() {
        use core::fmt::Write;
        let _ = write!(address, " address={:#010x}", report.address);
    }
    kernel.report(format_args!(
        "service {name} stopped: {}: {} at PC={:#010x}{address}{overflow}",
        report.cause.name(),
        report.cause.explain(),
        report.pc,
    ));
    kernel.end_service(thread, Ending::Faulted);
}

/// Called by `_user_exception` with the running thread's saved frame
/// (inside the kernel state); returns the frame of the thread to run next.
#[unsafe(no_mangle)]
extern "C" fn sotto_user_trap(_frame: *mut TrapFrame) -> *mut TrapFrame {
    let interrupt = KERNEL.with(|kernel| {
        let Some(thread) = kernel.sched.current() else {
            crate::fatal("user trap with no current thread");
        };
        let frame = &mut kernel.services[thread].frame;
        match ExceptionCause::from_raw(frame.exccause) {
            ExceptionCause::Syscall => {
                frame.pc = frame.pc.wrapping_add(3);
                // A `syscall` ending a zero-overhead loop: continue the loop.
                if frame.lcount != 0 && frame.pc == frame.lend {
                    frame.lcount -= 1;
                    frame.pc = frame.lbeg;
                }
                kernel.syscall(thread);
                false
            }
            ExceptionCause::Level1Interrupt => true,
            cause => {
                let report = FaultReport {
                    cause,
                    pc: frame.pc,
                    address: frame.excvaddr,
                    ps: frame.ps & !ps::EXCM,
                };
                on_fault(kernel, thread, report);
                false
            }
        }
    });
    if interrupt {
        crate::on_interrupts();
    }
    next_frame()
}

/// Enter the first service. Never returns: from here on the kernel runs
/// only in traps.
pub fn start() -> ! {
    let frame = next_frame();
    arch::enter_user(frame)
}

/// Why loading failed, for the boot report.
pub fn describe(failure: &LoadFailure) -> (ExitCode, heapless::String<160>) {
    use core::fmt::Write;
    let mut text = heapless::String::new();
    let _ = match failure {
        LoadFailure::Manifest(error) => write!(text, "{error}"),
        LoadFailure::Object(name, error) => write!(text, "object {name}: {error}"),
        LoadFailure::Service(name, error) => write!(text, "service {name}: {error}"),
        LoadFailure::Grant(name, error) => {
            write!(text, "service {name}: capabilities: {}", error.describe())
        }
    };
    (ExitCode::BadManifest, text)
}
