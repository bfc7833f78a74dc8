/*
 * routes.c - the bodies of the HTTP routes, independent of libmicrohttpd.
 *
 * Each route fills a gsp__resp: a status, a static content type and a body
 * from gsp_malloc. On allocation failure a route answers 503 with a static
 * empty body (len 0, body NULL), never crashes. Exposition goes through
 * gsp_metrics_render(); series and alerts are read through the monitor's
 * public API (gsp_monitor_query, gsp_monitor_rules_foreach,
 * gsp_monitor_events).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "http_int.h"

#define JSON_CT "application/json"

/* The route label of the dashboard's files is "/" (one label for all of
 * them, so the label set stays fixed). */
static const char *const route_paths[GSP__R_COUNT] = {
    "/metrics", "/api/v1/metrics", "/api/v1/series", "/api/v1/alerts", "/healthz", "/",
    "host",     "other",
};

gsp__route gsp__route_of(const char *path) {
  for (int i = 0; i < GSP__R_DASHBOARD; i++)
    if (strcmp(path, route_paths[i]) == 0) return (gsp__route)i;
  return gsp__web_asset(path) ? GSP__R_DASHBOARD : GSP__R_OTHER;
}

const char *gsp__route_name(gsp__route r) { return r < GSP__R_COUNT ? route_paths[r] : "other"; }

static void resp_oom(gsp__resp *r) {
  r->status = 503;
  r->ctype = "text/plain";
  r->body = NULL;
  r->len = 0;
}

static void resp_json(gsp__resp *r, unsigned status, gsp__jbuf *b) {
  r->status = status;
  r->ctype = JSON_CT;
  if (gsp__jb_take(b, &r->body, &r->len) != GSP_OK) resp_oom(r);
}

void gsp__resp_error(gsp__resp *r, unsigned status, const char *msg, const char *param) {
  gsp__jbuf b = {0};
  gsp__jb_lit(&b, "{");
  gsp__jb_key(&b, "error", true);
  gsp__jb_str(&b, msg);
  if (param) {
    gsp__jb_key(&b, "parameter", false);
    gsp__jb_str(&b, param);
  }
  gsp__jb_lit(&b, "}\n");
  resp_json(r, status, &b);
}

void gsp__route_metrics(gsp_metrics *m, bool openmetrics, gsp__resp *r) {
  gsp_metrics_format f = openmetrics ? GSP_METRICS_OPENMETRICS : GSP_METRICS_PROMETHEUS;
  r->status = 200;
  r->ctype = gsp_metrics_content_type(f);
  if (gsp_metrics_render(m, f, &r->body, &r->len) != GSP_OK) resp_oom(r);
}

void gsp__route_api_metrics(gsp_metrics *m, gsp__resp *r) {
  r->status = 200;
  r->ctype = JSON_CT;
  if (gsp_metrics_render(m, GSP_METRICS_JSON, &r->body, &r->len) != GSP_OK) resp_oom(r);
}

/* ---- /api/v1/series ------------------------------------------------------ */

static void write_point(gsp__jbuf *b, const gsp_monitor_point *p, bool first) {
  gsp__jb_lit(b, first ? "{" : ",{");
  gsp__jb_key(b, "t", true);
  gsp__jb_num(b, (double)p->t_ns / 1e9);
  gsp__jb_key(b, "min", false);
  gsp__jb_num(b, p->min);
  gsp__jb_key(b, "max", false);
  gsp__jb_num(b, p->max);
  gsp__jb_key(b, "mean", false);
  gsp__jb_num(b, p->mean);
  gsp__jb_key(b, "count", false);
  gsp__jb_u64(b, p->count);
  gsp__jb_lit(b, "}");
}

