//! Kernel self-tests, selected by the boot configuration and booted one
//! image each by the integration tests: the page tables as the hardware
//! sees them, and faults the kernel provokes on itself.

use sotto_abi::layout::{KERNEL_BASE, KERNEL_DATA_BASE, PAGE_SIZE, USER_POOL_BASE};
use sotto_abi::{ExitCode, SelfTest};
use sotto_kernel::arch::xtensa::{self as arch, KERNEL_RASID};
use sotto_kernel::pagetable::{Access, CacheMode, Mapping, PageTables, Pte};
use sotto_kernel::trap::irq;

use crate::boot::KernelLayout;

/// A kernel line formatted with `core::fmt`: the self-tests print values'
/// `Debug` forms, and are built only into the self-test kernel.
macro_rules! kprintln {
    ($($arg:tt)*) => {
        sotto_kernel::console::kernel_line_fmt(format_args!($($arg)*))
    };
}

/// Counts checks; prints each failure.
struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    fn check(&mut self, ok: bool, what: core::fmt::Arguments<'_>) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            kprintln!("page-tables: FAIL {what}");
        }
    }
}

/// RAM outside the kernel's pinned 4 MiB and the service pool, free on the
/// `sim` machine.
const SCRATCH_WRITE_BACK: u32 = 0x0100_0000;
const SCRATCH_BYPASS: u32 = 0x0140_0000;
/// Pool pages loaded to evict the scratch pages: twice the 16 entries of
/// the DTLB's refill ways.
const EVICTING_PAGES: u32 = 32;
/// The scratch pages written and read back: two of each cache mode.
const SCRATCH_PAGES: [u32; 4] = [
    SCRATCH_WRITE_BACK,
    SCRATCH_WRITE_BACK + PAGE_SIZE,
    SCRATCH_BYPASS,
    SCRATCH_BYPASS + PAGE_SIZE,
];

