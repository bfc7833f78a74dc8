/*
 * test_optimize_strategies.c - the strategies that use the engine's pools
 * or gather calls: CPU batches on several threads, IO batches overlapping
 * blocking calls, MEMORY's size limit, LATENCY's deadline and cancel,
 * asynchronous calls with futures, THROUGHPUT gathering. (BALANCED and
 * CUSTOM are in test_optimize.c.)
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "gsperf/optimize.h"
#include "opt_test_util.h"

/* Records the set of threads that ran it and the peak concurrency. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t g_threads[64];
static int g_nthreads, g_inflight, g_peak;

static void note_thread(void) {
  pthread_mutex_lock(&g_mu);
  pthread_t self = pthread_self();
  bool seen = false;
  for (int i = 0; i < g_nthreads; i++) seen |= pthread_equal(g_threads[i], self) != 0;
  if (!seen && g_nthreads < 64) g_threads[g_nthreads++] = self;
  if (++g_inflight > g_peak) g_peak = g_inflight;
  pthread_mutex_unlock(&g_mu);
}

static void note_done(void) {
  pthread_mutex_lock(&g_mu);
  g_inflight--;
  pthread_mutex_unlock(&g_mu);
}

static void reset_notes(void) {
  pthread_mutex_lock(&g_mu);
  g_nthreads = g_inflight = g_peak = 0;
  pthread_mutex_unlock(&g_mu);
}

static int slow_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  note_thread();
  usleep((useconds_t)(uintptr_t)user);
  note_done();
  return echo_fn(NULL, arg, n, out, outlen);
}

static void make_args(gsp_opt_arg *args, char (*bufs)[16], size_t n) {
  for (size_t i = 0; i < n; i++) {
    int len = snprintf(bufs[i], 16, "item%zu", i);
    args[i] = (gsp_opt_arg){bufs[i], (size_t)len};
  }
}

static void check_batch(gsp_opt_result *out, gsp_opt_arg *args, size_t n) {
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(out[i].status, GSP_OK);
    assert_int_equal(out[i].len, args[i].len + 2);
    assert_memory_equal((const char *)out[i].data + 2, args[i].data, args[i].len);
    gsp_opt_result_release(&out[i]);
  }
}

static void test_cpu_batch_uses_workers(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(&(gsp_opt_config){.max_workers = 2});
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_CPU};
  assert_int_equal(gsp_opt_register(e, "cpu", slow_fn, (void *)(uintptr_t)2000, &o, &f), GSP_OK);
  enum { N = 64 };
  gsp_opt_arg args[N];
  char bufs[N][16];
  gsp_opt_result out[N];
  make_args(args, bufs, N);
  reset_notes();
  assert_int_equal(gsp_opt_call_batch(f, args, N, out), GSP_OK);
  check_batch(out, args, N);
  assert_int_equal(g_nthreads, 2); /* both workers; the caller only waits */
  for (int i = 0; i < g_nthreads; i++) assert_false(pthread_equal(g_threads[i], pthread_self()));
  gsp_opt_func_stats st;
  gsp_opt_func_stats_get(f, &st);
  assert_int_equal(st.calls, N);
  assert_int_equal(st.batches, 1);
  gsp_opt_engine_destroy(e);
}

static void test_io_batch_overlaps(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(&(gsp_opt_config){.max_workers = 1, .io_workers = 8});
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_IO, .caching = GSP_OPT_OFF};
  assert_int_equal(gsp_opt_register(e, "io", slow_fn, (void *)(uintptr_t)20000, &o, &f), GSP_OK);
  enum { N = 16 };
  gsp_opt_arg args[N];
  char bufs[N][16];
  gsp_opt_result out[N];
  make_args(args, bufs, N);
  reset_notes();
  assert_int_equal(gsp_opt_call_batch(f, args, N, out), GSP_OK);
  check_batch(out, args, N);
  /* blocking calls overlap well beyond the single CPU worker */
  assert_true(g_peak >= 3);
  gsp_opt_engine_destroy(e);
}

static int sized_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  atomic_fetch_add(&g_runs, 1);
  size_t want = n ? (size_t)((const unsigned char *)arg)[0] * 100 : 0;
  char *r = gsp_calloc(1, want ? want : 1);
  if (r == NULL) return GSP_ENOMEM;
  *out = r;
  *outlen = want;
  return GSP_OK;
}

