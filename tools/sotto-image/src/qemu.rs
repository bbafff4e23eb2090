//! The one QEMU command line that boots a Sotto image, shared by
//! `cargo xtask run`, the benchmarks and the integration tests.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The emulator binary (Debian package `qemu-system-misc`).
pub const QEMU: &str = "qemu-system-xtensa";

/// How to run the emulator.
#[derive(Clone, Debug, Default)]
pub struct QemuOptions {
    /// Halt at reset and wait for gdb on tcp:1234 (`-s -S`).
    pub gdb: bool,
    /// `-icount shift=N`: every instruction advances virtual time by 2^N ns.
    pub icount_shift: u8,
    /// The emulator's working directory: where semihosting opens the
    /// files of the image's DAIs (`sotto_abi::dai`) and its trace. `None`:
    /// the caller's.
    pub dir: Option<std::path::PathBuf>,
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
            std::path::absolute(image)
                .unwrap_or_else(|_| image.to_path_buf())
                .display()
                .to_string()
                .replace(',', ",,")
        ));
    if options.gdb {
        command.args(["-s", "-S"]);
    }
    if let Some(dir) = &options.dir {
        command.current_dir(dir);
    }
    command
}

/// Boot `image`, capturing everything it prints; kill it after
/// `wall_limit` of host time. Returns the console and the exit status.
pub fn run_captured(
    image: &Path,
    options: &QemuOptions,
    wall_limit: Duration,
) -> std::io::Result<(String, i32)> {
    let mut child = command(image, options)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    // Bytes, decoded lossily: text that is not UTF-8 shows as U+FFFD
    // instead of losing the whole console.
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        let _ = stderr.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > wall_limit {
            let _ = child.kill();
            let _ = child.wait();
            let console = reader.join().unwrap_or_default();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the image ran for more than {wall_limit:?} of host time; console:\n{console}"
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok((
        reader.join().unwrap_or_default(),
        status.code().unwrap_or(-1),
    ))
}
