//! The components. Each processes interleaved stereo Q1.31 samples.

use crate::q31::{self, mul, saturate};
use crate::{CHANNELS, RATE};

/// A sine source: both channels, a phase accumulator over a 2^32 turn.
#[derive(Clone, Debug)]
pub struct Sine {
    phase: u32,
    step: u32,
    amplitude: i32,
}

impl Sine {
    /// `frequency` Hz at `amplitude` (Q1.31).
    pub fn new(frequency: u32, amplitude: i32) -> Sine {
        let step = ((u64::from(frequency) << 32) / u64::from(RATE)) as u32;
        Sine {
            phase: 0,
            step,
            amplitude,
        }
    }

    /// The phase of the next frame (a 2^32 turn), the whole state a
    /// restart must keep.
    pub fn phase(&self) -> u32 {
        self.phase
    }

    /// Continue from `phase` (see [`Sine::phase`]).
    pub fn set_phase(&mut self, phase: u32) {
        self.phase = phase;
    }

    /// Fill `out` (frames of both channels).
    pub fn process(&mut self, out: &mut [i32]) {
        for frame in out.chunks_exact_mut(CHANNELS) {
            let sample = mul(q31::sine(self.phase), self.amplitude);
            frame.fill(sample);
            self.phase = self.phase.wrapping_add(self.step);
        }
    }
}

/// A gain that ramps linearly from `start` to `target` over `ramp_frames`,
/// then holds.
#[derive(Clone, Debug)]
pub struct Gain {
    current: i64,
    target: i32,
    step: i64,
    remaining: u32,
}

impl Gain {
    /// A ramp from `start` to `target` (Q1.31) over `ramp_frames` frames.
    pub fn new(start: i32, target: i32, ramp_frames: u32) -> Gain {
        let frames = i64::from(ramp_frames.max(1));
        let step = (i64::from(target) - i64::from(start)) / frames;
        Gain {
            current: i64::from(start),
            target,
            step,
            remaining: ramp_frames,
        }
    }

    /// The gain the next frame gets.
    pub fn current(&self) -> i32 {
        if self.remaining == 0 {
            self.target
        } else {
            saturate(self.current)
        }
    }

    /// Where the ramp is: the gain (64-bit, before saturation) and the
    /// ramp frames left; start, target and step come from the pipeline.
    pub fn position(&self) -> (i64, u32) {
        (self.current, self.remaining)
    }

    /// Continue the ramp from `position` (see [`Gain::position`]).
    pub fn set_position(&mut self, (current, remaining): (i64, u32)) {
        self.current = current;
        self.remaining = remaining;
    }

    /// Apply in place.
    pub fn process(&mut self, samples: &mut [i32]) {
        for frame in samples.chunks_exact_mut(CHANNELS) {
            let gain = self.current();
            for sample in frame.iter_mut() {
                *sample = mul(*sample, gain);
            }
            if self.remaining > 0 {
                self.remaining -= 1;
                self.current += self.step;
            }
        }
    }
}

/// Two inputs summed, saturating.
pub fn mix(a: &[i32], b: &[i32], out: &mut [i32]) {
    for ((out, a), b) in out.iter_mut().zip(a).zip(b) {
        *out = q31::add(*a, *b);
    }
}

/// Most FIR taps.
pub const MAX_TAPS: usize = 64;

/// A FIR filter per channel, Q1.31 coefficients, 64-bit accumulation.
#[derive(Clone, Debug)]
pub struct Fir {
    /// The coefficients, split (see [`Split`]).
    taps: heapless::Vec<Split, MAX_TAPS>,
    /// Each input, split, twice (at `position` and `position + taps`), so
    /// the newest `taps` inputs are always one contiguous slice: the inner
    /// loop is a plain dot product, with no index wrap-around.
    history: [[Split; 2 * MAX_TAPS]; CHANNELS],
    position: usize,
}

/// A Q1.31 value as `high * 2^16 + low`: `high` signed, `low` in
/// 0..=65535. The dc233c has no 32x32->64 multiply (no MULSH), so a 64-bit
/// product is a library call of ~70 instructions; with split operands a
/// product is four 32-bit multiplies, and sums of the parts stay exact.
#[derive(Clone, Copy, Debug, Default)]
struct Split {
    high: i16,
    low: u16,
}

impl Split {
    const fn of(value: i32) -> Split {
        Split {
            high: (value >> 16) as i16,
            low: value as u16,
        }
    }

