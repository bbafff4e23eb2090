//! The audio pipeline in QEMU: the default system's output, bit for bit
//! against the host reference; a file captured through the capture DAI
//! and filtered by `pipelines/file-eq.toml`, bit for bit against the
//! reference made from the same file; a DP task that misses its deadline on
//! purpose; an isolated DP worker that faults; a more urgent service that keeps the
//! whole LL side off the CPU for 300 ticks.

use sotto_abi::ExitCode;
use sotto_tests::{
    Boot, Start, assert_bit_exact, audio_image, boot_bytes, boot_bytes_with, boot_services_of,
    file_eq_image, image, readme_pipeline_image,
};

/// Ticks per LL period (the default system's tick is 1 ms).
const PERIOD_TICKS: u32 = 1;

/// Boot the default image for `ticks` ticks, with the argument of the
/// pipeline's eq thread replaced by `eq_arg` if given. Returns the run and
/// the image.
fn boot_default(ticks: u32, eq_arg: Option<u32>) -> (Boot, Vec<u8>) {
    let mut bytes = std::fs::read(image()).unwrap();
    let mut config = sotto_image::read_boot_config(&bytes).unwrap();
    config.run_ticks = ticks;
    sotto_image::write_boot_config(&mut bytes, &config).unwrap();
    if let Some(arg) = eq_arg {
        let mut manifest = sotto_image::read_manifest(&bytes).unwrap();
        let thread = manifest
            .services
            .iter_mut()
            .find(|service| service.name == "pipeline")
            .and_then(|service| service.threads.iter_mut().find(|t| t.name == "eq"))
            .expect("the default system runs eq in a DP thread of the pipeline");
        thread.arg = arg;
        sotto_image::write_manifest(&mut bytes, &manifest).unwrap();
    }
    let run = boot_bytes(&bytes).unwrap();
    (run, bytes)
}

#[test]
fn ten_seconds_of_the_default_pipeline_match_the_reference_bit_for_bit() {
    // A little past 10 s, so the statistics at 10,000 periods are printed.
    let (run, bytes) = boot_default(10_000 * PERIOD_TICKS + 20, None);
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let samples = run.pcm();
    let frames = samples.len() / audio_dsp::CHANNELS;
    assert!(
        frames >= 10_000 * audio_dsp::PERIOD_FRAMES,
        "{frames} frames"
    );
    assert_bit_exact(&bytes, &samples);
    // The DAI played every period it took: the file is its periods, the
    // first the sink's first, and it counted no xrun.
    let (periods, xruns) = run.dai_counts(sotto_tests::PLAYBACK_DAI);
    assert_eq!(xruns, 0, "{}", run.console);
    assert_eq!(
        samples.len(),
        periods as usize * audio_dsp::PERIOD_SAMPLES,
        "a period in the file for each DMA period"
    );
    assert!(
        !run.console.lines().any(|line| line
            .split_once("] ")
            .is_some_and(|(_, text)| text.starts_with("pcm"))),
        "PCM on the console"
    );
    let (pipeline, _) = sotto_audio::pipeline_of_image(&bytes).unwrap();
    // Independently of the reference: after the ramp, the 440 Hz tone is
    // at 0.5 * 0.8 times the low-pass's gain at 440 Hz (from its taps, in
    // floating point), the 3 kHz tone at 0.25; nothing else is there.
    let level = |hz: f64| sotto_audio::tone_amplitude(&samples, hz, 48_000);
    let taps = pipeline
        .components
        .iter()
        .find_map(|component| match &component.kind {
            audio_dsp::config::Kind::Fir { taps, .. } => Some(taps.clone()),
            _ => None,
        })
        .unwrap();
    let omega = 2.0 * std::f64::consts::PI * 440.0 / 48_000.0;
    let (re, im) = taps
        .iter()
        .enumerate()
        .fold((0.0, 0.0), |(re, im), (k, tap)| {
            let tap = f64::from(*tap) / 2f64.powi(31);
            (
                re + tap * (omega * k as f64).cos(),
                im + tap * (omega * k as f64).sin(),
            )
        });
    let expected = 0.4 * f64::hypot(re, im);
    assert!(
        (level(440.0) - expected).abs() < 0.002,
        "440 Hz at {} vs {expected}",
        level(440.0)
    );
    assert!(
        (level(3000.0) - 0.25).abs() < 0.005,
        "3 kHz at {}",
        level(3000.0)
    );
    assert!(level(1000.0) < 0.001, "1 kHz at {}", level(1000.0));
    assert_eq!(
        run.last_line("pipeline", "stats: 10000 periods"),
        run.last_line("pipeline", "stats:"),
    );
    assert!(
        run.last_line("pipeline", "stats: 10000 periods")
            .starts_with("stats: 10000 periods, 0 underruns, 0 starved components, 0 DAI xruns;"),
        "{}",
        run.console
    );
    assert!(
        run.last_line("ll-sched", "stats after 10000 LL ticks")
            .ends_with(" 0 overruns"),
        "{}",
        run.last_line("ll-sched", "stats after")
    );
    let dp = run.last_line("dp-sched", "stats: eq:");
    assert!(dp.contains(", 0 deadline misses"), "{dp}");
    let blocks: u32 = dp.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(blocks >= 990, "{dp}");
    assert!(!run.console.contains("DEADLINE MISS"), "{}", run.console);
}

