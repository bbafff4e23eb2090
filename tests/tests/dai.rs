//! The DAIs as hardware (`tests/dai.toml`, `tests/services/test-dai`): the
//! kernel moves a period between each ring and its host file every DMA
//! period, counts the xruns itself and reports them at shutdown; the test
//! service's timeline (see its documentation) starves and floods the
//! rings and scribbles on their registers. Checked here: the playback
//! file is the pattern with silence exactly in the periods that were
//! xruns, the capture side read the input file in order with the
//! overrun periods lost and silence after its end, the kernel's counts
//! are what was provoked, and hostile register values only ever cost
//! xruns.

use std::sync::OnceLock;

use sotto_tests::{Boot, boot_bytes_with, test_image};

/// The image `cargo xtask test` builds from `tests/dai.toml`.
fn image() -> Vec<u8> {
    std::fs::read(test_image().with_file_name("dai.elf")).expect("reading the DAI image")
}

/// Frames a period (both DAIs), periods of input.
const PERIOD: u32 = 48;
const INPUT_PERIODS: u32 = 100;

/// The capture DAI's input: 32-bit stereo, frame `n` is `(n, !n)`.
fn input() -> Vec<u8> {
    (0..INPUT_PERIODS * PERIOD)
        .flat_map(|n| [n.to_le_bytes(), (!n).to_le_bytes()])
        .flatten()
        .collect()
}

/// One run with the input file, shared by the tests that read it.
fn run() -> &'static Boot {
    static RUN: OnceLock<Boot> = OnceLock::new();
    RUN.get_or_init(|| {
        let run = boot_bytes_with(&image(), &[("dai-in.pcm", &input())]).expect("booting");
        check_clean(&run);
        run
    })
}

/// It ran to its time limit with no failed check and no kernel fault.
fn check_clean(run: &Boot) {
    assert_eq!(run.status, 0, "{}", run.console);
    for line in run.console.lines() {
        assert!(
            !line.contains("FAIL")
                && !line.contains("KERNEL ")
                && !line.contains("PANIC")
                && !line.contains("panicked at"),
            "{line}\n{}",
            run.console
        );
    }
}

/// The periods test-dai saw as xruns of `side` ("playback", "capture").
fn xruns(run: &Boot, side: &str) -> Vec<u32> {
    let start = format!("{side} xrun in period ");
    run.lines_of("test-dai")
        .iter()
        .filter_map(|line| line.strip_prefix(start.as_str()))
        .map(|period| period.parse().unwrap())
        .collect()
}

#[test]
fn the_playback_file_is_the_pattern_with_silence_exactly_where_the_dai_xran() {
    let run = run();
    assert_eq!(
        run.line_starting("dai dai-out:"),
        "dai dai-out: playback, 197 periods, 6 xruns",
        "200 ticks, 3 of them stopped; 4 starved periods and 2 lies"
    );
    let silent = xruns(run, "playback");
    assert_eq!(silent, [51, 52, 53, 54, 80, 90]);
    // The pattern, period by period, a period of zeros at each xrun.
    let mut expected = Vec::new();
    let mut frame: u32 = 0;
    for period in 0..197 {
        for _ in 0..PERIOD {
            let (left, right) = if silent.contains(&period) {
                (0, 0)
            } else {
                frame += 1;
                (frame - 1, !(frame - 1))
            };
            expected.extend((left as u16).to_le_bytes());
            expected.extend((right as u16).to_le_bytes());
        }
    }
    let file = run.dai_bytes("dai-out");
    assert_eq!(
        file.len(),
        expected.len(),
        "one period a running DMA period"
    );
    assert!(
        file == expected,
        "the playback file differs from the pattern"
    );
}

#[test]
fn capture_reads_the_input_in_order_loses_what_overran_and_then_reads_silence() {
    let run = run();
    assert_eq!(
        run.line_starting("dai dai-in:"),
        "dai dai-in: capture, 200 periods, 5 xruns",
        "4 overruns of a full ring and 1 lie"
    );
    assert_eq!(xruns(run, "capture"), [33, 34, 35, 36, 60]);
    // 100 periods of input, 5 of them lost to the overruns; the end of
    // the input at the 101st period, silence after it.
    assert_eq!(
        run.last_line("test-dai", "capture: "),
        "capture: 95 periods of data in file order, 5 file periods skipped, 50 silent periods, 0 mismatches, 5 xruns, end of input at period 101"
    );
    assert_eq!(
        run.dai_bytes("dai-in"),
        input(),
        "the input is read, never written"
    );
}

#[test]
fn hostile_register_values_only_cost_xruns() {
    let run = run();
    let lines = run.lines_of("test-dai");
    for expected in [
        "playback registers restored",
        "capture registers restored",
        "playback stopped: nothing moved in 3 periods",
    ] {
        assert!(lines.contains(&expected), "{expected}\n{}", run.console);
    }
    // The service's own view agrees with the kernel's count: APPL lies
    // were xruns, the scribbled counts came back.
    assert_eq!(
        run.last_line("test-dai", "playback: "),
        "playback: 147 periods, 6 xruns, 6864 frames written"
    );
}

#[test]
fn a_capture_dai_without_its_file_captures_silence_and_says_so_once() {
    let run = boot_bytes_with(&image(), &[]).expect("booting");
    check_clean(&run);
    let said: Vec<&str> = run
        .kernel_lines()
        .filter(|line| line.starts_with("dai dai-in: started"))
        .collect();
    assert_eq!(
        said,
        ["dai dai-in: started, but dai-in.pcm could not be opened: it captures silence"]
    );
    let summary = run.last_line("test-dai", "capture: ");
    assert!(
        summary.starts_with("capture: 0 periods of data in file order, 0 file periods skipped, 145 silent periods, 0 mismatches, 5 xruns"),
        "{summary}"
    );
    assert!(!run.files.contains_key("dai-in.pcm"), "not created");
    // Playback is not affected.
    assert_eq!(
        run.line_starting("dai dai-out:"),
        "dai dai-out: playback, 197 periods, 6 xruns"
    );
}
