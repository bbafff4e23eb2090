//! The periodic tick on CCOMPARE0, as wrap-safe arithmetic on the 32-bit
//! cycle counter. Deadlines advance by whole periods from the first one, so
//! the tick never drifts, and ticks missed while interrupts were masked are
//! counted rather than lost.

/// A periodic deadline on a free-running 32-bit counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickClock {
    period: u32,
    deadline: u32,
    ticks: u64,
}

impl TickClock {
    /// First deadline one period after `now`. `period` must be non-zero and
    /// below 2^31 (so "passed" is unambiguous).
    pub fn start(now: u32, period: u32) -> TickClock {
        debug_assert!(period > 0 && period < 1 << 31);
        TickClock {
            period,
            deadline: now.wrapping_add(period),
            ticks: 0,
        }
    }

    /// The next deadline (the value for CCOMPARE0).
    pub fn deadline(&self) -> u32 {
        self.deadline
    }

    /// Ticks counted so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Whether `now` is at or past the deadline.
    pub fn due(&self, now: u32) -> bool {
        (now.wrapping_sub(self.deadline) as i32) >= 0
    }

    /// Account for every deadline at or before `now`; returns how many
    /// ticks that was (0 for an early or spurious interrupt).
    pub fn advance(&mut self, now: u32) -> u32 {
        if !self.due(now) {
            return 0;
        }
        let elapsed = now.wrapping_sub(self.deadline) / self.period + 1;
        self.deadline = self
            .deadline
            .wrapping_add(elapsed.wrapping_mul(self.period));
        self.ticks += u64::from(elapsed);
        elapsed
    }

    /// Handle the timer interrupt: advance, program the comparator, and
    /// repeat while the counter has already run past the new deadline (else
    /// the next interrupt would come only after the counter wraps).
    pub fn on_interrupt(
        &mut self,
        mut read_now: impl FnMut() -> u32,
        mut program: impl FnMut(u32),
    ) -> u32 {
        let mut total = 0;
        loop {
            total += self.advance(read_now());
            program(self.deadline);
            if !self.due(read_now()) {
                return total;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TickClock;

    #[test]
    fn ticks_without_drift() {
        let mut clock = TickClock::start(1000, 10_000);
        assert_eq!(clock.deadline(), 11_000);
        assert_eq!(clock.advance(10_999), 0, "early interrupt counts nothing");
        // Late by 37 cycles: the next deadline stays on the grid.
        assert_eq!(clock.advance(11_037), 1);
        assert_eq!(clock.deadline(), 21_000);
        assert_eq!(clock.ticks(), 1);
    }

    #[test]
    fn counts_missed_ticks() {
        let mut clock = TickClock::start(0, 100);
        assert_eq!(clock.advance(350), 3);
        assert_eq!(clock.deadline(), 400);
        assert_eq!(clock.ticks(), 3);
    }

    #[test]
    fn survives_counter_wrap() {
        let mut clock = TickClock::start(u32::MAX - 50, 100);
        assert_eq!(clock.deadline(), 49);
        assert!(!clock.due(u32::MAX));
        assert_eq!(clock.advance(60), 1);
        assert_eq!(clock.deadline(), 149);
    }

    #[test]
    fn reprograms_until_the_deadline_is_ahead() {
        let mut clock = TickClock::start(0, 100);
        // The counter reads 100 at the interrupt, then 250 after the
        // comparator is written (a slow handler): one more pass is needed.
        let mut reads = [100u32, 250, 250, 260].into_iter();
        let mut programmed = Vec::new();
        let ticks = clock.on_interrupt(
            || reads.next().unwrap(),
            |deadline| programmed.push(deadline),
        );
        assert_eq!(ticks, 2);
        assert_eq!(programmed, vec![200, 300]);
        assert_eq!(clock.ticks(), 2);
    }
}
