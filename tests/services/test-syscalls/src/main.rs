//! Test service: passes the kernel bad pointers, lengths and call numbers
//! and checks each answer is the right error code (and that it is still
//! running afterwards). Prints one line per check; exits 1 on any mismatch.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::{Error, println, sys};

sotto_rt::entry!(main);

const KERNEL_TEXT: u32 = 0x0010_0000;
const PTE_WINDOW: u32 = 0xC040_0000;
const STACK_TOP: u32 = 0x6000_0000;

static MESSAGE: [u8; 4] = *b"ok!\n";

fn check(what: &str, got: Result<usize, Error>, want: Result<usize, Error>) -> bool {
    let ok = got == want;
    println!("{} {what}: {got:?}", if ok { "pass" } else { "FAIL" });
    ok
}

fn main(_: u32) {
    let text = MESSAGE.as_ptr() as u32;
    let mut ok = true;
    ok &= check("valid buffer", sys::console_write(&MESSAGE), Ok(4));
    ok &= check(
        "null pointer",
        sys::console_write_raw(0, 4),
        Err(Error::BadAddress),
    );
    ok &= check(
        "kernel text",
        sys::console_write_raw(KERNEL_TEXT, 4),
        Err(Error::BadAddress),
    );
    ok &= check(
        "page-table window",
        sys::console_write_raw(PTE_WINDOW, 4),
        Err(Error::BadAddress),
    );
    ok &= check(
        "unmapped high address",
        sys::console_write_raw(0x3000_0000, 4),
        Err(Error::BadAddress),
    );
    ok &= check(
        "runs off the stack top",
        sys::console_write_raw(STACK_TOP - 2, 4),
        Err(Error::BadAddress),
    );
    ok &= check(
        "wraps around",
        sys::console_write_raw(0xFFFF_FFF0, 0x20),
        Err(Error::BadLength),
    );
    ok &= check(
        "too long",
        sys::console_write_raw(text, 1 << 20),
        Err(Error::BadLength),
    );
    ok &= check("empty", sys::console_write_raw(0, 0), Ok(0));
    let (status, _) = sys::raw_syscall(4242, [0; 4]);
    ok &= check(
        "unknown call",
        Error::check(status)
            .map(|()| 0)
            .map_err(|e| e.unwrap_or(Error::BadArgument)),
        Err(Error::UnknownSyscall),
    );
    if ok {
        println!("syscalls: all checks passed");
    } else {
        sys::exit(1);
    }
}
