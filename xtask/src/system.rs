//! `system.toml`: the services of an image, checked before anything is
//! built. Every error names the file, the service and the field.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use sotto_abi::cap::{CAP_SLOTS, ObjectKind, Rights, parse_rights, rights_text};
use sotto_abi::dai::{DaiParams, Direction, HEADER_BYTES, MAX_DAIS, SAMPLE_BITS, container_bytes};
use sotto_abi::layout::{
    IMAGE_PAYLOAD_BUDGET, KERNEL_BASE, KERNEL_OWN_RESERVE, PAGE_SIZE, REGION_WINDOW,
    TRAMPOLINE_BASE, USER_POOL_SIZE, USER_STACK_FLOOR, USER_STACK_TOP,
};
use sotto_abi::manifest::{
    Cache, CapGrant, LOWEST_PRIORITY, MAX_NAME, MAX_OBJECTS, MAX_SERVICE_THREADS, MAX_SERVICES,
    MAX_THREADS, Object, ObjectParams, TimerTarget,
};
use sotto_abi::supervise::{Restart, Supervision};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemFile {
    /// Another system file (path relative to this one) whose objects and
    /// services come first, before this file's; this file's `[kernel]`
    /// settings override its. One level only.
    #[serde(default)]
    pub base: Option<String>,
    /// Kernel settings.
    #[serde(default)]
    pub kernel: KernelSection,
    /// The kernel objects, by name.
    #[serde(default, rename = "object")]
    pub objects: Vec<ObjectEntry>,
    /// The services, in start order.
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceEntry>,
}

/// `[[object]]`: a kernel object, declared once, granted by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectEntry {
    /// Unique name.
    pub name: String,
    /// endpoint, notification, semaphore, timer, memory or console.
    pub kind: String,
    /// Semaphore: count at boot.
    #[serde(default)]
    pub initial: Option<u32>,
    /// Semaphore: highest count.
    #[serde(default)]
    pub max: Option<u32>,
    /// Timer: notification to signal.
    #[serde(default)]
    pub notify: Option<String>,
    /// Timer: bits to set in it.
    #[serde(default)]
    pub bits: Option<u32>,
    /// Timer: semaphore to give instead.
    #[serde(default)]
    pub give: Option<String>,
    /// Timer: armed at boot with this period in ticks (0: one-shot).
    #[serde(default)]
    pub period_ticks: Option<u32>,
    /// Timer: first expiry this many ticks after boot (default: one period).
    #[serde(default)]
    pub phase_ticks: Option<u32>,
    /// Memory: bytes (page multiple).
    #[serde(default)]
    pub size: Option<u32>,
    /// Memory: "cached" (default) or "uncached".
    #[serde(default)]
    pub cache: Option<String>,
    /// Memory: may several services map it writable.
    #[serde(default)]
    pub shared: bool,
    /// Memory: fill from this pipeline file (path relative to the system
    /// file) ...
    #[serde(default)]
    pub pipeline: Option<String>,
    /// ... with its "config" or its "buffers"; or, without `pipeline`,
    /// "names": the names of the services and their threads, one line per
    /// service (for a supervisor's lines).
    #[serde(default)]
    pub contents: Option<String>,
    /// Memory: kept as it is across a restart of a service that may
    /// write it (else a restart puts it back as the image has it).
    #[serde(default)]
    pub keep: Option<bool>,
    /// DAI: "playback" or "capture" (its `notify` and `bits`, if any, are
    /// signalled every DMA period).
    #[serde(default)]
    pub direction: Option<String>,
    /// DAI: the memory object holding its registers and its ring (sized
    /// by the build when it has no `size`).
    #[serde(default)]
    pub ring: Option<String>,
    /// DAI: frames per second.
    #[serde(default)]
    pub rate: Option<u32>,
    /// DAI: interleaved channels (1 to 8).
    #[serde(default)]
    pub channels: Option<u32>,
    /// DAI: 16, 24 or 32.
    #[serde(default)]
    pub sample_bits: Option<u32>,
    /// DAI: frames per DMA period (a whole number of kernel ticks).
    #[serde(default)]
    pub period_frames: Option<u32>,
    /// DAI: periods in the ring (at least 2).
    #[serde(default)]
    pub ring_periods: Option<u32>,
}

impl ObjectEntry {
    /// The fields only a DAI has, by name, and whether each is given.
    fn dai_fields(&self) -> [(&'static str, bool); 7] {
        [
            ("direction", self.direction.is_some()),
            ("ring", self.ring.is_some()),
            ("rate", self.rate.is_some()),
            ("channels", self.channels.is_some()),
            ("sample_bits", self.sample_bits.is_some()),
            ("period_frames", self.period_frames.is_some()),
            ("ring_periods", self.ring_periods.is_some()),
        ]
    }
}

/// One capability in a service's `caps` list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantEntry {
    /// Object name (or, instead, `thread`).
    #[serde(default)]
    pub object: String,
    /// A thread capability (instead of `object`): `"service"` names the
    /// service's main thread, `"service/thread"` one of its further
    /// threads. The build makes one `thread` object per thread named so.
    #[serde(default)]
    pub thread: Option<String>,
    /// A service capability (instead of `object`): `control` restarts,
    /// stops and queries the service named. The build makes one `service`
    /// object per service named so.
    #[serde(default)]
    pub service: Option<String>,
    /// Rights, e.g. "send+receive".
    pub rights: String,
    /// Slot (default: its position in the list).
    #[serde(default)]
    pub slot: Option<u8>,
    /// Badge (default 0: none).
    #[serde(default)]
    pub badge: u32,
    /// Memory: map the region here at boot.
    #[serde(default)]
    pub at: Option<u32>,
}

/// `[kernel]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSection {
    /// Tick rate in Hz.
    pub tick_hz: Option<u32>,
    /// Virtual time before shutdown, e.g. "2s"; "0" for none.
    pub time: Option<String>,
    /// How often to print a tick line, e.g. "250ms"; "0" for never.
    pub report_every: Option<String>,
}

/// `[[service]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// Unique name (console prefix, fault reports).
    pub name: String,
    /// Crate under `services/` (or `tests/services/`).
    #[serde(rename = "crate")]
    pub krate: String,
    /// 0 (most urgent) ..= 7.
    pub priority: u8,
    /// Stack bytes (page multiple).
    pub stack_size: u32,
    /// Memory budget in bytes (page multiple): code, data, stack and page
    /// tables must fit.
    pub memory: u32,
    /// Passed to the service's main function.
    #[serde(default)]
    pub arg: u32,
    /// The capabilities it starts with.
    #[serde(default)]
    pub caps: Vec<GrantEntry>,
    /// Its further threads (`[[service.thread]]`), besides its main one.
    #[serde(default)]
    pub thread: Vec<ThreadSpec>,
    /// The service that hears of its faults and may restart it (it must
    /// hold `{ service = "this", rights = "control" }`).
    #[serde(default)]
    pub supervisor: Option<String>,
    /// With a supervisor: "always" (default) or "never" restart it.
    #[serde(default)]
    pub restart: Option<String>,
    /// With a supervisor: a fault sooner than this after its (re)start
    /// is restarted only this long after that start, e.g. "20ms"
    /// (default 0).
    #[serde(default)]
    pub min_run: Option<String>,
    /// With a supervisor: more restarts than this within `window` and it
    /// is held (default 0: no limit).
    #[serde(default)]
    pub max_restarts: Option<u32>,
    /// With `max_restarts`: the window its restarts are counted in, e.g.
    /// "1s" (the default).
    #[serde(default)]
    pub window: Option<String>,
    /// A supervisor's: the notification (held with `receive`) the kernel
    /// signals with `FAULT_BIT` when a service it supervises faults.
    #[serde(default)]
    pub faults: Option<String>,
}

/// `[[service.thread]]`: a further thread of a service, in its address
/// space, with its capabilities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadSpec {
    /// Unique within the service (reports say `service/name`).
    pub name: String,
    /// The function it runs: a symbol of the service's binary (defined
    /// with `sotto_rt::thread!`).
    pub entry: String,
    /// 0 (most urgent) ..= 7.
    pub priority: u8,
    /// Stack bytes (page multiple); a guard page sits under it.
    pub stack_size: u32,
    /// The most urgent priority a holder of its thread capability may
    /// give it (default: `priority`).
    #[serde(default)]
    pub max_priority: Option<u8>,
    /// Passed to its function (default: its number in the service, 1 for
    /// the first further thread).
    #[serde(default)]
    pub arg: Option<u32>,
}

impl ThreadSpec {
    /// Its ceiling.
    pub fn ceiling(&self) -> u8 {
        self.max_priority.unwrap_or(self.priority)
    }
}

impl ServiceEntry {
    /// The most urgent priority of its threads.
    pub fn most_urgent(&self) -> u8 {
        self.thread
            .iter()
            .map(|thread| thread.priority)
            .fold(self.priority, u8::min)
    }

    /// Bytes of all its stacks (and their guard pages, which take no
    /// memory).
    pub fn stacks_bytes(&self) -> u32 {
        self.stack_size
            + self
                .thread
                .iter()
                .map(|thread| thread.stack_size)
                .sum::<u32>()
    }
}

/// A checked system.
#[derive(Debug)]
pub struct System {
    /// Its contents.
    pub file: SystemFile,
    /// The objects, as the kernel gets them.
    pub objects: Vec<Object>,
    /// Per service, its capabilities as the kernel gets them.
    pub grants: Vec<Vec<CapGrant>>,
    /// Things worth knowing that are not errors.
    pub warnings: Vec<String>,
    /// Initial contents of memory objects, by object index.
    pub inits: Vec<(u16, Vec<u8>)>,
    /// Per service, its supervision (durations in microseconds: the
    /// tick rate is known only when the image is linked).
    pub policies: Vec<Policy>,
}

