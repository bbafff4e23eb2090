//! Xtensa `EXCCAUSE` values (XEA2), decoded to names. The kernel prints these
//! names in fault reports; the host tools and tests match on the same names.

/// An `EXCCAUSE` value with a name. Unknown values keep their number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionCause {
    /// 0: an illegal or undefined instruction.
    IllegalInstruction,
    /// 1: the `syscall` instruction.
    Syscall,
    /// 2: an error while fetching an instruction.
    InstructionFetchError,
    /// 3: an error on a load or store.
    LoadStoreError,
    /// 4: a level-1 interrupt.
    Level1Interrupt,
    /// 5: `movsp` with windowed registers (unused with call0).
    Alloca,
    /// 6: integer division by zero.
    IntegerDivideByZero,
    /// 8: a privileged instruction outside ring 0.
    Privileged,
    /// 9: an unaligned load or store.
    LoadStoreAlignment,
    /// 12..15: a bus error on the processor interface.
    BusError(u32),
    /// 16: instruction TLB miss (no page-table entry could be fetched).
    InstTlbMiss,
    /// 17: more than one ITLB entry matched.
    InstTlbMultiHit,
    /// 18: instruction fetch from a page of a lower ring.
    InstFetchPrivilege,
    /// 20: instruction fetch from a page that is not executable.
    InstFetchProhibited,
    /// 24: data TLB miss (no page-table entry could be fetched).
    LoadStoreTlbMiss,
    /// 25: more than one DTLB entry matched.
    LoadStoreTlbMultiHit,
    /// 26: load or store to a page of a lower ring.
    LoadStorePrivilege,
    /// 28: load from a page that does not allow it (unmapped).
    LoadProhibited,
    /// 29: store to a page that is not writable.
    StoreProhibited,
    /// 32..39: coprocessor n disabled.
    CoprocessorDisabled(u32),
    /// 63, a cause the dc233c never raises (the ISA reserves it): a debug
    /// exception (`break`, `break.n`) taken in user mode, which the kernel
    /// reports like any other fault. The debug vector writes it into
    /// `EXCCAUSE` and joins the user exception path, so one copy of that
    /// path saves both.
    Breakpoint,
    /// Any other value.
    Unknown(u32),
}

impl ExceptionCause {
    /// Decode an `EXCCAUSE` register value.
    pub fn from_raw(raw: u32) -> ExceptionCause {
        match raw {
            0 => Self::IllegalInstruction,
            1 => Self::Syscall,
            2 => Self::InstructionFetchError,
            3 => Self::LoadStoreError,
            4 => Self::Level1Interrupt,
            5 => Self::Alloca,
            6 => Self::IntegerDivideByZero,
            8 => Self::Privileged,
            9 => Self::LoadStoreAlignment,
            12..=15 => Self::BusError(raw),
            16 => Self::InstTlbMiss,
            17 => Self::InstTlbMultiHit,
            18 => Self::InstFetchPrivilege,
            20 => Self::InstFetchProhibited,
            24 => Self::LoadStoreTlbMiss,
            25 => Self::LoadStoreTlbMultiHit,
            26 => Self::LoadStorePrivilege,
            28 => Self::LoadProhibited,
            29 => Self::StoreProhibited,
            32..=39 => Self::CoprocessorDisabled(raw - 32),
            63 => Self::Breakpoint,
            _ => Self::Unknown(raw),
        }
    }

    /// The register value this cause decodes from.
    // Out of line: alone, each match is one table lookup; inlined into a
    // report together, they became one large branch per cause.
    #[inline(never)]
    pub const fn raw(self) -> u32 {
        match self {
            Self::IllegalInstruction => 0,
            Self::Syscall => 1,
            Self::InstructionFetchError => 2,
            Self::LoadStoreError => 3,
            Self::Level1Interrupt => 4,
            Self::Alloca => 5,
            Self::IntegerDivideByZero => 6,
            Self::Privileged => 8,
            Self::LoadStoreAlignment => 9,
            Self::BusError(raw) | Self::Unknown(raw) => raw,
            Self::InstTlbMiss => 16,
            Self::InstTlbMultiHit => 17,
            Self::InstFetchPrivilege => 18,
            Self::InstFetchProhibited => 20,
            Self::LoadStoreTlbMiss => 24,
            Self::LoadStoreTlbMultiHit => 25,
            Self::LoadStorePrivilege => 26,
            Self::LoadProhibited => 28,
            Self::StoreProhibited => 29,
            Self::CoprocessorDisabled(n) => 32 + n,
            Self::Breakpoint => 63,
        }
    }

