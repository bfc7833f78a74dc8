/*
 * test_exec.c - the pool's behaviour: futures (result, timeout, cancel
 * before start, cancel too late), task groups (wait for all, first error
 * wins, later tasks skipped), parallel-for (every index exactly once for
 * many n, grain and worker counts; errors; the guided chunk sizes),
 * nested spawns and waits inside tasks (recursive fib on 1 and 2 workers,
 * no deadlock), draining shutdown, and bad arguments. Nothing here
 * measures time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <sched.h>

#include "gsperf/exec.h"

static gsp_exec *make(unsigned workers) {
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {.workers = workers};
  assert_int_equal(gsp_exec_create(&cfg, &ex), GSP_OK);
  assert_int_equal(gsp_exec_workers(ex), workers);
  return ex;
}

static int add_one(void *arg) {
  atomic_fetch_add((atomic_int *)arg, 1);
  return 0;
}

static int return_arg(void *arg) { return *(const int *)arg; }

/* A task that holds its worker until the gate opens. */
typedef struct gate {
  atomic_bool started, open;
} gate;

static int hold(void *arg) {
  gate *g = arg;
  atomic_store(&g->started, true);
  while (!atomic_load(&g->open)) sched_yield();
  return 0;
}

static void test_future_result(void **state) {
  (void)state;
  gsp_exec *ex = make(2);
  gsp_exec_future *f = NULL;
  int r = 0, answer = 42;
  assert_int_equal(gsp_exec_submit(ex, return_arg, &answer, &f), GSP_OK);
  assert_int_equal(gsp_exec_future_wait(f, &r), GSP_OK);
  assert_int_equal(r, 42);
  assert_true(gsp_exec_future_done(f));
  assert_int_equal(gsp_exec_future_wait_for(f, 0, &r), GSP_OK); /* done: no wait */
  assert_int_equal(gsp_exec_future_cancel(f), GSP_EBUSY);
  gsp_exec_future_release(f);
  gsp_exec_destroy(ex);
}

static void test_future_timeout_and_cancel(void **state) {
  (void)state;
  gsp_exec *ex = make(1);
  gate g = {false, false};
  atomic_int ran = 0;
  gsp_exec_future *blocker = NULL, *later = NULL;
  assert_int_equal(gsp_exec_submit(ex, hold, &g, &blocker), GSP_OK);
  while (!atomic_load(&g.started)) sched_yield();
  assert_int_equal(gsp_exec_submit(ex, add_one, &ran, &later), GSP_OK);
  assert_int_equal(gsp_exec_future_wait_for(blocker, 5, NULL), GSP_ETIMEDOUT);
  assert_false(gsp_exec_future_done(blocker));
  assert_int_equal(gsp_exec_future_cancel(blocker), GSP_EBUSY); /* running */
  assert_int_equal(gsp_exec_future_cancel(later), GSP_OK);      /* not started */
  assert_int_equal(gsp_exec_future_cancel(later), GSP_EBUSY);
  assert_true(gsp_exec_future_done(later));
  assert_int_equal(gsp_exec_future_wait(later, NULL), GSP_ECANCELED);
  gsp_exec_future *dropped = NULL; /* canceled, then released while queued */
  assert_int_equal(gsp_exec_submit(ex, add_one, &ran, &dropped), GSP_OK);
  assert_int_equal(gsp_exec_future_cancel(dropped), GSP_OK);
  gsp_exec_future_release(dropped);
  atomic_store(&g.open, true);
  assert_int_equal(gsp_exec_future_wait(blocker, NULL), GSP_OK);
  gsp_exec_destroy(ex);
  assert_int_equal(atomic_load(&ran), 0);
  gsp_exec_future_release(later); /* futures outlive the pool */
  gsp_exec_future_release(blocker);
}

typedef struct counted {
  atomic_int *ran; /* tasks started so far, shared */
  int status;      /* what this task returns */
  int seq;         /* its start order (1-based); 0 = never ran */
} counted;

static int count_then_return(void *arg) {
  counted *c = arg;
  c->seq = atomic_fetch_add(c->ran, 1) + 1;
  return c->status;
}

/*
 * One worker runs the group's tasks one at a time (in an order the pool
 * chooses): the group's error is that of the first failing task to run,
 * and no task starts after it.
 */
