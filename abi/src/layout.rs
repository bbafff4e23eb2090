//! Physical and virtual memory layout of the emulated DSP (QEMU `sim`
//! machine, `dc233c` core) and of a Sotto image.
//!
//! The kernel's linker script, the page-table builder, the assembly
//! constants and the host tools all derive from these numbers.

/// MMU page size (the autorefill ways hold 4 KiB pages).
pub const PAGE_SIZE: u32 = 4096;
/// Bytes mapped by one second-level page table (1024 PTEs of 4 KiB pages).
pub const L2_SPAN: u32 = 4 << 20;
/// Start of RAM on the `sim` machine.
pub const RAM_BASE: u32 = 0;
/// RAM QEMU gives the `sim` machine by default (128 MiB).
pub const RAM_SIZE: u32 = 128 << 20;
/// Where the kernel image is linked and loaded (virtual = physical).
pub const KERNEL_BASE: u32 = 0x0010_0000;
/// Where the kernel's boot-only code (`.boot.text`: the loader, the
/// manifest reader; and the exit code, mapped again at shutdown) is
/// linked: below [`KERNEL_BASE`], outside the first megabyte the ITLB
/// pins for the kernel's code, so that once boot is over unmapping its
/// pages leaves nothing to run it through; and within `call0` reach of
/// that code (it calls the kernel's functions directly).
pub const BOOT_TEXT_BASE: u32 = KERNEL_BASE - BOOT_TEXT_LIMIT;
/// Most bytes of boot-only code (with its literals).
pub const BOOT_TEXT_LIMIT: u32 = 64 << 10;
/// The page holding the MMU switch-over code, outside the kernel's first
/// megabyte (which the switch-over pins in the ITLB).
pub const TRAMPOLINE_BASE: u32 = 0x0020_0000;
/// The kernel's stacks, data and bss: a megabyte of their own, mapped at
/// boot by one wired 1 MiB DTLB entry (way 4, ring 0, read-write), as the
/// first megabyte (code and read-only data) is by another (read-only), so
/// the kernel's data accesses never take a TLB refill nor evict a
/// service's entries, and no address space switch has a kernel page to
/// pin. The stacks come first: the unmapped guard page under the boot
/// stack is the page below this megabyte.
pub const KERNEL_DATA_BASE: u32 = 0x0030_0000;
/// Of the kernel's first megabyte (from [`KERNEL_BASE`] to
/// [`TRAMPOLINE_BASE`]), what is kept for the kernel itself: code,
/// read-only data, the boot configuration and manifest (its data and
/// stacks are in [`KERNEL_DATA_BASE`]'s megabyte). The integration tests
/// check a built kernel stays within it.
pub const KERNEL_OWN_RESERVE: u32 = 256 << 10;
/// What the rest of the first megabyte holds: the services' code and data
/// and the memory objects' initial contents, packed into the kernel image.
/// `cargo xtask build` refuses a system that needs more.
pub const IMAGE_PAYLOAD_BUDGET: u32 = TRAMPOLINE_BASE - KERNEL_BASE - KERNEL_OWN_RESERVE;
/// The kernel (code, data, stacks, boot page tables) must end below this:
/// all of it sits under one L2 table, whose PTE page the boot pins in the
/// DTLB for the boot code and the MMU trampoline (once booted, the kernel
/// runs under its wired 1 MiB entries).
pub const KERNEL_LIMIT: u32 = L2_SPAN;
/// Base of the page-table windows (`PTEVADDR`). Address space `n` uses the
/// 4 MiB window at `PTE_WINDOW_BASE + n * L2_SPAN`, so refilled window
/// entries of different address spaces never alias (as in Zephyr).
pub const PTE_WINDOW_BASE: u32 = 0xC000_0000;
/// Most address spaces (and so page-table windows) an image may have.
pub const MAX_ADDRESS_SPACES: u32 = 64;
/// Physical memory handed out to services (segments, stacks, page tables):
/// from the end of the kernel's 4 MiB. The kernel maps it ring 0 (identity)
/// in every address space so it can zero and fill frames.
pub const USER_POOL_BASE: u32 = KERNEL_LIMIT;
/// Size of the service memory pool.
pub const USER_POOL_SIZE: u32 = 8 << 20;
/// Where every service's code starts (each has its own address space, so
/// all are linked at the same address).
pub const USER_TEXT_BASE: u32 = 0x4000_0000;
/// Highest address a service's code and data may reach.
pub const USER_IMAGE_LIMIT: u32 = 0x4040_0000;
/// Top of every service's (main thread's) stack; an unmapped guard page
/// sits under the stack's lowest page. A service's further threads get
/// their stacks below it, in declaration order, each under the guard page
/// of the one above ([`thread_stack_top`]), all above [`USER_STACK_FLOOR`].
pub const USER_STACK_TOP: u32 = 0x6000_0000;
/// Lowest address a service's stacks and their guard pages may use (above
/// the IPC buffer, in the same 4 MiB table).
pub const USER_STACK_FLOOR: u32 = IPC_BUFFER_VA + PAGE_SIZE;

