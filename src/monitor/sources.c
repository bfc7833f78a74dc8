/*
 * sources.c - collection sources: host callbacks run at every collection,
 * and the ready sources that export a cache's, a cache manager's and an
 * object pool's statistics into the monitor's metrics registry.
 *
 * Layout. mon->sources is a growable array (doubling) of {name, fn, user,
 * drop}, in registration order, guarded by eval_lock: a collection holds
 * eval_lock while it runs them, so add and remove wait for a collection in
 * progress, and once remove returns the source neither runs nor will run.
 * `drop` frees the state of a ready source (NULL for a host's own).
 *
 * Ready sources turn cumulative statistics into registry counters by
 * adding the difference since the previous collection; a value that went
 * down (the statistics were reset) counts as a restart from zero, so a
 * counter never goes backwards. (A reset after which a statistic has
 * already passed its old value by the next collection cannot be told from
 * growth: the counter then undercounts by the old value.) Current values (entries, bytes, live
 * objects) are gauges. Metric names follow the convention shared with the
 * optimization engine and the dashboard:
 *
 *   gsperf_cache_hits_total{cache}, gsperf_cache_misses_total{cache},
 *   gsperf_cache_evictions_total{cache}      counters
 *   gsperf_cache_entries{cache}, gsperf_cache_bytes{cache}   gauges
 *   gsperf_cache_hit_ratio{cache="NAME"}     monitor series: hits over
 *                                            lookups since the last
 *                                            collection (when there were any)
 *   gsp_pool_{live,cached,peak}_objects{pool}, gsp_pool_slab_bytes{pool}
 *                                            gauges
 *   gsp_pool_{refills,flushes,misses}_total{pool}   counters
 *
 * A cache manager's caches are read through gsp_cache_manager_stats_json()
 * (one consistent walk under the manager's lock, so a cache removed by
 * another thread is never touched) and parsed with jansson; a cache seen
 * for the first time gets its series, one that is gone keeps its last
 * values.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "monitor_int.h"

/* ---- the source table ----------------------------------------------------- */

static int add_locked(gsp_monitor *mon, const gsp__source *src) {
  for (size_t i = 0; i < mon->nsources; i++)
    if (strcmp(mon->sources[i].name, src->name) == 0) {
      gsp__mon_err(mon, "source \"%s\" is already registered", src->name);
      return GSP_EEXIST;
    }
  if (mon->nsources == mon->capsources) {
    size_t cap = mon->capsources ? mon->capsources * 2 : 4;
    gsp__source *s = gsp_realloc(mon->sources, cap * sizeof *s);
    if (s == NULL) return GSP_ENOMEM;
    mon->sources = s;
    mon->capsources = cap;
  }
  mon->sources[mon->nsources++] = *src;
  return GSP_OK;
}

/* Takes ownership of src->user when src->drop is set, even on failure. */
static int add_source(gsp_monitor *mon, const char *name, gsp_monitor_source_fn fn, void *user,
                      void (*drop)(void *)) {
  gsp__source src = {gsp_strdup(name), fn, user, drop};
  int rv = src.name ? GSP_OK : GSP_ENOMEM;
  if (rv == GSP_OK) {
    pthread_mutex_lock(&mon->eval_lock);
    rv = add_locked(mon, &src);
    pthread_mutex_unlock(&mon->eval_lock);
  }
  if (rv != GSP_OK) {
    gsp_free(src.name);
    if (drop) drop(user);
  }
  return rv;
}

int gsp_monitor_add_source(gsp_monitor *mon, const char *name, gsp_monitor_source_fn fn,
                           void *user) {
  if (mon == NULL || name == NULL || *name == '\0' || fn == NULL) return GSP_EINVAL;
  return add_source(mon, name, fn, user, NULL);
}

int gsp_monitor_remove_source(gsp_monitor *mon, const char *name) {
  if (mon == NULL || name == NULL) return GSP_EINVAL;
  gsp__source gone = {0};
  pthread_mutex_lock(&mon->eval_lock);
  for (size_t i = 0; i < mon->nsources && gone.name == NULL; i++) {
    if (strcmp(mon->sources[i].name, name) != 0) continue;
    gone = mon->sources[i];
    memmove(&mon->sources[i], &mon->sources[i + 1],
            (mon->nsources - i - 1) * sizeof mon->sources[0]);
    mon->nsources--;
  }
  pthread_mutex_unlock(&mon->eval_lock);
  if (gone.name == NULL) return GSP_ENOENT;
  if (gone.drop) gone.drop(gone.user);
  gsp_free(gone.name);
  return GSP_OK;
}

