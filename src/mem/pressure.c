/*
 * pressure.c - the memory-pressure monitor: sources, level state machine,
 * event history and the sampling thread. Reclaimer registry and reclaim
 * passes are in reclaim.c.
 *
 * Sources. A sample reads three small files with one open/read/close each
 * (statm, the cgroup's limit and usage, PSI; v2 adds memory.events) and
 * calls mallinfo2(): about 20 µs per file and under 1 µs for mallinfo2 on
 * this machine, so a sample costs well under 0.1 ms and the default 1 s
 * period stays far below 0.1% of a CPU (bench/mem/bench_pressure.c).
 * Physical memory (MemTotal) and the cgroup directory are found once at
 * create: the directory comes from <proc_root>/self/cgroup ("0::path" for
 * v2, a line listing "memory" for v1), falling back to the controller's
 * root when the path is not visible (a container's own namespace). A v1
 * limit >= 2^62 and a v2 "max" mean no limit. PSI absent is not an error.
 * Every read or parse failure names the file and the field in the
 * per-handle message and counts in the sample; it never stops the thread.
 * When RSS itself cannot be read, the level and reclaim are left alone.
 *
 * State machine. level_next() maps the usage ratio to NORMAL / WARNING /
 * CRITICAL: a level is entered at its threshold and left only once the
 * ratio is `hysteresis` below it, so a ratio wobbling around a threshold
 * raises one event, not one per sample. A change may skip a level
 * (NORMAL -> CRITICAL is one event). Events go into a ring of cfg.history
 * entries and to cfg.on_event, called after mu is released.
 *
 * Locks. mu guards the sample state (level, last sample, history, stats,
 * errmsg); rmu the reclaimer list and reclaim passes (reclaim.c); tmu the
 * thread flags and the condvar stop() signals; lifemu serializes start and
 * stop. No two are held at once, and no callback runs under mu or tmu.
 * Samples from the thread and from sample_now() may overlap: the files are
 * read without a lock and each sample's state update is atomic under mu.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pressure_int.h"

#define BUF_LEN 4096
#define MB ((uint64_t)1024 * 1024)
#define V1_NO_LIMIT ((uint64_t)1 << 62)

typedef struct rctx {
  char err[GSP__MP_ERR];
  int rc;
  unsigned errors;
} rctx;

/* ---- reading files ------------------------------------------------------ */

static void fail(rctx *c, int rc, const char *path, const char *field, const char *why) {
  if (c->errors++ == 0) {
    snprintf(c->err, sizeof c->err, "%s: field %s %s", path, field, why);
    c->rc = rc;
  }
}

/* Read path into buf (NUL-terminated); returns 0 or errno. */
static int slurp(const char *path, char *buf, size_t cap) {
  buf[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno ? errno : EIO;
  ssize_t n = read(fd, buf, cap - 1);
  int e = n < 0 ? errno : 0;
  close(fd);
  buf[n < 0 ? 0 : n] = '\0';
  return e;
}

static bool read_or_fail(rctx *c, const char *path, const char *field, char *buf) {
  int e = slurp(path, buf, BUF_LEN);
  if (e == 0) return true;
  fail(c, GSP_EIO, path, field, strerror(e));
  return false;
}

static bool to_u64(const char *s, const char **end, uint64_t *out) {
  while (*s == ' ' || *s == '\t') s++;
  if (*s < '0' || *s > '9') return false;
  errno = 0;
  char *e;
  unsigned long long v = strtoull(s, &e, 10);
  if (errno != 0) return false;
  *out = v;
  if (end) *end = e;
  return true;
}

/* The number after "key" at the start of a line. */
static bool keyed_u64(const char *buf, const char *key, uint64_t *out) {
  size_t kl = strlen(key);
  for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, key, kl) == 0) return to_u64(p + kl, NULL, out);
  return false;
}

/* A whole-file number: digits then optional whitespace. */
static bool whole_u64(const char *buf, uint64_t *out) {
  const char *end;
  if (!to_u64(buf, &end, out)) return false;
  while (*end == ' ' || *end == '\n' || *end == '\t') end++;
  return *end == '\0';
}

#define LONG_PATH (GSP__MP_PATH + 64) /* a directory of GSP__MP_PATH and a file */

static void join(char *dst, size_t cap, const char *a, const char *b, const char *c) {
  snprintf(dst, cap, "%s%s%s", a, b, c);
}

