//! `cargo xtask test`: host unit tests, then the QEMU integration tests
//! (`tests/`) against a freshly built image, then the instruction budgets
//! (`cargo xtask bench --check`), ending with one summary line.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use crate::BootArgs;
use crate::pipeline::Paths;
use anyhow::{Context, Result};

/// Passed and failed counts, summed over cargo's `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    passed: u64,
    failed: u64,
}

impl Tally {
    /// Add the counts of one `test result: ok. 9 passed; 0 failed; ...` line.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        let words: Vec<&str> = rest
            .split([' ', ';', '.'])
            .filter(|word| !word.is_empty())
            .collect();
        for pair in words.windows(2) {
            match pair[1] {
                "passed" => self.passed += pair[0].parse::<u64>().unwrap_or(0),
                "failed" => self.failed += pair[0].parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
}

/// Run `cargo test ARGS`, streaming its output and counting its results;
/// `image_dir` tells the integration tests where the images are.
fn cargo_test(
    paths: &Paths,
    args: &[&str],
    image_dir: Option<&Path>,
    tally: &mut Tally,
) -> Result<bool> {
    let mut command = Command::new("cargo");
    command
        .current_dir(&paths.root)
        .arg("test")
        // Run every test binary, so the summary counts every failure.
        .arg("--no-fail-fast")
        .args(args)
        .stdout(Stdio::piped());
    if let Some(dir) = image_dir {
        command.env(sotto_image::IMAGE_DIR_ENV, dir);
    }
    let mut child = command.spawn().context("running cargo test")?;
    let stdout = child.stdout.take().context("no stdout from cargo test")?;
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        tally.add_line(&line);
        writeln!(out, "{line}")?;
    }
    Ok(child.wait()?.success())
}

/// The README's example of a changed topology, booted by the QEMU tests as
/// `sotto-readme-example.elf`.
const README_PIPELINE: &str = "xtask/tests/fixtures/pipelines/readme-example.toml";

/// The shipped capture pipeline (capture -> gain -> FIR (DP) -> sink),
/// booted by `tests/tests/audio.rs` as `sotto-file-eq.elf` with a
/// `dai-in.pcm` of its own.
const FILE_EQ_PIPELINE: &str = "pipelines/file-eq.toml";

/// The default system with hostile services next to it, booted by
/// `tests/tests/hostile.rs` as `hostile.elf`.
pub const HOSTILE_SYSTEM: &str = "tests/hostile.toml";

/// The preemption proof's system (a 40 ms and a 2 ms DP task), booted by
/// `tests/tests/dp_edf.rs` as `dp-edf.elf`.
pub const DP_EDF_SYSTEM: &str = "tests/dp-edf.toml";

/// LL scheduling across restarts: ll-sched and two clients under a test
/// supervisor (`tests/tests/ll_restart.rs`).
pub const LL_RESTART_SYSTEM: &str = "tests/ll-restart.toml";

/// The DAIs as hardware: a playback and a capture DAI driven by
/// `test-dai` (`tests/tests/dai.rs`).
pub const DAI_SYSTEM: &str = "tests/dai.toml";

/// Run every test; stop at the first failing stage.
pub fn run_all(paths: &Paths, host_only: bool) -> Result<ExitCode> {
    let mut tally = Tally::default();
    println!("test: host unit tests");
    let mut ok = cargo_test(paths, &[], None, &mut tally)?;
    if ok && !host_only {
        println!(
            "test: building the default image, the test images, the hostile image, the README's and the file-eq pipelines and the self-test kernel"
        );
        for system in [
            // (Also booted traced by tests/tests/trace.rs.)
            paths.default_system(),
            paths.root.join("tests/system.toml"),
            paths.root.join("tests/audio.toml"),
            paths.root.join("tests/isolation.toml"),
            paths.root.join("tests/threads.toml"),
            paths.root.join("tests/thread-control.toml"),
            paths.root.join(LL_RESTART_SYSTEM),
            paths.root.join("tests/supervision.toml"),
            paths.root.join(DP_EDF_SYSTEM),
            paths.root.join(HOSTILE_SYSTEM),
            paths.root.join(DAI_SYSTEM),
        ] {
            BootArgs::for_system(system).build(paths, false)?;
        }
        for pipeline in [README_PIPELINE, FILE_EQ_PIPELINE] {
            BootArgs::for_system(paths.default_system())
                .with_pipeline(paths.root.join(pipeline))
                .build(paths, false)?;
        }
        // The kernel's self-tests: the default system, its kernel built
        // with them (`sotto-selftest.elf`).
        BootArgs::for_system(paths.default_system())
            .with_self_tests()
            .build(paths, false)?;
        println!("test: QEMU integration tests");
        ok = cargo_test(
            paths,
            &["-p", "sotto-tests", "--tests"],
            Some(&paths.out),
            &mut tally,
        )?;
        // Last, and counted as one test: the budgets of
        // `xtask/budgets.toml` (deterministic instruction counts).
        println!("test: instruction budgets (cargo xtask bench --check)");
        let within = match crate::bench::run_and_check(paths, true) {
            Ok(within) => within,
            Err(error) => {
                eprintln!("bench --check: {error:#}");
                false
            }
        };
        if within {
            tally.passed += 1;
        } else {
            tally.failed += 1;
        }
        ok &= within;
    }
    if !ok && tally.failed == 0 {
        // A build error, not a failing test: still not a pass.
        tally.failed = 1;
    }
    println!("summary: {} passed, {} failed", tally.passed, tally.failed);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn sums_cargo_result_lines() {
        let mut tally = Tally::default();
        tally.add_line("test result: ok. 9 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s");
        tally.add_line("test result: FAILED. 6 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.07s");
        tally.add_line("running 9 tests");
        assert_eq!(
            tally,
            Tally {
                passed: 15,
                failed: 2
            }
        );
    }
}
