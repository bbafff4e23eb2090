//! The one QEMU command line that boots a Sotto image, shared by
//! `cargo xtask run`, the benchmarks and the integration tests.

use std::path::Path;
use std::process::Command;

/// The emulator binary (Debian package `qemu-system-misc`).
pub const QEMU: &str = "qemu-system-xtensa";

/// How to run the emulator.
#[derive(Clone, Debug, Default)]
pub struct QemuOptions {
    /// Halt at reset and wait for gdb on tcp:1234 (`-s -S`).
    pub gdb: bool,
    /// `-icount shift=N`: every instruction advances virtual time by 2^N ns.
    pub icount_shift: u8,
}

/// A command that boots `image` on the `sim` machine with the `dc233c`
/// core: semihosting console and exit, deterministic instruction counting,
/// idle time skipped (`sleep=off`), no devices.
pub fn command(image: &Path, options: &QemuOptions) -> Command {
    let mut command = Command::new(QEMU);
    command
        .args(["-M", "sim", "-cpu", "dc233c", "-m", "128M"])
        .args(["-display", "none", "-monitor", "none", "-semihosting"])
        .args([
            "-icount",
            &format!("shift={},sleep=off", options.icount_shift),
        ])
        .arg("-device")
        .arg(format!(
            "loader,file={},cpu-num=0",
            image.display().to_string().replace(',', ",,")
        ));
    if options.gdb {
        command.args(["-s", "-S"]);
    }
    command
}
