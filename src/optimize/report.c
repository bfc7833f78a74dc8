/*
 * report.c - the optimization report as JSON (the seed's
 * get_optimization_report()).
 *
 * The text is written by a small growing string builder (gsp_realloc, so
 * the fault tests reach it) in a fixed key order; the schema is documented
 * in docs/optimize.md and named by the "schema" key. Numbers: counts are
 * integers, durations seconds as doubles, rates in [0, 1], percents in
 * [0, 100]. Names (functions, caches) are restricted to a safe character
 * set; alert rule and series names are escaped.
 *
 * Sources: function statistics (gsp_opt_func_stats_get), each cache of the
 * engine's manager (gsp_cache_stats_get; level "L1"), each MEMORY
 * function's compressed store (gsp_tier_stats_get, "<function>:compressed",
 * every configured level under "levels"), the memory-pressure monitor (the last sample when its
 * thread runs, else a sample taken now, which like any sample may run the
 * reclaimers under pressure), <proc_root>/meminfo for the
 * system's memory, the pools' worker counts and the engine's batch
 * counters, the lent monitor's event history for "alerts", and for
 * "profiler" a symbolized snapshot of a profile (its hottest functions)
 * and the process's timing zones. The profile is the first found of: the
 * one lent with gsp_opt_set_profiler ("source":"lent"), the CPU profile
 * running in this process (gsp_prof_with_active, "active"), the preload
 * library's raw file of this process ($GSP_PROF_DIR/cpu.<pid>.raw,
 * "preload"); with none that part is {"available":false} with empty lists.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opt_int.h"

typedef struct sb {
  char *buf;
  size_t len, cap;
  int err;
} sb;

static void sb_put(sb *s, const char *fmt, ...) GSP_PRINTF(2, 3);
static void sb_put(sb *s, const char *fmt, ...) {
  if (s->err != GSP_OK) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf ? s->buf + s->len : NULL, s->buf ? s->cap - s->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      s->err = GSP_EINVAL;
      return;
    }
    if (s->buf != NULL && s->len + (size_t)n < s->cap) {
      s->len += (size_t)n;
      return;
    }
    size_t ncap = (s->cap ? s->cap * 2 : 4096) + (size_t)n;
    char *nb = gsp_realloc(s->buf, ncap);
    if (nb == NULL) {
      s->err = GSP_ENOMEM;
      return;
    }
    s->buf = nb;
    s->cap = ncap;
  }
}

static void sb_str(sb *s, const char *str) {
  sb_put(s, "\"");
  for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
    if (*p == '"' || *p == '\\')
      sb_put(s, "\\%c", *p);
    else if (*p < 0x20)
      sb_put(s, "\\u%04x", *p);
    else
      sb_put(s, "%c", *p);
  }
  sb_put(s, "\"");
}

static double sec(uint64_t ns) { return (double)ns / 1e9; }

static void put_engine(sb *s, const gsp_opt_config *c) {
  sb_put(s,
         "\"engine\":{\"name\":\"%s\",\"level\":\"%s\",\"strategy\":\"%s\",\"max_workers\":%u,"
         "\"io_workers\":%u,\"enable_async\":%s,\"enable_caching\":%s,"
         "\"memory_limit_mb\":%" PRIu64
         ",\"timeout_seconds\":%.6g,\"cache_entries\":%zu,"
         "\"max_value_bytes\":%zu,\"batch_size\":%u,\"batch_window_us\":%u}",
         c->name != NULL ? c->name : "default", gsp_opt_level_name(c->level),
         gsp_opt_strategy_name(c->strategy), c->max_workers,
         c->enable_async == GSP_OPT_ON ? c->io_workers : 0,
         c->enable_async == GSP_OPT_ON ? "true" : "false",
         c->enable_caching == GSP_OPT_ON ? "true" : "false", c->memory_limit_mb, c->timeout_seconds,
         c->cache_entries, c->max_value_bytes, c->batch_size, c->batch_window_us);
}

static void put_func(sb *s, gsp_opt_func *f, bool first) {
  gsp_opt_func_stats st;
  if (gsp_opt_func_stats_get(f, &st) != GSP_OK) {
    s->err = GSP_ENOMEM;
    return;
  }
  const gsp_hist_summary *d = &st.duration;
  sb_put(s, "%s", first ? "" : ",");
  sb_str(s, f->name);
  sb_put(s, ":{\"strategy\":\"%s\",\"cache\":",
         f->fn ? gsp_opt_strategy_name(f->o.strategy) : "monitor");
  if (f->cache_name != NULL)
    sb_str(s, f->cache_name);
  else
    sb_put(s, "null");
  sb_put(s,
         ",\"calls\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"timeouts\":%" PRIu64
         ",\"batches\":%" PRIu64 ",\"cache_hits\":%" PRIu64 ",\"cache_misses\":%" PRIu64
         ",\"hit_rate\":%.6g,\"duration_seconds\":{\"count\":%" PRIu64
         ",\"mean\":%.9g,\"p50\":%.9g,\"p90\":%.9g,\"p99\":%.9g,\"max\":%.9g}}",
         st.calls, st.errors, st.timeouts, st.batches, st.cache_hits, st.cache_misses, st.hit_rate,
         d->count, d->mean / 1e9, sec(d->p50), sec(d->p90), sec(d->p99), sec(d->max));
}

static void put_funcs(sb *s, gsp_opt_engine *e) {
  sb_put(s, ",\"optimized_functions\":{");
  pthread_mutex_lock(&e->mu);
  gsp_opt_func *list = e->funcs; /* functions are never removed: the list is stable */
  pthread_mutex_unlock(&e->mu);
  for (gsp_opt_func *f = list; f != NULL; f = f->next) put_func(s, f, f == list);
  sb_put(s, "}");
}

