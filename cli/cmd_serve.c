/*
 * cmd_serve.c - `gsperf serve`: run the system collector and the HTTP
 * server for this machine until SIGINT or SIGTERM.
 *
 * Flow: parse flags (a bad one exits 2 naming it), block SIGINT and
 * SIGTERM in this thread before any other thread exists (so the collector
 * and libmicrohttpd threads inherit the mask and the signal can only be
 * taken by sigwait here), create a registry, a monitor with the rules
 * file loaded (errors name the file, rule and field, exit 1), start the
 * collector and the server, print the URL on stderr, write the bound port
 * to --port-file if asked (for scripts using port 0), then sigwait and
 * tear down in reverse order: server, collector, monitor, registry.
 *
 * --report FILE serves a saved optimization report (the JSON of
 * gsp_opt_report_json, e.g. written by a host every few seconds) at
 * /api/v1/report, where the dashboard renders it. The file is checked at
 * start (not a report: exit 1 naming it) and on every request whose
 * stat() differs from the text held (inode, size, mtime): a good new file
 * replaces it; a bad, missing or unreadable one makes the route answer 503
 * with the file's path and the reason (printed once on stderr too) until
 * the file is good again. Never stale data silently. State under rs->mu,
 * as the route may run on several server threads.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "gsperf/http.h"
#include "gsperf/metrics.h"
#include "gsperf/monitor.h"
#include "gsperf/optimize.h"

typedef struct serve_opts {
  char address[64];
  unsigned port;
  const char *rules, *token, *port_file, *report;
  unsigned interval_ms;
  uint32_t rate, burst; /* 0 = the server's defaults */
} serve_opts;

static int usage_error(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "gsperf serve: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n(see 'gsperf serve --help')\n");
  return 2;
}

static void help(void) {
  printf(
      "usage: gsperf serve [--listen ADDR:PORT] [--rules FILE] [--token T]\n"
      "                    [--interval MS] [--port-file PATH] [--rate N[/BURST]]\n"
      "                    [--report FILE]\n\n"
      "Collects process and machine metrics and serves them over HTTP until\n"
      "SIGINT or SIGTERM: the dashboard at /, /metrics, /api/v1/metrics,\n"
      "/api/v1/series, /api/v1/alerts, /healthz.\n\n"
      "  --listen ADDR:PORT  default 127.0.0.1:9464; port 0 = any free port;\n"
      "                      IPv6 as [::1]:9464\n"
      "  --rules FILE        alert rules (JSON, see gsperf/monitor.h)\n"
      "  --token T           require 'Authorization: Bearer T'\n"
      "  --interval MS       collection interval, 10..3600000 (default 1000)\n"
      "  --port-file PATH    write the bound port to PATH once serving\n"
      "  --rate N[/BURST]    requests per second per client (default 1000, burst\n"
      "                      2N, loopback clients exempt); 'off' = no limit\n"
      "  --report FILE       serve this saved optimization report (JSON) at\n"
      "                      /api/v1/report for the dashboard; re-read when it\n"
      "                      changes (replace it atomically, e.g. by rename)\n\n"
      "Exit: 0 stopped by a signal, 1 could not serve, 2 bad usage.\n");
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out) {
  char *end = NULL;
  if (*s < '0' || *s > '9') return false;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  *out = (unsigned)v;
  return true;
}

static int parse_listen(serve_opts *o, const char *v) {
  const char *colon = strrchr(v, ':');
  const char *host = v, *hend = colon;
  if (colon == NULL) return usage_error("--listen: want ADDR:PORT, got '%s'%s", v, "");
  if (v[0] == '[') {
    host = v + 1;
    if (colon == v || colon[-1] != ']')
      return usage_error("--listen: bad address in '%s'%s", v, "");
    hend = colon - 1;
  }
  size_t n = (size_t)(hend - host);
  if (n == 0 || n >= sizeof o->address)
    return usage_error("--listen: bad address in '%s'%s", v, "");
  memcpy(o->address, host, n);
  o->address[n] = '\0';
  if (!parse_uint(colon + 1, 0, 65535, &o->port))
    return usage_error("--listen: bad port in '%s'%s", v, "");
  return 0;
}

