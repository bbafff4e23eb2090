//! Services on the hardware: building their address spaces from the boot
//! manifest, the kernel objects they share, entering and leaving user mode.
//! What system calls, ticks and faults do is decided by the portable
//! [`Kernel`]; this file gives it the machine.

use core::ptr::addr_of;

use heapless::String;
use sotto_abi::ExceptionCause;
use sotto_abi::layout::{
    FIRST_SERVICE_ASID, L2_SPAN, PAGE_SIZE, USER_POOL_BASE, USER_POOL_SIZE, USER_STACK_TOP,
};
use sotto_abi::manifest::{
    MANIFEST_SIZE, MAX_NAME, ManifestError, ManifestReader, ObjectParams, Service as ServiceDesc,
};
use sotto_abi::supervise::{FaultKind, ServiceState};
use sotto_kernel::addrspace::{self, FramePool, LoadError};
use sotto_kernel::arch::xtensa as arch;
use sotto_kernel::cap::layout as cap_layout;
use sotto_kernel::console::{Message, Part, Piece, Text};
use sotto_kernel::fastpath::{FastWords, Light, SpaceWords, ThreadEntry};
use sotto_kernel::kernel::{Ending, Hardware, Kernel, Object, Service, Thread};
use sotto_kernel::pagetable::{PageTables, Table};
use sotto_kernel::sched::ThreadId;
use sotto_kernel::supervise::Action;
use sotto_kernel::trap::{FaultReport, TrapFrame, light, ps};
use sotto_kernel::{describe, kprintln, text};

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

    fn console_line(&mut self, line: &Text<'_>) {
        sotto_kernel::console::kernel_line(line);
    }

    fn cycles(&self) -> u32 {
        arch::read_ccount()
    }

    // Boot code: the loader's (the kernel's own copies are inlined, also
    // into its callers compiled for size).
    #[inline(always)]
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.services_phys")
    )]
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

    fn priority_changed(&mut self, thread: ThreadId, priority: u8) {
        sotto_fast.with(|fast| {
            if let Some(entry) = fast.threads.get_mut(thread) {
                entry.set_priority(priority);
            }
        });
    }

    fn clock_holders(&mut self, holders: u32) {
        sotto_fast.with(|fast| fast.clock_holders = holders);
    }

    fn dai_io(&mut self, file: u32, io: sotto_kernel::dai::Io, pa: u32, len: u32) -> u32 {
        crate::dma::io(file, io, pa, len)
    }
}

/// The kernel state.
pub static KERNEL: Global<Kernel<Machine>> = Global::new(Kernel::new(Machine, 1000));

/// The words the entry's fast paths read (the frame the user vector saves
/// into, the active thread and its row of fast words, where the
/// scheduler, the tick count and the clock holders are, the urgent masks,
/// each thread's entry); the assembly reads and writes them.
#[unsafe(no_mangle)]
static sotto_fast: Global<FastWords> = Global::new(FastWords {
    current_frame: 0,
    clock_holders: 0,
    sched: 0,
    ticks: 0,
    threads: [ThreadEntry::NONE; sotto_abi::manifest::MAX_THREADS],
});

/// The capability slots (`CapSpaces::slots`) and their child counts
/// (`CapSpaces::children`), for the entry's express `Call` carrying a
/// capability and `CapDelete` (set at boot).
#[unsafe(no_mangle)]
static sotto_cap_slots: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static sotto_cap_children: Global<u32> = Global::new(0);

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

#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.services_section")
)]
fn section(start: &u8, end: &u8) -> &'static [u8] {
    let start = start as *const u8;
    let len = end as *const u8 as usize - start as usize;
    // SAFETY: the linker script brackets the section with these symbols;
    // it is read-only data that lives as long as the kernel.
    unsafe { core::slice::from_raw_parts(start, len) }
}

