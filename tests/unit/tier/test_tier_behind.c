/*
 * test_tier_behind.c - write-behind and write-around (gsperf/tier.h).
 *
 *  - queued puts are found by get before they reach L3, all reach L3 by
 *    flush, and another tier on the directory reads every one;
 *  - a newer put of a key wins over an older one still queued;
 *  - write-around keeps values out of L1 (config and per put) and drops an
 *    older L1 copy; without L3 it is ignored;
 *  - back-pressure: a queue bound far below the data, four threads putting
 *    at once, every value ends in L3 intact;
 *  - a process killed (SIGKILL) while its writer thread is writing leaves a
 *    store that opens without rebuild, verifies clean and holds every value
 *    flushed before the kill;
 *  - a full disk (RLIMIT_FSIZE): flush returns the error and the message
 *    names the directory, later puts fail at once, destroy returns, and the
 *    directory still opens and verifies clean;
 *  - delete and clear order after queued puts (only in the build
 *    test_tier_behind_clear, which is not run under TSan: clear holds all
 *    256 stripe locks, more than TSan's deadlock detector can track).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tier_scratch.h"

static void put_i(gsp_tier *t, unsigned i, unsigned v, size_t n) {
  assert_int_equal(tier_put_i(t, i, v, n, NULL), GSP_OK);
}

static void test_roundtrip(void **state) {
  (void)state;
  gsp_tier *t = tier_behind(0, false);
  for (unsigned i = 0; i < 2000; i++) put_i(t, i, 1, 200 + i % 3000);
  for (unsigned i = 0; i < 2000; i += 7) put_i(t, i, 2, 300); /* newer versions */
  for (unsigned i = 0; i < 2000; i++) tier_expect_i(t, i, i % 7 ? 1 : 2);
  assert_int_equal(gsp_tier_flush(t), GSP_OK);
  gsp_tier_stats s;
  assert_int_equal(gsp_tier_stats_get(t, &s), GSP_OK);
  assert_int_equal(s.wb_pending, 0);
  assert_int_equal(s.level[GSP_TIER_L3].errors, 0);
  gsp_tier_destroy(t);
  t = tier_reader();
  for (unsigned i = 0; i < 2000; i++) tier_expect_i(t, i, i % 7 ? 1 : 2);
  uint64_t good, bad;
  assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
  assert_int_equal(good, 2000);
  assert_int_equal(bad, 0);
  gsp_tier_destroy(t);
}

/* Destroy without flush writes what is queued. */
static void test_destroy_writes(void **state) {
  (void)state;
  gsp_tier *t = tier_behind(0, true);
  for (unsigned i = 0; i < 500; i++) put_i(t, i, 3, 1000);
  gsp_tier_destroy(t);
  t = tier_reader();
  for (unsigned i = 0; i < 500; i++) tier_expect_i(t, i, 3);
  gsp_tier_destroy(t);
}

static void test_write_around(void **state) {
  (void)state;
  gsp_tier *t = tier_behind(0, true);
  for (unsigned i = 0; i < 100; i++) put_i(t, i, 1, 500);
  gsp_tier_stats s;
  assert_int_equal(gsp_tier_stats_get(t, &s), GSP_OK);
  assert_int_equal(s.level[GSP_TIER_L1].entries, 0);
  for (unsigned i = 0; i < 100; i++) tier_expect_i(t, i, 1); /* from the queue or L3 */
  assert_int_equal(gsp_tier_stats_get(t, &s), GSP_OK);
  assert_int_equal(s.level[GSP_TIER_L3].hits, 100);
  gsp_tier_destroy(t);

  /* per put, write-through: an older L1 copy goes, L3 has the new one */
  gsp_tier_config c = {.l3 = g_uri, .durability = GSP_TIER_NONE};
  assert_int_equal(gsp_tier_create(&c, &t, NULL, 0), GSP_OK);
  put_i(t, 7, 4, 100);
  char k[32], v[100];
  make_value(v, sizeof v, 7, 5, 1);
  gsp_tier_put_opts o = {.no_l1 = true};
  assert_int_equal(gsp_tier_put(t, k, key_of(k, sizeof k, 7), v, sizeof v, &o), GSP_OK);
  assert_int_equal(gsp_tier_stats_get(t, &s), GSP_OK);
  assert_int_equal(s.level[GSP_TIER_L1].entries, 0);
  tier_expect_i(t, 7, 5);
  gsp_tier_destroy(t);

  /* no L3: write-around is ignored, the value stays in L1 */
  gsp_tier_config m = {.write_around = true};
  assert_int_equal(gsp_tier_create(&m, &t, NULL, 0), GSP_OK);
  put_i(t, 9, 1, 100);
  tier_expect_i(t, 9, 1);
  gsp_tier_destroy(t);
}

