//! The trap frame saved by the exception vectors, the constants the assembly
//! needs (generated from here by `cargo xtask`), and the decoding of a trap
//! into what the kernel does about it.

use core::fmt;

use core::mem::{offset_of, size_of};
use sotto_abi::text::{Part, Piece, Text};

use sotto_abi::cap::CAP_SLOTS;
use sotto_abi::{ExceptionCause, Syscall};

use crate::fastpath::{FastWords, fast_op, slot, thread};
use crate::kernel::wait;
use crate::objects;
use crate::objects::endpoint;
use crate::sched::{self, MAX_THREADS};
use crate::timer;
use sotto_abi::layout::{KERNEL_BASE, PAGE_SIZE};

/// Registers saved on every exception, in the layout the vectors use.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapFrame {
    /// Address registers a0..a15 (call0: a0 return address, a1 stack).
    pub a: [u32; 16],
    /// Shift amount register.
    pub sar: u32,
    /// PS at the time of the exception (with EXCM set).
    pub ps: u32,
    /// EPC1: the interrupted or faulting instruction.
    pub pc: u32,
    /// EXCCAUSE.
    pub exccause: u32,
    /// EXCVADDR: the faulting data address for memory faults.
    pub excvaddr: u32,
    /// Zero-overhead loop registers: the compiler uses `loop` with `+loop`.
    pub lbeg: u32,
    /// Loop end.
    pub lend: u32,
    /// Loop count.
    pub lcount: u32,
    /// LITBASE (extended L32R): user-writable, and it redirects every
    /// `l32r`, the kernel's included, so the vectors clear it before their
    /// first `l32r` and keep the thread's value here.
    pub litbase: u32,
    /// SCOMPARE1, the expected value of `s32c1i`: an atomic preempted
    /// between `wsr scompare1` and `s32c1i` must find its own value again.
    pub scompare1: u32,
    /// THREADPTR (a user register).
    pub threadptr: u32,
    /// MAC16 accumulator, low 32 bits.
    pub acclo: u32,
    /// MAC16 accumulator, high 8 bits.
    pub acchi: u32,
    /// MAC16 operand registers M0..M3.
    pub m: [u32; 4],
    /// EXPSTATE, user register 230: `wur`/`rur` reach it from every ring on
    /// `dc233c`, so it is as much a service's own as THREADPTR.
    pub expstate: u32,
    /// Which registers are here ([`kind`]).
    pub kind: u32,
}

impl TrapFrame {
    /// The registers a thread enters with: at `entry`, its stack pointer
    /// at `stack_top`, `arg` in a2; ring 1, user vector, EXCM set until
    /// `rfe`, every interrupt enabled. (Boot code: the loader's and the
    /// restart's, both in the range mapped only while they run.)
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.trap_entry")
    )]
    pub fn entry(entry: u32, stack_top: u32, arg: u32) -> TrapFrame {
        let mut a = [0; 16];
        a[1] = stack_top;
        a[2] = arg;
        TrapFrame {
            a,
            pc: entry,
            ps: ps::UM | (1 << ps::RING_SHIFT) | ps::EXCM,
            ..TrapFrame::default()
        }
    }

    /// Every register zero (an empty service slot's frame).
    pub const ZERO: TrapFrame = TrapFrame {
        a: [0; 16],
        sar: 0,
        ps: 0,
        pc: 0,
        exccause: 0,
        excvaddr: 0,
        lbeg: 0,
        lend: 0,
        lcount: 0,
        litbase: 0,
        scompare1: 0,
        threadptr: 0,
        acclo: 0,
        acchi: 0,
        m: [0; 4],
        expstate: 0,
        kind: 0,
    };
}

/// Bytes the vectors reserve for a frame (kept a multiple of 16).
pub const FRAME_SIZE: u32 = (size_of::<TrapFrame>() as u32 + 15) & !15;

// The kernel vector reserves the frame with two `addi` (immediates
// -128..127): 128 and the rest.
const _: () = assert!(FRAME_SIZE > 128 && FRAME_SIZE <= 255 && FRAME_SIZE.is_multiple_of(16));

