//! The Xtensa (`dc233c`, MMU v3, XEA2) side of the kernel: safe wrappers
//! around the assembly in `asm/`, semihosting console and exit, the MMU
//! switch-over, the CCOMPARE0 timer and TLB probes.

use sotto_abi::ExitCode;

use sotto_abi::layout::{L2_SPAN, MAX_ADDRESS_SPACES, PTE_WINDOW_BASE};

use crate::pagetable::way::{KERNEL_L2_PIN as WAY_KERNEL_L2_PIN, L1_PIN as WAY_L1_PIN};
use crate::pagetable::{PageTables, Pte};

mod raw {
    unsafe extern "C" {
        pub fn sotto_semihost(nr: u32, a: u32, b: u32, c: u32) -> u32;
        pub fn sotto_read_ccount() -> u32;
        pub fn sotto_write_ccompare0(value: u32);
        pub fn sotto_read_interrupt() -> u32;
        pub fn sotto_write_intenable(mask: u32);
        pub fn sotto_write_intset(mask: u32);
        pub fn sotto_read_ps() -> u32;
        pub fn sotto_read_ptevaddr() -> u32;
        pub fn sotto_read_rasid() -> u32;
        pub fn sotto_wait_for_interrupt();
        pub fn sotto_idle_wait() -> !;
        pub fn sotto_mmu_enable(
            ptevaddr: u32,
            rasid: u32,
            l1_pte: u32,
            l1_pin: u32,
            l2_pte: u32,
            l2_pin: u32,
        );
        pub fn sotto_tlb_flush_autorefill();
        pub fn sotto_set_l1_pins(table: *const u32);
        pub fn sotto_unpin_l1(pin: u32);
        pub fn sotto_switch_space(space: *const crate::fastpath::SpaceWords);
        pub fn sotto_enter_user(frame: *mut crate::trap::TrapFrame) -> !;
        pub fn sotto_pdtlb(va: u32) -> u32;
        pub fn sotto_pitlb(va: u32) -> u32;
        pub fn sotto_rdtlb0(entry: u32) -> u32;
        pub fn sotto_rdtlb1(entry: u32) -> u32;
        pub fn sotto_ritlb1(entry: u32) -> u32;
        pub fn sotto_load(address: u32) -> u32;
        pub fn sotto_load_then_pdtlb(address: u32, probe: u32) -> u32;
        pub fn sotto_store(address: u32, value: u32);
        pub fn sotto_illegal();
    }
}

const SEMIHOSTING_EXIT: u32 = 1;
const SEMIHOSTING_WRITE: u32 = 4;
const STDOUT: u32 = 1;

/// Write console bytes through semihosting (QEMU's stdout).
pub fn console_write(bytes: &[u8]) {
    // SAFETY: SYS_WRITE only reads `len` bytes at `buf`, which the slice
    // guarantees are readable; the kernel runs in ring 0 where simcall works.
    unsafe {
        raw::sotto_semihost(
            SEMIHOSTING_WRITE,
            STDOUT,
            bytes.as_ptr() as u32,
            bytes.len() as u32,
        )
    };
}

/// Stop QEMU with `code` as its exit status.
pub fn exit(code: ExitCode) -> ! {
    // SAFETY: SYS_EXIT ends the emulation; it touches no memory.
    unsafe { raw::sotto_semihost(SEMIHOSTING_EXIT, code as u32, 0, 0) };
    #[allow(clippy::empty_loop)]
    loop {}
}

/// QEMU's Xtensa semihosting calls for host files (`target/xtensa/
/// xtensa-semi.c`: a2 = the call, a3..a5 its arguments, a2 = the result,
/// negative on an error).
const SEMIHOSTING_READ: u32 = 3;
const SEMIHOSTING_OPEN: u32 = 5;
const SEMIHOSTING_LSEEK: u32 = 19;
/// `lseek` from the current position.
const SEEK_CUR: u32 = 1;