/* 6,000 puts of ~13 MB through a 16 KiB queue from four threads. */
static void test_backpressure(void **state) {
  (void)state;
  gsp_tier *t = tier_behind(16384, true);
  tier_put_from_threads(t, 1500, NULL);
  assert_int_equal(gsp_tier_flush(t), GSP_OK);
  gsp_tier_destroy(t);
  t = tier_reader();
  for (unsigned i = 0; i < 6000; i++) tier_expect_i(t, i, 1);
  gsp_tier_destroy(t);
}

/* The child flushes 1,000 entries, reports, then keeps putting until killed. */
static void killed_child(int wfd) {
  gsp_tier *t = tier_behind(1 << 20, true);
  for (unsigned i = 0; i < 1000; i++) put_i(t, i, 1, 2000);
  if (gsp_tier_flush(t) != GSP_OK) _exit(2);
  char c = 'f';
  if (write(wfd, &c, 1) != 1) _exit(3);
  for (unsigned i = 1000;; i++) put_i(t, i % 100000, 2, 1500 + i % 2000);
}

static void test_killed(void **state) {
  (void)state;
  tier_kill_rounds(5, 1000, killed_child);
}

/* In a child limited to 1 MiB files: 8 MB of puts cannot all be stored. */
static void full_child(void) {
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit rl = {1 << 20, 1 << 20};
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(10);
  gsp_tier *t = tier_behind(1 << 20, true);
  int failed = 0;
  for (unsigned i = 0; i < 2000; i++) {
    char k[32], v[4000];
    make_value(v, sizeof v, i, 1, (int)(i & 1));
    if (gsp_tier_put(t, k, key_of(k, sizeof k, i), v, sizeof v, NULL) != GSP_OK) failed++;
  }
  int st = gsp_tier_flush(t);
  if (st != GSP_ENOSPC && st != GSP_EIO) _exit(11);
  if (strstr(gsp_tier_errmsg(t), g_dir) == NULL) _exit(12);
  if (failed == 0) _exit(13); /* puts after the failure fail at once... */
  char k[32];
  if (gsp_tier_put(t, k, key_of(k, sizeof k, 5000), "x", 1, NULL) == GSP_OK) _exit(14);
  gsp_tier_destroy(t);
  _exit(0);
}

static void test_full_disk(void **state) {
  (void)state;
  pid_t pid = fork();
  if (pid == 0) full_child();
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  gsp_tier *t = tier_reader(); /* what was committed is sound */
  uint64_t good, bad;
  assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
  assert_int_equal(bad, 0);
  for (unsigned i = 0; i < good; i++) tier_expect_i(t, i, 1); /* batches commit in put order */
  gsp_tier_destroy(t);
}

#ifdef BEHIND_CLEAR_ONLY
static void test_delete_clear(void **state) {
  (void)state;
  gsp_tier *t = tier_behind(0, true);
  for (unsigned i = 0; i < 300; i++) put_i(t, i, 1, 800);
  char k[32];
  assert_int_equal(gsp_tier_delete(t, k, key_of(k, sizeof k, 17)), GSP_OK);
  void *v = NULL;
  size_t n;
  assert_int_equal(gsp_tier_get(t, k, key_of(k, sizeof k, 17), &v, &n), GSP_ENOENT);
  assert_int_equal(gsp_tier_flush(t), GSP_OK);
  assert_int_equal(gsp_tier_get(t, k, key_of(k, sizeof k, 17), &v, &n), GSP_ENOENT);
  for (unsigned i = 300; i < 600; i++) put_i(t, i, 1, 800);
  assert_int_equal(gsp_tier_clear(t), GSP_OK);
  assert_int_equal(gsp_tier_flush(t), GSP_OK);
  assert_false(gsp_tier_contains(t, k, key_of(k, sizeof k, 450)));
  gsp_tier_destroy(t);
  t = tier_reader();
  uint64_t good, bad;
  assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
  assert_int_equal(good, 0);
  gsp_tier_destroy(t);
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_destroy_writes, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_write_around, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_backpressure, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_killed, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_full_disk, tier_setup, tier_teardown),
#ifdef BEHIND_CLEAR_ONLY /* clear holds all 256 stripe locks: more than TSan can track */
      cmocka_unit_test_setup_teardown(test_delete_clear, tier_setup, tier_teardown),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
