# The kernel's memcpy, memmove and memset: word at a time when both ends
# are word aligned, else byte at a time. compiler_builtins' versions (weak
# symbols, which these replace) are unrolled for long copies: 1.4 KiB of
# code for a kernel whose copies are short (messages, names, boot data).
# No zero-overhead loops: the kernel must not contain any (see xtask's
# check_kernel_instructions). call0: a2 = dst, a3 = src or byte, a4 = n;
# returns dst in a2; uses only a5..a7.

  .text

# void *memcpy(void *dst, const void *src, size_t n)
  .global memcpy
  .balign 4
memcpy:
  mov a5, a2
  or a6, a2, a3
  extui a6, a6, 0, 2
  bnez a6, 2f
  j 5f
4:                              # 16 bytes a round while that many are left
  l32i a6, a3, 0
  l32i a7, a3, 4
  s32i a6, a5, 0
  s32i a7, a5, 4
  l32i a6, a3, 8
  l32i a7, a3, 12
  s32i a6, a5, 8
  s32i a7, a5, 12
  addi a4, a4, -16
  addi a3, a3, 16
  addi a5, a5, 16
5:
  bgeui a4, 16, 4b
1:
  bltui a4, 4, 2f
  l32i a6, a3, 0
  addi a4, a4, -4
  addi a3, a3, 4
  s32i a6, a5, 0
  addi a5, a5, 4
  j 1b
2:
  beqz a4, 3f
  l8ui a6, a3, 0
  addi a4, a4, -1
  addi a3, a3, 1
  s8i a6, a5, 0
  addi a5, a5, 1
  j 2b
3:
  ret

# void *memmove(void *dst, const void *src, size_t n): forward unless dst
# lies inside the source, then backward from the end.
  .global memmove
  .balign 4
memmove:
  sub a6, a2, a3
  bgeu a6, a4, memcpy           # dst - src >= n (unsigned): no overlap ahead
  add a5, a2, a4
  add a3, a3, a4
  or a6, a5, a3
  extui a6, a6, 0, 2
  bnez a6, 2f
1:
  bltui a4, 4, 2f
  addi a3, a3, -4
  addi a5, a5, -4
  l32i a6, a3, 0
  addi a4, a4, -4
  s32i a6, a5, 0
  j 1b
2:
  beqz a4, 3f
  addi a3, a3, -1
  addi a5, a5, -1
  l8ui a6, a3, 0
  addi a4, a4, -1
  s8i a6, a5, 0
  j 2b
3:
  ret

# void *memset(void *dst, int byte, size_t n)
  .global memset
  .balign 4
memset:
  mov a5, a2
  extui a3, a3, 0, 8
  extui a6, a2, 0, 2
  bnez a6, 2f
  slli a6, a3, 8
  or a6, a6, a3
  slli a7, a6, 16
  or a7, a7, a6
  j 5f
4:                              # 16 bytes a round while that many are left
  s32i a7, a5, 0
  s32i a7, a5, 4
  s32i a7, a5, 8
  s32i a7, a5, 12
  addi a4, a4, -16
  addi a5, a5, 16
5:
  bgeui a4, 16, 4b
1:
  bltui a4, 4, 2f
  s32i a7, a5, 0
  addi a4, a4, -4
  addi a5, a5, 4
  j 1b
2:
  beqz a4, 3f
  s8i a3, a5, 0
  addi a4, a4, -1
  addi a5, a5, 1
  j 2b
3:
  ret
