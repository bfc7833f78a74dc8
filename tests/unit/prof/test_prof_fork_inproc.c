/*
 * test_prof_fork_inproc.c - a fork child (no exec) of a process with an
 * in-process CPU profile is sampled under its own pid: with raw_path set,
 * the child writes cpu.<child pid>.raw next to it, holding the child's
 * hot function and not the parent's, while the parent's profile holds
 * the parent's only; with GSP_PROF_FORK_DIR the child's file goes there;
 * with neither, the child writes nothing and the parent is unaffected.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/prof.h"
#include "prof_test_util.h"

static char g_dir[64], g_fork_dir[64];
static volatile uint64_t g_sink;
static gsp_prof *g_live; /* the running profile, destroyed by a failed case's teardown */

static void burn(double s) {
  uint64_t x = g_sink + 1;
  double end = cpu_now() + s;
  while (cpu_now() < end)
    for (int i = 0; i < 100000; i++) {
      x = x * 6364136223846793005ull + 1;
      __asm__ volatile("" : "+r"(x));
    }
  g_sink = x;
}

__attribute__((noinline, noclone)) static void inproc_parent_burn(double s) {
  burn(s);
  g_sink++;
}
__attribute__((noinline, noclone)) static void inproc_child_burn(double s) {
  burn(s);
  g_sink += 2;
}

static const gsp_prof_func *find_func(const gsp_prof_report *r, const char *name) {
  const gsp_prof_func *f;
  size_t n = gsp_prof_report_functions(r, &f);
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].name, name) == 0) return &f[i];
  return NULL;
}

/* Profiles a parent that forks a child; both burn 0.3 CPU-s at 997 Hz.
 * Returns the parent's report and the child's pid. */
static gsp_prof_report *run(const char *raw_path, pid_t *child_out) {
  gsp_prof *p;
  gsp_prof_config cfg = {.types = GSP_PROF_CPU, .hz = 997, .raw_path = raw_path};
  assert_int_equal(gsp_prof_create(&cfg, &p), GSP_OK);
  g_live = p;
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    inproc_child_burn(0.3);
    exit(0); /* the child's profile is stopped at exit */
  }
  inproc_parent_burn(0.3);
  int st;
  assert_int_equal(waitpid(child, &st, 0), child);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  gsp_prof_report *r;
  assert_int_equal(gsp_prof_report_create(p, &r), GSP_OK);
  gsp_prof_destroy(p);
  g_live = NULL;
  const gsp_prof_func *f;
  size_t n = gsp_prof_report_functions(r, &f);
  printf("  parent: %lu samples;", (unsigned long)gsp_prof_report_samples(r));
  for (size_t i = 0; i < n && i < 4; i++) printf(" %s %lu", f[i].name, (unsigned long)f[i].total);
  printf("\n");
  assert_non_null(find_func(r, "inproc_parent_burn"));
  assert_null(find_func(r, "inproc_child_burn"));
  *child_out = child;
  return r;
}

static void check_child_file(const char *dir, pid_t child) {
  char path[160];
  snprintf(path, sizeof path, "%s/cpu.%ld.raw", dir, (long)child);
  gsp_prof_report *r;
  assert_int_equal(gsp_prof_report_load(path, 0, &r), GSP_OK);
  const gsp_prof_func *f = find_func(r, "inproc_child_burn");
  assert_non_null(f);
  printf("  child %ld: inproc_child_burn %lu of %lu samples\n", (long)child,
         (unsigned long)f->total, (unsigned long)gsp_prof_report_samples(r));
  assert_true(f->total >= 150); /* 0.3 CPU-s at 997 Hz: about 300 */
  assert_null(find_func(r, "inproc_parent_burn"));
  gsp_prof_report_destroy(r);
}

static void test_child_next_to_raw(void **state) {
  (void)state;
  char raw[128];
  snprintf(raw, sizeof raw, "%s/cpu.%ld.raw", g_dir, (long)getpid());
  pid_t child;
  gsp_prof_report_destroy(run(raw, &child));
  check_child_file(g_dir, child);
  /* the directory reads as one multi-process profile */
  gsp_prof_multi *m;
  assert_int_equal(gsp_prof_multi_load(g_dir, 0, &m), GSP_OK);
  const gsp_prof_process *procs;
  size_t n = gsp_prof_multi_processes(m, &procs);
  bool saw_child = false, saw_parent = false;
  for (size_t i = 0; i < n; i++) {
    saw_child |= procs[i].pid == child;
    saw_parent |= procs[i].pid == getpid();
  }
  assert_true(saw_child && saw_parent);
  gsp_prof_multi_destroy(m);
}

static void test_child_in_fork_dir(void **state) {
  (void)state;
  setenv("GSP_PROF_FORK_DIR", g_fork_dir, 1);
  pid_t child;
  gsp_prof_report_destroy(run(NULL, &child));
  unsetenv("GSP_PROF_FORK_DIR");
  check_child_file(g_fork_dir, child);
}

static void test_child_nowhere(void **state) {
  (void)state;
  pid_t child;
  gsp_prof_report_destroy(run(NULL, &child));
  char path[160];
  snprintf(path, sizeof path, "%s/cpu.%ld.raw", g_fork_dir, (long)child);
  assert_int_not_equal(access(path, F_OK), 0);
  snprintf(path, sizeof path, "%s/cpu.%ld.raw", g_dir, (long)child);
  assert_int_not_equal(access(path, F_OK), 0);
}

/* A case that failed half-way leaves its profile running: stop it, so the
 * next case is not refused with GSP_EBUSY. */
static int case_teardown(void **state) {
  (void)state;
  gsp_prof_destroy(g_live);
  g_live = NULL;
  return 0;
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/gsp_test_forkin.XXXXXX");
  snprintf(g_fork_dir, sizeof g_fork_dir, "/tmp/gsp_test_forkd.XXXXXX");
  return mkdtemp(g_dir) && mkdtemp(g_fork_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", g_dir, g_fork_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_child_next_to_raw, case_teardown),
      cmocka_unit_test_teardown(test_child_in_fork_dir, case_teardown),
      cmocka_unit_test_teardown(test_child_nowhere, case_teardown),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
