/*
 * report_text.c - an optimization report's JSON rendered as text tables,
 * for people (`gsperf report FILE` and hosts that print a report).
 *
 * The JSON is parsed with jansson and checked to be a report (its
 * "schema" key); sections that are missing are skipped, fields that are
 * missing show as "-", so a report from an older or newer engine still
 * renders. Output: a header line, then the functions table (calls,
 * errors, timeouts, hit rate, p50, p99), the caches table, memory,
 * pools, alerts and the profiler (top functions by self time, zones). Durations are printed with a
 * unit chosen per value (ns, us, ms, s).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "opt_int.h"

typedef struct out {
  char *buf;
  size_t len, cap;
  int err;
} out;

static void put(out *o, const char *fmt, ...) GSP_PRINTF(2, 3);
static void put(out *o, const char *fmt, ...) {
  if (o->err != GSP_OK) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      o->err = GSP_EINVAL;
      return;
    }
    if (o->buf != NULL && o->len + (size_t)n < o->cap) {
      o->len += (size_t)n;
      return;
    }
    size_t ncap = (o->cap ? o->cap * 2 : 4096) + (size_t)n;
    char *nb = gsp_realloc(o->buf, ncap);
    if (nb == NULL) {
      o->err = GSP_ENOMEM;
      return;
    }
    o->buf = nb;
    o->cap = ncap;
  }
}

static double num(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return json_is_number(v) ? json_number_value(v) : -1.0;
}

static const char *str(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return json_is_string(v) ? json_string_value(v) : "-";
}

/* A count, or "-" when absent. */
static const char *count(double v, char *buf, size_t cap) {
  if (v < 0) return "-";
  (void)snprintf(buf, cap, "%.0f", v);
  return buf;
}

static const char *duration(double s, char *buf, size_t cap) {
  if (s < 0) return "-";
  if (s < 1e-6)
    (void)snprintf(buf, cap, "%.0f ns", s * 1e9);
  else if (s < 1e-3)
    (void)snprintf(buf, cap, "%.1f us", s * 1e6);
  else if (s < 1.0)
    (void)snprintf(buf, cap, "%.2f ms", s * 1e3);
  else
    (void)snprintf(buf, cap, "%.3f s", s);
  return buf;
}

static const char *percent(double r, char *buf, size_t cap) {
  if (r < 0) return "-";
  (void)snprintf(buf, cap, "%.1f%%", r * 100.0);
  return buf;
}

static const char *bytes(double b, char *buf, size_t cap) {
  if (b < 0) return "-";
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    u++;
  }
  (void)snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

static void functions(out *o, json_t *root) {
  json_t *fs = json_object_get(root, "optimized_functions");
  if (!json_is_object(fs)) return;
  put(o, "\nfunctions (%zu)\n  %-28s %-20s %10s %7s %8s %8s %10s %10s\n", json_object_size(fs),
      "name", "strategy", "calls", "errors", "timeouts", "hit rate", "p50", "p99");
  const char *name;
  json_t *f;
  json_object_foreach(fs, name, f) {
    char a[32], b[32], c[32], d[32], e[32], g[32];
    json_t *dur = json_object_get(f, "duration_seconds");
    bool looked = num(f, "cache_hits") + num(f, "cache_misses") > 0;
    put(o, "  %-28.28s %-20.20s %10s %7s %8s %8s %10s %10s\n", name, str(f, "strategy"),
        count(num(f, "calls"), a, sizeof a), count(num(f, "errors"), b, sizeof b),
        count(num(f, "timeouts"), c, sizeof c),
        looked ? percent(num(f, "hit_rate"), d, sizeof d) : "-",
        duration(num(dur, "p50"), e, sizeof e), duration(num(dur, "p99"), g, sizeof g));
  }
}

/* The levels of a multi-level cache, one indented line each ("L2" with its
 * compression ratio); nothing for a cache that has L1 only. */
static void cache_levels(out *o, json_t *lv) {
  if (!json_is_object(lv) || json_object_size(lv) < 2) return;
  const char *name;
  json_t *l;
  json_object_foreach(lv, name, l) {
    char a[32], b[32], h[32], m[32], r[32];
    double cr = num(l, "compression_ratio");
    if (cr > 0) (void)snprintf(r, sizeof r, "%.2fx", cr);
    put(o, "    %-18.18s %-5s %-9s %9s %10s %10s %10s %8s\n", "", name, "",
        count(num(l, "entries"), a, sizeof a), bytes(num(l, "bytes"), b, sizeof b),
        count(num(l, "hits"), h, sizeof h), count(num(l, "misses"), m, sizeof m), cr > 0 ? r : "-");
  }
}

