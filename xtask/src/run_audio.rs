//! The audio files of `cargo xtask run`: the capture DAI's input, made
//! from `--input FILE.wav` (checked against the DAI's format and widened
//! losslessly to it) and the run's length from it, and the playback
//! DAI's file turned into the `--output` WAV after the run.
//!
//! QEMU runs in a directory of its own, `target/sotto/run/`, made afresh
//! for each run: each DAI's file is `<object name>.pcm` there
//! (`sotto_abi::dai`), raw samples in the DAI's format.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use audio_dsp::config::{Kind, Pipeline};
use sotto_abi::dai::{DaiParams, Direction};
use sotto_abi::manifest::{Object, ObjectParams};
use sotto_audio::dp_latency_frames;

/// A DAI of a system: its object's name and parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dai {
    /// The object's name: its file is `<name>.pcm`.
    pub name: String,
    /// Its format and ring.
    pub params: DaiParams,
}

impl Dai {
    /// Its file's name in QEMU's working directory.
    pub fn file_name(&self) -> String {
        format!("{}{}", self.name, sotto_abi::dai::FILE_SUFFIX)
    }

    /// Its file in `dir`.
    pub fn file_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }
}

/// The first DAI of `direction` among `objects` (a system's or a
/// manifest's).
pub fn find_dai(objects: &[Object], direction: Direction) -> Option<Dai> {
    objects.iter().find_map(|object| match object.params {
        ObjectParams::Dai(params) if params.direction == direction => Some(Dai {
            name: object.name.as_str().to_owned(),
            params,
        }),
        _ => None,
    })
}

/// The name of `pipeline`'s capture component, if it has one.
pub fn capture_component(pipeline: &Pipeline) -> Option<&str> {
    pipeline
        .components
        .iter()
        .find(|component| is_capture(&component.kind))
        .map(|component| component.name.as_str())
}

/// Whether a component reads from the capture DAI.
fn is_capture(kind: &Kind) -> bool {
    matches!(kind, Kind::DaiCapture)
}

/// How long a run streaming `frames` frames of input through `pipeline`
/// from capture DAI `dai` lasts, in microseconds of virtual time
/// ([`sotto_audio::input_run_periods`] of the DAI's periods).
pub fn run_time_us(frames: u64, pipeline: &Pipeline, dai: &DaiParams) -> u64 {
    let periods = sotto_audio::input_run_periods(frames, pipeline, dai.period_frames);
    (periods * u64::from(dai.period_frames) * 1_000_000).div_ceil(u64::from(dai.rate.max(1)))
}

/// A system's pipeline and what names it in messages: the file, and the
/// pipeline it holds (`None`: the system has no audio pipeline).
pub struct SystemAudio<'a> {
    /// The pipeline file, as messages name it.
    pub file: String,
    /// Its description (as the image carries it).
    pub pipeline: Option<Pipeline>,
    /// The system's kernel objects (the DAIs among them).
    pub objects: &'a [Object],
    /// The system file, as messages name it.
    pub system: String,
}