/// Flags of [`host_open`]. QEMU 7.2 (Debian's) hands the Xtensa
/// semihosting flags to the host's `open` as they are (strace: 0x200
/// arrives as Linux's `O_TRUNC`), where later QEMUs read GDB's File-I/O
/// values: [`host_flags::CREATE_TRUNCATE`] means "create or truncate"
/// to both.
pub mod host_flags {
    /// Read only (0 to both).
    pub const READ: u32 = 0;
    /// Write only (1 to both).
    pub const WRITE: u32 = 1;
    /// Create and truncate: Linux's `O_CREAT` (0x40) and `O_TRUNC`
    /// (0x200, GDB's `O_CREAT`), GDB's `O_TRUNC` (0x400, Linux's
    /// `O_APPEND`: harmless on a file truncated to nothing). GDB has no
    /// 0x40.
    pub const CREATE_TRUNCATE: u32 = 0x40 | 0x200 | 0x400;
}

/// Open the host file `path` (NUL-terminated; relative to the emulator's
/// working directory) with [`host_flags`], a created file getting mode
/// `mode`: its handle, or `None`. (Inlined: only boot code opens
/// files.)
#[inline(always)]
pub fn host_open(path: &[u8], flags: u32, mode: u32) -> Option<u32> {
    if path.last() != Some(&0) {
        return None;
    }
    // SAFETY: SYS_open reads the NUL-terminated path in the slice (its
    // last byte is NUL: checked above) and touches no other memory.
    let handle =
        unsafe { raw::sotto_semihost(SEMIHOSTING_OPEN, path.as_ptr() as u32, flags, mode) };
    (handle as i32 >= 0).then_some(handle)
}

/// A host file call of [`host_file`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostFile {
    /// Append `len` bytes at `address` (`address`, `len`).
    Write,
    /// Read the next `len` bytes to `address` (fewer at the end).
    Read,
    /// Skip the next `len` bytes (`len`; reads past the end see nothing).
    Skip,
}

/// `call` on host file `file` with `address` and `len`: the bytes moved
/// (0 on an error; a skip returns the new position).
///
/// # Safety
///
/// For [`HostFile::Write`], `len` bytes at `address` are mapped readable
/// in ring 0; for [`HostFile::Read`], writable, and nothing else refers
/// to them.
pub unsafe fn host_file(call: HostFile, file: u32, address: u32, len: u32) -> u32 {
    let (nr, b, c) = match call {
        HostFile::Write => (SEMIHOSTING_WRITE, address, len),
        HostFile::Read => (SEMIHOSTING_READ, address, len),
        HostFile::Skip => (SEMIHOSTING_LSEEK, len, SEEK_CUR),
    };
    // SAFETY: SYS_write reads and SYS_read writes at most `len` bytes at
    // `address`, which the caller guarantees; SYS_lseek touches no memory.
    let done = unsafe { raw::sotto_semihost(nr, file, b, c) };
    if (done as i32) < 0 { 0 } else { done }
}

/// The cycle counter (10 MHz on the `sim` machine).
#[inline]
pub fn read_ccount() -> u32 {
    // SAFETY: reads a special register; no memory is touched.
    unsafe { raw::sotto_read_ccount() }
}

/// Program the CCOMPARE0 comparator (this also clears its interrupt).
#[inline]
pub fn write_ccompare0(value: u32) {
    // SAFETY: writes a timer comparator; no memory is touched.
    unsafe { raw::sotto_write_ccompare0(value) }
}

/// Pending interrupts (INTERRUPT register).
#[inline]
pub fn pending_interrupts() -> u32 {
    // SAFETY: reads a special register.
    unsafe { raw::sotto_read_interrupt() }
}

/// Enable exactly the interrupts in `mask`.
/// (Inlined: only boot and self-test code call it, and its assembly is
/// boot code.)
#[inline(always)]
pub fn set_interrupt_enable(mask: u32) {
    // SAFETY: the kernel runs with INTLEVEL 15 outside `wait_for_interrupt`,
    // so enabling changes nothing until the kernel is ready to take them.
    unsafe { raw::sotto_write_intenable(mask) }
}

