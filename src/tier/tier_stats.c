/*
 * tier_stats.c - the tier's statistics: counters per level (atomics in the
 * tier, relaxed), entry and byte counts read from each level, and read and
 * write latency histograms per level.
 *
 * The histograms are gsperf metrics histograms (log-linear buckets, 1/128
 * precision, lock-free recording) in a registry the tier owns, family
 * gsp_tier_latency_seconds{level, op}. A snapshot is taken per stats call.
 * Latencies are recorded in nanoseconds around each level's operation; the
 * clock reads cost two vDSO calls per level touched.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tier_int.h"

int gsp__tier_metrics_init(gsp_tier *t) {
  int st = gsp_metrics_create(NULL, &t->metrics);
  if (st != GSP_OK) return st;
  static const char *labels[] = {"level", "op"};
  static const char *lv[] = {"l1", "l2", "l3"}, *ops[] = {"read", "write"};
  gsp_metric_family *f;
  st = gsp_metrics_family(t->metrics,
                          &(gsp_metric_desc){.name = "gsp_tier_latency_seconds",
                                             .help = "tier level operation latency",
                                             .type = GSP_METRIC_HISTOGRAM,
                                             .label_names = labels,
                                             .nlabels = 2},
                          &f);
  for (int l = 0; st == GSP_OK && l < GSP_TIER_LEVELS; l++)
    for (int o = 0; st == GSP_OK && o < 2; o++)
      st = gsp_metrics_histogram(f, (const char *[]){lv[l], ops[o]}, &t->lat[l][o]);
  return st;
}

uint64_t gsp__tier_time(gsp_tier *t, int level, int op, uint64_t t0) {
  uint64_t now = gsp_now_ns();
  gsp_hist_record(t->lat[level][op], now - t0);
  return now;
}

static void latency(gsp_hist *h, gsp_hist_snap *snap, gsp_tier_latency *out) {
  gsp_hist_summary s;
  gsp_hist_snapshot(h, snap);
  gsp_hist_snap_summary(snap, &s);
  *out = (gsp_tier_latency){
      .count = s.count, .p50_ns = s.p50, .p99_ns = s.p99, .max_ns = s.max, .mean_ns = s.mean};
}

static void counters(const gsp__level_ctr *c, gsp_tier_level_stats *o) {
  o->hits = atomic_load_explicit(&c->hits, memory_order_relaxed);
  o->misses = atomic_load_explicit(&c->misses, memory_order_relaxed);
  o->promotions = atomic_load_explicit(&c->promotions, memory_order_relaxed);
  o->demotions = atomic_load_explicit(&c->demotions, memory_order_relaxed);
  o->corrupt = atomic_load_explicit(&c->corrupt, memory_order_relaxed);
  o->errors = atomic_load_explicit(&c->errors, memory_order_relaxed);
}

static void sizes(gsp_tier *t, gsp_tier_stats *out) {
  gsp_cache_stats cs;
  gsp_cache_config cc;
  gsp_cache_config_get(t->l1, &cc);
  out->level[0].capacity = cc.max_bytes;
  if (t->l2) gsp_cache_config_get(t->l2, &cc);
  if (t->l2) out->level[1].capacity = cc.max_bytes;
  gsp_cache_stats_get(t->l1, &cs);
  out->level[0].entries = cs.entries;
  out->level[0].bytes = cs.bytes;
  out->level[0].raw_bytes = cs.bytes;
  if (t->l2) {
    gsp_cache_stats_get(t->l2, &cs);
    out->level[1].entries = cs.entries;
    out->level[1].bytes = cs.bytes;
    out->level[1].raw_bytes = atomic_load(&t->l2_raw);
    uint64_t pay = atomic_load(&t->l2_payload);
    out->level[1].compression_ratio = pay ? (double)out->level[1].raw_bytes / (double)pay : 0;
  }
  if (t->l3)
    t->l3->ops->info(t->l3, &out->level[2].entries, &out->level[2].bytes, &out->level[2].capacity);
  if (t->l3) out->level[2].raw_bytes = out->level[2].bytes;
  if (t->wbh) out->wb_pending = gsp__wbh_pending(t);
  if (t->wb) {
    pthread_mutex_lock(&t->wbmu);
    out->wb_pending = t->wb_n;
    pthread_mutex_unlock(&t->wbmu);
  }
}

int gsp_tier_stats_get(gsp_tier *t, gsp_tier_stats *out) {
  if (t == NULL || out == NULL) return GSP_EINVAL;
  memset(out, 0, sizeof *out);
  out->level[0].present = true;
  out->level[1].present = t->l2 != NULL;
  out->level[2].present = t->l3 != NULL;
  for (int l = 0; l < GSP_TIER_LEVELS; l++) counters(&t->ctr[l], &out->level[l]);
  out->lookups = atomic_load(&t->lookups);
  out->hits = atomic_load(&t->hits);
  out->hit_rate = out->lookups ? (double)out->hits / (double)out->lookups : 0;
  sizes(t, out);
  gsp_hist_snap *snap;
  int st = gsp_hist_snap_create(&snap);
  if (st != GSP_OK) return st;
  for (int l = 0; l < GSP_TIER_LEVELS; l++) {
    latency(t->lat[l][0], snap, &out->level[l].read);
    latency(t->lat[l][1], snap, &out->level[l].write);
  }
  gsp_hist_snap_destroy(snap);
  return GSP_OK;
}

/* snprintf into buf at *n, tracking the length needed. */
static void emit(char *buf, size_t cap, size_t *n, const char *fmt, ...) GSP_PRINTF(4, 5);
static void emit(char *buf, size_t cap, size_t *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(*n < cap ? buf + *n : NULL, *n < cap ? cap - *n : 0, fmt, ap);
  va_end(ap);
  if (k > 0) *n += (size_t)k;
}

