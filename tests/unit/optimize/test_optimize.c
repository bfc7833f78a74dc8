/*
 * test_optimize.c - behaviour of the optimization engine: configuration
 * (defaults, check, JSON file, environment, errors naming the key and
 * value), registration errors, each strategy (BALANCED caching, CPU batch
 * on several threads, IO batch overlapping blocking calls, MEMORY's size
 * limit, LATENCY deadline and cancel, THROUGHPUT gathering, CUSTOM
 * routing), monitoring (metric names, the scope macro), the default
 * engine, and the report (JSON fields, text rendering, bad input).
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

/* ---- helpers -------------------------------------------------------------- */

static atomic_int g_runs;

/* Result: "r:" + argument. */
static int echo_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  atomic_fetch_add(&g_runs, 1);
  char *r = gsp_malloc(n + 2);
  if (r == NULL) return GSP_ENOMEM;
  memcpy(r, "r:", 2);
  if (n) memcpy(r + 2, arg, n);
  *out = r;
  *outlen = n + 2;
  return GSP_OK;
}

static int fail_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user, (void)arg, (void)n, (void)out, (void)outlen;
  atomic_fetch_add(&g_runs, 1);
  return GSP_EIO;
}

static gsp_opt_engine *engine(const gsp_opt_config *cfg) {
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(cfg, &e), GSP_OK);
  return e;
}

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

/* ---- configuration -------------------------------------------------------- */

static void test_config_defaults_and_check(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(NULL);
  gsp_opt_config c;
  gsp_opt_config_get(e, &c);
  assert_int_equal(c.level, GSP_OPT_LEVEL_BALANCED);
  assert_int_equal(c.strategy, GSP_OPT_BALANCED);
  assert_true(c.max_workers >= 1);
  assert_true(c.io_workers >= 8);
  assert_int_equal(c.enable_async, GSP_OPT_ON);
  assert_int_equal(c.enable_caching, GSP_OPT_ON);
  assert_int_equal(c.cache_entries, 10000);
  assert_non_null(gsp_opt_cpu_pool(e));
  assert_non_null(gsp_opt_io_pool(e));
  assert_ptr_not_equal(gsp_opt_cpu_pool(e), gsp_opt_io_pool(e));
  assert_non_null(gsp_cache_manager_find(gsp_opt_caches(e), "default"));
  gsp_opt_engine_destroy(e);
  gsp_opt_engine_destroy(NULL);

  char err[256];
  gsp_opt_engine *bad = NULL;
  assert_int_equal(gsp_opt_engine_create(&(gsp_opt_config){.max_workers = 5000}, &bad), GSP_EINVAL);
  assert_null(bad);
  assert_int_equal(gsp_opt_config_check(&(gsp_opt_config){.timeout_seconds = -1}, err, sizeof err),
                   GSP_EINVAL);
  assert_non_null(strstr(err, "timeout_seconds"));
  assert_int_equal(
      gsp_opt_config_check(&(gsp_opt_config){.strategy = GSP_OPT_CUSTOM}, err, sizeof err),
      GSP_EINVAL);
  assert_non_null(strstr(err, "strategy"));
  assert_int_equal(gsp_opt_config_check(&(gsp_opt_config){.batch_size = 70000}, err, sizeof err),
                   GSP_EINVAL);
  assert_non_null(strstr(err, "batch_size"));
}

static void test_config_minimal_level(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(&(gsp_opt_config){.level = GSP_OPT_LEVEL_MINIMAL});
  assert_null(gsp_opt_cpu_pool(e));
  gsp_opt_func *f = NULL;
  assert_int_equal(gsp_opt_register(e, "echo", echo_fn, NULL, NULL, &f), GSP_OK);
  gsp_opt_result r;
  atomic_store(&g_runs, 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(gsp_opt_call(f, "a", 1, &r), GSP_OK);
    gsp_opt_result_release(&r);
  }
  assert_int_equal(atomic_load(&g_runs), 3); /* no caching at MINIMAL */
  gsp_opt_func_stats st;
  assert_int_equal(gsp_opt_func_stats_get(f, &st), GSP_OK);
  assert_int_equal(st.calls, 3);
  gsp_opt_engine_destroy(e);
}