/// Make the manifest's objects, then load every service into its own
/// address space. Returns how many services there are.
#[optimize(size)]
#[inline(never)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.services_load_all")
)]
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
    KERNEL.with(|kernel| {
        kernel.tick_hz = tick_hz;
        // Where the entry's fast paths find the scheduler and the tick
        // count (the kernel is a static: they never move).
        sotto_fast.with(|fast| {
            fast.sched = core::ptr::from_ref(&kernel.sched) as u32;
            fast.ticks = core::ptr::from_ref(&kernel.ticks) as u32;
        });
        let caps = core::ptr::from_ref(&kernel.caps) as u32;
        sotto_cap_slots.with(|word| *word = caps + cap_layout::SLOTS);
        sotto_cap_children.with(|word| *word = caps + cap_layout::CHILDREN);
    });
    while let Some(object) = reader.next_object() {
        load_object(&object.map_err(LoadFailure::Manifest)?, &mut pool, blob)?;
    }
    let mut count = 0;
    while let Some(service) = reader.next_service() {
        let service = service.map_err(LoadFailure::Manifest)?;
        load_service(count, &service, kernel_tables, &mut pool, blob)?;
        count += 1;
    }
    // The further threads after every main thread (whose numbers are
    // their services'): a second pass over the manifest.
    let mut reader = ManifestReader::new(bytes).map_err(LoadFailure::Manifest)?;
    let mut index = 0;
    while let Some(service) = reader.next_service() {
        let service = service.map_err(LoadFailure::Manifest)?;
        load_threads(index, &service)?;
        index += 1;
    }
    let objects = KERNEL.with(|kernel| kernel.objects.len());
    kprintln!(
        "services: ",
        count,
        " loaded, ",
        objects,
        " objects, ",
        pool.free() / 1024,
        " KiB of the pool left"
    );
    Ok(count)
}

/// Make one object of the manifest (the pool hands out its memory).
#[optimize(size)]
#[inline(never)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.services_load_object")
)]
fn load_object(
    object: &sotto_abi::manifest::Object,
    pool: &mut FramePool,
    blob: &[u8],
) -> Result<(), LoadFailure> {
    let size = match object.params {
        ObjectParams::Memory { size, .. } => Some(size),
        _ => None,
    };
    // One object at a time, in the order `addrspace::place_regions` uses.
    let pa = addrspace::place_regions(core::iter::once(size), pool)
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
    if let ObjectParams::Dai(params) = &object.params {
        crate::dma::declare(&object.name, params);
    }
    let made = Object::new(&object.params, pa, 0);
    if KERNEL.with(|kernel| kernel.add_object(made)).is_err() {
        return Err(LoadFailure::Object(
            object.name.clone(),
            LoadError::OutOfMemory,
        ));
    }
    Ok(())
}

/// Load service `index` into its own address space, give it its
/// capabilities and say so.
#[optimize(size)]
#[inline(never)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.services_load_service")
)]
fn load_service(
    index: usize,
    service: &ServiceDesc,
    kernel_tables: &PageTables<'static>,
    pool: &mut FramePool,
    blob: &[u8],
) -> Result<(), LoadFailure> {
    let space = load_one(index, service, kernel_tables, pool, blob)?;
    KERNEL.with(|kernel| {
        let entry = ThreadEntry::new(
            index as sotto_kernel::kernel::ThreadNo,
            core::ptr::from_ref(&kernel.threads[index]) as u32,
            space,
            service.priority,
        );
        sotto_fast.with(|fast| fast.threads[index] = entry);
    });
    say_loaded(
        ("service ", &service.name, ""),
        (service.priority, service.entry, service.stack_size),
        &text![
            ", ASID ",
            (space[1] >> 8) & 0xFF,
            ", ",
            service.caps.len(),
            " capabilities"
        ],
    );
    Ok(())
}

/// The boot line of a service or thread: `kind`, its service's name and
/// its own (`""` for a service), its priority, entry and stack size, then
/// `rest`.
#[optimize(size)]
#[inline(never)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.services_say_loaded")
)]
fn say_loaded(
    (kind, service, own): (&str, &str, &str),
    (priority, entry, stack): (u8, u32, u32),
    rest: &Text<'_>,
) {
    let slash = if own.is_empty() { "" } else { "/" };
    kprintln!(
        kind,
        service,
        slash,
        own,
        ": priority ",
        // (As a u32: the u8 conversion would be resident code only boot
        // calls.)
        u32::from(priority),
        ", entry ",
        Piece::Hex(entry),
        ", stack ",
        stack / 1024,
        " KiB",
        rest
    );
}

