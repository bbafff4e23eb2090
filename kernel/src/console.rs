//! The console: one line state for the whole system, so that every line
//! says truthfully who wrote it.
//!
//! The kernel applies the writer's prefix (`[name] ` for a service,
//! [`PREFIX`] for the kernel) at every line start. [`Console`] remembers
//! whose line is open: when another writer (another service, or the kernel
//! with a line of its own) writes while a line is open, the console first
//! ends that line, then starts a new one under the new writer's prefix. So
//! no service can begin a line under another name, and kernel lines always
//! start at a line start.
//!
//! What services write is escaped: every control byte (below 0x20 except
//! `\n`, and 0x7f, so `\r`, tab and ESC too), every C1 control (U+0080 to
//! U+009F) and every byte that is not part of valid UTF-8 is shown as
//! `\xNN`. The console output is therefore always valid UTF-8 and cannot
//! move a terminal's cursor. A backslash is not escaped, so `\x1b` in the
//! output may also be the four characters a service printed; the
//! attribution of lines does not depend on it. A multi-byte UTF-8 sequence
//! split across two writes of the same service stays whole as long as no
//! other writer comes between the pieces; if one does, the bytes so far
//! are escaped at the end of the service's line and the rest are escaped
//! where they arrive.
//!
//! Kernel lines (`kprintln!`, [`crate::kernel::Kernel::report`]) are
//! [`Text`]s — a static template and the values it shows (text, service
//! bytes, decimal and hex numbers, errors' messages) — written straight
//! into the console, without `core::fmt`; text in them that came
//! from a service (a panic message) is escaped the same way, and a `\n`
//! inside them is escaped too, so a kernel line is always one line.
//! Output goes to the sink in chunks of up to 128 bytes.

use core::fmt;

pub use sotto_abi::text::{Message, Part, Piece, Text};

/// What every kernel console line starts with.
pub const PREFIX: &str = "[kernel] ";

/// Bytes passed to the sink in one call at most.
const CHUNK: usize = 128;

/// Collects output and passes it on in chunks; never drops bytes.
struct Out<F: FnMut(&[u8])> {
    buf: [u8; CHUNK],
    len: usize,
    sink: F,
}

impl<F: FnMut(&[u8])> Out<F> {
    fn new(sink: F) -> Self {
        Out {
            buf: [0; CHUNK],
            len: 0,
            sink,
        }
    }

    // (Out of line: every printer of a byte shares one copy.)
    #[inline(never)]
    fn byte(&mut self, byte: u8) {
        if self.len >= CHUNK {
            self.flush();
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn bytes(&mut self, mut bytes: &[u8]) {
        if bytes.len() >= CHUNK / 2 {
            // Long runs go out as they are, without a copy.
            self.flush();
            (self.sink)(bytes);
            return;
        }
        while !bytes.is_empty() {
            if self.len >= CHUNK {
                self.flush();
            }
            let take = bytes.len().min(CHUNK - self.len);
            let (now, later) = bytes.split_at(take);
            if let Some(room) = self.buf.get_mut(self.len..self.len + take) {
                room.copy_from_slice(now);
            }
            self.len += take;
            bytes = later;
        }
    }

    /// `byte` as `\xNN`.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn escape(&mut self, byte: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.bytes(&[
            b'\\',
            b'x',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xF)],
        ]);
    }

    // (Out of line: one copy for every writer.)
    #[inline(never)]
    fn flush(&mut self) {
        if self.len > 0 {
            (self.sink)(&self.buf[..self.len.min(CHUNK)]);
            self.len = 0;
        }
    }
}

