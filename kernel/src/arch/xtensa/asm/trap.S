# Trap entry and exit: save a full TrapFrame, run the Rust handler with
# PS.EXCM clear (so a fault inside it is reported, not a double exception),
# restore and return.
  .include "macros.inc"

# The words of `sotto_fast` (fastpath.rs `FastWords`) by name.
  .set sotto_current_frame, sotto_fast + FAST_CURRENT_FRAME
  .set sotto_sched, sotto_fast + FAST_SCHED
  .set sotto_kernel_ticks, sotto_fast + FAST_TICKS
  .set sotto_threads, sotto_fast + FAST_THREADS

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
# its frame \f: a0 (in EXCSAVE1), a1 (in MISC0, or live in a1 with
# a1_live), PC past the `syscall`, PS (unless ps=0: a user thread's PS at
# a system call is the same constant its frame was made with — UM, ring 1,
# EXCM — and call0 code never sets CALLINC), a12..a15, and the
# thread-owned THREADPTR and EXPSTATE. \t is a scratch register,
# \t_number its number. With kept=0, a1 and a12..a15 are in the frame
# already.
  .macro SAVE_CALL_KEPT f, t, t_number, a1_live=0, ps=1, kept=1, exp=1
  rsr \t, excsave1
  s32i.n \t, \f, 0+FRAME_A0
  .if \kept
  .if \a1_live
  s32i.n a1, \f, 0+FRAME_A1
  .else
  RSR_SR \t_number, SR_MISC0
  s32i.n \t, \f, 0+FRAME_A1
  .endif
  .endif
  rsr \t, epc1
  addi \t, \t, 3
  s32i \t, \f, 0+FRAME_PC
  .if \ps
  rsr \t, ps
  s32i \t, \f, 0+FRAME_PS
  .endif
  .if \kept
  s32i.n a12, \f, 0+FRAME_A12
  s32i.n a13, \f, 0+FRAME_A13
  s32i.n a14, \f, 0+FRAME_A14
  s32i.n a15, \f, 0+FRAME_A15
  .endif
  rur \t, threadptr
  s32i \t, \f, 0+FRAME_THREADPTR
  .if \exp
  RUR_UR \t_number, UR_EXPSTATE
  s32i \t, \f, 0+FRAME_EXPSTATE
  .endif
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
  s32i.n \t, \f, 0+FRAME_A8
  s32i.n \t, \f, 0+FRAME_A9
  s32i.n \t, \f, 0+FRAME_A10
  s32i.n \t, \f, 0+FRAME_A11
  s32i \t, \f, 0+FRAME_SAR
  s32i \t, \f, 0+FRAME_LCOUNT
  s32i \t, \f, 0+FRAME_LITBASE
  s32i \t, \f, 0+FRAME_KIND       # KIND_FULL (0)
  .endm

# Save the caller of an IPC fast path (LIGHT_HANDOFF) into its frame \f:
# only what survives a function call — a0, a1, PC, a12..a15 — and the
# thread-owned THREADPTR; a2..a7 are in the frame already. EXPSTATE, like
# MAC16 and the loop registers, is not kept by a fast-path switch
# (`sotto_abi::syscall`). The frame is KIND_IPC: every way back to user
# mode (`_enter_user`, the light and express paths) resumes it with
# `_restore_ipc_frame` or RESUME_IPC, which set LCOUNT, EXPSTATE and the
# other caller-saved registers zero and leave LITBASE off, as it was at
# the call. kept=0: a12..a15 are in
# the frame already, and a1; \kind, if given, is a register holding
# KIND_IPC.
  .macro SAVE_IPC_CALLER f, t, t_number, a1_live=0, kept=1, kind
  SAVE_CALL_KEPT \f, \t, \t_number, \a1_live, 0, \kept, 0
  .ifb \kind
  movi \t, 0+KIND_IPC
  s32i \t, \f, 0+FRAME_KIND
  .else
  s32i \kind, \f, 0+FRAME_KIND
  .endif
  .endm

# Switch the MMU to the address space of the thread whose
# `sotto_threads` entry is at \entry (+ \eoff), as `services::switch_to`
# does: nothing is noted (RASID names the space, the running thread's
# frame leads to its fast row). Clobbers a12, a13. Only the window and the
# ASIDs change: kernel code
# and data are reached through wired way-4 entries (ASID 1), the space's
# own entries are ASID-tagged, and its L1 is pinned by the first refill
# that needs it (the double vector, vectors.S). No sync here: the new
# RASID and PTEVADDR only affect translations of the new space (ring 1)
# and refills, none of which happens before the `isync` of the resume
# that follows every use (RESUME_IPC, `_restore_frame`; Xtensa ISA: ISYNC
# performs RSYNC, ESYNC and DSYNC too) and the `rfe` after it: the
# kernel's accesses in between hit wired ASID-1 entries.
  .macro SWITCH_SPACE entry, eoff=0
  l32i a12, \entry, 0+\eoff+THREAD_SPACE
  l32i a13, \entry, 0+\eoff+THREAD_SPACE+4
  WSR_SR 12, SR_PTEVADDR
  WSR_SR 13, SR_RASID
  .endm

# a12..a15 back from the frame at \f, where an express path put them to
# use them as scratch (its decline).
  .macro UNSTASH_KEPT f
  l32i.n a12, \f, 0+FRAME_A12
  l32i.n a13, \f, 0+FRAME_A13
  l32i.n a14, \f, 0+FRAME_A14
  l32i.n a15, \f, 0+FRAME_A15
  .endm

# Resume, up to its a2..a11, the thread whose KIND_IPC frame is at \f:
# PS, PC, THREADPTR, a0, a1 and a12..a15 from the frame; SAR, LCOUNT,
# the loop bounds, SCOMPARE1, MAC16 and EXPSTATE zero (never another
# thread's: the express Call and ReplyRecv run with the caller's LCOUNT,
# loops being off while PS.EXCM is set). Clobbers a8 only (it ends zero);
# \f may be a1 (loaded last).
# Its `isync` (an RSYNC for PS, and more) also settles a SWITCH_SPACE before
# it, as `_restore_frame`'s does.
  .macro RESUME_IPC f
  l32i a8, \f, 0+FRAME_PS
  wsr a8, ps
  isync
  l32i a8, \f, 0+FRAME_PC
  wsr a8, epc1
  l32i a8, \f, 0+FRAME_THREADPTR
  wur a8, threadptr
  movi.n a8, 0
  WUR_UR 8, UR_EXPSTATE
  wsr a8, sar
  wsr a8, lcount
  wsr a8, lbeg
  wsr a8, lend
  wsr a8, scompare1
  mul.aa.ll a8, a8                # ACCLO, ACCHI = 0 * 0 (one write for both)
  wsr a8, m0
  wsr a8, m1
  wsr a8, m2
  wsr a8, m3
  l32i.n a0, \f, 0+FRAME_A0
  l32i.n a12, \f, 0+FRAME_A12
  l32i.n a13, \f, 0+FRAME_A13
  l32i.n a14, \f, 0+FRAME_A14
  l32i.n a15, \f, 0+FRAME_A15
  l32i.n a1, \f, 0+FRAME_A1        # last: \f may be a1
  .endm

