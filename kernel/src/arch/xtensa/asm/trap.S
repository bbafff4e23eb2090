# Trap entry and exit: save a full TrapFrame, run the Rust handler with
# PS.EXCM clear (so a fault inside it is reported, not a double exception),
# restore and return.
  .include "macros.inc"

# Store a2..a15 into the frame at \base (a0 or a1, saved separately).
  .macro SAVE_A2_TO_A15 base
  s32i a2, \base, 0+FRAME_A2
  s32i a3, \base, 0+FRAME_A3
  s32i a4, \base, 0+FRAME_A4
  s32i a5, \base, 0+FRAME_A5
  s32i a6, \base, 0+FRAME_A6
  s32i a7, \base, 0+FRAME_A7
  s32i a8, \base, 0+FRAME_A8
  s32i a9, \base, 0+FRAME_A9
  s32i a10, \base, 0+FRAME_A10
  s32i a11, \base, 0+FRAME_A11
  s32i a12, \base, 0+FRAME_A12
  s32i a13, \base, 0+FRAME_A13
  s32i a14, \base, 0+FRAME_A14
  s32i a15, \base, 0+FRAME_A15
  .endm

# Store the special registers into the frame at \base, through \tmp
# (whose number is \tmp_number, for the raw-encoded RSR).
  .macro SAVE_SPECIAL base, tmp, tmp_number
  rsr \tmp, sar
  s32i \tmp, \base, 0+FRAME_SAR
  rsr \tmp, ps
  s32i \tmp, \base, 0+FRAME_PS
  rsr \tmp, epc1
  s32i \tmp, \base, 0+FRAME_PC
  rsr \tmp, exccause
  s32i \tmp, \base, 0+FRAME_EXCCAUSE
  RSR_SR \tmp_number, SR_EXCSAVE2 # EXCVADDR as the vector found it
  s32i \tmp, \base, 0+FRAME_EXCVADDR
  rsr \tmp, lcount
  s32i \tmp, \base, 0+FRAME_LCOUNT
  rur \tmp, threadptr
  s32i \tmp, \base, 0+FRAME_THREADPTR
  RUR_UR \tmp_number, UR_EXPSTATE   # user-writable in every ring
  s32i \tmp, \base, 0+FRAME_EXPSTATE
  SAVE_CALLER_SAVED_SPECIAL \base, \tmp
  .endm

# Store the special registers a call does not keep (compilers keep none of
# them live across one) but a thread switch must: the loop bounds,
# SCOMPARE1 and MAC16 (ACCLO, ACCHI, M0..M3).
  .macro SAVE_CALLER_SAVED_SPECIAL base, tmp
  rsr \tmp, lbeg
  s32i \tmp, \base, 0+FRAME_LBEG
  rsr \tmp, lend
  s32i \tmp, \base, 0+FRAME_LEND
  rsr \tmp, scompare1
  s32i \tmp, \base, 0+FRAME_SCOMPARE1
  rsr \tmp, acclo
  s32i \tmp, \base, 0+FRAME_ACCLO
  rsr \tmp, acchi
  s32i \tmp, \base, 0+FRAME_ACCHI
  rsr \tmp, m0
  s32i \tmp, \base, 0+FRAME_M0
  rsr \tmp, m1
  s32i \tmp, \base, 0+FRAME_M1
  rsr \tmp, m2
  s32i \tmp, \base, 0+FRAME_M2
  rsr \tmp, m3
  s32i \tmp, \base, 0+FRAME_M3
  .endm

# Store what a call0 call keeps of the caller of a light system call, into
# its frame \f: a0 (in EXCSAVE1), a1 (in MISC0), PC past the `syscall`, PS,
# a12..a15, and the thread-owned THREADPTR and EXPSTATE. \t is a scratch
# register, \t_number its number.
  .macro SAVE_CALL_KEPT f, t, t_number
  rsr \t, excsave1
  s32i \t, \f, 0+FRAME_A0
  RSR_SR \t_number, SR_MISC0
  s32i \t, \f, 0+FRAME_A1
  rsr \t, epc1
  addi \t, \t, 3
  s32i \t, \f, 0+FRAME_PC
  rsr \t, ps
  s32i \t, \f, 0+FRAME_PS
  s32i a12, \f, 0+FRAME_A12
  s32i a13, \f, 0+FRAME_A13
  s32i a14, \f, 0+FRAME_A14
  s32i a15, \f, 0+FRAME_A15
  rur \t, threadptr
  s32i \t, \f, 0+FRAME_THREADPTR
  RUR_UR \t_number, UR_EXPSTATE
  s32i \t, \f, 0+FRAME_EXPSTATE
  .endm

