/*
 * monitor_alerts.c - the seed's "Alerting" snippet in C:
 *
 *   monitor = PerformanceMonitor()
 *   monitor.add_alert(name="high_memory_usage", metric_name="memory_usage_bytes",
 *                     threshold=1024*1024*1024, comparison="greater_than",
 *                     level=AlertLevel.WARNING)
 *   monitor.add_alert(name="slow_function_execution",
 *                     metric_name="function_duration_seconds", threshold=5.0,
 *                     comparison="greater_than", level=AlertLevel.ERROR)
 *
 * then one real sample of this process (its RSS fed to memory_usage_bytes),
 * a slow call of 6 s recorded, the rules evaluated, and the events printed.
 * Exits 0 when exactly the slow-function alert fired.
 */
#include <stdio.h>

#include "gsperf/metrics.h"
#include "gsperf/monitor.h"

static int fired_errors;

static void on_alert(void *user, const gsp_alert_event *ev) {
  (void)user;
  printf("alert %s: %s (%s) value %.3g threshold %.3g\n",
         ev->kind == GSP_EVENT_FIRING ? "FIRING" : "RESOLVED", ev->rule,
         gsp_alert_level_name(ev->level), ev->value, ev->baseline);
  if (ev->kind == GSP_EVENT_FIRING && ev->level == GSP_ALERT_ERROR) fired_errors++;
}

static int add_rules(gsp_monitor *mon) {
  int rv = gsp_monitor_add_rule(mon, &(gsp_alert_rule){.name = "high_memory_usage",
                                                       .metric = "memory_usage_bytes",
                                                       .cmp = GSP_ALERT_GT,
                                                       .threshold = 1024.0 * 1024 * 1024,
                                                       .level = GSP_ALERT_WARNING});
  if (rv != GSP_OK) return rv;
  return gsp_monitor_add_rule(mon, &(gsp_alert_rule){.name = "slow_function_execution",
                                                     .metric = "function_duration_seconds",
                                                     .cmp = GSP_ALERT_GT,
                                                     .threshold = 5.0,
                                                     .level = GSP_ALERT_ERROR});
}

int main(void) {
  gsp_metrics *m = NULL;
  gsp_monitor *mon = NULL;
  int rv = gsp_metrics_create(NULL, &m);
  if (rv == GSP_OK)
    rv = gsp_monitor_create(&(gsp_monitor_config){.metrics = m, .on_alert = on_alert}, &mon);
  if (rv == GSP_OK) rv = add_rules(mon);
  gsp_monitor_sample s;
  if (rv == GSP_OK) rv = gsp_monitor_collect_now(mon, &s);
  uint64_t now = gsp_monitor_now(mon);
  if (rv == GSP_OK)
    rv = gsp_monitor_record(mon, "memory_usage_bytes", NULL, s.v[GSP_MON_PROC_RSS_BYTES], now);
  if (rv == GSP_OK) rv = gsp_monitor_record(mon, "function_duration_seconds", NULL, 6.0, now);
  if (rv == GSP_OK) rv = gsp_monitor_evaluate(mon, now);
  if (rv != GSP_OK) {
    fprintf(stderr, "monitor: %s: %s\n", gsp_strerror(rv), mon ? gsp_monitor_errmsg(mon) : "");
  } else {
    printf("resident memory of this process: %.1f MiB\n",
           s.v[GSP_MON_PROC_RSS_BYTES] / (1024.0 * 1024.0));
  }
  gsp_monitor_destroy(mon);
  gsp_metrics_destroy(m);
  return rv == GSP_OK && fired_errors == 1 ? 0 : 1;
}
