//! The boot manifest: what `cargo xtask build` tells the kernel about the
//! services packed into the image, in the `.sotto.manifest` section; the
//! service segments sit in `.sotto.services`.
//!
//! The section is fixed-layout little-endian records, so the kernel reads
//! it field by field without a deserialiser, one record at a time:
//!
//! - header ([`HEADER_SIZE`] bytes): [`MANIFEST_MAGIC`], [`FORMAT_VERSION`],
//!   the number of objects, the number of services;
//! - one [`OBJECT_RECORD`]-byte record per object: name (16 bytes, zero
//!   padded), kind, eight parameter words (see [`Object`]'s encoding);
//! - one [`SERVICE_RECORD`]-byte record per service: name, priority and
//!   the segment and capability counts (one byte each), entry, stack size,
//!   argument, [`MAX_SEGMENTS`] segment slots of five words,
//!   [`CAP_SLOTS`] capability slots of four words, [`MAX_SERVICE_THREADS`]
//!   thread slots of eight words (name, priority, ceiling, entry, stack
//!   size, argument; the count is the fourth byte after the name).
//!
//! Every read is checked: counts above the limits, records running past
//! the section, unknown kinds or rights, names that are not UTF-8 are
//! [`ManifestError::Malformed`], never a panic.

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

use crate::cap::{CAP_SLOTS, ObjectKind, Rights};
use crate::dai::{DaiParams, Direction};
use crate::supervise::{NO_SERVICE, Restart, Supervision};
use crate::text::{Message, Part};
use crate::wire::{Reader, Writer};

/// Most services an image may hold.
pub const MAX_SERVICES: usize = 16;
/// Most threads an image may hold (every service's main thread and its
/// further ones).
pub const MAX_THREADS: usize = 16;
/// Most further threads (besides its main one) a service may declare.
pub const MAX_SERVICE_THREADS: usize = 7;

/// The kernel's number of thread `thread` (0: the main one, 1.. its
/// further threads in declaration order) of service `service`, given how
/// many further threads each service declares (`further`, in manifest
/// order): a main thread is its service's number; further threads come
/// after every main thread, service by service, in declaration order —
/// the order the kernel adds them at boot. `None` for a service or
/// thread that does not exist.
pub fn thread_id(further: &[usize], service: usize, thread: usize) -> Option<usize> {
    let count = *further.get(service)?;
    match thread {
        0 => Some(service),
        _ if thread <= count => {
            Some(further.len() + further[..service].iter().sum::<usize>() + thread - 1)
        }
        _ => None,
    }
}
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
pub const MANIFEST_SIZE: usize = 24 * 1024;
/// Most kernel objects an image declares.
pub const MAX_OBJECTS: usize = 128;
/// Marks a written manifest.
pub const MANIFEST_MAGIC: [u8; 4] = *b"SOTM";
/// Section holding the service segments.
pub const SERVICES_SECTION: &str = ".sotto.services";
/// Version of the section's layout.
pub const FORMAT_VERSION: u32 = 5;
/// Bytes of the header.
pub const HEADER_SIZE: usize = 16;
/// Bytes of one object record.
pub const OBJECT_RECORD: usize = MAX_NAME + 4 + 8 * 4;
/// Bytes of one segment slot in a service record.
const SEGMENT_SLOT: usize = 5 * 4;
/// Bytes of one capability slot in a service record.
const CAP_SLOT: usize = 4 * 4;
/// Where the segment slots start in a service record.
const SEGMENTS_AT: usize = MAX_NAME + 4 + 3 * 4;
/// Where the capability slots start in a service record.
const CAPS_AT: usize = SEGMENTS_AT + MAX_SEGMENTS * SEGMENT_SLOT;
/// Bytes of one thread slot in a service record.
const THREAD_SLOT: usize = MAX_NAME + 4 * 4;
/// Where the thread slots start in a service record.
const THREADS_AT: usize = CAPS_AT + CAP_SLOTS * CAP_SLOT;
/// Where the supervision words start in a service record.
const SUPERVISION_AT: usize = THREADS_AT + MAX_SERVICE_THREADS * THREAD_SLOT;
/// Bytes of the supervision words.
const SUPERVISION_SIZE: usize = 5 * 4;
/// Bytes of one service record.
pub const SERVICE_RECORD: usize = SUPERVISION_AT + SUPERVISION_SIZE;