static void test_config_names(void **state) {
  (void)state;
  gsp_opt_strategy s;
  gsp_opt_level l;
  assert_int_equal(gsp_opt_strategy_parse("CPU_OPTIMIZED", &s), GSP_OK);
  assert_int_equal(s, GSP_OPT_CPU);
  assert_int_equal(gsp_opt_strategy_parse("latency", &s), GSP_OK);
  assert_int_equal(s, GSP_OPT_LATENCY);
  assert_int_equal(gsp_opt_strategy_parse("fast", &s), GSP_EINVAL);
  assert_string_equal(gsp_opt_strategy_name(GSP_OPT_THROUGHPUT), "throughput_optimized");
  assert_int_equal(gsp_opt_level_parse("Aggressive", &l), GSP_OK);
  assert_int_equal(l, GSP_OPT_LEVEL_AGGRESSIVE);
  assert_int_equal(gsp_opt_level_parse("max", &l), GSP_EINVAL);
  assert_string_equal(gsp_opt_level_name(GSP_OPT_LEVEL_MINIMAL), "minimal");
}

static void test_config_file(void **state) {
  (void)state;
  char path[] = "/tmp/gsp_opt_cfg_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  write_file(path,
             "{\"level\": \"aggressive\", \"strategy\": \"cpu_optimized\", \"max_workers\": 3,"
             " \"enable_async\": true, \"enable_caching\": false, \"memory_limit_mb\": 2048,"
             " \"timeout_seconds\": 30.5, \"batch_size\": 16}");
  gsp_opt_config c = {0};
  char err[256] = "";
  assert_int_equal(gsp_opt_config_load(path, &c, err, sizeof err), GSP_OK);
  assert_int_equal(c.level, GSP_OPT_LEVEL_AGGRESSIVE);
  assert_int_equal(c.strategy, GSP_OPT_CPU);
  assert_int_equal(c.max_workers, 3);
  assert_int_equal(c.enable_async, GSP_OPT_ON);
  assert_int_equal(c.enable_caching, GSP_OPT_OFF);
  assert_int_equal(c.memory_limit_mb, 2048);
  assert_true(c.timeout_seconds > 30.4 && c.timeout_seconds < 30.6);
  assert_int_equal(c.batch_size, 16);

  /* unknown key: named, config unchanged */
  write_file(path, "{\"max_workers\": 2, \"max_wrokers\": 4}");
  gsp_opt_config before = c;
  assert_int_equal(gsp_opt_config_load(path, &c, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, "max_wrokers"));
  assert_non_null(strstr(err, path));
  assert_memory_equal(&before, &c, sizeof c);
  /* bad values: named with the value */
  write_file(path, "{\"level\": \"turbo\"}");
  assert_int_equal(gsp_opt_config_load(path, &c, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, "level"));
  assert_non_null(strstr(err, "turbo"));
  write_file(path, "{\"max_workers\": -2}");
  assert_int_equal(gsp_opt_config_load(path, &c, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, "max_workers"));
  write_file(path, "{\"enable_caching\": \"maybe\"}");
  assert_int_equal(gsp_opt_config_load(path, &c, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, "enable_caching"));
  write_file(path, "{\"max_workers\": 9999}");
  assert_int_equal(gsp_opt_config_load(path, &c, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, "max_workers"));
  write_file(path, "[1, 2]");
  assert_int_equal(gsp_opt_config_load(path, &c, err, sizeof err), GSP_EFORMAT);
  write_file(path, "{\"level\": ");
  assert_int_equal(gsp_opt_config_load(path, &c, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, path));
  assert_memory_equal(&before, &c, sizeof c);
  unlink(path);
  assert_int_equal(gsp_opt_config_load(path, &c, err, sizeof err), GSP_EIO);
}

