//! The trace of the schedule on the host: the kernel's `trace.bin`
//! (`sotto_abi::trace`) turned into the Chrome trace-event format
//! (`trace.json`, which Perfetto and `chrome://tracing` open) by
//! `cargo xtask run --trace`, and read back for `cargo xtask plot
//! --schedule` ([`plot`]) and the QEMU tests (`tests/tests/trace.rs`).
//!
//! Tracks: one process per service (pid = its number + 1, named after
//! it) with one track per thread (tid = the kernel's thread number + 1,
//! `service` or `service/thread`) holding its running slices ("X"), its
//! faults and its service's restarts ("i"); a `kernel` process (pid 0)
//! with the timer interrupts, the idle slices and one track per DAI
//! (periods, xruns); a `schedule` process with the LL ticks (slices) and
//! one track per DP task (releases, deadlines, completed blocks, misses).
//! Times are microseconds of virtual time: CCOUNT over
//! `sotto_abi::layout::CCOUNT_HZ`, unwrapped by order (the timebase of
//! `sotto_abi::trace`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sotto_abi::manifest::Manifest;
use sotto_abi::trace::{HEADER_SIZE, Header, NO_THREAD, RECORD_SIZE, Record, code};

pub mod plot;

/// The kernel process's pid.
pub const KERNEL_PID: u64 = 0;
/// The `schedule` process's pid (LL ticks, DP tasks).
pub const SCHEDULE_PID: u64 = 1000;
/// Kernel tracks: timer interrupts, idle; DAIs from `DAI_TID`.
const IRQ_TID: u64 = 1;
const IDLE_TID: u64 = 2;
const DAI_TID: u64 = 100;
/// Schedule tracks: LL ticks; DP task N at `DP_TID + N`.
const LL_TID: u64 = 1;
const DP_TID: u64 = 100;

/// A decoded trace file.
#[derive(Clone, Debug)]
pub struct TraceFile {
    /// Its header.
    pub header: Header,
    /// Its records, in order.
    pub records: Vec<Record>,
}

/// Read a trace file's bytes.
pub fn parse(bytes: &[u8]) -> Result<TraceFile> {
    let header = Header::decode(bytes).with_context(|| {
        format!(
            "not a trace of this kernel (no `{}` header of version {})",
            String::from_utf8_lossy(&sotto_abi::trace::MAGIC),
            sotto_abi::trace::VERSION
        )
    })?;
    if header.ccount_hz == 0 {
        bail!("the trace's header gives a CCOUNT rate of 0");
    }
    let body = &bytes[HEADER_SIZE..];
    if !body.len().is_multiple_of(RECORD_SIZE) {
        bail!(
            "the trace ends in the middle of a record ({} bytes after the header, records are {RECORD_SIZE})",
            body.len()
        );
    }
    let records = body
        .chunks_exact(RECORD_SIZE)
        .filter_map(Record::decode)
        .collect();
    Ok(TraceFile { header, records })
}

/// What the manifest names: services and their threads, objects.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// By the kernel's thread number: (service number, its name, the
    /// thread's own name for a further thread).
    threads: Vec<(usize, String, Option<String>)>,
    /// Services' names, by number.
    services: Vec<String>,
    /// Objects' names, by number.
    objects: Vec<String>,
    /// DAIs' names, by their rings' object numbers (a DAI record names
    /// its ring).
    dais: BTreeMap<u16, String>,
}

impl Names {
    /// The names of `manifest`'s services, threads and objects (threads
    /// numbered as the kernel numbers them, `sotto_abi::manifest::thread_id`).
    pub fn from_manifest(manifest: &Manifest) -> Names {
        let mut threads: Vec<(usize, String, Option<String>)> = manifest
            .services
            .iter()
            .enumerate()
            .map(|(index, service)| (index, service.name.to_string(), None))
            .collect();
        for (index, service) in manifest.services.iter().enumerate() {
            for thread in &service.threads {
                threads.push((
                    index,
                    service.name.to_string(),
                    Some(thread.name.to_string()),
                ));
            }
        }
        let dais = manifest
            .objects
            .iter()
            .filter_map(|object| match &object.params {
                sotto_abi::manifest::ObjectParams::Dai(dai) => {
                    Some((dai.ring, object.name.to_string()))
                }
                _ => None,
            })
            .collect();
        Names {
            threads,
            services: manifest
                .services
                .iter()
                .map(|s| s.name.to_string())
                .collect(),
            objects: manifest
                .objects
                .iter()
                .map(|o| o.name.to_string())
                .collect(),
            dais,
        }
    }

