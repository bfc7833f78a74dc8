/*
 * gsperf/metrics.h - a registry of counters, gauges and histograms with
 * labels, and their exposition as Prometheus text (0.0.4), OpenMetrics text
 * and JSON.
 *
 * A registry holds metric families. A family has a name, a help text, a
 * type and a list of label names; it has one child (a "series") per tuple
 * of label values. Names follow the Prometheus rules: a metric name matches
 * [a-zA-Z_:][a-zA-Z0-9_:]*, a label name [a-zA-Z_][a-zA-Z0-9_]* and must
 * not start with "__"; histograms may not use the label "le". A bad name
 * is GSP_EINVAL and gsp_metrics_errmsg() says which name and which
 * character at which position.
 *
 * Recording. Counters and histograms are sharded per thread: the first
 * time a thread records into a registry it gets its own shard, and every
 * later increment writes only memory that thread owns, with no
 * lock-prefixed instruction (see src/metrics/shard.c). Reading sums the
 * shards. When a thread exits, its shard is folded into the registry, so
 * its counts survive. Gauges are one shared value: set is a plain store,
 * add/inc/dec a compare-and-swap loop.
 *
 * Histograms record unsigned 64-bit values (typically nanoseconds) into
 * log-linear buckets: exact below 128, then 64 linear sub-buckets per
 * power of two up to 2^42 (about 73 minutes in ns). A quantile is reported
 * as the middle of its bucket, clamped to [min, max]: relative error at
 * most 1/128 (0.79%) for values up to 2^42; larger values land in the top
 * bucket (min, max, sum and count stay exact). For exposition a histogram
 * also counts into a fixed 1-2-5 bucket set: upper bounds 1000, 2000, 5000,
 * ..., 1e11 recorded units (25 bounds, exact "value <= le"), exposed as
 * le = bound * scale; with the default scale 1e-9 (ns -> s) these are
 * 1e-06 s .. 100 s, plus +Inf.
 *
 * Thread safety: every function may be called from any thread at once,
 * except gsp_metrics_destroy(), which must be the last call on the registry
 * and its handles, and must not race with any other call on them. The hist
 * snapshot functions (gsp_hist_snap_*) are not thread-safe on one snapshot.
 *
 * Callbacks: the write sink runs on the thread calling gsp_metrics_write(),
 * with the registry's lock held: it must not create metrics or read values
 * from the same registry (recording from threads that already recorded is
 * unaffected; a thread's first record into the registry waits).
 *
 * Ownership: the registry owns families and children; their handles stay
 * valid until gsp_metrics_destroy(). Strings passed in are copied.
 */
#ifndef GSPERF_METRICS_H
#define GSPERF_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/common.h"

#ifndef __cplusplus
#include <stdatomic.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gsp_metrics gsp_metrics;
typedef struct gsp_metric_family gsp_metric_family;
typedef struct gsp_counter gsp_counter;
typedef struct gsp_gauge gsp_gauge;
typedef struct gsp_hist gsp_hist;
typedef struct gsp_hist_snap gsp_hist_snap;

typedef enum gsp_metric_type {
  GSP_METRIC_COUNTER = 0,
  GSP_METRIC_GAUGE = 1,
  GSP_METRIC_HISTOGRAM = 2,
} gsp_metric_type;

/* Defaults and limits. */
#define GSP_METRICS_DEFAULT_MAX_SERIES 65536u /* counters + histograms */
#define GSP_METRICS_MAX_LABELS 16u
#define GSP_HIST_BUCKETS 2368u /* fine buckets (0 .. 2^42) */
#define GSP_HIST_LE_COUNT 25u  /* finite exposition bounds */

typedef struct gsp_metrics_config {
  /* Most counter and histogram series the registry will hold (gauges do not
   * count); 0 = GSP_METRICS_DEFAULT_MAX_SERIES, at most 1 << 24. Creating
   * one more is GSP_ENOSPC. */
  uint32_t max_series;
} gsp_metrics_config;

/* Create a registry; cfg may be NULL. Errors: GSP_EINVAL, GSP_ENOMEM. */
GSP_API int gsp_metrics_create(const gsp_metrics_config *cfg, gsp_metrics **out);
/* Free the registry and everything in it. NULL-safe. */
GSP_API void gsp_metrics_destroy(gsp_metrics *m);
/*
 * Why the last failing call on this registry failed ("" if none). The text
 * is overwritten by the next failure; read it on the thread that failed,
 * before other threads can fail on the same registry.
 */
