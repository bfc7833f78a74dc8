/*
 * test_metrics.c - behaviour of the metrics registry: name rules and their
 * messages, families and children, counter/gauge/histogram semantics,
 * histogram bucket math, quantile accuracy and merging, and the exact
 * exposition text (Prometheus, OpenMetrics, JSON) of a small registry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/metrics.h"

static gsp_metrics *new_reg(void) {
  gsp_metrics *m = NULL;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  return m;
}

static int family(gsp_metrics *m, const char *name, gsp_metric_type t, const char *const *labels,
                  size_t n, gsp_metric_family **f) {
  gsp_metric_desc d = {.name = name, .help = "h", .type = t, .label_names = labels, .nlabels = n};
  return gsp_metrics_family(m, &d, f);
}

static void assert_contains(const char *hay, const char *needle) {
  if (strstr(hay, needle) == NULL) fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

/* ---- names ---------------------------------------------------------- */

static void test_metric_names(void **state) {
  (void)state;
  gsp_metrics *m = new_reg();
  gsp_metric_family *f;
  const char *good[] = {"a", "_x", "a:b_c9", ":colon", "ABC_def"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_int_equal(family(m, good[i], GSP_METRIC_COUNTER, NULL, 0, &f), GSP_OK);
  assert_int_equal(family(m, "1abc", GSP_METRIC_COUNTER, NULL, 0, &f), GSP_EINVAL);
  assert_contains(gsp_metrics_errmsg(m), "\"1abc\"");
  assert_contains(gsp_metrics_errmsg(m), "'1'");
  assert_contains(gsp_metrics_errmsg(m), "position 0");
  assert_int_equal(family(m, "req-total", GSP_METRIC_COUNTER, NULL, 0, &f), GSP_EINVAL);
  assert_contains(gsp_metrics_errmsg(m), "'-'");
  assert_contains(gsp_metrics_errmsg(m), "position 3");
  assert_int_equal(family(m, "", GSP_METRIC_COUNTER, NULL, 0, &f), GSP_EINVAL);
  assert_contains(gsp_metrics_errmsg(m), "empty");
  assert_int_equal(family(m, NULL, GSP_METRIC_COUNTER, NULL, 0, &f), GSP_EINVAL);
  assert_int_equal(family(m, "ok", (gsp_metric_type)7, NULL, 0, &f), GSP_EINVAL);
  assert_int_equal(gsp_metrics_check_name("a:b"), GSP_OK);
  assert_int_equal(gsp_metrics_check_name("a b"), GSP_EINVAL);
  assert_int_equal(gsp_metrics_check_label_name("a:b"), GSP_EINVAL);
  assert_int_equal(gsp_metrics_check_label_name("__a"), GSP_EINVAL);
  assert_int_equal(gsp_metrics_check_label_name("_a"), GSP_OK);
  gsp_metrics_destroy(m);
}

static void test_label_names(void **state) {
  (void)state;
  gsp_metrics *m = new_reg();
  gsp_metric_family *f;
  const char *colon[] = {"a:b"};
  assert_int_equal(family(m, "m1", GSP_METRIC_COUNTER, colon, 1, &f), GSP_EINVAL);
  assert_contains(gsp_metrics_errmsg(m), "label name \"a:b\"");
  assert_contains(gsp_metrics_errmsg(m), "position 1");
  const char *reserved[] = {"ok", "__name"};
  assert_int_equal(family(m, "m1", GSP_METRIC_COUNTER, reserved, 2, &f), GSP_EINVAL);
  assert_contains(gsp_metrics_errmsg(m), "reserved");
  const char *dup[] = {"a", "a"};
  assert_int_equal(family(m, "m1", GSP_METRIC_COUNTER, dup, 2, &f), GSP_EINVAL);
  assert_contains(gsp_metrics_errmsg(m), "twice");
  const char *le[] = {"le"};
  assert_int_equal(family(m, "h1", GSP_METRIC_HISTOGRAM, le, 1, &f), GSP_EINVAL);
  assert_contains(gsp_metrics_errmsg(m), "\"le\"");
  assert_int_equal(family(m, "c1", GSP_METRIC_COUNTER, le, 1, &f), GSP_OK);
  gsp_metrics_destroy(m);
}

static void test_family_reuse_and_mismatch(void **state) {
  (void)state;
  gsp_metrics *m = new_reg();
  gsp_metric_family *f1, *f2;
  const char *ab[] = {"a", "b"}, *a[] = {"a"};
  assert_int_equal(family(m, "x_total", GSP_METRIC_COUNTER, ab, 2, &f1), GSP_OK);
  assert_int_equal(family(m, "x_total", GSP_METRIC_COUNTER, ab, 2, &f2), GSP_OK);
  assert_ptr_equal(f1, f2);
  assert_int_equal(family(m, "x_total", GSP_METRIC_GAUGE, ab, 2, &f2), GSP_EEXIST);
  assert_contains(gsp_metrics_errmsg(m), "already registered as counter with labels (a,b)");
  assert_contains(gsp_metrics_errmsg(m), "gauge with labels (a,b)");
  assert_int_equal(family(m, "x_total", GSP_METRIC_COUNTER, a, 1, &f2), GSP_EEXIST);
  assert_contains(gsp_metrics_errmsg(m), "counter with labels (a)");
  /* wrong child type, NULL label value */
  gsp_gauge *g;
  assert_int_equal(gsp_metrics_gauge(f1, (const char *[]){"1", "2"}, &g), GSP_EINVAL);
  assert_contains(gsp_metrics_errmsg(m), "is a counter, not a gauge");
  gsp_counter *c1, *c2, *c3;
  assert_int_equal(gsp_metrics_counter(f1, (const char *[]){"1", NULL}, &c1), GSP_EINVAL);
  assert_contains(gsp_metrics_errmsg(m), "label \"b\"");
  assert_int_equal(gsp_metrics_counter(f1, (const char *[]){"1", "2"}, &c1), GSP_OK);
  assert_int_equal(gsp_metrics_counter(f1, (const char *[]){"1", "2"}, &c2), GSP_OK);
  assert_int_equal(gsp_metrics_counter(f1, (const char *[]){"1", "3"}, &c3), GSP_OK);
  assert_ptr_equal(c1, c2);
  assert_ptr_not_equal(c1, c3);
  gsp_metrics_destroy(m);
}

static void test_max_series(void **state) {
  (void)state;
  gsp_metrics *m = NULL;
  assert_int_equal(gsp_metrics_create(&(gsp_metrics_config){.max_series = 2}, &m), GSP_OK);
  gsp_counter *c;
  gsp_gauge *g;
  assert_int_equal(gsp_metrics_counter_new(m, "a", "", &c), GSP_OK);
  assert_int_equal(gsp_metrics_counter_new(m, "b", "", &c), GSP_OK);
  assert_int_equal(gsp_metrics_gauge_new(m, "g", "", &g), GSP_OK); /* gauges are free */
  assert_int_equal(gsp_metrics_counter_new(m, "c", "", &c), GSP_ENOSPC);
  assert_contains(gsp_metrics_errmsg(m), "max_series");
  gsp_metrics_destroy(m);
  assert_int_equal(gsp_metrics_create(&(gsp_metrics_config){.max_series = 1u << 25}, &m),
                   GSP_EINVAL);
  gsp_metrics_destroy(NULL);
}

/* ---- semantics ------------------------------------------------------ */

static void test_counter_gauge(void **state) {
  (void)state;
  gsp_metrics *m = new_reg();
  gsp_counter *c;
  gsp_gauge *g;
  assert_int_equal(gsp_metrics_counter_new(m, "c_total", "", &c), GSP_OK);
  assert_int_equal(gsp_counter_value(c), 0);
  gsp_counter_inc(c);
  gsp_counter_add(c, 41);
  assert_int_equal(gsp_counter_value(c), 42);
  gsp_counter_cell *cell = NULL;
  assert_int_equal(gsp_counter_cell_get(c, &cell), GSP_OK);
  gsp_counter_cell_add(cell, 8);
  assert_int_equal(gsp_counter_value(c), 50);
  assert_int_equal(gsp_counter_cell_get(NULL, &cell), GSP_EINVAL);
  assert_int_equal(gsp_metrics_gauge_new(m, "g", "", &g), GSP_OK);
  assert_true(gsp_gauge_value(g) == 0.0);
  gsp_gauge_set(g, 2.5);
  gsp_gauge_inc(g);
  gsp_gauge_add(g, 10);
  gsp_gauge_dec(g);
  assert_true(gsp_gauge_value(g) == 12.5);
  gsp_gauge_set(g, -3);
  assert_true(gsp_gauge_value(g) == -3.0);
  gsp_metrics_destroy(m);
}

static void test_two_registries(void **state) {
  (void)state;
  gsp_metrics *a = new_reg(), *b = new_reg();
  gsp_counter *ca, *cb;
  assert_int_equal(gsp_metrics_counter_new(a, "x", "", &ca), GSP_OK);
  assert_int_equal(gsp_metrics_counter_new(b, "x", "", &cb), GSP_OK);
  for (int i = 0; i < 100; i++) {
    gsp_counter_inc(ca);
    gsp_counter_add(cb, 2);
  }
  assert_int_equal(gsp_counter_value(ca), 100);
  assert_int_equal(gsp_counter_value(cb), 200);
  gsp_metrics_destroy(a);
  gsp_counter_inc(cb); /* the destroyed registry's shard must not be reused */
  assert_int_equal(gsp_counter_value(cb), 201);
  gsp_metrics *c = new_reg();
  gsp_counter *cc;
  assert_int_equal(gsp_metrics_counter_new(c, "x", "", &cc), GSP_OK);
  gsp_counter_inc(cc);
  assert_int_equal(gsp_counter_value(cc), 1);
  gsp_metrics_destroy(c);
  gsp_metrics_destroy(b);
}

static void test_bucket_math(void **state) {
  (void)state;
  uint64_t lo, hi, prev_hi = 0;
  for (unsigned b = 0; b < GSP_HIST_BUCKETS; b++) {
    gsp_hist_bucket_range(b, &lo, &hi);
    if (b > 0) assert_int_equal(lo, prev_hi + 1); /* contiguous */
    assert_int_equal(gsp_hist_bucket_of(lo), b);
    assert_int_equal(gsp_hist_bucket_of(hi), b);
    if (lo >= 128) assert_true((double)(hi - lo + 1) / (double)lo <= 1.0 / 64 + 1e-12);
    prev_hi = hi;
  }
  assert_int_equal(prev_hi, (UINT64_C(1) << 42) - 1);
  assert_int_equal(gsp_hist_bucket_of(UINT64_MAX), GSP_HIST_BUCKETS - 1);
  assert_int_equal(gsp_hist_le_bound(0), 1000);
  assert_int_equal(gsp_hist_le_bound(1), 2000);
  assert_int_equal(gsp_hist_le_bound(2), 5000);
  assert_int_equal(gsp_hist_le_bound(GSP_HIST_LE_COUNT - 1), UINT64_C(100000000000));
}

static void test_hist_le_exact(void **state) {
  (void)state;
  gsp_hist_snap *s;
  assert_int_equal(gsp_hist_snap_create(&s), GSP_OK);
  /* values at and just above each bound */
  for (unsigned i = 0; i < GSP_HIST_LE_COUNT; i++) {
    gsp_hist_snap_record(s, gsp_hist_le_bound(i), 1);
    gsp_hist_snap_record(s, gsp_hist_le_bound(i) + 1, 1);
  }
  gsp_hist_snap_record(s, 0, 1);
  gsp_hist_snap_record(s, UINT64_MAX, 1);
  assert_int_equal(gsp_hist_snap_le_count(s, 0), 2); /* 0 and 1000 */
  for (unsigned i = 1; i < GSP_HIST_LE_COUNT; i++)
    assert_int_equal(gsp_hist_snap_le_count(s, i), 2 + 2 * i);
  assert_int_equal(gsp_hist_snap_le_count(s, GSP_HIST_LE_COUNT), 2 * GSP_HIST_LE_COUNT + 2);
  gsp_hist_summary sum;
  gsp_hist_snap_summary(s, &sum);
  assert_int_equal(sum.min, 0);
  assert_int_equal(sum.max, UINT64_MAX);
  gsp_hist_snap_destroy(s);
}

/* Exact quantile of a sorted array: the ceil(q*n)-th smallest. */
static uint64_t exact_q(const uint64_t *v, size_t n, double q) {
  size_t r = (size_t)(q * (double)n);
  if ((double)r < q * (double)n || r == 0) r++;
  return v[r - 1];
}

static void check_quantiles(const gsp_hist_snap *s, const uint64_t *sorted, size_t n) {
  const double qs[] = {0.5, 0.9, 0.99, 0.999};
  for (size_t i = 0; i < 4; i++) {
    double want = (double)exact_q(sorted, n, qs[i]);
    double got = (double)gsp_hist_snap_quantile(s, qs[i]);
    double err = want > 0 ? (got > want ? got - want : want - got) / want : got;
    if (err > 0.01) fail_msg("q%.3f: want %.0f got %.0f (%.3f%%)", qs[i], want, got, err * 100);
  }
}

static void test_quantile_accuracy(void **state) {
  (void)state;
  enum { N = 100000 };
  uint64_t *v = malloc(N * sizeof *v);
  gsp_hist_snap *s;
  assert_int_equal(gsp_hist_snap_create(&s), GSP_OK);
  for (size_t i = 0; i < N; i++) v[i] = i + 1; /* uniform 1..N */
  for (size_t i = 0; i < N; i++) gsp_hist_snap_record(s, v[i], 1);
  check_quantiles(s, v, N);
  /* geometric: 100 ns .. ~60 minutes */
  gsp_hist_snap_clear(s);
  double x = 100;
  for (size_t i = 0; i < N; i++, x *= 1.000245) v[i] = (uint64_t)x;
  assert_true(v[N - 1] > UINT64_C(3000000000000) && v[N - 1] < (UINT64_C(1) << 42));
  for (size_t i = N; i-- > 0;) gsp_hist_snap_record(s, v[i], 1);
  check_quantiles(s, v, N);
  /* bimodal: 90% at 1 us, 10% at 1 s */
  gsp_hist_snap_clear(s);
  for (size_t i = 0; i < N; i++) v[i] = i < N * 9 / 10 ? 1000 + i % 7 : 1000000000 + i;
  for (size_t i = 0; i < N; i++) gsp_hist_snap_record(s, v[i], 1);
  gsp_hist_summary sum;
  gsp_hist_snap_summary(s, &sum);
  assert_int_equal(sum.count, N);
  assert_int_equal(sum.min, 1000);
  assert_int_equal(sum.max, v[N - 1]);
  assert_true(sum.p50 >= 990 && sum.p50 <= 1016);
  assert_true(sum.p99 >= 990000000 && sum.p99 <= 1010000000);
  assert_int_equal(gsp_hist_snap_quantile(s, 0), 1000);
  assert_int_equal(gsp_hist_snap_quantile(s, 1), v[N - 1]);
  gsp_hist_snap_destroy(s);
  free(v);
}

static void test_hist_record_and_merge(void **state) {
  (void)state;
  gsp_metrics *m = new_reg();
  gsp_hist *h1, *h2;
  assert_int_equal(gsp_metrics_histogram_new(m, "a_seconds", "", &h1), GSP_OK);
  assert_int_equal(gsp_metrics_histogram_new(m, "b_seconds", "", &h2), GSP_OK);
  gsp_hist_snap *s1, *s2, *all;
  assert_int_equal(gsp_hist_snap_create(&s1), GSP_OK);
  assert_int_equal(gsp_hist_snap_create(&s2), GSP_OK);
  assert_int_equal(gsp_hist_snap_create(&all), GSP_OK);
  for (uint64_t i = 1; i <= 5000; i++) {
    gsp_hist_record(i % 2 ? h1 : h2, i * 1000);
    gsp_hist_snap_record(all, i * 1000, 1);
  }
  gsp_hist_snapshot(h1, s1);
  gsp_hist_snapshot(h2, s2);
  gsp_hist_summary a, b;
  gsp_hist_snap_summary(s1, &a);
  assert_int_equal(a.count, 2500);
  assert_int_equal(a.min, 1000);
  assert_int_equal(a.max, 4999000);
  gsp_hist_snap_merge(s1, s2);
  gsp_hist_snap_summary(s1, &a);
  gsp_hist_snap_summary(all, &b);
  assert_memory_equal(&a, &b, sizeof a);
  assert_int_equal(a.count, 5000);
  assert_int_equal(a.sum, UINT64_C(1000) * 5000 * 5001 / 2);
  for (unsigned i = 0; i <= GSP_HIST_LE_COUNT; i++)
    assert_int_equal(gsp_hist_snap_le_count(s1, i), gsp_hist_snap_le_count(all, i));
  gsp_hist_snap_destroy(s1);
  gsp_hist_snap_destroy(s2);
  gsp_hist_snap_destroy(all);
  gsp_metrics_destroy(m);
}

/* ---- exposition ----------------------------------------------------- */

static gsp_metrics *small_registry(void) {
  gsp_metrics *m = new_reg();
  gsp_metric_family *fc, *fh;
  const char *cl[] = {"method", "code"}, *hl[] = {"op"};
  gsp_metric_desc dc = {.name = "http_requests_total",
                        .help = "Requests\\ served.\nSecond \"line\"",
                        .type = GSP_METRIC_COUNTER,
                        .label_names = cl,
                        .nlabels = 2};
  assert_int_equal(gsp_metrics_family(m, &dc, &fc), GSP_OK);
  gsp_counter *c1, *c2;
  assert_int_equal(gsp_metrics_counter(fc, (const char *[]){"GET", "200"}, &c1), GSP_OK);
  assert_int_equal(gsp_metrics_counter(fc, (const char *[]){"PO\"ST", "a\\b\nc"}, &c2), GSP_OK);
  gsp_counter_add(c1, 3);
  gsp_counter_inc(c2);
  gsp_gauge *g;
  assert_int_equal(gsp_metrics_gauge_new(m, "temperature_celsius", "Temp", &g), GSP_OK);
  gsp_gauge_set(g, 21.5);
  gsp_metric_desc dh = {.name = "payload_bytes",
                        .help = "Sizes",
                        .type = GSP_METRIC_HISTOGRAM,
                        .label_names = hl,
                        .nlabels = 1,
                        .scale = 1};
  assert_int_equal(gsp_metrics_family(m, &dh, &fh), GSP_OK);
  gsp_hist *h;
  assert_int_equal(gsp_metrics_histogram(fh, (const char *[]){"read"}, &h), GSP_OK);
  gsp_hist_record(h, 500);
  gsp_hist_record(h, 1000);
  gsp_hist_record(h, 1001);
  gsp_hist_record(h, 3000000);
  return m;
}

static void append(char *buf, size_t cap, const char *s) {
  size_t n = strlen(buf);
  assert_true(n + strlen(s) < cap);
  memcpy(buf + n, s, strlen(s) + 1);
}

static void expected_text(char *buf, size_t cap, bool om) {
  buf[0] = '\0';
  append(buf, cap,
         om ? "# HELP http_requests Requests\\\\ served.\\nSecond \\\"line\\\"\n"
              "# TYPE http_requests counter\n"
            : "# HELP http_requests_total Requests\\\\ served.\\nSecond \"line\"\n"
              "# TYPE http_requests_total counter\n");
  append(buf, cap,
         "http_requests_total{method=\"GET\",code=\"200\"} 3\n"
         "http_requests_total{method=\"PO\\\"ST\",code=\"a\\\\b\\nc\"} 1\n"
         "# HELP temperature_celsius Temp\n"
         "# TYPE temperature_celsius gauge\n");
  if (om) append(buf, cap, "# UNIT temperature_celsius celsius\n");
  append(buf, cap,
         "temperature_celsius 21.5\n"
         "# HELP payload_bytes Sizes\n"
         "# TYPE payload_bytes histogram\n");
  if (om) append(buf, cap, "# UNIT payload_bytes bytes\n");
  static const char *const le[] = {
      "1000",       "2000",        "5000",        "10000",       "20000",
      "50000",      "100000",      "200000",      "500000",      "1000000",
      "2000000",    "5000000",     "10000000",    "20000000",    "50000000",
      "100000000",  "200000000",   "500000000",   "1000000000",  "2000000000",
      "5000000000", "10000000000", "20000000000", "50000000000", "100000000000"};
  static const int cum[] = {2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4,
                            4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4};
  char line[128];
  for (int i = 0; i < 25; i++) {
    snprintf(line, sizeof line, "payload_bytes_bucket{op=\"read\",le=\"%s\"} %d\n", le[i], cum[i]);
    append(buf, cap, line);
  }
  append(buf, cap,
         "payload_bytes_bucket{op=\"read\",le=\"+Inf\"} 4\n"
         "payload_bytes_sum{op=\"read\"} 3002501\n"
         "payload_bytes_count{op=\"read\"} 4\n");
  if (om) append(buf, cap, "# EOF\n");
}

static void test_prometheus_text_exact(void **state) {
  (void)state;
  gsp_metrics *m = small_registry();
  char want[8192];
  char *got = NULL;
  size_t len = 0;
  expected_text(want, sizeof want, false);
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &got, &len), GSP_OK);
  assert_string_equal(got, want);
  assert_int_equal(len, strlen(want));
  gsp_free(got);
  expected_text(want, sizeof want, true);
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_OPENMETRICS, &got, &len), GSP_OK);
  assert_string_equal(got, want);
  gsp_free(got);
  gsp_metrics_destroy(m);
}

