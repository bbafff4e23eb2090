//! Pipeline files (`pipeline.toml`): the audio topology and parameters,
//! turned into the configuration the pipeline services read and the initial
//! contents of the shared buffer region (rings formatted, DP outputs
//! pre-filled with `DP_PREFILL_BLOCKS` blocks of silence). Each DP
//! component may have its own block size (`block_frames` in its
//! `[[component]]`; the file's top-level `block_frames` is the default):
//! a ring holds `RING_BLOCKS` of the largest block among the file's
//! default and the blocks of its writer and reader, and a DP component's
//! output starts with `DP_PREFILL_BLOCKS` of that component's blocks.
//! A `dai-capture` component (at most one) is a source whose output is
//! each period the capture DAI captured; the `sink` plays to the playback
//! DAI. Errors name the file, the component and the field.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use audio_dsp::config::{Buffer, Component, Kind, Pipeline};
use audio_dsp::ring::{Ring, bytes_for};
use audio_dsp::{CHANNELS, MAX_BLOCK_FRAMES, PERIOD_FRAMES, RATE};
use serde::Deserialize;

/// Blocks of silence a DP stage's output starts with: its latency, which
/// lets the DP task finish within a block period without the LL side ever
/// running dry.
pub const DP_PREFILL_BLOCKS: u32 = 2;
/// Every ring holds this many blocks (of the largest of the default block,
/// its writer's and its reader's): a DP input takes a block while the next
/// one arrives, a DP output holds its prefill and room for one more.
const RING_BLOCKS: u32 = 4;
/// The longest gain ramp (ms): ten minutes.
const MAX_RAMP_MS: u32 = 600_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Frames per DP block (default 480: 10 ms).
    #[serde(default = "default_block")]
    block_frames: u32,
    #[serde(rename = "buffer", default)]
    buffers: Vec<BufferEntry>,
    #[serde(rename = "component", default)]
    components: Vec<ComponentEntry>,
}

