//! `print!` and `println!` for services: text is formatted into a buffer
//! on the stack and written with as few system calls as possible (one per
//! `println!` for lines up to the buffer size).

use core::fmt;

/// A fixed-size text buffer that never fails: past its end it truncates.
pub struct Buffer<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for Buffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Buffer<N> {
    /// Empty.
    pub const fn new() -> Self {
        Buffer {
            bytes: [0; N],
            len: 0,
        }
    }

    /// The text so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<const N: usize> fmt::Write for Buffer<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let take = text.len().min(N - self.len);
        self.bytes[self.len..self.len + take].copy_from_slice(&text.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// Writes to the console, flushing a 128-byte buffer as it fills.
pub struct Console {
    buffer: Buffer<128>,
}

impl Console {
    fn flush(&mut self) {
        if self.buffer.len > 0 {
            let _ = crate::sys::console_write(self.buffer.as_bytes());
            self.buffer.len = 0;
        }
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, mut text: &str) -> fmt::Result {
        while !text.is_empty() {
            if self.buffer.len == 128 {
                self.flush();
            }
            let room = 128 - self.buffer.len;
            let mut take = text.len().min(room);
            while !text.is_char_boundary(take) {
                take -= 1;
            }
            if take == 0 {
                self.flush();
                continue;
            }
            let _ = self.buffer.write_str(&text[..take]);
            text = &text[take..];
        }
        Ok(())
    }
}

/// Print formatted text (used by the macros).
pub fn print(args: fmt::Arguments<'_>) {
    let mut console = Console {
        buffer: Buffer::new(),
    };
    let _ = fmt::write(&mut console, args);
    console.flush();
}

/// Print to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// Print a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
