//! `cargo xtask bench`: deterministic instruction counts under QEMU
//! `-icount shift=0` (one instruction per nanosecond; CCOUNT at 10 MHz
//! advances once per 100 instructions). Each benchmark boots the test image
//! with the services it needs and reads the numbers they print.
//!
//! `--check` compares the counts with the budgets in `xtask/budgets.toml`
//! and fails naming every measure over its budget ([`budget`]).

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sotto_abi::manifest::{Manifest, Object, ObjectParams, TimerTarget};
use sotto_abi::{BootConfig, SelfTest};
use sotto_image::Start;
use sotto_image::qemu::{self, QemuOptions};

use crate::BootArgs;
use crate::pipeline::Paths;

/// Boot `bytes` and return its console, failing unless it exits 0. QEMU
/// runs in a directory of its own (`bench-runs/NAME`, emptied): whatever
/// the image writes there (a DAI's file, a trace) stays out of the tree.
fn boot(paths: &Paths, bytes: &[u8], name: &str) -> Result<String> {
    let path = paths.out.join(format!("bench-{name}.elf"));
    std::fs::write(&path, bytes)?;
    let dir = paths.out.join("bench-runs").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let options = QemuOptions {
        dir: Some(dir),
        ..QemuOptions::default()
    };
    let (console, status) = qemu::run_captured(&path, &options, Duration::from_secs(120))?;
    if status != 0 {
        bail!("benchmark {name} stopped with status {status}:\n{console}");
    }
    Ok(console)
}

fn line_with<'c>(console: &'c str, prefix: &str) -> Result<&'c str> {
    console
        .lines()
        .find_map(|line| line.split_once(prefix).map(|(_, rest)| rest))
        .with_context(|| format!("no line with `{prefix}` in:\n{console}"))
}