#[test]
fn a_captured_file_plays_through_the_eq_pipeline_bit_for_bit() {
    // One second of noise-like input at half scale, in the capture DAI's
    // format (32-bit), then the run goes on 10 ms past its end (the DAI
    // captures silence there, as the reference reads it).
    const PERIODS: usize = 1000;
    let mut x = 0x2545_f491u32;
    let input: Vec<i32> = (0..PERIODS * audio_dsp::PERIOD_SAMPLES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as i32) >> 1
        })
        .collect();
    let raw: Vec<u8> = input.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut bytes = std::fs::read(file_eq_image()).unwrap();
    let mut config = sotto_image::read_boot_config(&bytes).unwrap();
    config.run_ticks = PERIODS as u32 + 10;
    sotto_image::write_boot_config(&mut bytes, &config).unwrap();
    let run = boot_bytes_with(&bytes, &[("dai-in.pcm", &raw)]).unwrap();
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert_eq!(
        run.lines_of("pipeline")[0],
        "4 components (1 DP), 3 buffers; capture DAI 32-bit, playback DAI 16-bit"
    );
    // The DAIs' own counts: nothing lost either way, and the playback
    // file is a period per DMA period, from the sink's first.
    let (captured, lost) = run.dai_counts("dai-in");
    let (played, xruns) = run.dai_counts(sotto_tests::PLAYBACK_DAI);
    assert_eq!((lost, xruns), (0, 0), "{}", run.console);
    assert!(
        captured as usize > PERIODS && played + 1 == captured,
        "{captured} {played}"
    );
    let samples = run.pcm();
    assert_eq!(samples.len(), played as usize * audio_dsp::PERIOD_SAMPLES);
    let (pipeline, buffers) = sotto_audio::pipeline_of_image(&bytes).unwrap();
    let expected: Vec<i16> =
        sotto_audio::reference_with_input(&pipeline, &buffers, &input, played as usize)
            .into_iter()
            .map(audio_dsp::q31::to_i16)
            .collect();
    sotto_tests::assert_same_samples(&samples, &expected);
    // The filter's latency (two 10 ms blocks) is silence; then the noise,
    // low-passed.
    let latency = 2 * 480 * audio_dsp::CHANNELS;
    assert!(samples[..latency].iter().all(|s| *s == 0));
    assert!(samples[latency..].iter().any(|s| *s != 0));
    let stats = run.last_line("pipeline", "stats: 1000 periods");
    assert!(
        stats.starts_with("stats: 1000 periods, 0 underruns, 0 starved components, 0 DAI xruns;"),
        "{stats}"
    );
}

