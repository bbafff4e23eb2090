# Small privileged helpers called from Rust (call0: args a2.., result a2).
# Helpers only boot and the self-tests call have a section each
# (`.text.sotto_selftest.*`): the linker keeps only those something calls,
# so a kernel without self-tests has none of the self-tests' own.
# The helpers every kernel calls are in helpers.inc, which vectors.S
# includes in the window vectors' space.
  .include "macros.inc"

# The MMU switch-over from the reset mapping (Zephyr's sequence): a2 =
# PTEVADDR, a3 = RASID, a4/a5 = PTE and way-7 address of the L1 pin, a6/a7 =
# PTE and way-8 address of the kernel's L2 pin.
#
# The kernel's stacks, data and bss (KERNEL_DATA_BASE's megabyte) get one
# wired 1 MiB DTLB entry (way 4, ring 0, RW), and its first megabyte (code,
# literals, read-only data) another (way 4, ring 0, read-only): its data
# accesses never refill, so they never evict a service's TLB entries and
# never need the PTE page of the kernel's 4 MiB. So that page is wired
# (way 8) only at boot, for the boot code and this trampoline; an address
# space switch has no kernel page to pin.
#
# Kernel instruction fetches then go through one wired 1 MiB ITLB entry
# (way 4, ring 0, RX) over the kernel's megabyte, as Zephyr does: the
# vectors never miss in the ITLB. That matters beyond speed: QEMU writes
# EXCVADDR on every TLB refill, so a refill for the vector fetch itself
# would destroy the faulting address before the vector could save it.
#
# This code runs from its own page outside that megabyte (the trampoline,
# TRAMPOLINE_BASE): the wired entry can only be written while no fetch
# needs it, and way 6 can only be dropped while no fetch hits both. It uses
# no literals (they would be out of `l32r` reach) and touches no memory.
  .section .trampoline.text, "ax"
  .global sotto_mmu_enable
  .balign 4
sotto_mmu_enable:
  extui a8, a2, 29, 3
  slli a8, a8, 29
  addi a8, a8, 6                  # the way-6 entry covering PTEVADDR
  movi.n a9, 6                      # the way-6 entry covering 0..512 MiB
  movi.n a10, 1
  slli a10, a10, 20               # KERNEL_BASE, the megabyte to pin
  .if KERNEL_BASE != 0x100000
  .error "the trampoline builds KERNEL_BASE by hand: update it"
  .endif
  addi a11, a10, 4                # way 4, at KERNEL_BASE
  addi a10, a10, 5                # PTE: KERNEL_BASE, ring 0, RX write-back
  WSR_SR 2, SR_PTEVADDR
  WSR_SR 3, SR_RASID
  wdtlb a4, a5
  wdtlb a6, a7
  idtlb a8
  idtlb a9
  dsync
  isync
  witlb a10, a11                  # fetches here hit way 6 only
  isync
  .if KERNEL_DATA_BASE != 0x300000
  .error "the trampoline builds KERNEL_DATA_BASE by hand: update it"
  .endif
  movi.n a4, 3
  slli a4, a4, 20                 # KERNEL_DATA_BASE: the data megabyte
  addi a5, a4, 4                 # way 4
  addi a4, a4, 6                 # PTE: ring 0, RW write-back
  wdtlb a4, a5
  addi a4, a10, -1                # PTE: KERNEL_BASE, ring 0, R write-back
  mov.n a5, a11                     # way 4, at KERNEL_BASE
  wdtlb a4, a5
  dsync
  iitlb a9                        # from here they refill from the tables
  isync
  movi.n a10, 1
  slli a10, a10, 29               # drop the rest of way 6, both TLBs
  movi.n a11, 6
  movi.n a9, 8
2:
  iitlb a11
  idtlb a11
  add.n a11, a11, a10
  addi a9, a9, -1
  bnez a9, 2b
  dsync
  isync
  ret.n
  .text
# Switch to another address space: a2 points at its two words (see
# `fastpath::SpaceWords`): PTEVADDR and RASID. No TLB flush: entries are
# tagged by ASID and every space has its own window; its L1 is pinned by
# the first refill that needs it (the double vector). Kernel code is
# fetched through its wired ITLB entry and kernel data through wired DTLB
# entries, which no switch touches. `isync` performs `dsync` too (ISA), as
# in SWITCH_SPACE (trap.S).
  .global sotto_switch_space
  .balign 4
