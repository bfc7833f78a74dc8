/*
 * test_optimize_pools.c - the engine on the pool's parts: IO work on the
 * dedicated I/O executor (gsp_io), LATENCY work in the CPU pool's latency
 * class, an auto-scaling CPU pool (min_workers), a release before the
 * start on the I/O executor, the pool statistics in the report, and two
 * engines sharing one registry (their pools' series labelled by engine
 * name, each report reading only its own).
 *
 * Nothing here measures time: overlap is shown by calls that wait for
 * each other (a rendezvous that only completes when they run at once),
 * priority by the order in which a one-worker pool starts its tasks.
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
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "gsperf/optimize.h"

static gsp_opt_engine *engine(const gsp_opt_config *cfg) {
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(cfg, &e), GSP_OK);
  return e;
}

static int echo_result(const void *arg, size_t n, void **out, size_t *outlen) {
  char *r = gsp_malloc(n + 2);
  if (r == NULL) return GSP_ENOMEM;
  memcpy(r, "r:", 2);
  if (n) memcpy(r + 2, arg, n);
  *out = r;
  *outlen = n + 2;
  return GSP_OK;
}

/* Poll cond() every millisecond for up to 10 s; the result of the last poll. */
static bool eventually(bool (*cond)(void)) {
  for (int i = 0; i < 10000; i++) {
    if (cond()) return true;
    usleep(1000);
  }
  return cond();
}

/* ---- IO on the I/O executor -------------------------------------------- */

enum { RV_N = 4 };
static atomic_int g_arrived;

/* Arrive, then wait (bounded) until RV_N calls are inside at once. */
static int rendezvous_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  atomic_fetch_add(&g_arrived, 1);
  for (int i = 0; i < 10000 && atomic_load(&g_arrived) < RV_N; i++) usleep(1000);
  if (atomic_load(&g_arrived) < RV_N) return GSP_ETIMEDOUT; /* they did not overlap */
  return echo_result(arg, n, out, outlen);
}

static json_t *report(gsp_opt_engine *e) {
  char *js = NULL;
  assert_int_equal(gsp_opt_report_json(e, &js, NULL), GSP_OK);
  json_error_t jerr;
  json_t *root = json_loads(js, 0, &jerr);
  gsp_free(js);
  assert_non_null(root);
  return root;
}

static double jnum(json_t *root, const char *a, const char *b, const char *c) {
  json_t *v = json_object_get(json_object_get(json_object_get(root, "pool_stats"), a), b);
  if (c != NULL) v = json_object_get(v, c);
  assert_true(json_is_number(v));
  return json_number_value(v);
}

static void test_io_batch_on_io_executor(void **state) {
  (void)state;
  /* one CPU worker: the rendezvous of 4 can only complete on the I/O executor */
  gsp_opt_engine *e = engine(&(gsp_opt_config){.max_workers = 1, .io_workers = 8});
  assert_non_null(gsp_opt_io_executor(e));
  assert_non_null(gsp_opt_io_pool(e));
  assert_ptr_not_equal(gsp_opt_io_pool(e), gsp_opt_cpu_pool(e));
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_IO, .caching = GSP_OPT_OFF};
  assert_int_equal(gsp_opt_register(e, "rv", rendezvous_fn, NULL, &o, &f), GSP_OK);
  gsp_opt_arg args[RV_N] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}};
  gsp_opt_result out[RV_N];
  atomic_store(&g_arrived, 0);
  assert_int_equal(gsp_opt_call_batch(f, args, RV_N, out), GSP_OK);
  for (int i = 0; i < RV_N; i++) {
    assert_int_equal(out[i].status, GSP_OK);
    assert_memory_equal((const char *)out[i].data + 2, args[i].data, 1);
    gsp_opt_result_release(&out[i]);
  }
  gsp_exec_stats st;
  assert_int_equal(gsp_exec_stats_get(gsp_opt_io_pool(e), &st), GSP_OK);
  assert_true(st.tasks_run >= RV_N);
  json_t *root = report(e);
  json_t *io = json_object_get(json_object_get(root, "pool_stats"), "io");
  assert_string_equal(json_string_value(json_object_get(io, "executor")), "gsp_io");
  assert_true(jnum(root, "io", "tasks_run", NULL) >= RV_N);
  assert_true(jnum(root, "io", "tasks", NULL) >= RV_N);
  assert_true(jnum(root, "io", "queue_wait_ns", "count") >= RV_N);
  assert_true(jnum(root, "io", "queue_wait_ns", "p99") >= jnum(root, "io", "queue_wait_ns", "p50"));
  assert_true(jnum(root, "cpu", "workers", NULL) == 1);
  json_decref(root);
  gsp_opt_engine_destroy(e);
}

