/*
 * integration.c - the code graph's stages as engine-registered, monitored
 * functions (gsperf/integration.h): the seed's optimize_file_ops,
 * optimize_parsing, optimize_types, optimize_imports, optimize_graph and
 * optimize_database decorators.
 *
 * The code graph does the work; this file routes it: apply() hands the
 * run the engine's CPU pool and I/O executor and the result store, and
 * installs a stage hook that records each step into the stage's engine
 * function (gsp_opt_record: calls, errors, duration histogram) and counts
 * its store hits and misses into the function's cache counters, the same
 * counters the engine's report reads.
 *
 * Data: one gsp_opt_func and two counters (hits, misses) per stage; one
 * gauge per tier level and quantity. All of them live in the engine's
 * metrics registry; this handle only keeps pointers. Invariant: after
 * create every pointer is set, so the hook needs no checks or locks.
 */
#include <stdio.h>
#include <string.h>

#include "gsperf/integration.h"

#define NLEVELS GSP_TIER_LEVELS

static const char *const stage_fn[GSP_CG_STAGES] = {"optimize_file_ops", "optimize_parsing",
                                                    "optimize_imports",  "optimize_types",
                                                    "optimize_graph",    "optimize_database"};

enum { G_HITS, G_LOOKUPS, G_ENTRIES, G_RATIO, G__N };

struct gsp_integration {
  gsp_opt_engine *engine;
  bool own_engine, no_io;
  gsp_tier *store;
  gsp_opt_func *fn[GSP_CG_STAGES];
  gsp_counter *hits[GSP_CG_STAGES], *misses[GSP_CG_STAGES];
  gsp_gauge *g[G__N][NLEVELS];
};

const char *gsp_integration_stage_function(gsp_cg_stage s) {
  return (unsigned)s < GSP_CG_STAGES ? stage_fn[s] : NULL;
}

/* The child of the engine's function-counter family for one function. */
static int fn_counter(gsp_metrics *m, const char *family, const char *help, const char *fn,
                      gsp_counter **out) {
  static const char *const label[] = {"function"};
  gsp_metric_desc d = {
      .name = family, .help = help, .type = GSP_METRIC_COUNTER, .label_names = label, .nlabels = 1};
  gsp_metric_family *f = NULL;
  int rv = gsp_metrics_family(m, &d, &f);
  return rv == GSP_OK ? gsp_metrics_counter(f, (const char *const[]){fn}, out) : rv;
}

static int register_stages(gsp_integration *ig, char *err, size_t errcap) {
  gsp_metrics *m = gsp_opt_metrics(ig->engine);
  for (int s = 0; s < GSP_CG_STAGES; s++) {
    int rv = gsp_opt_register_monitor(ig->engine, stage_fn[s], &ig->fn[s]);
    if (rv == GSP_OK)
      rv = fn_counter(m, "gsperf_function_cache_hits_total", "Calls served from the cache",
                      stage_fn[s], &ig->hits[s]);
    if (rv == GSP_OK)
      rv = fn_counter(m, "gsperf_function_cache_misses_total", "Calls that had to run the function",
                      stage_fn[s], &ig->misses[s]);
    if (rv != GSP_OK) {
      if (err) snprintf(err, errcap, "stage %s: %s", stage_fn[s], gsp_opt_errmsg(ig->engine));
      return rv;
    }
  }
  return GSP_OK;
}

static int make_gauges(gsp_integration *ig, char *err, size_t errcap) {
  static const char *const names[G__N] = {
      "gsperf_analyze_cache_hits", "gsperf_analyze_cache_lookups", "gsperf_analyze_cache_entries",
      "gsperf_analyze_cache_hit_ratio"};
  static const char *const helps[G__N] = {
      "Result-store lookups answered by the level", "Result-store lookups that reached the level",
      "Entries in the level", "Hits over lookups that reached the level"};
  static const char *const levels[NLEVELS] = {"l1", "l2", "l3"};
  static const char *const label[] = {"level"};
  for (int g = 0; g < G__N; g++) {
    gsp_metric_desc d = {.name = names[g],
                         .help = helps[g],
                         .type = GSP_METRIC_GAUGE,
                         .label_names = label,
                         .nlabels = 1};
    gsp_metric_family *f = NULL;
    int rv = gsp_metrics_family(gsp_opt_metrics(ig->engine), &d, &f);
    for (int l = 0; rv == GSP_OK && l < NLEVELS; l++)
      rv = gsp_metrics_gauge(f, (const char *const[]){levels[l]}, &ig->g[g][l]);
    if (rv != GSP_OK) {
      if (err) snprintf(err, errcap, "metric %s: %s", names[g], gsp_strerror(rv));
      return rv;
    }
  }
  return GSP_OK;
}

