/*
 * bench_util.h - what every benchmark needs around its measurements:
 * clocks (wall, process CPU, any clockid) in ns or seconds, the median of
 * a set of repeats, the load average as numbers or as the text of
 * /proc/loadavg, and one line of a /proc file (the CPU model).
 *
 * Header only (static inline), so a benchmark includes it by its path
 * ("../support/bench_util.h") and its build needs nothing more. The
 * library never uses it: benchmarks measure time, tests never do.
 *
 * Thread safety: every function may be called from any thread; the
 * median sorts the caller's array in place.
 */
#ifndef GSP_BENCH_UTIL_H
#define GSP_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- clocks ---------------------------------------------------------- */

static inline uint64_t gsp_bench_clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double gsp_bench_clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of every thread of the process, user and system. */
static inline uint64_t gsp_bench_cpu_ns(void) {
  return gsp_bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

static inline uint64_t gsp_bench_wall_ns(void) { return gsp_bench_clock_ns(CLOCK_MONOTONIC); }

/* ---- medians --------------------------------------------------------- */

/* For qsort of doubles, ascending. */
static inline int gsp_bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The median of v[0..n) (the mean of the middle two when n is even);
 * sorts v. 0 when n is 0. */
static inline double gsp_bench_median(double *v, size_t n) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, gsp_bench_cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The same, leaving v as it is (sorts a copy of at most 64 values; more
 * than that: the median of the first 64). */
static inline double gsp_bench_median_of(const double *v, size_t n) {
  double t[64];
  if (n > sizeof t / sizeof t[0]) n = sizeof t / sizeof t[0];
  if (n > 0) memcpy(t, v, n * sizeof *t);
  return gsp_bench_median(t, n);
}

/* ---- the machine ----------------------------------------------------- */

/* The 1, 5 and 15 minute load averages (from /proc/loadavg, as glibc's
 * getloadavg reads them, which strict feature macros hide); -1 each when
 * unknown. */
static inline void gsp_bench_loadavg(double l[3]) {
  l[0] = l[1] = l[2] = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f == NULL) return;
  if (fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3) l[0] = l[1] = l[2] = -1;
  fclose(f);
}

/*
 * The first line of `path` that starts with `prefix`, into buf: the text
 * after its ':' and the blanks that follow (the whole line when prefix is
 * ""), without the newline; "?" when there is none. E.g. ("/proc/cpuinfo",
 * "model name") or ("/proc/loadavg", "").
 */
static inline void gsp_bench_read_line(const char *path, const char *prefix, char *buf,
                                       size_t cap) {
  FILE *f = fopen(path, "r");
  snprintf(buf, cap, "?");
  if (f == NULL) return;
  char line[512];
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, prefix, strlen(prefix)) != 0) continue;
    const char *p = strchr(line, ':');
    p = p != NULL && prefix[0] != '\0' ? p + 1 : line;
    while (*p == ' ' || *p == '\t') p++;
    snprintf(buf, cap, "%.*s", (int)strcspn(p, "\n"), p);
    break;
  }
  fclose(f);
}

#endif /* GSP_BENCH_UTIL_H */
