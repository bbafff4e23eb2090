//! `cargo xtask plot --schedule`: a window of a `trace.json` (as
//! [`crate::to_chrome`] writes it) drawn as a timeline PNG: one row per
//! track (each thread of each service, idle and the timer interrupts,
//! the LL ticks, each DP task, each DAI), running slices as bars, LL
//! ticks and DP blocks as bars of their own rows, DP releases and
//! deadlines as marks, deadline misses, xruns and faults in red,
//! restarts in orange, and a time axis in milliseconds.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::prelude::{
    BLACK, BitMapBackend, ChartBuilder, IntoDrawingArea, PathElement, Rectangle, WHITE,
};
use plotters::style::{Color, FontStyle, RGBColor};
use serde::Deserialize;
use serde_json::Value;

/// Register the plot font with plotters once; whether text can be drawn
/// (`fonts-dejavu-core`, as for the WAV plots: `sotto_audio::PLOT_FONT`).
fn font_ready() -> bool {
    static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READY.get_or_init(|| {
        std::fs::read(sotto_audio::PLOT_FONT).is_ok_and(|bytes| {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

/// Something drawn in a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    /// A bar from `from` to `to` (µs).
    Bar {
        /// Start, µs.
        from: f64,
        /// End, µs.
        to: f64,
        /// What it is (the event's category: run, ll, dp).
        cat: String,
    },
    /// A mark at `at` (µs).
    At {
        /// When, µs.
        at: f64,
        /// The event's name (timer interrupt, release, deadline, deadline
        /// miss, xrun, fault: ..., restart, dai period).
        name: String,
    },
}

/// One track of the trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Its name (`service`, `service/thread`, `idle`, `LL ticks`, ...).
    pub name: String,
    /// Its process's name.
    pub process: String,
    /// What it holds.
    pub marks: Vec<Mark>,
}

/// The rows of a trace-event document, in process then track order.
pub fn rows(document: &Value) -> Result<Vec<Row>> {
    let events = document["traceEvents"]
        .as_array()
        .context("not a trace-event document (no `traceEvents` array)")?;
    let mut rows = Rows::default();
    for event in events {
        rows.add(Event {
            name: event["name"].as_str().unwrap_or_default().to_owned(),
            ph: event["ph"].as_str().unwrap_or_default().to_owned(),
            cat: event["cat"].as_str().unwrap_or_default().to_owned(),
            pid: event["pid"].as_u64().unwrap_or(0),
            tid: event["tid"].as_u64().unwrap_or(0),
            ts: event["ts"].as_f64().unwrap_or(0.0),
            dur: event["dur"].as_f64().unwrap_or(0.0),
            args: EventArgs {
                name: event["args"]["name"].as_str().map(str::to_owned),
            },
        });
    }
    Ok(rows.done())
}

/// One event as the plot reads it (the fields it draws; others skipped).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event {
    name: String,
    ph: String,
    cat: String,
    pid: u64,
    tid: u64,
    ts: f64,
    dur: f64,
    args: EventArgs,
}

/// The `args` of an event: the name a metadata event gives.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventArgs {
    #[serde(deserialize_with = "string_or_nothing")]
    name: Option<String>,
}

/// A string, or nothing for any other value.
fn string_or_nothing<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => Some(text),
        _ => None,
    })
}

/// The first and last time of a trace's marks (µs), if it has any.
pub type Span = Option<(f64, f64)>;

/// Rows being made from events; with a window, only the marks in it are
/// kept (the span of all of them is).
#[derive(Default)]
struct Rows {
    processes: BTreeMap<u64, String>,
    rows: BTreeMap<(u64, u64), Row>,
    window: Option<(f64, f64)>,
    span: Option<(f64, f64)>,
}

impl Rows {
    fn add(&mut self, event: Event) {
        let key = (event.pid, event.tid);
        let mark = match event.ph.as_str() {
            "M" if event.name == "process_name" => {
                let text = event.args.name.unwrap_or_default();
                self.processes.insert(key.0, text);
                return;
            }
            "M" if event.name == "thread_name" => {
                row(&mut self.rows, key).name = event.args.name.unwrap_or_default();
                return;
            }
            "X" => Mark::Bar {
                from: event.ts,
                to: event.ts + event.dur,
                cat: event.cat,
            },
            "i" => Mark::At {
                at: event.ts,
                name: event.name,
            },
            _ => return,
        };
        let (a, b) = extent(&mark);
        self.span = Some(self.span.map_or((a, b), |(c, d)| (a.min(c), b.max(d))));
        if self.window.is_none_or(|(from, to)| inside(&mark, from, to)) {
            row(&mut self.rows, key).marks.push(mark);
        } else {
            row(&mut self.rows, key);
        }
    }

