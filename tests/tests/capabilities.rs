//! Capabilities and kernel objects used from services: IPC with capability
//! transfer, timers, semaphores, notifications, memory regions, and the
//! error for every misuse.

use sotto_abi::ExitCode;
use sotto_tests::{Boot, Start, boot_bytes, boot_services, image};

/// Every check line of `service` passed, and there were `count` of them.
fn all_pass(run: &Boot, service: &str, count: usize) {
    let lines = run.lines_of(service);
    let failed: Vec<&&str> = lines
        .iter()
        .filter(|line| line.starts_with("FAIL"))
        .collect();
    assert!(failed.is_empty(), "{failed:?}\n{}", run.console);
    let passed = lines
        .iter()
        .filter(|line| line.starts_with("pass "))
        .count();
    assert_eq!(passed, count, "{}", run.console);
}

#[test]
fn services_exchange_messages_and_capabilities_and_revoke_them() {
    let run = boot_bytes(&std::fs::read(image()).unwrap()).unwrap();
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let echo = run.lines_of("echo");
    let hello = run.lines_of("hello");
    assert_eq!(
        echo[0], "uppercased 21 bytes for badge 42",
        "{}",
        run.console
    );
    assert_eq!(hello[0], "echo answered: HELLO FROM USER SPACE");
    // The shared buffer: written by hello, read by echo through a loaned,
    // read-only capability.
    assert_eq!(
        echo[1],
        "region from badge 42 says: samples 1 2 3 written by hello"
    );
    let sum: u32 = b"samples 1 2 3 written by hello"
        .iter()
        .map(|b| u32::from(*b))
        .sum();
    assert_eq!(hello[1], format!("echo summed the buffer: {sum}"));
    assert_eq!(hello[2], "revoked 1 capabilities derived from the loan");
    assert_eq!(
        echo[2],
        "the loaned region is gone (EmptySlot): revoked by its lender"
    );
}

#[test]
fn a_periodic_timer_drives_a_service_on_its_exact_period() {
    let run = boot_bytes(&std::fs::read(image()).unwrap()).unwrap();
    let ticks: Vec<&str> = run.lines_of("ticker");
    let expected: Vec<String> = (1..=5)
        .map(|round| format!("round {round}: tick {} (+10), bits 0x1", round * 10))
        .collect();
    assert_eq!(ticks, expected, "{}", run.console);
}

#[test]
fn ipc_carries_words_payload_badge_and_capabilities_and_survives_a_dead_server() {
    let run = boot_services(
        &[Start::new("ipc-server", 0), Start::new("ipc-client", 1)],
        2000,
    );
    assert_eq!(
        run.status,
        ExitCode::ServicePanicked as i32,
        "the server panics on purpose:\n{}",
        run.console
    );
    all_pass(&run, "ipc-server", 7);
    all_pass(&run, "ipc-client", 6);
    assert!(
        run.console
            .contains("[ipc-client] client: all checks passed"),
        "{}",
        run.console
    );
    assert!(
        run.console
            .contains("service ipc-server panicked: dying on request"),
        "{}",
        run.console
    );
}

#[test]
fn a_periodic_timer_fires_exactly_on_its_period_and_stops_when_cancelled() {
    let run = boot_services(&[Start::new("objects", 0)], 2000);
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    all_pass(&run, "objects", 3);
}

#[test]
fn semaphores_count_time_out_and_overflow() {
    let run = boot_services(&[Start::new("objects", 1)], 2000);
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    all_pass(&run, "objects", 8);
}

#[test]
fn a_service_allocates_on_its_granted_heap() {
    let run = boot_services(&[Start::new("objects", 2)], 2000);
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    all_pass(&run, "objects", 5);
}

#[test]
fn every_capability_misuse_gets_its_own_error() {
    let run = boot_services(&[Start::new("objects", 3)], 2000);
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    all_pass(&run, "objects", 22);
    assert!(!run.console.contains("KERNEL"), "{}", run.console);
}

#[test]
fn sleep_waits_for_whole_ticks() {
    let run = boot_services(&[Start::new("objects", 4)], 2000);
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    all_pass(&run, "objects", 4);
}
