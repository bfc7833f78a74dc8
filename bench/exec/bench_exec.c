/*
 * bench_exec.c - the gsperf work-stealing pool next to OpenMP tasks
 * (libgomp, -fopenmp), oneTBB (when built with it) and C-Thread-Pool
 * (Debian's cthreadpool-dev, the popular C pool: one mutex-protected job
 * queue, binary-semaphore wake-ups; compiled in from the packaged
 * source when present), in one run.
 *
 * What is measured, each on 2 threads:
 *
 *   empty   1,000,000 empty tasks spawned by one producer, then waited for:
 *           process CPU ns per task (CLOCK_PROCESS_CPUTIME_ID: every thread's time,
 *           spinning included) and wall ns per task. gsperf twice: the
 *           producer a task of the pool (spawns go to its own deque, like
 *           OpenMP's `single` + `task` and TBB's task_group on the main
 *           thread), and the producer an outside thread (every task
 *           through the injection queue).
 *   forkjoin a parallel-for over 2 trivial items, repeated: median and
 *           p99 wall microseconds per round trip, CPU us per round trip.
 *   map     2,000 CPU-bound chunks (about 20-40 us each): wall time
 *           against the same loop run serially in the same round, so the
 *           speedup is measured under the same machine conditions.
 *
 * How. Every round runs every (workload, runtime) cell in a rotated order,
 * with a 50 ms pause between cells so a runtime's spinning threads (libgomp
 * spins after a region) do not steal the next one's CPU. Tables show
 * medians over rounds. The machine is shared and noisy (MACHINE.md): the
 * load average is printed before and after; trust speedups only when it
 * is near zero.
 *
 * Run: bench_exec [--quick] [--rounds N] [--empty-only]
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <omp.h>

#include "bench_exec.h"
#include "gsperf/exec.h"
#ifdef GSP_BENCH_THPOOL
#include <thpool.h>
#include "../support/bench_util.h"
#endif

#define THREADS 2
#define MAX_ROUNDS 15
#define FJ_REPS 5000

static size_t g_empty_n = 1000000;
static int g_empty_only;                  /* --empty-only: skip the fork-join and map columns */
uint64_t bench_map_out[BENCH_MAP_CHUNKS]; /* extern: the stores cannot be dropped */

/* ---- shared pieces ---- */

uint64_t bench_work(size_t i) {
  uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
  for (int k = 0; k < BENCH_MAP_ITERS; k++) x = (x ^ (x >> 31)) * 0xBF58476D1CE4E5B9ull + k;
  return x;
}

void bench_map_store(size_t i, uint64_t v) { bench_map_out[i] = v; }

__attribute__((noinline)) void bench_empty(void) { __asm__ volatile("" ::: "memory"); }

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static uint64_t pct(uint64_t *v, size_t n, double p) {
  qsort(v, n, sizeof(*v), cmp_u64);
  return v[(size_t)(p * (double)(n - 1))];
}

/* ---- gsperf ---- */

static gsp_exec *g_ex;

static int nop_task(void *arg) {
  (void)arg;
  bench_empty();
  return 0;
}

static int spawn_empty(void *arg) {
  (void)arg;
  gsp_exec_group *g = NULL;
  if (gsp_exec_group_create(g_ex, &g) != GSP_OK) return GSP_ENOMEM;
  for (size_t i = 0; i < g_empty_n; i++)
    if (gsp_exec_group_spawn(g, nop_task, NULL) != GSP_OK) abort();
  int rv = gsp_exec_group_wait(g);
  gsp_exec_group_destroy(g);
  return rv;
}

/* Run fn as a task of the pool and wait (the caller sleeps meanwhile). */
static void in_pool(gsp_exec_fn fn) {
  gsp_exec_future *f = NULL;
  int r = -1;
  if (gsp_exec_submit(g_ex, fn, NULL, &f) != GSP_OK || gsp_exec_future_wait(f, &r) != GSP_OK ||
      r != 0)
    abort();
  gsp_exec_future_release(f);
}

static void gsp_empty_inpool(void) { in_pool(spawn_empty); }
static void gsp_empty_outside(void) {
  if (spawn_empty(NULL) != 0) abort();
}

static int fj_range(void *user, size_t b, size_t e) {
  (void)user;
  for (size_t i = b; i < e; i++) bench_empty();
  return 0;
}

static uint64_t *g_fj_lat;