static void caches(out *o, json_t *root) {
  json_t *cs = json_object_get(root, "cache_stats");
  if (!json_is_object(cs)) return;
  put(o, "\ncaches (%zu)\n  %-20s %-5s %-9s %9s %10s %10s %10s %8s %9s\n", json_object_size(cs),
      "name", "level", "strategy", "entries", "bytes", "hits", "misses", "hit rate", "evictions");
  const char *name;
  json_t *c;
  json_object_foreach(cs, name, c) {
    char a[32], b[32], h[32], m[32], r[32], v[32];
    put(o, "  %-20.20s %-5s %-9s %9s %10s %10s %10s %8s %9s\n", name, str(c, "level"),
        str(c, "strategy"), count(num(c, "entries"), a, sizeof a),
        bytes(num(c, "bytes"), b, sizeof b), count(num(c, "hits"), h, sizeof h),
        count(num(c, "misses"), m, sizeof m), percent(num(c, "hit_rate"), r, sizeof r),
        count(num(c, "evictions"), v, sizeof v));
    cache_levels(o, json_object_get(c, "levels"));
  }
}

static void memory(out *o, json_t *root) {
  json_t *ms = json_object_get(root, "memory_stats");
  if (!json_is_object(ms)) return;
  json_t *pm = json_object_get(ms, "process_memory");
  json_t *sm = json_object_get(ms, "system_memory");
  json_t *pr = json_object_get(ms, "pressure");
  char a[32], b[32], c[32], d[32];
  put(o, "\nmemory\n  process: rss %s, heap %s\n", bytes(num(pm, "rss_bytes"), a, sizeof a),
      bytes(num(pm, "heap_bytes"), b, sizeof b));
  if (json_is_true(json_object_get(sm, "available")))
    put(o, "  system:  %.1f%% used (%s of %s, %s available)\n", num(sm, "memory_percent"),
        bytes(num(sm, "used_bytes"), a, sizeof a), bytes(num(sm, "total_bytes"), b, sizeof b),
        bytes(num(sm, "available_bytes"), c, sizeof c));
  else
    put(o, "  system:  not readable\n");
  put(o, "  pressure: level %s, usage %s of limit %s, %s events, %s reclaims\n", str(pr, "level"),
      percent(num(pr, "usage_ratio"), a, sizeof a), bytes(num(pr, "limit_bytes"), b, sizeof b),
      count(num(pr, "events"), c, sizeof c), count(num(pr, "reclaims"), d, sizeof d));
}

/* One pool's line: workers, tasks, steals, queue wait, scaling. */
static void pool_line(out *o, const char *label, json_t *p) {
  json_t *w = json_object_get(p, "queue_wait_ns");
  json_t *sc = json_object_get(p, "scaling");
  char a[32], b[32], c[32], d[32], e[32];
  put(o, "  %-4s %s workers, %s tasks, %s stolen, queue wait p50 %s p99 %s", label,
      count(num(p, "workers"), a, sizeof a), count(num(p, "tasks_run"), b, sizeof b),
      count(num(p, "tasks_stolen"), c, sizeof c), duration(num(w, "p50") / 1e9, d, sizeof d),
      duration(num(w, "p99") / 1e9, e, sizeof e));
  if (json_is_true(json_object_get(sc, "enabled")))
    put(o, ", scaling %s-%s (peak %s, +%s -%s)", count(num(sc, "min_workers"), a, sizeof a),
        count(num(sc, "max_workers"), b, sizeof b), count(num(sc, "peak_workers"), c, sizeof c),
        count(num(sc, "grown"), d, sizeof d), count(num(sc, "shrunk"), e, sizeof e));
  put(o, "\n");
}

static void pools(out *o, json_t *root) {
  json_t *ps = json_object_get(root, "pool_stats");
  if (!json_is_object(ps)) return;
  json_t *cpu = json_object_get(ps, "cpu");
  json_t *io = json_object_get(ps, "io");
  char a[32], b[32];
  put(o, "\npools\n");
  pool_line(o, "cpu:", cpu);
  put(o, "       %s batches\n", count(num(cpu, "batches"), a, sizeof a));
  pool_line(o, "io:", io);
  put(o, "       executor %s, %s engine tasks, %s pending\n", str(io, "executor"),
      count(num(io, "tasks"), a, sizeof a), count(num(io, "pending"), b, sizeof b));
}