# Save the caller of a light system call that is switched away from into
# its frame \f (a full frame: `_restore_frame` resumes it after the
# `syscall`). a2..a7 hold its results or arguments already (fastpath.rs);
# a8..a11, SAR, LCOUNT and LITBASE are written zero (a system call does not
# preserve a8..a11 or SAR; LCOUNT and LITBASE were checked zero). \t is a
# scratch register, \t_number its number.
  .macro SAVE_LIGHT_CALLER f, t, t_number
  SAVE_CALL_KEPT \f, \t, \t_number
  SAVE_CALLER_SAVED_SPECIAL \f, \t
  movi \t, 0
  s32i \t, \f, 0+FRAME_A8
  s32i \t, \f, 0+FRAME_A9
  s32i \t, \f, 0+FRAME_A10
  s32i \t, \f, 0+FRAME_A11
  s32i \t, \f, 0+FRAME_SAR
  s32i \t, \f, 0+FRAME_LCOUNT
  s32i \t, \f, 0+FRAME_LITBASE
  s32i \t, \f, 0+FRAME_KIND       # KIND_FULL (0)
  .endm

# Save the caller of an IPC fast path (LIGHT_HANDOFF) into its frame \f:
# only what survives a function call — a0, a1, PC, PS, a12..a15 — and the
# thread-owned THREADPTR and EXPSTATE; a2..a7 are in the frame already.
# LCOUNT and LITBASE are written zero (they are, on this path), so even a
# full restore of this frame cannot start a stale loop.
  .macro SAVE_IPC_CALLER f, t, t_number
  SAVE_CALL_KEPT \f, \t, \t_number
  movi \t, 0+KIND_IPC
  s32i \t, \f, 0+FRAME_KIND
  movi \t, 0
  s32i \t, \f, 0+FRAME_LCOUNT
  s32i \t, \f, 0+FRAME_LITBASE
  .endm

# Return from a system call to the instruction after its `syscall`, with
# the caller's a0 from EXCSAVE1 (every other register set already).
  .macro RETURN_PAST_SYSCALL
  rsr a0, epc1
  addi a0, a0, 3
  wsr a0, epc1
  rsr a0, excsave1
  rfe
  .endm

# Clear LITBASE: with extended L32R enabled every `l32r` (so every `movi` of
# a symbol, and the Rust code) would load from where the user pointed it.
# \tmp is free; \tmp_number its register number.
  .macro CLEAR_LITBASE tmp, tmp_number
  movi \tmp, 0
  WSR_SR \tmp_number, SR_LITBASE
  isync
  .endm

# Leave exception mode for the Rust handler: no stray zero-overhead loop,
# EXCM clear (a fault in the handler is then reported, not a double
# exception), every maskable interrupt masked.
  .macro ENTER_KERNEL_PS tmp
  movi \tmp, 0
  wsr \tmp, lcount
  movi \tmp, 0+PS_KERNEL
  wsr \tmp, ps
  rsync
  .endm

  .text

# An interrupt while idle (`sotto_idle_wait`): nothing to save, nothing to
# resume. Handle it on the empty kernel stack, then run the thread the
# scheduler picks (or idle again inside, never returning here).
  .balign 4
_idle_interrupt:
  movi a1, _boot_stack_top
  movi a0, 0
  ENTER_KERNEL_PS a2
  call0 sotto_idle_interrupt      # -> a2 = the frame to run
  j sotto_enter_user

# Kernel exception slow path. On entry: PS.EXCM = 1, original a0 in
# EXCSAVE1, a1 = the interrupted kernel stack, EPC1/EXCCAUSE/EXCVADDR set.
  .global _kernel_exception
  .balign 4