static void test_memory_strategy(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(&(gsp_opt_config){.max_value_bytes = 1000, .batch_size = 4});
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_MEMORY};
  assert_int_equal(gsp_opt_register(e, "mem", sized_fn, NULL, &o, &f), GSP_OK);
  atomic_store(&g_runs, 0);
  gsp_opt_result r;
  unsigned char small = 5, large = 50; /* 500 and 5000 bytes */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(gsp_opt_call(f, &small, 1, &r), GSP_OK);
    assert_int_equal(r.len, 500);
    gsp_opt_result_release(&r);
    assert_int_equal(gsp_opt_call(f, &large, 1, &r), GSP_OK);
    assert_int_equal(r.len, 5000);
    gsp_opt_result_release(&r);
  }
  /* small cached in L1; large (above max_value_bytes) cached compressed */
  assert_int_equal(atomic_load(&g_runs), 1 + 1);
  /* a batch in windows of 4 */
  enum { N = 10 };
  unsigned char vals[N];
  gsp_opt_arg args[N];
  gsp_opt_result out[N];
  for (int i = 0; i < N; i++) {
    vals[i] = (unsigned char)(i + 1);
    args[i] = (gsp_opt_arg){&vals[i], 1};
  }
  assert_int_equal(gsp_opt_call_batch(f, args, N, out), GSP_OK);
  for (int i = 0; i < N; i++) {
    assert_int_equal(out[i].len, (size_t)(i + 1) * 100);
    gsp_opt_result_release(&out[i]);
  }
  gsp_opt_engine_destroy(e);
}

/* Blocks until released (or 2 s pass). */
static atomic_int g_gate;
static atomic_int g_started;
static int gated_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  atomic_fetch_add(&g_started, 1);
  for (int i = 0; i < 2000 && !atomic_load(&g_gate); i++) usleep(1000);
  return echo_fn(user, arg, n, out, outlen);
}

static void test_latency_deadline_and_cancel(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(&(gsp_opt_config){.max_workers = 1});
  gsp_opt_func *f = NULL, *g = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_LATENCY, .timeout_ms = 300};
  assert_int_equal(gsp_opt_register(e, "lat", gated_fn, NULL, &o, &f), GSP_OK);
  o.timeout_ms = 30;
  assert_int_equal(gsp_opt_register(e, "lat2", gated_fn, NULL, &o, &g), GSP_OK);
  atomic_store(&g_gate, 0);
  atomic_store(&g_started, 0);
  atomic_store(&g_runs, 0);
  gsp_opt_result r;
  /* the one worker takes "a" and blocks; the caller gives up at 300 ms */
  assert_int_equal(gsp_opt_call(f, "a", 1, &r), GSP_ETIMEDOUT);
  assert_int_equal(atomic_load(&g_started), 1); /* it had started: not canceled */
  /* "b" queues behind it, never starts before its deadline: canceled */
  assert_int_equal(gsp_opt_call(g, "b", 1, &r), GSP_ETIMEDOUT);
  atomic_store(&g_gate, 1);
  /* "a" finished in the background and was cached: a hit now */
  for (int i = 0; i < 200; i++) {
    if (gsp_opt_call(f, "a", 1, &r) == GSP_OK) break;
    usleep(5000);
  }
  assert_non_null(r.data);
  assert_memory_equal(r.data, "r:a", 3);
  gsp_opt_result_release(&r);
  usleep(50000);
  assert_int_equal(atomic_load(&g_started), 1); /* "b" never ran */
  gsp_opt_func_stats st;
  gsp_opt_func_stats_get(f, &st);
  assert_true(st.timeouts >= 1);
  assert_true(st.errors >= 1);
  /* "b" again: now it runs */
  assert_int_equal(gsp_opt_call(g, "b", 1, &r), GSP_OK);
  assert_memory_equal(r.data, "r:b", 3);
  gsp_opt_result_release(&r);
  gsp_opt_engine_destroy(e);
}

static void test_submit_futures(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(&(gsp_opt_config){.max_workers = 1, .io_workers = 8});
  gsp_opt_func *io = NULL, *gated = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_IO, .caching = GSP_OPT_OFF};
  assert_int_equal(gsp_opt_register(e, "io", slow_fn, (void *)(uintptr_t)20000, &o, &io), GSP_OK);
  o.strategy = GSP_OPT_CPU;
  assert_int_equal(gsp_opt_register(e, "gated", gated_fn, NULL, &o, &gated), GSP_OK);
  /* many IO calls from one thread overlap on the I/O pool */
  enum { N = 8 };
  gsp_opt_future *fu[N];
  char bufs[N][16];
  gsp_opt_arg args[N];
  make_args(args, bufs, N);
  reset_notes();
  for (int i = 0; i < N; i++)
    assert_int_equal(gsp_opt_submit(io, args[i].data, args[i].len, &fu[i]), GSP_OK);
  for (int i = 0; i < N; i++) {
    gsp_opt_result r;
    assert_int_equal(gsp_opt_future_wait(fu[i], 0, &r), GSP_OK);
    assert_true(gsp_opt_future_done(fu[i]));
    assert_int_equal(r.len, args[i].len + 2);
    assert_memory_equal((const char *)r.data + 2, args[i].data, args[i].len);
    gsp_opt_result_release(&r);
    assert_int_equal(gsp_opt_future_wait(fu[i], 0, &r), GSP_ESTATE);
    gsp_opt_future_release(fu[i]);
  }
  assert_true(g_peak >= 3);
  /* a deadline on the wait; a release before the start cancels */
  atomic_store(&g_gate, 0);
  atomic_store(&g_started, 0);
  gsp_opt_future *a = NULL, *b = NULL;
  assert_int_equal(gsp_opt_submit(gated, "a", 1, &a), GSP_OK);
  for (int i = 0; i < 2000 && atomic_load(&g_started) == 0; i++) usleep(1000);
  assert_int_equal(atomic_load(&g_started), 1);
  assert_int_equal(gsp_opt_submit(gated, "b", 1, &b), GSP_OK); /* queued behind "a" */
  gsp_opt_result r;
  assert_int_equal(gsp_opt_future_wait(a, 10, &r), GSP_ETIMEDOUT);
  assert_false(gsp_opt_future_done(b));
  gsp_opt_future_release(b); /* not started: canceled */
  atomic_store(&g_gate, 1);
  assert_int_equal(gsp_opt_future_wait(a, 0, &r), GSP_OK);
  assert_memory_equal(r.data, "r:a", 3);
  gsp_opt_result_release(&r);
  gsp_opt_future_release(a);
  gsp_opt_future_release(NULL);
  assert_int_equal(gsp_opt_submit(gated, NULL, 2, &a), GSP_EINVAL);
  gsp_opt_engine_destroy(e);                    /* drains the pools */
  assert_int_equal(atomic_load(&g_started), 1); /* "b" never ran */
  /* without pools: the call runs inside submit */
  e = engine(&(gsp_opt_config){.enable_async = GSP_OPT_OFF});
  assert_int_equal(gsp_opt_register(e, "echo", echo_fn, NULL, NULL, &io), GSP_OK);
  assert_int_equal(gsp_opt_submit(io, "z", 1, &a), GSP_OK);
  assert_true(gsp_opt_future_done(a));
  assert_int_equal(gsp_opt_future_wait(a, 5, &r), GSP_OK);
  assert_memory_equal(r.data, "r:z", 3);
  gsp_opt_result_release(&r);
  gsp_opt_future_release(a);
  gsp_opt_engine_destroy(e);
}

