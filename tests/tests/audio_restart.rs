//! Audio across restarts (issue 12, "audio state survives"): the audio
//! services of the audio test image (`tests/audio.toml`: the pipeline's LL side
//! in `pipeline`, the FIR in the isolated DP worker `eq-worker`) under a
//! minimal supervisor, `restarter`, which restarts whatever faults. Each
//! runner saves its state after every period or block in a kept region
//! and resumes from it.
//!
//! - The DP worker faults in the middle of every 100th block (a load from
//!   address 0): it is running again within one tick of each fault, the
//!   LL side keeps its pace (0 overruns), and no block is lost — the one
//!   cut short is redone from the saved state — so the output is the
//!   reference, bit for bit, with 0 underruns.
//! - The pipeline faults mid-tone (a fault the kernel injects at a tick):
//!   it is restarted, the periods the playback DAI went without are its
//!   xruns (silence in `dai-out.pcm`, counted by the DAI), and after the
//!   gap the 440 Hz tone has the phase and the gain ramp the position
//!   they would have had: the samples are the fault-free reference's at
//!   the same time.

use sotto_abi::ExitCode;
use sotto_abi::{BootConfig, SelfTest};
use sotto_tests::{Boot, Start, audio_image, boot_bytes, boot_with_faults, image, with_faults};

/// `dp_task::FAULT_EVERY_100`: the DP worker's argument bit.
const FAULT_EVERY_100: u32 = 1 << 11;

