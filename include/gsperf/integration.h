/*
 * gsperf/integration.h - the code graph run through the optimization
 * engine: the seed's integration decorators as named, engine-registered
 * stages of `gsperf analyze`.
 *
 *   optimize_file_ops   file reads: on the worker when the file is in the
 *                       page cache (RWF_NOWAIT), else on the engine's I/O
 *                       executor (each worker reads its next file while
 *                       parsing this one)
 *   optimize_parsing    per file: result-store lookup, else tree-sitter
 *                       parse + extraction, on the engine's CPU pool
 *   optimize_imports    import resolution (whole tree; cached with types)
 *   optimize_types      reference binding, i.e. symbol resolution (after a
 *                       change, only files that reach a changed file)
 *   optimize_graph      file edges, components, order
 *   optimize_database   the SQLite write (with gsp_cg_config.db, during the
 *                       run on its own thread; its duration is then the
 *                       wait after the graph)
 *
 * Each stage is a monitor-only function of the engine (gsp_opt_register_
 * monitor): its calls, errors and duration histogram are the engine's
 * gsperf_function_* metrics labelled function="optimize_...", its cache
 * hits and misses (parsing: the per-file result store; imports and types:
 * the stored resolution; database: the file already up to date) are
 * counted in gsperf_function_cache_hits_total / _misses_total, and all of
 * it is in the engine's optimization report (gsp_opt_report_json). The
 * result store is a gsp_tier (L1 memory, L2 LZ4, L3 LMDB): its per-level
 * hits, lookups and entries are published as gauges
 * gsperf_analyze_cache_{hits,lookups,entries}{level="l1|l2|l3"} and
 * gsperf_analyze_cache_hit_ratio{level} by gsp_integration_sync().
 * The engine's own caches are not used for results: the tier is the cache.
 *
 * Thread safety: create/destroy are not concurrent with other calls on the
 * handle; destroy is last. gsp_integration_apply, _sync and _stage_stats may
 * be called from any thread at once; the stage hook installed by apply runs
 * on the code graph's worker threads, several at once.
 *
 * Ownership: the engine and the tier in the config are borrowed and must
 * outlive the handle (when engine is NULL the handle creates and owns one).
 */
#ifndef GSPERF_INTEGRATION_H
#define GSPERF_INTEGRATION_H

#include "gsperf/codegraph.h"
#include "gsperf/common.h"
#include "gsperf/optimize.h"
#include "gsperf/tier.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gsp_integration gsp_integration;

typedef struct gsp_integration_config {
  gsp_opt_engine *engine;           /* borrowed; NULL = create one from engine_cfg */
  const gsp_opt_config *engine_cfg; /* for an own engine; NULL = defaults */
  gsp_tier *store;                  /* borrowed result store, or NULL (no caching) */
  bool no_io;                       /* read files on the CPU workers, not the I/O executor */
} gsp_integration_config;

/*
 * Create: the engine (own or borrowed), the six stages registered in it
 * (GSP_EEXIST if another handle registered them in the same engine), the
 * cache gauges. Errors: GSP_EINVAL, GSP_ENOMEM, GSP_EEXIST, GSP_ENOSPC,
 * and the engine's creation errors; err (may be NULL) says which.
 */
GSP_API int gsp_integration_create(const gsp_integration_config *cfg, gsp_integration **out,
                                   char *err, size_t errcap);
/* Destroy (and the engine if the handle made it). NULL-safe. */
GSP_API void gsp_integration_destroy(gsp_integration *ig);

GSP_API gsp_opt_engine *gsp_integration_engine(gsp_integration *ig);

/*
 * Route a code-graph run through the engine: sets cfg->exec (the CPU
 * pool), cfg->io (the I/O executor, unless no_io or async is off),
 * cfg->store (the tier; no_cache when there is none) and the stage hook;
 * cfg->memory to GSP_CG_MEMORY_AGGRESSIVE when the engine's strategy is
 * MEMORY or its level AGGRESSIVE. Other fields are left alone.
 */
GSP_API void gsp_integration_apply(gsp_integration *ig, gsp_cg_config *cfg);

/* The engine function of a stage ("optimize_parsing", ...), or NULL. */
GSP_API const char *gsp_integration_stage_function(gsp_cg_stage s);
/* That function's statistics (calls, errors, hits, misses, durations). */
GSP_API int gsp_integration_stage_stats(gsp_integration *ig, gsp_cg_stage s,
                                        gsp_opt_func_stats *out);

/* Publish the store's per-level statistics into the metrics gauges and
 * bring the engine's cache metrics up to date. Cheap; call it as often as
 * the dashboard should refresh. */
GSP_API void gsp_integration_sync(gsp_integration *ig);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_INTEGRATION_H */
