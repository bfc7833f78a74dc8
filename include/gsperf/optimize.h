/*
 * gsperf/optimize.h - the optimization engine: a host registers a function
 * under a name with a strategy, and calls it through the engine, which
 * adds the function's cache, its executor and its monitoring; and the
 * optimization report (the seed's OptimizationEngine, its decorators and
 * get_optimization_report()).
 *
 * A wrapped function maps argument bytes to result bytes:
 *
 *   int fn(void *user, const void *arg, size_t arglen, void **out, size_t *outlen)
 *
 * It returns 0 and a result allocated with gsp_malloc (the engine takes
 * it), or a negative GSP_E* code. Results are cached by key: by default
 * the argument bytes, or what the function's key callback derives from
 * them. Keys of different functions never collide, even in one cache
 * (each key is prefixed with the function's name).
 *
 * Strategies (gsp_opt_strategy), what a call does:
 *
 *   BALANCED    cache first (get-or-compute with single-flight: concurrent
 *               misses on one key compute once); a single call runs on the
 *               caller's thread; a batch is split across the CPU pool.
 *   CPU         as BALANCED: one call on the caller's thread (a hand-over to
 *               a worker costs a wake-up, 10-20 us here, and the caller
 *               would only wait), batches split across the CPU pool's
 *               workers (gsp_exec_map, started from a task of the pool).
 *   IO          one call on the caller's thread; a batch submits every
 *               item to the engine's I/O executor (gsp_io, io_workers
 *               threads sized for blocking work), so the blocking calls
 *               overlap; an item the executor refuses (max_pending) runs
 *               on the caller's thread.
 *   MEMORY      results larger than max_value_bytes are cached compressed
 *               in the function's own multi-level cache (tier.h: an L1 of
 *               one entry and an LZ4 L2), smaller ones in its named cache;
 *               nothing is cached while the memory-pressure level is
 *               WARNING or above; batches run at most batch_size items at
 *               a time; the engine's caches are reclaimers of the memory-
 *               pressure monitor, whose limit is memory_limit_mb. Misses
 *               are single-flight (with or without a cache): the first
 *               caller of a key runs fn on its own thread, concurrent
 *               callers of that key wait for it and share its result (each
 *               gets its own copy, counted as a hit) or its error; no
 *               deadline. A call released as a future before it starts
 *               never runs; one that started completes for its sharers.
 *   LATENCY     cache first; on a miss the work goes to the CPU pool in
 *               its latency class (gsp_exec_submit_prio: it starts before
 *               every queued batch chunk) with single-flight, and each caller waits until its own
 *               deadline (timeout_ms): a late caller gets GSP_ETIMEDOUT,
 *               and work that has not started when its last waiter gives
 *               up is canceled. Work that did start finishes and is cached.
 *   THROUGHPUT  concurrent calls are gathered into batches and run
 *               together through the function's batch callback (or fn per
 *               item), group-commit style: while a batch of the function
 *               runs, new calls gather into the next (up to batch_size,
 *               waiting at most batch_window_us); an idle function runs a
 *               lone call at once. The first caller of a batch runs it on
 *               its thread, the others wait for their result.
 *   CUSTOM      the host's policy callbacks choose, per call, which of the
 *               strategies above runs it and whether its result is cached.
 *
 * Monitoring: every registered function has, in the engine's metrics
 * registry, the counters gsperf_function_calls_total,
 * gsperf_function_errors_total, gsperf_function_cache_hits_total,
 * gsperf_function_cache_misses_total and the histogram
 * gsperf_function_duration_seconds, all labelled function="NAME". Each
 * cache of the engine has gsperf_cache_hits_total, gsperf_cache_misses_total,
 * gsperf_cache_evictions_total (counters) and gsperf_cache_entries,
 * gsperf_cache_bytes (gauges), labelled cache="NAME", brought up to date by
 * gsp_opt_metrics_sync() (the report calls it).
 *
 * Thread safety: gsp_opt_engine_create/destroy are not concurrent with any
 * other call on that engine (destroy is the last call, after every call in
 * flight has returned). Everything else may be called from any thread at
 * once: registering, finding, calling, reporting. The config helpers touch
 * only their arguments (gsp_opt_config_from_env reads the environment with
 * getenv: do not change the environment meanwhile).
 *
 * Callbacks (fn, key, batch, policy) run with no engine lock held, on the
 * caller's thread or on a worker of the CPU pool or the I/O executor (said per strategy
 * above); they may call other wrapped functions, but a function must not
 * wait on a call of itself (LATENCY and THROUGHPUT would wait forever on
 * their own batch or flight, MEMORY on its own flight). fn may run on
 * several threads at once.
 *
 * Ownership: the engine copies names and options. A gsp_opt_func handle is
 * valid until the engine is destroyed. A result (gsp_opt_result) is the
 * caller's until gsp_opt_result_release(), a future until
 * gsp_opt_future_release() (also after the engine is destroyed: the
 * destroy runs every submitted call first). Borrowed objects in the config
 * (metrics, monitor, mempressure) must outlive the engine.
 */
