/*
 * gsperf/monitor.h - the monitoring half of gsperf: a system collector that
 * samples /proc on its own thread, a time-series store with downsampling
 * tiers in fixed memory, alert rules with a state machine, and regression
 * detection on duration series.
 *
 * Time. Every time in this API is nanoseconds on the monitor's clock
 * (config .clock; default gsp_now_ns(), CLOCK_MONOTONIC). Tests give a fake
 * clock and drive collection and evaluation by hand; only the collector
 * thread's sleep uses real time.
 *
 * Series. A series is a name (Prometheus rules, e.g. "gsp_process_cpu_percent")
 * plus an optional label string, compared byte for byte (write it in a
 * canonical form, e.g. `fn="parse"`; NULL and "" are the same: no labels).
 * The collector feeds the system series listed under gsp_monitor_field; a
 * host feeds its own with gsp_monitor_record() (that is how function
 * durations get in). A series whose name ends in "_seconds" is a duration
 * series and also gets a regression detector.
 *
 * Retention. Each series keeps one ring buffer per tier, allocated when the
 * series is created, never grown. Tier i has a step (bucket width) and a
 * number of points; a point holds the bucket start time, min, max, mean
 * and count of every value recorded into that bucket. Every tier is fed
 * from the raw values (not from the finer tier), so min, max, mean and
 * count are exact for each bucket. Defaults: 1 s x 3600 (1 h), 10 s x 2160
 * (6 h), 60 s x metrics_retention_hours*60 (24 h). A value whose bucket is
 * older than a tier's newest point is folded into that newest point (so a
 * late value from another thread is never lost, only placed late).
 *
 *   memory per series = sizeof(gsp_monitor_point) (40 bytes) x sum(points)
 *                       + GSP_MONITOR_SERIES_OVERHEAD + strlen(name)
 *                       + strlen(labels) + 2
 *                       + (duration series only) 24 x (baseline + recent)
 *                         bytes for the regression detector
 *   default: 40 x 7200 = 288,000 bytes + overhead (+ 26,400 for durations);
 *   total   <= max_series x that (default max_series 256: about 74 MB at
 *              most, touched lazily as the rings fill).
 *
 * Alerts. A rule watches the newest value of one series (or, with labels
 * NULL, of every series of that name: the condition holds when it holds for
 * any of them) and compares it with a threshold. States:
 *
 *   INACTIVE --cond--> PENDING --cond held for_ms--> FIRING --!cond--> RESOLVED
 *   PENDING --!cond--> INACTIVE;   RESOLVED --cond--> PENDING
 *
 * A rule fires at most once per cooldown_ms: while the cooldown runs, a
 * rule whose for-duration has passed stays PENDING. FIRING and RESOLVED
 * transitions are events: kept in a bounded history ring (oldest dropped)
 * and passed to the alert callback. Rules are evaluated after each
 * collection and by gsp_monitor_evaluate() with an explicit time.
 *
 * Regression detection ("historical analysis"). Method: a one-sided
 * Mann-Whitney U test with the normal approximation and tie correction,
 * between a baseline window (the `baseline` values before the recent ones)
 * and a recent window (the last `recent` values). A regression is reported
 * when z >= z_threshold and the recent median exceeds the baseline median
 * by at least min_shift (relative). After a report the detector re-baselines
 * (its windows restart from the new level) so one shift is one report.
 * Defaults: baseline 1000, recent 100, z_threshold 4.5 (one-sided p about
 * 3.4e-6 per test), min_shift 0.05. The monitor tests each duration series
 * whenever rules are evaluated; a report is an event of kind REGRESSION.
 *
 * Thread safety: every gsp_monitor_* call may be made from any thread at
 * once, except gsp_monitor_destroy(), which must be the last call and must
 * not race with others. One mutex guards the series, rules and history;
 * gsp_monitor_evaluate() and collection are additionally serialized with
 * each other. A gsp_regress detector is not thread-safe (one owner).
 *
 * Callbacks: the alert callback runs on the thread that evaluated the rules
 * (the collector thread, or the caller of gsp_monitor_evaluate() /
 * gsp_monitor_collect_now()), with no monitor lock held. It may record and
 * query, but must not call gsp_monitor_evaluate(), gsp_monitor_collect_now(),
 * gsp_monitor_stop() or gsp_monitor_destroy() (they would deadlock).
 *
 * Ownership: the monitor copies every string passed in. Query results are
 * allocated with gsp_malloc and freed by the caller with gsp_free(). The
 * metrics registry in the config is borrowed: it must outlive the monitor.
 */
