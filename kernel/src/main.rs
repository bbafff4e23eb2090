//! The Sotto kernel binary for Xtensa (`dc233c`): boot, page tables, the
//! clock (tickless: CCOMPARE0 is set to the next tick anything is due at),
//! services, and the trap handlers the assembly calls. Everything
//! portable is in the `sotto_kernel` library; this file wires it to the
//! hardware.

#![no_std]
#![no_main]
// Cold code (boot, loading, reports) is compiled for size, the rest for
// speed (`size_only` below).
#![feature(optimize_attribute)]

mod boot;
mod dma;
#[cfg(feature = "self-test")]
mod selftest;
mod services;

use core::cell::UnsafeCell;

use sotto_abi::{BootConfig, ExitCode, SelfTest};
use sotto_kernel::arch::xtensa as arch;
use sotto_kernel::console::Piece;
use sotto_kernel::kernel::IdleWake;
use sotto_kernel::kprintln;
use sotto_kernel::pagetable::{Access, CacheMode, Mapping, PageTables};
use sotto_kernel::supervise::Action;
use sotto_kernel::timer::{ClockPlan, TickClock, alarm_target, ticks_ahead};
use sotto_kernel::trap::{FaultReport, KernelTrap, TrapFrame, classify_kernel_trap, irq};

/// State shared between kernel code and the trap handlers.
///
/// Kernel code runs with every maskable interrupt masked except inside
/// `wait_for_interrupt` and `arch::idle`, no `with` borrow is held across
/// either (idle never returns: its interrupt starts the stack over), and the
/// trap handlers never nest, so two accesses to a `Global` never overlap on
/// this single core.
#[repr(transparent)]
pub struct Global<T>(UnsafeCell<T>);

// SAFETY: see the type's documentation: accesses never overlap.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    /// A global with an initial value.
    pub const fn new(value: T) -> Self {
        Global(UnsafeCell::new(value))
    }

    /// Run `f` on the value. (Always inlined: an out-of-line copy for a
    /// boot closure would be resident code.)
    #[inline(always)]
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: accesses never overlap (type documentation); callers do
        // not nest `with` on the same global.
        f(unsafe { &mut *self.0.get() })
    }
}

/// The clock and what the boot configuration asked for.
struct Clock {
    tick: Option<TickClock>,
    config: BootConfig,
    plan: ClockPlan,
    started_at: u32,
    /// The last tick the kernel was told of ([`Kernel::tick`]).
    ///
    /// [`Kernel::tick`]: sotto_kernel::kernel::Kernel::tick
    seen: u64,
    /// The tick CCOMPARE0 is set for, not yet handled: time as the
    /// services see it stops short of it until the interrupt is handled
    /// (so a tick they see has fired its timers and sliced, as with a
    /// periodic tick).
    alarm: u64,
    /// The next tick the kernel needs for itself ([`ClockPlan`]), so the
    /// interrupt looks at the plan only when it is due.
    own: u64,
    /// Timer interrupts taken.
    interrupts: u64,
    /// CCOMPARE0 when it is set for the start of tick `alarm` (on the
    /// grid; `None`: a late alarm, off it): where the express tick's next
    /// alarm is counted from (`prepare_idle`).
    compare: Option<u32>,
    /// The next of `config`'s injected faults.
    next_fault: usize,
    /// The tick from which a timer interrupt calls the kernel's own
    /// hooks (`report_first_tick`, `kernel_deadlines`): `own`, or 0
    /// while tracing, so that every tick records its interrupt there
    /// (and a run without tracing pays nothing for it: the interrupt
    /// compares with this field instead of `own`). Set with `own`
    /// ([`Clock::set_own`]).
    hooks_at: u64,
    /// The most ticks ahead the express tick's plan may look
    /// (`TickClock::most_ahead`); 0 while tracing, so the express tick
    /// never applies (every switch through Rust, recorded).
    express_ahead: u32,
}

