/*
 * test_metrics_fault.c - fault injection: run a registry's whole life
 * (create, families with labels, children, recording on this thread, all
 * three exposition formats, snapshots, destroy) failing the Nth allocation,
 * for every N until a run completes without reaching N. Every call must
 * return success or a clean GSP_ENOMEM, recorded values must stay exact
 * (recording never fails: without shard memory it falls back to the
 * registry), and every byte allocated must be freed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/metrics.h"

#include "../../support/fault_alloc.h"

static void render_all(gsp_metrics *m) {
  for (int f = 0; f <= GSP_METRICS_JSON; f++) {
    char *out = NULL;
    int rv = gsp_metrics_render(m, (gsp_metrics_format)f, &out, NULL);
    ok_or_nomem(rv);
    if (rv == GSP_OK) {
      assert_non_null(out);
      gsp_free(out);
    }
  }
}

static void record_counters(gsp_metric_family *f, uint64_t *want) {
  for (int i = 0; i < 6; i++) {
    char v[16];
    snprintf(v, sizeof v, "v%d", i % 3);
    const char *lv[2] = {v, i % 2 ? "x\"y" : "z"};
    gsp_counter *c = NULL;
    int rv = gsp_metrics_counter(f, lv, &c);
    ok_or_nomem(rv);
    if (rv != GSP_OK) continue;
    uint64_t before = gsp_counter_value(c);
    gsp_counter_add(c, (uint64_t)i + 1);
    gsp_counter_inc(c);
    gsp_counter_cell *cell = NULL;
    rv = gsp_counter_cell_get(c, &cell);
    ok_or_nomem(rv);
    if (rv == GSP_OK) gsp_counter_cell_add(cell, 10);
    assert_int_equal(gsp_counter_value(c), before + (uint64_t)i + 2 + (rv == GSP_OK ? 10 : 0));
    *want += (uint64_t)i + 2;
  }
}

static void record_hist(gsp_metrics *m) {
  gsp_hist *h = NULL;
  int rv = gsp_metrics_histogram_new(m, "lat_seconds", "Latency", &h);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  uint64_t n = 0;
  for (uint64_t v = 1; v < 5000000; v = v * 3 + 7, n++) gsp_hist_record(h, v);
  gsp_hist_snap *s = NULL;
  rv = gsp_hist_snap_create(&s);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  gsp_hist_snapshot(h, s);
  gsp_hist_summary sum;
  gsp_hist_snap_summary(s, &sum);
  assert_int_equal(sum.count, n);
  assert_int_equal(sum.min, 1);
  gsp_hist_snap_destroy(s);
}

/* A registry's life; returns false if create failed (a valid outcome). */
static bool life(void) {
  gsp_metrics *m = NULL;
  int rv = gsp_metrics_create(NULL, &m);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return false;
  const char *ln[] = {"a", "b"};
  gsp_metric_desc d = {.name = "req_total",
                       .help = "Requests",
                       .type = GSP_METRIC_COUNTER,
                       .label_names = ln,
                       .nlabels = 2};
  gsp_metric_family *f = NULL;
  rv = gsp_metrics_family(m, &d, &f);
  ok_or_nomem(rv);
  uint64_t want = 0;
  if (rv == GSP_OK) record_counters(f, &want);
  gsp_gauge *g = NULL;
  rv = gsp_metrics_gauge_new(m, "level", "Level", &g);
  ok_or_nomem(rv);
  if (rv == GSP_OK) gsp_gauge_set(g, 1.5);
  record_hist(m);
  render_all(m);
  gsp_metrics_destroy(m);
  return true;
}

static void life_cb(void *arg) {
  (void)arg;
  life();
}

static void test_fail_each_allocation(void **state) {
  (void)state;
  long failed = fault_each_allocation(life_cb, NULL);
  print_message("metrics fault injection: %ld allocation sites exercised\n", failed);
  assert_true(failed > 19);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fail_each_allocation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
