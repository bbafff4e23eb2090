//! A service-side driver for a DAI (`sotto_abi::dai`): the registers and
//! the sample ring in the DAI's memory object, which the kernel's model
//! of the DMA engine reads and writes in its timer interrupt.
//!
//! The driver sees the region as words ([`AtomicU32`]: the kernel changes
//! them between any two instructions of the service). It checks the
//! format words the kernel publishes against what the pipeline produces
//! (48 kHz, stereo, 48-frame periods; 16-, 24- or 32-bit samples) when it
//! attaches, and from then on moves whole periods:
//!
//! - playback: [`Dai::start_playback`] writes the first period at the
//!   hardware position `HW`, sets `APPL` a period past it and `CONTROL`
//!   to run, so the DMA's first period is that one (no leading xrun);
//!   [`Dai::write_period`] writes each next one at `APPL`. Q1.31 samples
//!   become the DAI's format: 16-bit rounded as [`crate::q31::to_i16`],
//!   24-bit as [`crate::q31::to_i24`] (sign-extended in 4 bytes), 32-bit
//!   as they are.
//! - capture: [`Dai::start_capture`] sets `APPL = HW` and runs the DMA;
//!   [`Dai::peek_period`] reads the period at `APPL` once the DMA has
//!   captured it and [`Dai::release_period`] gives its slot back. The
//!   DAI's samples become Q1.31: 16-bit `<< 16`, 24-bit `<< 8` (the low
//!   3 bytes; the container's top byte is ignored), 32-bit as they are.
//!
//! `APPL` is the driver's own word (kept in the region, so a restarted
//! driver finds it); `HW`, `XRUNS`, `PERIODS` and `STATUS` are the
//! kernel's. Positions count modulo the ring's boundary
//! ([`sotto_abi::dai::wrap_at`]), moved and compared with
//! [`dai::advance`] and [`dai::distance`] as the kernel does. A position
//! that cannot be (`APPL` more than a ring away from `HW`, at or past
//! the boundary, or not on a period) is put back on `HW`: the periods
//! between are dropped, as a real driver recovers from an xrun.
//!
//! A [`Timeline`] ties the pipeline's periods to the playback DAI's: the
//! DAI's position when the pipeline's period 0 was written. The DMA
//! consumes a period every DMA period whether or not the pipeline wrote
//! one (an xrun plays silence), so the periods the pipeline owes are the
//! DAI's position less the timeline's base: counted from the DAI itself,
//! across restarts of the pipeline (the base is saved with its state).

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

pub use sotto_abi::dai::Direction;
use sotto_abi::dai::{self, HEADER_BYTES, RUN, SAMPLE_BITS, container_bytes, reg};

use crate::q31::{to_i16, to_i24};
use crate::{CHANNELS, PERIOD_FRAMES, PERIOD_SAMPLES, RATE};

/// Words of registers before the samples.
const HEADER_WORDS: usize = HEADER_BYTES as usize / 4;

/// Frames per period, as the registers count them.
const PERIOD: u32 = PERIOD_FRAMES as u32;

/// Why a DAI cannot carry the pipeline's periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaiError {
    /// The region is smaller than the registers, or than the ring the
    /// format words describe.
    TooSmall {
        /// Bytes of the region.
        bytes: usize,
        /// Bytes it needs.
        needs: u64,
    },
    /// The DAI moves samples the other way.
    Direction {
        /// What the driver was asked for.
        expected: Direction,
    },
    /// A format word is not what the pipeline produces.
    Format {
        /// Which word.
        what: &'static str,
        /// What the pipeline needs.
        expected: u32,
        /// What the kernel published.
        found: u32,
    },
    /// A sample width the DAI model does not have.
    Bits(u32),
    /// A ring that is not two or more whole periods.
    Ring(u32),
}

impl fmt::Display for DaiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaiError::TooSmall { bytes, needs } => write!(
                f,
                "the DAI's region is {bytes} bytes; its registers and ring need {needs}"
            ),
            DaiError::Direction { expected } => {
                write!(f, "the DAI is not a {} DAI", expected.name())
            }
            DaiError::Format {
                what,
                expected,
                found,
            } => write!(
                f,
                "the DAI's {what} is {found}; the pipeline needs {expected}"
            ),
            DaiError::Bits(bits) => write!(f, "{bits}-bit samples: not 16, 24 or 32"),
            DaiError::Ring(frames) => write!(
                f,
                "a ring of {frames} frames is not two or more whole {PERIOD}-frame periods"
            ),
        }
    }
}

