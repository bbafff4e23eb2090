//! `cargo xtask run`: boot an image in QEMU, stream its console, and return
//! its exit status with a word on what it means.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use sotto_abi::ExitCode as ImageExit;
use sotto_image::qemu::{self, QemuOptions};

use crate::progress::Progress;

/// Options of the emulator.
#[derive(Args, Clone)]
pub struct RunArgs {
    /// Halt at reset and wait for gdb-multiarch on tcp:1234 (`-s -S`).
    #[arg(long)]
    gdb: bool,
    /// `-icount shift=N` (2^N ns of virtual time per instruction).
    #[arg(long, default_value_t = 0)]
    icount_shift: u8,
    /// A WAV file (16-, 24- or 32-bit PCM in the capture DAI's rate and
    /// channels) to stream through a pipeline that starts from a capture
    /// component (e.g. `--pipeline pipelines/file-eq.toml`); the run
    /// lasts as long as it and the pipeline's latency unless `--time`
    /// says otherwise.
    #[arg(long, value_name = "FILE")]
    pub input: Option<std::path::PathBuf>,
    /// The WAV file the playback DAI's output goes to [default:
    /// target/sotto/out.wav].
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// After the run, compare what the playback DAI played with the host
    /// reference of the pipeline (fed the input), sample by sample; fail
    /// naming the first that differs.
    #[arg(long)]
    pub check: bool,
}

/// Parse `1s`, `1.2s`, `250ms`, `0.5ms`, `500us` or a bare number of
/// microseconds (a fraction finer than a microsecond is refused, never
/// rounded).
pub fn parse_duration_us(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000)
    } else if let Some(n) = text.strip_suffix("us") {
        (n, 1)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000)
    } else {
        (text, 1)
    };
    let malformed = || format!("`{text}` is not a duration like 2s, 1.5s, 250ms or 500us");
    let too_long = || format!("`{text}` is too long");
    let (whole, fraction) = match number.trim().split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number.trim(), ""),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (number.contains('.') && !digits(fraction)) {
        return Err(malformed());
    }
    let whole: u64 = whole.parse().map_err(|_| too_long())?;
    let mut value = whole.checked_mul(scale).ok_or_else(too_long)?;
    // Each fractional digit is worth a tenth of the one before.
    let mut unit = scale;
    for digit in fraction.bytes().map(|b| u64::from(b - b'0')) {
        if unit < 10 {
            if digit != 0 {
                return Err(format!("`{text}` is finer than a microsecond"));
            }
            continue;
        }
        unit /= 10;
        value = value.checked_add(digit * unit).ok_or_else(too_long)?;
    }
    Ok(value)
}

/// A `--fault SERVICE[/THREAD]@TIME`: make that thread fault at that
/// virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultArg {
    /// `service` (its main thread) or `service/thread`.
    pub target: String,
    /// When, in microseconds of virtual time.
    pub at_us: u64,
    /// As written, for messages.
    pub text: String,
}

/// Parse `SERVICE[/THREAD]@TIME`, e.g. `eq-worker@500ms`,
/// `pipeline/eq@1.2s`.
pub fn parse_fault(text: &str) -> Result<FaultArg, String> {
    let Some((target, time)) = text.rsplit_once('@') else {
        return Err(format!(
            "`{text}` is not SERVICE[/THREAD]@TIME (e.g. pipeline@500ms)"
        ));
    };
    if target.is_empty() || target.split('/').any(str::is_empty) || target.matches('/').count() > 1
    {
        return Err(format!(
            "`{text}`: `{target}` is not SERVICE or SERVICE/THREAD"
        ));
    }
    let at_us = parse_duration_us(time).map_err(|e| format!("`{text}`: {e}"))?;
    Ok(FaultArg {
        target: target.to_owned(),
        at_us,
        text: text.to_owned(),
    })
}

