/*
 * bench_prof_io_hook.c - what the I/O hook itself costs per call, without
 * the system call's cost and noise (which on a loaded machine swamp a few
 * ns in the end-to-end figures of bench_prof_io).
 *
 * This program defines pread (exported, so it comes first in the global
 * scope: the C library's is not called, and the IO profile resolves this
 * one as "the real function"): for the fd FAKE_FD it returns at once with
 * one byte and no system call; any other fd gets the real system call.
 * FAKE_FD is /dev/null, so the hook names it once from /proc/self/fd and
 * then finds its path in its table as for any open file.
 * The loop lives in bench_prof_io_lib.so, which calls pread through its
 * GOT slot. Subjects, interleaved round by round, CPU ns per call of the
 * loop (CLOCK_PROCESS_CPUTIME_ID): no profile (the loop calls the fake
 * pread directly), and an in-process IO profile timing every call
 * (io_sample 1), one call in 4, 8, 16 (the default) and 32. The
 * differences are the hook's cost per call; the preload library runs the
 * same hook code (its exported pread jumps to it).
 *
 * Run: bench_prof_io_hook [--rounds N] [--calls N]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gsperf/prof.h"
#include "../support/bench_util.h"

#define FAKE_FD 1000
#define MAXR 64

long bench_io_lib_loop(int fd, long n);

__attribute__((visibility("default"))) ssize_t pread(int fd, void *b, size_t n, off_t off) {
  if (fd != FAKE_FD) return syscall(SYS_pread64, fd, b, n, off);
  if (n > 0) *(char *)b = 'f';
  return n > 0 ? 1 : 0;
}

static double timed_loop(long n) {
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  long got = bench_io_lib_loop(FAKE_FD, n);
  double t = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
  return got == n ? t * 1e9 / (double)n : -1;
}

#define NSUB 6
static const unsigned k_sample[NSUB] = {0, 1, 4, 8, 16, 32};

/* ns per call of subject s: no profile, or an IO profile with k_sample[s]. */
static double subject(int s, long n) {
  if (s == 0) return timed_loop(n);
  gsp_prof *p;
  gsp_prof_config cfg = {.types = GSP_PROF_IO, .io_sample = k_sample[s]};
  if (gsp_prof_create(&cfg, &p) != GSP_OK) return -1;
  if (gsp_prof_start(p) != GSP_OK) {
    gsp_prof_destroy(p);
    return -1;
  }
  double ns = timed_loop(n);
  gsp_prof_io_stat *rows = NULL;
  size_t k = 0;
  uint64_t count = 0;
  gsp_prof_stop(p);
  if (gsp_prof_io_get(p, &rows, &k) == GSP_OK)
    for (size_t i = 0; i < k; i++)
      if (strcmp(rows[i].call, "pread") == 0) count += rows[i].count;
  gsp_free(rows);
  gsp_prof_destroy(p);
  return count == (uint64_t)n ? ns : -1; /* the hook saw every call */
}

int main(int argc, char **argv) {
  int rounds = 21;
  long calls = 5000000;
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--rounds") == 0)
      rounds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--calls") == 0)
      calls = atol(argv[++i]);
  }
  if (rounds < 1 || rounds > MAXR) rounds = 21;
  if (calls < 1000) calls = 5000000;
  int fd = open("/dev/null", O_RDONLY);
  if (fd < 0 || dup2(fd, FAKE_FD) != FAKE_FD) return 1;
  close(fd);
  double ns[NSUB][MAXR], load[3] = {0};
  getloadavg(load, 3);
  printf("bench_prof_io_hook: load average %.2f %.2f %.2f, %ld CPUs\n", load[0], load[1], load[2],
         sysconf(_SC_NPROCESSORS_ONLN));
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < NSUB; k++) {
      int s = (k + r) % NSUB;
      ns[s][r] = subject(s, calls);
      if (ns[s][r] < 0) {
        printf("io_sample %u: failed (the hook did not see every call)\n", k_sample[s]);
        return 1;
      }
    }
  printf("hook cost: %ld pread calls a round, CPU ns per call, median of %d rounds\n", calls,
         rounds);
  double base = gsp_bench_median_of(ns[0], (size_t)(rounds));
  for (int s = 0; s < NSUB; s++) {
    char name[64];
    if (s == 0)
      snprintf(name, sizeof name, "no profile (fake pread, no syscall)");
    else
      snprintf(name, sizeof name, "IO profile, io_sample %u", k_sample[s]);
    double m = gsp_bench_median_of(ns[s], (size_t)(rounds));
    printf("  %-38s %7.2f ns  (hook %+.2f ns)\n", name, m, m - base);
  }
  getloadavg(load, 3);
  printf("load average at end %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  return 0;
}