// The largest manifest fits its section.
const _: () = assert!(
    HEADER_SIZE + MAX_OBJECTS * OBJECT_RECORD + MAX_SERVICES * SERVICE_RECORD <= MANIFEST_SIZE
);

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
    /// Its further threads (its main thread is the service's own
    /// `priority`, `entry`, `stack_size` and `arg`).
    pub threads: Vec<Thread, MAX_SERVICE_THREADS>,
    /// Who supervises it and how (`supervisor`, `restart`, `min_run`,
    /// `max_restarts`, `window`; a supervisor's `faults`).
    pub supervision: Supervision,
}

/// A further thread of a service: it shares the service's address space
/// and capabilities, and has its own stack (with a guard page under it),
/// registers and priority.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    /// Name, as in `system.toml` (reports say `service/name`).
    pub name: String<MAX_NAME>,
    /// 0 = most urgent .. [`LOWEST_PRIORITY`].
    pub priority: u8,
    /// Its ceiling: the most urgent priority (the lowest number, at most
    /// `priority`) a holder of its thread capability may give it.
    pub max_priority: u8,
    /// Entry point.
    pub entry: u32,
    /// Stack size in bytes (page multiple); a guard page sits under it.
    pub stack_size: u32,
    /// Passed to the entry point in a2.
    pub arg: u32,
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
        /// Kept across a restart of a service that may write it (else a
        /// restart puts it back as the image has it).
        keep: bool,
    },
    /// The console: holders may print.
    Console,
    /// The cycle counter: holders may read it.
    Clock,
    /// A thread: holders with CONTROL set its priority and deadline,
    /// suspend and resume it, read its CPU time. Made by the build for a
    /// `{ thread = "service" }` or `{ thread = "service/thread" }` grant.
    Thread {
        /// Index of the service.
        service: u16,
        /// The thread within it (0: its main thread, 1.. its further
        /// threads in declaration order).
        thread: u16,
        /// The kernel's number of that thread ([`thread_id`]): what the
        /// capability names.
        id: u16,
    },
    /// A service: holders with CONTROL restart, stop and query it. Made by
    /// the build for a `{ service = "name" }` grant.
    Service {
        /// Index of the service.
        service: u16,
    },
    /// A DAI: the DMA engine the kernel models (`crate::dai`).
    Dai(DaiParams),
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
            ObjectParams::Thread { .. } => ObjectKind::Thread,
            ObjectParams::Service { .. } => ObjectKind::Service,
            ObjectParams::Dai(_) => ObjectKind::Dai,
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

impl ManifestError {
    /// What went wrong, as the kernel prints it.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.manifest_message")
    )]
    pub fn message(&self) -> Message {
        match *self {
            ManifestError::NotWritten => {
                Message::plain(&[Part::Str("no service manifest was written into the image")])
            }
            ManifestError::Malformed => {
                Message::plain(&[Part::Str("the service manifest is malformed")])
            }
            ManifestError::TooLarge => Message::one(
                &[
                    Part::Str("the service manifest exceeds "),
                    Part::Dec,
                    Part::Str(" bytes"),
                ],
                MANIFEST_SIZE as u64,
            ),
        }
    }
}

impl core::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.message().fmt(f)
    }
}

impl Manifest {
    /// Encode into the fixed-size section contents.
    pub fn encode(&self) -> Result<[u8; MANIFEST_SIZE], ManifestError> {
        let mut section = [0u8; MANIFEST_SIZE];
        let mut header = Writer::new(&mut section[..HEADER_SIZE]);
        header.bytes(0, &MANIFEST_MAGIC);
        header.u32(4, FORMAT_VERSION);
        header.u32(8, self.objects.len() as u32);
        header.u32(12, self.services.len() as u32);
        let mut at = HEADER_SIZE;
        for object in &self.objects {
            let record = section
                .get_mut(at..at + OBJECT_RECORD)
                .ok_or(ManifestError::TooLarge)?;
            object.encode(&mut Writer::new(record));
            at += OBJECT_RECORD;
        }
        for service in &self.services {
            let record = section
                .get_mut(at..at + SERVICE_RECORD)
                .ok_or(ManifestError::TooLarge)?;
            service.encode(&mut Writer::new(record));
            at += SERVICE_RECORD;
        }
        Ok(section)
    }

    /// Decode the section contents.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let mut reader = ManifestReader::new(bytes)?;
        let mut manifest = Manifest::default();
        while let Some(object) = reader.next_object() {
            // The reader's counts are within the limits.
            let _ = manifest.objects.push(object?);
        }
        while let Some(service) = reader.next_service() {
            let _ = manifest.services.push(service?);
        }
        Ok(manifest)
    }
}

fn name_bytes(name: &str) -> [u8; MAX_NAME] {
    let mut bytes = [0; MAX_NAME];
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    bytes
}