# The slot a3 as the entry sees it (`Kernel::fast_caps`, four words) into
# \s, going to \fail unless it is a slot and its operations include bit
# \bit; \t is scratch. With \frame, the running thread's frame (its
# `Thread`, which holds its space's fast row) is in \frame already.
  .macro FAST_SLOT s, t, bit, fail, frame
  bgeui a3, 0+CAP_SLOTS, \fail
  .ifb \frame
  LA \s, sotto_current_frame
  l32i \s, \s, 0
  l32i \s, \s, 0+THREAD_FAST_ROW
  .else
  l32i \s, \frame, 0+THREAD_FAST_ROW
  .endif
  slli \t, a3, 0+SLOT_SHIFT
  add.n \s, \s, \t
  l32i \t, \s, 0+SLOT_OPS
  bbci \t, 0+\bit, \fail
  .endm

# The scheduler at \sched hands the CPU from thread \from (blocked) to
# thread \to (running, current), as `Scheduler::hand_over` does without a
# time limit; \t and \u are scratch.
  .macro HAND_OVER sched, from, to, t, u, from_kind=KIND_BLOCKED
  add.n \t, \sched, \from
  movi \u, 0+\from_kind
  s8i \u, \t, 0+SCHED_KIND
  add.n \t, \sched, \to
  movi \u, 0+KIND_RUNNING
  s8i \u, \t, 0+SCHED_KIND
  s8i \to, \sched, 0+SCHED_CURRENT
  .endm

# \lo, \hi = the tick a `CallTimeout` with deadline \until (its a8) ends
# at, from the kernel's tick count (`Kernel::deadline_at`): the count
# plus the deadline's 32-bit distance from it, at least one. \lo may be
# \until; \hi and \t are scratch, distinct from both. With \base,
# `sotto_fast` is at \base already.
  .macro DEADLINE until, lo, hi, t, base
  .ifb \base
  LA \hi, sotto_kernel_ticks
  l32i.n \hi, \hi, 0
  .else
  l32i.n \hi, \base, 0+FAST_TICKS  # where `Kernel::ticks` is
  .endif
  l32i.n \t, \hi, 0                # the count's low word
  sub \lo, \until, \t
  bgei \lo, 1, 1f
  movi.n \lo, 1                    # not after the count: the next tick
1:
  add.n \lo, \t, \lo
  l32i.n \hi, \hi, 4
  bgeu \lo, \t, 1f
  addi.n \hi, \hi, 1               # the carry
1:
  .endm

# \d = 1 << priority \p, from `sotto_urgent_masks` ((2 << p) - 1 xor its
# half), without SAR (a user's, not kept by a call but not to be leaked
# into either); \t is scratch.
  .macro PRIORITY_BIT d, p, t
  LA \d, sotto_urgent_masks
  addx4 \d, \p, \d
  l32i \d, \d, 0
  srli \t, \d, 1
  xor \d, \d, \t
  .endm

# \d = the address of the child count (a u16) of slot \slot in
# capability space \space, in the counts at \base (`sotto_cap_children`);
# \d may be \space, not \base or \slot.
  .macro CHILD_COUNT d, base, space, slot
  slli \d, \space, 0+CAP_CHILDREN_SHIFT
  add.n \d, \base, \d
  addx2 \d, \slot, \d
  .endm

# a\first..a11 zero (scratch a system call does not keep).
  .macro ZERO_TO_A11 first
  .irp r, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
  .if \r >= \first
  movi.n a\r, 0
  .endif
  .endr
  .endm

# A thread's results a2..a7 from its frame at \f (register a\n, loaded
# last), and a8..a11 zero.
  .macro RESULTS_FROM f, n
  .irp r, 2, 3, 4, 5, 6, 7
  .if \r != \n
  l32i.n a\r, \f, 0+FRAME_A\r
  .endif
  .endr
  l32i.n \f, \f, 0+FRAME_A\n
  movi.n a8, 0
  movi.n a9, 0
  movi.n a10, 0
  movi.n a11, 0
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
  .set LITBASE_SAFE, 1
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
# resume. The express tick: the idle loop committed the tick of the
# alarm and armed `sotto_idle_wake` (kernel/src/main.rs, `prepare_idle`);
# when the timer's interrupt comes, set the next alarm (which also
# clears this one), give a clock holder the cycle count it asked for, and
# run the woken thread: its space switched, its frame restored whole (so
# no register of the kernel or of a thread before it remains). Armed but
# not the timer (spurious: it is the only interrupt enabled): wait on.
# Not armed: the full path on the empty kernel stack, then the thread
# the scheduler picks (or idle again inside, never returning here).
  .balign 4
_idle_interrupt:
  LA a2, sotto_idle_wake
  l32i.n a3, a2, 0+WAKE_ARMED
  beqz a3, 8f
  rsr a3, interrupt
  bbci a3, 0+IRQ_TIMER0, 7f
  j _idle_express
7:
  LA a1, _boot_stack_top
  ENTER_KERNEL_PS a2
  j sotto_idle_wait
8:
  LA a1, _boot_stack_top
  movi.n a0, 0
  ENTER_KERNEL_PS a2
  call0 sotto_idle_interrupt      # -> a2 = the frame to run
  j sotto_enter_user

# Kernel exception slow path. On entry: PS.EXCM = 1, original a0 in
# EXCSAVE1, a1 = the interrupted kernel stack, EPC1/EXCCAUSE/EXCVADDR set.
  .global _kernel_exception
  .balign 4
_kernel_exception:
  .set LITBASE_SAFE, 0
  addi a1, a1, -128               # FRAME_SIZE in two steps (addi: -128..127)
  addi a1, a1, -(FRAME_SIZE - 128)
  s32i.n a2, a1, 0+FRAME_A2         # (a2 again below: one register to compare)
  CLEAR_LITBASE a0, 0             # (kernel code runs with it off; the frame
  rsr a2, epc1                    # says so) before the `l32r` below
  LA a0, _idle_resume
  beq a2, a0, _idle_interrupt
  SAVE_A2_TO_A15 a1
  rsr a2, excsave1
  s32i.n a2, a1, 0+FRAME_A0
  addi a2, a1, 127                # a1 + FRAME_SIZE, again in two steps
  addi a2, a2, 0+(FRAME_SIZE - 127)
  s32i.n a2, a1, 0+FRAME_A1
  SAVE_SPECIAL a1, a2, 2
  movi.n a2, 0                      # the kernel runs with LITBASE off
  s32i a2, a1, 0+FRAME_LITBASE
  ENTER_KERNEL_PS a2
  mov.n a2, a1
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
  l32i.n a0, a1, 0+FRAME_A0
  l32i.n a2, a1, 0+FRAME_A2
  l32i.n a3, a1, 0+FRAME_A3
  l32i.n a4, a1, 0+FRAME_A4
  l32i.n a5, a1, 0+FRAME_A5
  l32i.n a6, a1, 0+FRAME_A6
  l32i.n a7, a1, 0+FRAME_A7
  l32i.n a8, a1, 0+FRAME_A8
  l32i.n a9, a1, 0+FRAME_A9
  l32i.n a10, a1, 0+FRAME_A10
  l32i.n a11, a1, 0+FRAME_A11
  l32i.n a12, a1, 0+FRAME_A12
  l32i.n a13, a1, 0+FRAME_A13
  l32i.n a14, a1, 0+FRAME_A14
  l32i.n a15, a1, 0+FRAME_A15
  l32i.n a1, a1, 0+FRAME_A1
  rfe