/// The test image starting `starts`, for `run_ticks` ticks at 1 kHz.
fn with_services(image: &[u8], starts: &[Start<'_>], run_ticks: u32) -> Result<Vec<u8>> {
    let mut bytes = image.to_vec();
    sotto_image::start_services(&mut bytes, starts)?;
    let config = BootConfig {
        tick_hz: 1000,
        run_ticks,
        report_every: 0,
        self_test: SelfTest::None,
        ..BootConfig::default()
    };
    sotto_image::write_boot_config(&mut bytes, &config)?;
    Ok(bytes)
}

/// `manifest` with exactly `total` objects: the ones its services hold
/// (and the ones their timers target), renumbered, then fillers of every
/// kind that has no frames: notifications, semaphores, disarmed timers and
/// timers armed far in the future (1,000 s).
fn with_object_count(manifest: &Manifest, total: usize) -> Result<Manifest> {
    let mut keep: Vec<u16> = Vec::new();
    let need = |object: u16, keep: &mut Vec<u16>| {
        if !keep.contains(&object) {
            keep.push(object);
        }
    };
    for service in &manifest.services {
        for grant in &service.caps {
            need(grant.object, &mut keep);
        }
    }
    for index in keep.clone() {
        if let ObjectParams::Timer { target, .. } = manifest.objects[index as usize].params {
            let (TimerTarget::Notify { object, .. } | TimerTarget::Give { object }) = target;
            need(object, &mut keep);
        }
    }
    if keep.len() > total {
        bail!(
            "the services hold {} objects, more than {total}",
            keep.len()
        );
    }
    let renumber = |object: u16| keep.iter().position(|kept| *kept == object).unwrap() as u16;
    let mut out = Manifest::default();
    for &index in &keep {
        let mut object = manifest.objects[index as usize].clone();
        if let ObjectParams::Timer { target, .. } = &mut object.params {
            match target {
                TimerTarget::Notify { object, .. } | TimerTarget::Give { object } => {
                    *object = renumber(*object)
                }
            }
        }
        out.objects
            .push(object)
            .map_err(|_| anyhow::anyhow!("too many objects"))?;
    }
    let first_filler = out.objects.len() as u16;
    for n in out.objects.len()..total {
        let params = match (n - first_filler as usize) % 4 {
            0 => ObjectParams::Notification,
            1 => ObjectParams::Semaphore { initial: 0, max: 1 },
            filler => ObjectParams::Timer {
                target: TimerTarget::Notify {
                    object: first_filler,
                    bits: 1,
                },
                start: (filler == 3).then_some((1_000_000, 1_000_000)),
            },
        };
        let name = heapless::String::try_from(format!("filler-{n}").as_str())
            .map_err(|_| anyhow::anyhow!("filler name"))?;
        out.objects
            .push(Object { name, params })
            .map_err(|_| anyhow::anyhow!("{total} objects do not fit a manifest"))?;
    }
    for service in &manifest.services {
        let mut service = service.clone();
        for grant in service.caps.iter_mut() {
            grant.object = renumber(grant.object);
        }
        // A supervisor's faults notification is one of its grants.
        service.supervision.faults = service.supervision.faults.map(renumber);
        out.services
            .push(service)
            .map_err(|_| anyhow::anyhow!("too many services"))?;
    }
    Ok(out)
}

/// `bytes` with its boot configuration's trace flag set.
fn traced(mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    let mut config = sotto_image::read_boot_config(&bytes)?;
    config.trace = true;
    sotto_image::write_boot_config(&mut bytes, &config)?;
    Ok(bytes)
}

/// The trace-event measure of `console`, whose first call said it
/// recorded (`recorded` 1) or not (0), as the boot configuration asked.
fn traced_event(console: &str, recorded: u32) -> Result<String> {
    let status = line_with(console, "bench trace status ")?;
    if status != format!("0, recorded {recorded}") {
        bail!(
            "the trace benchmark's first call answered status {status} (expected 0, recorded {recorded})"
        );
    }
    Ok(line_with(console, "bench trace-event: ")?.to_owned())
}

/// Instructions one timer interrupt costs the thread it interrupts (the
/// kernel's tick: a timer fires, its notification has no waiter): the
/// same spin loop with and without an interrupt every tick.
fn tick_cost(console: &str) -> Result<f64> {
    let line = line_with(console, "bench tick-cost: ")?;
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    let [interrupts, busy, quiet, _] = numbers[..] else {
        bail!("unexpected tick-cost line: {line}");
    };
    if interrupts == 0 || busy < quiet {
        bail!("the tick-cost benchmark saw no interrupts: {line}");
    }
    let per = f64::from(sotto_abi::layout::INSTRUCTIONS_PER_CCOUNT);
    Ok((busy - quiet) as f64 * per / interrupts as f64)
}

/// The count in a measurement's text: its first number (`381.79
/// instructions`, `1,628 instructions (...)`, `74565 bytes`).
pub fn parse_count(text: &str) -> Option<f64> {
    let word = text.split_whitespace().next()?.replace([',', '_'], "");
    word.parse::<f64>().ok().filter(|count| count.is_finite())
}

/// Boot every image of `jobs` (name, bytes), two at a time, and return
/// their consoles in order.
fn boot_all(paths: &Paths, jobs: Vec<(String, Vec<u8>)>) -> Result<Vec<String>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<String>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some((name, bytes)) = jobs.get(index) else {
                        break;
                    };
                    let console = boot(paths, bytes, name);
                    results.lock().unwrap()[index] = Some(console);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|result| result.unwrap_or_else(|| bail!("a benchmark did not run")))
        .collect()
}

/// Instructions from the tick interrupt to the woken thread running: the
/// ticks come on a grid (CCOUNT `armed + n * period`), so each wake-up's
/// distance past its grid point is the latency.
fn timer_wake_latency(console: &str) -> Result<String> {
    let armed: u64 = line_with(console, "armed at ccount ")?
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("armed-at count")?;
    let line = line_with(console, "bench timer-wake: ")?;
    let wakes: u64 = line
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("wakes")?;
    let sum: u64 = line
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .context("phase sum")?;
    let period = u64::from(sotto_abi::layout::CCOUNT_HZ / 1000);
    // Each wake's phase within the tick, minus the grid's phase: the
    // distance past the tick, in CCOUNT (100 instructions each).
    let past_tick = (sum * 100 / wakes + period * 100 - (armed % period) * 100) % (period * 100);
    let latency = past_tick * u64::from(sotto_abi::layout::INSTRUCTIONS_PER_CCOUNT) / 100;
    Ok(format!("{latency} instructions (CCOUNT resolution: 100)"))
}