    /// The name printed in fault reports (the ISA's name for the cause).
    #[inline(never)]
    pub fn name(self) -> &'static str {
        match self {
            Self::IllegalInstruction => "IllegalInstruction",
            Self::Syscall => "Syscall",
            Self::InstructionFetchError => "InstructionFetchError",
            Self::LoadStoreError => "LoadStoreError",
            Self::Level1Interrupt => "Level1Interrupt",
            Self::Alloca => "Alloca",
            Self::IntegerDivideByZero => "IntegerDivideByZero",
            Self::Privileged => "Privileged",
            Self::LoadStoreAlignment => "LoadStoreAlignment",
            Self::BusError(_) => "BusError",
            Self::InstTlbMiss => "InstTLBMiss",
            Self::InstTlbMultiHit => "InstTLBMultiHit",
            Self::InstFetchPrivilege => "InstFetchPrivilege",
            Self::InstFetchProhibited => "InstFetchProhibited",
            Self::LoadStoreTlbMiss => "LoadStoreTLBMiss",
            Self::LoadStoreTlbMultiHit => "LoadStoreTLBMultiHit",
            Self::LoadStorePrivilege => "LoadStorePrivilege",
            Self::LoadProhibited => "LoadProhibited",
            Self::StoreProhibited => "StoreProhibited",
            Self::CoprocessorDisabled(_) => "CoprocessorDisabled",
            Self::Breakpoint => "Breakpoint",
            Self::Unknown(_) => "Unknown",
        }
    }

    /// Whether EXCVADDR means something for this cause: the data address
    /// of a load or store fault, the fetch address of an instruction fault.
    /// For the others (illegal or privileged instructions, division by
    /// zero, breakpoints, ...) the register holds a stale value that a
    /// report must not show.
    pub fn has_address(self) -> bool {
        matches!(
            self,
            Self::InstructionFetchError
                | Self::LoadStoreError
                | Self::LoadStoreAlignment
                | Self::InstTlbMiss
                | Self::InstTlbMultiHit
                | Self::InstFetchPrivilege
                | Self::InstFetchProhibited
                | Self::LoadStoreTlbMiss
                | Self::LoadStoreTlbMultiHit
                | Self::LoadStorePrivilege
                | Self::LoadProhibited
                | Self::StoreProhibited
        )
    }

    /// What the cause means for a person reading a fault report.
    #[inline(never)]
    pub fn explain(self) -> &'static str {
        match self {
            Self::IllegalInstruction => "illegal instruction",
            Self::Syscall => "system call",
            Self::InstructionFetchError | Self::LoadStoreError | Self::BusError(_) => "bus error",
            Self::Level1Interrupt => "interrupt",
            Self::Alloca => "alloca (windowed code on a call0 system)",
            Self::IntegerDivideByZero => "division by zero",
            Self::Privileged => "privileged instruction",
            Self::LoadStoreAlignment => "unaligned load or store",
            Self::InstTlbMiss => "instruction fetch from an address with no page table",
            Self::LoadStoreTlbMiss => "load or store to an address with no page table",
            Self::InstTlbMultiHit | Self::LoadStoreTlbMultiHit => "overlapping TLB entries",
            Self::InstFetchPrivilege | Self::LoadStorePrivilege => {
                "access to a page of a more privileged ring"
            }
            Self::InstFetchProhibited => "instruction fetch from a non-executable or unmapped page",
            Self::LoadProhibited => "load from an unmapped page",
            Self::StoreProhibited => "store to a read-only or unmapped page",
            Self::CoprocessorDisabled(_) => "coprocessor disabled",
            Self::Breakpoint => "break instruction (debug exception)",
            Self::Unknown(_) => "unknown cause",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExceptionCause;

    #[test]
    fn every_value_round_trips() {
        for raw in 0..=64 {
            // (Every 6-bit value, and one beyond.)
            assert_eq!(ExceptionCause::from_raw(raw).raw(), raw);
        }
    }

    #[test]
    fn only_memory_and_fetch_faults_have_an_address() {
        assert!(ExceptionCause::LoadProhibited.has_address());
        assert!(ExceptionCause::InstFetchPrivilege.has_address());
        assert!(!ExceptionCause::Privileged.has_address());
        assert!(!ExceptionCause::IllegalInstruction.has_address());
        assert!(!ExceptionCause::Breakpoint.has_address());
        assert!(!ExceptionCause::IntegerDivideByZero.has_address());
    }

    #[test]
    fn decodes_the_fault_classes_the_kernel_reports() {
        assert_eq!(ExceptionCause::from_raw(0).name(), "IllegalInstruction");
        assert_eq!(ExceptionCause::from_raw(28).name(), "LoadProhibited");
        assert_eq!(ExceptionCause::from_raw(29).name(), "StoreProhibited");
        assert_eq!(ExceptionCause::from_raw(24).name(), "LoadStoreTLBMiss");
        assert_eq!(ExceptionCause::from_raw(6).name(), "IntegerDivideByZero");
        assert_eq!(
            ExceptionCause::from_raw(35),
            ExceptionCause::CoprocessorDisabled(3)
        );
        assert_eq!(ExceptionCause::from_raw(7), ExceptionCause::Unknown(7));
    }
}