#[optimize(size)]
#[inline(never)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.services_load_one")
)]
fn load_one(
    index: usize,
    service: &ServiceDesc,
    kernel_tables: &PageTables<'static>,
    pool: &mut FramePool,
    blob: &[u8],
) -> Result<SpaceWords, LoadFailure> {
    // (A function, not a closure: a closure would be resident code.)
    let failed = |error| failed_service(service, error);
    // Kernel code, data and the frame pool: the kernel's own L2 tables.
    let mut shared: heapless::Vec<(u32, u32), 4> = heapless::Vec::new();
    let mut va = 0;
    while va < USER_POOL_BASE + USER_POOL_SIZE {
        let _ = shared.push((va, kernel_tables.l1_entry(va).pa()));
        va += L2_SPAN;
    }
    let space = addrspace::build_space(service, index as u32, pool, &shared, service_tables)
        .map_err(failed)?;
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
                .ok_or(LoadError::BadSegment(placement.va))
                .map_err(failed)?;
            memory[..bytes.len()].copy_from_slice(bytes);
        }
    }
    let window = tables.ptevaddr();
    let asid = u32::from(FIRST_SERVICE_ASID) + index as u32;
    // PTEVADDR and RASID (`SpaceWords`); its L1 is pinned on demand.
    // SAFETY: these tables' frames are taken from the pool for good, and
    // `window` is theirs (`build_space`).
    unsafe { arch::register_l1(window, tables.l1_entry(window)) };
    let space = [window, 0xFFFE_0001 | (asid << 8)];
    let frame = TrapFrame::entry(service.entry, USER_STACK_TOP, service.arg);
    let loaded = Service {
        name: service.name.clone(),
        tables: Some(tables),
        ipc_buffer,
        ending: None,
        thread_mask: 0,
        threads: 0,
        regions: heapless::Vec::new(),
        pad: [0; sotto_kernel::kernel::SERVICE_PAD],
    };
    let guard = USER_STACK_TOP - service.stack_size - PAGE_SIZE;
    let main = Thread::new(frame, index, 0, guard, "");
    KERNEL
        .with(|kernel| {
            kernel
                .add_service(loaded, main, service.priority, &service.caps)
                .map(|_| kernel.set_supervision(index, service.supervision))
        })
        .map_err(|error| LoadFailure::Grant(service.name.clone(), error))?;
    Ok(space)
}

/// Add the further threads of service `index` (loaded): each with its own
/// stack (mapped by `load_one`), sharing the service's address space,
/// with no fast words of its own (`Kernel::fast_none`).
#[optimize(size)]
#[inline(never)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.services_load_threads")
)]
fn load_threads(index: usize, service: &ServiceDesc) -> Result<(), LoadFailure> {
    let stacks = addrspace::stacks(service).map_err(|error| failed_service(service, error))?;
    let space = sotto_fast.with(|fast| fast.threads[index].space);
    for (number, thread) in service.threads.iter().enumerate() {
        let (bottom, top) = stacks[number + 1];
        let frame = TrapFrame::entry(thread.entry, top, thread.arg);
        let made = Thread::new(frame, index, number + 1, bottom - PAGE_SIZE, &thread.name);
        let id = KERNEL
            .with(|kernel| kernel.add_thread(made, thread.priority, thread.max_priority))
            .map_err(|error| LoadFailure::Grant(service.name.clone(), error))?;
        KERNEL.with(|kernel| {
            let entry = ThreadEntry::new(
                id as sotto_kernel::kernel::ThreadNo,
                core::ptr::from_ref(&kernel.threads[id]) as u32,
                space,
                thread.priority,
            );
            sotto_fast.with(|fast| {
                fast.threads[id % sotto_abi::manifest::MAX_THREADS] = entry;
                // Its service's main thread is alone no more.
                fast.threads[index % sotto_abi::manifest::MAX_THREADS].alone = 0;
            });
        });
        say_loaded(
            ("thread ", &service.name, &thread.name),
            (thread.priority, thread.entry, thread.stack_size),
            &text![],
        );
    }
    Ok(())
}

/// Loading `service` failed with `error`.
#[inline(never)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.services_failed_service")
)]
fn failed_service(service: &ServiceDesc, error: LoadError) -> LoadFailure {
    LoadFailure::Service(service.name.clone(), error)
}

