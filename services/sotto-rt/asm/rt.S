# Service entry and the system-call stub (call0). llvm-mc has no name for
# SIMCALL, spelled as bytes for the fault-injection helper.

  .section .text.entry, "ax"
  .global _start
  .balign 4
_start:                           # a1 = stack top, a2 = arg (set by the kernel)
  movi a0, 0
  call0 sotto_rt_start            # never returns
1:
  j 1b

  .text
# u64 sotto_rt_syscall(nr, a, b, c, d): a2 = number, a3..a6 = arguments;
# returns a2 = status (low word), a3 = value (high word).
  .global sotto_rt_syscall
  .balign 4
sotto_rt_syscall:
  syscall
  ret

# Instructions that fault on purpose (fault-injection feature).
  .global sotto_rt_fault_illegal
  .balign 4
sotto_rt_fault_illegal:
  ill
  ret
  .global sotto_rt_fault_read_ccount
  .balign 4
sotto_rt_fault_read_ccount:
  rsr a2, ccount
  ret
  .global sotto_rt_fault_write_ps
  .balign 4
sotto_rt_fault_write_ps:
  movi a2, 0
  wsr a2, ps
  ret
  .global sotto_rt_fault_load
  .balign 4
sotto_rt_fault_load:
  l32i a2, a2, 0
  ret
  .global sotto_rt_fault_store
  .balign 4
sotto_rt_fault_store:
  s32i a3, a2, 0
  memw
  ret
  .global sotto_rt_fault_divide
  .balign 4
sotto_rt_fault_divide:
  quos a2, a2, a3
  ret
  .global sotto_rt_fault_simcall
  .balign 4
sotto_rt_fault_simcall:
  movi a2, 1                      # SYS_EXIT: would end QEMU if it ran
  movi a3, 77
  .byte 0x00, 0x51, 0x00
  ret
  .global sotto_rt_fault_jump
  .balign 4
sotto_rt_fault_jump:
  jx a2

# [u32; 4] sotto_rt_syscall_out(nr, a3, a4, a5, a6, a7): the call0
# arguments are a2..a7 already; a2 (status)..a5 come back as the result
# (a 16-byte aggregate: a2..a5), a6 and a7 go into `sotto_rt_a6_a7`
# (sys.rs).
  .text
  .global sotto_rt_syscall_out
  .balign 4
sotto_rt_syscall_out:
  syscall
  movi a8, sotto_rt_a6_a7
  s32i a6, a8, 0
  s32i a7, a8, 4
  ret

# [u32; 4] sotto_rt_syscall_out8(nr, a3, a4, a5, a6, a7, a8): as
# sotto_rt_syscall_out, with a seventh argument register (a8: CallTimeout's
# deadline), which call0 passes on the stack.
# (Its own section: services that make no timed call link none of it.)
  .section .text.sotto_rt_syscall_out8, "ax"
  .global sotto_rt_syscall_out8
  .balign 4
sotto_rt_syscall_out8:
  l32i a8, a1, 0
  syscall
  movi a8, sotto_rt_a6_a7
  s32i a6, a8, 0
  s32i a7, a8, 4
  ret

  .text
# void sotto_rt_syscall_regs7(u32 regs[7]): a2..a8 from regs, syscall, a2..a7
# back into regs (a8: a seventh argument, CallTimeout's deadline tick). A
# system call preserves a0, a1 and a12..a15 only, so the array's address
# waits on the stack.
  .global sotto_rt_syscall_regs7
  .balign 4
sotto_rt_syscall_regs7:
  addi a1, a1, -16
  s32i a2, a1, 0
  mov a9, a2
  l32i a2, a9, 0
  l32i a3, a9, 4
  l32i a4, a9, 8
  l32i a5, a9, 12
  l32i a6, a9, 16
  l32i a7, a9, 20
  l32i a8, a9, 24
  syscall
  l32i a9, a1, 0
  s32i a2, a9, 0
  s32i a3, a9, 4
  s32i a4, a9, 8
  s32i a5, a9, 12
  s32i a6, a9, 16
  s32i a7, a9, 20
  addi a1, a1, 16
  ret