/// The registers read at one instant (no DMA period between the reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Frames the DMA moved.
    pub hw: u32,
    /// Frames the driver wrote (playback) or read (capture).
    pub appl: u32,
    /// DMA periods run while the DAI ran.
    pub periods: u32,
    /// Of them, xruns.
    pub xruns: u32,
    /// `sotto_abi::dai::status` bits.
    pub status: u32,
}

/// A DAI's registers and ring, attached (format checked).
pub struct Dai<'a> {
    words: &'a [AtomicU32],
    direction: Direction,
    bits: u8,
    ring_frames: u32,
    /// The boundary positions count modulo (`dai::wrap_at`).
    wrap: u32,
    frame_words: usize,
}

impl<'a> Dai<'a> {
    /// The DAI in `words` (its memory object, mapped), which must move
    /// samples in `direction` in the pipeline's format.
    pub fn attach(words: &'a [AtomicU32], direction: Direction) -> Result<Dai<'a>, DaiError> {
        if words.len() < HEADER_WORDS {
            return Err(DaiError::TooSmall {
                bytes: words.len() * 4,
                needs: u64::from(HEADER_BYTES),
            });
        }
        let word = |index: usize| words[index].load(Ordering::Acquire);
        let code = match direction {
            Direction::Playback => 0,
            Direction::Capture => 1,
        };
        if word(reg::DIRECTION) != code {
            return Err(DaiError::Direction {
                expected: direction,
            });
        }
        for (what, index, expected) in [
            ("rate", reg::RATE, RATE),
            ("channel count", reg::CHANNELS, CHANNELS as u32),
            ("period", reg::PERIOD_FRAMES, PERIOD),
        ] {
            let found = word(index);
            if found != expected {
                return Err(DaiError::Format {
                    what,
                    expected,
                    found,
                });
            }
        }
        let bits = word(reg::BITS);
        let bits = SAMPLE_BITS
            .into_iter()
            .find(|known| u32::from(*known) == bits)
            .ok_or(DaiError::Bits(bits))?;
        let ring_frames = word(reg::RING_FRAMES);
        if ring_frames < 2 * PERIOD || !ring_frames.is_multiple_of(PERIOD) {
            return Err(DaiError::Ring(ring_frames));
        }
        let frame_bytes = CHANNELS as u32 * container_bytes(bits);
        let needs = u64::from(HEADER_BYTES) + u64::from(ring_frames) * u64::from(frame_bytes);
        if (words.len() as u64) * 4 < needs {
            return Err(DaiError::TooSmall {
                bytes: words.len() * 4,
                needs,
            });
        }
        Ok(Dai {
            words,
            direction,
            bits,
            ring_frames,
            wrap: dai::wrap_at(ring_frames),
            frame_words: frame_bytes as usize / 4,
        })
    }

    /// Its sample width (16, 24 or 32).
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Frames its ring holds.
    pub fn ring_frames(&self) -> u32 {
        self.ring_frames
    }

    /// The boundary its positions count modulo (`dai::wrap_at` of its
    /// ring's frames).
    pub fn wrap(&self) -> u32 {
        self.wrap
    }

    fn load(&self, index: usize) -> u32 {
        self.words[index].load(Ordering::Acquire)
    }

    fn store(&self, index: usize, value: u32) {
        self.words[index].store(value, Ordering::Release);
    }

    /// Whether the DMA runs (`CONTROL` holds `RUN`).
    pub fn running(&self) -> bool {
        self.load(reg::CONTROL) == RUN
    }

    /// The registers, read with no DMA period between the reads (the
    /// kernel writes them all in one interrupt; `PERIODS` changes with
    /// every DMA period, so equal reads before and after mean none ran).
    pub fn snapshot(&self) -> Snapshot {
        let mut periods = self.load(reg::PERIODS);
        loop {
            let snapshot = Snapshot {
                hw: self.load(reg::HW),
                appl: self.load(reg::APPL),
                periods,
                xruns: self.load(reg::XRUNS),
                status: self.load(reg::STATUS),
            };
            let again = self.load(reg::PERIODS);
            if again == periods {
                return snapshot;
            }
            periods = again;
        }
    }

    /// Frames of data in the ring at `snapshot` (written and not played,
    /// or captured and not read), if the positions can be: at most a
    /// ring, a whole number of periods, and below the boundary.
    fn level_at(&self, snapshot: &Snapshot) -> Option<u32> {
        let (hw, appl, wrap) = (snapshot.hw, snapshot.appl, self.wrap);
        if hw >= wrap || appl >= wrap {
            return None;
        }
        let level = match self.direction {
            Direction::Playback => dai::distance(hw, appl, wrap),
            Direction::Capture => dai::distance(appl, hw, wrap),
        };
        (level <= self.ring_frames && level.is_multiple_of(PERIOD)).then_some(level)
    }

    /// Frames of data in the ring now (0 if the positions cannot be).
    pub fn level(&self) -> u32 {
        self.level_at(&self.snapshot()).unwrap_or(0)
    }

    /// Xruns the kernel counted (the hardware's count).
    pub fn xruns(&self) -> u32 {
        self.load(reg::XRUNS)
    }

    /// The stream position of the next period played, in periods: DMA
    /// periods run (played or xrun) plus the periods pending in the ring
    /// (running), or the DMA periods run (stopped: the first period
    /// written is the next the DMA takes).
    pub fn position(&self) -> u32 {
        let snapshot = self.snapshot();
        if self.running() {
            (snapshot.periods).wrapping_add(self.level_at(&snapshot).unwrap_or(0) / PERIOD)
        } else {
            snapshot.periods
        }
    }

    /// Periods that can be written now (playback; a stopped DAI or one
    /// whose positions cannot be takes a whole ring).
    pub fn room(&self) -> u32 {
        let level = if self.running() {
            self.level_at(&self.snapshot()).unwrap_or(0)
        } else {
            0
        };
        (self.ring_frames - level) / PERIOD
    }

    /// Periods captured and not read yet (capture).
    pub fn available(&self) -> u32 {
        self.level_at(&self.snapshot()).unwrap_or(0) / PERIOD
    }

    /// The words of the period at stream position `frames`, if it is on
    /// a period (positions only ever move by periods) below the boundary.
    fn period_words(&self, frames: u32) -> Option<&[AtomicU32]> {
        if !frames.is_multiple_of(PERIOD) || frames >= self.wrap {
            return None;
        }
        let start = HEADER_WORDS + (frames % self.ring_frames) as usize * self.frame_words;
        self.words
            .get(start..start + PERIOD_FRAMES * self.frame_words)
    }

    fn put(&self, frames: u32, period: &[i32; PERIOD_SAMPLES]) -> bool {
        let Some(words) = self.period_words(frames) else {
            return false;
        };
        match self.bits {
            16 => {
                for (word, pair) in words.iter().zip(period.chunks_exact(2)) {
                    let low = to_i16(pair[0]) as u16 as u32;
                    let high = to_i16(pair[1]) as u16 as u32;
                    word.store(low | high << 16, Ordering::Relaxed);
                }
            }
            24 => {
                for (word, sample) in words.iter().zip(period) {
                    word.store(to_i24(*sample) as u32, Ordering::Relaxed);
                }
            }
            _ => {
                for (word, sample) in words.iter().zip(period) {
                    word.store(*sample as u32, Ordering::Relaxed);
                }
            }
        }
        true
    }

    /// Start playback with `first` (stopping the DMA first if it ran:
    /// what was pending is dropped): it is written at `HW`, `APPL` set a
    /// period past it, then `CONTROL` to run. The DMA's next period plays
    /// it.
    pub fn start_playback(&mut self, first: &[i32; PERIOD_SAMPLES]) {
        self.store(reg::CONTROL, 0);
        let hw = self.load(reg::HW);
        let hw = hw - hw % PERIOD;
        self.put(hw, first);
        self.store(reg::APPL, dai::advance(hw, PERIOD, self.wrap));
        self.store(reg::CONTROL, RUN);
    }

    /// Write the next period at `APPL` and advance it; false (nothing
    /// written) if the ring is full. A position that cannot be is put
    /// back on `HW` first.
    pub fn write_period(&mut self, period: &[i32; PERIOD_SAMPLES]) -> bool {
        let snapshot = self.snapshot();
        let appl = match self.level_at(&snapshot) {
            Some(level) if level + PERIOD > self.ring_frames => return false,
            Some(_) => snapshot.appl,
            None => snapshot.hw,
        };
        if !self.put(appl, period) {
            return false;
        }
        self.store(reg::APPL, dai::advance(appl, PERIOD, self.wrap));
        true
    }

    /// Start capture: `APPL = HW` (nothing captured yet), then `CONTROL`
    /// to run.
    pub fn start_capture(&mut self) {
        self.store(reg::CONTROL, 0);
        let hw = self.load(reg::HW);
        self.store(reg::APPL, hw - hw % PERIOD);
        self.store(reg::CONTROL, RUN);
    }

    /// Read the captured period at `APPL` into `out` (Q1.31) without
    /// giving its slot back ([`Dai::release_period`] does); false if none
    /// is there. A position that cannot be is put back on `HW` (what was
    /// captured is dropped).
    pub fn peek_period(&mut self, out: &mut [i32; PERIOD_SAMPLES]) -> bool {
        let snapshot = self.snapshot();
        let Some(level) = self.level_at(&snapshot) else {
            self.store(reg::APPL, snapshot.hw);
            return false;
        };
        if level < PERIOD {
            return false;
        }
        let Some(words) = self.period_words(snapshot.appl) else {
            return false;
        };
        match self.bits {
            16 => {
                for (word, pair) in words.iter().zip(out.chunks_exact_mut(2)) {
                    let value = word.load(Ordering::Relaxed);
                    pair[0] = i32::from(value as u16 as i16) << 16;
                    pair[1] = i32::from((value >> 16) as u16 as i16) << 16;
                }
            }
            24 => {
                for (word, sample) in words.iter().zip(out.iter_mut()) {
                    *sample = (word.load(Ordering::Relaxed) << 8) as i32;
                }
            }
            _ => {
                for (word, sample) in words.iter().zip(out.iter_mut()) {
                    *sample = word.load(Ordering::Relaxed) as i32;
                }
            }
        }
        true
    }

    /// Give the period [`Dai::peek_period`] read back to the DMA.
    pub fn release_period(&mut self) {
        let appl = self.load(reg::APPL);
        self.store(reg::APPL, dai::advance(appl, PERIOD, self.wrap));
    }

    /// [`Dai::peek_period`] and [`Dai::release_period`].
    pub fn read_period(&mut self, out: &mut [i32; PERIOD_SAMPLES]) -> bool {
        let read = self.peek_period(out);
        if read {
            self.release_period();
        }
        read
    }

    /// `APPL`, the driver's position (frames).
    pub fn appl(&self) -> u32 {
        self.load(reg::APPL)
    }

    /// Put `APPL` back to `frames` (a restored capture position), if it
    /// is one the ring can be at now; whether it was.
    pub fn resume_at(&mut self, frames: u32) -> bool {
        let hw = self.load(reg::HW);
        let snapshot = Snapshot {
            hw,
            appl: frames,
            periods: 0,
            xruns: 0,
            status: 0,
        };
        let ok = self.level_at(&snapshot).is_some();
        if ok {
            self.store(reg::APPL, frames);
        }
        ok
    }

    /// Stop the DMA.
    pub fn stop(&mut self) {
        self.store(reg::CONTROL, 0);
    }
}

/// Where the pipeline's periods are in the playback DAI's stream, kept
/// with the pipeline's state across restarts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// The playback DAI's [`Dai::position`] of the pipeline's period 0
    /// (once playback started).
    pub base: Option<u32>,
    /// The capture DAI's `APPL` after the last period the pipeline read
    /// (a capture pipeline).
    pub capture: Option<u32>,
}

