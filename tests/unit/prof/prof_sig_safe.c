/*
 * prof_sig_safe.c - the sampling signal's handler of the signal and timer
 * sources only captures: it never allocates, and a thread sampled inside the
 * dynamic loader still runs on. Run with GSP_PROF_SAMPLER=signal or
 * timer; exit status 0 when every check holds, 1 otherwise (the reason on
 * stdout).
 *
 * usage: prof_sig_safe alloc
 *   This program defines malloc, free, calloc and realloc itself (the C
 *   library's allocator behind them), so every allocation of the process
 *   (the C library's, the dynamic loader's for a thread's dynamic TLS, the
 *   profiler's) passes here. A call made while the sampling signal
 *   (gsp_prof_sample_signal()) is blocked on a thread of the workload is
 *   counted: it is blocked there only while its handler runs. Waves of threads created after the
 * profile started allocate at once and burn CPU in hot_two and hot_one (2:1) at 997 Hz. Checks: no
 * allocation inside the handler, and the profile's hottest functions are hot_two then hot_one in
 * about their 2:1 ratio. usage: prof_sig_safe dlopen LIB A thread loads LIB, calls its
 * inproc_lib_alloc, and unloads it, over and over, while it and the main thread are sampled at 997
 * Hz: the run finishes (the test's time limit catches a deadlock), nothing is allocated in the
 * handler, and samples were taken. usage: prof_sig_safe sigprof Once the profile runs, the program
 * installs a SIGPROF handler that ends it with status 3 (as GNU sort's cleanup handler does) and
 * burns CPU: the profiler's signal is not SIGPROF, so the run ends normally, with its samples.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gsperf/prof.h"
#include "prof_test_util.h"

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static _Thread_local int t_watch; /* this thread runs the workload */
static _Atomic unsigned long g_in_handler;
static _Atomic unsigned long g_watched;
static volatile uint64_t g_sink;

/* (The project builds with hidden visibility: the wrappers say they are
 * exported, so that every object's calls, the loader's too, reach them.) */
static void note(void) {
  if (!t_watch) return;
  atomic_fetch_add_explicit(&g_watched, 1, memory_order_relaxed);
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, NULL, &cur);
  if (sigismember(&cur, gsp_prof_sample_signal())) atomic_fetch_add(&g_in_handler, 1);
}

__attribute__((visibility("default"))) void *malloc(size_t n) {
  note();
  return __libc_malloc(n);
}

__attribute__((visibility("default"))) void free(void *p) {
  note();
  __libc_free(p);
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t size) {
  note();
  return __libc_calloc(n, size);
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t n) {
  note();
  return __libc_realloc(p, n);
}

static uint64_t spin(uint64_t x, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

__attribute__((noinline)) static uint64_t hot_two(uint64_t x) { return spin(x, 2000000); }
__attribute__((noinline)) static uint64_t hot_one(uint64_t x) { return spin(x, 1000000); }

static void *worker(void *arg) {
  t_watch = 1;
  char *p = malloc(256); /* at once: the thread's first sample may land here */
  p[0] = 1;
  double end = cpu_now() + *(const double *)arg;
  uint64_t x = (uint64_t)p[0];
  free(p);
  while (cpu_now() < end) {
    x = hot_one(hot_two(x));
    char *q = malloc(48);
    q[0] = (char)x;
    x += (uint64_t)q[0];
    free(q);
  }
  g_sink += x;
  t_watch = 0;
  return NULL;
}

static const gsp_prof_func *find(const gsp_prof_report *r, const char *name) {
  const gsp_prof_func *f;
  size_t n = gsp_prof_report_functions(r, &f);
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].name, name) == 0) return &f[i];
  return NULL;
}

static int fail(const char *what) {
  printf("FAIL: %s\n", what);
  return 1;
}

/* Waves of two threads, each created while the profile runs. */
static void run_waves(void) {
  static const double each = 0.12;
  for (int wave = 0; wave < 8; wave++) {
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, (void *)&each);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  }
}

