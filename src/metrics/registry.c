/*
 * registry.c - the metrics registry: families, children, name rules,
 * gauges and the per-registry error message.
 *
 * Layout. A registry keeps its families in an array in creation order (the
 * exposition order) and each family its children likewise; lookups by name
 * and by label values are linear scans under the registry lock. They happen
 * when a caller asks for a handle, which it then keeps, so the scan is off
 * the recording path (a registry with 1,000 families creates each in a few
 * microseconds). Counters and histograms get a slot number, the index in
 * every thread shard's directory (shard.c), and a "retired" block where the
 * shards of exited threads are folded. A child renders its label pairs once,
 * escaped, at creation, so exposition copies bytes instead of escaping.
 *
 * Name rules are Prometheus's: metric [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * [a-zA-Z_][a-zA-Z0-9_]* without a "__" prefix, "le" reserved in
 * histograms. A failure says which name, which character and where.
 *
 * Lock: m->lock guards the family and child arrays, the slot table, the
 * retired blocks, the shard list and errmsg.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "metrics_int.h"

static _Atomic uint64_t g_next_id = 1;

void gsp__metrics_err(gsp_metrics *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->errmsg, sizeof m->errmsg, fmt, ap);
  va_end(ap);
}

const char *gsp_metrics_errmsg(const gsp_metrics *m) { return m ? m->errmsg : ""; }

int gsp_metrics_create(const gsp_metrics_config *cfg, gsp_metrics **out) {
  if (out == NULL) return GSP_EINVAL;
  uint32_t max = cfg && cfg->max_series ? cfg->max_series : GSP_METRICS_DEFAULT_MAX_SERIES;
  if (max > GSP__MAX_SERIES) return GSP_EINVAL;
  gsp__hist_tables_init();
  gsp_metrics *m = gsp_calloc(1, sizeof *m);
  if (m == NULL) return GSP_ENOMEM;
  if (pthread_mutex_init(&m->lock, NULL) != 0) {
    gsp_free(m);
    return GSP_ENOMEM;
  }
  m->id = atomic_fetch_add(&g_next_id, 1);
  m->max_series = max;
  *out = m;
  return GSP_OK;
}

static void free_strv(char **v, size_t n) {
  if (v == NULL) return;
  for (size_t i = 0; i < n; i++) gsp_free(v[i]);
  gsp_free(v);
}

static void child_free(gsp__child *ch, size_t nlabels) {
  if (ch == NULL) return;
  free_strv(ch->values, nlabels);
  gsp_free(ch->labels);
  gsp_free(ch->retired);
  gsp_free(ch);
}

static void family_free(gsp_metric_family *f) {
  if (f == NULL) return;
  for (size_t i = 0; i < f->nchildren; i++) child_free(f->children[i], f->nlabels);
  gsp_free(f->children);
  free_strv(f->label_names, f->nlabels);
  for (unsigned i = 0; i < GSP_HIST_LE_COUNT; i++) gsp_free(f->le_text[i]);
  gsp_free(f->name);
  gsp_free(f->help);
  gsp_free(f);
}

void gsp_metrics_destroy(gsp_metrics *m) {
  if (m == NULL) return;
  gsp__shards_drop(m);
  for (size_t i = 0; i < m->nfams; i++) family_free(m->fams[i]);
  gsp_free(m->fams);
  gsp_free(m->slots);
  pthread_mutex_destroy(&m->lock);
  gsp_free(m);
}

/* ---- names ---------------------------------------------------------- */

static bool name_char(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (c == ':') return colon;
  return !first && c >= '0' && c <= '9';
}

/* Position of the first bad character, -1 if none; -2 if empty. */
static long bad_char(const char *s, bool colon) {
  if (s[0] == '\0') return -2;
  for (size_t i = 0; s[i] != '\0'; i++)
    if (!name_char(s[i], i == 0, colon)) return (long)i;
  return -1;
}

int gsp_metrics_check_name(const char *name) {
  return name != NULL && bad_char(name, true) == -1 ? GSP_OK : GSP_EINVAL;
}

int gsp_metrics_check_label_name(const char *name) {
  if (name == NULL || bad_char(name, false) != -1) return GSP_EINVAL;
  return strncmp(name, "__", 2) == 0 ? GSP_EINVAL : GSP_OK;
}