static void test_json_snapshot(void **state) {
  (void)state;
  gsp_metrics *m = small_registry();
  char *got = NULL;
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_JSON, &got, NULL), GSP_OK);
  assert_contains(got,
                  "{\"families\":[{\"name\":\"http_requests_total\",\"type\":\"counter\","
                  "\"help\":\"Requests\\\\ served.\\nSecond \\\"line\\\"\",\"series\":[");
  assert_contains(got, "{\"labels\":{\"method\":\"GET\",\"code\":\"200\"},\"value\":3}");
  assert_contains(got,
                  "{\"labels\":{\"method\":\"PO\\\"ST\",\"code\":\"a\\\\b\\nc\"},\"value\":1}");
  assert_contains(got, "{\"labels\":{},\"value\":21.5}");
  assert_contains(got, "\"scale\":1,");
  assert_contains(got, "\"count\":4,\"sum\":3002501,\"min\":500,\"max\":3000000");
  assert_contains(got, "\"buckets\":[[1000,2],[2000,3],");
  assert_contains(got, "[\"+Inf\",4]]}]}]}\n");
  gsp_free(got);
  gsp_metrics_destroy(m);
}

static void test_default_scale_seconds(void **state) {
  (void)state;
  gsp_metrics *m = new_reg();
  gsp_hist *h;
  assert_int_equal(gsp_metrics_histogram_new(m, "op_seconds", "Op time", &h), GSP_OK);
  gsp_hist_record(h, 1500);    /* 1.5 us */
  gsp_hist_record(h, 2000000); /* 2 ms */
  char *got = NULL;
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &got, NULL), GSP_OK);
  assert_contains(got, "op_seconds_bucket{le=\"1e-06\"} 0\n");
  assert_contains(got, "op_seconds_bucket{le=\"2e-06\"} 1\n");
  assert_contains(got, "op_seconds_bucket{le=\"0.001\"} 1\n");
  assert_contains(got, "op_seconds_bucket{le=\"0.002\"} 2\n");
  assert_contains(got, "op_seconds_bucket{le=\"100\"} 2\n");
  assert_contains(got, "op_seconds_bucket{le=\"+Inf\"} 2\n");
  assert_contains(got, "op_seconds_sum 0.0020015\n");
  assert_contains(got, "op_seconds_count 2\n");
  gsp_free(got);
  gsp_metrics_destroy(m);
}

