//! The Sotto kernel binary for Xtensa (`dc233c`): boot, page tables, the
//! tick, and the trap handlers the assembly calls. Everything portable is in
//! the `sotto_kernel` library; this file wires it to the hardware.

#![no_std]
#![no_main]

mod boot;
mod selftest;

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

use sotto_abi::{ExitCode, SelfTest};
use sotto_kernel::arch::xtensa as arch;
use sotto_kernel::kprintln;
use sotto_kernel::timer::TickClock;
use sotto_kernel::trap::{KernelTrap, TrapFrame, classify_kernel_trap, irq};

/// State shared between kernel code and the trap handler.
///
/// Kernel code runs with every maskable interrupt masked except inside
/// `wait_for_interrupt`, and the trap handler never nests, so the two never
/// touch a `Global` at the same time on this single core.
pub struct Global<T>(UnsafeCell<T>);

// SAFETY: see the type's documentation: accesses never overlap.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    /// A global with an initial value.
    pub const fn new(value: T) -> Self {
        Global(UnsafeCell::new(value))
    }

    /// Run `f` on the value.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: accesses never overlap (type documentation), and `f`
        // cannot re-enter `with` on the same global through an interrupt.
        f(unsafe { &mut *self.0.get() })
    }
}

static TICK_CLOCK: Global<Option<TickClock>> = Global::new(None);
static TICKS: AtomicU32 = AtomicU32::new(0);
static FIRST_TICK_CCOUNT: AtomicU32 = AtomicU32::new(0);

/// Entry from `_start` (stack set, .bss zeroed, VECBASE installed).
#[unsafe(no_mangle)]
extern "C" fn sotto_kernel_main() -> ! {
    let entry_ccount = arch::read_ccount();
    kprintln!(
        "Sotto kernel {} on dc233c (call0, MMU v3)",
        env!("CARGO_PKG_VERSION")
    );
    let config = match boot::config() {
        Ok(config) => config,
        Err(error) => {
            kprintln!("BOOT FAILED: {error}");
            arch::exit(ExitCode::BadBootConfig);
        }
    };
    let tables = boot::page_tables();
    kprintln!(
        "mmu: page tables active, PTEVADDR={:#010x} RASID={:#010x}, {} L2 table(s)",
        arch::read_ptevaddr(),
        arch::read_rasid(),
        tables.tables_used()
    );
    match config.self_test {
        SelfTest::None => {}
        SelfTest::PageTables => selftest::page_tables(tables),
        fault => selftest::provoke_fault(fault),
    }

    let period = config.tick_period_cycles();
    let start = arch::read_ccount();
    let clock = TickClock::start(start, period);
    arch::write_ccompare0(clock.deadline());
    TICK_CLOCK.with(|slot| *slot = Some(clock));
    arch::set_interrupt_enable(1 << irq::TIMER0);
    kprintln!(
        "timer: CCOMPARE0 at {} Hz ({} cycles), armed at ccount {} ({} from kernel entry)",
        config.tick_hz,
        period,
        start,
        start - entry_ccount
    );

    let mut next_report = config.report_every;
    let mut first_tick_reported = false;
    loop {
        arch::wait_for_interrupt();
        let ticks = TICKS.load(Ordering::Relaxed);
        if !first_tick_reported && ticks > 0 {
            first_tick_reported = true;
            let at = FIRST_TICK_CCOUNT.load(Ordering::Relaxed);
            kprintln!(
                "first tick at ccount {at} (about {} instructions after reset)",
                u64::from(at) * 100
            );
        }
        while config.report_every != 0 && ticks >= next_report {
            kprintln!("tick {next_report}");
            next_report += config.report_every;
        }
        if config.run_ticks != 0 && ticks >= config.run_ticks {
            let now = arch::read_ccount();
            kprintln!(
                "shutdown: {ticks} ticks in {} cycles of virtual time ({} µs)",
                now - start,
                u64::from(now - start) / 10
            );
            arch::exit(ExitCode::Success);
        }
    }
}

/// Called by `_kernel_exception` with the saved frame, PS.EXCM clear and
/// interrupts masked.
#[unsafe(no_mangle)]
extern "C" fn sotto_kernel_trap(frame: &mut TrapFrame) {
    match classify_kernel_trap(frame) {
        KernelTrap::Interrupt => {
            if arch::pending_interrupts() & (1 << irq::TIMER0) != 0 {
                on_timer_interrupt();
            }
        }
        KernelTrap::Fault(report) => {
            kprintln!("KERNEL FAULT: {report}");
            kprintln!(
                "  a0={:#010x} a1={:#010x} a2={:#010x} a3={:#010x}",
                frame.a[0],
                frame.a[1],
                frame.a[2],
                frame.a[3]
            );
            arch::exit(ExitCode::KernelFault);
        }
    }
}

fn on_timer_interrupt() {
    let new_ticks = TICK_CLOCK.with(|clock| match clock {
        Some(clock) => clock.on_interrupt(arch::read_ccount, arch::write_ccompare0),
        None => {
            // Not armed: silence the comparator until it is.
            arch::write_ccompare0(arch::read_ccount().wrapping_sub(1));
            0
        }
    });
    if new_ticks > 0 && TICKS.load(Ordering::Relaxed) == 0 {
        FIRST_TICK_CCOUNT.store(arch::read_ccount(), Ordering::Relaxed);
    }
    TICKS.fetch_add(new_ticks, Ordering::Relaxed);
}

/// Called by the double-exception vector for anything but a refill fault.
#[unsafe(no_mangle)]
extern "C" fn sotto_double_exception(
    cause: u32,
    depc: u32,
    excvaddr: u32,
    epc1: u32,
    ps: u32,
) -> ! {
    let cause = sotto_abi::ExceptionCause::from_raw(cause);
    let guard = boot::KernelLayout::get().stack_guard;
    if (guard..guard + sotto_abi::layout::PAGE_SIZE).contains(&excvaddr) {
        kprintln!(
            "KERNEL STACK OVERFLOW: the kernel stack ran into its guard page at {guard:#010x}"
        );
    }
    kprintln!(
        "DOUBLE EXCEPTION: EXCCAUSE={} ({}: {}) DEPC={depc:#010x} EXCVADDR={excvaddr:#010x} EPC1={epc1:#010x} PS={ps:#010x}",
        cause.raw(),
        cause.name(),
        cause.explain()
    );
    arch::exit(ExitCode::DoubleException)
}

/// Called by vectors the kernel does not use.
#[unsafe(no_mangle)]
extern "C" fn sotto_unexpected_vector(which: u32, epc: u32) -> ! {
    match which {
        8 => kprintln!("UNEXPECTED user-vector exception at {epc:#010x}: no user mode is running"),
        7 => kprintln!("UNEXPECTED NMI at {epc:#010x}"),
        level => kprintln!("UNEXPECTED level-{level} interrupt at {epc:#010x}"),
    }
    arch::exit(ExitCode::UnexpectedVector)
}

/// LLVM lowers traps (`unreachable`, failed bounds checks in some paths) to
/// a call to `abort`.
#[unsafe(no_mangle)]
extern "C" fn abort() -> ! {
    kprintln!("ABORT (LLVM trap)");
    arch::exit(ExitCode::Abort)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    kprintln!("PANIC: {info}");
    arch::exit(ExitCode::KernelPanic)
}
