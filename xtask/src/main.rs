//! `cargo xtask`: Sotto's build system, in Rust.
//!
//! It installs the toolchain (`setup`), builds the Xtensa image (`build`),
//! boots it in QEMU (`run`), runs every test (`test`) and soaks the kernel
//! in its fuzzers (`soak`). For the Xtensa
//! build it also runs as its own rustc wrapper and linker (see [`wrapper`]).

mod asm_rewrite;
mod bench;
#[cfg(test)]
mod fixtures;
mod new_service;
mod pipeline;
mod pipeline_file;
mod progress;
mod run;
mod run_audio;
mod soak;
mod system;
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
    /// Build the image of a system (target/sotto/sotto.elf for system.toml).
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
    /// Count instructions of kernel operations under QEMU -icount.
    Bench {
        /// Compare the counts with `xtask/budgets.toml`; fail naming every
        /// measure over its budget.
        #[arg(long)]
        check: bool,
    },
    /// Show what the built image grants: capabilities, memory map, reachability.
    Caps {
        /// The system description to build and inspect.
        #[arg(long, default_value = "system.toml")]
        system: std::path::PathBuf,
        /// Print the reachability graph in Graphviz's language.
        #[arg(long, conflicts_with_all = ["json", "diff"])]
        dot: bool,
        /// With --dot: also write an SVG (Graphviz's `dot`, which setup installs).
        #[arg(long, value_name = "FILE", requires = "dot")]
        svg: Option<std::path::PathBuf>,
        /// Print everything as JSON.
        #[arg(long)]
        json: bool,
        /// Show what changed from this other image to the built one.
        #[arg(long, value_name = "IMAGE")]
        diff: Option<std::path::PathBuf>,
    },
    /// Plot a WAV file's waveform and spectrum into a PNG, or (with
    /// --schedule) a window of the trace of the schedule as a timeline.
    Plot {
        /// The WAV file [default: target/sotto/out.wav].
        #[arg(conflicts_with = "schedule")]
        wav: Option<std::path::PathBuf>,
        /// The PNG to write [default: the WAV's name with .png; with
        /// --schedule: target/sotto/schedule.png].
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Draw the schedule recorded by `cargo xtask run --trace`: threads
        /// as rows, running slices as bars, LL ticks, DP releases,
        /// deadlines and blocks, misses and xruns in red.
        #[arg(long)]
        schedule: bool,
        /// With --schedule: the trace [default: target/sotto/trace.json].
        #[arg(long, requires = "schedule")]
        trace: Option<std::path::PathBuf>,
        /// With --schedule: where the window starts (virtual time, e.g. 500ms).
        #[arg(long, requires = "schedule", default_value = "500ms", value_parser = run::parse_duration_us)]
        from: u64,
        /// With --schedule: where the window ends (virtual time, e.g.
        /// 520ms) [default: 20 ms after --from].
        #[arg(long, requires = "schedule", value_parser = run::parse_duration_us)]
        to: Option<u64>,
    },
    /// Create a service crate and add it to system.toml.
    NewService {
        /// Crate and service name (lowercase, digits, '-').
        name: String,
    },
    /// The fuzzers, longer than in `test`: 10^6 host kernel-fuzzer steps and
    /// 10^6 hostile system calls in QEMU (not part of `test`).
    Soak {
        #[command(flatten)]
        soak: soak::SoakArgs,
    },
    /// Run the host unit tests and the QEMU integration tests.
    Test {
        /// Only the host unit tests.
        #[arg(long)]
        host_only: bool,
    },
}

