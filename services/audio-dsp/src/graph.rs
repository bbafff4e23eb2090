//! Running a pipeline: one LL period of every LL component, or one block
//! of a DP component, on rings in the shared buffer region. The services
//! call these, and so does the host reference: the emulated system and the
//! reference run the same code on the same data.

use crate::config::{Kind, MAX_BUFFERS, Pipeline, State};
use crate::ring::Cursor;
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
    /// The ring ends the LL side owns.
    ll_ends: Ends,
}

/// The ring ends one runner owns, by buffer: it alone moves the write
/// index of a buffer it writes and the read index of one it reads (each
/// ring has one writer and one reader; the LL side is one runner, each DP
/// component another).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ends {
    /// Bit b: this runner writes buffer b.
    pub write: u8,
    /// Bit b: this runner reads buffer b.
    pub read: u8,
}

impl Ends {
    /// The ends of the components `runs` picks (by index).
    fn of(pipeline: &Pipeline, runs: impl Fn(usize) -> bool) -> Ends {
        let mut ends = Ends::default();
        for (index, component) in pipeline.components.iter().enumerate() {
            if !runs(index) {
                continue;
            }
            if let Some(output) = component.output {
                ends.write |= 1 << output;
            }
            for input in &component.inputs {
                ends.read |= 1 << input;
            }
        }
        ends
    }

    /// The LL side's: every component that is not DP.
    pub fn ll(pipeline: &Pipeline) -> Ends {
        Ends::of(pipeline, |index| !pipeline.components[index].is_dp())
    }

    /// DP component `index`'s.
    pub fn dp(pipeline: &Pipeline, index: usize) -> Ends {
        Ends::of(pipeline, |at| at == index)
    }

    fn owns(&self, buffer: usize) -> bool {
        (self.write | self.read) & 1 << buffer != 0
    }
}

/// A period or block computed but not yet visible: its output samples
/// are in free slots of the rings and its inputs are read, but the
/// indices that say so are not published. A runner that keeps its state
/// across restarts saves it with these cursors, then [`Staged::publish`]es
/// them: a fault before the save leaves the rings as they were before the
/// period (it is computed again, or counted missed), one after it is
/// completed on restore by publishing the saved cursors again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Staged {
    /// The ends this runner owns.
    pub ends: Ends,
    /// Every buffer's indices before the period (as published then).
    pub before: [Cursor; MAX_BUFFERS],
    /// After it (only the owned ends differ).
    pub after: [Cursor; MAX_BUFFERS],
}

impl Staged {
    /// Nothing staged yet: the published indices.
    pub fn load(pipeline: &Pipeline, region: &[u8], ends: Ends) -> Staged {
        let mut before = [Cursor::default(); MAX_BUFFERS];
        for (cursor, buffer) in before.iter_mut().zip(&pipeline.buffers) {
            *cursor = Cursor::load(&region[buffer.range()]);
        }
        Staged {
            ends,
            before,
            after: before,
        }
    }

    /// Publish the owned ends: writes first (the new samples become
    /// readable), then reads (the slots read become free).
    pub fn publish(&self, pipeline: &Pipeline, region: &mut [u8]) {
        for (b, buffer) in pipeline.buffers.iter().enumerate() {
            if self.ends.write & 1 << b != 0 {
                self.after[b].publish_write(&mut region[buffer.range()]);
            }
        }
        for (b, buffer) in pipeline.buffers.iter().enumerate() {
            if self.ends.read & 1 << b != 0 {
                self.after[b].publish_read(&mut region[buffer.range()]);
            }
        }
    }

    /// Whether the rings are as these cursors were saved against: each
    /// owned end published either before the period (the fault came
    /// before publishing) or after it, and every cursor possible for its
    /// ring. Not so when the rings were reset or another pipeline's.
    pub fn matches(&self, pipeline: &Pipeline, region: &[u8]) -> bool {
        pipeline.buffers.iter().enumerate().all(|(b, buffer)| {
            if !self.ends.owns(b) {
                return true;
            }
            let bytes = &region[buffer.range()];
            let now = Cursor::load(bytes);
            let (before, after) = (self.before[b], self.after[b]);
            let write_ok = self.ends.write & 1 << b == 0
                || now.write == before.write
                || now.write == after.write;
            let read_ok =
                self.ends.read & 1 << b == 0 || now.read == before.read || now.read == after.read;
            write_ok && read_ok && before.fits(bytes) && after.fits(bytes)
        })
    }
}

impl Graph {
    /// Fresh state for `pipeline`.
    pub fn new(pipeline: &Pipeline) -> Graph {
        let mut graph = Graph::empty();
        graph.reset(pipeline);
        graph
    }

    /// A graph of no components, for [`Graph::reset`] to fill in place:
    /// a graph is large (some 10 KiB), and a runner's stack holds one
    /// next to its scratch, so it is not built elsewhere and copied.
    #[inline(always)]
    pub const fn empty() -> Graph {
        Graph {
            states: heapless::Vec::new(),
            underruns: 0,
            starved: 0,
            periods: 0,
            ll_ends: Ends { write: 0, read: 0 },
        }
    }