static int check_name_msg(gsp_metrics *m, const char *what, const char *name, bool colon,
                          const char *metric) {
  if (name == NULL) {
    gsp__metrics_err(m, "%s of metric \"%s\" is NULL", what, metric ? metric : "?");
    return GSP_EINVAL;
  }
  long pos = bad_char(name, colon);
  const char *rule = colon ? "[a-zA-Z_:][a-zA-Z0-9_:]*" : "[a-zA-Z_][a-zA-Z0-9_]*";
  if (pos == -2) {
    gsp__metrics_err(m, "%s is empty (must match %s)", what, rule);
    return GSP_EINVAL;
  }
  if (pos >= 0) {
    unsigned char c = (unsigned char)name[pos];
    gsp__metrics_err(m,
                     "%s \"%.80s\": character '%c' (0x%02x) at position %ld is not allowed "
                     "(must match %s)",
                     what, name, c >= 0x20 && c < 0x7f ? c : '?', c, pos, rule);
    return GSP_EINVAL;
  }
  return GSP_OK;
}

static int check_labels(gsp_metrics *m, const gsp_metric_desc *d) {
  if (d->nlabels > GSP_METRICS_MAX_LABELS || (d->nlabels && d->label_names == NULL)) {
    gsp__metrics_err(m, "metric \"%.80s\": %zu labels (at most %u, names required)", d->name,
                     d->nlabels, GSP_METRICS_MAX_LABELS);
    return GSP_EINVAL;
  }
  for (size_t i = 0; i < d->nlabels; i++) {
    const char *l = d->label_names[i];
    int rv = check_name_msg(m, "label name", l, false, d->name);
    if (rv != GSP_OK) return rv;
    if (strncmp(l, "__", 2) == 0) {
      gsp__metrics_err(m,
                       "label name \"%.80s\" of metric \"%.80s\": names starting with \"__\" "
                       "are reserved",
                       l, d->name);
      return GSP_EINVAL;
    }
    if (d->type == GSP_METRIC_HISTOGRAM && strcmp(l, "le") == 0) {
      gsp__metrics_err(m, "label name \"le\" of histogram \"%.80s\" is reserved", d->name);
      return GSP_EINVAL;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(d->label_names[j], l) == 0) {
        gsp__metrics_err(m, "metric \"%.80s\": label name \"%.80s\" given twice", d->name, l);
        return GSP_EINVAL;
      }
  }
  return GSP_OK;
}

static const char *type_name(gsp_metric_type t) {
  switch (t) {
    case GSP_METRIC_COUNTER:
      return "counter";
    case GSP_METRIC_GAUGE:
      return "gauge";
    case GSP_METRIC_HISTOGRAM:
      return "histogram";
  }
  return "?";
}

static int check_desc(gsp_metrics *m, const gsp_metric_desc *d) {
  if (d->type != GSP_METRIC_COUNTER && d->type != GSP_METRIC_GAUGE &&
      d->type != GSP_METRIC_HISTOGRAM) {
    gsp__metrics_err(m, "metric \"%.80s\": unknown type %d", d->name ? d->name : "?", (int)d->type);
    return GSP_EINVAL;
  }
  int rv = check_name_msg(m, "metric name", d->name, true, d->name);
  if (rv != GSP_OK) return rv;
  if (!(d->scale >= 0) || d->scale > 1e300) {
    gsp__metrics_err(m, "metric \"%.80s\": scale must be positive or 0", d->name);
    return GSP_EINVAL;
  }
  return check_labels(m, d);
}

/* ---- families ------------------------------------------------------- */

static bool same_shape(const gsp_metric_family *f, const gsp_metric_desc *d, double scale) {
  if (f->type != d->type || f->nlabels != d->nlabels || f->scale != scale) return false;
  for (size_t i = 0; i < f->nlabels; i++)
    if (strcmp(f->label_names[i], d->label_names[i]) != 0) return false;
  return true;
}

static void shape_text(char *buf, size_t cap, gsp_metric_type t, char *const *names, size_t n) {
  int off = snprintf(buf, cap, "%s with labels (", type_name(t));
  for (size_t i = 0; i < n && off > 0 && (size_t)off < cap; i++)
    off += snprintf(buf + off, cap - (size_t)off, "%s%s", i ? "," : "", names[i]);
  if (off > 0 && (size_t)off < cap) snprintf(buf + off, cap - (size_t)off, ")");
}

