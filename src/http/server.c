/*
 * server.c - the libmicrohttpd glue: start and stop the daemon, check each
 * request (body, token, method, route) and hand it to routes.c.
 *
 * Threading model. The daemon runs with MHD_USE_AUTO_INTERNAL_THREAD: one
 * internal polling thread (epoll on Linux) multiplexes every connection
 * and calls our handler; cfg.threads > 1 makes a pool of such threads. We
 * chose this over thread-per-connection because the work per request is
 * a few microseconds of rendering, so one thread keeps up with far more
 * requests than a scraper or a dashboard sends, while a thread per
 * connection would spend a stack per idle keep-alive client and let a
 * burst of connections create a burst of threads. The cost is that a slow
 * handler delays the other connections of its thread; ours never block on
 * I/O (they take the registry or monitor lock briefly).
 *
 * Request checks, in order: on the first call of the handler for a
 * request (headers only; we never read a body), a declared body
 * (Content-Length > 0 or any Transfer-Encoding) is 413; on the second
 * call (end of request; answering there keeps the connection alive), a missing or wrong bearer
 * token is 401 (except for the dashboard's files, which hold no data: a
 * browser cannot put a header on the page's own URL, so the page reads
 * the token from its ?token= parameter and sends it on its API calls); a
 * method other than GET or HEAD is 405; then the route. Oversized request lines and
 * headers never reach us: the connection's memory pool is max_request_bytes plus room for the
 * response headers, and libmicrohttpd answers 431 or 414 on its own.
 *
 * Rate limit. Each client address has a token bucket (rate_per_sec tokens
 * a second, at most rate_burst) and every request on the second call takes
 * one token, before the token check (so guessing the token is throttled
 * too); an empty bucket is 429 with Retry-After (whole seconds until a
 * token is back). Buckets live in a fixed table of RATE_SLOTS entries
 * keyed by a 64-bit FNV-1a hash of the address bytes: an address probes
 * RATE_PROBE neighbouring slots and takes its own, an empty one, or the
 * least recently used one (whose client then starts again with a full
 * bucket). Memory is therefore fixed (a few KiB) whatever the number of
 * clients, at the price that more than RATE_SLOTS active clients can
 * evict each other's buckets and so get more than their share. One mutex
 * guards the table (a lookup is a few loads; handlers run on at most 16
 * polling threads). With the default rate (rate_per_sec 0) loopback
 * clients are not limited, so local scrapers and load tests see the
 * server's own speed; an explicit rate applies to every client.
 *
 * Self-metrics are recorded after the response is built: one histogram
 * child per route (created at start) and a counter child per (route,
 * code), created on first use (a failure to create one is ignored: a
 * request is never failed for its own bookkeeping).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sys/socket.h>

#include "http_int.h"
#include "mhd_load.h"

#define RESP_HEADER_ROOM 8192u
#define RATE_SLOTS 256u /* a power of two */
#define RATE_PROBE 4u

typedef struct rate_slot {
  uint64_t key;     /* hash of the client address; 0 = empty */
  uint64_t last_ns; /* last refill */
  double tokens;
} rate_slot;

typedef struct rate_limit {
  bool on;
  bool exempt_loopback;
  double per_ns; /* tokens per nanosecond */
  double rate, burst;
  pthread_mutex_t lock; /* guards slots */
  rate_slot slots[RATE_SLOTS];
} rate_limit;

struct gsp_http {
  struct MHD_Daemon *d;
  char *token; /* NULL = no auth */
  size_t toklen;
  gsp_metrics *metrics;
  gsp_monitor *monitor;
  uint16_t port;
  gsp_metric_family *req_family;
  gsp_hist *dur[GSP__R_COUNT];
  bool rate_lock_made;
  rate_limit rate;
  gsp__host_routes host; /* routes added by the host */
};

/* The libmicrohttpd table; only called once a create has loaded it (a
 * daemon exists), so the load has succeeded and this never returns NULL. */
static const gsp__mhd *mhd(void) {
  const gsp__mhd *m = NULL;
  const char *why = NULL;
  (void)gsp__mhd_load(&m, &why);
  return m;
}

/* ---- request bookkeeping ------------------------------------------------- */