/* ---- sources ------------------------------------------------------------ */

static void read_rss(gsp_mempressure *mp, rctx *c, gsp_mem_sample *s, bool *ok) {
  char buf[BUF_LEN];
  uint64_t size, res;
  const char *end;
  *ok = false;
  if (!read_or_fail(c, mp->statm, "resident", buf)) return;
  if (!to_u64(buf, &end, &size) || !to_u64(end, NULL, &res)) {
    fail(c, GSP_EFORMAT, mp->statm, "resident", "missing or not a number");
    return;
  }
  s->rss_bytes = res * (uint64_t)sysconf(_SC_PAGESIZE);
  *ok = true;
}

/*
 * Under a sanitizer runtime malloc is not glibc's: mallinfo2() would report
 * an unused heap, and calling it (or malloc_trim) from threads wakes glibc's
 * idle arena code, which then aborts at thread exit ("attached_threads >
 * 0"). The runtime's own counter is used instead, found through a weak
 * symbol (NULL when no sanitizer is linked), and trimming is skipped.
 */
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static bool sanitized(void) { return __sanitizer_get_current_allocated_bytes != NULL; }

static void read_heap(gsp_mem_sample *s) {
  if (sanitized()) {
    s->heap_bytes = __sanitizer_get_current_allocated_bytes();
    return;
  }
  struct mallinfo2 mi = mallinfo2();
  s->heap_bytes = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

static bool cg_num(rctx *c, const char *dir, const char *file, char *buf, uint64_t *out) {
  char path[LONG_PATH];
  join(path, sizeof path, dir, "/", file);
  if (!read_or_fail(c, path, file, buf)) return false;
  if (strncmp(buf, "max", 3) == 0) {
    *out = 0;
    return true;
  }
  if (whole_u64(buf, out)) return true;
  fail(c, GSP_EFORMAT, path, file, "not a number or \"max\"");
  return false;
}

static void read_events_v2(rctx *c, const char *dir, char *buf, gsp_mem_sample *s) {
  static const char *const keys[] = {"high ", "max ", "oom_kill "};
  uint64_t *dst[] = {&s->cg_high, &s->cg_max, &s->cg_oom_kill};
  char path[LONG_PATH];
  join(path, sizeof path, dir, "/", "memory.events");
  if (!read_or_fail(c, path, "memory.events", buf)) return;
  for (size_t i = 0; i < 3; i++)
    if (!keyed_u64(buf, keys[i], dst[i])) fail(c, GSP_EFORMAT, path, keys[i], "missing");
}

static void read_cgroup(gsp_mempressure *mp, rctx *c, gsp_mem_sample *s) {
  char buf[BUF_LEN];
  s->cgroup_version = mp->cg_version;
  if (mp->cg_version == 2) {
    cg_num(c, mp->cg_dir, "memory.max", buf, &s->cg_limit);
    cg_num(c, mp->cg_dir, "memory.current", buf, &s->cg_usage);
    read_events_v2(c, mp->cg_dir, buf, s);
  } else if (mp->cg_version == 1) {
    if (cg_num(c, mp->cg_dir, "memory.limit_in_bytes", buf, &s->cg_limit) &&
        s->cg_limit >= V1_NO_LIMIT)
      s->cg_limit = 0;
    cg_num(c, mp->cg_dir, "memory.usage_in_bytes", buf, &s->cg_usage);
  }
}

static bool psi_avg10(const char *buf, const char *line, double *out) {
  const char *p = strstr(buf, line);
  if (!p) return false;
  p = strstr(p, "avg10=");
  if (!p) return false;
  char *end;
  errno = 0;
  *out = strtod(p + 6, &end);
  return errno == 0 && end != p + 6;
}

static void read_psi(gsp_mempressure *mp, rctx *c, gsp_mem_sample *s) {
  char buf[BUF_LEN];
  int e = slurp(mp->psi, buf, sizeof buf);
  if (e == ENOENT || e == EOPNOTSUPP) return; /* no PSI here: not an error */
  if (e != 0) {
    fail(c, GSP_EIO, mp->psi, "some avg10", strerror(e));
    return;
  }
  if (!psi_avg10(buf, "some ", &s->psi_some_avg10)) {
    fail(c, GSP_EFORMAT, mp->psi, "some avg10", "missing or not a number");
    return;
  }
  s->psi_present = true;
  (void)psi_avg10(buf, "full ", &s->psi_full_avg10); /* absent on old kernels */
}

static uint64_t effective_limit(const gsp_mempressure *mp, const gsp_mem_sample *s) {
  uint64_t lim = mp->phys_bytes ? mp->phys_bytes : UINT64_MAX;
  if (mp->cfg.max_memory_mb && mp->cfg.max_memory_mb * MB < lim) lim = mp->cfg.max_memory_mb * MB;
  if (s->cg_limit && s->cg_limit < lim) lim = s->cg_limit;
  return lim;
}

/* ---- state machine and reclaim decision ---------------------------------- */

static gsp_mem_level level_next(gsp_mem_level cur, double r, double warn, double crit, double h) {
  if (r >= crit) return GSP_MEM_CRITICAL;
  if (cur == GSP_MEM_CRITICAL && r >= crit - h) return GSP_MEM_CRITICAL;
  if (r >= warn) return GSP_MEM_WARNING;
  if (cur >= GSP_MEM_WARNING && r >= warn - h) return GSP_MEM_WARNING;
  return GSP_MEM_NORMAL;
}

typedef struct decision {
  bool event, reclaim;
  gsp_mem_event ev;
  gsp_mem_level rlevel;
  size_t wanted;
} decision;

static bool trigger_locked(gsp_mempressure *mp, const gsp_mem_sample *s, bool *by_mb) {
  const gsp_mempressure_config *k = &mp->cfg;
  uint64_t thr = k->gc_threshold_mb * MB;
  *by_mb = false;
  if (s->level == GSP_MEM_CRITICAL) return true;
  if (k->gc_strategy == GSP_GC_PERIODIC)
    return s->t_ns >= mp->last_reclaim_ns && /* an overlapping older sample: no */
           s->t_ns - mp->last_reclaim_ns >= (uint64_t)k->gc_interval_ms * 1000000u;
  if (k->gc_strategy == GSP_GC_ADAPTIVE && s->psi_present)
    return mp->have_prev_psi && s->psi_some_avg10 - mp->prev_psi >= k->psi_rise;
  *by_mb = thr && s->rss_bytes >= thr;
  return s->level >= GSP_MEM_WARNING || *by_mb;
}

static void decide_reclaim_locked(gsp_mempressure *mp, const gsp_mem_sample *s, decision *d) {
  bool by_mb;
  if (!trigger_locked(mp, s, &by_mb)) return;
  uint64_t target =
      (uint64_t)(gsp_mem_strategy_target(mp->cfg.mem_strategy) * (double)s->limit_bytes);
  if (by_mb && mp->cfg.gc_threshold_mb * MB < target) target = mp->cfg.gc_threshold_mb * MB;
  d->reclaim = true;
  d->rlevel = by_mb && s->level == GSP_MEM_NORMAL ? GSP_MEM_WARNING : s->level;
  d->wanted = s->rss_bytes > target ? (size_t)(s->rss_bytes - target) : 0;
  mp->last_reclaim_ns = s->t_ns;
}

static void push_event_locked(gsp_mempressure *mp, const gsp_mem_event *ev) {
  mp->hist[mp->hist_head] = *ev;
  mp->hist_head = (mp->hist_head + 1) % mp->cfg.history;
  if (mp->hist_n < mp->cfg.history) mp->hist_n++;
  mp->stats.events++;
}

static void update_locked(gsp_mempressure *mp, gsp_mem_sample *s, bool rss_ok, const rctx *c,
                          decision *d) {
  const gsp_mempressure_config *k = &mp->cfg;
  gsp_mem_level nl = rss_ok ? level_next(mp->level, s->ratio, k->memory_warning_threshold,
                                         k->memory_critical_threshold, k->hysteresis)
                            : mp->level;
  if (nl != mp->level) {
    d->event = true;
    d->ev = (gsp_mem_event){s->t_ns, mp->level, nl, s->rss_bytes, s->limit_bytes, s->ratio};
    push_event_locked(mp, &d->ev);
    mp->level = nl;
  }
  s->level = nl;
  if (rss_ok) decide_reclaim_locked(mp, s, d);
  mp->have_prev_psi = s->psi_present;
  mp->prev_psi = s->psi_some_avg10;
  mp->last = *s;
  mp->stats.samples++;
  if (c->errors) {
    mp->stats.sample_errors++;
    memcpy(mp->errmsg, c->err, sizeof mp->errmsg);
  }
}

/* ---- sampling ----------------------------------------------------------- */

static uint64_t now_ns(const gsp_mempressure *mp) {
  return mp->cfg.clock.now ? mp->cfg.clock.now(mp->cfg.clock.user) : gsp_now_ns();
}

/* A gauge that is exposed only while its source is present. */
static void set_or_unset(gsp_gauge *g, bool present, double v) {
  if (present)
    gsp_gauge_set(g, v);
  else
    gsp_gauge_unset(g);
}

static void export_metrics(gsp_mempressure *mp, const gsp_mem_sample *s, const decision *d,
                           size_t freed) {
  if (!mp->cfg.metrics) return;
  gsp_gauge_set(mp->g.rss, (double)s->rss_bytes);
  gsp_gauge_set(mp->g.heap, (double)s->heap_bytes);
  gsp_gauge_set(mp->g.limit, (double)s->limit_bytes);
  gsp_gauge_set(mp->g.ratio, s->ratio);
  gsp_gauge_set(mp->g.level, (double)s->level);
  set_or_unset(mp->g.psi_some, s->psi_present, s->psi_some_avg10);
  set_or_unset(mp->g.cg_limit, s->cg_limit > 0, (double)s->cg_limit);
  set_or_unset(mp->g.cg_usage, s->cgroup_version > 0, (double)s->cg_usage);
  if (d->event) gsp_counter_inc(mp->g.entered[d->ev.to]);
  if (d->reclaim) {
    gsp_counter_inc(mp->g.reclaims);
    gsp_counter_add(mp->g.reclaimed, freed);
  }
}

static size_t run_reclaim(gsp_mempressure *mp, const decision *d) {
  size_t freed = gsp__mp_reclaim(mp, d->rlevel, d->wanted);
  bool trim = mp->cfg.mem_strategy == GSP_MEM_AGGRESSIVE;
  if (trim && !sanitized()) malloc_trim(0);
  pthread_mutex_lock(&mp->mu);
  mp->stats.reclaims++;
  mp->stats.reclaimed_bytes += freed;
  mp->stats.trims += trim;
  pthread_mutex_unlock(&mp->mu);
  return freed;
}

int gsp_mempressure_sample_now(gsp_mempressure *mp, gsp_mem_sample *out) {
  if (!mp) return GSP_EINVAL;
  gsp_mem_sample s = {0};
  rctx c = {.rc = 0};
  bool rss_ok;
  decision d = {0};
  s.t_ns = now_ns(mp);
  read_rss(mp, &c, &s, &rss_ok);
  read_heap(&s);
  read_cgroup(mp, &c, &s);
  read_psi(mp, &c, &s);
  s.phys_bytes = mp->phys_bytes;
  s.limit_bytes = effective_limit(mp, &s);
  s.ratio = (double)s.rss_bytes / (double)s.limit_bytes;
  s.errors = c.errors;
  pthread_mutex_lock(&mp->mu);
  update_locked(mp, &s, rss_ok, &c, &d);
  pthread_mutex_unlock(&mp->mu);
  if (d.event && mp->cfg.on_event) mp->cfg.on_event(mp->cfg.event_user, &d.ev);
  size_t freed = d.reclaim ? run_reclaim(mp, &d) : 0;
  export_metrics(mp, &s, &d, freed);
  if (out) *out = s;
  return c.rc;
}

/* ---- create: physical memory and the cgroup directory -------------------- */

static int read_phys(gsp_mempressure *mp) {
  char path[GSP__MP_PATH], buf[BUF_LEN];
  uint64_t kb;
  join(path, sizeof path, mp->proc_root, "/", "meminfo");
  if (slurp(path, buf, sizeof buf) != 0 || !keyed_u64(buf, "MemTotal:", &kb)) return GSP_EIO;
  mp->phys_bytes = kb * 1024;
  return 0;
}

static bool has_memory(const char *ctrl, size_t len) {
  for (const char *p = ctrl; p < ctrl + len;) {
    const char *comma = memchr(p, ',', (size_t)(ctrl + len - p));
    size_t n = comma ? (size_t)(comma - p) : (size_t)(ctrl + len - p);
    if (n == 6 && memcmp(p, "memory", 6) == 0) return true;
    p += n + 1;
  }
  return false;
}

/* Use dir if dir/file exists; else the controller root if root/file does. */
static bool try_cg(gsp_mempressure *mp, const char *root, const char *rel, const char *file,
                   int version) {
  char probe[GSP__MP_PATH * 2];
  const char *tries[2] = {rel, ""};
  for (int i = 0; i < 2; i++) {
    snprintf(mp->cg_dir, sizeof mp->cg_dir, "%s%s", root, tries[i]);
    snprintf(probe, sizeof probe, "%s/%s", mp->cg_dir, file);
    if (access(probe, R_OK) == 0) {
      mp->cg_version = version;
      return true;
    }
  }
  mp->cg_dir[0] = '\0';
  return false;
}

/* Parse one "hier:controllers:path" line of /proc/self/cgroup. */
static bool cg_line(const char *line, bool *v2, bool *mem, char *rel, size_t relcap) {
  const char *c1 = strchr(line, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c2) return false;
  const char *nl = strchr(c2 + 1, '\n');
  size_t n = nl ? (size_t)(nl - c2 - 1) : strlen(c2 + 1);
  *v2 = c1 == line + 1 && line[0] == '0' && c2 == c1 + 1;
  *mem = has_memory(c1 + 1, (size_t)(c2 - c1 - 1));
  snprintf(rel, relcap, "%.*s", (int)n, c2 + 1);
  if (strcmp(rel, "/") == 0) rel[0] = '\0';
  return true;
}

static void find_cgroup(gsp_mempressure *mp) {
  char path[GSP__MP_PATH], buf[BUF_LEN], rel[GSP__MP_PATH], v1root[GSP__MP_PATH];
  char v2rel[GSP__MP_PATH] = "", v1rel[GSP__MP_PATH] = "";
  bool v2 = false, v1 = false, is_v2, mem;
  join(path, sizeof path, mp->proc_root, "/", "self/cgroup");
  if (slurp(path, buf, sizeof buf) != 0) return;
  for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (!cg_line(p, &is_v2, &mem, rel, sizeof rel)) continue;
    if (is_v2 && !v2) v2 = true, memcpy(v2rel, rel, sizeof rel);
    if (mem && !v1) v1 = true, memcpy(v1rel, rel, sizeof rel);
  }
  if (v2 && try_cg(mp, mp->cgroup_root, v2rel, "memory.max", 2)) return;
  join(v1root, sizeof v1root, mp->cgroup_root, "/", "memory");
  if (v1) (void)try_cg(mp, v1root, v1rel, "memory.limit_in_bytes", 1);
}