/// The LL scheduler's dispatch: from the tick interrupt to the first
/// task's handler (in its owner's address space), and between handlers.
fn ll_dispatch(console: &str) -> Result<(String, String)> {
    let armed: u64 = line_with(console, "armed at ccount ")?
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("armed-at count")?;
    let line = line_with(console, "ll-bench: first handler phase sum ")?;
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let [first_sum, first_n, next_sum, next_n] = numbers[..] else {
        bail!("unexpected ll-bench line: {line}");
    };
    let period = u64::from(sotto_abi::layout::CCOUNT_HZ / 1000);
    let per = u64::from(sotto_abi::layout::INSTRUCTIONS_PER_CCOUNT);
    let past_tick =
        (first_sum * per / first_n + period * per - (armed % period) * per) % (period * per);
    Ok((
        format!("{past_tick} instructions (handler's own cycle read included)"),
        format!(
            "{} instructions (over {next_n} dispatches)",
            next_sum * per / next_n
        ),
    ))
}

/// The default pipeline's cost: LL components per period and DP FIR per
/// block, the cycle reads' own cost taken off, with the share of a 1 ms
/// tick each would take on a 400 MHz DSP at one instruction per cycle.
fn audio(console: &str) -> Result<(String, String)> {
    let line = line_with(console, "bench audio: ")?;
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    let [periods, ll, blocks, dp, empty, underruns] = numbers[..] else {
        bail!("unexpected bench-audio line: {line}");
    };
    if underruns != 0 || blocks == 0 {
        bail!("the audio benchmark did not run cleanly: {line}");
    }
    let per = u64::from(sotto_abi::layout::INSTRUCTIONS_PER_CCOUNT);
    // `empty` is `periods` empty measurements.
    let ll = (ll - empty) * per / periods;
    let dp = (dp - empty * blocks / periods) * per / blocks;
    let share = |instructions: u64, ms: u64| instructions as f64 / (400_000.0 * ms as f64) * 100.0;
    Ok((
        format!(
            "{ll} instructions ({:.1}% of a 1 ms tick at 400 MHz)",
            share(ll, 1)
        ),
        format!(
            "{dp} instructions ({:.1}% of each 1 ms tick at 400 MHz, over {blocks} blocks)",
            share(dp, 10)
        ),
    ))
}

/// One result: the budget file's name for it, the table's, the count and
/// the text printed.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Name in `xtask/budgets.toml`.
    pub id: &'static str,
    /// Description.
    pub label: &'static str,
    /// The number compared with the budget.
    pub count: Option<f64>,
    /// What the benchmark printed.
    pub text: String,
}

fn measured(id: &'static str, label: &'static str, text: String) -> Measured {
    Measured {
        id,
        label,
        count: parse_count(&text),
        text,
    }
}

/// Kernel ticks the DAI benchmark runs (its DMA periods from the 5th to
/// the 25th are counted: both DAIs move a period in each).
const DAI_BENCH_TICKS: u32 = 30;

