//! The Sotto kernel binary for Xtensa (`dc233c`): boot, page tables, the
//! tick, services, and the trap handlers the assembly calls. Everything
//! portable is in the `sotto_kernel` library; this file wires it to the
//! hardware.

#![no_std]
#![no_main]

mod boot;
#[cfg(feature = "self-test")]
mod selftest;
mod services;

use core::cell::UnsafeCell;

use sotto_abi::{BootConfig, ExitCode, SelfTest};
use sotto_kernel::arch::xtensa as arch;
use sotto_kernel::kprintln;
use sotto_kernel::timer::TickClock;
use sotto_kernel::trap::{KernelTrap, TrapFrame, classify_kernel_trap, irq};

/// State shared between kernel code and the trap handlers.
///
/// Kernel code runs with every maskable interrupt masked except inside
/// `wait_for_interrupt`, no `with` borrow is held across that call, and the
/// trap handlers never nest, so two accesses to a `Global` never overlap on
/// this single core.
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
        // SAFETY: accesses never overlap (type documentation); callers do
        // not nest `with` on the same global.
        f(unsafe { &mut *self.0.get() })
    }
}

/// The tick and what the boot configuration asked for.
struct Clock {
    tick: Option<TickClock>,
    config: BootConfig,
    started_at: u32,
    first_tick_at: Option<u32>,
}

static CLOCK: Global<Clock> = Global::new(Clock {
    tick: None,
    config: BootConfig {
        tick_hz: 1000,
        run_ticks: 0,
        report_every: 0,
        self_test: SelfTest::None,
    },
    started_at: 0,
    first_tick_at: None,
});

/// Ticks so far and the tick rate.
pub fn tick_state() -> (u64, u32) {
    CLOCK.with(|clock| {
        (
            clock.tick.map_or(0, |tick| tick.ticks()),
            clock.config.tick_hz,
        )
    })
}

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
        #[cfg(feature = "self-test")]
        SelfTest::PageTables => selftest::page_tables(tables),
        #[cfg(feature = "self-test")]
        fault => selftest::provoke_fault(fault),
        #[cfg(not(feature = "self-test"))]
        test => {
            kprintln!(
                "BOOT FAILED: self-test {} asked for, but this kernel was built without self-tests (`cargo xtask run --self-test NAME` builds one with them)",
                test.name()
            );
            arch::exit(ExitCode::BadBootConfig);
        }
    }
    let services = match services::load_all(&tables, config.tick_hz) {
        Ok(count) => count,
        Err(failure) => {
            let (code, text) = services::describe(&failure);
            kprintln!("BOOT FAILED: {text}");
            arch::exit(code);
        }
    };

    let period = config.tick_period_cycles();
    let start = arch::read_ccount();
    let clock = TickClock::start(start, period);
    arch::write_ccompare0(clock.deadline());
    CLOCK.with(|state| {
        state.tick = Some(clock);
        state.config = config;
        state.started_at = start;
    });
    arch::set_interrupt_enable(1 << irq::TIMER0);
    kprintln!(
        "timer: CCOMPARE0 at {} Hz ({} cycles), armed at ccount {} ({} from kernel entry)",
        config.tick_hz,
        period,
        start,
        start - entry_ccount
    );
    if services > 0 {
        services::start();
    }
    loop {
        arch::wait_for_interrupt();
    }
}

/// Handle pending level-1 interrupts (the tick).
pub fn on_interrupts() {
    if arch::pending_interrupts() & (1 << irq::TIMER0) == 0 {
        return;
    }
    let (ticks, new, config, first) = CLOCK.with(|clock| {
        let new = match clock.tick.as_mut() {
            Some(tick) => tick.on_interrupt(arch::read_ccount, arch::write_ccompare0),
            None => 0,
        };
        let mut first = None;
        if new > 0 && clock.first_tick_at.is_none() {
            let now = arch::read_ccount();
            clock.first_tick_at = Some(now);
            first = Some(now);
        }
        (
            clock.tick.map_or(0, |tick| tick.ticks()),
            new,
            clock.config,
            first,
        )
    });
    if new == 0 {
        return;
    }
    if let Some(at) = first {
        kprintln!(
            "first tick at ccount {at} (about {} instructions after reset)",
            u64::from(at) * 100
        );
    }
    services::KERNEL.with(|kernel| kernel.tick(ticks));
    let every = u64::from(config.report_every);
    if every != 0 {
        for tick in ticks + 1 - u64::from(new)..=ticks {
            if tick % every == 0 {
                kprintln!("tick {tick}");
            }
        }
    }
    if config.run_ticks != 0 && ticks >= u64::from(config.run_ticks) {
        let (exited, failed, panicked, faulted) = services::endings();
        let now = arch::read_ccount();
        let start = CLOCK.with(|clock| clock.started_at);
        kprintln!(
            "shutdown: {ticks} ticks in {} cycles of virtual time ({} µs); services: {exited} exited, {failed} failed, {panicked} panicked, {faulted} stopped by a fault, the rest still running",
            now - start,
            u64::from(now - start) / 10
        );
        services::report_running();
        arch::exit(ExitCode::Success);
    }
}

/// Every service has ended: stop, with a status that says how they ended.
pub fn shutdown_after_services() -> ! {
    let (exited, failed, panicked, faulted) = services::endings();
    let (ticks, _) = tick_state();
    kprintln!(
        "shutdown: all services ended after {ticks} ticks: {exited} exited, {failed} failed, {panicked} panicked, {faulted} stopped by a fault"
    );
    let code = if panicked > 0 {
        ExitCode::ServicePanicked
    } else if failed > 0 {
        ExitCode::ServiceFailed
    } else {
        ExitCode::Success
    };
    arch::exit(code)
}

/// A broken kernel invariant: report and stop.
pub fn fatal(what: &str) -> ! {
    kprintln!("KERNEL BUG: {what}");
    arch::exit(ExitCode::KernelPanic)
}

/// Called by `_kernel_exception` with the saved frame, PS.EXCM clear and
/// interrupts masked: an interrupt while idle, or a kernel fault.
#[unsafe(no_mangle)]
extern "C" fn sotto_kernel_trap(frame: &mut TrapFrame) {
    match classify_kernel_trap(frame) {
        KernelTrap::Interrupt => on_interrupts(),
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
