//! LL scheduling across restarts (`tests/ll-restart.toml`): ll-sched and
//! two ll-demo clients (`capture`: 120 runs, every tick, LL priority 0;
//! `render`: 60 runs, every 2 ticks from tick 1, priority 2) under a test
//! supervisor that restarts whatever faults. Faults are injected from the
//! boot configuration; neither ll-sched nor the clients have code for
//! them: the `ll` library registers the clients' tasks again after
//! ll-sched restarts, and ll-sched drops the old tasks of a client that
//! registers again after it restarted.

use sotto_tests::{Boot, Start, boot_bytes, test_image, with_faults};

/// The image `cargo xtask test` builds from `tests/ll-restart.toml`.
fn image() -> std::path::PathBuf {
    test_image().with_file_name("ll-restart.elf")
}

/// ll-sched's argument: `period` kernel ticks per LL tick, statistics
/// every 500 LL ticks.
fn ll_sched(period: u32) -> Start<'static> {
    Start::new("ll-sched", period | 500 << 8).priority(1)
}

/// The supervisor, most urgent.
const RESTARTER: Start<'static> = Start {
    from: "restarter",
    name: "restarter",
    priority: 0,
    arg: 0,
};

/// ll-sched and the two demos, as the system file has them.
fn demos() -> [Start<'static>; 4] {
    [
        RESTARTER,
        ll_sched(1),
        // 120 runs, LL priority 0, every tick, phase 0.
        Start::new("capture", 0x0001_0078).priority(1),
        // 60 runs, LL priority 2, every 2 ticks, phase 1.
        Start::new("render", 0x0102_023C).priority(1),
    ]
}

