//! The kernel on the emulated DSP: boot, tick, page tables, kernel faults.
//! Each test boots the image built by `cargo xtask test` with its own boot
//! configuration and checks the console and the exit status.

use sotto_abi::{BootConfig, ExitCode, SelfTest};
use sotto_tests::{
    boot, boot_bytes, boot_kernel_of, field, image, self_test, self_test_symbol as symbol,
};

const CCOUNT_HZ: u64 = sotto_abi::layout::CCOUNT_HZ as u64;

/// Parse "shutdown: N ticks in C cycles ...".
fn shutdown_numbers(line: &str) -> (u64, u64) {
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[1].parse().unwrap(), words[4].parse().unwrap())
}

fn check_tick_rate(tick_hz: u32, run_ticks: u32, report_every: u32) {
    let config = BootConfig {
        tick_hz,
        run_ticks,
        report_every,
        self_test: SelfTest::None,
        ..BootConfig::default()
    };
    let run = boot(&config);
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let period = CCOUNT_HZ / u64::from(tick_hz);
    let (ticks, cycles) = shutdown_numbers(run.line_starting("shutdown:"));
    assert_eq!(ticks, u64::from(run_ticks), "{}", run.console);
    // N ticks take N periods of the 10 MHz CCOUNT, plus the few cycles of
    // handler latency before the last one is seen: never fewer, never a
    // whole period more.
    let expected = ticks * period;
    assert!(
        (expected..expected + period / 10).contains(&cycles),
        "{ticks} ticks at {tick_hz} Hz took {cycles} cycles, expected {expected}:\n{}",
        run.console
    );
    let reported: Vec<u32> = run
        .kernel_lines()
        .filter_map(|line| line.strip_prefix("tick "))
        .map(|n| n.parse().unwrap())
        .collect();
    let expected_reports: Vec<u32> = (1..=run_ticks / report_every)
        .map(|i| i * report_every)
        .collect();
    assert_eq!(reported, expected_reports, "{}", run.console);
    // Tickless: an interrupt for the first tick (timed by the boot report)
    // and one per report (the last one is the end of the run), no others.
    let interrupts = format!(
        "interrupts: {} timer interrupts in {run_ticks} ticks",
        1 + run_ticks / report_every
    );
    assert_eq!(
        run.line_starting("interrupts:"),
        interrupts,
        "{}",
        run.console
    );
}

#[test]
fn an_idle_second_takes_no_timer_interrupt_but_the_first_tick_and_the_end() {
    let run = boot(&BootConfig {
        run_ticks: 1000,
        report_every: 0,
        ..BootConfig::default()
    });
    assert_eq!(run.status, 0, "{}", run.console);
    assert_eq!(
        run.line_starting("interrupts:"),
        "interrupts: 2 timer interrupts in 1000 ticks",
        "{}",
        run.console
    );
    // A service waiting for good changes nothing.
    let run = sotto_tests::boot_services(&[sotto_image::Start::new("bench", 11)], 1000);
    assert_eq!(run.status, 0, "{}", run.console);
    assert_eq!(
        run.line_starting("interrupts:"),
        "interrupts: 2 timer interrupts in 1000 ticks",
        "{}",
        run.console
    );
}

#[test]
fn two_spinning_services_of_one_priority_share_the_cpu_a_tick_at_a_time() {
    let run = sotto_tests::boot_services(
        &[
            sotto_image::Start::new("bench", 12).named("spin-a"),
            sotto_image::Start::new("bench", 12).named("spin-b"),
        ],
        1000,
    );
    assert_eq!(run.status, 0, "{}", run.console);
    let span = |name: &str| -> (u32, u32) {
        let line = run.last_line(name, "spun in 20 ticks");
        let words: Vec<&str> = line.split_whitespace().collect();
        (words[6].parse().unwrap(), words[9].parse().unwrap())
    };
    let (a, b) = (span("spin-a"), span("spin-b"));
    // Each ran in every other tick: 20 ticks of its own over about 40.
    assert!(
        a.0 < b.1 && b.0 < a.1,
        "no overlap: {a:?} {b:?}\n{}",
        run.console
    );
    assert!(
        a.1 - a.0 >= 37 && b.1 - b.0 >= 37,
        "{a:?} {b:?}\n{}",
        run.console
    );
}

#[test]
fn ticks_at_one_kilohertz_for_one_second_and_shuts_down_cleanly() {
    check_tick_rate(1000, 1000, 250);
}

#[test]
fn ticks_at_a_configured_rate() {
    check_tick_rate(4000, 400, 100);
}