    fn done(self) -> Vec<Row> {
        let processes = self.processes;
        self.rows
            .into_iter()
            .map(|((pid, tid), mut row)| {
                row.process = processes.get(&pid).cloned().unwrap_or_default();
                if row.name.is_empty() {
                    row.name = format!("{pid}/{tid}");
                }
                row
            })
            .collect()
    }
}

/// A mark's extent (µs).
fn extent(mark: &Mark) -> (f64, f64) {
    match mark {
        Mark::Bar { from, to, .. } => (*from, *to),
        Mark::At { at, .. } => (*at, *at),
    }
}

/// Whether a mark shows in window `from_us..to_us`.
fn inside(mark: &Mark, from_us: f64, to_us: f64) -> bool {
    match mark {
        Mark::Bar { from, to, .. } => *to > from_us && *from < to_us,
        Mark::At { at, .. } => (from_us..=to_us).contains(at),
    }
}

/// Read the `trace.json` at `path` one event at a time (a long run's
/// file is never all in memory): its rows with the marks in window
/// `from_us..to_us` only, and the span of all its marks.
pub fn read_window(path: &Path, from_us: f64, to_us: f64) -> Result<(Vec<Row>, Span)> {
    let file = std::fs::File::open(path).map_err(|error| {
        anyhow::anyhow!(
            "no trace at {} ({error}): run `cargo xtask run --trace` first, which writes it",
            path.display()
        )
    })?;
    let mut rows = Rows {
        window: Some((from_us, to_us)),
        ..Rows::default()
    };
    let mut reader = serde_json::Deserializer::from_reader(std::io::BufReader::new(file));
    let found = serde::Deserializer::deserialize_map(&mut reader, Document(&mut rows))
        .with_context(|| format!("{} is not trace-event JSON", path.display()))?;
    if !found {
        bail!(
            "{} is not a trace-event document (no `traceEvents` array)",
            path.display()
        );
    }
    let span = rows.span;
    Ok((rows.done(), span))
}

/// The document's visitor: its `traceEvents`, each event added as read;
/// whether there was such an array.
struct Document<'a>(&'a mut Rows);

impl<'de> serde::de::Visitor<'de> for Document<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a trace-event document")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "traceEvents" {
                map.next_value_seed(Events(&mut *self.0))?;
                found = true;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// The `traceEvents` array, each event added to the rows as read.
struct Events<'a>(&'a mut Rows);

impl<'de> serde::de::DeserializeSeed<'de> for Events<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Events<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of trace events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(event) = seq.next_element::<Event>()? {
            self.0.add(event);
        }
        Ok(())
    }
}

fn row(rows: &mut BTreeMap<(u64, u64), Row>, key: (u64, u64)) -> &mut Row {
    rows.entry(key).or_insert_with(|| Row {
        name: String::new(),
        process: String::new(),
        marks: Vec::new(),
    })
}

/// What a plot drew.
#[derive(Clone, Debug, PartialEq)]
pub struct Drawn {
    /// Rows drawn.
    pub rows: usize,
    /// Bars drawn.
    pub bars: usize,
    /// Marks drawn, of them in red (misses, xruns, faults).
    pub marks: usize,
    /// Red marks.
    pub alarms: usize,
}

/// Whether a mark is drawn in red.
fn alarming(name: &str) -> bool {
    name == "deadline miss" || name == "xrun" || name.starts_with("fault")
}

