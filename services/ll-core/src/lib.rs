//! The low-latency (LL) scheduler, as plain Rust: the messages between
//! `ll-sched` and its clients ([`proto`]), and the task table and tick
//! rules ([`LlScheduler`]) with SOF's semantics and more. `ll-sched` keeps
//! all of it on its granted heap; clients use [`proto`] through the `ll`
//! library, which keeps a [`book`] of their tasks to make them again when
//! ll-sched restarts. Nothing here touches the hardware, so it is tested
//! on the host.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod book;
mod clients;
mod clock;
pub mod proto;
mod sched;

pub use clients::{Admitted, Clients};
pub use clock::LlClock;

pub use sched::{Batch, Cause, Finished, LlScheduler, Overrun, Prepared, TaskStats, TickStats};
