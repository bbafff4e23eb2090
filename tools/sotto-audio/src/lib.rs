//! The host side of Sotto's audio: decode the `pcm <base64>` lines the DAI
//! sink prints, write and read WAV files (`hound`), plot waveform and
//! spectrum into a PNG (`plotters`), and render the reference output of a
//! pipeline with the very components the services run.

use std::path::Path;

use anyhow::{Context, Result, bail};
use audio_dsp::config::Pipeline;
use audio_dsp::graph::Graph;
use audio_dsp::{CHANNELS, PERIOD_SAMPLES, RATE};
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

/// Decode one `pcm` line's payload (base64 of little-endian i16).
pub fn decode_line(payload: &str) -> Result<Vec<i16>> {
    let value = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {:?}", c as char),
        } as u32)
    };
    let bytes = payload.trim().as_bytes();
    if !bytes.len().is_multiple_of(4) {
        bail!("a pcm line of {} characters is cut", bytes.len());
    }
    let mut raw = Vec::with_capacity(bytes.len() / 4 * 3);
    for quad in bytes.chunks(4) {
        let n = quad
            .iter()
            .try_fold(0u32, |n, c| Ok::<u32, anyhow::Error>(n << 6 | value(*c)?))?;
        raw.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    Ok(raw
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect())
}

/// Collects the PCM of one service from console lines; hands every other
/// line back.
///
/// Only the service that hosts the DAI sink streams audio, and the kernel
/// starts every console line with its true writer's name, so the
/// collector takes `[source] pcm ...` lines and nothing else: a line of
/// another service that looks like PCM is just text.
pub struct PcmCollector {
    /// Interleaved stereo samples so far.
    pub samples: Vec<i16>,
    /// Periods of silence put in for `pcm-gap` lines.
    pub gap_periods: usize,
    /// `[source] pcm `.
    prefix: String,
    /// `[source] pcm-gap `.
    gap_prefix: String,
    /// Samples it holds at most.
    limit: usize,
}

/// Samples a [`PcmCollector`] holds at most unless told otherwise: an hour
/// of 48 kHz stereo (691 MB as `i16`), far more than any run, and well
/// inside what a WAV file can hold. A `pcm-gap` count is the sink's word;
/// this keeps a wrong one (`pcm-gap 4294967295` is 824 GB of silence) from
/// taking the host's memory.
pub const MAX_SAMPLES: usize = 3600 * RATE as usize * CHANNELS;

impl PcmCollector {
    /// A collector of the `pcm` lines of service `source`.
    pub fn new(source: &str) -> Self {
        Self::with_limit(source, MAX_SAMPLES)
    }

    /// A collector that holds at most `limit` samples: PCM or a gap that
    /// would take it past that is refused (an error, nothing added).
    pub fn with_limit(source: &str, limit: usize) -> Self {
        PcmCollector {
            samples: Vec::new(),
            gap_periods: 0,
            prefix: format!("[{source}] pcm "),
            gap_prefix: format!("[{source}] pcm-gap "),
            limit,
        }
    }

    /// Whether `more` samples fit under the limit.
    fn room_for(&self, more: usize) -> Result<()> {
        let room = self.limit.saturating_sub(self.samples.len());
        if more > room {
            bail!(
                "{more} more samples are more than the {} the collector holds ({} taken)",
                self.limit,
                self.samples.len()
            );
        }
        Ok(())
    }

    /// Take `line` if it is PCM of the source (`[source] pcm ...`, or
    /// `[source] pcm-gap N`: N periods the DAI went without, which become
    /// silence, so the samples keep the run's time); else return it.
    pub fn feed<'l>(&mut self, line: &'l str) -> Result<Option<&'l str>> {
        if let Some(payload) = line.strip_prefix(self.prefix.as_str()) {
            let samples = decode_line(payload)?;
            self.room_for(samples.len())?;
            self.samples.extend(samples);
            return Ok(None);
        }
        if let Some(periods) = line.strip_prefix(self.gap_prefix.as_str()) {
            let periods: usize = periods
                .trim()
                .parse()
                .with_context(|| format!("a pcm-gap line without a count: {line:?}"))?;
            let silence = periods.saturating_mul(PERIOD_SAMPLES);
            self.room_for(silence)?;
            self.samples.resize(self.samples.len() + silence, 0);
            self.gap_periods += periods;
            return Ok(None);
        }
        Ok(Some(line))
    }
}