/// Bytes of the UTF-8 sequence `lead` starts; 0 if no valid one starts
/// with it.
fn sequence_len(lead: u8) -> u8 {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Whether `byte` may follow `lead` (no overlong forms, no surrogates,
/// nothing above U+10FFFF).
fn valid_second(lead: u8, byte: u8) -> bool {
    // Two compares, not `RangeInclusive::contains` (an out-of-line call
    // on the target).
    let (low, high) = match lead {
        0xE0 => (0xA0, 0xBF),
        0xED => (0x80, 0x9F),
        0xF0 => (0x90, 0xBF),
        0xF4 => (0x80, 0x8F),
        _ => (0x80, 0xBF),
    };
    low <= byte && byte <= high
}

/// The system's console line state (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct Console {
    /// The service (thread) whose line is open; `None` at a line start.
    open: Option<usize>,
    /// The start of a UTF-8 sequence the open line's writer has not
    /// finished.
    pending: [u8; 4],
    /// Bytes in `pending`.
    pending_len: u8,
    /// Bytes the pending sequence has in all.
    pending_need: u8,
}

impl Console {
    /// A console at a line start.
    pub const fn new() -> Self {
        Console {
            open: None,
            pending: [0; 4],
            pending_len: 0,
            pending_need: 0,
        }
    }

    /// Write `bytes` of service `service` (thread id), named `name`.
    pub fn write(&mut self, service: usize, name: &str, bytes: &[u8], sink: impl FnMut(&[u8])) {
        let mut out = Out::new(sink);
        let mut rest = bytes;
        while let Some((&byte, after)) = rest.split_first() {
            if self.open != Some(service) {
                self.end_line(&mut out);
                out.byte(b'[');
                out.bytes(name.as_bytes());
                out.bytes(b"] ");
                self.open = Some(service);
            }
            // Fast path: a run of printable ASCII goes out as it is.
            let plain = match self.pending_len {
                0 => rest
                    .iter()
                    .position(|byte| !matches!(byte, 0x20..=0x7E))
                    .unwrap_or(rest.len()),
                _ => 0,
            };
            if plain > 0 {
                let (run, after) = rest.split_at(plain);
                out.bytes(run);
                rest = after;
                continue;
            }
            if self.feed(byte, &mut out, true) {
                self.open = None;
            }
            rest = after;
        }
        out.flush();
    }

    /// Write one kernel line, `[kernel] ` and `line`, ending any open
    /// line first. (Out of line: [`kernel_line`] calls it for the shared
    /// console and for a fresh one.)
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn kernel_line(&mut self, line: &Text<'_>, sink: impl FnMut(&[u8])) {
        let mut text = KernelText {
            console: self,
            out: Out::new(sink),
        };
        text.start();
        line.emit(&mut |bytes: &[u8]| text.text(bytes));
        text.finish();
    }

    /// [`Console::kernel_line`] formatted with `core::fmt`: only for the
    /// kernel self-tests (the kernel proper prints [`Text`]s).
    pub fn kernel_line_fmt(&mut self, args: fmt::Arguments<'_>, sink: impl FnMut(&[u8])) {
        let mut text = KernelText {
            console: self,
            out: Out::new(sink),
        };
        text.start();
        // Writing into the console cannot fail; a formatting impl that
        // errors still gets its partial output shown.
        let _ = fmt::Write::write_fmt(&mut text, args);
        text.finish();
    }

    /// End the open line, if any: its writer's unfinished UTF-8, then `\n`.
    #[inline(never)]
    fn end_line<F: FnMut(&[u8])>(&mut self, out: &mut Out<F>) {
        if self.open.take().is_some() {
            self.escape_pending(out);
            out.byte(b'\n');
        }
    }

    /// Out of line: ending a line (another writer's, or a kernel line)
    /// shares it.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    #[inline(never)]
    fn escape_pending<F: FnMut(&[u8])>(&mut self, out: &mut Out<F>) {
        let len = usize::from(self.pending_len).min(self.pending.len());
        for &byte in &self.pending[..len] {
            out.escape(byte);
        }
        self.pending_len = 0;
    }

    /// Pass one byte on, escaped if it must be; whether it ended the line
    /// (a `\n`, when `newlines` allows them).
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn feed<F: FnMut(&[u8])>(&mut self, byte: u8, out: &mut Out<F>, newlines: bool) -> bool {
        if self.pending_len > 0 {
            let continues = match self.pending_len {
                1 => valid_second(self.pending[0], byte),
                _ => matches!(byte, 0x80..=0xBF),
            };
            if continues {
                let len = usize::from(self.pending_len);
                if let Some(slot) = self.pending.get_mut(len) {
                    *slot = byte;
                }
                self.pending_len += 1;
                if self.pending_len >= self.pending_need {
                    let sequence = &self.pending[..usize::from(self.pending_need).min(4)];
                    if sequence[0] == 0xC2 && sequence.get(1).is_some_and(|b| *b < 0xA0) {
                        // A C1 control (U+0080..U+009F): CSI and friends.
                        sequence.iter().for_each(|byte| out.escape(*byte));
                    } else {
                        out.bytes(sequence);
                    }
                    self.pending_len = 0;
                }
                return false;
            }
            self.escape_pending(out);
        }
        match byte {
            b'\n' if newlines => {
                out.byte(b'\n');
                return true;
            }
            0x20..=0x7E => out.byte(byte),
            0x00..=0x7F => out.escape(byte),
            _ => match sequence_len(byte) {
                0 => out.escape(byte),
                need => {
                    self.pending[0] = byte;
                    self.pending_len = 1;
                    self.pending_need = need;
                }
            },
        }
        false
    }
}

/// A kernel line being formatted into the console.
struct KernelText<'c, F: FnMut(&[u8])> {
    console: &'c mut Console,
    out: Out<F>,
}

