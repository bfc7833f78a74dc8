/*
 * log.c - the logging sink. The library formats a message only when a sink
 * is installed and the level passes; with no sink (the default) a log call
 * costs one load and one compare. Messages longer than 1 KiB are cut.
 */
#include <stdio.h>

#include "gsperf/common.h"

static gsp_log_fn g_sink;
static void *g_sink_user;
static gsp_log_level g_min_level = GSP_LOG_INFO;

void gsp_log_set_sink(gsp_log_fn fn, void *user, gsp_log_level min_level) {
  g_sink = fn;
  g_sink_user = user;
  g_min_level = min_level;
}

void gsp_log(gsp_log_level level, const char *module, const char *fmt, ...) {
  if (g_sink == NULL || level < g_min_level) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  g_sink(g_sink_user, level, module, msg);
}

const char *gsp_log_level_name(gsp_log_level level) {
  switch (level) {
    case GSP_LOG_DEBUG:
      return "debug";
    case GSP_LOG_INFO:
      return "info";
    case GSP_LOG_WARN:
      return "warn";
    case GSP_LOG_ERROR:
      return "error";
  }
  return "unknown";
}
