//! A hostile neighbour: the default system with two instances of
//! `tests/services/test-hostile` (tests/hostile.toml) making random raw system
//! calls at the lowest priority. The audio must come out bit for bit as
//! without them and as the host reference, with no underrun, LL overrun
//! or DP deadline miss, no kernel fault, and every service but the
//! hostile ones undisturbed; the hostile services must have made their
//! calls (their histograms are printed) with no oracle mismatch.
//!
//! `SOTTO_HOSTILE_KCALLS` sets the calls per instance in thousands
//! (default 100; `cargo xtask soak` runs 500 each), `SOTTO_HOSTILE_SEED`
//! another seed than tests/hostile.toml's.

use sotto_abi::ExitCode;
use sotto_tests::{Boot, boot_bytes, hostile_image, image};

/// Instances of the hostile service, as tests/hostile.toml names them.
const HOSTILE: [&str; 2] = ["hostile-a", "hostile-b"];
/// Console words only a kernel in trouble prints.
const ALARMS: [&str; 4] = ["KERNEL FAULT", "PANIC", "UNEXPECTED", "DOUBLE EXCEPTION"];
/// Statistics come every 500 LL periods (ll-sched's arg in system.toml).
const REPORT_PERIODS: u32 = 500;

fn kcalls() -> u32 {
    std::env::var("SOTTO_HOSTILE_KCALLS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100)
}

fn seed() -> Option<u32> {
    std::env::var("SOTTO_HOSTILE_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
}

/// Boot `bytes` for `ticks` ticks; if `kcalls` is given, with that many
/// thousand calls for each hostile instance (and the seed of
/// `SOTTO_HOSTILE_SEED`, if set).
fn boot(mut bytes: Vec<u8>, ticks: u32, kcalls: Option<u32>) -> (Boot, Vec<u8>) {
    let mut config = sotto_image::read_boot_config(&bytes).unwrap();
    config.run_ticks = ticks;
    sotto_image::write_boot_config(&mut bytes, &config).unwrap();
    if let Some(kcalls) = kcalls {
        let mut manifest = sotto_image::read_manifest(&bytes).unwrap();
        for (index, name) in HOSTILE.into_iter().enumerate() {
            let service = manifest
                .services
                .iter_mut()
                .find(|service| service.name == name)
                .unwrap_or_else(|| panic!("the hostile image has no {name}"));
            let seed = seed().map_or(service.arg & 0x7F, |seed| {
                (seed.wrapping_mul(2).wrapping_add(index as u32)) & 0x7F
            });
            service.arg = (kcalls << 8) | (service.arg & 0x80) | seed;
        }
        sotto_image::write_manifest(&mut bytes, &manifest).unwrap();
    }
    (boot_bytes(&bytes).unwrap(), bytes)
}

/// `histogram: N calls, M oracle mismatches (...)` of one instance, and
/// the histogram's lines.
fn histogram<'a>(run: &'a Boot, service: &str) -> (u64, u64, Vec<&'a str>) {
    let lines = run.lines_of(service);
    let start = lines
        .iter()
        .position(|line| line.starts_with("histogram: "))
        .unwrap_or_else(|| panic!("{service} printed no histogram:\n{}", run.console));
    let words: Vec<&str> = lines[start].split_whitespace().collect();
    let calls = words[1].parse().unwrap();
    let mismatches = words[3].parse().unwrap();
    let table = lines[start..]
        .iter()
        .take_while(|line| line.starts_with("histogram: ") || line.starts_with("  "))
        .copied()
        .collect();
    (calls, mismatches, table)
}

#[test]
fn hostile_neighbours_change_nothing_in_the_audio_and_the_kernel_survives() {
    let kcalls = kcalls();
    // Instance a makes about 100 calls per ms of virtual time (it waits
    // more), b about 200; leave room, then end past a statistics report.
    let periods = (kcalls * 12 + REPORT_PERIODS).div_ceil(REPORT_PERIODS) * REPORT_PERIODS;
    let ticks = periods + 20;
    let started = std::time::Instant::now();
    let (hostile, bytes) = boot(std::fs::read(hostile_image()).unwrap(), ticks, Some(kcalls));
    let hostile_wall = started.elapsed();
    let (quiet, _) = boot(std::fs::read(image()).unwrap(), ticks, None);

    // The kernel survived and nobody but the hostile services noticed.
    assert_eq!(
        hostile.status,
        ExitCode::Success as i32,
        "{}",
        hostile.console
    );
    for alarm in ALARMS {
        assert!(
            !hostile.console.contains(alarm),
            "{alarm} on the console:\n{}",
            hostile.console
        );
    }
    let shutdown = hostile.line_starting("shutdown: ");
    assert!(
        shutdown.contains("0 failed, 0 panicked, 0 stopped by a fault"),
        "{shutdown}"
    );
    assert!(
        hostile
            .kernel_lines()
            .any(|line| line == "service hostile-a exited with status 0"),
        "{}",
        hostile.console
    );

    // The audio: bit for bit the run without them, and the reference.
    let samples = hostile.pcm();
    assert!(
        samples.len() >= periods as usize * audio_dsp::PERIOD_SAMPLES,
        "{} samples",
        samples.len()
    );
    let without = quiet.pcm();
    assert_eq!(
        samples.len(),
        without.len(),
        "as many periods as without them"
    );
    if let Some(first) = (0..samples.len()).find(|i| samples[*i] != without[*i]) {
        panic!(
            "sample {first} differs from the run without hostile services: {} vs {}",
            samples[first], without[first]
        );
    }
    let (pipeline, buffers) = sotto_audio::pipeline_of_image(&bytes).unwrap();
    let expected = sotto_audio::reference(
        &pipeline,
        &buffers,
        samples.len() / audio_dsp::PERIOD_SAMPLES,
    );
    assert!(samples == expected, "the output differs from the reference");
    let sink = hostile.last_line("pipeline", "stats:");
    assert!(
        sink.starts_with(&format!(
            "stats: {periods} periods, 0 underruns, 0 starved components, 0 DAI xruns;"
        )),
        "{sink}"
    );
    assert_eq!(
        hostile.dai_counts(sotto_tests::PLAYBACK_DAI).1,
        0,
        "the DAI's own count: no xrun"
    );
    let ll = hostile.last_line("ll-sched", "stats after");
    assert!(
        ll.starts_with(&format!("stats after {periods} LL ticks")) && ll.ends_with(" 0 overruns"),
        "{ll}"
    );
    let dp = hostile.last_line("dp-sched", "stats: eq:");
    assert!(dp.contains(", 0 deadline misses"), "{dp}");
    assert!(!hostile.console.contains("DEADLINE MISS"));

    // The hostile services did their part.
    let mut total = 0;
    for name in HOSTILE {
        let (calls, mismatches, table) = histogram(&hostile, name);
        println!("[{name}] {}", table.join(&format!("\n[{name}] ")));
        assert!(calls >= u64::from(kcalls) * 1000, "{name}: {calls} calls");
        assert_eq!(
            mismatches, 0,
            "{name}: oracle mismatches:\n{}",
            hostile.console
        );
        total += calls;
    }
    assert!(!hostile.console.contains("ORACLE MISMATCH"));
    assert!(total >= 100_000, "{total} calls");
    println!(
        "hostile: {total} calls in {ticks} ticks of virtual time, {:.1} s of wall time for the hostile run",
        hostile_wall.as_secs_f64()
    );
}
