//! Host tests of the DMA model: what each period moves, counts and
//! publishes, with files in memory ([`TestHw::files`]), and that no
//! value a service writes into the header makes it panic or touch memory
//! outside its ring.

use proptest::prelude::*;
use sotto_abi::dai::{self, DaiParams, Direction, HEADER_BYTES, RUN, reg, status};
use sotto_abi::manifest::{Cache, ObjectParams};

use super::{Dai, Dais, Refusal};
use crate::kernel::{Hardware, Kernel, Object};
use crate::testkit::{self, REGION_PA, TestHw};

/// 48 frames of 2 16-bit channels: 192-byte periods, 4 in the ring.
fn params(direction: Direction) -> DaiParams {
    DaiParams {
        direction,
        ring: 1,
        rate: 48_000,
        channels: 2,
        bits: 16,
        period_frames: 48,
        ring_periods: 4,
        notify: Some((0, 0x4)),
    }
}

const PERIOD: usize = 192;
const RING: u32 = REGION_PA;
/// The page after the ring's: must never change.
const AFTER: u32 = REGION_PA + 4096;

/// A kernel with a notification (0), the ring (1) and the page after it
/// (2), and one DAI attached with `file` (`None`: none opened).
fn setup(direction: Direction, file: Option<Vec<u8>>) -> (Kernel<TestHw>, Dais) {
    let memory = ObjectParams::Memory {
        size: 4096,
        cache: Cache::Uncached,
        shared: false,
        init: None,
        keep: true,
    };
    let mut k = testkit::kernel(&[ObjectParams::Notification, memory, memory]);
    let handle = file.map(|bytes| {
        k.hw.files.push((bytes, 0));
        0
    });
    let mut dai = Dai::new("dai-test", params(direction));
    assert_eq!(dai.attach(&mut k, 1000, handle), Ok(()));
    let mut dais = Dais::new();
    assert!(dais.add(dai));
    (k, dais)
}

fn get(k: &mut Kernel<TestHw>, index: usize) -> u32 {
    let bytes = k.hw.phys(RING + 4 * index as u32, 4);
    u32::from_le_bytes(bytes.try_into().unwrap())
}

fn set(k: &mut Kernel<TestHw>, index: usize, value: u32) {
    k.hw.phys(RING + 4 * index as u32, 4)
        .copy_from_slice(&value.to_le_bytes());
}

/// Period `n` of the ring.
fn period_at(k: &mut Kernel<TestHw>, n: u32) -> &mut [u8] {
    k.hw.phys(RING + HEADER_BYTES + n * PERIOD as u32, PERIOD as u32)
}

/// A period of bytes all `value`.
fn filled(value: u8) -> Vec<u8> {
    vec![value; PERIOD]
}

/// The notification's pending bits, taken.
fn signalled(k: &mut Kernel<TestHw>) -> u32 {
    match k.objects.get_mut(0) {
        Some(Object::Notification(n)) => n.poll(),
        _ => panic!("no notification"),
    }
}

/// Run the DMA up to tick `now`; the names of DAIs said to have no file.
fn run(k: &mut Kernel<TestHw>, dais: &mut Dais, now: u64) -> Vec<String> {
    let mut told = Vec::new();
    dais.run(k, now, |_, dai| told.push(dai.name.to_string()));
    told
}

fn file(k: &Kernel<TestHw>) -> &[u8] {
    &k.hw.files[0].0
}

#[test]
fn attaching_publishes_the_format_and_refuses_a_wrong_ring() {
    let (mut k, dais) = setup(Direction::Capture, None);
    let words: Vec<u32> = (reg::HW..=reg::DIRECTION).map(|i| get(&mut k, i)).collect();
    assert_eq!(
        words,
        [0, 0, 0, status::NO_FILE, 48_000, 2, 16, 48, 192, 1],
        "HW, XRUNS, PERIODS, STATUS, then the format"
    );
    assert_eq!(dais.next_due(), Some(1), "one 1 ms period after boot");
    let mut other = Dai::new(
        "x",
        DaiParams {
            ring: 0,
            ..params(Direction::Playback)
        },
    );
    assert_eq!(
        other.attach(&mut k, 1000, None),
        Err(Refusal::RingNotMemory)
    );
    let mut big = Dai::new(
        "x",
        DaiParams {
            ring_periods: 40,
            ..params(Direction::Playback)
        },
    );
    assert_eq!(big.attach(&mut k, 1000, None), Err(Refusal::RingTooSmall));
    let mut odd = Dai::new("x", params(Direction::Playback));
    assert_eq!(odd.attach(&mut k, 300, None), Err(Refusal::NoWholeTicks));
    assert_eq!(odd.next_due(), u64::MAX, "refused: inert");
    // At 4 kHz a 1 ms period is 4 ticks.
    let mut fast = Dai::new("x", params(Direction::Playback));
    assert_eq!(fast.attach(&mut k, 4000, None), Ok(()));
    assert_eq!(fast.next_due(), 4);
}