int gsp__run_sources_eval_locked(gsp_monitor *mon, uint64_t now) {
  int rv = GSP_OK;
  for (size_t i = 0; i < mon->nsources; i++) {
    int r = mon->sources[i].fn(mon->sources[i].user, mon, mon->metrics, now);
    if (r != GSP_OK && rv == GSP_OK) rv = r;
  }
  return rv;
}

void gsp__sources_free(gsp_monitor *mon) {
  for (size_t i = 0; i < mon->nsources; i++) {
    if (mon->sources[i].drop) mon->sources[i].drop(mon->sources[i].user);
    gsp_free(mon->sources[i].name);
  }
  gsp_free(mon->sources);
  mon->sources = NULL;
  mon->nsources = mon->capsources = 0;
}

/* ---- metric helpers --------------------------------------------------------- */

typedef union child_out {
  gsp_counter **c;
  gsp_gauge **g;
} child_out;

static int labeled(gsp_metrics *m, const char *name, const char *help, gsp_metric_type type,
                   const char *label, const char *value, child_out out) {
  const char *ln[1] = {label};
  const char *lv[1] = {value};
  gsp_metric_family *f;
  gsp_metric_desc d = {.name = name, .help = help, .type = type, .label_names = ln, .nlabels = 1};
  int rv = gsp_metrics_family(m, &d, &f);
  if (rv != GSP_OK) return rv;
  return type == GSP_METRIC_COUNTER ? gsp_metrics_counter(f, lv, out.c)
                                    : gsp_metrics_gauge(f, lv, out.g);
}

static int counter_of(gsp_metrics *m, const char *name, const char *help, const char *label,
                      const char *value, gsp_counter **out) {
  return labeled(m, name, help, GSP_METRIC_COUNTER, label, value, (child_out){.c = out});
}

static int gauge_of(gsp_metrics *m, const char *name, const char *help, const char *label,
                    const char *value, gsp_gauge **out) {
  return labeled(m, name, help, GSP_METRIC_GAUGE, label, value, (child_out){.g = out});
}

/* Add cur - *prev to c (cur alone if the statistic was reset); *prev = cur. */
static uint64_t advance(gsp_counter *c, uint64_t *prev, uint64_t cur) {
  uint64_t d = cur >= *prev ? cur - *prev : cur;
  if (d) gsp_counter_add(c, d);
  *prev = cur;
  return d;
}

/* ---- caches ----------------------------------------------------------------- */

typedef struct cache_export {
  char *name;
  char *series_labels; /* cache="NAME" */
  gsp_counter *hits, *misses, *evictions;
  gsp_gauge *entries, *bytes;
  uint64_t prev_hits, prev_misses, prev_evictions;
} cache_export;

static void cache_export_free(cache_export *e) {
  if (e == NULL) return;
  gsp_free(e->name);
  gsp_free(e->series_labels);
  gsp_free(e);
}

static int cache_export_new(gsp_metrics *m, const char *name, cache_export **out) {
  cache_export *e = gsp_calloc(1, sizeof *e);
  if (e == NULL) return GSP_ENOMEM;
  size_t n = strlen(name) + 10;
  e->name = gsp_strdup(name);
  e->series_labels = gsp_malloc(n);
  int rv = e->name && e->series_labels ? GSP_OK : GSP_ENOMEM;
  if (rv == GSP_OK) snprintf(e->series_labels, n, "cache=\"%s\"", name);
  if (rv == GSP_OK)
    rv = counter_of(m, "gsperf_cache_hits_total", "Cache lookups that found the key", "cache", name,
                    &e->hits);
  if (rv == GSP_OK)
    rv = counter_of(m, "gsperf_cache_misses_total", "Cache lookups that missed", "cache", name,
                    &e->misses);
  if (rv == GSP_OK)
    rv = counter_of(m, "gsperf_cache_evictions_total", "Entries evicted for capacity", "cache",
                    name, &e->evictions);
  if (rv == GSP_OK)
    rv = gauge_of(m, "gsperf_cache_entries", "Entries in the cache", "cache", name, &e->entries);
  if (rv == GSP_OK)
    rv = gauge_of(m, "gsperf_cache_bytes", "Bytes charged to the cache's entries", "cache", name,
                  &e->bytes);
  if (rv != GSP_OK) {
    cache_export_free(e);
    return rv;
  }
  *out = e;
  return GSP_OK;
}

