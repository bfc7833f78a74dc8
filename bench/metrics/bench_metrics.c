/*
 * bench_metrics.c - the cost of recording a metric, next to its limits,
 * and the cost of exposition, in one run.
 *
 * Recording subjects, each at 1 and 2 threads, every thread doing OPS
 * operations on one shared metric:
 *
 *   plain/thread   a per-thread 64-bit cell (own cache line) bumped with a
 *                  relaxed load + store: the floor, what a shard costs
 *                  without the lookup.
 *   atomic add     atomic_fetch_add(relaxed) on one shared cell (lock xadd):
 *                  "the usual limit" of a simple thread-safe counter.
 *   gsp counter    gsp_counter_inc() (a library call: TLS shard lookup,
 *                  two directory loads, plain add).
 *   gsp cnt cell   gsp_counter_cell_add() on the thread's own cell fetched
 *                  once with gsp_counter_cell_get(): inline, no call.
 *   atomic hist    a naive shared histogram: bucket index as gsperf's, then
 *                  two atomic_fetch_add (bucket, sum), like most clients.
 *   gsp hist       gsp_hist_record() with values cycling through a
 *                  precomputed per-thread list of 4096 log-uniform values
 *                  between 100 ns and 10 ms.
 *
 * Every cell reports CPU ns/op (CLOCK_THREAD_CPUTIME_ID summed over the
 * threads, divided by all their ops) and wall Mops/s: on this shared VM
 * the CPU figure is the honest one (MACHINE.md). A round runs every cell
 * once, subjects in rotated order; rounds repeat and the table shows
 * medians; the ratios are medians of per-round ratios.
 *
 * Exposition: a registry of 1,000 series (9 counter families x 100 label
 * pairs, 100 gauges), recorded from 2 threads that have exited plus the
 * main thread, rendered in Prometheus text into a reused buffer; the median
 * CPU time of one render. The same for 100 histogram series (29 samples
 * each) and for OpenMetrics and JSON.
 *
 * Goals printed at the end: counter <= 1 ns, histogram <= 3 ns per op (1
 * thread), 1,000-series Prometheus exposition <= 50 us.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "gsperf/metrics.h"
#include "../support/bench_util.h"

#define MAX_THREADS 2
#define MAX_ROUNDS 15
#define NVALUES 4096

enum { S_PLAIN, S_ATOMIC, S_COUNTER, S_CELL, S_AHIST, S_HIST, NSUBJ };
static const char *const g_names[NSUBJ] = {"plain/thread", "atomic add",  "gsp counter",
                                           "gsp cnt cell", "atomic hist", "gsp hist"};

/* ---- subjects ------------------------------------------------------- */

typedef struct {
  _Alignas(64) _Atomic uint64_t v;
} padded_cell;

static padded_cell g_plain[MAX_THREADS];
static padded_cell g_shared;
static _Atomic uint64_t g_ahist[GSP_HIST_BUCKETS + 1];
static gsp_counter *g_counter;
static gsp_hist *g_hist;
static uint64_t g_values[MAX_THREADS][NVALUES];