/* One level of a tier's statistics, as "Ln":{...}. */
static void put_level(sb *s, bool comma, int i, const gsp_tier_level_stats *l) {
  sb_put(s,
         "%s\"L%d\":{\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"entries\":%" PRIu64
         ",\"bytes\":%" PRIu64 ",\"raw_bytes\":%" PRIu64 ",\"capacity\":%" PRIu64
         ",\"promotions\":%" PRIu64 ",\"demotions\":%" PRIu64 ",\"corrupt\":%" PRIu64
         ",\"errors\":%" PRIu64 ",\"compression_ratio\":%.6g}",
         comma ? "," : "", i + 1, l->hits, l->misses, l->entries, l->bytes, l->raw_bytes,
         l->capacity, l->promotions, l->demotions, l->corrupt, l->errors, l->compression_ratio);
}

/* A MEMORY function's compressed store, named "<function>:compressed":
 * the totals as a cache's, and each configured level under "levels". */
static void put_tier(sb *s, gsp_opt_func *f) {
  gsp_tier_stats ts;
  (void)gsp_tier_stats_get(f->big, &ts); /* ENOMEM leaves only latencies zero */
  uint64_t entries = 0, bytes = 0;
  for (int i = 0; i < GSP_TIER_LEVELS; i++) {
    entries += ts.level[i].entries;
    bytes += ts.level[i].bytes;
  }
  char name[GSP__OPT_NAME_MAX + 16];
  snprintf(name, sizeof name, "%s:compressed", f->name);
  sb_str(s, name);
  sb_put(s,
         ":{\"level\":\"L1+L2\",\"strategy\":\"lru\",\"max_entries\":0,\"hits\":%" PRIu64
         ",\"misses\":%" PRIu64 ",\"hit_rate\":%.6g,\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64
         ",\"levels\":{",
         ts.hits, ts.lookups - ts.hits, ts.hit_rate, entries, bytes);
  bool first = true;
  for (int i = 0; i < GSP_TIER_LEVELS; i++) {
    if (!ts.level[i].present) continue;
    put_level(s, !first, i, &ts.level[i]);
    first = false;
  }
  sb_put(s, "}}");
}

