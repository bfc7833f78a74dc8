/*
 * bench_prof_io.c - what I/O tracking and the in-process MEMORY profile
 * cost, next to their peers, in one run.
 *
 * io: N pairs of a 4 KiB pwrite and a 4 KiB pread at rotating offsets
 *   of a page-cached 16 MiB file (the work of io_work). In this process,
 *   CPU of the loop from CLOCK_PROCESS_CPUTIME_ID: plain, and under an
 *   in-process IO profile (gsp_prof_start with GSP_PROF_IO, GOT-patched
 *   hooks) timing every call (io_sample 1) and one call in 16 (the
 *   default). As child processes, CPU from wait4: io_work plain, under
 *   libgsperf-preload.so with I/O tracking only (GSP_PROF_IO=1,
 *   GSP_PROF_CPU=0) with GSP_PROF_IO_SAMPLE=1 and with the default, and
 *   under the peer, `strace -c -f` (when installed). Overhead = CPU /
 *   CPU(plain of the same kind, same round) - 1, medians of interleaved
 *   rounds. Target: <= 5%.
 *
 * hook: CPU ns per call of a 1-byte pread of a cached file (a cheap
 *   call, so that the hook's own cost shows): plain, and in-process with
 *   every call timed and with one in 16; the differences are what the
 *   hook adds per call.
 *
 * heap: CPU ns per malloc+free pair (16..256 bytes, a window of 64 live
 *   blocks) in this process: plain glibc, and under an in-process MEMORY
 *   profile tracking every allocation (its leak check at stop not timed).
 *   Target: <= 100 ns per pair, as for the preload.
 *
 * The machine is shared and noisy: the load average is printed before
 * and after; read differences of a percent or two as noise unless they
 * repeat.
 *
 * Run: bench_prof_io [--quick] [--rounds N]   (io_work next to itself,
 * libgsperf-preload.so in the build root)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gsperf/prof.h"
#include "../support/bench_util.h"

#define MAXR 32
enum { S_PLAIN, S_GSP1, S_GSPD, S_CHILD, S_PRE1, S_PRED, S_STRACE, NS };
static const char *const k_names[NS] = {
    "plain (in-process)",  "IO profile, every call", "IO profile, 1 in 16", "io_work (child)",
    "preload, every call", "preload, 1 in 16",       "strace -c -f io_work"};
static const int k_base[NS] = {S_PLAIN, S_PLAIN, S_PLAIN, S_CHILD, S_CHILD, S_CHILD, S_CHILD};
extern char **environ;

static void print_load(const char *when) {
  double load[3] = {0};
  getloadavg(load, 3);
  printf("load average %s: %.2f %.2f %.2f (%ld CPUs)\n", when, load[0], load[1], load[2],
         sysconf(_SC_NPROCESSORS_ONLN));
}

static double io_loop(const char *file, long n) {
  static char buf[4096];
  memset(buf, 'y', sizeof buf);
  int fd = open(file, O_CREAT | O_TRUNC | O_RDWR, 0644);
  if (fd < 0) return -1;
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < n; i++) {
    off_t off = (off_t)(i % 4096) * 4096;
    if (pwrite(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) return -1;
    if (pread(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) return -1;
  }
  double t = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
  close(fd);
  unlink(file);
  return t;
}

/* n 1-byte preads of a one-page cached file. */
static double small_loop(const char *file, long n) {
  char c = 'z';
  int fd = open(file, O_CREAT | O_TRUNC | O_RDWR, 0644);
  if (fd < 0 || pwrite(fd, &c, 1, 0) != 1) return -1;
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < n; i++)
    if (pread(fd, &c, 1, 0) != 1) return -1;
  double t = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
  close(fd);
  unlink(file);
  return t;
}

