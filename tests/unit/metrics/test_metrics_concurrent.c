/*
 * test_metrics_concurrent.c - threads record concurrently into shared
 * counters and histograms (each thread through its own shard) while a
 * reader renders; after join the totals are exact. Threads that exit keep
 * their counts (folded at thread exit), including threads that exit while
 * others are still recording, and a thread recording into two registries.
 * Run under TSan (label concurrency): the hot path must be race-free.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/metrics.h"

#define THREADS 4
#define ITERS 20000

typedef struct shared {
  gsp_counter *c[3];
  gsp_hist *h;
  gsp_gauge *g;
  gsp_counter *other; /* in a second registry */
} shared;

static void *worker(void *arg) {
  shared *s = arg;
  gsp_counter_cell *cell0 = NULL; /* counter "a" through the thread's own cell */
  assert_int_equal(gsp_counter_cell_get(s->c[0], &cell0), GSP_OK);
  for (uint64_t i = 0; i < ITERS; i++) {
    if (i % 3 == 0)
      gsp_counter_cell_add(cell0, 1);
    else
      gsp_counter_inc(s->c[i % 3]);
    gsp_hist_record(s->h, (i % 1000) * 1000 + 1);
    if (i % 100 == 0) gsp_gauge_add(s->g, 1);
    if (s->other) gsp_counter_add(s->other, 2);
  }
  return NULL;
}

typedef struct reader_arg {
  gsp_metrics *m;
  atomic_bool stop;
  int renders;
} reader_arg;

static void *reader(void *arg) {
  reader_arg *r = arg;
  while (!atomic_load(&r->stop)) {
    char *out = NULL;
    assert_int_equal(gsp_metrics_render(r->m, GSP_METRICS_PROMETHEUS, &out, NULL), GSP_OK);
    gsp_free(out);
    assert_int_equal(gsp_metrics_render(r->m, GSP_METRICS_JSON, &out, NULL), GSP_OK);
    gsp_free(out);
    r->renders++;
  }
  return NULL;
}

static void setup_shared(gsp_metrics *m, shared *s) {
  gsp_metric_family *f;
  const char *ln[] = {"k"};
  gsp_metric_desc d = {
      .name = "ops_total", .type = GSP_METRIC_COUNTER, .label_names = ln, .nlabels = 1};
  assert_int_equal(gsp_metrics_family(m, &d, &f), GSP_OK);
  const char *vals[3] = {"a", "b", "c"};
  for (int i = 0; i < 3; i++) assert_int_equal(gsp_metrics_counter(f, &vals[i], &s->c[i]), GSP_OK);
  assert_int_equal(gsp_metrics_histogram_new(m, "lat_seconds", "", &s->h), GSP_OK);
  assert_int_equal(gsp_metrics_gauge_new(m, "level", "", &s->g), GSP_OK);
}

static void test_totals_exact_after_join(void **state) {
  (void)state;
  gsp_metrics *m = NULL, *m2 = NULL;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  assert_int_equal(gsp_metrics_create(NULL, &m2), GSP_OK);
  shared s = {0};
  setup_shared(m, &s);
  assert_int_equal(gsp_metrics_counter_new(m2, "other_total", "", &s.other), GSP_OK);
  reader_arg r = {.m = m};
  pthread_t t[THREADS], rt;
  assert_int_equal(pthread_create(&rt, NULL, reader, &r), 0);
  for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, worker, &s), 0);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  atomic_store(&r.stop, true);
  pthread_join(rt, NULL);
  uint64_t total = 0;
  for (int i = 0; i < 3; i++) total += gsp_counter_value(s.c[i]);
  assert_int_equal(total, (uint64_t)THREADS * ITERS);
  assert_int_equal(gsp_counter_value(s.c[0]), (uint64_t)THREADS * ((ITERS + 2) / 3));
  assert_int_equal(gsp_counter_value(s.other), (uint64_t)THREADS * ITERS * 2);
  assert_true(gsp_gauge_value(s.g) == (double)(THREADS * ITERS / 100));
  gsp_hist_snap *snap;
  assert_int_equal(gsp_hist_snap_create(&snap), GSP_OK);
  gsp_hist_snapshot(s.h, snap);
  gsp_hist_summary sum;
  gsp_hist_snap_summary(snap, &sum);
  assert_int_equal(sum.count, (uint64_t)THREADS * ITERS);
  assert_int_equal(sum.min, 1);
  assert_int_equal(sum.max, 999001);
  uint64_t per_thread = 0;
  for (uint64_t i = 0; i < ITERS; i++) per_thread += (i % 1000) * 1000 + 1;
  assert_int_equal(sum.sum, per_thread * THREADS);
  assert_int_equal(gsp_hist_snap_le_count(snap, GSP_HIST_LE_COUNT), (uint64_t)THREADS * ITERS);
  gsp_hist_snap_destroy(snap);
  gsp_metrics_destroy(m2);
  gsp_metrics_destroy(m);
}

/* Live threads read while earlier generations of threads have exited. */
static void test_exited_threads_keep_counts(void **state) {
  (void)state;
  gsp_metrics *m = NULL;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  shared s = {0};
  setup_shared(m, &s);
  for (int gen = 1; gen <= 5; gen++) {
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, worker, &s), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    uint64_t total = 0;
    for (int i = 0; i < 3; i++) total += gsp_counter_value(s.c[i]);
    assert_int_equal(total, (uint64_t)gen * 2 * ITERS);
  }
  /* the main thread's own shard adds to the folded ones */
  gsp_counter_add(s.c[0], 5);
  uint64_t c0 = gsp_counter_value(s.c[0]);
  assert_int_equal(c0, (uint64_t)10 * ((ITERS + 2) / 3) + 5);
  char *out = NULL;
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &out, NULL), GSP_OK);
  char want[64];
  snprintf(want, sizeof want, "ops_total{k=\"a\"} %llu\n", (unsigned long long)c0);
  assert_non_null(strstr(out, want));
  gsp_free(out);
  gsp_metrics_destroy(m);
}

/* A thread that outlives the registry it recorded into. */
typedef struct late {
  gsp_counter *c;
  atomic_int phase;
} late;

static void *late_worker(void *arg) {
  late *l = arg;
  gsp_counter_inc(l->c);
  atomic_store(&l->phase, 1);
  while (atomic_load(&l->phase) != 2) {
  }
  gsp_metrics *m2 = NULL; /* a new registry after the old one died */
  assert_int_equal(gsp_metrics_create(NULL, &m2), GSP_OK);
  gsp_counter *c2;
  assert_int_equal(gsp_metrics_counter_new(m2, "y", "", &c2), GSP_OK);
  gsp_counter_inc(c2);
  assert_int_equal(gsp_counter_value(c2), 1);
  gsp_metrics_destroy(m2);
  return NULL;
}

static void test_registry_destroyed_before_thread_exit(void **state) {
  (void)state;
  gsp_metrics *m = NULL;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  late l = {0};
  assert_int_equal(gsp_metrics_counter_new(m, "x", "", &l.c), GSP_OK);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, late_worker, &l), 0);
  while (atomic_load(&l.phase) != 1) {
  }
  assert_int_equal(gsp_counter_value(l.c), 1);
  gsp_metrics_destroy(m);
  atomic_store(&l.phase, 2);
  pthread_join(t, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_totals_exact_after_join),
      cmocka_unit_test(test_exited_threads_keep_counts),
      cmocka_unit_test(test_registry_destroyed_before_thread_exit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
