//! The boot configuration: a fixed-layout record in its own ELF section,
//! written by `cargo xtask` after linking, read by the kernel at boot.
//!
//! Layout (little-endian words): the magic [`BOOT_MAGIC`], `tick_hz`,
//! `run_ticks`, `report_every`, the self-test's number (its position in
//! [`SelfTest::ALL`]), the number of injected faults, then each as two
//! words (thread, tick), in tick order, in a table of
//! [`MAX_INJECTED_FAULTS`] entries; then (at [`FLAGS_AT`]) a word of
//! [`flags`]; zeros after.
//!
//! Compatibility: fields are only ever added after the last one, at a
//! fixed offset, and an all-zero word is the old behaviour (a section
//! written before a field existed reads as "off"); unknown flag bits are
//! refused (`Malformed`), so an image is never run with a setting its
//! kernel would ignore.
//!
//! Patching a section instead of recompiling lets every integration test boot
//! the same kernel binary with its own configuration.

use serde::{Deserialize, Serialize};

use crate::layout::{BOOT_CONFIG_SIZE, CCOUNT_HZ};
use crate::text::{Message, Part};
use crate::wire::{Reader, Writer};

/// Marks a written configuration; an all-zero section means "not written".
pub const BOOT_MAGIC: [u8; 4] = *b"SOTB";

/// What the kernel does at boot.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootConfig {
    /// Timer interrupt rate (CCOMPARE0). Must divide [`CCOUNT_HZ`].
    pub tick_hz: u32,
    /// Shut down cleanly after this many ticks; 0 runs until stopped.
    pub run_ticks: u32,
    /// Print a tick line every this many ticks; 0 prints none.
    pub report_every: u32,
    /// A kernel self-test to run instead of the normal system.
    pub self_test: SelfTest,
    /// Faults the kernel injects (`cargo xtask run --fault`): the first
    /// `fault_count`, in tick order.
    pub faults: [InjectedFault; MAX_INJECTED_FAULTS],
    /// How many of `faults` are in use.
    pub fault_count: u8,
    /// Record a trace of the schedule (`cargo xtask run --trace`): the
    /// kernel's trace ring, written to `sotto_abi::trace::FILE`.
    pub trace: bool,
}

/// Offset of the flags word, after the fault table.
pub const FLAGS_AT: usize = 24 + 8 * MAX_INJECTED_FAULTS;

/// Bits of the flags word.
pub mod flags {
    /// [`super::BootConfig::trace`].
    pub const TRACE: u32 = 1;
    /// Every bit a kernel of this version knows.
    pub const KNOWN: u32 = TRACE;
}

/// Most faults one boot configuration injects.
pub const MAX_INJECTED_FAULTS: usize = 16;

/// A fault the kernel injects into a thread at a tick, as if the thread
/// had taken an exception there (`cargo xtask run --fault SERVICE@TIME`):
/// its service stops and its supervisor hears of it, with no code in the
/// service.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InjectedFault {
    /// The kernel's thread number (`crate::manifest::thread_id`).
    pub thread: u16,
    /// The tick it is injected at (the first time the kernel looks at
    /// the clock at or after it).
    pub tick: u32,
}

impl BootConfig {
    /// The injected faults in use.
    #[inline]
    pub fn injected(&self) -> &[InjectedFault] {
        &self.faults[..usize::from(self.fault_count).min(MAX_INJECTED_FAULTS)]
    }
}

/// Kernel self-tests, each booted as its own image by the integration tests.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfTest {
    /// No self-test: the normal system.
    None,
    /// Check the page tables and the TLB entries refilled from them.
    PageTables,
    /// Execute an illegal instruction in the kernel.
    IllegalInstruction,
    /// Load from the unmapped null page (an invalid PTE in a present table).
    UnmappedLoad,
    /// Load from an address with no second-level page table at all.
    UnmappedFarLoad,
    /// Store to the kernel's own (read-only) text.
    StoreToText,
    /// Recurse until the kernel stack runs into its guard page.
    KernelStackOverflow,
    /// Raise a level-3 software interrupt, which the kernel does not use.
    UnexpectedInterrupt,
    /// Once boot is over, call into the boot code (unmapped by then).
    CallBootCode,
}

impl SelfTest {
    /// Every self-test, for the command line and for tests.
    pub const ALL: [SelfTest; 9] = [
        SelfTest::None,
        SelfTest::PageTables,
        SelfTest::IllegalInstruction,
        SelfTest::UnmappedLoad,
        SelfTest::UnmappedFarLoad,
        SelfTest::StoreToText,
        SelfTest::KernelStackOverflow,
        SelfTest::UnexpectedInterrupt,
        SelfTest::CallBootCode,
    ];

