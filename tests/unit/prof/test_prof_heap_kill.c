/*
 * test_prof_heap_kill.c - the preload library's heap file survives the
 * program: killed with SIGKILL after the periodic save, the program
 * leaves heap.<pid>.raw with its sites; crashing (SIGSEGV) before any
 * periodic save, the fatal-signal handler writes it; killed with
 * periodic saves off, nothing is left (so the first case is the
 * periodic save's doing). And the leak check at exit scans the stack of
 * a thread still running then: its block is no leak.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
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

/* Runs prof_heap_live MODE under the preload with heap tracking and
 * saves every save_ms; waits for "ready", then for wait_ms, then sends
 * kill_sig (0: none); returns the pid, *status its wait status. */
static pid_t run(const char *dir, const char *mode, const char *save_ms, unsigned wait_ms,
                 int kill_sig, int *status) {
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(pfd[1], 1);
    close(pfd[0]);
    setenv("LD_PRELOAD", PRELOAD_LIB, 1);
    setenv("GSP_PROF_DIR", dir, 1);
    setenv("GSP_PROF_HEAP", "0", 1);
    setenv("GSP_PROF_CPU", "0", 1);
    setenv("GSP_PROF_HEAP_SAVE_MS", save_ms, 1);
    execl(LIVE_PROG, LIVE_PROG, mode, (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  char buf[16] = {0};
  assert_int_equal(read(pfd[0], buf, 6), 6);
  close(pfd[0]);
  struct timespec ts = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  if (kill_sig) kill(pid, kill_sig);
  assert_int_equal(waitpid(pid, status, 0), pid);
  return pid;
}

static void expect_sites(const char *dir, pid_t pid) {
  char path[512];
  snprintf(path, sizeof path, "%s/heap.%ld.raw", dir, (long)pid);
  gsp_prof_heap *h = NULL;
  assert_int_equal(gsp_prof_heap_load(path, &h), GSP_OK);
  assert_false(gsp_prof_heap_leaks_checked(h));
  const gsp_prof_heap_site *s;
  size_t n = gsp_prof_heap_sites(h, &s);
  uint64_t allocs = 0, live = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i].depth > 0 && strcmp(s[i].stack[0], "keep_site") == 0) {
      allocs += s[i].allocs;
      live += s[i].live_bytes;
    }
  assert_int_equal(allocs, 7);
  assert_int_equal(live, 7000);
  gsp_prof_heap_destroy(h);
}

static void test_sigkill(void **state) {
  (void)state;
  char dir[] = "/tmp/gsp-heapkill-XXXXXX";
  assert_non_null(mkdtemp(dir));
  int st;
  pid_t pid = run(dir, "sleep", "200", 1200, SIGKILL, &st);
  assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  expect_sites(dir, pid);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_sigkill_no_saves(void **state) {
  (void)state;
  char dir[] = "/tmp/gsp-heapkill-XXXXXX", path[512];
  assert_non_null(mkdtemp(dir));
  int st;
  pid_t pid = run(dir, "sleep", "0", 500, SIGKILL, &st);
  assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  snprintf(path, sizeof path, "%s/heap.%ld.raw", dir, (long)pid);
  assert_int_equal(access(path, F_OK), -1);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_sigsegv(void **state) {
  (void)state;
  char dir[] = "/tmp/gsp-heapkill-XXXXXX";
  assert_non_null(mkdtemp(dir));
  int st;
  pid_t pid = run(dir, "segv", "0", 0, 0, &st);
  assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
  expect_sites(dir, pid);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_running_thread(void **state) {
  (void)state;
  char dir[] = "/tmp/gsp-heapkill-XXXXXX", path[512];
  assert_non_null(mkdtemp(dir));
  int st;
  pid_t pid = run(dir, "thread", "0", 0, 0, &st);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  snprintf(path, sizeof path, "%s/heap.%ld.raw", dir, (long)pid);
  gsp_prof_heap *h = NULL;
  assert_int_equal(gsp_prof_heap_load(path, &h), GSP_OK);
  assert_true(gsp_prof_heap_leaks_checked(h));
  const gsp_prof_heap_site *s;
  size_t n = gsp_prof_heap_sites(h, &s);
  uint64_t live = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i].depth > 0 && strcmp(s[i].stack[0], "stack_site") == 0) live += s[i].live_bytes;
  assert_int_equal(live, 4444); /* tracked, live at exit */
  n = gsp_prof_heap_leaks(h, &s);
  for (size_t i = 0; i < n; i++) assert_string_not_equal(s[i].stack[0], "stack_site");
  gsp_prof_heap_destroy(h);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_running_thread),
      cmocka_unit_test(test_sigkill),
      cmocka_unit_test(test_sigkill_no_saves),
      cmocka_unit_test(test_sigsegv),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
