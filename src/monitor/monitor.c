/*
 * monitor.c - the monitor's life cycle and its series table: create and
 * destroy, record, query, and the per-monitor error message.
 *
 * Layout. Series live in an array in creation order (max_series slots,
 * allocated at create) and in an open-addressing hash table of twice that
 * many slots (power of two, linear probing, no deletion: series are never
 * removed), keyed by FNV-1a of name, a 0 byte, and labels. A series and all
 * its tier rings are one allocation set made when the series is first
 * recorded: nothing grows afterwards, so memory is bounded by max_series x
 * gsp_monitor_series_bytes() (formula in monitor.h).
 *
 * Lock: mon->lock guards the table, every series, rules, events and the
 * error texts (see monitor_int.h for the order with eval_lock).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "monitor_int.h"

static const gsp_monitor_tier k_default_tiers[3] = {{1000, 3600}, {10000, 2160}, {60000, 0}};

uint64_t gsp_monitor_now(const gsp_monitor *mon) { return gsp__mon_now(mon); }

uint64_t gsp__mon_now(const gsp_monitor *mon) {
  return mon->clock.now ? mon->clock.now(mon->clock.user) : gsp_now_ns();
}

void gsp__mon_err(gsp_monitor *mon, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(mon->errmsg, sizeof mon->errmsg, fmt, ap);
  va_end(ap);
}

const char *gsp_monitor_errmsg(const gsp_monitor *mon) { return mon ? mon->errmsg : ""; }

static size_t pow2_at_least(size_t n) {
  size_t p = 16;
  while (p < n) p <<= 1;
  return p;
}

static int set_tiers(gsp_monitor *mon, const gsp_monitor_config *cfg) {
  const gsp_monitor_tier *t = cfg->ntiers ? cfg->tiers : k_default_tiers;
  uint32_t n = cfg->ntiers ? cfg->ntiers : 3;
  uint32_t hours = cfg->metrics_retention_hours ? cfg->metrics_retention_hours : 24;
  if (n > GSP_MONITOR_MAX_TIERS || hours > 24u * 366u) return GSP_EINVAL;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t pts = (cfg->ntiers == 0 && i == 2) ? hours * 60u : t[i].points;
    if (t[i].step_ms == 0 || pts == 0 || pts > (1u << 26)) return GSP_EINVAL;
    mon->tier_cfg[i] = (gsp__ring){.step_ns = (uint64_t)t[i].step_ms * 1000000u, .cap = pts};
    mon->points_total += pts;
  }
  mon->ntiers = n;
  return GSP_OK;
}

static int copy_config(gsp_monitor *mon, const gsp_monitor_config *cfg) {
  mon->interval_ms = cfg->collection_interval_ms ? cfg->collection_interval_ms : 1000;
  mon->clock = cfg->clock;
  mon->metrics = cfg->metrics;
  mon->on_alert = cfg->on_alert;
  mon->on_alert_user = cfg->on_alert_user;
  mon->max_series = cfg->max_series ? cfg->max_series : GSP_MONITOR_DEFAULT_MAX_SERIES;
  mon->max_rules = cfg->max_rules ? cfg->max_rules : GSP_MONITOR_DEFAULT_MAX_RULES;
  mon->max_events = cfg->max_events ? cfg->max_events : GSP_MONITOR_DEFAULT_MAX_EVENTS;
  mon->regress_cfg = (gsp_regress_config){.baseline = cfg->regress_baseline,
                                          .recent = cfg->regress_recent,
                                          .z_threshold = cfg->regress_z,
                                          .min_shift = cfg->regress_min_shift};
  if (mon->max_series > (1u << 20) || mon->max_rules > (1u << 16) || mon->max_events > (1u << 20))
    return GSP_EINVAL;
  return set_tiers(mon, cfg);
}

static int alloc_tables(gsp_monitor *mon, const gsp_monitor_config *cfg) {
  mon->proc_root = gsp_strdup(cfg->proc_root ? cfg->proc_root : "/proc");
  mon->cgroup_root = gsp_strdup(cfg->cgroup_root ? cfg->cgroup_root : "/sys/fs/cgroup");
  mon->series = gsp_calloc(mon->max_series, sizeof(gsp__series *));
  mon->tmask = pow2_at_least(mon->max_series * 2) - 1;
  mon->table = gsp_calloc(mon->tmask + 1, sizeof(gsp__series *));
  mon->rules = gsp_calloc(mon->max_rules, sizeof *mon->rules);
  mon->events = gsp_calloc(mon->max_events, sizeof *mon->events);
  mon->scratch = gsp_calloc(mon->max_rules + mon->max_series, sizeof *mon->scratch);
  if (!mon->proc_root || !mon->cgroup_root || !mon->series || !mon->table || !mon->rules ||
      !mon->events || !mon->scratch)
    return GSP_ENOMEM;
  return GSP_OK;
}

static int make_gauges(gsp_monitor *mon, gsp_metrics *m) {
  for (int f = 0; m != NULL && f < GSP_MON_NFIELDS; f++) {
    const char *name = gsp_monitor_field_name((gsp_monitor_field)f);
    int rv = gsp_metrics_gauge_new(m, name, "gsperf system collector", &mon->gauges[f]);
    if (rv != GSP_OK) return rv;
    gsp_gauge_unset(mon->gauges[f]); /* exposed from the first sample that has it */
  }
  return GSP_OK;
}