static void put_caches(sb *s, gsp_opt_engine *e) {
  sb_put(s, ",\"cache_stats\":{");
  pthread_mutex_lock(&e->mu); /* names stay valid: the engine creates caches under mu */
  size_t n = gsp_cache_manager_count(e->caches);
  bool first = true;
  for (size_t i = 0; i < n; i++) {
    const char *name = gsp_cache_manager_name(e->caches, i);
    gsp_cache *c = name ? gsp_cache_manager_find(e->caches, name) : NULL;
    if (c == NULL) continue;
    gsp_cache_stats st;
    gsp_cache_config cc;
    gsp_cache_stats_get(c, &st);
    gsp_cache_config_get(c, &cc);
    sb_put(s, "%s", first ? "" : ",");
    first = false;
    sb_str(s, name);
    sb_put(s,
           ":{\"level\":\"L1\",\"strategy\":\"%s\",\"max_entries\":%zu,\"hits\":%" PRIu64
           ",\"misses\":%" PRIu64 ",\"hit_rate\":%.6g,\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"insertions\":%" PRIu64 ",\"evictions\":%" PRIu64 ",\"expirations\":%" PRIu64
           ",\"levels\":{\"L1\":{\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"entries\":%" PRIu64
           ",\"bytes\":%" PRIu64 "}}}",
           gsp_cache_strategy_name(cc.strategy), cc.max_entries, st.hits, st.misses, st.hit_rate,
           st.entries, st.bytes, st.insertions, st.evictions, st.expirations, st.hits, st.misses,
           st.entries, st.bytes);
  }
  gsp_opt_func *list = e->funcs;
  pthread_mutex_unlock(&e->mu);
  for (gsp_opt_func *f = list; f != NULL; f = f->next) {
    if (f->big == NULL) continue;
    sb_put(s, "%s", first ? "" : ",");
    first = false;
    put_tier(s, f);
  }
  sb_put(s, "}");
}

/* The kB value of a "Key:   123 kB" line into *bytes; false if not that key. */
static bool meminfo_field(const char *line, const char *key, uint64_t *bytes) {
  size_t n = strlen(key);
  if (strncmp(line, key, n) != 0) return false;
  char *end = NULL;
  errno = 0;
  unsigned long long kb = strtoull(line + n, &end, 10);
  if (errno != 0 || end == line + n) return false;
  *bytes = (uint64_t)kb * 1024u;
  return true;
}

int gsp__opt_read_meminfo(const char *proc_root, uint64_t *total, uint64_t *avail) {
  char path[512];
  (void)snprintf(path, sizeof path, "%s/meminfo", proc_root ? proc_root : "/proc");
  FILE *fp = fopen(path, "re");
  if (fp == NULL) return GSP_EIO;
  char line[256];
  unsigned found = 0;
  *total = *avail = 0;
  while (fgets(line, sizeof line, fp) != NULL) {
    if (meminfo_field(line, "MemTotal:", total)) found |= 1;
    if (meminfo_field(line, "MemAvailable:", avail)) found |= 2;
  }
  (void)fclose(fp);
  return found == 3 ? GSP_OK : GSP_EFORMAT;
}

static void put_pressure(sb *s, gsp_opt_engine *e, const gsp_mem_sample *m) {
  gsp_mempressure_stats ps;
  gsp_mempressure_stats_get(e->mem, &ps);
  gsp_mem_event ev[16];
  size_t nev = gsp_mempressure_history(e->mem, ev, 16);
  sb_put(s,
         ",\"pressure\":{\"level\":\"%s\",\"limit_bytes\":%" PRIu64
         ",\"usage_ratio\":%.6g,\"events\":%" PRIu64 ",\"reclaims\":%" PRIu64
         ",\"reclaimed_bytes\":%" PRIu64 ",\"history\":[",
         gsp_mem_level_name(m->level), m->limit_bytes, m->ratio, ps.events, ps.reclaims,
         ps.reclaimed_bytes);
  for (size_t i = 0; i < nev; i++)
    sb_put(s, "%s{\"from\":\"%s\",\"to\":\"%s\",\"rss_bytes\":%" PRIu64 ",\"ratio\":%.6g}",
           i ? "," : "", gsp_mem_level_name(ev[i].from), gsp_mem_level_name(ev[i].to),
           ev[i].rss_bytes, ev[i].ratio);
  sb_put(s, "]}");
}

static void put_memory(sb *s, gsp_opt_engine *e) {
  gsp_mem_sample m;
  if (e->monitoring && e->own_mem)
    gsp_mempressure_last(e->mem, &m);
  else
    (void)gsp_mempressure_sample_now(e->mem, &m); /* a partial sample still has what it read */
  uint64_t total = 0, avail = 0;
  bool sys_ok = gsp__opt_read_meminfo(e->proc_root, &total, &avail) == GSP_OK && total > 0;
  double pct = sys_ok ? 100.0 * (double)(total - avail) / (double)total : 0.0;
  sb_put(s,
         ",\"memory_stats\":{\"process_memory\":{\"rss_bytes\":%" PRIu64 ",\"heap_bytes\":%" PRIu64
         "},\"system_memory\":{\"available\":%s,\"total_bytes\":%" PRIu64
         ",\"available_bytes\":%" PRIu64 ",\"used_bytes\":%" PRIu64 ",\"memory_percent\":%.4f}",
         m.rss_bytes, m.heap_bytes, sys_ok ? "true" : "false", total, avail,
         sys_ok ? total - avail : 0, pct);
  put_pressure(s, e, &m);
  sb_put(s, "}");
}