/// PS bits.
pub mod ps {
    /// Interrupt level mask (bits 3:0).
    pub const INTLEVEL_MASK: u32 = 0xF;
    /// Exception mode.
    pub const EXCM: u32 = 1 << 4;
    /// User vector mode.
    pub const UM: u32 = 1 << 5;
    /// Ring shift (bits 7:6).
    pub const RING_SHIFT: u32 = 6;
    /// PS of kernel code outside vectors: ring 0, kernel vector, every
    /// maskable interrupt masked (the kernel takes them only while idle).
    pub const KERNEL: u32 = INTLEVEL_MASK;
}

/// Special-register numbers llvm-mc does not know by name, or that the
/// assembly spells as numbers for clarity.
pub mod sr {
    /// Page-table window base.
    pub const PTEVADDR: u32 = 83;
    /// Ring-to-ASID map.
    pub const RASID: u32 = 90;
    /// ITLB way configuration.
    pub const ITLBCFG: u32 = 91;
    /// DTLB way configuration.
    pub const DTLBCFG: u32 = 92;
    /// Atomic operation control.
    pub const ATOMCTL: u32 = 99;
    /// INTSET (write side of INTERRUPT): raises software interrupts.
    pub const INTSET: u32 = 226;
    /// EPC of level 1; EPC2..EPC7 follow it.
    pub const EPC1: u32 = 177;
    /// Scratch of level 2 (free: no level-2 interrupt is used).
    pub const EXCSAVE2: u32 = 210;
    /// Scratch of level 3 (free: no level-3 interrupt is used).
    pub const EXCSAVE3: u32 = 211;
    /// Scratch of level 4 (free: no level-4 interrupt is used).
    pub const EXCSAVE4: u32 = 212;
    /// Literal base (extended L32R option), writable in every ring.
    pub const LITBASE: u32 = 5;
    /// MISC0, a scratch register: the light system-call path keeps the
    /// caller's stack pointer there.
    pub const MISC0: u32 = 244;
    /// MISC1: the address of the L1 pins by page-table window
    /// (`arch::xtensa::L1_PINS`), for the double vector; set once at boot.
    pub const MISC1: u32 = 245;
    /// EPC of the debug level (6).
    pub const EPC6: u32 = 182;
    /// EPS of the debug level (6).
    pub const EPS6: u32 = 198;
}

/// What `sotto_syscall` (the light system-call path) returns in a2 besides
/// a status code (status codes are small numbers).
pub mod light {
    /// Take the full path: the arguments are in the caller's frame.
    pub const SLOW: u32 = 0xFFFF_FFFF;
    /// Run the frame in a3 (the caller's own, or another thread's; 0:
    /// none is ready, idle).
    pub const SWITCH: u32 = 0xFFFF_FFFE;
    /// As `SWITCH`, from an IPC fast path: the caller's caller-saved
    /// registers are not kept.
    pub const HANDOFF: u32 = 0xFFFF_FFFD;
}

/// What a user thread's frame holds (`TrapFrame::kind`).
pub mod kind {
    /// Every register.
    pub const FULL: u32 = 0;
    /// Saved by an IPC fast path: a0, a1, PC, PS, a2..a7 (results),
    /// a12..a15 and THREADPTR; LITBASE zero; the caller-saved rest
    /// (LCOUNT and EXPSTATE included) is not kept (restored as zero).
    pub const IPC: u32 = 1;
}

/// User-register numbers (RUR/WUR) llvm-mc does not know by name.
pub mod ur {
    /// EXPSTATE (exported state), unprivileged on `dc233c`.
    pub const EXPSTATE: u32 = 230;
}

/// Interrupt numbers of the `dc233c` core.
pub mod irq {
    /// CCOMPARE0 timer, level 1.
    pub const TIMER0: u32 = 6;
    /// Software interrupt at level 3 (unused by the kernel).
    pub const SOFTWARE_LEVEL3: u32 = 11;
}

/// Constants shared with the assembly, by name. `cargo xtask build` writes
/// them into `sotto-constants.inc`, so the `.S` files never hard-code a
/// frame offset or a layout number.
pub fn asm_constants() -> &'static [(&'static str, u32)] {
    ASM_CONSTANTS
}