static void test_config_env(void **state) {
  (void)state;
  setenv("GSPERF_LEVEL", "minimal", 1);
  setenv("GSPERF_MAX_WORKERS", "2", 1);
  setenv("GSPERF_ENABLE_ASYNC", "off", 1);
  setenv("GSPERF_TIMEOUT_SECONDS", "1.5", 1);
  setenv("GSPERF_SOMETHING_ELSE", "whatever", 1); /* another module's: ignored */
  gsp_opt_config c = {0};
  char err[256] = "";
  assert_int_equal(gsp_opt_config_from_env(&c, err, sizeof err), GSP_OK);
  assert_int_equal(c.level, GSP_OPT_LEVEL_MINIMAL);
  assert_int_equal(c.max_workers, 2);
  assert_int_equal(c.enable_async, GSP_OPT_OFF);
  assert_true(c.timeout_seconds == 1.5);
  setenv("GSPERF_MAX_WORKERS", "two", 1);
  gsp_opt_config before = c;
  assert_int_equal(gsp_opt_config_from_env(&c, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, "GSPERF_MAX_WORKERS"));
  assert_non_null(strstr(err, "two"));
  assert_memory_equal(&before, &c, sizeof c);
  setenv("GSPERF_MAX_WORKERS", "1", 1);
  setenv("GSPERF_TIMEOUT_SECONDS", "-3", 1);
  assert_int_equal(gsp_opt_config_from_env(&c, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, "GSPERF_TIMEOUT_SECONDS"));
  unsetenv("GSPERF_TIMEOUT_SECONDS");

  /* the default engine is made from the environment */
  gsp_opt_engine *d1 = NULL, *d2 = NULL;
  assert_int_equal(gsp_opt_default(&d1, err, sizeof err), GSP_OK);
  assert_int_equal(gsp_opt_default(&d2, err, sizeof err), GSP_OK);
  assert_ptr_equal(d1, d2);
  gsp_opt_config_get(d1, &c);
  assert_int_equal(c.level, GSP_OPT_LEVEL_MINIMAL);
  assert_int_equal(c.max_workers, 1);
  gsp_opt_default_shutdown();
  setenv("GSPERF_LEVEL", "loud", 1);
  assert_int_equal(gsp_opt_default(&d1, err, sizeof err), GSP_EFORMAT);
  assert_null(d1);
  assert_non_null(strstr(err, "GSPERF_LEVEL"));
  unsetenv("GSPERF_LEVEL");
  unsetenv("GSPERF_MAX_WORKERS");
  unsetenv("GSPERF_ENABLE_ASYNC");
  unsetenv("GSPERF_SOMETHING_ELSE");
  gsp_opt_default_shutdown();
}

/* ---- registration ----------------------------------------------------------- */

