/*
 * test_tier_defer.c - deferred write-behind puts (gsp_tier_put_opts.defer).
 *
 *  - deferred puts below the wake size stay queued (found by get, not in
 *    L3) until gsp_tier_flush, which writes them all; another tier on the
 *    directory then reads every one;
 *  - a put that is not deferred wakes the writer, which writes the
 *    deferred puts queued before it too;
 *  - deferred puts reaching the wake size are written without a flush;
 *  - back-pressure with deferred puts only: a 16 KiB queue, four threads,
 *    a value larger than the queue; nothing waits forever, every value
 *    ends in L3 intact;
 *  - delete after a deferred put: the key is gone, and stays gone after a
 *    flush; destroy writes what is deferred;
 *  - a process killed while deferred puts are queued leaves a store that
 *    opens without rebuild, verifies clean and holds every value flushed
 *    before the kill;
 *  - the flag is ignored by write-through and write-back tiers.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tier_scratch.h"

/* Write-behind with write-around (tier_scratch.h). */
static gsp_tier *behind(size_t queue_bytes) { return tier_behind(queue_bytes, true); }

static int put_d(gsp_tier *t, unsigned i, unsigned v, size_t n, bool defer) {
  gsp_tier_put_opts o = {.defer = defer};
  return tier_put_i(t, i, v, n, &o);
}

static gsp_tier_stats stats(gsp_tier *t) {
  gsp_tier_stats s;
  assert_int_equal(gsp_tier_stats_get(t, &s), GSP_OK);
  return s;
}

/* Wait (up to 20 s) until nothing is queued; false if it never happens. */
static bool wait_written(gsp_tier *t) {
  for (int i = 0; i < 2000; i++) {
    if (stats(t).wb_pending == 0) return true;
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  }
  return false;
}

static void test_held_until_flush(void **state) {
  (void)state;
  gsp_tier *t = behind(4 << 20); /* wakes at 1 MiB: 50 KB stays queued */
  for (unsigned i = 0; i < 50; i++) assert_int_equal(put_d(t, i, 1, 1000, true), GSP_OK);
  /* time for a writer that (wrongly) wrote them at once to do so */
  nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
  gsp_tier_stats s = stats(t);
  assert_int_equal(s.wb_pending, 50);
  assert_int_equal(s.level[GSP_TIER_L3].entries, 0);
  for (unsigned i = 0; i < 50; i++) tier_expect_i(t, i, 1); /* from the queue */
  assert_int_equal(gsp_tier_flush(t), GSP_OK);
  s = stats(t);
  assert_int_equal(s.wb_pending, 0);
  assert_int_equal(s.level[GSP_TIER_L3].entries, 50);
  gsp_tier_destroy(t);
  t = tier_reader();
  for (unsigned i = 0; i < 50; i++) tier_expect_i(t, i, 1);
  gsp_tier_destroy(t);
}

static void test_urgent_put_wakes(void **state) {
  (void)state;
  gsp_tier *t = behind(4 << 20);
  for (unsigned i = 0; i < 40; i++) assert_int_equal(put_d(t, i, 1, 700, true), GSP_OK);
  assert_int_equal(put_d(t, 40, 1, 700, false), GSP_OK); /* not deferred */
  assert_true(wait_written(t));
  assert_int_equal(stats(t).level[GSP_TIER_L3].entries, 41);
  gsp_tier_destroy(t);
}