    /// Names given by hand (tests): services with their further threads,
    /// objects (a DAI's records name it by its ring: `dai NAME@RING`
    /// among `objects` makes object RING's records the DAI NAME's).
    pub fn new(services: &[(&str, &[&str])], objects: &[&str]) -> Names {
        let mut threads: Vec<(usize, String, Option<String>)> = services
            .iter()
            .enumerate()
            .map(|(index, (name, _))| (index, (*name).to_owned(), None))
            .collect();
        for (index, (name, further)) in services.iter().enumerate() {
            for thread in *further {
                threads.push((index, (*name).to_owned(), Some((*thread).to_owned())));
            }
        }
        let dais = objects
            .iter()
            .filter_map(|name| {
                let (name, ring) = name.strip_prefix("dai ")?.split_once('@')?;
                Some((ring.parse().ok()?, name.to_owned()))
            })
            .collect();
        Names {
            threads,
            services: services
                .iter()
                .map(|(name, _)| (*name).to_owned())
                .collect(),
            objects: objects.iter().map(|name| (*name).to_owned()).collect(),
            dais,
        }
    }

    /// Thread `thread`'s track: (pid, tid, its name).
    fn track(&self, thread: u8) -> (u64, u64, String) {
        match self.threads.get(usize::from(thread)) {
            Some((service, name, own)) => (
                *service as u64 + 1,
                u64::from(thread) + 1,
                match own {
                    Some(own) => format!("{name}/{own}"),
                    None => name.clone(),
                },
            ),
            None => (
                KERNEL_PID,
                1000 + u64::from(thread),
                format!("thread {thread}"),
            ),
        }
    }

    /// The DAI whose ring is object `ring` (else that object's name).
    fn dai(&self, ring: u16) -> String {
        match self.dais.get(&ring) {
            Some(name) => name.clone(),
            None => self.object(ring),
        }
    }

    fn object(&self, index: u16) -> String {
        self.objects
            .get(usize::from(index))
            .cloned()
            .unwrap_or_else(|| format!("object {index}"))
    }
}

/// The trace's clock: CCOUNT unwrapped by order, in microseconds.
struct Clock {
    hz: f64,
    last: Option<(u32, u64)>,
}

impl Clock {
    /// Record stamp `ccount` as 64-bit counts (each record less than
    /// 2^31 counts after the one before).
    fn stamp(&mut self, ccount: u32) -> u64 {
        let now = match self.last {
            None => u64::from(ccount),
            Some((low, wide)) => wide + u64::from(ccount.wrapping_sub(low)),
        };
        self.last = Some((ccount, now));
        now
    }

    /// A CCOUNT value `other` carried by a record stamped `at` (64-bit):
    /// within 2^31 counts of it, before or after.
    fn near(at: u64, other: u32) -> u64 {
        let delta = i64::from(other.wrapping_sub(at as u32) as i32);
        at.saturating_add_signed(delta)
    }

    fn us(&self, counts: u64) -> f64 {
        counts as f64 * 1e6 / self.hz
    }
}

fn fault_kind(kind: u16) -> &'static str {
    match kind {
        0 => "exception",
        1 => "panic",
        2 => "injected fault",
        _ => "fault",
    }
}

/// What a conversion saw (for the run's summary line).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Records read.
    pub records: usize,
    /// Records the kernel dropped (its ring was full).
    pub dropped: u64,
    /// Whether the trace ends with the kernel's end record.
    pub complete: bool,
    /// Virtual time covered, µs.
    pub span_us: f64,
}