/* "off", "N" or "N/BURST", N and BURST in 1..1000000. */
static int parse_rate(serve_opts *o, const char *v) {
  if (strcmp(v, "off") == 0) {
    o->rate = GSP_HTTP_RATE_UNLIMITED;
    return 0;
  }
  char num[32];
  const char *slash = strchr(v, '/');
  size_t n = slash ? (size_t)(slash - v) : strlen(v);
  unsigned rate = 0, burst = 0;
  bool ok = n > 0 && n < sizeof num;
  if (ok) {
    memcpy(num, v, n);
    num[n] = '\0';
    ok =
        parse_uint(num, 1, 1000000, &rate) && (!slash || parse_uint(slash + 1, 1, 1000000, &burst));
  }
  if (!ok) return usage_error("--rate: bad value '%s' (want N, N/BURST or off)%s", v, "");
  o->rate = rate;
  o->burst = burst;
  return 0;
}

static int apply(serve_opts *o, const char *flag, const char *v) {
  if (strcmp(flag, "--rate") == 0) return parse_rate(o, v);
  if (strcmp(flag, "--listen") == 0) return parse_listen(o, v);
  if (strcmp(flag, "--rules") == 0) o->rules = v;
  if (strcmp(flag, "--token") == 0) {
    if (*v == '\0') return usage_error("--token: empty token%s%s", "", "");
    o->token = v;
  }
  if (strcmp(flag, "--port-file") == 0) o->port_file = v;
  if (strcmp(flag, "--report") == 0) o->report = v;
  if (strcmp(flag, "--interval") == 0 && !parse_uint(v, 10, 3600000, &o->interval_ms))
    return usage_error("--interval: bad value '%s' (want 10..3600000 ms)%s", v, "");
  return 0;
}

static int parse_args(serve_opts *o, int argc, char **argv) {
  static const char *const flags[] = {"--listen",    "--rules", "--token", "--interval",
                                      "--port-file", "--rate",  "--report"};
  const size_t nflags = sizeof flags / sizeof *flags;
  for (int i = 1; i < argc; i++) {
    size_t k = 0;
    while (k < nflags && strcmp(argv[i], flags[k]) != 0) k++;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return -1;
    if (k == nflags) return usage_error("unknown option '%s'%s", argv[i], "");
    if (i + 1 >= argc) return usage_error("%s needs a value%s", argv[i], "");
    int rv = apply(o, argv[i], argv[i + 1]);
    if (rv) return rv;
    i++;
  }
  return 0;
}

static int write_port(const char *path, unsigned port) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
    fprintf(stderr, "gsperf serve: cannot write port file '%s': %s\n", path, strerror(errno));
    return 1;
  }
  return 0;
}

static int make_monitor(const serve_opts *o, gsp_metrics *m, gsp_monitor **mon) {
  gsp_monitor_config mc = {.metrics = m, .collection_interval_ms = o->interval_ms};
  int rv = gsp_monitor_create(&mc, mon);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf serve: monitor: %s\n", gsp_strerror(rv));
    return 1;
  }
  if (o->rules && gsp_monitor_load_rules(*mon, o->rules) != GSP_OK) {
    fprintf(stderr, "gsperf serve: %s\n", gsp_monitor_errmsg(*mon));
    return 1;
  }
  if ((rv = gsp_monitor_start(*mon)) != GSP_OK) {
    fprintf(stderr, "gsperf serve: collector: %s\n", gsp_strerror(rv));
    return 1;
  }
  return 0;
}

/* ---- --report FILE ---------------------------------------------------------- */

#define REPORT_MAX ((size_t)64 << 20) /* a report file larger than this is refused */