/// Options written into the image's boot configuration. Unset options
/// come from the system file's `[kernel]` table, then from the defaults.
#[derive(Args, Clone)]
struct BootArgs {
    /// The system description to build.
    #[arg(long, default_value = "system.toml")]
    system: std::path::PathBuf,
    /// Timer tick rate in Hz (must divide the 10 MHz CCOUNT rate) [default:
    /// the system file's `[kernel] tick_hz`, else 1000].
    #[arg(long)]
    tick_hz: Option<u32>,
    /// Virtual time before a clean shutdown, e.g. `1s`, `250ms`, `0` for no
    /// limit [default: the system file's `[kernel] time` (2s in
    /// system.toml), else 1s].
    #[arg(long, value_parser = run::parse_duration_us)]
    time: Option<u64>,
    /// Print a tick line this often (virtual time), `0` for never [default:
    /// the system file's `[kernel] report_every`, else 250ms].
    #[arg(long, value_parser = run::parse_duration_us)]
    report_every: Option<u64>,
    /// Run a kernel self-test instead of the services.
    #[arg(long, default_value = "none", value_parser = parse_self_test)]
    self_test: SelfTest,
    /// Use this pipeline file instead of the one the system file names
    /// (the image is then `target/sotto/<system>-<pipeline>.elf`).
    #[arg(long)]
    pipeline: Option<std::path::PathBuf>,
    /// Make a service's main thread (SERVICE) or one of its threads
    /// (SERVICE/THREAD) fault at a virtual time (e.g. `pipeline@500ms`,
    /// `pipeline/eq@1.2s`), as if it took an exception there; repeatable,
    /// at most 16.
    #[arg(long = "fault", value_name = "SERVICE[/THREAD]@TIME", value_parser = run::parse_fault)]
    faults: Vec<run::FaultArg>,
    /// Record a trace of the schedule: `run` writes target/sotto/trace.json
    /// (Chrome trace-event format: Perfetto, chrome://tracing; `cargo
    /// xtask plot --schedule` draws it).
    #[arg(long)]
    trace: bool,
    /// Build the kernel with its self-tests even without `--self-test`
    /// (the QEMU tests boot one such image with each self-test).
    #[arg(skip)]
    self_tests: bool,
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
    /// Everything from the system file `system`.
    fn for_system(system: std::path::PathBuf) -> BootArgs {
        BootArgs {
            system,
            tick_hz: None,
            time: None,
            report_every: None,
            self_test: SelfTest::None,
            pipeline: None,
            faults: Vec::new(),
            trace: false,
            self_tests: false,
        }
    }

    /// The same, with the kernel's self-tests compiled in.
    fn with_self_tests(mut self) -> BootArgs {
        self.self_tests = true;
        self
    }

    /// The kernel this image needs: self-tests only when asked for.
    fn kernel(&self) -> pipeline::KernelVariant {
        if self.self_tests || self.self_test != SelfTest::None {
            pipeline::KernelVariant::SelfTests
        } else {
            pipeline::KernelVariant::Normal
        }
    }

    /// The same, with another pipeline file.
    fn with_pipeline(mut self, pipeline: std::path::PathBuf) -> BootArgs {
        self.pipeline = Some(pipeline);
        self
    }

    fn config(&self, kernel: &system::KernelSection) -> Result<BootConfig> {
        let from_file = |value: &Option<String>, field: &str| -> Result<Option<u64>> {
            value
                .as_deref()
                .map(|text| {
                    run::parse_duration_us(text).map_err(|e| {
                        anyhow::anyhow!("{}: [kernel] {field}: {e}", self.system.display())
                    })
                })
                .transpose()
        };
        let tick_hz = self.tick_hz.or(kernel.tick_hz).unwrap_or(1000);
        let time = self
            .time
            .or(from_file(&kernel.time, "time")?)
            .unwrap_or(1_000_000);
        let report_every = self
            .report_every
            .or(from_file(&kernel.report_every, "report_every")?)
            .unwrap_or(250_000);
        let ticks = |us: u64| -> Result<u32> {
            let ticks = us * u64::from(tick_hz) / 1_000_000;
            u32::try_from(ticks).map_err(|_| anyhow::anyhow!("{us} µs is too long at {tick_hz} Hz"))
        };
        let config = BootConfig {
            tick_hz,
            run_ticks: ticks(time)?,
            report_every: ticks(report_every)?,
            self_test: self.self_test,
            trace: self.trace,
            ..BootConfig::default()
        };
        config
            .validate()
            .map_err(|error| anyhow::anyhow!("tick_hz: {error}"))?;
        if time > 0 && config.run_ticks == 0 {
            anyhow::bail!("the time limit is shorter than one tick at {tick_hz} Hz");
        }
        Ok(config)
    }

    /// The system file's path, and the pipeline file replacing the one
    /// it names (`--pipeline`), absolute.
    fn paths(
        &self,
        paths: &pipeline::Paths,
    ) -> Result<(std::path::PathBuf, Option<std::path::PathBuf>)> {
        let path = if self.system.is_absolute() {
            self.system.clone()
        } else {
            paths.root.join(&self.system)
        };
        let audio = self
            .pipeline
            .as_deref()
            .map(std::path::absolute)
            .transpose()?;
        Ok((path, audio))
    }

