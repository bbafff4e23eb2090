//! A single-producer, single-consumer ring of samples in a byte region
//! (a shared memory capability), usable by two services at once on one
//! core: the producer writes samples, then publishes its index; the
//! consumer reads, then publishes its own. Indices run modulo twice the
//! capacity; positions are indices modulo the capacity.
//!
//! Layout: bytes 0..4 write index, 4..8 read index, 8..12 capacity (in
//! samples; for people reading memory: users take it from the region's
//! length), 12..16 reserved, then the samples (i32, little-endian).
//! Samples are copied as `i32` slices, in at most two pieces, when the
//! region is 4-byte aligned (shared regions are page-aligned), and byte by
//! byte otherwise.

use core::sync::atomic::{Ordering, compiler_fence};

use zerocopy::FromBytes;

// The in-place `i32` view of the samples is the little-endian layout only
// on a little-endian core (the dc233c and every host this runs on).
const _: () = assert!(cfg!(target_endian = "little"));

/// Header bytes before the samples.
pub const HEADER: usize = 16;

/// Bytes a ring of `capacity` samples needs.
pub const fn bytes_for(capacity: usize) -> usize {
    HEADER + capacity * 4
}

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn set_word(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Samples a ring over `bytes` holds: from the slice's length, never from
/// the header, which another service can write.
fn capacity_of(bytes: &[u8]) -> usize {
    bytes.len().saturating_sub(HEADER) / 4
}

/// Fill levels of a ring, read without changing it (for observers such
/// as the DP scheduler, which maps the buffers read-only).
pub fn levels(bytes: &[u8]) -> (usize, usize) {
    Cursor::load(bytes).levels(bytes)
}

/// A ring's two indices as a runner sees them while it stages a period
/// or a block: samples are written into free slots and read from filled
/// ones at once, but the indices that make that visible are published
/// only afterwards, each runner publishing only the ends it owns (see
/// [`crate::graph::Staged`]). Until then nothing another service can see
/// has changed: a slot past the published write index is free, and one
/// before the published read index keeps its sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Write index (modulo twice the capacity).
    pub write: u32,
    /// Read index.
    pub read: u32,
}

impl Cursor {
    /// The indices published in the ring's header.
    pub fn load(bytes: &[u8]) -> Cursor {
        Cursor {
            write: word(bytes, 0),
            read: word(bytes, 4),
        }
    }

    /// Publish the write index (after the samples it makes visible).
    pub fn publish_write(&self, bytes: &mut [u8]) {
        compiler_fence(Ordering::Release);
        set_word(bytes, 0, self.write);
    }

    /// Publish the read index (after the samples it frees were read).
    pub fn publish_read(&self, bytes: &mut [u8]) {
        compiler_fence(Ordering::Release);
        set_word(bytes, 4, self.read);
    }

    /// (samples readable, samples writable) at these indices in a ring
    /// over `bytes`.
    pub fn levels(&self, bytes: &[u8]) -> (usize, usize) {
        let capacity = capacity_of(bytes);
        if capacity == 0 {
            return (0, 0);
        }
        let (_, _, available) = self.reduced(capacity);
        (available, capacity - available)
    }

    /// Whether these indices describe a ring of `capacity` samples (no
    /// more than it holds between them): what a saved cursor must be.
    pub fn fits(&self, bytes: &[u8]) -> bool {
        let span = 2 * capacity_of(bytes) as u64;
        span > 0
            && u64::from(self.write) < span
            && u64::from(self.read) < span
            && (u64::from(self.write) + span - u64::from(self.read)) % span <= span / 2
    }

    fn reduced(&self, capacity: usize) -> (usize, usize, usize) {
        let span = 2 * capacity;
        let write = self.write as usize % span;
        let read = self.read as usize % span;
        let available = ((write + span - read) % span).min(capacity);
        (write, read, available)
    }

    /// Write all of `samples` into the ring over `bytes` at the write
    /// index, advancing it (not published), or nothing if they do not
    /// fit.
    pub fn write(&mut self, bytes: &mut [u8], samples: &[i32]) -> bool {
        let capacity = capacity_of(bytes);
        if capacity == 0 {
            return samples.is_empty();
        }
        let (write, _, available) = self.reduced(capacity);
        if samples.len() > capacity - available {
            return false;
        }
        let start = write % capacity;
        let first = samples.len().min(capacity - start);
        let area = &mut bytes[HEADER..HEADER + capacity * 4];
        if let Ok(slots) = <[i32]>::mut_from_bytes(area) {
            slots[start..start + first].copy_from_slice(&samples[..first]);
            slots[..samples.len() - first].copy_from_slice(&samples[first..]);
        } else {
            for (i, sample) in samples.iter().enumerate() {
                let at = (start + i) % capacity * 4;
                area[at..at + 4].copy_from_slice(&sample.to_le_bytes());
            }
        }
        self.write = ((write + samples.len()) % (2 * capacity)) as u32;
        true
    }

