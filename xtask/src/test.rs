//! `cargo xtask test`: host unit tests, then the QEMU integration tests
//! (`tests/`) against a freshly built image.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use sotto_abi::BootConfig;

use crate::pipeline::{self, Paths};

/// Run every test; stop at the first failing stage.
pub fn run_all(paths: &Paths, host_only: bool) -> Result<ExitCode> {
    println!("test: host unit tests");
    let status = Command::new("cargo")
        .current_dir(&paths.root)
        .args(["test", "--workspace", "--exclude", "sotto-tests"])
        .status()
        .context("running cargo test")?;
    if !status.success() || host_only {
        return Ok(exit_code(status));
    }
    println!("test: building the Xtensa image");
    let built = pipeline::build(paths, &BootConfig::default(), false)?;
    println!("test: QEMU integration tests");
    let status = Command::new("cargo")
        .current_dir(&paths.root)
        .args(["test", "-p", "sotto-tests"])
        .env(sotto_tests_image_env(), &built.image)
        .status()
        .context("running the integration tests")?;
    Ok(exit_code(status))
}

/// The variable the integration tests read the image path from (see
/// `sotto_tests::IMAGE_ENV`; xtask does not link the test crate).
fn sotto_tests_image_env() -> &'static str {
    "SOTTO_IMAGE"
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8)
}
