/*
 * dashboard_host.c - a small host program for the dashboard's browser
 * test: it does real work through two caches and two monitored functions,
 * exports everything into a registry under the shared naming convention,
 * and serves it with the monitor on loopback, so that the dashboard's
 * cache and top-functions panels show live data.
 *
 *   dashboard_host --port-file FILE [--token T] [--rules FILE]
 *
 * The work: a worker thread generates small C-like source texts from a
 * skewed (mostly repeating) choice of 64 seeds, and calls
 *   parse_text     counts identifiers and numbers in a text; fails on a
 *                  text with a stray '@' (one seed in eight); results are
 *                  cached by text in the cache "parse";
 *   resolve_name   looks an identifier up in a table of known names (cache
 *                  "symbols"); fails when it is unknown.
 * Each call is counted and timed by hand the way the optimization engine
 * does it: gsperf_function_calls_total / _errors_total / _duration_seconds
 * / _cache_hits_total / _cache_misses_total {function=NAME}; the caches
 * are exported by a monitor source (gsp_monitor_add_cache_manager).
 * Runs until SIGTERM or SIGINT; exits 0 then.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include "gsperf/cache.h"
#include "gsperf/http.h"
#include "gsperf/metrics.h"
#include "gsperf/monitor.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

typedef struct fn_metrics {
  gsp_counter *calls, *errors, *hits, *misses;
  gsp_hist *duration;
} fn_metrics;

static int family(gsp_metrics *m, const char *name, const char *help, gsp_metric_type t,
                  gsp_metric_family **out) {
  static const char *const ln[] = {"function"};
  gsp_metric_desc d = {.name = name, .help = help, .type = t, .label_names = ln, .nlabels = 1};
  return gsp_metrics_family(m, &d, out);
}

static int fn_metrics_init(gsp_metrics *m, const char *fn, fn_metrics *out) {
  const char *lv[] = {fn};
  gsp_metric_family *f[5];
  int rv = family(m, "gsperf_function_calls_total", "Calls", GSP_METRIC_COUNTER, &f[0]);
  if (!rv)
    rv = family(m, "gsperf_function_errors_total", "Failed calls", GSP_METRIC_COUNTER, &f[1]);
  if (!rv)
    rv = family(m, "gsperf_function_duration_seconds", "Call time", GSP_METRIC_HISTOGRAM, &f[2]);
  if (!rv)
    rv = family(m, "gsperf_function_cache_hits_total", "Cached results", GSP_METRIC_COUNTER, &f[3]);
  if (!rv)
    rv = family(m, "gsperf_function_cache_misses_total", "Computed results", GSP_METRIC_COUNTER,
                &f[4]);
  if (!rv) rv = gsp_metrics_counter(f[0], lv, &out->calls);
  if (!rv) rv = gsp_metrics_counter(f[1], lv, &out->errors);
  if (!rv) rv = gsp_metrics_histogram(f[2], lv, &out->duration);
  if (!rv) rv = gsp_metrics_counter(f[3], lv, &out->hits);
  if (!rv) rv = gsp_metrics_counter(f[4], lv, &out->misses);
  return rv;
}

/* ---- the work --------------------------------------------------------------- */

typedef struct host {
  gsp_cache *parse_cache, *sym_cache;
  fn_metrics parse, resolve;
  unsigned seed;
} host;

static unsigned next_rand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 8) & 0xffffffu;
}

static void make_text(unsigned seed, char *buf, size_t cap) {
  size_t n = (size_t)snprintf(buf, cap, "int f%u(int a) { return a * %u + g%u(a); }", seed,
                              seed * 7u, seed % 5u);
  if (seed % 8u == 3u && n + 2 < cap) memcpy(buf + n, " @", 3);
}

/* Identifiers and numbers in text; -1 on a stray '@'. */
static long count_tokens(const char *text) {
  long n = 0;
  for (const char *p = text; *p;) {
    if (*p == '@') return -1;
    if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) {
      n++;
      while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) p++;
    } else {
      p++;
    }
  }
  return n;
}

static int parse_text(host *h, const char *text, long *tokens) {
  uint64_t t0 = gsp_now_ns();
  size_t len = strlen(text);
  size_t vlen;
  int rv = gsp_cache_get_copy(h->parse_cache, text, len, tokens, sizeof *tokens, &vlen);
  if (rv == GSP_OK) {
    gsp_counter_inc(h->parse.hits);
  } else {
    gsp_counter_inc(h->parse.misses);
    *tokens = count_tokens(text);
    rv = *tokens < 0 ? GSP_EFORMAT : GSP_OK;
    if (rv == GSP_OK) (void)gsp_cache_put(h->parse_cache, text, len, tokens, sizeof *tokens, NULL);
  }
  gsp_counter_inc(h->parse.calls);
  if (rv != GSP_OK) gsp_counter_inc(h->parse.errors);
  gsp_hist_record(h->parse.duration, gsp_now_ns() - t0);
  return rv;
}

