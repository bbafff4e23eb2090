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

/// Run every benchmark and print a table.
pub fn run(paths: &Paths) -> Result<ExitCode> {
    let test_system = paths.root.join("tests/system.toml");
    let built = BootArgs::for_system(test_system).build(paths, false)?;
    let image = std::fs::read(&built.image)?;
    let config = BootConfig {
        tick_hz: 1000,
        run_ticks: 10_000,
        report_every: 0,
        self_test: SelfTest::None,
    };

    let mut null = image.clone();
    sotto_image::start_services(&mut null, &[Start::new("bench", 0)])?;
    sotto_image::write_boot_config(&mut null, &config)?;
    let console = boot(paths, &null, "null-syscall")?;
    let null_syscall = line_with(&console, "bench null-syscall: ")?.to_owned();

    let mut switch = image.clone();
    sotto_image::start_services(
        &mut switch,
        &[
            Start::new("bench", 1).named("bench-a"),
            Start::new("bench", 2).named("bench-b"),
        ],
    )?;
    sotto_image::write_boot_config(&mut switch, &config)?;
    let console = boot(paths, &switch, "context-switch")?;
    let context_switch = line_with(&console, "bench context-switch: ")?.to_owned();

    let mut kernel_only = image.clone();
    sotto_image::start_services(&mut kernel_only, &[])?;
    sotto_image::write_boot_config(
        &mut kernel_only,
        &BootConfig {
            run_ticks: 2,
            ..config
        },
    )?;
    let console = boot(paths, &kernel_only, "boot")?;
    let armed = line_with(&console, "armed at ccount ")?.to_owned();
    let first_tick = line_with(&console, "first tick at ccount ")?.to_owned();

    let text = sotto_image::section_size(&image, ".text")?.unwrap_or(0)
        + sotto_image::section_size(&image, ".vectors")?.unwrap_or(0);
    println!(
        "benchmarks (QEMU dc233c, -icount shift=0: 1 instruction = 1 ns, 1 CCOUNT = 100 instructions)"
    );
    println!("  null system call (user -> kernel -> user) : {null_syscall}");
    println!("  context switch between two services       : {context_switch}");
    println!("  reset to timer armed (CCOUNT)             : {armed}");
    println!("  reset to first tick (CCOUNT)              : {first_tick}");
    println!("  kernel .vectors + .text                   : {text} bytes");
    Ok(ExitCode::SUCCESS)
}