impl<F: FnMut(&[u8])> KernelText<'_, F> {
    /// End any open line and write the prefix.
    fn start(&mut self) {
        self.console.end_line(&mut self.out);
        self.out.bytes(PREFIX.as_bytes());
    }

    /// Text of the line: control bytes and invalid UTF-8 escaped, a `\n`
    /// too.
    fn text(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.console.feed(byte, &mut self.out, false);
        }
    }

    /// The line's unfinished UTF-8 escaped, then its end.
    fn finish(&mut self) {
        self.console.escape_pending(&mut self.out);
        self.out.byte(b'\n');
        self.out.flush();
    }
}

impl<F: FnMut(&[u8])> fmt::Write for KernelText<'_, F> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.text(text.as_bytes());
        Ok(())
    }
}

/// The console of the running kernel, shared by `kprintln!` and the
/// kernel's [`crate::kernel::Hardware`] implementation.
#[cfg(target_arch = "xtensa")]
mod shared {
    use core::cell::{Cell, UnsafeCell};

    use super::Console;

    /// The console and whether a borrow of it is live.
    pub struct Shared {
        busy: Cell<bool>,
        console: UnsafeCell<Console>,
    }

    // SAFETY: the kernel runs on one core, with every maskable interrupt
    // masked except while idle (where it holds no borrow of the console);
    // the only re-entry is a kernel fault or panic while the console is
    // borrowed, and `busy` turns that into a refusal instead of a second
    // reference.
    unsafe impl Sync for Shared {}

    pub static CONSOLE: Shared = Shared {
        busy: Cell::new(false),
        console: UnsafeCell::new(Console::new()),
    };

    impl Shared {
        /// Run `f` on the console; `None` if it is in use further up the
        /// stack (a fault or panic while printing).
        pub fn with<R>(&self, f: impl FnOnce(&mut Console) -> R) -> Option<R> {
            if self.busy.replace(true) {
                return None;
            }
            // SAFETY: `busy` was clear, so no other reference to the
            // console exists (see the `Sync` impl), and it is set until
            // this one is gone.
            let result = f(unsafe { &mut *self.console.get() });
            self.busy.set(false);
            Some(result)
        }
    }
}

/// Write `bytes` of service `service` on the running kernel's console.
#[cfg(target_arch = "xtensa")]
#[cfg_attr(target_arch = "xtensa", optimize(size))]
pub fn service_write(service: usize, name: &str, bytes: &[u8]) {
    // Not re-entered: a fault while printing stops the kernel first.
    let _ = shared::CONSOLE.with(|console| {
        console.write(service, name, bytes, crate::arch::console_write);
    });
}