#ifndef GSPERF_MONITOR_H
#define GSPERF_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/cache.h"
#include "gsperf/common.h"
#include "gsperf/mem.h"
#include "gsperf/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gsp_monitor gsp_monitor;

#define GSP_MONITOR_MAX_TIERS 4u
#define GSP_MONITOR_DEFAULT_MAX_SERIES 256u
#define GSP_MONITOR_DEFAULT_MAX_RULES 256u
#define GSP_MONITOR_DEFAULT_MAX_EVENTS 256u
#define GSP_MONITOR_SERIES_OVERHEAD 256u /* bytes per series besides rings and strings */
#define GSP_MONITOR_NAME_MAX 128u        /* longest rule name kept in an event, with NUL */

/* One retention tier: buckets of step_ms, `points` of them kept. */
typedef struct gsp_monitor_tier {
  uint32_t step_ms;
  uint32_t points;
} gsp_monitor_tier;

/* One bucket of one tier. */
typedef struct gsp_monitor_point {
  uint64_t t_ns; /* bucket start: a multiple of the tier step */
  double min, max, mean;
  uint64_t count;
} gsp_monitor_point;

typedef enum gsp_alert_cmp {
  GSP_ALERT_GT = 0, /* value >  threshold */
  GSP_ALERT_GE = 1,
  GSP_ALERT_LT = 2,
  GSP_ALERT_LE = 3,
  GSP_ALERT_EQ = 4,
  GSP_ALERT_NE = 5,
} gsp_alert_cmp;

typedef enum gsp_alert_level {
  GSP_ALERT_INFO = 0,
  GSP_ALERT_WARNING = 1,
  GSP_ALERT_ERROR = 2,
  GSP_ALERT_CRITICAL = 3,
} gsp_alert_level;

typedef enum gsp_alert_state {
  GSP_ALERT_INACTIVE = 0,
  GSP_ALERT_PENDING = 1,
  GSP_ALERT_FIRING = 2,
  GSP_ALERT_RESOLVED = 3,
} gsp_alert_state;

typedef enum gsp_alert_event_kind {
  GSP_EVENT_FIRING = 0,     /* a rule went PENDING -> FIRING */
  GSP_EVENT_RESOLVED = 1,   /* a rule went FIRING -> RESOLVED */
  GSP_EVENT_REGRESSION = 2, /* a duration series slowed down significantly */
} gsp_alert_event_kind;

typedef struct gsp_alert_event {
  gsp_alert_event_kind kind;
  gsp_alert_level level;             /* REGRESSION: WARNING */
  char rule[GSP_MONITOR_NAME_MAX];   /* rule name; REGRESSION: "regression" */
  char series[GSP_MONITOR_NAME_MAX]; /* the series name (truncated if longer) */
  double value;                      /* the value compared; REGRESSION: recent median */
  double baseline;                   /* threshold; REGRESSION: baseline median */
  double z;                          /* REGRESSION: the test statistic; else 0 */
  uint64_t t_ns;                     /* evaluation time */
} gsp_alert_event;

/* Runs on the evaluating thread with no monitor lock held (see above). */
typedef void (*gsp_alert_fn)(void *user, const gsp_alert_event *ev);

typedef struct gsp_monitor_config {
  uint32_t collection_interval_ms;               /* 0 = 1000 */
  gsp_metrics *metrics;                          /* gauges updated each sample; NULL = none */
  const char *proc_root;                         /* NULL = "/proc" (tests point it at fixtures) */
  const char *cgroup_root;                       /* NULL = "/sys/fs/cgroup" */
  gsp_clock clock;                               /* NULL now = gsp_now_ns() */
  uint32_t metrics_retention_hours;              /* coarsest default tier; 0 = 24 */
  gsp_monitor_tier tiers[GSP_MONITOR_MAX_TIERS]; /* ntiers 0 = the defaults */
  uint32_t ntiers;
  uint32_t max_series;   /* 0 = GSP_MONITOR_DEFAULT_MAX_SERIES; one more is GSP_ENOSPC */
  uint32_t max_rules;    /* 0 = GSP_MONITOR_DEFAULT_MAX_RULES */
  uint32_t max_events;   /* history ring; 0 = GSP_MONITOR_DEFAULT_MAX_EVENTS */
  gsp_alert_fn on_alert; /* may be NULL */
  void *on_alert_user;
  /* Regression detector settings for duration series; zero = defaults. */
  uint32_t regress_baseline;
  uint32_t regress_recent;
  double regress_z;
  double regress_min_shift;
} gsp_monitor_config;