#ifndef GSPERF_OPTIMIZE_H
#define GSPERF_OPTIMIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/cache.h"
#include "gsperf/common.h"
#include "gsperf/exec.h"
#include "gsperf/mem.h"
#include "gsperf/metrics.h"
#include "gsperf/monitor.h"
#include "gsperf/prof.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration -------------------------------------------------------- */

/*
 * How far the engine goes. MINIMAL: monitoring only (no caching, every call
 * and batch on the caller's thread). BALANCED: the strategies as described
 * above. AGGRESSIVE: as BALANCED with 4x the default cache capacity, the
 * memory monitor shedding AGGRESSIVE-ly (to half the limit, then
 * malloc_trim), and a THROUGHPUT window twice as long.
 */
typedef enum gsp_opt_level {
  GSP_OPT_LEVEL_BALANCED = 0, /* default */
  GSP_OPT_LEVEL_MINIMAL = 1,
  GSP_OPT_LEVEL_AGGRESSIVE = 2,
} gsp_opt_level;

typedef enum gsp_opt_strategy {
  GSP_OPT_DEFAULT = 0, /* in function options: the engine's; in the engine: BALANCED */
  GSP_OPT_BALANCED = 1,
  GSP_OPT_CPU = 2,
  GSP_OPT_IO = 3,
  GSP_OPT_MEMORY = 4,
  GSP_OPT_LATENCY = 5,
  GSP_OPT_THROUGHPUT = 6,
  GSP_OPT_CUSTOM = 7,
} gsp_opt_strategy;

/* A yes/no setting whose zero value means "the default". */
typedef enum gsp_opt_switch {
  GSP_OPT_SWITCH_DEFAULT = 0,
  GSP_OPT_ON = 1,
  GSP_OPT_OFF = 2,
} gsp_opt_switch;

typedef struct gsp_opt_config {
  gsp_opt_level level;
  gsp_opt_strategy strategy;     /* for functions registered without one; 0 = BALANCED */
  unsigned max_workers;          /* CPU pool; 0 = gsp_exec_default_workers(), at most 1024 */
  unsigned io_workers;           /* I/O executor threads; 0 = max(8, 4 x max_workers);
                                    at most 1024 accepted, 256 used */
  gsp_opt_switch enable_async;   /* default ON; OFF = no executors: batches and
                                    LATENCY work run on the caller's thread */
  gsp_opt_switch enable_caching; /* default ON (OFF at level MINIMAL) */
  uint64_t memory_limit_mb;      /* memory-pressure limit; 0 = physical memory / cgroup */
  double timeout_seconds;        /* default deadline of a LATENCY call; 0 = none */
  size_t cache_entries;          /* capacity of caches the engine creates; 0 = 10000 */
  size_t max_value_bytes;        /* MEMORY: results above this are cached compressed; 0 = 64 KiB */
  unsigned batch_size;           /* default batch size (MEMORY, THROUGHPUT); 0 = 64, <= 65536 */
  unsigned batch_window_us;      /* THROUGHPUT: longest wait for a running batch; 0 = 200,
                                    <= 60 s */
  gsp_metrics *metrics;          /* borrowed registry; NULL = the engine makes its own */
  gsp_monitor *monitor;          /* borrowed; its alert events go into the report; may be NULL */
  gsp_mempressure *mem;          /* borrowed; NULL = the engine makes its own */
  const char *proc_root;         /* copied; NULL = "/proc" (tests point it at fixtures) */
  /*
   * Auto-scaling: 0 (the default) keeps both pools at a fixed size
   * (max_workers CPU workers, io_workers I/O threads). Otherwise the CPU
   * pool starts with min_workers workers and scales between min_workers
   * and max_workers (a worker is added while queued work waits with no
   * worker idle, an idle worker retires after 2 s), and the I/O executor
   * scales between min_workers and io_workers alike. At most max_workers.
   */
  unsigned min_workers;
  /*
   * The engine's name (copied; NULL = "default"; 1-128 of
   * [A-Za-z0-9_.:/-]), in the report ("engine":{"name":...}) and in the
   * labels of its pools' series, so engines sharing one metrics registry
   * keep theirs apart: pool="optimize_cpu" and pool="optimize_io" for the
   * engine named "default", pool="optimize_cpu:NAME" and
   * pool="optimize_io:NAME" for any other. Set from code only (not from a
   * file or the environment).
   */
  const char *name;
} gsp_opt_config;