/// Raise the software interrupts in `mask`.
/// (Inlined: only boot-time self-tests use it, and its assembly is boot
/// code.)
#[inline(always)]
pub fn raise_software_interrupt(mask: u32) {
    // SAFETY: sets pending bits; the interrupt is taken by its vector.
    unsafe { raw::sotto_write_intset(mask) }
}

/// Current PS.
/// (Inlined: only boot-time self-tests use it, and its assembly is boot
/// code.)
#[inline(always)]
pub fn read_ps() -> u32 {
    // SAFETY: reads a special register.
    unsafe { raw::sotto_read_ps() }
}

/// Current PTEVADDR (the window base: reads also show EXCVADDR >> 10 in
/// the low bits, which are dropped).
/// (Inlined, as [`set_interrupt_enable`].)
#[inline(always)]
pub fn read_ptevaddr() -> u32 {
    // SAFETY: reads a special register.
    unsafe { raw::sotto_read_ptevaddr() & 0xFFC0_0000 }
}

/// Current RASID.
/// (Inlined, as [`set_interrupt_enable`].)
#[inline(always)]
pub fn read_rasid() -> u32 {
    // SAFETY: reads a special register.
    unsafe { raw::sotto_read_rasid() }
}

/// Sleep until a level-1 interrupt has been handled.
pub fn wait_for_interrupt() {
    // SAFETY: `waiti 0` unmasks interrupts only while waiting; the trap
    // path saves and restores every register.
    unsafe { raw::sotto_wait_for_interrupt() }
}

/// Idle until an interrupt, which does not return here: the trap entry
/// sees it was taken while idle and takes the express tick committed for
/// it (`prepare_idle`, kernel/src/main.rs) or runs `sotto_idle_interrupt`
/// on the empty kernel stack (kernel/src/services.rs). Nothing may be
/// live on the caller's stack.
pub fn idle() -> ! {
    // SAFETY: `waiti 0` unmasks interrupts only while waiting; the entry
    // abandons this context (the kernel stack starts over), which the
    // caller allows.
    unsafe { raw::sotto_idle_wait() }
}

/// RASID of the boot tables: ring 0 = ASID 1 (fixed by the hardware), and
/// rings 1..3 ASIDs no service ever gets (services use 2.. for ring 1 and
/// 0xFE, 0xFF for rings 2 and 3).
pub const KERNEL_RASID: u32 = 0xFFFE_FD01;
/// The PTE of each page-table window's L1 (indexed by window slot:
/// `(PTEVADDR >> 22) % MAX_ADDRESS_SPACES`, the windows being aligned to
/// that many 4 MiB spans), for the double vector: a space switch does not
/// pin its L1, so the first refill that needs it misses on the L1's own
/// window page, and the vector pins it from here (`vectors.S`). Written
/// before its space first becomes current, then only read; 0: no space.
static mut L1_PINS: [u32; MAX_ADDRESS_SPACES as usize] = [0; MAX_ADDRESS_SPACES as usize];

const _: () = assert!(PTE_WINDOW_BASE.is_multiple_of(MAX_ADDRESS_SPACES * L2_SPAN));

/// Note the L1 of the space whose window is at `ptevaddr` (its PTE
/// `l1_pte`), before that space first becomes current.
/// (Inlined: only boot code calls it.)
///
/// # Safety
///
/// `l1_pte` must map the L1 of the page tables whose window is
/// `ptevaddr`, and those tables must stay in place for as long as a space
/// with that window can be current: the MMU walks whatever it maps.
#[inline(always)]
pub unsafe fn register_l1(ptevaddr: u32, l1_pte: Pte) {
    let slot = (ptevaddr >> 22) % MAX_ADDRESS_SPACES;
    // SAFETY: one core; the double vector only reads the entry of the
    // current window, which this is not yet (or is, with the same value:
    // a space's L1 never moves); the index is in bounds; the caller
    // vouches for the value.
    unsafe {
        core::ptr::addr_of_mut!(L1_PINS)
            .cast::<u32>()
            .add(slot as usize)
            .write_volatile(l1_pte.0)
    };
}