/* Queue wait (submission to start) of a pool's tasks, in ns. */
static void put_wait(sb *s, gsp_hist *h) {
  gsp_hist_summary sum = {0};
  gsp_hist_snap *snap = NULL;
  if (h != NULL && gsp_hist_snap_create(&snap) == GSP_OK) {
    gsp_hist_snapshot(h, snap);
    gsp_hist_snap_summary(snap, &sum);
  }
  gsp_hist_snap_destroy(snap);
  sb_put(s,
         ",\"queue_wait_ns\":{\"count\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p99\":%" PRIu64
         ",\"max\":%" PRIu64 "}",
         sum.count, sum.p50, sum.p99, sum.max);
}

/* The common part of both pools: tasks, steals, workers and scaling. */
static void put_exec(sb *s, gsp_exec *ex, gsp_hist *wait) {
  gsp_exec_stats st = {0};
  if (ex != NULL) (void)gsp_exec_stats_get(ex, &st);
  sb_put(s,
         "\"workers\":%u,\"tasks_run\":%" PRIu64 ",\"tasks_stolen\":%" PRIu64
         ",\"queued\":%zu,\"scaling\":{\"enabled\":%s,\"min_workers\":%u,"
         "\"max_workers\":%u,\"peak_workers\":%u,\"grown\":%" PRIu64 ",\"shrunk\":%" PRIu64 "}",
         st.workers, st.tasks_run, st.tasks_stolen, st.queued,
         st.max_workers > st.min_workers ? "true" : "false", st.min_workers, st.max_workers,
         st.peak_workers, st.workers_grown, st.workers_shrunk);
  put_wait(s, wait);
}

static void put_pools(sb *s, gsp_opt_engine *e) {
  sb_put(s, ",\"pool_stats\":{\"cpu\":{");
  put_exec(s, e->cpu, e->cpu_wait);
  sb_put(s, ",\"batches\":%" PRIu64 "},\"io\":{", atomic_load(&e->cpu_batches));
  put_exec(s, e->io ? gsp__opt_io_exec(e) : NULL, e->io_wait);
  gsp_io_stats io = {0};
  if (e->io != NULL) (void)gsp_io_stats_get(e->io, &io);
  sb_put(s,
         ",\"tasks\":%" PRIu64
         ",\"executor\":\"%s\",\"pending\":%zu,\"uring\":%s,"
         "\"uring_reads\":%" PRIu64 ",\"pread_reads\":%" PRIu64 ",\"bytes_read\":%" PRIu64 "}}",
         atomic_load(&e->io_tasks), e->io ? "gsp_io" : "none", io.pending,
         gsp_io_uses_uring(e->io) ? "true" : "false", io.uring_reads, io.pread_reads,
         io.bytes_read);
}

static void put_alerts(sb *s, gsp_opt_engine *e) {
  sb_put(s, ",\"alerts\":[");
  if (e->cfg.monitor != NULL) {
    gsp_alert_event ev[32];
    size_t n = gsp_monitor_events(e->cfg.monitor, ev, 32);
    for (size_t i = 0; i < n; i++) {
      static const char *const kinds[] = {"firing", "resolved", "regression"};
      sb_put(s, "%s{\"kind\":\"%s\",\"level\":\"%s\",\"rule\":", i ? "," : "",
             (unsigned)ev[i].kind < 3 ? kinds[ev[i].kind] : "unknown",
             gsp_alert_level_name(ev[i].level));
      sb_str(s, ev[i].rule);
      sb_put(s, ",\"series\":");
      sb_str(s, ev[i].series);
      sb_put(s, ",\"value\":%.6g,\"threshold\":%.6g}", ev[i].value, ev[i].baseline);
    }
  }
  sb_put(s, "]");
}

#define PROF_TOP 20

void gsp_opt_set_profiler(gsp_opt_engine *e, gsp_prof *p) {
  if (e == NULL) return;
  pthread_mutex_lock(&e->mu);
  e->prof = p;
  pthread_mutex_unlock(&e->mu);
}

