//! Running a pipeline: one LL period of every LL component, or one block
//! of a DP component, on rings in the shared buffer region. The services
//! call these, and so does the host reference: the emulated system and the
//! reference run the same code on the same data.

use crate::config::{Kind, Pipeline, State};
use crate::ring::Ring;
use crate::{CHANNELS, PERIOD_SAMPLES};

/// The processing state of every component, in pipeline order.
pub struct Graph {
    /// One per component.
    pub states: heapless::Vec<State, { crate::config::MAX_COMPONENTS }>,
    /// Sink periods that found no data, and DAI periods that passed while
    /// the pipeline did not run ([`Graph::missed_periods`]).
    pub underruns: u32,
    /// LL components that could not run for want of input or room.
    pub starved: u32,
    /// Periods the DAI consumed: played by the sink, or missed.
    pub periods: u32,
}

fn ring<'r>(pipeline: &Pipeline, region: &'r mut [u8], buffer: u8) -> Ring<'r> {
    Ring::attach(&mut region[pipeline.buffers[buffer as usize].range()])
}

impl Graph {
    /// Fresh state for `pipeline`.
    pub fn new(pipeline: &Pipeline) -> Graph {
        Graph {
            states: pipeline
                .components
                .iter()
                .map(|component| component.state())
                .collect(),
            underruns: 0,
            starved: 0,
            periods: 0,
        }
    }

    /// `periods` DAI periods went by without the pipeline running (see
    /// [`crate::dai::DaiClock`]): each is an underrun. Nothing upstream
    /// ran either, so no data is lost, only late — as after an underrun
    /// for want of DP output.
    pub fn missed_periods(&mut self, periods: u32) {
        self.periods += periods;
        self.underruns += periods;
    }

    /// One LL period: every non-DP component in order. The sink's period
    /// lands in `out` (silence on underrun).
    pub fn ll_period(
        &mut self,
        pipeline: &Pipeline,
        region: &mut [u8],
        out: &mut [i32; PERIOD_SAMPLES],
    ) {
        out.fill(0);
        for (component, state) in pipeline.components.iter().zip(self.states.iter_mut()) {
            if component.is_dp() {
                continue;
            }
            let mut a = [0i32; PERIOD_SAMPLES];
            let mut b = [0i32; PERIOD_SAMPLES];
            let inputs_ok = component
                .inputs
                .iter()
                .zip([&mut a, &mut b])
                .all(|(input, samples)| ring(pipeline, region, *input).levels().0 >= samples.len());
            let room = component
                .output
                .is_none_or(|output| ring(pipeline, region, output).levels().1 >= PERIOD_SAMPLES);
            if matches!(state, State::Sink) {
                self.periods += 1;
                let Some(input) = component.inputs.first() else {
                    continue;
                };
                if !ring(pipeline, region, *input).read(out) {
                    self.underruns += 1;
                }
                continue;
            }
            if !inputs_ok || !room {
                self.starved += 1;
                continue;
            }
            for (input, samples) in component.inputs.iter().zip([&mut a, &mut b]) {
                ring(pipeline, region, *input).read(samples);
            }
            let mut result = [0i32; PERIOD_SAMPLES];
            match state {
                State::Sine(sine) => sine.process(&mut result),
                State::Gain(gain) => {
                    result = a;
                    gain.process(&mut result);
                }
                State::Fir(fir) => fir.process(&a, &mut result),
                State::Mixer => crate::component::mix(&a, &b, &mut result),
                State::Sink => {}
            }
            if let Some(output) = component.output {
                ring(pipeline, region, output).write(&result);
            }
        }
    }

    /// Whether DP component `index` can run a block now.
    pub fn dp_ready(pipeline: &Pipeline, region: &[u8], index: usize) -> bool {
        let component = &pipeline.components[index];
        let (Some(input), Some(output), Kind::Fir { block_frames, .. }) =
            (component.inputs.first(), component.output, &component.kind)
        else {
            return false;
        };
        let level =
            |buffer: u8| crate::ring::levels(&region[pipeline.buffers[buffer as usize].range()]);
        let block = *block_frames as usize * CHANNELS;
        crate::edf::ready(level(*input).0, level(output).1, block)
    }

    /// One block of DP component `index`; false if it was not ready.
    pub fn dp_block(
        &mut self,
        pipeline: &Pipeline,
        region: &mut [u8],
        index: usize,
        scratch: &mut [i32],
    ) -> bool {
        if !Self::dp_ready(pipeline, region, index) {
            return false;
        }
        let component = &pipeline.components[index];
        let (Kind::Fir { block_frames, .. }, State::Fir(fir)) =
            (&component.kind, &mut self.states[index])
        else {
            return false;
        };
        let block = *block_frames as usize * CHANNELS;
        let (input, output) = scratch.split_at_mut(block);
        ring(pipeline, region, component.inputs[0]).read(input);
        fir.process(input, &mut output[..block]);
        ring(pipeline, region, component.output.unwrap_or(0)).write(&output[..block]);
        true
    }
}

/// A period as base64 of little-endian 16-bit samples (what the sink
/// streams to the host): 192 bytes make 256 characters.
pub fn pcm_base64(period: &[i32; PERIOD_SAMPLES], out: &mut [u8; 256]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = [0u8; PERIOD_SAMPLES * 2];
    for (i, sample) in period.iter().enumerate() {
        bytes[2 * i..2 * i + 2].copy_from_slice(&crate::q31::to_i16(*sample).to_le_bytes());
    }
    for (chunk, quad) in bytes.chunks(3).zip(out.chunks_mut(4)) {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        for (k, slot) in quad.iter_mut().enumerate() {
            *slot = ALPHABET[(n >> (18 - 6 * k) & 63) as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pcm_base64;
    use crate::PERIOD_SAMPLES;

    #[test]
    fn pcm_lines_are_base64_of_16_bit_samples() {
        let mut period = [0i32; PERIOD_SAMPLES];
        period[0] = i32::MAX;
        period[1] = i32::MIN;
        let mut out = [0u8; 256];
        pcm_base64(&period, &mut out);
        // 0x7fff, 0x8000 little-endian: ff 7f 00 80 ...
        assert_eq!(&out[..8], b"/38AgAAA");
        assert!(out[8..].iter().all(|c| *c == b'A'));
    }
}
