//! The pipeline description: buffers (rings at offsets in one shared
//! region) and components in execution order. `cargo xtask` builds it from
//! a pipeline file and places it, postcard-encoded, in a read-only memory
//! region the pipeline services are granted; the host reference reads the
//! same value.

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

use crate::component::{Fir, Gain, MAX_TAPS, Sine};

/// Most buffers.
pub const MAX_BUFFERS: usize = 8;
/// Most components.
pub const MAX_COMPONENTS: usize = 8;
/// Size of the configuration region.
pub const CONFIG_SIZE: usize = 4096;
/// Marks a written configuration.
pub const MAGIC: [u8; 4] = *b"SOTP";

/// A ring in the shared buffer region.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Byte offset in the region.
    pub offset: u32,
    /// Capacity in samples.
    pub samples: u32,
    /// Samples of silence it starts with (latency before a DP stage).
    pub prefill: u32,
}

impl Buffer {
    /// Its bytes (header and samples) within the buffer region.
    pub fn range(&self) -> core::ops::Range<usize> {
        let start = self.offset as usize;
        start..start + crate::ring::bytes_for(self.samples as usize)
    }
}

/// What a component does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "fixed-size, no heap: a pipeline has at most 8 components"
)]
pub enum Kind {
    /// Sine source.
    Sine {
        /// Hz.
        frequency: u32,
        /// Q1.31.
        amplitude: i32,
    },
    /// Gain with a linear ramp.
    Gain {
        /// Q1.31 gain at the start.
        start: i32,
        /// Q1.31 gain after the ramp.
        target: i32,
        /// Ramp length in frames.
        ramp_frames: u32,
    },
    /// Two inputs summed.
    Mixer,
    /// FIR filter on blocks of `block_frames`; `dp` runs it as a DP task.
    Fir {
        /// Q1.31 coefficients.
        taps: Vec<i32, MAX_TAPS>,
        /// Frames per run.
        block_frames: u32,
        /// Run by the DP scheduler (else in the LL tick).
        dp: bool,
    },
    /// The playback end: each period goes to the playback DAI.
    Sink,
    /// The capture end: a source whose output is each period the capture
    /// DAI captured (the runner reads it and hands it to the graph).
    DaiCapture,
}

/// One component: name, kind, input and output buffers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Component {
    /// Name, for reports.
    pub name: String<16>,
    /// What it is.
    pub kind: Kind,
    /// Input buffers (0, 1 or 2).
    pub inputs: Vec<u8, 2>,
    /// Output buffer.
    pub output: Option<u8>,
}

/// A whole pipeline.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Pipeline {
    /// Buffers.
    pub buffers: Vec<Buffer, MAX_BUFFERS>,
    /// Components, in the order each tick runs them.
    pub components: Vec<Component, MAX_COMPONENTS>,
}

/// The running state of one component.
#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "fixed-size, no heap: a pipeline has at most 8 components"
)]
pub enum State {
    /// A source.
    Sine(Sine),
    /// A gain.
    Gain(Gain),
    /// A mixer.
    Mixer,
    /// A FIR.
    Fir(Fir),
    /// The sink.
    Sink,
    /// The capture source.
    Capture,
}

impl Component {
    /// Fresh processing state.
    pub fn state(&self) -> State {
        match &self.kind {
            Kind::Sine {
                frequency,
                amplitude,
            } => State::Sine(Sine::new(*frequency, *amplitude)),
            Kind::Gain {
                start,
                target,
                ramp_frames,
            } => State::Gain(Gain::new(*start, *target, *ramp_frames)),
            Kind::Mixer => State::Mixer,
            Kind::Fir { taps, .. } => State::Fir(Fir::new(taps)),
            Kind::Sink => State::Sink,
            Kind::DaiCapture => State::Capture,
        }
    }

    /// Whether the DP scheduler runs it.
    pub fn is_dp(&self) -> bool {
        matches!(self.kind, Kind::Fir { dp: true, .. })
    }
}

impl Pipeline {
    /// Encode into the configuration region's contents.
    pub fn encode(&self) -> Option<[u8; CONFIG_SIZE]> {
        let mut bytes = [0u8; CONFIG_SIZE];
        bytes[..4].copy_from_slice(&MAGIC);
        postcard::to_slice(self, &mut bytes[4..]).ok()?;
        Some(bytes)
    }

    /// Decode the configuration region.
    pub fn decode(bytes: &[u8]) -> Option<Pipeline> {
        postcard::from_bytes(bytes.strip_prefix(&MAGIC[..])?).ok()
    }

    /// Whether a component captures from the capture DAI.
    pub fn captures(&self) -> bool {
        self.components
            .iter()
            .any(|component| matches!(component.kind, Kind::DaiCapture))
    }

    /// Indices of the components the DP scheduler runs, in order.
    pub fn dp_components(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.components.len()).filter(|index| self.components[*index].is_dp())
    }

    /// Bytes of the shared region the buffers need.
    pub fn region_bytes(&self) -> usize {
        self.buffers
            .iter()
            .map(|buffer| buffer.range().end)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::{Buffer, Component, Kind, Pipeline};

    #[test]
    fn round_trips() {
        let mut pipeline = Pipeline::default();
        pipeline
            .buffers
            .push(Buffer {
                offset: 0,
                samples: 960,
                prefill: 0,
            })
            .unwrap();
        pipeline
            .components
            .push(Component {
                name: heapless::String::try_from("tone").unwrap(),
                kind: Kind::Fir {
                    taps: heapless::Vec::from_slice(&[1, 2, 3]).unwrap(),
                    block_frames: 480,
                    dp: true,
                },
                inputs: heapless::Vec::new(),
                output: Some(0),
            })
            .unwrap();
        let bytes = pipeline.encode().unwrap();
        assert_eq!(Pipeline::decode(&bytes), Some(pipeline.clone()));
        assert!(pipeline.components[0].is_dp());
        assert_eq!(pipeline.region_bytes(), 16 + 960 * 4);
        assert_eq!(Pipeline::decode(&[0u8; 16]), None);
    }
}
