//! Services in user space: separate binaries in their own address spaces,
//! preemptive scheduling, system calls with checked arguments, and faults
//! that stop only the faulting service.

use sotto_abi::ExitCode;
use sotto_tests::{Start, boot_bytes, boot_services, image};

#[test]
fn the_default_system_runs_its_services_in_user_rings_and_exits_cleanly() {
    let bytes = std::fs::read(image()).unwrap();
    let run = boot_bytes(&bytes).unwrap();
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    // Each service got its own ASID and its capabilities.
    for (name, asid) in [
        ("echo", 2),
        ("hello", 3),
        ("ticker", 4),
        ("ll-sched", 5),
        ("capture", 6),
        ("render", 7),
        ("pipeline", 8),
        ("dp-sched", 9),
    ] {
        let line = run.line_starting(&format!("service {name}: priority"));
        assert!(line.contains(&format!("ASID {asid},")), "{line}");
    }
    assert_eq!(
        run.lines_of("hello")[0],
        "echo answered: HELLO FROM USER SPACE",
        "{}",
        run.console
    );
    assert_eq!(run.lines_of("ticker").len(), 5, "{}", run.console);
    // ll-sched and the audio services serve forever: the run ends at the
    // 2 s limit of system.toml.
    let end = run.line_starting("shutdown: 2000 ticks");
    assert!(
        end.ends_with(
            "services: 5 exited, 0 failed, 0 panicked, 0 stopped by a fault, the rest still running"
        ),
        "{end}"
    );
}

#[test]
fn equal_priorities_are_preempted_round_robin_on_the_tick() {
    // Two busy workers: 6 lines each, ~4 ms of work between lines, never
    // yielding. Only the tick can interleave them.
    let run = boot_services(
        &[
            Start::new("worker", 6_400).named("a"),
            Start::new("worker", 6_400).named("b"),
        ],
        2000,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let order: Vec<char> = run
        .console
        .lines()
        .filter_map(|line| {
            if line.starts_with("[a] work") {
                Some('a')
            } else if line.starts_with("[b] work") {
                Some('b')
            } else {
                None
            }
        })
        .collect();
    assert_eq!(order.len(), 12, "{}", run.console);
    let switches = order.windows(2).filter(|pair| pair[0] != pair[1]).count();
    assert!(
        switches >= 4,
        "lines did not interleave: {order:?}\n{}",
        run.console
    );
}

#[test]
fn a_more_urgent_service_runs_to_completion_first() {
    let run = boot_services(
        &[
            Start::new("worker", 3_050).named("low").priority(5),
            Start::new("worker", 3_050).named("high").priority(1),
        ],
        2000,
    );
    assert_eq!(run.status, 0, "{}", run.console);
    let first_low = run.console.find("[low] work").unwrap();
    let last_high = run.console.rfind("[high] done").unwrap();
    assert!(last_high < first_low, "{}", run.console);
}

#[test]
fn bad_pointers_lengths_and_call_numbers_get_error_codes() {
    let run = boot_services(&[Start::new("syscalls", 0)], 2000);
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let lines = run.lines_of("syscalls");
    assert!(
        lines.iter().all(|line| !line.starts_with("FAIL")),
        "{}",
        run.console
    );
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.starts_with("pass "))
            .count(),
        10,
        "{}",
        run.console
    );
    assert!(
        lines.contains(&"syscalls: all checks passed"),
        "{}",
        run.console
    );
    assert!(run.console.contains("[syscalls] ok!\n"), "{}", run.console);
    assert!(!run.console.contains("KERNEL"), "{}", run.console);
}

/// Boot a faulting service beside a worker; the fault must stop only the
/// faulting service, in one line, and the worker must finish.
fn fault(class: u32) -> String {
    let run = boot_services(
        &[Start::new("fault", class), Start::new("worker", 5_020)],
        2000,
    );
    assert_eq!(
        run.status,
        ExitCode::Success as i32,
        "class {class}:\n{}",
        run.console
    );
    let stops: Vec<&str> = run
        .kernel_lines()
        .filter(|line| line.starts_with("service fault stopped: "))
        .collect();
    assert_eq!(stops.len(), 1, "class {class}:\n{}", run.console);
    assert!(
        !run.console.contains(&format!("FAIL: class {class}")),
        "{}",
        run.console
    );
    assert!(
        run.console.contains("[worker] work 5/5"),
        "the worker did not finish:\n{}",
        run.console
    );
    assert!(run.console.contains("[worker] done"), "{}", run.console);
    assert!(
        run.console
            .contains("1 exited, 0 failed, 0 panicked, 1 stopped by a fault"),
        "{}",
        run.console
    );
    stops[0]
        .trim_start_matches("service fault stopped: ")
        .to_owned()
}