/* Create a stopped monitor. Errors: GSP_EINVAL (bad tiers), GSP_ENOMEM. */
GSP_API int gsp_monitor_create(const gsp_monitor_config *cfg, gsp_monitor **out);
/* Stop the collector if running, then free everything. NULL-safe. */
GSP_API void gsp_monitor_destroy(gsp_monitor *mon);
/* Why the last failing call failed ("" if none); read it on the failing thread. */
GSP_API const char *gsp_monitor_errmsg(const gsp_monitor *mon);

/* Start the collector thread; it samples at once, then every interval.
 * Errors: GSP_ESTATE (already running), GSP_ESYS, GSP_ENOMEM. */
GSP_API int gsp_monitor_start(gsp_monitor *mon);
/* Wake and join the collector thread; a no-op when stopped. */
GSP_API void gsp_monitor_stop(gsp_monitor *mon);
GSP_API bool gsp_monitor_running(gsp_monitor *mon);

/* ---- the system collector ---------------------------------------------- */

/* The system series. Each has a gauge and a series of the same name. */
typedef enum gsp_monitor_field {
  GSP_MON_PROC_CPU_PERCENT = 0,   /* gsp_process_cpu_percent (100 = one core) */
  GSP_MON_PROC_RSS_BYTES,         /* gsp_process_resident_bytes */
  GSP_MON_PROC_HEAP_BYTES,        /* gsp_process_heap_bytes (mallinfo2, real process) */
  GSP_MON_PROC_THREADS,           /* gsp_process_threads */
  GSP_MON_PROC_OPEN_FDS,          /* gsp_process_open_fds */
  GSP_MON_PROC_READ_BYTES,        /* gsp_process_io_read_bytes (cumulative) */
  GSP_MON_PROC_WRITE_BYTES,       /* gsp_process_io_write_bytes (cumulative) */
  GSP_MON_PROC_CTXSW_VOLUNTARY,   /* gsp_process_voluntary_context_switches */
  GSP_MON_PROC_CTXSW_INVOLUNTARY, /* gsp_process_involuntary_context_switches */
  GSP_MON_MACHINE_CPU_PERCENT,    /* gsp_machine_cpu_percent (100 = all cores busy) */
  GSP_MON_MACHINE_MEM_TOTAL,      /* gsp_machine_memory_total_bytes */
  GSP_MON_MACHINE_MEM_AVAILABLE,  /* gsp_machine_memory_available_bytes */
  GSP_MON_MACHINE_LOAD1,          /* gsp_machine_load1 */
  GSP_MON_MACHINE_LOAD5,          /* gsp_machine_load5 */
  GSP_MON_MACHINE_LOAD15,         /* gsp_machine_load15 */
  GSP_MON_CGROUP_MEM_LIMIT,       /* gsp_cgroup_memory_limit_bytes (absent: no limit) */
  GSP_MON_CGROUP_MEM_USAGE,       /* gsp_cgroup_memory_usage_bytes */
  GSP_MON_CGROUP_CPU_QUOTA,       /* gsp_cgroup_cpu_quota_cores (absent: no quota) */
  GSP_MON_NFIELDS
} gsp_monitor_field;

/* One collection. A field is meaningful only when its bit is set in
 * `present` (1u << field): CPU percentages need two samples, /proc/self/io
 * may be unreadable (EACCES), cgroup files may be absent or say "no limit". */
typedef struct gsp_monitor_sample {
  uint64_t t_ns;
  uint32_t present;
  double v[GSP_MON_NFIELDS];
} gsp_monitor_sample;

/* The series / gauge name of a field (static string), NULL if out of range. */
GSP_API const char *gsp_monitor_field_name(gsp_monitor_field f);

/*
 * Take one sample now on the calling thread (as the collector does each
 * interval): read /proc and the cgroup files, update the gauges, append to
 * the series, evaluate the rules. *out (may be NULL) receives the sample.
 * A file that cannot be parsed is skipped (its fields absent), the reason
 * (file and field) is kept for gsp_monitor_collect_error(), and the call
 * returns GSP_EFORMAT after doing everything else. Errors also GSP_ENOMEM,
 * GSP_ENOSPC (series table full).
 */
GSP_API int gsp_monitor_collect_now(gsp_monitor *mon, gsp_monitor_sample *out);
/* The newest sample (all zero before the first). */
GSP_API void gsp_monitor_last_sample(gsp_monitor *mon, gsp_monitor_sample *out);
/* Copy the last collection error ("" if the last collection was clean) and
 * return the number of collections that had an error so far. */
GSP_API uint64_t gsp_monitor_collect_error(gsp_monitor *mon, char *buf, size_t len);

