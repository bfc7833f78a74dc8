/*
 * bench_prof_io_run.h - the one method by which bench_prof (its io row)
 * and bench_prof_io measure what I/O tracking costs, so that their
 * figures agree and no single noisy run decides one.
 *
 * The work: io_work's N pairs of a 4 KiB pwrite and a 4 KiB pread at
 * rotating offsets of a page-cached 16 MiB file (the same loop in a child
 * process or in this one).
 *
 * The method ("sandwich"): subject 0 is the baseline (plain). Each round
 * runs every other subject once, in an order rotated from round to round,
 * each one between two baseline runs (P S1 P S2 P ... P), and takes its
 * ratio to the mean of the two baseline runs around it: a slow stretch of
 * a loaded machine that lasts longer than a run moves both sides of the
 * ratio alike. The figure is the median of the per-round ratios; the
 * quartiles next to it show the spread. CPU seconds come from the caller
 * (wait4's rusage for a child, CLOCK_PROCESS_CPUTIME_ID in this process).
 * The load average is printed before and after by the callers.
 *
 * Header only (static inline), included by path by the two benchmarks.
 * Not thread-safe (a benchmark's main thread).
 */
#ifndef GSP_BENCH_PROF_IO_RUN_H
#define GSP_BENCH_PROF_IO_RUN_H

#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support/bench_util.h"

#define GSP_BIO_MAXR 64 /* rounds at most */
#define GSP_BIO_MAXS 8  /* subjects at most, the baseline included */

/* CPU seconds of one run of subject s (0 = the baseline), or < 0. */
typedef double (*gsp_bio_run_fn)(void *ctx, int s);

typedef struct gsp_bio_result {
  int nsub, rounds;
  double cpu[GSP_BIO_MAXS][GSP_BIO_MAXR];   /* CPU s of each run (baseline: the first) */
  double ratio[GSP_BIO_MAXS][GSP_BIO_MAXR]; /* to the baseline around it */
  bool failed[GSP_BIO_MAXS];
} gsp_bio_result;

/* A child's CPU seconds (user + system, from wait4: it and its reaped
 * children), stderr to /dev/null; -1 if it did not exit 0. */
static inline double gsp_bio_child_cpu(char *const argv[], char *const envp[]) {
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

/* The loop of io_work in this process: CPU seconds of n pairs, or -1. */
static inline double gsp_bio_loop(const char *file, long n) {
  static char buf[4096];
  memset(buf, 'y', sizeof buf);
  int fd = open(file, O_CREAT | O_TRUNC | O_RDWR, 0644);
  if (fd < 0) return -1;
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID), t = -1;
  long i = 0;
  for (; i < n; i++) {
    off_t off = (off_t)(i % 4096) * 4096;
    if (pwrite(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) break;
    if (pread(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) break;
  }
  if (i == n) t = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
  close(fd);
  unlink(file);
  return t;
}

/* Runs rounds x (nsub - 1) sandwiches; subjects whose run fails once are
 * marked failed and not run again. */
static inline void gsp_bio_sandwich(gsp_bio_run_fn run, void *ctx, int nsub, int rounds,
                                    gsp_bio_result *res) {
  memset(res, 0, sizeof *res);
  res->nsub = nsub < GSP_BIO_MAXS ? nsub : GSP_BIO_MAXS;
  res->rounds = rounds < GSP_BIO_MAXR ? rounds : GSP_BIO_MAXR;
  for (int r = 0; r < res->rounds; r++) {
    double before = run(ctx, 0);
    res->cpu[0][r] = before;
    for (int k = 0; k < res->nsub - 1; k++) {
      int s = 1 + (k + r) % (res->nsub - 1);
      double c = res->failed[s] ? -1 : run(ctx, s), after = run(ctx, 0);
      if (c < 0 || before <= 0 || after <= 0) res->failed[s] = true;
      res->cpu[s][r] = c;
      res->ratio[s][r] = c / ((before + after) / 2) - 1;
      before = after;
    }
  }
}

/* Quantile q (0..1) of v[0..n), n <= GSP_BIO_MAXR (nearest rank). */
static inline double gsp_bio_quantile(const double *v, int n, double q) {
  double t[GSP_BIO_MAXR];
  memcpy(t, v, (size_t)n * sizeof *t);
  qsort(t, (size_t)n, sizeof *t, gsp_bench_cmp_double);
  int k = (int)(q * (n - 1) + 0.5);
  return t[k];
}

/* One line a subject: median CPU s, ns per call (2 calls a pair), the
 * median overhead and its quartiles. */
static inline void gsp_bio_print(const gsp_bio_result *res, const char *const *names, long pairs) {
  printf("  %-26s %8s %8s %10s  %s\n", "subject", "CPU s", "ns/call", "overhead",
         "(quartiles of the rounds)");
  for (int s = 0; s < res->nsub; s++) {
    if (res->failed[s]) {
      printf("  %-26s (not available or failed: skipped)\n", names[s]);
      continue;
    }
    double c = gsp_bench_median_of(res->cpu[s], (size_t)res->rounds);
    printf("  %-26s %8.3f %8.1f", names[s], c, c * 1e9 / (2.0 * (double)pairs));
    if (s == 0) {
      printf("  baseline\n");
      continue;
    }
    printf(" %9.1f%%  (%.1f%% .. %.1f%%)\n",
           100 * gsp_bio_quantile(res->ratio[s], res->rounds, 0.5),
           100 * gsp_bio_quantile(res->ratio[s], res->rounds, 0.25),
           100 * gsp_bio_quantile(res->ratio[s], res->rounds, 0.75));
  }
}

#endif