static int init_sync(gsp_monitor *mon) {
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0) return GSP_ENOMEM;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int bad = pthread_cond_init(&mon->wake, &ca);
  pthread_condattr_destroy(&ca);
  if (bad) return GSP_ENOMEM;
  if (pthread_mutex_init(&mon->lock, NULL) != 0) goto out_cond;
  if (pthread_mutex_init(&mon->eval_lock, NULL) != 0) goto out_lock;
  if (pthread_mutex_init(&mon->thread_lock, NULL) != 0) goto out_eval;
  if (pthread_mutex_init(&mon->ctl_lock, NULL) != 0) goto out_thread;
  return GSP_OK;
out_thread:
  pthread_mutex_destroy(&mon->thread_lock);
out_eval:
  pthread_mutex_destroy(&mon->eval_lock);
out_lock:
  pthread_mutex_destroy(&mon->lock);
out_cond:
  pthread_cond_destroy(&mon->wake);
  return GSP_ENOMEM;
}

static void free_series(gsp__series *s) {
  if (s == NULL) return;
  gsp_free(s->name);
  gsp_free(s->labels);
  gsp_free(s->tiers[0].pts);
  gsp_regress_destroy(s->reg);
  gsp_free(s);
}

static void free_all(gsp_monitor *mon) {
  for (size_t i = 0; mon->series && i < mon->nseries; i++) free_series(mon->series[i]);
  gsp__rules_free(mon);
  gsp__sources_free(mon);
  gsp_free(mon->series);
  gsp_free(mon->table);
  gsp_free(mon->rules);
  gsp_free(mon->events);
  gsp_free(mon->scratch);
  gsp_free(mon->proc_root);
  gsp_free(mon->cgroup_root);
  gsp_free(mon);
}

int gsp_monitor_create(const gsp_monitor_config *cfg, gsp_monitor **out) {
  static const gsp_monitor_config zero;
  if (out == NULL) return GSP_EINVAL;
  if (cfg == NULL) cfg = &zero;
  gsp_monitor *mon = gsp_calloc(1, sizeof *mon);
  if (mon == NULL) return GSP_ENOMEM;
  int rv = copy_config(mon, cfg);
  if (rv == GSP_OK) rv = alloc_tables(mon, cfg);
  if (rv == GSP_OK) rv = make_gauges(mon, cfg->metrics);
  if (rv == GSP_OK) rv = init_sync(mon);
  if (rv != GSP_OK) {
    free_all(mon);
    return rv;
  }
  *out = mon;
  return GSP_OK;
}

void gsp_monitor_destroy(gsp_monitor *mon) {
  if (mon == NULL) return;
  gsp_monitor_stop(mon);
  pthread_mutex_destroy(&mon->ctl_lock);
  pthread_mutex_destroy(&mon->thread_lock);
  pthread_mutex_destroy(&mon->eval_lock);
  pthread_mutex_destroy(&mon->lock);
  pthread_cond_destroy(&mon->wake);
  free_all(mon);
}

/* ---- the series table ---------------------------------------------------- */