# Save the running user thread's registers into its frame (found through
# `sotto_fast`; the user stack is never touched). On entry: PS.EXCM
# = 1, the user's a0 in EXCSAVE1, every other register the user's. Leaves
# a2 = the frame. The user's LITBASE goes through EXCSAVE4 (free outside a
# double exception, which has consumed it by the time it jumps here): it
# must be off before the first `l32r`. Expanded once (`_user_exception`):
# its label is where `_syscall_slow` joins it.
  .macro SAVE_USER_FRAME
  RSR_SR 0, SR_LITBASE
  WSR_SR 0, SR_EXCSAVE4
  CLEAR_LITBASE a0, 0
  LA a0, sotto_current_frame
  l32i.n a0, a0, 0
  s32i.n a1, a0, 0+FRAME_A1
  SAVE_A2_TO_A15 a0
  mov.n a2, a0
  rsr a3, excsave1
  s32i.n a3, a2, 0+FRAME_A0
_user_save_special:               # (the light path's handoff joins here)
  SAVE_SPECIAL a2, a3, 3
  RSR_SR 3, SR_EXCSAVE4
  s32i a3, a2, 0+FRAME_LITBASE
  movi a3, 0+KIND_FULL
  s32i a3, a2, 0+FRAME_KIND
  .endm

# User exception slow path (syscalls, faults, interrupts taken in user
# mode, and debug exceptions from user mode, which the debug vector turns
# into a level-1 exception state with the breakpoint's cause).
  .global _user_exception
  .balign 4
_user_exception:
  .set LITBASE_SAFE, 0
  SAVE_USER_FRAME
_user_trap:
  LA a1, _boot_stack_top        # the one kernel stack, empty on entry
  movi.n a0, 0
  ENTER_KERNEL_PS a3
  call0 sotto_user_trap           # fn(frame) -> frame of the thread to run
  # fall through with a2 = that frame
_enter_user:
  LA a3, sotto_current_frame
  s32i.n a2, a3, 0
  l32i a3, a2, 0+FRAME_KIND
  mov.n a1, a2
  beqz a3, _restore_frame         # KIND_FULL
  mov.n a3, a2                      # KIND_IPC: what it keeps, the rest zero
  j _restore_ipc_frame

# Run the thread whose frame is at a2 (in the current address space). Rust
# calls it with `call0`, which needs an aligned target.
  .global sotto_enter_user
  .balign 4
sotto_enter_user:
  j _enter_user

# The express tick taken (`_idle_interrupt`): a2 = `sotto_idle_wake`.
_idle_express:
  movi.n a3, 0                      # taken
  s32i.n a3, a2, 0+WAKE_ARMED
  l32i.n a3, a2, 0+WAKE_NEXT_COMPARE
  wsr a3, ccompare0
  rsr a4, ccount
  sub a4, a4, a3
  bgez a4, 6f                     # passed already: the interrupt came late
1:
  l32i.n a4, a2, 0+WAKE_CYCLES_AT
  beqz a4, 2f
  rsr a5, ccount
  s32i.n a5, a4, 0
2:
  l32i.n a6, a2, 0+WAKE_THREAD
  LA a5, sotto_threads
  slli a4, a6, 0+THREAD_SHIFT
  add.n a5, a5, a4                  # its thread entry
  SWITCH_SPACE a5
  l32i.n a2, a5, 0+THREAD_FRAME   # its frame (first in its thread)
  j _enter_user
6:                                # come back at once (the full tick of
  rsr a3, ccount                  # the ticks since sets the alarm again)
  addi a3, a3, 2
  wsr a3, ccompare0
  rsr a4, ccount
  sub a4, a4, a3
  bgez a4, 6b
  j 1b

# (The light entry's way to the full path, within its branches' reach.)
9:
  j _user_exception

# The light system-call entry, from the user vector: the user's a0 in
# EXCSAVE1, every other register the user's, PS.EXCM set (so no
# zero-overhead loop runs: the ISA loops back only with EXCM clear). While
# LITBASE is off (else: the full path), it answers the express calls in
# assembly; the rest, while no loop is armed (else: the full path, which
# keeps LCOUNT), runs
# `sotto_syscall` (kernel/src/fastpath.rs decides) with EXCM still set, on
# the kernel stack, a2..a8 as arguments: call0 keeps a12..a15, the kernel
# touches no other user register, and it touches only pinned kernel
# memory. Nothing is saved unless the thread changes.
  .global _syscall_light
  .balign 4
_syscall_light:
  .set LITBASE_SAFE, 0
  RSR_SR 0, SR_LITBASE            # a user's LITBASE would steer every
  bnez a0, 9b                     # l32r (movi of a symbol) below
  .set LITBASE_SAFE, 1
  addi a0, a2, -SYS_CALL          # (beqz reaches further than beq)
  beqz a0, 20f                    # Call and ReplyRecv first: the IPC
  .if SYS_CALL_TIMEOUT - SYS_CALL != 5 || SYS_REPLY_RECV - SYS_CALL != 3 || SYS_YIELD != 3
  .error "the system-call numbers moved: update the beqi below"
  .endif
  beqi a0, 3, 30f                 # round trip pays no other test (beqi:
  beqz a2, 8f                     # numbers among its constants, but a
                                  # shorter reach); Null: touches nothing
                                  # (fastpath.rs agrees)
  beqi a0, 5, 3f                  # CallTimeout
  beqi a2, 3, 5f                  # Yield
  beqi a2, 0+SYS_SEM_GIVE, 1f
  movi a0, 0+SYS_NOTIFY_SIGNAL
  beq a2, a0, 2f
  beqi a2, 0+SYS_CYCLES, 4f
  beqi a2, 0+SYS_CAP_DELETE, 17f
6:
  j 7f
17:
  j 16f
3:
  j 22f
5:
  j 40f
1:
  j 10f
2:
  j 12f
4:
  j 14f
# The express ReplyRecv (30), within the dispatch's reach.
36:
  movi a2, 0+SYS_REPLY_RECV
  j 7f
39:                               # (38 jumps here: the checks' decline)
  UNSTASH_KEPT a11
  l32i.n a4, a11, 0+FRAME_A4
  movi.n a8, 0                      # scratch below, not an argument of
                                  # ReplyRecv: it comes back zero, never
                                  # the kernel's (sotto_abi::syscall)
  l32i.n a1, a11, 0+FRAME_A1
  movi a2, 0+SYS_REPLY_RECV
  j 7f
