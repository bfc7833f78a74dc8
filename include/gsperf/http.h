/*
 * gsperf/http.h - an embedded HTTP server (libmicrohttpd) that exposes a
 * metrics registry and a monitor.
 *
 * Routes (GET and HEAD only; any other method is 405 with "Allow: GET, HEAD";
 * any other path is 404 with a JSON error):
 *
 *   /metrics         Prometheus text 0.0.4; with "Accept:" naming
 *                    application/openmetrics-text, OpenMetrics 1.0 text.
 *   /api/v1/metrics  the registry as one JSON object.
 *   /api/v1/series   ?name=NAME[&labels=LABELS][&range=SECONDS]: the points
 *                    of one monitor series over the last SECONDS (default
 *                    3600, 1 .. 31 days) as JSON {"name","labels","step_ms",
 *                    "now","points":[{"t","min","max","mean","count"}]};
 *                    times are seconds on the monitor's clock. A missing,
 *                    repeated, unknown or bad parameter is 400 with
 *                    {"error": ..., "parameter": NAME}; an unknown series 404.
 *   /api/v1/alerts   {"rules":[{"name","metric","labels","comparison",
 *                    "threshold","level","state"}],"events":[...]}.
 *   /healthz         "ok".
 *
 * The dashboard, built into the library (web/ and uPlot, embedded at build
 * time by cmake/embed_web.cmake; nothing is read from disk):
 *
 *   /                the page (text/html)
 *   /app.js          its script; /app.css its style
 *   /uplot.js        uPlot (uPlot.iife.min.js); /uplot.css its style
 *
 * Each carries a strong ETag (a hash of its bytes) and "Cache-Control:
 * no-cache"; a matching If-None-Match is 304. The page also gets a
 * Content-Security-Policy (its own files and its own server only) and
 * "Referrer-Policy: no-referrer". Every few seconds the page fetches
 * /api/v1/series (the chosen series), /api/v1/alerts and /api/v1/metrics.
 * The dashboard files are served even without a registry or monitor (the
 * page then says what is missing). Every other path, including
 * /index.html, is 404.
 *
 * Without a registry (cfg.metrics NULL) /metrics and /api/v1/metrics are
 * 404; without a monitor /api/v1/series and /api/v1/alerts are 404.
 *
 * Safety: binds 127.0.0.1 unless told otherwise. With a token, every route
 * (including /healthz) but the dashboard's five files needs "Authorization:
 * Bearer TOKEN" (compared in constant time); otherwise 401 with
 * "WWW-Authenticate: Bearer". The dashboard's files hold no data and a
 * browser cannot add a header to the page's own URL: open the page as
 * /?token=TOKEN, and it sends the token as that header on its API calls
 * (it keeps the token in sessionStorage and removes it from the address
 * bar). A request
 * whose line and headers exceed max_request_bytes is refused by
 * libmicrohttpd (431 or 414); any request body is 413. Connections are
 * bounded in total and per client address, and idle ones time out.
 *
 * Rate limit: each client address (IPv4, or IPv6 without the port) has a
 * token bucket that refills at rate_per_sec requests a second up to
 * rate_burst. Every request takes one token before anything else is
 * checked (the bearer token included); with the bucket empty the answer is
 * 429 {"error":"too many requests"} with "Retry-After: SECONDS" (whole
 * seconds until a token is back, at least 1). Buckets are kept in a
 * fixed table of 256 entries (about 6 KiB; the least recently seen client
 * is forgotten when a new one needs room, and starts again with a full
 * bucket). Defaults: rate_per_sec 0 means 1000 a second for every client
 * except loopback ones (127.0.0.0/8, ::1), which are not limited; a
 * non-zero rate_per_sec applies to every client, loopback included;
 * GSP_HTTP_RATE_UNLIMITED turns the limit off. rate_burst 0 means twice
 * the rate.
 *
 * Threads: libmicrohttpd runs one internal polling thread (epoll) that
 * reads requests and calls gsperf's handler; with cfg.threads > 1, a pool
 * of that many such threads. Handlers render into a gsp_malloc'd buffer;
 * libmicrohttpd frees it with gsp_free after sending.
 *
 * Self-metrics (when a registry is given): gsp_http_requests_total{route,
 * code} and gsp_http_request_duration_seconds{route} (the time to build
 * the response, not to send it). route is one of the route paths above or
 * "other"; the dashboard's files share the route label "/".
 *
 * Thread safety: gsp_http_create() and gsp_http_destroy() may be called
 * from any thread; gsp_http_port() from any thread while the server lives. The registry and monitor
 * are borrowed: they must outlive the server (destroy the server first).
 */
