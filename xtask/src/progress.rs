//! The progress line of `cargo xtask run`: how much of the run's virtual
//! time is done and how much audio the playback DAI has written, redrawn
//! in place on stderr a few times a second of wall time — and nothing at
//! all when stderr is not a terminal (CI, tests, pipes).
//!
//! The progress comes from what the host sees anyway, at no cost to the
//! guest: the kernel's `tick N` console lines (when `--report-every` asks
//! for them) and the size of the playback DAI's file (its DMA writes one
//! period per period, silence for an xrun, so audio written is also
//! virtual time done). The line is cleared before any console line is
//! shown and before the final report, so it never mixes with them.

use std::io::Write;
use std::time::{Duration, Instant};

/// Wall time between two drawings of the line at least.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// What is known of a run's progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Virtual time done, in microseconds; `None` until a line says.
    pub virtual_us: Option<u64>,
    /// The run's virtual time limit in microseconds; `None`: no limit.
    pub total_us: Option<u64>,
    /// Frames of audio the playback DAI wrote; `None`: the system plays
    /// none.
    pub audio_frames: Option<u64>,
    /// Wall time since the run started.
    pub wall: Duration,
}

/// Seconds with one decimal.
fn seconds(us: u64) -> String {
    format!("{:.1} s", us as f64 / 1e6)
}

/// The progress line for `state` (no `\r`, no newline).
pub fn line(state: &State) -> String {
    let mut text = match (state.virtual_us, state.total_us) {
        (Some(done), Some(total)) => {
            let percent = (u128::from(done.min(total)) * 100)
                .checked_div(u128::from(total))
                .unwrap_or(100);
            format!(
                "run: {} of {} virtual time ({percent}%)",
                seconds(done),
                seconds(total)
            )
        }
        (Some(done), None) => format!("run: {} of virtual time", seconds(done)),
        (None, total) => {
            let limit = total.map_or(String::new(), |total| format!(" of {}", seconds(total)));
            format!(
                "run: {:.1} s of wall time, virtual time{limit} not reported",
                state.wall.as_secs_f64()
            )
        }
    };
    if let Some(frames) = state.audio_frames {
        let audio = frames as f64 / f64::from(audio_dsp::RATE);
        text.push_str(&format!(", {audio:.2} s of audio"));
    }
    text
}

/// The progress of one run, drawn on `out` (stderr) when it is a terminal.
pub struct Progress<W: Write> {
    /// Where the line goes; `None`: not a terminal, nothing is written.
    out: Option<W>,
    /// The tick rate, for `tick N` lines.
    tick_hz: u32,
    /// What is known so far (but the wall time).
    state: State,
    /// When the run started.
    started: Instant,
    /// When the line was last drawn (at first: when the run started, so
    /// runs shorter than [`INTERVAL`] show nothing).
    drawn_at: Instant,
    /// Characters of the line on screen; 0: none.
    shown: usize,
    /// Whether console output took the line off the screen since it was
    /// last drawn.
    hidden: bool,
    /// The line last drawn.
    text: String,
    /// Wall time between two drawings at least: [`INTERVAL`].
    interval: Duration,
}

impl Progress<std::io::Stderr> {
    /// The progress on stderr, drawn only if stderr is a terminal, of a
    /// run of `run_ticks` ticks (0: no limit) at `tick_hz`.
    pub fn on_stderr(tick_hz: u32, run_ticks: u32, plays_audio: bool) -> Self {
        use std::io::IsTerminal;
        let stderr = std::io::stderr();
        let terminal = stderr.is_terminal();
        Progress::new(
            terminal.then_some(stderr),
            tick_hz,
            run_ticks,
            plays_audio,
            Instant::now(),
        )
    }
}

impl<W: Write> Progress<W> {
    /// The progress drawn on `out` (`None`: nowhere) of a run of
    /// `run_ticks` ticks (0: no limit) at `tick_hz` that started at
    /// `started`; `plays_audio`: it has a playback DAI.
    pub fn new(
        out: Option<W>,
        tick_hz: u32,
        run_ticks: u32,
        plays_audio: bool,
        started: Instant,
    ) -> Self {
        let total_us = (run_ticks > 0)
            .then(|| ticks_to_us(u64::from(run_ticks), tick_hz))
            .flatten();
        Progress {
            out,
            tick_hz,
            state: State {
                total_us,
                audio_frames: plays_audio.then_some(0),
                ..State::default()
            },
            started,
            drawn_at: started,
            shown: 0,
            hidden: false,
            text: String::new(),
            interval: INTERVAL,
        }
    }

    /// The same, drawn as often as `interval` allows (a test's).
    #[cfg(test)]
    pub fn every(self, interval: Duration) -> Self {
        Progress { interval, ..self }
    }

    /// Whether anything is ever drawn: callers skip the work otherwise.
    pub fn enabled(&self) -> bool {
        self.out.is_some()
    }