    const fn value(self) -> i32 {
        (self.high as i32) << 16 | self.low as i32
    }
}

/// `round(sum(taps[k] * samples[k]) / 2^31)` before saturation, the sum
/// taken modulo 2^64 exactly as a wrapping 64-bit accumulator would.
///
/// Every partial product fits in 32 bits; the loop keeps five 32-bit sums
/// that cannot overflow for 64 taps (no carries to propagate, which the
/// core has no instruction for): the high products only matter modulo
/// 2^32 (they are shifted left by 32), and the middle and low products are
/// summed as their upper and lower 16-bit halves.
fn dot(taps: &[Split], samples: &[Split]) -> i64 {
    let mut high: u32 = 0; // weight 2^32, wrapping
    let mut middle_upper: i32 = 0; // weight 2^32: |sum| <= 128 * 2^15
    let mut middle_lower: u32 = 0; // weight 2^16: sum <= 128 * 0xFFFF
    let mut low_upper: u32 = 0; // weight 2^16: sum <= 64 * 0xFFFF
    let mut low_lower: u32 = 0; // weight 1: sum <= 64 * 0xFFFF
    for (tap, sample) in taps.iter().zip(samples) {
        let (tap_high, sample_high) = (i32::from(tap.high), i32::from(sample.high));
        let (tap_low, sample_low) = (i32::from(tap.low), i32::from(sample.low));
        high = high.wrapping_add((tap_high * sample_high) as u32);
        // |high| <= 2^15 and low < 2^16: both fit in an i32.
        let (middle_a, middle_b) = (tap_high * sample_low, tap_low * sample_high);
        middle_upper += (middle_a >> 16) + (middle_b >> 16);
        middle_lower += (middle_a & 0xFFFF) as u32 + (middle_b & 0xFFFF) as u32;
        let low = u32::from(tap.low) * u32::from(sample.low);
        low_upper += low >> 16;
        low_lower += low & 0xFFFF;
    }
    let sum = (u64::from(high.wrapping_add(middle_upper as u32)) << 32)
        .wrapping_add(u64::from(middle_lower + low_upper) << 16)
        .wrapping_add(u64::from(low_lower));
    (sum.wrapping_add(1 << 30) as i64) >> 31
}

impl Fir {
    /// A filter with these coefficients (1..=64 of them).
    pub fn new(taps: &[i32]) -> Fir {
        let taps = taps[..taps.len().min(MAX_TAPS)]
            .iter()
            .map(|tap| Split::of(*tap))
            .collect();
        Fir {
            taps,
            history: [[Split::default(); 2 * MAX_TAPS]; CHANNELS],
            position: 0,
        }
    }

    /// Its coefficients.
    pub fn taps(&self) -> usize {
        self.taps.len()
    }

    /// The history, newest input first, per channel, into `out` (`taps()`
    /// samples per channel, the channels one after the other): the whole
    /// state a restart must keep (with the coefficients, which come from
    /// the pipeline).
    pub fn history(&self, out: &mut impl FnMut(i32)) {
        let count = self.taps.len();
        for channel in &self.history {
            for split in &channel[self.position..self.position + count] {
                out(split.value());
            }
        }
    }

    /// Continue from a history [`Fir::history`] gave: `next` yields
    /// `taps()` samples per channel, newest first.
    pub fn set_history(&mut self, next: &mut impl FnMut() -> i32) {
        let count = self.taps.len();
        self.position = 0;
        for channel in self.history.iter_mut() {
            for k in 0..count {
                let split = Split::of(next());
                channel[k] = split;
                channel[k + count] = split;
            }
        }
    }