/*
 * Read configuration from a JSON file: one object whose keys are the
 * config's fields by name ("level", "strategy", "max_workers",
 * "io_workers", "enable_async", "enable_caching", "memory_limit_mb",
 * "timeout_seconds", "cache_entries", "max_value_bytes", "batch_size",
 * "batch_window_us", "min_workers"). Levels and strategies are strings (see
 * gsp_opt_level_parse, gsp_opt_strategy_parse), switches booleans, the rest
 * non-negative numbers. Keys present overwrite *cfg; others are left
 * alone. An unknown key or a bad value fails the whole file with
 * GSP_EFORMAT (GSP_EIO: unreadable) and err names the file, the key and
 * the value; *cfg is then unchanged. err may be NULL.
 */
GSP_API int gsp_opt_config_load(const char *path, gsp_opt_config *cfg, char *err, size_t errcap);
/*
 * The same keys from environment variables GSPERF_<KEY> in upper case
 * (GSPERF_LEVEL, GSPERF_MAX_WORKERS, GSPERF_ENABLE_CACHING, ...); switches
 * accept 1/0, true/false, on/off, yes/no. A bad value is GSP_EFORMAT naming
 * the variable and its value (*cfg unchanged). Other GSPERF_* variables
 * belong to other parts of gsperf and are ignored.
 */
GSP_API int gsp_opt_config_from_env(gsp_opt_config *cfg, char *err, size_t errcap);

GSP_API const char *gsp_opt_level_name(gsp_opt_level l);
/* "minimal", "balanced", "aggressive" (any case). GSP_EINVAL otherwise. */
GSP_API int gsp_opt_level_parse(const char *s, gsp_opt_level *out);
/* "balanced", "cpu_optimized", "io_optimized", "memory_optimized",
 * "latency_optimized", "throughput_optimized", "custom"; "default" for 0. */
GSP_API const char *gsp_opt_strategy_name(gsp_opt_strategy s);
/* The names above, or without the "_optimized" suffix (any case). */
GSP_API int gsp_opt_strategy_parse(const char *s, gsp_opt_strategy *out);

/* ---- the engine ----------------------------------------------------------- */

typedef struct gsp_opt_engine gsp_opt_engine;
typedef struct gsp_opt_func gsp_opt_func;

/*
 * Create an engine: its CPU pool, I/O executor (when enable_async), cache
 * manager with the cache "default", metrics (own or borrowed) and memory-
 * pressure monitor (own or borrowed; not started). cfg may be NULL.
 * Errors: GSP_EINVAL (a bad field: gsp_opt_config_check says which, as
 * there is no engine to ask), GSP_ENOMEM, GSP_ESYS (threads), GSP_EIO
 * (memory information unreadable).
 */
GSP_API int gsp_opt_engine_create(const gsp_opt_config *cfg, gsp_opt_engine **out);
/* Stop monitoring, drain and stop the pools, free everything. NULL-safe. */
GSP_API void gsp_opt_engine_destroy(gsp_opt_engine *e);
/* Check a config as create would; err names the field and value. */
GSP_API int gsp_opt_config_check(const gsp_opt_config *cfg, char *err, size_t errcap);
/* The engine's last error detail ("" if none); see the metrics errmsg caveat. */
GSP_API const char *gsp_opt_errmsg(const gsp_opt_engine *e);
/* The effective configuration (defaults resolved). */
GSP_API void gsp_opt_config_get(const gsp_opt_engine *e, gsp_opt_config *out);

/*
 * The default engine (the seed's get_performance_integration()): created
 * by the first call, from the GSPERF_* environment variables over the
 * defaults, and kept until gsp_opt_default_shutdown(). Thread-safe. If the
 * environment is bad the call fails with GSP_EFORMAT (err says why).
 */