static CLOCK: Global<Clock> = Global::new(Clock {
    tick: None,
    config: BootConfig {
        tick_hz: 1000,
        run_ticks: 0,
        report_every: 0,
        self_test: SelfTest::None,
        faults: [sotto_abi::boot::InjectedFault { thread: 0, tick: 0 };
            sotto_abi::boot::MAX_INJECTED_FAULTS],
        fault_count: 0,
        trace: false,
    },
    plan: ClockPlan::new(0, 0),
    started_at: 0,
    seen: 0,
    alarm: u64::MAX,
    own: u64::MAX,
    interrupts: 0,
    compare: None,
    next_fault: 0,
    hooks_at: u64::MAX,
    express_ahead: 0,
});

impl Clock {
    /// The kernel's own next deadline is tick `own` (and its hooks run
    /// from then, or at every tick while tracing: `hooks_at`).
    #[inline(always)]
    fn set_own(&mut self, own: u64) {
        self.own = own;
        self.hooks_at = if self.config.trace { 0 } else { own };
    }
}

/// The tick now as services see it (0 before the clock starts): not past
/// the tick whose interrupt is still to be handled.
pub fn current_tick() -> u64 {
    CLOCK.with(|clock| {
        let Some(tick) = clock.tick.as_mut() else {
            return 0;
        };
        let now = tick.now(arch::read_ccount());
        // (A 64-bit compare spelled as a branch: LLVM's branch-free
        // select for `min` costs more here.)
        if now < clock.alarm {
            now
        } else {
            clock.alarm - 1
        }
    })
}

/// CCOUNT cycles to come back after when the tick boundary an alarm was
/// meant for passed while it was set (200 instructions under `-icount`).
const LATE_ALARM_CYCLES: u32 = 2;

/// Set CCOMPARE0 for the next tick anything is due at: a timer, a sleep's
/// end, a wait's timeout, the kernel's own deadlines, and the next tick
/// boundary if two threads of the running priority share the CPU. With
/// nothing due, an alarm within 2^31 cycles keeps the count across
/// CCOUNT wraps. Writing CCOMPARE0 also clears its interrupt.
#[optimize(size)]
fn set_alarm() {
    let (due, slice) =
        services::KERNEL.with(|kernel| (kernel.next_due(), kernel.sched.slice_wanted()));
    let armed = CLOCK.with(|clock| {
        let tick = clock.tick.as_mut()?;
        let now = tick.now(arch::read_ccount());
        let pending = (clock.alarm > clock.seen).then_some(clock.alarm);
        let target = alarm_target(now, due, clock.own, slice, pending);
        // In ticks after `now`, 32 bits: `alarm_ahead`, which is this
        // (tested), spelled with the 64-bit minimums first, so a late
        // alarm's tick is at hand.
        let ahead = ticks_ahead(now, target);
        let (mut compare, alarm) = if ahead == 0 {
            // Due already: its boundary passed in the kernel, and writing
            // CCOMPARE0 clears the interrupt it raised. Come back at once.
            (arch::read_ccount().wrapping_add(LATE_ALARM_CYCLES), target)
        } else {
            tick.compare_ahead(ahead)
        };
        clock.alarm = alarm;
        clock.compare = (ahead != 0).then_some(compare);
        arch::write_ccompare0(compare);
        // The boundary passed while it was set: come back at once.
        while TickClock::passed(arch::read_ccount(), compare) {
            compare = arch::read_ccount().wrapping_add(LATE_ALARM_CYCLES);
            arch::write_ccompare0(compare);
            clock.compare = None;
        }
        // At the next tick boundary (or at once): it slices.
        Some((ahead <= 1, alarm))
    });
    services::KERNEL.with(|kernel| {
        kernel.sched.alarm_set(
            armed.is_some_and(|(slice, _)| slice),
            armed.map(|(_, alarm)| alarm),
        )
    });
}