38:                               # (within the branches' 128 bytes)
  j 39b

# ReplyRecv through slot a3 (RECEIVE bit) with an info (a4) that carries
# nothing — at most a receive window for the next call and the request to
# hear of a dropped reply (EXPRESS_REPLY_INFO): the reply goes to the caller C this
# thread S owes one, S parks as the endpoint's only receiver (no caller
# queued), and C runs if it would anyway: C gets a2 = 0, a3 = its
# receive-slot field, a4 = CCOUNT if it holds the clock (else 0), a5..a7
# the reply.
30:
  movi a9, ~MSG_EXPRESS_REPLY     # nothing but the dropped flag and a
  bany a4, a9, 36b                # window 0..=30
  LA a0, sotto_fast               # a0: the fast words
  l32i.n a11, a0, 0+FAST_CURRENT_FRAME # a11: S's frame (its thread)
  FAST_SLOT a9, a10, FAST_RECEIVE_BIT, 36b, a11
  l32i.n a10, a9, 0+SLOT_OBJECT     # a10: the endpoint
  l16ui a2, a10, 0+EP_LENS         # both queues' counts (36 restores a2)
  bnez a2, 36b                     # a caller queued (the receive takes
                                  # it) or another receiver
  s32i.n a4, a11, 0+FRAME_A4        # its receive info (every path stores it)
  s32i.n a1, a11, 0+FRAME_A1        # what S keeps, in its frame now: from
  s32i.n a12, a11, 0+FRAME_A12      # here a1, a2, a4 and a12..a15 are
  s32i.n a13, a11, 0+FRAME_A13      # scratch (38 takes them back)
  s32i.n a14, a11, 0+FRAME_A14
  s32i.n a15, a11, 0+FRAME_A15
  l16ui a14, a11, 0+THREAD_REPLY # a14: C
  .if MAX_THREADS_BITS != 4
  .error "MAX_THREADS moved: update the bgeui below"
  .endif
  bgeui a14, 16, 38b              # owes no reply (NO_THREAD)
  l32i.n a2, a0, 0+FAST_SCHED       # a2: the scheduler
  slli a1, a14, 0+THREAD_SHIFT
  add.n a12, a0, a1                 # a12: C's thread entry - FAST_THREADS
  l32i.n a1, a12, 0+FAST_THREADS+THREAD_FRAME # a1: C's thread (frame first)
  l8ui a4, a1, 0+THREAD_WAIT
  bnei a4, 0+WAIT_REPLY, 38b
  l16ui a4, a1, 0+THREAD_WAIT+WAIT_PAYLOAD
  l8ui a13, a2, 0+SCHED_CURRENT   # a13: S
  bne a4, a13, 38b                # C waits for S's reply
  add.n a15, a2, a14
  l8ui a8, a15, 0+SCHED_KIND      # a8: how C waits (scratch: 39 zeroes it)
  l32i a15, a12, 0+FAST_THREADS+THREAD_URGENT # (2 << C's priority) - 1
  l32i.n a4, a2, 0+SCHED_READY_MASK
  and a4, a4, a15
  bnez a4, 38b
  l32i a15, a1, 0+FRAME_KIND
  bnei a15, 0+KIND_IPC, 38b
  bnei a8, 0+KIND_BLOCKED_UNTIL, 33f
  # C waits with a deadline (a CallTimeout): here only where it is the
  # timeout queue's only entry (`Scheduler::forget_express`), which
  # leaves as `hand_over` drops it (`forget`): the queue empty, the slot
  # not queued, a new version. (Written once nothing declines: the
  # commit.)
  l16ui a4, a2, 0+SCHED_TIMEOUTS_HEAD
  bne a4, a14, 37f
  slli a8, a14, 0+TIMEOUT_SLOT_SHIFT
  add.n a8, a8, a2
  l32i a4, a8, 0+SCHED_TIMEOUT_LINKS
  beqi a4, -1, 34f                # next, prev: both NIL
37:                               # (beyond 38's reach)
  j 39b
34:
  s16i a4, a2, 0+SCHED_TIMEOUTS_HEAD  # NIL (a4: -1)
  movi.n a4, 0                      # (a4: 0 again, for WAIT_NONE below)
  s8i a4, a8, 0+SCHED_TIMEOUT_QUEUED
  l32i a8, a2, 0+SCHED_TIMEOUTS_VERSION
  addi.n a8, a8, 1
  s32i a8, a2, 0+SCHED_TIMEOUTS_VERSION
33:
  # Commit. S parks on the endpoint; C waits no more.
  .if WAIT_NONE != 0
  .error "WAIT_NONE moved: store it from a register that holds it"
  .endif
  s8i a4, a1, 0+THREAD_WAIT      # WAIT_NONE (a4: 0)
  s8i a13, a10, 0+EP_RECEIVERS_OLDEST # the only receiver
  .if KIND_RUNNING != 1 || KIND_IPC != 1
  .error "KIND_RUNNING or KIND_IPC moved: a15 (KIND_IPC) is a length of 1 and both"
  .endif
  s8i a15, a10, 0+EP_RECEIVERS_LEN
  movi.n a4, -1                     # NO_THREAD (16 bits)
  s16i a4, a11, 0+THREAD_REPLY
  l32i.n a4, a9, 0+SLOT_RECEIVER_WAIT # Wait::Receiver(the endpoint), whole
  s32i a4, a11, 0+THREAD_WAIT
  add.n a3, a2, a14                 # a3: C's scheduler bytes
  add.n a4, a2, a13                 # S blocks, C runs (as HAND_OVER)
  movi a9, 0+KIND_BLOCKED
  s8i a9, a4, 0+SCHED_KIND
  s8i a15, a3, 0+SCHED_KIND       # KIND_RUNNING
  s8i a14, a2, 0+SCHED_CURRENT
  s32i.n a1, a0, 0+FAST_CURRENT_FRAME
  SAVE_IPC_CALLER a11, a9, 9, 0, 0, a15
  movi.n a4, 0                      # CCOUNT for a clock holder
  l32i.n a9, a0, 0+FAST_CLOCK_HOLDERS
  bbc a9, a14, 1f
  rsr a4, ccount
1:
  mov.n a2, a12                     # C's thread entry - FAST_THREADS
  SWITCH_SPACE a2, FAST_THREADS
  l8ui a3, a1, 0+FRAME_A4+3         # C's receive-slot field (the top byte)
  slli a3, a3, 0+RECV_SLOT_SHIFT
  RESUME_IPC a1
  movi.n a2, 0
  ZERO_TO_A11 9                   # (a8: zero from RESUME_IPC)
  rfe

# (The declines of the paths below.)
6:
  j 7f
# Cycles for a caller whose service holds a clock capability
# (Kernel::clock_holders, read live: a capability deleted a moment ago
# counts): CCOUNT in a3, status 0, a4 and the scratch registers used
# wiped. Without one, the light path answers (MissingRight).
14:
  LA a10, sotto_fast
  l32i.n a9, a10, 0+FAST_SCHED
  l8ui a9, a9, 0+SCHED_CURRENT    # the running thread: its service's bit
  l32i.n a10, a10, 0+FAST_CLOCK_HOLDERS
  bbc a10, a9, 6b
  rsr a3, ccount
  movi.n a2, 0
  movi.n a4, 0
  movi.n a9, 0
  movi.n a10, 0
  RETURN_PAST_SYSCALL

