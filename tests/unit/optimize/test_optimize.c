/*
 * test_optimize.c - behaviour of the optimization engine: configuration
 * (defaults, check, JSON file, environment, errors naming the key and
 * value), registration errors, BALANCED caching, key callbacks and named
 * caches, CUSTOM routing, monitoring (metric names, the scope macro), the
 * default engine, and the report (JSON fields, text rendering, bad input).
 * The other strategies are in test_optimize_strategies.c.
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
      cmocka_unit_test(test_custom_policy),
      cmocka_unit_test(test_scope_macro),
      cmocka_unit_test(test_report_json_and_text),
      cmocka_unit_test(test_report_system_memory_fixture),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