static void emit_lat(char *buf, size_t cap, size_t *n, const char *name,
                     const gsp_tier_latency *l) {
  emit(buf, cap, n,
       "\"%s\":{\"count\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu,"
       "\"mean_ns\":%.1f}",
       name, (unsigned long long)l->count, (unsigned long long)l->p50_ns,
       (unsigned long long)l->p99_ns, (unsigned long long)l->max_ns, l->mean_ns);
}

static void emit_level(char *buf, size_t cap, size_t *n, const gsp_tier_level_stats *l) {
  emit(buf, cap, n,
       "{\"present\":%s,\"hits\":%llu,\"misses\":%llu,\"promotions\":%llu,\"demotions\":%llu,"
       "\"corrupt\":%llu,\"errors\":%llu,\"entries\":%llu,\"bytes\":%llu,\"raw_bytes\":%llu,"
       "\"capacity\":%llu,\"compression_ratio\":%.3f,",
       l->present ? "true" : "false", (unsigned long long)l->hits, (unsigned long long)l->misses,
       (unsigned long long)l->promotions, (unsigned long long)l->demotions,
       (unsigned long long)l->corrupt, (unsigned long long)l->errors,
       (unsigned long long)l->entries, (unsigned long long)l->bytes,
       (unsigned long long)l->raw_bytes, (unsigned long long)l->capacity, l->compression_ratio);
  emit_lat(buf, cap, n, "read", &l->read);
  emit(buf, cap, n, ",");
  emit_lat(buf, cap, n, "write", &l->write);
  emit(buf, cap, n, "}");
}

size_t gsp_tier_stats_json(const gsp_tier_stats *s, char *buf, size_t cap) {
  size_t n = 0;
  if (cap) buf[0] = '\0';
  emit(buf, cap, &n, "{\"lookups\":%llu,\"hits\":%llu,\"hit_rate\":%.6f,\"wb_pending\":%llu",
       (unsigned long long)s->lookups, (unsigned long long)s->hits, s->hit_rate,
       (unsigned long long)s->wb_pending);
  static const char *names[] = {"l1", "l2", "l3"};
  for (int l = 0; l < GSP_TIER_LEVELS; l++) {
    emit(buf, cap, &n, ",\"%s\":", names[l]);
    emit_level(buf, cap, &n, &s->level[l]);
  }
  emit(buf, cap, &n, "}");
  return n;
}
