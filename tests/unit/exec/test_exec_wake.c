/*
 * test_exec_wake.c - no wake-up is lost on the way from a spinning worker
 * to the sleeping ones (label `concurrency`: CI runs it again under
 * ThreadSanitizer).
 *
 * The pattern. A producer that sees a worker spinning sends no signal:
 * the spinner will find the task. When the spinner finds work it wakes
 * one sleeper (if it was the last spinner), and a woken worker that finds
 * work at once while more is queued must pass the wake-up on, or every
 * task past the second stays queued with workers asleep.
 *
 * How the test forces it. A pool of N workers with a long spin (spin_iters
 * large: a spin lasts milliseconds). The test waits until every worker
 * sleeps, submits one empty task (it wakes one worker, which runs it and
 * then spins), waits until exactly that worker spins and the N - 1 others
 * sleep (read from the pool's counters), then submits N tasks that form a
 * rendezvous: each blocks until all N run at once. Those submissions go
 * to the thread's own submission slot and see the spinner, so they send
 * no signal; only the chain of passed-on wake-ups can get all N workers
 * running. A rendezvous that does not complete within RENDEZVOUS_S (a
 * generous bound, not a measurement) is a failure: N tasks queued with
 * workers asleep.
 *
 * Each round counts as a hit when the spinner was still spinning after
 * the last of the N submissions (every submission was absorbed by it);
 * the test repeats rounds until it has WANT_HITS hits, and fails if it
 * cannot produce the pattern at all in MAX_ROUNDS.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <cmocka.h>

#include "exec_int.h"
#include "gsperf/exec.h"

enum {
  SPIN_ITERS = 4000, /* a spin of about 20 ms here: the window the test needs */
  RENDEZVOUS_S = 10, /* a failure bound, never a measurement */
  SETTLE_S = 60,     /* bound on waiting for the pool to reach a state */
  WANT_HITS = 12,
  MAX_ROUNDS = 400,
  MAX_N = 8
};

typedef struct rendezvous {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned n, arrived;
} rendezvous;

static void rv_init(rendezvous *r, unsigned n) {
  pthread_condattr_t ca;
  assert_int_equal(pthread_condattr_init(&ca), 0);
  assert_int_equal(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC), 0);
  assert_int_equal(pthread_mutex_init(&r->mu, NULL), 0);
  assert_int_equal(pthread_cond_init(&r->cv, &ca), 0);
  pthread_condattr_destroy(&ca);
  r->n = n;
  r->arrived = 0;
}

static void rv_fini(rendezvous *r) {
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
}

/* A task: arrive, then wait until all n have arrived; 1 if that never happened in time. */
static int rv_task(void *arg) {
  rendezvous *r = arg;
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += RENDEZVOUS_S;
  pthread_mutex_lock(&r->mu);
  if (++r->arrived == r->n) pthread_cond_broadcast(&r->cv);
  int rc = 0;
  while (r->arrived < r->n && rc == 0) rc = pthread_cond_timedwait(&r->cv, &r->mu, &until);
  int met = r->arrived >= r->n;
  pthread_mutex_unlock(&r->mu);
  return met ? 0 : 1;
}

static int empty_task(void *arg) {
  atomic_store((atomic_bool *)arg, true);
  return 0;
}

static void nap(void) {
  struct timespec ts = {0, 50000};
  nanosleep(&ts, NULL);
}

static uint64_t now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec;
}

/* Wait until every one of the pool's n workers sleeps. */
static void wait_all_asleep(gsp_exec *ex, unsigned n) {
  uint64_t until = now_s() + SETTLE_S;
  while (atomic_load(&ex->nsleeping) != n || atomic_load(&ex->nspinning) != 0) {
    assert_true(now_s() < until);
    nap();
  }
}

/*
 * After `ran` is set: wait until one worker spins and the other n - 1
 * sleep. False if the spinner went to sleep first (this round is missed).
 */
static bool wait_one_spinner(gsp_exec *ex, unsigned n, const atomic_bool *ran) {
  uint64_t until = now_s() + SETTLE_S;
  for (;;) {
    unsigned sleeping = atomic_load(&ex->nsleeping);
    unsigned spinning = atomic_load(&ex->nspinning);
    if (atomic_load(ran) && spinning == 1 && sleeping == n - 1) return true;
    if (atomic_load(ran) && sleeping == n) return false;
    assert_true(now_s() < until);
    nap();
  }
}

/* One round; true when every submission was absorbed by the spinner. */
static bool one_round(gsp_exec *ex, unsigned n) {
  wait_all_asleep(ex, n);
  atomic_bool ran = false;
  assert_int_equal(gsp_exec_submit(ex, empty_task, &ran, NULL), GSP_OK);
  if (!wait_one_spinner(ex, n, &ran)) return false;
  rendezvous r;
  rv_init(&r, n);
  gsp_exec_future *f[MAX_N];
  for (unsigned i = 0; i < n; i++)
    assert_int_equal(gsp_exec_submit(ex, rv_task, &r, &f[i]), GSP_OK);
  bool hit = atomic_load(&ex->nspinning) == 1;
  unsigned missed = 0; /* tasks whose rendezvous timed out: some worker stayed asleep */
  for (unsigned i = 0; i < n; i++) {
    int result = -1;
    assert_int_equal(gsp_exec_future_wait(f[i], &result), GSP_OK);
    missed += result != 0;
    gsp_exec_future_release(f[i]);
  }
  rv_fini(&r);
  assert_int_equal(missed, 0); /* after every task of r is done: r may go */
  return hit;
}

static void run_rounds(unsigned n) {
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {.workers = n, .spin_iters = SPIN_ITERS};
  assert_int_equal(gsp_exec_create(&cfg, &ex), GSP_OK);
  unsigned hits = 0, rounds = 0;
  while (hits < WANT_HITS && rounds < MAX_ROUNDS) {
    hits += one_round(ex, n);
    rounds++;
  }
  printf("# %u workers: %u rounds, %u with every submission absorbed by the spinner\n", n, rounds,
         hits);
  assert_true(hits > 0); /* else the pattern under test never happened */
  gsp_exec_destroy(ex);
}

static void test_chain_three_workers(void **state) {
  (void)state;
  run_rounds(3);
}

static void test_chain_four_workers(void **state) {
  (void)state;
  run_rounds(4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chain_three_workers),
      cmocka_unit_test(test_chain_four_workers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