/// The words of a record, read once; fields are then plain indexing.
type Words<const N: usize> = [u32; N];

/// Words in an object record.
const OBJECT_WORDS: usize = OBJECT_RECORD / 4;
/// Words in a service record.
const SERVICE_WORDS: usize = SERVICE_RECORD / 4;

fn read_words<const N: usize>(bytes: &[u8]) -> Option<Words<N>> {
    let mut words = [0u32; N];
    let bytes = bytes.get(..N * 4)?;
    // By index, not `zip`: core's out-of-line iterator helpers would be
    // resident kernel code only boot calls.
    for (index, word) in words.iter_mut().enumerate() {
        if let Some(&[a, b, c, d]) = bytes.get(index * 4..index * 4 + 4) {
            *word = u32::from_le_bytes([a, b, c, d]);
        }
    }
    Some(words)
}

/// The name in the first four words: UTF-8, zero padded.
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.manifest_read_name")
)]
fn read_name(words: &[u32]) -> Option<String<MAX_NAME>> {
    // The four words as one little-endian number (see `read_words`).
    let word = |index: usize| u128::from(words.get(index).copied().unwrap_or(0)) << (32 * index);
    let bytes: [u8; MAX_NAME] = (word(0) | word(1) | word(2) | word(3)).to_le_bytes();
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(MAX_NAME);
    utf8_name(&bytes[..len])
}

/// `bytes` as a name if they are UTF-8: what `core::str::from_utf8`
/// accepts (a test compares the two), decoded here so that the kernel,
/// which reads names only at boot, does not keep `from_utf8` in its
/// resident text.
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.manifest_utf8_name")
)]
fn utf8_name(bytes: &[u8]) -> Option<String<MAX_NAME>> {
    let mut name = String::new();
    let mut rest = bytes;
    while let Some((&lead, tail)) = rest.split_first() {
        // Sequence length, smallest value (no overlong forms), lead bits.
        let (len, least, mut value) = match lead {
            0x00..=0x7F => (0, 0, u32::from(lead)),
            0xC2..=0xDF => (1, 0x80, u32::from(lead & 0x1F)),
            0xE0..=0xEF => (2, 0x800, u32::from(lead & 0x0F)),
            0xF0..=0xF4 => (3, 0x1_0000, u32::from(lead & 0x07)),
            _ => return None,
        };
        let continuation = tail.get(..len)?;
        for &byte in continuation {
            if byte & 0xC0 != 0x80 {
                return None;
            }
            value = (value << 6) | u32::from(byte & 0x3F);
        }
        // `from_u32` refuses surrogates and values above U+10FFFF.
        let c = char::from_u32(value).filter(|_| value >= least)?;
        name.push(c).ok()?;
        rest = &tail[len..];
    }
    Some(name)
}

