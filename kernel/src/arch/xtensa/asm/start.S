# Reset entry (the generic loader jumps here with PS = 0x1f, the reset TLB
# mapping in way 6): stack, VECBASE, ATOMCTL, PS, zeroed .bss, then Rust.
# Boot code (`.text.sotto_boot.*`), unmapped once boot is over.
  .include "macros.inc"

  .section .text.sotto_boot.entry, "ax"
  .global _start
  .balign 4
_start:
  movi.n a0, 0
  LA a1, _boot_stack_top
  LA a2, _vector_base
  wsr a2, vecbase
  movi a2, 0+ATOMCTL_VALUE          # S32C1I allowed on bypass memory too
  WSR_SR 2, SR_ATOMCTL
  movi a2, 0+PS_KERNEL              # EXCM clear: faults reach the kernel vector
  wsr a2, ps
  rsync
  isync
  LA a2, _bss_start
  LA a3, _bss_end
1:
  bgeu a2, a3, 2f
  s32i a0, a2, 0
  addi a2, a2, 4
  j 1b
2:
  call0 sotto_kernel_main
3:
  j 3b
