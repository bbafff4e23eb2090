# User-writable processor state, for the isolation tests (fault-injection
# feature): write every register a service can write, make a system call,
# read them back; breakpoints; a compare-and-swap increment with a wide
# window between `wsr scompare1` and `s32c1i`. llvm-mc has no name for
# LITBASE (special register 5) or EXPSTATE (user register 230, writable
# in every ring on dc233c): they are spelled as bytes.

  .text
# void sotto_rt_state_read(u32 out[10]): SCOMPARE1, THREADPTR, ACCLO, ACCHI,
# M0..M3, LITBASE, EXPSTATE into out.
  .global sotto_rt_state_read
  .balign 4
sotto_rt_state_read:
  rsr a3, scompare1
  s32i a3, a2, 0
  rur a3, threadptr
  s32i a3, a2, 4
  rsr a3, acclo
  s32i a3, a2, 8
  rsr a3, acchi
  s32i a3, a2, 12
  rsr a3, m0
  s32i a3, a2, 16
  rsr a3, m1
  s32i a3, a2, 20
  rsr a3, m2
  s32i a3, a2, 24
  rsr a3, m3
  s32i a3, a2, 28
  .byte 0x30, 0x05, 0x03          # rsr a3, litbase
  s32i a3, a2, 32
  .byte 0x60, 0x3e, 0xe3          # rur a3, expstate
  s32i a3, a2, 36
  ret

# u32 sotto_rt_state_swap(const u32 values[10], u32 out[10], nr, arg): write
# the ten registers from values, make system call nr (a3 = arg) with them
# in place, read them back into out, turn LITBASE off again (this code uses
# no l32r while it is on). Returns the call's status.
  .global sotto_rt_state_swap
  .balign 4
sotto_rt_state_swap:
  addi a1, a1, -16                # out survives the call on the stack
  s32i a3, a1, 0                  # (a system call keeps a12..a15 only)
  mov a8, a2
  mov a10, a4
  mov a11, a5
  l32i a6, a8, 0
  wsr a6, scompare1
  l32i a6, a8, 4
  wur a6, threadptr
  l32i a6, a8, 8
  wsr a6, acclo
  l32i a6, a8, 12
  wsr a6, acchi
  l32i a6, a8, 16
  wsr a6, m0
  l32i a6, a8, 20
  wsr a6, m1
  l32i a6, a8, 24
  wsr a6, m2
  l32i a6, a8, 28
  wsr a6, m3
  l32i a6, a8, 36
  .byte 0x60, 0xe6, 0xf3          # wur a6, expstate
  l32i a6, a8, 32
  .byte 0x60, 0x05, 0x13          # wsr a6, litbase
  isync
  mov a2, a10
  mov a3, a11
  movi a4, 0
  movi a5, 0
  syscall
  mov a10, a2
  l32i a9, a1, 0
  addi a1, a1, 16
  rsr a3, scompare1
  s32i a3, a9, 0
  rur a3, threadptr
  s32i a3, a9, 4
  rsr a3, acclo
  s32i a3, a9, 8
  rsr a3, acchi
  s32i a3, a9, 12
  rsr a3, m0
  s32i a3, a9, 16
  rsr a3, m1
  s32i a3, a9, 20
  rsr a3, m2
  s32i a3, a9, 24
  rsr a3, m3
  s32i a3, a9, 28
  .byte 0x30, 0x05, 0x03          # rsr a3, litbase
  s32i a3, a9, 32
  .byte 0x60, 0x3e, 0xe3          # rur a3, expstate
  s32i a3, a9, 36
  movi a3, 0
  .byte 0x30, 0x05, 0x13          # wsr a3, litbase: off again
  isync
  mov a2, a10
  ret

# u32 sotto_rt_scratch_swap(const u32 values[4], u32 out[12], nr, arg):
# write SAR, LBEG, LEND from values[0..3] and values[3] into a6..a11, make
# system call nr (a3 = arg, a4 = a5 = 0), then store SAR, LBEG, LEND,
# LCOUNT and a4..a11 as the call left them into out. Returns the status.
  .global sotto_rt_scratch_swap
  .balign 4