static void test_register_errors(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(NULL);
  gsp_opt_func *f = NULL, *g = NULL;
  assert_int_equal(gsp_opt_register(e, "bad name", echo_fn, NULL, NULL, &f), GSP_EINVAL);
  assert_non_null(strstr(gsp_opt_errmsg(e), "bad name"));
  assert_int_equal(gsp_opt_register(e, "", echo_fn, NULL, NULL, &f), GSP_EINVAL);
  assert_int_equal(gsp_opt_register(e, "nofn", NULL, NULL, NULL, &f), GSP_EINVAL);
  assert_int_equal(
      gsp_opt_register(e, "c", echo_fn, NULL, &(gsp_opt_func_opts){.strategy = GSP_OPT_CUSTOM}, &f),
      GSP_EINVAL);
  assert_non_null(strstr(gsp_opt_errmsg(e), "policy.route"));
  assert_int_equal(gsp_opt_register(e, "s", echo_fn, NULL,
                                    &(gsp_opt_func_opts){.strategy = (gsp_opt_strategy)99}, &f),
                   GSP_EINVAL);
  assert_int_equal(
      gsp_opt_register(e, "k", echo_fn, NULL, &(gsp_opt_func_opts){.cache = "no space"}, &f),
      GSP_EINVAL);
  assert_null(f);
  assert_int_equal(gsp_opt_register(e, "twice", echo_fn, NULL, NULL, &f), GSP_OK);
  assert_int_equal(gsp_opt_register(e, "twice", echo_fn, NULL, NULL, &g), GSP_EEXIST);
  assert_non_null(strstr(gsp_opt_errmsg(e), "twice"));
  assert_ptr_equal(gsp_opt_find(e, "twice"), f);
  assert_null(gsp_opt_find(e, "nope"));
  assert_string_equal(gsp_opt_func_name(f), "twice");
  assert_int_equal(gsp_opt_func_strategy(f), GSP_OPT_BALANCED);
  gsp_opt_result r;
  assert_int_equal(gsp_opt_call(f, NULL, 3, &r), GSP_EINVAL);
  gsp_opt_func *m = NULL;
  assert_int_equal(gsp_opt_register_monitor(e, "mon", &m), GSP_OK);
  assert_int_equal(gsp_opt_call(m, "x", 1, &r), GSP_EINVAL);
  gsp_opt_engine_destroy(e);
}

/* ---- strategies ------------------------------------------------------------- */

static void test_balanced_caches_and_monitors(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(NULL);
  gsp_opt_func *f = NULL, *g = NULL, *bad = NULL;
  assert_int_equal(gsp_opt_register(e, "echo", echo_fn, NULL, NULL, &f), GSP_OK);
  assert_int_equal(gsp_opt_register(e, "echo2", echo_fn, NULL, NULL, &g), GSP_OK);
  assert_int_equal(gsp_opt_register(e, "fails", fail_fn, NULL, NULL, &bad), GSP_OK);
  atomic_store(&g_runs, 0);
  gsp_opt_result r;
  for (int i = 0; i < 5; i++) {
    assert_int_equal(gsp_opt_call(f, "abc", 3, &r), GSP_OK);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.data, "r:abc", 5);
    gsp_opt_result_release(&r);
  }
  assert_int_equal(atomic_load(&g_runs), 1);
  /* another function, same argument, same cache: its own key */
  assert_int_equal(gsp_opt_call(g, "abc", 3, &r), GSP_OK);
  gsp_opt_result_release(&r);
  gsp_opt_result_release(&r); /* twice is a no-op */
  assert_int_equal(atomic_load(&g_runs), 2);
  /* errors are not cached */
  assert_int_equal(gsp_opt_call(bad, "x", 1, &r), GSP_EIO);
  assert_int_equal(gsp_opt_call(bad, "x", 1, &r), GSP_EIO);
  assert_int_equal(atomic_load(&g_runs), 4);

  gsp_opt_func_stats st;
  assert_int_equal(gsp_opt_func_stats_get(f, &st), GSP_OK);
  assert_int_equal(st.calls, 5);
  assert_int_equal(st.cache_hits, 4);
  assert_int_equal(st.cache_misses, 1);
  assert_true(st.hit_rate > 0.79 && st.hit_rate < 0.81);
  assert_int_equal(st.duration.count, 5);
  assert_int_equal(gsp_opt_func_stats_get(bad, &st), GSP_OK);
  assert_int_equal(st.errors, 2);

  gsp_opt_metrics_sync(e);
  char *text = NULL;
  assert_int_equal(gsp_metrics_render(gsp_opt_metrics(e), GSP_METRICS_PROMETHEUS, &text, NULL),
                   GSP_OK);
  assert_non_null(strstr(text, "gsperf_function_calls_total{function=\"echo\"} 5"));
  assert_non_null(strstr(text, "gsperf_function_errors_total{function=\"fails\"} 2"));
  assert_non_null(strstr(text, "gsperf_function_cache_hits_total{function=\"echo\"} 4"));
  assert_non_null(strstr(text, "gsperf_function_cache_misses_total{function=\"echo\"} 1"));
  assert_non_null(strstr(text, "gsperf_function_duration_seconds_count{function=\"echo\"} 5"));
  assert_non_null(strstr(text, "gsperf_cache_hits_total{cache=\"default\"} 4"));
  assert_non_null(strstr(text, "gsperf_cache_entries{cache=\"default\"} 2"));
  assert_non_null(strstr(text, "gsperf_cache_misses_total{cache=\"default\"}"));
  assert_non_null(strstr(text, "gsperf_cache_evictions_total{cache=\"default\"} 0"));
  assert_non_null(strstr(text, "gsperf_cache_bytes{cache=\"default\"}"));
  gsp_free(text);
  gsp_opt_engine_destroy(e);
}

