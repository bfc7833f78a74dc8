/*
 * bench_http.c - requests/s and latency (p50, p99) of GET /metrics over
 * loopback: a gsperf HTTP server with a registry of 100 series, and N
 * client threads, each on one keep-alive connection, sending a request,
 * reading the whole response (Content-Length framed) and recording the
 * round trip into a gsperf histogram snapshot. Threads x seconds are set
 * on the command line: bench_http [THREADS [SECONDS]] (default 2 x 3 s).
 * The same measurement with wrk (Debian package "wrk"):
 *   wrk -t2 -c16 -d10s http://127.0.0.1:PORT/metrics
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gsperf/http.h"

typedef struct client {
  unsigned short port;
  uint64_t deadline;
  gsp_hist_snap *lat;
  uint64_t done, errors;
} client;

static int dial(unsigned short port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Read one response into buf; returns false on error or close. */
static bool read_response(int fd, char *buf, size_t cap) {
  size_t len = 0, want = 0;
  for (;;) {
    ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
    if (n <= 0) return false;
    len += (size_t)n;
    buf[len] = '\0';
    char *hdr_end = strstr(buf, "\r\n\r\n");
    if (hdr_end && want == 0) {
      char *cl = strstr(buf, "Content-Length: ");
      if (cl == NULL || strncmp(buf, "HTTP/1.1 200", 12) != 0) return false;
      want = (size_t)(hdr_end + 4 - buf) + strtoul(cl + 16, NULL, 10);
    }
    if (want && len >= want) return len == want;
    if (len + 1 >= cap) return false;
  }
}

static void *run_client(void *arg) {
  client *c = arg;
  static const char req[] = "GET /metrics HTTP/1.1\r\nHost: b\r\n\r\n";
  char *buf = malloc(1 << 20);
  int fd = dial(c->port);
  while (fd >= 0 && gsp_now_ns() < c->deadline) {
    uint64_t t0 = gsp_now_ns();
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1) ||
        !read_response(fd, buf, 1 << 20)) {
      c->errors++;
      close(fd);
      fd = dial(c->port);
      continue;
    }
    gsp_hist_snap_record(c->lat, gsp_now_ns() - t0, 1);
    c->done++;
  }
  if (fd >= 0) close(fd);
  free(buf);
  return NULL;
}

static void fill(gsp_metrics *m) {
  static const char *const ln[] = {"shard"};
  gsp_metric_desc d = {.name = "bench_ops_total", .help = "ops", .label_names = ln, .nlabels = 1};
  gsp_metric_family *f;
  if (gsp_metrics_family(m, &d, &f) != GSP_OK) exit(1);
  for (int i = 0; i < 100; i++) {
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    const char *vals[] = {v};
    gsp_counter *c;
    if (gsp_metrics_counter(f, vals, &c) == GSP_OK) gsp_counter_add(c, (uint64_t)i * 1000);
  }
}

int main(int argc, char **argv) {
  int nthreads = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2;
  double secs = argc > 2 ? strtod(argv[2], NULL) : 3.0;
  if (nthreads < 1 || nthreads > 256 || !(secs > 0 && secs <= 600)) {
    fprintf(stderr, "usage: bench_http [THREADS 1..256 [SECONDS]]\n");
    return 2;
  }
  gsp_metrics *m;
  gsp_http *h;
  char err[160];
  if (gsp_metrics_create(NULL, &m) != GSP_OK) return 1;
  fill(m);
  gsp_http_config cfg = {
      .metrics = m, .port_ephemeral = true, .max_connections = 512, .max_per_ip = 512};
  if (gsp_http_create(&cfg, &h, err, sizeof err) != GSP_OK) {
    fprintf(stderr, "bench_http: %s\n", err);
    return 1;
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  printf(
      "bench_http: GET /metrics (100 series) over loopback, %d keep-alive client threads, "
      "%.1f s, %ld CPUs, server port %u\n",
      nthreads, secs, ncpu, gsp_http_port(h));
  client *cl = calloc((size_t)nthreads, sizeof *cl);
  pthread_t *t = calloc((size_t)nthreads, sizeof *t);
  uint64_t start = gsp_now_ns(), deadline = start + (uint64_t)(secs * 1e9);
  for (int i = 0; i < nthreads; i++) {
    cl[i] = (client){.port = gsp_http_port(h), .deadline = deadline};
    if (gsp_hist_snap_create(&cl[i].lat) != GSP_OK) return 1;
    pthread_create(&t[i], NULL, run_client, &cl[i]);
  }
  gsp_hist_snap *all;
  if (gsp_hist_snap_create(&all) != GSP_OK) return 1;
  uint64_t done = 0, errors = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(t[i], NULL);
    gsp_hist_snap_merge(all, cl[i].lat);
    done += cl[i].done;
    errors += cl[i].errors;
    gsp_hist_snap_destroy(cl[i].lat);
  }
  double elapsed = (double)(gsp_now_ns() - start) / 1e9;
  gsp_hist_summary s;
  gsp_hist_snap_summary(all, &s);
  printf(
      "requests      %llu (%llu errors)\nrequests/s    %.0f\n"
      "latency p50   %.1f us\nlatency p99   %.1f us\nlatency max   %.1f us\n",
      (unsigned long long)done, (unsigned long long)errors, (double)done / elapsed,
      (double)s.p50 / 1e3, (double)s.p99 / 1e3, (double)s.max / 1e3);
  printf(
      "note: wrk (Debian package \"wrk\") gives the same measurement:\n"
      "  wrk -t2 -c16 -d10s http://127.0.0.1:PORT/metrics\n");
  gsp_hist_snap_destroy(all);
  free(cl);
  free(t);
  gsp_http_destroy(h);
  gsp_metrics_destroy(m);
  return errors ? 1 : 0;
}
