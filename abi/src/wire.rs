//! Little-endian fixed-layout records: the byte format of the sections
//! `cargo xtask` writes into an image (boot configuration, manifest).
//! Reading is checked: a field past the end of its bytes is an error,
//! never a panic.

/// Writes fields at fixed offsets of a record.
pub struct Writer<'a> {
    bytes: &'a mut [u8],
}

impl<'a> Writer<'a> {
    /// A writer over `bytes` (the record).
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Writer { bytes }
    }

    /// `value` at `at`; false if it does not fit.
    pub fn u32(&mut self, at: usize, value: u32) -> bool {
        self.bytes(at, &value.to_le_bytes())
    }

    /// `value` at `at`; false if it does not fit.
    pub fn bytes(&mut self, at: usize, value: &[u8]) -> bool {
        match self.bytes.get_mut(at..at + value.len()) {
            Some(room) => {
                room.copy_from_slice(value);
                true
            }
            None => false,
        }
    }
}

/// Reads fields at fixed offsets of a record.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes` (the record).
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    /// The little-endian word at `at`.
    #[inline]
    pub fn u32(&self, at: usize) -> Option<u32> {
        let word = self.bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
    }
}
