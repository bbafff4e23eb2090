//! The one place architecture-specific code lives. `xtensa` is the real
//! thing (with its `.S` files); `host` is a model with the same interface so
//! the portable kernel logic builds and is tested on the development machine.

#[cfg(target_arch = "xtensa")]
pub mod xtensa;
#[cfg(target_arch = "xtensa")]
pub use xtensa::{console_write, exit};

#[cfg(not(target_arch = "xtensa"))]
pub mod host;
#[cfg(not(target_arch = "xtensa"))]
pub use host::{console_write, exit};
