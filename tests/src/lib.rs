//! Helpers for the QEMU integration tests: boot the image `cargo xtask test`
//! built, with a boot configuration of the test's choosing, and collect its
//! console and exit status.
//!
//! The tests run only through `cargo xtask test`, which builds the Xtensa
//! image and passes its path in [`IMAGE_ENV`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sotto_abi::{BootConfig, SelfTest};
use sotto_image::qemu::{self, QemuOptions};

pub use sotto_image::IMAGE_ENV;

/// Wall-clock limit for one boot; a healthy test image ends in well under a
/// second of host time.
const WALL_LIMIT: Duration = Duration::from_secs(60);

/// The result of one boot.
#[derive(Debug)]
pub struct Boot {
    /// Everything the image printed.
    pub console: String,
    /// QEMU's exit status (the image's exit code).
    pub status: i32,
}

impl Boot {
    /// Lines starting with `[kernel] ` (prefix removed).
    pub fn kernel_lines(&self) -> impl Iterator<Item = &str> {
        self.console
            .lines()
            .filter_map(|line| line.strip_prefix("[kernel] "))
    }

    /// The first kernel line starting with `start`, or a failure showing the
    /// console.
    pub fn line_starting(&self, start: &str) -> &str {
        self.kernel_lines()
            .find(|line| line.starts_with(start))
            .unwrap_or_else(|| {
                panic!(
                    "no kernel line starting with {start:?} in:\n{}",
                    self.console
                )
            })
    }
}

/// The image built by `cargo xtask test`.
pub fn image() -> PathBuf {
    match std::env::var_os(IMAGE_ENV) {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "{IMAGE_ENV} is not set: run the QEMU tests with `cargo xtask test`, which builds the image"
        ),
    }
}

/// Address of a symbol in the image.
pub fn symbol(name: &str) -> u32 {
    let bytes = std::fs::read(image()).expect("reading the image");
    let address = sotto_image::symbol_address(&bytes, name)
        .expect("parsing the image")
        .unwrap_or_else(|| panic!("the image has no symbol `{name}`"));
    u32::try_from(address).expect("32-bit address")
}

/// A configuration for a self-test with the default tick.
pub fn self_test(test: SelfTest) -> BootConfig {
    BootConfig {
        self_test: test,
        ..BootConfig::default()
    }
}

/// Boot the image with `config`.
pub fn boot(config: &BootConfig) -> Boot {
    let mut bytes = std::fs::read(image()).expect("reading the image");
    sotto_image::write_boot_config(&mut bytes, config).expect("writing the boot configuration");
    boot_bytes(&bytes).expect("booting the image")
}

/// Boot an image given as bytes (for tests that damage an image on purpose).
pub fn boot_bytes(bytes: &[u8]) -> Result<Boot> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = image()
        .parent()
        .map(|dir| dir.join("test-images"))
        .context("image path has no directory")?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!(
        "{}-{}.elf",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, bytes)?;
    let result = run_qemu(&path);
    let _ = std::fs::remove_file(&path);
    result
}

fn run_qemu(image: &Path) -> Result<Boot> {
    let mut child = qemu::command(image, &QemuOptions::default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", qemu::QEMU))?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > WALL_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            let console = reader.join().unwrap_or_default();
            bail!("the image ran for more than {WALL_LIMIT:?} of host time; console:\n{console}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let console = reader.join().unwrap_or_default();
    Ok(Boot {
        console,
        status: status.code().unwrap_or(-1),
    })
}

/// Parse `key=0x...` or `key=123` from a line.
pub fn field(line: &str, key: &str) -> u32 {
    let value = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"));
    match value.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => value.parse(),
    }
    .unwrap_or_else(|_| panic!("{key}={value} is not a number"))
}
