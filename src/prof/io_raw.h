/*
 * io_raw.h - a system call made in line, for the I/O hooks (io_hook.c).
 *
 * Why: on this kind of VM a function that makes a system call returns
 * with a mispredicted return (the kernel leaves the CPU's return stack
 * filled with its own entries), about 8 ns per call level that returns
 * after the system call. A hook that calls the C library's pread adds one
 * such level; a hook that makes the system call itself adds none.
 *
 * gsp__io_raw_syscall4 is the x86-64 `syscall` instruction with four
 * arguments; it returns the kernel's result (-errno on failure), sets no
 * errno and is not a cancellation point (the caller sees to both).
 * GSP__IO_RAW is 1 where it exists; elsewhere 0 and the hooks always call
 * the C library.
 *
 * Thread safety: none needed (no state).
 */
#ifndef GSP_PROF_IO_RAW_H
#define GSP_PROF_IO_RAW_H

#if defined(__x86_64__)
#define GSP__IO_RAW 1
static inline __attribute__((always_inline)) long gsp__io_raw_syscall4(long nr, long a, long b,
                                                                       long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
}
#else
#define GSP__IO_RAW 0
static inline long gsp__io_raw_syscall4(long nr, long a, long b, long c, long d) {
  (void)nr, (void)a, (void)b, (void)c, (void)d;
  return -38; /* ENOSYS: never called (GSP__IO_RAW is 0) */
}
#endif

#endif