static double with_profile(unsigned types, unsigned io_sample, double (*run)(const char *, long),
                           const char *a, long n) {
  gsp_prof *p;
  gsp_prof_config cfg = {.types = types, .io_sample = io_sample};
  if (gsp_prof_create(&cfg, &p) != GSP_OK) return -1;
  if (gsp_prof_start(p) != GSP_OK) {
    gsp_prof_destroy(p);
    return -1;
  }
  double t = run(a, n);
  gsp_prof_stop(p);
  gsp_prof_destroy(p);
  return t;
}

static double spawn_cpu(char *const argv[], char *const envp[]) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int st;
  struct rusage ru;
  if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

typedef struct io_env {
  char *child[4], *strace[9];
  char *none[1], *pre1[6], *pred[5];
  char file[96], n[32], ld[PATH_MAX + 48], dir[96];
  bool have_strace, have_preload;
} io_env;

static void io_env_init(io_env *e, const char *work, const char *preload, const char *tmp, long n) {
  memset(e, 0, sizeof *e);
  snprintf(e->file, sizeof e->file, "%s/io.dat", tmp);
  snprintf(e->n, sizeof e->n, "%ld", n);
  snprintf(e->ld, sizeof e->ld, "LD_PRELOAD=%s", preload);
  snprintf(e->dir, sizeof e->dir, "GSP_PROF_DIR=%s", tmp);
  e->have_strace = access("/usr/bin/strace", X_OK) == 0;
  e->have_preload = access(preload, R_OK) == 0;
  char *child[] = {(char *)work, e->file, e->n, NULL};
  char *st[] = {"/usr/bin/strace", "-c",    "-f", "-o", "/dev/null",
                (char *)work,      e->file, e->n, NULL};
  char *pre1[] = {e->ld, e->dir, "GSP_PROF_CPU=0", "GSP_PROF_IO=1", "GSP_PROF_IO_SAMPLE=1", NULL};
  char *pred[] = {e->ld, e->dir, "GSP_PROF_CPU=0", "GSP_PROF_IO=1", NULL};
  memcpy(e->child, child, sizeof child);
  memcpy(e->strace, st, sizeof st);
  memcpy(e->pre1, pre1, sizeof pre1);
  memcpy(e->pred, pred, sizeof pred);
}

/* One subject once: CPU seconds, or -1 (failed or not available). */
static double io_subject(const io_env *e, int s, const char *file, long n) {
  switch (s) {
    case S_PLAIN:
      return io_loop(file, n);
    case S_GSP1:
      return with_profile(GSP_PROF_IO, 1, io_loop, file, n);
    case S_GSPD:
      return with_profile(GSP_PROF_IO, 0, io_loop, file, n);
    case S_CHILD:
      return spawn_cpu(e->child, e->none);
    case S_PRE1:
      return e->have_preload ? spawn_cpu(e->child, e->pre1) : -1;
    case S_PRED:
      return e->have_preload ? spawn_cpu(e->child, e->pred) : -1;
    default:
      return e->have_strace ? spawn_cpu(e->strace, e->none) : -1;
  }
}

static void bench_io(const char *work, const char *preload, const char *tmp, int rounds, long n) {
  io_env e;
  io_env_init(&e, work, preload, tmp, n);
  char file[128];
  snprintf(file, sizeof file, "%s/inproc.dat", tmp);
  double cpu[NS][MAXR], over[NS][MAXR];
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < NS; k++) {
      int s = (k + r) % NS;
      cpu[s][r] = io_subject(&e, s, file, n);
    }
    for (int s = 0; s < NS; s++) over[s][r] = cpu[s][r] / cpu[k_base[s]][r] - 1;
  }
  printf("\nio: %ld pwrite+pread pairs of 4 KiB, median of %d rounds\n", n, rounds);
  printf("  %-24s %10s %12s %14s\n", "subject", "CPU s", "ns per call", "CPU overhead");
  for (int s = 0; s < NS; s++) {
    if (cpu[s][0] < 0) {
      printf("  %-24s (not available: skipped)\n", k_names[s]);
      continue;
    }
    double c = gsp_bench_median_of(cpu[s], (size_t)(rounds));
    printf("  %-24s %10.3f %12.1f %13.1f%%\n", k_names[s], c, c * 1e9 / (2.0 * (double)n),
           100.0 * gsp_bench_median_of(over[s], (size_t)(rounds)));
  }
}

