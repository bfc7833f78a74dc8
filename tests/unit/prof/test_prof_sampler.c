/*
 * test_prof_sampler.c - the CPU sampling sources, each forced in turn
 * (GSP_PROF_SAMPLER=ring|signal|timer): the source asked for is the one
 * used; a leaf without a frame pointer (nofp_leaf.c) is reported under
 * its caller on the ring and the signal paths; the ring path delivers the
 * requested rate per CPU-second, keeps the samples of threads that exit
 * while it runs and those still in the rings when it stops.
 */
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/prof.h"
#include "sampler_int.h"
#include "prof_test_util.h"

uint64_t nofp_leaf(uint64_t x, unsigned n);

static _Atomic uint64_t g_sink;
static char g_dir[64];

__attribute__((noinline)) static void nofp_caller(double cpu_s) {
  uint64_t x = g_sink + 1;
  double end = cpu_now() + cpu_s;
  while (cpu_now() < end) x = nofp_leaf(x, 20000);
  g_sink += x; /* not a tail call */
}

__attribute__((noinline)) static void nofp_top(double cpu_s) {
  nofp_caller(cpu_s);
  g_sink++;
}

__attribute__((noinline)) static void short_burn(double cpu_s) {
  uint64_t x = g_sink + 1;
  double end = cpu_now() + cpu_s;
  while (cpu_now() < end)
    for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ull + 1;
  g_sink += x;
}

static void *short_thread(void *arg) {
  short_burn(*(const double *)arg);
  return NULL;
}

static gsp_prof *start(const char *mode, unsigned hz, gsp__src want) {
  setenv("GSP_PROF_SAMPLER", mode, 1);
  gsp_prof *p;
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.hz = hz}, &p), GSP_OK);
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  assert_int_equal(gsp__sampler_mode(), want);
  return p;
}

static gsp_prof_report *finish(gsp_prof *p) {
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  gsp_prof_report *r;
  assert_int_equal(gsp_prof_report_create(p, &r), GSP_OK);
  gsp_prof_destroy(p);
  unsetenv("GSP_PROF_SAMPLER");
  return r;
}

static const gsp_prof_func *find_func(const gsp_prof_report *r, const char *name) {
  const gsp_prof_func *f;
  size_t n = gsp_prof_report_functions(r, &f);
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].name, name) == 0) return &f[i];
  return NULL;
}

/* Samples whose leaf is nofp_leaf, and of those the ones whose stack
 * reads nofp_top;nofp_caller;nofp_leaf (from the collapsed stacks). */
static void leaf_callers(const gsp_prof_report *r, unsigned long *all, unsigned long *right) {
  char path[128], line[8192];
  snprintf(path, sizeof path, "%s/nofp.collapsed", g_dir);
  assert_int_equal(gsp_prof_report_write_collapsed(r, path), GSP_OK);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  *all = *right = 0;
  while (fgets(line, sizeof line, f)) {
    char *sp = strrchr(line, ' ');
    if (!sp) continue;
    *sp = '\0';
    unsigned long n = strtoul(sp + 1, NULL, 10);
    const char *leaf = strrchr(line, ';');
    leaf = leaf ? leaf + 1 : line;
    if (strcmp(leaf, "nofp_leaf") != 0) continue;
    *all += n;
    if (strstr(line, "nofp_top;nofp_caller;nofp_leaf")) *right += n;
  }
  fclose(f);
}

static void check_nofp(const char *mode, gsp__src want) {
  if (!perf_allowed()) skip();
  gsp_prof *p = start(mode, 997, want);
  nofp_top(0.4);
  gsp_prof_report *r = finish(p);
  unsigned long all, right;
  leaf_callers(r, &all, &right);
  printf("%s: %lu samples in nofp_leaf, %lu under nofp_top;nofp_caller\n", mode, all, right);
  assert_true(all > 200);
  assert_true(right * 100 >= all * 95);
  gsp_prof_report_destroy(r);
}

static void test_nofp_ring(void **state) {
  (void)state;
  check_nofp("ring", GSP__SRC_RING);
}

static void test_nofp_signal(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__)
  skip(); /* TSan defers signals: a signal-path sample is the pc alone */
#endif
  check_nofp("signal", GSP__SRC_SIGNAL);
}

/* Fixed user-space work, no system call inside (the perf sources sample
 * user time). */
__attribute__((noinline, noclone)) static void fixed_burn(uint64_t steps) {
  uint64_t x = g_sink + 1;
  for (uint64_t i = 0; i < steps; i++) {
    x = x * 6364136223846793005ull + 1;
    __asm__ volatile("" : "+r"(x));
  }
  g_sink += x;
}

/* The ring path: hz samples per CPU-second. */
static void test_ring_rate(void **state) {
  (void)state;
  if (!perf_allowed()) skip();
  gsp_prof *p = start("ring", 997, GSP__SRC_RING);
  double t0 = cpu_now();
  fixed_burn(400000000);
  double cpu = cpu_now() - t0;
  gsp_prof_report *r = finish(p);
  const gsp_prof_func *f = find_func(r, "fixed_burn");
  assert_non_null(f);
  double rate = (double)f->self / cpu;
  printf("ring: %.1f samples per CPU-second of fixed_burn (997 asked; %.3f s)\n", rate, cpu);
  assert_true(rate > 997 * 0.85 && rate < 997 * 1.05);
  gsp_prof_report_destroy(r);
}

/* Threads that end while the profile runs keep their samples (their ring
 * is read before it is unmapped), and so do samples still in the rings
 * at stop. */
static void test_ring_exited_threads(void **state) {
  (void)state;
  if (!perf_allowed()) skip();
  gsp_prof *p = start("ring", 997, GSP__SRC_RING);
  static const double each = 0.15;
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&t[i], NULL, short_thread, (void *)&each), 0);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  struct timespec ts = {0, 200 * 1000000L}; /* several collector rounds: the rings are gone */
  nanosleep(&ts, NULL);
  short_burn(0.2); /* still in the main thread's ring at stop */
  gsp_prof_stats st;
  gsp_prof_stats_get(p, &st);
  gsp_prof_report *r = finish(p);
  const gsp_prof_func *f = find_func(r, "short_burn");
  assert_non_null(f);
  printf("ring: %lu samples of short_burn (threads %lu, dropped %lu)\n", (unsigned long)f->self,
         (unsigned long)st.threads, (unsigned long)st.dropped);
  assert_int_equal(st.dropped, 0);
  /* the main thread's 0.2 s at least, and most of the threads' 0.6 s
   * (each is sampled from the scan that finds it, <= 50 ms after start) */
  assert_true(f->self >= 180);
  gsp_prof_report_destroy(r);
}

/* The timer source, forced: samples arrive with the right weight. */
static void test_timer_source(void **state) {
  (void)state;
  gsp_prof *p = start("timer", 99, GSP__SRC_TIMER);
  nofp_top(0.3);
  gsp_prof_report *r = finish(p);
  uint64_t n = gsp_prof_report_samples(r);
  printf("timer: %lu samples for 0.3 CPU-s at 99 Hz\n", (unsigned long)n);
  assert_true(n >= 20 && n <= 40);
  gsp_prof_report_destroy(r);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/gsp_test_sampler.XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nofp_ring),    cmocka_unit_test(test_nofp_signal),
      cmocka_unit_test(test_ring_rate),    cmocka_unit_test(test_ring_exited_threads),
      cmocka_unit_test(test_timer_source),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
