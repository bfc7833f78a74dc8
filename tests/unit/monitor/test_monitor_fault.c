/*
 * test_monitor_fault.c - fault injection: run a monitor's whole life
 * (create with a metrics registry, record into labelled and duration
 * series, query, add rules and load a rule file, collect from the real
 * /proc, evaluate with events, a standalone detector, destroy) failing the
 * Nth allocation, for every N until a run completes without reaching N.
 * Every call must return success or a clean GSP_ENOMEM (a collection may
 * also report GSP_ENOSPC never, GSP_EFORMAT never on a healthy /proc), and
 * every byte allocated through the hooks must be freed. jansson's own
 * allocations do not go through the hooks (see alert_json.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/monitor.h"

#include "../../support/fault_alloc.h"

static char g_rules[64];

static void record_some(gsp_monitor *mon) {
  for (int i = 0; i < 40; i++) {
    ok_or_nomem(gsp_monitor_record(mon, "op_seconds", i % 2 ? "op=\"a\"" : "op=\"b\"",
                                   1e-3 * (1 + (i >= 30)), (uint64_t)i * 1000000000u));
    ok_or_nomem(gsp_monitor_record(mon, "queue_depth", NULL, i, (uint64_t)i * 1000000000u));
  }
  gsp_monitor_point *p = NULL;
  size_t n = 0;
  int rv = gsp_monitor_query(mon, "queue_depth", NULL, 0, UINT64_MAX, &p, &n, NULL);
  if (rv != GSP_OK && rv != GSP_ENOMEM && rv != GSP_ENOENT) fail_msg("query: %s", gsp_err_name(rv));
  gsp_free(p);
}

static void rules(gsp_monitor *mon) {
  gsp_alert_rule r = {.name = "deep", .metric = "queue_depth", .cmp = GSP_ALERT_GT, .threshold = 5};
  ok_or_nomem(gsp_monitor_add_rule(mon, &r));
  int rv = gsp_monitor_load_rules(mon, g_rules);
  if (rv != GSP_OK && rv != GSP_ENOMEM) fail_msg("load_rules: %s", gsp_err_name(rv));
  ok_or_nomem(gsp_monitor_evaluate(mon, 50000000000u));
  gsp_alert_event ev[4];
  gsp_monitor_events(mon, ev, 4);
}

static void detector(void) {
  gsp_regress *r = NULL;
  int rv = gsp_regress_create(&(gsp_regress_config){.baseline = 16, .recent = 8}, &r);
  ok_or_nomem(rv);
  for (int i = 0; rv == GSP_OK && i < 40; i++) gsp_regress_add(r, i < 24 ? 1 : 2);
  gsp_regress_test(r, NULL);
  gsp_regress_destroy(r);
}

static void life(void *arg) {
  (void)arg;
  gsp_metrics *m = NULL;
  int rv = gsp_metrics_create(NULL, &m);
  ok_or_nomem(rv);
  gsp_monitor *mon = NULL;
  gsp_monitor_config cfg = {.metrics = m,
                            .regress_baseline = 16,
                            .regress_recent = 8,
                            .tiers = {{1000, 8}, {10000, 4}},
                            .ntiers = 2};
  if (rv == GSP_OK) rv = gsp_monitor_create(&cfg, &mon);
  ok_or_nomem(rv);
  if (rv == GSP_OK) {
    record_some(mon);
    rules(mon);
    ok_or_nomem(gsp_monitor_collect_now(mon, NULL));
    ok_or_nomem(gsp_monitor_collect_now(mon, NULL));
  }
  detector();
  gsp_monitor_destroy(mon);
  gsp_metrics_destroy(m);
}

static void test_fail_each_allocation(void **state) {
  (void)state;
  snprintf(g_rules, sizeof g_rules, "/tmp/gsp-fault-rules-%d.json", (int)getpid());
  FILE *f = fopen(g_rules, "w");
  assert_non_null(f);
  fputs(
      "[{\"name\": \"r1\", \"metric\": \"op_seconds\", \"labels\": \"op=\\\"a\\\"\", "
      "\"comparison\": \">\", \"threshold\": 0.0015, \"level\": \"ERROR\"}]",
      f);
  fclose(f);
  long failed = fault_each_allocation(life, NULL);
  unlink(g_rules);
  print_message("monitor fault injection: %ld allocation sites exercised\n", failed);
  assert_true(failed > 29);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_fail_each_allocation)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
