//! The supervisor as plain Rust: when to restart a service that faulted
//! ([`policy`]: restart now, after a backoff, or hold it), the table of
//! supervised services and what happened to each ([`table`]), the one
//! console line per decision ([`report`]), the names the lines use
//! ([`names`]) and the status query protocol on the supervisor's
//! endpoint ([`proto`], shared with clients and tests). Nothing here
//! makes a system call, so all of it is tested on the host;
//! `services/supervisor` only adds the calls.

#![cfg_attr(not(test), no_std)]

pub mod names;
pub mod policy;
pub mod proto;
pub mod report;
pub mod table;

pub use names::Names;
pub use policy::{Decision, History, Hold, decide};
pub use table::{Phase, Supervised, Table};