static int family_mismatch(gsp_metrics *m, const gsp_metric_family *f, const gsp_metric_desc *d) {
  char had[96], want[96];
  shape_text(had, sizeof had, f->type, f->label_names, f->nlabels);
  shape_text(want, sizeof want, d->type, (char *const *)d->label_names, d->nlabels);
  gsp__metrics_err(m, "metric \"%.60s\" already registered as %s; asked for %s%s", f->name, had,
                   want, f->type == d->type && f->nlabels == d->nlabels ? " or another scale" : "");
  return GSP_EEXIST;
}

static int family_fill(gsp_metric_family *f, const gsp_metric_desc *d) {
  f->name = gsp_strdup(d->name);
  f->help = gsp_strdup(d->help ? d->help : "");
  if (f->name == NULL || f->help == NULL) return GSP_ENOMEM;
  if (d->nlabels) {
    f->label_names = gsp_calloc(d->nlabels, sizeof *f->label_names);
    if (f->label_names == NULL) return GSP_ENOMEM;
    f->nlabels = d->nlabels;
    for (size_t i = 0; i < d->nlabels; i++)
      if ((f->label_names[i] = gsp_strdup(d->label_names[i])) == NULL) return GSP_ENOMEM;
  }
  if (f->type != GSP_METRIC_HISTOGRAM) return GSP_OK;
  double inv = 1.0 / f->scale, whole = (double)(uint64_t)(inv + 0.5);
  if (inv >= 1 && inv < 1e18 && (whole - inv) / inv < 1e-12 && (inv - whole) / inv < 1e-12)
    f->inv_scale = whole;
  for (unsigned i = 0; i < GSP_HIST_LE_COUNT; i++) {
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", gsp__scaled(f, (double)gsp_hist_le_bound(i)));
    if ((f->le_text[i] = gsp_strdup(buf)) == NULL) return GSP_ENOMEM;
  }
  return GSP_OK;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return GSP_OK;
  size_t ncap = *cap ? *cap * 2 : 8;
  while (ncap < need) ncap *= 2;
  void *p = gsp_realloc(*arr, ncap * elem);
  if (p == NULL) return GSP_ENOMEM;
  *arr = p;
  *cap = ncap;
  return GSP_OK;
}

static gsp_metric_family *find_family_locked(gsp_metrics *m, const char *name) {
  for (size_t i = 0; i < m->nfams; i++)
    if (strcmp(m->fams[i]->name, name) == 0) return m->fams[i];
  return NULL;
}

static int family_locked(gsp_metrics *m, const gsp_metric_desc *d, gsp_metric_family **out) {
  double scale = d->type == GSP_METRIC_HISTOGRAM ? (d->scale > 0 ? d->scale : 1e-9) : 1.0;
  gsp_metric_family *f = find_family_locked(m, d->name);
  if (f != NULL) {
    if (!same_shape(f, d, scale)) return family_mismatch(m, f, d);
    *out = f;
    return GSP_OK;
  }
  if (grow((void **)&m->fams, &m->fams_cap, m->nfams + 1, sizeof(void *)) != GSP_OK) goto out_nomem;
  f = gsp_calloc(1, sizeof *f);
  if (f == NULL) goto out_nomem;
  f->reg = m;
  f->type = d->type;
  f->scale = scale;
  if (family_fill(f, d) != GSP_OK) {
    family_free(f);
    goto out_nomem;
  }
  m->fams[m->nfams++] = f;
  *out = f;
  return GSP_OK;
out_nomem:
  gsp__metrics_err(m, "metric \"%.80s\": out of memory", d->name);
  return GSP_ENOMEM;
}

int gsp_metrics_family(gsp_metrics *m, const gsp_metric_desc *d, gsp_metric_family **out) {
  if (m == NULL || d == NULL || out == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&m->lock);
  int rv = check_desc(m, d);
  if (rv == GSP_OK) rv = family_locked(m, d, out);
  pthread_mutex_unlock(&m->lock);
  return rv;
}

/* ---- children ------------------------------------------------------- */

/* Escaped length of a label value: \ " and newline take two bytes. */
static size_t escaped_len(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += (*s == '\\' || *s == '"' || *s == '\n') ? 2 : 1;
  return n;
}

