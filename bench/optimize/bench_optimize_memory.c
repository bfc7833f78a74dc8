/*
 * bench_optimize_memory.c - MEMORY_OPTIMIZED's compressed store against
 * recomputing: results above max_value_bytes are cached LZ4-compressed in
 * the function's multi-level cache (L1 of one entry + L2); without that
 * store (the engine before it, or caching off) every call recomputes.
 *
 * Workload: 32 keys, each result 256 KiB of log-like text built by ~1 MB
 * of arithmetic (the "expensive analysis"). Pass 1 fills; pass 2 (timed)
 * asks for every key again. Peers, in one run, rounds rotated: the engine
 * with caching off (recompute, the old behaviour for large results) and
 * the engine with the compressed store. Also printed: the bytes L2 holds
 * against the raw result bytes.
 *
 * Racing callers (single-flight): RACERS threads, started together, each
 * ask for the 32 keys in the same order, with caching off so nothing is
 * stored and sharing in-flight work is the only saving. Peers: each thread
 * calling analyze itself (every call computes) and the engine's MEMORY
 * function; printed: computations made, process CPU ms and wall ms
 * (medians), and the CPU ratio.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gsperf/optimize.h"
#include "../support/bench_util.h"

enum { KEYS = 32, RESULT = 256 * 1024, MAX_ROUNDS = 15, RACERS = 4 };

static _Atomic unsigned g_computed;

static int analyze(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  if (n != sizeof(uint32_t)) return GSP_EINVAL;
  uint32_t k;
  memcpy(&k, arg, sizeof k);
  atomic_fetch_add_explicit(&g_computed, 1, memory_order_relaxed);
  char *r = gsp_malloc(RESULT);
  if (r == NULL) return GSP_ENOMEM;
  uint64_t h = k * 0x9E3779B97F4A7C15ull + 1;
  size_t off = 0;
  for (unsigned line = 0; off + 80 < RESULT; line++) {
    for (int i = 0; i < 64; i++) h = h * 6364136223846793005ull + 1442695040888963407ull;
    off += (size_t)snprintf(r + off, RESULT - off, "file src/mod%u/f%u.c: %u calls, %u ms\n",
                            (unsigned)(h >> 60), line, (unsigned)(h >> 50) & 1023u,
                            (unsigned)(h >> 40) & 255u);
  }
  memset(r + off, '\n', RESULT - off);
  *out = r;
  *outlen = RESULT;
  return GSP_OK;
}

/* Both passes; returns pass 2's wall ms. */
static double run(gsp_opt_func *f) {
  for (int pass = 0; pass < 2; pass++) {
    uint64_t t0 = gsp_bench_wall_ns();
    for (uint32_t k = 0; k < KEYS; k++) {
      gsp_opt_result r;
      if (gsp_opt_call(f, &k, sizeof k, &r) != GSP_OK) exit(1);
      gsp_opt_result_release(&r);
    }
    if (pass == 1) return (double)(gsp_bench_wall_ns() - t0) / 1e6;
  }
  return 0;
}

static double one(bool caching, double *l2_ratio) {
  gsp_opt_engine *e = NULL;
  gsp_opt_config cfg = {.enable_async = GSP_OPT_OFF};
  if (gsp_opt_engine_create(&cfg, &e) != GSP_OK) exit(1);
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_MEMORY, .caching = caching ? GSP_OPT_ON : GSP_OPT_OFF};
  if (gsp_opt_register(e, "analyze", analyze, NULL, &o, &f) != GSP_OK) exit(1);
  double ms = run(f);
  gsp_opt_func_stats st;
  gsp_opt_func_stats_get(f, &st);
  if (caching && st.cache_hits != KEYS) exit(1);
  if (l2_ratio != NULL) {
    char *j = NULL;
    if (gsp_opt_report_json(e, &j, NULL) != GSP_OK) exit(1);
    const char *p = strstr(j, "\"compression_ratio\":");
    const char *q = p ? strstr(p + 1, "\"compression_ratio\":") : NULL; /* L2's */
    *l2_ratio = q ? strtod(q + 20, NULL) : 0;
    gsp_free(j);
  }
  gsp_opt_engine_destroy(e);
  return ms;
}

/* ---- racing callers ---------------------------------------------------------- */

typedef struct racer {
  gsp_opt_func *f; /* NULL: call analyze directly */
  pthread_barrier_t *start;
} racer;

static void *race_thread(void *p) {
  racer *r = p;
  pthread_barrier_wait(r->start);
  for (uint32_t k = 0; k < KEYS; k++) {
    gsp_opt_result res;
    void *out = NULL;
    size_t len = 0;
    int rv =
        r->f ? gsp_opt_call(r->f, &k, sizeof k, &res) : analyze(NULL, &k, sizeof k, &out, &len);
    if (rv != GSP_OK) exit(1);
    if (r->f) gsp_opt_result_release(&res);
    gsp_free(out);
  }
  return NULL;
}