/* ---- a release before the start, on the I/O executor -------------------- */

static atomic_int g_gate, g_started;

static int gated_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  atomic_fetch_add(&g_started, 1);
  while (atomic_load(&g_gate) == 0) usleep(500);
  return echo_result(arg, n, out, outlen);
}

static bool one_started(void) { return atomic_load(&g_started) == 1; }

static void test_io_future_release_before_start(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(&(gsp_opt_config){.max_workers = 1, .io_workers = 1});
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_IO, .caching = GSP_OPT_OFF};
  assert_int_equal(gsp_opt_register(e, "gated", gated_fn, NULL, &o, &f), GSP_OK);
  atomic_store(&g_gate, 0);
  atomic_store(&g_started, 0);
  gsp_opt_future *a = NULL, *b = NULL;
  assert_int_equal(gsp_opt_submit(f, "a", 1, &a), GSP_OK);
  assert_true(eventually(one_started));
  assert_int_equal(gsp_opt_submit(f, "b", 1, &b), GSP_OK); /* queued: one I/O thread */
  gsp_opt_future_release(b);                               /* before its start */
  atomic_store(&g_gate, 1);
  gsp_opt_result r;
  assert_int_equal(gsp_opt_future_wait(a, 0, &r), GSP_OK);
  assert_memory_equal(r.data, "r:a", 3);
  gsp_opt_result_release(&r);
  gsp_opt_future_release(a);
  gsp_opt_engine_destroy(e); /* drains: "b" was skipped, not run */
  assert_int_equal(atomic_load(&g_started), 1);
}

/* ---- LATENCY in the latency class --------------------------------------- */

static atomic_int g_seq, g_lat_seq;
static int g_tp_seq[4];

static int blocker_task(void *p) {
  (void)p;
  atomic_fetch_add(&g_started, 1);
  while (atomic_load(&g_gate) == 0) usleep(500);
  return 0;
}

static int tp_task(void *p) {
  *(int *)p = atomic_fetch_add(&g_seq, 1);
  return 0;
}

static int lat_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  atomic_store(&g_lat_seq, atomic_fetch_add(&g_seq, 1));
  return echo_result(arg, n, out, outlen);
}

static gsp_exec *g_cpu;
static bool five_queued(void) {
  gsp_exec_stats st;
  return gsp_exec_stats_get(g_cpu, &st) == GSP_OK && st.queued >= 5;
}

static void *lat_caller(void *p) {
  gsp_opt_result r;
  int rv = gsp_opt_call(p, "k", 1, &r);
  gsp_opt_result_release(&r);
  return (void *)(intptr_t)rv;
}

static void test_latency_goes_first(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(&(gsp_opt_config){.max_workers = 1});
  g_cpu = gsp_opt_cpu_pool(e);
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_LATENCY, .caching = GSP_OPT_OFF};
  assert_int_equal(gsp_opt_register(e, "lat", lat_fn, NULL, &o, &f), GSP_OK);
  atomic_store(&g_gate, 0);
  atomic_store(&g_started, 0);
  atomic_store(&g_seq, 0);
  gsp_exec_future *blk = NULL;
  assert_int_equal(gsp_exec_submit(g_cpu, blocker_task, NULL, &blk), GSP_OK);
  assert_true(eventually(one_started)); /* the only worker is busy */
  for (int i = 0; i < 4; i++)
    assert_int_equal(gsp_exec_submit(g_cpu, tp_task, &g_tp_seq[i], NULL), GSP_OK);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, lat_caller, f), 0);
  assert_true(eventually(five_queued)); /* the LATENCY work is queued behind the four */
  atomic_store(&g_gate, 1);
  void *rv = NULL;
  assert_int_equal(pthread_join(th, &rv), 0);
  assert_int_equal((int)(intptr_t)rv, GSP_OK);
  assert_int_equal(gsp_exec_future_wait(blk, NULL), GSP_OK);
  gsp_exec_future_release(blk);
  gsp_opt_engine_destroy(e); /* drains the four */
  for (int i = 0; i < 4; i++) assert_true(atomic_load(&g_lat_seq) < g_tp_seq[i]);
}

