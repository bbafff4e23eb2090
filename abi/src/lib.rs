//! The one definition of Sotto's interfaces: between the kernel and services,
//! and between the image and the host tools (xtask, tests, inspectors).
//!
//! Everything here is `no_std` and plain data, so the kernel (on Xtensa), the
//! services, `xtask` and the host tools compile the very same definitions.
//! No constant in this crate may be duplicated by hand anywhere else.

#![cfg_attr(not(test), no_std)]

pub mod boot;
pub mod cap;
pub mod cause;
pub mod dai;
pub mod exit;
pub mod layout;
pub mod manifest;
pub mod supervise;
pub mod syscall;
pub mod text;
pub mod trace;
pub mod wire;

pub use boot::{BootConfig, SelfTest};
pub use cause::ExceptionCause;
pub use exit::ExitCode;
pub use manifest::Manifest;
pub use syscall::{Error, Syscall};
