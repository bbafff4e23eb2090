//! Fixed-size image sections that `cargo xtask` fills in after linking (the
//! boot configuration, the service manifest): a 4-byte magic, then a
//! postcard payload, then zeros. An all-zero section was never written.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a section cannot be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionError {
    /// The section does not start with its magic: nobody wrote it.
    NotWritten,
    /// The payload is cut short or malformed.
    Malformed,
    /// The value does not fit in the section.
    TooLarge,
}

/// Encode `value` into an `N`-byte section marked with `magic`.
pub fn encode<T: Serialize, const N: usize>(
    magic: [u8; 4],
    value: &T,
) -> Result<[u8; N], SectionError> {
    let mut section = [0u8; N];
    section[..4].copy_from_slice(&magic);
    postcard::to_slice(value, &mut section[4..]).map_err(|_| SectionError::TooLarge)?;
    Ok(section)
}

/// Decode a section marked with `magic`.
pub fn decode<T: DeserializeOwned>(magic: [u8; 4], section: &[u8]) -> Result<T, SectionError> {
    let payload = section
        .strip_prefix(&magic[..])
        .ok_or(SectionError::NotWritten)?;
    postcard::from_bytes(payload).map_err(|_| SectionError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::{SectionError, decode, encode};

    #[test]
    fn round_trips_and_tells_errors_apart() {
        let section: [u8; 16] = encode(*b"TEST", &(7u32, 9u8)).unwrap();
        assert_eq!(&section[..4], b"TEST");
        assert_eq!(decode::<(u32, u8)>(*b"TEST", &section), Ok((7, 9)));
        assert_eq!(
            decode::<(u32, u8)>(*b"ELSE", &section),
            Err(SectionError::NotWritten)
        );
        assert_eq!(
            decode::<(u32, u8)>(*b"TEST", &section[..5]),
            Err(SectionError::Malformed)
        );
        assert_eq!(
            encode::<_, 6>(*b"TEST", &[1u32; 4]),
            Err(SectionError::TooLarge)
        );
    }
}
