/*
 * tier_scratch.h - the set-up of the tier tests that run over an LMDB L3 in
 * a scratch directory of their own: g_dir (a fresh /tmp/gsp-tier-XXXXXX per
 * test, made by tier_setup and removed by tier_teardown, the cmocka
 * fixtures, per test or per group) and g_uri ("lmdb:" g_dir); a write-behind tier and a read-only
 * reader on it; putting key i's value (tier_test_util.h's make_value) and
 * checking what a get returns for it (exactly, or as a fault test may see
 * it); four threads putting at once; and the SIGKILL rounds of the
 * write-behind tests (a child killed while its writer thread writes, the
 * directory then opened as it is and checked). Include after cmocka.h.
 */
#ifndef GSP_TIER_SCRATCH_H
#define GSP_TIER_SCRATCH_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tier_test_util.h"

static char g_dir[64], g_uri[80];

static inline int tier_setup(void **state) {
  (void)state;
  scratch_dir(g_dir, sizeof g_dir);
  snprintf(g_uri, sizeof g_uri, "lmdb:%s", g_dir);
  return 0;
}

static inline int tier_teardown(void **state) {
  (void)state;
  rm_dir(g_dir);
  return 0;
}

/* Write-behind on g_uri, without durability; batch = queue / 4 + 1 (so
 * deferred puts wake the writer once about a quarter of the queue is
 * queued); write-around when `around`. */
static inline gsp_tier *tier_behind(size_t queue_bytes, bool around) {
  gsp_tier_config c = {.l3 = g_uri,
                       .write_mode = GSP_TIER_WRITE_BEHIND,
                       .durability = GSP_TIER_NONE,
                       .wbh_queue_bytes = queue_bytes,
                       .wbh_batch_bytes = queue_bytes / 4 + 1,
                       .write_around = around};
  gsp_tier *t = NULL;
  char err[512];
  assert_int_equal(gsp_tier_create(&c, &t, err, sizeof err), GSP_OK);
  return t;
}

/* Another tier on g_uri, L3 read-only. */
static inline gsp_tier *tier_reader(void) {
  gsp_tier_config c = {.l3 = g_uri, .l3_readonly = true};
  gsp_tier *t = NULL;
  char err[512];
  assert_int_equal(gsp_tier_create(&c, &t, err, sizeof err), GSP_OK);
  return t;
}

/* Put key i's value of version v, n bytes (text when i is odd); the put's
 * status. */
static inline int tier_put_i(gsp_tier *t, unsigned i, unsigned v, size_t n,
                             const gsp_tier_put_opts *o) {
  char k[32], *val = malloc(n);
  make_value(val, n, i, v, (int)(i & 1));
  int st = gsp_tier_put(t, k, key_of(k, sizeof k, i), val, n, o);
  free(val);
  return st;
}

/* Key i present, intact, with version v (any version when v == 0). */
static inline void tier_expect_i(gsp_tier *t, unsigned i, unsigned v) {
  char k[32];
  void *val = NULL;
  size_t n = 0;
  assert_int_equal(gsp_tier_get(t, k, key_of(k, sizeof k, i), &val, &n), GSP_OK);
  assert_true(value_ok(val, n, i, (int)(i & 1)));
  unsigned ki, vi;
  assert_true(value_head(val, n, &ki, &vi));
  if (v) assert_int_equal(vi, v);
  gsp_free(val);
}

typedef struct tier_putter {
  gsp_tier *t;
  unsigned first, n;
  const gsp_tier_put_opts *o;
} tier_putter;

static inline void *tier_put_range(void *arg) {
  tier_putter *w = arg;
  for (unsigned i = w->first; i < w->first + w->n; i++)
    if (tier_put_i(w->t, i, 1, 500 + i % 3500, w->o) != GSP_OK) return w;
  return NULL;
}

/* Four threads at once, each putting `each` keys of its own (version 1,
 * 500 to 3,999 bytes) with options o; every put must succeed. */
static inline void tier_put_from_threads(gsp_tier *t, unsigned each, const gsp_tier_put_opts *o) {
  pthread_t th[4];
  tier_putter w[4];
  for (unsigned i = 0; i < 4; i++) {
    w[i] = (tier_putter){t, i * each, each, o};
    assert_int_equal(pthread_create(&th[i], NULL, tier_put_range, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    void *rv;
    pthread_join(th[i], &rv);
    assert_null(rv);
  }
}

/* Key i, as a fault test gets it: intact when found; a miss or GSP_ENOMEM
 * is allowed (the allocation that failed may be the put's or the get's),
 * any other error fails the test. */
static inline void tier_get_check(gsp_tier *t, unsigned i) {
  char k[32];
  void *v = NULL;
  size_t n;
  int rv = gsp_tier_get(t, k, key_of(k, sizeof k, i), &v, &n);
  if (rv == GSP_OK) {
    assert_true(value_ok(v, n, i, 1));
    gsp_free(v);
  } else if (rv != GSP_ENOENT && rv != GSP_ENOMEM) {
    fail_msg("get: %s", gsp_err_name(rv));
  }
}

/* `rounds` times: a child runs child(wfd), which flushes keys 0..flushed-1,
 * writes a byte to wfd, then keeps putting until it is killed (SIGKILL,
 * 20 ms + 15 ms per round after the byte: its writer thread is mid-batch).
 * The directory must then open as it is (no rebuild), verify clean and hold
 * every flushed key; it is emptied for the next round. */
static inline void tier_kill_rounds(int rounds, unsigned flushed, void (*child)(int wfd)) {
  for (int round = 0; round < rounds; round++) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      child(fds[1]);
      _exit(4); /* child never returns */
    }
    close(fds[1]);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1);
    nanosleep(&(struct timespec){0, (20 + 15 * round) * 1000 * 1000}, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    close(fds[0]);
    assert_true(WIFSIGNALED(status));
    gsp_tier *t = tier_reader(); /* no rebuild: must open as it is */
    for (unsigned i = 0; i < flushed; i++) tier_expect_i(t, i, 0);
    uint64_t good, bad;
    assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
    assert_int_equal(bad, 0);
    assert_true(good >= flushed);
    gsp_tier_destroy(t);
    rm_dir(g_dir);
    assert_int_equal(mkdir(g_dir, 0700), 0);
  }
}

#endif
