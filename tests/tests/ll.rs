//! The LL scheduler as a service: SOF's boot test reproduced, tick order,
//! periods with phases, cancel, overruns, API errors, a client that
//! faults with a task queued, and one whose task never returns. Each test
//! boots ll-sched with test clients.

use sotto_tests::{Boot, Start, boot_services};

/// ll-sched plus clients; ll-a and ll-b run `test-ll` tests.
fn run(clients: &[Start<'_>]) -> Boot {
    let mut starts = vec![Start::new("ll-sched", 0).priority(1)];
    starts.extend(clients.iter().map(|client| client.priority(1)));
    let run = boot_services(&starts, 300);
    assert_eq!(run.status, 0, "{}", run.console);
    run
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
    let ticks: Vec<u32> = run.ll_runs("ll-a").iter().map(|(_, tick)| *tick).collect();
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
    let order: Vec<u32> = run.ll_runs("ll-a").iter().map(|(task, _)| *task).collect();
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
    let all = run.ll_runs("ll-a");
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
    assert_eq!(run.ll_runs("ll-a").len(), 2, "{}", run.console);
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
    // Its 1.5-tick run did not hold ll-sched: cut off at the end of the tick.
    assert!(
        overrun.contains(": no reply by the end of the LL tick"),
        "{overrun}"
    );
    let ticks: Vec<u32> = run.ll_runs("ll-a").iter().map(|(_, tick)| *tick).collect();
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
    assert_eq!(checks, 9, "{}", run.console);
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
    assert_eq!(run.ll_runs("ll-b").len(), 4);
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
    // Notify adds no skip: the one run missed is the tick the client was
    // still busy in (cut off, it had to answer again first).
    let ticks: Vec<u32> = run.ll_runs("ll-a").iter().map(|(_, tick)| *tick).collect();
    assert!(
        ticks.windows(2).all(|pair| pair[1] - pair[0] <= 2),
        "{ticks:?}"
    );
}

#[test]
fn a_task_that_never_returns_is_cut_off_and_the_other_clients_keep_ticking() {
    // ll-sched reporting every 100 LL ticks; ll-a's task (LL priority 0,
    // notify policy) never returns from its third run; ll-b's task
    // (priority 1) runs 20 times beside it, then reads the supervisor.
    let ll_sched = Start::new("ll-sched", 100 << 8 | 1).priority(1);
    let run = boot_services(
        &[
            ll_sched,
            Start::new("ll-a", 10).priority(1),
            Start::new("ll-b", 11).priority(1),
        ],
        300,
    );
    assert_eq!(run.status, 0, "{}", run.console);
    assert!(
        run.lines_of("ll-a")
            .iter()
            .any(|line| line.starts_with("stuck in run 3")),
        "{}",
        run.console
    );
    // The other client's 20 runs all happened, uncharged, nothing missed,
    // and the stuck task's policy (notify) reached the supervisor.
    passed(&run, "ll-b", 11);
    assert_eq!(run.ll_runs("ll-b").len(), 20, "{}", run.console);
    let sched = run.lines_of("ll-sched");
    let cut: Vec<&&str> = sched
        .iter()
        .filter(|line| line.starts_with("OVERRUN"))
        .collect();
    assert_eq!(
        cut.len(),
        1,
        "one overrun, then the client is stalled: {}",
        run.console
    );
    assert!(
        cut[0].contains("no reply by the end of the LL tick")
            && cut[0].contains("client 1 stalled until it answers")
            && cut[0].ends_with("(policy Notify)"),
        "{}",
        cut[0]
    );
    // ll-sched kept ticking all along: reports at 100 and 200 LL ticks,
    // the first with the cut-off run as its one overrun and its cause.
    let report = |ticks: u32| -> &str {
        let start = format!("stats after {ticks} LL ticks");
        sched
            .iter()
            .find(|line| line.starts_with(&start))
            .unwrap_or_else(|| panic!("no {start:?} in {}", run.console))
    };
    assert!(
        report(100).ends_with(
            " 1 overruns (missed ticks: 0 (ll-sched did not run), runs cut off at their budget: 1)"
        ),
        "{}",
        report(100)
    );
    assert!(report(200).ends_with(" 0 overruns"), "{}", report(200));
    // The stuck task: 3 runs (the third cut off), 1 overrun, and every due
    // run since counted as missed; its client is still stalled.
    let missed_runs = |ticks: u32| -> u32 {
        let index = sched
            .iter()
            .position(|line| line.starts_with(&format!("stats after {ticks} LL ticks")))
            .unwrap();
        let line = sched[index + 1..]
            .iter()
            .find(|line| line.contains("(client 1,"))
            .unwrap();
        assert!(
            line.contains(": 3 runs,")
                && line.contains(" 1 overruns, ")
                && line.ends_with(", client stalled"),
            "{line}"
        );
        let missed = line
            .split(", ")
            .find(|part| part.ends_with(" missed runs"))
            .unwrap();
        missed.split_whitespace().next().unwrap().parse().unwrap()
    };
    let (at100, at200) = (missed_runs(100), missed_runs(200));
    assert!(
        (90..100).contains(&at100),
        "{at100} missed runs by LL tick 100"
    );
    assert_eq!(at200 - at100, 100, "a missed run every tick");
}

/// A client less urgent than ll-sched hands it an endpoint at run time (the
/// build never sees that grant): ll-sched's call would run uphill, so the
/// kernel refuses it with `PriorityInversion`, ll-sched drops that client
/// with the reason, and a client at its own priority keeps its runs.
#[test]
fn a_client_less_urgent_than_ll_sched_is_refused_at_run_time() {
    let starts = [
        Start::new("ll-sched", 0).priority(1),
        Start::new("ll-a", 0).priority(7),
        Start::new("ll-b", 0).priority(1),
    ];
    let run = boot_services(&starts, 300);
    assert_eq!(run.status, 0, "{}", run.console);
    let sched = run.lines_of("ll-sched");
    assert!(
        sched.iter().any(|line| line.starts_with("client ")
            && line.contains("is less urgent than ll-sched (a call may not run uphill)")),
        "{}",
        run.console
    );
    assert!(run.ll_runs("ll-a").is_empty(), "{}", run.console);
    passed(&run, "ll-b", 0);
    assert_eq!(run.ll_runs("ll-b").len(), 4, "{}", run.console);
}

/// Review S: ll-sched received a client's endpoint into slot `8 + number
/// of clients`. A client registering again (reconnecting) kept its count
/// the same but moved to the next slot, leaving its old capability behind
/// and its new one where the next client's would go: every later client
/// was refused (`BadRegistration`, its capability could not be received
/// into the occupied slot). The same happened after a client in the middle
/// of the table was dropped.
#[test]
fn a_client_registering_twice_does_not_lock_out_the_next_one() {
    let run = run(&[Start::new("ll-a", 13), Start::new("ll-b", 14)]);
    passed(&run, "ll-a", 13);
    passed(&run, "ll-b", 14);
    assert_eq!(run.ll_runs("ll-b").len(), 4, "{}", run.console);
}

/// Review S: `serve` decides whether its reply is late by reading the tick
/// count *before* replying. If the tick that ends the budget comes between
/// that reading and the reply, ll-sched has already cut the run off and
/// stalled the client, the kernel drops the reply without a word, and the
/// client waits for a call that never comes: stalled for good, with no
/// hostile code involved. test-ll 15 sweeps its handlers' return across
/// the budget's end in steps of a few instructions.
#[test]
fn a_reply_racing_the_end_of_its_budget_does_not_stall_the_client_for_good() {
    let starts = [
        Start::new("ll-sched", 0).priority(1),
        Start::new("ll-a", 15 | 600 << 8).priority(1),
    ];
    let run = boot_services(&starts, 2000);
    assert_eq!(run.status, 0, "{}", run.console);
    passed(&run, "ll-a", 15);
}

/// Found by review: a run's budget is what is left of the LL tick, so a
/// client that takes nearly all of every tick — returning just in time,
/// so never cut off itself — leaves the clients after it a few hundred
/// cycles, and their runs are cut off. Such an overrun is now charged to
/// the longer run of the same tick that caused it (the victim is still cut
/// off and resumes by itself). ll-a, registered after the greedy ll-b,
/// runs 20 runs of 300 cycles, 3% of a tick, and expects none charged.
#[test]
fn a_greedy_client_cannot_get_the_clients_after_it_charged() {
    let run = run(&[Start::new("ll-b", 16), Start::new("ll-a", 18)]);
    passed(&run, "ll-a", 18);
}

/// Review S: a client schedules its task and does other work before it
/// serves. The run called meanwhile waited in vain until the end of its LL
/// tick and was cut off, its client stalled; the client never saw that
/// call, so it never said it listens again, and serve() waited for good.
#[test]
fn a_client_that_serves_late_is_not_stalled_for_good() {
    let run = run(&[Start::new("ll-a", 17)]);
    passed(&run, "ll-a", 17);
    assert_eq!(run.ll_runs("ll-a").len(), 4, "{}", run.console);
    assert!(
        run.lines_of("ll-sched").iter().any(|line| line
            .starts_with("client 1 listens again (a run of its was called before it served)")),
        "{}",
        run.console
    );
}

/// Consecutive due tasks of one client run in one call (a batch), in
/// order, and each is charged its own cycles (the client reports when
/// each ended; the reply brings the kernel's count at its delivery).
#[test]
fn a_batch_of_one_clients_tasks_charges_each_its_own_cycles() {
    let run = run(&[Start::new("ll-a", 19)]);
    passed(&run, "ll-a", 19);
    let costs = run
        .lines_of("ll-a")
        .into_iter()
        .find(|line| line.starts_with("batch: "))
        .unwrap_or_default()
        .to_owned();
    println!("{costs}");
    assert!(!costs.is_empty(), "{}", run.console);
}

/// A batch cut off at its budget: its first task is charged, its client is
/// stalled until `Resume`, which says the late second task completed.
#[test]
fn a_batch_cut_off_reports_its_late_completions_with_resume() {
    let run = run(&[Start::new("ll-a", 20)]);
    passed(&run, "ll-a", 20);
    let sched = run.lines_of("ll-sched");
    assert!(
        sched.iter().any(|line| line.starts_with("OVERRUN at tick ")
            && line.contains("no reply by the end of the LL tick")
            && line.contains("charged to task 0 of client 1")),
        "{}",
        run.console
    );
    assert!(
        sched.iter().any(
            |line| line.starts_with("client 1 answers again (task 0 returned Reschedule late)")
        ),
        "{}",
        run.console
    );
}