    /// The name used on the command line and in console lines.
    pub fn name(self) -> &'static str {
        match self {
            SelfTest::None => "none",
            SelfTest::PageTables => "page-tables",
            SelfTest::IllegalInstruction => "illegal-instruction",
            SelfTest::UnmappedLoad => "unmapped-load",
            SelfTest::UnmappedFarLoad => "unmapped-far-load",
            SelfTest::StoreToText => "store-to-text",
            SelfTest::KernelStackOverflow => "kernel-stack-overflow",
            SelfTest::UnexpectedInterrupt => "unexpected-interrupt",
            SelfTest::CallBootCode => "call-boot-code",
        }
    }

    /// Look a self-test up by its name.
    pub fn from_name(name: &str) -> Option<SelfTest> {
        Self::ALL.into_iter().find(|test| test.name() == name)
    }
}

/// Why a boot configuration is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootConfigError {
    /// The section does not start with [`BOOT_MAGIC`]: xtask did not write it.
    NotWritten,
    /// A field is out of range (the self-test number).
    Malformed,
    /// The encoded configuration does not fit in the section.
    TooLarge,
    /// `tick_hz` is zero, above the CCOUNT rate, or does not divide it (the
    /// tick would drift).
    BadTickRate(u32),
}

impl BootConfigError {
    /// What went wrong, as the kernel prints it.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.boot_message")
    )]
    pub fn message(&self) -> Message {
        match *self {
            BootConfigError::NotWritten => Message::plain(&[Part::Str(
                "no boot configuration was written into the image",
            )]),
            BootConfigError::Malformed => {
                Message::plain(&[Part::Str("the boot configuration is malformed")])
            }
            BootConfigError::TooLarge => Message::one(
                &[
                    Part::Str("the boot configuration exceeds "),
                    Part::Dec,
                    Part::Str(" bytes"),
                ],
                BOOT_CONFIG_SIZE as u64,
            ),
            BootConfigError::BadTickRate(hz) => Message {
                parts: &[
                    Part::Str("tick rate "),
                    Part::Dec,
                    Part::Str(" Hz must be between 1 and "),
                    Part::Dec,
                    Part::Str(" and divide "),
                    Part::Dec,
                    Part::Str(" (the CCOUNT rate), or the tick drifts"),
                ],
                args: [hz as u64, CCOUNT_HZ as u64, CCOUNT_HZ as u64],
            },
        }
    }
}

impl core::fmt::Display for BootConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.message().fmt(f)
    }
}

impl Default for BootConfig {
    fn default() -> Self {
        BootConfig {
            tick_hz: 1000,
            run_ticks: 1000,
            report_every: 250,
            self_test: SelfTest::None,
            faults: [InjectedFault { thread: 0, tick: 0 }; MAX_INJECTED_FAULTS],
            fault_count: 0,
            trace: false,
        }
    }
}

impl BootConfig {
    /// CCOUNT cycles between two ticks.
    pub fn tick_period_cycles(&self) -> u32 {
        CCOUNT_HZ / self.tick_hz
    }

