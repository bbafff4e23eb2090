//! `cargo xtask soak`: the fuzzers of the CI run, longer (not part of
//! `cargo xtask test`). The host state-machine fuzzer of the kernel
//! (`kernel/src/fuzz.rs`) runs 10^6 steps in release mode; the hostile
//! QEMU test (`tests/tests/hostile.rs`) runs 5 x 10^5 random system calls
//! in each of its two hostile services. Each part's wall time is printed.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::BootArgs;
use crate::pipeline::Paths;
use crate::test::HOSTILE_SYSTEM;

/// How long to soak.
#[derive(clap::Args, Clone, Copy)]
pub struct SoakArgs {
    /// Steps of the host kernel fuzzer.
    #[arg(long, default_value_t = 1_000_000)]
    pub steps: u64,
    /// Thousands of calls each of the two hostile services makes.
    #[arg(long, default_value_t = 500)]
    pub kcalls: u32,
    /// Seed of both fuzzers (the CI run's are fixed).
    #[arg(long)]
    pub seed: Option<u64>,
}

fn run(what: &str, mut command: Command) -> Result<bool> {
    println!("soak: {what}");
    let started = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("running {what}"))?;
    println!(
        "soak: {what}: {} in {:.1} s of wall time",
        if status.success() { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    Ok(status.success())
}

/// Run both soaks; fail if either fails.
pub fn soak(paths: &Paths, args: SoakArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let mut host = Command::new("cargo");
    host.current_dir(&paths.root)
        .args(["test", "--release", "-p", "sotto-kernel", "--lib"])
        .arg("fuzz::random_system_call_sequences_keep_the_kernel_invariants")
        .args(["--", "--nocapture"])
        .env("SOTTO_FUZZ_STEPS", args.steps.to_string());
    if let Some(seed) = args.seed {
        host.env("SOTTO_FUZZ_SEED", seed.to_string());
    }
    let host_ok = run(&format!("host kernel fuzzer, {} steps", args.steps), host)?;

    println!("soak: building the default and the hostile images");
    for system in [paths.default_system(), paths.root.join(HOSTILE_SYSTEM)] {
        BootArgs::for_system(system).build(paths, false)?;
    }
    let mut qemu = Command::new("cargo");
    qemu.current_dir(&paths.root)
        .args(["test", "-p", "sotto-tests", "--test", "hostile"])
        .args(["--", "--nocapture"])
        .env(sotto_image::IMAGE_DIR_ENV, &paths.out)
        .env("SOTTO_HOSTILE_KCALLS", args.kcalls.to_string())
        // About 30 s for 10^6 calls; more on a busy machine.
        .env("SOTTO_WALL_LIMIT_S", "900");
    if let Some(seed) = args.seed {
        qemu.env("SOTTO_HOSTILE_SEED", seed.to_string());
    }
    let qemu_ok = run(
        &format!(
            "hostile services in QEMU, {} calls each",
            u64::from(args.kcalls) * 1000
        ),
        qemu,
    )?;
    println!(
        "soak: {} in {:.1} s of wall time",
        if host_ok && qemu_ok {
            "passed"
        } else {
            "FAILED"
        },
        started.elapsed().as_secs_f64()
    );
    Ok(if host_ok && qemu_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