/* ---- create, destroy, thread ---------------------------------------------- */

static int fill_defaults(gsp_mempressure_config *k) {
  if (k->memory_warning_threshold == 0) k->memory_warning_threshold = 0.8;
  if (k->memory_critical_threshold == 0) k->memory_critical_threshold = 0.9;
  if (k->hysteresis == 0) k->hysteresis = 0.05;
  if (k->interval_ms == 0) k->interval_ms = 1000;
  if (k->gc_interval_ms == 0) k->gc_interval_ms = 60000;
  if (k->psi_rise == 0) k->psi_rise = 1.0;
  if (k->history == 0) k->history = 64;
  double w = k->memory_warning_threshold, c = k->memory_critical_threshold;
  if (!(w > 0 && c <= 1 && w < c) || k->hysteresis < 0) return GSP_EINVAL;
  if ((unsigned)k->gc_strategy > GSP_GC_ADAPTIVE || (unsigned)k->mem_strategy > 2)
    return GSP_EINVAL;
  return 0;
}

/* gsp_mem_level_changes_total{level}: events, by the level entered. */
static int make_level_counters(gsp_mempressure *mp, gsp_metrics *m) {
  static const char *const ln[] = {"level"};
  gsp_metric_family *f;
  gsp_metric_desc d = {.name = "gsp_mem_level_changes_total",
                       .help = "Memory pressure level changes, by the level entered",
                       .type = GSP_METRIC_COUNTER,
                       .label_names = ln,
                       .nlabels = 1};
  int rc = gsp_metrics_family(m, &d, &f);
  for (int l = GSP_MEM_NORMAL; rc == 0 && l <= GSP_MEM_CRITICAL; l++) {
    const char *lv[] = {gsp_mem_level_name((gsp_mem_level)l)};
    rc = gsp_metrics_counter(f, lv, &mp->g.entered[l]);
  }
  return rc;
}