/// A service's page tables in the frames `build_space` took for them (a
/// named function, not a closure, so that it can be boot code).
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.services_service_tables")
)]
fn service_tables(
    l1_pa: u32,
    l2_pa: u32,
    window: u32,
) -> Result<PageTables<'static>, sotto_kernel::pagetable::MapError> {
    // SAFETY: the frames were just taken from the pool, which is mapped
    // ring 0 in the kernel's tables (identity) and handed out once.
    let (l1, l2) = unsafe {
        (
            &mut *(l1_pa as *mut Table),
            core::slice::from_raw_parts_mut(l2_pa as *mut Table, SERVICE_L2_TABLES),
        )
    };
    PageTables::new(l1, l1_pa, l2, l2_pa, window)
}

fn switch_to(thread: ThreadId) {
    let space = sotto_fast.with(|fast| {
        let entry = &fast.threads[thread % sotto_abi::manifest::MAX_THREADS];
        if entry.thread == 0 {
            crate::fatal("a thread without an address space");
        }
        entry.space
    });
    // RASID names the space in the MMU (each has its own ring-1 ASID):
    // no shadow word for the express paths to keep in step.
    if arch::read_rasid() != space[1] {
        arch::switch_space(&space);
    }
    sotto_kernel::trace::switch(Some(thread));
}

/// Pick the next thread, idling until one is ready; switch to its address
/// space and return its frame. Shuts the system down when every service
/// has ended. Idling does not return here: the interrupt that ends it
/// comes back through `sotto_idle_interrupt`, so nothing may be live on
/// the caller's stack.
pub fn next_frame() -> *mut TrapFrame {
    if KERNEL.with(|kernel| kernel.action_pending()) {
        crate::act();
    }
    let next = KERNEL.with(|kernel| kernel.sched.schedule());
    // The earliest deadline or the need for a time slice may have
    // changed: every path back to a thread or to idle passes here.
    crate::timer_after_schedule();
    if let Some(thread) = next {
        switch_to(thread);
        return KERNEL.with(|kernel| &mut kernel.threads[thread].frame as *mut TrapFrame);
    }
    if KERNEL.with(|kernel| kernel.sched.all_ended()) {
        crate::shutdown_after_services();
    }
    sotto_kernel::trace::switch(None);
    crate::prepare_idle();
    arch::idle()
}

/// One line per service still running, saying what it waits for (exit
/// code: see `sotto_exit_gate`).
#[inline(never)]
#[cold]
#[optimize(size)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_exit.services_report_running")
)]
pub fn report_running() {
    KERNEL.with(|kernel| {
        for index in 0..kernel.threads.len() {
            if kernel.services[kernel.space(index)].ending.is_some() {
                continue;
            }
            let (wait, state) = (kernel.threads[index].wait, kernel.sched.state(index));
            let Kernel {
                threads,
                services,
                hw,
                ..
            } = kernel;
            let (service, slash, own) = sotto_kernel::kernel::names(threads, services, index);
            hw.console_line(&text![
                "  ",
                service,
                slash,
                own,
                ": ",
                &describe::thread_state(state),
                ", waiting for ",
                &describe::wait(wait)
            ]);
        }
    });
}

