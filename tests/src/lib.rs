//! Helpers for the QEMU integration tests: boot the image `cargo xtask test`
//! built, with a boot configuration of the test's choosing, and collect its
//! console and exit status.
//!
//! The tests run only through `cargo xtask test`, which builds the Xtensa
//! images and passes their directory in [`IMAGE_DIR_ENV`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Result;
use sotto_abi::{BootConfig, Manifest, SelfTest};
use sotto_image::qemu::{self, QemuOptions};

pub use sotto_image::{IMAGE_DIR_ENV, Start};

/// Wall-clock limit for one boot; a healthy test image ends in well under a
/// second of host time. `SOTTO_WALL_LIMIT_S` raises it for long runs
/// (`cargo xtask soak`).
const WALL_LIMIT: Duration = Duration::from_secs(60);

fn wall_limit() -> Duration {
    std::env::var("SOTTO_WALL_LIMIT_S")
        .ok()
        .and_then(|text| text.parse().ok())
        .map_or(WALL_LIMIT, Duration::from_secs)
}

/// The result of one boot.
#[derive(Debug)]
pub struct Boot {
    /// Everything the image printed.
    pub console: String,
    /// QEMU's exit status (the image's exit code).
    pub status: i32,
    /// The files in QEMU's working directory after the run (a directory
    /// of its own per boot): the DAIs' `<name>.pcm` files
    /// (`sotto_abi::dai`), the trace, and the inputs given.
    pub files: std::collections::BTreeMap<String, Vec<u8>>,
}

/// The default system's playback DAI (its file is `dai-out.pcm`).
pub const PLAYBACK_DAI: &str = "dai-out";

impl Boot {
    /// Lines starting with `[kernel] ` (prefix removed).
    pub fn kernel_lines(&self) -> impl Iterator<Item = &str> {
        self.console
            .lines()
            .filter_map(|line| line.strip_prefix("[kernel] "))
    }

    /// Lines printed by `service` (its `[name] ` prefix removed).
    pub fn lines_of(&self, service: &str) -> Vec<&str> {
        let prefix = format!("[{service}] ");
        self.console
            .lines()
            .filter_map(|line| line.strip_prefix(prefix.as_str()))
            .collect()
    }

    /// The last line of `service` starting with `start` (its prefix
    /// removed), or a failure naming what is missing.
    pub fn last_line(&self, service: &str, start: &str) -> &str {
        self.lines_of(service)
            .into_iter()
            .rev()
            .find(|line| line.starts_with(start))
            .unwrap_or_else(|| panic!("no [{service}] line starting with {start:?}"))
    }

    /// (first number, tick) of each `run N at tick T` line of LL client
    /// `client` (the test and demo clients' task or run count, and the
    /// tick it ran at).
    pub fn ll_runs(&self, client: &str) -> Vec<(u32, u32)> {
        self.lines_of(client)
            .iter()
            .filter_map(|line| line.strip_prefix("run "))
            .map(|rest| {
                let words: Vec<&str> = rest.split_whitespace().collect();
                (words[0].parse().unwrap(), words[3].parse().unwrap())
            })
            .collect()
    }

    /// The 16-bit samples the playback DAI [`PLAYBACK_DAI`] wrote to its
    /// file (silence where it had an xrun).
    pub fn pcm(&self) -> Vec<i16> {
        self.dai_bytes(PLAYBACK_DAI)
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect()
    }

    /// (periods, xruns) of DAI `name`, the hardware's counts, from the
    /// kernel's shutdown line `dai NAME: DIRECTION, P periods, X xruns`.
    pub fn dai_counts(&self, name: &str) -> (u32, u32) {
        let start = format!("dai {name}: ");
        let line = self
            .kernel_lines()
            .find(|line| line.starts_with(&start) && line.ends_with(" xruns"))
            .unwrap_or_else(|| panic!("no [kernel] {start}... xruns line in:\n{}", self.console));
        let words: Vec<&str> = line.split_whitespace().collect();
        let number = |at: usize| -> u32 {
            words
                .get(at)
                .and_then(|word| word.parse().ok())
                .unwrap_or_else(|| panic!("no count at word {at} of {line:?}"))
        };
        (number(3), number(5))
    }