    /// The system the image is built from, and its file's path.
    fn load(&self, paths: &pipeline::Paths) -> Result<(std::path::PathBuf, system::System)> {
        let (path, audio) = self.paths(paths)?;
        let system = pipeline::load_system(paths, &path, audio.as_deref())?;
        Ok((path, system))
    }

    fn build(&self, paths: &pipeline::Paths, verbose: bool) -> Result<pipeline::Built> {
        let (path, audio) = self.paths(paths)?;
        let system = pipeline::load_system(paths, &path, audio.as_deref())?;
        for warning in &system.warnings {
            eprintln!("warning: {}: {warning}", path.display());
        }
        let mut config = self.config(&system.file.kernel)?;
        run::inject_faults(&self.faults, &system.file.services, &mut config)
            .map_err(|problem| anyhow::anyhow!("{problem}"))?;
        if let Some(problem) = system::pipeline_tick_problem(&system.file, Some(config.tick_hz)) {
            anyhow::bail!("{}: {problem}", self.system.display());
        }
        if let Some(problem) = system::dai_tick_problems(&system.file, Some(config.tick_hz)).first()
        {
            anyhow::bail!("{}: {problem}", self.system.display());
        }
        let mut image = paths.image_for(&path);
        if let Some(stem) = audio.as_deref().and_then(std::path::Path::file_stem) {
            let system_stem = image.file_stem().unwrap_or_default().to_string_lossy();
            let name = format!("{system_stem}-{}.elf", stem.to_string_lossy());
            image.set_file_name(name);
        }
        let kernel = self.kernel();
        if kernel == pipeline::KernelVariant::SelfTests {
            // `sotto.elf` -> `sotto-selftest.elf`: a kernel of its own.
            let stem = image.file_stem().unwrap_or_default().to_string_lossy();
            let name = format!("{stem}-selftest.elf");
            image.set_file_name(name);
        }
        pipeline::build_image(paths, &system, &config, &image, kernel, verbose)
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

/// The window `plot --schedule` draws when only `--from` is given (µs).
const SCHEDULE_WINDOW_US: u64 = 20_000;

/// `plot --schedule`'s window (µs) from `--from` and `--to` (by default
/// [`SCHEDULE_WINDOW_US`] after `--from`).
fn schedule_window(from: u64, to: Option<u64>) -> (u64, u64) {
    (from, to.unwrap_or(from.saturating_add(SCHEDULE_WINDOW_US)))
}

/// `cargo xtask run`: check the input (before building), build, put the
/// input in the run's directory, boot, and write the output.
fn run_command(
    paths: &pipeline::Paths,
    mut boot: BootArgs,
    run: &run::RunArgs,
) -> Result<ExitCode> {
    let output = run
        .output
        .clone()
        .unwrap_or_else(|| paths.out.join("out.wav"));
    run::forget_output(&output)?;
    let (system_path, system) = boot.load(paths)?;
    let audio = run_audio::SystemAudio::of(&system, &system_path);
    let input = run_audio::prepare_input(run.input.as_deref(), &audio)?;
    // Refused before building: an --output nothing plays to.
    run_audio::playback_for_output(&system.objects, run.output.as_deref())?;
    if let Some(input) = &input {
        boot.time = boot.time.or(Some(input.run_us));
    }
    let built = boot.build(paths, false)?;
    let files = run::RunFiles {
        dir: paths.out.join("run"),
        playback: run_audio::playback_for_output(&built.manifest.objects, run.output.as_deref())?,
        output,
    };
    run_audio::prepare_dir(&files.dir, input.as_ref())?;
    if let Some(input) = &input {
        let run_us =
            u64::from(built.config.run_ticks) * 1_000_000 / u64::from(built.config.tick_hz.max(1));
        println!("{}", run_audio::input_line(input, run_us));
    }
    let status = run::run(&built.image, run, &files, &built.config)?;
    if boot.trace {
        let json = paths.out.join("trace.json");
        let bin = files.dir.join(sotto_abi::trace::FILE);
        let summary = sotto_trace::convert(&bin, &built.manifest, &json)?;
        println!("{}", sotto_trace::summary_line(&summary, &json));
    }
    if run.check {
        let Some(dai) = &files.playback else {
            anyhow::bail!("--check: the system has no playback DAI");
        };
        let image = std::fs::read(&built.image)?;
        let line = run_audio::check_output(&image, input.as_ref(), &files.output, dai)?;
        println!("{line}");
    }
    Ok(status)
}

fn run_cli(cli: Cli) -> Result<ExitCode> {
    let paths = pipeline::Paths::new();
    match cli.command {
        Command::Setup => {
            toolchain::ensure_installed(false)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { boot, verbose } => {
            let built = boot.build(&paths, verbose)?;
            run::print_sizes(&built.image)?;
            run::print_services(&built.manifest);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { boot, run } => run_command(&paths, boot, &run),
        Command::Test { host_only } => test::run_all(&paths, host_only),
        Command::Soak { soak } => soak::soak(&paths, soak),
        Command::Bench { check } => bench::run(&paths, check),
        Command::Caps {
            system,
            dot,
            svg,
            json,
            diff,
        } => {
            let built = BootArgs::for_system(system).build(&paths, false)?;
            let report = sotto_caps::report(&built.manifest);
            if let Some(other) = diff {
                let bytes = std::fs::read(&other)?;
                let old = sotto_caps::report(&sotto_image::read_manifest(&bytes)?);
                print!("{}", sotto_caps::diff(&old, &report));
            } else if json {
                print!("{}", sotto_caps::render_json(&report));
            } else if dot {
                let text = sotto_caps::render_dot(&report);
                print!("{text}");
                if let Some(svg) = svg {
                    sotto_caps::write_svg(&text, &svg)?;
                }
            } else {
                println!("image: {}\n", built.image.display());
                print!("{}", sotto_caps::render_text(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plot {
            schedule: true,
            out,
            trace,
            from,
            to,
            ..
        } => {
            let (from, to) = schedule_window(from, to);
            let trace = trace.unwrap_or_else(|| paths.out.join("trace.json"));
            let out = out.unwrap_or_else(|| paths.out.join("schedule.png"));
            let drawn = sotto_trace::plot::plot_file(&trace, from as f64, to as f64, &out)?;
            println!(
                "plot: wrote {} ({} rows, {} bars, {} marks of which {} misses, xruns or faults; {} ms to {} ms)",
                out.display(),
                drawn.rows,
                drawn.bars,
                drawn.marks,
                drawn.alarms,
                from as f64 / 1000.0,
                to as f64 / 1000.0
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plot { wav, out, .. } => {
            let wav = wav.unwrap_or_else(|| paths.out.join("out.wav"));
            let out = out.unwrap_or_else(|| wav.with_extension("png"));
            // Any width: drawn from each sample's top 16 bits.
            let (_, samples) = sotto_audio::read_wav_any(&wav)?;
            let samples: Vec<i16> = samples.iter().map(|s| (s >> 16) as i16).collect();
            sotto_audio::plot(&samples, &out)?;
            println!(
                "plot: wrote {} (waveform: first 20 ms and all; spectrum of the last 4096 frames)",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::NewService { name } => {
            new_service::create(&paths.root, &name)?;
            println!(
                "created services/{name} and added it to system.toml (console + a 16 KiB heap at 0x50000000)"
            );
            println!("next: `cargo xtask run` builds and boots it");
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    /// The window `plot --schedule` is given: (from, to) in µs.
    fn window(args: &[&str]) -> (u64, u64) {
        let cli = Cli::try_parse_from([&["xtask", "plot", "--schedule"], args].concat())
            .unwrap_or_else(|error| panic!("{args:?}: {error}"));
        match cli.command {
            Command::Plot { from, to, .. } => super::schedule_window(from, to),
            _ => panic!("not a plot"),
        }
    }

    #[test]
    fn a_schedule_window_from_alone_ends_20_ms_later() {
        // `--from 600ms` alone once met the default `--to` of 520 ms and
        // was refused as a backward window.
        assert_eq!(window(&["--from", "600ms"]), (600_000, 620_000));
        assert_eq!(window(&[]), (500_000, 520_000), "the README's window");
        assert_eq!(
            window(&["--from", "1s", "--to", "1.5s"]),
            (1_000_000, 1_500_000)
        );
        assert_eq!(
            window(&["--to", "10ms"]),
            (500_000, 10_000),
            "refused later"
        );
    }
}
