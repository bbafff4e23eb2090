//! `cargo xtask run`: boot an image in QEMU, stream its console, and return
//! its exit status with a word on what it means.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use sotto_abi::ExitCode as ImageExit;
use sotto_image::qemu::{self, QemuOptions};

/// Options of the emulator.
#[derive(Args, Clone)]
pub struct RunArgs {
    /// Halt at reset and wait for gdb-multiarch on tcp:1234 (`-s -S`).
    #[arg(long)]
    gdb: bool,
    /// `-icount shift=N` (2^N ns of virtual time per instruction).
    #[arg(long, default_value_t = 0)]
    icount_shift: u8,
}

/// Parse `1s`, `250ms`, `500us` or a bare number of microseconds.
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
    let value: u64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 2s, 250ms or 500us"))?;
    value
        .checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// The last statistics report of each service: a line of its with
/// `stats` in it and the indented lines of its that follow.
#[derive(Default)]
struct LatestReports {
    /// (service, lines), in the order services first reported.
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
            let index = match self.reports.iter().position(|(name, _)| name == service) {
                Some(index) => index,
                None => {
                    self.reports.push((service.to_owned(), Vec::new()));
                    self.reports.len() - 1
                }
            };
            self.reports[index].1 = vec![line.to_owned()];
            self.current = Some(index);
        } else if let Some(index) = self.current
            && self.reports[index].0 == service
            && text.starts_with("  ")
        {
            self.reports[index].1.push(line.to_owned());
        } else {
            self.current = None;
        }
    }
}

/// Boot `image`, streaming its console; PCM lines of the DAI sink go to
/// `wav` instead. Returns the image's exit status.
pub fn run(image: &Path, args: &RunArgs, wav: &Path) -> Result<ExitCode> {
    use std::io::{BufRead, BufReader, Write};
    let options = QemuOptions {
        gdb: args.gdb,
        icount_shift: args.icount_shift,
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
    let mut pcm = sotto_audio::PcmCollector::default();
    let mut reports = LatestReports::default();
    let mut out = std::io::stdout().lock();
    // Whatever goes wrong on this side, QEMU is not left running.
    let streamed = (|| -> Result<()> {
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            match pcm.feed(&line) {
                Ok(Some(text)) => {
                    reports.feed(text);
                    writeln!(out, "{text}")?;
                }
                Ok(None) => {}
                Err(error) => writeln!(out, "run: a PCM line is damaged ({error:#}); skipped")?,
            }
        }
        Ok(())
    })();
    if streamed.is_err() {
        let _ = child.kill();
    }
    let status = child.wait()?;
    streamed?;
    if !reports.reports.is_empty() {
        writeln!(out, "run: the last statistics each service printed:")?;
        for (_, lines) in &reports.reports {
            for line in lines {
                writeln!(out, "  {line}")?;
            }
        }
    }
    if pcm.samples.is_empty() {
        // No stale file from an earlier run passes for this one's output.
        let _ = std::fs::remove_file(wav);
    } else {
        sotto_audio::write_wav(wav, &pcm.samples)?;
        let frames = pcm.samples.len() / audio_dsp::CHANNELS;
        writeln!(
            out,
            "run: wrote {} ({frames} frames, {:.3} s at {} Hz); `cargo xtask plot` draws it",
            wav.display(),
            frames as f64 / f64::from(audio_dsp::RATE),
            audio_dsp::RATE
        )?;
        if pcm.gap_periods > 0 {
            writeln!(
                out,
                "run: {} of its periods are silence the sink never produced (the pipeline did not run)",
                pcm.gap_periods
            )?;
        }
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
mod report_tests {
    use super::LatestReports;

    #[test]
    fn keeps_each_services_last_report_with_its_indented_lines() {
        let mut reports = LatestReports::default();
        for line in [
            "[ll-sched] stats after 500 LL ticks: 0 overruns",
            "[ll-sched]   task 0: 500 runs",
            "[pipeline] stats: 500 periods, 0 underruns",
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
    use super::parse_duration_us;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_us("2s"), Ok(2_000_000));
        assert_eq!(parse_duration_us("250ms"), Ok(250_000));
        assert_eq!(parse_duration_us("7us"), Ok(7));
        assert_eq!(parse_duration_us("0"), Ok(0));
        assert!(
            parse_duration_us("fast")
                .unwrap_err()
                .contains("not a duration")
        );
    }
}
