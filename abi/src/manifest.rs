//! The boot manifest: what `cargo xtask build` tells the kernel about the
//! services packed into the image. Serialised with postcard into the
//! `.sotto.manifest` section; the service segments sit in `.sotto.services`.

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

use crate::section::{self, SectionError};

/// Most services an image may hold.
pub const MAX_SERVICES: usize = 16;
/// Most loadable segments per service (text, rodata, data/bss, ...).
pub const MAX_SEGMENTS: usize = 4;
/// Longest service name.
pub const MAX_NAME: usize = 16;
/// Lowest priority number (priorities run 0 = most urgent .. this).
pub const LOWEST_PRIORITY: u8 = 7;
/// Section holding the manifest (patched into the image after linking, so
/// tests can start other services or arguments without relinking).
pub const MANIFEST_SECTION: &str = ".sotto.manifest";
/// Size of the manifest section.
pub const MANIFEST_SIZE: usize = 4096;
/// Marks a written manifest.
pub const MANIFEST_MAGIC: [u8; 4] = *b"SOTM";
/// Section holding the service segments.
pub const SERVICES_SECTION: &str = ".sotto.services";

/// What a segment may be used for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// Code: read and execute.
    Code,
    /// Read-only data.
    ReadOnly,
    /// Data and .bss: read and write.
    ReadWrite,
}

/// One loadable segment of a service binary.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address (page aligned).
    pub vaddr: u32,
    /// Bytes in memory (page multiple); the part past `file_size` is zero.
    pub mem_size: u32,
    /// Offset of the initial bytes within `.sotto.services`.
    pub offset: u32,
    /// Initial bytes.
    pub file_size: u32,
    /// Access.
    pub kind: SegmentKind,
}

/// One service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Name, as in `system.toml`.
    pub name: String<MAX_NAME>,
    /// 0 = most urgent .. [`LOWEST_PRIORITY`].
    pub priority: u8,
    /// Entry point.
    pub entry: u32,
    /// Stack size in bytes (page multiple); a guard page sits under it.
    pub stack_size: u32,
    /// Passed to the entry point in a2.
    pub arg: u32,
    /// Loadable segments.
    pub segments: Vec<Segment, MAX_SEGMENTS>,
}

/// Everything the kernel needs to start the services.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Manifest {
    /// The services, in `system.toml` order.
    pub services: Vec<Service, MAX_SERVICES>,
}

/// Why a manifest section does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// No manifest was written.
    NotWritten,
    /// The payload is malformed.
    Malformed,
    /// The manifest does not fit in [`MANIFEST_SIZE`] bytes.
    TooLarge,
}

impl core::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ManifestError::NotWritten => {
                write!(f, "no service manifest was written into the image")
            }
            ManifestError::Malformed => write!(f, "the service manifest is malformed"),
            ManifestError::TooLarge => {
                write!(f, "the service manifest exceeds {MANIFEST_SIZE} bytes")
            }
        }
    }
}

impl Manifest {
    /// Encode into the fixed-size section contents.
    pub fn encode(&self) -> Result<[u8; MANIFEST_SIZE], ManifestError> {
        section::encode(MANIFEST_MAGIC, self).map_err(ManifestError::from)
    }

    /// Decode the section contents.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        Ok(section::decode(MANIFEST_MAGIC, bytes)?)
    }
}

impl From<SectionError> for ManifestError {
    fn from(error: SectionError) -> Self {
        match error {
            SectionError::NotWritten => ManifestError::NotWritten,
            SectionError::Malformed => ManifestError::Malformed,
            SectionError::TooLarge => ManifestError::TooLarge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Manifest, Segment, SegmentKind, Service};

    #[test]
    fn round_trips() {
        let mut manifest = Manifest::default();
        let mut segments = heapless::Vec::new();
        segments
            .push(Segment {
                vaddr: 0x4000_0000,
                mem_size: 0x2000,
                offset: 0,
                file_size: 0x1234,
                kind: SegmentKind::Code,
            })
            .unwrap();
        manifest
            .services
            .push(Service {
                name: heapless::String::try_from("hello").unwrap(),
                priority: 3,
                entry: 0x4000_0000,
                stack_size: 0x2000,
                arg: 7,
                segments,
            })
            .unwrap();
        let section = manifest.encode().unwrap();
        assert_eq!(Manifest::decode(&section).unwrap(), manifest);
        assert_eq!(
            Manifest::decode(&section[..20]),
            Err(super::ManifestError::Malformed)
        );
        assert_eq!(
            Manifest::decode(&[0u8; 64]),
            Err(super::ManifestError::NotWritten)
        );
    }
}