static char *escape_into(char *p, const char *s) {
  for (; *s; s++) {
    if (*s == '\\' || *s == '"' || *s == '\n') {
      *p++ = '\\';
      *p++ = *s == '\n' ? 'n' : *s;
    } else {
      *p++ = *s;
    }
  }
  return p;
}

static int render_labels(gsp__child *ch, const gsp_metric_family *f) {
  size_t n = 1;
  for (size_t i = 0; i < f->nlabels; i++)
    n += strlen(f->label_names[i]) + escaped_len(ch->values[i]) + 4;
  char *p = ch->labels = gsp_malloc(n);
  if (p == NULL) return GSP_ENOMEM;
  for (size_t i = 0; i < f->nlabels; i++) {
    if (i) *p++ = ',';
    size_t ln = strlen(f->label_names[i]);
    memcpy(p, f->label_names[i], ln);
    p += ln;
    *p++ = '=';
    *p++ = '"';
    p = escape_into(p, ch->values[i]);
    *p++ = '"';
  }
  *p = '\0';
  ch->labels_len = (size_t)(p - ch->labels);
  return GSP_OK;
}

static gsp__child *find_child_locked(const gsp_metric_family *f, const char *const *values) {
  for (size_t i = 0; i < f->nchildren; i++) {
    gsp__child *ch = f->children[i];
    size_t j = 0;
    while (j < f->nlabels && strcmp(ch->values[j], values[j]) == 0) j++;
    if (j == f->nlabels) return ch;
  }
  return NULL;
}

static int child_fill(gsp__child *ch, gsp_metric_family *f, const char *const *values) {
  if (f->nlabels) {
    ch->values = gsp_calloc(f->nlabels, sizeof *ch->values);
    if (ch->values == NULL) return GSP_ENOMEM;
    for (size_t i = 0; i < f->nlabels; i++)
      if ((ch->values[i] = gsp_strdup(values[i])) == NULL) return GSP_ENOMEM;
  }
  if (render_labels(ch, f) != GSP_OK) return GSP_ENOMEM;
  if (ch->ncells == 0) return GSP_OK;
  ch->retired = gsp_malloc(ch->ncells * sizeof *ch->retired);
  if (ch->retired == NULL) return GSP_ENOMEM;
  if (ch->ncells == 1)
    ch->retired[0] = 0;
  else
    gsp__hist_block_init(ch->retired);
  return GSP_OK;
}

static int child_new_locked(gsp_metric_family *f, const char *const *values, gsp__child **out) {
  gsp_metrics *m = f->reg;
  uint32_t ncells = f->type == GSP_METRIC_COUNTER     ? 1u
                    : f->type == GSP_METRIC_HISTOGRAM ? GSP__H_CELLS
                                                      : 0u;
  if (ncells && m->nslots >= m->max_series) {
    gsp__metrics_err(m, "metric \"%.80s\": max_series (%u) reached", f->name, m->max_series);
    return GSP_ENOSPC;
  }
  gsp__child *ch = gsp_calloc(1, sizeof *ch);
  if (ch == NULL) goto out_nomem;
  ch->fam = f;
  ch->reg_id = m->id;
  ch->ncells = ncells;
  if (child_fill(ch, f, values) != GSP_OK) goto out_free;
  if (grow((void **)&f->children, &f->cap, f->nchildren + 1, sizeof(void *)) != GSP_OK)
    goto out_free;
  if (ncells) {
    size_t cap = m->slots_cap;
    if (grow((void **)&m->slots, &cap, (size_t)m->nslots + 1, sizeof(void *)) != GSP_OK)
      goto out_free;
    m->slots_cap = (uint32_t)cap;
    ch->slot = m->nslots;
    ch->dir_hi = ch->slot >> GSP__DIR_BITS;
    ch->dir_lo = ch->slot & (GSP__DIR_N - 1);
    m->slots[m->nslots++] = ch;
  }
  f->children[f->nchildren++] = ch;
  *out = ch;
  return GSP_OK;
out_free:
  child_free(ch, f->nlabels);
out_nomem:
  gsp__metrics_err(m, "metric \"%.80s\": out of memory", f->name);
  return GSP_ENOMEM;
}