/// A service's supervision as `system.toml` declares it, checked; the
/// manifest's [`Supervision`] at a tick rate ([`Policy::at`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Its supervisor's service index.
    pub supervisor: Option<u8>,
    /// Restart after a fault, or not.
    pub restart: Restart,
    /// `min_run`, in microseconds.
    pub min_run_us: u64,
    /// `max_restarts` (0: no limit).
    pub max_restarts: u32,
    /// `window`, in microseconds.
    pub window_us: u64,
    /// A supervisor's faults notification (object index).
    pub faults: Option<u16>,
}

/// The default `window` of `max_restarts`: one second.
pub const DEFAULT_WINDOW_US: u64 = 1_000_000;

impl Policy {
    /// As the manifest carries it, its durations in ticks of `tick_hz`
    /// (rounded up: a backoff or window is never shorter than written).
    pub fn at(&self, tick_hz: u32) -> Result<Supervision, String> {
        let ticks = |us: u64, field: &str| {
            let ticks = (u128::from(us) * u128::from(tick_hz)).div_ceil(1_000_000);
            u32::try_from(ticks)
                .map_err(|_| format!("{field}: {us} µs is too long at {tick_hz} Hz"))
        };
        Ok(Supervision {
            supervisor: self.supervisor,
            restart: self.restart,
            min_run_ticks: ticks(self.min_run_us, "min_run")?,
            max_restarts: self.max_restarts,
            window_ticks: ticks(self.window_us, "window")?,
            faults: self.faults,
        })
    }
}

/// Everything wrong with a system file.
#[derive(Debug)]
pub struct SystemError {
    path: String,
    problems: Vec<String>,
}

impl fmt::Display for SystemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {problem}", self.path)?;
        }
        Ok(())
    }
}

impl std::error::Error for SystemError {}

/// Kernel-owned bytes each service costs: page tables and IPC buffer.
pub const PAGE_TABLE_BYTES: u32 = sotto_abi::layout::SERVICE_OVERHEAD_PAGES * PAGE_SIZE;

/// Read and check `path`; `crate_exists` says whether a crate name is a
/// service crate; `pipeline`, if given, replaces the pipeline file the
/// memory objects name.
pub fn load(
    path: &Path,
    crate_exists: impl Fn(&str) -> bool,
    pipeline: Option<&Path>,
) -> Result<System, SystemError> {
    let shown = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let error = |problems| SystemError {
        path: shown.clone(),
        problems,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| error(vec![format!("cannot read {}: {e}", path.display())]))?;
    let mut file: SystemFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start].matches('\n').count() + 1);
        let message = e.message().to_owned();
        error(vec![match line {
            Some(line) => format!("line {line}: {message}"),
            None => message,
        }])
    })?;
    if let Some(base) = file.base.take() {
        file = with_base(path, &base, file).map_err(|problem| error(vec![problem]))?;
    }
    if let Some(pipeline) = pipeline {
        for object in &mut file.objects {
            if object.pipeline.is_some() {
                object.pipeline = Some(pipeline.display().to_string());
            }
        }
    }
    let mut problems = Vec::new();
    if let Some(problem) = pipeline_tick_problem(&file, file.kernel.tick_hz) {
        problems.push(problem);
    }
    // First, as it sizes objects filled from a pipeline file.
    let inits = initial_contents(
        &mut file,
        path.parent().unwrap_or(Path::new(".")),
        &mut problems,
    );
    size_dai_rings(&mut file);
    problems.extend(check(&file, crate_exists));
    let (objects, grants, warnings) = resolve(&file, &mut problems);
    problems.extend(dai_tick_problems(&file, file.kernel.tick_hz));
    let policies = supervision(&file, &objects, &grants, &mut problems);
    if problems.is_empty() {
        Ok(System {
            file,
            objects,
            grants,
            warnings,
            inits,
            policies,
        })
    } else {
        Err(error(problems))
    }
}

/// The audio pipeline plays one period (48 frames at 48 kHz) per LL tick,
/// and ll-sched's LL tick is `arg & 0xFF` kernel ticks (at least one): a
/// system with a pipeline needs that to be 1 ms, else its audio plays at
/// the wrong speed or with a gap after every period. `tick_hz` is the rate
/// the image will get (the system file's, or a command line's).
pub fn pipeline_tick_problem(file: &SystemFile, tick_hz: Option<u32>) -> Option<String> {
    let hz = tick_hz.unwrap_or(1000);
    let has_pipeline = file.objects.iter().any(|object| object.pipeline.is_some());
    let ll_period = file
        .services
        .iter()
        .find(|service| service.krate == "ll-sched")
        .map_or(1, |service| (service.arg & 0xFF).max(1));
    let periods_per_second = audio_dsp::RATE / audio_dsp::PERIOD_FRAMES as u32;
    let needed = periods_per_second * ll_period;
    (has_pipeline && hz != needed).then(|| {
        format!(
            "tick_hz: {hz} Hz, but the audio pipeline plays one {}-frame period ({} ms at {} Hz) per LL tick of {ll_period} kernel tick(s): it needs tick_hz = {needed}",
            audio_dsp::PERIOD_FRAMES,
            audio_dsp::PERIOD_FRAMES as u32 * 1000 / audio_dsp::RATE,
            audio_dsp::RATE
        )
    })
}

/// `file` (at `path`) after the objects and services of its base file
/// `base`; pipeline files the base names stay relative to the base.
fn with_base(path: &Path, base: &str, file: SystemFile) -> Result<SystemFile, String> {
    let base_path = path.parent().unwrap_or(Path::new(".")).join(base);
    let text = std::fs::read_to_string(&base_path)
        .map_err(|e| format!("base: cannot read {}: {e}", base_path.display()))?;
    let mut first: SystemFile =
        toml::from_str(&text).map_err(|e| format!("base: {base}: {}", e.message()))?;
    if first.base.is_some() {
        return Err(format!(
            "base: {base} has a base of its own (one level only)"
        ));
    }
    let base_dir = base_path.parent().unwrap_or(Path::new("."));
    for object in &mut first.objects {
        if let Some(pipeline) = &mut object.pipeline {
            *pipeline = base_dir.join(&*pipeline).display().to_string();
        }
    }
    first.objects.extend(file.objects);
    first.services.extend(file.services);
    Ok(SystemFile {
        base: None,
        kernel: KernelSection {
            tick_hz: file.kernel.tick_hz.or(first.kernel.tick_hz),
            time: file.kernel.time.or(first.kernel.time),
            report_every: file.kernel.report_every.or(first.kernel.report_every),
        },
        objects: first.objects,
        services: first.services,
    })
}

/// `contents` of a memory object that holds the names of the services
/// and their threads (for a supervisor's lines, see
/// `services/supervisor-core/src/names.rs`).
const NAMES: &str = "names";

/// The names table: one line per service, in declaration order, its name
/// and then its further threads' names, separated by spaces.
fn names_table(services: &[ServiceEntry]) -> Vec<u8> {
    let mut text = String::new();
    for service in services {
        text.push_str(&service.name);
        for thread in &service.thread {
            text.push(' ');
            text.push_str(&thread.name);
        }
        text.push('\n');
    }
    text.into_bytes()
}

/// The size of an object whose initial contents are `len` bytes: its
/// declared `size`, or (none declared) the contents rounded up to whole
/// pages, which becomes its size.
fn contents_size(size: &mut Option<u32>, len: usize) -> usize {
    *size.get_or_insert_with(|| {
        u32::try_from(len.max(1).next_multiple_of(PAGE_SIZE as usize)).unwrap_or(0)
    }) as usize
}

/// Contents of memory objects filled from pipeline files (or with the
/// names table, `contents = "names"`); such an object without a `size`
/// gets its contents' size, rounded up to a page.
fn initial_contents(
    file: &mut SystemFile,
    dir: &Path,
    problems: &mut Vec<String>,
) -> Vec<(u16, Vec<u8>)> {
    let mut inits = Vec::new();
    // The services pair the description with the buffers it lays out.
    let mut first_pipeline: Option<(String, String)> = None;
    let names = names_table(&file.services);
    for (i, object) in file.objects.iter_mut().enumerate() {
        if object.pipeline.is_none() && object.contents.as_deref() == Some(NAMES) {
            let size = contents_size(&mut object.size, names.len());
            if names.len() > size {
                problems.push(format!(
                    "object \"{}\" (#{}): size: {size} bytes cannot hold the {} bytes of the names table",
                    object.name,
                    i + 1,
                    names.len()
                ));
                continue;
            }
            inits.push((i as u16, names.clone()));
            continue;
        }
        let Some(pipeline) = &object.pipeline else {
            if object.contents.is_some() {
                problems.push(format!(
                    "object \"{}\" (#{}): contents: needs `pipeline` (or is \"{NAMES}\")",
                    object.name,
                    i + 1
                ));
            }
            continue;
        };
        match &first_pipeline {
            Some((other, file)) if file != pipeline => {
                problems.push(format!(
                    "object \"{}\" (#{}): pipeline: \"{pipeline}\", but object \"{other}\" names \"{file}\": a system has one pipeline file",
                    object.name,
                    i + 1
                ));
            }
            Some(_) => {}
            None => first_pipeline = Some((object.name.clone(), pipeline.clone())),
        }
        let built = match crate::pipeline_file::load(&dir.join(pipeline)) {
            Ok(built) => built,
            Err(error) => {
                problems.push(format!(
                    "object \"{}\" (#{}): pipeline: {error:#}",
                    object.name,
                    i + 1
                ));
                // A stand-in size: one problem, not a cascade of them.
                object.size.get_or_insert(PAGE_SIZE);
                continue;
            }
        };
        let bytes = match object.contents.as_deref() {
            Some("config") => built.config,
            Some("buffers") => built.buffers,
            other => {
                problems.push(format!(
                    "object \"{}\" (#{}): contents: {other:?} is not \"config\" or \"buffers\"",
                    object.name,
                    i + 1
                ));
                continue;
            }
        };
        let size = contents_size(&mut object.size, bytes.len());
        if bytes.len() > size {
            problems.push(format!(
                "object \"{}\" (#{}): size: {size} bytes cannot hold the {} bytes of {pipeline}'s {}",
                object.name,
                i + 1,
                bytes.len(),
                object.contents.as_deref().unwrap_or("")
            ));
            continue;
        }
        inits.push((i as u16, bytes));
    }
    inits
}