impl<'a> SystemAudio<'a> {
    /// The pipeline of `system` (loaded from `system_file`): the object
    /// filled with a pipeline file's configuration.
    pub fn of(system: &'a crate::system::System, system_file: &Path) -> SystemAudio<'a> {
        let config = system.file.objects.iter().enumerate().find(|(_, object)| {
            object.pipeline.is_some() && object.contents.as_deref() == Some("config")
        });
        let file = config
            .and_then(|(_, object)| object.pipeline.clone())
            .map(|path| shown(Path::new(&path)))
            .unwrap_or_default();
        let pipeline = config.and_then(|(index, _)| {
            let (_, bytes) = system
                .inits
                .iter()
                .find(|(object, _)| usize::from(*object) == index)?;
            Pipeline::decode(bytes)
        });
        SystemAudio {
            file,
            pipeline,
            objects: &system.objects,
            system: shown(system_file),
        }
    }
}

/// A path as messages show it: relative to the working directory when
/// it is under it.
pub fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|dir| path.strip_prefix(dir).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The input of a run, ready for the capture DAI.
#[derive(Debug)]
pub struct Input {
    /// The capture DAI it feeds.
    pub dai: Dai,
    /// The WAV file, as messages name it.
    pub wav: String,
    /// Its format.
    pub spec: sotto_audio::WavSpec,
    /// Frames.
    pub frames: u64,
    /// Its samples, widened to Q1.31 (interleaved).
    pub samples: Vec<i32>,
    /// Its samples in the DAI's format (the DAI's file).
    pub raw: Vec<u8>,
    /// How long the run lasts to stream it all ([`run_time_us`]).
    pub run_us: u64,
}

/// Check `--input` (`input`) against the system's pipeline and capture
/// DAI, and read it: `Ok(None)` for a run without capture. Refused, each
/// with a message saying what to do: an input for a pipeline without a
/// capture component or a system without a capture DAI, a capture
/// pipeline without an input, a WAV file of another format than the
/// DAI's (or wider than its samples).
pub fn prepare_input(input: Option<&Path>, audio: &SystemAudio<'_>) -> Result<Option<Input>> {
    let capture = audio.pipeline.as_ref().and_then(capture_component);
    let (input, capture) = match (input, capture) {
        (None, None) => return Ok(None),
        (Some(input), None) => {
            let what = if audio.pipeline.is_some() {
                format!(
                    "the pipeline {} has no capture component (kind = \"dai-capture\")",
                    audio.file
                )
            } else {
                format!("the system {} has no audio pipeline", audio.system)
            };
            anyhow::bail!(
                "--input {}: {what}, so nothing would read it; run a pipeline that starts from one, e.g. --pipeline pipelines/file-eq.toml",
                shown(input)
            );
        }
        (None, Some(component)) => {
            let format = find_dai(audio.objects, Direction::Capture)
                .map(|dai| format!(", a WAV file of {}", sotto_audio::dai_takes(&dai.params)))
                .unwrap_or_default();
            anyhow::bail!(
                "the pipeline {} starts from capture component \"{component}\": give it the audio to stream with --input FILE{format}",
                audio.file
            );
        }
        (Some(input), Some(component)) => (input, component),
    };
    let Some(dai) = find_dai(audio.objects, Direction::Capture) else {
        anyhow::bail!(
            "--input {}: the pipeline {}'s capture component \"{capture}\" needs a capture DAI, and the system {} declares none (an object of kind = \"dai\", direction = \"capture\")",
            shown(input),
            audio.file,
            audio.system
        );
    };
    let wav = shown(input);
    // The format first, from the header: a file of another one is
    // refused before its samples are read.
    let header = sotto_audio::hound::WavReader::open(input)
        .with_context(|| format!("opening {}", input.display()))?
        .spec();
    sotto_audio::check_capture_input(&wav, &header, &dai.name, &dai.params)
        .map_err(anyhow::Error::msg)?;
    let (spec, samples) = sotto_audio::read_wav_any(input)?;
    let frames = (samples.len() / usize::from(spec.channels.max(1))) as u64;
    if frames == 0 {
        anyhow::bail!("{wav}: the file holds no samples: there is nothing to stream");
    }
    let raw = sotto_audio::to_dai_raw(&samples, dai.params.bits);
    let pipeline = audio.pipeline.as_ref().context("a capture pipeline")?;
    let run_us = run_time_us(frames, pipeline, &dai.params);
    Ok(Some(Input {
        dai,
        wav,
        spec,
        frames,
        samples,
        raw,
        run_us,
    }))
}

/// The playback DAI among `objects` whose file becomes the output WAV;
/// `--output` (`output`) for a system without one is refused.
pub fn playback_for_output(objects: &[Object], output: Option<&Path>) -> Result<Option<Dai>> {
    let dai = find_dai(objects, Direction::Playback);
    if let (None, Some(output)) = (&dai, output) {
        anyhow::bail!(
            "--output {}: the system has no playback DAI (an object of kind = \"dai\", direction = \"playback\"), so it plays nothing to write",
            shown(output)
        );
    }
    Ok(dai)
}

/// Make `dir` afresh (QEMU's working directory for one run) and put the
/// input's file in it.
pub fn prepare_dir(dir: &Path, input: Option<&Input>) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(error).with_context(|| format!("removing {}", dir.display()));
        }
        _ => {}
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(input) = input {
        let file = input.dai.file_in(dir);
        std::fs::write(&file, &input.raw).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}

