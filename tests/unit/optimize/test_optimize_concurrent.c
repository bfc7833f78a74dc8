/*
 * test_optimize_concurrent.c - the engine under real concurrency (label
 * `concurrency`: CI runs it again under ThreadSanitizer).
 *
 *  - BALANCED: many threads call on a few keys at once; single-flight
 *    means each key's function runs exactly once, and every caller gets
 *    the right value; the counters add up across threads.
 *  - LATENCY: many threads miss on one key at once: one computation on
 *    the pool, every caller gets its own copy.
 *  - THROUGHPUT: many threads call at once; every caller gets its own
 *    result, and the batches they formed add up to the calls.
 *  - batches from several threads at once on the CPU and I/O pools, and a
 *    report taken while calls run.
 *  - futures submitted from several threads, some released unobserved
 *    while their task may be starting (cancel races start).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/optimize.h"

enum { THREADS = 8, KEYS = 4, ROUNDS = 200 };

static atomic_int g_runs[KEYS];
static atomic_int g_items;

static int keyed_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  int k = ((const unsigned char *)arg)[0] % KEYS;
  atomic_fetch_add(&g_runs[k], 1);
  usleep(2000); /* long enough for the others to pile up */
  unsigned char *r = gsp_malloc(n);
  if (r == NULL) return GSP_ENOMEM;
  for (size_t i = 0; i < n; i++) r[i] = (unsigned char)(((const unsigned char *)arg)[i] ^ 0x5a);
  *out = r;
  *outlen = n;
  return GSP_OK;
}

static int tp_batch(void *user, const gsp_opt_arg *args, size_t n, void **out, size_t *outlen,
                    int *status) {
  (void)user;
  atomic_fetch_add(&g_items, (int)n);
  for (size_t i = 0; i < n; i++) {
    unsigned char *r = gsp_malloc(args[i].len);
    if (r == NULL) {
      status[i] = GSP_ENOMEM;
      continue;
    }
    for (size_t j = 0; j < args[i].len; j++)
      r[j] = (unsigned char)(((const unsigned char *)args[i].data)[j] ^ 0x5a);
    out[i] = r;
    outlen[i] = args[i].len;
  }
  return GSP_OK;
}

typedef struct worker {
  gsp_opt_func *f;
  int id;
  int rounds;
} worker;

static void check(const gsp_opt_result *r, const unsigned char *arg, size_t n) {
  assert_int_equal(r->len, n);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(((const unsigned char *)r->data)[i], arg[i] ^ 0x5a);
}

static void *caller(void *p) {
  worker *w = p;
  for (int i = 0; i < w->rounds; i++) {
    unsigned char arg[3] = {(unsigned char)((w->id + i) % KEYS), 'k', 'x'};
    gsp_opt_result r;
    assert_int_equal(gsp_opt_call(w->f, arg, sizeof arg, &r), GSP_OK);
    check(&r, arg, sizeof arg);
    gsp_opt_result_release(&r);
  }
  return NULL;
}

static void run_threads(gsp_opt_func *f, int rounds) {
  pthread_t th[THREADS];
  worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker){f, i, rounds};
    assert_int_equal(pthread_create(&th[i], NULL, caller, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
}

static void reset_runs(void) {
  for (int k = 0; k < KEYS; k++) atomic_store(&g_runs[k], 0);
}

static void test_single_flight(gsp_opt_strategy s) {
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(NULL, &e), GSP_OK);
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = s, .timeout_ms = 60000};
  assert_int_equal(gsp_opt_register(e, "sf", keyed_fn, NULL, &o, &f), GSP_OK);
  reset_runs();
  run_threads(f, ROUNDS);
  for (int k = 0; k < KEYS; k++) assert_int_equal(atomic_load(&g_runs[k]), 1);
  gsp_opt_func_stats st;
  assert_int_equal(gsp_opt_func_stats_get(f, &st), GSP_OK);
  assert_int_equal(st.calls, THREADS * ROUNDS);
  assert_int_equal(st.cache_hits + st.cache_misses, THREADS * ROUNDS);
  assert_int_equal(st.cache_misses, KEYS);
  gsp_opt_engine_destroy(e);
}

static void test_balanced_single_flight(void **state) {
  (void)state;
  test_single_flight(GSP_OPT_BALANCED);
}

static void test_latency_single_flight(void **state) {
  (void)state;
  test_single_flight(GSP_OPT_LATENCY);
}