    /// Take what a console `line` says (a kernel `tick N` line), and that
    /// the playback DAI has written `audio_frames` frames so far.
    pub fn observe(&mut self, line: &str, audio_frames: u64) {
        if !self.enabled() {
            return;
        }
        let mut done = self.state.virtual_us;
        if let Some(tick) = line
            .strip_prefix("[kernel] tick ")
            .and_then(|tick| tick.trim().parse::<u64>().ok())
            && let Some(us) = ticks_to_us(tick, self.tick_hz)
        {
            done = done.max(Some(us));
        }
        if let Some(frames) = self.state.audio_frames.as_mut() {
            *frames = audio_frames;
            // The DMA writes a period every period, from its start.
            let us = audio_frames * 1_000_000 / u64::from(audio_dsp::RATE);
            if us > 0 {
                done = done.max(Some(us));
            }
        }
        self.state.virtual_us = done;
    }

    /// Take the line off the screen, before a console line or the final
    /// report is shown.
    pub fn clear(&mut self) {
        if self.shown > 0 {
            let blank = format!("\r{:width$}\r", "", width = self.shown);
            self.shown = 0;
            self.hidden = true;
            self.write(&blank);
        }
    }

    /// Write `text` to the terminal; if that fails, stop drawing (the
    /// run goes on: its progress is no reason to stop it).
    fn write(&mut self, text: &str) {
        if let Some(out) = self.out.as_mut()
            && out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
        {
            self.out = None;
        }
    }

    /// Draw the line anew at wall time `now` if [`INTERVAL`] has passed
    /// since it was last drawn; else, if console output took it off the
    /// screen and the console is `quiet` again (no line came for a while),
    /// put the same line back, so it stays in
    /// view between bursts of console lines but changes only once an
    /// interval.
    pub fn draw(&mut self, now: Instant, quiet: bool) {
        if !self.enabled() {
            return;
        }
        if now.saturating_duration_since(self.drawn_at) >= self.interval {
            self.drawn_at = now;
            let state = State {
                wall: now.saturating_duration_since(self.started),
                ..self.state
            };
            self.text = line(&state);
        } else if !(quiet && self.hidden) {
            return;
        }
        self.hidden = false;
        let text = std::mem::take(&mut self.text);
        let width = text.chars().count();
        // Spaces over what is left of a longer line before.
        let pad = self.shown.saturating_sub(width);
        self.shown = width + pad;
        self.write(&format!("\r{text}{:pad$}", ""));
        self.text = text;
    }
}

