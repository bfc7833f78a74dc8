/*
 * bench_monitor.c - what monitoring costs, next to its floor, in one run.
 *
 *   collect (gsp)     gsp_monitor_collect_now(): read and parse every /proc
 *                     and cgroup file, update 18 gauges, append to the
 *                     series, evaluate (no rules): one sample.
 *   collect (by hand) open + read + close of the same files and a readdir
 *                     of /proc/self/fd, no parsing: the floor, the syscalls.
 *   collect + caches  one sample of a second monitor that also exports a
 *                     cache manager of 10 caches (gsp_monitor_add_cache_
 *                     manager: stats JSON, parse, 50 registry updates, 10
 *                     hit-ratio series); minus "collect (gsp)" it is the
 *                     export's cost per collection.
 *   record 1 series   gsp_monitor_record() into one series, times advancing
 *                     1 ms a value (a new 1 s point every 1,000 values).
 *   record 100 series the same, round-robin over 100 labelled series.
 *   regress test      gsp_regress_test() with the default windows (1000 +
 *                     100 values): one Mann-Whitney test.
 *
 * Each cell reports CPU ns/op (CLOCK_THREAD_CPUTIME_ID) and wall ns/op; on
 * this shared VM the CPU figure is the honest one (MACHINE.md). Rounds run
 * every subject once, repeat, and the table shows medians. The machine's
 * load is printed first. Run: bench_monitor [--quick]
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "gsperf/monitor.h"
#include "../support/bench_util.h"

#define ROUNDS 9
enum { S_COLLECT, S_HAND, S_CACHES, S_REC1, S_REC100, S_REGRESS, NSUBJ };
static const char *const g_names[NSUBJ] = {"collect (gsp)",     "collect (by hand)",
                                           "collect + caches",  "record 1 series",
                                           "record 100 series", "regress test"};

static const char *const g_files[] = {"/proc/self/stat",
                                      "/proc/self/statm",
                                      "/proc/self/status",
                                      "/proc/self/io",
                                      "/proc/stat",
                                      "/proc/meminfo",
                                      "/proc/loadavg",
                                      "/proc/self/cgroup",
                                      "/sys/fs/cgroup/memory.max",
                                      "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                      "/sys/fs/cgroup/memory/memory.usage_in_bytes",
                                      "/sys/fs/cgroup/cpu.max",
                                      "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                                      "/sys/fs/cgroup/cpu/cpu.cfs_period_us"};

static void by_hand(void) {
  char buf[8192];
  for (size_t i = 0; i < sizeof g_files / sizeof *g_files; i++) {
    int fd = open(g_files[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (read(fd, buf, sizeof buf) < 0) buf[0] = 0;
    close(fd);
  }
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    while (readdir(d)) {
    }
    closedir(d);
  }
}

typedef struct ctx {
  gsp_monitor *mon;
  gsp_monitor *mon2; /* with the cache manager source */
  gsp_cache_manager *mgr;
  gsp_regress *reg;
  uint64_t t;
  long ops[NSUBJ];
} ctx;

/* Ten caches of 100 entries; a few lookups between collections so every
 * cache has hits and misses to export. */
static int make_caches(gsp_cache_manager *mgr) {
  for (int k = 0; k < 10; k++) {
    char name[16];
    snprintf(name, sizeof name, "cache%d", k);
    gsp_cache *cache;
    gsp_cache_config cc = {.max_entries = 1000};
    if (gsp_cache_manager_create_cache(mgr, name, &cc, &cache) != GSP_OK) return -1;
    for (int i = 0; i < 100; i++) gsp_cache_put(cache, &i, sizeof i, "v", 1, NULL);
  }
  return 0;
}

static void touch_caches(gsp_cache_manager *mgr, long i) {
  char name[16], v[4];
  size_t vl;
  snprintf(name, sizeof name, "cache%ld", i % 10);
  gsp_cache *cache = gsp_cache_manager_find(mgr, name);
  for (int k = 0; k < 4; k++) {
    int key = (int)(i + k * 37) % 150;
    (void)gsp_cache_get_copy(cache, &key, sizeof key, v, sizeof v, &vl);
  }
}