#[test]
fn playback_moves_the_period_at_the_position_and_writes_silence_at_an_xrun() {
    let (mut k, mut dais) = setup(Direction::Playback, Some(Vec::new()));
    for n in 0..4 {
        period_at(&mut k, n).fill(0x10 + n as u8);
    }
    // Two periods written, then started.
    set(&mut k, reg::APPL, 96);
    set(&mut k, reg::CONTROL, RUN);
    run(&mut k, &mut dais, 1);
    assert_eq!(file(&k), filled(0x10));
    assert_eq!(
        (
            get(&mut k, reg::HW),
            get(&mut k, reg::XRUNS),
            get(&mut k, reg::PERIODS)
        ),
        (48, 0, 1)
    );
    assert_eq!(get(&mut k, reg::STATUS), status::RUNNING);
    assert_eq!(signalled(&mut k), 0x4, "the notification, every period");
    run(&mut k, &mut dais, 2);
    // Empty: an xrun writes a period of zeros, the position stays.
    run(&mut k, &mut dais, 3);
    assert_eq!(
        (
            get(&mut k, reg::HW),
            get(&mut k, reg::XRUNS),
            get(&mut k, reg::PERIODS)
        ),
        (96, 1, 3)
    );
    assert_eq!(signalled(&mut k), 0x4);
    // The ring filled to the brim (4 periods from HW = 96: periods 2, 3,
    // 0, 1); two ticks at once (a late interrupt): both move.
    set(&mut k, reg::APPL, 96 + 192);
    run(&mut k, &mut dais, 5);
    let expected: Vec<u8> = [
        filled(0x10),
        filled(0x11),
        filled(0),
        filled(0x12),
        filled(0x13),
    ]
    .concat();
    assert_eq!(file(&k), expected);
    assert_eq!(dais.list()[0].counts(), (192, 1, 5));
    // The registers are the kernel's: scribbled on, they come back.
    set(&mut k, reg::HW, 7);
    set(&mut k, reg::XRUNS, 0);
    run(&mut k, &mut dais, 6);
    assert_eq!((get(&mut k, reg::HW), get(&mut k, reg::XRUNS)), (240, 1));
}

#[test]
fn capture_fills_the_ring_skips_when_full_and_reads_silence_past_the_end() {
    // Six periods and a half of input, each period its own value.
    let mut input: Vec<u8> = (0..6).flat_map(|n| filled(0x20 + n)).collect();
    input.extend(vec![0x7F; PERIOD / 2]);
    let (mut k, mut dais) = setup(Direction::Capture, Some(input));
    set(&mut k, reg::APPL, 0);
    set(&mut k, reg::CONTROL, RUN);
    // Four periods fill the ring.
    run(&mut k, &mut dais, 4);
    for n in 0..4 {
        assert_eq!(period_at(&mut k, n), filled(0x20 + n as u8));
    }
    assert_eq!(get(&mut k, reg::HW), 192);
    // Nobody read: the fifth period finds no room. Its file period is
    // lost, the ring is left alone.
    run(&mut k, &mut dais, 5);
    assert_eq!((get(&mut k, reg::HW), get(&mut k, reg::XRUNS)), (192, 1));
    assert_eq!(period_at(&mut k, 0), filled(0x20), "not overwritten");
    // The service read three periods: the next is the file's sixth.
    set(&mut k, reg::APPL, 144);
    run(&mut k, &mut dais, 6);
    assert_eq!(period_at(&mut k, 0), filled(0x25));
    assert_eq!(get(&mut k, reg::STATUS), status::RUNNING);
    // Half a period, then zeros; then only zeros.
    run(&mut k, &mut dais, 7);
    let mut half = vec![0x7F; PERIOD / 2];
    half.extend(vec![0; PERIOD / 2]);
    assert_eq!(period_at(&mut k, 1), half);
    assert_eq!(
        get(&mut k, reg::STATUS),
        status::RUNNING | status::END_OF_INPUT
    );
    period_at(&mut k, 2).fill(0x55);
    run(&mut k, &mut dais, 8);
    assert_eq!(period_at(&mut k, 2), filled(0));
    assert_eq!(dais.list()[0].counts(), (336, 1, 8));
    assert_eq!(k.hw.files[0].1, 6 * PERIOD + PERIOD / 2, "read to its end");
}

