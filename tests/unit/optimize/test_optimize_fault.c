/*
 * test_optimize_fault.c - fault injection: an engine's whole life (create,
 * register, calls of each strategy, a batch, the report as JSON and text,
 * destroy), failing the Nth allocation for every N until a run completes
 * without reaching N. Each run must not crash, must get only success or a
 * clean GSP_ENOMEM from every call (a function call may also report the
 * failure it passes through), and must free every block it allocated.
 * Runs once without pools (everything on this thread) and once with them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/optimize.h"

#include "../../support/fault_alloc.h"

static int echo_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  char *r = gsp_malloc(n + 1);
  if (r == NULL) return GSP_ENOMEM;
  r[0] = '>';
  if (n) memcpy(r + 1, arg, n);
  *out = r;
  *outlen = n + 1;
  return GSP_OK;
}

static gsp_opt_switch g_async;

static void calls(gsp_opt_func *f) {
  gsp_opt_result r;
  for (int i = 0; i < 3; i++) {
    int rv = gsp_opt_call(f, "key", 3, &r);
    ok_or_nomem(rv);
    if (rv == GSP_OK) assert_memory_equal(r.data, ">key", 4);
    gsp_opt_result_release(&r);
  }
}

static void submit(gsp_opt_func *f) {
  gsp_opt_future *fu = NULL;
  int rv = gsp_opt_submit(f, "sub", 3, &fu);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  gsp_opt_result r;
  ok_or_nomem(gsp_opt_future_wait(fu, 0, &r));
  gsp_opt_result_release(&r);
  gsp_opt_future_release(fu);
}

static void batch(gsp_opt_func *f) {
  gsp_opt_arg args[6] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}, {"f", 1}};
  gsp_opt_result out[6];
  ok_or_nomem(gsp_opt_call_batch(f, args, 6, out));
  for (int i = 0; i < 6; i++) gsp_opt_result_release(&out[i]);
}

static void report(gsp_opt_engine *e) {
  char *json = NULL, *text = NULL;
  int rv = gsp_opt_report_json(e, &json, NULL);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  ok_or_nomem(gsp_opt_report_text(json, &text, NULL, 0));
  gsp_free(text);
  gsp_free(json);
}

static bool engine_life(void) {
  gsp_opt_engine *e = NULL;
  int rv = gsp_opt_engine_create(
      &(gsp_opt_config){
          .enable_async = g_async, .max_workers = 2, .io_workers = 2, .batch_window_us = 50},
      &e);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return false;
  static const gsp_opt_strategy ss[] = {GSP_OPT_BALANCED, GSP_OPT_MEMORY, GSP_OPT_LATENCY,
                                        GSP_OPT_THROUGHPUT, GSP_OPT_IO};
  static const char *const names[] = {"bal", "mem", "lat", "tp", "io"};
  for (int i = 0; i < 5; i++) {
    gsp_opt_func *f = NULL;
    gsp_opt_func_opts o = {.strategy = ss[i], .cache = i == 1 ? "memcache" : NULL};
    rv = gsp_opt_register(e, names[i], echo_fn, NULL, &o, &f);
    ok_or_nomem(rv);
    if (rv != GSP_OK) continue;
    calls(f);
    batch(f);
    submit(f);
  }
  gsp_opt_func *m = NULL;
  rv = gsp_opt_register_monitor(e, "mon", &m);
  ok_or_nomem(rv);
  if (rv == GSP_OK) gsp_opt_record(m, 1000, GSP_OK);
  report(e);
  gsp_opt_engine_destroy(e);
  return true;
}

static void engine_life_v(void *arg) {
  (void)arg;
  (void)engine_life();
}

static void run_all_faults(void) { (void)fault_each_allocation(engine_life_v, NULL); }

static void test_faults_inline(void **state) {
  (void)state;
  g_async = GSP_OPT_OFF;
  run_all_faults();
}

static void test_faults_pools(void **state) {
  (void)state;
  g_async = GSP_OPT_ON;
  run_all_faults();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_faults_inline),
      cmocka_unit_test(test_faults_pools),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