/// After the scheduler chose (the services' trap exit and the idle loop):
/// set the alarm again if the earliest deadline changed, or if a time slice
/// is wanted and no interrupt comes at the next tick boundary.
/// Out of line: inlined, its constants are hoisted into the prologue of
/// `next_frame`'s loop and cost more than the check itself.
#[inline(never)]
pub fn timer_after_schedule() {
    if services::KERNEL.with(|kernel| kernel.sched.alarm_wanted()) {
        set_alarm();
    }
}

/// Entry from `_start` (stack set, .bss zeroed, VECBASE installed). Boot
/// code, as `_start` is: it ends by handing over to [`run`], which unmaps
/// both.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text.sotto_boot.main_sotto_kernel_main")]
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
        // After boot, in `run`.
        #[cfg(feature = "self-test")]
        SelfTest::CallBootCode => {}
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

    let dma_at = dma::open_all(config.tick_hz);
    let period = config.tick_period_cycles();
    if config.trace {
        start_trace(period);
    }
    let start = arch::read_ccount();
    start_clock(config, start, period, dma_at);
    set_alarm();
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
    run(tables, services)
}

/// Tracing asked for (boot code): open the trace file, and make the
/// entry's express paths decline so every switch is recorded
/// ([`Kernel::trace_express_off`]; the express tick: `express_ahead`).
///
/// [`Kernel::trace_express_off`]: sotto_kernel::kernel::Kernel::trace_express_off
#[inline(never)]
#[unsafe(link_section = ".text.sotto_boot.main_start_trace")]
fn start_trace(period: u32) {
    if !sotto_kernel::trace::start(period) {
        kprintln!(
            "trace: cannot write ",
            sotto_abi::trace::FILE,
            " in the emulator's working directory: not tracing"
        );
        return;
    }
    services::KERNEL.with(|kernel| kernel.trace_express_off());
    kprintln!(
        "trace: recording the schedule into ",
        sotto_abi::trace::FILE,
        " (a ring of ",
        sotto_abi::trace::RING_RECORDS,
        " events, written out when half full)"
    );
}

/// Start the clock at CCOUNT `start` (a named boot function: a closure
/// of boot code would be resident code).
#[inline(never)]
#[unsafe(link_section = ".text.sotto_boot.main_start_clock")]
fn start_clock(config: BootConfig, start: u32, period: u32, dma_at: Option<u64>) {
    CLOCK.with(|state| {
        let tick = TickClock::start(start, period);
        state.express_ahead = if config.trace { 0 } else { tick.most_ahead() };
        state.tick = Some(tick);
        state.config = config;
        state.plan = ClockPlan::new(config.report_every, config.run_ticks);
        state.plan.set_dma_at(dma_at.unwrap_or(u64::MAX));
        if let Some(first) = config.injected().first() {
            state.plan.set_fault_at(u64::from(first.tick.max(1)));
        }
        let own = state.plan.own_after(0);
        state.set_own(own);
        state.started_at = start;
    });
}

/// The end of boot: unmap the boot code (`.boot.text`: the loader, the
/// manifest reader, `_start` and the boot half of `sotto_kernel_main`;
/// the exit code with it, see [`sotto_exit_gate`]) so that nothing can
/// run it again (a stray call faults), then start the services.
/// Resident: boot code calls it once and it never returns there.
#[inline(never)]
#[optimize(size)]
fn run(mut tables: PageTables<'static>, services: usize) -> ! {
    let (start, end) = boot::KernelLayout::get().boot_text;
    if tables.unmap(start, end - start).is_err() {
        fatal("the boot code could not be unmapped");
    }
    // Its translations may be in the autorefill ways of either TLB.
    arch::flush_tlb();
    // For the exit gate, which maps the range again at shutdown.
    KERNEL_TABLES.with(|kept| *kept = Some(tables));
    #[cfg(feature = "self-test")]
    if CLOCK.with(|clock| clock.config.self_test) == SelfTest::CallBootCode {
        selftest::call_boot_code(start);
    }
    if services > 0 {
        services::start();
    }
    loop {
        arch::wait_for_interrupt();
    }
}