GSP_API int gsp_opt_default(gsp_opt_engine **out, char *err, size_t errcap);
/* Destroy the default engine (the next gsp_opt_default makes a new one).
 * No call on it may be in flight. */
GSP_API void gsp_opt_default_shutdown(void);

/* The engine's parts, for hosts that use them directly (valid until destroy). */
GSP_API gsp_metrics *gsp_opt_metrics(gsp_opt_engine *e);
GSP_API gsp_cache_manager *gsp_opt_caches(gsp_opt_engine *e);
GSP_API gsp_exec *gsp_opt_cpu_pool(gsp_opt_engine *e);
/* The I/O executor (NULL when async is off); submit blocking work with
   gsp_io_submit. gsp_opt_io_pool is the pool under it, for statistics
   (gsp_exec_stats_get, gsp_exec_workers); do not submit to it directly. */
GSP_API gsp_io *gsp_opt_io_executor(gsp_opt_engine *e);
GSP_API gsp_exec *gsp_opt_io_pool(gsp_opt_engine *e); /* NULL when async is off */
GSP_API gsp_mempressure *gsp_opt_mempressure(gsp_opt_engine *e);

/*
 * Start background monitoring (the seed's start_comprehensive_monitoring):
 * the memory-pressure monitor's thread (the engine's own) and, if the
 * config lent a monitor whose collector is not running, its collector.
 * Idempotent. gsp_opt_stop_monitoring stops what start started.
 */
GSP_API int gsp_opt_start_monitoring(gsp_opt_engine *e);
GSP_API void gsp_opt_stop_monitoring(gsp_opt_engine *e);

/* ---- wrapped functions ---------------------------------------------------- */

typedef int (*gsp_opt_fn)(void *user, const void *arg, size_t arglen, void **out, size_t *outlen);
/*
 * Derive the cache key of a call: write at most cap bytes into key and set
 * *klen. Return 0, GSP_ERANGE with *klen = the size needed (the engine
 * retries with a larger buffer), or another negative code (the call fails
 * with it).
 */
typedef int (*gsp_opt_key_fn)(void *user, const void *arg, size_t arglen, void *key, size_t cap,
                              size_t *klen);

typedef struct gsp_opt_arg {
  const void *data;
  size_t len;
} gsp_opt_arg;

/*
 * THROUGHPUT: run n calls at once. For each i, set status[i] (0 or a
 * negative code) and, on success, out[i]/outlen[i] (gsp_malloc'd, the
 * engine takes them). Return 0, or a negative code that fails every call
 * of the batch (results already set are then freed by the engine).
 */
typedef int (*gsp_opt_batch_fn)(void *user, const gsp_opt_arg *args, size_t n, void **out,
                                size_t *outlen, int *status);

/* CUSTOM: the host's policy. Callbacks run on the caller's thread. */
typedef struct gsp_opt_policy {
  /* The strategy for this call (BALANCED..THROUGHPUT); NULL = BALANCED. */
  gsp_opt_strategy (*route)(void *user, const void *arg, size_t arglen);
  /* Whether to cache this result; NULL = yes. */
  bool (*cacheable)(void *user, const void *arg, size_t arglen, size_t result_len);
  void *user;
} gsp_opt_policy;

/* Monitoring switches (bits of gsp_opt_func_opts.monitor_off). */
#define GSP_OPT_MON_DURATION 1u     /* no duration histogram at all */
#define GSP_OPT_MON_HIT_DURATION 2u /* cache hits are counted but not timed */

typedef struct gsp_opt_func_opts {
  gsp_opt_strategy strategy; /* DEFAULT = the engine's */
  const char *cache;         /* cache in the engine's manager; NULL = "default"; created
                                (LRU, cache_entries) when absent */
  gsp_opt_switch caching;    /* DEFAULT = the engine's enable_caching */
  gsp_opt_key_fn key;        /* NULL = the argument bytes */
  void *key_user;
  uint64_t ttl_ms;        /* 0 = the cache's default */
  unsigned monitor_off;   /* GSP_OPT_MON_* bits; 0 = monitor everything */
  unsigned batch_size;    /* 0 = the engine's */
  uint64_t timeout_ms;    /* LATENCY deadline; 0 = the engine's timeout_seconds */
  gsp_opt_batch_fn batch; /* THROUGHPUT; NULL = fn once per call */
  void *batch_user;
  gsp_opt_policy policy; /* CUSTOM */
} gsp_opt_func_opts;

