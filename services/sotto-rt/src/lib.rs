//! The runtime library of Sotto services: the entry point, safe wrappers
//! for every system call, `print!`/`println!`, and a panic handler that
//! reports the message and location through the kernel. It is the only
//! place with `unsafe` code a service links; services themselves are
//! `#![forbid(unsafe_code)]`.
//!
//! A service:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! #![forbid(unsafe_code)]
//! sotto_rt::entry!(main);
//! fn main(arg: u32) {
//!     sotto_rt::println!("hello, arg {arg}");
//! }
//! ```

#![no_std]

pub mod cap;
pub mod console;
#[cfg(feature = "fault-injection")]
pub mod fault;
#[cfg(feature = "heap")]
pub mod heap;
pub mod ipc;
pub mod mem;
pub mod sync;
pub mod sys;
pub mod thread;

pub use sotto_abi::Error;
pub use sotto_abi::cap::{ObjectKind, Rights};
pub use sotto_abi::layout::CCOUNT_HZ;

/// Declare the service's main function, `fn(arg: u32)`. `arg` comes from
/// the service's `arg` in `system.toml`. Returning from it exits with 0.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn sotto_service_main(arg: u32) {
            let main: fn(u32) = $main;
            main(arg)
        }
    };
}

unsafe extern "C" {
    fn sotto_service_main(arg: u32);
}

/// Called by `_start` on the service's stack.
#[unsafe(no_mangle)]
extern "C" fn sotto_rt_start(arg: u32) -> ! {
    // SAFETY: `entry!` defines this function with this signature; a service
    // without `entry!` fails to link, it cannot call something else.
    unsafe { sotto_service_main(arg) };
    sys::exit(0)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut message = console::Buffer::<240>::new();
    let _ = core::fmt::write(&mut message, format_args!("{}", info.message()));
    if let Some(location) = info.location() {
        let _ = core::fmt::write(
            &mut message,
            format_args!(" at {}:{}", location.file(), location.line()),
        );
    }
    sys::panic(message.as_bytes())
}

/// LLVM lowers traps to a call to `abort`.
#[unsafe(no_mangle)]
extern "C" fn abort() -> ! {
    sys::panic(b"abort (LLVM trap)")
}