sotto_rt_scratch_swap:
  addi a1, a1, -48
  s32i a3, a1, 0                  # out (a system call keeps a1)
  l32i a6, a2, 0
  wsr a6, sar
  l32i a6, a2, 4
  wsr a6, lbeg
  l32i a6, a2, 8
  wsr a6, lend
  l32i a6, a2, 12
  mov a7, a6
  mov a8, a6
  mov a9, a6
  mov a10, a6
  mov a11, a6
  mov a2, a4
  mov a3, a5
  movi a4, 0
  movi a5, 0
  syscall
  s32i a4, a1, 16
  s32i a5, a1, 20
  s32i a6, a1, 24
  s32i a7, a1, 28
  s32i a8, a1, 32
  s32i a9, a1, 36
  s32i a10, a1, 40
  s32i a11, a1, 44
  rsr a4, sar
  rsr a5, lbeg
  rsr a6, lend
  rsr a7, lcount
  l32i a8, a1, 0
  s32i a4, a8, 0
  s32i a5, a8, 4
  s32i a6, a8, 8
  s32i a7, a8, 12
  l32i a9, a1, 16
  s32i a9, a8, 16
  l32i a9, a1, 20
  s32i a9, a8, 20
  l32i a9, a1, 24
  s32i a9, a8, 24
  l32i a9, a1, 28
  s32i a9, a8, 28
  l32i a9, a1, 32
  s32i a9, a8, 32
  l32i a9, a1, 36
  s32i a9, a8, 36
  l32i a9, a1, 40
  s32i a9, a8, 40
  l32i a9, a1, 44
  s32i a9, a8, 44
  addi a1, a1, 48
  ret

# void sotto_rt_atomic_add_slow(u32 *counter, u32 times): add 1 to *counter
# `times` times with s32c1i, the expected value set long before the
# exchange, so a preemption in between is likely.
  .global sotto_rt_atomic_add_slow
  .balign 4
sotto_rt_atomic_add_slow:
  beqz a3, 3f
1:
  l32i a4, a2, 0
  wsr a4, scompare1
  movi a6, 24                     # the window: about 50 instructions
2:
  addi a6, a6, -1
  bnez a6, 2b
  addi a5, a4, 1
  s32c1i a5, a2, 0
  bne a5, a4, 1b                  # someone else wrote: try again
  addi a3, a3, -1
  bnez a3, 1b
3:
  ret

# Debug exceptions: `break 1, 15` and `break.n 1` in user mode.
  .global sotto_rt_fault_break
  .balign 4
sotto_rt_fault_break:
  break 1, 15
  ret
  .global sotto_rt_fault_break_n
  .balign 4
sotto_rt_fault_break_n:
  break.n 1
  ret

# u32 sotto_rt_fault_loop_into(lbeg, lend, lcount): point the zero-overhead
# loop registers wherever asked (into the kernel's vectors), make a null
# system call with them armed, clear LCOUNT again. The vectors run with
# PS.EXCM set, where the loop-back is off, and the kernel clears LCOUNT
# before running anything else: the call must simply return 0.
  .global sotto_rt_fault_loop_into
  .balign 4
sotto_rt_fault_loop_into:
  wsr a2, lbeg
  wsr a3, lend
  wsr a4, lcount
  isync
  movi a2, 0
  syscall
  movi a3, 0
  wsr a3, lcount
  isync
  ret

# Probes: one instruction each, spelled as bytes (several need options
# the services are not assembled with), then `ret`. Each either faults
# (the kernel stops the service) or does nothing a later `ret` cares
# about. They sit in a table of 8-byte entries, in the order of
# `sotto_rt::fault::PROBES`.

# void sotto_rt_probe(u32 index, u32 address): run probe `index` (the
# caller checks it is in the table) with a2 = `address`, for the memory
# and cache forms; the probe's `ret` returns to our caller.
  .text
  .global sotto_rt_probe
  .balign 4