/* Batch callback: records batch sizes. */
static atomic_int g_batches, g_max_batch;
static int batch_cb(void *user, const gsp_opt_arg *args, size_t n, void **out, size_t *outlen,
                    int *status) {
  (void)user;
  atomic_fetch_add(&g_batches, 1);
  usleep(50000); /* busy long enough for the other callers to gather */
  int cur = atomic_load(&g_max_batch);
  while ((int)n > cur && !atomic_compare_exchange_weak(&g_max_batch, &cur, (int)n)) {
  }
  for (size_t i = 0; i < n; i++) {
    if (args[i].len == 4 && memcmp(args[i].data, "fail", 4) == 0) {
      status[i] = GSP_EIO;
      continue;
    }
    status[i] = echo_fn(NULL, args[i].data, args[i].len, &out[i], &outlen[i]);
  }
  return GSP_OK;
}

typedef struct tp_arg {
  gsp_opt_func *f;
  int id;
} tp_arg;

static void *tp_caller(void *p) {
  tp_arg *a = p;
  char buf[16];
  int n = snprintf(buf, sizeof buf, "c%d", a->id);
  gsp_opt_result r;
  int rv = gsp_opt_call(a->f, buf, (size_t)n, &r);
  assert_int_equal(rv, GSP_OK);
  assert_int_equal(r.len, (size_t)n + 2);
  assert_memory_equal((const char *)r.data + 2, buf, (size_t)n);
  gsp_opt_result_release(&r);
  return NULL;
}

static void test_throughput_gathers(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(&(gsp_opt_config){.batch_window_us = 200000, .batch_size = 8});
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_THROUGHPUT, .batch = batch_cb};
  assert_int_equal(gsp_opt_register(e, "tp", echo_fn, NULL, &o, &f), GSP_OK);
  atomic_store(&g_batches, 0);
  atomic_store(&g_max_batch, 0);
  enum { T = 8 };
  pthread_t th[T];
  tp_arg a[T];
  for (int i = 0; i < T; i++) {
    a[i] = (tp_arg){f, i};
    assert_int_equal(pthread_create(&th[i], NULL, tp_caller, &a[i]), 0);
  }
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  /* 8 callers, each batch busy 50 ms: the callers gather behind the first */
  assert_true(atomic_load(&g_batches) < T);
  assert_true(atomic_load(&g_max_batch) >= 2);
  /* an item's error reaches its own caller only */
  gsp_opt_result r;
  assert_int_equal(gsp_opt_call(f, "fail", 4, &r), GSP_EIO);
  /* batch API: chunks of batch_size through the callback */
  atomic_store(&g_batches, 0);
  enum { N = 20 };
  gsp_opt_arg args[N];
  char bufs[N][16];
  gsp_opt_result out[N];
  make_args(args, bufs, N);
  assert_int_equal(gsp_opt_call_batch(f, args, N, out), GSP_OK);
  check_batch(out, args, N);
  assert_int_equal(atomic_load(&g_batches), 3);
  gsp_opt_engine_destroy(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cpu_batch_uses_workers),
      cmocka_unit_test(test_io_batch_overlaps),
      cmocka_unit_test(test_memory_strategy),
      cmocka_unit_test(test_latency_deadline_and_cancel),
      cmocka_unit_test(test_submit_futures),
      cmocka_unit_test(test_throughput_gathers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