10:
  FAST_SLOT a9, a10, FAST_GIVE_BIT, 6b
  l32i.n a9, a9, 0+SLOT_OBJECT      # the semaphore's fast words
  l32i.n a10, a9, 0+FAST_WAITING
  bnez a10, 6b
  l32i.n a10, a9, 0+FAST_VALUE
  l32i.n a11, a9, 0+FAST_MAX
  bgeu a10, a11, 6b
  addi a10, a10, 1
  s32i.n a10, a9, 0+FAST_VALUE
  j 11f
12:
  FAST_SLOT a9, a10, FAST_SIGNAL_BIT, 6b
  l32i.n a9, a9, 0+SLOT_OBJECT
  l32i.n a10, a9, 0+FAST_WAITING
  bnez a10, 6b
  l32i.n a10, a9, 0+FAST_VALUE
  or a10, a10, a4
  s32i.n a10, a9, 0+FAST_VALUE
11:                               # status 0, value 0, scratch wiped
  movi.n a2, 0
  movi.n a4, 0
  movi.n a9, 0
  movi.n a10, 0
  movi.n a11, 0
8:
  movi.n a3, 0
  RETURN_PAST_SYSCALL

# CapDelete of slot a3 where it is express (Kernel::deletes_express): a
# capability whose removal changes no summary but its fast word (the
# DROP bit; the caller, running, waits for nothing; its service has no
# other thread, `ThreadEntry::alone`), nothing derived
# from it, and no ready thread more urgent (the caller keeps the CPU). The slot empties
# (cap.rs `layout`), its parent counts one child less, its fast word
# goes; status 0, value 0 (11). Anything else goes to the light path with
# a3..a8 intact (scratch: a0, a2, a9..a11; a2 restored at 18).
18:
  movi a2, 0+SYS_CAP_DELETE
  j 7f
16:
  FAST_SLOT a9, a10, FAST_DROP_BIT, 18b
  LA a10, sotto_sched
  l32i.n a10, a10, 0                # the scheduler
  l8ui a11, a10, 0+SCHED_CURRENT  # a11: the caller T
  LA a0, sotto_threads
  slli a2, a11, 0+THREAD_SHIFT
  add.n a0, a0, a2
  l32i a0, a0, 0+THREAD_ALONE
  beqz a0, 18b                    # another thread of its service may wait
  add.n a0, a10, a11              # through it (Kernel::deletes_express)
  l8ui a0, a0, 0+SCHED_PRIORITY   # its priority p
  l32i.n a10, a10, 0+SCHED_READY_MASK
  LA a2, sotto_urgent_masks
  addx4 a0, a0, a2
  l32i.n a0, a0, 0                  # (2 << p) - 1
  srli a0, a0, 1                  # the more urgent: (1 << p) - 1
  and a0, a0, a10
  bnez a0, 18b                    # one is ready: the light path switches
  LA a2, sotto_cap_children
  l32i.n a2, a2, 0                  # a2: the child counts
  CHILD_COUNT a10, a2, a11, a3
  l16ui a0, a10, 0
  bnez a0, 18b                    # its children would be handed on
  # Commit. The slot empties.
  LA a10, sotto_cap_slots
  l32i.n a10, a10, 0
  slli a11, a11, 0+CAP_SPACE_SHIFT
  add.n a10, a10, a11
  slli a11, a3, 0+CAP_SLOT_SHIFT
  add.n a10, a10, a11               # a10: the slot
  l8ui a0, a10, 0+CAP_TAG
  movi a11, 0+CAP_EMPTY
  s8i a11, a10, 0+CAP_TAG
  bnei a0, 0+CAP_HAS_PARENT, 19f
  l8ui a0, a10, 0+CAP_PARENT_SPACE
  l8ui a11, a10, 0+CAP_PARENT_SLOT
  CHILD_COUNT a10, a2, a0, a11
  l16ui a0, a10, 0
  addi a0, a0, -1
  s16i a0, a10, 0
19:
  movi.n a0, 0                      # its fast word: FastSlot::ZERO
  s32i.n a0, a9, 0
  s32i.n a0, a9, 4
  s32i.n a0, a9, 8
  s32i.n a0, a9, 12
  j 11b

# The express paths: `Call`, `CallTimeout`, `ReplyRecv` (and, further
# down, `Yield`; above, `CapDelete`) done here, registers only, when the light path's Rust
# (`Kernel::fast_call`, `Kernel::fast_reply_recv`, `Scheduler::rotate`)
# would do the same: the same conditions, read from the words Rust keeps
# for the entry (fast slots, the endpoint's queues, the scheduler's kinds,
# `sotto_threads`), and the same effects. `Kernel::express` is the
# decision in Rust, tested against the light path. They decline more often
# than Rust (a thread whose frame is not KIND_IPC, a second parked
# receiver, a deadline that moves the alarm): then the light path takes
# the call as if the entry had not looked. What holds whenever a thread
# runs is not checked again: the alarm is not stale (every way back to a
# thread sets it), and a parked receiver holds RECEIVE (one that loses it
# is woken with `Revoked`; the fuzzer checks both). Until the marked commit point nothing is written
# but scratch registers and the caller's own frame: its a12..a15 (so
# they serve as scratch; its frame is dead while it runs, and every path
# that saves it writes the same values) and, for ReplyRecv, its a4 (which
# every path stores); a2, a4, a1 and a12..a15 are restored on the way out
# (28, 38). A deadline of a `CallTimeout` is queued, and dropped by the
# reply, here too, where it is the timeout queue's only entry
# (`Kernel::express_timeout`, `Scheduler::forget_express`).

# Call (\timed = 0) or CallTimeout (1, the deadline in a8) through slot a3
# (CALL bit), entered at \label, a2 = \number.
  .macro CALL_EXPRESS label, timed, number
29:                               # (28 jumps here: the checks' decline)
  UNSTASH_KEPT a1
  l32i.n a1, a1, 0+FRAME_A1
  movi a2, 0+\number
  .if \timed == 0
  mov.n a4, a8
  .else
  movi a4, 0+MSG_PLAIN
  .endif
  j 7f
26:
  .if \timed == 0
  mov.n a4, a8
  .else
  movi.n a4, 0+MSG_PLAIN
  .endif
  j 7f
  .if \timed == 0