/// The top of the next thread's stack, under a stack whose lowest address
/// is `bottom_above`: one unmapped guard page lower.
#[inline(always)]
pub const fn thread_stack_top(bottom_above: u32) -> u32 {
    bottom_above.saturating_sub(PAGE_SIZE)
}
/// Each service thread's IPC buffer (one page, RW): message payloads are
/// copied between buffers by the kernel.
pub const IPC_BUFFER_VA: u32 = 0x5FC0_0000;
/// Memory regions (heaps, shared buffers) are mapped in this window.
pub const REGION_WINDOW: (u32, u32) = (0x5000_0000, 0x5F00_0000);
/// Second-level page tables each service gets: its image, its stack and
/// IPC buffer, and two for memory regions.
pub const SERVICE_L2_TABLES: u32 = 4;
/// Kernel-owned pages each service costs besides its image and stack: its
/// L1 and L2 tables and its IPC buffer.
pub const SERVICE_OVERHEAD_PAGES: u32 = 1 + SERVICE_L2_TABLES + 1;
/// The ring services run in.
pub const USER_RING: u8 = 1;
/// ASID of the kernel (ring 0; fixed by the hardware).
pub const KERNEL_ASID: u8 = 1;
/// ASID of service `n` is `FIRST_SERVICE_ASID + n`.
pub const FIRST_SERVICE_ASID: u8 = 2;

/// CCOUNT frequency of QEMU's `dc233c` on the `sim` machine.
pub const CCOUNT_HZ: u32 = 10_000_000;
/// Guest instructions per CCOUNT tick under `-icount shift=0` (1 ns each).
pub const INSTRUCTIONS_PER_CCOUNT: u32 = 100;
/// How far back an `l32r` can reach for its literal.
pub const L32R_REACH: u32 = 256 << 10;
/// ELF section holding the boot configuration blob.
pub const BOOT_CONFIG_SECTION: &str = ".sotto.boot";
/// Size of the boot configuration section; xtask patches it in place.
pub const BOOT_CONFIG_SIZE: usize = 256;

/// The `PTEVADDR` value of page-table window `slot`.
pub const fn pte_window(slot: u32) -> u32 {
    PTE_WINDOW_BASE + slot * L2_SPAN
}

/// Round `value` up to the next page boundary (saturating at the top).
pub const fn page_align_up(value: u32) -> u32 {
    match value.checked_add(PAGE_SIZE - 1) {
        Some(v) => v & !(PAGE_SIZE - 1),
        None => !(PAGE_SIZE - 1),
    }
}

/// Whether `value` is a multiple of the page size.
pub const fn is_page_aligned(value: u32) -> bool {
    value.is_multiple_of(PAGE_SIZE)
}

#[cfg(test)]
mod tests {
    use super::{
        KERNEL_BASE, KERNEL_LIMIT, MAX_ADDRESS_SPACES, PTE_WINDOW_BASE, RAM_SIZE, is_page_aligned,
        page_align_up, pte_window,
    };

    #[test]
    fn windows_are_aligned_and_clear_of_ram() {
        for slot in 0..MAX_ADDRESS_SPACES {
            let window = pte_window(slot);
            assert_eq!(window % (4 << 20), 0);
            assert!(window >= RAM_SIZE);
            assert!(window.checked_add((4 << 20) - 1).is_some());
        }
        assert_eq!(pte_window(0), PTE_WINDOW_BASE);
    }

    #[test]
    fn kernel_fits_under_one_l2_table() {
        const { assert!(KERNEL_BASE < KERNEL_LIMIT) };
        const {
            assert!(
                super::IMAGE_PAYLOAD_BUDGET + super::KERNEL_OWN_RESERVE
                    == super::TRAMPOLINE_BASE - KERNEL_BASE
            )
        };
        assert!(is_page_aligned(KERNEL_BASE));
    }

    #[test]
    fn service_regions_are_clear_of_kernel_and_windows() {
        use super::{
            USER_IMAGE_LIMIT, USER_POOL_BASE, USER_POOL_SIZE, USER_STACK_TOP, USER_TEXT_BASE,
        };
        const { assert!(USER_POOL_BASE + USER_POOL_SIZE <= RAM_SIZE) };
        const { assert!(USER_TEXT_BASE >= RAM_SIZE && USER_IMAGE_LIMIT < USER_STACK_TOP) };
        const { assert!(USER_STACK_TOP <= PTE_WINDOW_BASE) };
    }

    #[test]
    fn page_rounding() {
        assert_eq!(page_align_up(0), 0);
        assert_eq!(page_align_up(1), 4096);
        assert_eq!(page_align_up(4096), 4096);
        assert_eq!(page_align_up(u32::MAX), 0xFFFF_F000);
    }
}
