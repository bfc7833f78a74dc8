/*
 * engine.c - the optimization engine's life: create (its pools, caches,
 * metrics, memory monitor), destroy, the explicit default engine, the
 * caches it hands out to functions, and the per-cache metrics.
 *
 * Parts. `cpu` is a gsp_exec pool for CPU work (batches, LATENCY
 * computations, which it takes with the latency priority): max_workers
 * threads, or scaling between min_workers and max_workers when the config
 * sets min_workers. `io` is the dedicated I/O executor (gsp_io) for
 * blocking work (IO and LATENCY batch items, asynchronous calls that may
 * block): io_workers threads, scaling from min_workers alike. Both pools
 * export their statistics into the engine's registry (pool="optimize_cpu"
 * and pool="optimize_io", with ":NAME" after them for an engine not named
 * "default", so engines sharing a registry keep their series apart); the
 * engine keeps their queue-wait histograms
 * for the report. With enable_async OFF neither pool exists and
 * everything runs on the caller's thread.
 *
 * Caches live in the engine's gsp_cache_manager: "default" from the
 * start, others made on demand when a function names them (LRU,
 * cache_entries). A MEMORY function also owns a compressed multi-level
 * cache for its large results (memstore.c), destroyed with the function.
 *
 * Memory. The engine's own gsp_mempressure (unless one is lent) has
 * max_memory_mb = memory_limit_mb, the level's shedding strategy, and
 * every cache of the engine as a reclaimer. A lent monitor gets no
 * reclaimers (they could not be removed when the engine goes).
 *
 * Metrics: the function families are made at create (labels
 * function=NAME); the cache families too (cache=NAME), whose series are
 * made and fed by gsp_opt_metrics_sync() from the caches' statistics:
 * counters grow by the difference from the last sync (a statistics reset
 * starts a new base), gauges are set.
 *
 * The default engine is a process-wide pointer under a mutex, made by the
 * first gsp_opt_default() and destroyed by gsp_opt_default_shutdown():
 * the one global, and explicit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "opt_int.h"

void gsp__opt_seterr(gsp_opt_engine *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&e->mu);
  (void)vsnprintf(e->errmsg, sizeof e->errmsg, fmt, ap);
  pthread_mutex_unlock(&e->mu);
  va_end(ap);
}

const char *gsp_opt_errmsg(const gsp_opt_engine *e) { return e != NULL ? e->errmsg : ""; }

bool gsp__opt_name_ok(const char *name) {
  if (name == NULL) return false;
  size_t n = strlen(name);
  if (n == 0 || n > GSP__OPT_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    char ch = name[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("_.:/-", ch) != NULL;
    if (!ok) return false;
  }
  return true;
}

static int family(gsp_opt_engine *e, const char *name, const char *help, gsp_metric_type t,
                  const char *label, gsp_metric_family **out) {
  const char *labels[] = {label};
  gsp_metric_desc d = {.name = name, .help = help, .type = t, .label_names = labels, .nlabels = 1};
  return gsp_metrics_family(e->metrics, &d, out);
}

static int make_families(gsp_opt_engine *e) {
  int rv = family(e, "gsperf_function_calls_total", "Calls of an optimized function",
                  GSP_METRIC_COUNTER, "function", &e->f_calls);
  if (rv == GSP_OK)
    rv = family(e, "gsperf_function_errors_total", "Failed calls of an optimized function",
                GSP_METRIC_COUNTER, "function", &e->f_errors);
  if (rv == GSP_OK)
    rv = family(e, "gsperf_function_cache_hits_total", "Calls served from the cache",
                GSP_METRIC_COUNTER, "function", &e->f_hits);
  if (rv == GSP_OK)
    rv = family(e, "gsperf_function_cache_misses_total", "Calls that had to run the function",
                GSP_METRIC_COUNTER, "function", &e->f_misses);
  if (rv == GSP_OK)
    rv = family(e, "gsperf_function_duration_seconds", "Duration of a call through the engine",
                GSP_METRIC_HISTOGRAM, "function", &e->f_dur);
  if (rv == GSP_OK)
    rv =
        family(e, "gsperf_cache_hits_total", "Cache hits", GSP_METRIC_COUNTER, "cache", &e->c_hits);
  if (rv == GSP_OK)
    rv = family(e, "gsperf_cache_misses_total", "Cache misses", GSP_METRIC_COUNTER, "cache",
                &e->c_misses);
  if (rv == GSP_OK)
    rv = family(e, "gsperf_cache_evictions_total", "Entries evicted for capacity",
                GSP_METRIC_COUNTER, "cache", &e->c_evictions);
  if (rv == GSP_OK)
    rv = family(e, "gsperf_cache_entries", "Entries in the cache", GSP_METRIC_GAUGE, "cache",
                &e->c_entries);
  if (rv == GSP_OK)
    rv = family(e, "gsperf_cache_bytes", "Bytes held by the cache", GSP_METRIC_GAUGE, "cache",
                &e->c_bytes);
  return rv;
}

int gsp__opt_cache_for(gsp_opt_engine *e, const char *name, gsp_cache **out) {
  pthread_mutex_lock(&e->mu);
  gsp_cache *c = gsp_cache_manager_find(e->caches, name);
  int rv = GSP_OK;
  if (c == NULL) {
    gsp_cache_config cc = {.strategy = GSP_CACHE_LRU, .max_entries = e->cfg.cache_entries};
    rv = gsp_cache_manager_create_cache(e->caches, name, &cc, &c);
    if (rv == GSP_OK && e->own_mem)
      rv = gsp_mempressure_add_reclaimer(e->mem, name, gsp_mem_reclaim_cache, c);
    if (rv != GSP_OK && c != NULL) {
      (void)gsp_cache_manager_remove(e->caches, name);
      c = NULL;
    }
  }
  pthread_mutex_unlock(&e->mu);
  *out = c;
  return rv;
}

/* The queue-wait histogram the pool named `pool` exports (made by exec). */
static int wait_hist(gsp_opt_engine *e, const char *pool, gsp_hist **out) {
  static const char *const labels[] = {"pool"};
  gsp_metric_desc d = {.name = "gsp_exec_queue_wait_seconds",
                       .type = GSP_METRIC_HISTOGRAM,
                       .label_names = labels,
                       .nlabels = 1};
  gsp_metric_family *f = NULL;
  int rv = gsp_metrics_family(e->metrics, &d, &f);
  return rv != GSP_OK ? rv : gsp_metrics_histogram(f, &pool, out);
}