static void run_plain(int t, uint64_t ops) {
  _Atomic uint64_t *x = &g_plain[t].v;
  for (uint64_t i = 0; i < ops; i++)
    atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void run_atomic(int t, uint64_t ops) {
  (void)t;
  for (uint64_t i = 0; i < ops; i++)
    atomic_fetch_add_explicit(&g_shared.v, 1, memory_order_relaxed);
}

static void run_counter(int t, uint64_t ops) {
  (void)t;
  for (uint64_t i = 0; i < ops; i++) gsp_counter_inc(g_counter);
}

static void run_cell_add(int t, uint64_t ops) {
  (void)t;
  gsp_counter_cell *x = NULL;
  if (gsp_counter_cell_get(g_counter, &x) != GSP_OK) abort();
  for (uint64_t i = 0; i < ops; i++) gsp_counter_cell_add(x, 1);
}

static void run_ahist(int t, uint64_t ops) {
  const uint64_t *vals = g_values[t];
  for (uint64_t i = 0; i < ops; i++) {
    uint64_t v = vals[i & (NVALUES - 1)];
    atomic_fetch_add_explicit(&g_ahist[gsp_hist_bucket_of(v)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_ahist[GSP_HIST_BUCKETS], v, memory_order_relaxed);
  }
}

static void run_hist(int t, uint64_t ops) {
  const uint64_t *vals = g_values[t];
  for (uint64_t i = 0; i < ops; i++) gsp_hist_record(g_hist, vals[i & (NVALUES - 1)]);
}

typedef void (*run_fn)(int t, uint64_t ops);
static const run_fn g_run[NSUBJ] = {run_plain,    run_atomic, run_counter,
                                    run_cell_add, run_ahist,  run_hist};

/* ---- one cell: N threads on one subject ----------------------------- */

typedef struct cell_run {
  int subj, nthreads;
  uint64_t ops;
  pthread_barrier_t go;
  uint64_t cpu[MAX_THREADS];
  uint64_t start[MAX_THREADS], end[MAX_THREADS];
} cell_run;

typedef struct worker_arg {
  cell_run *run;
  int t;
} worker_arg;

static void *worker(void *arg) {
  worker_arg *w = arg;
  cell_run *r = w->run;
  g_run[r->subj](w->t, 1000); /* warm: shard, pages, caches */
  pthread_barrier_wait(&r->go);
  r->start[w->t] = gsp_bench_clock_ns(CLOCK_MONOTONIC);
  uint64_t c0 = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
  g_run[r->subj](w->t, r->ops);
  r->cpu[w->t] = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
  r->end[w->t] = gsp_bench_clock_ns(CLOCK_MONOTONIC);
  return NULL;
}

typedef struct result {
  double cpu_ns; /* per op */
  double mops;   /* wall */
} result;

static result run_cell(int subj, int nthreads, uint64_t ops) {
  cell_run r = {.subj = subj, .nthreads = nthreads, .ops = ops};
  pthread_barrier_init(&r.go, NULL, (unsigned)nthreads + 1);
  pthread_t th[MAX_THREADS];
  worker_arg wa[MAX_THREADS];
  for (int t = 0; t < nthreads; t++) {
    wa[t] = (worker_arg){&r, t};
    pthread_create(&th[t], NULL, worker, &wa[t]);
  }
  pthread_barrier_wait(&r.go);
  for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
  uint64_t s0 = r.start[0], e1 = r.end[0];
  for (int t = 1; t < nthreads; t++) {
    if (r.start[t] < s0) s0 = r.start[t];
    if (r.end[t] > e1) e1 = r.end[t];
  }
  uint64_t wall = e1 - s0;
  pthread_barrier_destroy(&r.go);
  uint64_t cpu = 0;
  for (int t = 0; t < nthreads; t++) cpu += r.cpu[t];
  double total = (double)ops * nthreads;
  return (result){(double)cpu / total, total / ((double)wall / 1e3)};
}

/* ---- exposition ----------------------------------------------------- */

typedef struct sinkbuf {
  char *p;
  size_t len, cap;
} sinkbuf;

static int sink(void *user, const char *buf, size_t len) {
  sinkbuf *s = user;
  if (s->len + len > s->cap) return GSP_ENOSPC;
  memcpy(s->p + s->len, buf, len);
  s->len += len;
  return GSP_OK;
}

static void *fill_thread(void *arg) {
  gsp_counter **cs = arg;
  for (int i = 0; i < 900; i++) gsp_counter_add(cs[i], (uint64_t)i * 7 + 1);
  return NULL;
}

static void *fill_hist_thread(void *arg) {
  gsp_hist **hs = arg;
  for (int i = 0; i < 100; i++)
    for (uint64_t v = 100; v < 100000000; v = v * 3 / 2 + 1)
      gsp_hist_record(hs[i], v + (uint64_t)i);
  return NULL;
}

static double time_render(gsp_metrics *m, gsp_metrics_format fmt, sinkbuf *sb, int reps,
                          size_t *bytes) {
  double v[256];
  if (reps > 256) reps = 256;
  for (int i = 0; i < reps; i++) {
    sb->len = 0;
    uint64_t c0 = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    int rv = gsp_metrics_write(m, fmt, sink, sb);
    v[i] = (double)(gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e3;
    if (rv != GSP_OK) {
      fprintf(stderr, "bench_metrics: render failed: %s\n", gsp_strerror(rv));
      exit(1);
    }
  }
  *bytes = sb->len;
  return gsp_bench_median(v, reps);
}

static void build_series(gsp_metrics *m, gsp_counter **cs, gsp_hist **hs) {
  const char *ln[] = {"method", "status"};
  char name[64], a[16], b[16];
  for (int f = 0; f < 9; f++) {
    gsp_metric_family *fam;
    snprintf(name, sizeof name, "app_family%d_requests_total", f);
    gsp_metrics_family(m,
                       &(gsp_metric_desc){.name = name,
                                          .help = "Requests by route.",
                                          .type = GSP_METRIC_COUNTER,
                                          .label_names = ln,
                                          .nlabels = 2},
                       &fam);
    for (int i = 0; i < 100; i++) {
      snprintf(a, sizeof a, "m%d", i % 10);
      snprintf(b, sizeof b, "%d", 200 + i);
      gsp_metrics_counter(fam, (const char *[]){a, b}, &cs[f * 100 + i]);
    }
  }
  for (int i = 0; i < 100; i++) {
    gsp_gauge *g;
    snprintf(name, sizeof name, "app_gauge_%d_bytes", i);
    gsp_metrics_gauge_new(m, name, "A level.", &g);
    gsp_gauge_set(g, i * 1.25);
  }
  gsp_metric_family *hf;
  const char *hl[] = {"op"};
  gsp_metrics_family(m,
                     &(gsp_metric_desc){.name = "app_latency_seconds",
                                        .help = "Latency.",
                                        .type = GSP_METRIC_HISTOGRAM,
                                        .label_names = hl,
                                        .nlabels = 1},
                     &hf);
  for (int i = 0; i < 100 && hs; i++) {
    snprintf(a, sizeof a, "op%d", i);
    gsp_metrics_histogram(hf, (const char *[]){a}, &hs[i]);
  }
}

static void bench_exposition(int reps) {
  static gsp_counter *cs[900];
  static gsp_hist *hs[100];
  gsp_metrics *m = NULL, *mh = NULL;
  gsp_metrics_create(NULL, &m);
  gsp_metrics_create(NULL, &mh);
  build_series(m, cs, NULL);
  gsp_metric_family *hf;
  gsp_metrics_family(mh,
                     &(gsp_metric_desc){.name = "app_latency_seconds",
                                        .help = "Latency.",
                                        .type = GSP_METRIC_HISTOGRAM,
                                        .label_names = (const char *[]){"op"},
                                        .nlabels = 1},
                     &hf);
  char a[16];
  for (int i = 0; i < 100; i++) {
    snprintf(a, sizeof a, "op%d", i);
    gsp_metrics_histogram(hf, (const char *[]){a}, &hs[i]);
  }
  pthread_t t;
  for (int i = 0; i < 2; i++) {
    pthread_create(&t, NULL, fill_thread, cs);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, fill_hist_thread, hs);
    pthread_join(t, NULL);
  }
  fill_thread(cs); /* the main thread's live shard too */
  fill_hist_thread(hs);
  sinkbuf sb = {malloc(4 << 20), 0, 4 << 20};
  size_t bytes;
  printf("\nexposition (CPU us per render, median of %d; reads 1 live shard + folded totals)\n",
         reps);
  double prom = time_render(m, GSP_METRICS_PROMETHEUS, &sb, reps, &bytes);
  printf("  %-44s %9.1f us  %7zu bytes  %6.1f ns/series\n",
         "1,000 series (900 counters, 100 gauges) prom", prom, bytes, prom * 1e3 / 1000);
  double om = time_render(m, GSP_METRICS_OPENMETRICS, &sb, reps, &bytes);
  printf("  %-44s %9.1f us  %7zu bytes\n", "1,000 series openmetrics", om, bytes);
  double js = time_render(m, GSP_METRICS_JSON, &sb, reps, &bytes);
  printf("  %-44s %9.1f us  %7zu bytes\n", "1,000 series json", js, bytes);
  double hp = time_render(mh, GSP_METRICS_PROMETHEUS, &sb, reps, &bytes);
  printf("  %-44s %9.1f us  %7zu bytes\n", "100 histograms (2,900 samples) prom", hp, bytes);
  double hj = time_render(mh, GSP_METRICS_JSON, &sb, reps, &bytes);
  printf("  %-44s %9.1f us  %7zu bytes\n", "100 histograms json (with quantiles)", hj, bytes);
  printf("goal: 1,000-series exposition <= 50 us: %.1f us  %s\n", prom,
         prom <= 50 ? "MET" : "MISSED");
  free(sb.p);
  gsp_metrics_destroy(mh);
  gsp_metrics_destroy(m);
}

/* ---- machine and main ----------------------------------------------- */

static void print_load(const char *when) {
  char load[128];
  gsp_bench_read_line("/proc/loadavg", "", load, sizeof load);
  printf("load average %s: %s\n", when, load);
}

static void fill_values(void) {
  uint64_t s = 0x9E3779B97F4A7C15u;
  for (int t = 0; t < MAX_THREADS; t++)
    for (int i = 0; i < NVALUES; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      double u = (double)(s >> 11) * 0x1.0p-53; /* 100 ns * 10^(5u) */
      double v = 100;
      for (double e = u * 5; e >= 1; e -= 1) v *= 10;
      g_values[t][i] = (uint64_t)v + (s & 1023);
    }
}

int main(int argc, char **argv) {
  bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  int rounds = quick ? 3 : 7;
  uint64_t ops = quick ? 5000000 : 20000000;
  char cpu[256];
  struct utsname u;
  gsp_bench_read_line("/proc/cpuinfo", "model name", cpu, sizeof cpu);
  if (uname(&u) != 0) snprintf(u.release, sizeof u.release, "?");
  printf("bench_metrics: gsperf %s metrics recording and exposition\n", GSP_VERSION_STRING);
  printf("machine: %s, nproc %ld, kernel %s %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN), u.sysname,
         u.release);
  print_load("before");
  fill_values();
  gsp_metrics *m = NULL;
  gsp_metrics_create(NULL, &m);
  gsp_metrics_counter_new(m, "bench_ops_total", "ops", &g_counter);
  gsp_metrics_histogram_new(m, "bench_op_seconds", "op time", &g_hist);

  double cpu_ns[NSUBJ][MAX_THREADS][MAX_ROUNDS], mops[NSUBJ][MAX_THREADS][MAX_ROUNDS];
  double rc_at[MAX_THREADS][MAX_ROUNDS], rc_pl[MAX_THREADS][MAX_ROUNDS];
  double rh_at[MAX_THREADS][MAX_ROUNDS];
  for (int r = 0; r < rounds; r++)
    for (int nt = 1; nt <= MAX_THREADS; nt++)
      for (int k = 0; k < NSUBJ; k++) {
        int s = (k + r) % NSUBJ;
        result res = run_cell(s, nt, ops);
        cpu_ns[s][nt - 1][r] = res.cpu_ns;
        mops[s][nt - 1][r] = res.mops;
      }
  for (int nt = 0; nt < MAX_THREADS; nt++)
    for (int r = 0; r < rounds; r++) {
      rc_at[nt][r] = cpu_ns[S_ATOMIC][nt][r] / cpu_ns[S_COUNTER][nt][r];
      rc_pl[nt][r] = cpu_ns[S_COUNTER][nt][r] / cpu_ns[S_PLAIN][nt][r];
      rh_at[nt][r] = cpu_ns[S_AHIST][nt][r] / cpu_ns[S_HIST][nt][r];
    }
  printf("\nrecording: %llu ops per thread per cell, %d rounds, medians\n", (unsigned long long)ops,
         rounds);
  printf("  %-14s %14s %14s %14s %14s\n", "subject", "1T CPU ns/op", "1T wall Mops/s",
         "2T CPU ns/op", "2T wall Mops/s");
  double med[NSUBJ][MAX_THREADS];
  for (int s = 0; s < NSUBJ; s++) {
    double mo[MAX_THREADS];
    for (int nt = 0; nt < MAX_THREADS; nt++) {
      med[s][nt] = gsp_bench_median(cpu_ns[s][nt], rounds);
      mo[nt] = gsp_bench_median(mops[s][nt], rounds);
    }
    printf("  %-14s %14.2f %14.1f %14.2f %14.1f\n", g_names[s], med[s][0], mo[0], med[s][1], mo[1]);
  }
  printf("\nratios (medians of per-round CPU ratios)      1T      2T\n");
  printf("  atomic add / gsp counter  (x faster)     %6.2f  %6.2f\n",
         gsp_bench_median(rc_at[0], rounds), gsp_bench_median(rc_at[1], rounds));
  printf("  gsp counter / plain/thread (x slower)    %6.2f  %6.2f\n",
         gsp_bench_median(rc_pl[0], rounds), gsp_bench_median(rc_pl[1], rounds));
  printf("  atomic hist / gsp hist    (x faster)     %6.2f  %6.2f\n",
         gsp_bench_median(rh_at[0], rounds), gsp_bench_median(rh_at[1], rounds));
  uint64_t want = ((uint64_t)rounds * ops * 3 + (uint64_t)rounds * 3 * 1000) * 2;
  printf("check: counter total %llu (expected %llu) %s\n",
         (unsigned long long)gsp_counter_value(g_counter), (unsigned long long)want,
         gsp_counter_value(g_counter) == want ? "ok" : "WRONG");
  printf("goal: counter <= 1 ns/op: gsp_counter_inc %.2f ns  %s; counter cell %.2f ns  %s\n",
         med[S_COUNTER][0], med[S_COUNTER][0] <= 1.0 ? "MET" : "MISSED", med[S_CELL][0],
         med[S_CELL][0] <= 1.0 ? "MET" : "MISSED");
  printf("goal: histogram <= 3 ns/op: %.2f ns  %s\n", med[S_HIST][0],
         med[S_HIST][0] <= 3.0 ? "MET" : "MISSED");
  gsp_metrics_destroy(m);
  bench_exposition(quick ? 50 : 200);
  print_load("after");
  return 0;
}
