/*
 * test_prof_sig.c - the signal and timer sources, whose SIGPROF handler
 * only copies registers and the top of the stack, unwound later by the
 * collector: a leaf without a frame pointer keeps its callers on both; a
 * thread running near the top of a stack with an unreadable page right
 * above it is sampled without a fault and with its callers; a stack
 * deeper than the copied window still gives its innermost frames (and
 * on the signal source, with the kernel's frame-pointer chain, all); the
 * timer source at 997 Hz (above the 250 Hz tick) weighs its samples so
 * that their total matches the CPU time.
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
#include <sys/mman.h>
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

static bool mode_usable(const char *mode) { return strcmp(mode, "timer") == 0 || perf_allowed(); }

static gsp__src want_of(const char *mode) {
  return strcmp(mode, "timer") == 0 ? GSP__SRC_TIMER : GSP__SRC_SIGNAL;
}

static gsp_prof *start(const char *mode, unsigned hz) {
  setenv("GSP_PROF_SAMPLER", mode, 1);
  gsp_prof *p;
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.hz = hz}, &p), GSP_OK);
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  assert_int_equal(gsp__sampler_mode(), want_of(mode));
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

/* Samples (weighted) whose leaf is `leaf`, and of those the ones whose
 * stack contains `path` (from the collapsed stacks). */
static void count_paths(const gsp_prof_report *r, const char *leaf, const char *path,
                        unsigned long *all, unsigned long *right) {
  char file[128], line[16384];
  snprintf(file, sizeof file, "%s/%s.collapsed", g_dir, leaf);
  assert_int_equal(gsp_prof_report_write_collapsed(r, file), GSP_OK);
  FILE *f = fopen(file, "r");
  assert_non_null(f);
  *all = *right = 0;
  while (fgets(line, sizeof line, f)) {
    char *sp = strrchr(line, ' ');
    if (!sp) continue;
    *sp = '\0';
    unsigned long n = strtoul(sp + 1, NULL, 10);
    const char *l = strrchr(line, ';');
    l = l ? l + 1 : line;
    if (strcmp(l, leaf) != 0) continue;
    *all += n;
    if (strstr(line, path)) *right += n;
  }
  fclose(f);
}

/* ---- a leaf without a frame pointer --------------------------------------- */

__attribute__((noinline, noclone)) static void nofp_caller(double cpu_s) {
  uint64_t x = g_sink + 1;
  double end = cpu_now() + cpu_s;
  while (cpu_now() < end) x = nofp_leaf(x, 20000);
  g_sink += x;
}

__attribute__((noinline, noclone)) static void nofp_top(double cpu_s) {
  nofp_caller(cpu_s);
  g_sink++;
}

static void check_nofp(const char *mode) {
  if (!mode_usable(mode)) skip();
#if defined(__SANITIZE_THREAD__)
  skip(); /* TSan defers signals: a signalled sample is the pc alone */
#endif
  gsp_prof *p = start(mode, 997);
  nofp_top(0.4);
  gsp_prof_report *r = finish(p);
  unsigned long all, right;
  count_paths(r, "nofp_leaf", "nofp_top;nofp_caller;nofp_leaf", &all, &right);
  printf("%s: %lu samples in nofp_leaf, %lu under nofp_top;nofp_caller\n", mode, all, right);
  assert_true(all > 200);
  assert_true(right * 100 >= all * 95);
  gsp_prof_report_destroy(r);
}

static void test_nofp_timer(void **state) {
  (void)state;
  check_nofp("timer");
}

static void test_nofp_signal(void **state) {
  (void)state;
  check_nofp("signal");
}

/* ---- near the top of a stack ---------------------------------------------- */

#define SMALL_STACK (64u * 1024u)

__attribute__((noinline, noclone)) static void top_burn(double cpu_s) {
  uint64_t x = g_sink + 1;
  double end = cpu_now() + cpu_s;
  while (cpu_now() < end)
    for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ull + 1;
  g_sink += x;
}

__attribute__((noinline, noclone)) static void top_caller(double cpu_s) {
  top_burn(cpu_s);
  g_sink++;
}

static void *top_thread(void *arg) {
  top_caller(*(const double *)arg);
  return NULL;
}

/* A thread on a 64 KiB stack with an unreadable page on each side: the
 * copy of the top of its stack (larger than what is left above sp) must
 * stop at the page above, where a plain read would fault. */
