//! Which LL tick it is, from the kernel's 32-bit tick count, which wraps
//! (after 49.7 days at 1 kHz, 11.9 hours at 100 kHz): the LL ticks follow
//! the timer's grid across the wrap.

/// The LL tick grid of `ll-sched`'s timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LlClock {
    /// Kernel ticks per LL tick.
    period: u32,
    /// Kernel tick count at the start of the last LL tick that ran.
    start: u32,
    /// That LL tick's number (wraps too).
    tick: u32,
}

impl LlClock {
    /// Armed on kernel tick `now`: the LL tick `now` is in counts as run,
    /// the next one starts on the next multiple of `period`.
    pub fn armed(now: u32, period: u32) -> LlClock {
        let period = period.max(1);
        LlClock {
            period,
            start: now - now % period,
            tick: now / period,
        }
    }

    /// The LL tick after the last one that ran, and the kernel tick it
    /// starts on (where the timer signals it, if nothing is missed).
    #[inline]
    pub fn next(&self) -> (u32, u32) {
        (
            self.tick.wrapping_add(1),
            self.start.wrapping_add(self.period),
        )
    }

    /// The timer signalled on kernel tick `now`: the LL tick that ran last
    /// and the one `now` is in, or `None` if that one ran already (a signal
    /// left from a tick whose work ended past the next kernel tick).
    #[inline]
    pub fn advance(&mut self, now: u32) -> Option<(u32, u32)> {
        let passed = now.wrapping_sub(self.start) / self.period;
        if passed == 0 {
            return None;
        }
        let last = self.tick;
        self.start = self.start.wrapping_add(passed.wrapping_mul(self.period));
        self.tick = self.tick.wrapping_add(passed);
        Some((last, self.tick))
    }
}

#[cfg(test)]
mod tests {
    use super::LlClock;

    #[test]
    fn ll_ticks_follow_the_kernel_ticks_and_skip_stale_signals() {
        let mut clock = LlClock::armed(10, 1);
        assert_eq!(clock.advance(10), None, "the arming tick ran");
        assert_eq!(clock.next(), (11, 11));
        assert_eq!(clock.advance(11), Some((10, 11)));
        assert_eq!(clock.advance(11), None);
        assert_eq!(clock.advance(20), Some((11, 20)), "8 missed");
        let mut four = LlClock::armed(41, 4);
        assert_eq!(four.next(), (11, 44), "LL tick 11 starts on kernel tick 44");
        assert_eq!(four.advance(43), None, "still LL tick 10");
        assert_eq!(four.advance(44), Some((10, 11)));
        assert_eq!(four.advance(47), None);
        assert_eq!(four.advance(52), Some((11, 13)));
    }

    /// Review S: ll-sched ran an LL tick only if `now / period` was above
    /// the last one's; when the kernel's 32-bit tick count wrapped, no tick
    /// ran for another 2^32 kernel ticks (49.7 days at 1 kHz): the LL side
    /// and the audio stopped.
    #[test]
    fn the_tick_count_wrapping_does_not_stop_the_ll_ticks() {
        let old_rule_runs = |now: u32, last: u32| now > last;
        assert!(
            !old_rule_runs(0, u32::MAX),
            "the old rule stops at the wrap"
        );
        let mut clock = LlClock::armed(u32::MAX - 1, 1);
        assert_eq!(clock.advance(u32::MAX), Some((u32::MAX - 1, u32::MAX)));
        assert_eq!(clock.advance(0), Some((u32::MAX, 0)), "on across the wrap");
        assert_eq!(clock.advance(1), Some((0, 1)));
        assert_eq!(clock.advance(1), None);
        // A gap across the wrap counts its missed ticks.
        let mut clock = LlClock::armed(u32::MAX - 2, 1);
        let (last, now) = clock.advance(4).unwrap();
        assert_eq!(now.wrapping_sub(last), 7);
        // A period that does not divide 2^32: the grid of the timer (every
        // `period` kernel ticks) goes on through the wrap.
        let mut three = LlClock::armed(u32::MAX - 3, 3);
        let mut runs = 0;
        for now in (u32::MAX - 3..=u32::MAX).chain(0..30) {
            runs += u32::from(three.advance(now).is_some());
        }
        assert_eq!(runs, 34 / 3, "one LL tick per 3 kernel ticks");
    }
}