static void test_group_first_error(void **state) {
  (void)state;
  gsp_exec *ex = make(1);
  gate g = {false, false};
  atomic_int ran = 0;
  counted c[6] = {{&ran, 0, 0}, {&ran, GSP_ERANGE, 0},  {&ran, GSP_EIO, 0},
                  {&ran, 0, 0}, {&ran, GSP_EFORMAT, 0}, {&ran, 0, 0}};
  gsp_exec_group *grp = NULL;
  assert_int_equal(gsp_exec_submit(ex, hold, &g, NULL), GSP_OK);
  assert_int_equal(gsp_exec_group_create(ex, &grp), GSP_OK);
  for (int i = 0; i < 6; i++)
    assert_int_equal(gsp_exec_group_spawn(grp, count_then_return, &c[i]), GSP_OK);
  atomic_store(&g.open, true);
  int err = gsp_exec_group_wait(grp);
  int first_fail = 0, first_status = 0;
  for (int i = 0; i < 6; i++)
    if (c[i].status != 0 && c[i].seq != 0 && (first_fail == 0 || c[i].seq < first_fail)) {
      first_fail = c[i].seq;
      first_status = c[i].status;
    }
  assert_int_not_equal(first_fail, 0);
  assert_int_equal(err, first_status);
  assert_int_equal(atomic_load(&ran), first_fail); /* the rest were skipped */
  assert_int_equal(gsp_exec_group_wait(grp), err); /* sticky */
  gsp_exec_group_destroy(grp);
  gsp_exec_destroy(ex);
}

static void test_group_all_ok(void **state) {
  (void)state;
  gsp_exec *ex = make(2);
  atomic_int ran = 0;
  gsp_exec_group *grp = NULL;
  assert_int_equal(gsp_exec_group_create(ex, &grp), GSP_OK);
  assert_int_equal(gsp_exec_group_wait(grp), GSP_OK); /* empty */
  for (int i = 0; i < 1000; i++) assert_int_equal(gsp_exec_group_spawn(grp, add_one, &ran), GSP_OK);
  assert_int_equal(gsp_exec_group_wait(grp), GSP_OK);
  assert_int_equal(atomic_load(&ran), 1000);
  gsp_exec_group_destroy(grp);
  gsp_exec_group_destroy(NULL);
  gsp_exec_destroy(ex);
}

/* ---- parallel-for ---- */

typedef struct cover {
  atomic_uchar *seen;
  size_t n;
  size_t fail_at; /* index whose chunk fails; SIZE_MAX = none */
} cover;

static int cover_range(void *user, size_t begin, size_t end) {
  cover *c = user;
  assert_true(begin < end && end <= c->n);
  for (size_t i = begin; i < end; i++) atomic_fetch_add(&c->seen[i], 1);
  return c->fail_at >= begin && c->fail_at < end ? GSP_EIO : 0;
}

static void check_cover(gsp_exec *ex, size_t n, size_t grain) {
  cover c = {calloc(n + 1, 1), n, SIZE_MAX};
  assert_non_null(c.seen);
  assert_int_equal(gsp_exec_parallel_for(ex, n, grain, cover_range, &c), GSP_OK);
  for (size_t i = 0; i < n; i++) assert_int_equal(atomic_load(&c.seen[i]), 1);
  free(c.seen);
}

static void test_parallel_for_covers(void **state) {
  (void)state;
  static const size_t ns[] = {0, 1, 2, 3, 7, 64, 100, 1000, 4097, 12345};
  static const size_t grains[] = {0, 1, 2, 3, 64, 1000, 100000};
  for (unsigned w = 1; w <= 3; w++) {
    gsp_exec *ex = make(w);
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
      for (size_t j = 0; j < sizeof(grains) / sizeof(grains[0]); j++)
        check_cover(ex, ns[i], grains[j]);
    gsp_exec_destroy(ex);
  }
}

static void test_parallel_for_error(void **state) {
  (void)state;
  gsp_exec *ex = make(2);
  cover c = {calloc(1000, 1), 1000, 500};
  assert_non_null(c.seen);
  assert_int_equal(gsp_exec_parallel_for(ex, 1000, 10, cover_range, &c), GSP_EIO);
  for (size_t i = 0; i < 1000; i++) assert_true(atomic_load(&c.seen[i]) <= 1);
  free(c.seen);
  gsp_exec_destroy(ex);
}

/* Chunks shrink near the end of the range: never above grain, and the
 * last ones a single index, so no participant is left with a long chunk
 * while the others have nothing. */
typedef struct chunk_log {
  _Atomic size_t size_at[4096]; /* by begin: the chunk's size */
} chunk_log;

static int log_chunk(void *user, size_t begin, size_t end) {
  chunk_log *l = user;
  atomic_store(&l->size_at[begin], end - begin);
  return 0;
}

static void test_parallel_for_guided(void **state) {
  (void)state;
  for (unsigned w = 1; w <= 3; w++) {
    gsp_exec *ex = make(w);
    chunk_log *l = calloc(1, sizeof *l);
    assert_non_null(l);
    size_t n = 4000, grain = 64, last = 0, b = 0;
    assert_int_equal(gsp_exec_parallel_for(ex, n, grain, log_chunk, l), GSP_OK);
    while (b < n) { /* the chunk at b: a share of what is left, 1..grain */
      size_t want = (n - b) / (2 * (w + 1));
      want = want > grain ? grain : want < 1 ? 1 : want;
      assert_int_equal(atomic_load(&l->size_at[b]), want);
      last = want, b += want;
    }
    assert_int_equal(b, n); /* the chunks tile the range exactly */
    assert_int_equal(last, 1);
    free(l);
    gsp_exec_destroy(ex);
  }
}

