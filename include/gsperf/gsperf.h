/*
 * gsperf/gsperf.h - the umbrella header: every public gsperf header.
 * Each module's header states its own thread safety and ownership rules.
 */
#ifndef GSPERF_GSPERF_H
#define GSPERF_GSPERF_H

#include "gsperf/version.h"
#include "gsperf/common.h"
#include "gsperf/cache.h"
#include "gsperf/tier.h"
#include "gsperf/mem.h"
#include "gsperf/metrics.h"
#include "gsperf/monitor.h"
#include "gsperf/http.h"
#include "gsperf/exec.h"
#include "gsperf/balance.h"
#include "gsperf/dist.h"
#include "gsperf/optimize.h"
#include "gsperf/prof.h"
#include "gsperf/codegraph.h"
#include "gsperf/integration.h"

#endif /* GSPERF_GSPERF_H */
