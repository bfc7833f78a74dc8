/*
 * metrics_int.h - private structures of the metrics registry, shared by
 * registry.c (families, children, names), shard.c (per-thread shards and
 * the hot path), hist.c (bucket math, snapshots) and expose*.c.
 */
#ifndef GSPERF_METRICS_INT_H
#define GSPERF_METRICS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/metrics.h"

#define GSP__LIKELY(x) __builtin_expect(!!(x), 1)
#define GSP__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Histogram block layout, in 64-bit cells (per thread and retired). */
#define GSP__H_SUM 0u
#define GSP__H_MIN 1u /* UINT64_MAX when empty */
#define GSP__H_MAX 2u
#define GSP__H_LE 3u /* GSP_HIST_LE_COUNT + 1 non-cumulative counts */
#define GSP__H_FINE (GSP__H_LE + GSP_HIST_LE_COUNT + 1u)
#define GSP__H_CELLS (GSP__H_FINE + GSP_HIST_BUCKETS)

/* Two-level slot directory of a thread shard. */
#define GSP__DIR_BITS 8u
#define GSP__DIR_N (1u << GSP__DIR_BITS)
#define GSP__MAX_SERIES (1u << 24)

typedef _Atomic uint64_t gsp__cell;

typedef struct gsp__child gsp__child;
typedef struct gsp__tshard gsp__tshard;

struct gsp_metric_family {
  gsp_metrics *reg;
  char *name;
  char *help;
  gsp_metric_type type;
  double scale;
  double inv_scale; /* 1/scale when that is a whole number (exact division), else 0 */
  size_t nlabels;
  char **label_names;
  gsp__child **children; /* creation order */
  size_t nchildren, cap;
  char *le_text[GSP_HIST_LE_COUNT]; /* histograms: exposed bounds */
};

struct gsp__child {
  gsp_metric_family *fam;
  uint64_t reg_id;
  uint32_t slot;   /* counters, histograms: index in the shard directory */
  uint32_t ncells; /* 1, GSP__H_CELLS, or 0 (gauge) */
  uint32_t dir_hi; /* slot >> GSP__DIR_BITS, precomputed for the hot path */
  uint32_t dir_lo; /* slot & (GSP__DIR_N - 1) */
  char **values;   /* label values, raw */
  char *labels;    /* rendered, escaped: a="x",b="y" (no braces); "" if none */
  size_t labels_len;
  uint64_t *retired;  /* folded shards of exited threads; under reg->lock */
  gsp__cell gauge;    /* gauges: the double's bits */
  _Atomic bool unset; /* gauges: no value (gsp_gauge_unset); not exposed */
};

struct gsp_counter {
  gsp__child c;
};
struct gsp_gauge {
  gsp__child c;
};
struct gsp_hist {
  gsp__child c;
};

/* A thread's shard for one registry. Owned by the thread; listed in the
 * registry while both live (see shard.c for the life cycle). */
struct gsp__tshard {
  uint64_t reg_id;
  gsp_metrics *reg;                              /* NULL once the registry is destroyed */
  gsp__tshard *tnext;                            /* the thread's list */
  gsp__tshard *rprev, *rnext;                    /* the registry's list */
  _Atomic(gsp__cell *_Atomic *) top[GSP__DIR_N]; /* -> chunk of GSP__DIR_N block ptrs */
  void *allocs;                                  /* every block/page this shard allocated */
  gsp__cell *arena;                              /* counter cells carved from pages */
  unsigned arena_left;
};

struct gsp_metrics {
  pthread_mutex_t lock;
  uint64_t id; /* unique per process, never reused */
  uint32_t max_series;
  uint32_t nslots;
  gsp__child **slots; /* slot -> child */
  uint32_t slots_cap;
  gsp_metric_family **fams;
  size_t nfams, fams_cap;
  gsp__tshard *shards; /* live threads' shards */
  char errmsg[256];
};

/* registry.c */
void gsp__metrics_err(gsp_metrics *m, const char *fmt, ...) GSP_PRINTF(2, 3);

/* shard.c */
gsp__cell *gsp__cells_slow(const gsp__child *ch);
void gsp__record_locked_fallback(const gsp__child *ch, uint64_t v);
void gsp__shards_drop(gsp_metrics *m); /* on destroy, with global lock held inside */
/* Sum of every shard's cell i plus the retired cell (reg->lock held). */
uint64_t gsp__sum_cell_locked(const gsp__child *ch, unsigned i);
/* Visit every live block of ch (reg->lock held), retired block first. */
typedef void (*gsp__block_fn)(void *user, const uint64_t *retired, gsp__cell *cells);
void gsp__each_block_locked(const gsp__child *ch, gsp__block_fn fn, void *user);
void gsp__hist_block_init(uint64_t *cells);

/* hist.c */
struct gsp_hist_snap {
  uint64_t count, sum, min, max;
  uint64_t le[GSP_HIST_LE_COUNT + 1];
  uint64_t fine[GSP_HIST_BUCKETS];
};
extern uint8_t gsp__le_base[64];
extern uint64_t gsp__le_split[64];
void gsp__hist_tables_init(void);
/* x * f->scale, as exactly as possible (x / 1e9 rather than x * 1e-9). */
double gsp__scaled(const gsp_metric_family *f, double x);
void gsp__hist_snap_of_locked(const gsp__child *ch, gsp_hist_snap *s);
void gsp__hist_le_of_locked(const gsp__child *ch, uint64_t le[GSP_HIST_LE_COUNT + 1],
                            uint64_t *sum);

static inline unsigned gsp__hist_octave(uint64_t v) {
  return v ? 63u - (unsigned)__builtin_clzll(v) : 0u;
}

static inline unsigned gsp__hist_bucket(uint64_t v, unsigned k) {
  if (v < 128u) return (unsigned)v;
  if (k > 41u) return GSP_HIST_BUCKETS - 1u;
  return (k - 6u) * 64u + (unsigned)(v >> (k - 6u));
}

#endif /* GSPERF_METRICS_INT_H */
