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
use sotto_kernel::console::Piece;
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
    kprintln!(concat!(
        "Sotto kernel ",
        env!("CARGO_PKG_VERSION"),
        " on dc233c (call0, MMU v3)"
    ));
    let config = match boot::config() {
        Ok(config) => config,
        Err(error) => {
            kprintln!("BOOT FAILED: ", &error.message());
            arch::exit(ExitCode::BadBootConfig);
        }
    };
    let tables = boot::page_tables();
    kprintln!(
        "mmu: page tables active, PTEVADDR=",
        Piece::Hex(arch::read_ptevaddr()),
        " RASID=",
        Piece::Hex(arch::read_rasid()),
        ", ",
        tables.tables_used(),
        " L2 table(s)"
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
                "BOOT FAILED: self-test ",
                test.name(),
                " asked for, but this kernel was built without self-tests (`cargo xtask run --self-test NAME` builds one with them)"
            );
            arch::exit(ExitCode::BadBootConfig);
        }
    }
    let services = match services::load_all(&tables, config.tick_hz) {
        Ok(count) => count,
        Err(failure) => {
            services::report_failure(&failure);
            arch::exit(ExitCode::BadManifest);
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
        "timer: CCOMPARE0 at ",
        config.tick_hz,
        " Hz (",
        period,
        " cycles), armed at ccount ",
        start,
        " (",
        start - entry_ccount,
        " from kernel entry)"
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
            "first tick at ccount ",
            at,
            " (about ",
            u64::from(at) * 100,
            " instructions after reset)"
        );
    }
    services::KERNEL.with(|kernel| kernel.tick(ticks));
    let every = u64::from(config.report_every);
    if every != 0 {
        for tick in ticks + 1 - u64::from(new)..=ticks {
            if tick % every == 0 {
                kprintln!("tick ", tick);
            }
        }
    }
    if config.run_ticks != 0 && ticks >= u64::from(config.run_ticks) {
        shutdown_at_time_limit(ticks);
    }
}

/// The time limit is reached: report and stop (out of the tick's line).
#[inline(never)]
#[cold]
fn shutdown_at_time_limit(ticks: u64) -> ! {
    let (exited, failed, panicked, faulted) = services::endings();
    let now = arch::read_ccount();
    let start = CLOCK.with(|clock| clock.started_at);
    kprintln!(
        "shutdown: ",
        ticks,
        " ticks in ",
        now - start,
        " cycles of virtual time (",
        (now - start) / 10,
        " µs); services: ",
        exited,
        " exited, ",
        failed,
        " failed, ",
        panicked,
        " panicked, ",
        faulted,
        " stopped by a fault, the rest still running"
    );
    services::report_running();
    arch::exit(ExitCode::Success);
}

/// Every service has ended: stop, with a status that says how they ended.
#[inline(never)]
#[cold]
pub fn shutdown_after_services() -> ! {
    let (exited, failed, panicked, faulted) = services::endings();
    let (ticks, _) = tick_state();
    kprintln!(
        "shutdown: all services ended after ",
        ticks,
        " ticks: ",
        exited,
        " exited, ",
        failed,
        " failed, ",
        panicked,
        " panicked, ",
        faulted,
        " stopped by a fault"
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
    kprintln!("KERNEL BUG: ", what);
    arch::exit(ExitCode::KernelPanic)
}

/// Called by `_kernel_exception` with the saved frame, PS.EXCM clear and
/// interrupts masked: an interrupt while idle, or a kernel fault.
#[unsafe(no_mangle)]
extern "C" fn sotto_kernel_trap(frame: &mut TrapFrame) {
    match classify_kernel_trap(frame) {
        KernelTrap::Interrupt => on_interrupts(),
        KernelTrap::Fault(report) => {
            let mut values = [Piece::Str(""); 6];
            kprintln!("KERNEL FAULT: ", &report.text(&mut values));
            kprintln!(
                "  a0=",
                Piece::Hex(frame.a[0]),
                " a1=",
                Piece::Hex(frame.a[1]),
                " a2=",
                Piece::Hex(frame.a[2]),
                " a3=",
                Piece::Hex(frame.a[3])
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
            "KERNEL STACK OVERFLOW: the kernel stack ran into its guard page at ",
            Piece::Hex(guard)
        );
    }
    kprintln!(
        "DOUBLE EXCEPTION: EXCCAUSE=",
        cause.raw(),
        " (",
        cause.name(),
        ": ",
        cause.explain(),
        ") DEPC=",
        Piece::Hex(depc),
        " EXCVADDR=",
        Piece::Hex(excvaddr),
        " EPC1=",
        Piece::Hex(epc1),
        " PS=",
        Piece::Hex(ps)
    );
    arch::exit(ExitCode::DoubleException)
}

/// Called by vectors the kernel does not use.
#[unsafe(no_mangle)]
extern "C" fn sotto_unexpected_vector(which: u32, epc: u32) -> ! {
    match which {
        7 => kprintln!("UNEXPECTED NMI at ", Piece::Hex(epc)),
        level => kprintln!(
            "UNEXPECTED level-",
            level,
            " interrupt at ",
            Piece::Hex(epc)
        ),
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

/// A kernel panic (a bug: nothing a service does may cause one): where,
/// and the message when it is plain text. A formatted message is not
/// shown: formatting it would link `core::fmt` into the kernel.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let message = info
        .message()
        .as_str()
        .unwrap_or("(formatted message not shown)");
    match info.location() {
        Some(at) => kprintln!(
            "PANIC: panicked at ",
            at.file(),
            ":",
            at.line(),
            ":",
            at.column(),
            ": ",
            message
        ),
        None => kprintln!("PANIC: ", message),
    }
    arch::exit(ExitCode::KernelPanic)
}