/// The line that says what the run streams: `run: streaming song.wav
/// (30.000 s, 24-bit) into capture DAI "dai-in"; the run lasts 30.100 s
/// (the input and the pipeline's latency)`.
pub fn input_line(input: &Input, run_us: u64) -> String {
    let seconds = input.frames as f64 / f64::from(input.spec.sample_rate.max(1));
    let length = if run_us == input.run_us {
        format!(
            "the run lasts {:.3} s (the input and the pipeline's latency)",
            input.run_us as f64 / 1e6
        )
    } else if run_us == 0 {
        "the run has no time limit (--time 0)".to_owned()
    } else if run_us < input.run_us {
        format!(
            "--time ends the run at {:.3} s, before all of it is played ({:.3} s)",
            run_us as f64 / 1e6,
            input.run_us as f64 / 1e6
        )
    } else {
        format!("the run lasts {:.3} s (--time)", run_us as f64 / 1e6)
    };
    format!(
        "run: streaming {} ({seconds:.3} s, {}-bit) into capture DAI \"{}\"; {length}",
        input.wav, input.spec.bits_per_sample, input.dai.name
    )
}

/// Write the playback DAI's file in `dir` as the WAV `output`; the line
/// that says so (or that the DAI wrote nothing).
pub fn write_output(dir: &Path, dai: &Dai, output: &Path) -> Result<String> {
    let file = dai.file_in(dir);
    let raw = match std::fs::read(&file) {
        Ok(raw) => raw,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(format!(
                "run: the playback DAI \"{}\" wrote no file ({}): no {}",
                dai.name,
                dai.file_name(),
                shown(output)
            ));
        }
        Err(error) => return Err(error).with_context(|| format!("reading {}", file.display())),
    };
    let frames = sotto_audio::write_dai_wav(output, &raw, &dai.params)?;
    Ok(format!(
        "run: wrote {} ({frames} frames, {:.3} s at {} Hz, {}-bit, from the playback DAI \"{}\"); `cargo xtask plot` draws it",
        shown(output),
        frames as f64 / f64::from(dai.params.rate.max(1)),
        dai.params.rate,
        dai.params.bits,
        dai.name
    ))
}

/// Frames in the playback DAI's file in `dir` so far (for the progress
/// line).
pub fn frames_written(dir: &Path, dai: &Dai) -> u64 {
    std::fs::metadata(dai.file_in(dir)).map_or(0, |meta| {
        meta.len() / u64::from(dai.params.frame_bytes().max(1))
    })
}

/// `--check`: compare the WAV file `wav` written from what the playback
/// DAI `dai` played with the host reference of the pipeline of `image`
/// (the image's bytes), fed `input` if the pipeline captures
/// (`sotto_audio::reference_with_input`), over every period the file
/// holds, at the DAI's width. Refused, naming what differs: the file's
/// format, a sample of another value, or a file too short to hold the
/// output of every input frame. Returns the line saying they match.
pub fn check_output(image: &[u8], input: Option<&Input>, wav: &Path, dai: &Dai) -> Result<String> {
    let (pipeline, buffers) = sotto_audio::pipeline_of_image(image)?;
    let reader = sotto_audio::hound::WavReader::open(wav)
        .with_context(|| format!("--check: opening {}", wav.display()))?;
    let spec = reader.spec();
    let expected = sotto_audio::WavSpec {
        channels: u16::from(dai.params.channels),
        sample_rate: dai.params.rate,
        bits_per_sample: u16::from(dai.params.bits),
        sample_format: sotto_audio::SampleFormat::Int,
    };
    if spec != expected {
        anyhow::bail!(
            "--check: {}: {}, not the playback DAI's {}",
            shown(wav),
            sotto_audio::describe_wav(&spec),
            sotto_audio::describe_wav(&expected)
        );
    }
    let played = reader
        .into_samples::<i32>()
        .collect::<Result<Vec<i32>, _>>()
        .with_context(|| format!("--check: reading {}", wav.display()))?;
    check_played(&pipeline, &buffers, input, &played, dai, &shown(wav))
}

