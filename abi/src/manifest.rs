//! The boot manifest: what `cargo xtask build` tells the kernel about the
//! services packed into the image. Serialised with postcard into the
//! `.sotto.manifest` section; the service segments sit in `.sotto.services`.

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

use crate::cap::{CAP_SLOTS, ObjectKind, Rights};
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
pub const MANIFEST_SIZE: usize = 16 * 1024;
/// Most kernel objects an image declares.
pub const MAX_OBJECTS: usize = 128;
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
    /// The capabilities it starts with.
    pub caps: Vec<CapGrant, CAP_SLOTS>,
}

/// A capability a service starts with.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapGrant {
    /// Slot in the service's table.
    pub slot: u8,
    /// Index into [`Manifest::objects`].
    pub object: u16,
    /// Rights.
    pub rights: Rights,
    /// Badge (0: none).
    pub badge: u32,
    /// Memory objects: where the region is mapped in the service.
    pub map_at: Option<u32>,
}

/// How a memory region is cached.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    /// Write-back cached (private data, heaps).
    Cached,
    /// Uncached (buffers shared with DMA or other cores).
    Uncached,
}

/// What a timer does when it fires.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerTarget {
    /// Set these bits in a notification.
    Notify {
        /// Index of the notification object.
        object: u16,
        /// Bits to set.
        bits: u32,
    },
    /// Give a semaphore.
    Give {
        /// Index of the semaphore object.
        object: u16,
    },
}

/// A kernel object and its parameters.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectParams {
    /// Synchronous IPC.
    Endpoint,
    /// Signal bits.
    Notification,
    /// Counting semaphore.
    Semaphore {
        /// Count at boot.
        initial: u32,
        /// Highest count.
        max: u32,
    },
    /// One-shot or periodic timer.
    Timer {
        /// What firing does.
        target: TimerTarget,
        /// Armed at boot: first expiry this many ticks after boot (the
        /// phase), then every `period` ticks (0: once). `None`: disarmed.
        start: Option<(u32, u32)>,
    },
    /// A heap or shared buffer.
    Memory {
        /// Bytes (page multiple).
        size: u32,
        /// Cache attribute of every mapping.
        cache: Cache,
        /// Whether several services may map it writable.
        shared: bool,
        /// Initial contents: offset and length in `.sotto.services` (the
        /// rest is zero), e.g. a configuration the services read.
        init: Option<(u32, u32)>,
    },
    /// The console: holders may print.
    Console,
    /// The cycle counter: holders may read it.
    Clock,
}

impl ObjectParams {
    /// The kind of object.
    pub fn kind(&self) -> ObjectKind {
        match self {
            ObjectParams::Endpoint => ObjectKind::Endpoint,
            ObjectParams::Notification => ObjectKind::Notification,
            ObjectParams::Semaphore { .. } => ObjectKind::Semaphore,
            ObjectParams::Timer { .. } => ObjectKind::Timer,
            ObjectParams::Memory { .. } => ObjectKind::Memory,
            ObjectParams::Console => ObjectKind::Console,
            ObjectParams::Clock => ObjectKind::Clock,
        }
    }
}

/// A kernel object declared in `system.toml`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Name, as in `system.toml`.
    pub name: String<MAX_NAME>,
    /// Kind and parameters.
    pub params: ObjectParams,
}

/// Everything the kernel needs to start the services.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Manifest {
    /// The kernel objects, in `system.toml` order.
    pub objects: Vec<Object, MAX_OBJECTS>,
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

/// Reads a manifest section one item at a time, so the kernel never holds
/// the whole manifest on its stack. Postcard lays a `Vec` out as a varint
/// count followed by the elements: [`Manifest`] is objects, then services.
pub struct ManifestReader<'a> {
    rest: &'a [u8],
    objects_left: u32,
    services_left: Option<u32>,
}

impl<'a> ManifestReader<'a> {
    /// Start reading a section.
    pub fn new(section: &'a [u8]) -> Result<Self, ManifestError> {
        let payload = section
            .strip_prefix(&MANIFEST_MAGIC[..])
            .ok_or(ManifestError::NotWritten)?;
        let (objects_left, rest) =
            postcard::take_from_bytes::<u32>(payload).map_err(|_| ManifestError::Malformed)?;
        Ok(ManifestReader {
            rest,
            objects_left,
            services_left: None,
        })
    }

    /// The next object, until they run out.
    pub fn next_object(&mut self) -> Option<Result<Object, ManifestError>> {
        if self.objects_left == 0 {
            return None;
        }
        self.objects_left -= 1;
        Some(self.take())
    }

    /// The next service (after every object was read).
    pub fn next_service(&mut self) -> Option<Result<Service, ManifestError>> {
        while self.objects_left > 0 {
            if let Some(Err(error)) = self.next_object() {
                return Some(Err(error));
            }
        }
        let left = match self.services_left {
            Some(left) => left,
            None => match postcard::take_from_bytes::<u32>(self.rest) {
                Ok((count, rest)) => {
                    self.rest = rest;
                    count
                }
                Err(_) => return Some(Err(ManifestError::Malformed)),
            },
        };
        if left == 0 {
            self.services_left = Some(0);
            return None;
        }
        self.services_left = Some(left - 1);
        Some(self.take())
    }

    fn take<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ManifestError> {
        let (item, rest) =
            postcard::take_from_bytes(self.rest).map_err(|_| ManifestError::Malformed)?;
        self.rest = rest;
        Ok(item)
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
    use super::{
        Cache, CapGrant, Manifest, ManifestReader, Object, ObjectParams, Segment, SegmentKind,
        Service, TimerTarget,
    };
    use crate::cap::Rights;

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
                caps: heapless::Vec::from_slice(&[CapGrant {
                    slot: 2,
                    object: 1,
                    rights: Rights::READ | Rights::WRITE,
                    badge: 0,
                    map_at: Some(0x5000_0000),
                }])
                .unwrap(),
            })
            .unwrap();
        for (name, params) in [
            ("ep", ObjectParams::Endpoint),
            (
                "heap",
                ObjectParams::Memory {
                    size: 0x4000,
                    cache: Cache::Cached,
                    shared: false,
                    init: None,
                },
            ),
            (
                "tick",
                ObjectParams::Timer {
                    target: TimerTarget::Notify { object: 0, bits: 1 },
                    start: Some((3, 10)),
                },
            ),
        ] {
            manifest
                .objects
                .push(Object {
                    name: heapless::String::try_from(name).unwrap(),
                    params,
                })
                .unwrap();
        }
        let section = manifest.encode().unwrap();
        assert_eq!(Manifest::decode(&section).unwrap(), manifest);
        // The streaming reader sees the same items.
        let mut reader = ManifestReader::new(&section).unwrap();
        assert_eq!(reader.next_object().unwrap().unwrap(), manifest.objects[0]);
        // Skipping the other objects is fine.
        assert_eq!(
            reader.next_service().unwrap().unwrap(),
            manifest.services[0]
        );
        assert!(reader.next_service().is_none());
        assert!(reader.next_object().is_none());
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
