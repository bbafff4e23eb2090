//! The DAI: a model of an audio DSP's DMA engine, shared by the kernel
//! (which plays the hardware), the services (which drive it like a
//! driver would) and the host tools (which feed and collect its files).
//!
//! A `dai` object in `system.toml` names a memory object (its *ring*), a
//! direction, a format and a period. The ring's first [`HEADER_BYTES`]
//! are the DMA engine's registers, as little-endian words
//! ([`reg`]); the rest is the sample ring, `ring_periods` periods of
//! `period_frames` frames, each frame `channels` samples of
//! [`container_bytes`] bytes.
//!
//! Every DMA period (`period_frames` at `rate`, counted in kernel ticks)
//! the kernel, while [`reg::CONTROL`] holds [`RUN`], moves one period
//! between the ring and the DAI's host file over semihosting — playback
//! writes the period at the hardware position to the file, capture reads
//! the file's next period into it — advances [`reg::HW`] (the position
//! register: frames moved, counting modulo the ring's boundary) and
//! signals the DAI's
//! notification. A playback ring with less than a period between
//! [`reg::HW`] and [`reg::APPL`] (the frames the service has written), or
//! a capture ring with less than a period free, is an **xrun**: the
//! kernel counts it in its own count (reported at shutdown, copied to
//! [`reg::XRUNS`]) — the hardware's count, whatever the services
//! believe. A playback xrun writes a period of silence to the file (the
//! file keeps the run's time); a capture xrun drops the file's period.
//!
//! The registers are in service memory: the kernel treats every word it
//! reads there ([`reg::CONTROL`], [`reg::APPL`]) as hostile. Its own
//! position is kept in the kernel and only copied out, so a service that
//! scribbles on the header can at worst make its own DAI xrun.
//!
//! Positions ([`reg::HW`], [`reg::APPL`]) count frames modulo the
//! ring's *boundary* [`wrap_at`]`(ring_frames)`: the largest multiple
//! of the ring's frame count a `u32` holds, not 2^32 (2^32 is a multiple
//! of no ring of 192 or 384 frames: there, a position wrapping at 2^32
//! would leave the period grid after 2^32 frames, 24.8 hours at 48 kHz).
//! A frame's slot in the ring is its position modulo the ring's frames,
//! the same before and after the boundary; a position at or past the
//! boundary is one that cannot be (an xrun). Both sides move and compare
//! positions only with [`advance`] and [`distance`].
//!
//! The host file of a DAI is its object's name with [`FILE_SUFFIX`], in
//! QEMU's working directory (`cargo xtask run` and the tests run QEMU in
//! a directory of their own): raw little-endian samples in the DAI's
//! format, interleaved.

use serde::{Deserialize, Serialize};

use crate::layout::PAGE_SIZE;

/// Bytes of registers at the start of the ring's memory object.
pub const HEADER_BYTES: u32 = 64;

/// Most DAIs one system declares.
pub const MAX_DAIS: usize = 4;

/// The host file of a DAI: `<object name><FILE_SUFFIX>`.
pub const FILE_SUFFIX: &str = ".pcm";

/// [`reg::CONTROL`]: the DMA runs.
pub const RUN: u32 = 1;

/// The register words (index of the word in the header).
pub mod reg {
    /// Written by the service: [`super::RUN`] to run the DMA, 0 to stop.
    pub const CONTROL: usize = 0;
    /// Written by the service: frames written (playback) or read
    /// (capture) by the service, modulo the ring's boundary
    /// ([`super::wrap_at`]; advanced with [`super::advance`]).
    pub const APPL: usize = 1;
    /// Written by the kernel: frames the DMA moved, modulo the ring's
    /// boundary ([`super::wrap_at`]) (the position register). Before
    /// starting, a service reads it and sets [`APPL`] from it.
    pub const HW: usize = 2;
    /// Written by the kernel: xruns counted since boot.
    pub const XRUNS: usize = 3;
    /// Written by the kernel: DMA periods run since boot.
    pub const PERIODS: usize = 4;
    /// Written by the kernel: [`super::status`] bits.
    pub const STATUS: usize = 5;
    /// Written by the kernel: the format, for drivers that want to check
    /// it (rate, channels, bits, period frames, ring frames, direction:
    /// 0 playback, 1 capture).
    pub const RATE: usize = 6;
    /// See [`RATE`].
    pub const CHANNELS: usize = 7;
    /// See [`RATE`].
    pub const BITS: usize = 8;
    /// See [`RATE`].
    pub const PERIOD_FRAMES: usize = 9;
    /// See [`RATE`].
    pub const RING_FRAMES: usize = 10;
    /// See [`RATE`].
    pub const DIRECTION: usize = 11;
}