typedef struct race_result {
  double cpu_ms, wall_ms;
  unsigned computed;
} race_result;

static race_result race(bool through_engine) {
  gsp_opt_engine *e = NULL;
  gsp_opt_func *f = NULL;
  if (through_engine) {
    gsp_opt_config cfg = {.enable_async = GSP_OPT_OFF};
    gsp_opt_func_opts o = {.strategy = GSP_OPT_MEMORY, .caching = GSP_OPT_OFF};
    if (gsp_opt_engine_create(&cfg, &e) != GSP_OK) exit(1);
    if (gsp_opt_register(e, "analyze", analyze, NULL, &o, &f) != GSP_OK) exit(1);
  }
  pthread_barrier_t b;
  pthread_barrier_init(&b, NULL, RACERS + 1);
  pthread_t th[RACERS];
  racer rs[RACERS];
  for (int i = 0; i < RACERS; i++) {
    rs[i] = (racer){f, &b};
    if (pthread_create(&th[i], NULL, race_thread, &rs[i]) != 0) exit(1);
  }
  atomic_store(&g_computed, 0);
  uint64_t c0 = gsp_bench_cpu_ns(), t0 = gsp_bench_wall_ns();
  pthread_barrier_wait(&b);
  for (int i = 0; i < RACERS; i++) pthread_join(th[i], NULL);
  race_result r = {(double)(gsp_bench_cpu_ns() - c0) / 1e6,
                   (double)(gsp_bench_wall_ns() - t0) / 1e6, atomic_load(&g_computed)};
  pthread_barrier_destroy(&b);
  gsp_opt_engine_destroy(e);
  return r;
}

static void race_report(int rounds) {
  double cpu[2][MAX_ROUNDS], wall[2][MAX_ROUNDS], comp[2][MAX_ROUNDS];
  for (int i = 0; i < rounds; i++)
    for (int j = 0; j < 2; j++) {
      int which = (i + j) % 2; /* rotate the order each round */
      race_result r = race(which == 1);
      cpu[which][i] = r.cpu_ms;
      wall[which][i] = r.wall_ms;
      comp[which][i] = r.computed;
    }
  for (int w = 0; w < 2; w++) {
    qsort(cpu[w], (size_t)rounds, sizeof(double), gsp_bench_cmp_double);
    qsort(wall[w], (size_t)rounds, sizeof(double), gsp_bench_cmp_double);
    qsort(comp[w], (size_t)rounds, sizeof(double), gsp_bench_cmp_double);
  }
  int m = rounds / 2;
  printf("racing callers: %d threads x %d keys, same order, caching off (medians)\n", RACERS, KEYS);
  printf("  each thread computes:     %4.0f computations  cpu %8.2f ms  wall %8.2f ms\n",
         comp[0][m], cpu[0][m], wall[0][m]);
  printf("  memory_optimized (flight): %3.0f computations  cpu %8.2f ms  wall %8.2f ms\n",
         comp[1][m], cpu[1][m], wall[1][m]);
  printf("  CPU cut by single-flight %.2fx\n", cpu[1][m] > 0 ? cpu[0][m] / cpu[1][m] : 0);
}

int main(int argc, char **argv) {
  int rounds = argc > 2 && strcmp(argv[1], "--rounds") == 0 ? atoi(argv[2]) : 7;
  if (rounds < 1) rounds = 1;
  if (rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
  double load[3];
  gsp_bench_loadavg(load);
  double off[MAX_ROUNDS], on[MAX_ROUNDS], ratio = 0;
  for (int i = 0; i < rounds; i++) {
    if (i % 2) {
      on[i] = one(true, &ratio);
      off[i] = one(false, NULL);
    } else {
      off[i] = one(false, NULL);
      on[i] = one(true, &ratio);
    }
  }
  qsort(off, (size_t)rounds, sizeof *off, gsp_bench_cmp_double);
  qsort(on, (size_t)rounds, sizeof *on, gsp_bench_cmp_double);
  double a = off[rounds / 2], b = on[rounds / 2];
  printf("bench_optimize_memory: load %.2f %.2f %.2f, %d rounds, %d keys x %d KiB results\n",
         load[0], load[1], load[2], rounds, KEYS, RESULT / 1024);
  printf("  second pass, recompute (no store):   %8.2f ms\n", a);
  printf("  second pass, compressed store (L2):  %8.2f ms\n", b);
  printf("  speedup %.1fx; L2 compression ratio %.2fx (raw / stored)\n", b > 0 ? a / b : 0, ratio);
  race_report(rounds);
  return 0;
}