/// Convert `trace` into a Chrome trace-event document.
pub fn to_chrome(trace: &TraceFile, names: &Names) -> (Value, Summary) {
    let mut events = Vec::new();
    let (mut all, other, summary) = chrome_events(trace, names, &mut |event| events.push(event));
    all.extend(events);
    let document = json!({
        "traceEvents": all,
        "displayTimeUnit": "ns",
        "otherData": other,
    });
    (document, summary)
}

/// Write `trace` as a Chrome trace-event document to `out` (the document
/// [`to_chrome`] makes, its metadata last), one event at a time: a long
/// run's millions of events are never all in memory.
pub fn write_chrome(trace: &TraceFile, names: &Names, out: impl Write) -> Result<Summary> {
    let mut out = std::io::BufWriter::new(out);
    out.write_all(b"{\"traceEvents\":[")?;
    let mut first = true;
    let mut failed: Option<std::io::Error> = None;
    let mut put = |out: &mut std::io::BufWriter<_>, event: &Value| {
        if failed.is_some() {
            return;
        }
        let written = (if first { Ok(()) } else { out.write_all(b",") })
            .and_then(|()| serde_json::to_writer(&mut *out, event).map_err(std::io::Error::from));
        first = false;
        if let Err(error) = written {
            failed = Some(error);
        }
    };
    let (meta, other, summary) = chrome_events(trace, names, &mut |event| put(&mut out, &event));
    for event in &meta {
        put(&mut out, event);
    }
    if let Some(error) = failed {
        return Err(error.into());
    }
    out.write_all(b"],\"displayTimeUnit\":\"ns\",\"otherData\":")?;
    serde_json::to_writer(&mut out, &other)?;
    out.write_all(b"}")?;
    out.flush()?;
    Ok(summary)
}