static int resolve_name(host *h, unsigned id) {
  uint64_t t0 = gsp_now_ns();
  char name[32];
  snprintf(name, sizeof name, "g%u", id);
  char def[8];
  size_t vlen;
  int rv = gsp_cache_get_copy(h->sym_cache, name, strlen(name), def, sizeof def, &vlen);
  if (rv == GSP_OK) {
    gsp_counter_inc(h->resolve.hits);
  } else {
    gsp_counter_inc(h->resolve.misses);
    if (id < 5) { /* the known names: g0 .. g4 */
      (void)gsp_cache_put(h->sym_cache, name, strlen(name), "def", 3, NULL);
      rv = GSP_OK;
    }
  }
  gsp_counter_inc(h->resolve.calls);
  if (rv != GSP_OK) gsp_counter_inc(h->resolve.errors);
  gsp_hist_record(h->resolve.duration, gsp_now_ns() - t0);
  return rv;
}

static void *worker(void *arg) {
  host *h = arg;
  char text[128];
  while (!g_stop) {
    for (int i = 0; i < 20; i++) {
      unsigned r = next_rand(&h->seed);
      unsigned seed = (r % 4u == 0u) ? r % 64u : r % 8u; /* mostly a few hot texts */
      make_text(seed, text, sizeof text);
      long tokens;
      (void)parse_text(h, text, &tokens);
      (void)resolve_name(h, r % 7u);
    }
    nanosleep(&(struct timespec){0, 20000000}, NULL);
  }
  return NULL;
}

/* ---- set-up ------------------------------------------------------------------ */

typedef struct opts {
  const char *port_file, *token, *rules;
} opts;

static int parse_args(int argc, char **argv, opts *o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--port-file") == 0)
      o->port_file = argv[i + 1];
    else if (strcmp(argv[i], "--token") == 0)
      o->token = argv[i + 1];
    else if (strcmp(argv[i], "--rules") == 0)
      o->rules = argv[i + 1];
    else
      return -1;
  }
  return o->port_file && argc % 2 == 1 ? 0 : -1;
}

static int make_caches(gsp_cache_manager *mgr, host *h) {
  gsp_cache_config pc = {.strategy = GSP_CACHE_LRU, .max_entries = 12};
  gsp_cache_config sc = {.strategy = GSP_CACHE_LFU, .max_entries = 64};
  int rv = gsp_cache_manager_create_cache(mgr, "parse", &pc, &h->parse_cache);
  if (!rv) rv = gsp_cache_manager_create_cache(mgr, "symbols", &sc, &h->sym_cache);
  return rv;
}

static int write_port(const char *path, uint16_t port) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  fprintf(f, "%u\n", (unsigned)port);
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

static int serve(const opts *o, gsp_metrics *m, gsp_monitor *mon) {
  char err[256];
  gsp_http *srv = NULL;
  gsp_http_config hc = {.port_ephemeral = true, .token = o->token, .metrics = m, .monitor = mon};
  if (gsp_http_create(&hc, &srv, err, sizeof err) != GSP_OK) {
    fprintf(stderr, "dashboard_host: %s\n", err);
    return 1;
  }
  if (write_port(o->port_file, gsp_http_port(srv)) != 0) {
    fprintf(stderr, "dashboard_host: cannot write %s\n", o->port_file);
    gsp_http_destroy(srv);
    return 1;
  }
  fprintf(stderr, "dashboard_host: http://127.0.0.1:%u/\n", (unsigned)gsp_http_port(srv));
  while (!g_stop) nanosleep(&(struct timespec){0, 50000000}, NULL);
  gsp_http_destroy(srv);
  return 0;
}

static int run(const opts *o, gsp_metrics *m, gsp_monitor *mon, gsp_cache_manager *mgr) {
  host h = {.seed = 12345u};
  int rv = make_caches(mgr, &h);
  if (!rv) rv = fn_metrics_init(m, "parse_text", &h.parse);
  if (!rv) rv = fn_metrics_init(m, "resolve_name", &h.resolve);
  if (!rv) rv = gsp_monitor_add_cache_manager(mon, "caches", mgr);
  if (!rv && o->rules) rv = gsp_monitor_load_rules(mon, o->rules);
  if (!rv) rv = gsp_monitor_start(mon);
  if (rv) {
    fprintf(stderr, "dashboard_host: set-up failed: %s (%s)\n", gsp_strerror(rv),
            gsp_monitor_errmsg(mon));
    return 1;
  }
  pthread_t t;
  if (pthread_create(&t, NULL, worker, &h) != 0) return 1;
  int code = serve(o, m, mon);
  g_stop = 1;
  pthread_join(t, NULL);
  gsp_monitor_stop(mon);
  (void)gsp_monitor_remove_source(mon, "caches");
  return code;
}

int main(int argc, char **argv) {
  opts o = {0};
  if (parse_args(argc, argv, &o) != 0) {
    fprintf(stderr, "usage: dashboard_host --port-file FILE [--token T] [--rules FILE]\n");
    return 2;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  gsp_metrics *m = NULL;
  gsp_monitor *mon = NULL;
  gsp_cache_manager *mgr = NULL;
  int code = 1;
  if (gsp_metrics_create(NULL, &m) == GSP_OK &&
      gsp_monitor_create(&(gsp_monitor_config){.metrics = m, .collection_interval_ms = 200},
                         &mon) == GSP_OK &&
      gsp_cache_manager_create(&mgr) == GSP_OK)
    code = run(&o, m, mon, mgr);
  gsp_monitor_destroy(mon);
  gsp_cache_manager_destroy(mgr);
  gsp_metrics_destroy(m);
  return code;
}