fn field(line: &str, key: &str) -> u32 {
    sotto_tests::field(line, key)
}

#[test]
fn illegal_instruction_stops_only_that_service() {
    let line = fault(0);
    assert!(
        line.starts_with("IllegalInstruction: illegal instruction at PC=0x4"),
        "{line}"
    );
}

#[test]
fn reading_ccount_is_privileged() {
    let line = fault(1);
    assert!(line.starts_with("Privileged:"), "{line}");
    // EXCVADDR is stale for a privileged instruction: not reported.
    assert!(!line.contains("address="), "{line}");
}

/// A service points the zero-overhead loop registers into the user vector
/// (LEND after its second instruction, LBEG at kernel code) and makes a
/// system call: the vectors run with PS.EXCM set, where loops do not loop
/// back, and the kernel clears LCOUNT first; the call returns normally.
#[test]
fn loop_registers_aimed_at_the_kernel_change_nothing() {
    let run = boot_services(
        &[Start::new("fault", 18), Start::new("worker", 2_020)],
        2000,
    );
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    assert!(
        run.lines_of("fault")
            .contains(&"loop registers aimed at the kernel: null call returned 0"),
        "{}",
        run.console
    );
    assert!(run.console.contains("[worker] done"), "{}", run.console);
    assert!(!run.console.contains("KERNEL"), "{}", run.console);
}

/// `break` in user mode enters the debug vector (level 6): the kernel stops
/// the service like any fault instead of stopping itself.
#[test]
fn a_break_instruction_stops_only_that_service() {
    for class in [16, 17] {
        let line = fault(class);
        assert!(
            line.starts_with("Breakpoint: break instruction (debug exception) at PC=0x4"),
            "class {class}: {line}"
        );
        assert!(!line.contains("address="), "{line}");
    }
}

#[test]
fn writing_ps_is_privileged() {
    assert!(fault(2).starts_with("Privileged:"));
}

#[test]
fn loading_from_the_null_page_faults() {
    let line = fault(3);
    assert!(line.starts_with("LoadProhibited:"), "{line}");
    assert_eq!(field(&line, "address"), 0);
}

#[test]
fn loading_kernel_memory_faults() {
    let line = fault(4);
    assert!(line.starts_with("LoadStorePrivilege:"), "{line}");
    assert_eq!(field(&line, "address"), 0x0010_0000);
}

#[test]
fn storing_to_own_code_faults() {
    let line = fault(5);
    assert!(line.starts_with("StoreProhibited:"), "{line}");
    assert!(field(&line, "address") >= 0x4000_0000, "{line}");
}

#[test]
fn unaligned_access_faults() {
    let line = fault(6);
    assert!(line.starts_with("LoadStoreAlignment:"), "{line}");
    assert_eq!(field(&line, "address") % 4, 1, "{line}");
}

#[test]
fn division_by_zero_faults() {
    assert!(fault(7).starts_with("IntegerDivideByZero:"));
}

#[test]
fn stack_overflow_hits_the_guard_page() {
    let line = fault(8);
    assert!(
        line.starts_with("StoreProhibited:") || line.starts_with("LoadProhibited:"),
        "{line}"
    );
    assert!(
        line.ends_with("(stack overflow into the guard page)"),
        "{line}"
    );
    // 8 KiB stack under 0x6000_0000: the guard page is the one below.
    let address = field(&line, "address");
    assert!((0x5FFF_D000..0x5FFF_E000).contains(&address), "{line}");
}

#[test]
fn simcall_from_user_mode_faults() {
    let line = fault(9);
    assert!(
        line.starts_with("IllegalInstruction:") || line.starts_with("Privileged:"),
        "{line}"
    );
}