static int make_metrics(gsp_mempressure *mp) {
  gsp_metrics *m = mp->cfg.metrics;
  int rc;
  if (!m) return 0;
  if ((rc = gsp_metrics_gauge_new(m, "gsp_mem_rss_bytes", "Resident set size", &mp->g.rss)) ||
      (rc = gsp_metrics_gauge_new(m, "gsp_mem_heap_bytes", "malloc heap in use", &mp->g.heap)) ||
      (rc = gsp_metrics_gauge_new(m, "gsp_mem_limit_bytes", "Effective memory limit",
                                  &mp->g.limit)) ||
      (rc = gsp_metrics_gauge_new(m, "gsp_mem_usage_ratio", "RSS / limit", &mp->g.ratio)) ||
      (rc = gsp_metrics_gauge_new(m, "gsp_mem_pressure_level", "0 normal 1 warning 2 critical",
                                  &mp->g.level)) ||
      (rc = gsp_metrics_gauge_new(m, "gsp_mem_psi_some_avg10", "PSI memory some avg10",
                                  &mp->g.psi_some)))
    return rc;
  if ((rc = gsp_metrics_gauge_new(m, "gsp_mem_cgroup_limit_bytes", "Memory cgroup limit",
                                  &mp->g.cg_limit)) ||
      (rc = gsp_metrics_gauge_new(m, "gsp_mem_cgroup_usage_bytes", "Memory cgroup usage",
                                  &mp->g.cg_usage)) ||
      (rc = gsp_metrics_counter_new(m, "gsp_mem_reclaims_total", "Reclaim passes",
                                    &mp->g.reclaims)) ||
      (rc = gsp_metrics_counter_new(m, "gsp_mem_reclaimed_bytes_total",
                                    "Bytes the reclaimers reported freed", &mp->g.reclaimed)))
    return rc;
  /* absent until a sample finds them */
  gsp_gauge_unset(mp->g.psi_some);
  gsp_gauge_unset(mp->g.cg_limit);
  gsp_gauge_unset(mp->g.cg_usage);
  return make_level_counters(mp, m);
}