/// Boot `starts` for 200 ticks with `faults` (service, tick).
fn boot(starts: &[Start<'_>], faults: &[(&str, u32)]) -> Boot {
    let mut bytes = std::fs::read(image()).expect("reading the image");
    sotto_image::start_services(&mut bytes, starts).expect("choosing the services");
    let mut config = sotto_image::read_boot_config(&bytes).expect("the boot configuration");
    config.run_ticks = 200;
    sotto_image::write_boot_config(&mut bytes, &config).expect("the boot configuration");
    with_faults(&mut bytes, faults);
    let run = boot_bytes(&bytes).expect("booting the image");
    assert_eq!(run.status, 0, "{}", run.console);
    for line in run.console.lines() {
        assert!(
            !line.contains("FAIL") && !line.contains("panicked at") && !line.contains("failed:"),
            "{line}\n{}",
            run.console
        );
    }
    run
}

/// How many lines of `service` start with `start`.
fn count(run: &Boot, service: &str, start: &str) -> usize {
    run.lines_of(service)
        .iter()
        .filter(|line| line.starts_with(start))
        .count()
}

/// The longest stretch of LL ticks between two runs of a task of period
/// `period` at which it was due and did not run.
fn longest_gap(runs: &[(u32, u32)], period: u32) -> u32 {
    runs.windows(2)
        .map(|pair| (pair[1].1 - pair[0].1) / period - 1)
        .max()
        .unwrap_or(0)
}

/// The test: ll-sched faults (twice) → its clients' tasks run
/// again without client code handling it. Each restart costs the clients
/// at most the tick it happened in and the next; the handlers' run counts
/// go on (120 and 60 runs in all, each count once, in order).
#[test]
fn ll_sched_restarts_and_its_clients_tasks_run_again_by_themselves() {
    let run = boot(&demos(), &[("ll-sched", 40), ("ll-sched", 91)]);
    // The supervisor heard of both faults and restarted ll-sched, which
    // started from nothing three times.
    assert_eq!(
        count(&run, "restarter", "service 1 faulted (injected fault"),
        2,
        "{}",
        run.console
    );
    assert_eq!(count(&run, "restarter", "service 1 restarted at tick"), 2);
    assert_eq!(count(&run, "ll-sched", "ready: "), 3, "{}", run.console);
    for (client, last, period) in [("capture", 120, 1), ("render", 60, 2)] {
        // Each client's library registered again after each restart,
        // making and queueing its task again: one line each.
        assert_eq!(
            count(
                &run,
                client,
                "ll: ll-sched restarted: registered again, 1 task(s) made again, 1 queued again"
            ),
            2,
            "{}",
            run.console
        );
        let runs = run.ll_runs(client);
        let counts: Vec<u32> = runs.iter().map(|(count, _)| *count).collect();
        assert_eq!(
            counts,
            (1..=last).collect::<Vec<_>>(),
            "{client}: the handler's run count goes on across restarts\n{}",
            run.console
        );
        assert!(
            runs.windows(2).all(|pair| pair[1].1 > pair[0].1),
            "{client}: {runs:?}"
        );
        assert!(
            runs.iter().all(|(_, tick)| tick % period == period - 1),
            "{client}: on its period and phase: {runs:?}"
        );
        let gap = longest_gap(&runs, period);
        assert!(
            (1..=2).contains(&gap),
            "{client}: at most two due runs lost per restart, got {gap}: {runs:?}"
        );
        assert!(
            run.last_line(client, "done: ")
                .starts_with("done: state Completed"),
            "{}",
            run.console
        );
    }
    // Nothing on the way made ll-sched give up on a client.
    assert!(
        run.lines_of("ll-sched")
            .iter()
            .all(|line| !line.contains(" is gone") && !line.contains("unreachable")),
        "{}",
        run.console
    );
}

/// The other direction: `render` restarts (injected fault) and registers
/// again with the same badge while ll-sched still holds its old task.
/// ll-sched drops it — no stale task, no error — and runs the new
/// instance's; `capture`, next to it, keeps its pace: a run on every tick.
#[test]
fn a_client_that_restarts_registers_again_and_its_old_tasks_are_dropped() {
    let run = boot(&demos(), &[("render", 41)]);
    assert_eq!(count(&run, "restarter", "service 3 restarted at tick"), 1);
    let sched = run.lines_of("ll-sched");
    assert!(
        sched.contains(&"client 2 registered again: dropped the tasks of its old registration [1]"),
        "{}",
        run.console
    );
    // The old task never completes; the new one (id 2) does, after the
    // new instance's 60 runs, counted by ll-sched from zero.
    assert!(
        !sched
            .iter()
            .any(|line| line.starts_with("task 1 of client 2")),
        "{}",
        run.console
    );
    assert!(
        sched
            .iter()
            .any(|line| line.starts_with("task 2 of client 2 completed after 60 runs")),
        "{}",
        run.console
    );
    assert!(
        run.last_line("render", "done: ")
            .starts_with("done: state Completed, 60 runs, 0 overruns"),
        "{}",
        run.console
    );
    // Its second instance counted from 1 again (a new process).
    assert_eq!(count(&run, "render", "task 2 queued: "), 1);
    // Capture ran on every tick from 1 to 120, and nothing was charged.
    let capture = run.ll_runs("capture");
    assert_eq!(
        capture,
        (1..=120).map(|n| (n, n)).collect::<Vec<_>>(),
        "{}",
        run.console
    );
    assert!(
        run.last_line("capture", "done: ")
            .starts_with("done: state Completed, 120 runs, 0 overruns"),
        "{}",
        run.console
    );
}

/// ll-sched restarts while a client's handler runs (ll-sched waits in its
/// call): the handler's reply finds no caller, the library's `Resume` is
/// refused by the new instance (`NotRegistered`), and the library
/// registers again and serves on. Its runs count on to 30; the run that
/// was in flight counts once.
#[test]
fn ll_sched_restarting_during_a_run_loses_the_reply_and_the_client_goes_on() {
    // LL ticks every 2 kernel ticks: the run of tick 10 spins into tick
    // 11, in its budget; ll-sched faults on tick 11.
    let run = boot(
        &[RESTARTER, ll_sched(2), Start::new("ll-spin", 0).priority(1)],
        &[("ll-sched", 11)],
    );
    let spin = run.lines_of("ll-spin");
    assert!(spin.contains(&"spinning from tick 10"), "{}", run.console);
    assert!(
        spin.contains(
            &"ll: ll-sched restarted: registered again, 1 task(s) made again, 1 queued again"
        ),
        "{}",
        run.console
    );
    let counts: Vec<u32> = run
        .ll_runs("ll-spin")
        .iter()
        .map(|(count, _)| *count)
        .collect();
    assert_eq!(counts, (1..=30).collect::<Vec<_>>(), "{}", run.console);
    assert_eq!(
        run.last_line("ll-spin", "done: "),
        "done: state Ok(Completed) after 30 runs",
        "{}",
        run.console
    );
    assert_eq!(count(&run, "ll-sched", "ready: "), 2, "{}", run.console);
}

/// A client restarts while ll-sched calls it: the call fails with
/// `PeerRestarted`, ll-sched treats the client as gone (at once, not at
/// the end of the LL tick), and its new instance registers again (the old tasks
/// dropped) and runs its 30 runs.
#[test]
fn a_client_restarting_during_a_run_is_gone_until_it_registers_again() {
    let run = boot(
        &[RESTARTER, ll_sched(2), Start::new("ll-spin", 0).priority(1)],
        &[("ll-spin", 11)],
    );
    let sched = run.lines_of("ll-sched");
    // (The task of the failed call counts as ended with it: no task is
    // left to cancel.)
    assert!(
        sched.contains(&"client 3 is restarted: cancelled its tasks []; going on"),
        "{}",
        run.console
    );
    assert!(
        sched.contains(&"client 3 registered again: dropped the tasks of its old registration [0]"),
        "{}",
        run.console
    );
    assert!(
        !sched.iter().any(|line| line.starts_with("OVERRUN")),
        "no run was cut off: {}",
        run.console
    );
    // The new instance: 30 runs of its own (its count from 1 again).
    assert_eq!(count(&run, "ll-spin", "spinning from tick"), 2);
    assert_eq!(
        run.last_line("ll-spin", "done: "),
        "done: state Ok(Completed) after 30 runs",
        "{}",
        run.console
    );
}
