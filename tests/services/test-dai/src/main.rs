//! Test service: drives the two DAIs of `tests/dai.toml` as a driver
//! would (`sotto_abi::dai`), on a timeline of kernel ticks (both DMA
//! periods are one tick; both signal `dai-irq`, playback bit 1, capture
//! bit 2, so this service wakes right after the DMA ran, and acts once a
//! tick),
//! and provokes what `tests/tests/dai.rs` checks:
//!
//! Playback (`dai-out`, 16-bit stereo): frame `n` is `(n, !n)`; it keeps
//! two periods ahead of the DMA, except:
//! - ticks 50..=54 it writes nothing: the period left plays at 51, then
//!   periods 52..=55 are xruns (file periods 51..=54 are silence);
//! - tick 80 it sets APPL beyond the ring, tick 90 behind the position
//!   (each a lie for one period: xruns in file periods 80 and 90);
//! - tick 100 it scribbles on the kernel's registers (they are back at
//!   101);
//! - tick 110 it writes garbage into CONTROL (the DMA stops: nothing
//!   moves or counts at 111..=113), then RUN again at 113.
//!
//! Capture (`dai-in`, 32-bit stereo; the test's input file holds 100
//! periods, frame `n` being `(n, !n)`): it reads every period the DMA
//! filled, checking each is the file's next (or a later one: a skipped
//! period is a gap), except:
//! - ticks 30..=36 it reads nothing: the ring fills by 33, periods
//!   34..=37 are overruns (4 file periods lost);
//! - tick 60 it sets APPL ahead of the position (an overrun at 61);
//! - tick 70 it scribbles on the kernel's registers.
//!
//! It prints every xrun it sees (`playback xrun in period N`, counted
//! from 0 as the file's periods are) and, at tick 150, a summary of each
//! side; a check that fails prints `FAIL`.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering::SeqCst};

use sotto_abi::dai::{self, RUN, reg, status};
use sotto_rt::println;
use sotto_rt::{mem, sync, sys};

sotto_rt::entry!(main);

/// The notification both DAIs signal.
const IRQ: u32 = 1;
/// The playback ring (mapped at boot).
const OUT_RING: u32 = 2;
/// The capture ring (mapped at boot).
const IN_RING: u32 = 3;

/// Frames a period, periods in a ring (`tests/dai.toml`).
const PERIOD: u32 = 48;
const RING: u32 = PERIOD * 4;
/// The boundary positions count modulo (`sotto_abi::dai::wrap_at`).
const WRAP: u32 = dai::wrap_at(RING);
/// Words of registers before the samples.
const HEADER_WORDS: u32 = sotto_abi::dai::HEADER_BYTES / 4;
/// When the summaries are printed.
const SUMMARY_TICK: u32 = 150;

/// The sample words of frame `n`: playback (one word, two 16-bit
/// samples) and capture (two 32-bit samples).
fn playback_word(n: u32) -> u32 {
    (n & 0xFFFF) | (!n & 0xFFFF) << 16
}

/// A DAI's registers and ring, as words.
struct Ring {
    words: &'static [AtomicU32],
}

impl Ring {
    fn get(&self, index: usize) -> u32 {
        self.words[index].load(SeqCst)
    }

    fn set(&self, index: usize, value: u32) {
        self.words[index].store(value, SeqCst);
    }

    /// Word `word` of the frame at position `position` (frames of
    /// `frame_words` words).
    fn sample(&self, position: u32, frame_words: u32, word: u32) -> &AtomicU32 {
        let index = HEADER_WORDS + (position % RING) * frame_words + word;
        &self.words[index as usize]
    }

    /// The kernel's format words, as expected: rate, channels, bits,
    /// period, ring frames, direction.
    fn format_is(&self, bits: u32, direction: u32) -> bool {
        [
            self.get(reg::RATE),
            self.get(reg::CHANNELS),
            self.get(reg::BITS),
            self.get(reg::PERIOD_FRAMES),
            self.get(reg::RING_FRAMES),
            self.get(reg::DIRECTION),
        ] == [48_000, 2, bits, PERIOD, RING, direction]
    }

