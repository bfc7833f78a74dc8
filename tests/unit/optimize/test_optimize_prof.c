/*
 * test_optimize_prof.c - the optimization report's "profiler" part: with
 * no profile lent it says so (JSON and text); with a CPU profile lent
 * (gsp_opt_set_profiler) that ran over a known hot function inside a
 * zone, the JSON has available:true, the sample count, that function at
 * the top of top_functions with its self and total shares, and the zone;
 * the text table shows both; taken back while it runs, the profile is
 * still found as the process's running one ("source":"active"), and once
 * stopped the part is unavailable; a profile started and never lent is
 * found; reports race profiles being started, stopped and destroyed on
 * another thread. Under fault injection (every allocation failed in turn) a report with a profile
 * lent succeeds or fails with GSP_ENOMEM and frees everything.
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
#include <time.h>
#include <cmocka.h>

#include <jansson.h>

#include "gsperf/optimize.h"
#include "gsperf/prof.h"

#include "../../support/fault_alloc.h"

static _Atomic uint64_t g_sink;

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((noinline)) static void opt_prof_hot(double cpu_s) {
  uint64_t x = atomic_load(&g_sink) + 1;
  double end = cpu_now() + cpu_s;
  while (cpu_now() < end)
    for (int i = 0; i < 2000; i++) x = x * 6364136223846793005ull + 1;
  atomic_store(&g_sink, x);
}

static json_t *report(gsp_opt_engine *e, char **text) {
  char *js = NULL, err[128];
  assert_int_equal(gsp_opt_report_json(e, &js, NULL), GSP_OK);
  json_error_t je;
  json_t *root = json_loads(js, 0, &je);
  assert_non_null(root);
  assert_int_equal(gsp_opt_report_text(js, text, err, sizeof err), GSP_OK);
  gsp_free(js);
  return root;
}

static void test_no_profile(void **state) {
  (void)state;
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(&(gsp_opt_config){0}, &e), GSP_OK);
  char *text = NULL;
  json_t *root = report(e, &text);
  json_t *pf = json_object_get(root, "profiler");
  assert_true(json_is_false(json_object_get(pf, "available")));
  assert_int_equal(json_array_size(json_object_get(pf, "top_functions")), 0);
  assert_non_null(strstr(text, "profiler: no profile attached or running"));
  gsp_free(text);
  json_decref(root);
  gsp_opt_engine_destroy(e);
}

static json_t *find_named(json_t *arr, const char *name) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0) return v;
  }
  return NULL;
}

static void work_in_zone(void) {
  GSP_PROF_SCOPE("opt.hot_zone");
  opt_prof_hot(0.4);
}

static void test_profile_lent(void **state) {
  (void)state;
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(&(gsp_opt_config){0}, &e), GSP_OK);
  gsp_prof *p = NULL;
  gsp_prof_config pc = {.types = GSP_PROF_CPU | GSP_PROF_FUNCTION, .hz = 997};
  assert_int_equal(gsp_prof_create(&pc, &p), GSP_OK);
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  work_in_zone();
  gsp_opt_set_profiler(e, p);
  char *text = NULL;
  json_t *root = report(e, &text); /* the profile still runs: a snapshot */
  json_t *pf = json_object_get(root, "profiler");
  assert_true(json_is_true(json_object_get(pf, "available")));
  assert_true(json_integer_value(json_object_get(pf, "samples")) >= 50);
  json_t *top = json_object_get(pf, "top_functions");
  assert_true(json_array_size(top) >= 1);
  json_t *first = json_array_get(top, 0);
  /* gcc may name a specialised copy "opt_prof_hot.constprop.0" */
  assert_int_equal(strncmp(json_string_value(json_object_get(first, "name")), "opt_prof_hot", 12),
                   0);
  double self = json_number_value(json_object_get(first, "self_pct"));
  double total = json_number_value(json_object_get(first, "total_pct"));
  assert_true(self > 50.0);
  assert_true(total >= self && total <= 100.0);
  json_t *z = find_named(json_object_get(pf, "zones"), "opt.hot_zone");
  assert_non_null(z);
  assert_int_equal(json_integer_value(json_object_get(z, "count")), 1);
  assert_true(json_number_value(json_object_get(z, "total_seconds")) >= 0.4);
  assert_non_null(strstr(text, "opt_prof_hot"));
  assert_non_null(strstr(text, "opt.hot_zone"));
  assert_null(strstr(text, "no profile attached"));
  gsp_free(text);
  json_decref(root);

  gsp_opt_set_profiler(e, NULL);
  root = report(e, &text); /* taken back, but still running: found as the active one */
  pf = json_object_get(root, "profiler");
  assert_true(json_is_true(json_object_get(pf, "available")));
  assert_string_equal(json_string_value(json_object_get(pf, "source")), "active");
  gsp_free(text);
  json_decref(root);
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  root = report(e, &text); /* stopped: nothing to find */
  assert_true(json_is_false(json_object_get(json_object_get(root, "profiler"), "available")));
  gsp_free(text);
  json_decref(root);
  gsp_prof_destroy(p);
  gsp_opt_engine_destroy(e);
}

