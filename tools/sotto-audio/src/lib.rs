//! The host side of Sotto's audio: write and read WAV files (`hound`:
//! 16-, 24- and 32-bit PCM, widened to Q1.31 on reading) and convert them
//! to and from the raw files of the DAIs (`sotto_abi::dai`), plot waveform and
//! spectrum into a PNG (`plotters`), and render the reference output of a
//! pipeline with the very components the services run.

use std::path::Path;

use anyhow::{Context, Result, bail};
use audio_dsp::config::Pipeline;
use audio_dsp::graph::Graph;
use audio_dsp::{CHANNELS, PERIOD_SAMPLES, RATE};
pub use hound::{self, SampleFormat, WavSpec};
use plotters::coord::Shift;
use plotters::prelude::{
    BLUE, BitMapBackend, ChartBuilder, DrawingArea, IntoDrawingArea, LineSeries, RED, WHITE,
};
use plotters::style::FontStyle;

/// The font axis labels are drawn with (Debian's `fonts-dejavu-core`);
/// without it, plots have no text.
pub const PLOT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Register [`PLOT_FONT`] with plotters once; whether text can be drawn.
fn font_ready() -> bool {
    static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READY.get_or_init(|| {
        std::fs::read(PLOT_FONT).is_ok_and(|bytes| {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

/// One panel: `points` as a line, with a caption and labelled axes when a
/// font is available.
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    (caption, x_label, y_label): (&str, &str, &str),
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    points: Vec<(f64, f64)>,
    color: &plotters::style::RGBColor,
) -> Result<()> {
    let mut builder = ChartBuilder::on(area);
    builder.margin(10);
    if font_ready() {
        builder
            .caption(caption, ("sans-serif", 18))
            .x_label_area_size(35)
            .y_label_area_size(55);
    }
    let mut chart = builder.build_cartesian_2d(x, y)?;
    if font_ready() {
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 13))
            .draw()?;
    }
    chart.draw_series(LineSeries::new(points, color))?;
    Ok(())
}

/// Sample widths of the PCM WAV files read ([`read_wav_any`]).
pub const WAV_BITS: [u16; 3] = [16, 24, 32];

/// What a WAV file holds, in words: `44100 Hz, 1 channel, 16-bit PCM`.
pub fn describe_wav(spec: &hound::WavSpec) -> String {
    let channels = match spec.channels {
        1 => "1 channel".to_owned(),
        n => format!("{n} channels"),
    };
    let format = match spec.sample_format {
        hound::SampleFormat::Int => "PCM",
        hound::SampleFormat::Float => "float",
    };
    format!(
        "{} Hz, {channels}, {}-bit {format}",
        spec.sample_rate, spec.bits_per_sample
    )
}

/// Read a PCM WAV file of any width in [`WAV_BITS`] and any rate and
/// channel count: its format and its samples (interleaved), widened
/// losslessly to Q1.31 (`sample << (32 - bits)`). Float, 8-bit and other
/// widths are refused, naming what the file holds.
pub fn read_wav_any(path: &Path) -> Result<(hound::WavSpec, Vec<i32>)> {
    let reader =
        hound::WavReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int || !WAV_BITS.contains(&spec.bits_per_sample) {
        bail!(
            "{}: {}; only 16-, 24- and 32-bit PCM are read",
            path.display(),
            describe_wav(&spec)
        );
    }
    let shift = 32 - u32::from(spec.bits_per_sample);
    // (Not allocated from the header's count: a broken header may
    // announce anything.)
    let announced = reader.len();
    let mut samples = Vec::new();
    for sample in reader.into_samples::<i32>() {
        match sample {
            Ok(value) => samples.push(value << shift),
            Err(error) => {
                // (hound's "Failed to read enough bytes.", an `Other` I/O
                // error, or an early end of the file.)
                let ended = matches!(
                    &error,
                    hound::Error::IoError(io) if matches!(
                        io.kind(),
                        std::io::ErrorKind::Other | std::io::ErrorKind::UnexpectedEof
                    )
                );
                if ended && (samples.len() as u64) < u64::from(announced) {
                    bail!(
                        "{}: the file ends after {} of the {announced} samples its header announces (it is truncated)",
                        path.display(),
                        samples.len()
                    );
                }
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        }
    }
    Ok((spec, samples))
}

/// The PCM widths a DAI of `bits` takes losslessly (those not wider),
/// in words: `16-, 24- or 32-bit PCM`.
fn widths_taken(bits: u8) -> String {
    let taken: Vec<String> = WAV_BITS
        .iter()
        .filter(|wav| **wav <= u16::from(bits))
        .map(|wav| wav.to_string())
        .collect();
    match taken.as_slice() {
        [] => "no PCM".to_owned(),
        [one] => format!("{one}-bit PCM"),
        [rest @ .., last] => format!("{}- or {last}-bit PCM", rest.join("-, ")),
    }
}

/// Whether a WAV file of format `spec` (named `file` in messages) can
/// feed capture DAI `name` of parameters `dai`: the same rate and channel
/// count, integer PCM no wider than the DAI's samples (so widening loses
/// nothing). The error names both, e.g. `song.wav: 44100 Hz, 1 channel,
/// 16-bit PCM; the capture DAI "dai-in" takes 48000 Hz, 2 channels (16-,
/// 24- or 32-bit PCM)`.
pub fn check_capture_input(
    file: &str,
    spec: &hound::WavSpec,
    name: &str,
    dai: &sotto_abi::dai::DaiParams,
) -> Result<(), String> {
    let fits = spec.sample_rate == dai.rate
        && spec.channels == u16::from(dai.channels)
        && spec.sample_format == hound::SampleFormat::Int
        && WAV_BITS.contains(&spec.bits_per_sample)
        && spec.bits_per_sample <= u16::from(dai.bits);
    if fits {
        return Ok(());
    }
    Err(format!(
        "{file}: {}; the capture DAI \"{name}\" takes {}",
        describe_wav(spec),
        dai_takes(dai)
    ))
}

/// What WAV files a capture DAI of parameters `dai` takes, in words:
/// `48000 Hz, 2 channels (16-, 24- or 32-bit PCM)`.
pub fn dai_takes(dai: &sotto_abi::dai::DaiParams) -> String {
    let channels = match dai.channels {
        1 => "1 channel".to_owned(),
        n => format!("{n} channels"),
    };
    format!("{} Hz, {channels} ({})", dai.rate, widths_taken(dai.bits))
}

/// Q1.31 samples as a DAI's file holds them at `bits` (16: 2 bytes; 24:
/// the low 3 of 4 bytes, sign-extended; 32: 4 bytes; little-endian): the
/// top `bits` of each sample (exact for samples widened from as many bits
/// or fewer).
pub fn to_dai_raw(samples: &[i32], bits: u8) -> Vec<u8> {
    let shift = 32 - u32::from(bits.clamp(16, 32));
    let mut raw =
        Vec::with_capacity(samples.len() * sotto_abi::dai::container_bytes(bits) as usize);
    for sample in samples {
        let value = sample >> shift;
        if bits <= 16 {
            raw.extend_from_slice(&(value as i16).to_le_bytes());
        } else {
            raw.extend_from_slice(&value.to_le_bytes());
        }
    }
    raw
}

/// The samples of a DAI's file at `bits` ([`to_dai_raw`]'s layout), at
/// their width (a 16-bit sample is -32768..=32767); a cut sample at the
/// end is dropped. A 24-bit sample is sign-extended from its low 3 bytes
/// whatever its top byte holds.
pub fn from_dai_raw(raw: &[u8], bits: u8) -> Vec<i32> {
    if bits <= 16 {
        raw.chunks_exact(2)
            .map(|pair| i32::from(i16::from_le_bytes([pair[0], pair[1]])))
            .collect()
    } else {
        let shift = 32 - u32::from(bits.min(32));
        raw.chunks_exact(4)
            .map(|word| i32::from_le_bytes([word[0], word[1], word[2], word[3]]) << shift >> shift)
            .collect()
    }
}

/// A Q1.31 sample as a playback DAI of `bits` plays it, at its width:
/// rounded to 16 bits (`audio_dsp::q31::to_i16`) or 24
/// (`audio_dsp::q31::to_i24`), as the pipeline's DAI driver writes it;
/// 32 bits as it is.
pub fn played_at_width(sample: i32, bits: u8) -> i32 {
    match bits {
        16 => i32::from(audio_dsp::q31::to_i16(sample)),
        24 => audio_dsp::q31::to_i24(sample),
        _ => sample,
    }
}

/// Write interleaved integer samples of `bits` (16, 24 or 32; each at its
/// width) as a WAV file of `rate` and `channels`.
pub fn write_wav_bits(
    path: &Path,
    rate: u32,
    channels: u16,
    bits: u16,
    samples: &[i32],
) -> Result<()> {
    if !WAV_BITS.contains(&bits) {
        bail!("{bits}-bit samples: only 16, 24 and 32 are written");
    }
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("creating {}", path.display()))?;
    for sample in samples {
        writer.write_sample(*sample)?;
    }
    writer.finalize()?;
    Ok(())
}

/// Write a DAI's file `raw` (in the DAI's format, `dai`) as a WAV file of
/// the DAI's rate, channels and width; returns the frames written.
pub fn write_dai_wav(path: &Path, raw: &[u8], dai: &sotto_abi::dai::DaiParams) -> Result<usize> {
    let mut samples = from_dai_raw(raw, dai.bits);
    let channels = usize::from(dai.channels.max(1));
    samples.truncate(samples.len() / channels * channels);
    write_wav_bits(
        path,
        dai.rate,
        u16::from(dai.channels),
        u16::from(dai.bits),
        &samples,
    )?;
    Ok(samples.len() / channels)
}

/// A deterministic test signal of `frames` stereo frames at 48 kHz and
/// `bits` (16, 24 or 32), each sample at its width: a 440 Hz tone on the
/// left, a 1 kHz one on the right, a 3.1 kHz one fading in on both, and
/// noise from a fixed linear congruential generator (seeded with
/// `seed`), about half scale at most — music enough to tell a pipeline's
/// output from silence or a shift.
pub fn test_signal(frames: usize, bits: u16, seed: u32) -> Vec<i32> {
    let full = f64::from(1u32 << (bits.clamp(16, 32) - 1)) - 1.0;
    let mut state = seed;
    let mut noise = move || {
        // Numerical Recipes' LCG; the top 16 bits as a value in [-1, 1).
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        f64::from((state >> 16) as u16 as i16) / 32768.0
    };
    let mut samples = Vec::with_capacity(frames * CHANNELS);
    for frame in 0..frames {
        let t = frame as f64 / f64::from(RATE);
        let phase = |hz: f64| (2.0 * std::f64::consts::PI * hz * t).sin();
        let fade = (t / 2.0).min(1.0);
        let shared = 0.1 * fade * phase(3100.0);
        let left = 0.3 * phase(440.0) + shared + 0.05 * noise();
        let right = 0.25 * phase(1000.0) - shared + 0.05 * noise();
        samples.push((left * full).round() as i32);
        samples.push((right * full).round() as i32);
    }
    samples
}

/// Blocks of its own a DP component's output is late: the silence its
/// output ring starts with (the pipeline file's `DP_PREFILL_BLOCKS`,
/// which xtask checks this against).
pub const DP_LATENCY_BLOCKS: u64 = 2;

/// Periods a run streaming an input lasts beyond the input and its DP
/// latency: the pipeline's start after boot, the capture and playback
/// rings, the DMA's period behind the pipeline, and room to spare.
pub const INPUT_TAIL_PERIODS: u64 = 20;

/// Frames of latency the DP components of `pipeline` add, all of them
/// (each releases its output [`DP_LATENCY_BLOCKS`] of its blocks late).
pub fn dp_latency_frames(pipeline: &Pipeline) -> u64 {
    pipeline
        .components
        .iter()
        .map(|component| match component.kind {
            audio_dsp::config::Kind::Fir {
                block_frames,
                dp: true,
                ..
            } => u64::from(block_frames) * DP_LATENCY_BLOCKS,
            _ => 0,
        })
        .sum()
}

/// DAI periods (of `period_frames`) a run streaming `frames` frames of
/// input through `pipeline` lasts, so its output holds every input
/// frame's output: the input and the DP latency, each in whole periods,
/// and [`INPUT_TAIL_PERIODS`].
pub fn input_run_periods(frames: u64, pipeline: &Pipeline, period_frames: u16) -> u64 {
    let period = u64::from(period_frames.max(1));
    frames.div_ceil(period) + dp_latency_frames(pipeline).div_ceil(period) + INPUT_TAIL_PERIODS
}

/// The reference output: `periods` periods of `pipeline` starting from the
/// buffer region `buffers`, DP blocks run as soon as they are ready, each
/// DP component on blocks of its own size (the emulated system releases
/// DP output with a fixed latency, two of the component's blocks, so its
/// output is the same as long as no deadline is missed), as the 16-bit
/// samples a 16-bit playback DAI plays (`audio_dsp::q31::to_i16`, the
/// services' rounding).
pub fn reference(pipeline: &Pipeline, buffers: &[u8], periods: usize) -> Vec<i16> {
    render(pipeline, buffers, None, periods)
        .into_iter()
        .map(audio_dsp::q31::to_i16)
        .collect()
}

/// The reference output of a pipeline with a capture component
/// (`kind = "dai-capture"`): `periods` periods of the sink's Q1.31
/// samples (interleaved), period k made from period k of `input`
/// (interleaved Q1.31; silence past its end, as the capture DAI reads
/// past the end of its file). The emulated system plays the same periods
/// in order as long as its DAIs have no xrun.
pub fn reference_with_input(
    pipeline: &Pipeline,
    buffers: &[u8],
    input: &[i32],
    periods: usize,
) -> Vec<i32> {
    render(pipeline, buffers, Some(input), periods)
}

/// `periods` periods of the sink's Q1.31 samples, the capture component
/// fed from `input` if given.
fn render(pipeline: &Pipeline, buffers: &[u8], input: Option<&[i32]>, periods: usize) -> Vec<i32> {
    let mut region = buffers.to_vec();
    let mut graph = Graph::new(pipeline);
    let dp: Vec<usize> = pipeline.dp_components().collect();
    let mut scratch = vec![0i32; audio_dsp::DP_SCRATCH_SAMPLES];
    let mut out = [0i32; PERIOD_SAMPLES];
    let mut captured = [0i32; PERIOD_SAMPLES];
    let mut samples = Vec::with_capacity(periods * PERIOD_SAMPLES);
    for period in 0..periods {
        let captured = input.map(|input| {
            let from = (period * PERIOD_SAMPLES).min(input.len());
            let to = (from + PERIOD_SAMPLES).min(input.len());
            captured.fill(0);
            captured[..to - from].copy_from_slice(&input[from..to]);
            &captured
        });
        graph.ll_period(pipeline, &mut region, captured, &mut out);
        samples.extend_from_slice(&out);
        for index in &dp {
            while graph.dp_block(pipeline, &mut region, *index, &mut scratch) {}
        }
    }
    samples
}

/// The pipeline description and buffer contents an image carries (the
/// memory objects filled from a pipeline file).
pub fn pipeline_of_image(elf: &[u8]) -> Result<(Pipeline, Vec<u8>)> {
    let config = sotto_image::object_contents(elf, "audio-config")?
        .context("the image has no audio-config object")?;
    let buffers = sotto_image::object_contents(elf, "audio-buffers")?
        .context("the image has no audio-buffers object")?;
    let pipeline = Pipeline::decode(&config)
        .context("the audio-config object holds no pipeline description")?;
    Ok((pipeline, buffers))
}

/// Amplitude (full scale = 1.0) of the `hz` component in the left
/// channel's last `frames` frames: a single-bin DFT, exact for a tone
/// with a whole number of cycles in the window.
pub fn tone_amplitude(samples: &[i16], hz: f64, frames: usize) -> f64 {
    let total = samples.len() / CHANNELS;
    let left = samples
        .chunks_exact(CHANNELS)
        .skip(total.saturating_sub(frames))
        .map(|frame| f64::from(frame[0]) / 32768.0);
    let (mut re, mut im, mut n) = (0.0, 0.0, 0usize);
    for (t, x) in left.enumerate() {
        let angle = 2.0 * std::f64::consts::PI * hz * t as f64 / f64::from(RATE);
        re += x * angle.cos();
        im -= x * angle.sin();
        n += 1;
    }
    2.0 * (re * re + im * im).sqrt() / n.max(1) as f64
}

/// Magnitude spectrum (dB, Hann window) of the left channel's last `n`
/// frames (the end: past any fade-in).
fn spectrum(samples: &[i16], n: usize) -> Vec<(f64, f64)> {
    let frames = samples.len() / CHANNELS;
    let left: Vec<f64> = samples
        .chunks_exact(CHANNELS)
        .skip(frames.saturating_sub(n))
        .map(|frame| f64::from(frame[0]) / 32768.0)
        .collect();
    let n = left.len();
    (1..n / 2)
        .map(|k| {
            let (mut re, mut im) = (0.0, 0.0);
            for (t, x) in left.iter().enumerate() {
                let angle = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                let window = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * t as f64 / n as f64).cos();
                re += x * window * angle.cos();
                im += x * window * angle.sin();
            }
            // A sine of amplitude A reads A: one-sided (x2), Hann's
            // coherent gain of 1/2 undone (x2).
            let magnitude = 4.0 * (re * re + im * im).sqrt() / n as f64;
            (
                k as f64 * f64::from(RATE) / n as f64,
                20.0 * magnitude.max(1e-9).log10(),
            )
        })
        .collect()
}

/// Plot the waveform (left channel, first 20 ms and the whole file) and
/// the spectrum into a PNG.
pub fn plot(samples: &[i16], out: &Path) -> Result<()> {
    let root = BitMapBackend::new(out, (1200, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let parts = root.split_evenly((3, 1));
    let left: Vec<f64> = samples
        .chunks(CHANNELS)
        .map(|frame| f64::from(frame[0]) / 32768.0)
        .collect();
    let seconds = left.len() as f64 / f64::from(RATE);
    let zoom = (RATE as usize / 50).min(left.len());
    let whole_step = (left.len() / 4000).max(1);
    let waveforms = [
        (
            "left channel, first 20 ms",
            0.02f64.min(seconds),
            left[..zoom]
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64 / f64::from(RATE), *v))
                .collect::<Vec<_>>(),
        ),
        (
            "left channel, whole file",
            seconds,
            left.iter()
                .enumerate()
                .step_by(whole_step)
                .map(|(i, v)| (i as f64 / f64::from(RATE), *v))
                .collect(),
        ),
    ];
    for (area, (caption, span, points)) in parts.iter().zip(waveforms) {
        panel(
            area,
            (caption, "time (s)", "amplitude"),
            (0.0..span.max(1e-3), -1.0..1.0),
            points,
            &BLUE,
        )?;
    }
    panel(
        &parts[2],
        (
            "spectrum, left channel, last 4096 frames (Hann)",
            "frequency (Hz)",
            "dBFS (sine amplitude)",
        ),
        (0.0..f64::from(RATE) / 2.0, -120.0..0.0),
        spectrum(samples, 4096.min(left.len())),
        &RED,
    )?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{
        check_capture_input, from_dai_raw, plot, read_wav_any, spectrum, to_dai_raw,
        tone_amplitude, write_dai_wav, write_wav_bits,
    };
    use sotto_abi::dai::{DaiParams, Direction};

    /// A path of the test's own in the temporary directory.
    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("sotto-audio-{}-{name}", std::process::id()))
    }

    /// The default system's capture DAI, at `bits`.
    fn capture(bits: u8) -> DaiParams {
        DaiParams {
            direction: Direction::Capture,
            ring: 0,
            rate: 48_000,
            channels: 2,
            bits,
            period_frames: 48,
            ring_periods: 4,
            notify: None,
        }
    }

    /// Samples at `bits` reaching both ends of the range, zero and a few
    /// odd values between.
    fn extremes(bits: u16) -> Vec<i32> {
        let max = i32::MAX >> (32 - bits);
        let min = i32::MIN >> (32 - bits);
        vec![
            min,
            max,
            0,
            -1,
            1,
            min + 1,
            max - 1,
            12_345 % max,
            -(12_345 % max),
            0x55 << (bits - 8),
        ]
    }

    /// Every width round-trips through a WAV file, is widened to Q1.31
    /// exactly (`sample << (32 - bits)`), and goes into and out of a
    /// DAI's raw file of the same or a wider width unchanged.
    #[test]
    fn every_width_round_trips_and_widens_exactly() {
        for bits in [16u16, 24, 32] {
            let path = temp(&format!("{bits}.wav"));
            let samples = extremes(bits);
            write_wav_bits(&path, 48_000, 2, bits, &samples).unwrap();
            let (spec, widened) = read_wav_any(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            assert_eq!(
                (spec.sample_rate, spec.channels, spec.bits_per_sample),
                (48_000, 2, bits)
            );
            let expected: Vec<i32> = samples.iter().map(|s| s << (32 - bits)).collect();
            assert_eq!(widened, expected, "{bits}-bit");
            for dai_bits in [16u8, 24, 32] {
                if u16::from(dai_bits) < bits {
                    continue;
                }
                let raw = to_dai_raw(&widened, dai_bits);
                let container = if dai_bits == 16 { 2 } else { 4 };
                assert_eq!(raw.len(), samples.len() * container);
                let back = from_dai_raw(&raw, dai_bits);
                let at_dai: Vec<i32> = expected.iter().map(|s| s >> (32 - dai_bits)).collect();
                assert_eq!(back, at_dai, "{bits}-bit into a {dai_bits}-bit DAI");
                let widened_again: Vec<i32> = back.iter().map(|s| s << (32 - dai_bits)).collect();
                assert_eq!(widened_again, expected, "nothing lost");
            }
        }
    }

    /// The DAI's raw layouts, byte by byte: 16-bit in 2 bytes, 24-bit in
    /// the low 3 of 4 (sign-extended), 32-bit in 4, little-endian.
    #[test]
    fn dai_raw_layouts() {
        let q31 = [i32::MIN, 0x1234_5678, -0x100];
        assert_eq!(to_dai_raw(&q31, 16), [0x00, 0x80, 0x34, 0x12, 0xff, 0xff]);
        assert_eq!(
            to_dai_raw(&q31, 24),
            [
                0x00, 0x00, 0x80, 0xff, 0x56, 0x34, 0x12, 0x00, 0xff, 0xff, 0xff, 0xff
            ]
        );
        assert_eq!(
            to_dai_raw(&q31, 32),
            [
                0x00, 0x00, 0x00, 0x80, 0x78, 0x56, 0x34, 0x12, 0x00, 0xff, 0xff, 0xff
            ]
        );
        // A 24-bit sample's top byte is not trusted: sign-extended from bit 23.
        assert_eq!(from_dai_raw(&[0xff, 0xff, 0x7f, 0x12], 24), [0x7f_ffff]);
        assert_eq!(from_dai_raw(&[0x00, 0x00, 0x80, 0x00], 24), [-0x80_0000]);
        // A cut sample at the end is dropped.
        assert_eq!(from_dai_raw(&[1, 0, 2], 16), [1]);
    }

    /// A DAI's file becomes a WAV of its rate, channels and width; a cut
    /// frame at the end is dropped.
    #[test]
    fn a_dai_file_becomes_a_wav_of_its_format() {
        for bits in [16u8, 24, 32] {
            let dai = DaiParams {
                direction: Direction::Playback,
                ..capture(bits)
            };
            let samples = extremes(u16::from(bits));
            let q31: Vec<i32> = samples.iter().map(|s| s << (32 - bits)).collect();
            let mut raw = to_dai_raw(&q31, bits);
            raw.extend_from_slice(&to_dai_raw(&[7 << (32 - bits)], bits));
            let path = temp(&format!("dai{bits}.wav"));
            assert_eq!(write_dai_wav(&path, &raw, &dai).unwrap(), samples.len() / 2);
            let reader = hound::WavReader::open(&path).unwrap();
            let spec = reader.spec();
            assert_eq!(
                (spec.sample_rate, spec.channels, spec.bits_per_sample),
                (48_000, 2, u16::from(bits))
            );
            let read: Vec<i32> = reader.into_samples::<i32>().map(Result::unwrap).collect();
            std::fs::remove_file(&path).unwrap();
            assert_eq!(read, samples, "{bits}-bit");
        }
    }

    /// The test signal is the same every time, reaches about half scale
    /// at each width and is no silence.
    #[test]
    fn the_test_signal_is_deterministic_and_loud_enough() {
        let a = super::test_signal(4800, 24, 7);
        assert_eq!(a, super::test_signal(4800, 24, 7));
        assert_ne!(a, super::test_signal(4800, 24, 8), "the seed matters");
        assert_eq!(a.len(), 9600);
        for bits in [16u16, 24, 32] {
            let signal = super::test_signal(48_000, bits, 1);
            let full = (1i64 << (bits - 1)) as f64;
            let peak = signal.iter().map(|s| i64::from(*s).abs()).max().unwrap() as f64 / full;
            assert!((0.3..0.6).contains(&peak), "{bits}-bit: peak {peak}");
        }
        // The 440 Hz tone is on the left, not the right.
        let wide = super::test_signal(48_000, 16, 1);
        let as_i16: Vec<i16> = wide.iter().map(|s| *s as i16).collect();
        let left = super::tone_amplitude(&as_i16, 440.0, 48_000);
        assert!((0.28..0.32).contains(&left), "{left}");
    }

    /// Formats that cannot feed the capture DAI are refused, naming what
    /// the file holds and what the DAI takes.
    #[test]
    fn inputs_of_another_format_are_refused_by_name() {
        let spec = |sample_rate, channels, bits_per_sample, sample_format| hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample,
            sample_format,
        };
        let int = hound::SampleFormat::Int;
        let float = hound::SampleFormat::Float;
        let dai = capture(32);
        for bits in [16, 24, 32] {
            assert_eq!(
                check_capture_input("song.wav", &spec(48_000, 2, bits, int), "dai-in", &dai),
                Ok(())
            );
        }
        let refused = |spec: hound::WavSpec, dai: &DaiParams| {
            check_capture_input("song.wav", &spec, "dai-in", dai).unwrap_err()
        };
        assert_eq!(
            refused(spec(44_100, 1, 16, int), &dai),
            "song.wav: 44100 Hz, 1 channel, 16-bit PCM; the capture DAI \"dai-in\" takes 48000 Hz, 2 channels (16-, 24- or 32-bit PCM)"
        );
        assert_eq!(
            refused(spec(48_000, 2, 32, float), &dai),
            "song.wav: 48000 Hz, 2 channels, 32-bit float; the capture DAI \"dai-in\" takes 48000 Hz, 2 channels (16-, 24- or 32-bit PCM)"
        );
        assert_eq!(
            refused(spec(48_000, 2, 8, int), &dai),
            "song.wav: 48000 Hz, 2 channels, 8-bit PCM; the capture DAI \"dai-in\" takes 48000 Hz, 2 channels (16-, 24- or 32-bit PCM)"
        );
        assert_eq!(
            refused(spec(48_000, 6, 24, int), &dai),
            "song.wav: 48000 Hz, 6 channels, 24-bit PCM; the capture DAI \"dai-in\" takes 48000 Hz, 2 channels (16-, 24- or 32-bit PCM)"
        );
        // A narrower DAI takes no wider input: widening must lose nothing.
        assert_eq!(
            refused(spec(48_000, 2, 32, int), &capture(24)),
            "song.wav: 48000 Hz, 2 channels, 32-bit PCM; the capture DAI \"dai-in\" takes 48000 Hz, 2 channels (16- or 24-bit PCM)"
        );
        let mono16 = DaiParams {
            channels: 1,
            ..capture(16)
        };
        assert_eq!(
            refused(spec(48_000, 2, 24, int), &mono16),
            "song.wav: 48000 Hz, 2 channels, 24-bit PCM; the capture DAI \"dai-in\" takes 48000 Hz, 1 channel (16-bit PCM)"
        );
    }

    /// Only what can be widened is read: float and 8-bit files are
    /// refused, naming the file and its format; a file that is no WAV
    /// names the file.
    #[test]
    fn reading_refuses_float_and_8_bit() {
        for (bits, format, words) in [
            (32, hound::SampleFormat::Float, "32-bit float"),
            (8, hound::SampleFormat::Int, "8-bit PCM"),
        ] {
            let path = temp(&format!("refused{bits}.wav"));
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 8_000,
                bits_per_sample: bits,
                sample_format: format,
            };
            let mut writer = hound::WavWriter::create(&path, spec).unwrap();
            if format == hound::SampleFormat::Float {
                writer.write_sample(0.5f32).unwrap();
            } else {
                writer.write_sample(3i8).unwrap();
            }
            writer.finalize().unwrap();
            let error = format!("{:#}", read_wav_any(&path).unwrap_err());
            std::fs::remove_file(&path).unwrap();
            assert_eq!(
                error,
                format!(
                    "{}: 8000 Hz, 1 channel, {words}; only 16-, 24- and 32-bit PCM are read",
                    path.display()
                )
            );
        }
        let path = temp("not.wav");
        std::fs::write(&path, b"RIFF but not really").unwrap();
        let error = format!("{:#}", read_wav_any(&path).unwrap_err());
        std::fs::remove_file(&path).unwrap();
        assert!(
            error.starts_with(&format!("opening {}: ", path.display())),
            "{error}"
        );
    }

    /// A stereo 16-bit sine of `frequency` Hz, half scale.
    fn tone(frequency: f64, frames: usize) -> Vec<i16> {
        (0..frames)
            .flat_map(|i| {
                let value = (2.0 * std::f64::consts::PI * frequency * i as f64 / 48_000.0).sin();
                let sample = (value * 16_384.0) as i16;
                [sample, sample]
            })
            .collect()
    }

    #[test]
    fn the_spectrum_peaks_at_the_tone() {
        let spectrum = spectrum(&tone(1000.0, 8192), 4096);
        let (peak_hz, peak_db) = spectrum
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert!((peak_hz - 1000.0).abs() < 12.0, "peak at {peak_hz} Hz");
        // A half-scale sine reads about -6 dBFS (less when between bins).
        assert!((-7.6..-5.9).contains(&peak_db), "peak at {peak_db} dB");
        // Far from the tone, the window keeps leakage 60+ dB down.
        let far = spectrum.iter().find(|(hz, _)| *hz > 5000.0).unwrap().1;
        assert!(peak_db - far > 60.0, "{peak_db} dB vs {far} dB");
    }

    #[test]
    fn tone_amplitude_measures_each_tone_of_a_mix() {
        let mix: Vec<i16> = tone(440.0, 4800)
            .iter()
            .zip(tone(3000.0, 4800))
            .map(|(a, b)| a / 2 + b / 4)
            .collect();
        // Half scale halved and quartered.
        assert!((tone_amplitude(&mix, 440.0, 4800) - 0.25).abs() < 0.002);
        assert!((tone_amplitude(&mix, 3000.0, 4800) - 0.125).abs() < 0.002);
        assert!(tone_amplitude(&mix, 1000.0, 4800) < 0.002);
    }

    #[test]
    fn plots_are_pngs_of_the_promised_size() {
        let path = std::env::temp_dir().join(format!("sotto-audio-{}.png", std::process::id()));
        plot(&tone(440.0, 4800), &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((width, height), (1200, 900));
    }

    #[test]
    fn a_truncated_wav_is_said_to_be_truncated() {
        let path = temp("truncated.wav");
        write_wav_bits(&path, 48_000, 2, 16, &[7; 400]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // The header announces 400 samples; 101 (and a half) are there.
        std::fs::write(&path, &bytes[..44 + 203]).unwrap();
        let error = read_wav_any(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            error,
            format!(
                "{}: the file ends after 101 of the 400 samples its header announces (it is truncated)",
                path.display()
            )
        );
    }
}