/// Handle pending level-1 interrupts (the timer: something is due).
pub fn on_interrupts() {
    if arch::pending_interrupts() & (1 << irq::TIMER0) == 0 {
        return;
    }
    // A tick not seen yet (64-bit compares spelled as branches: LLVM's
    // branch-free selects for `max` cost more here), and whether the
    // kernel's own deadline is due.
    let due = CLOCK.with(|clock| {
        clock.interrupts += 1;
        let now = clock.tick.as_mut()?.now(arch::read_ccount());
        if now <= clock.seen {
            return None;
        }
        clock.seen = now;
        Some((now, now >= clock.hooks_at))
    });
    if let Some((now, own)) = due {
        if own {
            report_first_tick(now);
        }
        services::KERNEL.with(|kernel| kernel.tick(now));
        if own {
            kernel_deadlines(now);
        }
    }
    set_alarm();
}

/// Tracing: record the timer interrupt of tick `now`, and write the ring
/// out (cold code, through the gate) when it is half full, before
/// threads run. (From `report_first_tick`, which a traced run's timer
/// interrupts call at every tick: `Clock::hooks_at`.)
#[cold]
#[inline(never)]
#[optimize(size)]
fn trace_interrupt(now: u64) {
    let [tag, a, b] = sotto_kernel::trace::Event::TimerIrq { tick: now as u32 }.words();
    sotto_kernel::trace::put(tag, a, b);
    if sotto_kernel::trace::drain_due() {
        sotto_exit_gate(Cold::TraceDrain);
    }
}

/// The express tick committed before the CPU idled, for the entry
/// (`_idle_interrupt`, trap.S), which takes it when the timer's
/// interrupt comes.
#[unsafe(no_mangle)]
static mut sotto_idle_wake: IdleWake = IdleWake {
    armed: 0,
    next_compare: 0,
    thread: 0,
    cycles_at: 0,
};

/// Before the CPU idles: if the alarm's interrupt, which ends it, only
/// wakes one thread ([`Kernel::prepare_express`]), commit that tick now
/// ([`Kernel::commit_express`], with what `on_interrupts` and `set_alarm`
/// do to the clock and the alarm there) and arm `sotto_idle_wake`: the
/// entry then only sets CCOMPARE0 and runs the thread. Nothing runs in
/// between (the CPU waits; the timer is the only interrupt enabled and
/// the alarm's is the next it raises), so no one sees the tick early. An
/// interrupt that comes late (past the alarm's tick) is the alarm's tick
/// handled late: the entry finds the next alarm passed and has the
/// interrupt come back at once, for the full tick of the ticks since
/// (whose `set_alarm` finds the grid again).
///
/// [`Kernel::prepare_express`]: sotto_kernel::kernel::Kernel::prepare_express
/// [`Kernel::commit_express`]: sotto_kernel::kernel::Kernel::commit_express
#[inline(never)]
#[optimize(size)]
pub fn prepare_idle() {
    CLOCK.with(|clock| {
        let (Some(tick), Some(compare)) = (clock.tick.as_mut(), clock.compare) else {
            return;
        };
        if clock.alarm <= clock.seen {
            return;
        }
        services::KERNEL.with(|kernel| {
            let Some(wake) = kernel.prepare_express(clock.alarm, clock.own, clock.express_ahead)
            else {
                return;
            };
            kernel.commit_express(&wake);
            kernel.sched.alarm_set(wake.ahead <= 1, Some(wake.next));
            // The waiter's CPU time starts with the interrupt, at CCOMPARE0
            // (the CPU idles until then).
            kernel.sched.count_from(compare);
            let cycles_at = kernel
                .express_cycles_slot(&wake)
                .map_or(0, |at| at as *mut u32 as u32);
            // `on_interrupts` and `set_alarm` as they go here: the tick
            // counted, nothing pending (the alarm was for it), no slice
            // wanted (nothing else is ready), the timer's next expiry the
            // earliest deadline (the plan says), on the grid.
            let next_compare = compare.wrapping_add(wake.ahead.wrapping_mul(tick.period()));
            clock.interrupts += 1;
            clock.seen = wake.tick;
            clock.alarm = wake.next;
            clock.compare = Some(next_compare);
            tick.arrive(wake.tick, compare);
            // SAFETY: only this function and the entry (while the CPU does
            // nothing else) touch it; single core, no nesting.
            unsafe {
                *(&raw mut sotto_idle_wake) = IdleWake {
                    armed: 1,
                    next_compare,
                    thread: wake.waiter as u32,
                    cycles_at,
                };
            }
        });
    });
}

