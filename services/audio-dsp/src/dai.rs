//! The DAI's clock. Real DAI hardware consumes one period every period
//! (1 ms) whether or not the pipeline ran to give it one; a period it did
//! not get is an underrun just as much as an empty buffer is. The sink
//! measures that against time — the kernel's tick count — rather than
//! against the periods it happened to run, so an LL side kept off the CPU
//! shows in the underrun count.

use crate::{PERIOD_FRAMES, RATE};

/// How many DAI periods have passed, from the kernel's tick count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaiClock {
    tick_hz: u32,
    /// Kernel tick of the last period played (the count is 32 bits and
    /// wraps: time is summed from one period to the next).
    last: Option<u32>,
    /// Kernel ticks since the first period.
    elapsed: u64,
    /// Periods accounted for so far: played, or counted missed.
    accounted: u64,
}

impl DaiClock {
    /// A clock for a kernel ticking at `tick_hz`; it starts at the first
    /// period.
    pub const fn new(tick_hz: u32) -> DaiClock {
        DaiClock {
            tick_hz,
            last: None,
            elapsed: 0,
            accounted: 0,
        }
    }

    /// Words a saved clock takes ([`DaiClock::to_words`]).
    pub const WORDS: usize = 7;

    /// The clock as words, to keep across a restart: a restarted
    /// pipeline's clock goes on from its last period, so the periods it
    /// was down for count as missed.
    pub fn to_words(&self) -> [u32; Self::WORDS] {
        [
            self.tick_hz,
            u32::from(self.last.is_some()),
            self.last.unwrap_or(0),
            self.elapsed as u32,
            (self.elapsed >> 32) as u32,
            self.accounted as u32,
            (self.accounted >> 32) as u32,
        ]
    }

    /// A clock [`DaiClock::to_words`] saved.
    pub fn from_words(words: [u32; Self::WORDS]) -> DaiClock {
        DaiClock {
            tick_hz: words[0],
            last: (words[1] != 0).then_some(words[2]),
            elapsed: u64::from(words[3]) | u64::from(words[4]) << 32,
            accounted: u64::from(words[5]) | u64::from(words[6]) << 32,
        }
    }

    /// The tick rate it counts in.
    pub fn tick_hz(&self) -> u32 {
        self.tick_hz
    }

    /// The sink plays a period on kernel tick `now`. Returns how many
    /// periods the DAI consumed since the last one without getting them
    /// (0 when on time; never negative: a pipeline running ahead of the
    /// clock, as at a faster kernel tick, is not counted).
    pub fn missed(&mut self, now: u32) -> u32 {
        let last = *self.last.get_or_insert(now);
        self.elapsed += u64::from(now.wrapping_sub(last));
        self.last = Some(now);
        // The period the DAI is in now, counted from the first.
        let due = self.elapsed * u64::from(RATE)
            / (PERIOD_FRAMES as u64 * u64::from(self.tick_hz.max(1)));
        let missed = due.saturating_sub(self.accounted);
        self.accounted = self.accounted.max(due) + 1;
        u32::try_from(missed).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::DaiClock;

    #[test]
    fn on_time_periods_miss_nothing() {
        let mut clock = DaiClock::new(1000);
        for tick in 7..1007 {
            assert_eq!(clock.missed(tick), 0, "tick {tick}");
        }
    }

    #[test]
    fn ticks_the_pipeline_did_not_run_in_are_missed_periods() {
        let mut clock = DaiClock::new(1000);
        assert_eq!(clock.missed(100), 0);
        assert_eq!(clock.missed(101), 0);
        // Nothing ran on ticks 102..=401: 300 periods went by.
        assert_eq!(clock.missed(402), 300);
        assert_eq!(clock.missed(403), 0, "back on time");
        // Two runs on one tick (one of them late) then the next on time.
        assert_eq!(clock.missed(405), 1);
        assert_eq!(clock.missed(405), 0);
        assert_eq!(clock.missed(406), 0);
    }

    #[test]
    fn a_saved_clock_counts_the_ticks_its_pipeline_was_down_as_missed() {
        let mut clock = DaiClock::new(1000);
        for tick in 10..20 {
            assert_eq!(clock.missed(tick), 0);
        }
        let mut restored = DaiClock::from_words(clock.to_words());
        assert_eq!(restored, clock);
        // Last period on tick 19; back on tick 23: 20, 21, 22 went by.
        assert_eq!(restored.missed(23), 3);
        assert_eq!(restored.missed(24), 0);
        assert_eq!(
            DaiClock::from_words(DaiClock::new(48).to_words()),
            DaiClock::new(48)
        );
    }

    #[test]
    fn other_tick_rates_count_milliseconds() {
        // 4 kHz: a period is 4 ticks; a 100-tick gap is 25 periods.
        let mut clock = DaiClock::new(4000);
        assert_eq!(clock.missed(0), 0);
        assert_eq!(clock.missed(4), 0);
        assert_eq!(clock.missed(108), 25);
        // Running every tick at 4 kHz is ahead of the clock: no misses.
        let mut fast = DaiClock::new(4000);
        assert!((0..100).all(|tick| fast.missed(tick) == 0));
        // The tick count wrapping around is still time going on.
        let mut wrap = DaiClock::new(1000);
        assert_eq!(wrap.missed(u32::MAX - 1), 0);
        assert_eq!(wrap.missed(u32::MAX), 0);
        assert_eq!(wrap.missed(3), 3);
    }

    /// Review S: the clock measured time as `now - start` in 32 bits, so
    /// after 2^32 ticks (49.7 days at 1 kHz) it saw time start again: the
    /// periods it had accounted for were ahead of it for another 49.7 days,
    /// and no missed period was counted in all that time.
    #[test]
    fn missed_periods_are_counted_after_the_tick_count_wraps_past_the_start() {
        let mut clock = DaiClock::new(1000);
        assert_eq!(clock.missed(0), 0);
        // Played on time up to just before the wrap (the periods between
        // are accounted for at once here).
        assert_eq!(clock.missed(u32::MAX), u32::MAX - 1);
        assert_eq!(clock.missed(0), 0, "on time across the wrap");
        assert_eq!(clock.missed(1), 0);
        // A gap of 300 ticks after the wrap is 300 missed periods.
        assert_eq!(clock.missed(302), 300);
        assert_eq!(clock.missed(303), 0);
    }
}
