/*
 * test_prof_fork.c - a process that forks without exec is sampled in the
 * child too: prof_fork run under libgsperf-preload.so (as `gsperf
 * profile` runs it), on the ring and on the signal source, leaves one
 * cpu.<pid>.raw per process (parent, child, grandchild), each with its
 * own hot function and none of the others'.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/prof.h"

static char g_dir[64];

static const gsp_prof_func *find_func(const gsp_prof_report *r, const char *name) {
  const gsp_prof_func *f;
  size_t n = gsp_prof_report_functions(r, &f);
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].name, name) == 0) return &f[i];
  return NULL;
}

/* Runs prof_fork under the preload; its pid, the child's and grandchild's. */
static void run(const char *mode, long pids[3]) {
  char pre[4200], dir[128], src[64];
  snprintf(pre, sizeof pre, "LD_PRELOAD=%s", GSP_TEST_PRELOAD);
  snprintf(dir, sizeof dir, "GSP_PROF_DIR=%s", g_dir);
  snprintf(src, sizeof src, "GSP_PROF_SAMPLER=%s", mode);
  char *envp[] = {pre, dir, src, "GSP_PROF_HZ=997", NULL};
  char *argv[] = {GSP_TEST_FORK_PROG, "0.4", NULL};
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  pid_t pid;
  assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, envp), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  FILE *f = fdopen(fds[0], "r");
  assert_non_null(f);
  pids[0] = pid;
  /* the grandchild's pid is printed by the child, the child's by the
   * parent: either may come first */
  long a = 0, b = 0;
  assert_int_equal(fscanf(f, "%ld %ld", &a, &b), 2);
  fclose(f);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  pids[1] = a; /* sorted out below by content */
  pids[2] = b;
}

static gsp_prof_report *load(long pid) {
  char raw[160];
  snprintf(raw, sizeof raw, "%s/cpu.%ld.raw", g_dir, pid);
  gsp_prof_report *r;
  assert_int_equal(gsp_prof_report_load(raw, 0, &r), GSP_OK);
  return r;
}

/* r's samples are mostly in `own`, none in the other two. */
static void check_own(const gsp_prof_report *r, const char *own, const char *o1, const char *o2) {
  const gsp_prof_func *f = find_func(r, own);
  assert_non_null(f);
  printf("  %s: %lu of %lu samples\n", own, (unsigned long)f->total,
         (unsigned long)gsp_prof_report_samples(r));
  assert_true(f->total >= 250); /* 0.4 CPU-s at 997 Hz: about 400 */
  assert_true(f->total_pct > 80.0);
  assert_null(find_func(r, o1));
  assert_null(find_func(r, o2));
}

static void check_mode(const char *mode) {
  long pids[3];
  run(mode, pids);
  printf("%s: parent %ld, children %ld %ld\n", mode, pids[0], pids[1], pids[2]);
  gsp_prof_report *p = load(pids[0]);
  check_own(p, "parent_burn", "child_burn", "grandchild_burn");
  gsp_prof_report_destroy(p);
  gsp_prof_report *x = load(pids[1]), *y = load(pids[2]);
  if (!find_func(x, "child_burn")) { /* the grandchild printed first */
    gsp_prof_report *t = x;
    x = y;
    y = t;
  }
  check_own(x, "child_burn", "parent_burn", "grandchild_burn");
  check_own(y, "grandchild_burn", "parent_burn", "child_burn");
  gsp_prof_report_destroy(x);
  gsp_prof_report_destroy(y);
}

static void test_fork_ring(void **state) {
  (void)state;
  check_mode("ring");
}

static void test_fork_signal(void **state) {
  (void)state;
  check_mode("signal");
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/gsp_test_fork.XXXXXX");
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
      cmocka_unit_test(test_fork_ring),
      cmocka_unit_test(test_fork_signal),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
