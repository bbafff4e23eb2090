//! Host model of the architecture interface: the console goes to stderr and
//! exit ends the process, so portable kernel code runs in unit tests.

extern crate std;

use sotto_abi::ExitCode;

/// Write console bytes (stderr on the host).
pub fn console_write(bytes: &[u8]) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(bytes);
}

/// End the process with the image's exit status.
pub fn exit(code: ExitCode) -> ! {
    std::process::exit(code as i32)
}