fn default_block() -> u32 {
    480
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BufferEntry {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentEntry {
    name: String,
    kind: String,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    inputs: Vec<String>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    frequency: Option<u32>,
    #[serde(default)]
    amplitude: Option<f64>,
    #[serde(default)]
    start: Option<f64>,
    #[serde(default)]
    target: Option<f64>,
    #[serde(default)]
    ramp_ms: Option<u32>,
    #[serde(default)]
    taps: Option<usize>,
    #[serde(default)]
    cutoff_hz: Option<f64>,
    #[serde(default)]
    dp: bool,
    /// Frames per block of a DP component (default: the file's).
    #[serde(default)]
    block_frames: Option<u32>,
}

/// A built pipeline: its description and the buffer region's contents.
pub struct Built {
    /// Encoded description (the configuration region's contents).
    pub config: Vec<u8>,
    /// The buffer region's initial contents.
    pub buffers: Vec<u8>,
}

fn q31(value: f64, what: &str) -> Result<i32> {
    // 1.0 itself is allowed and becomes the largest Q1.31 value.
    if !(-1.0..=1.0).contains(&value) {
        bail!("{what}: {value} is outside [-1, 1]");
    }
    Ok((value * 2f64.powi(31))
        .round()
        .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32)
}

/// A windowed-sinc low-pass (Hamming), quantised to Q1.31.
pub fn lowpass(taps: usize, cutoff_hz: f64) -> Vec<i32> {
    let fc = cutoff_hz / f64::from(RATE);
    let middle = (taps as f64 - 1.0) / 2.0;
    let raw: Vec<f64> = (0..taps)
        .map(|n| {
            let x = n as f64 - middle;
            let sinc = if x == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * x).sin() / (std::f64::consts::PI * x)
            };
            let window =
                0.54 - 0.46 * (2.0 * std::f64::consts::PI * n as f64 / (taps as f64 - 1.0)).cos();
            sinc * window
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    // Unity gain at DC, with a little headroom against rounding.
    raw.iter()
        .map(|tap| (tap / sum * 0.999 * 2f64.powi(31)).round() as i32)
        .collect()
}

/// A block size (frames) that is a whole number of LL periods and fits the
/// DP scratch, or why not.
fn check_block(frames: u32) -> Result<u32, String> {
    if frames == 0 || !frames.is_multiple_of(PERIOD_FRAMES as u32) {
        return Err(format!(
            "{frames} is not a whole number of {PERIOD_FRAMES}-frame ({} ms) periods",
            PERIOD_FRAMES as u32 * 1000 / RATE
        ));
    }
    if frames as usize > MAX_BLOCK_FRAMES {
        return Err(format!(
            "{frames} is more than the largest block, {MAX_BLOCK_FRAMES} frames ({} ms)",
            MAX_BLOCK_FRAMES as u32 * 1000 / RATE
        ));
    }
    Ok(frames)
}

/// Read and check a pipeline file.
pub fn load(path: &Path) -> Result<Built> {
    let shown = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: File = toml::from_str(&text).map_err(|error| {
        let line = error
            .span()
            .map(|span| text[..span.start].matches('\n').count() + 1);
        match line {
            Some(line) => anyhow::anyhow!("{shown}: line {line}: {}", error.message()),
            None => anyhow::anyhow!("{shown}: {}", error.message()),
        }
    })?;
    check_block(file.block_frames)
        .map_err(|why| anyhow::anyhow!("{shown}: block_frames: {why}"))?;
    let index: HashMap<&str, u8> = file
        .buffers
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), i as u8))
        .collect();
    if index.len() != file.buffers.len() {
        bail!("{shown}: two buffers have the same name");
    }
    let buffer = |component: &str, field: &str, name: &str| -> Result<u8> {
        index.get(name).copied().with_context(|| {
            format!("{shown}: component \"{component}\": {field}: no buffer is named \"{name}\"")
        })
    };
    let mut pipeline = Pipeline::default();
    let mut produced = vec![false; file.buffers.len()];
    let mut consumed = vec![false; file.buffers.len()];
    // Frames per run of each buffer's writer and reader, and whether its
    // writer is a DP component.
    let mut writer_block = vec![0u32; file.buffers.len()];
    let mut reader_block = vec![0u32; file.buffers.len()];
    let mut dp_outputs = vec![false; file.buffers.len()];
    for entry in &file.components {
        let name = entry.name.as_str();
        let field = |field: &str| format!("{shown}: component \"{name}\": {field}");
        let inputs: Vec<u8> = entry
            .input
            .iter()
            .chain(&entry.inputs)
            .map(|input| buffer(name, "input", input))
            .collect::<Result<_>>()?;
        let output = entry
            .output
            .as_deref()
            .map(|output| buffer(name, "output", output))
            .transpose()?;
        let (kind, wants_inputs, wants_output) = match entry.kind.as_str() {
            "sine" => (
                Kind::Sine {
                    frequency: match entry.frequency {
                        Some(hz) if (1..RATE / 2).contains(&hz) => hz,
                        Some(hz) => bail!(
                            "{}: {hz} Hz is not between 1 Hz and half the {RATE} Hz rate",
                            field("frequency")
                        ),
                        None => bail!("{} is required", field("frequency")),
                    },
                    amplitude: q31(entry.amplitude.unwrap_or(0.5), &field("amplitude"))?,
                },
                0,
                true,
            ),
            "gain" => (
                Kind::Gain {
                    start: q31(entry.start.unwrap_or(0.0), &field("start"))?,
                    target: q31(entry.target.unwrap_or(0.5), &field("target"))?,
                    ramp_frames: match entry.ramp_ms.unwrap_or(0) {
                        ms @ 0..=MAX_RAMP_MS => ms * (RATE / 1000),
                        ms => bail!("{}: {ms} is more than {MAX_RAMP_MS}", field("ramp_ms")),
                    },
                },
                1,
                true,
            ),
            "mixer" => (Kind::Mixer, 2, true),
            "fir" => {
                let taps = entry.taps.unwrap_or(32);
                if !(2..=audio_dsp::component::MAX_TAPS).contains(&taps) {
                    bail!(
                        "{}: {taps} is not 2..={}",
                        field("taps"),
                        audio_dsp::component::MAX_TAPS
                    );
                }
                let cutoff = entry.cutoff_hz.unwrap_or(4000.0);
                if !(cutoff > 0.0 && cutoff < f64::from(RATE) / 2.0) {
                    bail!(
                        "{}: {cutoff} Hz is not between 0 and half the {RATE} Hz rate",
                        field("cutoff_hz")
                    );
                }
                let coefficients = lowpass(taps, cutoff);
                // The FIR accumulates in 64 bits: with taps summing to less
                // than 2 in magnitude, no input can overflow it.
                let magnitude: f64 = coefficients
                    .iter()
                    .map(|tap| f64::from(*tap).abs() / 2f64.powi(31))
                    .sum();
                if magnitude >= 2.0 {
                    bail!(
                        "{}: {taps} taps at {cutoff} Hz sum to {magnitude:.2} in magnitude; at 2 or more the filter could overflow",
                        field("cutoff_hz")
                    );
                }
                let block_frames = match (entry.dp, entry.block_frames) {
                    (true, Some(frames)) => check_block(frames)
                        .map_err(|why| anyhow::anyhow!("{}: {why}", field("block_frames")))?,
                    (true, None) => file.block_frames,
                    (false, None) => PERIOD_FRAMES as u32,
                    (false, Some(_)) => bail!(
                        "{}: only a DP component (`dp = true`) has a block size of its own; an LL component runs one {PERIOD_FRAMES}-frame period per tick",
                        field("block_frames")
                    ),
                };
                (
                    Kind::Fir {
                        taps: heapless::Vec::from_slice(&coefficients).unwrap_or_default(),
                        block_frames,
                        dp: entry.dp,
                    },
                    1,
                    true,
                )
            }
            "sink" => (Kind::Sink, 1, false),
            "dai-capture" => (Kind::DaiCapture, 0, true),
            other => bail!(
                "{}: \"{other}\" is not sine, gain, mixer, fir, sink or dai-capture",
                field("kind")
            ),
        };
        if entry.block_frames.is_some() && !matches!(kind, Kind::Fir { .. }) {
            bail!(
                "{}: only a DP component (a `fir` with `dp = true`) has a block size of its own",
                field("block_frames")
            );
        }
        let block = match kind {
            Kind::Fir { block_frames, .. } => block_frames,
            _ => PERIOD_FRAMES as u32,
        };
        if inputs.len() != wants_inputs {
            bail!(
                "{}: a {} takes {wants_inputs} input(s), not {}",
                field("inputs"),
                entry.kind,
                inputs.len()
            );
        }
        if wants_output != output.is_some() {
            bail!(
                "{}: a {} {} an output",
                field("output"),
                entry.kind,
                if wants_output { "needs" } else { "has no" }
            );
        }
        for input in &inputs {
            if !produced[*input as usize] {
                bail!(
                    "{}: buffer \"{}\" is read before any earlier component writes it",
                    field("input"),
                    file.buffers[*input as usize].name
                );
            }
            reader_block[*input as usize] = block;
            if std::mem::replace(&mut consumed[*input as usize], true) {
                bail!(
                    "{}: buffer \"{}\" already has a reader (a buffer has one writer and one reader)",
                    field("input"),
                    file.buffers[*input as usize].name
                );
            }
        }
        if let Some(output) = output {
            if std::mem::replace(&mut produced[output as usize], true) {
                bail!(
                    "{}: buffer \"{}\" already has a writer",
                    field("output"),
                    file.buffers[output as usize].name
                );
            }
            dp_outputs[output as usize] = entry.dp;
            writer_block[output as usize] = block;
        }
        pipeline
            .components
            .push(Component {
                name: heapless::String::try_from(name)
                    .map_err(|_| anyhow::anyhow!("{}: longer than 16 bytes", field("name")))?,
                kind,
                inputs: heapless::Vec::from_slice(&inputs).unwrap_or_default(),
                output,
            })
            .map_err(|_| {
                anyhow::anyhow!(
                    "{shown}: more than {} components",
                    audio_dsp::config::MAX_COMPONENTS
                )
            })?;
    }
    let sinks = pipeline
        .components
        .iter()
        .filter(|component| matches!(component.kind, Kind::Sink))
        .count();
    if sinks != 1 {
        bail!("{shown}: the pipeline has {sinks} sinks; it needs exactly one");
    }
    let captures = pipeline
        .components
        .iter()
        .filter(|component| matches!(component.kind, Kind::DaiCapture))
        .count();
    if captures > 1 {
        bail!(
            "{shown}: the pipeline has {captures} dai-capture components; the pipeline service has one capture DAI"
        );
    }
    if let Some(unread) = (0..file.buffers.len()).find(|i| !consumed[*i]) {
        bail!(
            "{shown}: buffer \"{}\" is never read (it would fill up and stop its writer)",
            file.buffers[unread].name
        );
    }
    let mut offset = 0u32;
    for (i, _) in file.buffers.iter().enumerate() {
        let largest = file.block_frames.max(writer_block[i]).max(reader_block[i]);
        let samples = RING_BLOCKS * largest * CHANNELS as u32;
        let prefill = if dp_outputs[i] {
            DP_PREFILL_BLOCKS * writer_block[i] * CHANNELS as u32
        } else {
            0
        };
        pipeline
            .buffers
            .push(Buffer {
                offset,
                samples,
                prefill,
            })
            .map_err(|_| {
                anyhow::anyhow!(
                    "{shown}: more than {} buffers",
                    audio_dsp::config::MAX_BUFFERS
                )
            })?;
        offset += bytes_for(samples as usize) as u32;
    }
    let config = pipeline
        .encode()
        .context("the pipeline description exceeds 4 KiB")?
        .to_vec();
    let mut buffers = vec![0u8; pipeline.region_bytes()];
    for ring in &pipeline.buffers {
        let mut formatted = Ring::format(&mut buffers[ring.range()]);
        let silence = vec![0i32; ring.prefill as usize];
        formatted.write(&silence);
    }
    Ok(Built { config, buffers })
}