/// How services ended: (exited 0, exited non-zero, panicked, faulted)
/// (exit code).
#[inline(never)]
#[optimize(size)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_exit.services_endings")
)]
pub fn endings() -> (u32, u32, u32, u32) {
    KERNEL.with(|kernel| {
        let mut counts = (0, 0, 0, 0);
        for (space, service) in kernel.services.iter().enumerate() {
            if kernel.supervision[space].state == ServiceState::Faulted {
                counts.3 += 1;
                continue;
            }
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

/// Stop `thread` after a fault and say why, in one line (out of the
/// system-call path).
#[inline(never)]
#[cold]
#[optimize(size)]
fn on_fault(kernel: &mut Kernel<Machine>, thread: ThreadId, report: FaultReport) {
    let guard = kernel.threads[thread].stack_guard;
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
    let address = match report.cause.has_address() {
        true => Message::one(&[Part::Str(" address="), Part::Hex], report.address.into()),
        false => Message::plain(&[]),
    };
    kernel.say(
        thread,
        &text![
            " stopped: ",
            report.cause.name(),
            ": ",
            report.cause.explain(),
            " at PC=",
            Piece::Hex(report.pc),
            &address,
            overflow
        ],
    );
    kernel.note_fault(
        thread,
        FaultKind::Exception,
        report.cause.raw(),
        report.pc,
        report.address,
    );
}

/// Inject a fault into `thread` (`cargo xtask run --fault`), as if it had
/// taken an exception where it is: its service stops and its supervisor
/// hears of it. A thread whose service is not running is left alone.
/// Cold code (the gate maps it).
#[inline(never)]
#[optimize(size)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_exit.services_inject_fault")
)]
pub fn inject_fault(thread: ThreadId) {
    KERNEL.with(|kernel| {
        if thread >= kernel.threads.len()
            || kernel.supervision[kernel.space(thread)].state != ServiceState::Running
        {
            kprintln!(
                "fault injection: thread ",
                thread,
                " is not running; nothing injected"
            );
            return;
        }
        let pc = kernel.threads[thread].frame.pc;
        kernel.say(
            thread,
            &text![" stopped: injected fault (--fault) at PC=", Piece::Hex(pc)],
        );
        kernel.note_fault(thread, FaultKind::Injected, 0, pc, 0);
    });
    cold_action();
}

/// Carry out what the portable kernel asked for (cold code): route a
/// fault, answer a supervision call (and restart), until nothing is left
/// but, possibly, the stop after a supervisor's fault, which the gate's
/// caller does.
#[inline(never)]
#[optimize(size)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_exit.services_cold_action")
)]
pub fn cold_action() {
    loop {
        let action = KERNEL.with(|kernel| {
            let action = kernel.take_action();
            if matches!(action, Action::SupervisorFaulted) {
                // For the gate's caller.
                kernel.put_action(action);
            }
            action
        });
        match action {
            Action::None | Action::SupervisorFaulted => return,
            Action::Fault(thread) => {
                KERNEL.with(|kernel| {
                    let fault = kernel.supervision[kernel.space(thread)].fault;
                    sotto_kernel::trace::record(sotto_kernel::trace::Event::Fault {
                        thread,
                        kind: fault.kind as u16,
                        cause: fault.cause,
                        pc: fault.pc,
                    });
                    kernel.route_fault(thread)
                });
            }
            Action::Inject => crate::inject_faults(),
            Action::Call(thread) => {
                if let Some(space) = KERNEL.with(|kernel| kernel.supervise_call(thread)) {
                    restart(space);
                }
            }
        }
    }
}

/// Restart service `space` from the manifest and the image (cold code:
/// the exit gate maps it to run it). Says so in one line, with the cycle
/// counter, so the time from a fault to the restart can be read off.
#[inline(never)]
#[optimize(size)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_exit.services_restart")
)]
pub fn restart(space: usize) {
    // SAFETY: only the addresses of the linker symbols are taken.
    let blob = unsafe {
        section(
            &*addr_of!(_sotto_services_start),
            &*addr_of!(_sotto_services_end),
        )
    };
    // SAFETY: written once at boot (`load_all`), only read since.
    let bytes: &'static [u8] =
        MANIFEST_COPY.with(|bytes| unsafe { &*(bytes as *const [u8; MANIFEST_SIZE]) });
    let desc = ManifestReader::new(bytes)
        .ok()
        .and_then(|mut reader| reader.service(space as u32)?.ok());
    let Some(desc) = desc else {
        crate::fatal("a restarted service is not in the manifest");
    };
    let params = |object: u16| {
        let declared = ManifestReader::new(bytes).ok()?.object(u32::from(object))?;
        declared.ok().map(|declared| declared.params)
    };
    KERNEL.with(|kernel| {
        let result = kernel.restart(space, &desc, blob, &params);
        let restarts = u32::from(kernel.supervision[space].restarts);
        if result.is_ok() {
            sotto_kernel::trace::record(sotto_kernel::trace::Event::Restart {
                service: space,
                restarts,
            });
        }
        let now = kernel.now();
        let at = arch::read_ccount();
        let since = at.wrapping_sub(kernel.supervision[space].fault_cycles);
        match result {
            Ok(()) => kernel.say(
                space,
                &text![
                    " restarted (restart ",
                    restarts,
                    ") at tick ",
                    now,
                    ", ccount ",
                    at,
                    ", ",
                    since,
                    " cycles after its last fault"
                ],
            ),
            Err(error) => kernel.say(space, &text![" could not be restarted: ", error.describe()]),
        }
    });
}