/* Key callback: only the first byte matters. */
static int first_byte_key(void *u, const void *arg, size_t n, void *key, size_t cap, size_t *klen) {
  (void)u;
  *klen = n ? 1 : 0;
  if (cap < *klen) return GSP_ERANGE;
  if (n) memcpy(key, arg, 1);
  return GSP_OK;
}

/* Key callback: the whole argument, asking for more room when needed. */
static int whole_key(void *u, const void *arg, size_t n, void *key, size_t cap, size_t *klen) {
  (void)u;
  *klen = n;
  if (cap < n) return GSP_ERANGE;
  memcpy(key, arg, n);
  return GSP_OK;
}

static void test_key_callback_and_named_cache(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(NULL);
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.key = first_byte_key, .cache = "by_first"};
  assert_int_equal(gsp_opt_register(e, "k", echo_fn, NULL, &o, &f), GSP_OK);
  assert_non_null(gsp_cache_manager_find(gsp_opt_caches(e), "by_first"));
  atomic_store(&g_runs, 0);
  gsp_opt_result r;
  assert_int_equal(gsp_opt_call(f, "apple", 5, &r), GSP_OK);
  gsp_opt_result_release(&r);
  assert_int_equal(gsp_opt_call(f, "avocado", 7, &r), GSP_OK);
  assert_memory_equal(r.data, "r:apple", 7); /* same key "a" */
  gsp_opt_result_release(&r);
  assert_int_equal(atomic_load(&g_runs), 1);
  /* a long argument (heap key) works and is cached */
  gsp_opt_func *h = NULL;
  assert_int_equal(gsp_opt_register(e, "long", echo_fn, NULL, NULL, &h), GSP_OK);
  char big[1000];
  memset(big, 'z', sizeof big);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(gsp_opt_call(h, big, sizeof big, &r), GSP_OK);
    assert_int_equal(r.len, sizeof big + 2);
    gsp_opt_result_release(&r);
  }
  assert_int_equal(atomic_load(&g_runs), 2);
  /* a key callback that needs more than the stack buffer: retried on the heap */
  gsp_opt_func *w = NULL;
  assert_int_equal(
      gsp_opt_register(e, "whole", echo_fn, NULL, &(gsp_opt_func_opts){.key = whole_key}, &w),
      GSP_OK);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(gsp_opt_call(w, big, sizeof big, &r), GSP_OK);
    gsp_opt_result_release(&r);
  }
  assert_int_equal(atomic_load(&g_runs), 3);
  gsp_opt_engine_destroy(e);
}

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

static gsp_opt_strategy route_by_first(void *u, const void *arg, size_t n) {
  (void)u;
  return (n && ((const char *)arg)[0] == 'm') ? GSP_OPT_MEMORY : GSP_OPT_BALANCED;
}

static bool never_cache_x(void *u, const void *arg, size_t n, size_t rlen) {
  (void)u, (void)rlen;
  return !(n && ((const char *)arg)[0] == 'x');
}

