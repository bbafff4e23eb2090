//! Kernel state as console lines show it, without `core::fmt`: the same
//! text as the types' `Debug` forms (the shutdown report prints what each
//! running service waits for), checked against them by the tests.

use sotto_abi::text::{Message, Part};

use crate::kernel::Wait;
use crate::sched::ThreadState;

/// `state` as `{:?}` shows it.
pub fn thread_state(state: ThreadState) -> Message {
    match state {
        ThreadState::Ready => Message::plain(&[Part::Str("Ready")]),
        ThreadState::Running => Message::plain(&[Part::Str("Running")]),
        ThreadState::Sleeping { until } => Message::one(
            &[Part::Str("Sleeping { until: "), Part::Dec, Part::Str(" }")],
            until,
        ),
        ThreadState::Blocked { until: None } => {
            Message::plain(&[Part::Str("Blocked { until: None }")])
        }
        ThreadState::Blocked { until: Some(until) } => Message::one(
            &[
                Part::Str("Blocked { until: Some("),
                Part::Dec,
                Part::Str(") }"),
            ],
            until,
        ),
        ThreadState::Ended => Message::plain(&[Part::Str("Ended")]),
    }
}

/// `wait` as `{:?}` shows it.
pub fn wait(wait: Wait) -> Message {
    match wait {
        Wait::None => Message::plain(&[Part::Str("None")]),
        Wait::Notification(id) => Message::one(
            &[Part::Str("Notification("), Part::Dec, Part::Str(")")],
            u64::from(id),
        ),
        Wait::Semaphore(id) => Message::one(
            &[Part::Str("Semaphore("), Part::Dec, Part::Str(")")],
            u64::from(id),
        ),
        Wait::Caller(id) => Message::one(
            &[Part::Str("Caller("), Part::Dec, Part::Str(")")],
            u64::from(id),
        ),
        Wait::Receiver(id) => Message::one(
            &[Part::Str("Receiver("), Part::Dec, Part::Str(")")],
            u64::from(id),
        ),
        Wait::ReceiverOrSignal {
            endpoint,
            notification,
        } => Message {
            parts: &[
                Part::Str("ReceiverOrSignal { endpoint: "),
                Part::Dec,
                Part::Str(", notification: "),
                Part::Dec,
                Part::Str(" }"),
            ],
            args: [u64::from(endpoint), u64::from(notification), 0],
        },
        Wait::Reply(thread) => Message::one(
            &[Part::Str("Reply("), Part::Dec, Part::Str(")")],
            u64::from(thread),
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::Wait;
    use crate::sched::ThreadState;

    #[test]
    fn reads_as_debug() {
        for state in [
            ThreadState::Ready,
            ThreadState::Running,
            ThreadState::Sleeping { until: 12 },
            ThreadState::Blocked { until: None },
            ThreadState::Blocked {
                until: Some(5_000_000_000),
            },
            ThreadState::Ended,
        ] {
            let shown = super::thread_state(state).to_string();
            assert_eq!(shown, format!("{state:?}"));
        }
        for wait in [
            Wait::None,
            Wait::Notification(15),
            Wait::Semaphore(16),
            Wait::Caller(3),
            Wait::Receiver(14),
            Wait::ReceiverOrSignal {
                endpoint: 1,
                notification: 2,
            },
            Wait::Reply(7),
        ] {
            let shown = super::wait(wait).to_string();
            assert_eq!(shown, format!("{wait:?}"));
        }
    }
}