/* ---- auto-scaling -------------------------------------------------------- */

static int sleepy_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  usleep(10000);
  return echo_result(arg, n, out, outlen);
}

static void test_cpu_pool_scales(void **state) {
  (void)state;
  char err[256];
  assert_int_equal(
      gsp_opt_config_check(&(gsp_opt_config){.min_workers = 3, .max_workers = 2}, err, sizeof err),
      GSP_EINVAL);
  assert_non_null(strstr(err, "min_workers"));
  gsp_opt_engine *bad = NULL;
  assert_int_equal(
      gsp_opt_engine_create(&(gsp_opt_config){.min_workers = 5, .max_workers = 4}, &bad),
      GSP_EINVAL);
  assert_null(bad);

  gsp_opt_engine *e = engine(&(gsp_opt_config){.min_workers = 1, .max_workers = 4});
  assert_int_equal(gsp_exec_workers(gsp_opt_cpu_pool(e)), 1);
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_CPU, .caching = GSP_OPT_OFF};
  assert_int_equal(gsp_opt_register(e, "sleepy", sleepy_fn, NULL, &o, &f), GSP_OK);
  enum { N = 32 };
  gsp_opt_future *fu[N];
  char bufs[N][8];
  /* asynchronous calls that block queue up with no idle worker: the pool grows */
  for (int i = 0; i < N; i++) {
    (void)snprintf(bufs[i], sizeof bufs[i], "%d", i);
    assert_int_equal(gsp_opt_submit(f, bufs[i], strlen(bufs[i]), &fu[i]), GSP_OK);
  }
  for (int i = 0; i < N; i++) {
    gsp_opt_result r;
    assert_int_equal(gsp_opt_future_wait(fu[i], 0, &r), GSP_OK);
    assert_memory_equal((const char *)r.data + 2, bufs[i], strlen(bufs[i]));
    gsp_opt_result_release(&r);
    gsp_opt_future_release(fu[i]);
  }
  gsp_exec_stats st;
  assert_int_equal(gsp_exec_stats_get(gsp_opt_cpu_pool(e), &st), GSP_OK);
  assert_int_equal(st.min_workers, 1);
  assert_int_equal(st.max_workers, 4);
  assert_true(st.workers_grown >= 1);
  assert_true(st.peak_workers >= 2);
  json_t *root = report(e);
  json_t *sc =
      json_object_get(json_object_get(json_object_get(root, "pool_stats"), "cpu"), "scaling");
  assert_true(json_is_true(json_object_get(sc, "enabled")));
  assert_true(jnum(root, "cpu", "scaling", "grown") >= 1);
  char *js = json_dumps(root, 0), *text = NULL;
  assert_int_equal(gsp_opt_report_text(js, &text, err, sizeof err), GSP_OK);
  assert_non_null(strstr(text, "queue wait p50"));
  assert_non_null(strstr(text, "scaling 1-4"));
  assert_non_null(strstr(text, "executor gsp_io"));
  gsp_free(text);
  free(js);
  json_decref(root);
  gsp_opt_engine_destroy(e);

  /* from the environment */
  gsp_opt_config c = {0};
  setenv("GSPERF_MIN_WORKERS", "2", 1);
  assert_int_equal(gsp_opt_config_from_env(&c, err, sizeof err), GSP_OK);
  assert_int_equal(c.min_workers, 2);
  setenv("GSPERF_MIN_WORKERS", "two", 1);
  assert_int_equal(gsp_opt_config_from_env(&c, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, "GSPERF_MIN_WORKERS"));
  unsetenv("GSPERF_MIN_WORKERS");
}

/* ---- the @distributed adapter (no dist library needed to test it) ----- */

static atomic_int g_calls;
static int counted_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  atomic_fetch_add(&g_calls, 1);
  if (n == 4 && memcmp(arg, "fail", 4) == 0) return GSP_EIO;
  return echo_result(arg, n, out, outlen);
}