static void bench_hook(const char *tmp, int rounds, long n) {
  char file[128];
  snprintf(file, sizeof file, "%s/small.dat", tmp);
  static const char *const names[3] = {"plain", "IO profile, every call", "IO profile, 1 in 16"};
  double cpu[3][MAXR];
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < 3; k++) {
      int s = (k + r) % 3;
      cpu[s][r] = s == 0 ? small_loop(file, n)
                         : with_profile(GSP_PROF_IO, s == 1 ? 1 : 0, small_loop, file, n);
    }
  printf("\nhook: %ld preads of 1 byte (cached), in-process, median of %d rounds\n", n, rounds);
  double base = gsp_bench_median_of(cpu[0], (size_t)(rounds)) * 1e9 / (double)n;
  for (int s = 0; s < 3; s++) {
    double ns = gsp_bench_median_of(cpu[s], (size_t)(rounds)) * 1e9 / (double)n;
    printf("  %-28s %8.1f ns/call  (%+.1f ns)\n", names[s], ns, ns - base);
  }
}

static double heap_loop(const char *unused, long n) {
  (void)unused;
  void *win[64] = {0};
  uint32_t x = 12345;
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    size_t k = (size_t)i & 63;
    free(win[k]);
    win[k] = malloc(16 + (x >> 8) % 241);
    if (!win[k]) return -1;
  }
  double t = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
  for (int k = 0; k < 64; k++) free(win[k]);
  return t;
}

static void bench_heap(int rounds, long n) {
  double cpu[2][MAXR];
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < 2; k++) {
      int s = (k + r) % 2;
      cpu[s][r] =
          s == 0 ? heap_loop(NULL, n) : with_profile(GSP_PROF_MEMORY, 0, heap_loop, NULL, n);
    }
  }
  double p = gsp_bench_median_of(cpu[0], (size_t)(rounds)),
         g = gsp_bench_median_of(cpu[1], (size_t)(rounds));
  printf("\nheap: %ld malloc+free pairs (16..256 B, 64 live), median of %d rounds\n", n, rounds);
  printf("  %-28s %8.1f ns/pair\n", "plain glibc", p * 1e9 / (double)n);
  printf("  %-28s %8.1f ns/pair  (+%.1f ns)\n", "gsperf MEMORY (in-process)", g * 1e9 / (double)n,
         (g - p) * 1e9 / (double)n);
}

int main(int argc, char **argv) {
  int rounds = 7;
  bool quick = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = true;
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = atoi(argv[++i]);
  }
  if (quick) rounds = 3;
  if (rounds < 1 || rounds > MAXR) rounds = 7;
  char self[PATH_MAX], work[PATH_MAX + 16], preload[PATH_MAX + 32];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return 1;
  self[len] = '\0';
  char *slash = strrchr(self, '/');
  snprintf(work, sizeof work, "%.*s/io_work", (int)(slash - self), self);
  snprintf(preload, sizeof preload, "%.*s/../../libgsperf-preload.so", (int)(slash - self), self);
  setvbuf(stdout, NULL, _IOLBF, 0);
  char tmp[] = "/tmp/bench_prof_io.XXXXXX";
  if (!mkdtemp(tmp)) return 1;
  printf("bench_prof_io: ");
  print_load("at start");
  bench_io(work, preload, tmp, rounds, quick ? 50000 : 200000);
  bench_hook(tmp, rounds, quick ? 500000 : 2000000);
  bench_heap(rounds, quick ? 2000000 : 10000000);
  char io_txt[PATH_MAX];
  DIR *d = opendir(tmp);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    snprintf(io_txt, sizeof io_txt, "%s/%s", tmp, de->d_name);
    unlink(io_txt);
  }
  if (d) closedir(d);
  rmdir(tmp);
  printf("\n");
  print_load("at end");
  return 0;
}