static int create_pools(gsp_opt_engine *e) {
  if (e->cfg.enable_async != GSP_OPT_ON) return GSP_OK;
  unsigned min = e->cfg.min_workers;
  gsp_exec_config cc = {.workers = e->cfg.max_workers, .metrics = e->metrics, .name = e->cpu_pool};
  if (min != 0 && min < e->cfg.max_workers) {
    cc.workers = min;
    cc.min_workers = min;
    cc.max_workers = e->cfg.max_workers;
  }
  unsigned io_threads = e->cfg.io_workers;
  gsp_io_config ic = {.threads = io_threads,
                      .min_threads = min != 0 && min < io_threads ? min : io_threads,
                      .metrics = e->metrics,
                      .name = e->io_pool};
  int rv = gsp_exec_create(&cc, &e->cpu);
  if (rv == GSP_OK) rv = gsp_io_create(&ic, &e->io);
  if (rv == GSP_OK) rv = wait_hist(e, e->cpu_pool, &e->cpu_wait);
  if (rv == GSP_OK) rv = wait_hist(e, e->io_pool, &e->io_wait);
  return rv;
}

static int create_mem(gsp_opt_engine *e) {
  if (e->cfg.mem != NULL) {
    e->mem = e->cfg.mem;
    return GSP_OK;
  }
  gsp_mempressure_config mc = {
      .max_memory_mb = e->cfg.memory_limit_mb,
      .mem_strategy =
          e->cfg.level == GSP_OPT_LEVEL_AGGRESSIVE ? GSP_MEM_AGGRESSIVE : GSP_MEM_BALANCED,
      .proc_root = e->proc_root,
  };
  int rv = gsp_mempressure_create(&mc, &e->mem);
  e->own_mem = rv == GSP_OK;
  return rv;
}

static int create_parts(gsp_opt_engine *e) {
  int rv = GSP_OK;
  if (e->cfg.metrics != NULL) {
    e->metrics = e->cfg.metrics;
  } else {
    rv = gsp_metrics_create(NULL, &e->metrics);
    e->own_metrics = rv == GSP_OK;
  }
  if (rv == GSP_OK) rv = make_families(e);
  if (rv == GSP_OK) rv = gsp_cache_manager_create(&e->caches);
  if (rv == GSP_OK) rv = create_mem(e);
  if (rv == GSP_OK) rv = create_pools(e);
  if (rv == GSP_OK && e->cfg.enable_caching == GSP_OPT_ON) {
    gsp_cache *c = NULL;
    rv = gsp__opt_cache_for(e, "default", &c);
  }
  return rv;
}