_kernel_exception:
  addi a1, a1, -128               # FRAME_SIZE in two steps (addi: -128..127)
  addi a1, a1, -(FRAME_SIZE - 128)
  s32i a2, a1, 0+FRAME_A2         # (a2 again below: one register to compare)
  CLEAR_LITBASE a0, 0             # (kernel code runs with it off; the frame
  rsr a2, epc1                    # says so) before the `l32r` below
  movi a0, _idle_resume
  beq a2, a0, _idle_interrupt
  SAVE_A2_TO_A15 a1
  rsr a2, excsave1
  s32i a2, a1, 0+FRAME_A0
  addi a2, a1, 127                # a1 + FRAME_SIZE, again in two steps
  addi a2, a2, 0+(FRAME_SIZE - 127)
  s32i a2, a1, 0+FRAME_A1
  SAVE_SPECIAL a1, a2, 2
  movi a2, 0                      # the kernel runs with LITBASE off
  s32i a2, a1, 0+FRAME_LITBASE
  ENTER_KERNEL_PS a2
  mov a2, a1
  call0 sotto_kernel_trap         # fn(frame: &mut TrapFrame)
  # fall through: a1 = the frame

# Restore the frame at a1 and return from the exception.
  .global _restore_frame
_restore_frame:
  l32i a2, a1, 0+FRAME_PS
  wsr a2, ps                      # EXCM = 1 again: EPC1 is ours until rfe
  rsync
  l32i a2, a1, 0+FRAME_PC
  wsr a2, epc1
  l32i a2, a1, 0+FRAME_SAR
  wsr a2, sar
  l32i a2, a1, 0+FRAME_LBEG
  wsr a2, lbeg
  l32i a2, a1, 0+FRAME_LEND
  wsr a2, lend
  l32i a2, a1, 0+FRAME_LCOUNT
  wsr a2, lcount
  l32i a2, a1, 0+FRAME_SCOMPARE1
  wsr a2, scompare1
  l32i a2, a1, 0+FRAME_THREADPTR
  wur a2, threadptr
  l32i a2, a1, 0+FRAME_ACCLO
  wsr a2, acclo
  l32i a2, a1, 0+FRAME_ACCHI
  wsr a2, acchi
  l32i a2, a1, 0+FRAME_M0
  wsr a2, m0
  l32i a2, a1, 0+FRAME_M1
  wsr a2, m1
  l32i a2, a1, 0+FRAME_M2
  wsr a2, m2
  l32i a2, a1, 0+FRAME_M3
  wsr a2, m3
  l32i a2, a1, 0+FRAME_EXPSTATE
  WUR_UR 2, UR_EXPSTATE
  l32i a2, a1, 0+FRAME_LITBASE    # last: no `l32r` runs after this
  WSR_SR 2, SR_LITBASE
  isync
  l32i a0, a1, 0+FRAME_A0
  l32i a2, a1, 0+FRAME_A2
  l32i a3, a1, 0+FRAME_A3
  l32i a4, a1, 0+FRAME_A4
  l32i a5, a1, 0+FRAME_A5
  l32i a6, a1, 0+FRAME_A6
  l32i a7, a1, 0+FRAME_A7
  l32i a8, a1, 0+FRAME_A8
  l32i a9, a1, 0+FRAME_A9
  l32i a10, a1, 0+FRAME_A10
  l32i a11, a1, 0+FRAME_A11
  l32i a12, a1, 0+FRAME_A12
  l32i a13, a1, 0+FRAME_A13
  l32i a14, a1, 0+FRAME_A14
  l32i a15, a1, 0+FRAME_A15
  l32i a1, a1, 0+FRAME_A1
  rfe

# Save the running user thread's registers into its frame (found through
# `sotto_current_frame`; the user stack is never touched). On entry: PS.EXCM
# = 1, the user's a0 in EXCSAVE1, every other register the user's. Leaves
# a2 = the frame. The user's LITBASE goes through EXCSAVE4 (free outside a
# double exception, which has consumed it by the time it jumps here): it
# must be off before the first `l32r`.
  .macro SAVE_USER_FRAME
  RSR_SR 0, SR_LITBASE
  WSR_SR 0, SR_EXCSAVE4
  CLEAR_LITBASE a0, 0
  movi a0, sotto_current_frame
  l32i a0, a0, 0
  s32i a1, a0, 0+FRAME_A1
  SAVE_A2_TO_A15 a0
  mov a2, a0
  rsr a3, excsave1
  s32i a3, a2, 0+FRAME_A0
  SAVE_SPECIAL a2, a3, 3
  RSR_SR 3, SR_EXCSAVE4
  s32i a3, a2, 0+FRAME_LITBASE
  movi a3, 0+KIND_FULL
  s32i a3, a2, 0+FRAME_KIND
  .endm

# A debug exception (`break`, `break.n`) from user mode, turned by the
# debug vector into a level-1 exception state: it is saved like any user
# exception, with the kernel's pseudo-cause for breakpoints.
  .global _user_debug_exception
  .balign 4