static void count_request(gsp_http *h, gsp__route rt, unsigned status, uint64_t t0) {
  if (h->req_family == NULL) return;
  char code[8];
  snprintf(code, sizeof code, "%u", status % 1000);
  const char *vals[2] = {gsp__route_name(rt), code};
  gsp_counter *c = NULL;
  if (gsp_metrics_counter(h->req_family, vals, &c) == GSP_OK) gsp_counter_inc(c);
  if (h->dur[rt]) gsp_hist_record(h->dur[rt], gsp_now_ns() - t0);
}

static int make_self_metrics(gsp_http *h) {
  static const char *const route_label[] = {"route"};
  static const char *const req_labels[] = {"route", "code"};
  gsp_metric_desc rd = {.name = "gsp_http_requests_total",
                        .help = "HTTP requests served, by route and status code",
                        .type = GSP_METRIC_COUNTER,
                        .label_names = req_labels,
                        .nlabels = 2};
  gsp_metric_desc dd = {.name = "gsp_http_request_duration_seconds",
                        .help = "Time to build an HTTP response, by route",
                        .type = GSP_METRIC_HISTOGRAM,
                        .label_names = route_label,
                        .nlabels = 1};
  gsp_metric_family *df = NULL;
  int rv = gsp_metrics_family(h->metrics, &rd, &h->req_family);
  if (rv == GSP_OK) rv = gsp_metrics_family(h->metrics, &dd, &df);
  for (int i = 0; rv == GSP_OK && i < GSP__R_COUNT; i++) {
    const char *v[1] = {gsp__route_name((gsp__route)i)};
    rv = gsp_metrics_histogram(df, v, &h->dur[i]);
  }
  return rv;
}

/* ---- rate limit ---------------------------------------------------------- */

static uint64_t fnv1a(const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t x = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) x = (x ^ b[i]) * 0x100000001b3ull;
  return x ? x : 1;
}

/* The hash of a client's address (not its port), and whether it is a
 * loopback address (127/8, ::1 or ::ffff:127.x.y.z). */
static uint64_t client_key(const struct sockaddr *sa, bool *loopback) {
  static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  *loopback = false;
  if (sa != NULL && sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    *loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    return fnv1a(&in->sin_addr, sizeof in->sin_addr);
  }
  if (sa != NULL && sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    const unsigned char *a = in6->sin6_addr.s6_addr;
    *loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                (memcmp(a, v4mapped, sizeof v4mapped) == 0 && a[12] == 127);
    return fnv1a(a, 16);
  }
  return 1; /* unknown family: one shared bucket */
}

static rate_slot *rate_slot_locked(rate_limit *rl, uint64_t key, uint64_t now) {
  rate_slot *victim = NULL;
  for (unsigned i = 0; i < RATE_PROBE; i++) {
    rate_slot *s = &rl->slots[(key + i) & (RATE_SLOTS - 1)];
    if (s->key == key) return s;
    if (victim == NULL || s->key == 0 || (victim->key != 0 && s->last_ns < victim->last_ns))
      victim = s;
  }
  victim->key = key;
  victim->last_ns = now;
  victim->tokens = rl->burst;
  return victim;
}

/* Take a token for this client: 0 if it may go on, else the seconds to
 * wait for the next token (at least 1), for Retry-After. */
static unsigned rate_take(rate_limit *rl, const struct sockaddr *sa) {
  bool loopback;
  uint64_t key = client_key(sa, &loopback);
  if (!rl->on || (loopback && rl->exempt_loopback)) return 0;
  uint64_t now = gsp_now_ns();
  unsigned wait = 0;
  pthread_mutex_lock(&rl->lock);
  rate_slot *s = rate_slot_locked(rl, key, now);
  if (now > s->last_ns) s->tokens += (double)(now - s->last_ns) * rl->per_ns;
  if (s->tokens > rl->burst) s->tokens = rl->burst;
  s->last_ns = now;
  if (s->tokens >= 1.0)
    s->tokens -= 1.0;
  else
    wait = (unsigned)((1.0 - s->tokens) / rl->rate) + 1;
  pthread_mutex_unlock(&rl->lock);
  return wait;
}

static int rate_init(gsp_http *h, const gsp_http_config *cfg) {
  rate_limit *rl = &h->rate;
  uint32_t rate = cfg->rate_per_sec ? cfg->rate_per_sec : GSP_HTTP_DEFAULT_RATE;
  uint32_t burst = cfg->rate_burst;
  rl->on = cfg->rate_per_sec != GSP_HTTP_RATE_UNLIMITED;
  rl->exempt_loopback = cfg->rate_per_sec == 0;
  rl->rate = rate;
  rl->burst = burst ? burst : 2.0 * rate;
  rl->per_ns = rl->rate / 1e9;
  if (pthread_mutex_init(&rl->lock, NULL) != 0) return GSP_ENOMEM;
  h->rate_lock_made = true;
  return GSP_OK;
}

