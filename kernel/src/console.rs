//! The kernel console: `kprintln!` formats a line with `core::fmt` into a
//! small buffer and hands it to the architecture's console (semihosting on
//! QEMU) in as few writes as possible. Every kernel line starts with
//! [`PREFIX`], so kernel output is recognisable among service output.

use core::fmt;

/// What every kernel console line starts with.
pub const PREFIX: &str = "[kernel] ";

/// Collects formatted text and passes it on in chunks; never drops text.
pub struct LineWriter<F: FnMut(&[u8])> {
    buf: [u8; 120],
    len: usize,
    sink: F,
}

impl<F: FnMut(&[u8])> LineWriter<F> {
    /// A writer that flushes into `sink`.
    pub fn new(sink: F) -> Self {
        LineWriter {
            buf: [0; 120],
            len: 0,
            sink,
        }
    }

    /// Pass on whatever is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            (self.sink)(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl<F: FnMut(&[u8])> fmt::Write for LineWriter<F> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut bytes = text.as_bytes();
        while !bytes.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let take = bytes.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + take].copy_from_slice(&bytes[..take]);
            self.len += take;
            bytes = &bytes[take..];
        }
        Ok(())
    }
}

/// Write one prefixed line to `sink`.
pub fn write_line(sink: impl FnMut(&[u8]), args: fmt::Arguments<'_>) {
    let mut writer = LineWriter::new(sink);
    // Writing into the buffer cannot fail; a formatting impl that errors
    // still gets its partial output shown.
    let _ = fmt::Write::write_fmt(&mut writer, format_args!("{PREFIX}{args}\n"));
    writer.flush();
}

/// Prefixes each line a service prints with its name, so output of
/// concurrent services stays attributable.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinePrefixer {
    mid_line: bool,
}

impl LinePrefixer {
    /// Pass `bytes` to `sink`, inserting `[name] ` at each line start.
    pub fn write(&mut self, name: &str, bytes: &[u8], mut sink: impl FnMut(&[u8])) {
        for line in bytes.split_inclusive(|byte| *byte == b'\n') {
            if !self.mid_line {
                sink(b"[");
                sink(name.as_bytes());
                sink(b"] ");
            }
            sink(line);
            self.mid_line = !line.ends_with(b"\n");
        }
    }
}

/// Print a prefixed line on the kernel console.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::console::write_line($crate::arch::console_write, format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::{LinePrefixer, write_line};

    #[test]
    fn prefixes_and_keeps_long_lines_whole() {
        let mut out = Vec::new();
        let long = "x".repeat(300);
        write_line(
            |chunk| out.push(chunk.to_vec()),
            format_args!("tick {} {long}", 42),
        );
        let text: Vec<u8> = out.concat();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            format!("[kernel] tick 42 {long}\n")
        );
        assert_eq!(out.len(), 3, "310 bytes go out in 120-byte chunks");
    }

    #[test]
    fn a_short_line_is_one_write() {
        let mut writes = 0;
        write_line(|_| writes += 1, format_args!("booted"));
        assert_eq!(writes, 1);
    }

    #[test]
    fn lines_get_the_service_name() {
        let mut out = Vec::new();
        let mut prefixer = LinePrefixer::default();
        prefixer.write("a", b"one\ntw", |bytes| out.extend_from_slice(bytes));
        prefixer.write("a", b"o\nthree\n", |bytes| out.extend_from_slice(bytes));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[a] one\n[a] two\n[a] three\n"
        );
    }
}
