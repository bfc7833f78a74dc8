/*
 * metrics_expose_demo.c - prints the Prometheus exposition of a small
 * registry (every metric type, labels needing escapes, an unlabeled
 * family, a family without children, values recorded from two threads) on
 * stdout, for `promtool check metrics` (promtool_check.sh).
 */
#include <pthread.h>
#include <stdio.h>

#include "gsperf/metrics.h"

static gsp_hist *g_hist;

static void *recorder(void *arg) {
  (void)arg;
  for (uint64_t v = 100; v < UINT64_C(400000000000); v = v * 5 / 3 + 1) gsp_hist_record(g_hist, v);
  return NULL;
}

static int out(void *user, const char *buf, size_t len) {
  (void)user;
  return fwrite(buf, 1, len, stdout) == len ? GSP_OK : GSP_EIO;
}

static int build(gsp_metrics *m) {
  gsp_metric_family *req, *lat, *idle;
  const char *rl[] = {"method", "path"}, *ll[] = {"op"};
  int rv = gsp_metrics_family(m,
                              &(gsp_metric_desc){.name = "demo_requests_total",
                                                 .help = "Requests \\ served\nby path.",
                                                 .type = GSP_METRIC_COUNTER,
                                                 .label_names = rl,
                                                 .nlabels = 2},
                              &req);
  if (rv) return rv;
  gsp_counter *c;
  if ((rv = gsp_metrics_counter(req, (const char *[]){"GET", "/a\"b\\c\nd"}, &c))) return rv;
  gsp_counter_add(c, 7);
  if ((rv = gsp_metrics_counter(req, (const char *[]){"POST", "/"}, &c))) return rv;
  gsp_counter_inc(c);
  gsp_gauge *g;
  if ((rv = gsp_metrics_gauge_new(m, "demo_temperature_celsius", "A gauge.", &g))) return rv;
  gsp_gauge_set(g, -12.25);
  if ((rv = gsp_metrics_family(m,
                               &(gsp_metric_desc){.name = "demo_latency_seconds",
                                                  .help = "Operation latency.",
                                                  .type = GSP_METRIC_HISTOGRAM,
                                                  .label_names = ll,
                                                  .nlabels = 1},
                               &lat)))
    return rv;
  if ((rv = gsp_metrics_histogram(lat, (const char *[]){"read"}, &g_hist))) return rv;
  pthread_t t;
  if (pthread_create(&t, NULL, recorder, NULL) != 0) return GSP_ESYS;
  pthread_join(t, NULL);
  recorder(NULL);
  gsp_hist *h2;
  if ((rv = gsp_metrics_histogram(lat, (const char *[]){"write"}, &h2))) return rv;
  return gsp_metrics_family(
      m,
      &(gsp_metric_desc){
          .name = "demo_idle_total", .help = "No children yet.", .type = GSP_METRIC_COUNTER},
      &idle);
}

int main(int argc, char **argv) {
  gsp_metrics *m = NULL;
  int rv = gsp_metrics_create(NULL, &m);
  if (rv == GSP_OK) rv = build(m);
  gsp_metrics_format fmt = GSP_METRICS_PROMETHEUS;
  if (argc > 1 && argv[1][0] == 'o') fmt = GSP_METRICS_OPENMETRICS;
  if (argc > 1 && argv[1][0] == 'j') fmt = GSP_METRICS_JSON;
  if (rv == GSP_OK) rv = gsp_metrics_write(m, fmt, out, NULL);
  if (rv != GSP_OK) fprintf(stderr, "demo: %s: %s\n", gsp_strerror(rv), gsp_metrics_errmsg(m));
  gsp_metrics_destroy(m);
  return rv == GSP_OK ? 0 : 1;
}
