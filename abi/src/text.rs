//! Text without `core::fmt`: what the kernel prints is a template of
//! static [`Part`]s (in read-only data) and the few values it refers to,
//! written straight into the console. `core::fmt` costs the kernel
//! kilobytes of code and a formatting engine on every line; a template
//! costs a pointer and the values at the call site, and one loop.
//!
//! - [`Text`]: a line; its template's [`Part::Arg`]s take [`Piece`]s
//!   (text, service bytes, numbers, an error's [`Message`]) in order.
//!   `text!` in the kernel builds one from a list of literals and values.
//! - [`Message`]: what an error or a state says about itself: a template
//!   and up to [`MESSAGE_ARGS`] numbers, returned by value.
//!
//! Every type here also implements [`fmt::Display`], so host code (tools,
//! tests) shows exactly the text the kernel prints.

use core::fmt;

/// One static part of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Text as it is.
    Str(&'static str),
    /// In a [`Text`]: the next [`Piece`].
    Arg,
    /// In a [`Message`]: the next number, in decimal (`{}`).
    Dec,
    /// In a [`Message`]: the next number as `0x` and eight lower-case hex
    /// digits (`{:#010x}`).
    Hex,
    /// In a [`Message`]: the next number as `0x` and as few hex digits as
    /// needed (`{:#x}`).
    HexShort,
}

/// One value in a [`Text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text as it is.
    Str(&'a str),
    /// Bytes a service gave: valid UTF-8 as it is, every other byte as
    /// `\xNN` (the kernel console escapes them; [`fmt::Display`] does the
    /// same).
    Bytes(&'a [u8]),
    /// An unsigned decimal number (`{}`).
    Dec(u64),
    /// `0x` and eight lower-case hex digits (`{:#010x}`).
    Hex(u32),
    /// An error's or a state's message.
    Message(&'a Message),
    /// A text inside the line.
    Text(&'a Text<'a>),
}

/// A line: a template and the pieces its [`Part::Arg`]s take, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text<'a> {
    /// The template (static: it costs no code to build).
    pub parts: &'static [Part],
    /// The values.
    pub args: &'a [Piece<'a>],
}

/// Where emitted bytes go, in runs: any `FnMut(&[u8])`. (A trait of its
/// own rather than `dyn FnMut`, whose table also holds a `call_once` copy
/// of the closure that nothing calls.)
pub trait Sink {
    /// Take the next run of bytes.
    fn put(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8])> Sink for F {
    fn put(&mut self, bytes: &[u8]) {
        self(bytes)
    }
}

/// Numbers a [`Message`] holds at most.
pub const MESSAGE_ARGS: usize = 3;

/// What an error or a state says about itself: a template whose
/// [`Part::Dec`], [`Part::Hex`] and [`Part::HexShort`] take `args` in
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// The template.
    pub parts: &'static [Part],
    /// The numbers.
    pub args: [u64; MESSAGE_ARGS],
}

impl Message {
    /// A message without numbers.
    pub const fn plain(parts: &'static [Part]) -> Message {
        Message {
            parts,
            args: [0; MESSAGE_ARGS],
        }
    }

    /// A message with one number.
    pub const fn one(parts: &'static [Part], value: u64) -> Message {
        Message {
            parts,
            args: [value, 0, 0],
        }
    }

    /// Pass the message's bytes to `emit`, in runs.
    pub fn emit(&self, emit: &mut dyn Sink) {
        let mut args = self.args.iter();
        for part in self.parts {
            let mut next = || args.next().copied().unwrap_or(0);
            match *part {
                Part::Str(text) => emit.put(text.as_bytes()),
                Part::Arg => {}
                Part::Dec => emit.put(decimal(next(), &mut [0; 20])),
                Part::Hex => emit.put(hex(next() as u32, 8, &mut [0; 10])),
                Part::HexShort => emit.put(hex(next() as u32, 1, &mut [0; 10])),
            }
        }
    }
}

impl Text<'_> {
    /// Pass the line's bytes to `emit`, in runs. `Bytes` pass through
    /// unescaped: the sink escapes what is not UTF-8.
    pub fn emit(&self, emit: &mut dyn Sink) {
        let mut args = self.args.iter();
        for part in self.parts {
            match *part {
                Part::Str(text) => emit.put(text.as_bytes()),
                Part::Arg => {
                    if let Some(piece) = args.next() {
                        piece.emit(emit);
                    }
                }
                // Numbers belong to messages: a text has none.
                Part::Dec | Part::Hex | Part::HexShort => {}
            }
        }
    }
}

impl Piece<'_> {
    /// Pass the piece's bytes to `emit`, in runs.
    pub fn emit(&self, emit: &mut dyn Sink) {
        match *self {
            Piece::Str(text) => emit.put(text.as_bytes()),
            Piece::Bytes(bytes) => emit.put(bytes),
            Piece::Dec(n) => emit.put(decimal(n, &mut [0; 20])),
            Piece::Hex(n) => emit.put(hex(n, 8, &mut [0; 10])),
            Piece::Message(message) => message.emit(emit),
            Piece::Text(text) => text.emit(emit),
        }
    }
}