GSP_API const char *gsp_metrics_errmsg(const gsp_metrics *m);

/* A family description; zero fields are defaults. */
typedef struct gsp_metric_desc {
  const char *name; /* required */
  const char *help; /* NULL = "" */
  gsp_metric_type type;
  const char *const *label_names; /* nlabels entries; may be NULL if 0 */
  size_t nlabels;                 /* at most GSP_METRICS_MAX_LABELS */
  double scale;                   /* histograms: exposed value = recorded value * scale;
                                     0 = 1e-9 (record ns, expose seconds) */
} gsp_metric_desc;

/*
 * Get or create a family. If a family of that name exists with the same
 * type, label names and scale it is returned; otherwise GSP_EEXIST with a
 * message naming both definitions. Errors: GSP_EINVAL (bad name, label
 * name, type, too many or duplicate labels), GSP_EEXIST, GSP_ENOMEM.
 */
GSP_API int gsp_metrics_family(gsp_metrics *m, const gsp_metric_desc *d, gsp_metric_family **out);

/*
 * Get or create the child of family f for the label values (one per label
 * name, any UTF-8, copied; NULL if the family has no labels). The call
 * must match the family's type. Errors: GSP_EINVAL (NULL value, wrong
 * family type), GSP_ENOSPC (max_series reached), GSP_ENOMEM.
 */
GSP_API int gsp_metrics_counter(gsp_metric_family *f, const char *const *label_values,
                                gsp_counter **out);
GSP_API int gsp_metrics_gauge(gsp_metric_family *f, const char *const *label_values,
                              gsp_gauge **out);
GSP_API int gsp_metrics_histogram(gsp_metric_family *f, const char *const *label_values,
                                  gsp_hist **out);

/* Unlabeled shortcuts: the family and its only child in one call. */
GSP_API int gsp_metrics_counter_new(gsp_metrics *m, const char *name, const char *help,
                                    gsp_counter **out);
GSP_API int gsp_metrics_gauge_new(gsp_metrics *m, const char *name, const char *help,
                                  gsp_gauge **out);
GSP_API int gsp_metrics_histogram_new(gsp_metrics *m, const char *name, const char *help,
                                      gsp_hist **out);

/*
 * Recording: thread-safe, lock-free, never fails (if a thread cannot get
 * memory for its shard, the value goes to the registry under its lock).
 */
GSP_API void gsp_counter_add(gsp_counter *c, uint64_t n);
GSP_API void gsp_counter_inc(gsp_counter *c);
GSP_API void gsp_gauge_set(gsp_gauge *g, double v);
GSP_API void gsp_gauge_add(gsp_gauge *g, double v);
GSP_API void gsp_gauge_inc(gsp_gauge *g);
GSP_API void gsp_gauge_dec(gsp_gauge *g);
GSP_API void gsp_hist_record(gsp_hist *h, uint64_t v);
/*
 * A gauge with no value: not exposed in any format until the next set, add,
 * inc or dec (its family's HELP and TYPE still are). For values that are
 * sometimes absent (no cgroup limit, no PSI), rather than a misleading 0.
 * gsp_gauge_value() still returns the last value stored.
 */
GSP_API void gsp_gauge_unset(gsp_gauge *g);
GSP_API bool gsp_gauge_is_set(gsp_gauge *g);

/*
 * The calling thread's own cell of a counter, for the hottest loops: get it
 * once (it is created if needed), then gsp_counter_cell_add() is an inline
 * plain add with no call and no lookup (gsp_counter_add() costs a call, a
 * thread-local load and two directory loads more). The cell belongs to the
 * calling thread: only that thread may add to it, and only until it exits
 * or the registry is destroyed. Counts added through it are read, folded
 * and exposed like any other. Errors: GSP_EINVAL, GSP_ENOMEM.
 */
#ifndef __cplusplus
typedef _Atomic uint64_t gsp_counter_cell;
GSP_API int gsp_counter_cell_get(gsp_counter *c, gsp_counter_cell **out);
static inline void gsp_counter_cell_add(gsp_counter_cell *x, uint64_t n) {
  atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + n, memory_order_relaxed);
}
#endif