/// Write interleaved stereo 16-bit samples as a 48 kHz WAV file.
pub fn write_wav(path: &Path, samples: &[i16]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: CHANNELS as u16,
        sample_rate: RATE,
        bits_per_sample: 16,
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

/// Read a WAV file's samples (interleaved).
pub fn read_wav(path: &Path) -> Result<Vec<i16>> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    reader
        .samples::<i16>()
        .map(|sample| sample.map_err(Into::into))
        .collect()
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
        PERIOD_SAMPLES, PcmCollector, decode_line, plot, read_wav, spectrum, tone_amplitude,
        write_wav,
    };

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
    fn pcm_lines_decode_and_other_lines_pass() {
        assert_eq!(decode_line("/38AgAAA").unwrap(), vec![0x7fff, -0x8000, 0]);
        let mut collector = PcmCollector::new("dai");
        assert_eq!(collector.feed("[dai] pcm /38AgAAA").unwrap(), None);
        assert_eq!(
            collector.feed("[kernel] hello").unwrap(),
            Some("[kernel] hello")
        );
        assert_eq!(collector.samples.len(), 3);
        assert!(collector.feed("[dai] pcm ab!d").is_err());
        // A gap of two periods is two periods of silence.
        assert_eq!(collector.feed("[dai] pcm-gap 2").unwrap(), None);
        assert_eq!(collector.samples.len(), 3 + 2 * PERIOD_SAMPLES);
        assert!(collector.samples[3..].iter().all(|sample| *sample == 0));
        assert_eq!(collector.gap_periods, 2);
        assert!(collector.feed("[dai] pcm-gap many").is_err());
        // Another service's gap is just text.
        assert_eq!(
            collector.feed("[other] pcm-gap 9").unwrap(),
            Some("[other] pcm-gap 9")
        );
        assert!(decode_line("abc").is_err());
        assert!(decode_line("ab!d").is_err());
    }

    #[test]
    fn pcm_of_other_services_is_just_text() {
        let mut collector = PcmCollector::new("pipeline");
        for line in [
            "[evil] pcm /38AgAAA",
            "[evil] [pipeline] pcm /38AgAAA",
            "[kernel] [pipeline] pcm /38AgAAA",
            "[pipeline-2] pcm /38AgAAA",
            " [pipeline] pcm /38AgAAA",
        ] {
            assert_eq!(collector.feed(line).unwrap(), Some(line));
        }
        assert!(collector.samples.is_empty());
        assert_eq!(collector.feed("[pipeline] pcm /38AgAAA").unwrap(), None);
        assert_eq!(collector.samples, [0x7fff, -0x8000, 0]);
    }

    /// Review S: a `pcm-gap` count is trusted as is — `pcm-gap 4294967295`
    /// (the most the pipeline can print) asks for 824 GB of silence and
    /// aborts the host on allocation failure; a count past `usize::MAX /
    /// PERIOD_SAMPLES` overflows. The collector is bounded: a gap (or PCM)
    /// past [`MAX_SAMPLES`] is refused, and nothing is allocated for it.
    #[test]
    fn a_huge_pcm_gap_is_refused_without_allocating() {
        let mut collector = PcmCollector::new("dai");
        assert_eq!(collector.feed("[dai] pcm-gap 1").unwrap(), None);
        for huge in [
            "[dai] pcm-gap 4294967295",
            "[dai] pcm-gap 18446744073709551615",
            "[dai] pcm-gap 192153584101141162",
        ] {
            let error = collector.feed(huge).unwrap_err();
            assert!(format!("{error:#}").contains("more"), "{error:#}");
        }
        assert_eq!(collector.samples.len(), PERIOD_SAMPLES);
        assert_eq!(collector.gap_periods, 1);
        assert!(collector.samples.capacity() < 1 << 20, "nothing allocated");
        // Up to the bound, gaps and PCM are taken; past it, refused.
        let mut small = PcmCollector::with_limit("dai", 3 * PERIOD_SAMPLES);
        assert_eq!(small.feed("[dai] pcm-gap 3").unwrap(), None);
        assert!(small.feed("[dai] pcm-gap 1").is_err());
        assert!(small.feed("[dai] pcm /38AgAAA").is_err());
        assert_eq!(small.samples.len(), 3 * PERIOD_SAMPLES);
    }

    /// capture -> sink through one ring: the output is the input, period
    /// for period, and silence past its end; a sine pipeline's reference
    /// is the same samples rounded to 16 bits.
    #[test]
    fn the_reference_of_a_capture_pipeline_is_made_from_its_input() {
        use audio_dsp::config::{Buffer, Component, Kind, Pipeline};
        let mut pipeline = Pipeline::default();
        pipeline
            .buffers
            .push(Buffer {
                offset: 0,
                samples: 4 * PERIOD_SAMPLES as u32,
                prefill: 0,
            })
            .unwrap();
        for (name, kind, inputs, output) in [
            ("in", Kind::DaiCapture, &[][..], Some(0)),
            ("out", Kind::Sink, &[0][..], None),
        ] {
            pipeline
                .components
                .push(Component {
                    name: name.try_into().unwrap(),
                    kind,
                    inputs: inputs.iter().copied().collect(),
                    output,
                })
                .unwrap();
        }
        let mut buffers = vec![0u8; pipeline.region_bytes()];
        audio_dsp::ring::Ring::format(&mut buffers);
        let input: Vec<i32> = (0..2 * PERIOD_SAMPLES + 5)
            .map(|i| (i as i32 - 100) * 0x0123_4567)
            .collect();
        let out = super::reference_with_input(&pipeline, &buffers, &input, 4);
        assert_eq!(out.len(), 4 * PERIOD_SAMPLES);
        assert_eq!(out[..input.len()], input[..]);
        assert!(out[input.len()..].iter().all(|s| *s == 0));
        // Without input the capture component plays silence.
        assert!(
            super::reference(&pipeline, &buffers, 3)
                .iter()
                .all(|s| *s == 0)
        );
    }

    #[test]
    fn wav_round_trips() {
        let path = std::env::temp_dir().join(format!("sotto-audio-{}.wav", std::process::id()));
        write_wav(&path, &[1, -2, 3, -4]).unwrap();
        assert_eq!(read_wav(&path).unwrap(), vec![1, -2, 3, -4]);
        std::fs::remove_file(path).unwrap();
    }
}
