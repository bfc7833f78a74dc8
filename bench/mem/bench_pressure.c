/*
 * bench_pressure.c - CPU cost of one memory-pressure sample, side by side
 * with reading the same sources by hand (statm, the cgroup limit and
 * usage, PSI, mallinfo2; one open/read/close each, no parsing), and the
 * CPU share the monitor takes at its default 1 s interval (one sample per
 * second / 1 s). Repeats are interleaved; medians of CPU time per call
 * (CLOCK_PROCESS_CPUTIME_ID) are quoted, with wall time and the load.
 * Run: bench_pressure [--quick]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gsperf/mem.h"
#include "../support/bench_util.h"

static void read_file(const char *path) {
  char buf[4096];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  (void)n;
  close(fd);
}

/* The files a sample reads on this machine (v1 cgroup at its root). */
static const char *const g_files[] = {
    "/proc/self/statm",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    "/sys/fs/cgroup/memory/memory.usage_in_bytes",
    "/proc/pressure/memory",
};

static void by_hand(void *u) {
  (void)u;
  for (size_t i = 0; i < sizeof g_files / sizeof g_files[0]; i++) read_file(g_files[i]);
  struct mallinfo2 mi = mallinfo2();
  (void)mi;
}

static void monitor_sample(void *u) { (void)gsp_mempressure_sample_now(u, NULL); }

typedef struct subj {
  const char *name;
  void (*fn)(void *);
  void *u;
  double cpu[64], wall[64];
} subj;

static void run_round(subj *s, int r, int iters) {
  double c0 = (double)gsp_bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID),
         w0 = (double)gsp_bench_clock_ns(CLOCK_MONOTONIC);
  for (int i = 0; i < iters; i++) s->fn(s->u);
  s->cpu[r] = ((double)gsp_bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / iters;
  s->wall[r] = ((double)gsp_bench_clock_ns(CLOCK_MONOTONIC) - w0) / iters;
}

int main(int argc, char **argv) {
  bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  int rounds = quick ? 3 : 15, iters = quick ? 200 : 2000;
  double load[3];
  gsp_bench_loadavg(load);
  gsp_mempressure_config cfg = {0};
  gsp_mempressure *mp;
  if (gsp_mempressure_create(&cfg, &mp) != 0) return 1;
  gsp_mem_sample s;
  (void)gsp_mempressure_sample_now(mp, &s);
  printf("machine: %ld CPUs, load %.2f; cgroup v%d, PSI %s, RSS %.1f MB, limit %.0f MB\n",
         sysconf(_SC_NPROCESSORS_ONLN), load[0], s.cgroup_version, s.psi_present ? "yes" : "no",
         (double)s.rss_bytes / 1048576.0, (double)s.limit_bytes / 1048576.0);
  subj subs[2] = {{"gsp_mempressure_sample_now", monitor_sample, mp, {0}, {0}},
                  {"same files by hand (no parse)", by_hand, NULL, {0}, {0}}};
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < 2; k++) run_round(&subs[k], r, iters);
  printf("%-32s %12s %12s %14s\n", "subject", "cpu us/call", "wall us/call", "cpu % @1s");
  for (int k = 0; k < 2; k++) {
    double c = gsp_bench_median(subs[k].cpu, rounds) / 1e3,
           w = gsp_bench_median(subs[k].wall, rounds) / 1e3;
    printf("%-32s %12.2f %12.2f %13.4f%%\n", subs[k].name, c, w, c / 1e6 * 100.0);
  }
  printf("goal: monitor <= 0.1%% CPU at the default interval (1000 ms)\n");
  gsp_mempressure_destroy(mp);
  return 0;
}