const ASM_CONSTANTS: &[(&str, u32)] = {
    &[
        ("LIGHT_SLOW", light::SLOW),
        ("LIGHT_HANDOFF", light::HANDOFF),
        ("FRAME_KIND", offset_of!(TrapFrame, kind) as u32),
        ("KIND_FULL", kind::FULL),
        ("KIND_IPC", kind::IPC),
        ("SYS_SEM_GIVE", Syscall::SemGive as u32),
        ("SYS_NOTIFY_SIGNAL", Syscall::NotifySignal as u32),
        ("SYS_CYCLES", Syscall::Cycles as u32),
        ("SYS_CALL", Syscall::Call as u32),
        ("SYS_CALL_TIMEOUT", Syscall::CallTimeout as u32),
        ("SYS_REPLY_RECV", Syscall::ReplyRecv as u32),
        ("FAST_GIVE_BIT", fast_op::GIVE.trailing_zeros()),
        ("FAST_SIGNAL_BIT", fast_op::SIGNAL.trailing_zeros()),
        ("FAST_CALL_BIT", fast_op::CALL.trailing_zeros()),
        ("FAST_RECEIVE_BIT", fast_op::RECEIVE.trailing_zeros()),
        ("FAST_GRANT_BIT", fast_op::GRANT.trailing_zeros()),
        ("FAST_DROP_BIT", fast_op::DROP.trailing_zeros()),
        ("CAP_SLOT_SHIFT", crate::cap::layout::SLOT_SHIFT),
        ("CAP_SPACE_SHIFT", crate::cap::layout::SPACE_SHIFT),
        ("CAP_CHILDREN_SHIFT", crate::cap::layout::CHILDREN_SHIFT),
        ("CAP_TAG", crate::cap::layout::TAG),
        ("CAP_PARENT_SPACE", crate::cap::layout::PARENT_SPACE),
        ("CAP_PARENT_SLOT", crate::cap::layout::PARENT_SLOT),
        ("CAP_HAS_PARENT", crate::cap::layout::HAS_PARENT),
        ("CAP_EMPTY", crate::cap::layout::EMPTY),
        (
            "CAP_RECEIVED_SHIFT",
            crate::fastpath::CAP_RECEIVED.trailing_zeros(),
        ),
        ("SYS_CAP_DELETE", Syscall::CapDelete as u32),
        (
            "SEND_CAP_SHIFT",
            crate::fastpath::SEND_CAP_FIELD.trailing_zeros(),
        ),
        (
            "FAST_CURRENT_FRAME",
            offset_of!(FastWords, current_frame) as u32,
        ),
        (
            "FAST_CLOCK_HOLDERS",
            offset_of!(FastWords, clock_holders) as u32,
        ),
        ("FAST_SCHED", offset_of!(FastWords, sched) as u32),
        ("FAST_TICKS", offset_of!(FastWords, ticks) as u32),
        ("FAST_THREADS", offset_of!(FastWords, threads) as u32),
        ("SLOT_OPS", slot::OPS),
        ("SLOT_OBJECT", slot::OBJECT),
        ("SLOT_BADGE", slot::BADGE),
        ("SLOT_RECEIVER_WAIT", slot::RECEIVER_WAIT),
        ("THREAD_REPLY_WAIT", thread::REPLY_WAIT),
        ("THREAD_ALONE", thread::ALONE),
        ("SLOT_SHIFT", slot::SHIFT),
        ("THREAD_FRAME", thread::FRAME),
        ("THREAD_SPACE", thread::SPACE),
        ("THREAD_URGENT", thread::URGENT),
        ("THREAD_SHIFT", thread::SHIFT),
        ("THREAD_WAIT", thread::WAIT),
        ("THREAD_REPLY", thread::REPLY),
        ("THREAD_FAST_ROW", thread::THREAD_FAST_ROW),
        ("WAIT_NONE", wait::NONE),
        ("WAIT_RECEIVER", wait::RECEIVER),
        ("WAIT_REPLY", wait::REPLY),
        ("WAIT_PAYLOAD", wait::PAYLOAD),
        ("NO_THREAD", crate::kernel::NO_THREAD as u32),
        ("EP_CALLERS_LEN", endpoint::CALLERS_LEN),
        ("EP_RECEIVERS_LEN", endpoint::RECEIVERS_LEN),
        ("EP_RECEIVERS_OLDEST", endpoint::RECEIVERS_OLDEST),
        ("EP_LENS", endpoint::LENS),
        ("EP_LEAST_URGENT", endpoint::LEAST_URGENT),
        ("MAX_THREADS_BITS", MAX_THREADS.trailing_zeros()),
        (
            "RECV_SLOT_SHIFT",
            crate::fastpath::RECV_SLOT_FIELD.trailing_zeros(),
        ),
        ("SCHED_CURRENT", sched::layout::CURRENT),
        ("SCHED_ALARM", sched::layout::ALARM),
        ("SCHED_READY_MASK", sched::layout::READY_MASK),
        ("SCHED_PRIORITY", sched::layout::PRIORITY),
        ("SCHED_KIND", sched::layout::KIND),
        ("SCHED_UNTIL", sched::layout::UNTIL),
        ("SCHED_ARMED", sched::layout::ARMED),
        (
            "SCHED_TIMEOUTS_HEAD",
            sched::layout::TIMEOUTS + timer::layout::HEAD,
        ),
        (
            "SCHED_TIMEOUTS_CHANGED",
            sched::layout::TIMEOUTS + timer::layout::CHANGED,
        ),
        (
            "SCHED_TIMEOUTS_VERSION",
            sched::layout::TIMEOUTS + timer::layout::VERSION,
        ),
        (
            "SCHED_TIMEOUT_DEADLINE",
            sched::layout::TIMEOUTS + timer::layout::SLOTS + timer::layout::DEADLINE,
        ),
        (
            "SCHED_TIMEOUT_LINKS",
            sched::layout::TIMEOUTS + timer::layout::SLOTS + timer::layout::LINKS,
        ),
        (
            "SCHED_TIMEOUT_QUEUED",
            sched::layout::TIMEOUTS + timer::layout::SLOTS + timer::layout::QUEUED,
        ),
        ("TIMEOUT_SLOT_SHIFT", timer::layout::SLOT_SHIFT),
        ("KIND_RUNNING", sched::kind::RUNNING as u32),
        ("KIND_READY", sched::kind::READY as u32),
        ("SCHED_HEAD", sched::layout::HEAD),
        ("SCHED_TAIL", sched::layout::TAIL),
        ("SCHED_NEXT", sched::layout::NEXT),
        ("SCHED_ALARM_SLICE_ONLY", sched::layout::ALARM_SLICE_ONLY),
        ("SYS_YIELD", Syscall::Yield as u32),
        ("WAKE_ARMED", crate::kernel::idle_wake::ARMED),
        ("WAKE_NEXT_COMPARE", crate::kernel::idle_wake::NEXT_COMPARE),
        ("WAKE_THREAD", crate::kernel::idle_wake::THREAD),
        ("WAKE_CYCLES_AT", crate::kernel::idle_wake::CYCLES_AT),
        ("IRQ_TIMER0", irq::TIMER0),
        ("KIND_BLOCKED", sched::kind::BLOCKED as u32),
        ("KIND_BLOCKED_UNTIL", sched::kind::BLOCKED_UNTIL as u32),
        ("MSG_PLAIN", crate::fastpath::PLAIN),
        ("MSG_EXPRESS_REPLY", crate::fastpath::EXPRESS_REPLY_INFO),
        ("FAST_VALUE", objects::fast::VALUE),
        ("FAST_MAX", objects::fast::MAX),
        ("FAST_WAITING", objects::fast::WAITING),
        ("CAP_SLOTS", CAP_SLOTS as u32),
        ("LIGHT_SWITCH", light::SWITCH),
        ("SR_MISC0", sr::MISC0),
        ("SR_MISC1", sr::MISC1),
        ("WAY_L1_PIN", crate::pagetable::way::L1_PIN),
        ("FRAME_SIZE", FRAME_SIZE),
        ("FRAME_A0", offset_of!(TrapFrame, a) as u32),
        ("FRAME_SAR", offset_of!(TrapFrame, sar) as u32),
        ("FRAME_PS", offset_of!(TrapFrame, ps) as u32),
        ("FRAME_PC", offset_of!(TrapFrame, pc) as u32),
        ("FRAME_EXCCAUSE", offset_of!(TrapFrame, exccause) as u32),
        ("FRAME_EXCVADDR", offset_of!(TrapFrame, excvaddr) as u32),
        ("FRAME_LBEG", offset_of!(TrapFrame, lbeg) as u32),
        ("FRAME_LEND", offset_of!(TrapFrame, lend) as u32),
        ("FRAME_LCOUNT", offset_of!(TrapFrame, lcount) as u32),
        ("FRAME_LITBASE", offset_of!(TrapFrame, litbase) as u32),
        ("FRAME_SCOMPARE1", offset_of!(TrapFrame, scompare1) as u32),
        ("FRAME_THREADPTR", offset_of!(TrapFrame, threadptr) as u32),
        ("FRAME_ACCLO", offset_of!(TrapFrame, acclo) as u32),
        ("FRAME_ACCHI", offset_of!(TrapFrame, acchi) as u32),
        ("FRAME_M0", offset_of!(TrapFrame, m) as u32),
        ("FRAME_M1", offset_of!(TrapFrame, m) as u32 + 4),
        ("FRAME_M2", offset_of!(TrapFrame, m) as u32 + 8),
        ("FRAME_M3", offset_of!(TrapFrame, m) as u32 + 12),
        ("FRAME_EXPSTATE", offset_of!(TrapFrame, expstate) as u32),
        ("UR_EXPSTATE", ur::EXPSTATE),
        ("PS_EXCM", ps::EXCM),
        ("PS_UM", ps::UM),
        ("PS_KERNEL", ps::KERNEL),
        ("SR_PTEVADDR", sr::PTEVADDR),
        ("SR_RASID", sr::RASID),
        ("SR_ITLBCFG", sr::ITLBCFG),
        ("SR_DTLBCFG", sr::DTLBCFG),
        ("SR_ATOMCTL", sr::ATOMCTL),
        ("SR_EXCSAVE2", sr::EXCSAVE2),
        ("SR_EPC1", sr::EPC1),
        ("SR_INTSET", sr::INTSET),
        ("SR_EXCSAVE3", sr::EXCSAVE3),
        ("SR_EXCSAVE4", sr::EXCSAVE4),
        ("SR_LITBASE", sr::LITBASE),
        ("SR_EPC6", sr::EPC6),
        ("SR_EPS6", sr::EPS6),
        ("EXCCAUSE_BREAKPOINT", ExceptionCause::Breakpoint.raw()),
        ("EXCCAUSE_SYSCALL", ExceptionCause::Syscall.raw()),
        ("EXCCAUSE_ITLB_MISS", ExceptionCause::InstTlbMiss.raw()),
        ("EXCCAUSE_DTLB_MISS", ExceptionCause::LoadStoreTlbMiss.raw()),
        (
            "DTLB_MINUS_ITLB_MISS",
            ExceptionCause::LoadStoreTlbMiss.raw() - ExceptionCause::InstTlbMiss.raw(),
        ),
        ("PS_UM_BIT", ps::UM.trailing_zeros()),
        ("KERNEL_BASE", KERNEL_BASE),
        ("KERNEL_DATA_BASE", sotto_abi::layout::KERNEL_DATA_BASE),
        ("PAGE_SIZE", PAGE_SIZE),
        ("MAX_ADDRESS_SPACES", sotto_abi::layout::MAX_ADDRESS_SPACES),
        ("ATOMCTL_VALUE", 0x29),
    ]
};