#[test]
fn first_tick_comes_one_period_after_the_timer_is_armed() {
    let run = boot(&BootConfig {
        run_ticks: 3,
        report_every: 0,
        ..BootConfig::default()
    });
    assert_eq!(run.status, 0, "{}", run.console);
    let armed = run.line_starting("timer:");
    let armed_at: u32 = armed
        .split("armed at ccount ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let first = run.line_starting("first tick at ccount");
    let first_at: u32 = first.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert!(
        (armed_at + 10_000..armed_at + 10_100).contains(&first_at),
        "armed {armed_at}, first tick {first_at}"
    );
}

#[test]
fn the_normal_kernel_has_no_self_tests_and_says_so() {
    let run = boot_kernel_of(&image(), &self_test(SelfTest::PageTables));
    assert_eq!(
        run.status,
        ExitCode::BadBootConfig as i32,
        "{}",
        run.console
    );
    assert!(
        run.console.contains(
            "BOOT FAILED: self-test page-tables asked for, but this kernel was built without self-tests"
        ),
        "{}",
        run.console
    );
}

#[test]
fn kernel_runs_on_its_own_page_tables() {
    let run = boot(&self_test(SelfTest::PageTables));
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    let summary = run.line_starting("page-tables:");
    assert!(
        summary.ends_with("checks passed, 0 failed"),
        "{}",
        run.console
    );
    let passed: u32 = summary.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(passed >= 40, "only {passed} checks ran:\n{}", run.console);
    let mmu = run.line_starting("mmu: page tables active");
    assert!(
        mmu.contains("PTEVADDR=0xc0000000 RASID=0xfffefd01"),
        "{mmu}"
    );
}

fn fault(test: SelfTest) -> (sotto_tests::Boot, String) {
    let run = boot(&self_test(test));
    assert_eq!(run.status, ExitCode::KernelFault as i32, "{}", run.console);
    let line = run.line_starting("KERNEL FAULT:").to_owned();
    (run, line)
}

#[test]
fn illegal_instruction_is_reported_with_its_cause_and_pc() {
    let (_, line) = fault(SelfTest::IllegalInstruction);
    assert!(line.contains("EXCCAUSE=0 (IllegalInstruction:"), "{line}");
    assert_eq!(field(&line, "EPC1"), symbol("sotto_illegal"));
    assert_eq!(
        field(&line, "PS") & 0x10,
        0,
        "PS shows the faulting code's EXCM: {line}"
    );
}

#[test]
fn load_from_the_unmapped_null_page_is_reported() {
    let (_, line) = fault(SelfTest::UnmappedLoad);
    assert!(line.contains("EXCCAUSE=28 (LoadProhibited:"), "{line}");
    assert_eq!(field(&line, "EPC1"), symbol("sotto_load"));
    assert_eq!(field(&line, "EXCVADDR"), 0x100);
}

#[test]
fn load_from_an_address_without_page_table_is_reported() {
    // The TLB refill itself faults (no L2 table): a double exception that
    // the kernel turns back into a fault at the original instruction.
    let (run, line) = fault(SelfTest::UnmappedFarLoad);
    assert!(line.contains("EXCCAUSE=24 (LoadStoreTLBMiss:"), "{line}");
    assert_eq!(field(&line, "EPC1"), symbol("sotto_load"));
    assert_eq!(field(&line, "EXCVADDR"), 0x3000_0120);
    assert!(!run.console.contains("DOUBLE EXCEPTION"), "{}", run.console);
}

#[test]
fn boot_code_is_unmapped_once_boot_is_over() {
    let (_, line) = fault(SelfTest::CallBootCode);
    assert!(line.contains("EXCCAUSE=20 (InstFetchProhibited:"), "{line}");
    assert_eq!(field(&line, "EPC1"), symbol("_boot_text_start"));
}

#[test]
fn store_to_kernel_text_is_reported() {
    let (_, line) = fault(SelfTest::StoreToText);
    assert!(line.contains("EXCCAUSE=29 (StoreProhibited:"), "{line}");
    assert_eq!(field(&line, "EPC1"), symbol("sotto_store"));
    assert_eq!(field(&line, "EXCVADDR"), symbol("sotto_illegal"));
}

#[test]
fn an_image_without_boot_configuration_stops_with_a_clear_message() {
    let mut bytes = std::fs::read(image()).unwrap();
    // Zero the section: as if xtask had never written it.
    let file_range =
        sotto_image::section_file_range(&bytes, sotto_abi::layout::BOOT_CONFIG_SECTION)
            .unwrap()
            .unwrap();
    bytes[file_range].fill(0);
    let run = boot_bytes(&bytes).unwrap();
    assert_eq!(
        run.status,
        ExitCode::BadBootConfig as i32,
        "{}",
        run.console
    );
    assert!(
        run.console
            .contains("BOOT FAILED: no boot configuration was written into the image"),
        "{}",
        run.console
    );
}

#[test]
fn kernel_stack_overflow_hits_the_guard_page_and_is_reported() {
    let run = boot(&self_test(SelfTest::KernelStackOverflow));
    assert_eq!(
        run.status,
        ExitCode::DoubleException as i32,
        "{}",
        run.console
    );
    let guard = symbol("_stack_guard");
    assert_eq!(
        run.line_starting("KERNEL STACK OVERFLOW:"),
        format!("KERNEL STACK OVERFLOW: the kernel stack ran into its guard page at {guard:#010x}")
    );
    let line = run.line_starting("DOUBLE EXCEPTION:");
    assert!(line.contains("(StoreProhibited:"), "{line}");
    // The fault vector itself could not save the frame on the full stack.
    let depc = field(line, "DEPC");
    let entry = symbol("_kernel_exception");
    assert!(
        (entry..entry + 16).contains(&depc),
        "DEPC {depc:#x}, _kernel_exception at {entry:#x}"
    );
    assert!(
        (guard..guard + 4096).contains(&field(line, "EXCVADDR")),
        "{line}"
    );
}

#[test]
fn an_unused_interrupt_level_is_reported_not_ignored() {
    let run = boot(&self_test(SelfTest::UnexpectedInterrupt));
    assert_eq!(
        run.status,
        ExitCode::UnexpectedVector as i32,
        "{}",
        run.console
    );
    let line = run.line_starting("UNEXPECTED level-3 interrupt at ");
    let epc = u32::from_str_radix(line.rsplit("0x").next().unwrap(), 16).unwrap();
    let wait = symbol("sotto_wait_for_interrupt");
    assert!(
        (wait..wait + 8).contains(&epc),
        "EPC3 {epc:#x}, waiti at {wait:#x}"
    );
}
