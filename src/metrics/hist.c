/*
 * hist.c - histogram bucket math, snapshots, merging and quantiles.
 *
 * Fine buckets (log-linear, HdrHistogram's layout, written from scratch).
 * Values below 128 have a bucket each. A value v >= 128 in octave
 * k = floor(log2 v) (7 <= k <= 41) falls in one of 64 equal sub-buckets of
 * [2^k, 2^(k+1)), each 2^(k-6) wide:
 *
 *     b = (k - 6) * 64 + (v >> (k - 6))        (v >> (k-6) is in [64, 128))
 *
 * so octave 7 starts at bucket 128 and octave 41 ends at 2367: 2368 buckets
 * cover 0 .. 2^42 - 1 (73 minutes in ns); larger values go to the top
 * bucket (min/max/sum stay exact). Computing b is a clz, a shift and a
 * multiply-add: no loop, no table. A bucket's width over its lower bound
 * is at most 2^(k-6) / 2^k = 1/64, and a quantile is reported as the
 * middle of its bucket, so it is within 1/128 (0.79%) of a value actually
 * recorded in that bucket; clamping to [min, max] keeps p0 and p100 exact.
 *
 * Exposition buckets. Prometheus wants cumulative counts of "value <= le"
 * for a small fixed set; deriving them from fine buckets would be off near
 * bounds that cut through a fine bucket (5000 does), so the record path
 * also counts into the le set directly. The bounds are 1-2-5 from 1000 to
 * 1e11 (in ns: 1 us to 100 s). Each octave holds at most one bound (the
 * bounds grow by at least 2x), so le index = base[k] + (v >= split[k]),
 * two 64-entry tables: another load and add on the hot path, no search.
 *
 * A snapshot (gsp_hist_snap) holds 64-bit fine and le counts plus count,
 * sum, min and max; merging adds buckets, so snapshots of different
 * threads, processes or time windows combine exactly.
 */
#include <string.h>

#include "metrics_int.h"

uint8_t gsp__le_base[64];
uint64_t gsp__le_split[64];
static uint64_t g_le[GSP_HIST_LE_COUNT];

static void tables_init(void) {
  static const uint64_t steps[3] = {1, 2, 5};
  uint64_t dec = 1000;
  for (unsigned i = 0; i < GSP_HIST_LE_COUNT; i++) {
    g_le[i] = dec * steps[i % 3];
    if (i % 3 == 2) dec *= 10;
  }
  for (unsigned k = 0; k < 64; k++) {
    uint64_t lo = k ? UINT64_C(1) << k : 0, hi = (UINT64_C(1) << k) * 2 - 1;
    if (k == 63) hi = UINT64_MAX;
    unsigned below = 0;
    uint64_t inside = 0;
    for (unsigned i = 0; i < GSP_HIST_LE_COUNT; i++) {
      if (g_le[i] < lo) below++;
      if (g_le[i] >= lo && g_le[i] <= hi) inside = g_le[i];
    }
    if (inside != 0) { /* values <= inside get index below, others below+1 */
      gsp__le_base[k] = (uint8_t)below;
      gsp__le_split[k] = inside + 1;
    } else if (below > 0) { /* every value in the octave is above `below` bounds */
      gsp__le_base[k] = (uint8_t)(below - 1);
      gsp__le_split[k] = 0;
    } else {
      gsp__le_base[k] = 0;
      gsp__le_split[k] = UINT64_MAX;
    }
  }
}

void gsp__hist_tables_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, tables_init);
}

double gsp__scaled(const gsp_metric_family *f, double x) {
  return f->inv_scale > 0 ? x / f->inv_scale : x * f->scale;
}

uint64_t gsp_hist_le_bound(unsigned i) {
  gsp__hist_tables_init();
  return i < GSP_HIST_LE_COUNT ? g_le[i] : UINT64_MAX;
}

unsigned gsp_hist_bucket_of(uint64_t v) { return gsp__hist_bucket(v, gsp__hist_octave(v)); }

void gsp_hist_bucket_range(unsigned b, uint64_t *lo, uint64_t *hi) {
  if (b < 128u) {
    *lo = *hi = b;
    return;
  }
  if (b >= GSP_HIST_BUCKETS) b = GSP_HIST_BUCKETS - 1;
  unsigned k = (b >> 6) + 5u;
  uint64_t s = (b & 63u) + 64u;
  *lo = s << (k - 6u);
  *hi = *lo + (UINT64_C(1) << (k - 6u)) - 1;
}

/* ---- snapshots ------------------------------------------------------ */

int gsp_hist_snap_create(gsp_hist_snap **out) {
  if (out == NULL) return GSP_EINVAL;
  gsp__hist_tables_init();
  gsp_hist_snap *s = gsp_malloc(sizeof *s);
  if (s == NULL) return GSP_ENOMEM;
  gsp_hist_snap_clear(s);
  *out = s;
  return GSP_OK;
}

void gsp_hist_snap_destroy(gsp_hist_snap *s) { gsp_free(s); }

void gsp_hist_snap_clear(gsp_hist_snap *s) {
  memset(s, 0, sizeof *s);
  s->min = UINT64_MAX;
}