/// Called by `_user_exception` with the running thread's saved frame
/// (inside the kernel state); returns the frame of the thread to run next.
#[unsafe(no_mangle)]
#[optimize(size)]
extern "C" fn sotto_user_trap(_frame: *mut TrapFrame) -> *mut TrapFrame {
    let interrupt = KERNEL.with(|kernel| {
        // CPU time up to here goes to the thread that trapped (and to it
        // what the express paths ran since the last account).
        kernel.sched.account(arch::read_ccount());
        let Some(thread) = kernel.sched.current() else {
            crate::fatal("user trap with no current thread");
        };
        let frame = &mut kernel.threads[thread].frame;
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

/// The seventh argument register (a8) of a light system call, stored here
/// by `_syscall_light` (it does not fit the six register arguments).
#[unsafe(no_mangle)]
static mut sotto_light_a8: u32 = 0;

/// The light system-call path (`_syscall_light`): the portable kernel
/// decides; this gives the assembly its answer in a2 (status, or a
/// [`light`] marker) and a3 (value, or the frame to run). (The entry
/// answers the null call itself: status 0, value 0, as
/// [`Kernel::light_syscall`] would.)
#[unsafe(no_mangle)]
#[optimize(size)]
extern "C" fn sotto_syscall(number: u32, a3: u32, a4: u32, a5: u32, a6: u32, a7: u32) -> u64 {
    let pack = |a2: u32, a3: u32| u64::from(a2) | (u64::from(a3) << 32);
    // SAFETY: written by the trap entry before this call; nothing else
    // writes it, and the kernel runs on one core without nesting.
    let a8 = unsafe { *(&raw const sotto_light_a8) };
    let light = KERNEL.with(|kernel| {
        // CPU time up to here goes to the caller (and to it what the
        // express paths ran since the last account).
        kernel.sched.account(arch::read_ccount());
        kernel.light_syscall(number, [a3, a4, a5, a6, a7, a8])
    });
    // A light call may have woken, blocked or switched threads: the alarm
    // (deadlines, time slices) follows, as on every path through
    // `next_frame`.
    crate::timer_after_schedule();
    let (marker, thread) = match light {
        Light::Return(status, value) => return pack(status, value),
        Light::Slow => return pack(light::SLOW, 0),
        Light::Idle => return pack(light::SWITCH, 0),
        Light::Resume(thread) => (light::SWITCH, thread),
        Light::Handoff(thread) => (light::HANDOFF, thread),
    };
    // One switch for both (inlined twice, it was twice the code).
    switch_to(thread);
    let frame = KERNEL.with(|kernel| &raw mut kernel.threads[thread].frame);
    pack(marker, frame as u32)
}

/// The light path found no thread ready (its caller is saved): idle with
/// interrupts open until one is, and return its frame.
#[unsafe(no_mangle)]
extern "C" fn sotto_idle() -> *mut TrapFrame {
    next_frame()
}

/// Called by `_kernel_exception` for an interrupt taken while idle
/// ([`arch::idle`]) with no express tick committed for it, on the empty
/// kernel stack, PS.EXCM clear and interrupts masked: handle it, return
/// the frame of the thread to run.
#[unsafe(no_mangle)]
extern "C" fn sotto_idle_interrupt() -> *mut TrapFrame {
    // The CPU idled: nobody is charged for it.
    KERNEL.with(|kernel| kernel.sched.count_from(arch::read_ccount()));
    crate::on_interrupts();
    next_frame()
}

/// Enter the first service. Never returns: from here on the kernel runs
/// only in traps.
pub fn start() -> ! {
    KERNEL.with(|kernel| kernel.sched.count_from(arch::read_ccount()));
    let frame = next_frame();
    arch::enter_user(frame)
}

/// Say why loading failed, in one `BOOT FAILED` line.
#[inline(never)]
#[cold]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.services_report_failure")
)]
pub fn report_failure(failure: &LoadFailure) {
    match failure {
        LoadFailure::Manifest(error) => kprintln!("BOOT FAILED: ", &error.message()),
        LoadFailure::Object(name, error) => {
            kprintln!("BOOT FAILED: object ", name, ": ", &error.message())
        }
        LoadFailure::Service(name, error) => {
            kprintln!("BOOT FAILED: service ", name, ": ", &error.message())
        }
        LoadFailure::Grant(name, error) => kprintln!(
            "BOOT FAILED: service ",
            name,
            ": capabilities: ",
            error.describe()
        ),
    }
}