sotto_rt_probe:
  movi a4, .Lprobes
  slli a2, a2, 3
  add a4, a4, a2
  mov a2, a3
  jx a4

# One table entry: three instruction bytes and `ret` (6 bytes of 8).
  .macro PROBE b0, b1, b2
  .balign 8
  .byte \b0, \b1, \b2
  ret
  .endm

  .balign 8
.Lprobes:
  PROBE 0x36, 0x41, 0x0  # 0: entry a1, 32
  PROBE 0x90, 0x0, 0x0  # 1: retw
  PROBE 0x30, 0x11, 0x0  # 2: movsp a3, a1
  PROBE 0x10, 0x80, 0x40  # 3: rotw 1
  PROBE 0x30, 0x1, 0x9  # 4: l32e a3, a1, -64
  PROBE 0x30, 0x1, 0x49  # 5: s32e a3, a1, -64
  PROBE 0x0, 0x34, 0x0  # 6: rfwo
  PROBE 0x0, 0x35, 0x0  # 7: rfwu
  PROBE 0x0, 0x30, 0x0  # 8: rfe
  PROBE 0x0, 0x32, 0x0  # 9: rfde
  PROBE 0x10, 0x36, 0x0  # 10: rfi 6
  PROBE 0x0, 0x70, 0x0  # 11: waiti 0
  PROBE 0x30, 0x6f, 0x0  # 12: rsil a3, 15
  PROBE 0x0, 0xc2, 0x50  # 13: idtlb a2
  PROBE 0xe2, 0x72, 0x0  # 14: ihi a2, 0
  PROBE 0xc2, 0x72, 0x0  # 15: ipf a2, 0
  PROBE 0x52, 0x72, 0x0  # 16: dhwbi a2, 0
  PROBE 0x42, 0x72, 0x0  # 17: dhwb a2, 0
  PROBE 0x62, 0x72, 0x0  # 18: dhi a2, 0
  PROBE 0xf2, 0x72, 0x0  # 19: iii a2, 0
  PROBE 0x30, 0x62, 0x40  # 20: rer a3, a2
  PROBE 0x30, 0x72, 0x40  # 21: wer a3, a2
  PROBE 0x30, 0xb0, 0x3  # 22: rsr a3, 176
  PROBE 0x30, 0xe2, 0x13  # 23: wsr a3, intset
  PROBE 0x30, 0xd1, 0x61  # 24: xsr a3, excsave1
  PROBE 0x30, 0x28, 0x13  # 25: wsr a3, 40 (prefctl)
  PROBE 0x30, 0x0, 0xf3  # 26: wur a3, 0
  PROBE 0x30, 0xe0, 0x13  # 27: wsr a3, cpenable
  PROBE 0x30, 0x60, 0x13  # 28: wsr a3, ibreakenable
  PROBE 0x30, 0x63, 0x13  # 29: wsr a3, atomctl
  PROBE 0x30, 0x49, 0x13  # 30: wsr a3, windowstart
  PROBE 0x32, 0xe2, 0x0  # 31: s32c1i a3, a2, 0
  PROBE 0x32, 0xb2, 0x0  # 32: l32ai a3, a2, 0
  .org .Lprobes + 8 * 33      # fails to assemble if an entry outgrew 8 bytes
  j .Lprobe_callx12           # 33: callx12 (more than one entry's room)
  PROBE 0x30, 0xf4, 0x3  # 34: rsr a3, misc0 (the light entry's a1)
  PROBE 0x30, 0xf5, 0x3  # 35: rsr a3, misc1 (the L1 pins' table)

# callx12 to the next instruction: PS.CALLINC = 3 and a12 written, in
# user mode, without a window exception (PS.WOE = 0).
  .balign 4
.Lprobe_callx12:
  mov a9, a12
  movi a2, .Lprobe_callx12_back
  .byte 0xf0, 0x02, 0x00          # callx12 a2
  .balign 4
.Lprobe_callx12_back:
  mov a12, a9
  ret