/// Leave the reset mapping for `tables`: pin the L1 and the kernel's L2
/// (the PTE page covering `kernel_va`, for the boot code and the
/// trampoline: no later switch pins it again) in the wired DTLB ways, wire
/// the kernel's code and data megabytes (way 4), drop way 6.
///
/// # Safety
///
/// `tables` must map the running code, the current stack and everything the
/// kernel touches afterwards, as ring 0, and must stay in place (and
/// unchanged except through `map` followed by a TLB flush) for as long as
/// it is active.
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.mod_enable_mmu")
)]
pub unsafe fn enable_mmu(tables: &PageTables<'_>, kernel_va: u32) {
    let ptevaddr = tables.ptevaddr();
    let l1_window_page = tables.pte_vaddr(ptevaddr) & !0xFFF;
    let l1_pte = tables.l1_entry(ptevaddr);
    let l2_window_page = tables.pte_vaddr(kernel_va) & !0xFFF;
    let l2_pte = tables.l1_entry(kernel_va);
    // SAFETY: the boot tables are the caller's, in place for good.
    unsafe { register_l1(ptevaddr, l1_pte) };
    // SAFETY: MISC1 is the kernel's own scratch register, read only by the
    // double vector; the table lives for the life of the system.
    unsafe { raw::sotto_set_l1_pins(core::ptr::addr_of!(L1_PINS).cast::<u32>()) };
    // The trampoline is more than a `call0` away: call through a pointer.
    let enable: unsafe extern "C" fn(u32, u32, u32, u32, u32, u32) =
        core::hint::black_box(raw::sotto_mmu_enable);
    // SAFETY: the caller guarantees the tables map everything the kernel
    // runs on (the trampoline included); the assembly performs the switch
    // from registers only.
    unsafe {
        enable(
            ptevaddr,
            KERNEL_RASID,
            l1_pte.0,
            l1_window_page | WAY_L1_PIN,
            l2_pte.0,
            l2_window_page | WAY_KERNEL_L2_PIN,
        )
    }
}

/// Make another address space current: its window and its ASIDs. Its L1
/// is pinned on demand (see [`register_l1`]). `space`
/// (`fastpath::ThreadEntry::space`) comes from tables built like the boot
/// tables (kernel regions shared), whose L1 was registered.
pub fn switch_space(space: &crate::fastpath::SpaceWords) {
    // SAFETY: every address space maps the kernel exactly as the boot
    // tables do (shared L2 tables), and the kernel's code and data are
    // under wired 1 MiB entries (ASID 1) that no switch touches, so the
    // code and stack in use stay mapped across the switch; the assembly
    // reads `space` before it touches the MMU and no memory meanwhile.
    unsafe { raw::sotto_switch_space(space) }
}

/// Drop the L1 pin (way 7) covering `l1_window_page`, as a space switch
/// leaves it for the next space, so that the next refill through the
/// window pins it again. (Inlined: only boot-time self-tests use it.)
#[inline(always)]
pub fn unpin_l1(l1_window_page: u32) {
    // SAFETY: the next window refill pins the L1 again (double vector);
    // nothing else needs the entry.
    unsafe { raw::sotto_unpin_l1((l1_window_page & !0xFFF) | WAY_L1_PIN) }
}

/// Restore `frame` (a user thread's) and return to user mode.
pub fn enter_user(frame: *mut crate::trap::TrapFrame) -> ! {
    // SAFETY: `frame` points at a thread's saved registers in kernel
    // memory, with a user PS; its address space is the active one.
    unsafe { raw::sotto_enter_user(frame) }
}