impl Timeline {
    /// Words a saved timeline takes.
    pub const WORDS: usize = 3;

    /// As words, to save.
    pub fn to_words(&self) -> [u32; Self::WORDS] {
        [
            u32::from(self.base.is_some()) | u32::from(self.capture.is_some()) << 1,
            self.base.unwrap_or(0),
            self.capture.unwrap_or(0),
        ]
    }

    /// A timeline [`Timeline::to_words`] saved.
    pub fn from_words(words: [u32; Self::WORDS]) -> Timeline {
        Timeline {
            base: (words[0] & 1 != 0).then_some(words[1]),
            capture: (words[0] & 2 != 0).then_some(words[2]),
        }
    }

    /// The pipeline's period the playback DAI takes next: periods it
    /// played or went without since period 0, and those pending. (A
    /// count of periods, not a position: `PERIODS` runs modulo 2^32, so
    /// the difference is exact across its wrap.)
    pub fn due(&self, playback: &Dai<'_>) -> Option<u32> {
        self.base.map(|base| playback.position().wrapping_sub(base))
    }
}

/// A host model of the kernel's DMA engine, for tests: the contract of
/// `sotto_abi::dai` (the kernel's own position, `step` on the service's
/// `APPL`, the file written or read a period at a time).
#[cfg(test)]
pub(crate) mod model {
    use core::sync::atomic::{AtomicU32, Ordering};