static int check_alloc(gsp_prof_report *r) {
  const gsp_prof_func *two = find(r, "hot_two"), *one = find(r, "hot_one");
  if (!two || !one) return fail("hot_two or hot_one missing from the profile");
  double share = 100.0 * (double)two->self / (double)(two->self + one->self);
  printf("hot_two %lu samples, hot_one %lu: %.1f%% of the two in hot_two (want 66.7)\n",
         (unsigned long)two->self, (unsigned long)one->self, share);
  if (two->self + one->self < 300) return fail("too few samples");
  if (share < 56.7 || share > 76.7) return fail("hot_two's share is off by more than 10 points");
  if (two->total < two->self || one->self_pct < 5.0) return fail("inconsistent report");
  return 0;
}

typedef struct dl_arg {
  const char *lib;
  int loops, failed;
} dl_arg;

static void *dl_loop(void *argp) {
  dl_arg *a = argp;
  t_watch = 1;
  for (int i = 0; i < a->loops; i++) {
    void *h = dlopen(a->lib, RTLD_NOW | RTLD_LOCAL);
    void *(*fn)(size_t);
    *(void **)&fn = h ? dlsym(h, "inproc_lib_alloc") : NULL;
    if (!fn) {
      a->failed = 1;
      break;
    }
    free(fn(64));
    g_sink += spin((uint64_t)i, 20000);
    dlclose(h);
  }
  t_watch = 0;
  return NULL;
}

static int run_dlopen(const char *lib) {
  dl_arg a = {lib, 3000, 0};
  pthread_t t;
  pthread_create(&t, NULL, dl_loop, &a);
  t_watch = 1;
  double end = cpu_now() + 0.3;
  uint64_t x = 1;
  while (cpu_now() < end) x = hot_one(x);
  g_sink += x;
  t_watch = 0;
  pthread_join(t, NULL);
  printf("%d dlopen/dlclose rounds\n", a.loops);
  return a.failed ? fail("dlopen or dlsym failed") : 0;
}

static void die_on_sigprof(int sig) {
  (void)sig;
  _exit(3);
}

/* A program that owns SIGPROF (installed after the profile started). */
static void run_sigprof_owner(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = die_on_sigprof;
  sigaction(SIGPROF, &sa, NULL);
  t_watch = 1;
  double end = cpu_now() + 0.3;
  uint64_t x = 1;
  while (cpu_now() < end) x = hot_one(x);
  g_sink += x;
  t_watch = 0;
}

int main(int argc, char **argv) {
  bool dl = argc == 3 && strcmp(argv[1], "dlopen") == 0;
  bool owner = argc == 2 && strcmp(argv[1], "sigprof") == 0;
  if (!dl && !owner && (argc != 2 || strcmp(argv[1], "alloc") != 0)) {
    fprintf(stderr, "usage: prof_sig_safe alloc | dlopen LIB | sigprof\n");
    return 2;
  }
  gsp_prof *p;
  if (gsp_prof_create(&(gsp_prof_config){.hz = 997}, &p) != GSP_OK || gsp_prof_start(p) != GSP_OK)
    return fail("cannot start the profile");
  int rv = 0;
  if (dl) {
    rv = run_dlopen(argv[2]);
  } else if (owner) {
    run_sigprof_owner();
  } else {
    run_waves();
  }
  if (gsp_prof_stop(p) != GSP_OK) return fail("stop");
  gsp_prof_report *r;
  if (gsp_prof_report_create(p, &r) != GSP_OK) return fail("report");
  unsigned long bad = atomic_load(&g_in_handler), seen = atomic_load(&g_watched);
  unsigned long n = (unsigned long)gsp_prof_report_samples(r);
  printf("%s: %lu samples, %lu allocation calls watched, %lu inside the sampling handler\n",
         getenv("GSP_PROF_SAMPLER") ? getenv("GSP_PROF_SAMPLER") : "(default)", n, seen, bad);
  if (bad != 0) rv = fail("allocation inside the sampling signal's handler");
  if (seen == 0 && !owner) rv = fail("the allocation wrappers saw nothing");
  if (n < 100) rv = fail("too few samples");
  if (!dl && !owner && rv == 0) rv = check_alloc(r);
  gsp_prof_report_destroy(r);
  gsp_prof_destroy(p);
  if (rv == 0) printf("PASS\n");
  return rv;
}