    /// Fresh state for `pipeline` again, in place.
    pub fn reset(&mut self, pipeline: &Pipeline) {
        self.states.clear();
        for component in &pipeline.components {
            // As many as the pipeline's own list holds.
            let _ = self.states.push(component.state());
        }
        self.underruns = 0;
        self.starved = 0;
        self.periods = 0;
        self.ll_ends = Ends::ll(pipeline);
    }

    /// `periods` DAI periods went by without the pipeline running (the
    /// playback DAI played silence: xruns, see
    /// [`crate::dai_ring::Timeline`]): each is an underrun. Nothing upstream
    /// ran either, so no data is lost, only late — as after an underrun
    /// for want of DP output.
    pub fn missed_periods(&mut self, periods: u32) {
        self.periods += periods;
        self.underruns += periods;
    }

    /// One LL period: every non-DP component in order. A capture
    /// component's output is `input` (the period the capture DAI
    /// captured; silence if None). The sink's period lands in `out`
    /// (silence on underrun).
    pub fn ll_period(
        &mut self,
        pipeline: &Pipeline,
        region: &mut [u8],
        input: Option<&[i32; PERIOD_SAMPLES]>,
        out: &mut [i32; PERIOD_SAMPLES],
    ) {
        self.ll_stage(pipeline, region, input, out)
            .publish(pipeline, region);
    }

    /// A period the DAI went without while a restarted pipeline was down:
    /// every LL component runs it, as it would have, but the sink's
    /// output is dropped (the DAI played silence: an underrun). What the
    /// pipeline plays after such periods is what an uninterrupted one
    /// plays at that time. Publish the result as [`Graph::ll_stage`]'s.
    pub fn ll_stage_missed(&mut self, pipeline: &Pipeline, region: &mut [u8]) -> Staged {
        let mut out = [0i32; PERIOD_SAMPLES];
        let underruns = self.underruns;
        let staged = self.ll_stage(pipeline, region, None, &mut out);
        self.underruns = underruns + 1;
        staged
    }

    /// [`Graph::ll_period`] without publishing: the result, for the
    /// caller to save and then publish.
    pub fn ll_stage(
        &mut self,
        pipeline: &Pipeline,
        region: &mut [u8],
        input: Option<&[i32; PERIOD_SAMPLES]>,
        out: &mut [i32; PERIOD_SAMPLES],
    ) -> Staged {
        let mut staged = Staged::load(pipeline, region, self.ll_ends);
        let cursors = &mut staged.after;
        out.fill(0);
        for (component, state) in pipeline.components.iter().zip(self.states.iter_mut()) {
            if component.is_dp() {
                continue;
            }
            let bytes = |buffer: u8| pipeline.buffers[buffer as usize].range();
            let mut a = [0i32; PERIOD_SAMPLES];
            let mut b = [0i32; PERIOD_SAMPLES];
            let inputs_ok =
                component
                    .inputs
                    .iter()
                    .zip([&mut a, &mut b])
                    .all(|(input, samples)| {
                        cursors[*input as usize].levels(&region[bytes(*input)]).0 >= samples.len()
                    });
            let room = component.output.is_none_or(|output| {
                cursors[output as usize].levels(&region[bytes(output)]).1 >= PERIOD_SAMPLES
            });
            if matches!(state, State::Sink) {
                self.periods += 1;
                let Some(input) = component.inputs.first() else {
                    continue;
                };
                if !cursors[*input as usize].read(&region[bytes(*input)], out) {
                    self.underruns += 1;
                }
                continue;
            }
            if !inputs_ok || !room {
                self.starved += 1;
                continue;
            }
            for (input, samples) in component.inputs.iter().zip([&mut a, &mut b]) {
                cursors[*input as usize].read(&region[bytes(*input)], samples);
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
                State::Capture => {
                    if let Some(input) = input {
                        result = *input;
                    }
                }
                State::Sink => {}
            }
            if let Some(output) = component.output {
                cursors[output as usize].write(&mut region[bytes(output)], &result);
            }
        }
        staged
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
        match self.dp_stage(pipeline, region, index, scratch) {
            Some(staged) => {
                staged.publish(pipeline, region);
                true
            }
            None => false,
        }
    }

    /// [`Graph::dp_block`] without publishing (see [`Graph::ll_stage`]);
    /// None if it was not ready.
    pub fn dp_stage(
        &mut self,
        pipeline: &Pipeline,
        region: &mut [u8],
        index: usize,
        scratch: &mut [i32],
    ) -> Option<Staged> {
        if !Self::dp_ready(pipeline, region, index) {
            return None;
        }
        let component = &pipeline.components[index];
        let (Kind::Fir { block_frames, .. }, State::Fir(fir), Some(output)) =
            (&component.kind, &mut self.states[index], component.output)
        else {
            return None;
        };
        let mut staged = Staged::load(pipeline, region, Ends::dp(pipeline, index));
        let range = |buffer: u8| pipeline.buffers[buffer as usize].range();
        let block = *block_frames as usize * CHANNELS;
        let (input, rest) = scratch.split_at_mut(block);
        let input_buffer = component.inputs[0];
        staged.after[input_buffer as usize].read(&region[range(input_buffer)], input);
        fir.process(input, &mut rest[..block]);
        staged.after[output as usize].write(&mut region[range(output)], &rest[..block]);
        Some(staged)
    }
}
