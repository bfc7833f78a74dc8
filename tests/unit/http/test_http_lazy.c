/*
 * test_http_lazy.c - libmicrohttpd (and GnuTLS, which it pulls in) is
 * loaded by the first HTTP server and not before. A program linked to the
 * shared libgsperf uses a cache, a metrics registry and the code-graph
 * parser, and /proc/self/maps must show neither library; it then creates
 * a server, which must answer /healthz, and both libraries must be mapped.
 *
 * With the argument "missing" (run with GSPERF_MHD_LIBRARY naming a file
 * that does not exist) the create must fail with GSP_ENOTSUP and a message
 * that names the file and carries dlerror()'s reason.
 *
 * Exit 0 on success; 1 with a message on the first failed check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gsperf/cache.h"
#include "gsperf/codegraph.h"
#include "gsperf/http.h"
#include "gsperf/metrics.h"
#include "http_client.h"

static int failures;

static void check(bool ok, const char *what) {
  if (!ok) fprintf(stderr, "FAIL: %s\n", what), failures++;
}

/* True when a line of /proc/self/maps names a file containing needle. */
static bool mapped(const char *needle) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (f == NULL) return perror("/proc/self/maps"), exit(1), false;
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

static void use_library(void) {
  gsp_cache *c = NULL;
  check(gsp_cache_create(&(gsp_cache_config){.max_entries = 64}, &c) == GSP_OK, "cache create");
  check(gsp_cache_put(c, "k", 1, "v", 1, NULL) == GSP_OK, "cache put");
  gsp_cache_ref *r = NULL;
  check(gsp_cache_get(c, "k", 1, &r) == GSP_OK, "cache get");
  gsp_cache_ref_release(r);
  gsp_cache_destroy(c);

  gsp_metrics *m = NULL;
  check(gsp_metrics_create(NULL, &m) == GSP_OK, "metrics create");
  gsp_metric_family *fam = NULL;
  gsp_metric_desc d = {.name = "lazy_total", .type = GSP_METRIC_COUNTER};
  gsp_counter *ctr = NULL;
  check(gsp_metrics_family(m, &d, &fam) == GSP_OK, "family");
  check(gsp_metrics_counter(fam, NULL, &ctr) == GSP_OK, "counter");
  gsp_counter_inc(ctr);
  char *text = NULL;
  size_t len = 0;
  check(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &text, &len) == GSP_OK, "render");
  check(text && strstr(text, "lazy_total 1"), "rendered counter");
  gsp_free(text);
  gsp_metrics_destroy(m);

  gsp_cg_parser *p = NULL;
  gsp_cg_result *res = NULL;
  const char src[] = "int f(void) { return 1; }\nint g(void) { return f(); }\n";
  check(gsp_cg_parser_create(&p) == GSP_OK, "parser create");
  check(gsp_cg_parse(p, GSP_CG_LANG_C, src, sizeof src - 1, &res) == GSP_OK, "parse");
  check(res && gsp_cg_result_ndefs(res) == 2, "two definitions");
  gsp_cg_result_free(res);
  gsp_cg_parser_destroy(p);
}

static int run_missing(void) {
  const char *name = getenv("GSPERF_MHD_LIBRARY");
  gsp_http *h = NULL;
  char err[512];
  int rv = gsp_http_create(&(gsp_http_config){.port_ephemeral = true}, &h, err, sizeof err);
  check(rv == GSP_ENOTSUP, "create without the library is GSP_ENOTSUP");
  check(h == NULL, "no handle");
  check(name && strstr(err, name), "message names the library");
  check(strstr(err, "No such file") != NULL, "message carries dlerror()");
  fprintf(stderr, "message: %s\n", err);
  /* The failure is remembered: a second create fails the same way. */
  check(gsp_http_create(NULL, &h, NULL, 0) == GSP_ENOTSUP, "second create");
  return failures ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "missing") == 0) return run_missing();
  check(mapped("libgsperf"), "libgsperf itself is mapped (the check sees libraries)");
  use_library();
  check(!mapped("libmicrohttpd"), "no libmicrohttpd before a server");
  check(!mapped("libgnutls"), "no libgnutls before a server");
  gsp_http *h = NULL;
  char err[256];
  int rv = gsp_http_create(&(gsp_http_config){.port_ephemeral = true}, &h, err, sizeof err);
  if (rv != GSP_OK) fprintf(stderr, "create: %s: %s\n", gsp_strerror(rv), err);
  check(rv == GSP_OK, "server created");
  if (h) {
    hc_resp r = hc_req(gsp_http_port(h), "GET", "/healthz", NULL);
    bool ok = r.status == 200 && r.raw && strncmp(hc_body(&r), "ok", 2) == 0;
    if (!ok) fprintf(stderr, "/healthz: %d:\n%s\n", r.status, r.raw ? r.raw : "");
    check(ok, "/healthz answers ok");
    free(r.raw);
  }
  check(mapped("libmicrohttpd"), "libmicrohttpd mapped after a server");
  check(mapped("libgnutls"), "libgnutls mapped after a server");
  gsp_http_destroy(h);
  return failures ? 1 : 0;
}