# A `Call` whose info (a4, kept in a8) holds nothing but a capability to
# send: its slot must hold one with GRANT (the fast word's GRANT bit), as
# `check_message` asks (Kernel::carries_express); the rest is a plain
# call's, and the capability follows after the commit.
25:
  extui a9, a4, 0+SEND_CAP_SHIFT, 8 # the slot + 1
  slli a10, a9, 0+SEND_CAP_SHIFT
  bne a4, a10, 26b
  addi a9, a9, -1
  bgeui a9, 0+CAP_SLOTS, 26b
  LA a10, sotto_current_frame
  l32i.n a10, a10, 0
  l32i a10, a10, 0+THREAD_FAST_ROW
  slli a9, a9, 0+SLOT_SHIFT
  add.n a10, a10, a9
  l32i.n a10, a10, 0+SLOT_OPS
  bbci a10, 0+FAST_GRANT_BIT, 26b
  j 24f
  .endif
# Call through slot a3 (CALL bit) with a plain message (a4; for `Call`,
# or one carrying only a capability, which follows after the commit into
# S's window) to an endpoint whose only receiver S waits in a plain
# receive, holds RECEIVE on it,
# is at least as urgent as the caller (else the full path's
# PriorityInversion) and would run next anyway: S gets a2 = 0, a3 = the
# badge, a4 = its receive-slot field, a5..a7 the message; the caller
# waits for the reply with what a call keeps in its frame.
28:                               # (within the branches' 128 bytes)
31:                               # (CallTimeout's checks add one nearer)
  j 29b
\label:
  .if \timed == 0
  .if MSG_PLAIN != 0
  .error "MSG_PLAIN moved: update the bnez below"
  .endif
  mov.n a8, a4                      # a8: the info (plain: 0)
  bnez a4, 25b
24:
  .else
  bnez a4, 26b                    # not plain (MSG_PLAIN: 0)
  .endif
  LA a0, sotto_fast               # a0: the fast words
  l32i.n a4, a0, 0+FAST_CURRENT_FRAME # a4: C's frame (26 restores a4)
  FAST_SLOT a9, a10, FAST_CALL_BIT, 26b, a4
  l32i.n a10, a9, 0+SLOT_OBJECT     # a10: the endpoint
  l8ui a11, a10, 0+EP_RECEIVERS_LEN
  bnei a11, 1, 26b                # one receiver (more: Rust moves them up)
  s32i.n a1, a4, 0+FRAME_A1         # what C keeps, in its frame now: from
  mov.n a1, a4                      # here a1, a2, a4 and a12..a15 are
  s32i.n a12, a1, 0+FRAME_A12       # scratch (28 takes them back)
  s32i.n a13, a1, 0+FRAME_A13       # a1: C's frame (its thread)
  s32i.n a14, a1, 0+FRAME_A14
  s32i.n a15, a1, 0+FRAME_A15
  l8ui a11, a10, 0+EP_RECEIVERS_OLDEST # a11: S, the receiver
                                  # (it holds RECEIVE: a receiver that
                                  # loses it leaves the queue, `Revoked`)
  l32i.n a2, a0, 0+FAST_SCHED       # a2: the scheduler (its alarm is
                                  # never stale while a thread runs)
  l8ui a12, a2, 0+SCHED_CURRENT
  add.n a12, a2, a12                # a12: C's scheduler bytes (to the commit)
  l8ui a4, a12, 0+SCHED_PRIORITY  # the caller's priority
  l8ui a14, a10, 0+EP_LEAST_URGENT
  bltu a4, a14, 28b               # a less urgent holder: uphill
  .if \timed
  # CallTimeout: here only where Rust's `block_until` queues the deadline
  # alone and leaves the alarm (`Scheduler::timeout_express`): the
  # timeout queue empty (head NIL), the deadline not before the armed
  # alarm (64 bits).
  l16si a4, a2, 0+SCHED_TIMEOUTS_HEAD
  bnei a4, -1, 28b
  DEADLINE a8, a13, a14, a4, a0
  l32i a4, a2, 0+SCHED_ARMED+4
  bltu a14, a4, 28b
  bne a14, a4, 32f
  l32i a4, a2, 0+SCHED_ARMED
  bgeu a13, a4, 32f
31:                               # (the checks below reach 28 no more)
  j 29b