/// Check the active page tables against what the TLB refills, then exit.
pub fn page_tables(mut tables: PageTables<'static>) -> ! {
    let layout = KernelLayout::get();
    let mut checks = Checks {
        passed: 0,
        failed: 0,
    };
    let ps = arch::read_ps();
    checks.check(
        ps & 0x10 == 0 && ps & 0x20 == 0 && ps & 0xC0 == 0,
        format_args!("kernel PS {ps:#x} is not ring 0 with EXCM clear"),
    );
    checks.check(
        arch::read_rasid() == KERNEL_RASID,
        format_args!("RASID {:#x}", arch::read_rasid()),
    );
    checks.check(
        arch::read_ptevaddr() == tables.ptevaddr(),
        format_args!("PTEVADDR {:#x}", arch::read_ptevaddr()),
    );

    let regions = [
        ("text", layout.text.0, Access::ReadExecute),
        ("rodata", layout.rodata.0, Access::Read),
        ("data", layout.data.0, Access::ReadWrite),
        ("stack", layout.stacks.0, Access::ReadWrite),
    ];
    for (name, va, access) in regions {
        let expected = Pte::new(va, 0, access, CacheMode::WriteBack);
        checks.check(
            tables.translate(va) == Some(expected),
            format_args!("{name} {va:#x} maps to {:?}", tables.translate(va)),
        );
        arch::raw_load(va);
        match arch::probe_dtlb(va) {
            Some(entry) => {
                // Every kernel page sits under a wired 1 MiB entry (way
                // 4): stacks and data under the read-write one, text and
                // rodata under the read-only one (the DTLB only reads
                // them: fetches go through the ITLB's own entry).
                let writable = access == Access::ReadWrite;
                let (megabyte, data_access) = if writable {
                    (KERNEL_DATA_BASE, access)
                } else {
                    (KERNEL_BASE, Access::Read)
                };
                let attribute = Pte::new(va, 0, data_access, CacheMode::WriteBack).attribute();
                checks.check(
                    entry.pte.pa() == megabyte,
                    format_args!("{name} DTLB PPN {:#x}", entry.pte.pa()),
                );
                checks.check(
                    entry.pte.attribute() == attribute,
                    format_args!(
                        "{name} DTLB attribute {:#x}, expected {attribute:#x}",
                        entry.pte.attribute(),
                    ),
                );
                checks.check(
                    entry.asid == 1,
                    format_args!("{name} DTLB ASID {} (ring 0 is ASID 1)", entry.asid),
                );
                checks.check(
                    entry.way == 4,
                    format_args!("{name} in DTLB way {}", entry.way),
                );
            }
            None => checks.check(
                false,
                format_args!("{name} {va:#x}: no DTLB entry after a load"),
            ),
        }
    }
    let code = page_tables as *const () as u32;
    match arch::probe_itlb(code) {
        Some(entry) => checks.check(
            entry.way == 4 && entry.pte.attribute() == 5 && entry.pte.pa() == KERNEL_BASE,
            format_args!("running code's ITLB entry {entry:?} (expected the wired 1 MiB kernel entry in way 4)"),
        ),
        None => checks.check(false, format_args!("the running code has no ITLB entry")),
    }

    // The reset mapping is gone, and unmapped pages stay unmapped.
    for (name, va) in [
        ("null page", 0),
        ("stack guard", layout.stack_guard),
        ("ROM", 0xFE00_0000),
        ("512 MiB", 0x2000_0000),
    ] {
        checks.check(
            tables.translate(va).is_none(),
            format_args!("{name} {va:#x} is mapped"),
        );
        checks.check(
            arch::probe_dtlb(va).is_none(),
            format_args!("{name} {va:#x} still has a DTLB entry"),
        );
    }

    // The wired entries: the L1 in way 7, the kernel's L2 in way 8 (at
    // boot only: the boot code and the trampoline are outside the wired
    // megabytes; a switch to a service's space pins neither).
    let ptevaddr = tables.ptevaddr();
    let l1_window = tables.pte_vaddr(ptevaddr);
    match arch::probe_dtlb(l1_window) {
        Some(entry) => checks.check(
            entry.way == 7 && entry.pte.pa() == tables.l1_pa(),
            format_args!("L1 pin {entry:?}"),
        ),
        None => checks.check(false, format_args!("the L1 is not pinned")),
    }
    match arch::probe_dtlb(tables.pte_vaddr(layout.text.0)) {
        Some(entry) => checks.check(
            entry.way == 8 && entry.pte.pa() == tables.l1_entry(layout.text.0).pa(),
            format_args!("kernel L2 pin {entry:?}"),
        ),
        None => checks.check(false, format_args!("the kernel's L2 is not pinned")),
    }

    // New mappings outside the pinned 4 MiB: their PTE pages are not in
    // the DTLB, so the first access takes the TLB-miss exception, whose
    // handler loads the PTE page through the window.
    for (va, cache) in [
        (SCRATCH_WRITE_BACK, CacheMode::WriteBack),
        (SCRATCH_BYPASS, CacheMode::Bypass),
    ] {
        let mapped = tables.map(Mapping {
            va,
            pa: va,
            len: 2 * PAGE_SIZE,
            ring: 0,
            access: Access::ReadWrite,
            cache,
        });
        checks.check(mapped.is_ok(), format_args!("mapping {va:#x}: {mapped:?}"));
    }
    arch::flush_tlb();
    let window_page = |va: u32| tables.pte_vaddr(va) & !(PAGE_SIZE - 1);
    checks.check(
        arch::probe_dtlb(window_page(SCRATCH_WRITE_BACK)).is_none(),
        format_args!("PTE page of the scratch region present before use"),
    );
    for (i, va) in SCRATCH_PAGES.into_iter().enumerate() {
        arch::raw_store(va + 4 * i as u32, 0x5077_0000 + i as u32);
    }
    // Kernel pages are wired: touching them all evicts nothing.
    for (start, end) in [layout.text, layout.rodata, layout.stacks, layout.data] {
        for page in (start..end).step_by(PAGE_SIZE as usize) {
            arch::raw_load(page);
        }
    }
    for va in SCRATCH_PAGES {
        checks.check(
            arch::probe_dtlb(va).is_some_and(|entry| entry.way < 4),
            format_args!("scratch {va:#x} evicted by kernel accesses"),
        );
    }
    // Evict by touching more pool pages than the refill ways hold, then
    // read the values back.
    for page in (0..EVICTING_PAGES).map(|n| USER_POOL_BASE + n * PAGE_SIZE) {
        arch::raw_load(page);
    }
    for (i, va) in SCRATCH_PAGES.into_iter().enumerate() {
        let value = arch::raw_load(va + 4 * i as u32);
        checks.check(
            value == 0x5077_0000 + i as u32,
            format_args!("scratch {va:#x} read back {value:#x}"),
        );
    }
    // After a flush, one load must bring in the PTE page (through the
    // TLB-miss handler) as well as the page itself.
    arch::flush_tlb();
    checks.check(
        arch::load_then_probe_dtlb(SCRATCH_BYPASS, window_page(SCRATCH_BYPASS)),
        format_args!("the TLB-miss handler did not load the PTE page"),
    );
    // A space switch leaves the L1 pin to the previous space: the first
    // refill that needs the L1 takes a double exception that pins it again
    // (`_l1_miss`), and the access goes through.
    arch::unpin_l1(l1_window);
    arch::flush_tlb();
    checks.check(
        arch::probe_dtlb(l1_window).is_none(),
        format_args!("the L1 is still pinned after unpinning it"),
    );
    let value = arch::raw_load(SCRATCH_WRITE_BACK);
    checks.check(
        value == 0x5077_0000,
        format_args!("scratch read back {value:#x} through a re-pinned L1"),
    );
    match arch::probe_dtlb(l1_window) {
        Some(entry) => checks.check(
            entry.way == 7 && entry.pte.pa() == tables.l1_pa(),
            format_args!("L1 pinned again as {entry:?}"),
        ),
        None => checks.check(false, format_args!("a refill did not pin the L1 again")),
    }
    arch::raw_load(SCRATCH_BYPASS);
    match arch::probe_dtlb(SCRATCH_BYPASS) {
        Some(entry) => checks.check(
            entry.pte.attribute() == 0x2,
            format_args!("bypass page attribute {:#x}", entry.pte.attribute()),
        ),
        None => checks.check(false, format_args!("no DTLB entry for the bypass page")),
    }

    kprintln!(
        "page-tables: {} checks passed, {} failed",
        checks.passed,
        checks.failed
    );
    arch::exit(if checks.failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::SelfTestFailed
    })
}