static const struct sockaddr *client_addr(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      mhd()->get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  return ci ? ci->client_addr : NULL;
}

/* ---- checks -------------------------------------------------------------- */

/* Constant time in the token's bytes (the length of the offered one leaks). */
static bool token_ok(const gsp_http *h, const char *auth) {
  if (h->token == NULL) return true;
  if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) return false;
  const char *t = auth + 7;
  size_t n = strlen(t);
  unsigned char diff = n != h->toklen;
  for (size_t i = 0; i < h->toklen; i++) diff |= (unsigned char)(h->token[i] ^ (i < n ? t[i] : 0));
  return diff == 0;
}

static bool has_body(struct MHD_Connection *c) {
  const char *cl = mhd()->lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  const char *te = mhd()->lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
  if (te != NULL) return true;
  if (cl == NULL) return false;
  while (*cl == '0') cl++;
  return *cl != '\0';
}

static bool wants_openmetrics(struct MHD_Connection *c) {
  const char *a = mhd()->lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
  return a != NULL && strstr(a, "application/openmetrics-text") != NULL;
}

/* ---- dispatch ------------------------------------------------------------ */

typedef struct kv_ctx {
  gsp__kv kv[GSP__HTTP_MAX_PARAMS + 1];
  size_t n;
} kv_ctx;

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value) {
  kv_ctx *k = cls;
  if (k->n == GSP__HTTP_MAX_PARAMS + 1) return MHD_NO;
  k->kv[k->n].key = key ? key : "";
  k->kv[k->n].val = value;
  k->n++;
  return MHD_YES;
}

static void route_request(gsp_http *h, struct MHD_Connection *c, const char *path, gsp__route rt,
                          gsp__resp *r) {
  bool need_metrics = rt == GSP__R_METRICS || rt == GSP__R_API_METRICS;
  bool need_monitor = rt == GSP__R_SERIES || rt == GSP__R_ALERTS;
  const gsp__host_route *hr = rt == GSP__R_HOST ? gsp__host_route_find(&h->host, path) : NULL;
  if (hr != NULL) {
    gsp__route_host(hr, r);
  } else if (rt == GSP__R_OTHER || rt == GSP__R_HOST || (need_metrics && !h->metrics) ||
             (need_monitor && !h->monitor)) {
    gsp__resp_error(r, 404, "not found", NULL);
  } else if (rt == GSP__R_DASHBOARD) {
    gsp__route_static(path, mhd()->lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match"), r);
  } else if (rt == GSP__R_HEALTHZ) {
    r->status = 200;
    r->ctype = "text/plain; charset=utf-8";
    r->body = gsp_strdup("ok\n");
    r->len = r->body ? 3 : 0;
  } else if (rt == GSP__R_METRICS) {
    gsp__route_metrics(h->metrics, wants_openmetrics(c), r);
  } else if (rt == GSP__R_API_METRICS) {
    gsp__route_api_metrics(h->metrics, r);
  } else if (rt == GSP__R_ALERTS) {
    gsp__route_alerts(h->monitor, r);
  } else {
    kv_ctx k = {.n = 0};
    mhd()->get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_kv, &k);
    gsp__route_series(h->monitor, k.kv, k.n, r);
  }
}

static void build(gsp_http *h, struct MHD_Connection *c, const char *method, const char *path,
                  gsp__route rt, gsp__resp *r) {
  unsigned wait = rate_take(&h->rate, client_addr(c));
  if (wait != 0) {
    gsp__resp_error(r, 429, "too many requests", NULL);
    r->retry_after = wait;
  } else if (rt != GSP__R_DASHBOARD &&
             !token_ok(h, mhd()->lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"))) {
    gsp__resp_error(r, 401, "missing or wrong bearer token", NULL);
  } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    gsp__resp_error(r, 405, "method not allowed", NULL);
  } else {
    route_request(h, c, path, rt, r);
  }
}

/* The page may load only its own files and call only its own server; the
 * token in its URL is never sent on as a Referer. */