sotto_switch_space:
  l32i.n a3, a2, 4
  l32i.n a2, a2, 0
  WSR_SR 2, SR_PTEVADDR
  WSR_SR 3, SR_RASID
  isync
  ret.n

# Keep the address of the L1 pins by window (a2) in MISC1, for the double
# vector (`arch::xtensa::register_l1`). Boot only.
  .section .text.sotto_boot.set_l1_pins, "ax"
  .global sotto_set_l1_pins
  .balign 4
sotto_set_l1_pins:
  WSR_SR 2, SR_MISC1
  isync
  ret.n
  .text
# Invalidate the autorefill ways (0..3, four entries each) of both TLBs:
# needed after a page-table entry changes.
  .global sotto_tlb_flush_autorefill
  .balign 4
sotto_tlb_flush_autorefill:
  movi.n a2, 0
  movi a4, 0x1000
  movi a5, 0x4000
1:
  addi a3, a2, 0
  iitlb a3
  idtlb a3
  addi a3, a2, 1
  iitlb a3
  idtlb a3
  addi a3, a2, 2
  iitlb a3
  idtlb a3
  addi a3, a2, 3
  iitlb a3
  idtlb a3
  add.n a2, a2, a4
  bltu a2, a5, 1b
  dsync
  isync
  ret.n
# TLB probes for the page-table self-test.
  .section .text.sotto_selftest.pdtlb, "ax"
  .global sotto_pdtlb
  .balign 4
sotto_pdtlb:
  pdtlb a2, a2
  ret.n
  .section .text.sotto_selftest.pitlb, "ax"
  .global sotto_pitlb
  .balign 4
sotto_pitlb:
  pitlb a2, a2
  ret.n
  .section .text.sotto_selftest.rdtlb0, "ax"
  .global sotto_rdtlb0
  .balign 4
sotto_rdtlb0:
  rdtlb0 a2, a2
  ret.n
  .section .text.sotto_selftest.rdtlb1, "ax"
  .global sotto_rdtlb1
  .balign 4
sotto_rdtlb1:
  rdtlb1 a2, a2
  ret.n
  .section .text.sotto_selftest.ritlb1, "ax"
  .global sotto_ritlb1
  .balign 4
sotto_ritlb1:
  ritlb1 a2, a2
  ret.n
# Raw memory access and an illegal instruction, for the fault self-tests:
# Rust cannot express a load from an arbitrary address without UB.
  .section .text.sotto_selftest.load, "ax"
  .global sotto_load
  .balign 4
sotto_load:
  l32i.n a2, a2, 0
  ret.n
# Invalidate the wired L1 pin a2 (window page | way 7), as a switch
# leaves it for the next space (self-test).
  .section .text.sotto_selftest.unpin_l1, "ax"
  .global sotto_unpin_l1
  .balign 4
sotto_unpin_l1:
  idtlb a2
  dsync
  ret.n

# Load from a2, then probe the DTLB for a3 with no memory access between:
# shows which entries that one load brought in.
  .section .text.sotto_selftest.load_then_pdtlb, "ax"
  .global sotto_load_then_pdtlb
  .balign 4
sotto_load_then_pdtlb:
  l32i.n a4, a2, 0
  pdtlb a2, a3
  ret.n
  .section .text.sotto_selftest.store, "ax"
  .global sotto_store
  .balign 4
sotto_store:
  s32i.n a3, a2, 0
  memw
  ret.n
  .section .text.sotto_selftest.illegal, "ax"
  .global sotto_illegal
  .balign 4
sotto_illegal:
  ill
  ret.n

  .section .text.sotto_selftest.write_intenable, "ax"
  .global sotto_write_intenable
  .balign 4
sotto_write_intenable:
  wsr a2, intenable
  rsync
  ret.n
  .section .text.sotto_selftest.write_intset, "ax"
  .global sotto_write_intset      # raise software interrupts
  .balign 4
sotto_write_intset:
  WSR_SR 2, SR_INTSET
  rsync
  ret.n
  .section .text.sotto_selftest.read_ps, "ax"
  .global sotto_read_ps
  .balign 4
sotto_read_ps:
  rsr a2, ps
  ret.n
  .section .text.sotto_selftest.read_ptevaddr, "ax"
  .global sotto_read_ptevaddr
  .balign 4
sotto_read_ptevaddr:
  RSR_SR 2, SR_PTEVADDR
  ret.n
  .section .text.sotto_selftest.read_rasid, "ax"
  .global sotto_read_rasid
  .balign 4
sotto_read_rasid:
  RSR_SR 2, SR_RASID
  ret.n
