//! Preemption matters (`tests/dp-edf.toml`, `tests/dp-edf-pipeline.toml`):
//! a 64-tap FIR on 40 ms blocks (~8 ms of CPU each) next to a 16-tap FIR
//! on 2 ms blocks, each in its own DP thread of the pipeline at the one DP
//! priority. Under preemptive EDF (dp-sched sets each released thread's
//! deadline, the
//! kernel preempts) every deadline is met and the output is the host
//! reference bit for bit; released one at a time, the short task waits
//! for the long block and misses its deadlines. Same image, same task
//! set: only dp-sched's argument differs.

use sotto_abi::ExitCode;
use sotto_tests::{Boot, assert_bit_exact, boot_bytes, dp_edf_image};

/// Periods (ms) each run plays: two report intervals.
const PERIODS: u32 = 1000;

/// Boot the proof image with dp-sched's argument `arg` (0 preemptive, 1
/// one task at a time). Returns the run and the image.
fn boot(arg: u32) -> (Boot, Vec<u8>) {
    boot_with(arg, 0)
}

/// [`boot`], with `thread_arg` added to the argument of the pipeline's
/// fir2 thread.
fn boot_with(arg: u32, thread_arg: u32) -> (Boot, Vec<u8>) {
    let mut bytes = std::fs::read(dp_edf_image()).unwrap();
    let mut config = sotto_image::read_boot_config(&bytes).unwrap();
    config.run_ticks = PERIODS + 10;
    sotto_image::write_boot_config(&mut bytes, &config).unwrap();
    let mut manifest = sotto_image::read_manifest(&bytes).unwrap();
    manifest
        .services
        .iter_mut()
        .find(|service| service.name == "dp-sched")
        .expect("the proof image has dp-sched")
        .arg = arg;
    manifest
        .services
        .iter_mut()
        .find(|service| service.name == "pipeline")
        .and_then(|service| service.threads.iter_mut().find(|t| t.name == "fir2"))
        .expect("the proof image has the DP thread pipeline/fir2")
        .arg |= thread_arg;
    sotto_image::write_manifest(&mut bytes, &manifest).unwrap();
    let run = boot_bytes(&bytes).unwrap();
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    (run, bytes)
}

/// A task's last statistics: blocks, deadline misses, CPU share (%).
fn task_stats(run: &Boot, task: &str) -> (u32, u32, f64) {
    let line = run.last_line("dp-sched", &format!("stats: {task}: "));
    let words: Vec<&str> = line.split_whitespace().collect();
    // stats: NAME: B blocks, M deadline misses, cpu S%
    let number = |i: usize| words[i].parse::<u32>().unwrap_or_else(|_| panic!("{line}"));
    let share = words
        .last()
        .and_then(|word| word.strip_suffix('%'))
        .and_then(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("no CPU share in {line}"));
    (number(2), number(4), share)
}