/// The boot report's first tick, timed as it is seen (out of line: once).
#[cold]
#[inline(never)]
#[optimize(size)]
fn report_first_tick(now: u64) {
    if sotto_kernel::trace::on() {
        trace_interrupt(now);
    }
    if let Some(at) = CLOCK.with(|clock| clock.plan.first_tick(now).then(arch::read_ccount)) {
        kprintln!(
            "first tick at ccount ",
            at,
            " (about ",
            sotto_kernel::kernel::wide_mul(at, 100),
            " instructions after reset)"
        );
    }
}

/// The kernel's own deadlines at tick `now`: `tick N` reports, the end of
/// the run (through the exit gate). (Out of line: most interrupts have
/// none.)
#[inline(never)]
#[optimize(size)]
fn kernel_deadlines(now: u64) {
    while let Some(tick) = CLOCK.with(|clock| clock.plan.take_report(now)) {
        kprintln!("tick ", tick);
    }
    // Injected at once, before anything runs (`next_frame`).
    if CLOCK.with(|clock| clock.plan.fault_due(now)) {
        services::KERNEL.with(|kernel| kernel.put_action(Action::Inject));
    }
    // The DAIs' DMA periods, before any thread runs.
    if CLOCK.with(|clock| clock.plan.dma_due(now)) {
        let next = dma::run(now);
        CLOCK.with(|clock| clock.plan.set_dma_at(next));
        if sotto_kernel::trace::on() {
            dma::trace_periods();
        }
    }
    CLOCK.with(|clock| {
        let own = clock.plan.own_after(now);
        clock.set_own(own);
    });
    if CLOCK.with(|clock| clock.plan.ends(now)) {
        sotto_exit_gate(Cold::Exit(Shutdown::RunOver));
    }
}

/// The faults the boot configuration injects at or before tick `now`
/// (`cargo xtask run --fault`): each stops its thread's service as a
/// fault would, and its supervisor hears of it. Cold code (the gate maps
/// it: `services::cold_action`).
#[inline(never)]
#[optimize(size)]
#[unsafe(link_section = ".text.sotto_exit.main_inject_faults")]
pub fn inject_faults() {
    let now = CLOCK.with(|clock| clock.seen);
    loop {
        let due = CLOCK.with(|clock| {
            let fault = clock.config.injected().get(clock.next_fault).copied()?;
            if u64::from(fault.tick) > now {
                clock.plan.set_fault_at(u64::from(fault.tick));
                return None;
            }
            clock.next_fault += 1;
            clock.plan.set_fault_at(0);
            Some(fault.thread)
        });
        let Some(thread) = due else {
            break;
        };
        services::inject_fault(usize::from(thread));
    }
    // The kernel's next deadline without the faults just injected
    // (`kernel_deadlines` took it before they were: left so, the alarm
    // would come back at once for the rest of the tick).
    CLOCK.with(|clock| {
        let own = clock.plan.own_after(now);
        clock.set_own(own);
    });
}

/// The kernel's page tables, kept by [`run`] for [`sotto_exit_gate`].
static KERNEL_TABLES: Global<Option<PageTables<'static>>> = Global::new(None);