static int init_sync(gsp_mempressure *mp) {
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0) return GSP_ENOMEM;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int e = pthread_cond_init(&mp->tcv, &ca);
  pthread_condattr_destroy(&ca);
  if (e != 0) return GSP_ENOMEM;
  pthread_mutex_init(&mp->mu, NULL);
  pthread_mutex_init(&mp->rmu, NULL);
  pthread_mutex_init(&mp->tmu, NULL);
  pthread_mutex_init(&mp->lifemu, NULL);
  return 0;
}

static void free_parts(gsp_mempressure *mp) {
  gsp_free(mp->hist);
  gsp_free(mp->proc_root);
  gsp_free(mp->cgroup_root);
  gsp_free(mp);
}

static int alloc_parts(gsp_mempressure *mp, const gsp_mempressure_config *cfg) {
  mp->proc_root = gsp_strdup(cfg->proc_root ? cfg->proc_root : "/proc");
  mp->cgroup_root = gsp_strdup(cfg->cgroup_root ? cfg->cgroup_root : "/sys/fs/cgroup");
  mp->hist = gsp_calloc(mp->cfg.history, sizeof *mp->hist);
  return mp->proc_root && mp->cgroup_root && mp->hist ? 0 : GSP_ENOMEM;
}

int gsp_mempressure_create(const gsp_mempressure_config *cfg, gsp_mempressure **out) {
  if (!cfg || !out) return GSP_EINVAL;
  gsp_mempressure *mp = gsp_calloc(1, sizeof *mp);
  if (!mp) return GSP_ENOMEM;
  mp->cfg = *cfg;
  int rc = fill_defaults(&mp->cfg);
  if (rc == 0) rc = alloc_parts(mp, cfg);
  if (rc == 0 && read_phys(mp) != 0 && !cfg->max_memory_mb) rc = GSP_EIO;
  if (rc == 0) rc = make_metrics(mp);
  if (rc == 0) rc = init_sync(mp);
  if (rc != 0) goto out_free;
  mp->cfg.proc_root = mp->proc_root;
  mp->cfg.cgroup_root = mp->cgroup_root;
  join(mp->statm, sizeof mp->statm, mp->proc_root, "/", "self/statm");
  join(mp->psi, sizeof mp->psi, mp->proc_root, "/", "pressure/memory");
  find_cgroup(mp);
  mp->last_reclaim_ns = now_ns(mp);
  *out = mp;
  return 0;
out_free:
  free_parts(mp);
  return rc;
}

