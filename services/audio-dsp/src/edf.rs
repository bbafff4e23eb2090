//! The DP scheduler's rule. After each LL tick a DP task is ready when its
//! input holds a full block and its output has room for one; each ready
//! task gets a deadline one block period after it became ready. Released
//! preemptively ([`next_preemptive`]), every ready task is released at
//! once and the kernel runs them earliest deadline first, preempting a
//! later one; one at a time ([`next`]), the ready task with the earliest
//! deadline runs next and to the end of its block (ties: lower index).

/// The bit of the DP scheduler's notification the pipeline signals after
/// each LL tick.
pub const TICK_BIT: u32 = 1;

/// The bit DP worker `number` (its place among the DP components)
/// signals when its block is done.
pub const fn done_bit(number: usize) -> u32 {
    2 << number
}

/// The bit DP runner `number` signals when it (re)starts: a release its
/// previous instance took died with it (done bits are 1..=15, these
/// 16..=30).
pub const fn started_bit(number: usize) -> u32 {
    1 << (16 + number)
}

/// A DP task as the DP scheduler tracks it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DpTask {
    /// Ready since this tick, with this deadline tick (None: not ready).
    pub deadline: Option<u32>,
    /// Released and not yet done.
    pub running: bool,
    /// Blocks done.
    pub runs: u32,
    /// Deadlines missed (counted once per block, when first seen).
    pub misses: u32,
    /// The running block's deadline passed (already counted).
    pub late: bool,
    /// Times its runner started again while a block was released to it
    /// (a restart after a fault): the block was not done, and is
    /// released again.
    pub restarts: u32,
}

/// Whether a task with these buffer levels can run a block.
pub fn ready(input_available: usize, output_free: usize, block_samples: usize) -> bool {
    input_available >= block_samples && output_free >= block_samples
}

/// Update readiness on tick `now`: tasks whose buffers allow a block get a
/// deadline `now + block_ticks` (kept if they already had one).
pub fn update(task: &mut DpTask, is_ready: bool, now: u32, block_ticks: u32) {
    if task.running {
        return;
    }
    task.deadline = match (is_ready, task.deadline) {
        (true, Some(deadline)) => Some(deadline),
        (true, None) => Some(now + block_ticks),
        (false, _) => None,
    };
}

/// The next task to release: the ready, not running one with the
/// earliest deadline. Released tasks run one at a time, so none is
/// released while another runs within its deadline; one past its deadline
/// (hung, faulted or just slow) no longer holds the others back.
pub fn next(tasks: &[DpTask]) -> Option<usize> {
    if tasks.iter().any(|task| task.running && !task.late) {
        return None;
    }
    next_preemptive(tasks)
}

/// The next task to release when the kernel orders released tasks by
/// deadline: the ready, not running one with the earliest deadline,
/// whatever runs (a task is released once per block: not again while it
/// runs).
pub fn next_preemptive(tasks: &[DpTask]) -> Option<usize> {
    tasks
        .iter()
        .enumerate()
        .filter(|(_, task)| !task.running && task.deadline.is_some())
        .min_by_key(|(index, task)| (task.deadline, *index))
        .map(|(index, _)| index)
}

/// On tick `now`: whether a running task just went past its deadline (a
/// miss, counted once even if the task never finishes: a hung or stopped
/// worker is still reported).
pub fn overdue(task: &mut DpTask, now: u32) -> bool {
    let passed = task.deadline.is_some_and(|deadline| now > deadline);
    if task.running && passed && !task.late {
        task.late = true;
        task.misses += 1;
        return true;
    }
    false
}

/// Mark the task done at tick `now`; returns whether this is a miss not
/// yet reported by [`overdue`].
pub fn done(task: &mut DpTask, now: u32) -> bool {
    let newly_missed = overdue(task, now);
    task.running = false;
    task.late = false;
    task.deadline = None;
    task.runs += 1;
    newly_missed
}

/// The task's runner (re)started: a block released to its previous
/// instance is void — not done, not run — and the task is free to be
/// released again (on the next tick it is ready). Returns whether a
/// release was voided (a runner's first start voids none).
pub fn restarted(task: &mut DpTask) -> bool {
    let voided = task.running;
    if voided {
        task.restarts += 1;
    }
    task.running = false;
    task.late = false;
    task.deadline = None;
    voided
}

#[cfg(test)]
mod tests {
    use super::{DpTask, done, next, next_preemptive, overdue, ready, restarted, update};