/// Decimal digits of `n`, most significant first, in `buf`; the used tail.
///
/// Uses only 32-bit division (Xtensa has it in hardware; a 64-bit
/// division would pull in a software routine).
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        let digit;
        if n <= u64::from(u32::MAX) {
            let small = n as u32;
            digit = small % 10;
            n = u64::from(small / 10);
        } else {
            // (high * 2^32 + low) / 10, sixteen bits at a time: each
            // partial dividend stays below 10 * 2^16.
            let high = (n >> 32) as u32;
            let low = n as u32;
            let upper = ((high % 10) << 16) | (low >> 16);
            let lower = ((upper % 10) << 16) | (low & 0xFFFF);
            digit = lower % 10;
            n = (u64::from(high / 10) << 32) | u64::from(((upper / 10) << 16) | (lower / 10));
        }
        at -= 1;
        buf[at] = b'0' + digit as u8;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

/// `0x` and the hex digits of `n` in `buf` (at least `min_digits`); the
/// used tail.
pub fn hex(n: u32, min_digits: usize, buf: &mut [u8; 10]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut at = buf.len();
    let mut n = n;
    let mut written = 0;
    while at > 2 && (n != 0 || written < min_digits.max(1)) {
        at -= 1;
        buf[at] = DIGITS[(n & 0xF) as usize];
        n >>= 4;
        written += 1;
    }
    at -= 2;
    buf[at] = b'0';
    buf[at + 1] = b'x';
    &buf[at..]
}

impl<'a> From<&'a str> for Piece<'a> {
    fn from(text: &'a str) -> Self {
        Piece::Str(text)
    }
}

impl<'a, const N: usize> From<&'a heapless::String<N>> for Piece<'a> {
    fn from(text: &'a heapless::String<N>) -> Self {
        Piece::Str(text.as_str())
    }
}

impl<'a> From<&'a Text<'a>> for Piece<'a> {
    fn from(text: &'a Text<'a>) -> Self {
        Piece::Text(text)
    }
}

impl<'a> From<&'a Message> for Piece<'a> {
    fn from(message: &'a Message) -> Self {
        Piece::Message(message)
    }
}

macro_rules! decimal_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Piece<'_> {
            fn from(n: $t) -> Self {
                Piece::Dec(u64::from(n))
            }
        }
    )*};
}

decimal_from!(u8, u16, u32, u64);

impl From<usize> for Piece<'_> {
    fn from(n: usize) -> Self {
        // usize is at most 64 bits on every target this crate builds for.
        Piece::Dec(n as u64)
    }
}

/// Show what `emit` passes, as UTF-8 (anything else replaced).
fn show(f: &mut fmt::Formatter<'_>, emit: impl FnOnce(&mut dyn Sink)) -> fmt::Result {
    let mut result = Ok(());
    emit(&mut |bytes: &[u8]| {
        if result.is_ok() {
            for chunk in bytes.utf8_chunks() {
                result = result.and_then(|()| f.write_str(chunk.valid()));
                for byte in chunk.invalid() {
                    result = result.and_then(|()| write!(f, "\\x{byte:02x}"));
                }
            }
        }
    });
    result
}

impl fmt::Display for Piece<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        show(f, |emit| self.emit(emit))
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        show(f, |emit| self.emit(emit))
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        show(f, |emit| self.emit(emit))
    }
}

#[cfg(test)]
mod tests {
    use super::{Message, Part, Piece, Text};

    #[test]
    fn numbers_read_as_core_fmt_writes_them() {
        for n in [
            0u64,
            7,
            10,
            99,
            4_294_967_295,
            4_294_967_296,
            10_000_000_000,
            123_456_789_012_345,
            u64::MAX,
        ] {
            assert_eq!(Piece::Dec(n).to_string(), format!("{n}"));
        }
        for n in [0u32, 1, 0xF, 0x1234, 0xDEAD_BEEF, u32::MAX] {
            assert_eq!(Piece::Hex(n).to_string(), format!("{n:#010x}"));
            let short = Message::one(&[Part::HexShort], u64::from(n));
            assert_eq!(short.to_string(), format!("{n:#x}"));
        }
    }

    #[test]
    fn templates_take_their_values_in_order() {
        let inner = Message {
            parts: &[Part::Str("b="), Part::Dec, Part::Str(" "), Part::Hex],
            args: [2, 0x10, 0],
        };
        let text = Text {
            parts: &[Part::Str("a "), Part::Arg, Part::Arg, Part::Str("!")],
            args: &[Piece::from(&inner), Piece::from(3u8)],
        };
        assert_eq!(text.to_string(), "a b=2 0x000000103!");
        assert_eq!(
            Piece::Bytes(b"ok \xc3\xa9 \xff\xfe!").to_string(),
            "ok \u{e9} \\xff\\xfe!"
        );
    }
}
