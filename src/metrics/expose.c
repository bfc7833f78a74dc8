/*
 * expose.c - exposition: Prometheus text 0.0.4 and OpenMetrics 1.0 text,
 * the buffered writer every format shares, and rendering into a buffer.
 *
 * Output goes through a fixed 8 KiB buffer flushed to the caller's sink,
 * so a sink sees few, large writes (HTTP, file, buffer are all just sinks).
 * Everything that can be prepared is prepared at creation: a child's
 * escaped label pairs and a histogram family's le strings; numbers are
 * formatted by hand for integers and with %.15g (or %.17g when %.15g does
 * not round-trip) for other doubles. Values are read under the registry
 * lock by summing the shards (shard.c); histograms expose their 25 fixed
 * bounds (hist.c) cumulatively, then +Inf, _sum (scaled) and _count.
 *
 * Prometheus text: "# HELP" (escaping \ and newline) and "# TYPE" once
 * per family, then one line per sample; label values escape \, " and
 * newline. OpenMetrics differs in: counters are typed under the name
 * without "_total" and sampled as name_total; HELP also escapes "; a
 * family whose name (without "_total") ends in a base unit ("_seconds",
 * "_bytes", "_ratio", ... see k_units) gets a "# UNIT" line; the
 * output ends with "# EOF". Gauges marked unset are left out (no sample
 * line), in every format.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expose_int.h"

/* ---- the buffered writer -------------------------------------------- */

void gsp__out_flush(gsp__out *o) {
  if (o->err == 0 && o->n > 0) o->err = o->fn(o->user, o->buf, o->n);
  o->n = 0;
}

void gsp__out_put(gsp__out *o, const char *s, size_t len) {
  while (len > 0 && o->err == 0) {
    size_t room = sizeof o->buf - o->n;
    if (room == 0) {
      gsp__out_flush(o);
      continue;
    }
    size_t k = len < room ? len : room;
    memcpy(o->buf + o->n, s, k);
    o->n += k;
    s += k;
    len -= k;
  }
}

void gsp__out_str(gsp__out *o, const char *s) { gsp__out_put(o, s, strlen(s)); }

void gsp__out_u64(gsp__out *o, uint64_t v) {
  char tmp[24];
  char *p = tmp + sizeof tmp;
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  gsp__out_put(o, p, (size_t)(tmp + sizeof tmp - p));
}

void gsp__out_double(gsp__out *o, double v) {
  if (isnan(v)) {
    gsp__out_str(o, "NaN");
  } else if (isinf(v)) {
    gsp__out_str(o, v > 0 ? "+Inf" : "-Inf");
  } else if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
    if (v < 0) gsp__out_put(o, "-", 1);
    gsp__out_u64(o, (uint64_t)fabs(v));
  } else {
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    gsp__out_str(o, buf);
  }
}

/* HELP text: \ and newline escaped; with quote, " too (OpenMetrics). */
static void out_help(gsp__out *o, const char *s, bool quote) {
  const char *run = s;
  for (; *s; s++) {
    if (*s != '\\' && *s != '\n' && !(quote && *s == '"')) continue;
    gsp__out_put(o, run, (size_t)(s - run));
    gsp__out_put(o, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"", 2);
    run = s + 1;
  }
  gsp__out_put(o, run, (size_t)(s - run));
}

/* ---- samples -------------------------------------------------------- */

typedef struct text_fam {
  gsp__out *o;
  const gsp_metric_family *f;
  bool om;
  size_t base_len; /* family name without _total (OpenMetrics counters) */
} text_fam;

/* name + suffix + {labels[,extra]} + ' ' */
static void sample_head(const text_fam *t, const gsp__child *ch, const char *suffix,
                        const char *le) {
  gsp__out *o = t->o;
  gsp__out_put(o, t->f->name, t->base_len);
  gsp__out_str(o, suffix);
  if (ch->labels_len > 0 || le != NULL) {
    gsp__out_put(o, "{", 1);
    gsp__out_put(o, ch->labels, ch->labels_len);
    if (le != NULL) {
      gsp__out_str(o, ch->labels_len > 0 ? ",le=\"" : "le=\"");
      gsp__out_str(o, le);
      gsp__out_put(o, "\"", 1);
    }
    gsp__out_put(o, "}", 1);
  }
  gsp__out_put(o, " ", 1);
}

static void hist_samples(const text_fam *t, const gsp__child *ch) {
  uint64_t le[GSP_HIST_LE_COUNT + 1], sum, cum = 0;
  gsp__hist_le_of_locked(ch, le, &sum);
  for (unsigned i = 0; i <= GSP_HIST_LE_COUNT; i++) {
    cum += le[i];
    sample_head(t, ch, "_bucket", i < GSP_HIST_LE_COUNT ? t->f->le_text[i] : "+Inf");
    gsp__out_u64(t->o, cum);
    gsp__out_put(t->o, "\n", 1);
  }
  sample_head(t, ch, "_sum", NULL);
  gsp__out_double(t->o, gsp__scaled(t->f, (double)sum));
  gsp__out_put(t->o, "\n", 1);
  sample_head(t, ch, "_count", NULL);
  gsp__out_u64(t->o, cum);
  gsp__out_put(t->o, "\n", 1);
}