/*
 * Register fn under name (1-128 characters of [A-Za-z0-9_.:/-]); opts may
 * be NULL. Errors: GSP_EINVAL (bad name, fn NULL, CUSTOM without a route,
 * unknown strategy), GSP_EEXIST (name taken), GSP_ENOSPC (metrics registry
 * full), GSP_ENOMEM. The errmsg names the function and the field.
 */
GSP_API int gsp_opt_register(gsp_opt_engine *e, const char *name, gsp_opt_fn fn, void *user,
                             const gsp_opt_func_opts *opts, gsp_opt_func **out);
/*
 * Register a name for monitoring only (the seed's @monitor_performance):
 * no function to call; record through GSP_OPT_SCOPE or gsp_opt_record.
 */
GSP_API int gsp_opt_register_monitor(gsp_opt_engine *e, const char *name, gsp_opt_func **out);
/* The function registered under name, or NULL. */
GSP_API gsp_opt_func *gsp_opt_find(gsp_opt_engine *e, const char *name);
GSP_API const char *gsp_opt_func_name(const gsp_opt_func *f);
GSP_API gsp_opt_strategy gsp_opt_func_strategy(const gsp_opt_func *f);

/* A call's result: data/len are readable until release. Private fields
 * are the engine's. */
typedef struct gsp_opt_result {
  const void *data;
  size_t len;
  int status;          /* batch calls: this item's status */
  gsp_cache_ref *ref_; /* pinned cache value, or NULL */
  void *own_;          /* a result owned by the caller, or NULL */
} gsp_opt_result;

/* Release a result (NULL-safe; a released or zeroed result is a no-op). */
GSP_API void gsp_opt_result_release(gsp_opt_result *r);

/*
 * Call a wrapped function with the argument bytes (arg may be NULL when
 * arglen is 0). Returns 0 with *out filled, or the function's error, or
 * GSP_ETIMEDOUT (LATENCY: the deadline passed), GSP_EINVAL (a monitor-only
 * function), GSP_ENOMEM.
 */
GSP_API int gsp_opt_call(gsp_opt_func *f, const void *arg, size_t arglen, gsp_opt_result *out);
/*
 * Call for n arguments as one batch (the seed's batch_execution), as the
 * strategy says. out[i].status is each item's status; the call returns 0
 * when every item succeeded, else the first failing item's status. Every
 * out[i] must be released (also after a failure).
 */
GSP_API int gsp_opt_call_batch(gsp_opt_func *f, const gsp_opt_arg *args, size_t n,
                               gsp_opt_result *out);

/*
 * Asynchronous calls (the seed's async_enabled): start a call on one of
 * the engine's pools and return at once with a future. Calls that may
 * block waiting (IO, LATENCY, THROUGHPUT, MEMORY) run on the I/O executor, the others
 * on the CPU pool; without pools (enable_async OFF) the call runs inside
 * gsp_opt_submit and the future is complete. The argument is copied.
 * Errors: GSP_EINVAL, GSP_ENOMEM, GSP_ESTATE (the engine is going away),
 * GSP_EBUSY (the I/O executor has max_pending calls queued).
 */
typedef struct gsp_opt_future gsp_opt_future;
GSP_API int gsp_opt_submit(gsp_opt_func *f, const void *arg, size_t arglen, gsp_opt_future **out);
/*
 * Wait for the call (timeout_ms 0 = no limit) and move its result to *out.
 * Returns the call's status; GSP_ETIMEDOUT if it is still running when
 * the time is up (wait again, or release); GSP_ESTATE if the result was
 * already taken. One thread at a time per future.
 */
GSP_API int gsp_opt_future_wait(gsp_opt_future *fu, uint64_t timeout_ms, gsp_opt_result *out);
GSP_API bool gsp_opt_future_done(const gsp_opt_future *fu);
/* Drop the future: a call not yet started is canceled (it never runs),
 * a running one finishes unobserved. NULL-safe. */
GSP_API void gsp_opt_future_release(gsp_opt_future *fu);