    /// Filter interleaved `input` into `output` (same length).
    pub fn process(&mut self, input: &[i32], output: &mut [i32]) {
        let count = self.taps.len();
        if count == 0 {
            output.copy_from_slice(input);
            return;
        }
        for (frame_in, frame_out) in input
            .chunks_exact(CHANNELS)
            .zip(output.chunks_exact_mut(CHANNELS))
        {
            self.position = self.position.checked_sub(1).unwrap_or(count - 1);
            let position = self.position;
            for channel in 0..CHANNELS {
                let history = &mut self.history[channel];
                let sample = Split::of(frame_in[channel]);
                history[position] = sample;
                history[position + count] = sample;
                // Newest first: tap k meets the input k frames back.
                frame_out[channel] =
                    saturate(dot(&self.taps, &history[position..position + count]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Fir, Gain, MAX_TAPS, Sine, Split, dot, mix};
    use crate::PERIOD_FRAMES;
    use crate::q31::{from_ratio, mul};

    #[test]
    fn gain_ramp_hits_its_endpoints_exactly() {
        let (start, target) = (from_ratio(1, 4), from_ratio(3, 4));
        let mut gain = Gain::new(start, target, 480);
        assert_eq!(gain.current(), start);
        let mut block = vec![from_ratio(1, 2); 2 * 480];
        gain.process(&mut block);
        assert_eq!(
            block[0],
            mul(from_ratio(1, 2), start),
            "first frame at the start gain"
        );
        assert_eq!(gain.current(), target, "the ramp ends on the target");
        let mut after = vec![from_ratio(1, 2); 4];
        gain.process(&mut after);
        assert_eq!(after[0], mul(from_ratio(1, 2), target));
        // Linear in between: frame k gets start + k * step, the step being
        // (target - start) / 480 rounded towards zero; the last ramp frame
        // is less than two steps short of the target.
        let step = (target - start) / 480;
        for (k, frame) in block.chunks(2).enumerate() {
            let gain = start + k as i32 * step;
            assert_eq!(frame[0], mul(from_ratio(1, 2), gain), "frame {k}");
            assert_eq!(frame[0], frame[1], "both channels get the same gain");
        }
        assert!(target - (start + 479 * step) < 2 * step);
    }

    #[test]
    fn mixer_saturates_instead_of_wrapping() {
        let mut out = [0; 4];
        mix(
            &[i32::MAX, i32::MIN, 100, -5],
            &[1000, -1000, 23, 5],
            &mut out,
        );
        assert_eq!(out, [i32::MAX, i32::MIN, 123, 0]);
    }

    #[test]
    fn the_split_dot_product_is_the_64_bit_one() {
        // Extremes and pseudo-random values (a fixed LCG).
        let mut state = 0x1234_5678u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state as i32
        };
        for round in 0..200 {
            let count = 1 + round % MAX_TAPS;
            let (taps, samples): (Vec<i32>, Vec<i32>) = (0..count)
                .map(|k| match round {
                    0 => (i32::MIN, i32::MIN),
                    1 => (i32::MAX, i32::MIN),
                    2 => (i32::MAX, i32::MAX),
                    3 => (-1, 1 - 2 * (k as i32 & 1)),
                    _ => (next(), next()),
                })
                .unzip();
            let wide = taps.iter().zip(&samples).fold(1i64 << 30, |acc, (t, s)| {
                acc.wrapping_add(i64::from(*t) * i64::from(*s))
            }) >> 31;
            let split =
                |values: &[i32]| -> Vec<Split> { values.iter().map(|v| Split::of(*v)).collect() };
            assert_eq!(dot(&split(&taps), &split(&samples)), wide, "round {round}");
        }
    }

    #[test]
    fn fir_impulse_response_is_its_taps() {
        let taps: Vec<i32> = (1..=32).map(|k| from_ratio(k, 64)).collect();
        let mut fir = Fir::new(&taps);
        let mut input = vec![0i32; 2 * 40];
        input[0] = i32::MAX; // an impulse on the left channel only
        let mut output = vec![0i32; input.len()];
        fir.process(&input, &mut output);
        for (k, tap) in taps.iter().enumerate() {
            assert!(
                (output[2 * k] - mul(i32::MAX, *tap)).abs() <= 1,
                "left tap {k}"
            );
            assert_eq!(output[2 * k + 1], 0, "right stays silent");
        }
        assert!(
            output[2 * 32..].iter().all(|s| *s == 0),
            "the response ends after the taps"
        );
    }

    #[test]
    fn sine_has_its_frequency() {
        let mut sine = Sine::new(1000, i32::MAX);
        let mut out = vec![0i32; 2 * 48 * 10];
        for chunk in out.chunks_mut(2 * PERIOD_FRAMES) {
            sine.process(chunk);
        }
        // 1 kHz at 48 kHz: 48 frames per cycle, 20 zero crossings in 10 ms.
        let left: Vec<i32> = out.chunks(2).map(|frame| frame[0]).collect();
        let crossings = left
            .windows(2)
            .filter(|pair| (pair[0] < 0) != (pair[1] < 0))
            .count();
        assert!((19..=20).contains(&crossings), "{crossings}");
        assert_eq!(out[0], out[1], "both channels");
    }
}
