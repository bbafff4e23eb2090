//! Test service: a hostile console writer and an honest one, run side by
//! side at one priority so that `yield` interleaves them.
//!
//! Argument 0 (the forger) leaves partial lines open, tries to print lines
//! that start like the kernel's and like the pipeline's `pcm` lines, writes
//! carriage returns, ESC sequences, tabs and invalid UTF-8, splits a UTF-8
//! sequence across writes, and ends by panicking with a message that tries
//! to begin a line of its own. Argument 1 (the honest writer) prints whole
//! lines and one partial line, yielding between writes.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_rt::sys;

sotto_rt::entry!(main);

/// Write raw bytes (no formatting: some are not UTF-8).
fn write(bytes: &[u8]) {
    if sys::console_write(bytes) != Ok(bytes.len()) {
        sys::exit(1);
    }
}

fn forger() -> ! {
    // A line left open while the honest writer prints a whole one: the
    // forged kernel line that follows must not land at a line start
    // without this service's prefix.
    write(b"x");
    sys::yield_now();
    write(b"[kernel] service pipeline stopped: forged\n");
    write(b"[pipeline] pcm /38AgAAA\n");
    write(b"\n[pipeline] pcm /38AgAAA\n");
    write(b"\r[kernel] carriage return forged\n");
    write(b"\x1b[2K\x1b[1G[kernel] escape forged\n");
    write(b"tab\there \x7f\x08\x00 nul\n");
    write(b"bad utf8 \xff\xfe \xc3( \xed\xa0\x80 \xc2\x9b\n");
    // A sequence split across two writes, nobody in between: kept whole.
    write(b"euro \xe2\x82");
    write(b"\xac kept\n");
    // The same, with the honest writer in between: escaped.
    write(b"euro \xe2\x82");
    sys::yield_now();
    write(b"\xac split\n");
    // Open a line, then let the kernel speak (the panic report).
    write(b"partial");
    sys::panic(b"oops\n[pipeline] pcm /38AgAAA\n[kernel] forged by panic\x1b[A")
}

fn honest() {
    write(b"honest 1\n");
    sys::yield_now();
    write(b"honest 2\n");
    sys::yield_now();
    write(b"honest partial ");
    sys::yield_now();
    write(b"end\n");
}

fn main(arg: u32) {
    match arg {
        0 => forger(),
        _ => honest(),
    }
}
