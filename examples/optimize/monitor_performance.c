/*
 * monitor_performance.c - the seed's
 *
 *   @monitor_performance(track_errors=True, track_duration=True)
 *   def monitored_function(input_data): ...
 *
 * in C: a name registered for monitoring only, and a scope macro in the
 * function's body. Whatever way the body is left, the call is counted,
 * its duration recorded, and an error counted if the status is non-zero.
 * The metrics are ordinary series of the engine's registry (printed here
 * in Prometheus format, as the dashboard and /metrics show them).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gsperf/optimize.h"

static gsp_opt_func *g_mon;

static int monitored_function(const char *input) {
  int status = GSP_OK;
  GSP_OPT_SCOPE(scope, g_mon, &status);
  if (input == NULL || input[0] == '\0') {
    status = GSP_EINVAL; /* counted as an error */
    return status;
  }
  struct timespec ts = {0, 200000}; /* 0.2 ms of "work" */
  nanosleep(&ts, NULL);
  return status;
}

int main(void) {
  gsp_opt_engine *engine = NULL;
  if (gsp_opt_engine_create(NULL, &engine) != GSP_OK) return 1;
  if (gsp_opt_register_monitor(engine, "monitored_function", &g_mon) != GSP_OK) return 1;
  const char *inputs[] = {"a", "b", "", "c", NULL};
  for (int i = 0; i < 5; i++) (void)monitored_function(inputs[i]);
  gsp_opt_func_stats st;
  gsp_opt_func_stats_get(g_mon, &st);
  printf("calls %llu, errors %llu, p50 %.3f ms, max %.3f ms\n", (unsigned long long)st.calls,
         (unsigned long long)st.errors, (double)st.duration.p50 / 1e6,
         (double)st.duration.max / 1e6);
  char *text = NULL;
  if (gsp_metrics_render(gsp_opt_metrics(engine), GSP_METRICS_PROMETHEUS, &text, NULL) != GSP_OK)
    return 1;
  for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n"))
    if (strstr(line, "monitored_function") != NULL && strstr(line, "_bucket") == NULL)
      printf("  %s\n", line);
  gsp_free(text);
  gsp_opt_engine_destroy(engine);
  return st.calls == 5 && st.errors == 2 && st.duration.count == 5 ? 0 : 1;
}