    /// Write garbage over every register the kernel owns (and the unused
    /// words after them).
    fn scribble(&self) {
        for index in reg::HW..HEADER_WORDS as usize {
            self.set(index, 0xBAD0_0000 | index as u32);
        }
    }
}

/// What each side has seen.
struct Side {
    ring: Ring,
    name: &'static str,
    /// The service's own APPL.
    appl: u32,
    /// XRUNS as last read.
    xruns: u32,
}

impl Side {
    /// Print the xrun the last DMA period was, if XRUNS says so.
    fn note_xruns(&mut self) {
        let xruns = self.ring.get(reg::XRUNS);
        let periods = self.ring.get(reg::PERIODS);
        match xruns.wrapping_sub(self.xruns) {
            0 => {}
            1 => println!("{} xrun in period {}", self.name, periods - 1),
            more => println!("FAIL {}: {more} xruns in one period", self.name),
        }
        self.xruns = xruns;
    }
}

fn main(_: u32) {
    let (Ok(out), Ok(input)) = (mem::shared_words(OUT_RING), mem::shared_words(IN_RING)) else {
        println!("FAIL the rings are not mapped");
        return;
    };
    let mut out = Side {
        ring: Ring { words: out },
        name: "playback",
        appl: 0,
        xruns: 0,
    };
    let mut input = Side {
        ring: Ring { words: input },
        name: "capture",
        appl: 0,
        xruns: 0,
    };
    // Start playback as a driver does: from HW, two periods written.
    let mut next_frame = 0;
    out.appl = out.ring.get(reg::HW);
    while dai::distance(out.ring.get(reg::HW), out.appl, WRAP) < 2 * PERIOD {
        write_period(&out.ring, out.appl, &mut next_frame);
        out.appl = dai::advance(out.appl, PERIOD, WRAP);
    }
    out.ring.set(reg::APPL, out.appl);
    out.ring.set(reg::CONTROL, RUN);
    // Start capture: APPL = HW.
    input.appl = input.ring.get(reg::HW);
    input.ring.set(reg::APPL, input.appl);
    input.ring.set(reg::CONTROL, RUN);
    let mut capture = Capture::default();
    let mut stopped_at = None;
    let mut last_tick = 0;
    loop {
        if sync::wait(IRQ).is_err() {
            println!("FAIL waiting for the DAIs");
            return;
        }
        // Once a tick: the playback DAI's signal wakes this service, the
        // capture DAI's (in the same tick) is left pending.
        let tick = sys::ticks();
        if tick == last_tick {
            continue;
        }
        last_tick = tick;
        // Playback.
        out.note_xruns();
        out.ring.set(reg::APPL, out.appl);
        let hw = out.ring.get(reg::HW);
        match tick {
            100 => out.ring.scribble(),
            101 => {
                let restored = out.ring.get(reg::PERIODS) == 101
                    && out.ring.get(reg::XRUNS) == out.xruns
                    && dai::distance(hw, out.appl, WRAP) <= 2 * PERIOD
                    && out.ring.get(reg::STATUS) == status::RUNNING
                    && out.ring.format_is(16, 0);
                if restored {
                    println!("playback registers restored");
                } else {
                    println!("FAIL playback registers not restored");
                }
            }
            110 => {
                out.ring.set(reg::CONTROL, 0xDEAD_0005);
                stopped_at = Some(out.ring.get(reg::PERIODS));
            }
            113 => {
                let periods = out.ring.get(reg::PERIODS);
                let running = out.ring.get(reg::STATUS) & status::RUNNING != 0;
                if stopped_at == Some(periods) && !running && hw == out.ring.get(reg::HW) {
                    println!("playback stopped: nothing moved in 3 periods");
                } else {
                    println!("FAIL playback did not stop: {periods} periods");
                }
                out.ring.set(reg::CONTROL, RUN);
            }
            _ => {}
        }
        if !(50..55).contains(&tick) {
            while dai::distance(hw, out.appl, WRAP) < 2 * PERIOD {
                write_period(&out.ring, out.appl, &mut next_frame);
                out.appl = dai::advance(out.appl, PERIOD, WRAP);
            }
            out.ring.set(reg::APPL, out.appl);
        }
        match tick {
            80 => out.ring.set(reg::APPL, hw.wrapping_add(100_000)),
            90 => out.ring.set(reg::APPL, hw.wrapping_sub(PERIOD)),
            _ => {}
        }
        // Capture.
        input.note_xruns();
        input.ring.set(reg::APPL, input.appl);
        let hw = input.ring.get(reg::HW);
        if input.ring.get(reg::STATUS) & status::END_OF_INPUT != 0 && capture.ended.is_none() {
            capture.ended = Some(input.ring.get(reg::PERIODS));
        }
        match tick {
            70 => input.ring.scribble(),
            71 => {
                if input.ring.get(reg::XRUNS) == input.xruns && input.ring.format_is(32, 1) {
                    println!("capture registers restored");
                } else {
                    println!("FAIL capture registers not restored");
                }
            }
            _ => {}
        }
        if !(30..37).contains(&tick) {
            while dai::distance(input.appl, hw, WRAP) >= PERIOD {
                capture.read_period(&input.ring, input.appl);
                input.appl = dai::advance(input.appl, PERIOD, WRAP);
            }
            input.ring.set(reg::APPL, input.appl);
        }
        if tick == 60 {
            input.ring.set(reg::APPL, hw.wrapping_add(PERIOD));
        }
        if tick == SUMMARY_TICK {
            println!(
                "playback: {} periods, {} xruns, {} frames written",
                out.ring.get(reg::PERIODS),
                out.ring.get(reg::XRUNS),
                next_frame
            );
            println!(
                "capture: {} periods of data in file order, {} file periods skipped, {} silent periods, {} mismatches, {} xruns, end of input at period {}",
                capture.data,
                capture.skipped,
                capture.silent,
                capture.mismatches,
                input.ring.get(reg::XRUNS),
                capture.ended.unwrap_or(0)
            );
        }
    }
}