/* OpenMetrics: a UNIT line only where the name (without _total) ends in a
 * base unit; an unset gauge has no sample in any format until set again. */
static void test_units_and_unset_gauges(void **state) {
  (void)state;
  gsp_metrics *m = new_reg();
  gsp_counter *c;
  gsp_gauge *lim, *load;
  gsp_hist *h;
  assert_int_equal(gsp_metrics_counter_new(m, "read_bytes_total", "Read", &c), GSP_OK);
  assert_int_equal(gsp_metrics_gauge_new(m, "cg_limit_bytes", "Limit", &lim), GSP_OK);
  assert_int_equal(gsp_metrics_gauge_new(m, "load1", "Load", &load), GSP_OK);
  assert_int_equal(gsp_metrics_histogram_new(m, "op_seconds", "Op", &h), GSP_OK);
  gsp_gauge_set(lim, 0.0);
  assert_true(gsp_gauge_is_set(lim));
  gsp_gauge_unset(lim);
  assert_false(gsp_gauge_is_set(lim));
  gsp_gauge_set(load, 0.5);
  char *got = NULL;
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_OPENMETRICS, &got, NULL), GSP_OK);
  assert_contains(got, "# TYPE read_bytes counter\n# UNIT read_bytes bytes\n");
  assert_contains(got, "# TYPE cg_limit_bytes gauge\n# UNIT cg_limit_bytes bytes\n# HELP load1");
  assert_contains(got, "# TYPE load1 gauge\nload1 0.5\n");
  assert_contains(got, "# TYPE op_seconds histogram\n# UNIT op_seconds seconds\n");
  assert_null(strstr(got, "cg_limit_bytes 0"));
  gsp_free(got);
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &got, NULL), GSP_OK);
  assert_null(strstr(got, "# UNIT"));
  assert_null(strstr(got, "cg_limit_bytes 0"));
  gsp_free(got);
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_JSON, &got, NULL), GSP_OK);
  assert_contains(got,
                  "\"name\":\"cg_limit_bytes\",\"type\":\"gauge\",\"help\":\"Limit\","
                  "\"series\":[]}");
  gsp_free(got);
  gsp_gauge_set(lim, 4096);
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &got, NULL), GSP_OK);
  assert_contains(got, "\ncg_limit_bytes 4096\n");
  gsp_free(got);
  gsp_gauge_set(load, NAN); /* JSON has no NaN: null */
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_JSON, &got, NULL), GSP_OK);
  assert_contains(got, "{\"labels\":{},\"value\":null}");
  gsp_free(got);
  gsp_metrics_destroy(m);
}

