//! The boot configuration: a small postcard blob in its own ELF section,
//! written by `cargo xtask` after linking, read by the kernel at boot.
//!
//! Patching a section instead of recompiling lets every integration test boot
//! the same kernel binary with its own configuration.

use serde::{Deserialize, Serialize};

use crate::layout::{BOOT_CONFIG_SIZE, CCOUNT_HZ};
use crate::section::{self, SectionError};
use crate::text::{Message, Part};

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
}

impl SelfTest {
    /// Every self-test, for the command line and for tests.
    pub const ALL: [SelfTest; 8] = [
        SelfTest::None,
        SelfTest::PageTables,
        SelfTest::IllegalInstruction,
        SelfTest::UnmappedLoad,
        SelfTest::UnmappedFarLoad,
        SelfTest::StoreToText,
        SelfTest::KernelStackOverflow,
        SelfTest::UnexpectedInterrupt,
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
    /// The postcard payload is cut short or malformed.
    Malformed,
    /// The encoded configuration does not fit in the section.
    TooLarge,
    /// `tick_hz` is zero, above the CCOUNT rate, or does not divide it (the
    /// tick would drift).
    BadTickRate(u32),
}

impl BootConfigError {
    /// What went wrong, as the kernel prints it.
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
        }
    }
}

impl BootConfig {
    /// CCOUNT cycles between two ticks.
    pub fn tick_period_cycles(&self) -> u32 {
        CCOUNT_HZ / self.tick_hz
    }

    /// Check the values the kernel relies on.
    pub fn validate(&self) -> Result<(), BootConfigError> {
        if self.tick_hz == 0 || self.tick_hz > CCOUNT_HZ || !CCOUNT_HZ.is_multiple_of(self.tick_hz)
        {
            return Err(BootConfigError::BadTickRate(self.tick_hz));
        }
        Ok(())
    }

    /// Encode into the fixed-size section contents.
    pub fn encode(&self) -> Result<[u8; BOOT_CONFIG_SIZE], BootConfigError> {
        self.validate()?;
        section::encode(BOOT_MAGIC, self).map_err(BootConfigError::from)
    }

    /// Decode and validate the section contents.
    pub fn decode(bytes: &[u8]) -> Result<BootConfig, BootConfigError> {
        let config: BootConfig = section::decode(BOOT_MAGIC, bytes)?;
        config.validate()?;
        Ok(config)
    }
}

impl From<SectionError> for BootConfigError {
    fn from(error: SectionError) -> Self {
        match error {
            SectionError::NotWritten => BootConfigError::NotWritten,
            SectionError::Malformed => BootConfigError::Malformed,
            SectionError::TooLarge => BootConfigError::TooLarge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BootConfig, BootConfigError, SelfTest};

    #[test]
    fn round_trips_every_self_test() {
        for self_test in SelfTest::ALL {
            let config = BootConfig {
                tick_hz: 2000,
                run_ticks: 7,
                report_every: 3,
                self_test,
            };
            let section = config.encode().unwrap();
            assert_eq!(BootConfig::decode(&section), Ok(config));
            assert_eq!(SelfTest::from_name(self_test.name()), Some(self_test));
        }
    }

    #[test]
    fn rejects_unwritten_and_garbage_sections() {
        assert_eq!(
            BootConfig::decode(&[0u8; 256]),
            Err(BootConfigError::NotWritten)
        );
        let mut section = BootConfig::default().encode().unwrap();
        section[4] = 0xFF;
        section[5] = 0xFF;
        section[6] = 0xFF;
        section[7] = 0xFF;
        section[8] = 0xFF;
        assert_eq!(
            BootConfig::decode(&section),
            Err(BootConfigError::Malformed)
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