#[test]
fn loading_where_no_page_table_exists_faults() {
    let line = fault(10);
    assert!(line.starts_with("LoadStoreTLBMiss:"), "{line}");
    assert_eq!(field(&line, "address"), 0x3000_0120);
}

#[test]
fn jumping_into_kernel_code_faults() {
    let line = fault(11);
    assert!(line.starts_with("InstFetchPrivilege:"), "{line}");
    assert_eq!(field(&line, "PC"), 0x0010_0000);
}

#[test]
fn executing_the_stack_faults() {
    let line = fault(12);
    assert!(line.starts_with("InstFetchProhibited:"), "{line}");
    assert!(
        (0x5FFF_E000..0x6000_0000).contains(&field(&line, "PC")),
        "{line}"
    );
}

#[test]
fn storing_into_the_page_table_window_faults() {
    let line = fault(13);
    assert!(line.starts_with("LoadStorePrivilege:"), "{line}");
}

#[test]
fn a_panic_is_reported_with_its_message_and_location() {
    let run = boot_services(
        &[Start::new("fault", 14), Start::new("worker", 2_000)],
        2000,
    );
    assert_eq!(
        run.status,
        ExitCode::ServicePanicked as i32,
        "{}",
        run.console
    );
    let line = run.line_starting("service fault panicked: ");
    assert!(
        line.starts_with(
            "service fault panicked: deliberate panic, class 14 at tests/services/test-fault/src/main.rs:"
        ),
        "{line}"
    );
    assert!(run.console.contains("[worker] done"), "{}", run.console);
    assert!(
        run.console
            .contains("1 exited, 0 failed, 1 panicked, 0 stopped by a fault"),
        "{}",
        run.console
    );
}

#[test]
fn a_non_zero_exit_status_is_reported_and_fails_the_run() {
    let run = boot_services(&[Start::new("fault", 15)], 2000);
    assert_eq!(
        run.status,
        ExitCode::ServiceFailed as i32,
        "{}",
        run.console
    );
    assert_eq!(
        run.line_starting("service fault exited"),
        "service fault exited with status 3"
    );
}

#[test]
fn a_service_that_never_ends_is_stopped_by_the_time_limit() {
    // 50 lines of ~4 ms each cannot finish in 30 ms.
    let run = boot_services(&[Start::new("worker", 50_400)], 30);
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let line = run.line_starting("shutdown: 30 ticks");
    assert!(
        line.ends_with(
            "0 exited, 0 failed, 0 panicked, 0 stopped by a fault, the rest still running"
        ),
        "{line}"
    );
}

#[test]
fn an_image_without_a_manifest_stops_with_a_clear_message() {
    let mut bytes = std::fs::read(image()).unwrap();
    let range = sotto_image::section_file_range(&bytes, sotto_abi::manifest::MANIFEST_SECTION)
        .unwrap()
        .unwrap();
    bytes[range].fill(0);
    let run = boot_bytes(&bytes).unwrap();
    assert_eq!(run.status, ExitCode::BadManifest as i32, "{}", run.console);
    assert!(
        run.console
            .contains("BOOT FAILED: no service manifest was written into the image"),
        "{}",
        run.console
    );
}

#[test]
fn initial_contents_outside_the_image_stop_the_boot_with_a_clear_message() {
    use sotto_abi::manifest::ObjectParams;
    let mut bytes = std::fs::read(image()).unwrap();
    let mut manifest = sotto_image::read_manifest(&bytes).unwrap();
    let config = manifest
        .objects
        .iter_mut()
        .find(|object| object.name == "audio-config")
        .expect("the default system has a pipeline configuration");
    let ObjectParams::Memory { init, .. } = &mut config.params else {
        panic!("audio-config is a memory object");
    };
    *init = Some((u32::MAX - 8, 4096));
    sotto_image::write_manifest(&mut bytes, &manifest).unwrap();
    let run = boot_bytes(&bytes).unwrap();
    assert_eq!(run.status, ExitCode::BadManifest as i32, "{}", run.console);
    assert!(
        run.console.contains(
            "BOOT FAILED: object audio-config: initial contents (4096 bytes at offset 0xfffffff7) lie outside the image or exceed the object"
        ),
        "{}",
        run.console
    );
    assert!(
        !run.console.contains("[kernel] service "),
        "{}",
        run.console
    );
}

