//! The trace of the schedule (`cargo xtask run --trace`): the default
//! image, its boot configuration's trace flag set, runs 300 ticks with an
//! injected fault of the pipeline at tick 150; its `trace.bin`, converted
//! by the code `cargo xtask run --trace` uses (`sotto_trace`), is valid
//! trace-event JSON with a track for every thread of the manifest,
//! running slices that never overlap on the single core, timer
//! interrupts, LL ticks, DP releases, deadlines and blocks, and the fault
//! and the restart. Without the flag no trace file is written.

use std::sync::OnceLock;

use serde_json::Value;
use sotto_abi::{BootConfig, ExitCode, SelfTest};
use sotto_tests::{Boot, boot_bytes, image, with_faults};
use sotto_trace::{Names, Summary};

/// Ticks the traced run lasts.
const TICKS: u32 = 300;
/// The tick the pipeline faults at.
const FAULT_AT: u32 = 150;

/// The image with the default services for `TICKS` ticks, traced or not.
fn image_bytes(trace: bool) -> Vec<u8> {
    let mut bytes = std::fs::read(image()).expect("reading the default image");
    let config = BootConfig {
        tick_hz: 1000,
        run_ticks: TICKS,
        report_every: 0,
        self_test: SelfTest::None,
        trace,
        ..BootConfig::default()
    };
    sotto_image::write_boot_config(&mut bytes, &config).expect("writing the boot configuration");
    bytes
}

struct Traced {
    run: Boot,
    /// The document, as `cargo xtask run --trace` writes it and read back.
    document: Value,
    summary: Summary,
    names: Vec<String>,
}

/// The traced run (booted once for every test here).
fn traced() -> &'static Traced {
    static RUN: OnceLock<Traced> = OnceLock::new();
    RUN.get_or_init(|| {
        let mut bytes = image_bytes(true);
        with_faults(&mut bytes, &[("pipeline", FAULT_AT)]);
        let run = boot_bytes(&bytes).expect("booting the traced image");
        assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
        let bin = run
            .files
            .get(sotto_abi::trace::FILE)
            .unwrap_or_else(|| panic!("no {} written:\n{}", sotto_abi::trace::FILE, run.console));
        let trace = sotto_trace::parse(bin).expect("a trace file");
        let manifest = sotto_image::read_manifest(&bytes).expect("the manifest");
        let (document, summary) = sotto_trace::to_chrome(&trace, &Names::from_manifest(&manifest));
        // Through text, as a viewer reads the file.
        let text = serde_json::to_string(&document).unwrap();
        let document: Value = serde_json::from_str(&text).expect("valid JSON");
        let mut names = Vec::new();
        for service in &manifest.services {
            names.push(service.name.to_string());
            for thread in &service.threads {
                names.push(format!("{}/{}", service.name, thread.name));
            }
        }
        Traced {
            run,
            document,
            summary,
            names,
        }
    })
}

fn events<'a>(document: &'a Value, ph: &str) -> Vec<&'a Value> {
    document["traceEvents"]
        .as_array()
        .expect("a traceEvents array")
        .iter()
        .filter(|event| event["ph"] == ph)
        .collect()
}

fn named<'a>(document: &'a Value, ph: &str, name: &str) -> Vec<&'a Value> {
    events(document, ph)
        .into_iter()
        .filter(|event| event["name"] == name)
        .collect()
}

#[test]
fn the_trace_is_complete_and_the_kernel_says_so() {
    let traced = traced();
    assert!(traced.summary.complete, "no end record");
    assert_eq!(traced.summary.dropped, 0);
    assert_eq!(traced.document["otherData"]["dropped"], 0);
    assert_eq!(traced.document["displayTimeUnit"], "ns");
    let mut lines = traced
        .run
        .kernel_lines()
        .filter(|line| line.starts_with("trace: "));
    assert_eq!(
        lines.next(),
        Some(
            "trace: recording the schedule into trace.bin (a ring of 8192 events, written out when half full)"
        )
    );
    let last = lines.next().unwrap_or_default();
    let written: usize = last
        .trim_start_matches("trace: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{last}"));
    assert_eq!(
        last,
        format!("trace: {written} events written to trace.bin, none dropped")
    );
    assert_eq!(written, traced.summary.records, "every record was read");
    // The run spans its ticks (1 ms each), in microseconds.
    assert!(
        traced.summary.span_us > f64::from(TICKS - 5) * 1000.0,
        "{}",
        traced.summary.span_us
    );
}