static void test_custom_policy(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(&(gsp_opt_config){.max_value_bytes = 3});
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_CUSTOM,
                         .policy = {.route = route_by_first, .cacheable = never_cache_x}};
  assert_int_equal(gsp_opt_register(e, "custom", echo_fn, NULL, &o, &f), GSP_OK);
  atomic_store(&g_runs, 0);
  gsp_opt_result r;
  const char *calls[] = {"b", "b", "xx", "xx", "mm", "mm"};
  for (int i = 0; i < 6; i++) {
    assert_int_equal(gsp_opt_call(f, calls[i], strlen(calls[i]), &r), GSP_OK);
    gsp_opt_result_release(&r);
  }
  /* "b" cached; "xx" refused by cacheable; "mm" routed to MEMORY: 4 bytes > 3, not cached */
  assert_int_equal(atomic_load(&g_runs), 1 + 2 + 2);
  gsp_opt_engine_destroy(e);
}

/* ---- monitoring scope ------------------------------------------------------- */

static int monitored(gsp_opt_func *f, int fail) {
  int status = GSP_OK;
  GSP_OPT_SCOPE(scope, f, &status);
  usleep(1000);
  if (fail) {
    status = GSP_EIO;
    return status; /* left early: still recorded, as an error */
  }
  return status;
}

static void test_scope_macro(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(NULL);
  gsp_opt_func *f = NULL;
  assert_int_equal(gsp_opt_register_monitor(e, "scoped", &f), GSP_OK);
  assert_int_equal(monitored(f, 0), GSP_OK);
  assert_int_equal(monitored(f, 1), GSP_EIO);
  gsp_opt_record(f, 5000, GSP_OK);
  gsp_opt_func_stats st;
  gsp_opt_func_stats_get(f, &st);
  assert_int_equal(st.calls, 3);
  assert_int_equal(st.errors, 1);
  assert_int_equal(st.duration.count, 3);
  assert_true(st.duration.max >= 1000000); /* at least the 1 ms sleep */
  gsp_opt_engine_destroy(e);
}

/* ---- the report --------------------------------------------------------------- */

static void test_report_json_and_text(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(NULL);
  gsp_opt_func *f = NULL;
  assert_int_equal(gsp_opt_register(e, "echo", echo_fn, NULL, NULL, &f), GSP_OK);
  gsp_opt_result r;
  for (int i = 0; i < 4; i++) {
    assert_int_equal(gsp_opt_call(f, "q", 1, &r), GSP_OK);
    gsp_opt_result_release(&r);
  }
  char *json = NULL;
  size_t len = 0;
  assert_int_equal(gsp_opt_report_json(e, &json, &len), GSP_OK);
  assert_int_equal(strlen(json), len);
  json_error_t je;
  json_t *root = json_loads(json, 0, &je);
  assert_non_null(root);
  assert_string_equal(json_string_value(json_object_get(root, "schema")),
                      "gsperf.optimization_report.v1");
  json_t *fn = json_object_get(json_object_get(root, "optimized_functions"), "echo");
  assert_int_equal(json_integer_value(json_object_get(fn, "calls")), 4);
  assert_int_equal(json_integer_value(json_object_get(fn, "cache_hits")), 3);
  assert_string_equal(json_string_value(json_object_get(fn, "strategy")), "balanced");
  json_t *dur = json_object_get(fn, "duration_seconds");
  assert_true(json_is_number(json_object_get(dur, "p50")));
  assert_true(json_is_number(json_object_get(dur, "p99")));
  /* the seed's two fields */
  json_t *hr =
      json_object_get(json_object_get(json_object_get(root, "cache_stats"), "default"), "hit_rate");
  assert_true(json_is_number(hr));
  assert_true(json_number_value(hr) > 0.74 && json_number_value(hr) < 0.76);
  json_t *mp = json_object_get(
      json_object_get(json_object_get(root, "memory_stats"), "system_memory"), "memory_percent");
  assert_true(json_is_number(mp));
  assert_true(json_number_value(mp) > 0.0 && json_number_value(mp) <= 100.0);
  json_t *rss = json_object_get(
      json_object_get(json_object_get(root, "memory_stats"), "process_memory"), "rss_bytes");
  assert_true(json_integer_value(rss) > 0);
  json_t *cpu = json_object_get(json_object_get(root, "pool_stats"), "cpu");
  assert_true(json_integer_value(json_object_get(cpu, "workers")) >= 1);
  assert_true(json_is_array(json_object_get(root, "alerts")));
  json_decref(root);

  char *text = NULL, err[128];
  assert_int_equal(gsp_opt_report_text(json, &text, err, sizeof err), GSP_OK);
  assert_non_null(strstr(text, "gsperf optimization report"));
  assert_non_null(strstr(text, "echo"));
  assert_non_null(strstr(text, "75.0%"));
  assert_non_null(strstr(text, "default"));
  assert_non_null(strstr(text, "memory"));
  gsp_free(text);
  gsp_free(json);
  assert_int_equal(gsp_opt_report_text("{\"x\":1}", &text, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, "schema"));
  assert_int_equal(gsp_opt_report_text("{nope", &text, err, sizeof err), GSP_EFORMAT);
  assert_non_null(strstr(err, "line 1"));
  assert_null(text);
  gsp_opt_engine_destroy(e);
}