/// A 0/1 flag word.
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.manifest_flag")
)]
fn flag(word: u32) -> Option<bool> {
    match word {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// Object kinds as the section numbers them.
const ENDPOINT: u32 = 0;
const NOTIFICATION: u32 = 1;
const SEMAPHORE: u32 = 2;
const TIMER: u32 = 3;
const MEMORY: u32 = 4;
const CONSOLE: u32 = 5;
const CLOCK: u32 = 6;
const THREAD: u32 = 7;
const SERVICE: u32 = 8;
const DAI: u32 = 9;

impl Object {
    /// Name, kind, then parameter words at 20, 24, ...: semaphore
    /// `initial, max`; timer `notify?, object, bits, armed?, phase,
    /// period`; memory `size, uncached?, shared?, init?, offset, len, keep?`;
    /// thread `service, thread, id`; service `service`; DAI `capture?,
    /// ring, rate, channels | bits << 8, period_frames | ring_periods <<
    /// 16, notify object + 1 (0: none), bits`.
    fn encode(&self, out: &mut Writer<'_>) {
        out.bytes(0, &name_bytes(&self.name));
        let flag = |b: bool| u32::from(b);
        let (kind, params): (u32, [u32; 7]) = match self.params {
            ObjectParams::Endpoint => (ENDPOINT, [0; 7]),
            ObjectParams::Notification => (NOTIFICATION, [0; 7]),
            ObjectParams::Semaphore { initial, max } => (SEMAPHORE, [initial, max, 0, 0, 0, 0, 0]),
            ObjectParams::Timer { target, start } => {
                let (notify, object, bits) = match target {
                    TimerTarget::Notify { object, bits } => (1, object, bits),
                    TimerTarget::Give { object } => (0, object, 0),
                };
                let (phase, period) = start.unwrap_or((0, 0));
                (
                    TIMER,
                    [
                        notify,
                        u32::from(object),
                        bits,
                        flag(start.is_some()),
                        phase,
                        period,
                        0,
                    ],
                )
            }
            ObjectParams::Memory {
                size,
                cache,
                shared,
                init,
                keep,
            } => {
                let (offset, len) = init.unwrap_or((0, 0));
                (
                    MEMORY,
                    [
                        size,
                        flag(cache == Cache::Uncached),
                        flag(shared),
                        flag(init.is_some()),
                        offset,
                        len,
                        flag(keep),
                    ],
                )
            }
            ObjectParams::Console => (CONSOLE, [0; 7]),
            ObjectParams::Clock => (CLOCK, [0; 7]),
            ObjectParams::Service { service } => (SERVICE, [u32::from(service), 0, 0, 0, 0, 0, 0]),
            ObjectParams::Dai(dai) => {
                let (notify, bits) = dai
                    .notify
                    .map_or((0, 0), |(object, bits)| (u32::from(object) + 1, bits));
                (
                    DAI,
                    [
                        flag(dai.direction == Direction::Capture),
                        u32::from(dai.ring),
                        dai.rate,
                        u32::from(dai.channels) | u32::from(dai.bits) << 8,
                        u32::from(dai.period_frames) | u32::from(dai.ring_periods) << 16,
                        notify,
                        bits,
                    ],
                )
            }
            ObjectParams::Thread {
                service,
                thread,
                id,
            } => (
                THREAD,
                [
                    u32::from(service),
                    u32::from(thread),
                    u32::from(id),
                    0,
                    0,
                    0,
                    0,
                ],
            ),
        };
        out.u32(MAX_NAME, kind);
        for (i, param) in params.into_iter().enumerate() {
            out.u32(MAX_NAME + 4 + 4 * i, param);
        }
    }

    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.manifest_object_decode")
    )]
    fn decode(w: &Words<OBJECT_WORDS>) -> Option<Object> {
        // Words 0..4 the name, 4 the kind, 5.. the parameters.
        let p = |i: usize| w[5 + i];
        let object = |i: usize| u16::try_from(p(i)).ok();
        let params = match w[4] {
            ENDPOINT => ObjectParams::Endpoint,
            NOTIFICATION => ObjectParams::Notification,
            SEMAPHORE => ObjectParams::Semaphore {
                initial: p(0),
                max: p(1),
            },
            TIMER => ObjectParams::Timer {
                target: match flag(p(0))? {
                    true => TimerTarget::Notify {
                        object: object(1)?,
                        bits: p(2),
                    },
                    false => TimerTarget::Give { object: object(1)? },
                },
                start: match flag(p(3))? {
                    true => Some((p(4), p(5))),
                    false => None,
                },
            },
            MEMORY => ObjectParams::Memory {
                size: p(0),
                cache: match flag(p(1))? {
                    true => Cache::Uncached,
                    false => Cache::Cached,
                },
                shared: flag(p(2))?,
                init: match flag(p(3))? {
                    true => Some((p(4), p(5))),
                    false => None,
                },
                keep: flag(p(6))?,
            },
            CONSOLE => ObjectParams::Console,
            CLOCK => ObjectParams::Clock,
            THREAD => ObjectParams::Thread {
                service: object(0)?,
                thread: object(1)?,
                id: object(2)?,
            },
            SERVICE => ObjectParams::Service {
                service: object(0)?,
            },
            DAI => ObjectParams::Dai(DaiParams {
                direction: match flag(p(0))? {
                    true => Direction::Capture,
                    false => Direction::Playback,
                },
                ring: object(1)?,
                rate: p(2),
                channels: p(3) as u8,
                bits: (p(3) >> 8) as u8,
                period_frames: p(4) as u16,
                ring_periods: (p(4) >> 16) as u16,
                notify: match p(5) {
                    0 => None,
                    n => Some((u16::try_from(n - 1).ok()?, p(6))),
                },
            }),
            _ => return None,
        };
        Some(Object {
            name: read_name(w)?,
            params,
        })
    }
}

