//! Several threads in one service, on the target (`tests/threads.toml`):
//! each on its own stack, calling and signalling each other and another
//! service; a stack overflow in one stops the whole service with one
//! report naming the thread, and other services go on.

use sotto_abi::ExitCode;
use sotto_abi::layout::{PAGE_SIZE, USER_STACK_TOP};
use sotto_tests::{Start, boot_services_of, threads_image};

/// Stack sizes, as `tests/threads.toml` gives them.
const STACK: u32 = 8192;

/// The address a thread printed as its stack (`NAME: stack at 0x...`).
fn stack_of(lines: &[&str], thread: &str) -> u32 {
    let prefix = format!("{thread}: stack at 0x");
    let line = lines
        .iter()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no stack line of {thread}: {lines:?}"));
    let hex: String = line.chars().take_while(char::is_ascii_hexdigit).collect();
    u32::from_str_radix(&hex, 16).unwrap()
}

/// The main thread calls the echo thread of its own service while another
/// service calls it too, wakes the worker thread through a notification
/// and waits for its answer through another: every call answered, each
/// thread on its own stack (under the one before it, a guard page
/// between), with its own argument.
#[test]
fn threads_of_a_service_run_on_their_own_stacks_and_talk() {
    let run = boot_services_of(
        &threads_image(),
        &[
            Start::new("threads", 1).priority(4),
            Start::new("peer", 3).priority(4),
        ],
        2000,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert!(!run.console.contains("FAIL"), "{}", run.console);
    let lines = run.lines_of("threads");
    for expected in [
        "main: 50 calls to the echo thread, 0 wrong",
        "main: the worker answered 0x10",
        "main: echo answered 100 calls, stacks distinct: true",
        "threads: all checks passed",
    ] {
        assert!(lines.contains(&expected), "{expected}:\n{}", run.console);
    }
    assert!(
        run.lines_of("peer")
            .contains(&"peer: 50 calls to the echo thread, 0 wrong"),
        "{}",
        run.console
    );
    // Main, echo, worker: each stack under the guard page of the one
    // above it.
    let tops = [
        USER_STACK_TOP,
        USER_STACK_TOP - STACK - PAGE_SIZE,
        USER_STACK_TOP - 2 * (STACK + PAGE_SIZE),
    ];
    for (thread, top) in ["main", "echo", "worker"].into_iter().zip(tops) {
        let at = stack_of(&lines, thread);
        assert!(
            (top - STACK..top).contains(&at),
            "{thread}'s stack at {at:#x}, not under {top:#x}:\n{}",
            run.console
        );
    }
    // The default argument is the thread's number; `arg` overrides it.
    assert!(
        lines
            .iter()
            .any(|line| line.ends_with(", arg 1") && line.starts_with("echo"))
    );
    assert!(
        lines
            .iter()
            .any(|line| line.ends_with(", arg 22") && line.starts_with("worker"))
    );
    // The kernel lists the threads at boot.
    let kernel: Vec<&str> = run.kernel_lines().collect();
    assert!(
        kernel
            .iter()
            .any(|line| line.starts_with("thread threads/worker: priority 4")),
        "{}",
        run.console
    );
}

/// The worker thread overflows its stack into the guard page: the whole
/// service stops (its main thread, blocked, never runs again), with one
/// report naming the thread; the peer's later call finds nobody to
/// receive (`PeerGone`), and the system ends normally.
#[test]
fn a_fault_in_one_thread_stops_the_whole_service() {
    let run = boot_services_of(
        &threads_image(),
        &[
            Start::new("threads", 2).priority(4),
            Start::new("peer", 4).priority(4),
        ],
        2000,
    );
    let reports: Vec<&str> = run
        .kernel_lines()
        .filter(|line| {
            line.starts_with("service threads")
                && [" stopped", " exited", " panicked"]
                    .iter()
                    .any(|ending| line.contains(ending))
        })
        .collect();
    assert_eq!(reports.len(), 1, "{}", run.console);
    assert!(
        reports[0].starts_with("service threads/worker stopped: "),
        "{}",
        run.console
    );
    assert!(
        reports[0].ends_with("(stack overflow into the guard page)"),
        "{}",
        run.console
    );
    assert!(
        run.lines_of("threads")
            .contains(&"worker: overflowing its stack"),
        "{}",
        run.console
    );
    assert!(!run.console.contains("FAIL"), "{}", run.console);
    assert!(
        run.lines_of("peer")
            .contains(&"late peer: PeerGone after the stop"),
        "{}",
        run.console
    );
    // The peer ended normally, the threads service by its fault: once.
    assert!(
        run.kernel_lines()
            .any(|line| line.starts_with("shutdown: all services ended")
                && line.ends_with(": 1 exited, 0 failed, 0 panicked, 1 stopped by a fault")),
        "{}",
        run.console
    );
}