/* ---- sources: more values at every collection --------------------------- */
/*
 * A source is a callback run at every collection (the collector thread's,
 * or gsp_monitor_collect_now()'s), after the system sample is stored and
 * before the rules are evaluated, so rules see what it recorded. It gets
 * the monitor's registry (config .metrics, may be NULL) and the sample
 * time; it may call gsp_monitor_record() and any metrics call. It runs
 * with the monitor's evaluation lock held (not the data lock): it must not
 * call gsp_monitor_collect_now, _evaluate, _stop, _destroy, or add or
 * remove sources. A non-zero return is returned by gsp_monitor_collect_now
 * (the collection itself goes on; the other sources still run).
 *
 * Sources run in the order added; add and remove wait for a collection in
 * progress, so once gsp_monitor_remove_source() returns the source is not
 * running and will not run again (its user data may be freed). Names are
 * unique (GSP_EEXIST).
 */
typedef int (*gsp_monitor_source_fn)(void *user, gsp_monitor *mon, gsp_metrics *metrics,
                                     uint64_t now_ns);
/* Errors: GSP_EINVAL (NULL or empty name, NULL fn), GSP_EEXIST, GSP_ENOMEM. */
GSP_API int gsp_monitor_add_source(gsp_monitor *mon, const char *name, gsp_monitor_source_fn fn,
                                   void *user);
/* Errors: GSP_EINVAL, GSP_ENOENT (no source of that name). */
GSP_API int gsp_monitor_remove_source(gsp_monitor *mon, const char *name);

/*
 * Ready sources that export statistics into the monitor's registry (the
 * monitor must have one: GSP_EINVAL otherwise), under the names the
 * optimization engine and the dashboard share. name is 1-128 bytes; the
 * source is named "cache:NAME" / "pool:NAME" (for remove_source).
 *
 * A cache (borrowed: it must outlive the source; remove the source before
 * destroying the cache), each collection:
 *   counters gsperf_cache_hits_total{cache="NAME"}, gsperf_cache_misses_total,
 *            gsperf_cache_evictions_total (advanced by the change since the
 *            last collection; a statistic found below its previous value
 *            (gsp_cache_stats_reset) restarts from zero: the counters
 *            never go back, though a reset may lose up to one interval's
 *            counts)
 *   gauges   gsperf_cache_entries{cache="NAME"}, gsperf_cache_bytes
 *   series   gsperf_cache_hit_ratio, labels cache="NAME": hits / lookups
 *            since the last collection (only when there were lookups), so
 *            an alert rule can watch a cache's hit rate (one retained
 *            series per cache, counted against max_series; memory as in
 *            the formula at the top).
 * A cache manager (borrowed likewise; the source is named `name`): the same
 * for every cache it holds, labelled with the cache's name in the manager;
 * caches created later are picked up at the next collection.
 * A pool (borrowed likewise), gauges gsp_pool_live_objects{pool="NAME"},
 * gsp_pool_cached_objects, gsp_pool_peak_objects, gsp_pool_slab_bytes and
 * counters gsp_pool_refills_total, gsp_pool_flushes_total,
 * gsp_pool_misses_total (see gsp_pool_stats).
 * Errors: GSP_EINVAL, GSP_EEXIST (same source name, or a metric name taken
 * with another type), GSP_ENOSPC (registry full), GSP_ENOMEM.
 */
GSP_API int gsp_monitor_add_cache(gsp_monitor *mon, const char *name, gsp_cache *cache);
GSP_API int gsp_monitor_add_cache_manager(gsp_monitor *mon, const char *name,
                                          gsp_cache_manager *mgr);
GSP_API int gsp_monitor_add_pool(gsp_monitor *mon, const char *name, gsp_pool *pool);

/* ---- retention ---------------------------------------------------------- */

/*
 * Append a value to a series, creating it on first use. labels may be NULL.
 * Errors: GSP_EINVAL (bad name, non-finite value), GSP_ENOSPC (max_series),
 * GSP_ENOMEM.
 */
GSP_API int gsp_monitor_record(gsp_monitor *mon, const char *name, const char *labels, double value,
                               uint64_t t_ns);

/*
 * The points of a series whose bucket start lies in [from_ns, to_ns], oldest
 * first, from the finest tier that still holds everything from from_ns on
 * (the coarsest tier if none does). *out is gsp_malloc'd (NULL when *n is
 * 0); *step_ms (may be NULL) receives the tier's step.
 * Errors: GSP_EINVAL, GSP_ENOENT (no such series), GSP_ENOMEM.
 */
