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
//!
//! A service with further threads (`[[service.thread]]` in `system.toml`,
//! `entry = "fir_main"`) names each one's function with [`thread!`]
//! (feature `threads`):
//!
//! ```ignore
//! sotto_rt::thread!(fir_main, fir);
//! fn fir(arg: u32) {
//!     // Runs on its own stack, with the service's capabilities.
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
pub mod supervise;
pub mod sync;
pub mod sys;
pub mod thread;
pub mod trace;

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

/// Declare a further thread's function: `thread!(symbol, function)`
/// defines the entry `symbol` (what `entry = "symbol"` of a
/// `[[service.thread]]` in `system.toml` names; the build checks it
/// exists) running `function: fn(arg: u32)`, with `arg` the thread's
/// `arg` (default: its number in the service, 1 for the first further
/// thread). Each thread has its own stack (a guard page under it) and
/// registers, and shares the service's memory and capabilities. A
/// thread whose function returns sleeps for good; the service ends when
/// its main function returns or any thread exits, panics or faults.
#[cfg(feature = "threads")]
#[macro_export]
macro_rules! thread {
    ($symbol:ident, $function:path) => {
        // Its own section, which the service linker script keeps: nothing
        // in the service calls it, the kernel enters it.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = concat!(".text.sotto_thread.", stringify!($symbol)))]
        extern "C" fn $symbol(arg: u32) -> ! {
            let function: fn(u32) = $function;
            function(arg);
            $crate::thread_returned()
        }
    };
}

/// Where a further thread's function returns to: it sleeps for good (the
/// service goes on).
#[cfg(feature = "threads")]
pub fn thread_returned() -> ! {
    loop {
        sys::sleep_us(u32::MAX - 1);
    }
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