/* ---- nesting ---- */

#include "fib_task.h"

static void test_nested_fib(void **state) {
  (void)state;
  for (unsigned w = 1; w <= 2; w++) {
    gsp_exec *ex = make(w);
    fib_arg a = {ex, 20, 0};
    gsp_exec_future *f = NULL;
    int r = -1;
    assert_int_equal(gsp_exec_submit(ex, fib_task, &a, &f), GSP_OK);
    assert_int_equal(gsp_exec_future_wait(f, &r), GSP_OK);
    assert_int_equal(r, 0);
    assert_int_equal(a.out, 6765);
    gsp_exec_future_release(f);
    gsp_exec_destroy(ex);
  }
}

typedef struct nest_arg {
  gsp_exec *ex;
  atomic_int *ran;
} nest_arg;

/* A task that runs a group and a parallel-for of its own and waits for both. */
static int nested_waits(void *p) {
  nest_arg *a = p;
  gsp_exec_group *g = NULL;
  int rv = gsp_exec_group_create(a->ex, &g);
  if (rv != GSP_OK) return rv;
  for (int i = 0; i < 50 && rv == GSP_OK; i++) rv = gsp_exec_group_spawn(g, add_one, a->ran);
  int wv = gsp_exec_group_wait(g);
  gsp_exec_group_destroy(g);
  if (rv != GSP_OK || wv != GSP_OK) return rv != GSP_OK ? rv : wv;
  cover c = {calloc(300, 1), 300, SIZE_MAX};
  if (c.seen == NULL) return GSP_ENOMEM;
  rv = gsp_exec_parallel_for(a->ex, 300, 0, cover_range, &c);
  for (size_t i = 0; i < 300 && rv == GSP_OK; i++)
    if (atomic_load(&c.seen[i]) != 1) rv = GSP_ECORRUPT;
  free(c.seen);
  return rv;
}

static void test_nested_groups_and_loops(void **state) {
  (void)state;
  for (unsigned w = 1; w <= 2; w++) {
    gsp_exec *ex = make(w);
    atomic_int ran = 0;
    nest_arg a = {ex, &ran};
    gsp_exec_group *g = NULL;
    assert_int_equal(gsp_exec_group_create(ex, &g), GSP_OK);
    for (int i = 0; i < 20; i++)
      assert_int_equal(gsp_exec_group_spawn(g, nested_waits, &a), GSP_OK);
    assert_int_equal(gsp_exec_group_wait(g), GSP_OK);
    assert_int_equal(atomic_load(&ran), 20 * 50);
    gsp_exec_group_destroy(g);
    gsp_exec_destroy(ex);
  }
}

/* ---- shutdown ---- */

static int spawn_child(void *p) {
  nest_arg *a = p;
  atomic_fetch_add(a->ran, 1);
  return gsp_exec_submit(a->ex, add_one, a->ran, NULL);
}

static void test_shutdown_drains(void **state) {
  (void)state;
  gsp_exec *ex = make(2);
  atomic_int ran = 0;
  nest_arg a = {ex, &ran};
  for (int i = 0; i < 2000; i++)
    assert_int_equal(gsp_exec_submit(ex, spawn_child, &a, NULL), GSP_OK);
  gsp_exec_destroy(ex);
  assert_int_equal(atomic_load(&ran), 4000);
}

static void test_bad_arguments(void **state) {
  (void)state;
  gsp_exec *ex = NULL;
  gsp_exec_config big = {.workers = 100000};
  assert_int_equal(gsp_exec_create(NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_exec_create(&big, &ex), GSP_EINVAL);
  assert_true(gsp_exec_default_workers() >= 1);
  assert_int_equal(gsp_exec_create(NULL, &ex), GSP_OK); /* all defaults */
  assert_int_equal(gsp_exec_workers(ex), gsp_exec_default_workers());
  assert_int_equal(gsp_exec_submit(ex, NULL, NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_exec_submit(NULL, add_one, NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_exec_parallel_for(ex, 10, 0, NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_exec_group_create(ex, NULL), GSP_EINVAL);
  assert_int_equal(gsp_exec_group_spawn(NULL, add_one, NULL), GSP_EINVAL);
  assert_int_equal(gsp_exec_future_wait(NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_exec_future_cancel(NULL), GSP_EINVAL);
  assert_false(gsp_exec_future_done(NULL));
  gsp_exec_future_release(NULL);
  gsp_exec_destroy(ex);
  gsp_exec_destroy(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_future_result),
      cmocka_unit_test(test_future_timeout_and_cancel),
      cmocka_unit_test(test_group_first_error),
      cmocka_unit_test(test_group_all_ok),
      cmocka_unit_test(test_parallel_for_covers),
      cmocka_unit_test(test_parallel_for_error),
      cmocka_unit_test(test_parallel_for_guided),
      cmocka_unit_test(test_nested_fib),
      cmocka_unit_test(test_nested_groups_and_loops),
      cmocka_unit_test(test_shutdown_drains),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