#[test]
fn a_dp_block_that_misses_its_deadline_is_reported_and_the_pipeline_recovers() {
    // DP thread #0 (eq), first block delayed 15 ms: its deadline is 10 ms
    // after its input filled, and the prefilled output lasts until then.
    let (run, bytes) = boot_default(1010, Some(1 << 8));
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let misses: Vec<&str> = run
        .lines_of("dp-sched")
        .into_iter()
        .filter(|line| line.starts_with("DEADLINE MISS: eq"))
        .collect();
    assert_eq!(misses.len(), 1, "{}", run.console);
    let stats = run.last_line("dp-sched", "stats: eq:");
    assert!(stats.contains(", 1 deadline misses"), "{stats}");
    // The sink goes without for about the 5 ms the block was late, then the
    // worker catches up on the input that waited, and nothing is lost again.
    let underruns_at = |periods: u32| -> u32 {
        let line = run.last_line("pipeline", &format!("stats: {periods} periods"));
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    };
    let lost = underruns_at(500);
    assert!((3..=8).contains(&lost), "{}", run.console);
    assert_eq!(underruns_at(1000), lost, "{}", run.console);
    let ll = run.last_line("ll-sched", "stats after 1000 LL ticks");
    assert!(ll.ends_with(" 0 overruns"), "{ll}");
    // No sample was lost, only delayed: every component upstream of the
    // empty period waited with its input buffered, so from then on the
    // output is the reference, `lost` periods late.
    let samples = run.pcm();
    let (pipeline, buffers) = sotto_audio::pipeline_of_image(&bytes).unwrap();
    let periods = samples.len() / audio_dsp::PERIOD_SAMPLES;
    let expected = sotto_audio::reference(&pipeline, &buffers, periods);
    let shift = lost as usize * audio_dsp::PERIOD_SAMPLES;
    let after = 100 * audio_dsp::PERIOD_SAMPLES;
    assert!(
        samples[after..] == expected[after - shift..samples.len() - shift],
        "the output after recovery is not the reference delayed by {lost} periods"
    );
    assert!(
        samples[..after] != expected[..after],
        "the late block changed nothing?"
    );
}