32:
  .endif
  add.n a14, a2, a11                # a14: S's scheduler bytes
  slli a4, a11, 0+THREAD_SHIFT
  add.n a0, a0, a4                  # a0: S's thread entry - FAST_THREADS
  l32i a13, a0, 0+FAST_THREADS+THREAD_URGENT # (2 << its priority) - 1
  l32i.n a15, a2, 0+SCHED_READY_MASK
  and a15, a15, a13
  bnez a15, 31b                   # one at least as urgent is ready
  l32i.n a4, a0, 0+FAST_THREADS+THREAD_FRAME # a4: S's thread (frame first)
  l8ui a13, a4, 0+THREAD_WAIT    # in the queue, so its wait names this
  bnei a13, 0+WAIT_RECEIVER, 31b  # endpoint (fuzz-checked): a plain receive
  l32i a13, a4, 0+FRAME_KIND
  bnei a13, 0+KIND_IPC, 31b
  # Commit. The receiver leaves the queue, empty now (a15: 0).
  s8i a15, a10, 0+EP_RECEIVERS_LEN
  l32i.n a3, a9, 0+SLOT_BADGE       # a3: the badge (S's result)
  sub a10, a12, a2                # a10: the caller C
  .if KIND_RUNNING != KIND_IPC || WAIT_NONE != 0
  .error "KIND_RUNNING or WAIT_NONE moved: a13 holds KIND_IPC, a15 0 below"
  .endif
                                  # C blocks, S runs (as HAND_OVER)
  .if \timed
  movi a9, 0+KIND_BLOCKED_UNTIL
  .else
  movi a9, 0+KIND_BLOCKED
  .endif
  s8i a9, a12, 0+SCHED_KIND
  s8i a13, a14, 0+SCHED_KIND      # KIND_RUNNING (a13: KIND_IPC)
  s8i a11, a2, 0+SCHED_CURRENT
  .if \timed
  # CallTimeout: C waits until its deadline, as `block_until` queues it
  # here (`Kernel::express_timeout`): its kind (above) and tick, its slot
  # the queue's only entry (`insert_alone`), the head-changed flag taken
  # (`queue_timeout`); the alarm stays.
  DEADLINE a8, a8, a9, a12
  addx8 a12, a10, a2
  s32i a8, a12, 0+SCHED_UNTIL
  s32i a9, a12, 0+SCHED_UNTIL+4
  .if (1 << TIMEOUT_SLOT_SHIFT) != 16
  .error "a timeout slot is no longer 16 bytes: update the addx8 below"
  .endif
  addx8 a12, a10, a12                # sched + 16 * C
  s32i a8, a12, 0+SCHED_TIMEOUT_DEADLINE
  s32i a9, a12, 0+SCHED_TIMEOUT_DEADLINE+4
  movi.n a8, -1                     # next, prev: NIL
  s32i a8, a12, 0+SCHED_TIMEOUT_LINKS
  .if KIND_IPC != 1
  .error "KIND_IPC moved: a13 (KIND_IPC) is no longer true below"
  .endif
  s8i a13, a12, 0+SCHED_TIMEOUT_QUEUED # true (a13: KIND_IPC, 1)
  s16i a10, a2, 0+SCHED_TIMEOUTS_HEAD
  s8i a15, a2, 0+SCHED_TIMEOUTS_CHANGED # false (a15: 0)
  l32i a8, a2, 0+SCHED_TIMEOUTS_VERSION
  addi.n a8, a8, 1
  s32i a8, a2, 0+SCHED_TIMEOUTS_VERSION
  .endif
  s16i a10, a4, 0+THREAD_REPLY    # S owes C the reply
  s8i a15, a4, 0+THREAD_WAIT     # WAIT_NONE (a15: 0)
  LA a2, sotto_fast               # a2: the fast words (to 27)
  s32i.n a4, a2, 0+FAST_CURRENT_FRAME
  l32i a9, a0, 0+FAST_THREADS+THREAD_REPLY_WAIT # C waits for S's reply:
  s32i a9, a1, 0+THREAD_WAIT      # Wait::Reply(S), whole
  SAVE_IPC_CALLER a1, a9, 9, 0, 0, a13
  .if \timed == 0
  s32i.n a8, a1, 0+FRAME_A4         # its info: no window for a reply's capability
  .else
  movi a9, 0+MSG_PLAIN            # where a reply's capability goes: none
  s32i.n a9, a1, 0+FRAME_A4
  .endif
  .if \timed == 0
  beqz a8, 23f
  # The capability follows into S's window, as `pass_cap` copies it
  # (only into a free slot; the GRANT bit: nothing but its fast word
  # follows it): C's capability, with C's slot as its parent, which
  # counts one child more; the same fast word. a8: CAP_RECEIVED if it
  # arrived, else 0. (cap.rs `layout`; a1, a2, a9, a12..a15 are scratch.)
  .if RECV_SLOT_SHIFT != 24
  .error "the receive-slot field moved: update the l8ui below"
  .endif
  l8ui a9, a4, 0+FRAME_A4+3         # S's window + 1
  addi a9, a9, -1
  bgeui a9, 0+CAP_SLOTS, 29f      # no window
  LA a12, sotto_cap_slots
  l32i.n a12, a12, 0
  slli a13, a11, 0+CAP_SPACE_SHIFT
  add.n a13, a12, a13
  .if CAP_SLOT_SHIFT != SLOT_SHIFT
  .error "a slot and its fast word differ in size: shift twice below"
  .endif
  slli a9, a9, 0+CAP_SLOT_SHIFT   # (the window's offset in both tables)
  add.n a13, a13, a9                # a13: S's window
  l8ui a14, a13, 0+CAP_TAG
  bnei a14, 0+CAP_EMPTY, 29f      # taken: nothing arrives
  l32i a2, a1, 0+THREAD_FAST_ROW # a2: C's row of fast words
  extui a1, a8, 0+SEND_CAP_SHIFT, 8
  addi a1, a1, -1                 # a1: C's slot (checked: < CAP_SLOTS)
  slli a14, a10, 0+CAP_SPACE_SHIFT
  add.n a14, a12, a14
  slli a15, a1, 0+CAP_SLOT_SHIFT  # (its offset in both tables)
  add.n a14, a14, a15               # a14: C's slot
  .irp w, 0, 4, 8, 12
  l32i.n a8, a14, \w
  s32i.n a8, a13, \w
  .endr
  movi.n a8, 0+CAP_HAS_PARENT
  s8i a8, a13, 0+CAP_TAG
  s8i a10, a13, 0+CAP_PARENT_SPACE
  s8i a1, a13, 0+CAP_PARENT_SLOT
  LA a12, sotto_cap_children
  l32i.n a12, a12, 0
  CHILD_COUNT a13, a12, a10, a1
  l16ui a8, a13, 0
  addi.n a8, a8, 1
  s16i a8, a13, 0
  l32i a12, a4, 0+THREAD_FAST_ROW # S's row of fast words
  add.n a12, a12, a9
  add.n a13, a2, a15                # C's slot's fast word
  .irp w, 0, 4, 8, 12
  l32i.n a14, a13, \w
  s32i.n a14, a12, \w
  .endr
  movi.n a8, 1
  slli a8, a8, 0+CAP_RECEIVED_SHIFT
  j 35f
29:
  movi.n a8, 0                      # nothing arrived
35:
  l8ui a9, a4, 0+FRAME_A4+3         # S's receive-slot field, and the flag
  slli a9, a9, 0+RECV_SLOT_SHIFT
  or a9, a9, a8
  SWITCH_SPACE a0, FAST_THREADS
  RESUME_IPC a4
  mov.n a4, a9
  movi.n a2, 0
  ZERO_TO_A11 9                   # (a8: zero from RESUME_IPC)
  rfe
23:
  .endif
  .if RECV_SLOT_SHIFT != 24
  .error "the receive-slot field moved: update the l8ui below"
  .endif
  l8ui a9, a4, 0+FRAME_A4+3         # S's receive-slot field (the top byte)
  SWITCH_SPACE a0, FAST_THREADS
  RESUME_IPC a4
  slli a4, a9, 0+RECV_SLOT_SHIFT  # (a9: zero below)
  movi.n a2, 0
  ZERO_TO_A11 9                   # (a8: zero from RESUME_IPC)
  rfe
  .endm

  CALL_EXPRESS 20, 0, SYS_CALL
  CALL_EXPRESS 22, 1, SYS_CALL_TIMEOUT

# Give and signal through a slot whose fast word (Kernel::fast_caps, kept
# by fastpath.rs) allows it, while nobody waits and, for a semaphore,
# below its most: count up or OR the bits in, return 0. Anything else
# goes to the light path with a2..a8 intact (scratch: a0, a9..a11).
# Yield when the light path's `Scheduler::rotate` would switch and the
# alarm is armed for a time slice only (so none is set again): the caller
# goes to the back of its queue, the most urgent ready thread runs. Like a
# call, a yield keeps only what a call keeps (`sotto_abi::syscall`): the
# caller's frame is KIND_IPC, with results 0. a3..a11 are scratch (a
# yield has no arguments); a2 is restored on the way out (48).
48:
  movi a2, 0+SYS_YIELD
  j 7f
40:
  LA a2, sotto_sched
  l32i.n a2, a2, 0                  # a2: the scheduler
  l8ui a3, a2, 0+SCHED_ALARM
  bnei a3, 0+SCHED_ALARM_SLICE_ONLY, 48b
  l8ui a4, a2, 0+SCHED_CURRENT    # a4: the caller C
  add.n a5, a2, a4
  l8ui a5, a5, 0+SCHED_PRIORITY   # a5: its priority p
  LA a6, sotto_urgent_masks
  addx4 a6, a5, a6
  l32i.n a6, a6, 0
  l32i.n a7, a2, 0+SCHED_READY_MASK # a7: the ready mask
  and a6, a6, a7
  beqz a6, 47f                    # none at least as urgent: C goes on
  # Commit. N, the head of the most urgent queue q, leaves it.
  LA a6, sotto_lowest_bit
  add.n a6, a6, a7
  l8ui a6, a6, 0                  # a6: q
  add.n a8, a2, a6
  l8ui a9, a8, 0+SCHED_HEAD       # a9: N
  add.n a10, a2, a9
  l8ui a11, a10, 0+SCHED_NEXT
  s8i a11, a8, 0+SCHED_HEAD
  bbci a11, 7, 1f                 # NONE (255): q is empty now
  s8i a11, a8, 0+SCHED_TAIL
  PRIORITY_BIT a3, a6, a8         # 1 << q
  xor a7, a7, a3