/// [`check_output`] of the samples `played` (at the DAI's width) of the
/// file named `file`, for `pipeline` and its initial `buffers`.
fn check_played(
    pipeline: &Pipeline,
    buffers: &[u8],
    input: Option<&Input>,
    played: &[i32],
    dai: &Dai,
    file: &str,
) -> Result<String> {
    let channels = usize::from(dai.params.channels.max(1));
    let period = audio_dsp::PERIOD_SAMPLES;
    let periods = played.len() / period;
    let frames = (periods * period / channels) as u64;
    if let Some(input) = input {
        let latency = dp_latency_frames(pipeline);
        if frames < input.frames + latency {
            anyhow::bail!(
                "--check: the playback DAI \"{}\" played {frames} frames, fewer than the input's {} and the pipeline's latency ({latency}): the run ended first (--time)",
                dai.name,
                input.frames
            );
        }
    }
    let samples = input.map_or(&[][..], |input| input.samples.as_slice());
    let reference = sotto_audio::reference_with_input(pipeline, buffers, samples, periods);
    let first = played
        .iter()
        .zip(&reference)
        .position(|(played, reference)| {
            *played != sotto_audio::played_at_width(*reference, dai.params.bits)
        });
    if let Some(first) = first {
        anyhow::bail!(
            "--check: sample {first} (frame {}, {:.6} s into {file}) differs: played {}, the host reference {}",
            first / channels,
            (first / channels) as f64 / f64::from(dai.params.rate.max(1)),
            played[first],
            sotto_audio::played_at_width(reference[first], dai.params.bits)
        );
    }
    let from = match input {
        Some(input) => format!(" from {}", input.wav),
        None => String::new(),
    };
    Ok(format!(
        "run: --check: {file}, the {periods} periods the playback DAI \"{}\" played, is the host reference{from}, bit for bit",
        dai.name
    ))
}

#[cfg(test)]
mod tests {
    use super::{
        Dai, SystemAudio, find_dai, input_line, prepare_dir, prepare_input, run_time_us,
        write_output,
    };
    use sotto_abi::dai::{DaiParams, Direction};
    use sotto_abi::manifest::{Object, ObjectParams};
    use sotto_audio::{INPUT_TAIL_PERIODS as TAIL_PERIODS, dp_latency_frames};