/*
 * The seed's @distributed: gsp_opt_dist_call has the type of a
 * gsp_dist_fn (gsperf/dist.h, libgsperf_dist) with the wrapped function
 * as user, so the distributed task farm can run it:
 *
 *   gsp_dist_register(d, "name", gsp_opt_dist_call, f);   // every rank
 *   gsp_dist_map(d, "name", n, inputs, results);          // distributed_execution
 *
 * Each task is gsp_opt_call(f, in, in_len) on the rank that runs it (that
 * rank's engine: its cache, strategy and monitoring); the result bytes are
 * copied to *out (gsp_malloc'd, NULL when empty), the farm's to free.
 * Returns the call's status. The core library does not link MPI: only
 * the host links libgsperf_dist. Thread safety: as gsp_opt_call.
 */
GSP_API int gsp_opt_dist_call(void *user, const void *in, size_t in_len, void **out,
                              size_t *out_len);

/* Record one call made outside the engine: its duration and status. */
GSP_API void gsp_opt_record(gsp_opt_func *f, uint64_t duration_ns, int status);

/*
 * A monitored scope (the seed's @monitor_performance(track_errors=True,
 * track_duration=True)): GSP_OPT_SCOPE(s, f, &status) declares a scope
 * variable s; when the enclosing block is left, by any path, the duration
 * since the declaration is recorded for f, and an error if *status != 0
 * then. GCC and Clang (the cleanup attribute).
 */
typedef struct gsp_opt_scope {
  gsp_opt_func *f_;
  const int *status_;
  uint64_t t0_;
} gsp_opt_scope;
GSP_API gsp_opt_scope gsp_opt_scope_open(gsp_opt_func *f, const int *status);
GSP_API void gsp_opt_scope_close(gsp_opt_scope *s);
#define GSP_OPT_SCOPE(var, func, status_ptr)                        \
  gsp_opt_scope var __attribute__((cleanup(gsp_opt_scope_close))) = \
      gsp_opt_scope_open((func), (status_ptr))

/* Per-function statistics (exact sums over all threads). */
typedef struct gsp_opt_func_stats {
  uint64_t calls, errors, timeouts, cache_hits, cache_misses, batches;
  double hit_rate;           /* hits / (hits + misses); 0 without lookups */
  gsp_hist_summary duration; /* nanoseconds */
} gsp_opt_func_stats;
GSP_API int gsp_opt_func_stats_get(gsp_opt_func *f, gsp_opt_func_stats *out);

/* ---- the report ----------------------------------------------------------- */

/* Bring the per-cache metrics up to date with the caches' statistics. */
GSP_API void gsp_opt_metrics_sync(gsp_opt_engine *e);

/*
 * The optimization report as JSON (schema in docs/optimize.md; top-level
 * keys "schema", "engine", "optimized_functions", "cache_stats",
 * "memory_stats", "pool_stats", "alerts", "profiler"). report
 * ["cache_stats"]["default"]["hit_rate"] and ["memory_stats"]
 * ["system_memory"]["memory_percent"] are the seed's fields. *out is
 * gsp_malloc'd and NUL-terminated; *len (may be NULL) excludes the NUL.
 * Errors: GSP_EINVAL, GSP_ENOMEM.
 */
GSP_API int gsp_opt_report_json(gsp_opt_engine *e, char **out, size_t *len);
/*
 * Lend the engine a profile (gsperf/prof.h) for the report's "profiler"
 * part: with one set, the report has "available":true, the profile's
 * sample count, "top_functions" [{name, self_pct, total_pct}] (the
 * 20 hottest by self time, from a snapshot taken when the
 * report is made; the profile may be running) and "zones" (the process's
 * timing zones: name, count, total/self seconds, p50/p99), and "source":
 * "lent". Without one (the default, or p NULL to take it back) the report
 * finds a profile on its own: the CPU profile running in this process
 * (gsp_prof_with_active: "source":"active"), else the preload library's
 * profile of this process under `gsperf profile` (its raw file
 * $GSP_PROF_DIR/cpu.<pid>.raw: "source":"preload"); with neither,
 * "available":false and empty lists. The profile stays the host's: it must outlive its use here
 * (detach before gsp_prof_destroy), and its start/stop must not race a
 * report being made. Thread safety: may be called from any thread.
 */
GSP_API void gsp_opt_set_profiler(gsp_opt_engine *e, gsp_prof *p);
/*
 * Render a report's JSON text (as written by gsp_opt_report_json, possibly
 * from another process) as a text table. *out is gsp_malloc'd. Errors:
 * GSP_EFORMAT (not JSON, or not a report: err says where), GSP_ENOMEM.
 */
GSP_API int gsp_opt_report_text(const char *json, char **out, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_OPTIMIZE_H */