/// Print one kernel line on the running kernel's console (what
/// `kprintln!` does).
#[inline(never)]
#[cfg_attr(target_arch = "xtensa", optimize(size))]
pub fn kernel_line(line: &Text<'_>) {
    #[cfg(target_arch = "xtensa")]
    {
        let sink = crate::arch::console_write;
        if shared::CONSOLE
            .with(|console| console.kernel_line(line, sink))
            .is_some()
        {
            return;
        }
        // A fault or panic while printing: start a line of its own and
        // leave the shared state alone.
        sink(b"\n");
    }
    Console::new().kernel_line(line, crate::arch::console_write);
}

/// [`kernel_line`] formatted with `core::fmt`: only for the kernel
/// self-tests, which print values' `Debug` forms.
pub fn kernel_line_fmt(args: fmt::Arguments<'_>) {
    #[cfg(target_arch = "xtensa")]
    {
        let sink = crate::arch::console_write;
        if shared::CONSOLE
            .with(|console| console.kernel_line_fmt(args, sink))
            .is_some()
        {
            return;
        }
        sink(b"\n");
    }
    Console::new().kernel_line_fmt(args, crate::arch::console_write);
}

/// Print a prefixed line on the kernel console, made as [`text!`] makes
/// it.
///
/// ```ignore
/// kprintln!("tick ", ticks, " at ", Piece::Hex(pc));
/// ```
#[macro_export]
macro_rules! kprintln {
    ($($tokens:tt)*) => {
        $crate::console::kernel_line(&$crate::text!($($tokens)*))
    };
}

/// A [`Text`] from a comma-separated list: string literals go into the
/// static template, every other item is a value converted to a [`Piece`]
/// (`&str`, a heapless string, a number in decimal, `Piece::Hex(x)` for
/// `0x%08x`, `&error.message()`).
#[macro_export]
macro_rules! text {
    (@ [$($part:expr,)*] [$($arg:expr,)*]) => {
        $crate::console::Text {
            parts: &[$($part),*],
            args: &[$($arg),*],
        }
    };
    (@ [$($part:expr,)*] [$($arg:expr,)*] $text:literal $(, $($rest:tt)*)?) => {
        $crate::text!(
            @ [$($part,)* $crate::console::Part::Str($text),] [$($arg,)*] $($($rest)*)?
        )
    };
    (@ [$($part:expr,)*] [$($arg:expr,)*] $value:expr $(, $($rest:tt)*)?) => {
        $crate::text!(
            @ [$($part,)* $crate::console::Part::Arg,]
            [$($arg,)* $crate::console::Piece::from($value),] $($($rest)*)?
        )
    };
    ($($tokens:tt)*) => {
        $crate::text!(@ [] [] $($tokens)*)
    };
}

#[cfg(test)]
mod tests {
    use super::Console;

    /// A console and everything it wrote, with the number of sink calls.
    #[derive(Default)]
    struct Screen {
        console: Console,
        out: Vec<u8>,
        writes: usize,
    }

    impl Screen {
        fn service(&mut self, id: usize, name: &str, bytes: &[u8]) -> &mut Self {
            let Screen {
                console,
                out,
                writes,
            } = self;
            console.write(id, name, bytes, |chunk| {
                out.extend_from_slice(chunk);
                *writes += 1;
            });
            self
        }

        fn kernel(&mut self, args: core::fmt::Arguments<'_>) -> &mut Self {
            let Screen {
                console,
                out,
                writes,
            } = self;
            console.kernel_line_fmt(args, |chunk| {
                out.extend_from_slice(chunk);
                *writes += 1;
            });
            self
        }

        fn line(&mut self, line: &super::Text<'_>) -> &mut Self {
            let Screen {
                console,
                out,
                writes,
            } = self;
            console.kernel_line(line, |chunk| {
                out.extend_from_slice(chunk);
                *writes += 1;
            });
            self
        }

        fn text(&self) -> String {
            String::from_utf8(self.out.clone()).expect("console output is UTF-8")
        }
    }