/// Use 256 bytes of stack per call, forever: the point is the overflow.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u32) -> u32 {
    let mut frame = [0u8; 256];
    core::hint::black_box(&mut frame);
    recurse(depth + 1).wrapping_add(u32::from(frame[depth as usize % 256]))
}

/// Call the first word of the boot code, at `address`, once boot is over:
/// its pages are unmapped by then, so the fetch faults, as any stray call
/// into boot code would; the fault path reports and exits.
pub fn call_boot_code(address: u32) -> ! {
    kprintln!(
        "self-test: call into the unmapped boot code at {:#010x}",
        address
    );
    // SAFETY: nothing runs there: the fetch of its first instruction takes
    // a kernel fault, which reports and exits.
    let boot = unsafe { core::mem::transmute::<usize, extern "C" fn()>(address as usize) };
    boot();
    kprintln!("self-test: FAIL: the boot code ran after boot");
    arch::exit(ExitCode::SelfTestFailed)
}

/// Make the kernel fault on itself; the fault path reports and exits.
pub fn provoke_fault(test: SelfTest) -> ! {
    match test {
        SelfTest::IllegalInstruction => {
            kprintln!(
                "self-test: illegal instruction at {:#010x}",
                arch::illegal_instruction_address()
            );
            arch::illegal_instruction();
        }
        SelfTest::UnmappedLoad => {
            kprintln!("self-test: load from the unmapped null page, address 0x00000100");
            arch::raw_load(0x100);
        }
        SelfTest::UnmappedFarLoad => {
            kprintln!("self-test: load from 0x30000120, which has no page table");
            arch::raw_load(0x3000_0120);
        }
        SelfTest::StoreToText => {
            let target = arch::illegal_instruction_address();
            kprintln!(
                "self-test: store to kernel text at {target:#010x} from {:#010x}",
                arch::raw_store_address()
            );
            arch::raw_store(target, 0);
        }
        SelfTest::KernelStackOverflow => {
            kprintln!("self-test: recursing until the kernel stack hits its guard page");
            kprintln!("self-test: depth {}", recurse(0));
        }
        SelfTest::UnexpectedInterrupt => {
            kprintln!(
                "self-test: raising software interrupt {} (level 3)",
                irq::SOFTWARE_LEVEL3
            );
            arch::set_interrupt_enable(1 << irq::SOFTWARE_LEVEL3);
            arch::raise_software_interrupt(1 << irq::SOFTWARE_LEVEL3);
            arch::wait_for_interrupt();
        }
        SelfTest::None | SelfTest::PageTables | SelfTest::CallBootCode => {}
    }
    kprintln!("self-test: FAIL: {} did not fault", test.name());
    arch::exit(ExitCode::SelfTestFailed)
}