/// The DAIs' DMA model, one DMA period of `tests/dai.toml` (a playback
/// and a capture DAI at 1 ms, each moving a period and signalling the
/// test service's notification, the first signal waking it): the
/// instructions of `sotto_dma_run` from its entry to its return, counted
/// in QEMU's log of every kernel instruction it executes (`-singlestep -d
/// exec`, only the resident kernel's addresses). Each semihosting call is
/// one instruction there; the host's file work is not the guest's.
fn dai_period(paths: &Paths) -> Result<String> {
    let system = paths.root.join(crate::test::DAI_SYSTEM);
    let built = BootArgs::for_system(system).build(paths, false)?;
    let mut bytes = std::fs::read(&built.image)?;
    let mut config = sotto_image::read_boot_config(&bytes)?;
    config.run_ticks = DAI_BENCH_TICKS;
    sotto_image::write_boot_config(&mut bytes, &config)?;
    let entry = sotto_image::symbol_address(&bytes, "sotto_dma_run")?
        .context("the kernel has no `sotto_dma_run`")?;
    let image = paths.out.join("bench-dai-period.elf");
    std::fs::write(&image, &bytes)?;
    // QEMU's working directory: the DAIs' files, an input of silence.
    let dir = paths.out.join("bench-dai-period");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("dai-in.pcm"),
        vec![0; 48 * 8 * DAI_BENCH_TICKS as usize],
    )?;
    let log = dir.join("exec.log");
    let options = QemuOptions {
        dir: Some(dir.clone()),
        ..QemuOptions::default()
    };
    let status = qemu::command(&image, &options)
        .args(["-singlestep", "-d", "exec,nochain", "-dfilter"])
        .arg(format!(
            "{:#x}..{:#x}",
            sotto_abi::layout::KERNEL_BASE,
            sotto_abi::layout::KERNEL_BASE + 0xF_FFFF
        ))
        .arg("-D")
        .arg(&log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("running QEMU for the DAI benchmark")?;
    if !status.success() {
        bail!("the DAI benchmark stopped with {status}");
    }
    let text = std::fs::read_to_string(&log)?;
    let counts = dma_calls(&text, entry);
    let _ = std::fs::remove_dir_all(&dir);
    let steady = counts
        .get(4..25)
        .context("too few DMA periods in the log")?;
    let (min, max) = (steady.iter().min(), steady.iter().max());
    let (Some(&min), Some(&max)) = (min, max) else {
        bail!("no DMA periods in the log");
    };
    if min != max {
        bail!("DMA periods of {min} to {max} instructions: the benchmark is not steady");
    }
    Ok(format!(
        "{min} instructions (two DAIs, {} each; the wake of their driver included)",
        min / 2
    ))
}

/// Instructions of each call of the function at `entry` in a QEMU `-d
/// exec` log of single steps: from its first instruction to the one its
/// caller's `call0` (3 bytes, the instruction before it) returns to.
fn dma_calls(log: &str, entry: u64) -> Vec<u64> {
    let pcs = log.lines().filter_map(|line| {
        let fields = line.strip_prefix("Trace ")?.split_once('[')?.1;
        u64::from_str_radix(fields.split('/').nth(1)?, 16).ok()
    });
    let (mut counts, mut previous, mut open) = (Vec::new(), 0, None);
    for pc in pcs {
        match open {
            None if pc == entry => open = Some((previous + 3, 1)),
            Some((back, count)) if pc == back => {
                counts.push(count);
                open = None;
            }
            Some((back, count)) => open = Some((back, count + 1)),
            None => {}
        }
        previous = pc;
    }
    counts
}