1:                                # C goes to the back of queue p
  add.n a8, a2, a4
  movi.n a3, -1
  s8i a3, a8, 0+SCHED_NEXT
  movi a3, 0+KIND_READY
  s8i a3, a8, 0+SCHED_KIND
  add.n a10, a2, a5
  l8ui a11, a10, 0+SCHED_TAIL
  s8i a4, a10, 0+SCHED_TAIL
  bbsi a11, 7, 2f
  add.n a11, a2, a11
  s8i a4, a11, 0+SCHED_NEXT
  j 3f
2:
  s8i a4, a10, 0+SCHED_HEAD
3:
  PRIORITY_BIT a3, a5, a8         # 1 << p
  or a7, a7, a3
  s32i.n a7, a2, 0+SCHED_READY_MASK
  add.n a8, a2, a9                  # N runs
  movi a3, 0+KIND_RUNNING
  s8i a3, a8, 0+SCHED_KIND
  s8i a9, a2, 0+SCHED_CURRENT
  LA a2, sotto_current_frame
  l32i.n a3, a2, 0                  # a3: C's frame
  movi.n a5, 0                      # its results: 0
  s32i.n a5, a3, 0+FRAME_A2
  s32i.n a5, a3, 0+FRAME_A3
  s32i.n a5, a3, 0+FRAME_A4
  s32i.n a5, a3, 0+FRAME_A5
  s32i.n a5, a3, 0+FRAME_A6
  s32i.n a5, a3, 0+FRAME_A7
  SAVE_IPC_CALLER a3, a5, 5, 1    # (a1 is still the caller's)
  LA a4, sotto_threads
  slli a5, a9, 0+THREAD_SHIFT
  add.n a4, a4, a5                  # a4: N's thread entry
  l32i.n a3, a4, 0+THREAD_FRAME   # a3: N's frame
  s32i.n a3, a2, 0
  SWITCH_SPACE a4
  l32i a4, a3, 0+FRAME_KIND
  beqz a4, 49f                    # KIND_FULL: every register from the frame
  RESUME_IPC a3
  RESULTS_FROM a3, 3
  rfe
47:                               # C goes on: status 0, value 0
  ZERO_TO_A11 2
  RETURN_PAST_SYSCALL
49:
  mov.n a1, a3
  j _restore_frame

50:
  j _user_exception
7:
  rsr a0, lcount                  # the light path saves a caller it
  bnez a0, 50b                    # switches away from with LCOUNT zero
  WSR_SR 1, SR_MISC0
  LA a1, sotto_light_a8         # the seventh argument
  s32i.n a8, a1, 0
  LA a1, _boot_stack_top
  call0 sotto_syscall             # -> a2 status or marker, a3 value or frame
  bltz a2, 1f
  ZERO_TO_A11 4                   # a direct return: a2, a3 results, the
  wsr a4, sar                     # other scratch registers wiped (SAR:
  RSR_SR 1, SR_MISC0              # the Rust code's shifts, never kept)
  RETURN_PAST_SYSCALL
1:
  addi a4, a2, 1
  beqz a4, _syscall_slow          # LIGHT_SLOW
  LA a4, sotto_current_frame    # LIGHT_SWITCH: run the frame in a3
  l32i.n a5, a4, 0
  bne a3, a5, 4f
                                  # the caller again, results in its frame
  RESULTS_FROM a5, 5
  wsr a8, sar                     # (a8: 0) not the Rust code's
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
  s32i.n a3, a4, 0
  l32i a6, a3, 0+FRAME_KIND
  bnez a6, _restore_ipc_frame
  mov.n a1, a3
  j _restore_frame
3:                                # nothing is ready: idle with EXCM clear
  LA a1, _boot_stack_top
  movi.n a0, 0
  ENTER_KERNEL_PS a2
  call0 sotto_idle                # -> a2 = the frame to run
  j _enter_user

# Resume the frame at a3 saved by an IPC fast path (KIND_IPC): what it
# holds comes back, the caller-saved special registers come back zero
# (never the previous thread's), a8..a11 too.
_restore_ipc_frame:
  RESUME_IPC a3
  RESULTS_FROM a3, 3
  rfe

# The light path handed the call to the full one: a2..a8 are in the frame
# (a9..a11 zero), the rest is still in the registers.
_syscall_slow:
  LA a2, sotto_current_frame
  l32i.n a2, a2, 0
  RSR_SR 3, SR_MISC0
  s32i.n a3, a2, 0+FRAME_A1
  rsr a3, excsave1
  s32i.n a3, a2, 0+FRAME_A0
  s32i.n a12, a2, 0+FRAME_A12
  s32i.n a13, a2, 0+FRAME_A13
  s32i.n a14, a2, 0+FRAME_A14
  s32i.n a15, a2, 0+FRAME_A15
  movi.n a3, 0
  wsr a3, sar                     # not preserved by a system call: saved 0
  WSR_SR 3, SR_EXCSAVE4           # the LITBASE it saves: off (checked on entry)
  j _user_save_special            # the rest as a user exception saves it

# Double exception. a2 = DEPC, original a2 in EXCSAVE3. A fault of a TLB
# refill load becomes an ordinary exception (cause: the TLB miss, address:
# the one saved in EXCSAVE2) on the normal path; anything else is fatal.
  .global _double_exception
  .balign 4
_double_exception:
  .set LITBASE_SAFE, 0
  CLEAR_LITBASE a0, 0             # a user's LITBASE must not steer these l32r
  LA a0, _dtlb_refill_load
  beq a2, a0, 1f
  LA a0, _itlb_refill_load
  beq a2, a0, 2f
  LA a1, _emergency_stack_top
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
  .set LITBASE_SAFE, 0
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
  movi.n a0, 0
  WSR_SR 0, SR_EXCSAVE2
  .if EXCCAUSE_BREAKPOINT > 63
  .error "the breakpoint's cause no longer fits EXCCAUSE"
  .endif
  movi a0, 0+EXCCAUSE_BREAKPOINT  # (no literal: LITBASE may be the user's)
  wsr a0, exccause
  j _user_exception
1:
  movi.n a2, 6                      # (_unexpected_vector clears LITBASE)
  RSR_SR 3, SR_EPC6
  j _unexpected_vector

# Vectors the kernel does not use. a2 = which (interrupt level, or 8 for
# the user vector), a3 = the EPC of that level.
  .global _unexpected_vector
  .balign 4
_unexpected_vector:
  .set LITBASE_SAFE, 0
  CLEAR_LITBASE a1, 1
  LA a1, _emergency_stack_top
  call0 sotto_unexpected_vector   # never returns
1:
  j 1b