/* A profile started in the process and never lent: the report finds it. */
static void test_profile_found(void **state) {
  (void)state;
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(&(gsp_opt_config){0}, &e), GSP_OK);
  gsp_prof *p = NULL;
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.types = GSP_PROF_CPU, .hz = 997}, &p),
                   GSP_OK);
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  opt_prof_hot(0.3);
  char *text = NULL;
  json_t *root = report(e, &text);
  json_t *pf = json_object_get(root, "profiler");
  assert_true(json_is_true(json_object_get(pf, "available")));
  assert_string_equal(json_string_value(json_object_get(pf, "source")), "active");
  assert_true(json_integer_value(json_object_get(pf, "samples")) >= 30);
  json_t *first = json_array_get(json_object_get(pf, "top_functions"), 0);
  assert_int_equal(strncmp(json_string_value(json_object_get(first, "name")), "opt_prof_hot", 12),
                   0);
  assert_non_null(strstr(text, "active profile"));
  gsp_free(text);
  json_decref(root);
  gsp_prof_destroy(p); /* destroy stops it: no longer found */
  root = report(e, &text);
  assert_true(json_is_false(json_object_get(json_object_get(root, "profiler"), "available")));
  gsp_free(text);
  json_decref(root);
  gsp_opt_engine_destroy(e);
}

/* Reports made while another thread starts, stops and destroys profiles:
 * a report never reads a profile being torn down (TSan and ASan watch). */
static _Atomic bool g_churn_stop;

static void *churn(void *arg) {
  (void)arg;
  while (!atomic_load(&g_churn_stop)) {
    gsp_prof *p = NULL;
    assert_int_equal(gsp_prof_create(&(gsp_prof_config){.types = GSP_PROF_CPU}, &p), GSP_OK);
    if (gsp_prof_start(p) == GSP_OK) opt_prof_hot(0.002);
    gsp_prof_destroy(p);
  }
  return NULL;
}

static void test_profile_churn(void **state) {
  (void)state;
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(&(gsp_opt_config){0}, &e), GSP_OK);
  pthread_t th;
  atomic_store(&g_churn_stop, false);
  assert_int_equal(pthread_create(&th, NULL, churn, NULL), 0);
  for (int i = 0; i < 20; i++) {
    char *js = NULL;
    assert_int_equal(gsp_opt_report_json(e, &js, NULL), GSP_OK);
    assert_non_null(strstr(js, "\"profiler\":{\"available\":"));
    gsp_free(js);
  }
  atomic_store(&g_churn_stop, true);
  pthread_join(th, NULL);
  gsp_opt_engine_destroy(e);
}

/* One engine with a (never started) profile lent, and its report. */
static void life_with_profile(void) {
  gsp_opt_engine *e = NULL;
  gsp_prof *p = NULL;
  int rv = gsp_opt_engine_create(&(gsp_opt_config){0}, &e);
  ok_or_nomem(rv);
  if (rv == GSP_OK) rv = gsp_prof_create(&(gsp_prof_config){.types = GSP_PROF_CPU}, &p);
  ok_or_nomem(rv);
  if (rv == GSP_OK) {
    gsp_opt_set_profiler(e, p);
    char *js = NULL, *text = NULL, err[64];
    rv = gsp_opt_report_json(e, &js, NULL);
    ok_or_nomem(rv);
    if (rv == GSP_OK) {
      assert_non_null(strstr(js, "\"profiler\":{\"available\":true,\"samples\":0"));
      ok_or_nomem(gsp_opt_report_text(js, &text, err, sizeof err));
    }
    gsp_free(text);
    gsp_free(js);
    gsp_opt_set_profiler(e, NULL);
  }
  gsp_prof_destroy(p);
  gsp_opt_engine_destroy(e);
}

static void life_with_profile_v(void *arg) {
  (void)arg;
  life_with_profile();
}

static void test_faults_with_profile(void **state) {
  (void)state;
  static gsp_prof_zone_site z = {"opt.fault_zone", 0};
  gsp_prof_zone_begin(&z); /* this thread's zone block, made before counting */
  gsp_prof_zone_end(&z);
  (void)fault_each_allocation(life_with_profile_v, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_profile),          cmocka_unit_test(test_profile_lent),
      cmocka_unit_test(test_profile_found),       cmocka_unit_test(test_profile_churn),
      cmocka_unit_test(test_faults_with_profile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