static void write_series(gsp__jbuf *b, const gsp__series_req *q, uint64_t now,
                         const gsp_monitor_point *pts, size_t n, uint32_t step_ms) {
  gsp__jb_lit(b, "{");
  gsp__jb_key(b, "name", true);
  gsp__jb_str(b, q->name);
  gsp__jb_key(b, "labels", false);
  gsp__jb_str(b, q->labels ? q->labels : "");
  gsp__jb_key(b, "step_ms", false);
  gsp__jb_u64(b, step_ms);
  gsp__jb_key(b, "now", false);
  gsp__jb_num(b, (double)now / 1e9);
  gsp__jb_key(b, "points", false);
  gsp__jb_lit(b, "[");
  for (size_t i = 0; i < n; i++) write_point(b, &pts[i], i == 0);
  gsp__jb_lit(b, "]}\n");
}

void gsp__route_series(gsp_monitor *mon, const gsp__kv *kv, size_t n, gsp__resp *r) {
  gsp__series_req q;
  const char *bad = NULL, *why = NULL;
  if (gsp__series_params(kv, n, &q, &bad, &why) != GSP_OK) {
    gsp__resp_error(r, 400, why, bad);
    return;
  }
  uint64_t now = gsp_monitor_now(mon), span = q.range_s * 1000000000u;
  uint64_t from = now > span ? now - span : 0;
  gsp_monitor_point *pts = NULL;
  size_t np = 0;
  uint32_t step = 0;
  int rv = gsp_monitor_query(mon, q.name, q.labels, from, now, &pts, &np, &step);
  if (rv == GSP_ENOENT) {
    gsp__resp_error(r, 404, "no such series", NULL);
    return;
  }
  if (rv != GSP_OK) {
    resp_oom(r);
    return;
  }
  gsp__jbuf b = {0};
  write_series(&b, &q, now, pts, np, step);
  gsp_free(pts);
  resp_json(r, 200, &b);
}

/* ---- /api/v1/alerts ------------------------------------------------------ */

static const char *cmp_text(gsp_alert_cmp c) {
  static const char *const t[] = {">", ">=", "<", "<=", "==", "!="};
  return (unsigned)c < 6 ? t[c] : "?";
}

typedef struct rule_writer {
  gsp__jbuf *b;
  bool first;
} rule_writer;

static void write_rule(void *user, const gsp_alert_rule *rl, gsp_alert_state state) {
  rule_writer *w = user;
  gsp__jbuf *b = w->b;
  gsp__jb_lit(b, w->first ? "{" : ",{");
  w->first = false;
  gsp__jb_key(b, "name", true);
  gsp__jb_str(b, rl->name);
  gsp__jb_key(b, "metric", false);
  gsp__jb_str(b, rl->metric);
  gsp__jb_key(b, "labels", false);
  gsp__jb_str(b, rl->labels);
  gsp__jb_key(b, "comparison", false);
  gsp__jb_str(b, cmp_text(rl->cmp));
  gsp__jb_key(b, "threshold", false);
  gsp__jb_num(b, rl->threshold);
  gsp__jb_key(b, "level", false);
  gsp__jb_str(b, gsp_alert_level_name(rl->level));
  gsp__jb_key(b, "state", false);
  gsp__jb_str(b, gsp_alert_state_name(state));
  gsp__jb_lit(b, "}");
}

static const char *kind_text(gsp_alert_event_kind k) {
  static const char *const t[] = {"FIRING", "RESOLVED", "REGRESSION"};
  return (unsigned)k < 3 ? t[k] : "?";
}

static void write_event(gsp__jbuf *b, const gsp_alert_event *e, bool first) {
  gsp__jb_lit(b, first ? "{" : ",{");
  gsp__jb_key(b, "kind", true);
  gsp__jb_str(b, kind_text(e->kind));
  gsp__jb_key(b, "level", false);
  gsp__jb_str(b, gsp_alert_level_name(e->level));
  gsp__jb_key(b, "rule", false);
  gsp__jb_str(b, e->rule);
  gsp__jb_key(b, "series", false);
  gsp__jb_str(b, e->series);
  gsp__jb_key(b, "value", false);
  gsp__jb_num(b, e->value);
  gsp__jb_key(b, "baseline", false);
  gsp__jb_num(b, e->baseline);
  gsp__jb_key(b, "z", false);
  gsp__jb_num(b, e->z);
  gsp__jb_key(b, "t", false);
  gsp__jb_num(b, (double)e->t_ns / 1e9);
  gsp__jb_lit(b, "}");
}