#ifndef GSPERF_HTTP_H
#define GSPERF_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/common.h"
#include "gsperf/metrics.h"
#include "gsperf/monitor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gsp_http gsp_http;

#define GSP_HTTP_DEFAULT_ADDRESS "127.0.0.1"
#define GSP_HTTP_DEFAULT_PORT 9464u
#define GSP_HTTP_DEFAULT_MAX_CONNECTIONS 64u
#define GSP_HTTP_DEFAULT_MAX_PER_IP 32u
#define GSP_HTTP_DEFAULT_MAX_REQUEST 16384u /* bytes of request line + headers */
#define GSP_HTTP_DEFAULT_TIMEOUT_S 10u
#define GSP_HTTP_DEFAULT_RATE 1000u        /* requests a second per client */
#define GSP_HTTP_RATE_UNLIMITED UINT32_MAX /* rate_per_sec: no rate limit */

/* Zero fields are defaults. */
typedef struct gsp_http_config {
  const char *address; /* IPv4 or IPv6 literal; NULL = "127.0.0.1" */
  uint16_t port;       /* 0 with port_ephemeral false = 9464 */
  bool port_ephemeral; /* true: let the kernel pick; read it with gsp_http_port() */
  const char *token;   /* NULL or "" = no authentication; copied */
  gsp_metrics *metrics;
  gsp_monitor *monitor;
  uint32_t max_connections;   /* 0 = 64 */
  uint32_t max_per_ip;        /* 0 = 32 */
  uint32_t max_request_bytes; /* 0 = 16384; at least 1024; the per-connection
                                 memory pool is this plus 8 KiB for the answer */
  uint32_t timeout_s;         /* idle connection timeout; 0 = 10 */
  uint32_t threads;           /* polling threads; 0 or 1 = one, at most 16 */
  uint32_t rate_per_sec;      /* per client address; 0 = 1000 for non-loopback
                                 clients only; GSP_HTTP_RATE_UNLIMITED = off */
  uint32_t rate_burst;        /* bucket size; 0 = twice rate_per_sec */
} gsp_http_config;

/*
 * Start a server; it serves on its own thread(s) until destroyed.
 * Errors: GSP_EINVAL (bad address, option out of range; errmsg says which),
 * GSP_ENOMEM, GSP_ESYS (libmicrohttpd could not start, e.g. the port is in
 * use), GSP_ENOTSUP (libmicrohttpd.so.12, loaded on the first create, could
 * not be loaded; the message names the file and dlerror()'s reason; the
 * environment variable GSPERF_MHD_LIBRARY names another file). On error
 * *out is NULL and, if errbuf is not NULL, a message is copied into errbuf
 * (errlen bytes, NUL-terminated).
 */
GSP_API int gsp_http_create(const gsp_http_config *cfg, gsp_http **out, char *errbuf,
                            size_t errlen);
/* Stop serving (closing every connection) and free the server. NULL-safe. */
GSP_API void gsp_http_destroy(gsp_http *h);
/* The port the server is bound to (the kernel's pick for an ephemeral port). */
GSP_API uint16_t gsp_http_port(const gsp_http *h);

/*
 * A host's JSON route: fn renders the body into *out (gsp_malloc'd, the
 * server frees it) and its length into *len; a non-zero return is answered
 * 503 {"error":...} naming the code, followed by ": " and the first 256
 * bytes of *out when fn left a message there (text of *len bytes, freed by
 * the server), e.g. {"error":"bad format: report.json: ..."}. fn runs on a
 * server thread, possibly on several at once (cfg.threads > 1), so it must
 * be thread-safe.
 */
typedef int (*gsp_http_json_fn)(void *user, char **out, size_t *len);
/*
 * Serve GET/HEAD `path` (an absolute path, at most 128 bytes, copied) with
 * fn, under the same token, rate limit and self-metrics (route label
 * "host") as the built-in routes. At most 8 per server. May be called from
 * any thread while the server runs; the route is live when the call
 * returns and stays until gsp_http_destroy(). fn and user are borrowed:
 * they must outlive the server. Errors: GSP_EINVAL (bad path or NULL fn),
 * GSP_EEXIST (the path is a built-in route, a dashboard file, or already
 * added), GSP_ENOSPC (8 routes already), GSP_ENOMEM.
 */
GSP_API int gsp_http_add_json_route(gsp_http *h, const char *path, gsp_http_json_fn fn, void *user);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_HTTP_H */
