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
 *   under the peer, `strace -c -f` (when installed, 3 rounds). Method
 *   (bench_prof_io_run.h, shared with bench_prof's io row): each run
 *   between two plain runs of the same kind, overhead = CPU / mean of
 *   those two - 1, median over the rounds, quartiles shown. Target: <= 5%.
 *
 * hook: CPU ns per call of a 1-byte pread of a cached file (a cheap
 *   call, so that the hook's own cost shows): plain, and in-process with
 *   every call timed and with one in 16; the medians of the per-round
 *   differences are what the hook adds per call.
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
#include "bench_prof_io_run.h"

#define MAXR 32
extern char **environ;

static void print_load(const char *when) {
  double load[3] = {0};
  getloadavg(load, 3);
  printf("load average %s: %.2f %.2f %.2f (%ld CPUs)\n", when, load[0], load[1], load[2],
         sysconf(_SC_NPROCESSORS_ONLN));
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

/* ---- io: the sandwich method of bench_prof_io_run.h ---------------------- */

typedef struct io_env {
  char *child[4], *strace[9];
  char *none[1], *pre1[6], *pred[5];
  char file[96], n[32], ld[PATH_MAX + 48], dir[96], inproc[128];
  long pairs;
  bool have_strace, have_preload;
} io_env;

static void io_env_init(io_env *e, const char *work, const char *preload, const char *tmp, long n) {
  memset(e, 0, sizeof *e);
  e->pairs = n;
  snprintf(e->file, sizeof e->file, "%s/io.dat", tmp);
  snprintf(e->inproc, sizeof e->inproc, "%s/inproc.dat", tmp);
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

/* In this process: plain, IO profile every call, IO profile 1 in 16. */
static double run_inproc(void *ctx, int s) {
  const io_env *e = ctx;
  if (s == 0) return gsp_bio_loop(e->inproc, e->pairs);
  return with_profile(GSP_PROF_IO, s == 1 ? 1 : 0, gsp_bio_loop, e->inproc, e->pairs);
}

/* io_work as a child: plain, preloaded every call / 1 in 16. */
static double run_child(void *ctx, int s) {
  const io_env *e = ctx;
  if (s == 0) return gsp_bio_child_cpu(e->child, e->none);
  if (!e->have_preload) return -1;
  return gsp_bio_child_cpu(e->child, s == 1 ? e->pre1 : e->pred);
}

/* io_work as a child: plain, under strace -c -f. */
static double run_strace(void *ctx, int s) {
  const io_env *e = ctx;
  if (s == 0) return gsp_bio_child_cpu(e->child, e->none);
  return e->have_strace ? gsp_bio_child_cpu(e->strace, e->none) : -1;
}

static void bench_io(const char *work, const char *preload, const char *tmp, int rounds, long n) {
  static io_env e;
  static gsp_bio_result res;
  static const char *const in_names[] = {"plain (in-process)", "IO profile, every call",
                                         "IO profile, 1 in 16"};
  static const char *const ch_names[] = {"io_work (child)", "preload, every call",
                                         "preload, 1 in 16"};
  static const char *const st_names[] = {"io_work (child)", "strace -c -f io_work"};
  io_env_init(&e, work, preload, tmp, n);
  printf(
      "\nio: %ld pwrite+pread pairs of 4 KiB; each run between two baseline runs, "
      "overhead = median of %d rounds\n",
      n, rounds);
  gsp_bio_sandwich(run_inproc, &e, 3, rounds, &res);
  gsp_bio_print(&res, in_names, n);
  gsp_bio_sandwich(run_child, &e, 3, rounds, &res);
  gsp_bio_print(&res, ch_names, n);
  /* strace costs about 27x, a figure of another order: three rounds */
  gsp_bio_sandwich(run_strace, &e, 2, rounds < 3 ? rounds : 3, &res);
  gsp_bio_print(&res, st_names, n);
}

static void bench_hook(const char *tmp, int rounds, long n) {
  char file[128];
  snprintf(file, sizeof file, "%s/small.dat", tmp);
  static const char *const names[3] = {"plain", "IO profile, every call", "IO profile, 1 in 16"};
  double cpu[3][MAXR], d[3][MAXR];
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < 3; k++) {
      int s = (k + r) % 3;
      cpu[s][r] = s == 0 ? small_loop(file, n)
                         : with_profile(GSP_PROF_IO, s == 1 ? 1 : 0, small_loop, file, n);
    }
    for (int s = 0; s < 3; s++) d[s][r] = (cpu[s][r] - cpu[0][r]) * 1e9 / (double)n;
  }
  printf(
      "\nhook: %ld preads of 1 byte (cached), in-process, median of %d rounds "
      "(the added ns: median of the per-round differences)\n",
      n, rounds);
  for (int s = 0; s < 3; s++) {
    double ns = gsp_bench_median_of(cpu[s], (size_t)(rounds)) * 1e9 / (double)n;
    printf("  %-28s %8.1f ns/call  (%+.1f ns)\n", names[s], ns,
           gsp_bench_median_of(d[s], (size_t)rounds));
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