int gsp_integration_create(const gsp_integration_config *cfg, gsp_integration **out, char *err,
                           size_t errcap) {
  if (err && errcap) err[0] = '\0';
  if (out == NULL) return GSP_EINVAL;
  *out = NULL;
  gsp_integration *ig = gsp_calloc(1, sizeof *ig);
  if (ig == NULL) return GSP_ENOMEM;
  gsp_integration_config c = cfg ? *cfg : (gsp_integration_config){0};
  ig->engine = c.engine, ig->store = c.store, ig->no_io = c.no_io;
  int rv = GSP_OK;
  if (ig->engine == NULL) {
    rv = gsp_opt_engine_create(c.engine_cfg, &ig->engine);
    ig->own_engine = rv == GSP_OK;
    if (rv != GSP_OK && err) {
      char why[256] = "";
      gsp_opt_config_check(c.engine_cfg, why, sizeof why);
      snprintf(err, errcap, "engine: %s%s%s", gsp_strerror(rv), why[0] ? ": " : "", why);
    }
  }
  if (rv == GSP_OK) rv = register_stages(ig, err, errcap);
  if (rv == GSP_OK) rv = make_gauges(ig, err, errcap);
  if (rv != GSP_OK) {
    gsp_integration_destroy(ig);
    return rv;
  }
  *out = ig;
  return GSP_OK;
}

void gsp_integration_destroy(gsp_integration *ig) {
  if (ig == NULL) return;
  if (ig->own_engine) gsp_opt_engine_destroy(ig->engine);
  gsp_free(ig);
}

gsp_opt_engine *gsp_integration_engine(gsp_integration *ig) { return ig ? ig->engine : NULL; }

static void on_stage(void *user, gsp_cg_stage s, uint64_t ns, int status, bool cached) {
  gsp_integration *ig = user;
  if ((unsigned)s >= GSP_CG_STAGES) return;
  gsp_opt_record(ig->fn[s], ns, status);
  if (s != GSP_CG_STAGE_READ && s != GSP_CG_STAGE_GRAPH) {
    if (ig->store != NULL) gsp_counter_inc(cached ? ig->hits[s] : ig->misses[s]);
  }
}

void gsp_integration_apply(gsp_integration *ig, gsp_cg_config *cfg) {
  if (ig == NULL || cfg == NULL) return;
  cfg->exec = gsp_opt_cpu_pool(ig->engine);
  cfg->io = ig->no_io ? NULL : gsp_opt_io_executor(ig->engine);
  cfg->store = ig->store;
  if (ig->store == NULL) cfg->no_cache = true;
  cfg->stage_hook = on_stage;
  cfg->stage_user = ig;
  gsp_opt_config ec; /* the seed's aggressive memory strategy: a memory-first run */
  gsp_opt_config_get(ig->engine, &ec);
  if (ec.strategy == GSP_OPT_MEMORY || ec.level == GSP_OPT_LEVEL_AGGRESSIVE)
    cfg->memory = GSP_CG_MEMORY_AGGRESSIVE;
}

int gsp_integration_stage_stats(gsp_integration *ig, gsp_cg_stage s, gsp_opt_func_stats *out) {
  if (ig == NULL || out == NULL || (unsigned)s >= GSP_CG_STAGES) return GSP_EINVAL;
  return gsp_opt_func_stats_get(ig->fn[s], out);
}

void gsp_integration_sync(gsp_integration *ig) {
  if (ig == NULL) return;
  gsp_opt_metrics_sync(ig->engine);
  gsp_tier_stats ts;
  if (ig->store == NULL || gsp_tier_stats_get(ig->store, &ts) != GSP_OK) return;
  for (int l = 0; l < NLEVELS; l++) {
    const gsp_tier_level_stats *ls = &ts.level[l];
    uint64_t looked = ls->hits + ls->misses;
    gsp_gauge_set(ig->g[G_HITS][l], (double)ls->hits);
    gsp_gauge_set(ig->g[G_LOOKUPS][l], (double)looked);
    gsp_gauge_set(ig->g[G_ENTRIES][l], (double)ls->entries);
    gsp_gauge_set(ig->g[G_RATIO][l], looked ? (double)ls->hits / (double)looked : 0.0);
  }
}