#[cfg(test)]
mod tests {
    use super::{Pipeline, load, lowpass};
    use std::path::Path;

    #[test]
    fn the_default_pipeline_loads() {
        let built = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline.toml")).unwrap();
        let pipeline = Pipeline::decode(&built.config).unwrap();
        assert_eq!(pipeline.components.len(), 6);
        assert!(pipeline.components.iter().any(|c| c.is_dp()));
        assert_eq!(built.buffers.len(), pipeline.region_bytes());
        // Only the DP output starts with its latency: two 10 ms blocks.
        let block = 480 * 2;
        for (buffer, name) in pipeline
            .buffers
            .iter()
            .zip(["tone", "gained", "filtered", "tone2", "mixed"])
        {
            let bytes = &built.buffers[buffer.range()];
            let prefill = if name == "filtered" { 2 * block } else { 0 };
            assert_eq!(buffer.samples as usize, 4 * block, "{name}");
            assert_eq!(
                audio_dsp::ring::levels(bytes),
                (prefill, 4 * block - prefill),
                "{name}"
            );
        }
    }

    /// Every `fixtures/pipelines/*.toml` either loads (no `.err` beside it)
    /// or fails with exactly the text of its `.err` file.
    #[test]
    fn fixtures() {
        crate::fixtures::check("pipelines", 19, |path| {
            load(path).map(|_| ()).map_err(|error| format!("{error:#}"))
        });
    }