/// Put `faults` into `config`: each resolved to the kernel's thread
/// number among `services` and to the tick it falls in at the
/// configuration's rate (rounded up: never before the time asked), in
/// tick order. Refused: an unknown service or thread (naming those
/// there are), a time at or after the end of the run, more than
/// [`sotto_abi::boot::MAX_INJECTED_FAULTS`].
pub fn inject_faults(
    faults: &[FaultArg],
    services: &[crate::system::ServiceEntry],
    config: &mut sotto_abi::BootConfig,
) -> Result<(), String> {
    let names: Vec<sotto_image::ServiceThreads<'_>> = services
        .iter()
        .map(|service| {
            let threads = service.thread.iter().map(|t| t.name.as_str()).collect();
            (service.name.as_str(), threads)
        })
        .collect();
    let mut resolved = Vec::new();
    for fault in faults {
        let problem = |what: String| format!("--fault {}: {what}", fault.text);
        let thread = sotto_image::fault_thread(&names, &fault.target).map_err(problem)?;
        let ticks = (u128::from(fault.at_us) * u128::from(config.tick_hz)).div_ceil(1_000_000);
        let tick = u32::try_from(ticks)
            .ok()
            .filter(|&tick| config.run_ticks == 0 || tick < config.run_ticks)
            .ok_or_else(|| {
                problem(format!(
                    "tick {ticks} at {} Hz is not before the end of the run (tick {}: --time or [kernel] time)",
                    config.tick_hz, config.run_ticks
                ))
            })?;
        resolved.push(sotto_abi::boot::InjectedFault { thread, tick });
    }
    sotto_image::set_injected_faults(config, &resolved).map_err(|what| format!("--fault: {what}"))
}

/// The last statistics report of each service: a line of its with
/// `stats` in it and the indented lines of its that follow; one per
/// reporter of a service that says which it is (`stats NAME: ...`, as
/// its DP threads do).
#[derive(Default)]
struct LatestReports {
    /// (service and reporter, lines), in the order they first reported.
    reports: Vec<(String, Vec<String>)>,
    /// The service whose report is being read.
    current: Option<usize>,
}

impl LatestReports {
    fn feed(&mut self, line: &str) {
        let Some((service, text)) = line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("] "))
        else {
            self.current = None;
            return;
        };
        if text.starts_with("stats") {
            let reporter = text
                .strip_prefix("stats ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|word| word.strip_suffix(':'))
                .unwrap_or("");
            let key = match reporter {
                "" => service.to_owned(),
                reporter => format!("{service}:{reporter}"),
            };
            let index = match self.reports.iter().position(|(name, _)| *name == key) {
                Some(index) => index,
                None => {
                    self.reports.push((key, Vec::new()));
                    self.reports.len() - 1
                }
            };
            self.reports[index].1 = vec![line.to_owned()];
            self.current = Some(index);
        } else if let Some(index) = self.current
            && self.reports[index].0.split(':').next() == Some(service)
            && text.starts_with("  ")
        {
            self.reports[index].1.push(line.to_owned());
        } else {
            self.current = None;
        }
    }
}

/// Remove `wav` if it is there, so no file of an earlier run passes for
/// this one's output.
pub fn forget_output(wav: &Path) -> Result<()> {
    match std::fs::remove_file(wav) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("removing {}", wav.display()))
        }
        _ => Ok(()),
    }
}

/// What the host took from one boot's console.
#[derive(Default)]
struct Streamed {
    /// The statistics reports.
    reports: LatestReports,
}

/// Bytes of a console line kept at most. The kernel ends a service's line
/// only at its `\n` or when another writer writes, so one service can make
/// a line as long as it likes; the rest of a longer line is dropped (never
/// read as a line of its own: it could look like another service's).
pub const MAX_LINE: usize = 64 * 1024;

