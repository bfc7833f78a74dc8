/*
 * start_comprehensive_monitoring.c - the seed's
 *
 *   integration.start_comprehensive_monitoring()
 *
 * in C: an engine given a metrics registry and a monitor (system
 * collector + alert rules) of the host's, so function metrics, cache
 * metrics, system series and alerts live in one registry (the one
 * `gsperf serve`'s dashboard and /metrics expose). Starting monitoring
 * starts the memory-pressure thread and the collector; a rule on the
 * function error counter's series fires when a wrapped function fails.
 * (The seed's distributed part waits for the MPI module, dist.h.)
 */
#include <stdio.h>
#include <string.h>

#include "gsperf/optimize.h"

static int flaky(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  if (n > 0 && ((const char *)arg)[0] == '!') return GSP_EIO;
  char *r = gsp_malloc(3);
  if (r == NULL) return GSP_ENOMEM;
  memcpy(r, "ok", 3);
  *out = r;
  *outlen = 3;
  return GSP_OK;
}

int main(void) {
  gsp_metrics *metrics = NULL;
  gsp_monitor *monitor = NULL;
  gsp_opt_engine *engine = NULL;
  if (gsp_metrics_create(NULL, &metrics) != GSP_OK) return 1;
  if (gsp_monitor_create(&(gsp_monitor_config){.metrics = metrics, .collection_interval_ms = 100},
                         &monitor) != GSP_OK)
    return 1;
  gsp_alert_rule rule = {.name = "flaky_errors",
                         .metric = "flaky_errors_total",
                         .cmp = GSP_ALERT_GT,
                         .threshold = 0,
                         .level = GSP_ALERT_ERROR};
  if (gsp_monitor_add_rule(monitor, &rule) != GSP_OK) return 1;
  if (gsp_opt_engine_create(&(gsp_opt_config){.metrics = metrics, .monitor = monitor}, &engine) !=
      GSP_OK)
    return 1;
  if (gsp_opt_start_monitoring(engine) != GSP_OK) return 1;
  gsp_opt_func *fn = NULL;
  if (gsp_opt_register(engine, "flaky", flaky, NULL, NULL, &fn) != GSP_OK) return 1;
  gsp_opt_result r;
  const char *args[] = {"a", "b", "!", "a"};
  for (int i = 0; i < 4; i++) {
    (void)gsp_opt_call(fn, args[i], 1, &r);
    gsp_opt_result_release(&r);
  }
  gsp_opt_func_stats st;
  gsp_opt_func_stats_get(fn, &st);
  /* feed the error count to the monitor's series and evaluate the rules */
  uint64_t now = gsp_monitor_now(monitor);
  (void)gsp_monitor_record(monitor, "flaky_errors_total", NULL, (double)st.errors, now);
  (void)gsp_monitor_evaluate(monitor, now);
  (void)gsp_monitor_collect_now(monitor, NULL);
  char *json = NULL, *text = NULL, err[128];
  if (gsp_opt_report_json(engine, &json, NULL) != GSP_OK) return 1;
  if (gsp_opt_report_text(json, &text, err, sizeof err) != GSP_OK) return 1;
  fputs(text, stdout);
  bool fired = strstr(json, "\"rule\":\"flaky_errors\"") != NULL;
  char *prom = NULL;
  if (gsp_metrics_render(metrics, GSP_METRICS_PROMETHEUS, &prom, NULL) != GSP_OK) return 1;
  bool one_registry = strstr(prom, "gsperf_function_errors_total{function=\"flaky\"} 1") &&
                      strstr(prom, "gsp_process_resident_bytes");
  printf("\nalert fired: %s; function and system metrics in one registry: %s\n",
         fired ? "yes" : "no", one_registry ? "yes" : "no");
  gsp_free(prom);
  gsp_free(text);
  gsp_free(json);
  gsp_opt_stop_monitoring(engine);
  gsp_opt_engine_destroy(engine);
  gsp_monitor_destroy(monitor);
  gsp_metrics_destroy(metrics);
  return fired && one_registry ? 0 : 1;
}