/// Write the pattern's next period at `position`.
fn write_period(ring: &Ring, position: u32, next_frame: &mut u32) {
    for i in 0..PERIOD {
        ring.sample(position + i, 1, 0)
            .store(playback_word(*next_frame), SeqCst);
        *next_frame += 1;
    }
}

/// What the capture side has read.
#[derive(Default)]
struct Capture {
    /// Periods of the file read.
    data: u32,
    /// File periods never read (lost to overruns).
    skipped: u32,
    /// Periods of silence (after the end of the input).
    silent: u32,
    /// Periods that are neither.
    mismatches: u32,
    /// The last file period read.
    last: Option<u32>,
    /// PERIODS when END_OF_INPUT was first seen.
    ended: Option<u32>,
}

impl Capture {
    /// Check the period at `position`: the file's next (or a later one),
    /// or silence.
    fn read_period(&mut self, ring: &Ring, position: u32) {
        let first = ring.sample(position, 2, 0).load(SeqCst);
        let mut silent = true;
        let mut pattern = first.is_multiple_of(PERIOD);
        for i in 0..PERIOD {
            let left = ring.sample(position + i, 2, 0).load(SeqCst);
            let right = ring.sample(position + i, 2, 1).load(SeqCst);
            silent &= left == 0 && right == 0;
            pattern &= left == first.wrapping_add(i) && right == !left;
        }
        if silent {
            self.silent += 1;
            return;
        }
        let period = first / PERIOD;
        let expected = self.last.map_or(0, |last| last + 1);
        if !pattern || period < expected {
            self.mismatches += 1;
            println!("FAIL capture period at {position}: starts with {first}");
            return;
        }
        self.skipped += period - expected;
        self.last = Some(period);
        self.data += 1;
    }
}