    #[test]
    fn a_restarted_runner_voids_its_release_and_is_released_again() {
        let mut task = DpTask::default();
        assert!(!restarted(&mut task), "a first start voids nothing");
        update(&mut task, true, 10, 10);
        task.running = true;
        assert!(restarted(&mut task));
        assert_eq!((task.runs, task.restarts, task.running), (0, 1, false));
        assert_eq!(next_preemptive(&[task]), None, "released again once ready");
        update(&mut task, true, 11, 10);
        assert_eq!(task.deadline, Some(21));
        assert_eq!(next_preemptive(&[task]), Some(0));
        task.running = true;
        assert!(!done(&mut task, 15));
        assert_eq!((task.runs, task.misses), (1, 0));
        assert!(super::started_bit(0) & (super::done_bit(14) | super::TICK_BIT) == 0);
    }

    #[test]
    fn readiness_needs_a_full_block_in_and_room_out() {
        assert!(ready(960, 960, 960));
        assert!(!ready(959, 2000, 960));
        assert!(!ready(2000, 959, 960));
    }

    #[test]
    fn earliest_deadline_first() {
        let mut tasks = [DpTask::default(); 3];
        update(&mut tasks[0], true, 10, 10); // deadline 20
        update(&mut tasks[1], true, 12, 4); // deadline 16
        update(&mut tasks[2], false, 12, 1);
        assert_eq!(next(&tasks), Some(1));
        tasks[1].running = true;
        assert_eq!(next(&tasks), None, "one at a time");
        tasks[1].running = false;
        tasks[1].deadline = None;
        assert_eq!(next(&tasks), Some(0));
        tasks[1].running = true;
        tasks[1].deadline = Some(16);
        // Staying ready keeps the first deadline.
        update(&mut tasks[0], true, 15, 10);
        assert_eq!(tasks[0].deadline, Some(20));
        assert!(!done(&mut tasks[1], 16), "on time");
        tasks[0].running = true;
        assert!(done(&mut tasks[0], 21), "late");
        assert_eq!((tasks[0].runs, tasks[0].misses), (1, 1));
        assert_eq!(next(&tasks), None);
    }

    #[test]
    fn preemptive_release_lets_every_ready_task_go() {
        let mut tasks = [DpTask::default(); 3];
        update(&mut tasks[0], true, 0, 40); // deadline 40
        assert_eq!(next_preemptive(&tasks), Some(0));
        tasks[0].running = true;
        assert_eq!(next_preemptive(&tasks), None, "released once per block");
        // A short task ready while the long one runs is released at once
        // (one at a time, it would wait).
        update(&mut tasks[1], true, 2, 2); // deadline 4
        update(&mut tasks[2], true, 2, 1); // deadline 3
        assert_eq!(next(&tasks), None);
        assert_eq!(next_preemptive(&tasks), Some(2), "earliest first");
        tasks[2].running = true;
        assert_eq!(next_preemptive(&tasks), Some(1));
        tasks[1].running = true;
        assert_eq!(next_preemptive(&tasks), None);
        assert!(!done(&mut tasks[2], 3));
        assert!(!done(&mut tasks[1], 4));
        assert!(!done(&mut tasks[0], 30));
        assert_eq!(tasks.map(|task| task.misses), [0, 0, 0]);
    }

    #[test]
    fn a_task_that_never_finishes_misses_once() {
        let mut task = DpTask::default();
        update(&mut task, true, 0, 10);
        task.running = true;
        assert!(
            !overdue(&mut task, 10),
            "the deadline tick itself is on time"
        );
        assert!(overdue(&mut task, 11));
        assert!(!overdue(&mut task, 12), "counted once");
        assert_eq!(task.misses, 1);
        assert!(!done(&mut task, 13), "already reported");
        assert_eq!((task.runs, task.misses, task.late), (1, 1, false));
        // A task past its deadline does not block another ready one.
        let mut pair = [DpTask::default(); 2];
        update(&mut pair[0], true, 0, 10);
        update(&mut pair[1], true, 5, 10);
        pair[0].running = true;
        assert_eq!(next(&pair), None);
        assert!(overdue(&mut pair[0], 11));
        assert_eq!(next(&pair), Some(1));
        // The next block starts clean.
        update(&mut task, true, 13, 10);
        task.running = true;
        assert!(!done(&mut task, 20));
        assert_eq!(task.misses, 1);
    }
}
