//! `cargo xtask bench`: deterministic instruction counts under QEMU
//! `-icount shift=0` (one instruction per nanosecond; CCOUNT at 10 MHz
//! advances once per 100 instructions). Each benchmark boots the test image
//! with the services it needs and reads the numbers they print.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sotto_abi::{BootConfig, SelfTest};
use sotto_image::Start;
use sotto_image::qemu::{self, QemuOptions};

use crate::BootArgs;
use crate::pipeline::Paths;

/// Boot `bytes` and return its console, failing unless it exits 0.
fn boot(paths: &Paths, bytes: &[u8], name: &str) -> Result<String> {
    let path = paths.out.join(format!("bench-{name}.elf"));
    std::fs::write(&path, bytes)?;
    let (console, status) =
        qemu::run_captured(&path, &QemuOptions::default(), Duration::from_secs(120))?;
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

/// Boot the test image starting `starts` and return the console.
fn run_services(paths: &Paths, image: &[u8], starts: &[Start<'_>], name: &str) -> Result<String> {
    let mut bytes = image.to_vec();
    sotto_image::start_services(&mut bytes, starts)?;
    let config = BootConfig {
        tick_hz: 1000,
        run_ticks: 10_000,
        report_every: 0,
        self_test: SelfTest::None,
    };
    sotto_image::write_boot_config(&mut bytes, &config)?;
    boot(paths, &bytes, name)
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

/// Run every benchmark and print a table.
pub fn run(paths: &Paths) -> Result<ExitCode> {
    let test_system = paths.root.join("tests/system.toml");
    let built = BootArgs::for_system(test_system).build(paths, false)?;
    let image = std::fs::read(&built.image)?;
    let measure = |starts: &[Start<'_>], name: &str, prefix: &str| -> Result<String> {
        let console = run_services(paths, &image, starts, name)?;
        Ok(line_with(&console, prefix)?.to_owned())
    };
    let null_syscall = measure(
        &[Start::new("bench", 0)],
        "null-syscall",
        "bench null-syscall: ",
    )?;
    let context_switch = measure(
        &[
            Start::new("bench", 1).named("bench-a"),
            Start::new("bench", 2).named("bench-b"),
        ],
        "context-switch",
        "bench context-switch: ",
    )?;
    let ipc = measure(
        &[
            Start::new("bench", 3).named("server").priority(2),
            Start::new("bench", 4).named("client"),
        ],
        "ipc",
        "bench ipc-round-trip: ",
    )?;
    let give = measure(
        &[Start::new("bench", 5)],
        "semaphore",
        "bench semaphore-give: ",
    )?;
    let signal = measure(
        &[Start::new("bench", 6)],
        "notification",
        "bench notification-signal: ",
    )?;
    let timer = timer_wake_latency(&run_services(
        paths,
        &image,
        &[Start::new("bench", 7)],
        "timer",
    )?)?;
    let (ll_first, ll_next) = ll_dispatch(&run_services(
        paths,
        &image,
        &[
            Start::new("ll-sched", 0).priority(1),
            Start::new("ll-a", 7).priority(1),
        ],
        "ll",
    )?)?;
    let (audio_ll, audio_dp) = audio(&run_services(
        paths,
        &image,
        &[Start::new("bench-audio", 0)],
        "audio",
    )?)?;
    let console = run_services(paths, &image, &[], "boot")?;
    let armed = line_with(&console, "armed at ccount ")?.to_owned();
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
            },
        )?;
        boot(paths, &bytes, "first-tick")?
    };
    let first_tick = line_with(&kernel_only, "first tick at ccount ")?.to_owned();

    let text = sotto_image::section_size(&image, ".text")?.unwrap_or(0)
        + sotto_image::section_size(&image, ".vectors")?.unwrap_or(0);
    println!(
        "benchmarks (QEMU dc233c, -icount shift=0: 1 instruction = 1 ns, 1 CCOUNT = 100 instructions)"
    );
    println!("  null system call (user -> kernel -> user)     : {null_syscall}");
    println!("  context switch between two services (yield)  : {context_switch}");
    println!("  IPC call + reply round trip, two services     : {ipc}");
    println!("  semaphore give, no waiter                     : {give}");
    println!("  notification signal, no waiter                : {signal}");
    println!("  timer interrupt to the waiting thread running : {timer}");
    println!("  LL: timer interrupt to the first task handler : {ll_first}");
    println!("  LL: each additional task dispatched           : {ll_next}");
    println!("  audio: LL components of one 1 ms period       : {audio_ll}");
    println!("  audio: DP FIR, one 10 ms block                : {audio_dp}");
    println!("  reset to timer armed (CCOUNT)                 : {armed}");
    println!("  reset to first tick (CCOUNT)                  : {first_tick}");
    println!("  kernel .vectors + .text                       : {text} bytes");
    Ok(ExitCode::SUCCESS)
}