/* A proc root whose meminfo says 25% used. */
static void test_report_system_memory_fixture(void **state) {
  (void)state;
  char dir[] = "/tmp/gsp_opt_proc_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256], sub[256];
  snprintf(path, sizeof path, "%s/meminfo", dir);
  write_file(path, "MemTotal:        1000000 kB\nMemFree:  10 kB\nMemAvailable:     750000 kB\n");
  snprintf(sub, sizeof sub, "%s/self", dir);
  mkdir(sub, 0700);
  snprintf(path, sizeof path, "%s/self/statm", dir);
  write_file(path, "1000 500 10 1 0 100 0\n");
  gsp_opt_engine *e = engine(&(gsp_opt_config){.proc_root = dir});
  char *json = NULL;
  assert_int_equal(gsp_opt_report_json(e, &json, NULL), GSP_OK);
  json_t *root = json_loads(json, 0, NULL);
  json_t *sm = json_object_get(json_object_get(root, "memory_stats"), "system_memory");
  assert_true(json_number_value(json_object_get(sm, "memory_percent")) == 25.0);
  assert_int_equal(json_integer_value(json_object_get(sm, "total_bytes")), 1024000000);
  json_decref(root);
  gsp_free(json);
  gsp_opt_engine_destroy(e);
  unlink(path);
  rmdir(sub);
  snprintf(path, sizeof path, "%s/meminfo", dir);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_defaults_and_check),
      cmocka_unit_test(test_config_minimal_level),
      cmocka_unit_test(test_config_names),
      cmocka_unit_test(test_config_file),
      cmocka_unit_test(test_config_env),
      cmocka_unit_test(test_register_errors),
      cmocka_unit_test(test_balanced_caches_and_monitors),
      cmocka_unit_test(test_key_callback_and_named_cache),
      cmocka_unit_test(test_cpu_batch_uses_workers),
      cmocka_unit_test(test_io_batch_overlaps),
      cmocka_unit_test(test_memory_strategy),
      cmocka_unit_test(test_latency_deadline_and_cancel),
      cmocka_unit_test(test_submit_futures),
      cmocka_unit_test(test_throughput_gathers),
      cmocka_unit_test(test_custom_policy),
      cmocka_unit_test(test_scope_macro),
      cmocka_unit_test(test_report_json_and_text),
      cmocka_unit_test(test_report_system_memory_fixture),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