static int cache_export_update(gsp_monitor *mon, cache_export *e, const gsp_cache_stats *s,
                               uint64_t now) {
  uint64_t dh = advance(e->hits, &e->prev_hits, s->hits);
  uint64_t dm = advance(e->misses, &e->prev_misses, s->misses);
  (void)advance(e->evictions, &e->prev_evictions, s->evictions);
  gsp_gauge_set(e->entries, (double)s->entries);
  gsp_gauge_set(e->bytes, (double)s->bytes);
  if (dh + dm == 0) return GSP_OK;
  return gsp_monitor_record(mon, "gsperf_cache_hit_ratio", e->series_labels,
                            (double)dh / (double)(dh + dm), now);
}

typedef struct cache_src {
  gsp_cache *cache;
  cache_export *e;
} cache_src;

static void cache_src_drop(void *user) {
  cache_src *cs = user;
  cache_export_free(cs->e);
  gsp_free(cs);
}

static int cache_src_run(void *user, gsp_monitor *mon, gsp_metrics *m, uint64_t now) {
  (void)m;
  cache_src *cs = user;
  gsp_cache_stats s;
  gsp_cache_stats_get(cs->cache, &s);
  return cache_export_update(mon, cs->e, &s, now);
}

/* A label value that also fits a source name ("cache:" + name). */
static bool name_ok(const char *name) {
  return name != NULL && *name != '\0' && strlen(name) <= GSP__SOURCE_NAME_MAX;
}

static int check_registry(gsp_monitor *mon, const char *what) {
  if (mon->metrics != NULL) return GSP_OK;
  gsp__mon_err(mon, "%s: the monitor has no metrics registry (config .metrics)", what);
  return GSP_EINVAL;
}

int gsp_monitor_add_cache(gsp_monitor *mon, const char *name, gsp_cache *cache) {
  if (mon == NULL || !name_ok(name) || cache == NULL) return GSP_EINVAL;
  int rv = check_registry(mon, "gsp_monitor_add_cache");
  if (rv != GSP_OK) return rv;
  cache_src *cs = gsp_calloc(1, sizeof *cs);
  if (cs == NULL) return GSP_ENOMEM;
  cs->cache = cache;
  rv = cache_export_new(mon->metrics, name, &cs->e);
  if (rv != GSP_OK) {
    gsp_free(cs);
    return rv;
  }
  char src_name[GSP__SOURCE_NAME_MAX + 16];
  snprintf(src_name, sizeof src_name, "cache:%s", name);
  return add_source(mon, src_name, cache_src_run, cs, cache_src_drop);
}

/* ---- a cache manager ---------------------------------------------------------- */

typedef struct mgr_src {
  gsp_cache_manager *mgr;
  cache_export **e;
  size_t n, cap;
  char *buf;
  size_t buf_cap;
} mgr_src;

static void mgr_src_drop(void *user) {
  mgr_src *ms = user;
  for (size_t i = 0; i < ms->n; i++) cache_export_free(ms->e[i]);
  gsp_free(ms->e);
  gsp_free(ms->buf);
  gsp_free(ms);
}

/* The manager's statistics as text in ms->buf (grown as needed). */
static int mgr_fetch(mgr_src *ms) {
  for (;;) {
    size_t need = gsp_cache_manager_stats_json(ms->mgr, ms->buf, ms->buf_cap);
    if (ms->buf != NULL && need < ms->buf_cap) return GSP_OK;
    size_t cap = need + need / 2 + 256;
    char *b = gsp_realloc(ms->buf, cap);
    if (b == NULL) return GSP_ENOMEM;
    ms->buf = b;
    ms->buf_cap = cap;
  }
}

static int mgr_export_of(mgr_src *ms, gsp_metrics *m, const char *name, cache_export **out) {
  for (size_t i = 0; i < ms->n; i++)
    if (strcmp(ms->e[i]->name, name) == 0) {
      *out = ms->e[i];
      return GSP_OK;
    }
  if (ms->n == ms->cap) {
    size_t cap = ms->cap ? ms->cap * 2 : 8;
    cache_export **e = gsp_realloc(ms->e, cap * sizeof(cache_export *));
    if (e == NULL) return GSP_ENOMEM;
    ms->e = e;
    ms->cap = cap;
  }
  int rv = cache_export_new(m, name, &ms->e[ms->n]);
  if (rv == GSP_OK) *out = ms->e[ms->n++];
  return rv;
}