    /// The README's topology change (FIR moved to LL, a second gain) runs
    /// on the host reference without an underrun, and the new gain ramps
    /// the output down to a quarter.
    #[test]
    fn the_readme_example_plays() {
        use audio_dsp::graph::Graph;
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pipelines/readme-example.toml");
        let built = load(&path).unwrap();
        let pipeline = Pipeline::decode(&built.config).unwrap();
        assert!(!pipeline.components.iter().any(|c| c.is_dp()));
        let mut region = built.buffers;
        let mut graph = Graph::new(&pipeline);
        let mut out = [0i32; audio_dsp::PERIOD_SAMPLES];
        let peak = |out: &[i32]| out.iter().map(|s| s.unsigned_abs()).max().unwrap();
        for _ in 0..1500 {
            graph.ll_period(&pipeline, &mut region, None, &mut out);
        }
        let late = peak(&out);
        assert_eq!((graph.underruns, graph.starved), (0, 0));
        // 0.8 * 0.5 filtered plus 0.25, times the 0.25 the ramp ended at.
        let full_scale = f64::from(i32::MAX);
        let level = f64::from(late) / full_scale;
        assert!((0.1..0.17).contains(&level), "peak {level}");
    }

    /// Per-component block sizes: rings sized for the largest block at
    /// either end (never below the file's default), each DP output
    /// prefilled with two of its own component's blocks; and the host
    /// reference of a 40 ms FIR feeding a 2 ms one is exactly the same two
    /// filters run in the LL tick, delayed by the two prefills (a FIR's
    /// output does not depend on how its input is cut into blocks).
    #[test]
    fn dp_components_have_block_sizes_of_their_own() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pipelines");
        let path = dir.join("two-block-sizes.toml");
        let built = load(&path).unwrap();
        let pipeline = Pipeline::decode(&built.config).unwrap();
        let blocks: Vec<u32> = pipeline
            .components
            .iter()
            .filter_map(|c| match c.kind {
                audio_dsp::config::Kind::Fir { block_frames, .. } => Some(block_frames),
                _ => None,
            })
            .collect();
        assert_eq!(blocks, [1920, 96]);
        let sizes: Vec<(u32, u32)> = pipeline
            .buffers
            .iter()
            .map(|b| (b.samples / 2, b.prefill / 2))
            .collect();
        // tone: LL writer, 40 ms reader; long: 40 ms writer, 2 ms reader;
        // short: 2 ms writer, LL reader (the 10 ms default is larger).
        assert_eq!(
            sizes,
            [(4 * 1920, 0), (4 * 1920, 2 * 1920), (4 * 480, 2 * 96)]
        );
        // The same filters in the LL tick.
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("dp = true\nblock_frames = 1920\n", "")
            .replace("dp = true\nblock_frames = 96\n", "");
        let ll_path = std::env::temp_dir().join(format!("sotto-ll-{}.toml", std::process::id()));
        std::fs::write(&ll_path, text).unwrap();
        let ll_built = load(&ll_path).unwrap();
        std::fs::remove_file(&ll_path).unwrap();
        let ll = Pipeline::decode(&ll_built.config).unwrap();
        assert_eq!(ll.dp_components().count(), 0);
        let periods = 400;
        let dp_out = sotto_audio::reference(&pipeline, &built.buffers, periods);
        let ll_out = sotto_audio::reference(&ll, &ll_built.buffers, periods);
        let latency = 2 * (2 * 1920 + 2 * 96);
        assert!(dp_out[..latency].iter().all(|s| *s == 0));
        assert_eq!(dp_out[latency..], ll_out[..dp_out.len() - latency]);
        assert!(ll_out.iter().any(|s| *s != 0));
    }

    /// The shipped capture pipeline: capture -> gain -> FIR (DP) -> sink.
    /// Its reference for an impulse is the FIR's taps times the gain,
    /// after the DP latency (two 10 ms blocks), in the impulse's channel
    /// only.
    #[test]
    fn the_file_eq_pipeline_filters_its_input() {
        use audio_dsp::config::Kind;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/file-eq.toml");
        let built = load(&path).unwrap();
        let pipeline = Pipeline::decode(&built.config).unwrap();
        let kinds: Vec<&Kind> = pipeline.components.iter().map(|c| &c.kind).collect();
        assert!(matches!(
            kinds[..],
            [
                Kind::DaiCapture,
                Kind::Gain { .. },
                Kind::Fir { dp: true, .. },
                Kind::Sink
            ]
        ));
        assert!(pipeline.captures());
        let Kind::Fir { taps, .. } = kinds[2] else {
            unreachable!()
        };
        let mut input = vec![0i32; 30 * audio_dsp::PERIOD_SAMPLES];
        input[0] = 1 << 30; // 0.5, left channel, frame 0
        let out = sotto_audio::reference_with_input(&pipeline, &built.buffers, &input, 30);
        let latency = 2 * 480;
        let left: Vec<i32> = out.iter().step_by(2).copied().collect();
        assert!(out.iter().skip(1).step_by(2).all(|s| *s == 0), "right");
        assert!(left[..latency].iter().all(|s| *s == 0));
        for (k, tap) in taps.iter().enumerate() {
            let expected = f64::from(*tap) * 0.5 * 0.8;
            let got = f64::from(left[latency + k]);
            assert!(
                (got - expected).abs() <= 4.0,
                "tap {k}: {got} vs {expected}"
            );
        }
        assert!(left[latency + taps.len()..].iter().all(|s| *s == 0));
    }

    #[test]
    fn lowpass_has_unity_gain_at_dc() {
        let taps = lowpass(32, 2000.0);
        let sum: i64 = taps.iter().map(|t| i64::from(*t)).sum();
        assert!((sum as f64 / 2f64.powi(31) - 0.999).abs() < 1e-6);
        assert_eq!(taps[0], taps[31], "symmetric");
    }
}