/* The config's strings become the engine's; the pools' label values. */
static int copy_strings(gsp_opt_engine *e) {
  const char *name = e->cfg.name != NULL ? e->cfg.name : "default";
  bool want_root = e->cfg.proc_root != NULL;
  e->name = gsp_strdup(name);
  if (want_root) e->proc_root = gsp_strdup(e->cfg.proc_root);
  e->cfg.name = e->name;
  e->cfg.proc_root = e->proc_root;
  if (e->name == NULL || (want_root && e->proc_root == NULL)) return GSP_ENOMEM;
  bool dflt = strcmp(name, "default") == 0;
  (void)snprintf(e->cpu_pool, sizeof e->cpu_pool, "optimize_cpu%s%s", dflt ? "" : ":",
                 dflt ? "" : name);
  (void)snprintf(e->io_pool, sizeof e->io_pool, "optimize_io%s%s", dflt ? "" : ":",
                 dflt ? "" : name);
  return GSP_OK;
}

int gsp_opt_engine_create(const gsp_opt_config *cfg, gsp_opt_engine **out) {
  if (out == NULL) return GSP_EINVAL;
  *out = NULL;
  if (gsp_opt_config_check(cfg, NULL, 0) != GSP_OK) return GSP_EINVAL;
  gsp_opt_engine *e = gsp_calloc(1, sizeof *e);
  if (e == NULL) return GSP_ENOMEM;
  gsp__opt_config_resolve(cfg, &e->cfg);
  if (pthread_mutex_init(&e->mu, NULL) != 0) {
    gsp_free(e);
    return GSP_ENOMEM;
  }
  int rv = copy_strings(e);
  if (rv == GSP_OK) rv = create_parts(e);
  if (rv != GSP_OK) {
    gsp_opt_engine_destroy(e);
    return rv;
  }
  *out = e;
  return GSP_OK;
}

static void func_free(gsp_opt_func *f) {
  gsp_tier_destroy(f->big);
  pthread_mutex_destroy(&f->fl_mu);
  pthread_mutex_destroy(&f->tp_mu);
  gsp_free(f->cache_name);
  gsp_free(f->name);
  gsp_free(f);
}

void gsp_opt_engine_destroy(gsp_opt_engine *e) {
  if (e == NULL) return;
  gsp_opt_stop_monitoring(e);
  gsp_io_destroy(e->io); /* drains: every task submitted runs first */
  gsp_exec_destroy(e->cpu);
  for (gsp_opt_func *f = e->funcs, *next; f != NULL; f = next) {
    next = f->next;
    func_free(f);
  }
  if (e->own_mem) gsp_mempressure_destroy(e->mem);
  gsp_cache_manager_destroy(e->caches);
  if (e->own_metrics) gsp_metrics_destroy(e->metrics);
  gsp_free(e->syncs);
  gsp_free(e->proc_root);
  gsp_free(e->name);
  pthread_mutex_destroy(&e->mu);
  gsp_free(e);
}

void gsp_opt_config_get(const gsp_opt_engine *e, gsp_opt_config *out) {
  if (e != NULL && out != NULL) *out = e->cfg;
}

gsp_metrics *gsp_opt_metrics(gsp_opt_engine *e) { return e ? e->metrics : NULL; }
gsp_cache_manager *gsp_opt_caches(gsp_opt_engine *e) { return e ? e->caches : NULL; }
gsp_exec *gsp_opt_cpu_pool(gsp_opt_engine *e) { return e ? e->cpu : NULL; }
gsp_io *gsp_opt_io_executor(gsp_opt_engine *e) { return e ? e->io : NULL; }
gsp_exec *gsp_opt_io_pool(gsp_opt_engine *e) { return e ? gsp__opt_io_exec(e) : NULL; }

/* The pool under the I/O executor, for statistics only (submissions go
   through gsp_io_submit). */
gsp_exec *gsp__opt_io_exec(gsp_opt_engine *e) { return gsp_io_exec(e->io); }
gsp_mempressure *gsp_opt_mempressure(gsp_opt_engine *e) { return e ? e->mem : NULL; }