/// Skip the rest of a line in `input`, up to and with its `\n`; returns
/// the bytes skipped.
fn skip_line(input: &mut impl std::io::BufRead) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(skipped);
        }
        let (used, done) = match buffer.iter().position(|byte| *byte == b'\n') {
            Some(end) => (end + 1, true),
            None => (buffer.len(), false),
        };
        input.consume(used);
        skipped += used as u64;
        if done {
            return Ok(skipped);
        }
    }
}

/// One console line as read: its bytes (at most [`MAX_LINE`]) and the
/// bytes dropped past that.
type ReadLine = std::io::Result<(Vec<u8>, u64)>;

/// Read `input` line by line into `lines` until it ends or nobody
/// listens.
fn read_lines(mut input: impl std::io::BufRead, lines: &std::sync::mpsc::SyncSender<ReadLine>) {
    use std::io::{BufRead, Read};
    loop {
        let mut bytes = Vec::new();
        let line = match (&mut input)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut bytes)
        {
            Ok(0) => return,
            Ok(_) if bytes.len() == MAX_LINE && !bytes.ends_with(b"\n") => {
                skip_line(&mut input).map(|dropped| (bytes, dropped))
            }
            Ok(_) => Ok((bytes, 0)),
            Err(error) => Err(error),
        };
        let failed = line.is_err();
        if lines.send(line).is_err() || failed {
            return;
        }
    }
}

/// Copy console `input` to `out` line by line, whatever its bytes (text
/// that is not UTF-8 is shown with U+FFFD; lines are cut at [`MAX_LINE`]
/// bytes). No line is audio: the audio is in the DAIs' files. `progress`
/// sees every line and the audio written so far (`audio()` frames: the
/// playback DAI's file), is redrawn between lines too, and is taken off
/// the terminal before each line shown.
fn stream(
    input: impl std::io::BufRead + Send + 'static,
    out: &mut impl std::io::Write,
    progress: &mut Progress<impl std::io::Write>,
    audio: &mut dyn FnMut() -> u64,
) -> Result<Streamed> {
    use std::sync::mpsc::RecvTimeoutError;
    let mut reports = LatestReports::default();
    // The console is read on a thread of its own, so the progress line
    // moves on while the console is quiet.
    let (sender, lines) = std::sync::mpsc::sync_channel(64);
    std::thread::spawn(move || read_lines(input, &sender));
    loop {
        let line = if progress.enabled() {
            match lines.recv_timeout(crate::progress::INTERVAL) {
                Ok(line) => Some(line),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match lines.recv() {
                Ok(line) => Some(line),
                Err(_) => break,
            }
        };
        let Some(line) = line else {
            progress.observe("", audio());
            progress.draw(std::time::Instant::now(), true);
            continue;
        };
        let (bytes, dropped) = line?;
        let line = String::from_utf8_lossy(&bytes);
        let line = line.trim_end_matches('\n').trim_end_matches('\r');
        if progress.enabled() {
            progress.observe(line, audio());
        }
        reports.feed(line);
        progress.clear();
        writeln!(out, "{line}")?;
        if dropped > 0 {
            writeln!(
                out,
                "run: a line longer than {MAX_LINE} bytes: {dropped} bytes of it dropped"
            )?;
        }
        if progress.enabled() {
            progress.draw(std::time::Instant::now(), false);
        }
    }
    Ok(Streamed { reports })
}

/// Where one run's files are.
pub struct RunFiles {
    /// QEMU's working directory, made afresh (`target/sotto/run`): the
    /// DAIs' files.
    pub dir: std::path::PathBuf,
    /// The playback DAI whose file becomes the WAV.
    pub playback: Option<crate::run_audio::Dai>,
    /// The WAV written.
    pub output: std::path::PathBuf,
}

/// Boot `image` in `files.dir` (already made, with any input in it),
/// streaming its console; afterwards the playback DAI's file becomes the
/// WAV `files.output`. While it runs, a progress line on stderr says how
/// far into its `config`'s time limit it is and how much audio the
/// playback DAI wrote, when stderr is a terminal ([`Progress`]). Returns
/// the image's exit status.
pub fn run(
    image: &Path,
    args: &RunArgs,
    files: &RunFiles,
    config: &sotto_abi::BootConfig,
) -> Result<ExitCode> {
    use std::io::Write;
    let wav = files.output.as_path();
    forget_output(wav)?;
    let options = QemuOptions {
        gdb: args.gdb,
        icount_shift: args.icount_shift,
        dir: Some(files.dir.clone()),
    };
    if args.gdb {
        eprintln!(
            "run: waiting for gdb: gdb-multiarch {} -ex 'target remote :1234'",
            image.display()
        );
    }
    let mut child = qemu::command(image, &options)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "could not start {} (`cargo xtask setup` installs qemu-system-misc)",
                qemu::QEMU
            )
        })?;
    let stdout = child.stdout.take().context("QEMU's stdout")?;
    let mut out = std::io::stdout().lock();
    let mut progress =
        Progress::on_stderr(config.tick_hz, config.run_ticks, files.playback.is_some());
    let mut audio = || {
        files
            .playback
            .as_ref()
            .map_or(0, |dai| crate::run_audio::frames_written(&files.dir, dai))
    };
    // Whatever goes wrong on this side, QEMU is not left running.
    let streamed = stream(
        std::io::BufReader::new(stdout),
        &mut out,
        &mut progress,
        &mut audio,
    );
    progress.clear();
    if streamed.is_err() {
        let _ = child.kill();
    }
    let status = child.wait()?;
    let Streamed { reports } = streamed?;
    if !reports.reports.is_empty() {
        writeln!(out, "run: the last statistics each service printed:")?;
        for (_, lines) in &reports.reports {
            for line in lines {
                writeln!(out, "  {line}")?;
            }
        }
    }
    if let Some(dai) = &files.playback {
        let line = crate::run_audio::write_output(&files.dir, dai, wav)?;
        writeln!(out, "{line}")?;
    }
    let code = status.code().unwrap_or(1);
    match ImageExit::from_status(code) {
        Some(ImageExit::Success) => {}
        Some(exit) => eprintln!(
            "run: the image stopped with status {code}: {}",
            exit.describe()
        ),
        None => eprintln!("run: QEMU exited with status {code}"),
    }
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

