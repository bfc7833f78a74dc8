/*
 * http_int.h - private pieces of the HTTP server shared by server.c (the
 * libmicrohttpd glue), routes.c (building responses), params.c (the pure
 * query-parameter validation), jbuf.c (a tiny JSON writer), static.c (the
 * dashboard's files) and the generated web_assets.c (their bytes).
 */
#ifndef GSP_HTTP_INT_H
#define GSP_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/http.h"

/* ---- jbuf.c: a growable text buffer from gsp_malloc ---------------------- */

/* A failed append sets oom and turns later appends into no-ops. */
typedef struct gsp__jbuf {
  char *p;
  size_t len, cap;
  bool oom;
} gsp__jbuf;

void gsp__jb_raw(gsp__jbuf *b, const char *s, size_t n);
void gsp__jb_lit(gsp__jbuf *b, const char *s);
/* A JSON string with quotes; NULL writes null. Bytes below 0x20, '"' and
 * '\\' are escaped; other bytes pass through. */
void gsp__jb_str(gsp__jbuf *b, const char *s);
/* A JSON number; non-finite values write null. */
void gsp__jb_num(gsp__jbuf *b, double v);
void gsp__jb_u64(gsp__jbuf *b, uint64_t v);
/* "key": (with a leading comma unless first) */
void gsp__jb_key(gsp__jbuf *b, const char *key, bool first);
/* Hand the buffer over (NUL-terminated) or free it; GSP_ENOMEM if oom. */
int gsp__jb_take(gsp__jbuf *b, char **out, size_t *len);
void gsp__jb_free(gsp__jbuf *b);

/* ---- params.c: /api/v1/series parameters (pure) -------------------------- */

#define GSP__HTTP_MAX_PARAMS 8u
#define GSP__HTTP_LABELS_MAX 512u
#define GSP__HTTP_RANGE_DEFAULT 3600u
#define GSP__HTTP_RANGE_MAX ((uint64_t)31 * 86400)

typedef struct gsp__kv {
  const char *key; /* decoded; never NULL */
  const char *val; /* decoded; NULL when the key had no '=' */
} gsp__kv;

typedef struct gsp__series_req {
  const char *name;   /* points into the kv array */
  const char *labels; /* NULL = no labels */
  uint64_t range_s;
} gsp__series_req;

/*
 * Validate the decoded query parameters of /api/v1/series. Returns GSP_OK,
 * or GSP_EINVAL with *bad set to the offending parameter name (a static
 * string, or the unknown key itself) and *why to a static reason.
 */
int gsp__series_params(const gsp__kv *kv, size_t n, gsp__series_req *out, const char **bad,
                       const char **why);

/* ---- static.c + web_assets.c: the dashboard's files ---------------------- */

/* One embedded file. The table gsp__web_assets (generated at build time by
 * cmake/embed_web.cmake from web/) ends with a row whose path is NULL. */
typedef struct gsp__asset {
  const char *path;  /* URL path, e.g. "/app.js" */
  const char *ctype; /* Content-Type */
  const unsigned char *data;
  size_t len;
  const char *etag; /* quoted strong ETag */
} gsp__asset;

extern const gsp__asset gsp__web_assets[];

/* The embedded file served at path, or NULL. */
const gsp__asset *gsp__web_asset(const char *path);
/* Whether an If-None-Match header value names etag (or is "*"). */
bool gsp__etag_matches(const char *if_none_match, const char *etag);

/* ---- routes.c ------------------------------------------------------------ */

typedef enum gsp__route {
  GSP__R_METRICS = 0,
  GSP__R_API_METRICS,
  GSP__R_SERIES,
  GSP__R_ALERTS,
  GSP__R_HEALTHZ,
  GSP__R_DASHBOARD, /* any embedded file: "/", "/app.js", ... */
  GSP__R_HOST,      /* a route added by the host (gsp_http_add_json_route) */
  GSP__R_OTHER,
  GSP__R_COUNT
} gsp__route;

/* A response being built. body is from gsp_malloc (owned until handed to
 * MHD), unless asset is set: then body is NULL and the asset's bytes are
 * sent as they are (static storage, never freed). */
typedef struct gsp__resp {
  unsigned status;
  const char *ctype; /* static */
  char *body;
  size_t len;
  const gsp__asset *asset; /* NULL, or an embedded file (200 or 304) */
  unsigned retry_after;    /* seconds for a Retry-After header; 0 = none */
} gsp__resp;

gsp__route gsp__route_of(const char *path);
const char *gsp__route_name(gsp__route r);
/* Fill r with a JSON error body {"error":msg[,"parameter":param]}. */
void gsp__resp_error(gsp__resp *r, unsigned status, const char *msg, const char *param);
void gsp__route_metrics(gsp_metrics *m, bool openmetrics, gsp__resp *r);
void gsp__route_api_metrics(gsp_metrics *m, gsp__resp *r);
void gsp__route_series(gsp_monitor *mon, const gsp__kv *kv, size_t n, gsp__resp *r);
void gsp__route_alerts(gsp_monitor *mon, gsp__resp *r);
/* An embedded file: 200, or 304 when if_none_match names its ETag. */
void gsp__route_static(const char *path, const char *if_none_match, gsp__resp *r);

/* Routes added by the host: a fixed table published by count (release on
 * add, acquire on lookup), so lookups take no lock; adds are serialized by
 * mu. Entries are never removed before the server is destroyed. */
#define GSP__HOST_ROUTES 8
typedef struct gsp__host_route {
  char *path;
  gsp_http_json_fn fn;
  void *user;
} gsp__host_route;
typedef struct gsp__host_routes {
  pthread_mutex_t mu;
  bool mu_made;
  _Atomic size_t n;
  gsp__host_route r[GSP__HOST_ROUTES];
} gsp__host_routes;
int gsp__host_routes_init(gsp__host_routes *t);
void gsp__host_routes_fini(gsp__host_routes *t);
int gsp__host_route_add(gsp__host_routes *t, const char *path, gsp_http_json_fn fn, void *user);
const gsp__host_route *gsp__host_route_find(gsp__host_routes *t, const char *path);
void gsp__route_host(const gsp__host_route *hr, gsp__resp *r);

#endif