/// Most channels a DAI carries.
pub const DAI_MAX_CHANNELS: u32 = 8;

/// A DAI's format from its entry (`ring` 0 and no `notify`: [`resolve`]
/// fills them in), or every problem with it as (field, what) pairs;
/// `Ok(None)` never happens (the `Option` is for the caller's
/// `unwrap_or_else`).
fn dai_format(object: &ObjectEntry) -> Result<Option<DaiParams>, Vec<(&'static str, String)>> {
    let mut problems: Vec<(&'static str, String)> = Vec::new();
    let mut required = |field: &'static str, value: Option<u32>, what: &str| {
        if value.is_none() {
            problems.push((field, format!("missing: {what}")));
        }
        value.unwrap_or(0)
    };
    let rate = required("rate", object.rate, "frames per second, e.g. 48000");
    let channels = required("channels", object.channels, "1 to 8 interleaved channels");
    let bits = required("sample_bits", object.sample_bits, "16, 24 or 32");
    let period_frames = required(
        "period_frames",
        object.period_frames,
        "frames per DMA period",
    );
    let ring_periods = required(
        "ring_periods",
        object.ring_periods,
        "periods in the ring, at least 2",
    );
    let direction = match object.direction.as_deref() {
        Some("playback") => Direction::Playback,
        Some("capture") => Direction::Capture,
        other => {
            problems.push((
                "direction",
                match other {
                    Some(other) => format!("\"{other}\" is not \"playback\" or \"capture\""),
                    None => "missing: \"playback\" or \"capture\"".into(),
                },
            ));
            Direction::Playback
        }
    };
    if object.rate.is_some() && rate == 0 {
        problems.push(("rate", "must be at least 1 frame per second".into()));
    }
    if object.channels.is_some() && !(1..=DAI_MAX_CHANNELS).contains(&channels) {
        problems.push((
            "channels",
            format!("{channels} is out of range (1 to {DAI_MAX_CHANNELS})"),
        ));
    }
    if object.sample_bits.is_some() && !SAMPLE_BITS.iter().any(|&b| u32::from(b) == bits) {
        problems.push(("sample_bits", format!("{bits} is not 16, 24 or 32")));
    }
    if object.period_frames.is_some() && period_frames == 0 {
        problems.push(("period_frames", "must be at least 1".into()));
    } else if period_frames > u32::from(u16::MAX) {
        problems.push((
            "period_frames",
            format!("{period_frames} is more than {}", u16::MAX),
        ));
    }
    if object.ring_periods.is_some() && ring_periods < 2 {
        problems.push((
            "ring_periods",
            format!("{ring_periods}: a ring needs at least 2 periods (one the DMA moves, one the service fills)"),
        ));
    } else if ring_periods > u32::from(u16::MAX) {
        problems.push((
            "ring_periods",
            format!("{ring_periods} is more than {}", u16::MAX),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // Checked in u64: the ring must fit the service pool (and so a u32).
    let bytes = u64::from(HEADER_BYTES)
        + u64::from(period_frames)
            * u64::from(ring_periods)
            * u64::from(channels)
            * u64::from(container_bytes(bits as u8));
    if bytes > u64::from(USER_POOL_SIZE) {
        return Err(vec![(
            "ring_periods",
            format!(
                "a ring of {ring_periods} periods of {period_frames} frames needs {bytes} bytes, more than the {} KiB service pool",
                USER_POOL_SIZE / 1024
            ),
        )]);
    }
    Ok(Some(DaiParams {
        direction,
        ring: 0,
        rate,
        channels: channels as u8,
        bits: bits as u8,
        period_frames: period_frames as u16,
        ring_periods: ring_periods as u16,
        notify: None,
    }))
}

/// The index of the object named `name`, which must be a `kind`; else
/// why not, as a problem line says it.
fn object_of_kind(
    index: &HashMap<&str, (u16, ObjectKind)>,
    name: &str,
    kind: ObjectKind,
) -> Result<u16, String> {
    match index.get(name) {
        Some(&(object, found)) if found == kind => Ok(object),
        Some(_) => Err(format!("\"{name}\" is not a {}", kind.name())),
        None => Err(format!("no object is named \"{name}\"")),
    }
}

/// The ring of DAI `object`: a memory object big enough for `format`
/// (if that is known), or the problem as (field, what).
fn dai_ring(
    object: &ObjectEntry,
    index: &HashMap<&str, (u16, ObjectKind)>,
    objects: &[ObjectEntry],
    format: Option<&DaiParams>,
) -> Result<u16, (&'static str, String)> {
    let Some(name) = &object.ring else {
        return Err((
            "ring",
            "missing: the memory object that holds its registers and ring".into(),
        ));
    };
    let ring = match index.get(name.as_str()) {
        Some(&(ring, ObjectKind::Memory)) => ring,
        Some(&(_, kind)) => {
            return Err((
                "ring",
                format!("\"{name}\" is a {}, not a memory object", kind.name()),
            ));
        }
        None => return Err(("ring", format!("no object is named \"{name}\""))),
    };
    if let Some(format) = format
        && let Some(size) = objects[usize::from(ring)].size
        && size < format.memory_bytes()
    {
        return Err((
            "ring",
            format!(
                "\"{name}\" has {size} bytes, but this DAI needs {} ({HEADER_BYTES} bytes of registers and {} periods of {} bytes, page-rounded): leave out its `size` and the build sizes it",
                format.memory_bytes(),
                format.ring_periods,
                format.period_bytes()
            ),
        ));
    }
    Ok(ring)
}

/// Give every DAI's ring without a `size` the size the DAI needs (a page
/// if its format is wrong: [`resolve`] reports that, once).
fn size_dai_rings(file: &mut SystemFile) {
    let sizes: Vec<(String, u32)> = file
        .objects
        .iter()
        .filter(|object| object.kind == ObjectKind::Dai.name())
        .filter_map(|object| {
            let bytes = match dai_format(object) {
                Ok(Some(format)) => format.memory_bytes(),
                _ => PAGE_SIZE,
            };
            Some((object.ring.clone()?, bytes))
        })
        .collect();
    for (ring, bytes) in sizes {
        if let Some(object) = file
            .objects
            .iter_mut()
            .find(|object| object.name == ring && object.kind == ObjectKind::Memory.name())
        {
            object.size.get_or_insert(bytes);
        }
    }
}

/// Every DAI whose DMA period is not a whole number of kernel ticks at
/// `tick_hz` (the image's: the system file's, or a command line's;
/// default 1000), one line each.
pub fn dai_tick_problems(file: &SystemFile, tick_hz: Option<u32>) -> Vec<String> {
    let hz = tick_hz.unwrap_or(1000);
    file.objects
        .iter()
        .enumerate()
        .filter(|(_, object)| object.kind == ObjectKind::Dai.name())
        .filter_map(|(i, object)| {
            let format = dai_format(object).ok().flatten()?;
            format.period_ticks(hz).is_none().then(|| {
                let period_us = f64::from(format.period_frames) * 1e6 / f64::from(format.rate);
                format!(
                    "object \"{}\" (#{}): period_frames: a DMA period of {} frames at {} Hz ({period_us:.3} µs) is not a whole number of kernel ticks at tick_hz = {hz} ({:.3} µs each)",
                    object.name,
                    i + 1,
                    format.period_frames,
                    format.rate,
                    1e6 / f64::from(hz.max(1))
                )
            })
        })
        .collect()
}

fn kind_of(name: &str) -> Option<ObjectKind> {
    ObjectKind::ALL.into_iter().find(|kind| kind.name() == name)
}

/// Turn objects and grants into the kernel's form, checking names, rights,
/// mappings and the uphill-call rule.
fn resolve(
    file: &SystemFile,
    problems: &mut Vec<String>,
) -> (Vec<Object>, Vec<Vec<CapGrant>>, Vec<String>) {
    let mut objects = Vec::new();
    let mut index: HashMap<&str, (u16, ObjectKind)> = HashMap::new();
    if file.objects.len() > MAX_OBJECTS {
        problems.push(format!(
            "{} objects declared, at most {MAX_OBJECTS} fit in an image",
            file.objects.len()
        ));
    }
    // Names first, so timers can name objects declared after them.
    for (i, object) in file.objects.iter().enumerate() {
        let mut problem = |field: &str, what: String| {
            problems.push(format!(
                "object \"{}\" (#{}): {field}: {what}",
                object.name,
                i + 1
            ));
        };
        if object.name.is_empty() || object.name.len() > MAX_NAME {
            problem("name", format!("must be 1 to {MAX_NAME} bytes long"));
        }
        let Some(kind) = kind_of(&object.kind) else {
            let kinds: Vec<&str> = ObjectKind::ALL.iter().map(|kind| kind.name()).collect();
            problem(
                "kind",
                format!("\"{}\" is not one of {}", object.kind, kinds.join(", ")),
            );
            continue;
        };
        if index.insert(&object.name, (i as u16, kind)).is_some() {
            problem("name", "duplicate object name".into());
        }
    }
    let dais = file
        .objects
        .iter()
        .filter(|object| object.kind == ObjectKind::Dai.name())
        .count();
    if dais > MAX_DAIS {
        problems.push(format!(
            "{dais} DAIs declared, at most {MAX_DAIS} fit in a system"
        ));
    }
    // Each DAI's ring, by ring: the DAI's name.
    let mut rings: HashMap<u16, &str> = HashMap::new();
    for (i, object) in file.objects.iter().enumerate() {
        let Some(&(_, kind)) = index.get(object.name.as_str()) else {
            continue;
        };
        let mut problem = |field: &str, what: String| {
            problems.push(format!(
                "object \"{}\" (#{}): {field}: {what}",
                object.name,
                i + 1
            ));
        };
        if kind != ObjectKind::Dai {
            for (field, _) in object.dai_fields().iter().filter(|(_, given)| *given) {
                problem(
                    field,
                    format!("only DAIs have it (this is kind = \"{}\")", kind.name()),
                );
            }
        }
        if object.keep.is_some() && kind != ObjectKind::Memory {
            problem(
                "keep",
                format!(
                    "only memory objects are kept across restarts (this is kind = \"{}\")",
                    kind.name()
                ),
            );
        }
        let params = match kind {
            ObjectKind::Endpoint => ObjectParams::Endpoint,
            ObjectKind::Notification => ObjectParams::Notification,
            ObjectKind::Console => ObjectParams::Console,
            ObjectKind::Clock => ObjectParams::Clock,
            ObjectKind::Service => {
                problem(
                    "kind",
                    "service objects are not declared: grant `{ service = \"name\" }`".into(),
                );
                continue;
            }
            ObjectKind::Dai => {
                let format = dai_format(object).unwrap_or_else(|found| {
                    for (field, what) in found {
                        problem(field, what);
                    }
                    None
                });
                let ring = dai_ring(object, &index, &file.objects, format.as_ref())
                    .map_err(|(field, what)| problem(field, what))
                    .ok();
                if let Some(ring) = ring
                    && let Some(other) = rings.insert(ring, &object.name)
                {
                    problem(
                        "ring",
                        format!(
                            "\"{}\" is already the ring of DAI \"{other}\": each DAI has a ring of its own",
                            file.objects[usize::from(ring)].name
                        ),
                    );
                }
                let notify = match &object.notify {
                    None => {
                        if object.bits.is_some() {
                            problem(
                                "bits",
                                "needs `notify` (the notification to set them in)".into(),
                            );
                        }
                        None
                    }
                    Some(name) => object_of_kind(&index, name, ObjectKind::Notification)
                        .map(|target| (target, object.bits.unwrap_or(1)))
                        .map_err(|what| problem("notify", what))
                        .ok(),
                };
                let Some(format) = format else {
                    continue;
                };
                ObjectParams::Dai(DaiParams {
                    ring: ring.unwrap_or(0),
                    notify,
                    ..format
                })
            }
            ObjectKind::Thread => {
                problem(
                    "kind",
                    "thread objects are not declared: grant `{ thread = \"service\" }`".into(),
                );
                continue;
            }
            ObjectKind::Semaphore => {
                let max = object.max.unwrap_or(1);
                let initial = object.initial.unwrap_or(0);
                if max == 0 {
                    problem("max", "must be at least 1".into());
                }
                if initial > max {
                    problem("initial", format!("{initial} exceeds max = {max}"));
                }
                ObjectParams::Semaphore { initial, max }
            }
            ObjectKind::Timer => {
                let target = match (&object.notify, &object.give) {
                    (Some(name), None) => object_of_kind(&index, name, ObjectKind::Notification)
                        .map(|target| TimerTarget::Notify {
                            object: target,
                            bits: object.bits.unwrap_or(1),
                        })
                        .map_err(|what| problem("notify", what))
                        .ok(),
                    (None, Some(name)) => object_of_kind(&index, name, ObjectKind::Semaphore)
                        .map(|target| TimerTarget::Give { object: target })
                        .map_err(|what| problem("give", what))
                        .ok(),
                    _ => {
                        problem(
                            "notify",
                            "a timer needs exactly one of `notify` and `give`".into(),
                        );
                        None
                    }
                };
                let start = object
                    .period_ticks
                    .map(|period| (object.phase_ticks.unwrap_or(period.max(1)), period));
                ObjectParams::Timer {
                    target: target.unwrap_or(TimerTarget::Give { object: 0 }),
                    start,
                }
            }
            ObjectKind::Memory => {
                let size = object.size.unwrap_or(0);
                if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
                    problem(
                        "size",
                        format!("{size} is not a non-zero multiple of the page size ({PAGE_SIZE})"),
                    );
                }
                let cache = match object.cache.as_deref() {
                    None | Some("cached") => Cache::Cached,
                    Some("uncached") => Cache::Uncached,
                    Some(other) => {
                        problem(
                            "cache",
                            format!("\"{other}\" is not \"cached\" or \"uncached\""),
                        );
                        Cache::Cached
                    }
                };
                ObjectParams::Memory {
                    size,
                    cache,
                    shared: object.shared,
                    init: None,
                    keep: object.keep.unwrap_or(false),
                }
            }
        };
        objects.push(Object {
            name: heapless::String::try_from(object.name.as_str()).unwrap_or_default(),
            params,
        });
    }

    let mut grants = Vec::new();
    let mut held = vec![false; file.objects.len()];
    // The `thread` objects made for grants, by service index.
    let mut thread_objects: HashMap<(usize, usize), u16> = HashMap::new();
    // The `service` objects made for grants, by service index.
    let mut service_objects: HashMap<usize, u16> = HashMap::new();
    let mut writers: HashMap<u16, Vec<&str>> = HashMap::new();
    // (endpoint, service index, rights) for the uphill-call rule.
    let mut endpoint_users: Vec<(u16, usize, Rights)> = Vec::new();
    for (s, service) in file.services.iter().enumerate() {
        let mut problem = |field: String, what: String| {
            problems.push(format!(
                "service \"{}\" (#{}): {field}: {what}",
                service.name,
                s + 1
            ));
        };
        let mut list = Vec::new();
        let mut slots_used = [false; CAP_SLOTS];
        let mut ranges: Vec<(u32, u32, &str)> = Vec::new();
        for (i, grant) in service.caps.iter().enumerate() {
            let field = format!("caps[{i}]");
            let found = match (&grant.thread, &grant.service) {
                (Some(_), Some(_)) => {
                    problem(
                        format!("{field}.service"),
                        "names a service and a thread: one of them".into(),
                    );
                    continue;
                }
                (Some(_), None) if !grant.object.is_empty() => {
                    problem(
                        format!("{field}.thread"),
                        "names a thread and an object: one of them".into(),
                    );
                    continue;
                }
                (None, Some(_)) if !grant.object.is_empty() => {
                    problem(
                        format!("{field}.service"),
                        "names a service and an object: one of them".into(),
                    );
                    continue;
                }
                (Some(name), None) => thread_object(file, name, &mut objects, &mut thread_objects)
                    .map_err(|what| problem(format!("{field}.thread"), what))
                    .ok(),
                (None, Some(name)) => {
                    service_object(file, name, &mut objects, &mut service_objects)
                        .map_err(|what| problem(format!("{field}.service"), what))
                        .ok()
                }
                (None, None) => index.get(grant.object.as_str()).copied().or_else(|| {
                    problem(
                        format!("{field}.object"),
                        format!("no object is named \"{}\"", grant.object),
                    );
                    None
                }),
            };
            let Some((object, kind)) = found else {
                continue;
            };
            if kind == ObjectKind::Dai {
                problem(
                    format!("{field}.object"),
                    format!(
                        "\"{}\" is a DAI: a DAI is not granted: grant its ring and its notification",
                        grant.object
                    ),
                );
                continue;
            }
            if let Some(held) = held.get_mut(object as usize) {
                *held = true;
            }
            let rights = match parse_rights(&grant.rights) {
                Ok(rights) => rights,
                Err(word) => {
                    problem(
                        format!("{field}.rights"),
                        format!(
                            "unknown right \"{word}\" (read, write, send, receive, control, grant)"
                        ),
                    );
                    continue;
                }
            };
            let extra = rights - kind.meaningful_rights();
            if !extra.is_empty() {
                problem(
                    format!("{field}.rights"),
                    format!(
                        "a {} cannot have {} (it takes {})",
                        kind.name(),
                        rights_text(extra),
                        rights_text(kind.meaningful_rights())
                    ),
                );
            }
            let slot = grant.slot.unwrap_or(i as u8);
            if slot as usize >= CAP_SLOTS {
                problem(
                    format!("{field}.slot"),
                    format!("{slot} is out of range (0..{CAP_SLOTS})"),
                );
                continue;
            }
            if std::mem::replace(&mut slots_used[slot as usize], true) {
                problem(
                    format!("{field}.slot"),
                    format!("slot {slot} is already used"),
                );
            }
            if let Some(at) = grant.at {
                // Objects made for thread and service grants come after
                // the declared ones: none of them is a region.
                let size = match file.objects.get(object as usize).and_then(|o| o.size) {
                    Some(size) if kind == ObjectKind::Memory => size,
                    _ => {
                        let name = grant
                            .thread
                            .as_deref()
                            .or(grant.service.as_deref())
                            .unwrap_or(&grant.object);
                        problem(
                            format!("{field}.at"),
                            format!(
                                "only memory regions are mapped; \"{name}\" is a {}",
                                kind.name()
                            ),
                        );
                        continue;
                    }
                };
                if !rights.contains(Rights::READ) {
                    problem(
                        format!("{field}.rights"),
                        "a mapped region needs at least `read`".into(),
                    );
                }
                let end = u64::from(at) + u64::from(size);
                if !at.is_multiple_of(PAGE_SIZE)
                    || at < REGION_WINDOW.0
                    || end > u64::from(REGION_WINDOW.1)
                {
                    problem(
                        format!("{field}.at"),
                        format!(
                            "{at:#x} must be page aligned and the region must lie in {:#x}..{:#x}",
                            REGION_WINDOW.0, REGION_WINDOW.1
                        ),
                    );
                } else if let Some((_, _, other)) = ranges.iter().find(|(start, stop, _)| {
                    u64::from(*start) < end && u64::from(at) < u64::from(*stop)
                }) {
                    problem(
                        format!("{field}.at"),
                        format!("{at:#x} overlaps the mapping of \"{other}\""),
                    );
                } else {
                    ranges.push((at, end as u32, &grant.object));
                }
                if rights.contains(Rights::WRITE) {
                    writers.entry(object).or_default().push(&service.name);
                }
            }
            if kind == ObjectKind::Endpoint {
                endpoint_users.push((object, s, rights));
            }
            list.push(CapGrant {
                slot,
                object,
                rights,
                badge: grant.badge,
                map_at: grant.at,
            });
        }
        grants.push(list);
    }
    for (object, services) in &writers {
        let declared = &file.objects[*object as usize];
        if services.len() > 1 && !declared.shared {
            problems.push(format!(
                "object \"{}\": mapped writable by {} (declare `shared = true` if that is meant)",
                declared.name,
                services
                    .iter()
                    .map(|name| format!("\"{name}\""))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
    }
    // A client may only call a server at least as urgent as itself: a more
    // urgent client blocked on a less urgent server is priority inversion.
    // Any thread of a client may call: its most urgent one counts; a
    // server serves at its own priority (the kernel's rule too).
    for &(endpoint, client, rights) in &endpoint_users {
        if !rights.contains(Rights::SEND) {
            continue;
        }
        for &(other, server, server_rights) in &endpoint_users {
            let (client_entry, server_entry) = (&file.services[client], &file.services[server]);
            if other == endpoint
                && server != client
                && server_rights.contains(Rights::RECEIVE)
                && server_entry.priority > client_entry.most_urgent()
            {
                problems.push(format!(
                    "service \"{}\" (#{}): caps: calls \"{}\" through \"{}\", but the server has priority {} and the client {}: a server must be at least as urgent as its clients",
                    client_entry.name,
                    client + 1,
                    server_entry.name,
                    file.objects[endpoint as usize].name,
                    server_entry.priority,
                    client_entry.most_urgent()
                ));
            }
        }
    }
    if objects.len() > MAX_OBJECTS && file.objects.len() <= MAX_OBJECTS {
        problems.push(format!(
            "{} objects with those made for thread and service capabilities ({} declared), at most {MAX_OBJECTS} fit in an image",
            objects.len(),
            file.objects.len()
        ));
    }
    let warnings = file
        .objects
        .iter()
        .zip(&held)
        // Targets of timers, and timers armed at boot, work unheld.
        .filter(|(object, held)| {
            !**held
                && object.period_ticks.is_none()
                // A DAI is never held: the kernel runs it.
                && object.kind != ObjectKind::Dai.name()
                && !file.objects.iter().any(|timer| {
                    timer.notify.as_deref() == Some(&object.name)
                        || timer.give.as_deref() == Some(&object.name)
                })
        })
        .map(|(object, _)| format!("object \"{}\" is held by no service", object.name))
        .collect();
    (objects, grants, warnings)
}

/// Each service's supervision, checked against the services and the
/// grants: a supervisor is another service, supervision has no cycles,
/// policy fields need a supervisor, a supervisor receives on its `faults`
/// notification and holds `control` of every service it supervises.
fn supervision(
    file: &SystemFile,
    objects: &[Object],
    grants: &[Vec<CapGrant>],
    problems: &mut Vec<String>,
) -> Vec<Policy> {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (index, service) in file.services.iter().enumerate() {
        names.entry(service.name.as_str()).or_insert(index);
    }
    let mut policies = vec![Policy::default(); file.services.len()];
    for (s, service) in file.services.iter().enumerate() {
        let mut problem = |field: &str, what: String| {
            problems.push(format!(
                "service \"{}\" (#{}): {field}: {what}",
                service.name,
                s + 1
            ));
        };
        let policy = &mut policies[s];
        let fields = [
            ("restart", service.restart.is_some()),
            ("min_run", service.min_run.is_some()),
            ("max_restarts", service.max_restarts.is_some()),
            ("window", service.window.is_some()),
        ];
        match &service.supervisor {
            None => {
                for (field, _) in fields.iter().filter(|(_, given)| *given) {
                    problem(
                        field,
                        "needs `supervisor` (without one a fault stops the service for good)"
                            .into(),
                    );
                }
            }
            Some(name) => match names.get(name.as_str()) {
                None => problem("supervisor", format!("no service is named \"{name}\"")),
                Some(&index) if index == s => {
                    problem("supervisor", "a service cannot supervise itself".into())
                }
                Some(&index) => policy.supervisor = Some(index as u8),
            },
        }
        policy.restart = match service.restart.as_deref() {
            None | Some("always") => Restart::Always,
            Some("never") => Restart::Never,
            Some(other) => {
                problem(
                    "restart",
                    format!("\"{other}\" is not \"always\" or \"never\""),
                );
                Restart::Always
            }
        };
        let mut duration = |field: &str, text: &Option<String>| {
            text.as_deref()
                .map(crate::run::parse_duration_us)
                .transpose()
                .unwrap_or_else(|what| {
                    problem(field, what);
                    None
                })
        };
        let min_run = duration("min_run", &service.min_run);
        let window = duration("window", &service.window);
        policy.min_run_us = min_run.unwrap_or(0);
        policy.max_restarts = service.max_restarts.unwrap_or(0);
        // A status query reports it in 16 bits.
        if policy.max_restarts > u32::from(u16::MAX) {
            problem(
                "max_restarts",
                format!("{} is more than {}", policy.max_restarts, u16::MAX),
            );
        }
        match (service.max_restarts, window) {
            (None | Some(0), _) if service.window.is_some() => problem(
                "window",
                "needs `max_restarts` (the window is what restarts are counted in)".into(),
            ),
            (Some(1..), Some(0)) => problem("window", "must be longer than 0".into()),
            (Some(1..), window) => policy.window_us = window.unwrap_or(DEFAULT_WINDOW_US),
            _ => {}
        }
        if policy.restart == Restart::Never && service.supervisor.is_some() {
            for field in ["min_run", "max_restarts", "window"] {
                if fields.iter().any(|(name, given)| *name == field && *given) {
                    problem(
                        field,
                        "has no effect with restart = \"never\" (nothing is restarted)".into(),
                    );
                }
            }
        }
    }
    for (s, service) in file.services.iter().enumerate() {
        let mut problem = |field: &str, what: String| {
            problems.push(format!(
                "service \"{}\" (#{}): {field}: {what}",
                service.name,
                s + 1
            ));
        };
        let supervised: Vec<usize> = (0..policies.len())
            .filter(|&other| policies[other].supervisor == Some(s as u8))
            .collect();
        let mut listed = supervised
            .iter()
            .map(|&other| format!("\"{}\"", file.services[other].name))
            .collect::<Vec<_>>();
        let last = listed.pop().unwrap_or_default();
        let listed = match listed.is_empty() {
            true => last,
            false => format!("{} and {last}", listed.join(", ")),
        };
        match &service.faults {
            None if !supervised.is_empty() => problem(
                "faults",
                format!(
                    "missing: it supervises {listed}, so it needs `faults = \"NOTIFICATION\"`, a notification it holds with `receive`, for the kernel to signal their faults on"
                ),
            ),
            None => {}
            Some(name) => {
                if supervised.is_empty() {
                    problem(
                        "faults",
                        format!(
                            "\"{name}\" is named, but no service names \"{}\" as its supervisor",
                            service.name
                        ),
                    );
                }
                match file.objects.iter().position(|object| object.name == *name) {
                    None => problem("faults", format!("no object is named \"{name}\"")),
                    Some(index)
                        if kind_of(&file.objects[index].kind) != Some(ObjectKind::Notification) =>
                    {
                        problem(
                            "faults",
                            format!(
                                "\"{name}\" is not a notification (kind = \"{}\")",
                                file.objects[index].kind
                            ),
                        )
                    }
                    Some(index) => {
                        let receives = grants[s].iter().any(|grant| {
                            usize::from(grant.object) == index
                                && grant.rights.contains(Rights::RECEIVE)
                        });
                        if receives {
                            policies[s].faults = Some(index as u16);
                        } else {
                            problem(
                                "faults",
                                format!(
                                    "it does not hold \"{name}\" with `receive`: add {{ object = \"{name}\", rights = \"receive\" }} to its caps"
                                ),
                            );
                        }
                    }
                }
            }
        }
        for &other in &supervised {
            let controls = grants[s].iter().any(|grant| {
                grant.rights.contains(Rights::CONTROL)
                    && objects
                        .get(usize::from(grant.object))
                        .map(|object| object.params)
                        == Some(ObjectParams::Service {
                            service: other as u16,
                        })
            });
            if !controls {
                let name = &file.services[other].name;
                problem(
                    "caps",
                    format!(
                        "supervises \"{name}\" but holds no {{ service = \"{name}\", rights = \"control\" }}"
                    ),
                );
            }
        }
    }
    // A cycle is reported once, at its first service.
    for (s, service) in file.services.iter().enumerate() {
        let mut chain = vec![s];
        let mut current = policies[s].supervisor;
        while let Some(next) = current.map(usize::from) {
            if next == s {
                if chain.iter().all(|&member| member >= s) {
                    let links: Vec<String> = chain
                        .iter()
                        .enumerate()
                        .map(|(i, &member)| {
                            let supervisor = policies[member].supervisor.map_or(0, usize::from);
                            format!(
                                "\"{}\"{} by \"{}\"",
                                file.services[member].name,
                                if i == 0 { " is supervised" } else { "" },
                                file.services[supervisor].name
                            )
                        })
                        .collect();
                    problems.push(format!(
                        "service \"{}\" (#{}): supervisor: a supervision cycle: {}",
                        service.name,
                        s + 1,
                        links.join(", ")
                    ));
                }
                break;
            }
            if chain.contains(&next) || chain.len() > file.services.len() {
                break;
            }
            chain.push(next);
            current = policies[next].supervisor;
        }
    }
    policies
}

/// The `thread` object of the main thread of service `name` (made on
/// its first grant, after the declared objects, named after the service),
/// or why there is none.
fn thread_object(
    file: &SystemFile,
    name: &str,
    objects: &mut Vec<Object>,
    made: &mut HashMap<(usize, usize), u16>,
) -> Result<(u16, ObjectKind), String> {
    let (service_name, thread_name) = match name.split_once('/') {
        Some((service, thread)) => (service, Some(thread)),
        None => (name, None),
    };
    let Some(service) = file
        .services
        .iter()
        .position(|service| service.name == service_name)
    else {
        return Err(format!("no service is named \"{service_name}\""));
    };
    let thread = match thread_name {
        None => 0,
        Some(thread_name) => {
            let Some(number) = file.services[service]
                .thread
                .iter()
                .position(|thread| thread.name == thread_name)
            else {
                return Err(format!(
                    "service \"{service_name}\" declares no thread named \"{thread_name}\""
                ));
            };
            number + 1
        }
    };
    if let Some(&object) = made.get(&(service, thread)) {
        return Ok((object, ObjectKind::Thread));
    }
    let further: Vec<usize> = file.services.iter().map(|s| s.thread.len()).collect();
    let id = sotto_abi::manifest::thread_id(&further, service, thread)
        .ok_or_else(|| format!("\"{name}\" is not a thread"))?;
    let object = u16::try_from(objects.len()).unwrap_or(u16::MAX);
    objects.push(Object {
        name: heapless::String::try_from(name).unwrap_or_default(),
        params: ObjectParams::Thread {
            service: service as u16,
            thread: thread as u16,
            id: id as u16,
        },
    });
    made.insert((service, thread), object);
    Ok((object, ObjectKind::Thread))
}

/// The `service` object of service `name` (made on its first grant,
/// after the declared objects, named after the service), or why there is
/// none.
fn service_object(
    file: &SystemFile,
    name: &str,
    objects: &mut Vec<Object>,
    made: &mut HashMap<usize, u16>,
) -> Result<(u16, ObjectKind), String> {
    let Some(service) = file
        .services
        .iter()
        .position(|service| service.name == name)
    else {
        return Err(format!("no service is named \"{name}\""));
    };
    if let Some(&object) = made.get(&service) {
        return Ok((object, ObjectKind::Service));
    }
    let object = u16::try_from(objects.len()).unwrap_or(u16::MAX);
    objects.push(Object {
        name: heapless::String::try_from(name).unwrap_or_default(),
        params: ObjectParams::Service {
            service: service as u16,
        },
    });
    made.insert(service, object);
    Ok((object, ObjectKind::Service))
}

fn check(file: &SystemFile, crate_exists: impl Fn(&str) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    if file.services.len() > MAX_SERVICES {
        problems.push(format!(
            "{} services declared, at most {MAX_SERVICES} fit in an image",
            file.services.len()
        ));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut threads = 0;
    for (index, service) in file.services.iter().enumerate() {
        let mut problem = |field: &str, what: String| {
            problems.push(format!(
                "service \"{}\" (#{}): {field}: {what}",
                service.name,
                index + 1
            ));
        };
        let name = service.name.as_str();
        if name.is_empty() || name.len() > MAX_NAME {
            problem("name", format!("must be 1 to {MAX_NAME} bytes long"));
        } else if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problem(
                "name",
                "may use only ASCII letters, digits, '-' and '_'".into(),
            );
        }
        if let Some(first) = seen.insert(name, index) {
            problem(
                "name",
                format!("duplicate: service #{} has the same name", first + 1),
            );
        }
        if !crate_exists(&service.krate) {
            problem(
                "crate",
                format!(
                    "\"{0}\" is not a service crate (no services/{0}/Cargo.toml or tests/services/{0}/Cargo.toml)",
                    service.krate
                ),
            );
        }
        if service.priority > LOWEST_PRIORITY {
            problem(
                "priority",
                format!(
                    "{} is out of range (0 = most urgent ..= {LOWEST_PRIORITY})",
                    service.priority
                ),
            );
        }
        for (field, value) in [
            ("stack_size", service.stack_size),
            ("memory", service.memory),
        ] {
            if value == 0 {
                problem(field, "must not be 0".into());
            } else if !value.is_multiple_of(PAGE_SIZE) {
                problem(
                    field,
                    format!("{value} is not a multiple of the page size ({PAGE_SIZE})"),
                );
            }
        }
        if service.stack_size > 0
            && service.memory > 0
            && service.stack_size + PAGE_TABLE_BYTES > service.memory
        {
            problem(
                "memory",
                format!(
                    "{} bytes cannot hold the {}-byte stack and {PAGE_TABLE_BYTES} bytes of page tables and IPC buffer",
                    service.memory, service.stack_size
                ),
            );
        }
        check_threads(service, &mut problem);
        threads += 1 + service.thread.len();
    }
    if threads > MAX_THREADS && file.services.len() <= MAX_SERVICES {
        problems.push(format!(
            "{threads} threads declared (every service's main thread and its [[service.thread]]s), at most {MAX_THREADS} fit in an image"
        ));
    }
    let services: u64 = file
        .services
        .iter()
        .map(|service| u64::from(service.memory))
        .sum();
    let regions: u64 = file
        .objects
        .iter()
        .filter_map(|object| object.size)
        .map(u64::from)
        .sum();
    let total = services + regions;
    if total > u64::from(USER_POOL_SIZE) {
        problems.push(format!(
            "the services' memory and regions add up to {} KiB, more than the {} KiB service pool",
            total / 1024,
            USER_POOL_SIZE / 1024
        ));
    }
    problems.extend(check_dp_runners(file));
    problems
}

/// The crate of the audio pipeline, whose `dp_main` threads run DP
/// components, and that of the isolated DP worker service.
const PIPELINE_CRATE: &str = "pipeline";
const DP_WORKER_CRATE: &str = "pipeline-dp";

/// Each DP component runs in one place: a DP thread of the pipeline
/// (`entry = "dp_main"`) or a worker service (crate `pipeline-dp`), the
/// DP number in bits 0..8 of its `arg`. Two would take the same blocks.
fn check_dp_runners(file: &SystemFile) -> Vec<String> {
    let mut problems = Vec::new();
    let mut runners: HashMap<u32, String> = HashMap::new();
    for (index, service) in file.services.iter().enumerate() {
        let mut found = Vec::new();
        if service.krate == DP_WORKER_CRATE {
            found.push((service.name.clone(), "arg".to_owned(), service.arg));
        }
        if service.krate == PIPELINE_CRATE {
            for (number, thread) in service.thread.iter().enumerate() {
                if thread.entry == "dp_main" {
                    let arg = thread.arg.unwrap_or(number as u32 + 1);
                    let runner = format!("{}/{}", service.name, thread.name);
                    found.push((runner, format!("thread \"{}\": arg", thread.name), arg));
                }
            }
        }
        for (runner, field, arg) in found {
            let dp = arg & 0xFF;
            match runners.get(&dp) {
                Some(other) => problems.push(format!(
                    "service \"{}\" (#{}): {field}: DP component #{dp} already runs in \"{other}\" (one DP thread or worker per DP component)",
                    service.name,
                    index + 1
                )),
                None => {
                    runners.insert(dp, runner);
                }
            }
        }
    }
    problems
}

/// The `[[service.thread]]`s of `service`: names, priorities, stacks and
/// how many (the entry symbols are checked against the built binary:
/// [`thread_entries`]).
fn check_threads(service: &ServiceEntry, problem: &mut impl FnMut(&str, String)) {
    if service.thread.len() > MAX_SERVICE_THREADS {
        problem(
            "thread",
            format!(
                "{} threads declared, at most {MAX_SERVICE_THREADS} besides the main one",
                service.thread.len()
            ),
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (number, thread) in service.thread.iter().enumerate() {
        let field = |what: &str| format!("thread \"{}\": {what}", thread.name);
        let name = thread.name.as_str();
        if name.is_empty() || name.len() > MAX_NAME {
            problem(
                &field("name"),
                format!("must be 1 to {MAX_NAME} bytes long"),
            );
        } else if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problem(
                &field("name"),
                "may use only ASCII letters, digits, '-' and '_'".into(),
            );
        }
        if let Some(first) = names.insert(name, number) {
            problem(
                &field("name"),
                format!(
                    "duplicate: thread #{} of this service has the same name",
                    first + 1
                ),
            );
        }
        if thread.entry.is_empty() {
            problem(&field("entry"), "must name a function".into());
        }
        if thread.priority > LOWEST_PRIORITY {
            problem(
                &field("priority"),
                format!(
                    "{} is out of range (0 = most urgent ..= {LOWEST_PRIORITY})",
                    thread.priority
                ),
            );
        }
        if thread.ceiling() > thread.priority {
            problem(
                &field("max_priority"),
                format!(
                    "{} is less urgent than its priority {} (the ceiling is the most urgent priority it may be given)",
                    thread.ceiling(),
                    thread.priority
                ),
            );
        }
        if thread.stack_size == 0 {
            problem(&field("stack_size"), "must not be 0".into());
        } else if !thread.stack_size.is_multiple_of(PAGE_SIZE) {
            problem(
                &field("stack_size"),
                format!(
                    "{} is not a multiple of the page size ({PAGE_SIZE})",
                    thread.stack_size
                ),
            );
        }
    }
    // All stacks and their guard pages share one 4 MiB table with the IPC
    // buffer (`sotto_abi::layout`).
    let guards = (1 + service.thread.len() as u64) * u64::from(PAGE_SIZE);
    let room = u64::from(USER_STACK_TOP - USER_STACK_FLOOR);
    if u64::from(service.stacks_bytes()) + guards > room {
        problem(
            "thread",
            format!(
                "the stacks ({} bytes) and their guard pages do not fit the {} KiB stack area",
                service.stacks_bytes(),
                room / 1024
            ),
        );
    }
}

/// The entry addresses of `service`'s further threads, resolved in its
/// built binary's symbols by `symbol` (name to address), or the problems.
pub fn thread_entries(
    service: &ServiceEntry,
    symbol: impl Fn(&str) -> Option<u32>,
) -> Result<Vec<u32>, String> {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for thread in &service.thread {
        match symbol(&thread.entry) {
            Some(address) => entries.push(address),
            None => problems.push(format!(
                "service \"{}\": thread \"{}\": entry: no function \"{}\" in the service's binary (define it with sotto_rt::thread!({}, your_function))",
                service.name, thread.name, thread.entry, thread.entry
            )),
        }
    }
    match problems.is_empty() {
        true => Ok(entries),
        false => Err(problems.join("\n")),
    }
}

/// Check that a built service fits its budget: `image_bytes` of segments
/// (page-rounded) plus stacks and page tables.
pub fn check_fit(service: &ServiceEntry, image_bytes: u32) -> Result<(), String> {
    let stacks = service.stacks_bytes();
    let needed = image_bytes + stacks + PAGE_TABLE_BYTES;
    if needed > service.memory {
        let what = match service.thread.is_empty() {
            true => "the stack",
            false => "the stacks",
        };
        return Err(format!(
            "service \"{}\": memory: {} bytes do not fit: code and data take {image_bytes}, {what} {stacks}, page tables and IPC buffer {PAGE_TABLE_BYTES} (need {needed})",
            service.name, service.memory
        ));
    }
    Ok(())
}

/// Check that what the kernel image carries fits the kernel's first
/// megabyte: `services` (name, bytes of code and data packed into the
/// image) and `contents` bytes of objects' initial contents, against
/// [`IMAGE_PAYLOAD_BUDGET`]. Without this the kernel's link fails with a
/// linker message.
pub fn check_image_budget(services: &[(&str, u32)], contents: u32) -> Result<(), String> {
    let code: u64 = services.iter().map(|(_, bytes)| u64::from(*bytes)).sum();
    let total = code + u64::from(contents);
    if total <= u64::from(IMAGE_PAYLOAD_BUDGET) {
        return Ok(());
    }
    let kib = |bytes: u64| bytes.div_ceil(1024);
    let mut largest: Vec<&(&str, u32)> = services.iter().collect();
    largest.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    let largest: Vec<String> = largest
        .iter()
        .take(3)
        .map(|(name, bytes)| format!("\"{name}\" {} KiB", kib(u64::from(*bytes))))
        .collect();
    Err(format!(
        "the image does not fit the kernel's first megabyte: the services' code and data ({} KiB) and the objects' initial contents ({} KiB) need {} KiB, the budget is {} KiB ({} KiB from {KERNEL_BASE:#x} to {TRAMPOLINE_BASE:#x}, less {} KiB for the kernel itself); the largest services: {}",
        kib(code),
        kib(u64::from(contents)),
        kib(total),
        IMAGE_PAYLOAD_BUDGET / 1024,
        (TRAMPOLINE_BASE - KERNEL_BASE) / 1024,
        KERNEL_OWN_RESERVE / 1024,
        largest.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::{ServiceEntry, check_fit, check_image_budget, load, names_table};
    use sotto_abi::cap::Rights;
    use sotto_abi::manifest::{CapGrant, ObjectParams, TimerTarget};
    use std::path::Path;

    /// Every `fixtures/systems/*.toml` either loads (no `.err` beside it) or
    /// fails with exactly the text of its `.err` file.
    #[test]
    fn fixtures() {
        crate::fixtures::check("systems", 8, |path| {
            load(
                path,
                |krate| ["hello", "ticker", "pipeline", "pipeline-dp"].contains(&krate),
                None,
            )
            .map(|_| ())
            .map_err(|error| error.to_string())
        });
    }

    #[test]
    fn a_names_object_holds_every_service_and_thread_name() {
        let file: super::SystemFile = toml::from_str(
            r#"
            [[object]]
            name = "names"
            kind = "memory"
            contents = "names"

            [[service]]
            name = "echo"
            crate = "hello"
            priority = 2
            stack_size = 4096
            memory = 65536

            [[service]]
            name = "pipeline"
            crate = "pipeline"
            priority = 1
            stack_size = 4096
            memory = 65536

            [[service.thread]]
            name = "eq"
            entry = "dp_main"
            priority = 3
            stack_size = 4096
            "#,
        )
        .unwrap();
        assert_eq!(names_table(&file.services), b"echo\npipeline eq\n");
        let dir = std::env::temp_dir().join(format!("sotto-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("names.toml");
        let text = r#"
            [[object]]
            name = "console"
            kind = "console"

            [[object]]
            name = "names"
            kind = "memory"
            contents = "names"

            [[service]]
            name = "hello"
            crate = "hello"
            priority = 2
            stack_size = 4096
            memory = 65536
            caps = [
              { object = "console", rights = "send" },
              { object = "names", rights = "read", at = 0x50000000 },
            ]
            "#;
        std::fs::write(&path, text).unwrap();
        let system = load(&path, |_| true, None).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(system.inits, vec![(1, b"hello\n".to_vec())]);
    }

    #[test]
    fn objects_and_grants_become_the_kernel_form() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/systems/objects-good.toml");
        let system = load(&path, |_| true, None).unwrap();
        // The five declared, and one made for the thread capability.
        assert_eq!(system.objects.len(), 6);
        assert_eq!(
            system.objects[5].params,
            ObjectParams::Thread {
                service: 0,
                thread: 0,
                id: 0,
            }
        );
        assert_eq!(system.objects[5].name.as_str(), "hello");
        assert_eq!(
            (system.grants[1][3].object, system.grants[1][3].rights),
            (5, Rights::CONTROL)
        );
        assert_eq!(
            system.objects[3].params,
            ObjectParams::Timer {
                target: TimerTarget::Notify { object: 2, bits: 1 },
                start: Some((1, 1))
            }
        );
        let ticker = &system.grants[1];
        assert_eq!(
            ticker[1],
            CapGrant {
                slot: 4,
                object: 1,
                rights: Rights::SEND | Rights::GRANT,
                badge: 7,
                map_at: None
            }
        );
        assert_eq!(ticker[2].map_at, Some(0x5010_0000));
        assert!(system.warnings.is_empty(), "{:?}", system.warnings);
    }

    #[test]
    fn dais_become_the_kernel_form_and_size_their_rings() {
        use sotto_abi::dai::{DaiParams, Direction};
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/systems/dai-good.toml");
        let system = load(&path, |_| true, None).unwrap();
        let out = DaiParams {
            direction: Direction::Playback,
            ring: 2,
            rate: 48_000,
            channels: 2,
            bits: 16,
            period_frames: 48,
            ring_periods: 4,
            notify: Some((1, 1)),
        };
        assert_eq!(system.objects[3].params, ObjectParams::Dai(out));
        assert_eq!(
            system.objects[5].params,
            ObjectParams::Dai(DaiParams {
                direction: Direction::Capture,
                ring: 4,
                bits: 32,
                period_frames: 96,
                ring_periods: 8,
                notify: Some((1, 2)),
                ..out
            })
        );
        // The ring without a size gets the DAI's; the one with a size
        // keeps it.
        let size = |index: usize| match system.objects[index].params {
            ObjectParams::Memory { size, .. } => size,
            _ => panic!("not memory"),
        };
        assert_eq!((size(2), size(4)), (out.memory_bytes(), 16384));
        assert_eq!(system.file.objects[2].size, Some(4096));
        // DAIs are never held and not warned about.
        assert!(system.warnings.is_empty(), "{:?}", system.warnings);
        // At another tick rate (a command line's), 48 frames at 48 kHz
        // still are whole ticks at 4 kHz, not at 300 Hz.
        assert!(super::dai_tick_problems(&system.file, Some(4000)).is_empty());
        assert_eq!(super::dai_tick_problems(&system.file, Some(300)).len(), 2);
    }

    #[test]
    fn objects_nobody_holds_are_warned_about() {
        let dir = std::env::temp_dir().join(format!("sotto-warn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("system.toml");
        std::fs::write(
            &path,
            "[[object]]\nname = \"lonely\"\nkind = \"endpoint\"\n",
        )
        .unwrap();
        let system = load(&path, |_| true, None).unwrap();
        assert_eq!(
            system.warnings,
            vec!["object \"lonely\" is held by no service".to_owned()]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A packed image's sizes, as a budget fixture gives them.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Packed {
        /// Bytes of objects' initial contents.
        contents: u32,
        /// Bytes of code and data of each service.
        services: Vec<PackedService>,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PackedService {
        name: String,
        bytes: u32,
    }

    /// Every `fixtures/budget/*.toml` (the sizes of a packed image) fits
    /// the kernel's first megabyte or fails with its `.err`.
    #[test]
    fn images_must_fit_the_kernels_first_megabyte() {
        crate::fixtures::check("budget", 3, |path| {
            let text = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
            let packed: Packed = toml::from_str(&text).map_err(|error| error.to_string())?;
            let services: Vec<(&str, u32)> = packed
                .services
                .iter()
                .map(|service| (service.name.as_str(), service.bytes))
                .collect();
            check_image_budget(&services, packed.contents)
        });
    }

    #[test]
    fn a_base_file_comes_first_and_its_pipeline_stays_its_own() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let base = load(&root.join("system.toml"), |_| true, None).unwrap();
        let hostile = load(&root.join("tests/hostile.toml"), |_| true, None).unwrap();
        let names = |system: &super::System| -> Vec<String> {
            system
                .file
                .services
                .iter()
                .map(|s| s.name.clone())
                .collect()
        };
        let mut expected = names(&base);
        expected.extend(["hostile-a".to_owned(), "hostile-b".to_owned()]);
        assert_eq!(names(&hostile), expected);
        // Same declared objects first, the audio pipeline's contents read
        // from system.toml's pipeline.toml; the same grants, each of the
        // same object (the objects made for thread capabilities come
        // after all declared ones, so their indices differ; and further
        // threads are numbered after every main thread, so the kernel's
        // number of one moves with the services added).
        let declared = base.file.objects.len();
        assert_eq!(
            hostile.objects[..declared]
                .iter()
                .map(|object| object.params)
                .collect::<Vec<_>>(),
            base.objects[..declared]
                .iter()
                .map(|object| object.params)
                .collect::<Vec<_>>()
        );
        // The same initial contents, but for the names table, which
        // names the added services too.
        let names_object = |system: &super::System| {
            system
                .file
                .objects
                .iter()
                .position(|object| object.contents.as_deref() == Some(super::NAMES))
                .map(|i| i as u16)
        };
        let split = |system: &super::System| {
            let names = names_object(system);
            let (names, others): (Vec<_>, Vec<_>) = system
                .inits
                .iter()
                .cloned()
                .partition(|(object, _)| Some(*object) == names);
            (names.into_iter().next().map(|(_, bytes)| bytes), others)
        };
        let (base_names, base_inits) = split(&base);
        let (hostile_names, hostile_inits) = split(&hostile);
        assert_eq!(hostile_inits, base_inits);
        if let Some(mut names) = base_names {
            names.extend_from_slice(b"hostile-a\nhostile-b\n");
            assert_eq!(hostile_names, Some(names));
        }
        let resolved = |system: &super::System, service: usize| {
            system.grants[service]
                .iter()
                .map(|grant| {
                    let mut params = system.objects[grant.object as usize].params;
                    if let ObjectParams::Thread { id, .. } = &mut params {
                        *id = 0;
                    }
                    (grant.slot, params, grant.rights, grant.badge, grant.map_at)
                })
                .collect::<Vec<_>>()
        };
        for service in 0..base.grants.len() {
            assert_eq!(resolved(&hostile, service), resolved(&base, service));
        }
        assert_eq!(hostile.file.kernel.time, base.file.kernel.time);

        let dir = std::env::temp_dir().join(format!("sotto-base-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.toml"), "base = \"b.toml\"\n").unwrap();
        std::fs::write(dir.join("b.toml"), "base = \"c.toml\"\n").unwrap();
        let error = load(&dir.join("a.toml"), |_| true, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a.toml: base: b.toml has a base of its own (one level only)"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Found by review: the pipeline plays one 1 ms period per LL tick, and
    /// an LL tick is ll-sched's `arg & 0xFF` kernel ticks; nothing checked
    /// that this is 1 ms. The default system with `tick_hz = 2000` built
    /// and played every period twice as fast; at 500 Hz every period was
    /// followed by a `pcm-gap 1`. Now refused, with the rate it needs.
    #[test]
    fn a_pipeline_needs_a_one_millisecond_ll_tick() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = std::env::temp_dir().join(format!("sotto-tick-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let system = dir.join("fast.toml");
        std::fs::write(
            &system,
            format!(
                "base = \"{}\"\n[kernel]\ntick_hz = 2000\n",
                root.join("system.toml").display()
            ),
        )
        .unwrap();
        let loaded = load(&system, |_| true, None);
        std::fs::remove_dir_all(dir).unwrap();
        let Err(error) = loaded else {
            panic!("a 0.5 ms LL tick with the pipeline was accepted");
        };
        assert!(
            error.to_string().contains(
                "tick_hz: 2000 Hz, but the audio pipeline plays one 48-frame period (1 ms at 48000 Hz) per LL tick of 1 kernel tick(s): it needs tick_hz = 1000"
            ),
            "{error}"
        );
        // An LL tick of two kernel ticks at 2 kHz is 1 ms again: fine;
        // at 1 kHz it would be 2 ms: refused.
        let mut system = load(&root.join("system.toml"), |_| true, None).unwrap();
        for service in &mut system.file.services {
            if service.krate == "ll-sched" {
                service.arg = (service.arg & !0xFF) | 2;
            }
        }
        assert_eq!(super::pipeline_tick_problem(&system.file, Some(2000)), None);
        assert!(
            super::pipeline_tick_problem(&system.file, Some(1000))
                .is_some_and(|problem| problem.ends_with("it needs tick_hz = 2000"))
        );
    }

    #[test]
    fn built_services_must_fit_their_budget() {
        let service = ServiceEntry {
            name: "hello".into(),
            krate: "hello".into(),
            priority: 3,
            stack_size: 8192,
            memory: 45056,
            ..ServiceEntry::default()
        };
        assert_eq!(check_fit(&service, 12288), Ok(()));
        assert_eq!(
            check_fit(&service, 16384),
            Err("service \"hello\": memory: 45056 bytes do not fit: code and data take 16384, the stack 8192, page tables and IPC buffer 24576 (need 49152)".into())
        );
        let mut threaded = service.clone();
        threaded.thread.push(super::ThreadSpec {
            name: "fir".into(),
            entry: "fir_main".into(),
            priority: 5,
            stack_size: 4096,
            max_priority: None,
            arg: None,
        });
        assert_eq!(
            check_fit(&threaded, 12288),
            Err("service \"hello\": memory: 45056 bytes do not fit: code and data take 12288, the stacks 12288, page tables and IPC buffer 24576 (need 49152)".into())
        );
    }

    /// A thread's entry is a symbol of the service's binary: one that is
    /// not names the service, the thread and the symbol.
    #[test]
    fn thread_entries_are_symbols_of_the_binary() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/systems/threads-good.toml");
        let system = load(&path, |krate| ["hello", "ticker"].contains(&krate), None).unwrap();
        let service = &system.file.services[0];
        let symbols = |name: &str| (name == "fir_main").then_some(0x4000_0100);
        assert_eq!(
            super::thread_entries(service, symbols),
            Err("service \"pipeline\": thread \"eq\": entry: no function \"eq_main\" in the service's binary (define it with sotto_rt::thread!(eq_main, your_function))".into())
        );
        let symbols = |name: &str| match name {
            "fir_main" => Some(0x4000_0100),
            "eq_main" => Some(0x4000_0200),
            _ => None,
        };
        assert_eq!(
            super::thread_entries(service, symbols),
            Ok(vec![0x4000_0100, 0x4000_0200])
        );
        assert_eq!(system.file.services[0].thread[0].ceiling(), 4);
        assert_eq!(system.file.services[0].thread[1].ceiling(), 6);
    }

    /// `supervisor`, its policy and a supervisor's `faults` become the
    /// manifest's `Supervision`, at the image's tick rate; a `{ service =
    /// ... }` grant becomes one `service` object per service named;
    /// `keep = true` marks the memory object.
    #[test]
    fn supervision_becomes_the_manifests() {
        use sotto_abi::supervise::{Restart, Supervision};
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/systems/supervision-good.toml");
        let system = load(&path, |_| true, None).unwrap();
        let at = |service: usize, hz| system.policies[service].at(hz).unwrap();
        let worker = Supervision {
            supervisor: Some(1),
            restart: Restart::Always,
            min_run_ticks: 20,
            max_restarts: 3,
            window_ticks: 1500,
            faults: None,
        };
        assert_eq!(at(0, 1000), worker);
        assert_eq!(
            at(0, 4000),
            Supervision {
                min_run_ticks: 80,
                window_ticks: 6000,
                ..worker
            }
        );
        assert_eq!(
            at(1, 1000),
            Supervision {
                faults: Some(1),
                ..Supervision::default()
            }
        );
        assert_eq!(
            at(2, 1000),
            Supervision {
                supervisor: Some(1),
                restart: Restart::Never,
                ..Supervision::default()
            }
        );
        // `window` defaults to a second once `max_restarts` is given.
        assert_eq!(at(3, 1000).window_ticks, 1000);
        assert_eq!(at(3, 1000).max_restarts, 2);
        // Durations round up to whole ticks; an overflow is refused.
        let policy = super::Policy {
            min_run_us: 1,
            window_us: 1_500,
            ..super::Policy::default()
        };
        assert_eq!(policy.at(1000).unwrap().min_run_ticks, 1);
        assert_eq!(policy.at(1000).unwrap().window_ticks, 2);
        let long = super::Policy {
            min_run_us: u64::MAX / 2,
            ..super::Policy::default()
        };
        assert!(long.at(1000).unwrap_err().starts_with("min_run: "));

        // Three declared objects, then one per service named in a grant,
        // named after it, in the order first granted.
        let made: Vec<(String, ObjectParams)> = system.objects[3..]
            .iter()
            .map(|object| (object.name.to_string(), object.params))
            .collect();
        assert_eq!(
            made,
            vec![
                ("worker".to_owned(), ObjectParams::Service { service: 0 }),
                ("once".to_owned(), ObjectParams::Service { service: 2 }),
                ("watcher".to_owned(), ObjectParams::Service { service: 3 }),
            ]
        );
        let boss: Vec<(u16, Rights)> = system.grants[1]
            .iter()
            .map(|grant| (grant.object, grant.rights))
            .collect();
        assert_eq!(
            boss,
            vec![
                (0, Rights::SEND),
                (1, Rights::RECEIVE),
                (3, Rights::CONTROL),
                (4, Rights::CONTROL | Rights::GRANT),
                (5, Rights::CONTROL),
            ]
        );
        assert_eq!(system.grants[3][0].object, 3);
        assert!(matches!(
            system.objects[2].params,
            ObjectParams::Memory { keep: true, .. }
        ));
        assert!(system.warnings.is_empty(), "{:?}", system.warnings);
        // The default system keeps nothing it does not declare kept.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let default = load(&root.join("system.toml"), |_| true, None).unwrap();
        for object in &default.objects {
            if let ObjectParams::Memory { keep, .. } = object.params {
                let declared = default
                    .file
                    .objects
                    .iter()
                    .find(|o| o.name == object.name.as_str())
                    .unwrap();
                assert_eq!(keep, declared.keep == Some(true), "{}", object.name);
            }
        }
    }

    /// `{ thread = "service/thread" }` names a further thread by the
    /// kernel's number for it: after every main thread.
    #[test]
    fn further_threads_grants_name_the_kernels_thread() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/systems/threads-good.toml");
        let system = load(&path, |krate| ["hello", "ticker"].contains(&krate), None).unwrap();
        let granted: Vec<(String, ObjectParams)> = system.grants[1]
            .iter()
            .map(|grant| {
                let object = &system.objects[usize::from(grant.object)];
                (object.name.to_string(), object.params)
            })
            .collect();
        let thread = |service, thread, id| ObjectParams::Thread {
            service,
            thread,
            id,
        };
        assert_eq!(
            granted,
            vec![
                ("pipeline/eq".to_owned(), thread(0, 2, 3)),
                ("pipeline".to_owned(), thread(0, 0, 0)),
                ("pipeline/fir".to_owned(), thread(0, 1, 2)),
            ]
        );
    }
}