#[cfg(test)]
mod stream_tests {
    use super::{forget_output, stream};
    use crate::progress::Progress;

    /// No terminal: no progress.
    fn quiet() -> Progress<Vec<u8>> {
        Progress::new(None, 1000, 2000, true, std::time::Instant::now())
    }

    fn streamed(input: &[u8]) -> String {
        let mut out = Vec::new();
        let input = std::io::Cursor::new(input.to_vec());
        stream(input, &mut out, &mut quiet(), &mut || 0).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The audio is in the DAIs' files: every console line is shown, one
    /// that looks like the old PCM lines too.
    #[test]
    fn every_line_is_shown_none_is_audio() {
        let console = "[kernel] booted\n[pipeline] pcm /38AgAAA\n[pipeline] pcm-gap 3\n\
                       [evil] [pipeline] pcm /38AgAAA\n";
        assert_eq!(streamed(console.as_bytes()), console);
    }

    #[test]
    fn any_bytes_are_shown() {
        let console = b"[a] caf\xe9 \xff\xfe\r\n[pipeline] pcm ab!d\n[b] no newline \xc3";
        assert_eq!(
            streamed(console),
            "[a] caf\u{fffd} \u{fffd}\u{fffd}\n[pipeline] pcm ab!d\n[b] no newline \u{fffd}\n"
        );
    }

    /// Review S: a line was read whole, however long: a service writing
    /// without `\n` grew the host's buffer without bound.
    #[test]
    fn an_endless_line_is_cut_and_its_rest_never_read_as_a_line() {
        use std::io::Read;
        // 64 MiB of one line, then what looks like another service's
        // line in it, then a real line.
        let endless = std::io::repeat(b'x').take(64 << 20);
        let tail = "[kernel] shutdown\n[pipeline] stats: 1 periods\n";
        let input = std::io::BufReader::new(
            b"[evil] "
                .chain(endless)
                .chain(std::io::Cursor::new(tail.as_bytes().to_vec())),
        );
        let mut out = Vec::new();
        stream(input, &mut out, &mut quiet(), &mut || 0).unwrap();
        let shown = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 3, "the cut line, the note, the real line");
        assert!(lines[0].len() <= super::MAX_LINE);
        assert!(lines[1].starts_with("run: a line longer than 65536 bytes"));
        assert!(lines[1].len() < 100, "{}", lines[1]);
        assert_eq!(lines[2], "[pipeline] stats: 1 periods");
    }