static int fj_task(void *arg) {
  (void)arg;
  for (int r = 0; r < FJ_REPS; r++) {
    uint64_t t0 = gsp_now_ns();
    gsp_exec_parallel_for(g_ex, 2, 1, fj_range, NULL);
    g_fj_lat[r] = gsp_now_ns() - t0;
  }
  return 0;
}

static void gsp_forkjoin(uint64_t *lat) {
  g_fj_lat = lat;
  in_pool(fj_task);
}

static int map_range(void *user, size_t b, size_t e) {
  (void)user;
  for (size_t i = b; i < e; i++) bench_map_store(i, bench_work(i));
  return 0;
}

static int map_task(void *arg) {
  (void)arg;
  return gsp_exec_parallel_for(g_ex, BENCH_MAP_CHUNKS, 1, map_range, NULL);
}

static void gsp_map(void) { in_pool(map_task); }

/* ---- OpenMP ---- */

static void omp_empty(void) {
  size_t n = g_empty_n;
#pragma omp parallel num_threads(THREADS)
#pragma omp single
  {
    for (size_t i = 0; i < n; i++) {
#pragma omp task
      bench_empty();
    }
#pragma omp taskwait
  }
}

static void omp_forkjoin(uint64_t *lat) {
  for (int r = 0; r < FJ_REPS; r++) {
    uint64_t t0 = gsp_now_ns();
#pragma omp parallel for num_threads(THREADS) schedule(static, 1)
    for (int i = 0; i < 2; i++) bench_empty();
    lat[r] = gsp_now_ns() - t0;
  }
}

static void omp_map(void) {
#pragma omp parallel for num_threads(THREADS) schedule(dynamic, 1)
  for (size_t i = 0; i < BENCH_MAP_CHUNKS; i++) bench_map_store(i, bench_work(i));
}

/* ---- C-Thread-Pool ---- */

#ifdef GSP_BENCH_THPOOL
static threadpool g_thp;

static void thp_nop(void *arg) {
  (void)arg;
  bench_empty();
}

static void thp_empty(void) {
  for (size_t i = 0; i < g_empty_n; i++)
    if (thpool_add_work(g_thp, thp_nop, NULL) != 0) abort();
  thpool_wait(g_thp);
}

static void thp_forkjoin(uint64_t *lat) {
  for (int r = 0; r < FJ_REPS; r++) {
    uint64_t t0 = gsp_now_ns();
    thpool_add_work(g_thp, thp_nop, NULL);
    thpool_add_work(g_thp, thp_nop, NULL);
    thpool_wait(g_thp);
    lat[r] = gsp_now_ns() - t0;
  }
}

static void thp_chunk(void *arg) {
  size_t i = (size_t)(uintptr_t)arg;
  bench_map_store(i, bench_work(i));
}

static void thp_map(void) {
  for (size_t i = 0; i < BENCH_MAP_CHUNKS; i++)
    thpool_add_work(g_thp, thp_chunk, (void *)(uintptr_t)i);
  thpool_wait(g_thp);
}
#endif

/* ---- the table ---- */

typedef struct runtime {
  const char *name;
  void (*empty)(void);
  void (*forkjoin)(uint64_t *lat);
  void (*map)(void);
} runtime;

enum { M_EMPTY_CPU, M_EMPTY_WALL, M_FJ_P50, M_FJ_P99, M_FJ_CPU, M_MAP_SPEEDUP, M_MAP_CPU, NM };

static const runtime g_rt[] = {
    {"gsperf (producer in pool)", gsp_empty_inpool, gsp_forkjoin, gsp_map},
    {"gsperf (outside producer)", gsp_empty_outside, NULL, NULL},
    {"OpenMP (libgomp)", omp_empty, omp_forkjoin, omp_map},
#ifdef GSP_BENCH_TBB
    {"oneTBB", bench_tbb_empty, bench_tbb_forkjoin, bench_tbb_map},
#endif
#ifdef GSP_BENCH_THPOOL
    {"C-Thread-Pool", thp_empty, thp_forkjoin, thp_map},
#endif
};
#define NRT (sizeof(g_rt) / sizeof(g_rt[0]))

static void settle(void) { usleep(50000); }