    /// Check the values the kernel relies on.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.boot_validate")
    )]
    pub fn validate(&self) -> Result<(), BootConfigError> {
        if self.tick_hz == 0 || self.tick_hz > CCOUNT_HZ || !CCOUNT_HZ.is_multiple_of(self.tick_hz)
        {
            return Err(BootConfigError::BadTickRate(self.tick_hz));
        }
        let count = usize::from(self.fault_count);
        if count > MAX_INJECTED_FAULTS
            || self.faults[..count]
                .windows(2)
                .any(|pair| pair[0].tick > pair[1].tick)
        {
            return Err(BootConfigError::Malformed);
        }
        Ok(())
    }

    /// Encode into the fixed-size section contents.
    pub fn encode(&self) -> Result<[u8; BOOT_CONFIG_SIZE], BootConfigError> {
        self.validate()?;
        let mut section = [0u8; BOOT_CONFIG_SIZE];
        let mut out = Writer::new(&mut section);
        let test = SelfTest::ALL
            .iter()
            .position(|test| *test == self.self_test)
            .unwrap_or(0) as u32;
        let fits = out.bytes(0, &BOOT_MAGIC)
            && out.u32(4, self.tick_hz)
            && out.u32(8, self.run_ticks)
            && out.u32(12, self.report_every)
            && out.u32(16, test)
            && out.u32(20, u32::from(self.fault_count))
            && self.injected().iter().enumerate().all(|(i, fault)| {
                out.u32(24 + 8 * i, u32::from(fault.thread)) && out.u32(28 + 8 * i, fault.tick)
            })
            && out.u32(FLAGS_AT, if self.trace { flags::TRACE } else { 0 });
        if !fits {
            return Err(BootConfigError::TooLarge);
        }
        Ok(section)
    }

    /// Decode and validate the section contents.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.boot_decode")
    )]
    pub fn decode(bytes: &[u8]) -> Result<BootConfig, BootConfigError> {
        if bytes.get(..4) != Some(&BOOT_MAGIC[..]) {
            return Err(BootConfigError::NotWritten);
        }
        let record = Reader::new(bytes);
        let field = |at| record.u32(at).ok_or(BootConfigError::Malformed);
        let self_test = *SelfTest::ALL
            .get(field(16)? as usize)
            .ok_or(BootConfigError::Malformed)?;
        let fault_count = field(20)?;
        if fault_count as usize > MAX_INJECTED_FAULTS {
            return Err(BootConfigError::Malformed);
        }
        let mut faults = [InjectedFault { thread: 0, tick: 0 }; MAX_INJECTED_FAULTS];
        for (i, fault) in faults.iter_mut().enumerate().take(fault_count as usize) {
            *fault = InjectedFault {
                thread: u16::try_from(field(24 + 8 * i)?)
                    .map_err(|_| BootConfigError::Malformed)?,
                tick: field(28 + 8 * i)?,
            };
        }
        let flags = field(FLAGS_AT)?;
        if flags & !flags::KNOWN != 0 {
            return Err(BootConfigError::Malformed);
        }
        let config = BootConfig {
            tick_hz: field(4)?,
            run_ticks: field(8)?,
            report_every: field(12)?,
            self_test,
            faults,
            fault_count: fault_count as u8,
            trace: flags & flags::TRACE != 0,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::{BootConfig, BootConfigError, InjectedFault, MAX_INJECTED_FAULTS, SelfTest};

    #[test]
    fn round_trips_every_self_test() {
        for self_test in SelfTest::ALL {
            let config = BootConfig {
                tick_hz: 2000,
                run_ticks: 7,
                report_every: 3,
                self_test,
                ..BootConfig::default()
            };
            let section = config.encode().unwrap();
            assert_eq!(BootConfig::decode(&section), Ok(config));
            assert_eq!(SelfTest::from_name(self_test.name()), Some(self_test));
        }
    }

    #[test]
    fn injected_faults_round_trip_in_tick_order_only() {
        let mut config = BootConfig::default();
        config.faults[0] = InjectedFault {
            thread: 3,
            tick: 500,
        };
        config.faults[1] = InjectedFault {
            thread: 9,
            tick: 1200,
        };
        config.fault_count = 2;
        let section = config.encode().unwrap();
        let decoded = BootConfig::decode(&section).unwrap();
        assert_eq!(decoded, config);
        assert_eq!(decoded.injected(), &config.faults[..2]);
        config.faults.swap(0, 1);
        assert_eq!(config.encode(), Err(BootConfigError::Malformed));
        config.fault_count = MAX_INJECTED_FAULTS as u8 + 1;
        assert_eq!(config.encode(), Err(BootConfigError::Malformed));
    }

    #[test]
    fn the_trace_flag_round_trips_and_old_sections_read_as_off() {
        let config = BootConfig {
            trace: true,
            ..BootConfig::default()
        };
        let section = config.encode().unwrap();
        assert_eq!(BootConfig::decode(&section), Ok(config));
        // A section written before the flags word existed: zeros there.
        let mut old = section;
        old[super::FLAGS_AT..super::FLAGS_AT + 4].fill(0);
        assert!(!BootConfig::decode(&old).unwrap().trace);
        // A flag this kernel does not know is refused, never ignored.
        old[super::FLAGS_AT] = 2;
        assert_eq!(BootConfig::decode(&old), Err(BootConfigError::Malformed));
    }

    #[test]
    fn rejects_unwritten_and_garbage_sections() {
        assert_eq!(
            BootConfig::decode(&[0u8; 256]),
            Err(BootConfigError::NotWritten)
        );
        let mut section = BootConfig::default().encode().unwrap();
        section[16..20].fill(0xFF);
        assert_eq!(
            BootConfig::decode(&section),
            Err(BootConfigError::Malformed)
        );
        assert_eq!(
            BootConfig::decode(&section[..10]),
            Err(BootConfigError::Malformed)
        );
        let mut section = BootConfig::default().encode().unwrap();
        section[4..8].fill(0xFF);
        assert_eq!(
            BootConfig::decode(&section),
            Err(BootConfigError::BadTickRate(u32::MAX))
        );
    }

    #[test]
    fn error_messages_name_the_limits() {
        assert_eq!(
            BootConfigError::BadTickRate(3).to_string(),
            format!(
                "tick rate 3 Hz must be between 1 and {hz} and divide {hz} (the CCOUNT rate), or the tick drifts",
                hz = crate::layout::CCOUNT_HZ
            )
        );
        assert_eq!(
            BootConfigError::TooLarge.to_string(),
            format!(
                "the boot configuration exceeds {} bytes",
                crate::layout::BOOT_CONFIG_SIZE
            )
        );
    }

    #[test]
    fn rejects_tick_rates_that_drift() {
        for hz in [0, 3, 7, 10_000_001] {
            let config = BootConfig {
                tick_hz: hz,
                ..BootConfig::default()
            };
            assert_eq!(config.encode(), Err(BootConfigError::BadTickRate(hz)));
        }
        let config = BootConfig {
            tick_hz: 1000,
            ..BootConfig::default()
        };
        assert_eq!(config.tick_period_cycles(), 10_000);
    }
}
