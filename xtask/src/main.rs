//! `cargo xtask`: Sotto's build system, in Rust.
//!
//! It installs the toolchain (`setup`), builds the Xtensa image (`build`),
//! boots it in QEMU (`run`) and runs every test (`test`). For the Xtensa
//! build it also runs as its own rustc wrapper and linker (see [`wrapper`]).

mod pipeline;
mod run;
mod test;
mod toolchain;
mod wrapper;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use sotto_abi::{BootConfig, SelfTest};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run and test Sotto", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the Debian packages the Xtensa build needs (apt-get, as root).
    Setup,
    /// Build the kernel image (target/sotto/sotto.elf).
    Build {
        #[command(flatten)]
        boot: BootArgs,
        /// Show cargo's progress and timing.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Build and boot the image in QEMU; exits with the image's status.
    Run {
        #[command(flatten)]
        boot: BootArgs,
        #[command(flatten)]
        run: run::RunArgs,
    },
    /// Run the host unit tests and the QEMU integration tests.
    Test {
        /// Only the host unit tests.
        #[arg(long)]
        host_only: bool,
    },
}

/// Options written into the image's boot configuration.
#[derive(Args, Clone)]
struct BootArgs {
    /// Timer tick rate in Hz (must divide the 10 MHz CCOUNT rate).
    #[arg(long, default_value_t = 1000)]
    tick_hz: u32,
    /// Virtual time to run before a clean shutdown, e.g. `1s`, `250ms`, `0`
    /// for no limit.
    #[arg(long, default_value = "1s", value_parser = run::parse_duration_us)]
    time: u64,
    /// Print a tick line this often (virtual time), `0` for never.
    #[arg(long, default_value = "250ms", value_parser = run::parse_duration_us)]
    report_every: u64,
    /// Run a kernel self-test instead of the system.
    #[arg(long, default_value = "none", value_parser = parse_self_test)]
    self_test: SelfTest,
}

fn parse_self_test(name: &str) -> Result<SelfTest, String> {
    SelfTest::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = SelfTest::ALL.iter().map(|test| test.name()).collect();
        format!(
            "unknown self-test `{name}`; choose one of: {}",
            names.join(", ")
        )
    })
}

impl BootArgs {
    fn config(&self) -> Result<BootConfig> {
        let ticks = |us: u64| -> Result<u32> {
            let ticks = us * u64::from(self.tick_hz) / 1_000_000;
            u32::try_from(ticks)
                .map_err(|_| anyhow::anyhow!("{us} µs is too long at {} Hz", self.tick_hz))
        };
        let config = BootConfig {
            tick_hz: self.tick_hz,
            run_ticks: ticks(self.time)?,
            report_every: ticks(self.report_every)?,
            self_test: self.self_test,
        };
        config
            .validate()
            .map_err(|error| anyhow::anyhow!("--tick-hz: {error}"))?;
        if self.time > 0 && config.run_ticks == 0 {
            anyhow::bail!("--time is shorter than one tick at {} Hz", self.tick_hz);
        }
        Ok(config)
    }
}

fn main() -> ExitCode {
    if let Some(role) = wrapper::role() {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        return match role.as_str() {
            wrapper::ROLE_RUSTC => wrapper::run_rustc_wrapper(args),
            wrapper::ROLE_LINKER => wrapper::run_linker(args),
            other => {
                eprintln!("error: unknown {} `{other}`", wrapper::ROLE_ENV);
                ExitCode::FAILURE
            }
        };
    }
    match run_cli(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cli(cli: Cli) -> Result<ExitCode> {
    let paths = pipeline::Paths::new();
    match cli.command {
        Command::Setup => {
            toolchain::ensure_installed(false)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { boot, verbose } => {
            let built = pipeline::build(&paths, &boot.config()?, verbose)?;
            run::print_sizes(&built.image)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { boot, run } => {
            let built = pipeline::build(&paths, &boot.config()?, false)?;
            run::run(&built.image, &run)
        }
        Command::Test { host_only } => test::run_all(&paths, host_only),
    }
}