#[test]
fn a_stopped_dma_moves_and_counts_nothing_and_starts_from_its_position() {
    let (mut k, mut dais) = setup(Direction::Playback, Some(Vec::new()));
    period_at(&mut k, 0).fill(1);
    period_at(&mut k, 1).fill(2);
    set(&mut k, reg::APPL, 48);
    set(&mut k, reg::CONTROL, RUN);
    run(&mut k, &mut dais, 1);
    signalled(&mut k);
    // Stopped (anything but RUN): nothing moves, nothing is counted or
    // signalled; the registers stay published.
    set(&mut k, reg::CONTROL, 2);
    set(&mut k, reg::HW, 0xDEAD);
    run(&mut k, &mut dais, 10);
    assert_eq!(file(&k).len(), PERIOD);
    assert_eq!(dais.list()[0].counts(), (48, 0, 1));
    assert_eq!(get(&mut k, reg::HW), 48, "republished while stopped");
    assert_eq!(get(&mut k, reg::STATUS), 0);
    assert_eq!(signalled(&mut k), 0);
    // Started again as a driver would: from HW.
    set(&mut k, reg::APPL, 96);
    set(&mut k, reg::CONTROL, RUN);
    run(&mut k, &mut dais, 11);
    assert_eq!(file(&k), [filled(1), filled(2)].concat());
    assert_eq!(dais.list()[0].counts(), (96, 0, 2));
}

#[test]
fn without_a_file_playback_is_dropped_and_capture_reads_silence_said_once() {
    let (mut k, mut dais) = setup(Direction::Playback, None);
    set(&mut k, reg::APPL, 48);
    set(&mut k, reg::CONTROL, RUN);
    assert!(
        run(&mut k, &mut dais, 1).is_empty(),
        "playback: said at boot"
    );
    assert_eq!(get(&mut k, reg::HW), 48, "the DMA runs on");
    assert_eq!(get(&mut k, reg::STATUS), status::RUNNING | status::NO_FILE);
    let (mut k, mut dais) = setup(Direction::Capture, None);
    period_at(&mut k, 0).fill(9);
    set(&mut k, reg::CONTROL, RUN);
    assert_eq!(run(&mut k, &mut dais, 1), ["dai-test"]);
    assert_eq!(period_at(&mut k, 0), filled(0));
    assert_eq!(
        get(&mut k, reg::STATUS),
        status::RUNNING | status::NO_FILE | status::END_OF_INPUT
    );
    // Stopped and started again: said once only.
    set(&mut k, reg::CONTROL, 0);
    run(&mut k, &mut dais, 2);
    set(&mut k, reg::CONTROL, RUN);
    assert!(run(&mut k, &mut dais, 3).is_empty());
}

#[test]
fn a_system_without_dais_has_no_dma_deadline() {
    let mut k = testkit::kernel(&[]);
    let mut dais = Dais::new();
    assert_eq!(dais.next_due(), None);
    assert_eq!(dais.run(&mut k, 100, |_, _| {}), u64::MAX);
    // An inert (refused) DAI neither.
    assert!(dais.add(Dai::new("x", params(Direction::Playback))));
    assert_eq!(dais.next_due(), None);
}

proptest! {
    /// Whatever a service writes into the header (CONTROL, APPL, the
    /// kernel's own words), each period either moves the period at the
    /// kernel's position or counts an xrun, the position stays on the
    /// period grid (below its boundary, which the run crosses when it
    /// starts `near` it), the file grows by exactly a period per running
    /// period, and nothing outside the ring changes.
    #[test]
    fn hostile_headers_only_cause_xruns(
        direction in prop_oneof![Just(Direction::Playback), Just(Direction::Capture)],
        near in any::<bool>(),
        writes in proptest::collection::vec(
            (0usize..16, any::<u32>(), any::<bool>()),
            1..64,
        ),
    ) {
        let input: Vec<u8> = (0..PERIOD * 64).map(|i| i as u8).collect();
        let start = match direction {
            Direction::Playback => Vec::new(),
            Direction::Capture => input,
        };
        let (mut k, mut dais) = setup(direction, Some(start));
        k.hw.phys(AFTER, 4096).fill(0xA5);
        let wrap = dai::wrap_at(192);
        let start = if near { wrap - 8 * 48 } else { 0 };
        dais.list_mut()[0].set_position(&mut k, start);
        let mut tick = 0;
        for (index, value, honest) in writes {
            // Half of the time a plausible driver, else anything.
            let (hw, _, _) = dais.list()[0].counts();
            let value = match (honest, index) {
                (true, reg::CONTROL) => RUN,
                (true, reg::APPL) => dai::advance(hw, value % 240, wrap),
                _ => value,
            };
            set(&mut k, index, value);
            tick += 1;
            run(&mut k, &mut dais, tick);
            let dai = &dais.list()[0];
            let (hw, xruns, periods) = dai.counts();
            prop_assert_eq!(hw % 48, 0);
            prop_assert!(hw < wrap);
            prop_assert_eq!(dai::distance(start, hw, wrap) / 48 + xruns, periods);
            if direction == Direction::Playback {
                prop_assert_eq!(file(&k).len(), periods as usize * PERIOD);
            } else {
                prop_assert_eq!(k.hw.files[0].1, periods as usize * PERIOD);
            }
            prop_assert!(k.hw.phys(AFTER, 4096).iter().all(|&b| b == 0xA5));
        }
    }
}