impl Service {
    fn encode(&self, out: &mut Writer<'_>) {
        out.bytes(0, &name_bytes(&self.name));
        out.bytes(
            MAX_NAME,
            &[
                self.priority,
                self.segments.len() as u8,
                self.caps.len() as u8,
                self.threads.len() as u8,
            ],
        );
        out.u32(MAX_NAME + 4, self.entry);
        out.u32(MAX_NAME + 8, self.stack_size);
        out.u32(MAX_NAME + 12, self.arg);
        for (i, segment) in self.segments.iter().enumerate() {
            let at = SEGMENTS_AT + i * SEGMENT_SLOT;
            let kind = match segment.kind {
                SegmentKind::Code => 0,
                SegmentKind::ReadOnly => 1,
                SegmentKind::ReadWrite => 2,
            };
            out.u32(at, segment.vaddr);
            out.u32(at + 4, segment.mem_size);
            out.u32(at + 8, segment.offset);
            out.u32(at + 12, segment.file_size);
            out.u32(at + 16, kind);
        }
        for (i, cap) in self.caps.iter().enumerate() {
            let at = CAPS_AT + i * CAP_SLOT;
            let [object_low, object_high] = cap.object.to_le_bytes();
            out.bytes(
                at,
                &[
                    cap.slot,
                    u8::from(cap.map_at.is_some()),
                    object_low,
                    object_high,
                ],
            );
            out.u32(at + 4, cap.rights.bits());
            out.u32(at + 8, cap.badge);
            out.u32(at + 12, cap.map_at.unwrap_or(0));
        }
        for (i, thread) in self.threads.iter().enumerate() {
            let at = THREADS_AT + i * THREAD_SLOT;
            out.bytes(at, &name_bytes(&thread.name));
            out.bytes(at + MAX_NAME, &[thread.priority, thread.max_priority, 0, 0]);
            out.u32(at + MAX_NAME + 4, thread.entry);
            out.u32(at + MAX_NAME + 8, thread.stack_size);
            out.u32(at + MAX_NAME + 12, thread.arg);
        }
        let policy = &self.supervision;
        out.bytes(
            SUPERVISION_AT,
            &[
                policy.supervisor.unwrap_or(NO_SERVICE),
                policy.restart as u8,
                u8::from(policy.faults.is_some()),
                0,
            ],
        );
        out.u32(SUPERVISION_AT + 4, policy.min_run_ticks);
        out.u32(SUPERVISION_AT + 8, policy.max_restarts);
        out.u32(SUPERVISION_AT + 12, policy.window_ticks);
        out.u32(SUPERVISION_AT + 16, u32::from(policy.faults.unwrap_or(0)));
    }

    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.manifest_service_decode")
    )]
    fn decode(w: &Words<SERVICE_WORDS>) -> Option<Service> {
        // Words 0..4 the name; 4: priority, segment and capability counts
        // (bytes 0, 1, 2); 5 entry, 6 stack size, 7 argument; then the
        // segment and capability slots.
        let [priority, segment_count, cap_count, thread_count] = w[4].to_le_bytes();
        let mut service = Service {
            name: read_name(w)?,
            priority,
            entry: w[5],
            stack_size: w[6],
            arg: w[7],
            segments: Vec::new(),
            caps: Vec::new(),
            threads: Vec::new(),
            supervision: Supervision::default(),
        };
        let segments = w[SEGMENTS_AT / 4..CAPS_AT / 4].chunks_exact(SEGMENT_SLOT / 4);
        for slot in segments.take(usize::from(segment_count)) {
            let segment = Segment {
                vaddr: slot[0],
                mem_size: slot[1],
                offset: slot[2],
                file_size: slot[3],
                kind: match slot[4] {
                    0 => SegmentKind::Code,
                    1 => SegmentKind::ReadOnly,
                    2 => SegmentKind::ReadWrite,
                    _ => return None,
                },
            };
            service.segments.push(segment).ok()?;
        }
        if usize::from(segment_count) > MAX_SEGMENTS {
            return None;
        }
        let caps = w[CAPS_AT / 4..THREADS_AT / 4].chunks_exact(CAP_SLOT / 4);
        for slot in caps.take(usize::from(cap_count)) {
            let [number, mapped, object_low, object_high] = slot[0].to_le_bytes();
            let grant = CapGrant {
                slot: number,
                object: u16::from_le_bytes([object_low, object_high]),
                rights: Rights::from_bits(slot[1])?,
                badge: slot[2],
                map_at: match mapped {
                    0 => None,
                    1 => Some(slot[3]),
                    _ => return None,
                },
            };
            service.caps.push(grant).ok()?;
        }
        if usize::from(cap_count) > CAP_SLOTS {
            return None;
        }
        let threads = w[THREADS_AT / 4..SUPERVISION_AT / 4].chunks_exact(THREAD_SLOT / 4);
        for slot in threads.take(usize::from(thread_count)) {
            let [priority, max_priority, _, _] = slot[4].to_le_bytes();
            let thread = Thread {
                name: read_name(slot)?,
                priority,
                max_priority,
                entry: slot[5],
                stack_size: slot[6],
                arg: slot[7],
            };
            service.threads.push(thread).ok()?;
        }
        if usize::from(thread_count) > MAX_SERVICE_THREADS {
            return None;
        }
        let policy = &w[SUPERVISION_AT / 4..];
        let [supervisor, restart, has_faults, _] = policy[0].to_le_bytes();
        service.supervision = Supervision {
            supervisor: (supervisor != NO_SERVICE).then_some(supervisor),
            restart: match restart {
                0 => Restart::Always,
                1 => Restart::Never,
                _ => return None,
            },
            min_run_ticks: policy[1],
            max_restarts: policy[2],
            window_ticks: policy[3],
            faults: match flag(u32::from(has_faults))? {
                true => Some(u16::try_from(policy[4]).ok()?),
                false => None,
            },
        };
        Some(service)
    }
}