/// Why the run ends, for the exit code's report.
#[derive(Clone, Copy)]
pub enum Shutdown {
    /// The boot configuration's `run_ticks` passed, at the tick the timer
    /// interrupt saw last (`Clock::seen`: the `now` of `kernel_deadlines`).
    RunOver,
    /// Every service has ended.
    ServicesEnded,
    /// A supervisor faulted.
    SupervisorFaulted,
}

/// What the cold code (mapped only while it runs) is asked to do.
#[derive(Clone, Copy)]
pub enum Cold {
    /// Stop the system.
    Exit(Shutdown),
    /// What the portable kernel asked for ([`services::cold_action`]).
    Act,
    /// Write the trace ring out (`sotto_kernel::trace::drain`).
    TraceDrain,
}

/// Every service has ended: stop, with a status that says how they ended
/// (through [`sotto_exit_gate`]).
#[inline(always)]
pub fn shutdown_after_services() -> ! {
    sotto_exit_gate(Cold::Exit(Shutdown::ServicesEnded));
    unreachable_exit()
}

/// After an exit through the gate (which never comes back).
#[cold]
fn unreachable_exit() -> ! {
    fatal("the exit code returned")
}

/// Do what the portable kernel asked for before a thread runs again: a
/// restart, or the stop after a supervisor's fault.
#[cold]
#[inline(never)]
#[optimize(size)]
pub fn act() {
    sotto_exit_gate(Cold::Act);
    // All done but a supervisor's fault, if one came of it.
    if services::KERNEL.with(|kernel| kernel.action_pending()) {
        sotto_exit_gate(Cold::Exit(Shutdown::SupervisorFaulted));
        unreachable_exit()
    }
}

/// The one way from resident code into the cold code (as Linux's
/// `.exit.text`: `link_section = ".text.sotto_exit.NAME"`, linked with
/// the boot code and unmapped with it while services run: the shutdown
/// report, a service's restart): map that range again (the same frames,
/// identity, ring 0, read/execute), run its entry, [`sotto_exit`], and
/// unmap it again if that comes back (a restart does; a stop does not).
/// The build allows this function's call of `sotto_exit` and no other
/// reference from resident code into the range (xtask's
/// `check_boot_references`).
#[unsafe(no_mangle)]
#[cold]
#[inline(never)]
#[optimize(size)]
fn sotto_exit_gate(what: Cold) {
    let (start, end) = boot::KernelLayout::get().boot_text;
    let mapped = KERNEL_TABLES.with(|tables| {
        tables.as_mut().map(|tables| {
            tables.map(Mapping {
                va: start,
                pa: start,
                len: end - start,
                ring: 0,
                access: Access::ReadExecute,
                cache: CacheMode::WriteBack,
            })
        })
    });
    if !matches!(mapped, Some(Ok(()))) {
        fatal("the exit code could not be mapped");
    }
    // Drop what a stray access since the unmapping may have left there.
    arch::flush_tlb();
    sotto_exit(what);
    let unmapped = KERNEL_TABLES.with(|tables| {
        tables
            .as_mut()
            .map(|tables| tables.unmap(start, end - start))
    });
    if !matches!(unmapped, Some(Ok(_))) {
        fatal("the cold code could not be unmapped");
    }
    arch::flush_tlb();
}