static void put_top(sb *s, const gsp_prof_report *r) {
  const gsp_prof_func *fn = NULL;
  size_t n = gsp_prof_report_functions(r, &fn);
  sb_put(s, ",\"top_functions\":[");
  for (size_t i = 0; i < n && i < PROF_TOP; i++) {
    sb_put(s, "%s{\"name\":", i ? "," : "");
    sb_str(s, fn[i].name);
    sb_put(s, ",\"self_pct\":%.4f,\"total_pct\":%.4f,\"self_samples\":%" PRIu64 "}", fn[i].self_pct,
           fn[i].total_pct, fn[i].self);
  }
  sb_put(s, "]");
}

static void put_zones(sb *s) {
  gsp_prof_zone_stats *z = NULL;
  size_t n = 0;
  int rv = gsp_prof_zones_get(&z, &n);
  if (rv != GSP_OK) {
    s->err = rv;
    return;
  }
  sb_put(s, ",\"zones\":[");
  for (size_t i = 0; i < n; i++) {
    sb_put(s, "%s{\"name\":", i ? "," : "");
    sb_str(s, z[i].name);
    sb_put(s,
           ",\"count\":%" PRIu64
           ",\"total_seconds\":%.9g,\"self_seconds\":%.9g,\"p50\":%.9g,\"p99\":%.9g}",
           z[i].count, sec(z[i].total_ns), sec(z[i].self_ns), sec(z[i].p50_ns), sec(z[i].p99_ns));
  }
  sb_put(s, "]");
  gsp_free(z);
}

static int active_report(gsp_prof *p, void *user) { return gsp_prof_report_create(p, user); }

/* The preload library's profile of this process (`gsperf profile`): its raw
 * file, $GSP_PROF_DIR/cpu.<pid>.raw, read as it is being appended to. */
static int preload_report(gsp_prof_report **r) {
  const char *dir = getenv("GSP_PROF_DIR");
  if (dir == NULL || dir[0] == '\0') return GSP_ENOENT;
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/cpu.%ld.raw", dir, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof path || access(path, R_OK) != 0) return GSP_ENOENT;
  return gsp_prof_report_load(path, 0, r);
}

/* The profile to report, first found: lent, running in-process, preload. */
static int find_profile(gsp_opt_engine *e, gsp_prof_report **r, const char **source) {
  pthread_mutex_lock(&e->mu);
  gsp_prof *p = e->prof; /* the host keeps it alive while lent */
  pthread_mutex_unlock(&e->mu);
  *source = "lent";
  if (p != NULL) return gsp_prof_report_create(p, r);
  *source = "active";
  int rv = gsp_prof_with_active(active_report, r);
  if (rv != GSP_ENOENT) return rv;
  *source = "preload";
  return preload_report(r);
}

/* A profile's hottest functions and the zones; unavailable without one. */
static void put_profiler(sb *s, gsp_opt_engine *e) {
  gsp_prof_report *r = NULL;
  const char *source = NULL;
  int rv = find_profile(e, &r, &source);
  if (rv == GSP_ENOENT) {
    sb_put(s, ",\"profiler\":{\"available\":false,\"top_functions\":[],\"zones\":[]}");
    return;
  }
  if (rv == GSP_ENOMEM) {
    s->err = rv;
    return;
  }
  if (rv != GSP_OK) { /* e.g. the memory map unreadable: say so, keep the rest */
    sb_put(s, ",\"profiler\":{\"available\":false,\"error\":");
    sb_str(s, gsp_strerror(rv));
    sb_put(s, ",\"top_functions\":[],\"zones\":[],\"source\":\"%s\"}", source);
    return;
  }
  sb_put(s, ",\"profiler\":{\"available\":true,\"samples\":%" PRIu64, gsp_prof_report_samples(r));
  put_top(s, r);
  gsp_prof_report_destroy(r);
  put_zones(s);
  sb_put(s, ",\"source\":\"%s\"}", source);
}

int gsp_opt_report_json(gsp_opt_engine *e, char **out, size_t *len) {
  if (e == NULL || out == NULL) return GSP_EINVAL;
  *out = NULL;
  gsp_opt_metrics_sync(e);
  sb s = {0};
  sb_put(&s, "{\"schema\":\"gsperf.optimization_report.v1\",");
  put_engine(&s, &e->cfg);
  put_funcs(&s, e);
  put_caches(&s, e);
  put_memory(&s, e);
  put_pools(&s, e);
  put_alerts(&s, e);
  put_profiler(&s, e);
  sb_put(&s, "}\n");
  if (s.err != GSP_OK) {
    gsp_free(s.buf);
    return s.err;
  }
  *out = s.buf;
  if (len != NULL) *len = s.len;
  return GSP_OK;
}