static void run_cell(const runtime *rt, double *m, uint64_t *lat) {
  settle();
  uint64_t c0 = gsp_bench_cpu_ns(), w0 = gsp_now_ns();
  rt->empty();
  m[M_EMPTY_CPU] = (double)(gsp_bench_cpu_ns() - c0) / (double)g_empty_n;
  m[M_EMPTY_WALL] = (double)(gsp_now_ns() - w0) / (double)g_empty_n;
  if (rt->forkjoin == NULL || g_empty_only) return;
  settle();
  c0 = gsp_bench_cpu_ns();
  rt->forkjoin(lat);
  m[M_FJ_CPU] = (double)(gsp_bench_cpu_ns() - c0) / FJ_REPS / 1000.0;
  m[M_FJ_P50] = (double)pct(lat, FJ_REPS, 0.5) / 1000.0;
  m[M_FJ_P99] = (double)pct(lat, FJ_REPS, 0.99) / 1000.0;
  settle();
  w0 = gsp_now_ns();
  for (size_t i = 0; i < BENCH_MAP_CHUNKS; i++) bench_map_store(i, bench_work(i));
  double serial = (double)(gsp_now_ns() - w0);
  settle();
  c0 = gsp_bench_cpu_ns();
  w0 = gsp_now_ns();
  rt->map();
  m[M_MAP_SPEEDUP] = serial / (double)(gsp_now_ns() - w0);
  m[M_MAP_CPU] = (double)(gsp_bench_cpu_ns() - c0) / serial;
}

static void print_machine(const char *when) {
  double l[3];
  gsp_bench_loadavg(l);
  struct utsname u;
  uname(&u);
  printf("# %s: %s %s, %ld CPUs online, gsperf default workers %u, load %.2f %.2f %.2f\n", when,
         u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN), gsp_exec_default_workers(), l[0],
         l[1], l[2]);
}

static void print_table(double m[][NM][MAX_ROUNDS], int rounds) {
  printf("\n%-27s %9s %9s %9s %9s %9s %8s %9s\n", "runtime (2 threads)", "empty", "empty", "fj p50",
         "fj p99", "fj CPU", "map", "map CPU");
  printf("%-27s %9s %9s %9s %9s %9s %8s %9s\n", "", "CPU ns", "wall ns", "us", "us", "us",
         "speedup", "/serial");
  for (size_t r = 0; r < NRT; r++) {
    printf("%-27s", g_rt[r].name);
    for (int k = 0; k < NM; k++) {
      if (k >= M_FJ_P50 && (g_rt[r].forkjoin == NULL || g_empty_only)) {
        printf(" %9s", "-");
        continue;
      }
      printf(k == M_MAP_SPEEDUP ? " %7.2fx" : " %9.2f", gsp_bench_median(m[r][k], rounds));
    }
    printf("\n");
  }
}

int main(int argc, char **argv) {
  int rounds = 7;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      rounds = 3;
      g_empty_n = 200000;
#ifdef GSP_BENCH_TBB
      bench_tbb_set_empty_n(g_empty_n);
#endif
    } else if (strcmp(argv[i], "--empty-only") == 0) {
      g_empty_only = 1;
    } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = (int)strtol(argv[++i], NULL, 10);
    }
  }
  if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 7;
  gsp_exec_config cfg = {.workers = THREADS};
  if (gsp_exec_create(&cfg, &g_ex) != GSP_OK) return 1;
  print_machine("before");
#ifndef GSP_BENCH_TBB
  printf("# oneTBB: not built (no libtbb-dev found at configure time)\n");
#endif
#ifdef GSP_BENCH_THPOOL
  g_thp = thpool_init(THREADS);
  if (g_thp == NULL) return 1;
#else
  printf("# C-Thread-Pool: not built (apt install cthreadpool-dev)\n");
#endif
  static double m[NRT][NM][MAX_ROUNDS];
  uint64_t *lat = calloc(FJ_REPS, sizeof(*lat));
  if (lat == NULL) return 1;
  for (int round = 0; round < rounds; round++)
    for (size_t k = 0; k < NRT; k++) {
      size_t r = (k + (size_t)round) % NRT;
      double cell[NM] = {0};
      run_cell(&g_rt[r], cell, lat);
      for (int j = 0; j < NM; j++) m[r][j][round] = cell[j];
    }
  print_table(m, rounds);
  print_machine("after");
  free(lat);
#ifdef GSP_BENCH_THPOOL
  thpool_destroy(g_thp);
#endif
  gsp_exec_destroy(g_ex);
  return 0;
}
