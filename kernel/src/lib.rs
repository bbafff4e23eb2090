//! Sotto: a small capability microkernel for Xtensa audio DSPs.
//!
//! The kernel does three things only: MMU page tables, timers and IPC.
//! Schedulers for audio (LL, DP) and the audio pipeline run as user-space
//! services that hold capabilities.
//!
//! # Design principles
//!
//! 1. **Portable logic is plain Rust, tested on the host.** Page tables,
//!    timer arithmetic, trap decoding and console formatting live here and
//!    run under `cargo test`; everything Xtensa-specific sits in [`arch`]
//!    (Rust plus `.S` files), with a host model of the same interface.
//! 2. **Nothing a service does makes the kernel panic.** Every argument is
//!    checked; a bad one is an error code, a fault stops only that service.
//! 3. **Explicit memory attributes.** Every mapping names its ring, rights
//!    and cache mode; unmapped entries are illegal PTEs, never zero.
//! 4. **One source of truth.** Layout and ABI numbers come from
//!    `sotto-abi`; the assembly's constants are generated from [`trap`].
//! 5. **Deterministic by construction.** The tick keeps its phase, so runs
//!    under QEMU `-icount` repeat to the instruction.
//! 6. **Unsafe is rare and explained.** `unsafe_op_in_unsafe_fn` is
//!    forbidden and every `unsafe` block carries a `SAFETY:` comment.
//! 7. **Fast paths are decided in Rust, taken in assembly.** The system-call
//!    entry saves nothing until the thread changes; what it may do on its
//!    own (give, signal, cycles, the express call, reply and yield) is
//!    decided by [`fastpath`] (`Kernel::express`, `Kernel::fast_slot`),
//!    tested on the host against the full path, and the entry only follows
//!    fixed-width tables that code keeps, whose offsets it generates. Every
//!    check of the full path still happens. The idle timer interrupt's
//!    express tick is decided and committed by the idle loop
//!    (`Kernel::prepare_express`, `Kernel::commit_express`); the entry
//!    only sets the next alarm and runs the woken thread.
//! 8. **Layouts the assembly reads are pinned.** Anything the entry touches
//!    is `repr(C)` with fixed-width fields, so host and target agree on
//!    every offset (asserted at compile time); kernel memory sits under
//!    wired TLB entries, so no kernel access ever refills.

#![cfg_attr(not(test), no_std)]
// Some cold functions are compiled for size on the target (`optimize`).
#![cfg_attr(target_arch = "xtensa", feature(optimize_attribute))]

pub mod addrspace;
pub mod arch;
pub mod cap;
pub mod console;
pub mod dai;
pub mod describe;
pub mod fastpath;
pub mod kernel;
pub mod objects;
pub mod pagetable;
pub mod sched;
pub mod supervise;
pub mod thread_ctl;
pub mod timer;
pub mod trace;
pub mod trap;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod testkit;
