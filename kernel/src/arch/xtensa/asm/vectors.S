# Exception and interrupt vectors, at VECBASE (the start of the kernel image).
# Vector code uses no literals (only jumps and short immediates), so it may
# sit before every literal pool.
  .include "macros.inc"
  .set LITBASE_SAFE, 0              # vectors load no literals

# Level-1 vector body: keep a0 in EXCSAVE1, then the rest.
  .macro LEVEL1_VECTOR slow_path
  wsr a0, excsave1
  LEVEL1_REFILL_OR \slow_path
  .endm

# With a0 in EXCSAVE1: keep EXCVADDR in EXCSAVE2 (before any TLB refill
# overwrites it), refill TLB misses right here, send everything else to
# \slow_path.
  .macro LEVEL1_REFILL_OR slow_path
  rsr a0, excvaddr
  WSR_SR 0, SR_EXCSAVE2
  rsr a0, exccause
  addi a0, a0, -EXCCAUSE_DTLB_MISS
  beqz a0, _dtlb_miss
  addi a0, a0, 0+DTLB_MINUS_ITLB_MISS
  beqz a0, _itlb_miss
  j \slow_path
  .endm

  .section .vectors, "ax"
  .global _vector_base
_vector_base:
  # 0x000..0x17f: window overflow/underflow, never taken with call0 (WOE=0):
  # code that loads no literals lives there instead (`.org` below fails
  # the build if it outgrows the space).
  .include "mem.inc"
  .include "helpers.inc"

  .org 0x180                    # level-2 interrupt
  movi a2, 2
  RSR_SR 3, SR_EPC1 + 1           # EPC2
  j _unexpected_vector
  .org 0x1c0                    # level-3 interrupt
  movi a2, 3
  RSR_SR 3, SR_EPC1 + 2           # EPC3
  j _unexpected_vector
  .org 0x200                    # level-4 interrupt
  movi a2, 4
  RSR_SR 3, SR_EPC1 + 3           # EPC4
  j _unexpected_vector
  .org 0x240                    # level-5 interrupt
  movi a2, 5
  RSR_SR 3, SR_EPC1 + 4           # EPC5
  j _unexpected_vector
  .org 0x280                    # level-6 (debug): `break` in user mode
  j _debug_exception
  .org 0x2c0                    # NMI
  movi a2, 7
  RSR_SR 3, SR_EPC1 + 6           # EPC7
  j _unexpected_vector

  # Kernel vector: exceptions and level-1 interrupts with PS.UM = 0.
  # TLB misses (the PTE page was not in the DTLB) are refilled right here.
  .org 0x300
  .global _kernel_vector
_kernel_vector:
  LEVEL1_VECTOR _kernel_exception

  # User vector: exceptions and level-1 interrupts with PS.UM = 1. A
  # system call goes to the light entry before anything else (reading
  # EXCCAUSE refills nothing, so EXCVADDR is still intact for the rest).
  .org 0x340
  .global _user_vector
_user_vector:
  wsr a0, excsave1
  rsr a0, exccause
  bnei a0, 0+EXCCAUSE_SYSCALL, 1f
  j _syscall_light
1:
  LEVEL1_REFILL_OR _user_exception

  # Double exception: an exception while PS.EXCM was set. A DTLB miss
  # may be the L1 pin missing (see _l1_miss); anything else goes on.
  .org 0x3c0
  .global _double_vector
_double_vector:
  WSR_SR 2, SR_EXCSAVE3
  rsr a2, exccause
  addi a2, a2, -EXCCAUSE_DTLB_MISS
  beqz a2, _l1_miss
_double_other:
  rsr a2, excvaddr                # before any refill overwrites it
  WSR_SR 2, SR_EXCSAVE4
  rsr a2, depc
  j _double_exception

  # TLB refill: load the missing PTE through the page-table window. The L1
  # is pinned in the DTLB (after a space switch, by `_l1_miss` on this
  # load's first miss), so this load refills the PTE page and the
  # faulting access is retried. If the L1 entry is illegal (no L2 table),
  # the load faults inside the vector: a double exception whose DEPC is the
  # load, which `_double_exception` turns into a page fault. EXCSAVE2 holds
  # the faulting address (saved by the vector: QEMU rewrites EXCVADDR on
  # every refill); two loads tell which TLB missed.
  .org 0x400
_dtlb_miss:
  RSR_SR 0, SR_PTEVADDR
  .global _dtlb_refill_load
_dtlb_refill_load:
  l32i a0, a0, 0
  rsr a0, excsave1
  rfe

_itlb_miss:
  RSR_SR 0, SR_PTEVADDR
  .global _itlb_refill_load
_itlb_refill_load:
  l32i a0, a0, 0
  rsr a0, excsave1
  rfe

  # A DTLB miss with PS.EXCM set on the current page-table window: a TLB
  # refill (`_dtlb_refill_load`, `_itlb_refill_load`) missed the window
  # page holding its PTE, and that page's own PTE, in the L1's window
  # page, missed too, because the L1 is not pinned: a space switch leaves
  # way 7 to the previous space. Pin this window's L1 (its PTE from the
  # table at MISC1, `arch::xtensa::register_l1`; its window page from
  # PTEVADDR, which reads as the address of the missing PTE, in that page)
  # and retry the load (`rfde`), which now refills through it; an illegal
  # L1 entry then faults as before (LoadProhibited). a2 is in EXCSAVE3, a3
  # goes to EXCSAVE4 (the other way only needs EXCVADDR there, which is
  # still in its register: nothing here refills), a0 is the refill's.
  # No literal (a user's LITBASE may be on): the table comes from MISC1.
_l1_miss:
  WSR_SR 3, SR_EXCSAVE4
  RSR_SR 3, SR_PTEVADDR
  rsr a2, excvaddr
  xor a2, a2, a3
  extui a2, a2, 22, 10             # (bits 31:22: the window)
  bnez a2, 9f                     # not on this window: not a pin miss
  .if MAX_ADDRESS_SPACES != 64
  .error "MAX_ADDRESS_SPACES moved: update the extui below"
  .endif
  extui a2, a3, 22, 6             # the window's slot
  RSR_SR 3, SR_MISC1
  addx4 a2, a2, a3
  l32i a2, a2, 0                  # its L1's PTE (kernel data: wired)
  beqz a2, 9f                     # no space there: report it
  RSR_SR 3, SR_PTEVADDR
  srli a3, a3, 12
  slli a3, a3, 12                 # the L1's page in the window
  addi a3, a3, 0+WAY_L1_PIN
  wdtlb a2, a3
  dsync
  RSR_SR 3, SR_EXCSAVE4
  RSR_SR 2, SR_EXCSAVE3
  rfde
9:
  RSR_SR 3, SR_EXCSAVE4
  j _double_other