/// Run every benchmark.
pub fn measure_all(paths: &Paths) -> Result<Vec<Measured>> {
    let test_system = paths.root.join("tests/system.toml");
    let built = BootArgs::for_system(test_system).build(paths, false)?;
    let image = std::fs::read(&built.image)?;
    let services = |starts: &[Start<'_>]| with_services(&image, starts, 10_000);
    let with_objects = |total: usize| -> Result<Vec<u8>> {
        let mut bytes = with_services(&image, &[Start::new("bench", 10)], 10_000)?;
        let manifest = sotto_image::read_manifest(&bytes)?;
        sotto_image::write_manifest(&mut bytes, &with_object_count(&manifest, total)?)?;
        Ok(bytes)
    };
    let kernel_only = {
        let mut bytes = image.clone();
        sotto_image::start_services(&mut bytes, &[])?;
        sotto_image::write_boot_config(
            &mut bytes,
            &BootConfig {
                tick_hz: 1000,
                run_ticks: 2,
                report_every: 0,
                self_test: SelfTest::None,
                ..BootConfig::default()
            },
        )?;
        bytes
    };
    // Threads of one service: an image of its own, whose crate enables
    // sotto-rt's `threads` feature (a build of its own, so the `bench`
    // crate's stubs stay as they are).
    let threads_system = paths.root.join("tests/bench-threads.toml");
    let threads_built = BootArgs::for_system(threads_system).build(paths, false)?;
    let threads_image = std::fs::read(&threads_built.image)?;
    let jobs: Vec<(&str, Vec<u8>)> = vec![
        ("null-syscall", services(&[Start::new("bench", 0)])?),
        (
            "context-switch",
            services(&[
                Start::new("bench", 1).named("bench-a"),
                Start::new("bench", 2).named("bench-b"),
            ])?,
        ),
        (
            "context-switch-threads",
            with_services(&threads_image, &[Start::new("bench-threads", 0)], 10_000)?,
        ),
        (
            "ipc",
            services(&[
                Start::new("bench", 3).named("server").priority(2),
                Start::new("bench", 4).named("client"),
            ])?,
        ),
        (
            "ipc-cap",
            services(&[
                Start::new("bench", 8).named("server").priority(2),
                Start::new("bench", 9).named("client"),
            ])?,
        ),
        ("semaphore", services(&[Start::new("bench", 5)])?),
        ("notification", services(&[Start::new("bench", 6)])?),
        ("timer", services(&[Start::new("bench", 7)])?),
        ("tick-10", with_objects(10)?),
        ("tick-100", with_objects(100)?),
        (
            "idle",
            with_services(&image, &[Start::new("bench", 11)], 1000)?,
        ),
        (
            "ll",
            services(&[
                Start::new("ll-sched", 0).priority(1),
                Start::new("ll-a", 7).priority(1),
            ])?,
        ),
        ("audio", services(&[Start::new("bench-audio", 0)])?),
        ("boot", services(&[])?),
        ("first-tick", kernel_only),
        // A service event of the trace of the schedule: recorded (the
        // boot configuration traces) and answered as a no-op (it does not).
        ("trace-on", traced(services(&[Start::new("bench", 13)])?)?),
        ("trace-off", services(&[Start::new("bench", 13)])?),
    ];
    let consoles = boot_all(
        paths,
        jobs.into_iter()
            .map(|(name, bytes)| (name.to_owned(), bytes))
            .collect(),
    )?;
    let [
        null_syscall,
        context_switch,
        context_switch_threads,
        ipc,
        ipc_cap,
        give,
        signal,
        timer,
        tick_10,
        tick_100,
        idle,
        ll,
        audio_run,
        boot_run,
        first_tick_run,
        trace_on,
        trace_off,
    ] = &consoles[..]
    else {
        bail!("{} consoles for 17 benchmarks", consoles.len());
    };
    let line = |console: &str, prefix: &str| -> Result<String> {
        Ok(line_with(console, prefix)?.to_owned())
    };
    let (ll_first, ll_next) = ll_dispatch(ll)?;
    let (audio_ll, audio_dp) = audio(audio_run)?;
    let (tick_10, tick_100) = (tick_cost(tick_10)?, tick_cost(tick_100)?);
    let idle_interrupts = line(idle, "interrupts: ")?;
    let dai = dai_period(paths)?;
    let text = sotto_image::section_size(&image, ".text")?.unwrap_or(0)
        + sotto_image::section_size(&image, ".vectors")?.unwrap_or(0);
    // Boot and exit code (`.boot.text`): unmapped while services run.
    let boot_text = sotto_image::section_size(&image, ".boot.text")?.unwrap_or(0);
    Ok(vec![
        measured(
            "null-syscall",
            "null system call (user -> kernel -> user)",
            line(null_syscall, "bench null-syscall: ")?,
        ),
        measured(
            "context-switch",
            "context switch between two services (yield)",
            line(context_switch, "bench context-switch: ")?,
        ),
        measured(
            "context-switch-threads",
            "context switch between two threads of one service (yield)",
            line(context_switch_threads, "bench context-switch-threads: ")?,
        ),
        measured(
            "ipc-round-trip",
            "IPC call + reply round trip, two services",
            line(ipc, "bench ipc-round-trip: ")?,
        ),
        measured(
            "ipc-cap-round-trip",
            "IPC round trip carrying one capability",
            format!(
                "{} (the server drops it)",
                line(ipc_cap, "bench ipc-cap-round-trip: ")?
            ),
        ),
        measured(
            "semaphore-give",
            "semaphore give, no waiter",
            line(give, "bench semaphore-give: ")?,
        ),
        measured(
            "notification-signal",
            "notification signal, no waiter",
            line(signal, "bench notification-signal: ")?,
        ),
        measured(
            "timer-wake",
            "timer interrupt to the waiting thread running",
            timer_wake_latency(timer)?,
        ),
        measured(
            "tick-10-objects",
            "kernel tick (a timer fires), 10 objects",
            format!("{tick_10:.2} instructions per timer interrupt"),
        ),
        measured(
            "tick-100-objects",
            "kernel tick (a timer fires), 100 objects",
            format!("{tick_100:.2} instructions per timer interrupt"),
        ),
        measured(
            "tick-100-minus-10-objects",
            "kernel tick, 100 objects minus 10 objects",
            format!("{:.2} instructions", tick_100 - tick_10),
        ),
        measured(
            "idle-interrupts",
            "timer interrupts in one idle second",
            format!("{idle_interrupts} (the first tick and the end of the run)"),
        ),
        measured(
            "ll-first-handler",
            "LL: timer interrupt to the first task handler",
            ll_first,
        ),
        measured(
            "ll-next-task",
            "LL: each additional task dispatched",
            ll_next,
        ),
        measured(
            "audio-ll",
            "audio: LL components of one 1 ms period",
            audio_ll,
        ),
        measured("audio-dp", "audio: DP FIR, one 10 ms block", audio_dp),
        measured(
            "reset-to-armed",
            "reset to timer armed (CCOUNT)",
            line(boot_run, "armed at ccount ")?,
        ),
        measured(
            "reset-to-first-tick",
            "reset to first tick (CCOUNT)",
            line(first_tick_run, "first tick at ccount ")?,
        ),
        measured("dai-period", "DAIs: the DMA model's period", dai),
        measured(
            "trace-event",
            "trace: a service event recorded (Trace call, tracing on)",
            traced_event(trace_on, 1)?,
        ),
        measured(
            "trace-event-off",
            "trace: the same call, tracing off (nothing recorded)",
            traced_event(trace_off, 0)?,
        ),
        measured(
            "kernel-text",
            "kernel resident .vectors + .text",
            format!("{text} bytes"),
        ),
        measured(
            "kernel-boot-exit-text",
            "kernel boot + exit text, unmapped in the run",
            format!("{boot_text} bytes"),
        ),
    ])
}

/// Run every benchmark and print the results; with `check`, also the
/// budget table, failing if a measure is over its budget.
pub fn run(paths: &Paths, check: bool) -> Result<ExitCode> {
    Ok(if run_and_check(paths, check)? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// [`run`]: whether every measure is within its budget (always, without
/// `check`).
pub fn run_and_check(paths: &Paths, check: bool) -> Result<bool> {
    // Read the budgets first: a broken file fails before minutes of QEMU.
    let budgets = if check {
        let path = paths.root.join(budget::FILE);
        Some(budget::load(&path).map_err(|error| anyhow::anyhow!("{error}"))?)
    } else {
        None
    };
    let results = measure_all(paths)?;
    println!(
        "benchmarks (QEMU dc233c, -icount shift=0: 1 instruction = 1 ns, 1 CCOUNT = 100 instructions)"
    );
    let width = results.iter().map(|m| m.label.len()).max().unwrap_or(0);
    for m in &results {
        println!("  {:width$} : {}", m.label, m.text);
    }
    let Some(budgets) = budgets else {
        return Ok(true);
    };
    let counts: Vec<(&str, &str, Option<f64>)> =
        results.iter().map(|m| (m.id, m.label, m.count)).collect();
    let (table, verdict) = budget::check(&budgets, &counts);
    println!();
    print!("{table}");
    match verdict {
        Ok(()) => {
            println!(
                "bench --check: every measure is within its budget ({})",
                budget::FILE
            );
            Ok(true)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(false)
        }
    }
}

/// The budget file and the check against it (host logic, tested against
/// `xtask/tests/fixtures/bench-budgets/`).
pub mod budget {
    use std::collections::BTreeMap;
    use std::fmt::Write;
    use std::path::Path;

    use serde::Deserialize;

    /// The budget file, from the workspace root.
    pub const FILE: &str = "xtask/budgets.toml";

    /// Every measure that has a budget: its name in the file, and what it
    /// is.
    pub const GATED: &[(&str, &str)] = &[
        ("null-syscall", "null system call"),
        ("semaphore-give", "semaphore give, no waiter"),
        ("notification-signal", "notification signal, no waiter"),
        (
            "context-switch",
            "context switch between two services (yield)",
        ),
        (
            "context-switch-threads",
            "context switch between two threads of one service (yield)",
        ),
        ("ipc-round-trip", "IPC call + reply round trip"),
        (
            "ipc-cap-round-trip",
            "IPC round trip carrying one capability",
        ),
        (
            "timer-wake",
            "timer interrupt to the waiting thread running",
        ),
        (
            "ll-first-handler",
            "LL: timer interrupt to the first task handler",
        ),
        ("ll-next-task", "LL: each additional task"),
        (
            "tick-100-minus-10-objects",
            "kernel tick cost, 100 objects minus 10 (independent of the object count)",
        ),
        ("kernel-text", "kernel resident .vectors + .text (bytes)"),
    ];

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        budgets: BTreeMap<String, u64>,
    }

    /// The budgets, by measure name, every gated measure present.
    pub type Budgets = BTreeMap<String, u64>;

    /// Read and check the budget file.
    pub fn load(path: &Path) -> Result<Budgets, String> {
        let shown = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{shown}: cannot read the budget file: {error}"))?;
        parse(&shown, &text)
    }

    /// Parse budget file text (`shown` names it in messages).
    pub fn parse(shown: &str, text: &str) -> Result<Budgets, String> {
        let file: File = toml::from_str(text).map_err(|error| {
            let message = error.message().trim_end();
            match error.span() {
                Some(span) => {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!("{shown}: line {line}: {message}")
                }
                None => format!("{shown}: {message}"),
            }
        })?;
        let mut problems = Vec::new();
        for name in file.budgets.keys() {
            if !GATED.iter().any(|(id, _)| id == name) {
                let known: Vec<&str> = GATED.iter().map(|(id, _)| *id).collect();
                problems.push(format!(
                    "{shown}: budgets: unknown measure \"{name}\" (measures: {})",
                    known.join(", ")
                ));
            }
        }
        for (id, what) in GATED {
            if !file.budgets.contains_key(*id) {
                problems.push(format!("{shown}: budgets: no budget for \"{id}\" ({what})"));
            }
        }
        if problems.is_empty() {
            Ok(file.budgets)
        } else {
            Err(problems.join("\n"))
        }
    }

    /// The table (measure, count, budget, ok or OVER) of every gated
    /// measure, and an error naming each one over its budget or not
    /// measured. `counts` are (name, description, count).
    pub fn check(
        budgets: &Budgets,
        counts: &[(&str, &str, Option<f64>)],
    ) -> (String, Result<(), String>) {
        let mut table = String::new();
        let _ = writeln!(
            table,
            "{:<28} {:>12} {:>10}  verdict",
            "measure", "count", "budget"
        );
        let mut failures = Vec::new();
        for (id, _) in GATED {
            let Some(budget) = budgets.get(*id) else {
                continue;
            };
            let count = counts
                .iter()
                .find(|(name, _, _)| name == id)
                .and_then(|(_, _, count)| *count);
            let (shown, verdict) = match count {
                Some(count) if count <= *budget as f64 => (format!("{count:.2}"), "ok"),
                Some(count) => {
                    failures.push(format!("{id} {count:.2} > {budget}"));
                    (format!("{count:.2}"), "OVER")
                }
                None => {
                    failures.push(format!("{id} not measured"));
                    ("-".to_owned(), "MISSING")
                }
            };
            let _ = writeln!(table, "{id:<28} {shown:>12} {budget:>10}  {verdict}");
        }
        let verdict = if failures.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "bench --check: {} of {} measures over budget or not measured: {}",
                failures.len(),
                budgets.len(),
                failures.join("; ")
            ))
        };
        (table, verdict)
    }

    #[cfg(test)]
    mod tests {
        use super::{GATED, check, parse};
        use crate::bench::parse_count;

        /// A count for every gated measure: 100, kernel text 40,000.
        fn counts() -> Vec<(&'static str, &'static str, Option<f64>)> {
            GATED
                .iter()
                .map(|(id, what)| {
                    let count = if *id == "kernel-text" {
                        40_000.0
                    } else {
                        100.0
                    };
                    (*id, *what, Some(count))
                })
                .collect()
        }

        #[test]
        fn budget_files_load_or_fail_with_their_message() {
            crate::fixtures::check("bench-budgets", 6, |path| {
                let budgets = super::load(path)?;
                check(&budgets, &counts()).1
            });
        }

        #[test]
        fn the_committed_budget_file_loads() {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("budgets.toml");
            let budgets = super::load(&path).unwrap();
            // The targets where they are met; ratchets elsewhere.
            assert_eq!(budgets["null-syscall"], 50);
            assert_eq!(budgets["semaphore-give"], 60);
            assert_eq!(budgets["notification-signal"], 60);
            assert_eq!(budgets["context-switch-threads"], 200);
            assert!(budgets["kernel-text"] <= 65536);
        }

        #[test]
        fn over_under_and_missing_measures() {
            let text: String = GATED
                .iter()
                .map(|(id, _)| format!("{id} = 100\n"))
                .collect();
            let budgets = parse("b.toml", &format!("[budgets]\n{text}")).unwrap();
            let mut counts = counts();
            counts[0].2 = Some(100.0); // exactly the budget: ok
            counts[1].2 = Some(100.01);
            counts[2].2 = None;
            let (table, verdict) = check(&budgets, &counts);
            assert!(table.contains("null-syscall"));
            assert!(
                table
                    .lines()
                    .any(|line| line.starts_with("semaphore-give") && line.ends_with("OVER")),
                "{table}"
            );
            assert!(
                table.lines().any(
                    |line| line.starts_with("notification-signal") && line.ends_with("MISSING")
                ),
                "{table}"
            );
            assert_eq!(
                verdict.unwrap_err(),
                "bench --check: 3 of 12 measures over budget or not measured: \
                 semaphore-give 100.01 > 100; notification-signal not measured; \
                 kernel-text 40000.00 > 100"
            );
        }

        #[test]
        fn counts_are_read_from_what_the_benchmarks_print() {
            assert_eq!(parse_count("381.79 instructions"), Some(381.79));
            assert_eq!(
                parse_count("1628 instructions (CCOUNT resolution: 100)"),
                Some(1628.0)
            );
            assert_eq!(parse_count("1,628 instructions"), Some(1628.0));
            assert_eq!(parse_count("74565 bytes"), Some(74565.0));
            assert_eq!(parse_count("-3.50 instructions"), Some(-3.5));
            assert_eq!(parse_count("no number"), None);
            assert_eq!(parse_count(""), None);
            assert_eq!(parse_count("NaN instructions"), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::dma_calls;

    #[test]
    fn dma_calls_count_from_the_entry_to_the_callers_next_instruction() {
        let line =
            |pc: u32| format!("Trace 0: 0x7f5780000100 [00000000/{pc:08x}/00018004/ff020201] \n");
        // Called from 0x100d32 (return to 0x100d35): 3 instructions, one
        // of them in a callee; then 2; lines that are not traces skipped.
        let log: String = [
            line(0x100d2f),
            line(0x100d32),
            line(0x104960),
            line(0x104963),
            line(0x108000),
            line(0x100d35),
            "Linking TBs\n".to_owned(),
            line(0x100d32),
            line(0x104960),
            line(0x104966),
            line(0x100d35),
            line(0x104963),
        ]
        .concat();
        assert_eq!(dma_calls(&log, 0x104960), [3, 2]);
    }
}
