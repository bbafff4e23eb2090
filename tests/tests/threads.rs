//! Thread control by capability and deadline scheduling on the emulated
//! DSP (`tests/threads.toml`, `tests/services/test-threads`): a boss
//! suspends, resumes, re-prioritises and gives deadlines to two CPU-bound
//! workers of one priority, and reads their CPU time.

use sotto_abi::ExitCode;
use sotto_tests::{boot_bytes, threads_image};

#[test]
fn a_thread_capability_controls_priority_deadline_suspension_and_cpu_time() {
    let bytes = std::fs::read(threads_image()).unwrap();
    let run = boot_bytes(&bytes).unwrap();
    let console = &run.console;
    assert_eq!(run.status, ExitCode::Success as i32, "{console}");
    let boss = run.lines_of("boss");
    assert!(
        !boss.iter().any(|line| line.starts_with("FAIL")),
        "{console}"
    );
    assert_eq!(
        boss.iter().filter(|line| line.starts_with("pass")).count(),
        24,
        "{console}"
    );
    // The workers' lines, in console order.
    let order: Vec<&str> = console
        .lines()
        .filter(|line| line.starts_with("[a] ") || line.starts_with("[b] "))
        .collect();
    let at = |line: &str| {
        order
            .iter()
            .position(|seen| *seen == line)
            .unwrap_or_else(|| panic!("no line {line:?} in:\n{console}"))
    };
    // a was suspended while b ran alone.
    assert!(at("[b] b phase 2 done") < at("[a] a start"), "{console}");
    // b, released by the timer with the earlier deadline, preempted a
    // mid-run and ran to its end with no line of a in between.
    let (start, done) = (at("[b] b start 1"), at("[b] b done 1"));
    assert_eq!(done, start + 1, "a ran inside b's release:\n{console}");
    assert!(order[start - 1].starts_with("[a] a chunk"), "{console}");
    assert!(order[done + 1].starts_with("[a] a chunk"), "{console}");
    // b, suspended while blocked and given its semaphore, ran only once
    // resumed.
    let resumed = console.find("[boss] resuming b").unwrap();
    assert!(
        console.find("[b] b start 2").unwrap() > resumed,
        "{console}"
    );
}