#define PAGE_CSP                                                                    \
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "       \
  "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; " \
  "frame-ancestors 'none'"

static struct MHD_Response *make_response(gsp__resp *r) {
  if (r->asset != NULL && r->status == 200)
    return mhd()->create_response_from_buffer(r->asset->len, (void *)r->asset->data,
                                              MHD_RESPMEM_PERSISTENT);
  if (r->body != NULL)
    return mhd()->create_response_from_buffer_with_free_callback(r->len, r->body, gsp_free);
  return mhd()->create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
}

static void add_asset_headers(struct MHD_Response *resp, const gsp__asset *a) {
  mhd()->add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
  mhd()->add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  mhd()->add_response_header(resp, "Referrer-Policy", "no-referrer");
  mhd()->add_response_header(resp, "Content-Security-Policy", PAGE_CSP);
}

static enum MHD_Result send_resp(struct MHD_Connection *c, gsp__resp *r) {
  struct MHD_Response *resp = make_response(r);
  if (resp == NULL) {
    gsp_free(r->body);
    return MHD_NO;
  }
  if (r->status != 304) mhd()->add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
  mhd()->add_response_header(resp, "X-Content-Type-Options", "nosniff");
  if (r->asset != NULL)
    add_asset_headers(resp, r->asset);
  else
    mhd()->add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (r->status == 401)
    mhd()->add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
  if (r->status == 405) mhd()->add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  if (r->retry_after != 0) {
    char secs[16];
    snprintf(secs, sizeof secs, "%u", r->retry_after);
    mhd()->add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
  }
  enum MHD_Result rv = mhd()->queue_response(c, r->status, resp);
  mhd()->destroy_response(resp);
  return rv;
}

/* First call (headers only): a declared body is refused at once (which
 * also makes libmicrohttpd close the connection); otherwise wait for the
 * second call, so the response can keep the connection alive. */
static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls) {
  gsp_http *h = cls;
  uint64_t t0 = gsp_now_ns();
  gsp__route rt = gsp__route_of(url ? url : "");
  if (rt == GSP__R_OTHER && gsp__host_route_find(&h->host, url ? url : "")) rt = GSP__R_HOST;
  gsp__resp r = {.status = 500,
                 .ctype = "text/plain",
                 .body = NULL,
                 .len = 0,
                 .asset = NULL,
                 .retry_after = 0};
  if (*req_cls == NULL) {
    *req_cls = h;
    if (!has_body(c)) return MHD_YES;
    gsp__resp_error(&r, 413, "request bodies are not accepted", NULL);
  } else if (*upload_size != 0) {
    return MHD_NO; /* a body we did not announce accepting: drop the connection */
  } else {
    build(h, c, method ? method : "", url ? url : "", rt, &r);
  }
  count_request(h, rt, r.status, t0);
  return send_resp(c, &r);
}

/* ---- life cycle ---------------------------------------------------------- */

typedef union any_addr {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
} any_addr;

static int parse_address(const gsp_http_config *cfg, any_addr *a, bool *v6) {
  const char *s = cfg->address ? cfg->address : GSP_HTTP_DEFAULT_ADDRESS;
  uint16_t port = cfg->port_ephemeral ? 0 : (cfg->port ? cfg->port : GSP_HTTP_DEFAULT_PORT);
  memset(a, 0, sizeof *a);
  *v6 = false;
  if (inet_pton(AF_INET, s, &a->in4.sin_addr) == 1) {
    a->in4.sin_family = AF_INET;
    a->in4.sin_port = htons(port);
    return GSP_OK;
  }
  if (inet_pton(AF_INET6, s, &a->in6.sin6_addr) == 1) {
    a->in6.sin6_family = AF_INET6;
    a->in6.sin6_port = htons(port);
    *v6 = true;
    return GSP_OK;
  }
  return GSP_EINVAL;
}

static int check_config(const gsp_http_config *cfg, char *err, size_t errlen) {
  if (cfg->max_request_bytes != 0 && cfg->max_request_bytes < 1024) {
    snprintf(err, errlen, "max_request_bytes %u is below 1024", cfg->max_request_bytes);
    return GSP_EINVAL;
  }
  if (cfg->threads > 16) {
    snprintf(err, errlen, "threads %u is above 16", cfg->threads);
    return GSP_EINVAL;
  }
  return GSP_OK;
}

static unsigned or_default(uint32_t v, unsigned def) { return v ? v : def; }