void gsp_mempressure_destroy(gsp_mempressure *mp) {
  if (!mp) return;
  gsp_mempressure_stop(mp);
  gsp__mp_reclaimers_free(mp);
  pthread_cond_destroy(&mp->tcv);
  pthread_mutex_destroy(&mp->mu);
  pthread_mutex_destroy(&mp->rmu);
  pthread_mutex_destroy(&mp->tmu);
  pthread_mutex_destroy(&mp->lifemu);
  free_parts(mp);
}

static void deadline(struct timespec *ts, unsigned ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

static void *thread_main(void *arg) {
  gsp_mempressure *mp = arg;
  struct timespec ts;
  pthread_mutex_lock(&mp->tmu);
  while (!mp->stopping) {
    pthread_mutex_unlock(&mp->tmu);
    (void)gsp_mempressure_sample_now(mp, NULL);
    pthread_mutex_lock(&mp->tmu);
    deadline(&ts, mp->cfg.interval_ms);
    while (!mp->stopping && pthread_cond_timedwait(&mp->tcv, &mp->tmu, &ts) != ETIMEDOUT) {
    }
  }
  pthread_mutex_unlock(&mp->tmu);
  return NULL;
}

int gsp_mempressure_start(gsp_mempressure *mp) {
  if (!mp) return GSP_EINVAL;
  int rc = 0;
  pthread_mutex_lock(&mp->lifemu);
  if (mp->running) {
    rc = GSP_ESTATE;
  } else {
    mp->stopping = false;
    if (pthread_create(&mp->thread, NULL, thread_main, mp) != 0) rc = GSP_ESYS;
    mp->running = rc == 0;
  }
  pthread_mutex_unlock(&mp->lifemu);
  return rc;
}

void gsp_mempressure_stop(gsp_mempressure *mp) {
  if (!mp) return;
  pthread_mutex_lock(&mp->lifemu);
  if (mp->running) {
    pthread_mutex_lock(&mp->tmu);
    mp->stopping = true;
    pthread_cond_signal(&mp->tcv);
    pthread_mutex_unlock(&mp->tmu);
    pthread_join(mp->thread, NULL);
    mp->running = false;
  }
  pthread_mutex_unlock(&mp->lifemu);
}

/* ---- queries --------------------------------------------------------------- */

void gsp_mempressure_last(gsp_mempressure *mp, gsp_mem_sample *out) {
  pthread_mutex_lock(&mp->mu);
  *out = mp->last;
  pthread_mutex_unlock(&mp->mu);
}

gsp_mem_level gsp_mempressure_level(gsp_mempressure *mp) {
  pthread_mutex_lock(&mp->mu);
  gsp_mem_level l = mp->level;
  pthread_mutex_unlock(&mp->mu);
  return l;
}

void gsp_mempressure_stats_get(gsp_mempressure *mp, gsp_mempressure_stats *out) {
  pthread_mutex_lock(&mp->mu);
  *out = mp->stats;
  pthread_mutex_unlock(&mp->mu);
}

size_t gsp_mempressure_history(gsp_mempressure *mp, gsp_mem_event *out, size_t cap) {
  pthread_mutex_lock(&mp->mu);
  size_t n = mp->hist_n < cap ? mp->hist_n : cap;
  size_t first = (mp->hist_head + mp->cfg.history - mp->hist_n) % mp->cfg.history;
  for (size_t i = 0; i < n; i++) out[i] = mp->hist[(first + i) % mp->cfg.history];
  pthread_mutex_unlock(&mp->mu);
  return n;
}

void gsp_mempressure_errmsg(gsp_mempressure *mp, char *buf, size_t cap) {
  pthread_mutex_lock(&mp->mu);
  snprintf(buf, cap, "%s", mp->errmsg);
  pthread_mutex_unlock(&mp->mu);
}