typedef struct report_src {
  const char *path;
  pthread_mutex_t mu;
  bool opened;    /* the start's check is done: later failures are printed */
  bool loaded;    /* st describes the file as last read */
  struct stat st; /* inode, size and mtime of that read */
  char *json;     /* its text when it is a good report, else NULL */
  size_t len;
  int code;      /* why json is NULL: GSP_EFORMAT, GSP_EIO, GSP_ENOENT, GSP_ENOMEM */
  char err[600]; /* and in words, naming the file */
} report_src;

static bool same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The whole file, NUL-terminated (gsp_malloc'd); NULL with *eno (0: too large or no memory). */
static char *read_all(const char *path, size_t *len, int *eno) {
  FILE *fp = fopen(path, "re");
  *eno = fp == NULL ? errno : 0;
  size_t cap = 65536, n = 0;
  char *buf = fp != NULL ? gsp_malloc(cap) : NULL;
  while (buf != NULL) {
    n += fread(buf + n, 1, cap - n - 1, fp);
    if (n + 1 < cap) break; /* end of file, or an error (ferror below) */
    char *nb = cap < REPORT_MAX ? gsp_realloc(buf, cap * 2) : NULL;
    if (nb == NULL) gsp_free(buf);
    buf = nb;
    cap *= 2;
  }
  if (buf != NULL && ferror(fp)) {
    *eno = EIO;
    gsp_free(buf);
    buf = NULL;
  }
  if (fp != NULL) (void)fclose(fp);
  if (buf != NULL) buf[n] = '\0';
  *len = n;
  return buf;
}

/* Read the file again and check that it is a report (the renderer's check). */
static void report_reload_locked(report_src *rs, const struct stat *st) {
  gsp_free(rs->json);
  rs->json = NULL;
  rs->st = *st;
  rs->loaded = true;
  int eno = 0;
  size_t len = 0;
  char *text = read_all(rs->path, &len, &eno);
  if (text == NULL) {
    rs->code = eno != 0 ? GSP_EIO : GSP_ENOMEM;
    snprintf(rs->err, sizeof rs->err, "%s: cannot read: %s", rs->path,
             eno != 0 ? strerror(eno) : "too large (64 MiB at most) or out of memory");
    return;
  }
  char *table = NULL, why[400] = "";
  int rv = gsp_opt_report_text(text, &table, why, sizeof why);
  gsp_free(table);
  if (rv != GSP_OK) {
    rs->code = rv;
    snprintf(rs->err, sizeof rs->err, "%s: not an optimization report: %s", rs->path,
             why[0] ? why : gsp_strerror(rv));
    gsp_free(text);
    return;
  }
  rs->json = text;
  rs->len = len;
  rs->err[0] = '\0';
}

/* Bring rs up to date with the file; true when it holds a good report.
 * After the start, a file gone bad is printed once (per change). */
static bool report_refresh_locked(report_src *rs) {
  struct stat st;
  if (stat(rs->path, &st) != 0) {
    int eno = errno;
    bool news = rs->loaded; /* it was there at the last look */
    gsp_free(rs->json);
    rs->json = NULL;
    rs->loaded = false;
    rs->code = eno == ENOENT ? GSP_ENOENT : GSP_EIO;
    snprintf(rs->err, sizeof rs->err, "%s: %s", rs->path, strerror(eno));
    if (news && rs->opened) fprintf(stderr, "gsperf serve: %s\n", rs->err);
    return false;
  }
  if (rs->loaded && same_file(&st, &rs->st)) return rs->json != NULL;
  report_reload_locked(rs, &st);
  if (rs->json == NULL && rs->opened) fprintf(stderr, "gsperf serve: %s\n", rs->err);
  return rs->json != NULL;
}

/* The /api/v1/report route: the report's text, or the error naming the file. */
static int report_route(void *user, char **out, size_t *len) {
  report_src *rs = user;
  pthread_mutex_lock(&rs->mu);
  bool ok = report_refresh_locked(rs);
  const char *src = ok ? rs->json : rs->err;
  size_t n = ok ? rs->len : strlen(rs->err);
  int code = ok ? GSP_OK : rs->code;
  char *copy = gsp_malloc(n + 1);
  if (copy != NULL) {
    memcpy(copy, src, n);
    copy[n] = '\0';
  }
  pthread_mutex_unlock(&rs->mu);
  *out = copy;
  *len = n;
  return copy == NULL ? GSP_ENOMEM : code;
}

static void report_close(report_src *rs) {
  gsp_free(rs->json);
  rs->json = NULL;
  pthread_mutex_destroy(&rs->mu);
}

/* Load the report at start: a bad file is an error naming it (exit 1). */
static int report_open(report_src *rs, const char *path) {
  memset(rs, 0, sizeof *rs);
  rs->path = path;
  if (pthread_mutex_init(&rs->mu, NULL) != 0) {
    fprintf(stderr, "gsperf serve: out of resources\n");
    return 1;
  }
  pthread_mutex_lock(&rs->mu);
  bool ok = report_refresh_locked(rs);
  rs->opened = true;
  pthread_mutex_unlock(&rs->mu);
  if (ok) return 0;
  fprintf(stderr, "gsperf serve: %s\n", rs->err);
  report_close(rs);
  return 1;
}

static int serve(const serve_opts *o, gsp_metrics *m, gsp_monitor *mon, report_src *rs,
                 const sigset_t *sigs) {
  gsp_http_config hc = {.address = o->address,
                        .port = (uint16_t)o->port,
                        .port_ephemeral = o->port == 0,
                        .token = o->token,
                        .metrics = m,
                        .monitor = mon,
                        .rate_per_sec = o->rate,
                        .rate_burst = o->burst};
  gsp_http *h = NULL;
  char err[200];
  int rv = gsp_http_create(&hc, &h, err, sizeof err);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf serve: %s:%u: %s\n", o->address, o->port, err);
    return 1;
  }
  if (rs != NULL && (rv = gsp_http_add_json_route(h, "/api/v1/report", report_route, rs))) {
    fprintf(stderr, "gsperf serve: /api/v1/report: %s\n", gsp_strerror(rv));
    gsp_http_destroy(h);
    return 1;
  }
  unsigned port = gsp_http_port(h);
  bool v6 = strchr(o->address, ':') != NULL;
  fprintf(stderr, "gsperf serve: serving http://%s%s%s:%u/metrics%s\n", v6 ? "[" : "", o->address,
          v6 ? "]" : "", port, o->token ? " (bearer token required)" : "");
  int code = o->port_file ? write_port(o->port_file, port) : 0;
  int sig = 0;
  if (code == 0) sigwait(sigs, &sig);
  if (sig) fprintf(stderr, "gsperf serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  gsp_http_destroy(h);
  return code;
}

int gsp_cmd_serve(int argc, char **argv) {
  serve_opts o = {
      .address = GSP_HTTP_DEFAULT_ADDRESS, .port = GSP_HTTP_DEFAULT_PORT, .interval_ms = 1000};
  int rv = parse_args(&o, argc, argv);
  if (rv < 0) help();
  if (rv) return rv < 0 ? 0 : rv;
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  report_src rs, *rsp = NULL;
  if (o.report != NULL) {
    if (report_open(&rs, o.report) != 0) return 1;
    rsp = &rs;
  }
  gsp_metrics *m = NULL;
  gsp_monitor *mon = NULL;
  int code = 1;
  if (gsp_metrics_create(NULL, &m) != GSP_OK) {
    fprintf(stderr, "gsperf serve: out of memory\n");
    goto out;
  }
  code = make_monitor(&o, m, &mon);
  if (code == 0) code = serve(&o, m, mon, rsp, &sigs);
out:
  gsp_monitor_destroy(mon);
  gsp_metrics_destroy(m);
  if (rsp != NULL) report_close(rsp);
  return code;
}