static void run(ctx *c, int s) {
  char labels[32];
  for (long i = 0; i < c->ops[s]; i++) {
    switch (s) {
      case S_COLLECT:
        gsp_monitor_collect_now(c->mon, NULL);
        break;
      case S_HAND:
        by_hand();
        break;
      case S_CACHES:
        touch_caches(c->mgr, i);
        gsp_monitor_collect_now(c->mon2, NULL);
        break;
      case S_REC1:
        gsp_monitor_record(c->mon, "bench_seconds", NULL, 1e-3, c->t += 1000000);
        break;
      case S_REC100:
        snprintf(labels, sizeof labels, "s=\"%ld\"", i % 100);
        gsp_monitor_record(c->mon, "bench_depth", labels, (double)i, c->t += 1000000);
        break;
      default:
        gsp_regress_test(c->reg, NULL);
        break;
    }
  }
}

static void print_machine(void) {
  struct utsname u;
  uname(&u);
  double l[3];
  gsp_bench_loadavg(l);
  printf("machine: %s %s, %ld cpus, load %.2f %.2f %.2f\n", u.sysname, u.release,
         sysconf(_SC_NPROCESSORS_ONLN), l[0], l[1], l[2]);
}

int main(int argc, char **argv) {
  int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  ctx c = {.ops = {200, 200, 200, 1000000, 1000000, 200}};
  if (quick)
    for (int s = 0; s < NSUBJ; s++) c.ops[s] /= 10;
  gsp_monitor_config cfg = {.max_series = 128};
  gsp_metrics *m = NULL;
  gsp_metrics_create(NULL, &m);
  cfg.metrics = m;
  gsp_metrics *m2 = NULL;
  gsp_metrics_create(NULL, &m2);
  gsp_monitor_config cfg2 = {.max_series = 128, .metrics = m2};
  if (gsp_monitor_create(&cfg, &c.mon) != GSP_OK || gsp_regress_create(NULL, &c.reg) != GSP_OK ||
      gsp_monitor_create(&cfg2, &c.mon2) != GSP_OK || gsp_cache_manager_create(&c.mgr) != GSP_OK ||
      make_caches(c.mgr) != 0 || gsp_monitor_add_cache_manager(c.mon2, "caches", c.mgr) != GSP_OK)
    return 1;
  for (int i = 0; i < 1100; i++) gsp_regress_add(c.reg, 1.0 + (i * 7919 % 1000) * 1e-3);
  print_machine();
  double cpu[NSUBJ][ROUNDS], wall[NSUBJ][ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    for (int k = 0; k < NSUBJ; k++) {
      int s = (k + r) % NSUBJ;
      uint64_t c0 = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID),
               w0 = gsp_bench_clock_ns(CLOCK_MONOTONIC);
      run(&c, s);
      cpu[s][r] = (double)(gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)c.ops[s];
      wall[s][r] = (double)(gsp_bench_clock_ns(CLOCK_MONOTONIC) - w0) / (double)c.ops[s];
    }
  }
  printf("%-20s %14s %14s   (median of %d rounds)\n", "subject", "CPU ns/op", "wall ns/op", ROUNDS);
  for (int s = 0; s < NSUBJ; s++) {
    double cm = gsp_bench_median(cpu[s], ROUNDS), wm = gsp_bench_median(wall[s], ROUNDS);
    printf("%-20s %14.1f %14.1f\n", g_names[s], cm, wm); /* (both now sorted) */
  }
  printf("series memory: %zu bytes each (default tiers)\n",
         gsp_monitor_series_bytes(c.mon, "bench_depth", "s=\"1\""));
  printf("cache export per collection (collect + caches - collect): %.1f us CPU\n",
         (cpu[S_CACHES][ROUNDS / 2] - cpu[S_COLLECT][ROUNDS / 2]) / 1000.0);
  gsp_regress_destroy(c.reg);
  gsp_monitor_destroy(c.mon);
  gsp_monitor_destroy(c.mon2);
  gsp_cache_manager_destroy(c.mgr);
  gsp_metrics_destroy(m);
  gsp_metrics_destroy(m2);
  return 0;
}