void gsp_hist_snap_record(gsp_hist_snap *s, uint64_t v, uint64_t n) {
  if (n == 0) return;
  unsigned k = gsp__hist_octave(v);
  s->fine[gsp__hist_bucket(v, k)] += n;
  s->le[gsp__le_base[k] + (v >= gsp__le_split[k])] += n;
  s->count += n;
  s->sum += v * n;
  if (v < s->min) s->min = v;
  if (v > s->max) s->max = v;
}

void gsp_hist_snap_merge(gsp_hist_snap *dst, const gsp_hist_snap *src) {
  for (unsigned i = 0; i < GSP_HIST_BUCKETS; i++) dst->fine[i] += src->fine[i];
  for (unsigned i = 0; i <= GSP_HIST_LE_COUNT; i++) dst->le[i] += src->le[i];
  dst->count += src->count;
  dst->sum += src->sum;
  if (src->min < dst->min) dst->min = src->min;
  if (src->max > dst->max) dst->max = src->max;
}

/* Add one block (retired: plain cells; live: atomic cells) to a snapshot. */
static void add_block(void *user, const uint64_t *retired, gsp__cell *cells) {
  gsp_hist_snap *s = user;
  for (unsigned i = 0; i < GSP__H_CELLS; i++) {
    uint64_t v = retired ? retired[i] : atomic_load_explicit(&cells[i], memory_order_relaxed);
    if (i == GSP__H_MIN) {
      if (v < s->min) s->min = v;
    } else if (i == GSP__H_MAX) {
      if (v > s->max) s->max = v;
    } else if (i == GSP__H_SUM) {
      s->sum += v;
    } else if (i < GSP__H_FINE) {
      s->le[i - GSP__H_LE] += v;
      s->count += v;
    } else {
      s->fine[i - GSP__H_FINE] += v;
    }
  }
}

void gsp__hist_snap_of_locked(const gsp__child *ch, gsp_hist_snap *s) {
  gsp_hist_snap_clear(s);
  gsp__each_block_locked(ch, add_block, s);
}

typedef struct le_acc {
  uint64_t *le;
  uint64_t sum;
} le_acc;

static void add_le(void *user, const uint64_t *retired, gsp__cell *cells) {
  le_acc *a = user;
  for (unsigned i = 0; i <= GSP_HIST_LE_COUNT; i++)
    a->le[i] += retired ? retired[GSP__H_LE + i]
                        : atomic_load_explicit(&cells[GSP__H_LE + i], memory_order_relaxed);
  a->sum += retired ? retired[GSP__H_SUM]
                    : atomic_load_explicit(&cells[GSP__H_SUM], memory_order_relaxed);
}

void gsp__hist_le_of_locked(const gsp__child *ch, uint64_t le[GSP_HIST_LE_COUNT + 1],
                            uint64_t *sum) {
  le_acc a = {le, 0};
  memset(le, 0, (GSP_HIST_LE_COUNT + 1) * sizeof *le);
  gsp__each_block_locked(ch, add_le, &a);
  *sum = a.sum;
}

void gsp_hist_snapshot(gsp_hist *h, gsp_hist_snap *s) {
  gsp_metrics *m = h->c.fam->reg;
  pthread_mutex_lock(&m->lock);
  gsp__hist_snap_of_locked(&h->c, s);
  pthread_mutex_unlock(&m->lock);
}

/* ---- quantiles ------------------------------------------------------ */

static uint64_t bucket_mid(unsigned b) {
  uint64_t lo, hi;
  gsp_hist_bucket_range(b, &lo, &hi);
  return lo + (hi - lo) / 2;
}

uint64_t gsp_hist_snap_quantile(const gsp_hist_snap *s, double q) {
  if (s->count == 0) return 0;
  if (!(q > 0)) return s->min;
  if (q >= 1) return s->max;
  double r = q * (double)s->count;
  uint64_t rank = (uint64_t)r; /* ceil without libm */
  if ((double)rank < r || rank == 0) rank++;
  uint64_t seen = 0;
  for (unsigned b = 0; b < GSP_HIST_BUCKETS; b++) {
    seen += s->fine[b];
    if (seen >= rank) {
      uint64_t v = bucket_mid(b);
      if (v < s->min) v = s->min;
      if (v > s->max) v = s->max;
      return v;
    }
  }
  return s->max;
}

void gsp_hist_snap_summary(const gsp_hist_snap *s, gsp_hist_summary *out) {
  out->count = s->count;
  out->sum = s->sum;
  out->min = s->count ? s->min : 0;
  out->max = s->max;
  out->mean = s->count ? (double)s->sum / (double)s->count : 0.0;
  out->p50 = gsp_hist_snap_quantile(s, 0.50);
  out->p90 = gsp_hist_snap_quantile(s, 0.90);
  out->p99 = gsp_hist_snap_quantile(s, 0.99);
  out->p999 = gsp_hist_snap_quantile(s, 0.999);
}

uint64_t gsp_hist_snap_le_count(const gsp_hist_snap *s, unsigned i) {
  uint64_t c = 0;
  if (i > GSP_HIST_LE_COUNT) i = GSP_HIST_LE_COUNT;
  for (unsigned j = 0; j <= i; j++) c += s->le[j];
  return c;
}
