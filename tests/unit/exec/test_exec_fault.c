/*
 * test_exec_fault.c - fault injection: a pool's whole life (create,
 * submissions with and without futures, a group, a parallel-for, nested
 * submissions, destroy) failing the Nth allocation, for every N until a
 * run completes without reaching N. Every call must succeed or return a
 * clean GSP_ENOMEM, and every byte must be freed.
 *
 * The pool allocates and frees on its worker as well as on the caller's
 * thread; fault_alloc.h's hooks take a mutex, so the counts stay exact.
 * One worker, and the caller waits for each task, so
 * the numbering of allocations is the same in every run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <pthread.h>

#include "gsperf/exec.h"

#include "../../support/fault_alloc.h"

static int nop(void *arg) {
  (void)arg;
  return 0;
}

static int range_nop(void *user, size_t begin, size_t end) {
  (void)user;
  (void)begin;
  (void)end;
  return 0;
}

/* A task that submits children and waits for them (nested allocations). */
static int nested(void *arg) {
  gsp_exec *ex = arg;
  gsp_exec_future *f[8] = {0};
  int rv = GSP_OK;
  for (int i = 0; i < 8 && rv == GSP_OK; i++) rv = gsp_exec_submit(ex, nop, NULL, &f[i]);
  for (int i = 0; i < 8; i++) {
    if (f[i] == NULL) continue;
    gsp_exec_future_wait(f[i], NULL);
    gsp_exec_future_release(f[i]);
  }
  return rv;
}

static void one_life(void *arg) {
  (void)arg;
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {.workers = 1};
  int rv = gsp_exec_create(&cfg, &ex);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  for (int i = 0; i < 4; i++) {
    gsp_exec_future *f = NULL;
    rv = gsp_exec_submit(ex, i == 0 ? nested : nop, ex, &f);
    ok_or_nomem(rv);
    if (rv != GSP_OK) continue;
    int r = 0;
    assert_int_equal(gsp_exec_future_wait(f, &r), GSP_OK); /* waits: no concurrent allocation */
    ok_or_nomem(r);
    gsp_exec_future_release(f);
  }
  gsp_exec_group *g = NULL;
  rv = gsp_exec_group_create(ex, &g);
  ok_or_nomem(rv);
  if (rv == GSP_OK) {
    ok_or_nomem(gsp_exec_group_spawn(g, nop, NULL));
    assert_int_equal(gsp_exec_group_wait(g), GSP_OK);
    gsp_exec_group_destroy(g);
  }
  /* One worker, an outside caller: one helper task at most. */
  assert_int_equal(gsp_exec_parallel_for(ex, 100, 0, range_nop, NULL), GSP_OK);
  gsp_exec_destroy(ex);
}

static void test_every_allocation_fails_once(void **state) {
  (void)state;
  long failed = fault_each_allocation(one_life, NULL);
  print_message("failed each of %ld allocations in turn\n", failed);
  assert_true(failed > 2); /* the run did allocate, and every failure point was visited */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_allocation_fails_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