static void check_stack_top(const char *mode) {
  if (!mode_usable(mode)) skip();
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  skip(); /* the sanitizers' runtimes want more stack than this */
#endif
  long pg = sysconf(_SC_PAGESIZE);
  size_t len = SMALL_STACK + 2 * (size_t)pg;
  unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(m != MAP_FAILED);
  assert_int_equal(mprotect(m, (size_t)pg, PROT_NONE), 0);
  assert_int_equal(mprotect(m + (size_t)pg + SMALL_STACK, (size_t)pg, PROT_NONE), 0);
  pthread_attr_t at;
  pthread_attr_init(&at);
  assert_int_equal(pthread_attr_setstack(&at, m + pg, SMALL_STACK), 0);
  gsp_prof *p = start(mode, 997);
  static const double each = 0.4;
  pthread_t t;
  assert_int_equal(pthread_create(&t, &at, top_thread, (void *)&each), 0);
  pthread_join(t, NULL);
  gsp_prof_report *r = finish(p);
  pthread_attr_destroy(&at);
  munmap(m, len);
  unsigned long all, right;
  count_paths(r, "top_burn", "top_caller;top_burn", &all, &right);
  printf("%s: %lu samples in top_burn, %lu under top_caller\n", mode, all, right);
  assert_true(all > 150);
  assert_true(right * 100 >= all * 95);
  gsp_prof_report_destroy(r);
}

static void test_stack_top_timer(void **state) {
  (void)state;
  check_stack_top("timer");
}

static void test_stack_top_signal(void **state) {
  (void)state;
  check_stack_top("signal");
}

/* ---- deeper than the window ----------------------------------------------- */

__attribute__((noinline, noclone)) static uint64_t deep_leaf(uint64_t x) {
  for (int i = 0; i < 4000; i++) x = x * 6364136223846793005ull + 1;
  return x;
}

/* 1 KiB of stack a frame: 40 frames are more than the copied window. */
__attribute__((noinline, noclone)) static uint64_t deep_rec(int n, uint64_t x) {
  volatile unsigned char pad[1024];
  pad[0] = (unsigned char)x;
  pad[1023] = (unsigned char)n;
  x = n == 0 ? deep_leaf(x) : deep_rec(n - 1, x + pad[0]);
  return x + pad[1023];
}

__attribute__((noinline, noclone)) static uint64_t deep_outer(uint64_t x) {
  x = deep_rec(40, x);
  g_sink++;
  return x;
}

/* Both sources give the innermost frames from the copied window; the
 * signal source has the kernel's frame-pointer chain for the rest (this
 * file keeps frame pointers), so its stacks reach deep_outer. */
static void check_deep(const char *mode) {
  if (!mode_usable(mode)) skip();
#if defined(__SANITIZE_THREAD__)
  skip();
#endif
  gsp_prof *p = start(mode, 997);
  double end = cpu_now() + 0.4;
  uint64_t x = 1;
  while (cpu_now() < end) x = deep_outer(x);
  g_sink += x;
  gsp_prof_report *r = finish(p);
  unsigned long all, right, whole;
  count_paths(r, "deep_leaf", "deep_rec;deep_rec;deep_rec;deep_leaf", &all, &right);
  count_paths(r, "deep_leaf", "deep_outer;deep_rec", &all, &whole);
  printf("%s: %lu samples in deep_leaf, %lu under three deep_rec, %lu under deep_outer\n", mode,
         all, right, whole);
  assert_true(all > 150);
  assert_true(right * 100 >= all * 95);
  if (strcmp(mode, "signal") == 0) assert_true(whole * 100 >= all * 95);
  gsp_prof_report_destroy(r);
}

static void test_deep_timer(void **state) {
  (void)state;
  check_deep("timer");
}

static void test_deep_signal(void **state) {
  (void)state;
  check_deep("signal");
}

/* ---- weights -------------------------------------------------------------- */

__attribute__((noinline, noclone)) static void fixed_burn(uint64_t steps) {
  uint64_t x = g_sink + 1;
  for (uint64_t i = 0; i < steps; i++) {
    x = x * 6364136223846793005ull + 1;
    __asm__ volatile("" : "+r"(x));
  }
  g_sink += x;
}

/* Above the tick a timer signal stands for 1 + overrun periods. */
static void test_timer_weight(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__)
  skip(); /* TSan holds a signal until the thread calls into its runtime: not in this loop */
#endif
  gsp_prof *p = start("timer", 997);
  double t0 = cpu_now();
  fixed_burn(400000000);
  double cpu = cpu_now() - t0;
  gsp_prof_report *r = finish(p);
  double rate = (double)gsp_prof_report_samples(r) / cpu;
  printf("timer: %.1f weighted samples per CPU-second (997 asked; %.3f s)\n", rate, cpu);
  assert_true(rate > 997 * 0.85 && rate < 997 * 1.15);
  gsp_prof_report_destroy(r);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/gsp_test_sig.XXXXXX");
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
      cmocka_unit_test(test_nofp_timer),      cmocka_unit_test(test_nofp_signal),
      cmocka_unit_test(test_stack_top_timer), cmocka_unit_test(test_stack_top_signal),
      cmocka_unit_test(test_deep_timer),      cmocka_unit_test(test_deep_signal),
      cmocka_unit_test(test_timer_weight),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