    /// A directory of the test's own.
    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("sotto-run-audio-{}-{name}", std::process::id()))
    }

    fn dai(direction: Direction, bits: u8) -> DaiParams {
        DaiParams {
            direction,
            ring: 0,
            rate: 48_000,
            channels: 2,
            bits,
            period_frames: 48,
            ring_periods: 4,
            notify: None,
        }
    }

    fn object(name: &str, params: ObjectParams) -> Object {
        Object {
            name: name.try_into().unwrap(),
            params,
        }
    }

    /// The default system's objects, DAIs among others.
    fn objects() -> Vec<Object> {
        vec![
            object("console", ObjectParams::Console),
            object("dai-out", ObjectParams::Dai(dai(Direction::Playback, 16))),
            object("dai-in", ObjectParams::Dai(dai(Direction::Capture, 32))),
        ]
    }

    /// The default pipeline, as the default system's image carries it.
    fn default_pipeline() -> audio_dsp::config::Pipeline {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let built = crate::pipeline_file::load(&root.join("pipeline.toml")).unwrap();
        audio_dsp::config::Pipeline::decode(&built.config).unwrap()
    }

    #[test]
    fn output_needs_a_playback_dai() {
        let objects = objects();
        let out = std::path::Path::new("/tmp/x.wav");
        assert_eq!(
            super::playback_for_output(&objects, Some(out))
                .unwrap()
                .map(|dai| dai.name),
            Some("dai-out".into())
        );
        assert_eq!(
            super::playback_for_output(&objects[..1], None).unwrap(),
            None
        );
        assert_eq!(
            super::playback_for_output(&objects[..1], Some(out))
                .unwrap_err()
                .to_string(),
            "--output /tmp/x.wav: the system has no playback DAI (an object of kind = \"dai\", direction = \"playback\"), so it plays nothing to write"
        );
    }

    #[test]
    fn the_first_dai_of_each_direction() {
        let objects = objects();
        assert_eq!(
            find_dai(&objects, Direction::Playback),
            Some(Dai {
                name: "dai-out".into(),
                params: dai(Direction::Playback, 16)
            })
        );
        assert_eq!(
            find_dai(&objects, Direction::Capture).map(|dai| dai.file_name()),
            Some("dai-in.pcm".into())
        );
        assert_eq!(find_dai(&objects[..1], Direction::Capture), None);
    }

    /// The default pipeline's FIR runs as DP on 480-frame blocks: two of
    /// them late; the run is the input, that and the tail, in periods.
    /// The reference and the run length take the DP latency the
    /// pipeline file gives each DP output.
    #[test]
    fn the_dp_latency_is_the_prefill() {
        assert_eq!(
            sotto_audio::DP_LATENCY_BLOCKS,
            u64::from(crate::pipeline_file::DP_PREFILL_BLOCKS)
        );
    }

    #[test]
    fn the_run_lasts_the_input_and_the_latency() {
        let pipeline = default_pipeline();
        assert_eq!(dp_latency_frames(&pipeline), 960);
        let capture = dai(Direction::Capture, 32);
        // 30 s: 30,000 periods, 20 of latency, the tail.
        assert_eq!(
            run_time_us(48_000 * 30, &pipeline, &capture),
            (30_000 + 20 + TAIL_PERIODS) * 1000
        );
        // A part of a period is a whole one.
        assert_eq!(
            run_time_us(1, &pipeline, &capture),
            (1 + 20 + TAIL_PERIODS) * 1000
        );
        let ll_only = audio_dsp::config::Pipeline::default();
        assert_eq!(dp_latency_frames(&ll_only), 0);
        assert_eq!(run_time_us(0, &ll_only, &capture), TAIL_PERIODS * 1000);
    }

    /// `--input` for a pipeline that has nothing to read it, or a system
    /// without a pipeline, is refused before anything is built or read.
    #[test]
    fn an_input_nothing_reads_is_refused() {
        let objects = objects();
        let audio = SystemAudio {
            file: "pipeline.toml".into(),
            pipeline: Some(default_pipeline()),
            objects: &objects,
            system: "system.toml".into(),
        };
        assert!(prepare_input(None, &audio).unwrap().is_none());
        let missing = std::path::Path::new("/nonexistent/song.wav");
        assert_eq!(
            prepare_input(Some(missing), &audio)
                .unwrap_err()
                .to_string(),
            "--input /nonexistent/song.wav: the pipeline pipeline.toml has no capture component (kind = \"dai-capture\"), so nothing would read it; run a pipeline that starts from one, e.g. --pipeline pipelines/file-eq.toml"
        );
        let silent = SystemAudio {
            pipeline: None,
            ..audio
        };
        assert_eq!(
            prepare_input(Some(missing), &silent)
                .unwrap_err()
                .to_string(),
            "--input /nonexistent/song.wav: the system system.toml has no audio pipeline, so nothing would read it; run a pipeline that starts from one, e.g. --pipeline pipelines/file-eq.toml"
        );
    }

    /// A system's DAIs and pipeline, from its file.
    #[test]
    fn a_systems_audio() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/systems/dai-good.toml");
        let system = crate::system::load(&path, |_| true, None).unwrap();
        let audio = SystemAudio::of(&system, &path);
        assert!(audio.pipeline.is_none());
        assert_eq!(
            find_dai(audio.objects, Direction::Capture)
                .map(|dai| (dai.name, dai.params.period_frames)),
            Some(("dai-in".to_owned(), 96))
        );
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let default = crate::system::load(&root.join("system.toml"), |_| true, None).unwrap();
        let audio = SystemAudio::of(&default, &root.join("system.toml"));
        assert_eq!(audio.pipeline, Some(default_pipeline()));
        assert!(audio.file.ends_with("pipeline.toml"), "{}", audio.file);
    }

    /// The shipped file pipeline with the default system: an input is
    /// needed, in the capture DAI's format; one that fits is widened to
    /// it, and the run lasts as long as it and the latency.
    #[test]
    fn the_file_pipeline_takes_an_input_of_the_capture_dais_format() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let file_eq = root.join("pipelines/file-eq.toml");
        let system =
            crate::system::load(&root.join("system.toml"), |_| true, Some(&file_eq)).unwrap();
        let mut audio = SystemAudio::of(&system, &root.join("system.toml"));
        assert!(audio.pipeline.as_ref().is_some_and(|p| p.captures()));
        audio.file = "pipelines/file-eq.toml".into();
        assert_eq!(
            prepare_input(None, &audio).unwrap_err().to_string(),
            "the pipeline pipelines/file-eq.toml starts from capture component \"in\": give it the audio to stream with --input FILE, a WAV file of 48000 Hz, 2 channels (16-, 24- or 32-bit PCM)"
        );
        let write = |name: &str, rate, channels, bits, format, frames: usize| {
            let path = temp(name);
            let spec = sotto_audio::WavSpec {
                channels,
                sample_rate: rate,
                bits_per_sample: bits,
                sample_format: format,
            };
            let mut writer = sotto_audio::hound::WavWriter::create(&path, spec).unwrap();
            for i in 0..frames * usize::from(channels) {
                match format {
                    sotto_audio::SampleFormat::Int => writer.write_sample(i as i32 % 100).unwrap(),
                    sotto_audio::SampleFormat::Float => writer.write_sample(0.25f32).unwrap(),
                }
            }
            writer.finalize().unwrap();
            path
        };
        let int = sotto_audio::SampleFormat::Int;
        let mono = write("mono.wav", 44_100, 1, 16, int, 10);
        assert_eq!(
            prepare_input(Some(&mono), &audio).unwrap_err().to_string(),
            format!(
                "{}: 44100 Hz, 1 channel, 16-bit PCM; the capture DAI \"dai-in\" takes 48000 Hz, 2 channels (16-, 24- or 32-bit PCM)",
                mono.display()
            )
        );
        let float = write(
            "float.wav",
            48_000,
            2,
            32,
            sotto_audio::SampleFormat::Float,
            10,
        );
        assert_eq!(
            format!("{:#}", prepare_input(Some(&float), &audio).unwrap_err()),
            format!(
                "{}: 48000 Hz, 2 channels, 32-bit float; the capture DAI \"dai-in\" takes 48000 Hz, 2 channels (16-, 24- or 32-bit PCM)",
                float.display()
            )
        );
        let missing = temp("missing.wav");
        assert!(
            format!("{:#}", prepare_input(Some(&missing), &audio).unwrap_err())
                .starts_with(&format!("opening {}: ", missing.display()))
        );
        let empty = write("empty.wav", 48_000, 2, 16, int, 0);
        assert_eq!(
            format!("{:#}", prepare_input(Some(&empty), &audio).unwrap_err()),
            format!(
                "{}: the file holds no samples: there is nothing to stream",
                empty.display()
            )
        );
        let good = write("good.wav", 48_000, 2, 24, int, 4800);
        let input = prepare_input(Some(&good), &audio).unwrap().unwrap();
        for path in [mono, float, empty, good] {
            std::fs::remove_file(path).unwrap();
        }
        assert_eq!((input.dai.name.as_str(), input.frames), ("dai-in", 4800));
        // 24-bit samples widened into the 32-bit DAI: 4 bytes each.
        assert_eq!(input.raw.len(), 4800 * 2 * 4);
        assert_eq!(input.raw[4..8], (1i32 << 8).to_le_bytes());
        assert_eq!(input.samples[1], 1 << 8);
        // 100 periods, the FIR's two 480-frame blocks, the tail.
        assert_eq!(input.run_us, (100 + 20 + TAIL_PERIODS) * 1000);
    }

    /// `--check`: the played file against the reference, sample by
    /// sample, and long enough for every input frame's output.
    #[test]
    fn check_compares_every_sample_and_the_length() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let built = crate::pipeline_file::load(&root.join("pipelines/file-eq.toml")).unwrap();
        let pipeline = audio_dsp::config::Pipeline::decode(&built.config).unwrap();
        let playback = find_dai(&objects(), Direction::Playback).unwrap();
        let samples = sotto_audio::test_signal(480, 32, 3);
        let input = super::Input {
            dai: find_dai(&objects(), Direction::Capture).unwrap(),
            wav: "song.wav".into(),
            spec: sotto_audio::WavSpec {
                channels: 2,
                sample_rate: 48_000,
                bits_per_sample: 32,
                sample_format: sotto_audio::SampleFormat::Int,
            },
            frames: 480,
            samples: samples.clone(),
            raw: Vec::new(),
            run_us: 0,
        };
        // 10 periods of input, 20 of latency: 30 periods at least.
        let reference = sotto_audio::reference_with_input(&pipeline, &built.buffers, &samples, 32);
        let played: Vec<i32> = reference
            .iter()
            .map(|s| sotto_audio::played_at_width(*s, 16))
            .collect();
        let check = |played: &[i32]| {
            super::check_played(
                &pipeline,
                &built.buffers,
                Some(&input),
                played,
                &playback,
                "eq.wav",
            )
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            check(&played),
            Ok("run: --check: eq.wav, the 32 periods the playback DAI \"dai-out\" played, is the host reference from song.wav, bit for bit".into())
        );
        assert!(
            played[..20 * 96].iter().all(|s| *s == 0) && played[20 * 96..].iter().any(|s| *s != 0),
            "the latency, then the input"
        );
        let mut wrong = played.clone();
        wrong[2500] += 1;
        assert_eq!(
            check(&wrong),
            Err(format!(
                "--check: sample 2500 (frame 1250, 0.026042 s into eq.wav) differs: played {}, the host reference {}",
                played[2500] + 1,
                played[2500]
            ))
        );
        assert_eq!(
            check(&played[..29 * 96]),
            Err("--check: the playback DAI \"dai-out\" played 1392 frames, fewer than the input's 480 and the pipeline's latency (960): the run ended first (--time)".into())
        );
    }

    /// The run's directory is made afresh: nothing of an earlier run is
    /// left in it.
    #[test]
    fn the_run_directory_is_made_afresh() {
        let dir = temp("dir");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("dai-out.pcm"), b"old").unwrap();
        prepare_dir(&dir, None).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
        prepare_dir(&dir, None).unwrap();
        assert!(dir.is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The playback DAI's file becomes the WAV, in its format; no file is
    /// said as much.
    #[test]
    fn the_playback_file_becomes_the_output() {
        let dir = temp("out");
        prepare_dir(&dir, None).unwrap();
        let playback = find_dai(&objects(), Direction::Playback).unwrap();
        let wav = dir.join("out.wav");
        assert_eq!(
            write_output(&dir, &playback, &wav).unwrap(),
            format!(
                "run: the playback DAI \"dai-out\" wrote no file (dai-out.pcm): no {}",
                wav.display()
            )
        );
        assert!(!wav.exists());
        let raw: Vec<u8> = (0..48 * 4 * 3).map(|i| i as u8).collect();
        std::fs::write(dir.join("dai-out.pcm"), &raw).unwrap();
        assert_eq!(
            write_output(&dir, &playback, &wav).unwrap(),
            format!(
                "run: wrote {} (144 frames, 0.003 s at 48000 Hz, 16-bit, from the playback DAI \"dai-out\"); `cargo xtask plot` draws it",
                wav.display()
            )
        );
        assert_eq!(
            super::frames_written(&dir, &playback),
            144,
            "the progress counts its frames"
        );
        let reader = sotto_audio::hound::WavReader::open(&wav).unwrap();
        assert_eq!(reader.spec().bits_per_sample, 16);
        let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
        assert_eq!(samples[0], i16::from_le_bytes([0, 1]));
        assert_eq!(samples.len(), 288);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_input_line_says_how_long_the_run_is() {
        let input = super::Input {
            dai: find_dai(&objects(), Direction::Capture).unwrap(),
            wav: "song.wav".into(),
            spec: sotto_audio::WavSpec {
                channels: 2,
                sample_rate: 48_000,
                bits_per_sample: 24,
                sample_format: sotto_audio::SampleFormat::Int,
            },
            frames: 48_000 * 30,
            samples: Vec::new(),
            raw: Vec::new(),
            run_us: 30_040_000,
        };
        assert_eq!(
            input_line(&input, 30_040_000),
            "run: streaming song.wav (30.000 s, 24-bit) into capture DAI \"dai-in\"; the run lasts 30.040 s (the input and the pipeline's latency)"
        );
        assert_eq!(
            input_line(&input, 5_000_000),
            "run: streaming song.wav (30.000 s, 24-bit) into capture DAI \"dai-in\"; --time ends the run at 5.000 s, before all of it is played (30.040 s)"
        );
        assert!(input_line(&input, 0).ends_with("the run has no time limit (--time 0)"));
        assert!(input_line(&input, 40_000_000).ends_with("the run lasts 40.000 s (--time)"));
    }
}