int gsp_opt_start_monitoring(gsp_opt_engine *e) {
  if (e == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&e->mu);
  int rv = GSP_OK;
  if (!e->monitoring) {
    rv = e->own_mem ? gsp_mempressure_start(e->mem) : GSP_OK;
    if (rv == GSP_OK && e->cfg.monitor != NULL && !gsp_monitor_running(e->cfg.monitor)) {
      rv = gsp_monitor_start(e->cfg.monitor);
      e->started_monitor = rv == GSP_OK;
      if (rv != GSP_OK && e->own_mem) gsp_mempressure_stop(e->mem);
    }
    e->monitoring = rv == GSP_OK;
  }
  pthread_mutex_unlock(&e->mu);
  return rv;
}

void gsp_opt_stop_monitoring(gsp_opt_engine *e) {
  if (e == NULL) return;
  pthread_mutex_lock(&e->mu);
  if (e->monitoring) {
    if (e->own_mem) gsp_mempressure_stop(e->mem);
    if (e->started_monitor) gsp_monitor_stop(e->cfg.monitor); /* only what we started */
    e->started_monitor = false;
    e->monitoring = false;
  }
  pthread_mutex_unlock(&e->mu);
}

/* ---- the default engine --------------------------------------------------- */

static pthread_mutex_t g_default_mu = PTHREAD_MUTEX_INITIALIZER;
static gsp_opt_engine *g_default;

int gsp_opt_default(gsp_opt_engine **out, char *err, size_t errcap) {
  if (out == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&g_default_mu);
  int rv = GSP_OK;
  if (g_default == NULL) {
    gsp_opt_config cfg = {0};
    rv = gsp_opt_config_from_env(&cfg, err, errcap);
    if (rv == GSP_OK) rv = gsp_opt_engine_create(&cfg, &g_default);
  }
  *out = g_default;
  pthread_mutex_unlock(&g_default_mu);
  return rv;
}

void gsp_opt_default_shutdown(void) {
  pthread_mutex_lock(&g_default_mu);
  gsp_opt_engine_destroy(g_default);
  g_default = NULL;
  pthread_mutex_unlock(&g_default_mu);
}

/* ---- per-cache metrics ---------------------------------------------------- */

static gsp__opt_cache_sync *sync_for_locked(gsp_opt_engine *e, const char *name) {
  for (size_t i = 0; i < e->nsyncs; i++)
    if (strcmp(e->syncs[i].name, name) == 0) return &e->syncs[i];
  gsp__opt_cache_sync *ns = gsp_realloc(e->syncs, (e->nsyncs + 1) * sizeof *ns);
  if (ns == NULL) return NULL;
  e->syncs = ns;
  gsp__opt_cache_sync *s = &ns[e->nsyncs];
  memset(s, 0, sizeof *s);
  (void)snprintf(s->name, sizeof s->name, "%s", name);
  const char *lv[] = {s->name};
  if (gsp_metrics_counter(e->c_hits, lv, &s->hits) != GSP_OK ||
      gsp_metrics_counter(e->c_misses, lv, &s->misses) != GSP_OK ||
      gsp_metrics_counter(e->c_evictions, lv, &s->evictions) != GSP_OK ||
      gsp_metrics_gauge(e->c_entries, lv, &s->entries) != GSP_OK ||
      gsp_metrics_gauge(e->c_bytes, lv, &s->bytes) != GSP_OK)
    return NULL; /* series made so far stay in the registry; retried next sync */
  e->nsyncs++;
  return s;
}

static uint64_t delta(uint64_t now, uint64_t *last) {
  uint64_t d = now >= *last ? now - *last : now; /* reset: a new base */
  *last = now;
  return d;
}

void gsp_opt_metrics_sync(gsp_opt_engine *e) {
  if (e == NULL) return;
  pthread_mutex_lock(&e->mu);
  size_t n = gsp_cache_manager_count(e->caches);
  for (size_t i = 0; i < n; i++) {
    const char *name = gsp_cache_manager_name(e->caches, i);
    gsp_cache *c = name ? gsp_cache_manager_find(e->caches, name) : NULL;
    gsp__opt_cache_sync *s = c ? sync_for_locked(e, name) : NULL;
    if (s == NULL) continue;
    gsp_cache_stats st;
    gsp_cache_stats_get(c, &st);
    gsp_counter_add(s->hits, delta(st.hits, &s->last_hits));
    gsp_counter_add(s->misses, delta(st.misses, &s->last_misses));
    gsp_counter_add(s->evictions, delta(st.evictions, &s->last_evictions));
    gsp_gauge_set(s->entries, (double)st.entries);
    gsp_gauge_set(s->bytes, (double)st.bytes);
  }
  pthread_mutex_unlock(&e->mu);
}
