//! LL scheduling across restarts (`tests/ll-restart.toml`): ll-sched and
//! two ll-demo clients (`capture`: 120 runs, every tick, LL priority 0;
//! `render`: 60 runs, every 2 ticks from tick 1, priority 2) under a test
//! supervisor that restarts whatever faults. Faults are injected from the
//! boot configuration; neither ll-sched nor the clients have code for
//! them: the `ll` library registers the clients' tasks again after
//! ll-sched restarts, and ll-sched drops the old tasks of a client that
//! registers again after it restarted.

use sotto_tests::{Boot, boot_with_faults, test_image};

/// The image `cargo xtask test` builds from `tests/ll-restart.toml`.
fn image() -> std::path::PathBuf {
    test_image().with_file_name("ll-restart.elf")
}

/// Boot it for 200 ticks with `faults` (service, tick).
fn boot(faults: &[(&str, u32)]) -> Boot {
    let (run, _) = boot_with_faults(&image(), 200, faults);
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

/// (run count, tick) of each `run N at tick T` line of `client`.
fn runs(run: &Boot, client: &str) -> Vec<(u32, u32)> {
    run.lines_of(client)
        .iter()
        .filter_map(|line| line.strip_prefix("run "))
        .map(|rest| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            (words[0].parse().unwrap(), words[3].parse().unwrap())
        })
        .collect()
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
    let run = boot(&[("ll-sched", 40), ("ll-sched", 91)]);
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
        let runs = runs(&run, client);
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
    let run = boot(&[("render", 41)]);
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
    let capture = runs(&run, "capture");
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