static int failing_sink(void *user, const char *buf, size_t len) {
  (void)buf;
  (void)len;
  int *calls = user;
  (*calls)++;
  return GSP_EIO;
}

static void test_sink_error_and_content_type(void **state) {
  (void)state;
  gsp_metrics *m = small_registry();
  int calls = 0;
  assert_int_equal(gsp_metrics_write(m, GSP_METRICS_PROMETHEUS, failing_sink, &calls), GSP_EIO);
  assert_int_equal(calls, 1);
  assert_int_equal(gsp_metrics_write(m, (gsp_metrics_format)9, failing_sink, &calls), GSP_EINVAL);
  assert_string_equal(gsp_metrics_content_type(GSP_METRICS_PROMETHEUS),
                      "text/plain; version=0.0.4; charset=utf-8");
  assert_contains(gsp_metrics_content_type(GSP_METRICS_OPENMETRICS), "openmetrics-text");
  gsp_metrics_destroy(m);
  /* an empty registry renders as empty text */
  m = new_reg();
  char *got = NULL;
  size_t len = 9;
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &got, &len), GSP_OK);
  assert_int_equal(len, 0);
  assert_string_equal(got, "");
  gsp_free(got);
  gsp_metrics_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metric_names),
      cmocka_unit_test(test_label_names),
      cmocka_unit_test(test_family_reuse_and_mismatch),
      cmocka_unit_test(test_max_series),
      cmocka_unit_test(test_counter_gauge),
      cmocka_unit_test(test_two_registries),
      cmocka_unit_test(test_bucket_math),
      cmocka_unit_test(test_hist_le_exact),
      cmocka_unit_test(test_quantile_accuracy),
      cmocka_unit_test(test_hist_record_and_merge),
      cmocka_unit_test(test_prometheus_text_exact),
      cmocka_unit_test(test_json_snapshot),
      cmocka_unit_test(test_default_scale_seconds),
      cmocka_unit_test(test_units_and_unset_gauges),
      cmocka_unit_test(test_sink_error_and_content_type),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