static void test_dist_adapter(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(NULL);
  gsp_opt_func *f = NULL;
  assert_int_equal(gsp_opt_register(e, "counted", counted_fn, NULL, NULL, &f), GSP_OK);
  atomic_store(&g_calls, 0);
  for (int i = 0; i < 2; i++) {
    void *out = NULL;
    size_t len = 0;
    assert_int_equal(gsp_opt_dist_call(f, "abc", 3, &out, &len), GSP_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(out, "r:abc", 5);
    gsp_free(out); /* the farm's copy: the cached value is untouched */
  }
  assert_int_equal(atomic_load(&g_calls), 1); /* the second came from the cache */
  gsp_opt_func_stats st;
  assert_int_equal(gsp_opt_func_stats_get(f, &st), GSP_OK);
  assert_int_equal(st.calls, 2);
  assert_int_equal(st.cache_hits, 1);
  void *out = (void *)1;
  size_t len = 9;
  assert_int_equal(gsp_opt_dist_call(f, "fail", 4, &out, &len), GSP_EIO);
  assert_null(out);
  assert_int_equal(len, 0);
  assert_int_equal(gsp_opt_dist_call(NULL, "x", 1, &out, &len), GSP_EINVAL);
  gsp_opt_engine_destroy(e);
}

/* ---- two engines, one registry ------------------------------------------------ */

static int plain_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  return echo_result(arg, n, out, outlen);
}

/* The report's pool_stats.<pool>.queue_wait_ns.count. */
static json_int_t wait_count(gsp_opt_engine *e, const char *pool) {
  char *js = NULL;
  assert_int_equal(gsp_opt_report_json(e, &js, NULL), GSP_OK);
  json_t *root = json_loads(js, 0, NULL);
  assert_non_null(root);
  gsp_free(js);
  json_t *w =
      json_object_get(json_object_get(json_object_get(root, "pool_stats"), pool), "queue_wait_ns");
  json_int_t n = json_integer_value(json_object_get(w, "count"));
  json_decref(root);
  return n;
}

static void test_shared_registry_names(void **state) {
  (void)state;
  gsp_metrics *m = NULL;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  gsp_opt_engine *a = engine(&(gsp_opt_config){.max_workers = 2, .metrics = m});
  gsp_opt_engine *b = engine(&(gsp_opt_config){.max_workers = 2, .metrics = m, .name = "indexer"});
  gsp_opt_config got;
  gsp_opt_config_get(b, &got);
  assert_string_equal(got.name, "indexer");
  gsp_opt_config_get(a, &got);
  assert_string_equal(got.name, "default");
  /* a CPU batch on engine a only: tasks on a's pool */
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_CPU, .caching = GSP_OPT_OFF};
  assert_int_equal(gsp_opt_register(a, "work", plain_fn, NULL, &o, &f), GSP_OK);
  gsp_opt_arg args[16];
  gsp_opt_result res[16];
  for (int i = 0; i < 16; i++) args[i] = (gsp_opt_arg){"x", 1};
  assert_int_equal(gsp_opt_call_batch(f, args, 16, res), GSP_OK);
  for (int i = 0; i < 16; i++) gsp_opt_result_release(&res[i]);
  assert_true(wait_count(a, "cpu") > 0);
  assert_int_equal(wait_count(b, "cpu"), 0); /* not a's series */
  char *text = NULL;
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &text, NULL), GSP_OK);
  assert_non_null(strstr(text, "pool=\"optimize_cpu\""));
  assert_non_null(strstr(text, "pool=\"optimize_cpu:indexer\""));
  assert_non_null(strstr(text, "pool=\"optimize_io:indexer\""));
  gsp_free(text);
  /* the report names the engine */
  char *js = NULL;
  assert_int_equal(gsp_opt_report_json(b, &js, NULL), GSP_OK);
  assert_non_null(strstr(js, "\"engine\":{\"name\":\"indexer\""));
  gsp_free(js);
  gsp_opt_engine_destroy(b);
  gsp_opt_engine_destroy(a);
  gsp_metrics_destroy(m);
  /* a bad name is refused, naming the field */
  char err[200] = "";
  gsp_opt_engine *bad = NULL;
  assert_int_equal(gsp_opt_config_check(&(gsp_opt_config){.name = "two words"}, err, sizeof err),
                   GSP_EINVAL);
  assert_non_null(strstr(err, "name"));
  assert_int_equal(gsp_opt_engine_create(&(gsp_opt_config){.name = ""}, &bad), GSP_EINVAL);
  assert_null(bad);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_io_batch_on_io_executor),
      cmocka_unit_test(test_io_future_release_before_start),
      cmocka_unit_test(test_latency_goes_first),
      cmocka_unit_test(test_cpu_pool_scales),
      cmocka_unit_test(test_dist_adapter),
      cmocka_unit_test(test_shared_registry_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