static uint64_t json_u64(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int mgr_src_run(void *user, gsp_monitor *mon, gsp_metrics *m, uint64_t now) {
  mgr_src *ms = user;
  int rv = mgr_fetch(ms);
  if (rv != GSP_OK) return rv;
  json_t *root = json_loads(ms->buf, 0, NULL);
  if (root == NULL) return GSP_ENOMEM; /* the manager writes valid JSON: out of memory */
  const char *name;
  json_t *o;
  json_object_foreach(root, name, o) {
    cache_export *e;
    int r = mgr_export_of(ms, m, name, &e);
    if (r == GSP_OK) {
      gsp_cache_stats s = {.hits = json_u64(o, "hits"),
                           .misses = json_u64(o, "misses"),
                           .evictions = json_u64(o, "evictions"),
                           .entries = json_u64(o, "entries"),
                           .bytes = json_u64(o, "bytes")};
      r = cache_export_update(mon, e, &s, now);
    }
    if (r != GSP_OK && rv == GSP_OK) rv = r;
  }
  json_decref(root);
  return rv;
}

int gsp_monitor_add_cache_manager(gsp_monitor *mon, const char *name, gsp_cache_manager *mgr) {
  if (mon == NULL || name == NULL || *name == '\0' || mgr == NULL) return GSP_EINVAL;
  int rv = check_registry(mon, "gsp_monitor_add_cache_manager");
  if (rv != GSP_OK) return rv;
  mgr_src *ms = gsp_calloc(1, sizeof *ms);
  if (ms == NULL) return GSP_ENOMEM;
  ms->mgr = mgr;
  return add_source(mon, name, mgr_src_run, ms, mgr_src_drop);
}

/* ---- object pools --------------------------------------------------------------- */

typedef struct pool_src {
  gsp_pool *pool;
  gsp_gauge *live, *cached, *peak, *slab_bytes;
  gsp_counter *refills, *flushes, *misses;
  uint64_t prev_refills, prev_flushes, prev_misses;
} pool_src;

static void pool_src_drop(void *user) { gsp_free(user); }

static int pool_src_run(void *user, gsp_monitor *mon, gsp_metrics *m, uint64_t now) {
  (void)mon;
  (void)m;
  (void)now;
  pool_src *ps = user;
  gsp_pool_stats s;
  gsp_pool_stats_get(ps->pool, &s);
  gsp_gauge_set(ps->live, (double)s.live);
  gsp_gauge_set(ps->cached, (double)s.cached);
  gsp_gauge_set(ps->peak, (double)s.peak);
  gsp_gauge_set(ps->slab_bytes, (double)s.slab_bytes);
  (void)advance(ps->refills, &ps->prev_refills, s.refills);
  (void)advance(ps->flushes, &ps->prev_flushes, s.flushes);
  (void)advance(ps->misses, &ps->prev_misses, s.misses);
  return GSP_OK;
}

static int pool_metrics(gsp_metrics *m, const char *name, pool_src *ps) {
  int rv = gauge_of(m, "gsp_pool_live_objects", "Pool objects allocated and not freed", "pool",
                    name, &ps->live);
  if (rv == GSP_OK)
    rv = gauge_of(m, "gsp_pool_cached_objects", "Pool objects carved and free", "pool", name,
                  &ps->cached);
  if (rv == GSP_OK)
    rv = gauge_of(m, "gsp_pool_peak_objects", "Most pool objects out of the depot at once", "pool",
                  name, &ps->peak);
  if (rv == GSP_OK)
    rv = gauge_of(m, "gsp_pool_slab_bytes", "Bytes of the pool's slabs", "pool", name,
                  &ps->slab_bytes);
  if (rv == GSP_OK)
    rv = counter_of(m, "gsp_pool_refills_total", "Thread caches refilled from the depot", "pool",
                    name, &ps->refills);
  if (rv == GSP_OK)
    rv = counter_of(m, "gsp_pool_flushes_total", "Thread caches flushed to the depot", "pool", name,
                    &ps->flushes);
  if (rv == GSP_OK)
    rv = counter_of(m, "gsp_pool_misses_total", "Refills that carved new objects", "pool", name,
                    &ps->misses);
  return rv;
}

int gsp_monitor_add_pool(gsp_monitor *mon, const char *name, gsp_pool *pool) {
  if (mon == NULL || !name_ok(name) || pool == NULL) return GSP_EINVAL;
  int rv = check_registry(mon, "gsp_monitor_add_pool");
  if (rv != GSP_OK) return rv;
  pool_src *ps = gsp_calloc(1, sizeof *ps);
  if (ps == NULL) return GSP_ENOMEM;
  ps->pool = pool;
  rv = pool_metrics(mon->metrics, name, ps);
  if (rv != GSP_OK) {
    gsp_free(ps);
    return rv;
  }
  char src_name[GSP__SOURCE_NAME_MAX + 16];
  snprintf(src_name, sizeof src_name, "pool:%s", name);
  return add_source(mon, src_name, pool_src_run, ps, pool_src_drop);
}