static void child_samples(const text_fam *t, const gsp__child *ch) {
  switch (t->f->type) {
    case GSP_METRIC_COUNTER:
      sample_head(t, ch, t->om ? "_total" : "", NULL);
      gsp__out_u64(t->o, gsp__sum_cell_locked(ch, 0));
      break;
    case GSP_METRIC_GAUGE:
      if (!gsp_gauge_is_set((gsp_gauge *)ch)) return;
      sample_head(t, ch, "", NULL);
      gsp__out_double(t->o, gsp_gauge_value((gsp_gauge *)ch));
      break;
    case GSP_METRIC_HISTOGRAM:
      hist_samples(t, ch);
      return;
  }
  gsp__out_put(t->o, "\n", 1);
}

static const char *const g_type_text[] = {"counter", "gauge", "histogram"};

/* OpenMetrics base units a family name may end in ("_<unit>"). */
static const char *const k_units[] = {"seconds", "bytes",   "ratio",  "celsius", "meters",
                                      "grams",   "amperes", "joules", "volts"};

/* The unit the family's name (without _total) ends in, or NULL. */
static const char *name_unit(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof k_units / sizeof k_units[0]; i++) {
    size_t ul = strlen(k_units[i]);
    if (len > ul + 1 && name[len - ul - 1] == '_' && memcmp(name + len - ul, k_units[i], ul) == 0)
      return k_units[i];
  }
  return NULL;
}

static void family_text(gsp__out *o, const gsp_metric_family *f, bool om) {
  text_fam t = {o, f, om, strlen(f->name)};
  if (om && f->type == GSP_METRIC_COUNTER && t.base_len > 6 &&
      strcmp(f->name + t.base_len - 6, "_total") == 0)
    t.base_len -= 6;
  gsp__out_str(o, "# HELP ");
  gsp__out_put(o, f->name, t.base_len);
  gsp__out_put(o, " ", 1);
  out_help(o, f->help, om);
  gsp__out_str(o, "\n# TYPE ");
  gsp__out_put(o, f->name, t.base_len);
  gsp__out_put(o, " ", 1);
  gsp__out_str(o, g_type_text[f->type]);
  gsp__out_put(o, "\n", 1);
  const char *unit = om ? name_unit(f->name, t.base_len) : NULL;
  if (unit != NULL) {
    gsp__out_str(o, "# UNIT ");
    gsp__out_put(o, f->name, t.base_len);
    gsp__out_put(o, " ", 1);
    gsp__out_str(o, unit);
    gsp__out_put(o, "\n", 1);
  }
  for (size_t i = 0; i < f->nchildren && o->err == 0; i++) child_samples(&t, f->children[i]);
}

static int write_text_locked(gsp_metrics *m, gsp__out *o, bool om) {
  for (size_t i = 0; i < m->nfams && o->err == 0; i++) family_text(o, m->fams[i], om);
  if (om) gsp__out_str(o, "# EOF\n");
  return GSP_OK;
}

/* ---- entry points --------------------------------------------------- */

int gsp_metrics_write(gsp_metrics *m, gsp_metrics_format fmt, gsp_metrics_write_fn fn, void *user) {
  if (m == NULL || fn == NULL || (unsigned)fmt > GSP_METRICS_JSON) return GSP_EINVAL;
  gsp__out *o = gsp_malloc(sizeof *o);
  if (o == NULL) return GSP_ENOMEM;
  o->fn = fn;
  o->user = user;
  o->err = 0;
  o->n = 0;
  pthread_mutex_lock(&m->lock);
  int rv = fmt == GSP_METRICS_JSON ? gsp__write_json_locked(m, o)
                                   : write_text_locked(m, o, fmt == GSP_METRICS_OPENMETRICS);
  if (rv == GSP_OK) gsp__out_flush(o);
  pthread_mutex_unlock(&m->lock);
  if (rv == GSP_OK) rv = o->err;
  gsp_free(o);
  return rv;
}

typedef struct growbuf {
  char *p;
  size_t len, cap;
} growbuf;

static int grow_sink(void *user, const char *buf, size_t len) {
  growbuf *g = user;
  if (g->p == NULL || g->len + len + 1 > g->cap) {
    size_t ncap = g->cap ? g->cap * 2 : 16384;
    while (ncap < g->len + len + 1) ncap *= 2;
    char *p = gsp_realloc(g->p, ncap);
    if (p == NULL) return GSP_ENOMEM;
    g->p = p;
    g->cap = ncap;
  }
  memcpy(g->p + g->len, buf, len);
  g->len += len;
  return GSP_OK;
}

int gsp_metrics_render(gsp_metrics *m, gsp_metrics_format fmt, char **out, size_t *len) {
  if (out == NULL) return GSP_EINVAL;
  growbuf g = {NULL, 0, 0};
  int rv = gsp_metrics_write(m, fmt, grow_sink, &g);
  if (rv == GSP_OK && g.p == NULL) rv = grow_sink(&g, "", 0);
  if (rv != GSP_OK) {
    gsp_free(g.p);
    return rv;
  }
  g.p[g.len] = '\0';
  *out = g.p;
  if (len != NULL) *len = g.len;
  return GSP_OK;
}

const char *gsp_metrics_content_type(gsp_metrics_format fmt) {
  switch (fmt) {
    case GSP_METRICS_PROMETHEUS:
      return "text/plain; version=0.0.4; charset=utf-8";
    case GSP_METRICS_OPENMETRICS:
      return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case GSP_METRICS_JSON:
      return "application/json";
  }
  return "application/octet-stream";
}