    /// The bytes DAI `name`'s file holds after the run (empty if the run
    /// made none).
    pub fn dai_bytes(&self, name: &str) -> &[u8] {
        let file = format!("{name}{}", sotto_abi::dai::FILE_SUFFIX);
        self.files.get(&file).map_or(&[], Vec::as_slice)
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

fn image_dir() -> PathBuf {
    match std::env::var_os(IMAGE_DIR_ENV) {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "{IMAGE_DIR_ENV} is not set: run the QEMU tests with `cargo xtask test`, which builds the images"
        ),
    }
}

/// The default image (`system.toml`), as built by `cargo xtask test`.
pub fn image() -> PathBuf {
    image_dir().join("sotto.elf")
}

/// The test image (`tests/system.toml`): every test service once.
pub fn test_image() -> PathBuf {
    image_dir().join("test.elf")
}

/// The audio test image (`tests/audio.toml`): the audio services (with
/// the DAIs, the FIR in its own worker service), a spinning LL client and
/// a minimal supervisor, started as each test chooses.
pub fn audio_image() -> PathBuf {
    image_dir().join("audio.elf")
}

/// The isolation test image (`tests/isolation.toml`): services that probe
/// what the kernel keeps apart.
pub fn isolation_image() -> PathBuf {
    image_dir().join("isolation.elf")
}

/// The threads test image (`tests/threads.toml`).
pub fn threads_image() -> PathBuf {
    image_dir().join("threads.elf")
}

/// The thread-control test image (`tests/thread-control.toml`).
pub fn thread_control_image() -> PathBuf {
    image_dir().join("thread-control.elf")
}

/// The supervision test image (`tests/supervision.toml`): the supervisor
/// with a crash loop, a server that faults mid-call and its client.
pub fn supervision_image() -> PathBuf {
    image_dir().join("supervision.elf")
}

/// The default system with the README's changed pipeline (FIR moved to LL,
/// a second gain), as `cargo xtask test` builds it with `--pipeline`.
pub fn readme_pipeline_image() -> PathBuf {
    image_dir().join("sotto-readme-example.elf")
}

/// The default system with the capture pipeline `pipelines/file-eq.toml`
/// (capture -> gain -> FIR (DP) -> sink), as `cargo xtask test` builds it
/// with `--pipeline`: its input is a `dai-in.pcm` given to
/// [`boot_bytes_with`].
pub fn file_eq_image() -> PathBuf {
    image_dir().join("sotto-file-eq.elf")
}

/// The preemption proof (`tests/dp-edf.toml`): a 40 ms and a 2 ms DP
/// task, each in a DP thread of the pipeline.
pub fn dp_edf_image() -> PathBuf {
    image_dir().join("dp-edf.elf")
}

/// The default system with two hostile services next to it
/// (`tests/hostile.toml`), as `cargo xtask test` builds it.
pub fn hostile_image() -> PathBuf {
    image_dir().join("hostile.elf")
}

/// The default system with the kernel's self-tests compiled in (feature
/// `self-test`), as `cargo xtask test` builds it: the image every
/// [`self_test`] configuration boots.
pub fn self_test_image() -> PathBuf {
    image_dir().join("sotto-selftest.elf")
}

/// Address of a symbol in the kernel (the same in every image with the
/// normal kernel).
pub fn symbol(name: &str) -> u32 {
    symbol_in(&image(), name)
}

/// Address of a symbol in the kernel of the self-test image.
pub fn self_test_symbol(name: &str) -> u32 {
    symbol_in(&self_test_image(), name)
}

fn symbol_in(image: &Path, name: &str) -> u32 {
    let bytes = std::fs::read(image).expect("reading the image");
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

/// Boot the kernel alone (no services) with `config`: a self-test on the
/// self-test image, anything else on the default image.
pub fn boot(config: &BootConfig) -> Boot {
    let image = match config.self_test {
        SelfTest::None => image(),
        _ => self_test_image(),
    };
    boot_kernel_of(&image, config)
}

/// Boot the kernel of `image` alone (no services) with `config`.
pub fn boot_kernel_of(image: &Path, config: &BootConfig) -> Boot {
    let mut bytes = std::fs::read(image).expect("reading the image");
    sotto_image::write_boot_config(&mut bytes, config).expect("writing the boot configuration");
    sotto_image::write_manifest(&mut bytes, &Manifest::default()).expect("writing the manifest");
    boot_bytes(&bytes).expect("booting the image")
}

/// Boot the test image starting exactly `services`, with a time limit.
pub fn boot_services(services: &[Start<'_>], time_limit_ms: u32) -> Boot {
    boot_services_of(&test_image(), services, time_limit_ms)
}

/// [`boot_services`] with the services of another test image.
pub fn boot_services_of(image: &Path, services: &[Start<'_>], time_limit_ms: u32) -> Boot {
    let mut bytes = std::fs::read(image).expect("reading the test image");
    sotto_image::start_services(&mut bytes, services).expect("choosing the services");
    let config = BootConfig {
        tick_hz: 1000,
        run_ticks: time_limit_ms,
        report_every: 0,
        self_test: SelfTest::None,
        ..BootConfig::default()
    };
    sotto_image::write_boot_config(&mut bytes, &config).expect("writing the boot configuration");
    boot_bytes(&bytes).expect("booting the test image")
}

/// Make the image `bytes` inject `faults`: each a service of its
/// manifest (its main thread) or `service/thread`, and the tick it faults
/// at (replacing any faults its boot configuration had; the order does
/// not matter). Call it after choosing the services and the time (e.g.
/// after [`sotto_image::start_services`] or a `write_boot_config`), as the
/// thread numbers follow the manifest.
pub fn with_faults(bytes: &mut [u8], faults: &[(&str, u32)]) {
    sotto_image::inject_faults(bytes, faults).expect("injecting the faults");
}

/// Boot `image` as built, for `ticks` ticks, with `faults` injected
/// ([`with_faults`]); returns the run and the image booted.
pub fn boot_with_faults(image: &Path, ticks: u32, faults: &[(&str, u32)]) -> (Boot, Vec<u8>) {
    let mut bytes = std::fs::read(image).expect("reading the image");
    let mut config = sotto_image::read_boot_config(&bytes).expect("reading the boot configuration");
    config.run_ticks = ticks;
    sotto_image::write_boot_config(&mut bytes, &config).expect("writing the boot configuration");
    with_faults(&mut bytes, faults);
    (boot_bytes(&bytes).expect("booting the image"), bytes)
}

/// Boot an image given as bytes (for tests that damage an image on purpose).
pub fn boot_bytes(bytes: &[u8]) -> Result<Boot> {
    boot_bytes_with(bytes, &[])
}

/// Boot an image given as bytes in a working directory of its own that
/// holds `inputs` (file name, contents) first, e.g. a capture DAI's
/// `<name>.pcm`; every file there after the run is in [`Boot::files`].
pub fn boot_bytes_with(bytes: &[u8], inputs: &[(&str, &[u8])]) -> Result<Boot> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let run = format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let images = image_dir().join("test-images");
    let dir = image_dir().join("test-runs").join(&run);
    std::fs::create_dir_all(&images)?;
    std::fs::create_dir_all(&dir)?;
    let path = images.join(format!("{run}.elf"));
    std::fs::write(&path, bytes)?;
    for (name, contents) in inputs {
        std::fs::write(dir.join(name), contents)?;
    }
    let result = run_qemu(&path, &dir);
    // SOTTO_KEEP_IMAGES=1 keeps each booted image and its directory, to
    // rerun it by hand.
    if std::env::var_os("SOTTO_KEEP_IMAGES").is_none() {
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("kept {} (run in {})", path.display(), dir.display());
    }
    result
}

fn run_qemu(image: &Path, dir: &Path) -> Result<Boot> {
    let options = QemuOptions {
        dir: Some(dir.to_path_buf()),
        ..QemuOptions::default()
    };
    let (console, status) = qemu::run_captured(image, &options, wall_limit())?;
    let mut files = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.insert(
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path())?,
            );
        }
    }
    Ok(Boot {
        console,
        status,
        files,
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

/// Assert that `samples`, the PCM a run of `image` (its bytes) streamed,
/// equal the host reference of the image's pipeline over as many whole
/// periods, naming the first sample that differs.
pub fn assert_bit_exact(image: &[u8], samples: &[i16]) {
    let (pipeline, buffers) = sotto_audio::pipeline_of_image(image).unwrap();
    let expected = sotto_audio::reference(
        &pipeline,
        &buffers,
        samples.len() / audio_dsp::PERIOD_SAMPLES,
    );
    assert_same_samples(samples, &expected);
}

/// Assert that the emulated `samples` are `expected` (at least as long),
/// sample for sample, naming the first that differs.
pub fn assert_same_samples(samples: &[i16], expected: &[i16]) {
    if let Some(first) = (0..samples.len()).find(|i| samples[*i] != expected[*i]) {
        panic!(
            "sample {first} (frame {}) differs: emulated {} reference {}",
            first / audio_dsp::CHANNELS,
            samples[first],
            expected[first]
        );
    }
}