/// The ring's slot (period index) of position `frames`.
fn slot(frames: u32) -> u32 {
    frames % 192 / 48
}

/// Playback started a few periods before the position's boundary (2^32
/// is no multiple of the 192-frame ring): every period across it moves,
/// and the file is the ring's periods in the order the driver wrote them.
#[test]
fn playback_moves_every_period_across_the_positions_boundary() {
    let wrap = dai::wrap_at(192);
    let (mut k, mut dais) = setup(Direction::Playback, Some(Vec::new()));
    let start = wrap - 3 * 48;
    dais.list_mut()[0].set_position(&mut k, start);
    // As a driver: read HW, fill the ring from it, APPL a ring ahead.
    let mut appl = get(&mut k, reg::HW);
    assert_eq!(appl, start);
    let mut written = 0u8;
    for _ in 0..4 {
        period_at(&mut k, slot(appl)).fill(0x40 + written);
        written += 1;
        appl = dai::advance(appl, 48, wrap);
    }
    set(&mut k, reg::APPL, appl);
    set(&mut k, reg::CONTROL, RUN);
    for tick in 1..=12 {
        run(&mut k, &mut dais, tick);
        // The period played is free again: the next one goes there.
        period_at(&mut k, slot(appl)).fill(0x40 + written);
        written += 1;
        appl = dai::advance(appl, 48, wrap);
        set(&mut k, reg::APPL, appl);
    }
    let expected: Vec<u8> = (0..12).flat_map(|n| filled(0x40 + n)).collect();
    assert_eq!(file(&k), expected);
    assert_eq!(dais.list()[0].counts(), (9 * 48, 0, 12), "no xrun");
    assert_eq!(get(&mut k, reg::HW), 9 * 48, "past the boundary: from 0");
}

/// Capture the same way: every period of the file is captured, in order,
/// into the slot the driver reads it from.
#[test]
fn capture_moves_every_period_across_the_positions_boundary() {
    let wrap = dai::wrap_at(192);
    let input: Vec<u8> = (0..12).flat_map(|n| filled(0x60 + n)).collect();
    let (mut k, mut dais) = setup(Direction::Capture, Some(input));
    let start = wrap - 2 * 48;
    dais.list_mut()[0].set_position(&mut k, start);
    let mut appl = get(&mut k, reg::HW);
    set(&mut k, reg::APPL, appl);
    set(&mut k, reg::CONTROL, RUN);
    // Three periods fill three of the four slots, then one is read each
    // period: the ring stays as full as it may be.
    run(&mut k, &mut dais, 3);
    let mut got = Vec::new();
    for tick in 4..=13 {
        got.extend_from_slice(period_at(&mut k, slot(appl)));
        appl = dai::advance(appl, 48, wrap);
        set(&mut k, reg::APPL, appl);
        run(&mut k, &mut dais, tick);
    }
    for _ in 0..2 {
        got.extend_from_slice(period_at(&mut k, slot(appl)));
        appl = dai::advance(appl, 48, wrap);
    }
    let expected: Vec<u8> = (0..12).flat_map(|n| filled(0x60 + n)).collect();
    assert_eq!(got, expected);
    assert_eq!(dais.list()[0].counts(), (11 * 48, 0, 13), "no xrun");
}

/// A hostile APPL at or past the boundary (a position that cannot be)
/// is an xrun, wherever the kernel's position is.
#[test]
fn an_appl_past_the_boundary_is_an_xrun() {
    let wrap = dai::wrap_at(192);
    for direction in [Direction::Playback, Direction::Capture] {
        let (mut k, mut dais) = setup(direction, Some(vec![0; PERIOD * 8]));
        k.hw.phys(AFTER, 4096).fill(0xA5);
        dais.list_mut()[0].set_position(&mut k, wrap - 48);
        set(&mut k, reg::CONTROL, RUN);
        for (tick, appl) in [wrap, wrap + 48, u32::MAX].into_iter().enumerate() {
            set(&mut k, reg::APPL, appl);
            run(&mut k, &mut dais, tick as u64 + 1);
        }
        assert_eq!(dais.list()[0].counts(), (wrap - 48, 3, 3), "{direction:?}");
        assert!(k.hw.phys(AFTER, 4096).iter().all(|&b| b == 0xA5));
    }
}