    /// Read exactly `out.len()` samples at the read index, advancing it
    /// (not published), or nothing if fewer are there.
    pub fn read(&mut self, bytes: &[u8], out: &mut [i32]) -> bool {
        let capacity = capacity_of(bytes);
        if capacity == 0 {
            return out.is_empty();
        }
        let (_, read, available) = self.reduced(capacity);
        if out.len() > available {
            return false;
        }
        compiler_fence(Ordering::Acquire);
        let start = read % capacity;
        let first = out.len().min(capacity - start);
        let area = &bytes[HEADER..HEADER + capacity * 4];
        if let Ok(slots) = <[i32]>::ref_from_bytes(area) {
            let rest = out.len() - first;
            out[..first].copy_from_slice(&slots[start..start + first]);
            out[first..].copy_from_slice(&slots[..rest]);
        } else {
            for (i, sample) in out.iter_mut().enumerate() {
                let at = (start + i) % capacity * 4;
                *sample = i32::from_le_bytes([area[at], area[at + 1], area[at + 2], area[at + 3]]);
            }
        }
        self.read = ((read + out.len()) % (2 * capacity)) as u32;
        true
    }
}

/// A ring over a byte region.
pub struct Ring<'a> {
    bytes: &'a mut [u8],
}

impl<'a> Ring<'a> {
    /// Format `bytes` as an empty ring of as many samples as fit.
    pub fn format(bytes: &'a mut [u8]) -> Ring<'a> {
        let capacity = capacity_of(bytes);
        set_word(bytes, 0, 0);
        set_word(bytes, 4, 0);
        set_word(bytes, 8, capacity as u32);
        Ring { bytes }
    }

    /// Use a ring formatted before.
    pub fn attach(bytes: &'a mut [u8]) -> Ring<'a> {
        Ring { bytes }
    }

    /// Samples it holds at most.
    pub fn capacity(&self) -> usize {
        capacity_of(self.bytes)
    }

    /// (samples readable, samples writable).
    pub fn levels(&self) -> (usize, usize) {
        levels(self.bytes)
    }

    /// Write all of `samples`, or nothing if they do not fit.
    pub fn write(&mut self, samples: &[i32]) -> bool {
        let mut cursor = Cursor::load(self.bytes);
        if !cursor.write(self.bytes, samples) {
            return false;
        }
        // The samples before the index that makes them visible.
        cursor.publish_write(self.bytes);
        true
    }

    /// Read exactly `out.len()` samples, or nothing if fewer are there.
    pub fn read(&mut self, out: &mut [i32]) -> bool {
        let mut cursor = Cursor::load(self.bytes);
        if !cursor.read(self.bytes, out) {
            return false;
        }
        cursor.publish_read(self.bytes);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{HEADER, Ring, bytes_for, levels};

    #[test]
    fn writes_and_reads_in_order_across_the_wrap() {
        // Aligned (whole-slice copies) and misaligned (byte by byte).
        let mut words = vec![0u32; bytes_for(10) / 4 + 1];
        let bytes: &mut [u8] = zerocopy::IntoBytes::as_mut_bytes(words.as_mut_slice());
        exercise(&mut bytes[..bytes_for(10)]);
        exercise(&mut bytes[1..=bytes_for(10)]);
    }

    #[test]
    fn indices_stay_small_over_many_laps_of_any_capacity() {
        let mut memory = vec![0u8; bytes_for(7)];
        let mut ring = Ring::format(&mut memory);
        let mut next = 0i32;
        let mut expected = 0i32;
        for lap in 0..1000 {
            let chunk: Vec<i32> = (0..1 + lap % 5)
                .map(|_| {
                    next += 1;
                    next
                })
                .collect();
            assert!(ring.write(&chunk));
            let mut out = vec![0; chunk.len()];
            assert!(ring.read(&mut out));
            for sample in out {
                expected += 1;
                assert_eq!(sample, expected);
            }
        }
        assert!(super::word(&memory, 0) < 14 && super::word(&memory, 4) < 14);
    }

    #[test]
    fn a_damaged_header_cannot_make_its_users_panic() {
        let mut memory = vec![0u8; bytes_for(8)];
        Ring::format(&mut memory);
        for (write, read, capacity) in [
            (u32::MAX, 0, 0),
            (0, u32::MAX, u32::MAX),
            (1000, 3, 1 << 30),
            (5, 9, 8),
        ] {
            super::set_word(&mut memory, 0, write);
            super::set_word(&mut memory, 4, read);
            super::set_word(&mut memory, 8, capacity);
            let (available, free) = levels(&memory);
            assert_eq!(available + free, 8);
            let mut ring = Ring::attach(&mut memory);
            let _ = ring.write(&[1; 8]);
            let _ = ring.read(&mut [0; 8]);
        }
        // Too small to hold a sample: nothing fits, nothing panics.
        let mut tiny = [0u8; HEADER + 3];
        let mut ring = Ring::format(&mut tiny);
        assert!(!ring.write(&[1]) && !ring.read(&mut [0]));
        assert_eq!(levels(&tiny), (0, 0));
    }

    fn exercise(memory: &mut [u8]) {
        let mut ring = Ring::format(memory);
        assert_eq!(ring.capacity(), 10);
        assert!(ring.write(&[1, 2, 3, 4, 5, 6]));
        let mut out = [0; 4];
        assert!(ring.read(&mut out));
        assert_eq!(out, [1, 2, 3, 4]);
        assert!(ring.write(&[7, 8, 9, 10, 11, 12, 13, 14]), "wraps");
        assert!(!ring.write(&[15]), "full: nothing written");
        let mut out = [0; 10];
        assert!(ring.read(&mut out));
        assert_eq!(out, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
        assert!(!ring.read(&mut [0; 1]), "empty: nothing read");
        assert_eq!(levels(memory), (0, 10));
    }
}
