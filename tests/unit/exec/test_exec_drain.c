/*
 * test_exec_drain.c - a draining destroy keeps every worker while a task
 * still runs (label `concurrency`: CI runs it again under
 * ThreadSanitizer).
 *
 * The pattern. gsp_exec_destroy() begins while a task T runs; the other
 * workers find nothing queued. Then T spawns a group of tasks that must
 * run at the same time (a rendezvous of as many tasks as the pool has
 * workers, each waiting for all) and waits for the group. If the idle
 * workers had exited on finding the queues empty, T's worker would be the
 * only one left, the rendezvous could never complete, and each of its
 * tasks would give up after RENDEZVOUS_S (a generous failure bound, never
 * a measurement): the group reports the failure. The idle workers must
 * instead stay until no task runs anywhere and nothing is queued, and
 * take the new tasks.
 *
 * Ordering. T waits on a gate the test opens once the destroy has raised
 * the pool's `stopping` flag (read from the pool's internals) and the idle
 * workers have had a while to look for work; the verdict does not depend
 * on that while, only how likely the bad interleaving was before the fix.
 * The scenario runs ROUNDS times, for drain and then for a scaling pool.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "exec_int.h"
#include "gsperf/exec.h"

enum { RENDEZVOUS_S = 10, ROUNDS = 3, WORKERS = 2 };

typedef struct rendezvous {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned n, arrived;
} rendezvous;

typedef struct scenario {
  gsp_exec *ex;
  atomic_bool started, go;
  rendezvous r;
  int group_rv; /* T's group result, written by T */
} scenario;

/* A group task: arrive, then wait until all n have arrived; 1 if never. */
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

/* T: wait for the gate, then spawn the rendezvous as a group and wait for it. */
static int task_t(void *arg) {
  scenario *s = arg;
  atomic_store(&s->started, true);
  while (!atomic_load(&s->go)) sched_yield();
  gsp_exec_group *g = NULL;
  int rv = gsp_exec_group_create(s->ex, &g);
  for (unsigned i = 0; rv == GSP_OK && i < s->r.n; i++)
    rv = gsp_exec_group_spawn(g, rv_task, &s->r);
  if (rv == GSP_OK) rv = gsp_exec_group_wait(g);
  gsp_exec_group_destroy(g);
  s->group_rv = rv;
  return 0;
}

static void *destroyer(void *arg) {
  gsp_exec_destroy(arg);
  return NULL;
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static void one_round(const gsp_exec_config *cfg) {
  scenario s = {.group_rv = -1};
  pthread_condattr_t ca;
  assert_int_equal(pthread_condattr_init(&ca), 0);
  assert_int_equal(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC), 0);
  assert_int_equal(pthread_mutex_init(&s.r.mu, NULL), 0);
  assert_int_equal(pthread_cond_init(&s.r.cv, &ca), 0);
  pthread_condattr_destroy(&ca);
  s.r.n = WORKERS;
  assert_int_equal(gsp_exec_create(cfg, &s.ex), GSP_OK);
  assert_int_equal(gsp_exec_submit(s.ex, task_t, &s, NULL), GSP_OK);
  while (!atomic_load(&s.started)) sched_yield();
  pthread_t d;
  gsp_exec *ex = s.ex;
  assert_int_equal(pthread_create(&d, NULL, destroyer, ex), 0);
  while (!atomic_load(&ex->stopping)) sched_yield(); /* ex lives until T has finished */
  nap_ms(50); /* the idle workers look for work meanwhile (and, before the fix, left) */
  atomic_store(&s.go, true);
  pthread_join(d, NULL);
  assert_int_equal(s.group_rv, 0); /* every task of the rendezvous ran at once */
  assert_int_equal(s.r.arrived, WORKERS);
  pthread_cond_destroy(&s.r.cv);
  pthread_mutex_destroy(&s.r.mu);
}

static void test_drain_keeps_workers(void **state) {
  (void)state;
  gsp_exec_config cfg = {.workers = WORKERS};
  for (int i = 0; i < ROUNDS; i++) one_round(&cfg);
}

static void test_drain_keeps_workers_scaling(void **state) {
  (void)state;
  gsp_exec_config cfg = {
      .workers = WORKERS, .min_workers = WORKERS, .max_workers = WORKERS + 2, .idle_ms = 1};
  for (int i = 0; i < ROUNDS; i++) one_round(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_drain_keeps_workers),
      cmocka_unit_test(test_drain_keeps_workers_scaling),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