/// [`reg::STATUS`] bits.
pub mod status {
    /// The DMA is running.
    pub const RUNNING: u32 = 1;
    /// The host file could not be opened: playback output is dropped,
    /// capture reads silence.
    pub const NO_FILE: u32 = 2;
    /// Capture: the input file has ended (silence follows).
    pub const END_OF_INPUT: u32 = 4;
}

/// Which way the DMA moves samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Ring to file (to the codec).
    Playback,
    /// File to ring (from the codec).
    Capture,
}

impl Direction {
    /// The name in `system.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Playback => "playback",
            Direction::Capture => "capture",
        }
    }
}

/// Sample widths a DAI carries: 16-bit samples in 2 bytes, 24-bit ones
/// in the low 3 bytes of 4 (sign-extended, as ALSA's `S24_LE`), 32-bit in
/// 4.
pub const SAMPLE_BITS: [u8; 3] = [16, 24, 32];

/// Bytes one sample of `bits` takes in the ring and the file.
pub const fn container_bytes(bits: u8) -> u32 {
    if bits <= 16 { 2 } else { 4 }
}

/// A DAI as the manifest describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DaiParams {
    /// Playback or capture.
    pub direction: Direction,
    /// Index of the memory object holding the registers and the ring.
    pub ring: u16,
    /// Frames per second.
    pub rate: u32,
    /// Interleaved channels.
    pub channels: u8,
    /// Sample width: one of [`SAMPLE_BITS`].
    pub bits: u8,
    /// Frames per DMA period.
    pub period_frames: u16,
    /// The ring's size in periods (at least 2).
    pub ring_periods: u16,
    /// Notification object and bits signalled after every DMA period.
    pub notify: Option<(u16, u32)>,
}

impl DaiParams {
    /// Bytes of one frame.
    pub const fn frame_bytes(&self) -> u32 {
        self.channels as u32 * container_bytes(self.bits)
    }

    /// Bytes of one period.
    pub const fn period_bytes(&self) -> u32 {
        self.period_frames as u32 * self.frame_bytes()
    }

    /// Frames the ring holds.
    pub const fn ring_frames(&self) -> u32 {
        self.period_frames as u32 * self.ring_periods as u32
    }

    /// The boundary its positions count modulo: [`wrap_at`] of its
    /// ring's frames.
    pub const fn wrap_at(&self) -> u32 {
        wrap_at(self.ring_frames())
    }

    /// Bytes the memory object needs: registers and ring, page-rounded.
    pub const fn memory_bytes(&self) -> u32 {
        let bytes = HEADER_BYTES + self.ring_frames() * self.frame_bytes();
        bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE
    }

    /// Kernel ticks per DMA period at `tick_hz`, if a whole number of
    /// them (at least 1).
    pub const fn period_ticks(&self, tick_hz: u32) -> Option<u32> {
        let scaled = self.period_frames as u64 * tick_hz as u64;
        if self.rate == 0 || !scaled.is_multiple_of(self.rate as u64) || scaled == 0 {
            return None;
        }
        let ticks = scaled / self.rate as u64;
        if ticks > u32::MAX as u64 {
            None
        } else {
            Some(ticks as u32)
        }
    }
}

/// What the DMA does at a period, from the registers it trusts (its own
/// position `hw`) and the one it does not (`appl`, from service memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Move one period at this byte offset in the memory object (header
    /// included), then advance the position by a period.
    Move {
        /// Byte offset of the period in the memory object.
        offset: u32,
    },
    /// Not a period to move (or `appl` is impossible): an xrun.
    Xrun,
}

/// The boundary positions in a ring of `ring_frames` frames count
/// modulo: the largest multiple of `ring_frames` a `u32` holds (0 for an
/// empty ring, which has no positions). Positions are `0..wrap_at`; a
/// position's slot is `position % ring_frames` on both sides of the
/// boundary, so a position advancing by whole periods stays on the
/// period grid forever.
pub const fn wrap_at(ring_frames: u32) -> u32 {
    if ring_frames == 0 {
        0
    } else {
        ring_frames * (u32::MAX / ring_frames)
    }
}

/// Position `pos` advanced by `frames` (at most `wrap`), modulo `wrap`
/// ([`wrap_at`]). For `pos < wrap` the result is below `wrap`; any other
/// `pos` gives some value, without a panic (no division: the kernel
/// runs it every DMA period).
#[inline]
pub const fn advance(pos: u32, frames: u32, wrap: u32) -> u32 {
    let room = wrap.wrapping_sub(pos);
    if frames < room {
        pos.wrapping_add(frames)
    } else {
        frames.wrapping_sub(room)
    }
}