/// The pipeline's underruns after all periods.
fn underruns(run: &Boot) -> u32 {
    let line = run.last_line("pipeline", &format!("stats: {PERIODS} periods"));
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn only_preemptive_edf_meets_every_deadline_of_a_long_and_a_short_dp_task() {
    // Preemptive EDF: nothing missed, nothing lost, the reference exactly.
    let (run, bytes) = boot(0);
    assert_eq!(
        run.lines_of("dp-sched")[0],
        "2 DP task(s), earliest deadline first, preemptive (kernel deadlines)"
    );
    let (long_blocks, long_misses, long_cpu) = task_stats(&run, "fir40");
    let (short_blocks, short_misses, short_cpu) = task_stats(&run, "fir2");
    eprintln!(
        "preemptive: fir40 {long_blocks} blocks, {long_misses} misses, cpu {long_cpu}%; fir2 {short_blocks} blocks, {short_misses} misses, cpu {short_cpu}%; {} underruns",
        underruns(&run)
    );
    assert_eq!((long_misses, short_misses), (0, 0), "{}", run.console);
    assert!(!run.console.contains("DEADLINE MISS"), "{}", run.console);
    assert_eq!(underruns(&run), 0, "{}", run.console);
    assert!(long_blocks >= 23 && short_blocks >= 490, "{}", run.console);
    // The long task's share is its ~8 ms per 40 ms, the short one's ~0.1
    // ms per 2 ms (from the kernel's CPU time of each DP thread).
    assert!((12.0..30.0).contains(&long_cpu), "fir40 cpu {long_cpu}%");
    assert!((2.0..10.0).contains(&short_cpu), "fir2 cpu {short_cpu}%");
    let ll = run.last_line("ll-sched", &format!("stats after {PERIODS} LL ticks"));
    assert!(ll.ends_with(" 0 overruns"), "{ll}");
    let samples = run.pcm();
    assert!(samples.len() >= PERIODS as usize * audio_dsp::PERIOD_SAMPLES);
    assert_bit_exact(&bytes, &samples);
    assert_eq!(run.dai_counts(sotto_tests::PLAYBACK_DAI).1, 0, "DAI xruns");
    // Both filters reach the output: the 440 Hz tone through the long
    // one (after its 80 ms of latency), the 3 kHz tone through the short.
    let level = |hz: f64| sotto_audio::tone_amplitude(&samples, hz, 48_000 / 2);
    assert!(
        level(440.0) > 0.4 && level(3000.0) > 0.2,
        "{} {}",
        level(440.0),
        level(3000.0)
    );

    // One task at a time: the short task waits behind each long block.
    let (run, _) = boot(1);
    assert_eq!(
        run.lines_of("dp-sched")[0],
        "2 DP task(s), earliest deadline first, one at a time"
    );
    let (long_blocks, long_misses, long_cpu) = task_stats(&run, "fir40");
    let (short_blocks, short_misses, short_cpu) = task_stats(&run, "fir2");
    eprintln!(
        "one at a time: fir40 {long_blocks} blocks, {long_misses} misses, cpu {long_cpu}%; fir2 {short_blocks} blocks, {short_misses} misses, cpu {short_cpu}%; {} underruns",
        underruns(&run)
    );
    assert!(short_misses > 0, "{}", run.console);
    assert!(
        run.lines_of("dp-sched")
            .iter()
            .any(|line| line.starts_with("DEADLINE MISS: fir2 finished at tick")),
        "{}",
        run.console
    );
}

/// Preemption latency: from dp-sched's release of the 2 ms task (its read
/// of the cycle counter just before giving the semaphore) to the DP
/// thread's first read after its take returns, over blocks 100..120, released at
/// ticks 202 to 240: the first four preempt the 40 ms task's block of
/// tick 200, the others find the DP priority idle. It includes the rest
/// of dp-sched's pass and its wait. CCOUNT counts 100 instructions, so
/// each sample is within 100 instructions.
#[test]
fn a_released_dp_task_preempts_the_running_one_within_microseconds() {
    let (run, _) = boot_with(2, 1 << 10);
    let cycle = |line: &str| -> (u32, u32) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let block = words.iter().position(|w| *w == "block").unwrap() + 1;
        (
            words[block].parse().unwrap(),
            words.last().unwrap().parse().unwrap(),
        )
    };
    let releases: Vec<(u32, u32)> = run
        .lines_of("dp-sched")
        .into_iter()
        .filter(|line| line.starts_with("release: fir2 block "))
        .map(cycle)
        .collect();
    let starts: Vec<(u32, u32)> = run
        .lines_of("pipeline")
        .into_iter()
        .filter(|line| line.starts_with("start: block "))
        .map(cycle)
        .collect();
    assert_eq!(releases.len(), 20, "{}", run.console);
    assert_eq!(
        releases.iter().map(|r| r.0).collect::<Vec<_>>(),
        starts.iter().map(|s| s.0).collect::<Vec<_>>()
    );
    let latencies: Vec<u32> = releases
        .iter()
        .zip(&starts)
        .map(|(release, start)| start.1.wrapping_sub(release.1))
        .collect();
    let most = *latencies.iter().max().unwrap();
    let average = latencies.iter().sum::<u32>() as f64 / latencies.len() as f64;
    eprintln!(
        "release to running: avg {:.0} max {} instructions over {} releases",
        average * 100.0,
        most * 100,
        latencies.len()
    );
    // Microseconds, not the milliseconds a block of the long task takes.
    assert!(most < 100, "{latencies:?}");
}
