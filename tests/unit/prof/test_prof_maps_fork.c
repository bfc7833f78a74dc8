/*
 * test_prof_maps_fork.c - the memory-map save (gsp__maps_save) is safe
 * against a fork by another thread at any moment: a thread saves the map
 * in a loop while the main thread forks children that exit at once. Under
 * LeakSanitizer a child that inherited a block or stream the save had in
 * flight reports it at exit and exits non-zero; in every build each saved
 * map must be whole (it names the stack mapping and ends in a newline).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/gsperf.h"
#include "prof_int.h"

static char g_dir[64], g_maps[96];
static atomic_int g_stop, g_saves, g_bad;

static void *saver(void *arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    if (gsp__maps_save(g_maps) != GSP_OK) atomic_fetch_add(&g_bad, 1);
    atomic_fetch_add(&g_saves, 1);
  }
  return NULL;
}

static bool map_whole(const char *path) {
  char *b;
  size_t len;
  if (gsp__read_file(path, &b, &len) != GSP_OK) return false;
  bool ok = len > 0 && b[len - 1] == '\n' && strstr(b, "[stack]") != NULL;
  gsp_free(b);
  return ok;
}

static void test_fork_during_save(void **state) {
  (void)state;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, saver, NULL), 0);
  int failed = 0;
  for (int i = 0; i < 300; i++) {
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) exit(0); /* LeakSanitizer checks the child here */
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    failed += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  atomic_store(&g_stop, 1);
  pthread_join(t, NULL);
  printf("  %d saves, 300 forks, %d children failed\n", atomic_load(&g_saves), failed);
  assert_int_equal(failed, 0);
  assert_int_equal(atomic_load(&g_bad), 0);
  assert_true(map_whole(g_maps));
}

static void test_save_errors(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/missing/dir/maps", g_dir);
  assert_int_equal(gsp__maps_save(path), GSP_EIO);
  char lng[PATH_MAX + 16];
  memset(lng, 'a', sizeof lng - 1);
  lng[sizeof lng - 1] = '\0';
  assert_int_equal(gsp__maps_save(lng), GSP_EINVAL);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/gsp_test_mapsfork.XXXXXX");
  if (!mkdtemp(g_dir)) return -1;
  snprintf(g_maps, sizeof g_maps, "%s/maps", g_dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fork_during_save),
      cmocka_unit_test(test_save_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