/* Reading: the sum over every thread (takes the registry lock). */
GSP_API uint64_t gsp_counter_value(gsp_counter *c);
GSP_API double gsp_gauge_value(gsp_gauge *g);

/* ---- histogram snapshots: mergeable, with quantiles ------------------- */

/* An empty snapshot. Errors: GSP_ENOMEM. */
GSP_API int gsp_hist_snap_create(gsp_hist_snap **out);
GSP_API void gsp_hist_snap_destroy(gsp_hist_snap *s); /* NULL-safe */
GSP_API void gsp_hist_snap_clear(gsp_hist_snap *s);
/* Replace s with the histogram's current content (all threads). */
GSP_API void gsp_hist_snapshot(gsp_hist *h, gsp_hist_snap *s);
/* Record n occurrences of v into a snapshot directly. */
GSP_API void gsp_hist_snap_record(gsp_hist_snap *s, uint64_t v, uint64_t n);
/* dst += src (bucket by bucket; min/max/sum/count combined). */
GSP_API void gsp_hist_snap_merge(gsp_hist_snap *dst, const gsp_hist_snap *src);

typedef struct gsp_hist_summary {
  uint64_t count;
  uint64_t sum; /* recorded units; wraps after 2^64 */
  uint64_t min; /* 0 when empty */
  uint64_t max;
  double mean;
  uint64_t p50, p90, p99, p999;
} gsp_hist_summary;

/* Value at quantile q in [0, 1] (0 when empty); within 1/128 of a true
 * sample value for values below 2^42. */
GSP_API uint64_t gsp_hist_snap_quantile(const gsp_hist_snap *s, double q);
GSP_API void gsp_hist_snap_summary(const gsp_hist_snap *s, gsp_hist_summary *out);
/* Count of values <= GSP_HIST_LE bound i (cumulative), i < GSP_HIST_LE_COUNT;
 * i == GSP_HIST_LE_COUNT gives the total (+Inf). */
GSP_API uint64_t gsp_hist_snap_le_count(const gsp_hist_snap *s, unsigned i);
/* The i-th finite exposition bound in recorded units (1000, 2000, 5000, ...). */
GSP_API uint64_t gsp_hist_le_bound(unsigned i);
/* Bucket math, for tests and tools: index of v, and [lo, hi] of bucket b. */
GSP_API unsigned gsp_hist_bucket_of(uint64_t v);
GSP_API void gsp_hist_bucket_range(unsigned b, uint64_t *lo, uint64_t *hi);

/* ---- exposition ----------------------------------------------------- */

typedef enum gsp_metrics_format {
  GSP_METRICS_PROMETHEUS = 0,  /* text format 0.0.4 */
  GSP_METRICS_OPENMETRICS = 1, /* OpenMetrics 1.0 text, ends with "# EOF" */
  GSP_METRICS_JSON = 2,        /* one JSON object (see docs in src/metrics/expose_json.c) */
} gsp_metrics_format;

/* A sink: receives the output in pieces; returns 0, or a negative code that
 * stops the write and is returned by gsp_metrics_write(). */
typedef int (*gsp_metrics_write_fn)(void *user, const char *buf, size_t len);

/*
 * Write every family, in creation order, children in creation order.
 * Errors: GSP_EINVAL, GSP_ENOMEM (JSON: snapshot memory), or the sink's code.
 */
GSP_API int gsp_metrics_write(gsp_metrics *m, gsp_metrics_format fmt, gsp_metrics_write_fn fn,
                              void *user);
/*
 * Render into a new NUL-terminated buffer from gsp_malloc (the caller
 * frees it with gsp_free); *len (may be NULL) excludes the NUL.
 */
GSP_API int gsp_metrics_render(gsp_metrics *m, gsp_metrics_format fmt, char **out, size_t *len);
/* The HTTP Content-Type for a format (a static string). */
GSP_API const char *gsp_metrics_content_type(gsp_metrics_format fmt);

/* Name checks, usable on their own; return GSP_OK or GSP_EINVAL. */
GSP_API int gsp_metrics_check_name(const char *name);
GSP_API int gsp_metrics_check_label_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_METRICS_H */
