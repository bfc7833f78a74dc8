/*
 * analyze_extras.h - the parts of `gsperf analyze` that watch a run: the
 * live dashboard and /metrics (--serve) and the CPU profile (--profile);
 * and the result store's bounds under --memory aggressive.
 */
#ifndef GSP_CLI_ANALYZE_EXTRAS_H
#define GSP_CLI_ANALYZE_EXTRAS_H

#include "gsperf/http.h"
#include "gsperf/metrics.h"
#include "gsperf/monitor.h"
#include "gsperf/prof.h"
#include "gsperf/tier.h"

typedef struct analyze_serve {
  gsp_monitor *mon;
  gsp_http *http;
} analyze_serve;

/* Serve registry m (and a system monitor feeding it) on ADDR[:PORT]
 * ("127.0.0.1:0" = a free port); print the URL on stderr and, if
 * port_file is set, write the port there. 0, or 1 after a message. */
int analyze_serve_start(analyze_serve *s, const char *addr, const char *port_file, gsp_metrics *m);
void analyze_serve_stop(analyze_serve *s);

/* Start a CPU profile whose outputs go to dir (created). 0, or 1 after a
 * message. */
int analyze_profile_start(gsp_prof **out, const char *dir);
/* Stop it and write dir/cpu.pb.gz, cpu.collapsed, flame.svg, report.txt. */
int analyze_profile_finish(gsp_prof *p, const char *dir);

/* --memory: "default" (false) or "aggressive" (true). 0, or -1 for another value. */
int analyze_memory_parse(const char *v, bool *aggressive);
/* The result store's bounds for --memory aggressive: an L1 of 1 MiB, no
 * L2, LZ4-compressed records in L3 (the L3 map then touches fewer pages). */
void analyze_memory_tier(gsp_tier_config *tc);

#endif
