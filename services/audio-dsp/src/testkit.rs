//! Pipelines for the crate's host tests, built in code: a component of a
//! name, kind and rings, and a pipeline of rings of four blocks each, with
//! its buffer region formatted and prefilled as the build would.

use crate::CHANNELS;
use crate::config::{Buffer, Component, Kind, Pipeline};
use crate::ring::{Ring, bytes_for};

/// A component reading `inputs` and writing `output` (ring indices).
pub fn component(name: &str, kind: Kind, inputs: &[u8], output: Option<u8>) -> Component {
    Component {
        name: heapless::String::try_from(name).unwrap(),
        kind,
        inputs: heapless::Vec::from_slice(inputs).unwrap(),
        output,
    }
}

/// `components` on one ring per entry of `prefills`, each four blocks of
/// `block_frames` long and holding that many samples of silence; the
/// pipeline and its formatted buffer region.
pub fn pipeline_of(
    block_frames: u32,
    prefills: &[u32],
    components: impl IntoIterator<Item = Component>,
) -> (Pipeline, Vec<u8>) {
    let mut pipeline = Pipeline::default();
    let samples = 4 * block_frames * CHANNELS as u32;
    let mut offset = 0;
    for &prefill in prefills {
        pipeline
            .buffers
            .push(Buffer {
                offset,
                samples,
                prefill,
            })
            .unwrap();
        offset += bytes_for(samples as usize) as u32;
    }
    for component in components {
        pipeline.components.push(component).unwrap();
    }
    let mut region = vec![0u8; pipeline.region_bytes()];
    for buffer in &pipeline.buffers {
        let mut ring = Ring::format(&mut region[buffer.range()]);
        assert!(ring.write(&vec![0; buffer.prefill as usize]));
    }
    (pipeline, region)
}
