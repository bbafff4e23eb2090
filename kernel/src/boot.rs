//! Boot steps of the kernel binary: reading the boot configuration from its
//! section, and building and activating the kernel's page tables from the
//! linker's section boundaries.

use core::ptr::addr_of_mut;

use sotto_abi::layout::{
    BOOT_CONFIG_SIZE, KERNEL_BASE, L2_SPAN, USER_POOL_BASE, USER_POOL_SIZE, pte_window,
};
use sotto_abi::{BootConfig, ExitCode, boot::BootConfigError};
use sotto_kernel::arch::xtensa as arch;
use sotto_kernel::console::Piece;
use sotto_kernel::kprintln;
use sotto_kernel::pagetable::{Access, CacheMode, Mapping, PageTables, Table};

/// Written by `cargo xtask build` after linking (see `sotto_image`).
#[unsafe(link_section = ".sotto.boot")]
#[used]
static BOOT_CONFIG: [u8; BOOT_CONFIG_SIZE] = [0; BOOT_CONFIG_SIZE];

/// Decode the boot configuration the image carries.
#[inline(never)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.boot_config")
)]
pub fn config() -> Result<BootConfig, BootConfigError> {
    let mut section = [0u8; BOOT_CONFIG_SIZE];
    for (i, byte) in section.iter_mut().enumerate() {
        // SAFETY: reading within the static; volatile because xtask patches
        // the bytes after compilation, so the compiler must not assume zeros.
        *byte = unsafe { core::ptr::read_volatile(BOOT_CONFIG.as_ptr().add(i)) };
    }
    BootConfig::decode(&section)
}

unsafe extern "C" {
    static _text_start: u8;
    static _text_end: u8;
    static _rodata_start: u8;
    static _rodata_end: u8;
    static _data_start: u8;
    static _data_end: u8;
    static _stack_guard: u8;
    static _boot_stack_bottom: u8;
    static _stacks_end: u8;
    static _trampoline_start: u8;
    static _trampoline_end: u8;
    static _boot_text_start: u8;
    static _boot_text_end: u8;
}

/// Section boundaries from the linker script (page aligned except the ends
/// of text and rodata, which are rounded up).
#[derive(Clone, Copy)]
pub struct KernelLayout {
    /// Vectors and code.
    pub text: (u32, u32),
    /// Read-only data and the boot configuration.
    pub rodata: (u32, u32),
    /// Data and .bss (page tables included).
    pub data: (u32, u32),
    /// The unmapped guard page under the stack.
    pub stack_guard: u32,
    /// Kernel and emergency stacks.
    pub stacks: (u32, u32),
    /// The MMU switch-over code.
    pub trampoline: (u32, u32),
    /// Code run only at boot, unmapped after it (page aligned).
    pub boot_text: (u32, u32),
}

impl KernelLayout {
    /// Read the linker's symbols.
    pub fn get() -> KernelLayout {
        let address = |symbol: &u8| symbol as *const u8 as u32;
        let up = sotto_abi::layout::page_align_up;
        // SAFETY: only the addresses of the linker symbols are taken.
        unsafe {
            KernelLayout {
                text: (address(&_text_start), up(address(&_text_end))),
                rodata: (address(&_rodata_start), up(address(&_rodata_end))),
                data: (address(&_data_start), address(&_data_end)),
                stack_guard: address(&_stack_guard),
                stacks: (address(&_boot_stack_bottom), address(&_stacks_end)),
                trampoline: (address(&_trampoline_start), address(&_trampoline_end)),
                boot_text: (address(&_boot_text_start), address(&_boot_text_end)),
            }
        }
    }
}

/// L2 tables: the kernel's 4 MiB, the service frame pool (shared by every
/// address space), plus room for the page-table self-test.
const L2_POOL: usize = 2 + (USER_POOL_SIZE / L2_SPAN) as usize + 2;

#[repr(C, align(4096))]
struct TableMemory {
    l1: Table,
    pool: [Table; L2_POOL],
}

static mut TABLE_MEMORY: TableMemory = TableMemory {
    l1: [0; 1024],
    pool: [[0; 1024]; L2_POOL],
};

/// Build the kernel's page tables and switch the MMU to them. Called once.
#[inline(never)]
#[optimize(size)]
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_boot.boot_page_tables")
)]
pub fn page_tables() -> PageTables<'static> {
    let layout = KernelLayout::get();
    // SAFETY: called once at boot, before anything else refers to the table
    // memory; from here on only the returned `PageTables` owns it.
    let memory = unsafe { &mut *addr_of_mut!(TABLE_MEMORY) };
    let l1_pa = memory.l1.as_ptr() as u32;
    let pool_pa = memory.pool.as_ptr() as u32;
    let built = PageTables::new(
        &mut memory.l1,
        l1_pa,
        &mut memory.pool,
        pool_pa,
        pte_window(0),
    )
    .and_then(|mut tables| {
        let kernel = |(start, end): (u32, u32), access| Mapping {
            va: start,
            pa: start,
            len: end - start,
            ring: 0,
            access,
            cache: CacheMode::WriteBack,
        };
        tables.map(kernel(layout.text, Access::ReadExecute))?;
        tables.map(kernel(layout.rodata, Access::Read))?;
        tables.map(kernel(layout.data, Access::ReadWrite))?;
        tables.map(kernel(layout.stacks, Access::ReadWrite))?;
        tables.map(kernel(layout.trampoline, Access::ReadExecute))?;
        // Until `run` unmaps it once boot is over.
        tables.map(kernel(layout.boot_text, Access::ReadExecute))?;
        // The frame pool, so the kernel can zero and fill service memory.
        tables.map(kernel(
            (USER_POOL_BASE, USER_POOL_BASE + USER_POOL_SIZE),
            Access::ReadWrite,
        ))?;
        Ok(tables)
    });
    let tables = match built {
        Ok(tables) => tables,
        Err(error) => {
            kprintln!("BOOT FAILED: kernel page tables: ", &error.message());
            arch::exit(ExitCode::KernelPanic);
        }
    };
    // SAFETY: the tables map the kernel's text, data and stacks (all of the
    // kernel, as ring 0) and live in a static for the life of the system.
    unsafe { arch::enable_mmu(&tables, KERNEL_BASE) };
    kprintln!(
        "mmu: text ",
        Piece::Hex(layout.text.0),
        "..",
        Piece::Hex(layout.text.1),
        " RX, rodata ..",
        Piece::Hex(layout.rodata.1),
        " R, guard ",
        Piece::Hex(layout.stack_guard),
        ", stacks ..",
        Piece::Hex(layout.stacks.1),
        ", data ..",
        Piece::Hex(layout.data.1),
        " RW (ring 0, write-back; DTLB way 4 wires the code and data megabytes)"
    );
    tables
}
