//! Service and thread names for the supervisor's lines. Fault messages
//! and service capabilities name services by index only; the names come
//! from a text table, one line per service in index order (as
//! `system.toml` declares them): the service's name, then the names of
//! its further threads, separated by spaces, e.g.
//!
//! ```text
//! echo
//! pipeline eq
//! ```
//!
//! It may sit in a read-only memory region (zero padded: text ends at the
//! first NUL). Without one ([`Names::NONE`]), or for an index it lacks,
//! services are called `service #N` and threads `#T`.

use core::fmt;

/// A table of names (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Names<'a> {
    text: &'a str,
}

impl<'a> Names<'a> {
    /// No names: every service by its index.
    pub const NONE: Names<'static> = Names { text: "" };

    /// The table in `text`.
    pub const fn new(text: &'a str) -> Names<'a> {
        Names { text }
    }

    /// The table in `bytes` (a memory region): up to the first NUL, or
    /// [`Names::NONE`] if that is not UTF-8.
    pub fn from_bytes(bytes: &'a [u8]) -> Names<'a> {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        match core::str::from_utf8(&bytes[..end]) {
            Ok(text) => Names { text },
            Err(_) => Names { text: "" },
        }
    }

    /// The words of service `index`'s line.
    fn line(&self, index: u8) -> Option<core::str::SplitAsciiWhitespace<'a>> {
        self.text
            .lines()
            .nth(usize::from(index))
            .map(str::split_ascii_whitespace)
    }

    /// Service `index`'s name, if the table has it.
    pub fn service(&self, index: u8) -> Option<&'a str> {
        self.line(index)?.next()
    }

    /// Thread `thread` of service `index` (0: its main thread, which has
    /// the service's name).
    pub fn thread(&self, index: u8, thread: u8) -> Option<&'a str> {
        self.line(index)?.nth(usize::from(thread))
    }

    /// The index of the service called `name`.
    pub fn find(&self, name: &str) -> Option<u8> {
        self.text
            .lines()
            .position(|line| line.split_ascii_whitespace().next() == Some(name))
            .and_then(|index| u8::try_from(index).ok())
    }

    /// Service `index` for a line: its name, or `service #N`.
    pub fn show_service(self, index: u8) -> ServiceName<'a> {
        ServiceName { names: self, index }
    }

    /// Thread `thread` of service `index` for a line: `pipeline` (its
    /// main thread), `pipeline/eq`, or with numbers where names are
    /// missing (`service #7/#1`).
    pub fn show_thread(self, index: u8, thread: u8) -> ThreadName<'a> {
        ThreadName {
            names: self,
            index,
            thread,
        }
    }
}

/// A service as lines show it ([`Names::show_service`]).
#[derive(Clone, Copy, Debug)]
pub struct ServiceName<'a> {
    names: Names<'a>,
    index: u8,
}

impl fmt::Display for ServiceName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.names.service(self.index) {
            Some(name) => f.write_str(name),
            None => write!(f, "service #{}", self.index),
        }
    }
}

/// A thread as lines show it ([`Names::show_thread`]).
#[derive(Clone, Copy, Debug)]
pub struct ThreadName<'a> {
    names: Names<'a>,
    index: u8,
    thread: u8,
}

impl fmt::Display for ThreadName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.names.show_service(self.index))?;
        if self.thread == 0 {
            return Ok(());
        }
        match self.names.thread(self.index, self.thread) {
            Some(name) => write!(f, "/{name}"),
            None => write!(f, "/#{}", self.thread),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Names;

    const TABLE: &str = "echo\nhello\npipeline eq fir\nsupervisor\n";

    #[test]
    fn names_come_from_the_line_of_the_index() {
        let names = Names::new(TABLE);
        assert_eq!(names.service(0), Some("echo"));
        assert_eq!(names.service(2), Some("pipeline"));
        assert_eq!(names.thread(2, 0), Some("pipeline"));
        assert_eq!(names.thread(2, 2), Some("fir"));
        assert_eq!(names.thread(2, 3), None);
        assert_eq!(names.service(4), None);
        assert_eq!(names.find("supervisor"), Some(3));
        assert_eq!(names.find("eq"), None);
    }

    #[test]
    fn missing_names_become_numbers() {
        let names = Names::new(TABLE);
        assert_eq!(names.show_service(2).to_string(), "pipeline");
        assert_eq!(names.show_thread(2, 0).to_string(), "pipeline");
        assert_eq!(names.show_thread(2, 1).to_string(), "pipeline/eq");
        assert_eq!(names.show_thread(2, 5).to_string(), "pipeline/#5");
        assert_eq!(Names::NONE.show_service(7).to_string(), "service #7");
        assert_eq!(Names::NONE.show_thread(7, 1).to_string(), "service #7/#1");
    }

    #[test]
    fn a_region_ends_at_its_first_zero_byte() {
        let mut region = [0u8; 64];
        region[..TABLE.len()].copy_from_slice(TABLE.as_bytes());
        let names = Names::from_bytes(&region);
        assert_eq!(names.service(3), Some("supervisor"));
        assert_eq!(names.service(4), None);
        assert_eq!(Names::from_bytes(&[0xFF, 0xFE]), Names::NONE);
        assert_eq!(Names::from_bytes(b"a b"), Names::new("a b"));
    }
}