/// Reads a manifest section one record at a time, so the kernel never holds
/// the whole manifest on its stack.
pub struct ManifestReader<'a> {
    section: &'a [u8],
    objects: u32,
    services: u32,
    next_object: u32,
    next_service: u32,
}

impl<'a> ManifestReader<'a> {
    /// Start reading a section: its header is checked here (magic,
    /// version, counts within the limits and the section).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.manifest_new")
    )]
    pub fn new(section: &'a [u8]) -> Result<Self, ManifestError> {
        if section.get(..4) != Some(&MANIFEST_MAGIC[..]) {
            return Err(ManifestError::NotWritten);
        }
        let header = Reader::new(section);
        let field = |at| header.u32(at).ok_or(ManifestError::Malformed);
        if field(4)? != FORMAT_VERSION {
            return Err(ManifestError::Malformed);
        }
        let (objects, services) = (field(8)?, field(12)?);
        if objects as usize > MAX_OBJECTS || services as usize > MAX_SERVICES {
            return Err(ManifestError::Malformed);
        }
        let end =
            HEADER_SIZE + objects as usize * OBJECT_RECORD + services as usize * SERVICE_RECORD;
        if end > section.len() {
            return Err(ManifestError::Malformed);
        }
        Ok(ManifestReader {
            section,
            objects,
            services,
            next_object: 0,
            next_service: 0,
        })
    }

    /// The next object, until they run out.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.manifest_next_object")
    )]
    pub fn next_object(&mut self) -> Option<Result<Object, ManifestError>> {
        if self.next_object >= self.objects {
            return None;
        }
        let at = HEADER_SIZE + self.next_object as usize * OBJECT_RECORD;
        self.next_object += 1;
        Some(
            read_words::<OBJECT_WORDS>(self.section.get(at..).unwrap_or_default())
                .as_ref()
                .and_then(Object::decode)
                .ok_or(ManifestError::Malformed),
        )
    }

    /// Object `index` (records have a fixed size: no other is read).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.manifest_object")
    )]
    pub fn object(&mut self, index: u32) -> Option<Result<Object, ManifestError>> {
        self.next_object = index;
        self.next_object()
    }

    /// Service `index` (no other is read).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.manifest_service")
    )]
    pub fn service(&mut self, index: u32) -> Option<Result<Service, ManifestError>> {
        self.next_service = index;
        self.next_service()
    }

    /// The next service, until they run out. Objects not read yet are
    /// skipped (as in a stream: objects come first).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.manifest_next_service")
    )]
    pub fn next_service(&mut self) -> Option<Result<Service, ManifestError>> {
        self.next_object = self.objects;
        if self.next_service >= self.services {
            return None;
        }
        let at = HEADER_SIZE
            + self.objects as usize * OBJECT_RECORD
            + self.next_service as usize * SERVICE_RECORD;
        self.next_service += 1;
        Some(
            read_words::<SERVICE_WORDS>(self.section.get(at..).unwrap_or_default())
                .as_ref()
                .and_then(Service::decode)
                .ok_or(ManifestError::Malformed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{
        Cache, CapGrant, Manifest, ManifestReader, Object, ObjectParams, Segment, SegmentKind,
        Service, TimerTarget, thread_id,
    };
    use crate::cap::Rights;

    #[test]
    fn further_threads_are_numbered_after_every_main_thread() {
        // Three services: the first with two further threads, the third
        // with one.
        let further = [2, 0, 1];
        assert_eq!(thread_id(&further, 1, 0), Some(1));
        assert_eq!(thread_id(&further, 0, 1), Some(3));
        assert_eq!(thread_id(&further, 0, 2), Some(4));
        assert_eq!(thread_id(&further, 2, 1), Some(5));
        assert_eq!(thread_id(&further, 1, 1), None);
        assert_eq!(thread_id(&further, 0, 3), None);
        assert_eq!(thread_id(&further, 3, 0), None);
    }

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
                threads: heapless::Vec::from_slice(&[super::Thread {
                    name: heapless::String::try_from("fir").unwrap(),
                    priority: 5,
                    max_priority: 4,
                    entry: 0x4000_0100,
                    stack_size: 0x3000,
                    arg: 1,
                }])
                .unwrap(),
                supervision: crate::supervise::Supervision {
                    supervisor: Some(0),
                    restart: crate::supervise::Restart::Never,
                    min_run_ticks: 20,
                    max_restarts: 5,
                    window_ticks: 1000,
                    faults: Some(0),
                },
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
                    keep: true,
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
        // Records are read by index too.
        let mut reader = ManifestReader::new(&section).unwrap();
        assert_eq!(reader.object(2).unwrap().unwrap(), manifest.objects[2]);
        assert_eq!(reader.object(0).unwrap().unwrap(), manifest.objects[0]);
        assert!(reader.object(3).is_none());
        assert_eq!(reader.service(0).unwrap().unwrap(), manifest.services[0]);
        assert!(reader.service(1).is_none());
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

    fn every_kind() -> Manifest {
        let mut manifest = Manifest::default();
        let params = [
            ObjectParams::Endpoint,
            ObjectParams::Notification,
            ObjectParams::Semaphore { initial: 2, max: 9 },
            ObjectParams::Timer {
                target: TimerTarget::Give { object: 2 },
                start: None,
            },
            ObjectParams::Timer {
                target: TimerTarget::Notify {
                    object: 1,
                    bits: 0x8000_0001,
                },
                start: Some((0, 7)),
            },
            ObjectParams::Memory {
                size: 0x2000,
                cache: Cache::Uncached,
                shared: true,
                init: Some((0x40, 0x123)),
                keep: false,
            },
            ObjectParams::Console,
            ObjectParams::Clock,
            ObjectParams::Thread {
                service: 3,
                thread: 1,
                id: 9,
            },
            ObjectParams::Service { service: 2 },
            ObjectParams::Dai(crate::dai::DaiParams {
                direction: crate::dai::Direction::Capture,
                ring: 5,
                rate: 44_100,
                channels: 2,
                bits: 24,
                period_frames: 441,
                ring_periods: 4,
                notify: Some((1, 4)),
            }),
            ObjectParams::Dai(crate::dai::DaiParams {
                direction: crate::dai::Direction::Playback,
                ring: 5,
                rate: 48_000,
                channels: 1,
                bits: 16,
                period_frames: 48,
                ring_periods: 2,
                notify: None,
            }),
        ];
        for (i, params) in params.into_iter().enumerate() {
            let name = [
                "a",
                "b",
                "c",
                "d",
                "e",
                "f",
                "g",
                "sixteen-chars-ok",
                "t",
                "s",
                "dai-in",
                "dai-out",
            ][i];
            manifest
                .objects
                .push(Object {
                    name: heapless::String::try_from(name).unwrap(),
                    params,
                })
                .unwrap();
        }
        let caps: heapless::Vec<CapGrant, { super::CAP_SLOTS }> = (0..super::CAP_SLOTS as u8)
            .map(|slot| CapGrant {
                slot,
                object: u16::from(slot) % 8,
                rights: Rights::from_bits_truncate(u32::from(slot)),
                badge: u32::from(slot) << 24,
                map_at: (slot % 2 == 0).then_some(0x5000_0000 + u32::from(slot)),
            })
            .collect();
        for n in 0..super::MAX_SERVICES as u32 {
            let segments = (0..super::MAX_SEGMENTS as u32)
                .map(|i| Segment {
                    vaddr: 0x4000_0000 + i * 0x1000,
                    mem_size: 0x1000,
                    offset: n * 0x10_000 + i,
                    file_size: i,
                    kind: [
                        SegmentKind::Code,
                        SegmentKind::ReadOnly,
                        SegmentKind::ReadWrite,
                    ][i as usize % 3],
                })
                .collect();
            manifest
                .services
                .push(Service {
                    name: heapless::String::try_from("sérvice").unwrap(),
                    priority: (n % 8) as u8,
                    entry: 0x4000_0000 + n,
                    stack_size: 0x1000 * (n + 1),
                    arg: u32::MAX - n,
                    segments,
                    caps: if n == 0 {
                        heapless::Vec::new()
                    } else {
                        caps.clone()
                    },
                    threads: (0..n % 8)
                        .map(|t| super::Thread {
                            name: heapless::String::try_from("thréad").unwrap(),
                            priority: t as u8,
                            max_priority: 0,
                            entry: 0x4000_0000 + t,
                            stack_size: 0x1000 * (t + 1),
                            arg: t,
                        })
                        .collect(),
                    supervision: crate::supervise::Supervision {
                        supervisor: (n % 3 == 1).then_some((n / 2) as u8),
                        restart: if n % 2 == 0 {
                            crate::supervise::Restart::Always
                        } else {
                            crate::supervise::Restart::Never
                        },
                        min_run_ticks: n * 7,
                        max_restarts: n,
                        window_ticks: n * 100,
                        faults: (n % 4 == 2).then_some(n as u16),
                    },
                })
                .unwrap();
        }
        manifest
    }

    #[test]
    fn names_decode_exactly_as_core_decodes_utf8() {
        use super::MAX_NAME;
        let core = |bytes: &[u8]| {
            core::str::from_utf8(bytes)
                .ok()
                .and_then(|text| heapless::String::<MAX_NAME>::try_from(text).ok())
        };
        let check = |bytes: &[u8]| assert_eq!(super::utf8_name(bytes), core(bytes), "{bytes:x?}");
        // Every sequence of one and two bytes, every three-byte sequence
        // with a three-byte lead, each also after an ASCII byte.
        for a in 0..=255u8 {
            check(&[a]);
            for b in 0..=255u8 {
                check(&[a, b]);
                check(&[b'x', a, b]);
            }
        }
        for a in 0xE0..=0xEFu8 {
            for b in 0..=255u8 {
                for c in 0..=255u8 {
                    check(&[a, b, c]);
                }
            }
        }
        // Four-byte leads with pseudo-random continuations, and names that
        // are too long.
        let mut state = 0x2545_F491_u32;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let [b, c, d, lead] = state.to_le_bytes();
            check(&[0xF0 | (lead % 8), b, c, d]);
            check(&[
                0xF0 | (lead % 8),
                0x80 | (b & 0x3F),
                0x80 | (c & 0x3F),
                0x80 | (d & 0x3F),
            ]);
        }
        check("sérvice-名前-😀".as_bytes());
        check(&[b'a'; MAX_NAME + 1]);
    }

    #[test]
    fn the_largest_manifest_round_trips() {
        let manifest = every_kind();
        assert_eq!(Manifest::decode(&manifest.encode().unwrap()), Ok(manifest));
    }

    #[test]
    fn damaged_sections_are_refused_not_panicked_on() {
        use super::{HEADER_SIZE, MAX_NAME, ManifestError, OBJECT_RECORD};
        let section = every_kind().encode().unwrap();
        let damaged = |at: usize, bytes: &[u8]| {
            let mut copy = section;
            copy[at..at + bytes.len()].copy_from_slice(bytes);
            Manifest::decode(&copy)
        };
        let malformed = Err(ManifestError::Malformed);
        assert_eq!(damaged(4, &[9, 0, 0, 0]), malformed, "version");
        assert_eq!(damaged(8, &[65, 0, 0, 0]), malformed, "too many objects");
        assert_eq!(damaged(12, &[0xFF; 4]), malformed, "too many services");
        assert_eq!(damaged(HEADER_SIZE, &[0xFF]), malformed, "name not UTF-8");
        assert_eq!(damaged(HEADER_SIZE + MAX_NAME, &[10]), malformed, "kind");
        let timer = HEADER_SIZE + 4 * OBJECT_RECORD + MAX_NAME + 4;
        assert_eq!(damaged(timer, &[2]), malformed, "a flag that is not 0/1");
        assert_eq!(
            damaged(timer + 4, &[0, 0, 1]),
            malformed,
            "object above u16"
        );
        let service = HEADER_SIZE + 11 * OBJECT_RECORD;
        assert_eq!(damaged(service + MAX_NAME + 1, &[5]), malformed, "segments");
        assert_eq!(damaged(service + MAX_NAME + 2, &[33]), malformed, "caps");
        // A cut-short section: the header says more than there is.
        assert_eq!(Manifest::decode(&section[..HEADER_SIZE + 10]), malformed);
        // Any single damaged byte or word decodes or is refused, without
        // a panic.
        let mut state = 0x2468_ace1u32;
        for _ in 0..4_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let at = state as usize % (section.len() - 4);
            let _ = damaged(at, &state.to_le_bytes()[..1 + (state >> 30) as usize]);
        }
    }
}
