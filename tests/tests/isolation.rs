//! Isolation against a hostile service, on the target: per-service
//! processor state (every user-writable register, atomics preempted inside
//! their window), exact revoke and delete.

use sotto_abi::ExitCode;
use sotto_tests::{Boot, Start, boot_services_of, isolation_image};

/// Several services write their own values into every user-writable
/// register (SCOMPARE1, THREADPTR, ACCLO, ACCHI, M0..M3, LITBASE, and the
/// user register EXPSTATE, which `wur` writes in any ring), yield to
/// each other and read them back: each finds only its own values, and a
/// fresh service finds zeros. LITBASE on at a system call used to redirect
/// the kernel's own `l32r`.
#[test]
fn user_writable_registers_are_per_service() {
    let run = boot_services_of(
        &isolation_image(),
        &[
            Start::new("state", 1 | (1 << 8)).named("state-a"),
            Start::new("state", 1 | (2 << 8)).named("state-b"),
            Start::new("state", 1 | (3 << 8)).named("state-c"),
        ],
        2000,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
    for name in ["state-a", "state-b", "state-c"] {
        let lines = run.lines_of(name);
        assert!(
            lines.contains(&"registers: fresh state checked"),
            "{name}:\n{}",
            run.console
        );
        assert!(
            lines.contains(&"registers: 2000 rounds, 0 registers changed"),
            "{name}:\n{}",
            run.console
        );
    }
}

/// A client and a server exchange messages on the IPC fast path, each
/// with its own values in every user-writable register: after each call
/// a register holds the thread's own value or zero (caller-saved state is
/// not kept by a fast call), never the other side's.
#[test]
fn the_ipc_fast_path_leaves_no_register_of_the_other_side() {
    let run = boot_services_of(
        &isolation_image(),
        &[
            Start::new("state", 3 | (7 << 8)).named("state-server"),
            Start::new("state", 4 | (8 << 8)).named("state-client"),
        ],
        2000,
    );
    // Most rounds take the fast path, which clears what it does not keep.
    assert_no_leak_and_fast(&run, ["state-server", "state-client"], "ipc");
}

/// `run` ended cleanly, no service saw another's register, and each of
/// `names` reported its 2,000 `what` rounds with more than 1,000
/// registers cleared (so the fast path, which clears what it does not
/// keep, was taken).
fn assert_no_leak_and_fast(run: &Boot, names: [&str; 2], what: &str) {
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
    assert!(!run.console.contains("FAIL"), "{}", run.console);
    for name in names {
        let line = run
            .lines_of(name)
            .into_iter()
            .find(|line| line.starts_with(&format!("{what}: 2000 rounds, 0 leaks, ")))
            .unwrap_or_else(|| panic!("{name}:\n{}", run.console));
        let cleared: u32 = line
            .split_whitespace()
            .nth(5)
            .and_then(|n| n.parse().ok())
            .expect("cleared count");
        assert!(
            cleared > 1000,
            "{name}: the fast path was not taken: {line}"
        );
    }
}

/// Two services of one priority yield to each other 2,000 times, each
/// with its own values in every user-writable register before each yield:
/// the entry's express yield returns the caller-saved ones zero or the
/// thread's own, never the other service's.
#[test]
fn the_express_yield_leaves_no_register_of_the_other_side() {
    let run = boot_services_of(
        &isolation_image(),
        &[
            Start::new("state", 5 | (9 << 8)).named("state-a"),
            Start::new("state", 5 | (10 << 8)).named("state-b"),
        ],
        2000,
    );
    // Once the slice alarm is armed, yields are express: they clear the
    // caller-saved specials.
    assert_no_leak_and_fast(&run, ["state-a", "state-b"], "yields");
}

/// A service waits for a periodic timer 2,000 times while another, woken
/// by it, writes its own values into every user-writable register and
/// waits, so the CPU idles with them in the registers: the timer's
/// express tick (taken by the entry on an idle CPU) runs the first one
/// with its own values or zeros, never the other's.
#[test]
fn the_express_tick_leaves_no_register_of_the_other_side() {
    let run = boot_services_of(
        &isolation_image(),
        &[
            Start::new("state", 6 | (11 << 8)).named("state-ticked"),
            Start::new("state", 7 | (12 << 8)).named("state-woken"),
        ],
        4000,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
    assert!(!run.console.contains("FAIL"), "{}", run.console);
    for (name, what) in [("state-ticked", "ticks"), ("state-woken", "woken")] {
        assert!(
            run.lines_of(name)
                .iter()
                .any(|line| line.starts_with(&format!("{what}: 2000 rounds, 0 leaks, "))),
            "{name}:\n{}",
            run.console
        );
    }
}

/// Three services add to one shared counter with compare-and-swap, each
/// preempted many times between `wsr scompare1` and `s32c1i`: no update is
/// lost.
#[test]
fn concurrent_atomics_in_several_services_lose_nothing() {
    // About 55 instructions an addition: 1.2 million each keep the three
    // busy for ~200 ticks of 1 ms, so ~200 preemptions, most of them
    // inside the window.
    const THOUSANDS: u32 = 1200;
    const TIMES: u32 = THOUSANDS * 1000;
    let arg = 2 | (THOUSANDS << 8) | (3 << 24);
    let run = boot_services_of(
        &isolation_image(),
        &[
            Start::new("state", arg).named("atomic-a"),
            Start::new("state", arg).named("atomic-b"),
            Start::new("state", arg).named("atomic-c"),
        ],
        3000,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let expected = format!(
        "atomics: counter {} after 3 services added {TIMES} each",
        3 * TIMES
    );
    for name in ["atomic-a", "atomic-b", "atomic-c"] {
        assert!(
            run.lines_of(name).contains(&expected.as_str()),
            "{name}: expected {expected:?}:\n{}",
            run.console
        );
    }
}

/// Revoke is exact across services, on the target: a receive in progress
/// ends with `Revoked`, a call queued through a revoked copy fails back and
/// is never delivered, and a writable mapping made through a revoked copy
/// is downgraded to the read-only copy that remains: reads work, the next
/// write stops the service.
#[test]
fn revoke_ends_waits_and_queued_calls_and_downgrades_mappings() {
    let run = boot_services_of(
        &isolation_image(),
        &[
            Start::new("revoke-owner", 0),
            Start::new("revoke-holder", 1),
        ],
        2000,
    );
    assert!(!run.console.contains("FAIL"), "{}", run.console);
    let holder = run.lines_of("revoke-holder");
    for expected in [
        "pass receive ended by the revoke",
        "pass the call queued through the revoked copy failed with Revoked",
        "pass a call through the other copy is answered",
        "pass the region is still readable through the read-only copy",
        "writing after the revoke",
    ] {
        assert!(holder.contains(&expected), "{expected:?}:\n{}", run.console);
    }
    assert!(
        run.lines_of("revoke-owner")
            .contains(&"pass the first call after the revoke is the badge-10 one"),
        "{}",
        run.console
    );
    let stop = run.line_starting("service revoke-holder stopped: ");
    assert!(stop.contains("StoreProhibited"), "{stop}");
    assert_eq!(sotto_tests::field(stop, "address"), 0x5000_0000, "{stop}");
}

/// Two services of one priority set SAR, the loop bounds and a6..a11 to
/// their own values before every kind of system call the entry answers
/// on its own, in Rust with EXCM set, or on the full path (and yield to
/// each other): what comes back in a register a call does not keep is
/// the caller's own value or zero, never the kernel's nor the other
/// service's (`sotto_abi::syscall`), and LCOUNT is zero.
#[test]
fn no_system_call_leaves_the_kernels_scratch_registers() {
    let run = boot_services_of(
        &isolation_image(),
        &[
            Start::new("state", 8 | (13 << 8)).named("scratch-a"),
            Start::new("state", 8 | (14 << 8)).named("scratch-b"),
        ],
        4000,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
    assert!(!run.console.contains("FAIL"), "{}", run.console);
    for name in ["scratch-a", "scratch-b"] {
        assert!(
            run.lines_of(name).contains(&"scratch: 200 rounds, 0 leaks"),
            "{name}:\n{}",
            run.console
        );
    }
}

/// As above across the IPC fast and express paths: a client and a server
/// with their own SAR, loop bounds and a8..a11 before each call find them
/// their own or zero after it.
#[test]
fn ipc_leaves_no_scratch_register_of_the_other_side() {
    let run = boot_services_of(
        &isolation_image(),
        &[
            Start::new("state", 9 | (15 << 8)).named("scratch-server"),
            Start::new("state", 10 | (16 << 8)).named("scratch-client"),
        ],
        4000,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
    for name in ["scratch-server", "scratch-client"] {
        assert!(
            run.lines_of(name)
                .contains(&"scratch ipc: 2000 rounds, 0 leaks"),
            "{name}:\n{}",
            run.console
        );
    }
}