/// Read a `trace.json`; a missing one says how to make it.
pub fn read(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|error| {
        anyhow::anyhow!(
            "no trace at {} ({error}): run `cargo xtask run --trace` first, which writes it",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not trace-event JSON", path.display()))
}

/// The span of the trace's events (µs), if any.
fn span(rows: &[Row]) -> Option<(f64, f64)> {
    rows.iter()
        .flat_map(|row| row.marks.iter())
        .map(|mark| match mark {
            Mark::Bar { from, to, .. } => (*from, *to),
            Mark::At { at, .. } => (*at, *at),
        })
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
}

/// Draw window `from_us..to_us` of `document` into the PNG `out`.
pub fn plot(document: &Value, from_us: f64, to_us: f64, out: &Path) -> Result<Drawn> {
    let rows = rows(document)?;
    let span = span(&rows);
    plot_rows(&rows, span, from_us, to_us, out)
}

/// Draw window `from_us..to_us` of the `trace.json` at `path` into the PNG
/// `out`, reading the file one event at a time ([`read_window`]).
pub fn plot_file(path: &Path, from_us: f64, to_us: f64, out: &Path) -> Result<Drawn> {
    let (rows, span) = read_window(path, from_us, to_us)?;
    plot_rows(&rows, span, from_us, to_us, out)
}

/// Draw window `from_us..to_us` of `rows` (whose marks span `span`) into
/// the PNG `out`.
fn plot_rows(rows: &[Row], span: Span, from_us: f64, to_us: f64, out: &Path) -> Result<Drawn> {
    if from_us >= to_us {
        bail!(
            "the window is empty: --from ({} ms) must be before --to ({} ms)",
            from_us / 1000.0,
            to_us / 1000.0
        );
    }
    let inside = |mark: &Mark| inside(mark, from_us, to_us);
    if !rows.iter().flat_map(|row| row.marks.iter()).any(inside) {
        let covered = match span {
            Some((a, b)) => format!(
                "the trace covers {:.3} ms to {:.3} ms",
                a / 1000.0,
                b / 1000.0
            ),
            None => "the trace has no events".to_owned(),
        };
        bail!(
            "nothing happened between {} ms and {} ms: {covered}",
            from_us / 1000.0,
            to_us / 1000.0
        );
    }
    let height = 90 + 26 * rows.len() as u32;
    let root = BitMapBackend::new(out, (1400, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let count = rows.len() as f64;
    let (x0, x1) = (from_us / 1000.0, to_us / 1000.0);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(12);
    let text = font_ready();
    if text {
        builder
            .caption(
                format!("schedule, {x0} ms to {x1} ms of virtual time"),
                ("sans-serif", 18),
            )
            .x_label_area_size(35)
            .y_label_area_size(190);
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, 0.0..count)?;
    // Row i is drawn from the top.
    let names: Vec<String> = rows.iter().map(|row| row.name.clone()).collect();
    let top = |i: usize| count - i as f64;
    if text {
        let label = |y: &f64| -> String {
            let i = (count - y).floor();
            if i >= 0.0 && (count - y - i - 0.5).abs() < 0.26 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_desc("virtual time (ms)")
            .x_labels(11)
            .light_line_style(WHITE)
            .y_labels(4 * rows.len() + 1)
            .y_label_formatter(&label)
            .disable_y_mesh()
            .label_style(("sans-serif", 13))
            .draw()?;
    }
    // Threads' colours (LL green and DP blue are their rows' own).
    let palette = [
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
        RGBColor(188, 189, 34),
        RGBColor(127, 127, 127),
    ];
    let red = RGBColor(214, 39, 40);
    let orange = RGBColor(255, 127, 14);
    let grey = RGBColor(150, 150, 150);
    let mut drawn = Drawn {
        rows: rows.len(),
        bars: 0,
        marks: 0,
        alarms: 0,
    };
    let clip = |v: f64| (v / 1000.0).clamp(x0, x1);
    // A bar is at least a pixel or so wide (a thread that runs 10 µs in a
    // 20 ms window still shows).
    let least = (x1 - x0) / 1000.0;
    for (i, row) in rows.iter().enumerate() {
        let (low, high) = (top(i) - 0.85, top(i) - 0.15);
        let color = match row.name.as_str() {
            "idle" => RGBColor(200, 200, 200),
            _ => palette[i % palette.len()],
        };
        let mut bars = Vec::new();
        let mut lines = Vec::new();
        for mark in row.marks.iter().filter(|mark| inside(mark)) {
            match mark {
                Mark::Bar { from, to, cat } => {
                    let fill = match cat.as_str() {
                        "ll" => RGBColor(44, 160, 44),
                        "dp" => RGBColor(31, 119, 180),
                        _ => color,
                    };
                    let (left, right) = (clip(*from), clip(*to));
                    bars.push(Rectangle::new(
                        [(left, low), (right.max(left + least), high)],
                        fill.filled(),
                    ));
                    drawn.bars += 1;
                }
                Mark::At { at, name } => {
                    let x = at / 1000.0;
                    let (style, from, to) = if alarming(name) {
                        drawn.alarms += 1;
                        (red.stroke_width(3), top(i) - 1.0, top(i))
                    } else if name == "restart" {
                        (orange.stroke_width(3), top(i) - 1.0, top(i))
                    } else if name == "deadline" {
                        (BLACK.stroke_width(2), top(i) - 1.0, top(i) - 0.5)
                    } else if name == "release" {
                        (grey.stroke_width(2), top(i) - 0.5, top(i))
                    } else {
                        (grey.stroke_width(1), low, high)
                    };
                    lines.push(PathElement::new(vec![(x, from), (x, to)], style));
                    drawn.marks += 1;
                }
            }
        }
        chart.draw_series(bars)?;
        chart.draw_series(lines)?;
    }
    root.present()
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(drawn)
}

#[cfg(test)]
mod tests {
    use sotto_abi::trace::{Header, NO_THREAD, Record, code};

    use super::{Mark, plot, rows};
    use crate::{Names, TraceFile, to_chrome};

    fn document() -> serde_json::Value {
        let rec = |ccount, code, thread, a, b| Record {
            ccount,
            code,
            thread,
            arg: 0,
            a,
            b,
        };
        let trace = TraceFile {
            header: Header::new(10_000),
            records: vec![
                rec(10_000, code::SWITCH, 0, 0, 0),
                rec(12_000, code::DP_RELEASE, 1, 0, 112_000),
                rec(15_000, code::SWITCH, 1, 0, 0),
                rec(40_000, code::LL_TICK, 0, 3, 10_000),
                rec(50_000, code::DP_MISS, 1, 0, 45_000),
                rec(60_000, code::SWITCH, NO_THREAD, 0, 0),
                rec(90_000, code::END, NO_THREAD, 0, 0),
            ],
        };
        to_chrome(
            &trace,
            &Names::new(&[("ll-sched", &[]), ("dp-sched", &[])], &[]),
        )
        .0
    }

    #[test]
    fn rows_follow_the_tracks_of_the_document() {
        let rows = rows(&document()).unwrap();
        let names: Vec<&str> = rows.iter().map(|row| row.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "timer interrupts",
                "idle",
                "ll-sched",
                "dp-sched",
                "LL ticks",
                "DP task 0"
            ]
        );
        assert_eq!(rows[2].process, "ll-sched");
        assert_eq!(
            rows[2].marks,
            vec![Mark::Bar {
                from: 1000.0,
                to: 1500.0,
                cat: "run".into()
            }]
        );
    }

    #[test]
    fn a_window_is_drawn_with_misses_in_red() {
        let out = std::env::temp_dir().join(format!("sotto-schedule-{}.png", std::process::id()));
        let drawn = plot(&document(), 0.0, 9000.0, &out).unwrap();
        assert_eq!(drawn.rows, 6);
        // Four running slices (ll-sched, dp-sched, idle), the LL tick.
        assert_eq!(drawn.bars, 4);
        assert_eq!(drawn.alarms, 1, "the deadline miss");
        assert!(std::fs::metadata(&out).unwrap().len() > 1000);
        std::fs::remove_file(&out).unwrap();
    }

    #[test]
    fn a_file_is_read_one_event_at_a_time_with_the_same_result() {
        let dir = std::env::temp_dir();
        let json = dir.join(format!("sotto-schedule-{}.json", std::process::id()));
        std::fs::write(&json, serde_json::to_vec(&document()).unwrap()).unwrap();
        // Only the marks in the window are kept; the span is all of them.
        let (rows, span) = super::read_window(&json, 0.0, 1200.0).unwrap();
        assert_eq!(span, Some((1000.0, 11200.0)));
        assert_eq!(rows.len(), 6);
        assert_eq!(
            rows.iter().map(|row| row.marks.len()).sum::<usize>(),
            3,
            "{rows:?}"
        );
        assert_eq!(rows[2].name, "ll-sched");
        assert_eq!(rows[2].process, "ll-sched");
        let (a, b) = (dir.join("sotto-a.png"), dir.join("sotto-b.png"));
        let whole = plot(&document(), 0.0, 9000.0, &a).unwrap();
        let streamed = super::plot_file(&json, 0.0, 9000.0, &b).unwrap();
        assert_eq!(whole, streamed);
        assert_eq!(
            super::plot_file(&json, 20_000.0, 30_000.0, &b)
                .unwrap_err()
                .to_string(),
            "nothing happened between 20 ms and 30 ms: the trace covers 1.000 ms to 11.200 ms"
        );
        std::fs::write(&json, b"{\"traceEvents\": 5}").unwrap();
        let error = format!("{:#}", super::plot_file(&json, 0.0, 1.0, &b).unwrap_err());
        assert!(error.contains("is not trace-event JSON"), "{error}");
        std::fs::write(&json, b"{\"other\": []}").unwrap();
        let error = format!("{:#}", super::plot_file(&json, 0.0, 1.0, &b).unwrap_err());
        assert!(error.ends_with("(no `traceEvents` array)"), "{error}");
        for path in [json, a, b] {
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn empty_and_backward_windows_are_refused_clearly() {
        let out = std::env::temp_dir().join("sotto-never-written.png");
        assert_eq!(
            plot(&document(), 500.0, 500.0, &out)
                .unwrap_err()
                .to_string(),
            "the window is empty: --from (0.5 ms) must be before --to (0.5 ms)"
        );
        assert_eq!(
            plot(&document(), 20_000.0, 30_000.0, &out)
                .unwrap_err()
                .to_string(),
            "nothing happened between 20 ms and 30 ms: the trace covers 1.000 ms to 11.200 ms"
        );
        assert!(!out.exists());
        let missing = super::read(std::path::Path::new("/nonexistent/trace.json")).unwrap_err();
        assert!(
            missing
                .to_string()
                .ends_with(": run `cargo xtask run --trace` first, which writes it"),
            "{missing}"
        );
    }
}