    use sotto_abi::dai::{DaiParams, Direction, RUN, Step, advance, reg, status, step};

    /// One DAI: its registers and ring, its file and the kernel's counts.
    pub struct Dma {
        pub params: DaiParams,
        pub words: Vec<AtomicU32>,
        hw: u32,
        pub xruns: u32,
        pub periods: u32,
        /// Playback: what was written to the file; capture: the file.
        pub file: Vec<u8>,
        read_at: usize,
    }

    impl Dma {
        pub fn new(direction: Direction, bits: u8, ring_periods: u16) -> Dma {
            let params = DaiParams {
                direction,
                ring: 0,
                rate: 48_000,
                channels: 2,
                bits,
                period_frames: 48,
                ring_periods,
                notify: None,
            };
            let words = (0..params.memory_bytes() / 4)
                .map(|_| AtomicU32::new(0))
                .collect();
            let dma = Dma {
                params,
                words,
                hw: 0,
                xruns: 0,
                periods: 0,
                file: Vec::new(),
                read_at: 0,
            };
            dma.publish(0);
            dma
        }

        /// A capture DAI reading `file`.
        pub fn capture(bits: u8, ring_periods: u16, file: Vec<u8>) -> Dma {
            let mut dma = Dma::new(Direction::Capture, bits, ring_periods);
            dma.file = file;
            dma
        }

