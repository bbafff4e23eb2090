//! The console cannot be forged: every line starts with the name of
//! whoever wrote it, whatever bytes a service writes. No audio crosses it:
//! the pipeline plays to the playback DAI, whose file the host reads.

use sotto_abi::ExitCode;
use sotto_tests::{Boot, Start, boot_bytes, boot_services_of, image, isolation_image};

/// A forger and an honest writer, interleaved by `yield`.
fn forged() -> Boot {
    boot_services_of(
        &isolation_image(),
        &[
            Start::new("scribe", 0).named("evil"),
            Start::new("scribe", 1).named("honest"),
        ],
        1000,
    )
}

#[test]
fn every_line_is_attributed_to_its_true_writer() {
    let run = forged();
    assert_eq!(
        run.status,
        ExitCode::ServicePanicked as i32,
        "{}",
        run.console
    );
    for line in run.console.lines() {
        assert!(
            ["[kernel] ", "[evil] ", "[honest] "]
                .iter()
                .any(|prefix| line.starts_with(prefix)),
            "a line without a true writer's prefix: {line:?}\n{}",
            run.console
        );
    }
    assert!(run.lines_of("pipeline").is_empty(), "{}", run.console);
    // The only kernel line that mentions the forgeries is the kernel's own
    // report of the panic, which quotes the message on one line.
    let forged: Vec<&str> = run
        .kernel_lines()
        .filter(|line| line.contains("forged") || line.contains("pcm"))
        .collect();
    assert_eq!(
        forged,
        [
            "service evil panicked: oops\\x0a[pipeline] pcm /38AgAAA\\x0a[kernel] forged by panic\\x1b[A"
        ],
        "{}",
        run.console
    );
    assert_eq!(
        run.lines_of("evil"),
        [
            "x",
            "[kernel] service pipeline stopped: forged",
            "[pipeline] pcm /38AgAAA",
            "",
            "[pipeline] pcm /38AgAAA",
            "\\x0d[kernel] carriage return forged",
            "\\x1b[2K\\x1b[1G[kernel] escape forged",
            "tab\\x09here \\x7f\\x08\\x00 nul",
            "bad utf8 \\xff\\xfe \\xc3( \\xed\\xa0\\x80 \\xc2\\x9b",
            "euro € kept",
            "euro \\xe2\\x82",
            "\\xac split",
            "partial",
        ],
        "{}",
        run.console
    );
    assert_eq!(
        run.lines_of("honest"),
        ["honest 1", "honest 2", "honest partial end"],
        "{}",
        run.console
    );
}

#[test]
fn partial_lines_are_ended_before_another_writer_speaks() {
    let run = forged();
    let text = &run.console;
    // The forger's open "x" is ended before the honest line starts, and
    // its open "partial" before the kernel's panic report.
    assert!(text.contains("[evil] x\n[honest] honest 1\n"), "{text}");
    assert!(
        text.contains("[evil] partial\n[kernel] service evil panicked: "),
        "{text}"
    );
    assert!(
        text.contains("[evil] euro \\xe2\\x82\n[honest] honest 2\n[evil] \\xac split\n"),
        "{text}"
    );
}

#[test]
fn the_console_is_utf8_without_control_characters() {
    let run = forged();
    assert!(
        !run.console.contains('\u{fffd}'),
        "bytes that are not UTF-8 reached the host:\n{}",
        run.console
    );
    let controls: Vec<char> = run
        .console
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(controls.is_empty(), "{controls:?}\n{}", run.console);
}

#[test]
fn no_pcm_crosses_the_console_the_audio_is_in_the_dai_file() {
    let mut bytes = std::fs::read(image()).unwrap();
    let mut config = sotto_image::read_boot_config(&bytes).unwrap();
    config.run_ticks = 300;
    sotto_image::write_boot_config(&mut bytes, &config).unwrap();
    let run = boot_bytes(&bytes).unwrap();
    assert_eq!(run.status, ExitCode::Success as i32, "{}", run.console);
    // Not a `pcm` or `pcm-gap` line of anyone: no service streams audio.
    let pcm: Vec<&str> = run
        .console
        .lines()
        .filter(|line| {
            line.split_once("] ")
                .is_some_and(|(_, text)| text.starts_with("pcm"))
        })
        .collect();
    assert!(pcm.is_empty(), "{pcm:?}");
    assert!(
        run.console.len() < 20_000,
        "{} bytes of console in 300 ms",
        run.console.len()
    );
    // The audio is in the playback DAI's file: the default pipeline's,
    // from its first period.
    let samples = run.pcm();
    let (periods, xruns) = run.dai_counts(sotto_tests::PLAYBACK_DAI);
    assert_eq!(xruns, 0);
    assert!(periods >= 290, "{periods} periods");
    assert_eq!(samples.len(), periods as usize * audio_dsp::PERIOD_SAMPLES);
    assert!(samples.iter().any(|sample| *sample != 0));
    sotto_tests::assert_bit_exact(&bytes, &samples);
}