/// Boot the test image with `starts` and `restarter` (started too, most
/// urgent), which supervises `pipeline` and `eq-worker` (tests/audio.toml),
/// with faults injected into the main threads of `faults` (service, tick),
/// for `ticks` ticks. Returns the run and the image booted.
fn boot_supervised(starts: &[Start<'_>], faults: &[(&str, u32)], ticks: u32) -> (Boot, Vec<u8>) {
    let mut bytes = std::fs::read(audio_image()).unwrap();
    let mut all = starts.to_vec();
    all.push(Start::new("restarter", 0).priority(0));
    sotto_image::start_services(&mut bytes, &all).unwrap();
    let config = BootConfig {
        tick_hz: 1000,
        run_ticks: ticks,
        report_every: 0,
        self_test: SelfTest::None,
        ..BootConfig::default()
    };
    sotto_image::write_boot_config(&mut bytes, &config).unwrap();
    with_faults(&mut bytes, faults);
    (boot_bytes(&bytes).unwrap(), bytes)
}

/// Assert that the playback DAI's file is the fault-free reference,
/// sample for sample at the same time, but in its gaps: runs of periods
/// of silence where the reference is not silent, as many periods in all
/// as the DAI counted xruns (the periods it went without). The file holds
/// a period for each DMA period the DAI ran. Returns the gaps: (first
/// period, periods).
fn assert_reference_but_gaps(run: &Boot, image: &[u8]) -> Vec<(usize, usize)> {
    let samples = run.pcm();
    let period = audio_dsp::PERIOD_SAMPLES;
    let (periods, xruns) = run.dai_counts(sotto_tests::PLAYBACK_DAI);
    let at = periods as usize;
    assert_eq!(samples.len(), at * period, "a period per DMA period");
    let (pipeline, buffers) = sotto_audio::pipeline_of_image(image).unwrap();
    let expected = sotto_audio::reference(&pipeline, &buffers, at);
    let mut gaps: Vec<(usize, usize)> = Vec::new();
    for p in 0..at {
        let range = p * period..(p + 1) * period;
        if samples[range.clone()] == expected[range.clone()] {
            continue;
        }
        if samples[range.clone()].iter().all(|s| *s == 0) {
            match gaps.last_mut() {
                Some((first, n)) if *first + *n == p => *n += 1,
                _ => gaps.push((p, 1)),
            }
            continue;
        }
        let first = range.clone().find(|i| samples[*i] != expected[*i]).unwrap();
        panic!(
            "period {p} (gaps so far {gaps:?}): sample {first} is {} where the uninterrupted run has {}",
            samples[first], expected[first]
        );
    }
    let silent: usize = gaps.iter().map(|(_, n)| n).sum();
    assert_eq!(
        silent, xruns as usize,
        "gaps {gaps:?}: the silence in the file is the DAI's xruns"
    );
    gaps
}

/// The number after `word` in `line`.
fn number_after(line: &str, word: &str) -> u32 {
    let rest = line
        .split_once(word)
        .unwrap_or_else(|| panic!("no {word:?} in {line:?}"))
        .1;
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no number after {word:?} in {line:?}"))
}

#[test]
fn a_dp_worker_faulting_every_100th_block_is_back_within_a_tick_and_loses_nothing() {
    const TICKS: u32 = 3100;
    let (run, bytes) = boot_supervised(
        &[
            Start::new("ll-sched", 500 << 8 | 1).priority(1),
            Start::new("pipeline", 0).priority(1),
            Start::new("dp-sched", 0).priority(2),
            Start::new("eq-worker", FAULT_EVERY_100).priority(3),
        ],
        &[],
        TICKS,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let worker = run.lines_of("eq-worker");
    let faults: Vec<(u32, u32)> = worker
        .iter()
        .filter(|line| line.starts_with("faulting on purpose in block "))
        .map(|line| (number_after(line, "block"), number_after(line, "at tick")))
        .collect();
    let resumed: Vec<(u32, u32, u32)> = worker
        .iter()
        .filter(|line| line.contains(" resumed after block "))
        .map(|line| {
            (
                number_after(line, "after block"),
                number_after(line, "(epoch"),
                number_after(line, "at tick"),
            )
        })
        .collect();
    assert_eq!(
        faults.iter().map(|(block, _)| *block).collect::<Vec<_>>(),
        [100, 200, 300],
        "{}",
        run.console
    );
    assert_eq!(resumed.len(), faults.len(), "{}", run.console);
    for ((block, fault_tick), (after, epoch, tick)) in faults.iter().zip(&resumed) {
        // The block cut short was not saved: the worker resumes after the
        // one before it, and runs it again.
        assert_eq!(*after, block - 1);
        assert_eq!(*epoch, block / 100, "one restore per fault");
        assert!(
            tick - fault_tick <= 1,
            "faulted at tick {fault_tick}, running again at tick {tick}"
        );
    }
    // The supervisor saw each fault as a message and restarted the worker.
    let restarts = run
        .lines_of("restarter")
        .into_iter()
        .filter(|line| line.contains(" restarted at tick "))
        .count();
    assert_eq!(restarts, faults.len(), "{}", run.console);
    // No block lost: the worker's count goes on, every block's output is
    // the reference's, and the LL side never ran dry or late.
    let blocks = run.last_line("eq-worker", "stats eq: 300 blocks");
    assert!(blocks.starts_with("stats eq: 300 blocks"), "{blocks}");
    let ll = run.last_line("ll-sched", "stats after 3000 LL ticks");
    assert!(ll.ends_with(" 0 overruns"), "{ll}");
    let stats = run.last_line("pipeline", "stats: 3000 periods");
    assert!(
        stats.starts_with("stats: 3000 periods, 0 underruns, 0 starved"),
        "{stats}"
    );
    let samples = run.pcm();
    assert!(samples.len() >= 3000 * audio_dsp::PERIOD_SAMPLES);
    sotto_tests::assert_bit_exact(&bytes, &samples);
    assert_eq!(run.dai_counts(sotto_tests::PLAYBACK_DAI).1, 0, "DAI xruns");
    // dp-sched released each voided block again, and counts the restarts
    // apart from the blocks (its last report came before the third).
    let again = run
        .lines_of("dp-sched")
        .into_iter()
        .filter(|line| line.starts_with("eq: its runner started again at tick"))
        .count();
    assert_eq!(again, faults.len(), "{}", run.console);
    let dp = run.last_line("dp-sched", "stats: eq:");
    assert!(dp.contains(", 0 deadline misses"), "{dp}");
    assert!(dp.ends_with(", 2 restarts of its runner"), "{dp}");
}

#[test]
fn a_pipeline_faulting_mid_tone_continues_in_phase_after_its_restart() {
    // Mid-ramp (the gain ramps over 500 ms) and mid-tone.
    const FAULT_AT: u32 = 300;
    const TICKS: u32 = 700;
    let (run, bytes) = boot_supervised(
        &[
            Start::new("ll-sched", 100 << 8 | 1).priority(1),
            Start::new("pipeline", 0).priority(1),
            Start::new("dp-sched", 0).priority(2),
            Start::new("eq-worker", 0).priority(3),
        ],
        &[("pipeline", FAULT_AT)],
        TICKS,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let restarts: Vec<&str> = run
        .lines_of("restarter")
        .into_iter()
        .filter(|line| line.contains(" restarted at tick "))
        .collect();
    assert_eq!(restarts.len(), 1, "{}", run.console);
    let resumed = run.last_line("pipeline", "state: resumed after period");
    let saved = number_after(resumed, "after period");
    assert_eq!(number_after(resumed, "(epoch"), 1);
    let back = number_after(resumed, "at tick");
    assert!(
        back - FAULT_AT <= 1,
        "faulted at tick {FAULT_AT}, back at {back}"
    );
    assert!((FAULT_AT - 2..=FAULT_AT + 1).contains(&saved), "{resumed}");
    // The periods it was down for: silence in the output, counted by the
    // DAI as xruns and by the pipeline as underruns.
    let late: Vec<u32> = run
        .lines_of("pipeline")
        .iter()
        .filter_map(|line| line.strip_prefix("UNDERRUN: "))
        .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(late.len(), 1, "{}", run.console);
    let lost = late[0] as usize;
    assert!((1..=3).contains(&lost), "{lost} periods lost");
    let (_, xruns) = run.dai_counts(sotto_tests::PLAYBACK_DAI);
    assert_eq!(xruns as usize, lost, "{}", run.console);
    let stats = run.last_line("pipeline", "stats: 500 periods");
    let underruns = number_after(stats, "periods,");
    assert_eq!(underruns as usize, lost, "{stats}");
    // Before the gap the reference; then silence; after it the reference
    // at the same time: the tone in phase, the ramp where it would be.
    let gaps = assert_reference_but_gaps(&run, &bytes);
    assert_eq!(gaps, [(saved as usize, lost)], "{}", run.console);
    // The ramp had not ended at the fault: the level after the gap is the
    // ramp's, not its start's.
    assert!(saved < 500);
}

#[test]
fn the_default_system_recovers_from_faults_of_its_pipeline_and_its_dp_thread_in_phase() {
    // Its supervisor restarts the pipeline service, both threads: first
    // the LL side faults (mid-ramp), then the DP thread (mid-tone).
    let manifest = sotto_image::read_manifest(&std::fs::read(image()).unwrap()).unwrap();
    let pipeline = manifest
        .services
        .iter()
        .find(|s| s.name == "pipeline")
        .unwrap();
    assert!(
        pipeline.supervision.supervisor.is_some(),
        "system.toml names no supervisor for the pipeline (services/supervisor)"
    );
    let (run, bytes) =
        boot_with_faults(&image(), 1600, &[("pipeline", 300), ("pipeline/eq", 1002)]);
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let resumed: Vec<&str> = run
        .lines_of("pipeline")
        .into_iter()
        .filter(|line| line.starts_with("state: resumed after period"))
        .collect();
    assert_eq!(resumed.len(), 2, "{}", run.console);
    for ((n, line), fault) in resumed.iter().enumerate().zip([300, 1002]) {
        assert_eq!(number_after(line, "(epoch"), n as u32 + 1, "{line}");
        let back = number_after(line, "at tick");
        assert!(back - fault <= 1, "faulted at tick {fault}: {line}");
    }
    // The DP thread resumed each time from its own saved state.
    let dp: Vec<&str> = run
        .lines_of("pipeline")
        .into_iter()
        .filter(|line| line.starts_with("DP thread #0: component 2 (eq) resumed after block"))
        .collect();
    assert_eq!(dp.len(), 2, "{}", run.console);
    let gaps = assert_reference_but_gaps(&run, &bytes);
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    for (_, periods) in &gaps {
        assert!((1..=3).contains(periods), "{gaps:?}");
    }
}

#[test]
fn without_kept_rings_a_restarted_worker_finds_them_reset_and_starts_cold() {
    // Why `audio-buffers` is `keep = true`: the same worker restart with
    // the rings not kept. The kernel puts the region back as the image has
    // it (every writer's restart resets it), under the running pipeline;
    // the worker's saved cursors no longer match, and it says so and
    // starts cold rather than resume on rings that are not its own.
    let mut bytes = std::fs::read(audio_image()).unwrap();
    let mut starts = vec![
        Start::new("ll-sched", 500 << 8 | 1).priority(1),
        Start::new("pipeline", 0).priority(1),
        Start::new("dp-sched", 0).priority(2),
        Start::new("eq-worker", FAULT_EVERY_100).priority(3),
    ];
    starts.push(Start::new("restarter", 0).priority(0));
    sotto_image::start_services(&mut bytes, &starts).unwrap();
    let mut manifest = sotto_image::read_manifest(&bytes).unwrap();
    for object in manifest.objects.iter_mut() {
        if object.name == "audio-buffers"
            && let sotto_abi::manifest::ObjectParams::Memory { keep, .. } = &mut object.params
        {
            assert!(*keep, "tests/audio.toml keeps the rings");
            *keep = false;
        }
    }
    sotto_image::write_manifest(&mut bytes, &manifest).unwrap();
    let config = BootConfig {
        tick_hz: 1000,
        run_ticks: 1200,
        report_every: 0,
        self_test: SelfTest::None,
        ..BootConfig::default()
    };
    sotto_image::write_boot_config(&mut bytes, &config).unwrap();
    let run = boot_bytes(&bytes).unwrap();
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let rebuilt = run.last_line("eq-worker", "DP worker #0: component 2 (eq) state rebuilt");
    assert!(
        rebuilt.contains("(the rings are not those it was saved with)"),
        "{rebuilt}"
    );
    assert!(
        !run.console.contains(" resumed after block "),
        "{}",
        run.console
    );
}