        /// Put the DMA's position at `hw` (published), as if it had run
        /// that long.
        pub fn set_position(&mut self, hw: u32) {
            self.hw = hw;
            self.publish(0);
        }

        fn set(&self, index: usize, value: u32) {
            self.words[index].store(value, Ordering::SeqCst);
        }

        fn publish(&self, bits: u32) {
            let p = &self.params;
            self.set(reg::HW, self.hw);
            self.set(reg::XRUNS, self.xruns);
            self.set(reg::PERIODS, self.periods);
            self.set(reg::STATUS, bits);
            self.set(reg::RATE, p.rate);
            self.set(reg::CHANNELS, u32::from(p.channels));
            self.set(reg::BITS, u32::from(p.bits));
            self.set(reg::PERIOD_FRAMES, u32::from(p.period_frames));
            self.set(reg::RING_FRAMES, p.ring_frames());
            self.set(
                reg::DIRECTION,
                match p.direction {
                    Direction::Playback => 0,
                    Direction::Capture => 1,
                },
            );
        }

        /// One DMA period.
        pub fn period(&mut self) {
            if self.words[reg::CONTROL].load(Ordering::SeqCst) != RUN {
                self.publish(0);
                return;
            }
            let appl = self.words[reg::APPL].load(Ordering::SeqCst);
            let bytes = self.params.period_bytes() as usize;
            let mut bits = status::RUNNING;
            let wrap = self.params.wrap_at();
            match step(&self.params, self.hw, appl, wrap) {
                Step::Move { offset } => {
                    let word = offset as usize / 4;
                    let words = &self.words[word..word + bytes / 4];
                    match self.params.direction {
                        Direction::Playback => {
                            for w in words {
                                self.file
                                    .extend_from_slice(&w.load(Ordering::SeqCst).to_le_bytes());
                            }
                        }
                        Direction::Capture => {
                            for (k, w) in words.iter().enumerate() {
                                let mut value = [0u8; 4];
                                for (i, byte) in value.iter_mut().enumerate() {
                                    *byte = self
                                        .file
                                        .get(self.read_at + 4 * k + i)
                                        .copied()
                                        .unwrap_or(0);
                                }
                                w.store(u32::from_le_bytes(value), Ordering::SeqCst);
                            }
                            self.read_at += bytes;
                            if self.read_at >= self.file.len() {
                                bits |= status::END_OF_INPUT;
                            }
                        }
                    }
                    self.hw = advance(self.hw, u32::from(self.params.period_frames), wrap);
                }
                Step::Xrun => {
                    match self.params.direction {
                        Direction::Playback => self.file.extend(std::iter::repeat_n(0, bytes)),
                        Direction::Capture => self.read_at += bytes,
                    }
                    self.xruns += 1;
                }
            }
            self.periods += 1;
            self.publish(bits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::model::Dma;
    use super::{Dai, DaiError, Timeline};
    use crate::{PERIOD_FRAMES, PERIOD_SAMPLES};
    use sotto_abi::dai::{Direction, reg};

    fn period(seed: i32) -> [i32; PERIOD_SAMPLES] {
        core::array::from_fn(|i| {
            seed.wrapping_mul(0x0101_0101)
                .wrapping_add(i as i32 * 0x0123_4567)
        })
    }

    #[test]
    fn attaching_checks_the_format_the_kernel_publishes() {
        let dma = Dma::new(Direction::Playback, 16, 4);
        assert!(Dai::attach(&dma.words, Direction::Playback).is_ok());
        assert_eq!(
            Dai::attach(&dma.words, Direction::Capture).err(),
            Some(DaiError::Direction {
                expected: Direction::Capture
            })
        );
        dma.words[reg::CHANNELS].store(1, core::sync::atomic::Ordering::SeqCst);
        let error = Dai::attach(&dma.words, Direction::Playback).err().unwrap();
        assert_eq!(
            format!("{error}"),
            "the DAI's channel count is 1; the pipeline needs 2"
        );
        dma.words[reg::CHANNELS].store(2, core::sync::atomic::Ordering::SeqCst);
        dma.words[reg::BITS].store(20, core::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            Dai::attach(&dma.words, Direction::Playback).err(),
            Some(DaiError::Bits(20))
        );
        dma.words[reg::BITS].store(32, core::sync::atomic::Ordering::SeqCst);
        dma.words[reg::RING_FRAMES].store(48 * 100, core::sync::atomic::Ordering::SeqCst);
        assert!(matches!(
            Dai::attach(&dma.words, Direction::Playback),
            Err(DaiError::TooSmall { .. })
        ));
        dma.words[reg::RING_FRAMES].store(50, core::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            Dai::attach(&dma.words, Direction::Playback).err(),
            Some(DaiError::Ring(50))
        );
        assert!(Dai::attach(&dma.words[..3], Direction::Playback).is_err());
    }

    /// The file of a playback DAI the driver keeps fed: the first period
    /// written is the file's first, no xrun, each format as promised.
    #[test]
    fn playback_plays_every_period_in_order_in_each_format() {
        for bits in [16u8, 24, 32] {
            let mut dma = Dma::new(Direction::Playback, bits, 4);
            let periods: Vec<[i32; PERIOD_SAMPLES]> = (0..20).map(period).collect();
            {
                let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
                assert!(!dai.running());
                assert_eq!(dai.room(), 4);
                dai.start_playback(&periods[0]);
            }
            for p in &periods[1..] {
                dma.period();
                let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
                assert_eq!(dai.level(), 0, "played");
                assert!(dai.write_period(p));
            }
            dma.period();
            assert_eq!((dma.periods, dma.xruns), (20, 0));
            let expected: Vec<u8> = periods
                .iter()
                .flatten()
                .flat_map(|sample| match bits {
                    16 => crate::q31::to_i16(*sample).to_le_bytes().to_vec(),
                    24 => crate::q31::to_i24(*sample).to_le_bytes().to_vec(),
                    _ => sample.to_le_bytes().to_vec(),
                })
                .collect();
            assert!(dma.file == expected, "{bits}-bit");
        }
    }

    #[test]
    fn a_full_playback_ring_refuses_a_period_and_an_empty_one_xruns() {
        let mut dma = Dma::new(Direction::Playback, 16, 4);
        let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
        dai.start_playback(&period(1));
        for seed in 2..=4 {
            assert!(dai.write_period(&period(seed)));
        }
        assert_eq!(dai.room(), 0);
        assert!(!dai.write_period(&period(5)), "full");
        assert_eq!(dai.position(), 4, "four periods pending");
        for _ in 0..6 {
            dma.period();
        }
        let dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
        assert_eq!((dma.xruns, dai.xruns()), (2, 2));
        assert_eq!(dai.position(), 6, "4 played, 2 xruns, none pending");
        assert_eq!(dma.file.len(), 6 * 192);
        assert!(dma.file[4 * 192..].iter().all(|b| *b == 0));
    }

    #[test]
    fn an_impossible_position_is_put_back_on_the_hardware_position() {
        let mut dma = Dma::new(Direction::Playback, 16, 4);
        let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
        dai.start_playback(&period(1));
        dma.period();
        // Scribbled: a position behind the DMA's.
        dma.words[reg::APPL].store(5, core::sync::atomic::Ordering::SeqCst);
        dma.period();
        assert_eq!(dma.xruns, 1);
        let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
        assert!(dai.write_period(&period(2)));
        assert_eq!(dai.appl(), 2 * PERIOD_FRAMES as u32);
        dma.period();
        assert_eq!((dma.periods, dma.xruns), (3, 1));
        assert_eq!(dma.file.len(), 3 * 192);
    }

    #[test]
    fn capture_reads_each_period_once_in_each_format() {
        for bits in [16u8, 24, 32] {
            let container = if bits == 16 { 2 } else { 4 };
            let samples = 10 * PERIOD_SAMPLES;
            // Every sample a distinct value, with garbage in the top byte
            // of 24-bit containers (the driver ignores it).
            let file: Vec<u8> = (0..samples)
                .flat_map(|i| {
                    let v = (i as i32 * 7919 - 300_000) as u32;
                    match bits {
                        16 => (v as u16).to_le_bytes().to_vec(),
                        24 => ((v & 0xFF_FFFF) | 0x5A00_0000).to_le_bytes().to_vec(),
                        _ => v.wrapping_mul(65_537).to_le_bytes().to_vec(),
                    }
                })
                .collect();
            assert_eq!(file.len(), samples * container);
            let mut dma = Dma::capture(bits, 4, file.clone());
            let mut got = Vec::new();
            {
                let mut dai = Dai::attach(&dma.words, Direction::Capture).unwrap();
                dai.start_capture();
                let mut out = [0; PERIOD_SAMPLES];
                assert!(!dai.read_period(&mut out), "nothing captured yet");
            }
            for _ in 0..12 {
                dma.period();
                let mut dai = Dai::attach(&dma.words, Direction::Capture).unwrap();
                assert_eq!(dai.available(), 1);
                let mut out = [0; PERIOD_SAMPLES];
                assert!(dai.read_period(&mut out));
                assert!(!dai.read_period(&mut out), "once");
                got.extend_from_slice(&out);
            }
            let expected: Vec<i32> = file
                .chunks_exact(container)
                .map(|c| match bits {
                    16 => i32::from(i16::from_le_bytes([c[0], c[1]])) << 16,
                    24 => (u32::from_le_bytes([c[0], c[1], c[2], 0]) << 8) as i32,
                    _ => i32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                })
                .chain(core::iter::repeat_n(0, 2 * PERIOD_SAMPLES))
                .collect();
            assert!(got == expected, "{bits}-bit");
            assert_eq!(dma.xruns, 0);
        }
    }

    #[test]
    fn a_capture_ring_left_unread_xruns_and_drops_the_files_periods() {
        let file: Vec<u8> = (0..10 * PERIOD_SAMPLES as u32)
            .flat_map(|i| (i << 16).to_le_bytes())
            .collect();
        let mut dma = Dma::capture(32, 4, file);
        Dai::attach(&dma.words, Direction::Capture)
            .unwrap()
            .start_capture();
        for _ in 0..6 {
            dma.period();
        }
        assert_eq!(dma.xruns, 2, "four periods fill the ring");
        let mut dai = Dai::attach(&dma.words, Direction::Capture).unwrap();
        assert_eq!(dai.available(), 4);
        let mut out = [0; PERIOD_SAMPLES];
        for p in 0..4 {
            assert!(dai.read_period(&mut out));
            assert_eq!(out[0], (p * PERIOD_SAMPLES as i32) << 16);
        }
        dma.period();
        let mut dai = Dai::attach(&dma.words, Direction::Capture).unwrap();
        assert!(dai.read_period(&mut out));
        assert_eq!(out[0], (6 * PERIOD_SAMPLES as i32) << 16, "4 and 5 lost");
    }

    /// Each position a few periods before the ring's boundary (2^32 is
    /// no multiple of 192 or 384 frames).
    fn near_the_boundary(dma: &Dma, periods: u32) -> u32 {
        dma.params.wrap_at() - periods * PERIOD_FRAMES as u32
    }

    /// Playback started a few periods before the positions' boundary and
    /// kept fed across it: no xrun, the file is every period in order,
    /// bit-exact.
    #[test]
    fn playback_plays_on_across_the_positions_boundary() {
        for ring_periods in [4u16, 8, 5] {
            let mut dma = Dma::new(Direction::Playback, 32, ring_periods);
            dma.set_position(near_the_boundary(&dma, 3));
            let periods: Vec<[i32; PERIOD_SAMPLES]> = (0..30).map(period).collect();
            let mut next = periods.iter();
            {
                let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
                dai.start_playback(next.next().unwrap());
                while dai.room() > 0 {
                    assert!(dai.write_period(next.next().unwrap()));
                }
            }
            for p in next {
                dma.period();
                let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
                assert_eq!(dai.room(), 1, "{ring_periods}: one played");
                assert!(dai.write_period(p));
            }
            for _ in 0..ring_periods {
                dma.period();
            }
            assert_eq!((dma.periods, dma.xruns), (30, 0), "{ring_periods}");
            let expected: Vec<u8> = periods
                .iter()
                .flatten()
                .flat_map(|s| s.to_le_bytes())
                .collect();
            assert!(
                dma.file == expected,
                "{ring_periods}: not every period in order"
            );
            let dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
            assert_eq!(
                dai.snapshot().hw,
                27 * PERIOD_FRAMES as u32,
                "past the boundary"
            );
        }
    }

    /// Capture across the boundary the same way: each period of the file
    /// read once, in order; a capture position saved before the boundary
    /// is one the ring can resume at after it.
    #[test]
    fn capture_reads_on_across_the_positions_boundary() {
        for ring_periods in [4u16, 8, 5] {
            let file: Vec<u8> = (0..20 * PERIOD_SAMPLES as u32)
                .flat_map(|i| i.wrapping_mul(0x9E37_79B9).to_le_bytes())
                .collect();
            let mut dma = Dma::capture(32, ring_periods, file.clone());
            let start = near_the_boundary(&dma, 2);
            dma.set_position(start);
            Dai::attach(&dma.words, Direction::Capture)
                .unwrap()
                .start_capture();
            dma.period();
            dma.period();
            let mut dai = Dai::attach(&dma.words, Direction::Capture).unwrap();
            assert_eq!(dai.available(), 2);
            let mut got = Vec::new();
            let mut out = [0; PERIOD_SAMPLES];
            assert!(dai.peek_period(&mut out));
            assert!(
                dai.resume_at(start),
                "{ring_periods}: from before the boundary"
            );
            for _ in 0..20 {
                let mut dai = Dai::attach(&dma.words, Direction::Capture).unwrap();
                assert!(dai.read_period(&mut out), "{ring_periods}");
                got.extend(out.iter().flat_map(|s| s.to_le_bytes()));
                dma.period();
            }
            assert!(got == file, "{ring_periods}: not every period in order");
            assert_eq!(dma.xruns, 0);
        }
    }

    #[test]
    fn the_timeline_counts_the_periods_the_dai_took() {
        let mut dma = Dma::new(Direction::Playback, 16, 4);
        // The DMA ran before (another stream): the timeline starts here.
        let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
        dai.start_playback(&period(0));
        for _ in 0..3 {
            dma.period();
        }
        let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
        let timeline = Timeline {
            base: Some(dai.position()),
            capture: None,
        };
        assert_eq!(timeline.due(&dai), Some(0));
        dai.write_period(&period(1));
        assert_eq!(timeline.due(&dai), Some(1));
        dma.period();
        dma.period();
        let dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
        assert_eq!(timeline.due(&dai), Some(2), "one played, one xrun");
        assert_eq!(Timeline::from_words(timeline.to_words()), timeline);
        assert_eq!(
            Timeline::from_words(Timeline::default().to_words()),
            Timeline::default()
        );
    }
}