#[test]
fn a_faulting_dp_worker_stops_alone_and_the_pipeline_reports_underruns() {
    // The isolated variant: the audio services of the default system in
    // the audio test image, with eq in its own worker service (as
    // tests/audio.toml declares it), which faults on its first block.
    let run = boot_services_of(
        &audio_image(),
        &[
            Start::new("ll-sched", 500 << 8 | 1).priority(1),
            Start::new("pipeline", 0).priority(1),
            Start::new("dp-sched", 0).priority(2),
            Start::new("eq-worker", 1 << 9).priority(3),
        ],
        600,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert!(
        run.kernel_lines()
            .any(|line| line.starts_with("service eq-worker stopped: IllegalInstruction")),
        "{}",
        run.console
    );
    // The DP scheduler notices the block never finished...
    assert!(
        run.lines_of("dp-sched")
            .iter()
            .any(|line| line.starts_with("DEADLINE MISS: eq still running")),
        "{}",
        run.console
    );
    // ...the sink runs dry once the prefilled blocks are gone, and keeps
    // its 1 ms pace: the LL side is not disturbed.
    let sink = run.last_line("pipeline", "stats: 500 periods");
    let underruns: u32 = sink.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!((400..=490).contains(&underruns), "{sink}");
    let ll = run.last_line("ll-sched", "stats after 500 LL ticks");
    assert!(ll.ends_with(" 0 overruns"), "{ll}");
    let end = run.line_starting("shutdown: 600 ticks");
    assert!(end.contains("1 stopped by a fault"), "{end}");
}

#[test]
fn the_readmes_pipeline_change_plays_bit_exact_without_code_changes() {
    // Same services, same system.toml; only the pipeline file differs.
    let mut bytes = std::fs::read(readme_pipeline_image()).unwrap();
    let mut config = sotto_image::read_boot_config(&bytes).unwrap();
    config.run_ticks = 1_010;
    sotto_image::write_boot_config(&mut bytes, &config).unwrap();
    let run = boot_bytes(&bytes).unwrap();
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert_eq!(
        run.lines_of("pipeline")[0],
        "7 components (0 DP), 6 buffers; playback DAI 16-bit"
    );
    // Its DP thread has nothing to run.
    assert!(
        run.lines_of("pipeline")
            .contains(&"the pipeline has no DP component #0: idle"),
        "{}",
        run.console
    );
    let stats = run.last_line("pipeline", "stats: 1000 periods");
    assert!(
        stats.starts_with("stats: 1000 periods, 0 underruns, 0 starved"),
        "{stats}"
    );
    let samples = run.pcm();
    let (pipeline, buffers) = sotto_audio::pipeline_of_image(&bytes).unwrap();
    assert!(pipeline.components.iter().any(|c| c.name == "master"));
    let expected = sotto_audio::reference(
        &pipeline,
        &buffers,
        samples.len() / audio_dsp::PERIOD_SAMPLES,
    );
    assert!(samples.len() >= 1000 * audio_dsp::PERIOD_SAMPLES);
    assert!(samples == expected, "the output differs from the reference");
}

#[test]
fn three_hundred_ticks_taken_by_a_more_urgent_service_show_as_missed_ticks_and_underruns() {
    // The audio services of the default system, in the audio test image, with
    // ll-sched reporting every 100 LL ticks, and a priority-0 service
    // that takes the CPU from tick 200 for 300 ticks.
    const FROM: u32 = 200;
    const SPIN: u32 = 300;
    let run = boot_services_of(
        &audio_image(),
        &[
            Start::new("ll-sched", 100 << 8 | 1).priority(1),
            Start::new("pipeline", 0).priority(1),
            Start::new("dp-sched", 0).priority(2),
            Start::new("eq-worker", 0).priority(3),
            Start::new("ll-b", 12 | SPIN << 8 | FROM << 20)
                .named("spinner")
                .priority(0),
        ],
        800,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    // dp-sched's thread capability names eq-worker among the services
    // started (start_services follows it), and sets its deadlines.
    assert!(
        !run.console.contains("cannot set DP task"),
        "{}",
        run.console
    );
    let spun = run.last_line("spinner", "spun from tick ");
    let words: Vec<u32> = spun
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let (start, end) = (words[0], words[1]);
    assert!(end - start >= SPIN && start >= FROM, "{spun}");
    // ll-sched: the ticks it never ran are counted, with their cause.
    let missed_line = run.last_line("ll-sched", "MISSED TICKS");
    let missed: u32 = missed_line
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("{missed_line}"));
    assert!(
        (SPIN - 1..=SPIN + 1).contains(&missed),
        "{missed_line} after {spun}"
    );
    assert!(missed_line.ends_with("never ran (ll-sched did not run); counted as overruns"));
    let report = run
        .lines_of("ll-sched")
        .into_iter()
        .find(|line| line.contains("(missed ticks: "))
        .unwrap_or_else(|| panic!("no report with missed ticks: {}", run.console));
    assert!(
        report.contains(&format!(
            " overruns (missed ticks: {missed} (ll-sched did not run), "
        )),
        "{report}"
    );
    let overruns: u32 = report
        .split(" cycles, ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(overruns >= missed, "{report}");
    // The pipeline: as many underruns as periods went by without it,
    // against the DAI's time, not against the periods it ran; the DAI
    // counted each as an xrun (and played silence for it).
    let late: Vec<u32> = run
        .lines_of("pipeline")
        .iter()
        .filter_map(|line| line.strip_prefix("UNDERRUN: "))
        .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    let lost: u32 = late.iter().sum();
    assert!(
        (missed..=missed + 2).contains(&lost),
        "{lost} periods missed by the pipeline, {missed} ticks by ll-sched"
    );
    let (_, xruns) = run.dai_counts(sotto_tests::PLAYBACK_DAI);
    assert_eq!(
        xruns, lost,
        "the DAI's xruns are the periods the pipeline missed"
    );
    let stats = run.last_line("pipeline", "stats: ");
    let underruns: u32 = stats.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert_eq!(underruns, lost, "{stats}");
    // The output keeps time: each period the pipeline missed is a period
    // of silence, and what it played is the reference, before the gap and
    // — only delayed, nothing lost — after it.
    let samples = run.pcm();
    let bytes = std::fs::read(audio_image()).unwrap();
    let (pipeline, buffers) = sotto_audio::pipeline_of_image(&bytes).unwrap();
    let expected = sotto_audio::reference(
        &pipeline,
        &buffers,
        samples.len() / audio_dsp::PERIOD_SAMPLES,
    );
    let period = audio_dsp::PERIOD_SAMPLES;
    let gap_at = (0..samples.len() / period)
        .find(|p| samples[p * period..(p + 1) * period] != expected[p * period..(p + 1) * period])
        .expect("the output never left the reference");
    assert!(
        gap_at >= 150,
        "the output left the reference at period {gap_at}, before the spin"
    );
    let shift = lost as usize * period;
    let (gap, after) = (gap_at * period, gap_at * period + shift);
    assert!(samples[gap..after].iter().all(|sample| *sample == 0));
    assert!(
        samples[after..after + period] != [0; audio_dsp::PERIOD_SAMPLES][..],
        "the gap is longer than the DAI's {xruns} xruns"
    );
    assert!(
        samples[after..] == expected[gap..samples.len() - shift],
        "the output after the gap is not the reference delayed by {lost} periods"
    );
    assert!(
        samples.len() - shift >= gap + 200 * period,
        "too little after the gap"
    );
}
