//! Supervision on the emulated DSP (`tests/supervision.toml`,
//! `services/supervisor`, `tests/services/test-supervise`): a crash loop
//! is held after its restarts with one clear line, a call in flight to a
//! server that faults gets `PeerRestarted` and the next call reaches the
//! new instance, a kept region survives the restart and one without
//! `keep` is zeroed, the supervisor answers status queries, the restarted
//! server runs its first instruction within a tick of its fault, and a
//! supervisor that faults stops the system.

use sotto_abi::ExitCode;
use sotto_abi::boot::InjectedFault;
use sotto_tests::{Boot, boot_bytes, supervision_image};

/// Cycles per tick: the 10 MHz cycle counter at the image's 1 kHz tick.
const CYCLES_PER_TICK: u32 = sotto_abi::layout::CCOUNT_HZ / 1000;

fn boot() -> Boot {
    let bytes = std::fs::read(supervision_image()).unwrap();
    boot_bytes(&bytes).unwrap()
}

/// `key value` in a line such as `epoch 2, tick 31, cycles 312345`.
fn number_after(line: &str, key: &str) -> u32 {
    let rest = line
        .split(&format!("{key} "))
        .nth(1)
        .unwrap_or_else(|| panic!("no {key:?} in {line:?}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key:?} in {line:?}"))
}

#[test]
fn the_supervisor_starts_with_one_line_listing_what_it_supervises() {
    let run = boot();
    let console = &run.console;
    assert_eq!(
        run.lines_of("supervisor").first().copied(),
        Some(
            "supervising 2 services: crasher (always, min_run 5 ms, 3 restarts in 1000 ms), server (always, 3 restarts in 1000 ms)"
        ),
        "{console}"
    );
}

#[test]
fn a_crash_loop_is_held_after_its_restarts_with_one_clear_line() {
    let run = boot();
    let console = &run.console;
    assert_eq!(run.status, ExitCode::Success as i32, "{console}");
    let lines = run.lines_of("supervisor");
    let crasher: Vec<&&str> = lines
        .iter()
        .filter(|line| line.starts_with("crasher"))
        .collect();
    // Each fault comes right after a (re)start, so each restart waits
    // out min_run: 3 decisions to wait, 3 restarts, then the hold.
    let waits = crasher
        .iter()
        .filter(|line| line.contains(": restart in ") && line.ends_with(", min_run 5 ms)"))
        .count();
    assert_eq!(waits, 3, "{console}");
    for n in 1..=3 {
        assert!(
            crasher
                .iter()
                .any(|line| line.starts_with("crasher restarted at tick")
                    && line.ends_with(&format!("(restart {n} of 3 in 1000 ms)"))),
            "no restart {n}:\n{console}"
        );
    }
    let held: Vec<&&&str> = crasher
        .iter()
        .filter(|line| line.contains("held"))
        .collect();
    assert_eq!(held.len(), 1, "{console}");
    assert!(
        held[0].starts_with("crasher faulted (IllegalInstruction at pc 0x")
            && held[0].contains(", thread crasher) at tick ")
            && held[0].ends_with(": held: 3 restarts within 1000 ms (max_restarts 3)"),
        "{console}"
    );
    // Started once at boot and three times again, never after the hold.
    assert_eq!(
        run.lines_of("crasher")
            .iter()
            .filter(|line| line.starts_with("crasher started at tick"))
            .count(),
        4,
        "{console}"
    );
    // Restarts are min_run (5 ticks) apart.
    let starts: Vec<u32> = run
        .lines_of("crasher")
        .iter()
        .map(|line| number_after(line, "tick"))
        .collect();
    for pair in starts.windows(2) {
        assert!(
            (5..=6).contains(&(pair[1] - pair[0])),
            "{starts:?}\n{console}"
        );
    }
}