/// Drop every autorefilled TLB entry (after a page-table change).
pub fn flush_tlb() {
    // SAFETY: invalidating refillable entries only costs refills later; the
    // wired entries (ways 4, 7 and 8) stay.
    unsafe { raw::sotto_tlb_flush_autorefill() }
}

/// A TLB entry found by a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    /// Way number.
    pub way: u32,
    /// ASID the entry is tagged with.
    pub asid: u32,
    /// PPN and attribute, as a PTE (ring bits zero).
    pub pte: Pte,
}

/// The DTLB entry translating `va`, if the DTLB holds one (no refill).
/// (Inlined: only boot-time self-tests use it, and its assembly is boot
/// code.)
#[inline(always)]
pub fn probe_dtlb(va: u32) -> Option<TlbEntry> {
    // SAFETY: probes read TLB state only.
    let hit = unsafe { raw::sotto_pdtlb(va) };
    if hit & 0x10 == 0 {
        return None;
    }
    let spec = (va & !0xFFF) | (hit & 0xF);
    // SAFETY: as above, for an entry that the probe says exists.
    let (tag, data) = unsafe { (raw::sotto_rdtlb0(spec), raw::sotto_rdtlb1(spec)) };
    Some(TlbEntry {
        way: hit & 0xF,
        asid: tag & 0xFF,
        pte: Pte(data),
    })
}

/// The ITLB entry translating `va`, if the ITLB holds one (no refill).
/// (Inlined: only boot-time self-tests use it, and its assembly is boot
/// code.)
#[inline(always)]
pub fn probe_itlb(va: u32) -> Option<TlbEntry> {
    // SAFETY: probes read TLB state only.
    let hit = unsafe { raw::sotto_pitlb(va) };
    if hit & 0x8 == 0 {
        return None;
    }
    let spec = (va & !0xFFF) | (hit & 0x7);
    // SAFETY: as above.
    let data = unsafe { raw::sotto_ritlb1(spec) };
    Some(TlbEntry {
        way: hit & 0x7,
        asid: 0,
        pte: Pte(data),
    })
}

/// Load a word from any address (faults are the caller's intent).
/// (Inlined: only boot-time self-tests use it, and its assembly is boot
/// code.)
#[inline(always)]
pub fn raw_load(address: u32) -> u32 {
    // SAFETY: the assembly performs the access itself; a fault is taken by
    // the kernel vector and reported, never undefined behaviour in Rust.
    unsafe { raw::sotto_load(address) }
}

/// Load from `address`, then report whether the DTLB holds an entry for
/// `probe`, with no other memory access in between.
/// (Inlined: only boot-time self-tests use it, and its assembly is boot
/// code.)
#[inline(always)]
pub fn load_then_probe_dtlb(address: u32, probe: u32) -> bool {
    // SAFETY: as for `raw_load`; the probe only reads TLB state.
    unsafe { raw::sotto_load_then_pdtlb(address, probe) & 0x10 != 0 }
}

/// Store a word to any address (faults are the caller's intent).
/// (Inlined: only boot-time self-tests use it, and its assembly is boot
/// code.)
#[inline(always)]
pub fn raw_store(address: u32, value: u32) {
    // SAFETY: as for `raw_load`.
    unsafe { raw::sotto_store(address, value) }
}

/// Execute an illegal instruction.
/// (Inlined: only boot-time self-tests use it, and its assembly is boot
/// code.)
#[inline(always)]
pub fn illegal_instruction() {
    // SAFETY: the fault is taken by the kernel vector and reported.
    unsafe { raw::sotto_illegal() }
}

/// Address of the function that executes the illegal instruction.
/// (Inlined: only boot-time self-tests use it, and its assembly is boot
/// code.)
#[inline(always)]
pub fn illegal_instruction_address() -> u32 {
    raw::sotto_illegal as *const () as u32
}

/// Address of the function that performs raw stores.
/// (Inlined: only boot-time self-tests use it, and its assembly is boot
/// code.)
#[inline(always)]
pub fn raw_store_address() -> u32 {
    raw::sotto_store as *const () as u32
}