_user_debug_exception:
  SAVE_USER_FRAME
  movi a3, 0+EXCCAUSE_BREAKPOINT
  s32i a3, a2, 0+FRAME_EXCCAUSE
  j _user_trap

# User exception slow path (syscalls, faults, interrupts taken in user
# mode).
  .global _user_exception
  .balign 4
_user_exception:
  SAVE_USER_FRAME
_user_trap:
  movi a1, _boot_stack_top        # the one kernel stack, empty on entry
  movi a0, 0
  ENTER_KERNEL_PS a3
  call0 sotto_user_trap           # fn(frame) -> frame of the thread to run
  # fall through with a2 = that frame

# Run the thread whose frame is at a2 (in the current address space).
  .global sotto_enter_user
sotto_enter_user:
  movi a3, sotto_current_frame
  s32i a2, a3, 0
  mov a1, a2
  j _restore_frame

# The light system-call entry, from the user vector: the user's a0 in
# EXCSAVE1, every other register the user's, PS.EXCM set. While LITBASE is
# off and no zero-overhead loop is armed (else: the full path), it runs
# `sotto_syscall` (kernel/src/fastpath.rs decides) with EXCM still set, on
# the kernel stack, a2..a8 as arguments: call0 keeps a12..a15, the kernel
# touches no other user register, and it touches only pinned kernel
# memory. Nothing is saved unless the thread changes.
  .global _syscall_light
  .balign 4
_syscall_light:
  rsr a0, lcount
  bnez a0, 9f
  beqz a2, 8f                     # Null: touches nothing (fastpath.rs agrees)
  RSR_SR 0, SR_LITBASE            # before the first `l32r` (the `movi` of a
  bnez a0, 9f                     # symbol): the user's LITBASE would steer it
  .if SYS_CYCLES != 6 || SYS_SEM_GIVE != 16 || SYS_NOTIFY_SIGNAL <= 6 || SYS_NOTIFY_SIGNAL >= 16
  .error "fast system-call numbers moved: update the range checks below"
  .endif
  bltui a2, 6, 6f                 # below the fast ones (Yield...)
  movi a0, 0+SYS_SEM_GIVE
  beq a2, a0, 10f
  bgeui a2, 16, 6f                # past them (Call, ReplyRecv...)
  movi a0, 0+SYS_NOTIFY_SIGNAL
  beq a2, a0, 12f
  movi a0, 0+SYS_CYCLES
  beq a2, a0, 14f
6:
  j 7f
# Cycles for a caller whose service holds a clock capability
# (Kernel::clock_holders, read live: a capability deleted a moment ago
# counts; the service is the row of Kernel::fast_caps the entry uses):
# CCOUNT in a3, status 0. Without one, the light path answers.
  .if CAP_SLOTS * 4 != 128
  .error "a fast_caps row is no longer 128 bytes: update the srli below"
  .endif
14:
  movi a9, sotto_fast_row
  l32i a9, a9, 0
  movi a10, sotto_fast_base
  l32i a10, a10, 0
  sub a9, a9, a10
  srli a9, a9, 7                  # the running service
  movi a10, sotto_clock_holders
  l32i a10, a10, 0
  l32i a10, a10, 0
  bbc a10, a9, 6b
  rsr a3, ccount
  movi a2, 0
  movi a4, 0
  movi a9, 0
  movi a10, 0
  RETURN_PAST_SYSCALL
  .if FAST_GIVE != 1 || FAST_SIGNAL != 2
  .error "fast operations moved: update the bbci below"
  .endif
# Give and signal through a slot whose fast word (Kernel::fast_caps, kept
# by fastpath.rs) allows it, while nobody waits and, for a semaphore,
# below its most: count up or OR the bits in, return 0. Anything else
# goes to the light path with a2..a8 intact (scratch: a0, a9..a11).
10:
  bgeui a3, 0+CAP_SLOTS, 6b
  movi a9, sotto_fast_row
  l32i a9, a9, 0
  addx4 a9, a3, a9
  l32i a9, a9, 0                  # the slot's fast word
  bbci a9, 0, 6b                  # FAST_GIVE (bit 0)
  addi a9, a9, -FAST_GIVE         # the semaphore's fast words
  l32i a10, a9, 0+FAST_WAITING
  bnez a10, 6b
  l32i a10, a9, 0+FAST_VALUE
  l32i a11, a9, 0+FAST_MAX
  bgeu a10, a11, 6b
  addi a10, a10, 1
  s32i a10, a9, 0+FAST_VALUE
  j 11f