    #[test]
    fn kernel_lines_are_prefixed_and_long_ones_kept_whole() {
        let mut screen = Screen::default();
        let long = "x".repeat(300);
        screen.kernel(format_args!("tick {} {long}", 42));
        assert_eq!(screen.text(), format!("[kernel] tick 42 {long}\n"));
        assert_eq!(screen.writes, 3, "310 bytes go out in 128-byte chunks");
    }

    #[test]
    fn a_short_line_is_one_write() {
        let mut screen = Screen::default();
        screen.kernel(format_args!("booted"));
        assert_eq!(screen.writes, 1);
        screen.service(0, "a", b"one line\n");
        assert_eq!(screen.writes, 2);
    }

    #[test]
    fn lines_get_the_service_name() {
        let mut screen = Screen::default();
        screen
            .service(0, "a", b"one\ntw")
            .service(0, "a", b"o\nthree\n");
        assert_eq!(screen.text(), "[a] one\n[a] two\n[a] three\n");
    }

    #[test]
    fn another_writer_ends_the_open_line_first() {
        let mut screen = Screen::default();
        screen
            .service(0, "a", b"x")
            .service(1, "b", b"finished\n")
            .service(0, "a", b"[kernel] forged\n");
        assert_eq!(
            screen.text(),
            "[a] x\n[b] finished\n[a] [kernel] forged\n",
            "a's second write starts a line of its own, under its name"
        );
    }

    #[test]
    fn interleaved_partial_lines_stay_attributed() {
        let mut screen = Screen::default();
        screen
            .service(0, "a", b"a1 ")
            .service(1, "b", b"b1 ")
            .service(0, "a", b"a2\na3 ")
            .service(0, "a", b"a4\n")
            .service(1, "b", b"b2\n");
        assert_eq!(
            screen.text(),
            "[a] a1 \n[b] b1 \n[a] a2\n[a] a3 a4\n[b] b2\n"
        );
    }

    #[test]
    fn a_kernel_line_mid_line_starts_at_a_line_start() {
        let mut screen = Screen::default();
        screen
            .service(2, "pipeline", b"pcm AAAA")
            .kernel(format_args!("service x stopped"))
            .service(2, "pipeline", b"AAAA\n");
        assert_eq!(
            screen.text(),
            "[pipeline] pcm AAAA\n[kernel] service x stopped\n[pipeline] AAAA\n"
        );
    }

    #[test]
    fn forged_prefixes_stay_under_the_true_name() {
        let mut screen = Screen::default();
        screen
            .service(0, "evil", b"\n[kernel] service pipeline stopped\n")
            .service(0, "evil", b"[pipeline] pcm AAAA\n")
            .service(0, "evil", b"\r[kernel] over the prefix\n");
        assert_eq!(
            screen.text(),
            "[evil] \n[evil] [kernel] service pipeline stopped\n[evil] [pipeline] pcm AAAA\n\
             [evil] \\x0d[kernel] over the prefix\n"
        );
        for line in screen.text().lines() {
            assert!(line.starts_with("[evil] "), "{line:?}");
        }
    }

    #[test]
    fn control_bytes_are_escaped() {
        let mut screen = Screen::default();
        screen.service(0, "a", b"\x1b[2J\r\t\x00\x7f\x08ok\n");
        assert_eq!(screen.text(), "[a] \\x1b[2J\\x0d\\x09\\x00\\x7f\\x08ok\n");
    }

    #[test]
    fn invalid_utf8_is_escaped_and_valid_utf8_kept() {
        let mut screen = Screen::default();
        screen.service(0, "a", "µs €\n".as_bytes());
        // A stray continuation, an overlong form, a surrogate, a cut
        // sequence before ASCII, a lead byte that starts nothing, a C1 CSI.
        screen.service(
            0,
            "a",
            b"\x80 \xc0\xaf \xed\xa0\x80 \xe2\x82x \xff \xc2\x9b\n",
        );
        assert_eq!(
            screen.text(),
            "[a] µs €\n[a] \\x80 \\xc0\\xaf \\xed\\xa0\\x80 \\xe2\\x82x \\xff \\xc2\\x9b\n"
        );
    }