#[test]
fn every_thread_of_the_manifest_has_a_named_track() {
    let traced = traced();
    let tracks: Vec<&str> = named(&traced.document, "M", "thread_name")
        .iter()
        .filter_map(|event| event["args"]["name"].as_str())
        .collect();
    for name in &traced.names {
        assert!(
            tracks.contains(&name.as_str()),
            "no track {name}: {tracks:?}"
        );
    }
    let processes: Vec<&str> = named(&traced.document, "M", "process_name")
        .iter()
        .filter_map(|event| event["args"]["name"].as_str())
        .collect();
    for name in ["kernel", "schedule", "pipeline", "ll-sched", "dp-sched"] {
        assert!(processes.contains(&name), "{name}: {processes:?}");
    }
}

#[test]
fn running_slices_are_ordered_and_never_overlap_on_the_single_core() {
    let traced = traced();
    let mut slices: Vec<(f64, f64, String)> = events(&traced.document, "X")
        .into_iter()
        .filter(|event| event["cat"] == "run")
        .map(|event| {
            (
                event["ts"].as_f64().unwrap(),
                event["dur"].as_f64().unwrap(),
                event["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(slices.len() > 2 * TICKS as usize, "{} slices", slices.len());
    // Written in time order already.
    assert!(slices.windows(2).all(|pair| pair[0].0 <= pair[1].0));
    slices.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in slices.windows(2) {
        let ((start, dur, ref first), (next, _, ref second)) = (pair[0].clone(), pair[1].clone());
        assert!(dur >= 0.0);
        // (A tenth of a microsecond is one CCOUNT count: the printed
        // decimal may round.)
        assert!(
            start + dur <= next + 1e-6,
            "{first} at {start} µs for {dur} µs overlaps {second} at {next} µs"
        );
    }
    // The services that run in a default system all ran.
    for name in ["ll-sched", "pipeline", "pipeline/eq", "dp-sched", "idle"] {
        assert!(slices.iter().any(|s| s.2 == name), "{name} never ran");
    }
}

#[test]
fn timer_interrupts_and_ll_ticks_are_there_every_tick() {
    let traced = traced();
    let interrupts = named(&traced.document, "i", "timer interrupt");
    assert!(
        interrupts.len() >= (TICKS - 10) as usize,
        "{} timer interrupts",
        interrupts.len()
    );
    let ll = named(&traced.document, "X", "LL tick");
    // One per 1 ms period (but the ones the pipeline's restart cost).
    assert!(ll.len() >= (TICKS - 10) as usize, "{} LL ticks", ll.len());
    assert!(ll.iter().all(|tick| tick["dur"].as_f64().unwrap() > 0.0));
}

#[test]
fn dp_releases_deadlines_and_blocks_are_there() {
    let traced = traced();
    // The pipeline's FIR: a 10 ms block, released every 10 ms.
    let releases = named(&traced.document, "i", "release");
    let deadlines = named(&traced.document, "i", "deadline");
    let blocks = named(&traced.document, "X", "block");
    for (what, list) in [
        ("releases", &releases),
        ("deadlines", &deadlines),
        ("blocks", &blocks),
    ] {
        assert!(list.len() >= 20, "{} {what}", list.len());
    }
    // Each deadline is its release plus the block period (10 ms).
    let first = releases[0]["ts"].as_f64().unwrap();
    let deadline = releases[0]["args"]["deadline_us"].as_f64().unwrap();
    assert!(
        (deadline - first - 10_000.0).abs() < 1_000.0,
        "released at {first} µs, deadline {deadline} µs"
    );
    assert!(
        blocks
            .iter()
            .all(|block| block["args"]["runner"] == "pipeline/eq")
    );
}

#[test]
fn the_injected_fault_and_the_restart_are_marked() {
    let traced = traced();
    let faults = named(&traced.document, "i", "fault: injected fault");
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0]["args"]["thread"], "pipeline");
    // Tick N starts N ms after the timer was armed (CCOUNT since reset,
    // 10 counts per µs: the trace's time base).
    let armed = traced.run.line_starting("timer: ");
    let armed: f64 = armed
        .split("armed at ccount ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{armed}"));
    let tick = (armed / 10.0 + f64::from(FAULT_AT) * 1000.0)
        ..(armed / 10.0 + f64::from(FAULT_AT + 1) * 1000.0);
    let at = faults[0]["ts"].as_f64().unwrap();
    assert!(
        tick.contains(&at),
        "fault at {at} µs, tick {FAULT_AT} is {tick:?}"
    );
    let restarts = named(&traced.document, "i", "restart");
    assert_eq!(restarts.len(), 1, "{restarts:?}");
    assert_eq!(restarts[0]["args"]["service"], "pipeline");
    assert!(restarts[0]["ts"].as_f64().unwrap() >= at);
}

#[test]
fn without_the_flag_nothing_is_traced_and_no_file_is_written() {
    let run = boot_bytes(&image_bytes(false)).expect("booting the default image");
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert!(
        !run.files.contains_key(sotto_abi::trace::FILE),
        "{:?}",
        run.files.keys().collect::<Vec<_>>()
    );
    assert!(!run.console.contains("[kernel] trace"), "{}", run.console);
}

/// The DAIs' DMA (`tests/dai.toml`, whose service starves and floods the
/// rings on purpose), traced: a period record per DMA period and an xrun
/// record per xrun of each DAI, as many as the kernel's shutdown line
/// counts, on a track named after the DAI.
#[test]
fn dai_periods_and_xruns_are_traced_as_the_kernel_counts_them() {
    let mut bytes = std::fs::read(sotto_tests::test_image().with_file_name("dai.elf"))
        .expect("reading the DAI image");
    let mut config = sotto_image::read_boot_config(&bytes).expect("its boot configuration");
    config.trace = true;
    sotto_image::write_boot_config(&mut bytes, &config).expect("writing it");
    let run = boot_bytes(&bytes).expect("booting the DAI image");
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let bin = run.files.get(sotto_abi::trace::FILE).expect("a trace");
    let manifest = sotto_image::read_manifest(&bytes).expect("the manifest");
    let trace = sotto_trace::parse(bin).expect("a trace file");
    let (document, _) = sotto_trace::to_chrome(&trace, &Names::from_manifest(&manifest));
    let tracks: Vec<&str> = named(&document, "M", "thread_name")
        .iter()
        .filter_map(|event| event["args"]["name"].as_str())
        .collect();
    for (dai, direction) in [("dai-out", "playback"), ("dai-in", "capture")] {
        let line = run.line_starting(&format!("dai {dai}: {direction}, "));
        let counts: Vec<usize> = line
            .split([' ', ','])
            .filter_map(|word| word.parse().ok())
            .collect();
        assert!(
            line.starts_with(&format!("dai {dai}: {direction}, ")),
            "{line}"
        );
        let of = |name: &str| {
            named(&document, "i", name)
                .into_iter()
                .filter(|event| event["args"]["dai"] == dai)
                .count()
        };
        assert_eq!([of("dai period"), of("xrun")], counts[..], "{line}");
        assert!(counts[1] > 0, "the test provokes xruns: {line}");
        assert!(
            tracks.contains(&format!("dai {dai}").as_str()),
            "{tracks:?}"
        );
    }
}