12:
  bgeui a3, 0+CAP_SLOTS, 6b
  movi a9, sotto_fast_row
  l32i a9, a9, 0
  addx4 a9, a3, a9
  l32i a9, a9, 0
  bbci a9, 1, 6b                  # FAST_SIGNAL (bit 1)
  addi a9, a9, -FAST_SIGNAL
  l32i a10, a9, 0+FAST_WAITING
  bnez a10, 6b
  l32i a10, a9, 0+FAST_VALUE
  or a10, a10, a4
  s32i a10, a9, 0+FAST_VALUE
11:                               # status 0, value 0, scratch wiped
  movi a2, 0
  movi a4, 0
  movi a9, 0
  movi a10, 0
  movi a11, 0
8:
  movi a3, 0
  RETURN_PAST_SYSCALL
7:
  WSR_SR 1, SR_MISC0
  movi a1, sotto_light_a8         # the seventh argument
  s32i a8, a1, 0
  movi a1, _boot_stack_top
  call0 sotto_syscall             # -> a2 status or marker, a3 value or frame
  bltz a2, 1f
  movi a4, 0                      # a direct return: a2, a3 results, the
  movi a5, 0                      # other scratch registers wiped
  movi a6, 0
  movi a7, 0
  movi a8, 0
  movi a9, 0
  movi a10, 0
  movi a11, 0
  RSR_SR 1, SR_MISC0
  RETURN_PAST_SYSCALL
9:
  j _user_exception
1:
  addi a4, a2, 1
  beqz a4, _syscall_slow          # LIGHT_SLOW
  movi a4, sotto_current_frame    # LIGHT_SWITCH: run the frame in a3
  l32i a5, a4, 0
  bne a3, a5, 4f
                                  # the caller again, results in its frame
  l32i a2, a5, 0+FRAME_A2
  l32i a3, a5, 0+FRAME_A3
  l32i a4, a5, 0+FRAME_A4
  l32i a6, a5, 0+FRAME_A6
  l32i a7, a5, 0+FRAME_A7
  l32i a5, a5, 0+FRAME_A5
  movi a8, 0
  movi a9, 0
  movi a10, 0
  movi a11, 0
  RSR_SR 1, SR_MISC0
  RETURN_PAST_SYSCALL
4:                                # another thread: save the caller
  .if LIGHT_HANDOFF != 0xFFFFFFFD
  .error "LIGHT_HANDOFF moved: update the addi below"
  .endif
  addi a6, a2, 3                  # LIGHT_HANDOFF: an IPC fast path
  beqz a6, 5f
  SAVE_LIGHT_CALLER a5, a6, 6
  beqz a3, 3f
  j 13f
5:
  SAVE_IPC_CALLER a5, a6, 6
13:
  s32i a3, a4, 0
  l32i a6, a3, 0+FRAME_KIND
  bnez a6, _restore_ipc_frame
  mov a1, a3
  j _restore_frame
3:                                # nothing is ready: idle with EXCM clear
  movi a1, _boot_stack_top
  movi a0, 0
  ENTER_KERNEL_PS a2
  call0 sotto_idle                # -> a2 = the frame to run
  j sotto_enter_user

# Resume the frame at a3 saved by an IPC fast path (KIND_IPC): what it
# holds comes back, the caller-saved special registers come back zero
# (never the previous thread's), a8..a11 too.
_restore_ipc_frame:
  l32i a4, a3, 0+FRAME_PS
  wsr a4, ps
  rsync
  l32i a4, a3, 0+FRAME_PC
  wsr a4, epc1
  l32i a4, a3, 0+FRAME_THREADPTR
  wur a4, threadptr
  l32i a4, a3, 0+FRAME_EXPSTATE
  WUR_UR 4, UR_EXPSTATE
  movi a4, 0
  wsr a4, sar
  wsr a4, lcount
  wsr a4, lbeg
  wsr a4, lend
  wsr a4, scompare1
  wsr a4, acclo
  wsr a4, acchi
  wsr a4, m0
  wsr a4, m1
  wsr a4, m2
  wsr a4, m3
  movi a8, 0
  movi a9, 0
  movi a10, 0
  movi a11, 0
  l32i a0, a3, 0+FRAME_A0
  l32i a1, a3, 0+FRAME_A1
  l32i a2, a3, 0+FRAME_A2
  l32i a4, a3, 0+FRAME_A4
  l32i a5, a3, 0+FRAME_A5
  l32i a6, a3, 0+FRAME_A6
  l32i a7, a3, 0+FRAME_A7
  l32i a12, a3, 0+FRAME_A12
  l32i a13, a3, 0+FRAME_A13
  l32i a14, a3, 0+FRAME_A14
  l32i a15, a3, 0+FRAME_A15
  l32i a3, a3, 0+FRAME_A3
  rfe