#[test]
fn a_server_that_faults_mid_call_is_restarted_and_keeps_its_kept_region() {
    let run = boot();
    let console = &run.console;
    let client = run.lines_of("client");
    let server = run.lines_of("server");
    let fails: Vec<&&str> = client
        .iter()
        .chain(server.iter())
        .filter(|line| line.starts_with("FAIL"))
        .collect();
    assert!(fails.is_empty(), "{fails:?}\n{console}");
    for check in [
        "pass a call in flight to a server that faults gets PeerRestarted",
        "pass the next call through the same capability reaches the new instance",
        "pass the supervisor counts 1 restart",
        "pass the supervisor reports the server running",
        "pass the supervisor reports the last cause (LoadProhibited)",
        "pass the supervisor refuses a service it does not supervise",
        "pass the supervisor lists the server",
    ] {
        assert!(client.contains(&check), "no {check:?}:\n{console}");
    }
    for check in [
        "pass the kept region survived the restart",
        "pass the region without keep was zeroed by the restart",
    ] {
        assert!(server.contains(&check), "no {check:?}:\n{console}");
    }
    assert!(client.contains(&"client done"), "{console}");
    let decision = run.last_line("supervisor", "server faulted");
    assert!(
        decision.starts_with("server faulted (LoadProhibited at pc 0x")
            && decision.contains(", address 0x0, thread server) at tick ")
            && decision.ends_with(": restarted (restart 1 of 3 in 1000 ms)"),
        "{console}"
    );
}

#[test]
fn a_restarted_server_runs_its_first_instruction_within_a_tick_of_its_fault() {
    let run = boot();
    let console = &run.console;
    let fault = run.last_line("server", "server faulting: epoch 1");
    let start = run.last_line("server", "server started: epoch 2");
    let (fault_tick, fault_cycles) = (number_after(fault, "tick"), number_after(fault, "cycles"));
    let (start_tick, start_cycles) = (number_after(start, "tick"), number_after(start, "cycles"));
    let cycles = start_cycles.wrapping_sub(fault_cycles);
    eprintln!(
        "fault to first instruction: {} ticks, {cycles} cycles (a tick is {CYCLES_PER_TICK})",
        start_tick - fault_tick
    );
    assert!(start_tick - fault_tick <= 1, "{console}");
    assert!(cycles < CYCLES_PER_TICK, "{cycles} cycles\n{console}");
    // The supervisor's decision names the fault's tick.
    let decision = run.last_line("supervisor", "server faulted");
    assert!(
        decision.contains(&format!(") at tick {fault_tick}:"))
            || decision.contains(&format!(") at tick {}:", fault_tick + 1)),
        "{console}"
    );
}

#[test]
fn a_faulting_supervisor_stops_the_system() {
    let mut bytes = std::fs::read(supervision_image()).unwrap();
    let mut config = sotto_image::read_boot_config(&bytes).unwrap();
    // The supervisor is service 0: its main thread is thread 0.
    config.faults[0] = InjectedFault {
        thread: 0,
        tick: 50,
    };
    config.fault_count = 1;
    sotto_image::write_boot_config(&mut bytes, &config).unwrap();
    let run = boot_bytes(&bytes).unwrap();
    let console = &run.console;
    assert_eq!(run.status, ExitCode::SupervisorFaulted as i32, "{console}");
    assert!(
        run.kernel_lines().any(|line| line.contains("supervisor")),
        "no kernel line about the supervisor:\n{console}"
    );
    // Nothing of the services runs after it: the client's last call went
    // out long before tick 50, and the crasher is held by then.
    assert!(!console.contains("FAIL"), "{console}");
}

#[test]
fn the_default_system_restarts_an_injected_fault_within_the_tick() {
    let mut bytes = std::fs::read(sotto_tests::image()).unwrap();
    let manifest = sotto_image::read_manifest(&bytes).unwrap();
    let ticker = manifest
        .services
        .iter()
        .position(|service| service.name == "ticker")
        .expect("a ticker in the default system");
    let mut config = sotto_image::read_boot_config(&bytes).unwrap();
    config.faults[0] = InjectedFault {
        thread: ticker as u16,
        tick: 25,
    };
    config.fault_count = 1;
    sotto_image::write_boot_config(&mut bytes, &config).unwrap();
    let run = boot_bytes(&bytes).unwrap();
    let console = &run.console;
    let start = run
        .lines_of("supervisor")
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no supervisor line:\n{console}"));
    assert!(
        start.starts_with("supervising 8 services: echo (always, min_run 20 ms, 3 restarts in 1000 ms), hello (never), "),
        "{console}"
    );
    let decision = run.last_line("supervisor", "ticker faulted");
    assert!(
        decision.starts_with("ticker faulted (injected fault at pc 0x")
            && decision
                .ends_with(", thread ticker) at tick 25: restarted (restart 1 of 3 in 1000 ms)"),
        "{console}"
    );
    // Its rounds start again from 1 after the restart, on its boot-armed
    // timer, re-armed from the restart.
    let rounds = run
        .lines_of("ticker")
        .iter()
        .filter(|line| line.starts_with("round 1:"))
        .count();
    assert_eq!(rounds, 2, "{console}");
}