/// `ticks` at `tick_hz` in microseconds (`None` at 0 Hz).
fn ticks_to_us(ticks: u64, tick_hz: u32) -> Option<u64> {
    let us = (u128::from(ticks) * 1_000_000).checked_div(u128::from(tick_hz))?;
    Some(u64::try_from(us).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::{INTERVAL, Progress, State, line};
    use std::time::{Duration, Instant};

    #[test]
    fn the_line_says_virtual_time_and_audio() {
        let state = State {
            virtual_us: Some(12_345_000),
            total_us: Some(30_000_000),
            audio_frames: Some(48_000 * 12 + 24_000),
            wall: Duration::from_secs(9),
        };
        assert_eq!(
            line(&state),
            "run: 12.3 s of 30.0 s virtual time (41%), 12.50 s of audio"
        );
        let no_audio_no_limit = State {
            audio_frames: None,
            total_us: None,
            ..state
        };
        assert_eq!(line(&no_audio_no_limit), "run: 12.3 s of virtual time");
        let nothing_yet = State {
            virtual_us: None,
            audio_frames: None,
            wall: Duration::from_millis(2_500),
            ..state
        };
        assert_eq!(
            line(&nothing_yet),
            "run: 2.5 s of wall time, virtual time of 30.0 s not reported"
        );
        // Past the limit (the last ticks' audio): never above 100%.
        let over = State {
            virtual_us: Some(31_000_000),
            ..state
        };
        assert!(line(&over).contains("(100%)"), "{}", line(&over));
    }

    /// The console lines at a time: `tick N` at the run's rate, audio,
    /// the later of the two.
    #[test]
    fn virtual_time_comes_from_tick_lines_and_audio() {
        let start = Instant::now();
        let mut ticks = Progress::new(Some(Vec::new()), 4000, 8000, false, start);
        ticks.observe("[kernel] tick 2000", 0);
        ticks.observe("[evil] [kernel] tick 7999", 0);
        ticks.observe("[kernel] tick soon", 0);
        assert_eq!(ticks.state.virtual_us, Some(500_000));
        assert_eq!(ticks.state.total_us, Some(2_000_000));
        assert_eq!(ticks.state.audio_frames, None);

        let mut audio = Progress::new(Some(Vec::new()), 1000, 0, true, start);
        audio.observe("[pipeline] stats", 0);
        assert_eq!(audio.state.virtual_us, None);
        audio.observe("[pipeline] stats", 48 * 1500);
        assert_eq!(audio.state.virtual_us, Some(1_500_000));
        assert_eq!(audio.state.audio_frames, Some(72_000));
        // A tick line behind the audio does not take time back.
        audio.observe("[kernel] tick 1000", 48 * 1500);
        assert_eq!(audio.state.virtual_us, Some(1_500_000));
        audio.observe("[kernel] tick 1600", 48 * 1500);
        assert_eq!(audio.state.virtual_us, Some(1_600_000));
        assert_eq!(audio.state.total_us, None);
    }

    fn written(progress: &Progress<Vec<u8>>) -> String {
        String::from_utf8(progress.out.clone().unwrap()).unwrap()
    }

    /// Drawn at most once an [`INTERVAL`], in place, and cleared.
    #[test]
    fn drawn_in_place_at_most_once_an_interval_then_cleared() {
        let start = Instant::now();
        let mut progress = Progress::new(Some(Vec::new()), 1000, 2000, true, start);
        progress.observe("", 48 * 100);
        progress.draw(start + INTERVAL / 2, false);
        assert_eq!(written(&progress), "", "not before the first interval");
        progress.draw(start + INTERVAL, false);
        let first = "run: 0.1 s of 2.0 s virtual time (5%), 0.10 s of audio";
        assert_eq!(written(&progress), format!("\r{first}"));
        progress.observe("", 48 * 1000);
        progress.draw(start + INTERVAL * 3 / 2, false);
        assert_eq!(written(&progress), format!("\r{first}"), "too soon");
        progress.draw(start + INTERVAL * 2, false);
        let second = "run: 1.0 s of 2.0 s virtual time (50%), 1.00 s of audio";
        assert_eq!(written(&progress), format!("\r{first}\r{second}"));
        progress.clear();
        let blank = " ".repeat(second.len());
        assert_eq!(
            written(&progress),
            format!("\r{first}\r{second}\r{blank}\r")
        );
        // Cleared once: nothing more to clear.
        progress.clear();
        assert_eq!(
            written(&progress),
            format!("\r{first}\r{second}\r{blank}\r")
        );
    }

    /// Taken off the screen by console output, the line comes back as
    /// soon as the console is quiet, however recently it was drawn, but
    /// says something new only once an interval.
    #[test]
    fn back_at_once_after_console_output() {
        let start = Instant::now();
        let mut progress = Progress::new(Some(Vec::new()), 1000, 2000, true, start);
        progress.observe("", 48 * 100);
        progress.draw(start + INTERVAL, true);
        let first = "run: 0.1 s of 2.0 s virtual time (5%), 0.10 s of audio";
        assert_eq!(written(&progress), format!("\r{first}"));
        // Drawn, not hidden: quiet is no reason to draw it again.
        progress.draw(start + INTERVAL * 5 / 4, true);
        assert_eq!(written(&progress), format!("\r{first}"));
        progress.clear();
        let blank = " ".repeat(first.len());
        // Still output (a line shown): it stays off.
        progress.draw(start + INTERVAL * 5 / 4, false);
        assert_eq!(written(&progress), format!("\r{first}\r{blank}\r"));
        // Back as it was: what it says changes once an interval.
        progress.observe("", 48 * 200);
        progress.draw(start + INTERVAL * 6 / 4, true);
        assert_eq!(written(&progress), format!("\r{first}\r{blank}\r\r{first}"));
        progress.draw(start + INTERVAL * 2, false);
        let second = "run: 0.2 s of 2.0 s virtual time (10%), 0.20 s of audio";
        assert_eq!(
            written(&progress),
            format!("\r{first}\r{blank}\r\r{first}\r{second}")
        );
    }

    /// A shorter line after a longer one covers what is left of it.
    #[test]
    fn a_shorter_line_covers_a_longer_one() {
        let start = Instant::now();
        let mut progress = Progress::new(Some(Vec::new()), 1000, 0, false, start);
        progress.draw(start + INTERVAL * 2, false);
        let long = "run: 0.5 s of wall time, virtual time not reported";
        assert_eq!(written(&progress), format!("\r{long}"));
        progress.observe("[kernel] tick 300", 0);
        progress.draw(start + INTERVAL * 4, false);
        let short = "run: 0.3 s of virtual time";
        let pad = " ".repeat(long.len() - short.len());
        assert_eq!(written(&progress), format!("\r{long}\r{short}{pad}"));
        progress.clear();
        assert!(written(&progress).ends_with(&format!("\r{}\r", " ".repeat(long.len()))));
    }

    /// Not a terminal: nothing, ever.
    #[test]
    fn nothing_when_not_a_terminal() {
        let start = Instant::now();
        let mut progress: Progress<Vec<u8>> = Progress::new(None, 1000, 2000, true, start);
        assert!(!progress.enabled());
        progress.observe("[kernel] tick 1000", 48 * 1000);
        for step in 1..10 {
            progress.draw(start + INTERVAL * step, false);
        }
        progress.clear();
        assert!(progress.out.is_none());
        assert_eq!(progress.state.virtual_us, None, "not even parsed");
    }
}