/// Frames from position `from` to position `to`, modulo `wrap`
/// ([`wrap_at`]): `(to - from) mod wrap` for positions below `wrap`;
/// any other value gives some value, without a panic.
#[inline]
pub const fn distance(from: u32, to: u32, wrap: u32) -> u32 {
    if to >= from {
        to - from
    } else {
        wrap.wrapping_sub(from).wrapping_add(to)
    }
}

/// The DMA's step for a period (see [`Step`]), with the ring's boundary
/// `wrap` ([`DaiParams::wrap_at`], computed once). `hw % ring_frames`
/// always lands on a period boundary, since the position only ever
/// advances by whole periods modulo `wrap`, a multiple of the ring; the
/// offset is in the ring whatever `appl` says (one at or past `wrap`, a
/// position that cannot be, is an xrun).
pub fn step(params: &DaiParams, hw: u32, appl: u32, wrap: u32) -> Step {
    let ring = params.ring_frames();
    let period = u32::from(params.period_frames);
    if ring == 0 || period == 0 || hw >= wrap || appl >= wrap {
        return Step::Xrun;
    }
    // Frames of data in the ring: playback, written and not yet played;
    // capture, captured and not yet read.
    let level = match params.direction {
        Direction::Playback => distance(hw, appl, wrap),
        Direction::Capture => distance(appl, hw, wrap),
    };
    let ok = match params.direction {
        Direction::Playback => level >= period && level <= ring,
        Direction::Capture => level <= ring - period,
    };
    if !ok {
        return Step::Xrun;
    }
    Step::Move {
        offset: HEADER_BYTES + (hw % ring) * params.frame_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::{DaiParams, Direction, HEADER_BYTES, Step, advance, distance, step, wrap_at};

    /// The boundary of [`params`]' 192-frame ring.
    const W: u32 = wrap_at(192);

    fn params(direction: Direction) -> DaiParams {
        DaiParams {
            direction,
            ring: 0,
            rate: 48_000,
            channels: 2,
            bits: 16,
            period_frames: 48,
            ring_periods: 4,
            notify: None,
        }
    }

    #[test]
    fn sizes_and_ticks() {
        let p = params(Direction::Playback);
        assert_eq!(
            (p.frame_bytes(), p.period_bytes(), p.ring_frames()),
            (4, 192, 192)
        );
        assert_eq!(p.memory_bytes(), 4096);
        assert_eq!(p.period_ticks(1000), Some(1));
        assert_eq!(p.period_ticks(4000), Some(4));
        assert_eq!(
            p.period_ticks(300),
            None,
            "48 frames at 300 Hz is no whole tick"
        );
        let wide = DaiParams { bits: 24, ..p };
        assert_eq!(wide.frame_bytes(), 8);
    }

    #[test]
    fn playback_moves_only_a_full_period() {
        let p = params(Direction::Playback);
        assert_eq!(step(&p, 0, 0, W), Step::Xrun, "empty");
        assert_eq!(step(&p, 0, 47, W), Step::Xrun, "less than a period");
        assert_eq!(
            step(&p, 0, 48, W),
            Step::Move {
                offset: HEADER_BYTES
            }
        );
        assert_eq!(
            step(&p, 48 * 5, 48 * 7, W),
            Step::Move {
                offset: HEADER_BYTES + 48 * 4
            }
        );
        assert_eq!(
            step(&p, 0, 48 * 5, W),
            Step::Xrun,
            "more than the ring: a lie"
        );
        assert_eq!(step(&p, 10, 5, W), Step::Xrun, "behind the position: a lie");
        // Across the boundary: the last period before it is the ring's
        // last; a position at or past it cannot be.
        let wrap = p.wrap_at();
        assert_eq!(
            step(&p, wrap - 48, 48, wrap),
            Step::Move {
                offset: HEADER_BYTES + 48 * 3 * 4
            }
        );
        assert_eq!(
            step(&p, 0, 96, wrap),
            Step::Move {
                offset: HEADER_BYTES
            },
            "the first period after it, the ring's first"
        );
        assert_eq!(step(&p, wrap - 48, wrap, wrap), Step::Xrun, "APPL at B");
        assert_eq!(step(&p, wrap - 48, u32::MAX, wrap), Step::Xrun);
        assert_eq!(step(&p, wrap, 48, wrap), Step::Xrun, "HW at B");
    }

    #[test]
    fn capture_moves_while_there_is_room() {
        let p = params(Direction::Capture);
        assert_eq!(
            step(&p, 0, 0, W),
            Step::Move {
                offset: HEADER_BYTES
            }
        );
        assert_eq!(
            step(&p, 48 * 3, 0, W),
            Step::Move {
                offset: HEADER_BYTES + 48 * 3 * 4
            }
        );
        assert_eq!(step(&p, 48 * 4, 0, W), Step::Xrun, "full");
        assert_eq!(
            step(&p, 0, 48, W),
            Step::Xrun,
            "read ahead of the DMA: a lie"
        );
        // Across the boundary: three periods captured, one free.
        assert_eq!(
            step(&p, 48, W - 96, W),
            Step::Move {
                offset: HEADER_BYTES + 48 * 4
            }
        );
        assert_eq!(step(&p, 96, W - 96, W), Step::Xrun, "full");
        assert_eq!(step(&p, 0, W, W), Step::Xrun, "APPL at B");
    }

    /// Ring sizes: ones that divide 2^32 and ones that do not.
    const RINGS: [u32; 10] = [1, 2, 3, 48, 192, 256, 384, 4096, 48 * 7, (1 << 31) + 1];

    /// A deterministic stream of random words.
    fn random() -> impl FnMut() -> u32 {
        let mut x = 0x9E37_79B9u32;
        move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        }
    }

    #[test]
    fn the_boundary_is_the_largest_multiple_of_the_ring_in_a_word() {
        assert_eq!(wrap_at(0), 0);
        assert_eq!(wrap_at(1), u32::MAX);
        assert_eq!(wrap_at(256), 0u32.wrapping_sub(256));
        assert_eq!(wrap_at(192), 4_294_967_232);
        assert_eq!(wrap_at(384), 4_294_967_040);
        for ring in RINGS {
            let wrap = u64::from(wrap_at(ring));
            let ring = u64::from(ring);
            assert_eq!(wrap % ring, 0, "{ring}");
            assert!(wrap + ring > u64::from(u32::MAX), "{ring}: the largest");
        }
        assert_eq!(params(Direction::Playback).wrap_at(), W);
    }

    #[test]
    fn advance_and_distance_count_modulo_the_boundary() {
        let mut next = random();
        for ring in RINGS {
            let wrap = wrap_at(ring);
            let w = u64::from(wrap);
            let mut positions = vec![0, 1, ring - 1, wrap / 2, wrap - ring, wrap - 1];
            positions.extend((0..200).map(|_| next() % wrap));
            for &pos in &positions {
                let mut frames = vec![0, 1, ring, wrap - 1 - pos, wrap - pos, wrap - 1, wrap];
                frames.extend((0..20).map(|_| next() % wrap));
                for frames in frames {
                    let expected = (u64::from(pos) + u64::from(frames)) % w;
                    let got = advance(pos, frames, wrap);
                    assert_eq!(u64::from(got), expected, "{ring}: {pos} + {frames}");
                    assert_eq!(
                        distance(pos, got, wrap),
                        if frames == wrap { 0 } else { frames },
                        "{ring}: {pos} .. {got}"
                    );
                }
                for &to in &positions {
                    let expected = (u64::from(to) + w - u64::from(pos)) % w;
                    assert_eq!(u64::from(distance(pos, to, wrap)), expected);
                }
            }
        }
        // Positions that cannot be: some value, no panic.
        for ring in RINGS {
            let wrap = wrap_at(ring);
            for pos in [wrap, u32::MAX] {
                advance(pos, ring, wrap);
                distance(pos, 0, wrap);
                distance(0, pos, wrap);
            }
        }
    }

    /// A position advancing by periods visits the ring's periods in order
    /// across the boundary (2^32 is no multiple of 192 or 384 frames).
    #[test]
    fn a_position_stays_on_the_period_grid_across_the_boundary() {
        for ring_periods in [4u16, 8, 5, 3] {
            let p = DaiParams {
                ring_periods,
                ..params(Direction::Playback)
            };
            let (ring, wrap) = (p.ring_frames(), p.wrap_at());
            let periods = u32::from(ring_periods);
            let mut hw = wrap - 3 * 48;
            let mut slot = (hw % ring) / 48;
            for _ in 0..3 * periods {
                let appl = advance(hw, 48, wrap);
                let Step::Move { offset } = step(&p, hw, appl, wrap) else {
                    panic!("{ring}: an xrun at {hw}");
                };
                assert_eq!(offset, HEADER_BYTES + slot * 48 * 4, "{ring}: at {hw}");
                hw = appl;
                slot = (slot + 1) % periods;
            }
            assert_eq!(hw, 48 * (3 * periods - 3));
        }
    }
}