static uint64_t series_hash(const char *name, const char *labels) {
  uint64_t h = 1469598103934665603u;
  for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211u;
  h = (h ^ 0xffu) * 1099511628211u;
  for (const char *p = labels; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211u;
  return h;
}

static gsp__series **find_slot(gsp_monitor *mon, const char *name, const char *labels, uint64_t h) {
  for (size_t i = h & mon->tmask;; i = (i + 1) & mon->tmask) {
    gsp__series *s = mon->table[i];
    if (s == NULL) return &mon->table[i];
    if (s->hash == h && strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
      return &mon->table[i];
  }
}

static bool is_duration(const char *name) {
  size_t n = strlen(name);
  return n >= 8 && strcmp(name + n - 8, "_seconds") == 0;
}

static gsp__series *new_series(gsp_monitor *mon, const char *name, const char *labels, uint64_t h) {
  gsp__series *s = gsp_calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->hash = h;
  s->name = gsp_strdup(name);
  s->labels = gsp_strdup(labels);
  gsp_monitor_point *pts = gsp_calloc(mon->points_total, sizeof *pts);
  if (!s->name || !s->labels || !pts) goto out_free;
  for (uint32_t i = 0; i < mon->ntiers; i++) {
    s->tiers[i] = mon->tier_cfg[i];
    s->tiers[i].pts = pts;
    pts += s->tiers[i].cap;
  }
  if (is_duration(name) && gsp_regress_create(&mon->regress_cfg, &s->reg) != GSP_OK) goto out_free;
  return s;
out_free:
  if (s->tiers[0].pts == NULL) gsp_free(pts);
  free_series(s);
  return NULL;
}

static int get_series_locked(gsp_monitor *mon, const char *name, const char *labels, bool create,
                             gsp__series **out) {
  uint64_t h = series_hash(name, labels);
  gsp__series **slot = find_slot(mon, name, labels, h);
  if (*slot != NULL || !create) {
    *out = *slot;
    return *slot ? GSP_OK : GSP_ENOENT;
  }
  if (gsp_metrics_check_name(name) != GSP_OK) {
    gsp__mon_err(mon, "series name \"%s\" is not a valid metric name", name);
    return GSP_EINVAL;
  }
  if (mon->nseries == mon->max_series) {
    gsp__mon_err(mon, "series \"%s\": max_series (%zu) reached", name, mon->max_series);
    return GSP_ENOSPC;
  }
  gsp__series *s = new_series(mon, name, labels, h);
  if (s == NULL) return GSP_ENOMEM;
  *slot = s;
  mon->series[mon->nseries++] = s;
  *out = s;
  return GSP_OK;
}

int gsp__record_locked(gsp_monitor *mon, const char *name, const char *labels, double v,
                       uint64_t t) {
  gsp__series *s = NULL;
  int rv = get_series_locked(mon, name, labels ? labels : "", true, &s);
  if (rv != GSP_OK) return rv;
  for (uint32_t i = 0; i < mon->ntiers; i++) gsp__ring_add(&s->tiers[i], v, t);
  s->last = v;
  s->has_last = true;
  if (s->reg) {
    gsp_regress_add(s->reg, v);
    s->untested++;
  }
  return GSP_OK;
}

int gsp_monitor_record(gsp_monitor *mon, const char *name, const char *labels, double value,
                       uint64_t t_ns) {
  if (mon == NULL || name == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&mon->lock);
  int rv = GSP_EINVAL;
  if (isfinite(value))
    rv = gsp__record_locked(mon, name, labels, value, t_ns);
  else
    gsp__mon_err(mon, "series \"%s\": value is not finite", name);
  pthread_mutex_unlock(&mon->lock);
  return rv;
}

static int query_locked(gsp_monitor *mon, const gsp__series *s, uint64_t from, uint64_t to,
                        gsp_monitor_point **out, size_t *n, uint32_t *step_ms) {
  const gsp__ring *r = &s->tiers[gsp__pick_tier(s, mon->ntiers, from)];
  if (step_ms) *step_ms = (uint32_t)(r->step_ns / 1000000u);
  *out = NULL;
  *n = 0;
  if (r->len == 0) return GSP_OK;
  gsp_monitor_point *buf = gsp_malloc((size_t)r->len * sizeof *buf);
  if (buf == NULL) return GSP_ENOMEM;
  *n = gsp__ring_copy(r, from, to, buf);
  if (*n == 0) {
    gsp_free(buf);
    buf = NULL;
  }
  *out = buf;
  return GSP_OK;
}

int gsp_monitor_query(gsp_monitor *mon, const char *name, const char *labels, uint64_t from_ns,
                      uint64_t to_ns, gsp_monitor_point **out, size_t *n, uint32_t *step_ms) {
  if (mon == NULL || name == NULL || out == NULL || n == NULL || from_ns > to_ns) return GSP_EINVAL;
  pthread_mutex_lock(&mon->lock);
  gsp__series *s = NULL;
  int rv = get_series_locked(mon, name, labels ? labels : "", false, &s);
  if (rv == GSP_OK)
    rv = query_locked(mon, s, from_ns, to_ns, out, n, step_ms);
  else
    gsp__mon_err(mon, "no series \"%s\" {%s}", name, labels ? labels : "");
  pthread_mutex_unlock(&mon->lock);
  return rv;
}

size_t gsp_monitor_series_count(gsp_monitor *mon) {
  if (mon == NULL) return 0;
  pthread_mutex_lock(&mon->lock);
  size_t n = mon->nseries;
  pthread_mutex_unlock(&mon->lock);
  return n;
}

size_t gsp_monitor_series_bytes(gsp_monitor *mon, const char *name, const char *labels) {
  if (mon == NULL || name == NULL) return 0;
  size_t n = mon->points_total * sizeof(gsp_monitor_point) + GSP_MONITOR_SERIES_OVERHEAD +
             strlen(name) + (labels ? strlen(labels) : 0) + 2;
  if (is_duration(name)) {
    gsp_regress_config c = mon->regress_cfg;
    size_t w = (c.baseline ? c.baseline : 1000) + (c.recent ? c.recent : 100);
    n += 24 * w;
  }
  return n;
}