/// The events of `trace`, each handed to `emit` as it is made; returns
/// the metadata events (process and track names, which follow from all
/// of them), the document's `otherData` and the summary.
fn chrome_events(
    trace: &TraceFile,
    names: &Names,
    emit: &mut dyn FnMut(Value),
) -> (Vec<Value>, Value, Summary) {
    let mut clock = Clock {
        hz: f64::from(trace.header.ccount_hz),
        last: None,
    };
    // Tracks seen: (pid, tid) -> name; processes: pid -> name.
    let mut tracks: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let mut processes: BTreeMap<u64, String> = BTreeMap::new();
    processes.insert(KERNEL_PID, "kernel".into());
    tracks.insert((KERNEL_PID, IRQ_TID), "timer interrupts".into());
    tracks.insert((KERNEL_PID, IDLE_TID), "idle".into());
    for (thread, (service, _, _)) in names.threads.iter().enumerate() {
        let (pid, tid, name) = names.track(thread as u8);
        processes.insert(pid, names.services[*service].clone());
        tracks.insert((pid, tid), name);
    }
    // Who runs since when.
    let mut running: Option<(u8, u64)> = None;
    // Records were dropped since the last switch: who runs is unknown.
    let mut unknown = false;
    let mut dai_counts: BTreeMap<u16, (u32, u32)> = BTreeMap::new();
    let mut summary = Summary {
        records: trace.records.len(),
        ..Summary::default()
    };
    let mut first = None;
    let mut end = 0u64;
    let slice = |clock: &Clock,
                 name: String,
                 cat: &str,
                 (pid, tid): (u64, u64),
                 from: u64,
                 to: u64,
                 args: Value| {
        json!({
            "name": name, "cat": cat, "ph": "X", "pid": pid, "tid": tid,
            "ts": clock.us(from), "dur": clock.us(to.saturating_sub(from)), "args": args,
        })
    };
    let instant =
        |clock: &Clock, name: String, cat: &str, (pid, tid): (u64, u64), at: u64, args: Value| {
            json!({
                "name": name, "cat": cat, "ph": "i", "s": "t", "pid": pid, "tid": tid,
                "ts": clock.us(at), "args": args,
            })
        };
    let close =
        |clock: &Clock, running: Option<(u8, u64)>, now: u64, emit: &mut dyn FnMut(Value)| {
            if let Some((thread, since)) = running {
                let (pid, tid, name) = if thread == NO_THREAD {
                    (KERNEL_PID, IDLE_TID, "idle".to_owned())
                } else {
                    names.track(thread)
                };
                emit(slice(clock, name, "run", (pid, tid), since, now, json!({})));
            }
        };
    for record in &trace.records {
        let now = clock.stamp(record.ccount);
        first.get_or_insert(now);
        // The record before this one (a gap of dropped records starts
        // there).
        let before = end;
        end = now;
        match record.code {
            code::SWITCH => {
                if running.is_some_and(|(thread, _)| thread == record.thread) {
                    // The thread that ran goes on.
                    continue;
                }
                close(&clock, running, now, &mut *emit);
                running = Some((record.thread, now));
                unknown = false;
                if record.thread != NO_THREAD {
                    let (pid, tid, name) = names.track(record.thread);
                    tracks.entry((pid, tid)).or_insert(name);
                }
            }
            code::TIMER_IRQ => {
                let interrupted = match running {
                    _ if unknown => "unknown (events were dropped)".to_owned(),
                    Some((NO_THREAD, _)) | None => "idle".to_owned(),
                    Some((thread, _)) => names.track(thread).2,
                };
                emit(instant(
                    &clock,
                    "timer interrupt".into(),
                    "interrupt",
                    (KERNEL_PID, IRQ_TID),
                    now,
                    json!({"tick": record.a, "interrupted": interrupted}),
                ));
            }
            code::FAULT => {
                let (pid, tid, name) = names.track(record.thread);
                tracks.entry((pid, tid)).or_insert(name.clone());
                emit(instant(
                    &clock,
                    format!("fault: {}", fault_kind(record.arg)),
                    "fault",
                    (pid, tid),
                    now,
                    json!({"thread": name, "exccause": record.a, "pc": format!("{:#010x}", record.b)}),
                ));
            }
            code::RESTART => {
                let service = usize::from(record.arg);
                let (pid, tid, name) = names.track(service as u8);
                tracks.entry((pid, tid)).or_insert(name.clone());
                emit(instant(
                    &clock,
                    "restart".into(),
                    "restart",
                    (pid, tid),
                    now,
                    json!({"service": name, "restarts": record.a}),
                ));
            }
            code::DAI_PERIOD | code::DAI_XRUN => {
                let name = names.dai(record.arg);
                let track = (KERNEL_PID, DAI_TID + u64::from(record.arg));
                tracks.entry(track).or_insert(format!("dai {name}"));
                // Counts since the start: (periods, xruns) last seen.
                let seen = dai_counts.entry(record.arg).or_insert((0, 0));
                let (periods, xruns) = match record.code {
                    code::DAI_PERIOD => (Some(record.a), record.b),
                    _ => (None, record.a),
                };
                if let Some(periods) = periods.filter(|periods| *periods != seen.0) {
                    seen.0 = periods;
                    emit(instant(
                        &clock,
                        "dai period".into(),
                        "dai",
                        track,
                        now,
                        json!({"dai": name, "periods": periods, "xruns": xruns}),
                    ));
                }
                if xruns != seen.1 {
                    seen.1 = xruns;
                    emit(instant(
                        &clock,
                        "xrun".into(),
                        "xrun",
                        track,
                        now,
                        json!({"dai": name, "xruns": xruns}),
                    ));
                }
            }
            code::DROPPED => {
                // The ring filled after the record before this one and was
                // written out now: what ran in between is not known (the
                // switches are among the records dropped), so no slice
                // spans the gap; the next switch starts one again.
                close(&clock, running.take(), before, &mut *emit);
                unknown = true;
                summary.dropped += u64::from(record.a);
                emit(instant(
                    &clock,
                    format!("{} events dropped (the ring was full)", record.a),
                    "dropped",
                    (KERNEL_PID, IRQ_TID),
                    now,
                    json!({"dropped": record.a}),
                ));
            }
            code::END => {
                summary.complete = true;
                summary.dropped = summary.dropped.max(u64::from(record.a));
            }
            code::LL_TICK => {
                let track = (SCHEDULE_PID, LL_TID);
                let start = Clock::near(now, record.b);
                emit(slice(
                    &clock,
                    "LL tick".into(),
                    "ll",
                    track,
                    start.min(now),
                    now,
                    // (Who traced it: any thread may trace a service code;
                    // ll-sched's are the real ones.)
                    json!({"tick": record.a, "by": names.track(record.thread).2}),
                ));
            }
            code::DP_RELEASE | code::DP_COMPLETE | code::DP_MISS => {
                let task = record.a;
                let track = (SCHEDULE_PID, DP_TID + u64::from(task));
                tracks.entry(track).or_insert(format!("DP task {task}"));
                let by = names.track(record.thread).2;
                match record.code {
                    code::DP_RELEASE => {
                        let deadline = Clock::near(now, record.b);
                        emit(instant(
                            &clock,
                            "release".into(),
                            "dp",
                            track,
                            now,
                            json!({"task": task, "deadline_us": clock.us(deadline), "by": by}),
                        ));
                        emit(instant(
                            &clock,
                            "deadline".into(),
                            "deadline",
                            track,
                            deadline,
                            json!({"task": task, "released_us": clock.us(now), "by": by}),
                        ));
                    }
                    code::DP_COMPLETE => {
                        let start = Clock::near(now, record.b);
                        emit(slice(
                            &clock,
                            "block".into(),
                            "dp",
                            track,
                            start.min(now),
                            now,
                            json!({"task": task, "runner": by}),
                        ));
                    }
                    _ => {
                        let deadline = Clock::near(now, record.b);
                        emit(instant(
                            &clock,
                            "deadline miss".into(),
                            "miss",
                            track,
                            now,
                            json!({"task": task, "deadline_us": clock.us(deadline), "by": by}),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    close(&clock, running, end, &mut *emit);
    if trace.records.iter().any(|r| r.code == code::LL_TICK) {
        tracks.insert((SCHEDULE_PID, LL_TID), "LL ticks".into());
    }
    if tracks.keys().any(|(pid, _)| *pid == SCHEDULE_PID) {
        processes.insert(SCHEDULE_PID, "schedule".into());
    }
    summary.span_us = clock.us(end.saturating_sub(first.unwrap_or(end)));
    let mut all = Vec::new();
    for (pid, name) in &processes {
        all.push(json!({"name": "process_name", "ph": "M", "pid": pid, "args": {"name": name}}));
        all.push(json!({"name": "process_sort_index", "ph": "M", "pid": pid, "args": {"sort_index": pid}}));
    }
    for ((pid, tid), name) in &tracks {
        all.push(json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}));
        all.push(json!({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid, "args": {"sort_index": tid}}));
    }
    let other = json!({
        "format": format!("sotto trace v{}", sotto_abi::trace::VERSION),
        "ccount_hz": trace.header.ccount_hz,
        "tick_cycles": trace.header.tick_cycles,
        "records": summary.records,
        "dropped": summary.dropped,
        "complete": summary.complete,
    });
    (all, other, summary)
}

/// Convert the trace file `bin` of an image with `manifest` into `json`;
/// the summary.
pub fn convert(bin: &Path, manifest: &Manifest, json: &Path) -> Result<Summary> {
    let bytes = std::fs::read(bin).with_context(|| {
        format!(
            "no trace at {}: the kernel writes it when it boots with tracing on (`--trace`); its lines above say why it did not",
            bin.display()
        )
    })?;
    let trace = parse(&bytes).with_context(|| format!("reading {}", bin.display()))?;
    drop(bytes);
    let file =
        std::fs::File::create(json).with_context(|| format!("writing {}", json.display()))?;
    write_chrome(&trace, &Names::from_manifest(manifest), file)
        .with_context(|| format!("writing {}", json.display()))
}

/// The summary line `cargo xtask run --trace` prints.
pub fn summary_line(summary: &Summary, json: &Path) -> String {
    let mut line = format!(
        "run: wrote {} ({} events over {:.1} ms of virtual time; open it in https://ui.perfetto.dev or chrome://tracing, or `cargo xtask plot --schedule`)",
        json.display(),
        summary.records,
        summary.span_us / 1000.0
    );
    if summary.dropped > 0 {
        line.push_str(&format!(
            "\nrun: the kernel's trace ring overflowed: {} events were dropped",
            summary.dropped
        ));
    }
    if !summary.complete {
        line.push_str("\nrun: the trace has no end record: the run stopped before the kernel's shutdown, so its end is missing");
    }
    line
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use sotto_abi::trace::{HEADER_SIZE, Header, NO_THREAD, Record, code};

    use super::{Names, TraceFile, parse, to_chrome};

    fn rec(ccount: u32, code: u8, thread: u8, arg: u16, a: u32, b: u32) -> Record {
        Record {
            ccount,
            code,
            thread,
            arg,
            a,
            b,
        }
    }

    fn names() -> Names {
        Names::new(
            &[("ll-sched", &[]), ("pipeline", &["eq"]), ("dp-sched", &[])],
            &["console", "dai-out-ring", "dai dai-out@1"],
        )
    }

    fn named<'a>(doc: &'a Value, name: &str) -> Vec<&'a Value> {
        doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == name)
            .collect()
    }

    /// The complete ("X") events: (name, start µs, duration µs, pid).
    fn slices(doc: &Value) -> Vec<(String, f64, f64, u64)> {
        events(doc, "X")
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["ts"].as_f64().unwrap(),
                    e["dur"].as_f64().unwrap(),
                    e["pid"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    fn events<'a>(doc: &'a Value, ph: &str) -> Vec<&'a Value> {
        doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == ph)
            .collect()
    }

    fn file(records: Vec<Record>) -> TraceFile {
        TraceFile {
            header: Header::new(10_000),
            records,
        }
    }

    #[test]
    fn switches_become_running_slices_in_microseconds() {
        let trace = file(vec![
            rec(100, code::SWITCH, 0, 0, 0, 0),
            rec(150, code::TIMER_IRQ, NO_THREAD, 0, 7, 0),
            rec(200, code::SWITCH, 0, 0, 0, 0),
            rec(300, code::SWITCH, 3, 0, 0, 0),
            rec(400, code::SWITCH, NO_THREAD, 0, 0, 0),
            rec(1000, code::SWITCH, 1, 0, 0, 0),
            rec(1010, code::END, NO_THREAD, 0, 0, 0),
        ]);
        let (doc, summary) = to_chrome(&trace, &names());
        assert!(summary.complete);
        assert_eq!(summary.records, 7);
        // 10 counts per microsecond.
        assert_eq!(
            slices(&doc),
            vec![
                ("ll-sched".into(), 10.0, 20.0, 1),
                ("pipeline/eq".into(), 30.0, 10.0, 2),
                ("idle".into(), 40.0, 60.0, 0),
                ("pipeline".into(), 100.0, 1.0, 2),
            ]
        );
        let irq = events(&doc, "i");
        assert_eq!(irq.len(), 1);
        assert_eq!(irq[0]["args"]["interrupted"], "ll-sched");
        assert_eq!(doc["displayTimeUnit"], "ns");
        // Every thread of the names has a named track.
        let meta = events(&doc, "M");
        for name in ["ll-sched", "pipeline", "pipeline/eq", "dp-sched", "idle"] {
            assert!(
                meta.iter()
                    .any(|e| e["name"] == "thread_name" && e["args"]["name"] == name),
                "{name}"
            );
        }
    }

    #[test]
    fn ccount_wraps_are_unwrapped_and_carried_times_follow() {
        let trace = file(vec![
            rec(u32::MAX - 50, code::SWITCH, 2, 0, 0, 0),
            // An LL tick that started before the wrap, ended after it.
            rec(49, code::LL_TICK, 0, 0, 5, u32::MAX - 40),
            rec(60, code::DP_RELEASE, 2, 0, 0, 1060),
            rec(70, code::SWITCH, 0, 0, 0, 0),
        ]);
        let (doc, summary) = to_chrome(&trace, &names());
        assert!(!summary.complete, "no end record");
        // Service events name the thread that traced them.
        assert_eq!(named(&doc, "LL tick")[0]["args"]["by"], "ll-sched");
        assert_eq!(named(&doc, "release")[0]["args"]["by"], "dp-sched");
        let slices = events(&doc, "X");
        let ll = slices.iter().find(|e| e["name"] == "LL tick").unwrap();
        assert_eq!(
            ll["dur"].as_f64().unwrap(),
            9.0,
            "90 counts across the wrap"
        );
        let run = slices.iter().find(|e| e["name"] == "dp-sched").unwrap();
        assert_eq!(run["dur"].as_f64().unwrap(), 12.1);
        let deadline = events(&doc, "i")
            .into_iter()
            .find(|e| e["name"] == "deadline")
            .unwrap();
        let release = events(&doc, "i")
            .into_iter()
            .find(|e| e["name"] == "release")
            .unwrap();
        let gap = deadline["ts"].as_f64().unwrap() - release["ts"].as_f64().unwrap();
        assert!((gap - 100.0).abs() < 1e-6, "{gap}");
    }

    #[test]
    fn a_30_minute_run_unwraps_every_ccount_wrap() {
        // 10 MHz CCOUNT wraps every 429.5 s; the kernel records at least
        // every timer interrupt (its alarm never more than 2^31 counts
        // ahead). Records 150 s apart (1.5e9 counts), then one gap of
        // 400 s (more than 2^31 counts, less than a wrap): 30 minutes.
        let mut at = 0u64;
        let mut records = Vec::new();
        for step in 0..12u64 {
            records.push(rec(at as u32, code::SWITCH, (step % 2) as u8, 0, 0, 0));
            at += if step == 5 {
                4_000_000_000
            } else {
                1_500_000_000
            };
        }
        records.push(rec(at as u32, code::END, NO_THREAD, 0, 0, 0));
        let (doc, summary) = to_chrome(&file(records), &names());
        let us = at as f64 / 10.0;
        assert!((summary.span_us - us).abs() < 1.0, "{}", summary.span_us);
        assert!(us > 30.0 * 60.0 * 1e6);
        let slices = events(&doc, "X");
        assert_eq!(slices.len(), 12);
        let mut end = 0.0;
        for slice in &slices {
            let ts = slice["ts"].as_f64().unwrap();
            assert!((ts - end).abs() < 1.0, "{ts} after {end}: back to back");
            end = ts + slice["dur"].as_f64().unwrap();
        }
        assert!((end - us).abs() < 1.0);
    }

    #[test]
    fn faults_restarts_xruns_misses_and_drops_are_marked() {
        let trace = file(vec![
            rec(10, code::SWITCH, 1, 0, 0, 0),
            rec(20, code::FAULT, 3, 2, 0, 0x4000_0100),
            rec(30, code::RESTART, NO_THREAD, 1, 1, 0),
            rec(40, code::DAI_PERIOD, NO_THREAD, 1, 3, 0),
            // A period whose DMA found the ring empty; then the same
            // counts again (another DAI's period): nothing new.
            rec(41, code::DAI_PERIOD, NO_THREAD, 1, 4, 1),
            rec(42, code::DAI_PERIOD, NO_THREAD, 1, 4, 1),
            rec(50, code::DP_COMPLETE, 3, 0, 0, 15),
            rec(60, code::DP_MISS, 2, 0, 0, 55),
            rec(70, code::DROPPED, NO_THREAD, 0, 12, 0),
            rec(80, code::END, NO_THREAD, 0, 12, 0),
        ]);
        let (doc, summary) = to_chrome(&trace, &names());
        assert_eq!(summary.dropped, 12);
        assert_eq!(doc["otherData"]["dropped"], 12);
        let instants = events(&doc, "i");
        let find = |name: &str| {
            instants
                .iter()
                .find(|e| e["name"] == name)
                .unwrap_or_else(|| panic!("no {name}"))
        };
        assert_eq!(
            find("fault: injected fault")["args"]["thread"],
            "pipeline/eq"
        );
        assert_eq!(find("restart")["args"]["service"], "pipeline");
        assert_eq!(find("xrun")["args"]["dai"], "dai-out");
        assert_eq!(find("xrun")["ts"].as_f64().unwrap(), 4.1);
        let periods: Vec<&Value> = named(&doc, "dai period");
        assert_eq!(periods.len(), 2, "{periods:?}");
        assert_eq!(periods[1]["args"]["periods"], 4);
        assert_eq!(named(&doc, "xrun").len(), 1);
        assert_eq!(find("deadline miss")["cat"], "miss");
        let block = events(&doc, "X")
            .into_iter()
            .find(|e| e["name"] == "block")
            .unwrap();
        assert_eq!(block["ts"].as_f64().unwrap(), 1.5);
        assert_eq!(block["args"]["runner"], "pipeline/eq");
    }

    #[test]
    fn a_running_slice_stops_where_records_were_dropped() {
        // The ring filled after the record at 200: whatever ran or
        // switched until the write-out at 900 is unknown, so no thread's
        // slice spans the gap (nor does an interrupt in it name one).
        let trace = file(vec![
            rec(100, code::SWITCH, 0, 0, 0, 0),
            rec(200, code::TIMER_IRQ, NO_THREAD, 0, 1, 0),
            rec(900, code::DROPPED, NO_THREAD, 0, 40, 0),
            rec(950, code::TIMER_IRQ, NO_THREAD, 0, 2, 0),
            rec(1000, code::SWITCH, 3, 0, 0, 0),
            rec(1100, code::END, NO_THREAD, 0, 40, 0),
        ]);
        let (doc, summary) = to_chrome(&trace, &names());
        assert_eq!(summary.dropped, 40);
        assert_eq!(
            slices(&doc),
            vec![
                ("ll-sched".into(), 10.0, 10.0, 1),
                ("pipeline/eq".into(), 100.0, 10.0, 2),
            ]
        );
        let irq = named(&doc, "timer interrupt");
        assert_eq!(
            irq[1]["args"]["interrupted"],
            "unknown (events were dropped)"
        );
    }

    #[test]
    fn the_streamed_file_is_the_document() {
        let trace = file(vec![
            rec(10, code::SWITCH, 1, 0, 0, 0),
            rec(20, code::FAULT, 3, 2, 0, 0x4000_0100),
            rec(30, code::RESTART, NO_THREAD, 1, 1, 0),
            rec(40, code::DAI_PERIOD, NO_THREAD, 1, 3, 1),
            rec(45, code::LL_TICK, 0, 0, 5, 41),
            rec(50, code::DP_COMPLETE, 3, 0, 0, 15),
            rec(60, code::DROPPED, NO_THREAD, 0, 12, 0),
            rec(70, code::SWITCH, NO_THREAD, 0, 0, 0),
            rec(80, code::END, NO_THREAD, 0, 12, 0),
        ]);
        let (document, summary) = to_chrome(&trace, &names());
        let mut bytes = Vec::new();
        let streamed = super::write_chrome(&trace, &names(), &mut bytes).unwrap();
        assert_eq!(streamed, summary);
        let read: Value = serde_json::from_slice(&bytes).expect("valid JSON");
        let sorted = |doc: &Value| {
            let mut events: Vec<String> = doc["traceEvents"]
                .as_array()
                .unwrap()
                .iter()
                .map(Value::to_string)
                .collect();
            events.sort();
            events
        };
        assert_eq!(sorted(&read), sorted(&document));
        assert!(sorted(&read).len() > 10);
        assert_eq!(read["otherData"], document["otherData"]);
        assert_eq!(read["displayTimeUnit"], "ns");
    }

    #[test]
    fn files_are_checked() {
        let mut bytes = Header::new(10_000).encode().to_vec();
        bytes.extend(rec(1, code::SWITCH, 0, 0, 0, 0).encode());
        assert_eq!(parse(&bytes).unwrap().records.len(), 1);
        bytes.push(0);
        assert_eq!(
            parse(&bytes).unwrap_err().to_string(),
            "the trace ends in the middle of a record (17 bytes after the header, records are 16)"
        );
        assert_eq!(
            parse(&bytes[HEADER_SIZE..]).unwrap_err().to_string(),
            "not a trace of this kernel (no `SOTR` header of version 1)"
        );
    }
}