    #[test]
    fn a_sequence_split_across_writes_stays_whole() {
        let mut screen = Screen::default();
        let euro = "€".as_bytes();
        screen
            .service(0, "a", &euro[..1])
            .service(0, "a", &euro[1..])
            .service(0, "a", b"\n");
        assert_eq!(screen.text(), "[a] €\n");
    }

    #[test]
    fn a_split_sequence_interrupted_by_another_writer_is_escaped() {
        let mut screen = Screen::default();
        let euro = "€".as_bytes();
        screen
            .service(0, "a", &euro[..2])
            .kernel(format_args!("tick"))
            .service(0, "a", &euro[2..])
            .service(0, "a", b"\n");
        assert_eq!(screen.text(), "[a] \\xe2\\x82\n[kernel] tick\n[a] \\xac\n");
    }

    #[test]
    fn kernel_lines_escape_what_they_quote() {
        let mut screen = Screen::default();
        let message = "boom\n[pipeline] pcm AAAA\x1b[H";
        screen.kernel(format_args!("service x panicked: {message}"));
        assert_eq!(
            screen.text(),
            "[kernel] service x panicked: boom\\x0a[pipeline] pcm AAAA\\x1b[H\n"
        );
    }

    #[test]
    fn an_empty_write_opens_no_line() {
        let mut screen = Screen::default();
        screen.service(0, "a", b"").kernel(format_args!("k"));
        assert_eq!(screen.text(), "[kernel] k\n");
        assert_eq!(screen.writes, 1);
    }

    #[test]
    fn any_bytes_give_utf8_lines_each_under_a_real_prefix() {
        // A cheap deterministic generator: every byte value, in runs of
        // varied length, from two services and the kernel.
        let mut screen = Screen::default();
        let mut state = 0x1234_5678u32;
        for round in 0..2000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let len = (state % 7) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (state >> (i * 4)) as u8 ^ round as u8)
                .collect();
            match state % 5 {
                0 => screen.kernel(format_args!("k{round}")),
                1 | 2 => screen.service(0, "a", &bytes),
                _ => screen.service(1, "b", &bytes),
            };
        }
        screen.kernel(format_args!("end"));
        let text = screen.text();
        for line in text.lines() {
            assert!(
                ["[a] ", "[b] ", "[kernel] "]
                    .iter()
                    .any(|prefix| line.starts_with(prefix)),
                "{line:?}"
            );
            assert!(
                !line.chars().any(|c| c.is_control()),
                "a control character in {line:?}"
            );
        }
        assert!(text.ends_with("[kernel] end\n"));
    }

    #[test]
    fn bytes_show_valid_utf8_and_escape_the_rest() {
        let shown = format!("{}", super::Piece::Bytes(b"ok \xc3\xa9 \xff\xfe!"));
        assert_eq!(shown, "ok \u{e9} \\xff\\xfe!");
    }

    #[test]
    fn piece_lines_read_as_the_formatted_ones() {
        use super::Piece;
        // Service bytes: every kind of invalid or control sequence, the
        // same whether shown by `Display` and escaped by the console or
        // fed to the console raw.
        let message: &[u8] =
            b"boom\n[x] \x1b[H \x80 \xc0\xaf \xed\xa0\x80 \xe2\x82x \xff \xc2\x9b \xe2\x82";
        let number = 4_294_967_296_u64 * 3 + 17;
        let mut formatted = Screen::default();
        formatted.kernel(format_args!(
            "service x panicked: {} n={number} pc={:#010x} len={:#x}",
            Piece::Bytes(message),
            0x4000_02f4u32,
            0x2000u32
        ));
        let mut pieces = Screen::default();
        let len = super::Message::one(&[super::Part::HexShort], 0x2000);
        pieces.line(&crate::text!(
            "service x panicked: ",
            Piece::Bytes(message),
            " n=",
            number,
            " pc=",
            Piece::Hex(0x4000_02f4),
            " len=",
            &len
        ));
        assert_eq!(pieces.text(), formatted.text());
        assert_eq!(pieces.writes, formatted.writes);
    }
}