GSP_API int gsp_monitor_query(gsp_monitor *mon, const char *name, const char *labels,
                              uint64_t from_ns, uint64_t to_ns, gsp_monitor_point **out, size_t *n,
                              uint32_t *step_ms);
/* The monitor's clock now, in ns (config .clock, default gsp_now_ns()). */
GSP_API uint64_t gsp_monitor_now(const gsp_monitor *mon);
/* Number of series. */
GSP_API size_t gsp_monitor_series_count(gsp_monitor *mon);
/* Bytes one series of this monitor's tiers takes (the formula above). */
GSP_API size_t gsp_monitor_series_bytes(gsp_monitor *mon, const char *name, const char *labels);

/* ---- alerts ------------------------------------------------------------- */

typedef struct gsp_alert_rule {
  const char *name;   /* required, unique */
  const char *metric; /* series name, required */
  const char *labels; /* exact label string, or NULL for any series of that name */
  gsp_alert_cmp cmp;
  double threshold;
  gsp_alert_level level;
  uint64_t for_ms;      /* condition must hold this long before FIRING; 0 = at once */
  uint64_t cooldown_ms; /* least time between two firings of the rule */
} gsp_alert_rule;

/* Add a rule (copied). Errors: GSP_EINVAL, GSP_EEXIST (name), GSP_ENOSPC, GSP_ENOMEM. */
GSP_API int gsp_monitor_add_rule(gsp_monitor *mon, const gsp_alert_rule *rule);
/*
 * Load rules from a JSON file: an array of objects, or an object with a
 * "rules" array. Keys: "name", "metric" (strings, required), "labels"
 * (string), "comparison" (">", ">=", "<", "<=", "==", "!="), "threshold"
 * (number), "level" ("INFO", "WARNING", "ERROR", "CRITICAL"; default
 * WARNING), "for_ms", "cooldown_ms" (non-negative integers). Unknown keys
 * are errors. All or nothing: on error no rule is added and the errmsg
 * names the file, the rule (index and name) and the field.
 * Errors: GSP_EIO (unreadable), GSP_EFORMAT, GSP_EEXIST, GSP_ENOSPC, GSP_ENOMEM.
 */
GSP_API int gsp_monitor_load_rules(gsp_monitor *mon, const char *path);
/* Evaluate every rule (and the regression detectors) at time now_ns. */
GSP_API int gsp_monitor_evaluate(gsp_monitor *mon, uint64_t now_ns);
/* A rule's current state. Errors: GSP_ENOENT. */
GSP_API int gsp_monitor_rule_state(gsp_monitor *mon, const char *name, gsp_alert_state *out);
/*
 * Call fn for every rule, in the order added, with its current state;
 * returns the number of rules. fn runs on the calling thread with the
 * monitor's lock held: it must not call into the monitor. The rule's
 * strings are valid only during the call.
 */
typedef void (*gsp_monitor_rule_fn)(void *user, const gsp_alert_rule *rule, gsp_alert_state state);
GSP_API size_t gsp_monitor_rules_foreach(gsp_monitor *mon, gsp_monitor_rule_fn fn, void *user);
/* Copy up to cap most recent events, oldest first; returns how many. */
GSP_API size_t gsp_monitor_events(gsp_monitor *mon, gsp_alert_event *buf, size_t cap);
GSP_API const char *gsp_alert_level_name(gsp_alert_level level);
GSP_API const char *gsp_alert_state_name(gsp_alert_state state);

/* ---- regression detection, usable on its own ---------------------------- */

typedef struct gsp_regress gsp_regress;

typedef struct gsp_regress_config {
  uint32_t baseline;  /* 0 = 1000; at least 8 */
  uint32_t recent;    /* 0 = 100; at least 8 */
  double z_threshold; /* 0 = 4.5 */
  double min_shift;   /* 0 = 0.05: recent median >= baseline median x 1.05 */
} gsp_regress_config;

typedef struct gsp_regress_result {
  bool regression;
  double z; /* Mann-Whitney z (recent > baseline is positive) */
  double baseline_median;
  double recent_median;
} gsp_regress_result;

GSP_API int gsp_regress_create(const gsp_regress_config *cfg, gsp_regress **out);
GSP_API void gsp_regress_destroy(gsp_regress *r); /* NULL-safe */
/* Add one value (the newest). */
GSP_API void gsp_regress_add(gsp_regress *r, double v);
/*
 * Test the windows. Returns true (and re-baselines) on a regression; when
 * both windows are not yet full, returns false with z 0. res may be NULL.
 */
GSP_API bool gsp_regress_test(gsp_regress *r, gsp_regress_result *res);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_MONITOR_H */