/// The cold code's entry: a restart, or the shutdown report and stop
/// (with a status that says how the services ended, when they all have).
#[unsafe(no_mangle)]
#[inline(never)]
#[optimize(size)]
#[unsafe(link_section = ".text.sotto_exit.main_sotto_exit")]
fn sotto_exit(what: Cold) {
    let why = match what {
        Cold::Act => return services::cold_action(),
        Cold::TraceDrain => return sotto_kernel::trace::drain(),
        Cold::Exit(why) => why,
    };
    if let Some((written, dropped)) = sotto_kernel::trace::finish() {
        if dropped == 0 {
            kprintln!(
                "trace: ",
                written,
                " events written to ",
                sotto_abi::trace::FILE,
                ", none dropped"
            );
        } else {
            kprintln!(
                "trace: ",
                written,
                " events written to ",
                sotto_abi::trace::FILE,
                "; ",
                dropped,
                " more were dropped because the ring was full"
            );
        }
    }
    let (exited, failed, panicked, faulted) = services::endings();
    // How the services ended, in the words of both reports.
    let endings = sotto_kernel::text![
        exited,
        " exited, ",
        failed,
        " failed, ",
        panicked,
        " panicked, ",
        faulted,
        " stopped by a fault"
    ];
    let ticks = match why {
        Shutdown::RunOver => {
            let now = CLOCK.with(|clock| clock.seen);
            let at = arch::read_ccount();
            let start = CLOCK.with(|clock| clock.started_at);
            kprintln!(
                "shutdown: ",
                now,
                " ticks in ",
                at - start,
                " cycles of virtual time (",
                (at - start) / 10,
                " µs); services: ",
                &endings,
                ", the rest still running"
            );
            now
        }
        Shutdown::ServicesEnded => {
            // The kernel's reading (the clock's, as `current_tick` gives
            // it): its copy is out of line already.
            let ticks = services::KERNEL.with(|kernel| kernel.now());
            kprintln!(
                "shutdown: all services ended after ",
                ticks,
                " ticks: ",
                &endings
            );
            ticks
        }
        Shutdown::SupervisorFaulted => {
            let ticks = services::KERNEL.with(|kernel| kernel.now());
            kprintln!(
                "shutdown: a supervisor faulted after ",
                ticks,
                " ticks: nothing is left to restart what it supervised; the system stops (services: ",
                &endings,
                ")"
            );
            ticks
        }
    };
    // How many timer interrupts the run took (tickless: one per tick
    // something was due at, not one per tick).
    let interrupts = CLOCK.with(|clock| clock.interrupts);
    kprintln!(
        "interrupts: ",
        interrupts,
        " timer interrupts in ",
        ticks,
        " ticks"
    );
    dma::report();
    let code = match why {
        Shutdown::RunOver => {
            services::report_running();
            ExitCode::Success
        }
        Shutdown::ServicesEnded if panicked > 0 => ExitCode::ServicePanicked,
        Shutdown::ServicesEnded if failed > 0 => ExitCode::ServiceFailed,
        Shutdown::ServicesEnded => ExitCode::Success,
        Shutdown::SupervisorFaulted => ExitCode::SupervisorFaulted,
    };
    arch::exit(code)
}

/// A broken kernel invariant: report and stop.
#[optimize(size)]
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
        KernelTrap::Fault(report) => kernel_fault(frame, &report),
    }
}

/// A kernel fault: report and stop (out of line, compiled for size).
#[cold]
#[inline(never)]
#[optimize(size)]
fn kernel_fault(frame: &TrapFrame, report: &FaultReport) -> ! {
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

/// Called by the double-exception vector for anything but a refill fault.
#[unsafe(no_mangle)]
#[optimize(size)]
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
#[optimize(size)]
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

/// A kernel panic (a bug: nothing a service does may cause one) or an
/// LLVM trap (`unreachable`). The kernel is built with the immediate-abort
/// panic strategy (xtask's `KERNEL_RUSTFLAGS`): a failed bounds check or
/// `unwrap` calls `abort` (arch/xtensa/asm/cpu.S) at once, which passes
/// the address of that call; `llvm-addr2line -f -e` on the kernel ELF
/// names its function.
/// No message is formatted: that would link `core::fmt` into the kernel.
#[unsafe(no_mangle)]
#[optimize(size)]
extern "C" fn sotto_abort(pc: u32) -> ! {
    kprintln!(
        "PANIC: kernel panic or trap at PC=",
        Piece::Hex(pc),
        " (llvm-addr2line -f -e on the kernel ELF names the function)"
    );
    arch::exit(ExitCode::KernelPanic)
}