static void test_throughput_threads(void **state) {
  (void)state;
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(&(gsp_opt_config){.batch_window_us = 500}, &e), GSP_OK);
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {
      .strategy = GSP_OPT_THROUGHPUT, .batch = tp_batch, .caching = GSP_OPT_OFF, .batch_size = 4};
  assert_int_equal(gsp_opt_register(e, "tp", keyed_fn, NULL, &o, &f), GSP_OK);
  atomic_store(&g_items, 0);
  run_threads(f, 50);
  assert_int_equal(atomic_load(&g_items), THREADS * 50);
  gsp_opt_func_stats st;
  gsp_opt_func_stats_get(f, &st);
  assert_int_equal(st.calls, THREADS * 50);
  assert_true(st.batches >= (THREADS * 50) / 4);
  assert_true(st.batches <= THREADS * 50);
  gsp_opt_engine_destroy(e);
}

typedef struct batcher {
  gsp_opt_engine *e;
  gsp_opt_func *f;
} batcher;

static void *batch_caller(void *p) {
  batcher *b = p;
  enum { N = 32 };
  unsigned char bytes[N][2];
  gsp_opt_arg args[N];
  gsp_opt_result out[N];
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < N; i++) {
      bytes[i][0] = (unsigned char)i;
      bytes[i][1] = (unsigned char)round;
      args[i] = (gsp_opt_arg){bytes[i], 2};
    }
    assert_int_equal(gsp_opt_call_batch(b->f, args, N, out), GSP_OK);
    for (int i = 0; i < N; i++) {
      check(&out[i], bytes[i], 2);
      gsp_opt_result_release(&out[i]);
    }
    char *json = NULL;
    assert_int_equal(gsp_opt_report_json(b->e, &json, NULL), GSP_OK);
    gsp_free(json);
  }
  return NULL;
}

static void test_batches_from_threads(void **state) {
  (void)state;
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(NULL, &e), GSP_OK);
  gsp_opt_func *cpu = NULL, *io = NULL;
  assert_int_equal(gsp_opt_register(e, "cpu", keyed_fn, NULL,
                                    &(gsp_opt_func_opts){.strategy = GSP_OPT_CPU}, &cpu),
                   GSP_OK);
  assert_int_equal(
      gsp_opt_register(e, "io", keyed_fn, NULL, &(gsp_opt_func_opts){.strategy = GSP_OPT_IO}, &io),
      GSP_OK);
  pthread_t th[4];
  batcher b[4];
  for (int i = 0; i < 4; i++) {
    b[i] = (batcher){e, (i % 2) ? io : cpu};
    assert_int_equal(pthread_create(&th[i], NULL, batch_caller, &b[i]), 0);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  gsp_opt_func_stats st;
  gsp_opt_func_stats_get(cpu, &st);
  assert_int_equal(st.calls, 2 * 5 * 32);
  gsp_opt_engine_destroy(e);
}

static void *submitter(void *p) {
  gsp_opt_func *f = p;
  enum { N = 64 };
  gsp_opt_future *fu[N];
  unsigned char args[N][2];
  for (int i = 0; i < N; i++) {
    args[i][0] = (unsigned char)i;
    args[i][1] = 's';
    assert_int_equal(gsp_opt_submit(f, args[i], 2, &fu[i]), GSP_OK);
  }
  for (int i = 0; i < N; i++) {
    if (i % 3 == 0) { /* dropped unobserved: races the task's start */
      gsp_opt_future_release(fu[i]);
      continue;
    }
    gsp_opt_result r;
    assert_int_equal(gsp_opt_future_wait(fu[i], 0, &r), GSP_OK);
    check(&r, args[i], 2);
    gsp_opt_result_release(&r);
    gsp_opt_future_release(fu[i]);
  }
  return NULL;
}

static void test_submit_from_threads(void **state) {
  (void)state;
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(NULL, &e), GSP_OK);
  gsp_opt_func *cpu = NULL, *lat = NULL;
  assert_int_equal(gsp_opt_register(e, "cpu", keyed_fn, NULL,
                                    &(gsp_opt_func_opts){.caching = GSP_OPT_OFF}, &cpu),
                   GSP_OK);
  assert_int_equal(gsp_opt_register(e, "lat", keyed_fn, NULL,
                                    &(gsp_opt_func_opts){.strategy = GSP_OPT_LATENCY}, &lat),
                   GSP_OK);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, submitter, (i % 2) ? lat : cpu), 0);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  gsp_opt_engine_destroy(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_balanced_single_flight), cmocka_unit_test(test_latency_single_flight),
      cmocka_unit_test(test_throughput_threads),     cmocka_unit_test(test_batches_from_threads),
      cmocka_unit_test(test_submit_from_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
