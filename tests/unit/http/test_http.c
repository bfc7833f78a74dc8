/*
 * test_http.c - the HTTP server over real loopback sockets: a server on
 * 127.0.0.1 with an ephemeral port, a registry and a monitor on a fake
 * clock, and requests made with the tiny blocking client in
 * http_client.h. Covers every route, content negotiation, 400/401/404/
 * 405/413/431, token on and off, NULL registry or monitor, self-metrics,
 * many concurrent connections beyond the limit, the per-client rate limit
 * (429 and Retry-After), and the pure parameter
 * validator (src/http/params.c).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gsperf/http.h"
#include "http_client.h"
#include "http_int.h"

typedef struct fixture {
  gsp_metrics *m;
  gsp_monitor *mon;
  gsp_http *h;
  unsigned short port;
} fixture;

static uint64_t g_now = 100000000000ull; /* 100 s */
static uint64_t fake_now(void *u) {
  (void)u;
  return g_now;
}

static void start(fixture *f, const gsp_http_config *base) {
  gsp_http_config cfg = base ? *base : (gsp_http_config){0};
  cfg.port_ephemeral = true;
  if (cfg.metrics == NULL && !base) cfg.metrics = f->m;
  if (cfg.monitor == NULL && !base) cfg.monitor = f->mon;
  char err[160];
  int rv = gsp_http_create(&cfg, &f->h, err, sizeof err);
  if (rv != GSP_OK) fail_msg("gsp_http_create: %s: %s", gsp_err_name(rv), err);
  f->port = gsp_http_port(f->h);
  assert_true(f->port > 0);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_int_equal(gsp_metrics_create(NULL, &f->m), GSP_OK);
  gsp_monitor_config mc = {.clock = {.now = fake_now}, .metrics = f->m};
  assert_int_equal(gsp_monitor_create(&mc, &f->mon), GSP_OK);
  gsp_counter *c;
  assert_int_equal(gsp_metrics_counter_new(f->m, "jobs_total", "Jobs done", &c), GSP_OK);
  gsp_counter_add(c, 3);
  for (int i = 0; i < 10; i++)
    assert_int_equal(gsp_monitor_record(f->mon, "queue_depth", NULL, i,
                                        g_now - 9000000000ull + (uint64_t)i * 1000000000ull),
                     GSP_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  gsp_http_destroy(f->h);
  gsp_monitor_destroy(f->mon);
  gsp_metrics_destroy(f->m);
  free(f);
  return 0;
}

static void expect(hc_resp r, int status, const char *ctype, const char *body_has) {
  char v[256];
  if (r.status != status) fail_msg("status %d, want %d:\n%s", r.status, status, r.raw);
  if (ctype) {
    if (!hc_header(&r, "Content-Type", v, sizeof v)) fail_msg("no Content-Type:\n%s", r.raw);
    if (strcmp(v, ctype) != 0) fail_msg("Content-Type '%s', want '%s'", v, ctype);
  }
  if (body_has && !strstr(hc_body(&r), body_has))
    fail_msg("body lacks '%s':\n%s", body_has, hc_body(&r));
  free(r.raw);
}

static void test_metrics_route(void **state) {
  fixture *f = *state;
  start(f, NULL);
  expect(hc_req(f->port, "GET", "/metrics", NULL), 200, "text/plain; version=0.0.4; charset=utf-8",
         "jobs_total 3\n");
  expect(
      hc_req(f->port, "GET", "/metrics", "Accept: application/openmetrics-text; version=1.0.0\r\n"),
      200, gsp_metrics_content_type(GSP_METRICS_OPENMETRICS), "# EOF");
  hc_resp r = hc_req(f->port, "HEAD", "/metrics", NULL);
  assert_int_equal(r.status, 200);
  assert_string_equal(hc_body(&r), "");
  free(r.raw);
  expect(hc_req(f->port, "GET", "/healthz", NULL), 200, NULL, "ok");
  expect(hc_req(f->port, "GET", "/metrics", NULL), 200, NULL,
         "gsp_http_requests_total{route=\"/healthz\",code=\"200\"} 1");
}

static void test_json_routes(void **state) {
  fixture *f = *state;
  start(f, NULL);
  expect(hc_req(f->port, "GET", "/api/v1/metrics", NULL), 200, "application/json", "jobs_total");
  expect(hc_req(f->port, "GET", "/api/v1/series?name=queue_depth&range=60", NULL), 200,
         "application/json", "\"points\":[{\"t\":91,\"min\":0,\"max\":0,\"mean\":0,\"count\":1}");
  expect(hc_req(f->port, "GET", "/api/v1/series?name=queue_depth&range=3", NULL), 200, NULL,
         "\"max\":9");
  expect(hc_req(f->port, "GET", "/api/v1/series?range=60", NULL), 400, "application/json",
         "\"parameter\":\"name\"");
  expect(hc_req(f->port, "GET", "/api/v1/series?name=queue_depth&range=-1", NULL), 400, NULL,
         "\"parameter\":\"range\"");
  expect(hc_req(f->port, "GET", "/api/v1/series?name=queue_depth&range=1e3", NULL), 400, NULL,
         "\"parameter\":\"range\"");
  expect(hc_req(f->port, "GET", "/api/v1/series?name=9bad", NULL), 400, NULL,
         "\"parameter\":\"name\"");
  expect(hc_req(f->port, "GET", "/api/v1/series?name=a&bogus=1", NULL), 400, NULL,
         "\"parameter\":\"bogus\"");
  expect(hc_req(f->port, "GET", "/api/v1/series?name=a&name=b", NULL), 400, NULL, "repeated");
  expect(hc_req(f->port, "GET", "/api/v1/series?name=nope_series", NULL), 404, NULL, "no such");
}

static void test_alerts_route(void **state) {
  fixture *f = *state;
  gsp_alert_rule rule = {.name = "deep\"queue",
                         .metric = "queue_depth",
                         .cmp = GSP_ALERT_GT,
                         .threshold = 5,
                         .level = GSP_ALERT_CRITICAL};
  assert_int_equal(gsp_monitor_add_rule(f->mon, &rule), GSP_OK);
  assert_int_equal(gsp_monitor_evaluate(f->mon, g_now), GSP_OK);
  start(f, NULL);
  expect(hc_req(f->port, "GET", "/api/v1/alerts", NULL), 200, "application/json",
         "\"name\":\"deep\\\"queue\",\"metric\":\"queue_depth\",\"labels\":null,"
         "\"comparison\":\">\",\"threshold\":5,\"level\":\"CRITICAL\",\"state\":\"firing\"");
  expect(hc_req(f->port, "GET", "/api/v1/alerts", NULL), 200, NULL,
         "\"events\":[{\"kind\":\"FIRING\",\"level\":\"CRITICAL\"");
}

static void test_errors(void **state) {
  fixture *f = *state;
  start(f, NULL);
  expect(hc_req(f->port, "GET", "/index.html", NULL), 404, "application/json", "not found");
  expect(hc_req(f->port, "GET", "/app.js/", NULL), 404, NULL, NULL);
  expect(hc_req(f->port, "GET", "/metrics/", NULL), 404, NULL, NULL);
  expect(hc_req(f->port, "GET", "/../../etc/passwd", NULL), 404, NULL, NULL);
  hc_resp r = hc_req(f->port, "DELETE", "/metrics", NULL);
  char v[64];
  assert_int_equal(r.status, 405);
  assert_non_null(hc_header(&r, "Allow", v, sizeof v));
  assert_string_equal(v, "GET, HEAD");
  free(r.raw);
  expect(hc_req(f->port, "POST", "/metrics", "Content-Length: 4\r\n"), 413, NULL, "bodies");
  const char chunked[] =
      "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
  expect(hc_raw(f->port, chunked, sizeof chunked - 1), 413, NULL, NULL);
  hc_resp g = hc_raw(f->port, "garbage\r\n\r\n", 11); /* 400, or closed */
  assert_true(g.status == 0 || g.status == 400);
  free(g.raw);
  expect(hc_req(f->port, "GET", "/healthz", NULL), 200, NULL, "ok");
}

/* The dashboard's embedded files: types, ETag, 304, HEAD, no token. */
static void test_dashboard(void **state) {
  fixture *f = *state;
  gsp_http_config cfg = {.metrics = f->m, .monitor = f->mon, .token = "s3cret"};
  start(f, &cfg);
  static const char *const files[][3] = {
      {"/", "text/html; charset=utf-8", "<title>gsperf dashboard</title>"},
      {"/app.js", "text/javascript; charset=utf-8", "/api/v1/series"},
      {"/app.css", "text/css; charset=utf-8", "font"},
      {"/uplot.js", "text/javascript; charset=utf-8", "uPlot"},
      {"/uplot.css", "text/css; charset=utf-8", ".uplot"},
  };
  for (size_t i = 0; i < sizeof files / sizeof *files; i++)
    expect(hc_req(f->port, "GET", files[i][0], NULL), 200, files[i][1], files[i][2]);
  hc_resp r = hc_req(f->port, "GET", "/", NULL);
  char etag[64], hdr[160], v[512];
  assert_non_null(hc_header(&r, "ETag", etag, sizeof etag));
  assert_int_equal(etag[0], '"');
  assert_non_null(hc_header(&r, "Cache-Control", v, sizeof v));
  assert_string_equal(v, "no-cache");
  assert_non_null(hc_header(&r, "Content-Security-Policy", v, sizeof v));
  assert_non_null(strstr(v, "script-src 'self'"));
  assert_non_null(hc_header(&r, "Referrer-Policy", v, sizeof v));
  free(r.raw);
  snprintf(hdr, sizeof hdr, "If-None-Match: W/\"x\", %s\r\n", etag);
  r = hc_req(f->port, "GET", "/", hdr);
  assert_int_equal(r.status, 304);
  assert_string_equal(hc_body(&r), "");
  free(r.raw);
  expect(hc_req(f->port, "GET", "/", "If-None-Match: \"other\"\r\n"), 200, NULL, "gsperf");
  r = hc_req(f->port, "HEAD", "/app.js", NULL);
  assert_int_equal(r.status, 200);
  assert_string_equal(hc_body(&r), "");
  free(r.raw);
  /* the page is public, its data is not */
  expect(hc_req(f->port, "GET", "/api/v1/alerts", NULL), 401, NULL, NULL);
  expect(hc_req(f->port, "GET", "/favicon.ico", NULL), 401, NULL, NULL);
  expect(hc_req(f->port, "POST", "/", NULL), 405, NULL, NULL);
  expect(hc_req(f->port, "GET", "/metrics", "Authorization: Bearer s3cret\r\n"), 200, NULL,
         "gsp_http_requests_total{route=\"/\",code=\"304\"} 1");
}

static void test_etag_match(void **state) {
  (void)state;
  const char *e = "\"abc\"";
  assert_true(gsp__etag_matches("\"abc\"", e));
  assert_true(gsp__etag_matches("W/\"abc\"", e));
  assert_true(gsp__etag_matches("\"x\", \"abc\"", e));
  assert_true(gsp__etag_matches("*", e));
  assert_false(gsp__etag_matches(NULL, e));
  assert_false(gsp__etag_matches("", e));
  assert_false(gsp__etag_matches("\"abcd\"", e));
  assert_false(gsp__etag_matches("\"ab\"", e));
  assert_false(gsp__etag_matches(",,  ,", e));
  assert_non_null(gsp__web_asset("/"));
  assert_null(gsp__web_asset("/../web/index.html"));
  assert_null(gsp__web_asset(""));
}

static void test_oversized(void **state) {
  fixture *f = *state;
  gsp_http_config cfg = {.metrics = f->m, .monitor = f->mon, .max_request_bytes = 4096};
  start(f, &cfg);
  size_t n = 64 * 1024;
  char *big = malloc(n + 200);
  int k = snprintf(big, n + 200, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
  memset(big + k, 'a', n);
  memcpy(big + k + n, "\r\n\r\n", 5);
  hc_resp r = hc_raw(f->port, big, strlen(big));
  if (r.status == 200) fail_msg("a 64 KiB header was served");
  free(r.raw);
  free(big);
  expect(hc_req(f->port, "GET", "/healthz", NULL), 200, NULL, "ok");
}

static int report_fn(void *user, char **out, size_t *len) {
  int *calls = user;
  (*calls)++;
  char buf[64];
  int n = snprintf(buf, sizeof buf, "{\"calls\":%d}", *calls);
  *out = gsp_strdup(buf);
  if (*out == NULL) return GSP_ENOMEM;
  *len = (size_t)n;
  return GSP_OK;
}

/* Fails; with a message when user is set (the server adds it to the 503). */
static int failing_fn(void *user, char **out, size_t *len) {
  if (user != NULL) {
    *out = gsp_strdup(user);
    *len = *out ? strlen(*out) : 0;
  }
  return GSP_EIO;
}

/* A host's JSON route: served with the token like the built-in routes,
 * its failure is 503 (with the host's message when it left one), and it
 * cannot shadow a built-in route or a file. */
static void test_host_route(void **state) {
  fixture *f = *state;
  gsp_http_config cfg = {.metrics = f->m, .token = "tk"};
  start(f, &cfg);
  const char *auth = "Authorization: Bearer tk\r\n";
  expect(hc_req(f->port, "GET", "/api/v1/report", auth), 404, NULL, "not found");
  int calls = 0;
  assert_int_equal(gsp_http_add_json_route(f->h, "/api/v1/report", report_fn, &calls), GSP_OK);
  expect(hc_req(f->port, "GET", "/api/v1/report", auth), 200, "application/json", "{\"calls\":1}");
  expect(hc_req(f->port, "GET", "/api/v1/report", NULL), 401, NULL, NULL);
  assert_int_equal(calls, 1);
  assert_int_equal(gsp_http_add_json_route(f->h, "/api/v1/report", report_fn, &calls), GSP_EEXIST);
  assert_int_equal(gsp_http_add_json_route(f->h, "/metrics", report_fn, &calls), GSP_EEXIST);
  assert_int_equal(gsp_http_add_json_route(f->h, "/app.js", report_fn, &calls), GSP_EEXIST);
  assert_int_equal(gsp_http_add_json_route(f->h, "nope", report_fn, &calls), GSP_EINVAL);
  assert_int_equal(gsp_http_add_json_route(f->h, "/x", NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_http_add_json_route(f->h, "/api/v1/broken", failing_fn, NULL), GSP_OK);
  expect(hc_req(f->port, "GET", "/api/v1/broken", auth), 503, "application/json", "error");
  assert_int_equal(
      gsp_http_add_json_route(f->h, "/api/v1/said", failing_fn, "run/r.json: bad \"x\""), GSP_OK);
  expect(hc_req(f->port, "GET", "/api/v1/said", auth), 503, "application/json",
         ": run/r.json: bad \\\"x\\\"\"}");
  char p[32];
  for (int i = 2; i < 7; i++) {
    snprintf(p, sizeof p, "/api/v1/r%d", i);
    assert_int_equal(gsp_http_add_json_route(f->h, p, report_fn, &calls), GSP_OK);
  }
  assert_int_equal(gsp_http_add_json_route(f->h, "/api/v1/r9", report_fn, &calls), GSP_ENOSPC);
  expect(hc_req(f->port, "GET", "/api/v1/r6", auth), 200, NULL, "{\"calls\":2}");
  expect(hc_req(f->port, "GET", "/metrics", auth), 200, NULL,
         "gsp_http_requests_total{route=\"host\",code=\"200\"} 2");
}

static void test_token(void **state) {
  fixture *f = *state;
  gsp_http_config cfg = {.metrics = f->m, .token = "s3cret"};
  start(f, &cfg);
  hc_resp r = hc_req(f->port, "GET", "/metrics", NULL);
  char v[64];
  assert_int_equal(r.status, 401);
  assert_non_null(hc_header(&r, "WWW-Authenticate", v, sizeof v));
  assert_string_equal(v, "Bearer");
  free(r.raw);
  expect(hc_req(f->port, "GET", "/metrics", "Authorization: Bearer s3cre\r\n"), 401, NULL, NULL);
  expect(hc_req(f->port, "GET", "/metrics", "Authorization: Bearer s3cret2\r\n"), 401, NULL, NULL);
  expect(hc_req(f->port, "GET", "/metrics", "Authorization: Basic s3cret\r\n"), 401, NULL, NULL);
  expect(hc_req(f->port, "GET", "/metrics", "Authorization: Bearer s3cret\r\n"), 200, NULL,
         "jobs_total 3");
  /* no monitor given: its routes are 404 */
  expect(hc_req(f->port, "GET", "/api/v1/alerts", "Authorization: Bearer s3cret\r\n"), 404, NULL,
         NULL);
}

/* Burst 5 at 1 token a second: five immediate requests pass, the sixth
 * (well within a second of the first) is 429 with Retry-After, and the
 * limit comes before the bearer-token check. */
static void test_rate_limit(void **state) {
  fixture *f = *state;
  gsp_http_config cfg = {.metrics = f->m, .token = "s3cret", .rate_per_sec = 1, .rate_burst = 5};
  start(f, &cfg);
  const char *auth = "Authorization: Bearer s3cret\r\n";
  for (int i = 0; i < 4; i++) expect(hc_req(f->port, "GET", "/healthz", auth), 200, NULL, "ok");
  expect(hc_req(f->port, "GET", "/healthz", NULL), 401, NULL, NULL);
  hc_resp r = hc_req(f->port, "GET", "/healthz", auth);
  char v[32];
  if (r.status != 429) fail_msg("status %d, want 429:\n%s", r.status, r.raw);
  assert_non_null(hc_header(&r, "Retry-After", v, sizeof v));
  assert_true(strtoul(v, NULL, 10) >= 1);
  assert_non_null(strstr(hc_body(&r), "too many requests"));
  free(r.raw);
  expect(hc_req(f->port, "GET", "/healthz", NULL), 429, "application/json", NULL);
}

/* The default (rate_per_sec 0) leaves loopback clients alone; an explicit
 * GSP_HTTP_RATE_UNLIMITED turns the limit off for everyone. */
static void test_rate_default_and_off(void **state) {
  fixture *f = *state;
  gsp_http_config cfg = {.metrics = f->m, .rate_burst = 3};
  start(f, &cfg);
  for (int i = 0; i < 10; i++) expect(hc_req(f->port, "GET", "/healthz", NULL), 200, NULL, "ok");
  gsp_http_destroy(f->h);
  cfg.rate_per_sec = GSP_HTTP_RATE_UNLIMITED;
  start(f, &cfg);
  for (int i = 0; i < 10; i++) expect(hc_req(f->port, "GET", "/healthz", NULL), 200, NULL, "ok");
}

static void test_nothing_served(void **state) {
  fixture *f = *state;
  gsp_http_config cfg = {0};
  start(f, &cfg);
  expect(hc_req(f->port, "GET", "/metrics", NULL), 404, NULL, NULL);
  expect(hc_req(f->port, "GET", "/api/v1/metrics", NULL), 404, NULL, NULL);
  expect(hc_req(f->port, "GET", "/api/v1/series?name=a", NULL), 404, NULL, NULL);
  expect(hc_req(f->port, "GET", "/healthz", NULL), 200, NULL, "ok");
}

static void test_bad_config(void **state) {
  (void)state;
  gsp_http *h = (gsp_http *)1;
  char err[160];
  gsp_http_config cfg = {.address = "localhost"};
  assert_int_equal(gsp_http_create(&cfg, &h, err, sizeof err), GSP_EINVAL);
  assert_null(h);
  assert_non_null(strstr(err, "localhost"));
  cfg = (gsp_http_config){.max_request_bytes = 10};
  assert_int_equal(gsp_http_create(&cfg, &h, err, sizeof err), GSP_EINVAL);
  assert_non_null(strstr(err, "max_request_bytes"));
  gsp_http_destroy(NULL);
}

/* ---- concurrency --------------------------------------------------------- */

typedef struct worker {
  unsigned short port;
  int ok, refused;
} worker;

static void *hammer(void *arg) {
  worker *w = arg;
  for (int i = 0; i < 25; i++) {
    hc_resp r = hc_req(w->port, "GET", i % 2 ? "/metrics" : "/api/v1/alerts", NULL);
    if (r.status == 200)
      w->ok++;
    else
      w->refused++;
    free(r.raw);
  }
  return NULL;
}

static void test_concurrent_over_limit(void **state) {
  fixture *f = *state;
  gsp_http_config cfg = {
      .metrics = f->m, .monitor = f->mon, .max_connections = 4, .max_per_ip = 4, .threads = 2};
  start(f, &cfg);
  enum { N = 24 };
  pthread_t t[N];
  worker w[N];
  for (int i = 0; i < N; i++) {
    w[i] = (worker){.port = f->port};
    assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
  }
  int ok = 0, refused = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    ok += w[i].ok;
    refused += w[i].refused;
  }
  print_message("concurrent: %d served, %d refused over the limit of 4\n", ok, refused);
  assert_true(ok > 0);
  assert_int_equal(ok + refused, N * 25);
  expect(hc_req(f->port, "GET", "/healthz", NULL), 200, NULL, "ok");
}

/* ---- the pure parameter validator ----------------------------------------- */

static int params(const gsp__kv *kv, size_t n, gsp__series_req *q, const char **bad) {
  const char *why = NULL;
  *bad = NULL;
  int rv = gsp__series_params(kv, n, q, bad, &why);
  if (rv != GSP_OK) assert_non_null(why);
  return rv;
}

static void test_params(void **state) {
  (void)state;
  gsp__series_req q;
  const char *bad;
  gsp__kv ok[] = {{"name", "a_b"}, {"labels", "fn=\"x\""}, {"range", "2678400"}};
  assert_int_equal(params(ok, 3, &q, &bad), GSP_OK);
  assert_string_equal(q.name, "a_b");
  assert_string_equal(q.labels, "fn=\"x\"");
  assert_int_equal(q.range_s, 2678400);
  assert_int_equal(params(ok, 1, &q, &bad), GSP_OK);
  assert_int_equal(q.range_s, GSP__HTTP_RANGE_DEFAULT);
  assert_null(q.labels);
  assert_int_equal(params(NULL, 0, &q, &bad), GSP_EINVAL);
  assert_string_equal(bad, "name");
  gsp__kv cases[][2] = {
      {{"name", "a"}, {"range", "2678401"}}, {{"name", "a"}, {"range", "0"}},
      {{"name", "a"}, {"range", ""}},        {{"name", "a"}, {"range", "99999999999999999999"}},
      {{"name", "a"}, {"range", NULL}},      {{"name", "a"}, {"labels", "a\nb"}},
      {{"name", ""}, {"range", "1"}},        {{"name", "a"}, {"", "1"}},
  };
  const char *want[] = {"range", "range", "range", "range", "range", "labels", "name", ""};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    assert_int_equal(params(cases[i], 2, &q, &bad), GSP_EINVAL);
    assert_string_equal(bad, want[i]);
  }
  gsp__kv many[GSP__HTTP_MAX_PARAMS + 1];
  for (size_t i = 0; i <= GSP__HTTP_MAX_PARAMS; i++) many[i] = (gsp__kv){"name", "a"};
  assert_int_equal(params(many, GSP__HTTP_MAX_PARAMS + 1, &q, &bad), GSP_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_metrics_route, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_routes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alerts_route, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dashboard, setup, teardown),
      cmocka_unit_test(test_etag_match),
      cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
      cmocka_unit_test_setup_teardown(test_token, setup, teardown),
      cmocka_unit_test_setup_teardown(test_host_route, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rate_default_and_off, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nothing_served, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_over_limit, setup, teardown),
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_params),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
