//! Exit statuses of a Sotto image: QEMU exits with them (semihosting
//! `SYS_EXIT`), so `cargo xtask run` and the integration tests read why a run
//! ended from the process status alone.

/// Why the system stopped. The discriminant is QEMU's exit status.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Clean shutdown: everything that was asked for ran.
    Success = 0,
    /// A kernel self-test found a wrong result.
    SelfTestFailed = 2,
    /// The kernel took an exception on itself (a kernel bug, or a fault
    /// provoked on purpose by a fault self-test).
    KernelFault = 3,
    /// An exception while already handling one (kernel stack overflow,
    /// fault inside a vector).
    DoubleException = 4,
    /// An interrupt or exception vector the kernel does not use was taken.
    UnexpectedVector = 5,
    /// A Rust panic inside the kernel.
    KernelPanic = 6,
    /// LLVM's trap lowering (`abort`) was reached.
    Abort = 7,
    /// The boot configuration blob in the image could not be decoded.
    BadBootConfig = 8,
    /// Every service ended, and at least one panicked.
    ServicePanicked = 9,
    /// Every service ended, and at least one exited with a non-zero status.
    ServiceFailed = 10,
    /// The services in the image could not be loaded.
    BadManifest = 11,
    /// A supervisor faulted: nothing is left to restart what it watches.
    SupervisorFaulted = 12,
}

impl ExitCode {
    /// Every exit code, for decoding and for tests.
    pub const ALL: [ExitCode; 12] = [
        ExitCode::Success,
        ExitCode::SelfTestFailed,
        ExitCode::KernelFault,
        ExitCode::DoubleException,
        ExitCode::UnexpectedVector,
        ExitCode::KernelPanic,
        ExitCode::Abort,
        ExitCode::BadBootConfig,
        ExitCode::ServicePanicked,
        ExitCode::ServiceFailed,
        ExitCode::BadManifest,
        ExitCode::SupervisorFaulted,
    ];

    /// The exit code with this process status, if it is one of ours.
    pub fn from_status(status: i32) -> Option<ExitCode> {
        Self::ALL.into_iter().find(|code| *code as i32 == status)
    }

    /// A short human description, used by `cargo xtask run`.
    pub fn describe(self) -> &'static str {
        match self {
            ExitCode::Success => "clean shutdown",
            ExitCode::SelfTestFailed => "a kernel self-test failed",
            ExitCode::KernelFault => "kernel fault",
            ExitCode::DoubleException => "double exception in the kernel",
            ExitCode::UnexpectedVector => "unexpected interrupt or exception vector",
            ExitCode::KernelPanic => "kernel panic",
            ExitCode::Abort => "abort (LLVM trap)",
            ExitCode::BadBootConfig => "the boot configuration in the image is unreadable",
            ExitCode::ServicePanicked => "a service panicked",
            ExitCode::ServiceFailed => "a service exited with a non-zero status",
            ExitCode::BadManifest => "the services in the image could not be loaded",
            ExitCode::SupervisorFaulted => "a supervisor faulted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn statuses_are_distinct_and_round_trip() {
        for (i, a) in ExitCode::ALL.iter().enumerate() {
            assert_eq!(ExitCode::from_status(*a as i32), Some(*a));
            for b in &ExitCode::ALL[i + 1..] {
                assert_ne!(*a as u8, *b as u8, "{a:?} and {b:?} share a status");
            }
        }
        assert_eq!(ExitCode::from_status(1), None);
        assert_eq!(ExitCode::from_status(255), None);
    }
}