static int start_daemon(gsp_http *h, const gsp_http_config *cfg, any_addr *a, bool v6) {
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | (v6 ? MHD_USE_IPv6 : 0);
  size_t mem =
      (size_t)or_default(cfg->max_request_bytes, GSP_HTTP_DEFAULT_MAX_REQUEST) + RESP_HEADER_ROOM;
  unsigned pool = cfg->threads > 1 ? cfg->threads : 0;
  h->d = mhd()->start_daemon(
      flags, 0, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR, &a->sa, MHD_OPTION_CONNECTION_LIMIT,
      or_default(cfg->max_connections, GSP_HTTP_DEFAULT_MAX_CONNECTIONS),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, or_default(cfg->max_per_ip, GSP_HTTP_DEFAULT_MAX_PER_IP),
      MHD_OPTION_CONNECTION_TIMEOUT, or_default(cfg->timeout_s, GSP_HTTP_DEFAULT_TIMEOUT_S),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_END);
  if (h->d == NULL) return GSP_ESYS;
  const union MHD_DaemonInfo *info = mhd()->get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : 0;
  return GSP_OK;
}

static int init(gsp_http *h, const gsp_http_config *cfg, char *err, size_t errlen) {
  any_addr a;
  bool v6;
  if (parse_address(cfg, &a, &v6) != GSP_OK) {
    snprintf(err, errlen, "listen address '%s' is not an IPv4 or IPv6 literal", cfg->address);
    return GSP_EINVAL;
  }
  h->metrics = cfg->metrics;
  h->monitor = cfg->monitor;
  if (rate_init(h, cfg) != GSP_OK) {
    snprintf(err, errlen, "cannot create the rate limiter's lock");
    return GSP_ENOMEM;
  }
  if (cfg->token && *cfg->token) {
    h->token = gsp_strdup(cfg->token);
    if (h->token == NULL) return GSP_ENOMEM;
    h->toklen = strlen(h->token);
  }
  int rv = h->metrics ? make_self_metrics(h) : GSP_OK;
  if (rv != GSP_OK) {
    snprintf(err, errlen, "self metrics: %s", gsp_metrics_errmsg(h->metrics));
    return rv;
  }
  if (start_daemon(h, cfg, &a, v6) != GSP_OK) {
    snprintf(err, errlen, "cannot listen on %s (port in use, or not permitted)",
             cfg->address ? cfg->address : GSP_HTTP_DEFAULT_ADDRESS);
    return GSP_ESYS;
  }
  return GSP_OK;
}

int gsp_http_create(const gsp_http_config *cfg, gsp_http **out, char *errbuf, size_t errlen) {
  char tmp[160];
  char *err = errbuf && errlen ? errbuf : tmp;
  size_t elen = errbuf && errlen ? errlen : sizeof tmp;
  err[0] = '\0';
  if (out == NULL) return GSP_EINVAL;
  *out = NULL;
  gsp_http_config zero = {0};
  if (cfg == NULL) cfg = &zero;
  int rv = check_config(cfg, err, elen);
  if (rv != GSP_OK) return rv;
  const gsp__mhd *m = NULL;
  const char *why = NULL;
  rv = gsp__mhd_load(&m, &why);
  if (rv != GSP_OK) {
    snprintf(err, elen, "%s", why);
    return rv;
  }
  gsp_http *h = gsp_calloc(1, sizeof *h);
  if (h == NULL) return GSP_ENOMEM;
  rv = gsp__host_routes_init(&h->host);
  if (rv == GSP_OK) rv = init(h, cfg, err, elen);
  if (rv != GSP_OK) {
    gsp_http_destroy(h);
    return rv;
  }
  *out = h;
  return GSP_OK;
}

void gsp_http_destroy(gsp_http *h) {
  if (h == NULL) return;
  if (h->d) mhd()->stop_daemon(h->d);
  if (h->rate_lock_made) pthread_mutex_destroy(&h->rate.lock);
  gsp__host_routes_fini(&h->host);
  gsp_free(h->token);
  gsp_free(h);
}

uint16_t gsp_http_port(const gsp_http *h) { return h ? h->port : 0; }

int gsp_http_add_json_route(gsp_http *h, const char *path, gsp_http_json_fn fn, void *user) {
  if (h == NULL) return GSP_EINVAL;
  return gsp__host_route_add(&h->host, path, fn, user);
}