static void alerts(out *o, json_t *root) {
  json_t *al = json_object_get(root, "alerts");
  if (!json_is_array(al)) return;
  put(o, "\nalerts (%zu)\n", json_array_size(al));
  size_t i;
  json_t *a;
  json_array_foreach(al, i, a) {
    put(o, "  %-10s %-8s %-24.24s %-32.32s value %g (threshold %g)\n", str(a, "kind"),
        str(a, "level"), str(a, "rule"), str(a, "series"), num(a, "value"), num(a, "threshold"));
  }
}

static void prof_functions(out *o, json_t *pf) {
  json_t *fs = json_object_get(pf, "top_functions");
  if (!json_is_array(fs) || json_array_size(fs) == 0) return;
  put(o, "  %-48s %8s %8s\n", "function", "self %", "total %");
  size_t i;
  json_t *f;
  json_array_foreach(fs, i, f) {
    put(o, "  %-48.48s %8.2f %8.2f\n", str(f, "name"), num(f, "self_pct"), num(f, "total_pct"));
  }
}

static void prof_zones(out *o, json_t *pf) {
  json_t *zs = json_object_get(pf, "zones");
  if (!json_is_array(zs) || json_array_size(zs) == 0) return;
  put(o, "  %-32s %10s %10s %10s %10s %10s\n", "zone", "count", "total", "self", "p50", "p99");
  size_t i;
  json_t *z;
  json_array_foreach(zs, i, z) {
    char c[32], t[32], s[32], p5[32], p9[32];
    put(o, "  %-32.32s %10s %10s %10s %10s %10s\n", str(z, "name"),
        count(num(z, "count"), c, sizeof c), duration(num(z, "total_seconds"), t, sizeof t),
        duration(num(z, "self_seconds"), s, sizeof s), duration(num(z, "p50"), p5, sizeof p5),
        duration(num(z, "p99"), p9, sizeof p9));
  }
}

static void profiler(out *o, json_t *root) {
  json_t *pf = json_object_get(root, "profiler");
  if (!json_is_object(pf)) return;
  if (!json_is_true(json_object_get(pf, "available"))) {
    json_t *err = json_object_get(pf, "error");
    if (json_is_string(err))
      put(o, "\nprofiler: not available (%s)\n", json_string_value(err));
    else
      put(o, "\nprofiler: no profile attached or running\n");
    return;
  }
  char a[32];
  json_t *src = json_object_get(pf, "source");
  put(o, "\nprofiler (%s samples%s%s%s)\n", count(num(pf, "samples"), a, sizeof a),
      json_is_string(src) ? ", " : "", json_is_string(src) ? json_string_value(src) : "",
      json_is_string(src) ? " profile" : "");
  prof_functions(o, pf);
  prof_zones(o, pf);
}

static void header(out *o, json_t *root) {
  json_t *e = json_object_get(root, "engine");
  char a[32], b[32];
  put(o,
      "gsperf optimization report\nengine %s: level %s, strategy %s, %s cpu + %s io workers, "
      "caching %s, async %s\n",
      json_is_string(json_object_get(e, "name")) ? str(e, "name") : "default", str(e, "level"),
      str(e, "strategy"), count(num(e, "max_workers"), a, sizeof a),
      count(num(e, "io_workers"), b, sizeof b),
      json_is_true(json_object_get(e, "enable_caching")) ? "on" : "off",
      json_is_true(json_object_get(e, "enable_async")) ? "on" : "off");
}

static void put_err(char *err, size_t cap, const char *fmt, ...) GSP_PRINTF(3, 4);
static void put_err(char *err, size_t cap, const char *fmt, ...) {
  if (err == NULL || cap == 0) return;
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

int gsp_opt_report_text(const char *json, char **result, char *err, size_t errcap) {
  if (json == NULL || result == NULL) return GSP_EINVAL;
  *result = NULL;
  json_error_t je;
  json_t *root = json_loads(json, 0, &je);
  if (root == NULL) {
    put_err(err, errcap, "line %d column %d: %s", je.line, je.column, je.text);
    return GSP_EFORMAT;
  }
  const char *schema = str(root, "schema");
  if (strncmp(schema, "gsperf.optimization_report.", 27) != 0) {
    put_err(err, errcap, "not an optimization report (\"schema\" is %.60s)", schema);
    json_decref(root);
    return GSP_EFORMAT;
  }
  out o = {0};
  header(&o, root);
  functions(&o, root);
  caches(&o, root);
  memory(&o, root);
  pools(&o, root);
  alerts(&o, root);
  profiler(&o, root);
  json_decref(root);
  if (o.err != GSP_OK) {
    gsp_free(o.buf);
    return o.err;
  }
  *result = o.buf;
  return GSP_OK;
}
