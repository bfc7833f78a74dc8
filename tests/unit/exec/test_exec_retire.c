/*
 * test_exec_retire.c - workers retiring and starting while tasks arrive
 * (label `concurrency`: CI runs it again under ThreadSanitizer).
 *
 * A scaling pool with a 1 ms idle time retires workers all the time; two
 * outside threads submit bursts of blocking tasks (0.3 ms each: queued
 * ones wait, so the scaler starts workers) with pauses of about the idle
 * time between them, so submissions keep meeting workers that are deciding to
 * retire, retiring, sleeping with a timeout, or being started by the
 * scaler. Every task must run, each exactly once: a task left queued with
 * no worker to take it shows as a future not done within WAIT_MS (a
 * generous bound, not a measurement). Half of the bursts are tasks that
 * spawn a group of children and wait for it, so group waits on workers
 * meet retirement too. At the end the pool is destroyed while the last
 * burst may still be queued (a drain), and every task has run.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "gsperf/exec.h"

enum { THREADS = 2, BURSTS = 150, MAX_BURST = 6, CHILDREN = 4, WAIT_MS = 20000 };

typedef struct shared {
  gsp_exec *ex;
  _Atomic unsigned long ran; /* task and child runs */
} shared;

/* A blocking task (like I/O): queued ones wait, so the scaler grows the pool. */
static int leaf(void *arg) {
  struct timespec ts = {0, 300000};
  nanosleep(&ts, NULL);
  atomic_fetch_add(&((shared *)arg)->ran, 1);
  return 0;
}

/* A task that spawns CHILDREN leaves into a group and waits for them. */
static int parent(void *arg) {
  shared *s = arg;
  gsp_exec_group *g = NULL;
  if (gsp_exec_group_create(s->ex, &g) != GSP_OK) return GSP_ENOMEM;
  for (int i = 0; i < CHILDREN; i++)
    if (gsp_exec_group_spawn(g, leaf, s) != GSP_OK) return GSP_ENOMEM;
  int rv = gsp_exec_group_wait(g);
  gsp_exec_group_destroy(g);
  atomic_fetch_add(&s->ran, 1);
  return rv;
}

static void pause_about_1ms(unsigned *seed) {
  *seed = *seed * 1103515245u + 12345u;
  struct timespec ts = {0, 500000 + (long)(*seed >> 8) % 1500000}; /* 0.5 to 2 ms */
  nanosleep(&ts, NULL);
}

typedef struct submitter {
  shared *s;
  unsigned seed;
  unsigned long expected; /* runs this thread's tasks add up to */
} submitter;

static void *submit_bursts(void *arg) {
  submitter *m = arg;
  for (unsigned b = 0; b < BURSTS; b++) {
    gsp_exec_future *f[MAX_BURST];
    unsigned n = 1 + b % MAX_BURST;
    bool groups = b % 2 == 1;
    for (unsigned i = 0; i < n; i++)
      assert_int_equal(gsp_exec_submit(m->s->ex, groups ? parent : leaf, m->s, &f[i]), GSP_OK);
    m->expected += groups ? n * (CHILDREN + 1) : n;
    for (unsigned i = 0; i < n; i++) {
      int r = -1;
      assert_int_equal(gsp_exec_future_wait_for(f[i], WAIT_MS, &r), GSP_OK);
      assert_int_equal(r, GSP_OK);
      gsp_exec_future_release(f[i]);
    }
    pause_about_1ms(&m->seed);
  }
  /* A last burst left queued for the destroy to drain. */
  for (unsigned i = 0; i < MAX_BURST; i++)
    assert_int_equal(gsp_exec_submit(m->s->ex, leaf, m->s, NULL), GSP_OK);
  m->expected += MAX_BURST;
  return NULL;
}

static void test_retire_while_submitting(void **state) {
  (void)state;
  shared s = {NULL, 0};
  gsp_exec_config cfg = {.workers = 1,
                         .min_workers = 1,
                         .max_workers = 3,
                         .spin_iters = 1,
                         .target_wait_us = 200,
                         .idle_ms = 1};
  assert_int_equal(gsp_exec_create(&cfg, &s.ex), GSP_OK);
  submitter m[THREADS];
  pthread_t th[THREADS];
  for (unsigned i = 0; i < THREADS; i++) {
    m[i] = (submitter){&s, 7u + i, 0};
    assert_int_equal(pthread_create(&th[i], NULL, submit_bursts, &m[i]), 0);
  }
  for (unsigned i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  gsp_exec_stats st;
  assert_int_equal(gsp_exec_stats_get(s.ex, &st), GSP_OK);
  gsp_exec_destroy(s.ex);
  unsigned long expected = 0;
  for (unsigned i = 0; i < THREADS; i++) expected += m[i].expected;
  assert_int_equal(atomic_load(&s.ran), expected);
  print_message("retire: %lu runs, %llu workers started, %llu retired\n", expected,
                (unsigned long long)st.workers_grown, (unsigned long long)st.workers_shrunk);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retire_while_submitting),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