# The light path handed the call to the full one: a2..a8 are in the frame
# (a9..a11 zero), the rest is still in the registers.
_syscall_slow:
  movi a2, sotto_current_frame
  l32i a2, a2, 0
  RSR_SR 3, SR_MISC0
  s32i a3, a2, 0+FRAME_A1
  rsr a3, excsave1
  s32i a3, a2, 0+FRAME_A0
  s32i a12, a2, 0+FRAME_A12
  s32i a13, a2, 0+FRAME_A13
  s32i a14, a2, 0+FRAME_A14
  s32i a15, a2, 0+FRAME_A15
  SAVE_SPECIAL a2, a3, 3
  movi a3, 0
  s32i a3, a2, 0+FRAME_LITBASE    # off (checked on entry)
  s32i a3, a2, 0+FRAME_SAR        # not preserved by a system call
  .if KIND_FULL != 0
  .error "KIND_FULL moved: store it explicitly"
  .endif
  s32i a3, a2, 0+FRAME_KIND
  j _user_trap

# Double exception. a2 = DEPC, original a2 in EXCSAVE3. A fault of a TLB
# refill load becomes an ordinary exception (cause: the TLB miss, address:
# the one saved in EXCSAVE2) on the normal path; anything else is fatal.
  .global _double_exception
  .balign 4
_double_exception:
  CLEAR_LITBASE a0, 0             # a user's LITBASE must not steer these l32r
  movi a0, _dtlb_refill_load
  beq a2, a0, 1f
  movi a0, _itlb_refill_load
  beq a2, a0, 2f
  movi a1, _emergency_stack_top
  rsr a2, exccause
  rsr a3, depc
  RSR_SR 4, SR_EXCSAVE4            # EXCVADDR as the double vector found it
  rsr a5, epc1
  rsr a6, ps
  call0 sotto_double_exception    # never returns
3:
  j 3b
1:
  movi a0, 0+EXCCAUSE_DTLB_MISS
  j 4f
2:
  movi a0, 0+EXCCAUSE_ITLB_MISS
4:
  wsr a0, exccause                # EXCSAVE2 still holds the address
  RSR_SR 2, SR_EXCSAVE3
  rsr a0, ps
  .if PS_UM_BIT != 5
  .error "PS.UM moved: update the bbci below"
  .endif
  bbci a0, 5, 5f                  # PS.UM: the fault came from user mode
  j _user_exception
5:
  j _kernel_exception

# The debug vector's body (level 6: `break`, `break.n`). From user mode
# it becomes an ordinary user fault: EPC6 and EPS6 move to EPC1 and PS
# (with EXCM, so INTLEVEL drops back to the user's with level-1 exceptions
# masked), the user's a0 to EXCSAVE1, no address to EXCSAVE2. From the
# kernel it is fatal, as before.
  .global _debug_exception
  .balign 4
_debug_exception:
  wsr a0, excsave1
  RSR_SR 0, SR_EPS6
  .if PS_UM_BIT != 5
  .error "PS.UM moved: update the bbci below"
  .endif
  bbci a0, 5, 1f
  addi a0, a0, 0+PS_EXCM          # user code runs with EXCM clear
  wsr a0, ps
  rsync
  RSR_SR 0, SR_EPC6
  wsr a0, epc1
  movi a0, 0
  WSR_SR 0, SR_EXCSAVE2
  j _user_debug_exception
1:
  movi a2, 6                      # (_unexpected_vector clears LITBASE)
  RSR_SR 3, SR_EPC6
  j _unexpected_vector

# Vectors the kernel does not use. a2 = which (interrupt level, or 8 for
# the user vector), a3 = the EPC of that level.
  .global _unexpected_vector
  .balign 4
_unexpected_vector:
  CLEAR_LITBASE a1, 1
  movi a1, _emergency_stack_top
  call0 sotto_unexpected_vector   # never returns
1:
  j 1b
