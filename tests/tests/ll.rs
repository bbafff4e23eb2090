//! The LL scheduler as a service: SOF's boot test reproduced, tick order,
//! periods with phases, cancel, overruns, API errors, and a client that
//! faults with a task queued. Each test boots ll-sched with test clients.

use sotto_tests::{Boot, Start, boot_services};

/// ll-sched plus clients; ll-a and ll-b run `test-ll` tests.
fn run(clients: &[Start<'_>]) -> Boot {
    let mut starts = vec![Start::new("ll-sched", 0).priority(1)];
    starts.extend(clients.iter().map(|client| client.priority(1)));
    let run = boot_services(&starts, 300);
    assert_eq!(run.status, 0, "{}", run.console);
    run
}

/// (task, tick) of every `run T at tick N` line of `client`.
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

fn passed(run: &Boot, client: &str, test: u32) {
    let lines = run.lines_of(client);
    assert!(
        lines.iter().all(|line| !line.starts_with("FAIL")),
        "{}",
        run.console
    );
    assert!(
        lines.contains(&format!("ll test {test}: all checks passed").as_str()),
        "{}",
        run.console
    );
}

#[test]
fn the_sof_boot_test_runs_a_user_space_task_four_times_then_the_timer_stops() {
    let run = run(&[Start::new("ll-a", 0)]);
    passed(&run, "ll-a", 0);
    let ticks: Vec<u32> = runs(&run, "ll-a").iter().map(|(_, tick)| *tick).collect();
    assert_eq!(ticks.len(), 4, "{}", run.console);
    assert!(
        ticks.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{ticks:?}"
    );
    let sched = run.lines_of("ll-sched");
    assert!(
        sched.contains(
            &format!(
                "task 0 of client 1 completed after 4 runs (tick {})",
                ticks[3]
            )
            .as_str()
        ),
        "{}",
        run.console
    );
    assert!(
        sched.contains(&format!("no task queued: timer stopped at tick {}", ticks[3]).as_str()),
        "{}",
        run.console
    );
    assert!(
        sched[0].starts_with("ready: 16 KiB heap"),
        "{}",
        run.console
    );
}

#[test]
fn each_tick_runs_tasks_in_priority_order_and_fifo_among_equals() {
    let run = run(&[Start::new("ll-a", 1)]);
    passed(&run, "ll-a", 1);
    let ids = run.lines_of("ll-a")[0].to_owned();
    let id = |name: &str| -> u32 {
        ids.split_whitespace()
            .skip_while(|w| *w != name)
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let (first, urgent, second) = (id("first"), id("urgent"), id("second"));
    let order: Vec<u32> = runs(&run, "ll-a").iter().map(|(task, _)| *task).collect();
    assert_eq!(
        order,
        vec![urgent, first, second, urgent, first, second],
        "{}",
        run.console
    );
}

#[test]
fn a_task_may_run_every_n_ticks_with_a_phase() {
    let run = run(&[Start::new("ll-a", 2)]);
    passed(&run, "ll-a", 2);
    let ids = run.lines_of("ll-a")[0].to_owned();
    let words: Vec<&str> = ids.split_whitespace().collect();
    let (every4, every3): (u32, u32) = (words[2].parse().unwrap(), words[4].parse().unwrap());
    let all = runs(&run, "ll-a");
    let ticks_of = |task: u32| -> Vec<u32> {
        all.iter()
            .filter(|(t, _)| *t == task)
            .map(|(_, tick)| *tick)
            .collect()
    };
    let (four, three) = (ticks_of(every4), ticks_of(every3));
    assert_eq!(four.len(), 3, "{}", run.console);
    assert!(
        four.iter().all(|tick| tick % 4 == 1) && four.windows(2).all(|p| p[1] - p[0] == 4),
        "{four:?}"
    );
    assert_eq!(three.len(), 3);
    assert!(
        three.iter().all(|tick| tick % 3 == 0) && three.windows(2).all(|p| p[1] - p[0] == 3),
        "{three:?}"
    );
}

#[test]
fn a_task_cancelled_while_queued_never_runs() {
    let run = run(&[Start::new("ll-a", 3)]);
    passed(&run, "ll-a", 3);
    assert_eq!(runs(&run, "ll-a").len(), 2, "{}", run.console);
}

#[test]
fn an_overrunning_task_is_charged_and_skipped_once() {
    let run = run(&[Start::new("ll-a", 4)]);
    passed(&run, "ll-a", 4);
    let overrun = run
        .lines_of("ll-sched")
        .into_iter()
        .find(|line| line.starts_with("OVERRUN at tick "))
        .unwrap_or_else(|| panic!("{}", run.console));
    assert!(
        overrun.ends_with("charged to task 0 of client 1 (policy Skip)"),
        "{overrun}"
    );
    let ticks: Vec<u32> = runs(&run, "ll-a").iter().map(|(_, tick)| *tick).collect();
    // The tick after the long run is skipped; then it runs on its period again.
    assert_eq!(ticks.len(), 3, "{}", run.console);
    assert_eq!(
        (ticks[1] - ticks[0], ticks[2] - ticks[1]),
        (2, 1),
        "{ticks:?}"
    );
}

#[test]
fn every_api_misuse_gets_its_own_error() {
    let run = run(&[Start::new("ll-b", 0), Start::new("ll-a", 5)]);
    passed(&run, "ll-a", 5);
    passed(&run, "ll-b", 0);
    let checks = run
        .lines_of("ll-a")
        .iter()
        .filter(|line| line.starts_with("pass "))
        .count();
    assert_eq!(checks, 8, "{}", run.console);
}

#[test]
fn a_client_that_faults_with_a_task_queued_is_cancelled_and_the_tick_goes_on() {
    let run = run(&[Start::new("ll-b", 0), Start::new("ll-a", 6)]);
    assert!(
        run.console
            .contains("service ll-a stopped: IllegalInstruction"),
        "{}",
        run.console
    );
    let gone = run
        .lines_of("ll-sched")
        .into_iter()
        .find(|line| line.starts_with("client 1 is gone"))
        .unwrap_or_else(|| panic!("{}", run.console));
    assert!(gone.ends_with("going on"), "{gone}");
    passed(&run, "ll-b", 0);
    assert_eq!(runs(&run, "ll-b").len(), 4);
}

#[test]
fn an_overrun_of_a_notify_policy_task_signals_the_supervisor() {
    let run = run(&[Start::new("ll-b", 8), Start::new("ll-a", 9)]);
    passed(&run, "ll-a", 9);
    passed(&run, "ll-b", 8);
    let overrun = run
        .lines_of("ll-sched")
        .into_iter()
        .find(|line| line.starts_with("OVERRUN"))
        .unwrap_or_else(|| panic!("{}", run.console));
    assert!(overrun.ends_with("(policy Notify)"), "{overrun}");
    assert!(
        run.console
            .contains("[ll-b] supervisor: overrun signalled (bits 0x1)"),
        "{}",
        run.console
    );
    // Notify does not skip: the task runs on consecutive ticks.
    let ticks: Vec<u32> = runs(&run, "ll-a").iter().map(|(_, tick)| *tick).collect();
    assert!(
        ticks.windows(2).all(|pair| pair[1] - pair[0] <= 2),
        "{ticks:?}"
    );
}