static void test_full_batch_wakes(void **state) {
  (void)state;
  gsp_tier *t = behind(64 << 10); /* wakes at 16 KiB */
  for (unsigned i = 0; i < 40; i++) assert_int_equal(put_d(t, i, 1, 1024, true), GSP_OK);
  /* 40 KiB queued: at least the first two batches are written unasked */
  for (int i = 0; i < 2000 && stats(t).level[GSP_TIER_L3].entries < 16; i++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  gsp_tier_stats s = stats(t);
  assert_true(s.level[GSP_TIER_L3].entries >= 16);
  assert_true(s.wb_pending < 40);
  assert_int_equal(gsp_tier_flush(t), GSP_OK);
  assert_int_equal(stats(t).level[GSP_TIER_L3].entries, 40);
  gsp_tier_destroy(t);
}

static void test_backpressure(void **state) {
  (void)state;
  gsp_tier *t = behind(16384);
  tier_put_from_threads(t, 800, &(gsp_tier_put_opts){.defer = true});
  /* one value larger than the whole queue, deferred, then another small one */
  assert_int_equal(put_d(t, 5000, 1, 40000, true), GSP_OK);
  assert_int_equal(put_d(t, 5001, 1, 100, true), GSP_OK);
  assert_int_equal(gsp_tier_flush(t), GSP_OK);
  gsp_tier_destroy(t);
  t = tier_reader();
  for (unsigned i = 0; i < 3200; i++) tier_expect_i(t, i, 1);
  tier_expect_i(t, 5000, 1);
  tier_expect_i(t, 5001, 1);
  gsp_tier_destroy(t);
}

static void test_delete_and_destroy(void **state) {
  (void)state;
  gsp_tier *t = behind(4 << 20);
  for (unsigned i = 0; i < 30; i++) assert_int_equal(put_d(t, i, 1, 900, true), GSP_OK);
  char k[32];
  void *v = NULL;
  size_t n;
  assert_int_equal(gsp_tier_delete(t, k, key_of(k, sizeof k, 7)), GSP_OK);
  assert_int_equal(gsp_tier_get(t, k, key_of(k, sizeof k, 7), &v, &n), GSP_ENOENT);
  assert_int_equal(gsp_tier_flush(t), GSP_OK);
  assert_int_equal(gsp_tier_get(t, k, key_of(k, sizeof k, 7), &v, &n), GSP_ENOENT);
  for (unsigned i = 30; i < 60; i++) assert_int_equal(put_d(t, i, 2, 900, true), GSP_OK);
  gsp_tier_destroy(t); /* writes the deferred puts */
  t = tier_reader();
  for (unsigned i = 0; i < 60; i++) {
    if (i == 7) continue;
    tier_expect_i(t, i, i < 30 ? 1 : 2);
  }
  assert_int_equal(gsp_tier_get(t, k, key_of(k, sizeof k, 7), &v, &n), GSP_ENOENT);
  gsp_tier_destroy(t);
}

/* The child flushes 500 entries, reports, then keeps putting deferred
 * values until killed. */
static void killed_child(int wfd) {
  gsp_tier *t = behind(1 << 20);
  for (unsigned i = 0; i < 500; i++)
    if (put_d(t, i, 1, 2000, true) != GSP_OK) _exit(1);
  if (gsp_tier_flush(t) != GSP_OK) _exit(2);
  char c = 'f';
  if (write(wfd, &c, 1) != 1) _exit(3);
  for (unsigned i = 500;; i++) (void)put_d(t, i % 50000, 2, 1500 + i % 2000, true);
}

static void test_killed(void **state) {
  (void)state;
  tier_kill_rounds(4, 500, killed_child);
}

static void test_ignored_elsewhere(void **state) {
  (void)state;
  gsp_tier_write_mode modes[] = {GSP_TIER_WRITE_THROUGH, GSP_TIER_WRITE_BACK};
  for (int m = 0; m < 2; m++) {
    gsp_tier_config c = {.l3 = g_uri, .write_mode = modes[m], .durability = GSP_TIER_NONE};
    gsp_tier *t = NULL;
    assert_int_equal(gsp_tier_create(&c, &t, NULL, 0), GSP_OK);
    for (unsigned i = 0; i < 20; i++) assert_int_equal(put_d(t, i, 3 + m, 600, true), GSP_OK);
    if (modes[m] == GSP_TIER_WRITE_THROUGH) /* in L3 when the put returns */
      assert_int_equal(stats(t).level[GSP_TIER_L3].entries, 20);
    for (unsigned i = 0; i < 20; i++) tier_expect_i(t, i, 3 + (unsigned)m);
    gsp_tier_destroy(t);
    t = tier_reader();
    for (unsigned i = 0; i < 20; i++) tier_expect_i(t, i, 3 + (unsigned)m);
    gsp_tier_destroy(t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_held_until_flush, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_urgent_put_wakes, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_full_batch_wakes, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_backpressure, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_delete_and_destroy, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_killed, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_ignored_elsewhere, tier_setup, tier_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