static void write_rules(gsp_monitor *mon, gsp__jbuf *b) {
  rule_writer w = {b, true};
  gsp__jb_lit(b, "[");
  gsp_monitor_rules_foreach(mon, write_rule, &w);
  gsp__jb_lit(b, "]");
}

void gsp__route_alerts(gsp_monitor *mon, gsp__resp *r) {
  size_t cap = GSP_MONITOR_DEFAULT_MAX_EVENTS;
  gsp_alert_event *ev = gsp_malloc(cap * sizeof *ev);
  if (ev == NULL) {
    resp_oom(r);
    return;
  }
  size_t nev = gsp_monitor_events(mon, ev, cap);
  gsp__jbuf b = {0};
  gsp__jb_lit(&b, "{");
  gsp__jb_key(&b, "rules", true);
  write_rules(mon, &b);
  gsp__jb_key(&b, "events", false);
  gsp__jb_lit(&b, "[");
  for (size_t i = 0; i < nev; i++) write_event(&b, &ev[i], i == 0);
  gsp__jb_lit(&b, "]}\n");
  gsp_free(ev);
  resp_json(r, 200, &b);
}

/* ---- routes added by the host ---------------------------------------------- */

int gsp__host_routes_init(gsp__host_routes *t) {
  memset(t, 0, sizeof *t);
  atomic_init(&t->n, 0);
  if (pthread_mutex_init(&t->mu, NULL) != 0) return GSP_ESYS;
  t->mu_made = true;
  return GSP_OK;
}

void gsp__host_routes_fini(gsp__host_routes *t) {
  size_t n = atomic_load(&t->n);
  for (size_t i = 0; i < n; i++) gsp_free(t->r[i].path);
  if (t->mu_made) pthread_mutex_destroy(&t->mu);
  t->mu_made = false;
}

const gsp__host_route *gsp__host_route_find(gsp__host_routes *t, const char *path) {
  size_t n = atomic_load_explicit(&t->n, memory_order_acquire);
  for (size_t i = 0; i < n; i++)
    if (strcmp(t->r[i].path, path) == 0) return &t->r[i];
  return NULL;
}

int gsp__host_route_add(gsp__host_routes *t, const char *path, gsp_http_json_fn fn, void *user) {
  size_t plen = path ? strlen(path) : 0;
  if (fn == NULL || plen < 2 || plen > 128 || path[0] != '/' || strchr(path, '?') != NULL)
    return GSP_EINVAL;
  if (gsp__route_of(path) != GSP__R_OTHER) return GSP_EEXIST;
  pthread_mutex_lock(&t->mu);
  size_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
  int rv = gsp__host_route_find(t, path) ? GSP_EEXIST : n == GSP__HOST_ROUTES ? GSP_ENOSPC : GSP_OK;
  char *copy = rv == GSP_OK ? gsp_strdup(path) : NULL;
  if (rv == GSP_OK && copy == NULL) rv = GSP_ENOMEM;
  if (rv == GSP_OK) {
    t->r[n] = (gsp__host_route){.path = copy, .fn = fn, .user = user};
    atomic_store_explicit(&t->n, n + 1, memory_order_release);
  }
  pthread_mutex_unlock(&t->mu);
  return rv;
}

void gsp__route_host(const gsp__host_route *hr, gsp__resp *r) {
  char *body = NULL;
  size_t len = 0;
  int rv = hr->fn(hr->user, &body, &len);
  if (rv != GSP_OK || body == NULL) {
    char msg[320];
    if (rv != GSP_OK && body != NULL && len > 0) /* the host's words: "<code>: <text>" */
      snprintf(msg, sizeof msg, "%s: %.*s", gsp_strerror(rv), (int)(len < 256 ? len : 256), body);
    else
      snprintf(msg, sizeof msg, "%s", rv == GSP_OK ? "no body" : gsp_strerror(rv));
    gsp_free(body);
    gsp__resp_error(r, 503, msg, NULL);
    return;
  }
  r->status = 200;
  r->ctype = JSON_CT;
  r->body = body;
  r->len = len;
}