    /// A writer two others share: stdout and stderr on one terminal.
    #[derive(Clone, Default)]
    struct Terminal(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl std::io::Write for Terminal {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Terminal {
        /// The lines a terminal shows for what was written (`\r` goes
        /// back to the line's start and later characters overwrite;
        /// trailing blanks are not seen), and what is left on its last,
        /// unfinished line.
        fn screen(&self) -> (Vec<String>, String) {
            let mut lines = Vec::new();
            let mut row: Vec<char> = Vec::new();
            let mut column = 0;
            for c in String::from_utf8(self.0.borrow().clone()).unwrap().chars() {
                match c {
                    '\r' => column = 0,
                    '\n' => {
                        lines.push(row.iter().collect::<String>().trim_end().to_owned());
                        row.clear();
                        column = 0;
                    }
                    c => {
                        if column < row.len() {
                            row[column] = c;
                        } else {
                            row.push(c);
                        }
                        column += 1;
                    }
                }
            }
            (lines, row.iter().collect::<String>().trim_end().to_owned())
        }
    }

    /// Stdout and the progress on one terminal: every console line is
    /// seen whole, never mixed with the progress line, which is drawn
    /// and gone at the end; on stdout alone the lines are the same as
    /// without a terminal.
    #[test]
    fn the_progress_line_never_mixes_with_the_console() {
        let mut console = String::new();
        for period in 0..50 {
            console.push_str(&format!("[ll-client] run {period}\n"));
            if period % 10 == 0 {
                console.push_str(&format!("[pipeline] stats: {period} periods\n"));
            }
        }
        console.push_str("[kernel] tick 1900\n[kernel] shutdown\n");
        let quiet_out = streamed(console.as_bytes());
        assert_eq!(quiet_out, console);

        let terminal = Terminal::default();
        // Drawn after every line.
        let mut progress = Progress::new(
            Some(terminal.clone()),
            1000,
            2000,
            true,
            std::time::Instant::now(),
        )
        .every(std::time::Duration::ZERO);
        let mut out = terminal.clone();
        // The playback DAI's file holds half a second of audio.
        stream(
            std::io::Cursor::new(console.into_bytes()),
            &mut out,
            &mut progress,
            &mut || 24_000,
        )
        .unwrap();
        let drawn = String::from_utf8(terminal.0.borrow().clone()).unwrap();
        assert!(
            drawn.contains("\rrun: 0.5 s of 2.0 s virtual time (25%), 0.50 s of audio"),
            "{drawn:?}"
        );
        assert!(
            drawn.contains("\rrun: 1.9 s of 2.0 s virtual time (95%), 0.50 s of audio"),
            "{drawn:?}"
        );
        let (lines, unfinished) = terminal.screen();
        assert_eq!(lines.join("\n") + "\n", quiet_out);
        assert_eq!(
            unfinished,
            "run: 1.9 s of 2.0 s virtual time (95%), 0.50 s of audio"
        );
        progress.clear();
        assert_eq!(terminal.screen(), (lines, String::new()));
    }

    #[test]
    fn an_old_wav_is_forgotten() {
        let wav = std::env::temp_dir().join(format!("sotto-stale-{}.wav", std::process::id()));
        std::fs::write(&wav, b"old").unwrap();
        forget_output(&wav).unwrap();
        assert!(!wav.exists());
        forget_output(&wav).unwrap();
    }
}

#[cfg(test)]
mod report_tests {
    use super::LatestReports;

    #[test]
    fn keeps_each_services_last_report_with_its_indented_lines() {
        let mut reports = LatestReports::default();
        for line in [
            "[ll-sched] stats after 500 LL ticks: 0 overruns",
            "[ll-sched]   task 0: 500 runs",
            "[pipeline] stats: 500 periods, 0 underruns",
            "[pipeline] stats eq: 50 blocks",
            "[ll-sched] stats after 1000 LL ticks: 1 overruns",
            "[ll-sched]   task 0: 1000 runs",
            "[ll-sched] task 0 completed",
            "[ll-sched]   not part of a report",
            "[kernel] shutdown",
        ] {
            reports.feed(line);
        }
        assert_eq!(
            reports.reports,
            [
                (
                    "ll-sched".to_owned(),
                    vec![
                        "[ll-sched] stats after 1000 LL ticks: 1 overruns".to_owned(),
                        "[ll-sched]   task 0: 1000 runs".to_owned()
                    ]
                ),
                (
                    "pipeline".to_owned(),
                    vec!["[pipeline] stats: 500 periods, 0 underruns".to_owned()]
                ),
                // A DP thread's report, beside its service's.
                (
                    "pipeline:eq".to_owned(),
                    vec!["[pipeline] stats eq: 50 blocks".to_owned()]
                ),
            ]
        );
    }
}

/// Print the services an image starts.
pub fn print_services(manifest: &sotto_abi::Manifest) {
    for service in &manifest.services {
        let bytes: u32 = service
            .segments
            .iter()
            .map(|segment| segment.mem_size)
            .sum();
        println!(
            "  service {:<16} priority {}  code+data {:>6} B  stack {:>6} B  arg {}",
            service.name.as_str(),
            service.priority,
            bytes,
            service.stack_size,
            service.arg
        );
        for thread in &service.threads {
            println!(
                "    thread {:<15} priority {}  ceiling {}  entry {:#010x}  stack {:>6} B  arg {}",
                thread.name.as_str(),
                thread.priority,
                thread.max_priority,
                thread.entry,
                thread.stack_size,
                thread.arg
            );
        }
    }
}

/// Print the image's section sizes.
pub fn print_sizes(image: &Path) -> Result<()> {
    let bytes = std::fs::read(image)?;
    let mut line = format!("image: {}", image.display());
    for section in [".vectors", ".text", ".rodata", ".data", ".bss"] {
        if let Some(size) = sotto_image::section_size(&bytes, section)? {
            line.push_str(&format!("  {section} {size}"));
        }
    }
    println!("{line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{inject_faults, parse_duration_us, parse_fault};
    use sotto_abi::BootConfig;
    use sotto_abi::boot::InjectedFault;

    /// `--fault` names a service or one of its threads and a time; it
    /// becomes the kernel's thread number and the tick, in tick order.
    #[test]
    fn faults_become_threads_and_ticks() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/systems/threads-good.toml");
        let system = crate::system::load(&path, |_| true, None).unwrap();
        let services = &system.file.services;
        let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["pipeline", "boss"]);
        let faults: Vec<_> = [
            "pipeline/eq@1.2s",
            "boss@500ms",
            "pipeline@0.0005s",
            "pipeline/fir@2",
        ]
        .into_iter()
        .map(|text| parse_fault(text).unwrap())
        .collect();
        let mut config = BootConfig {
            tick_hz: 4000,
            run_ticks: 8000,
            ..BootConfig::default()
        };
        inject_faults(&faults, services, &mut config).unwrap();
        let fault = |thread, tick| InjectedFault { thread, tick };
        // Main threads are their services' numbers (0, 1); pipeline's
        // fir and eq come after them (2, 3). 0.5 ms is 2 ticks at 4 kHz,
        // 2 µs rounds up to the first tick.
        assert_eq!(
            config.injected(),
            &[fault(2, 1), fault(0, 2), fault(1, 2000), fault(3, 4800)]
        );
        assert!(config.encode().is_ok());

        let refused = |text: &str| {
            let mut config = BootConfig::default();
            let faults = [parse_fault(text)?];
            inject_faults(&faults, services, &mut config).map(|()| config.fault_count)
        };
        assert_eq!(
            refused("echo@1s"),
            Err(
                "--fault echo@1s: no service is named \"echo\" (the services: pipeline, boss)"
                    .into()
            )
        );
        assert_eq!(
            refused("pipeline/dp@1ms"),
            Err("--fault pipeline/dp@1ms: service \"pipeline\" has no thread named \"dp\" (its threads: fir, eq; \"pipeline\" alone is its main thread)".into())
        );
        // The default run is 1000 ticks.
        assert_eq!(
            refused("boss@1s"),
            Err("--fault boss@1s: tick 1000 at 1000 Hz is not before the end of the run (tick 1000: --time or [kernel] time)".into())
        );
        assert_eq!(refused("boss@999ms"), Ok(1));
        assert_eq!(
            refused("boss@soon"),
            Err("`boss@soon`: `soon` is not a duration like 2s, 1.5s, 250ms or 500us".into())
        );
        assert_eq!(
            refused("boss"),
            Err("`boss` is not SERVICE[/THREAD]@TIME (e.g. pipeline@500ms)".into())
        );
        assert_eq!(
            refused("a/b/c@1ms"),
            Err("`a/b/c@1ms`: `a/b/c` is not SERVICE or SERVICE/THREAD".into())
        );
        assert_eq!(
            refused("@1ms"),
            Err("`@1ms`: `` is not SERVICE or SERVICE/THREAD".into())
        );
        let many = vec![parse_fault("boss@1ms").unwrap(); 17];
        assert_eq!(
            inject_faults(&many, services, &mut BootConfig::default()),
            Err("--fault: 17 faults, at most 16 fit in the boot configuration".into())
        );
        // A run without a time limit takes any time.
        let mut endless = BootConfig {
            run_ticks: 0,
            ..BootConfig::default()
        };
        inject_faults(&[parse_fault("boss@100s").unwrap()], services, &mut endless).unwrap();
        assert_eq!(endless.injected(), &[fault(1, 100_000)]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_us("2s"), Ok(2_000_000));
        assert_eq!(parse_duration_us("250ms"), Ok(250_000));
        assert_eq!(parse_duration_us("7us"), Ok(7));
        assert_eq!(parse_duration_us("0"), Ok(0));
        assert_eq!(parse_duration_us("1.2s"), Ok(1_200_000));
        assert_eq!(parse_duration_us("0.5ms"), Ok(500));
        assert_eq!(parse_duration_us("2.000001s"), Ok(2_000_001));
        assert_eq!(
            parse_duration_us("1.50us"),
            Err("`1.50us` is finer than a microsecond".into())
        );
        assert_eq!(parse_duration_us("1.0us"), Ok(1));
        for bad in ["1.s", ".5s", "1..2s", "-1s", "1e3ms", "", "ms"] {
            assert!(
                parse_duration_us(bad)
                    .unwrap_err()
                    .contains("not a duration"),
                "{bad}"
            );
        }
        assert!(
            parse_duration_us("99999999999999999999s")
                .unwrap_err()
                .contains("too long")
        );
        assert!(
            parse_duration_us("fast")
                .unwrap_err()
                .contains("not a duration")
        );
    }
}