/// Render [`asm_constants`] as an assembler include file.
pub fn asm_constants_include() -> impl fmt::Display {
    struct Include;
    impl fmt::Display for Include {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            writeln!(
                f,
                "# Generated by `cargo xtask build` from kernel/src/trap.rs. Do not edit."
            )?;
            for (name, value) in asm_constants() {
                writeln!(f, ".set {name}, {value:#x}")?;
            }
            // llvm-mc takes no expressions as offsets: one name per register.
            for register in 0..16u32 {
                let offset = offset_of!(TrapFrame, a) as u32 + 4 * register;
                writeln!(f, ".set FRAME_A{register}, {offset:#x}")?;
            }
            Ok(())
        }
    }
    Include
}

/// What a trap taken while the kernel itself was running means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelTrap {
    /// A level-1 interrupt (taken only while idle).
    Interrupt,
    /// Anything else is a kernel bug (or a fault self-test): fatal.
    Fault(FaultReport),
}

/// Decide what a trap frame taken from kernel mode is.
#[cfg_attr(target_arch = "xtensa", optimize(size))]
pub fn classify_kernel_trap(frame: &TrapFrame) -> KernelTrap {
    match ExceptionCause::from_raw(frame.exccause) {
        ExceptionCause::Level1Interrupt => KernelTrap::Interrupt,
        cause => KernelTrap::Fault(FaultReport {
            cause,
            pc: frame.pc,
            address: frame.excvaddr,
            // The PS the faulting code ran with: the vector set EXCM.
            ps: frame.ps & !ps::EXCM,
        }),
    }
}