/// Every instruction a hostile service might try beyond the faults above
/// (window instructions with PS.WOE clear, returns from exceptions, TLB and
/// cache operations on kernel addresses, external and special registers the
/// user ring may not touch, atomics on kernel memory, `callx12`): each one
/// either stops only that service, in one line, or does nothing; the kernel
/// and the worker beside it always carry on.
#[test]
fn no_instruction_stops_the_kernel() {
    // Probes (services/sotto-rt/asm/cpu-state.S) taking an address in a2:
    // tried on kernel text, kernel data, own code and an unmapped address.
    const WITH_ADDRESS: [u32; 11] = [13, 14, 15, 16, 17, 18, 19, 20, 21, 31, 32];
    const PROBES: u32 = 36;
    // Reads of the kernel's scratch registers: they must stop the service.
    const MUST_STOP: [u32; 2] = [34, 35];
    let mut outcomes = Vec::new();
    for probe in 0..PROBES {
        let places: &[u32] = if WITH_ADDRESS.contains(&probe) {
            &[0, 1, 2, 3]
        } else {
            &[0]
        };
        for &place in places {
            let arg = 19 | (probe << 8) | (place << 16);
            let run = boot_services(
                &[Start::new("fault", arg), Start::new("worker", 2_020)],
                2000,
            );
            let what = format!("probe {probe}, address choice {place}");
            assert_eq!(
                run.status,
                ExitCode::Success as i32,
                "{what}:\n{}",
                run.console
            );
            for bad in ["KERNEL", "DOUBLE", "UNEXPECTED", "ABORT", "PANIC"] {
                assert!(!run.console.contains(bad), "{what}:\n{}", run.console);
            }
            assert!(
                run.console.contains("[worker] done"),
                "{what}:\n{}",
                run.console
            );
            let stops: Vec<&str> = run
                .kernel_lines()
                .filter(|line| line.starts_with("service fault stopped: "))
                .collect();
            let returned = run.lines_of("fault").iter().any(|line| {
                line.starts_with(&format!("probe {probe} (")) && line.ends_with("returned")
            });
            assert!(
                stops.len() == 1 && !returned || stops.is_empty() && returned,
                "{what}: one stop line or a normal return:\n{}",
                run.console
            );
            assert!(
                !MUST_STOP.contains(&probe) || stops.len() == 1,
                "{what}: must stop the service:\n{}",
                run.console
            );
            outcomes.push(format!(
                "{what}: {}",
                stops.first().copied().unwrap_or("returned")
            ));
        }
    }
    println!("{}", outcomes.join("\n"));
}

/// Page-table windows and the kernel's wired megabytes, from user mode:
/// the service's own L1 (its window's self-map page, pinned on demand by
/// the double vector), the other service's window and L1, the boot
/// tables' window (its kernel L2 still wired from boot) and L1, kernel
/// data and code under their wired 1 MiB entries (ends included), the
/// guard page and the trampoline megabyte. Each load, store or jump stops
/// only the faulting service (never the kernel), and the worker, whose
/// refills go on through its own L1, finishes.
#[test]
fn window_and_wired_addresses_fault_from_user_mode() {
    // (The fault service is service 0, window 0xC040_0000; the worker
    // service 1, window 0xC080_0000; the boot window 0xC000_0000. A
    // window W's L1 is at W + (W >> 10).)
    let addresses = [
        0xC070_1000u32, // own L1
        0xC040_0000,    // own window, first page
        0xC0B0_2000,    // the worker's L1
        0xC080_0000,    // the worker's window
        0xC030_0000,    // the boot tables' L1
        0xC000_0000,    // the boot window's kernel L2 (way 8)
        0xC3FF_F000,    // the last page of the last window
        0x0030_0000,    // kernel data, wired
        0x003F_FF00,    // the wired data megabyte's end
        0x001F_FF00,    // the wired code megabyte's end
        0x0010_0300,    // the kernel vector
        0x002F_F000,    // the guard page
        0x0020_0000,    // the trampoline
    ];
    for address in addresses {
        for class in [20, 21, 22] {
            let line = fault(address | class);
            // A privilege or a missing-table fault at that very address.
            assert_eq!(field(&line, "address"), address, "class {class}: {line}");
        }
    }
}
