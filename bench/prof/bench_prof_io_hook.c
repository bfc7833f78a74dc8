/*
 * bench_prof_io_hook.c - what the I/O hook itself costs per call, without
 * the system call's cost and noise (which on a loaded machine swamp a few
 * ns in the end-to-end figures of bench_prof_io).
 *
 * This program defines pread (exported, so it comes first in the global
 * scope: the C library's is not called, and the IO profile resolves this
 * one as "the real function"): for the fd FAKE_FD it returns at once with
 * one byte and no system call; any other fd jumps (a tail call: no frame
 * of its own) to the C library's pread. FAKE_FD is /dev/null, so the hook
 * names it once from /proc/self/fd and then finds its path in its table
 * as for any open file. The loop lives in bench_prof_io_lib.so, which
 * calls pread through its GOT slot.
 *
 * fake: CPU ns per call of the loop (CLOCK_PROCESS_CPUTIME_ID) on FAKE_FD,
 * subjects interleaved round by round: no profile (the loop calls the
 * fake pread directly), and an in-process IO profile timing every call
 * (io_sample 1), one call in 4, 8, 16 (the default) and 32. The
 * differences are the hook's own cost per call (medians of the
 * per-round differences).
 *
 * real: the same loop on a cached one-page file, so each call is a real
 * 1-byte pread system call: no profile, io_sample 1 and 16. Here "the
 * real function" the hook calls is this program's pread (which jumps to
 * the C library's), so the hook takes its general path: it calls that
 * function and runs its own code after it returns from the system call,
 * one call level deeper than the program alone (on this VM the return of
 * a function that made a system call is mispredicted, about 8 ns a
 * level). For the C library's own pread and pwrite the hook makes the
 * system call itself and adds no level: that path is measured by
 * bench_prof_io's "hook" rows (a program whose pread is the C library's).
 *
 * The preload library runs the same hook code (its exported pread jumps
 * to it).
 *
 * Run: bench_prof_io_hook [--rounds N] [--calls N]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gsperf/prof.h"
#include "../support/bench_util.h"

#define FAKE_FD 1000
#define MAXR 64

long bench_io_lib_loop(int fd, long n);

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
static pread_fn g_libc_pread; /* the C library's, for every fd but FAKE_FD */

__attribute__((visibility("default"))) ssize_t pread(int fd, void *b, size_t n, off_t off) {
  if (fd != FAKE_FD) return g_libc_pread(fd, b, n, off);
  if (n > 0) *(char *)b = 'f';
  return n > 0 ? 1 : 0;
}

static double timed_loop(int fd, long n) {
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  long got = bench_io_lib_loop(fd, n);
  double t = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
  return got == n ? t * 1e9 / (double)n : -1;
}

#define NSUB 6
static const unsigned k_sample[NSUB] = {0, 1, 4, 8, 16, 32};
#define NREAL 3
static const unsigned k_real_sample[NREAL] = {0, 1, 16};

/* ns per call on fd: no profile (sample 0), or an IO profile timing one
 * call in sample. */
static double subject(unsigned sample, int fd, long n) {
  if (sample == 0) return timed_loop(fd, n);
  gsp_prof *p;
  gsp_prof_config cfg = {.types = GSP_PROF_IO, .io_sample = sample};
  if (gsp_prof_create(&cfg, &p) != GSP_OK) return -1;
  if (gsp_prof_start(p) != GSP_OK) {
    gsp_prof_destroy(p);
    return -1;
  }
  double ns = timed_loop(fd, n);
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

/* Per subject: the median ns per call, and the hook's cost as the median
 * of the per-round differences to "no profile" of the same round (paired:
 * a slow stretch of the machine moves both sides of a round together). */
static void print_table(const double ns[][MAXR], const unsigned *sample, int nsub, int rounds) {
  for (int s = 0; s < nsub; s++) {
    char name[64];
    double d[MAXR];
    if (sample[s] == 0)
      snprintf(name, sizeof name, "no profile");
    else
      snprintf(name, sizeof name, "IO profile, io_sample %u", sample[s]);
    for (int r = 0; r < rounds; r++) d[r] = ns[s][r] - ns[0][r];
    printf("  %-38s %7.2f ns  (hook %+.2f ns)\n", name, gsp_bench_median_of(ns[s], (size_t)rounds),
           gsp_bench_median_of(d, (size_t)rounds));
  }
}

/* rounds x nsub subjects, interleaved (the order rotates each round). */
static int run_table(double ns[][MAXR], const unsigned *sample, int nsub, int fd, int rounds,
                     long calls) {
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < nsub; k++) {
      int s = (k + r) % nsub;
      ns[s][r] = subject(sample[s], fd, calls);
      if (ns[s][r] < 0) {
        printf("io_sample %u: failed (the hook did not see every call)\n", sample[s]);
        return -1;
      }
    }
  return 0;
}

/* A one-page file, cached, open for reading (unlinked at once). */
static int cached_file(void) {
  char path[] = "/tmp/bench_prof_io_hook.XXXXXX", c = 'r';
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  unlink(path);
  if (g_libc_pread == NULL || pwrite(fd, &c, 1, 0) != 1) {
    close(fd);
    return -1;
  }
  return fd;
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
  *(void **)&g_libc_pread = dlsym(RTLD_NEXT, "pread");
  int fd = open("/dev/null", O_RDONLY), real_fd = cached_file();
  if (fd < 0 || real_fd < 0 || dup2(fd, FAKE_FD) != FAKE_FD) return 1;
  close(fd);
  static double ns[NSUB][MAXR], real_ns[NREAL][MAXR];
  double load[3] = {0};
  getloadavg(load, 3);
  printf("bench_prof_io_hook: load average %.2f %.2f %.2f, %ld CPUs\n", load[0], load[1], load[2],
         sysconf(_SC_NPROCESSORS_ONLN));
  if (run_table(ns, k_sample, NSUB, FAKE_FD, rounds, calls) != 0) return 1;
  printf("fake: %ld pread calls a round, no system call, CPU ns per call, median of %d rounds\n",
         calls, rounds);
  print_table(ns, k_sample, NSUB, rounds);
  long real_calls = calls / 20 > 1000 ? calls / 20 : 1000;
  if (run_table(real_ns, k_real_sample, NREAL, real_fd, rounds, real_calls) != 0) return 1;
  printf(
      "real: %ld 1-byte preads of a cached file a round (the hook calling this program's "
      "pread), CPU ns per call, median of %d rounds\n",
      real_calls, rounds);
  print_table(real_ns, k_real_sample, NREAL, rounds);
  close(real_fd);
  getloadavg(load, 3);
  printf("load average at end %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  return 0;
}