/// The one line printed for a fault: decoded cause, PC, address, PS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultReport {
    /// Decoded EXCCAUSE.
    pub cause: ExceptionCause,
    /// EPC1.
    pub pc: u32,
    /// EXCVADDR (meaningful for memory faults).
    pub address: u32,
    /// PS of the faulting code (EXCM as it was before the exception).
    pub ps: u32,
}

impl FaultReport {
    /// The report as the kernel prints it, its values kept in `args`.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn text<'a>(&self, args: &'a mut [Piece<'static>; 6]) -> Text<'a> {
        *args = [
            Piece::Dec(u64::from(self.cause.raw())),
            Piece::Str(self.cause.name()),
            Piece::Str(self.cause.explain()),
            Piece::Hex(self.pc),
            Piece::Hex(self.address),
            Piece::Hex(self.ps),
        ];
        Text {
            parts: &[
                Part::Str("EXCCAUSE="),
                Part::Arg,
                Part::Str(" ("),
                Part::Arg,
                Part::Str(": "),
                Part::Arg,
                Part::Str(") EPC1="),
                Part::Arg,
                Part::Str(" EXCVADDR="),
                Part::Arg,
                Part::Str(" PS="),
                Part::Arg,
            ],
            args,
        }
    }
}

impl fmt::Display for FaultReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.text(&mut [Piece::Str(""); 6]).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::{
        KernelTrap, TrapFrame, asm_constants, asm_constants_include, classify_kernel_trap,
    };

    #[test]
    fn frame_layout_is_what_the_vectors_assume() {
        let names: Vec<&str> = asm_constants().iter().map(|(name, _)| *name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "duplicate constant name");
        let text = asm_constants_include().to_string();
        assert!(text.contains(".set FRAME_PC, 0x48\n"), "{text}");
        assert!(text.contains(".set SR_PTEVADDR, 0x53\n"));
    }

    #[test]
    fn fault_reports_name_the_cause() {
        let frame = TrapFrame {
            exccause: 29,
            pc: 0x0010_1234,
            excvaddr: 0x0010_0400,
            ps: 0x1f,
            ..TrapFrame::default()
        };
        // The saved PS has EXCM set by the vector; the report shows the
        // faulting code's PS.
        let KernelTrap::Fault(report) = classify_kernel_trap(&frame) else {
            panic!("a store fault is a fault")
        };
        assert_eq!(
            report.to_string(),
            "EXCCAUSE=29 (StoreProhibited: store to a read-only or unmapped page) EPC1=0x00101234 EXCVADDR=0x00100400 PS=0x0000000f"
        );
        let interrupt = TrapFrame {
            exccause: 4,
            ..TrapFrame::default()
        };
        assert_eq!(classify_kernel_trap(&interrupt), KernelTrap::Interrupt);
    }
}
