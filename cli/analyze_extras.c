/*
 * analyze_extras.c - `gsperf analyze --serve` and `--profile`.
 *
 * --serve: the engine's metrics registry (every stage's histograms and
 * counters, the result store's per-level gauges) served with the dashboard
 * by the same HTTP server `gsperf serve` uses, plus a system monitor
 * sampling into the registry; it lives from before the walk until the
 * report is printed (longer with --serve-linger).
 *
 * --profile: an in-process CPU profile (prof.h) of the whole run, all
 * threads, written as `gsperf profile` writes its own.
 *
 * --memory aggressive: the result store kept small. A run reads each
 * file's result once, so an L1 holding every result (64 MiB by default)
 * only doubles the results' memory; 1 MiB keeps the write-back batch
 * moving, L2 is off, and L3 records are LZ4-compressed, so the pages of
 * the LMDB map a warm run touches (they count in its RSS) are fewer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyze_extras.h"

/* "ADDR:PORT", "[V6]:PORT" or "ADDR" (port 9464). */
static int split_addr(const char *v, char *host, size_t cap, unsigned *port) {
  const char *colon = strrchr(v, ':'), *h = v, *hend;
  bool v6 = v[0] == '[';
  if (v6) {
    const char *rb = strchr(v, ']');
    if (rb == NULL || (rb[1] != '\0' && rb[1] != ':')) return -1;
    h = v + 1, hend = rb, colon = rb[1] == ':' ? rb + 1 : NULL;
  } else {
    hend = colon ? colon : v + strlen(v);
  }
  size_t n = (size_t)(hend - h);
  if (n == 0 || n >= cap) return -1;
  memcpy(host, h, n), host[n] = '\0';
  *port = 9464;
  if (colon == NULL) return 0;
  char *end = NULL;
  errno = 0;
  unsigned long p = strtoul(colon + 1, &end, 10);
  if (errno || end == colon + 1 || *end || p > 65535) return -1;
  *port = (unsigned)p;
  return 0;
}

static int write_port(const char *path, unsigned port) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
    fprintf(stderr, "gsperf analyze: cannot write port file '%s': %s\n", path, strerror(errno));
    return 1;
  }
  return 0;
}

int analyze_serve_start(analyze_serve *s, const char *addr, const char *port_file, gsp_metrics *m) {
  char host[256], err[256] = "";
  unsigned port = 0;
  *s = (analyze_serve){0};
  if (split_addr(addr, host, sizeof host, &port) != 0) {
    fprintf(stderr, "gsperf analyze: --serve: want ADDR[:PORT], got '%s'\n", addr);
    return 1;
  }
  int rv = gsp_monitor_create(&(gsp_monitor_config){.metrics = m}, &s->mon);
  if (rv == GSP_OK) rv = gsp_monitor_start(s->mon);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf analyze: monitor: %s\n", gsp_strerror(rv));
    analyze_serve_stop(s);
    return 1;
  }
  gsp_http_config hc = {.address = host,
                        .port = (uint16_t)port,
                        .port_ephemeral = port == 0,
                        .metrics = m,
                        .monitor = s->mon};
  if (gsp_http_create(&hc, &s->http, err, sizeof err) != GSP_OK) {
    fprintf(stderr, "gsperf analyze: --serve %s: %s\n", addr, err);
    analyze_serve_stop(s);
    return 1;
  }
  port = gsp_http_port(s->http);
  bool v6 = strchr(host, ':') != NULL;
  fprintf(stderr, "gsperf analyze: dashboard http://%s%s%s:%u/ (metrics at /metrics)\n",
          v6 ? "[" : "", host, v6 ? "]" : "", port);
  if (port_file && write_port(port_file, port) != 0) {
    analyze_serve_stop(s);
    return 1;
  }
  return 0;
}

void analyze_serve_stop(analyze_serve *s) {
  gsp_http_destroy(s->http);
  gsp_monitor_destroy(s->mon);
  *s = (analyze_serve){0};
}

int analyze_profile_start(gsp_prof **out, const char *dir) {
  *out = NULL;
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "gsperf analyze: --profile %s: %s\n", dir, strerror(errno));
    return 1;
  }
  int rv = gsp_prof_create(&(gsp_prof_config){.types = GSP_PROF_CPU | GSP_PROF_FUNCTION}, out);
  if (rv == GSP_OK) rv = gsp_prof_start(*out);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf analyze: profiler: %s\n",
            *out && gsp_prof_errmsg(*out)[0] ? gsp_prof_errmsg(*out) : gsp_strerror(rv));
    gsp_prof_destroy(*out);
    *out = NULL;
    return 1;
  }
  return 0;
}

static int write_one(int rv, const char *dir, const char *name) {
  if (rv != GSP_OK) fprintf(stderr, "gsperf analyze: cannot write %s/%s\n", dir, name);
  return rv == GSP_OK ? 0 : 1;
}

static int write_text(gsp_prof_report *r, const char *path) {
  FILE *f = fopen(path, "w");
  if (f == NULL) return GSP_EIO;
  int rv = gsp_prof_report_write_text(r, f, 30);
  if (fclose(f) != 0 && rv == GSP_OK) rv = GSP_EIO;
  return rv;
}

int analyze_profile_finish(gsp_prof *p, const char *dir) {
  gsp_prof_report *r = NULL;
  char path[4200];
  int bad = gsp_prof_stop(p) != GSP_OK || gsp_prof_report_create(p, &r) != GSP_OK;
  if (bad) {
    fprintf(stderr, "gsperf analyze: profiler: %s\n", gsp_prof_errmsg(p));
    gsp_prof_destroy(p);
    return 1;
  }
  snprintf(path, sizeof path, "%s/cpu.pb.gz", dir);
  bad |= write_one(gsp_prof_report_write_pprof(r, path), dir, "cpu.pb.gz");
  snprintf(path, sizeof path, "%s/cpu.collapsed", dir);
  bad |= write_one(gsp_prof_report_write_collapsed(r, path), dir, "cpu.collapsed");
  snprintf(path, sizeof path, "%s/flame.svg", dir);
  bad |= write_one(gsp_prof_report_write_flame(r, path, "gsperf analyze"), dir, "flame.svg");
  snprintf(path, sizeof path, "%s/report.txt", dir);
  bad |= write_one(write_text(r, path), dir, "report.txt");
  fprintf(stderr, "gsperf analyze: CPU profile (%llu samples) in %s/\n",
          (unsigned long long)gsp_prof_report_samples(r), dir);
  gsp_prof_report_destroy(r);
  gsp_prof_destroy(p);
  return bad;
}

int analyze_memory_parse(const char *v, bool *aggressive) {
  if (strcmp(v, "default") == 0) return *aggressive = false, 0;
  if (strcmp(v, "aggressive") == 0) return *aggressive = true, 0;
  return -1;
}

void analyze_memory_tier(gsp_tier_config *tc) {
  tc->l1_max_bytes = (size_t)1 << 20;
  tc->l2_max_bytes = SIZE_MAX; /* no L2 */
  tc->l3_compress = true;
}