static int child_get(gsp_metric_family *f, gsp_metric_type t, const char *const *values,
                     gsp__child **out) {
  if (f == NULL || out == NULL) return GSP_EINVAL;
  gsp_metrics *m = f->reg;
  pthread_mutex_lock(&m->lock);
  int rv = GSP_OK;
  if (f->type != t) {
    gsp__metrics_err(m, "metric \"%.80s\" is a %s, not a %s", f->name, type_name(f->type),
                     type_name(t));
    rv = GSP_EINVAL;
    goto out_unlock;
  }
  for (size_t i = 0; i < f->nlabels; i++)
    if (values == NULL || values[i] == NULL) {
      gsp__metrics_err(m, "metric \"%.80s\": value of label \"%s\" is NULL", f->name,
                       f->label_names[i]);
      rv = GSP_EINVAL;
      goto out_unlock;
    }
  *out = find_child_locked(f, values);
  if (*out == NULL) rv = child_new_locked(f, values, out);
out_unlock:
  pthread_mutex_unlock(&m->lock);
  return rv;
}

int gsp_metrics_counter(gsp_metric_family *f, const char *const *lv, gsp_counter **out) {
  return child_get(f, GSP_METRIC_COUNTER, lv, (gsp__child **)out);
}

int gsp_metrics_gauge(gsp_metric_family *f, const char *const *lv, gsp_gauge **out) {
  return child_get(f, GSP_METRIC_GAUGE, lv, (gsp__child **)out);
}

int gsp_metrics_histogram(gsp_metric_family *f, const char *const *lv, gsp_hist **out) {
  return child_get(f, GSP_METRIC_HISTOGRAM, lv, (gsp__child **)out);
}

static int simple(gsp_metrics *m, const char *name, const char *help, gsp_metric_type t,
                  gsp__child **out) {
  gsp_metric_family *f = NULL;
  int rv = gsp_metrics_family(m, &(gsp_metric_desc){.name = name, .help = help, .type = t}, &f);
  if (rv != GSP_OK) return rv;
  return child_get(f, t, NULL, out);
}

int gsp_metrics_counter_new(gsp_metrics *m, const char *name, const char *help, gsp_counter **out) {
  return simple(m, name, help, GSP_METRIC_COUNTER, (gsp__child **)out);
}

int gsp_metrics_gauge_new(gsp_metrics *m, const char *name, const char *help, gsp_gauge **out) {
  return simple(m, name, help, GSP_METRIC_GAUGE, (gsp__child **)out);
}

int gsp_metrics_histogram_new(gsp_metrics *m, const char *name, const char *help, gsp_hist **out) {
  return simple(m, name, help, GSP_METRIC_HISTOGRAM, (gsp__child **)out);
}

/* ---- gauges: one shared double, stored as its bits ------------------ */

static uint64_t dbits(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

static double bitsd(uint64_t b) {
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

/* Clear the unset flag only when it is set, so a hot gauge's line is not
 * written twice per store. */
static void mark_set(gsp_gauge *g) {
  if (atomic_load_explicit(&g->c.unset, memory_order_relaxed))
    atomic_store_explicit(&g->c.unset, false, memory_order_relaxed);
}

void gsp_gauge_set(gsp_gauge *g, double v) {
  atomic_store_explicit(&g->c.gauge, dbits(v), memory_order_relaxed);
  mark_set(g);
}

void gsp_gauge_unset(gsp_gauge *g) {
  atomic_store_explicit(&g->c.unset, true, memory_order_relaxed);
}

bool gsp_gauge_is_set(gsp_gauge *g) {
  return !atomic_load_explicit(&g->c.unset, memory_order_relaxed);
}

void gsp_gauge_add(gsp_gauge *g, double v) {
  mark_set(g);
  uint64_t old = atomic_load_explicit(&g->c.gauge, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&g->c.gauge, &old, dbits(bitsd(old) + v),
                                                memory_order_relaxed, memory_order_relaxed)) {
  }
}

void gsp_gauge_inc(gsp_gauge *g) { gsp_gauge_add(g, 1.0); }
void gsp_gauge_dec(gsp_gauge *g) { gsp_gauge_add(g, -1.0); }

double gsp_gauge_value(gsp_gauge *g) {
  return bitsd(atomic_load_explicit(&g->c.gauge, memory_order_relaxed));
}
