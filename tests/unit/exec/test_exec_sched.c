/*
 * test_exec_sched.c - the pool's scheduling features: batch map (every
 * item once, per-item errors, lowest failing index wins, outputs land at
 * their index, chunk bounds), priority classes (latency tasks queued after
 * throughput tasks start before them), cancel-mode shutdown (queued tasks
 * dropped, futures and groups report GSP_ECANCELED), auto-scaling (blocking
 * tasks make the pool grow, idleness shrinks it back to the minimum) and
 * statistics (counts, metrics families). Behaviour only, never time:
 * scaling is awaited with generous deadlines, not measured.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "gsperf/exec.h"
#include "gsperf/metrics.h"

static gsp_exec *make(unsigned workers) {
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {.workers = workers};
  assert_int_equal(gsp_exec_create(&cfg, &ex), GSP_OK);
  return ex;
}

typedef struct gate {
  atomic_bool started, open;
} gate;

static int hold(void *arg) {
  gate *g = arg;
  atomic_store(&g->started, true);
  while (!atomic_load(&g->open)) sched_yield();
  return 0;
}

/* ---- batch map ---- */

typedef struct sq_ctx {
  atomic_uchar *seen;
  size_t fail_mod; /* items i with i % fail_mod == fail_rem fail; 0 = none */
  size_t fail_rem;
} sq_ctx;

static int square(void *user, size_t i, const void *in, void *out) {
  sq_ctx *c = user;
  atomic_fetch_add(&c->seen[i], 1);
  if (c->fail_mod != 0 && i % c->fail_mod == c->fail_rem) return GSP_EIO - (int)(i % 3);
  *(uint64_t *)out = *(const uint32_t *)in * (uint64_t) * (const uint32_t *)in;
  return 0;
}

static void map_case(gsp_exec *ex, size_t n, size_t fail_mod, size_t min_c, size_t max_c) {
  uint32_t *in = calloc(n + 1, sizeof(*in));
  uint64_t *out = calloc(n + 1, sizeof(*out));
  int *st = calloc(n + 1, sizeof(*st));
  sq_ctx c = {calloc(n + 1, 1), fail_mod, 7 % (fail_mod ? fail_mod : 1)};
  assert_true(in && out && st && c.seen);
  for (size_t i = 0; i < n; i++) in[i] = (uint32_t)(i + 3);
  gsp_exec_batch b = {in, sizeof(*in), out, sizeof(*out), st, min_c, max_c};
  size_t nf = 99;
  int rv = gsp_exec_map(ex, n, square, &c, &b, &nf);
  size_t want_fail = 0, first = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(atomic_load(&c.seen[i]), 1);
    bool fails = fail_mod != 0 && i % fail_mod == c.fail_rem;
    if (fails) {
      want_fail++;
      if (first == SIZE_MAX) first = i;
      assert_int_equal(st[i], GSP_EIO - (int)(i % 3));
    } else {
      assert_int_equal(st[i], 0);
      assert_true(out[i] == (uint64_t)(i + 3) * (i + 3));
    }
  }
  assert_int_equal(nf, want_fail);
  assert_int_equal(rv, first == SIZE_MAX ? GSP_OK : GSP_EIO - (int)(first % 3));
  free(in);
  free(out);
  free(st);
  free(c.seen);
}

static void test_map(void **state) {
  (void)state;
  static const size_t ns[] = {0, 1, 2, 5, 100, 1000, 33333};
  for (unsigned w = 1; w <= 3; w++) {
    gsp_exec *ex = make(w);
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
      map_case(ex, ns[i], 0, 0, 0);
      map_case(ex, ns[i], 10, 0, 0);
      map_case(ex, ns[i], 3, 4, 16);
      map_case(ex, ns[i], 0, 1000, 0);
    }
    gsp_exec_destroy(ex);
  }
}

static int count_item(void *user, size_t i, const void *in, void *out) {
  (void)i;
  assert_null(in);
  assert_null(out);
  atomic_fetch_add((atomic_size_t *)user, 1);
  return 0;
}

typedef struct nested_map {
  gsp_exec *ex;
  atomic_size_t count;
} nested_map;

static int map_inside(void *arg) {
  nested_map *m = arg;
  return gsp_exec_map(m->ex, 500, count_item, &m->count, NULL, NULL);
}

static void test_map_nested_and_args(void **state) {
  (void)state;
  gsp_exec *ex = make(2);
  nested_map m = {ex, 0};
  gsp_exec_group *g = NULL;
  assert_int_equal(gsp_exec_group_create(ex, &g), GSP_OK);
  for (int i = 0; i < 8; i++) assert_int_equal(gsp_exec_group_spawn(g, map_inside, &m), GSP_OK);
  assert_int_equal(gsp_exec_group_wait(g), GSP_OK);
  gsp_exec_group_destroy(g);
  assert_int_equal(atomic_load(&m.count), 8 * 500);
  assert_int_equal(gsp_exec_map(NULL, 1, count_item, NULL, NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_exec_map(ex, 1, NULL, NULL, NULL, NULL), GSP_EINVAL);
  gsp_exec_destroy(ex);
}

/* ---- priorities ---- */

typedef struct order_log {
  atomic_int next;
  int seq[64]; /* seq[k] = tag of the k-th task to run */
} order_log;

typedef struct tagged {
  order_log *log;
  int tag;
} tagged;

static int log_run(void *arg) {
  tagged *t = arg;
  t->log->seq[atomic_fetch_add(&t->log->next, 1)] = t->tag;
  return 0;
}

static void test_latency_first(void **state) {
  (void)state;
  gsp_exec *ex = make(1);
  gate g = {false, false};
  order_log log = {0};
  tagged tp[20], lat[10];
  gsp_exec_future *blk = NULL;
  assert_int_equal(gsp_exec_submit(ex, hold, &g, &blk), GSP_OK);
  while (!atomic_load(&g.started)) sched_yield();
  for (int i = 0; i < 20; i++) {
    tp[i] = (tagged){&log, 100 + i};
    assert_int_equal(gsp_exec_submit(ex, log_run, &tp[i], NULL), GSP_OK);
  }
  for (int i = 0; i < 10; i++) {
    lat[i] = (tagged){&log, i};
    assert_int_equal(gsp_exec_submit_prio(ex, GSP_EXEC_LATENCY, log_run, &lat[i], NULL), GSP_OK);
  }
  assert_int_equal(gsp_exec_submit_prio(ex, (gsp_exec_priority)7, log_run, &lat[0], NULL),
                   GSP_EINVAL);
  atomic_store(&g.open, true);
  gsp_exec_future_release(blk);
  gsp_exec_destroy(ex);
  assert_int_equal(atomic_load(&log.next), 30);
  for (int k = 0; k < 10; k++) assert_int_equal(log.seq[k], k); /* latency, in FIFO order */
  for (int k = 10; k < 30; k++) assert_true(log.seq[k] >= 100);
}

/* ---- cancel-mode shutdown ---- */

static int add_one(void *arg) {
  atomic_fetch_add((atomic_int *)arg, 1);
  return 0;
}

/* Holds the only worker with a group of its own queued behind it. */
typedef struct blocker {
  gsp_exec *ex;
  gate g;
  atomic_int *ran;
  int group_rv;
} blocker;

static int block_with_group(void *arg) {
  blocker *b = arg;
  gsp_exec_group *grp = NULL;
  int rv = gsp_exec_group_create(b->ex, &grp);
  if (rv != GSP_OK) return rv;
  for (int i = 0; i < 10 && rv == GSP_OK; i++) rv = gsp_exec_group_spawn(grp, add_one, b->ran);
  hold(&b->g);
  b->group_rv = gsp_exec_group_wait(grp);
  gsp_exec_group_destroy(grp);
  return rv;
}

typedef struct opener {
  gsp_exec *ex;
  blocker *b;
  int submitted;
} opener;

/* Submit until the pool refuses (shutdown has begun), then open the gate. */
static void *open_after_shutdown_began(void *arg) {
  opener *o = arg;
  while (gsp_exec_submit(o->ex, add_one, o->b->ran, NULL) == GSP_OK) {
    o->submitted++;
    sched_yield();
  }
  atomic_store(&o->b->g.open, true);
  return NULL;
}

static void test_cancel_shutdown(void **state) {
  (void)state;
  gsp_exec *ex = make(1);
  atomic_int ran = 0;
  blocker b = {ex, {false, false}, &ran, 0};
  gsp_exec_future *blk = NULL, *f[50] = {0};
  assert_int_equal(gsp_exec_submit(ex, block_with_group, &b, &blk), GSP_OK);
  while (!atomic_load(&b.g.started)) sched_yield();
  for (int i = 0; i < 50; i++)
    assert_int_equal(gsp_exec_submit_prio(ex, i % 2 ? GSP_EXEC_LATENCY : GSP_EXEC_THROUGHPUT,
                                          add_one, &ran, &f[i]),
                     GSP_OK);
  opener o = {ex, &b, 0};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, open_after_shutdown_began, &o), 0);
  gsp_exec_shutdown(ex, GSP_EXEC_CANCEL);
  pthread_join(th, NULL);
  int r = -1;
  assert_int_equal(gsp_exec_future_wait(blk, &r), GSP_OK); /* it was running: it finished */
  assert_int_equal(r, GSP_OK);
  assert_int_equal(b.group_rv, GSP_ECANCELED); /* its group's tasks were dropped */
  for (int i = 0; i < 50; i++) {
    assert_int_equal(gsp_exec_future_wait(f[i], NULL), GSP_ECANCELED);
    gsp_exec_future_release(f[i]);
  }
  gsp_exec_future_release(blk);
  assert_int_equal(atomic_load(&ran), 0); /* nothing queued ever ran */
}

/* ---- auto-scaling ---- */

static bool wait_workers(gsp_exec *ex, unsigned want) {
  for (int i = 0; i < 3000; i++) { /* up to about 30 s: a deadline, not a measurement */
    if (gsp_exec_workers(ex) == want) return true;
    usleep(10000);
  }
  return false;
}

typedef struct held {
  gate g;
  atomic_int started;
} held;

static int hold_count(void *arg) {
  held *h = arg;
  atomic_fetch_add(&h->started, 1);
  while (!atomic_load(&h->g.open)) usleep(200);
  return 0;
}

static void test_scaling_grows_and_shrinks(void **state) {
  (void)state;
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {
      .workers = 1, .min_workers = 1, .max_workers = 4, .target_wait_us = 1000, .idle_ms = 50};
  assert_int_equal(gsp_exec_create(&cfg, &ex), GSP_OK);
  assert_int_equal(gsp_exec_workers(ex), 1);
  held h = {{false, false}, 0};
  for (int i = 0; i < 8; i++) assert_int_equal(gsp_exec_submit(ex, hold_count, &h, NULL), GSP_OK);
  /* Blocking tasks: the queue waits, the pool grows to its maximum and no further. */
  assert_true(wait_workers(ex, 4));
  while (atomic_load(&h.started) < 4) usleep(1000);
  gsp_exec_stats st;
  assert_int_equal(gsp_exec_stats_get(ex, &st), GSP_OK);
  assert_int_equal(st.workers, 4);
  assert_int_equal(st.max_workers, 4);
  assert_int_equal(st.workers_grown, 3);
  assert_int_equal(atomic_load(&h.started), 4);
  atomic_store(&h.g.open, true);
  /* Idle: back to the minimum. */
  assert_true(wait_workers(ex, 1));
  assert_int_equal(gsp_exec_stats_get(ex, &st), GSP_OK);
  assert_int_equal(st.peak_workers, 4);
  assert_true(st.workers_shrunk >= 3);
  assert_int_equal(atomic_load(&h.started), 8);
  /* It grows again when blocking work comes back, and still works. */
  held h2 = {{false, false}, 0};
  for (int i = 0; i < 3; i++) assert_int_equal(gsp_exec_submit(ex, hold_count, &h2, NULL), GSP_OK);
  assert_true(wait_workers(ex, 3));
  atomic_store(&h2.g.open, true);
  gsp_exec_destroy(ex);
  assert_int_equal(atomic_load(&h2.started), 3);
}

static void test_scaling_config(void **state) {
  (void)state;
  gsp_exec *ex = NULL;
  gsp_exec_config bad = {.min_workers = 5, .max_workers = 4};
  assert_int_equal(gsp_exec_create(&bad, &ex), GSP_EINVAL);
  gsp_exec_config big = {.max_workers = 5000};
  assert_int_equal(gsp_exec_create(&big, &ex), GSP_EINVAL);
  gsp_exec_config clamp = {.workers = 9, .min_workers = 2, .max_workers = 3};
  assert_int_equal(gsp_exec_create(&clamp, &ex), GSP_OK);
  assert_int_equal(gsp_exec_workers(ex), 3);
  gsp_exec_destroy(ex);
  gsp_exec_config low = {.workers = 1, .min_workers = 2, .max_workers = 3};
  assert_int_equal(gsp_exec_create(&low, &ex), GSP_OK);
  assert_int_equal(gsp_exec_workers(ex), 2);
  gsp_exec_destroy(ex);
}

/* ---- statistics ---- */

static void test_stats_and_metrics(void **state) {
  (void)state;
  gsp_metrics *m = NULL;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {.workers = 2, .metrics = m, .name = "t"};
  assert_int_equal(gsp_exec_create(&cfg, &ex), GSP_OK);
  atomic_int ran = 0;
  gsp_exec_group *g = NULL;
  assert_int_equal(gsp_exec_group_create(ex, &g), GSP_OK);
  for (int i = 0; i < 1000; i++) assert_int_equal(gsp_exec_group_spawn(g, add_one, &ran), GSP_OK);
  assert_int_equal(gsp_exec_group_wait(g), GSP_OK);
  gsp_exec_group_destroy(g);
  gsp_exec_stats st;
  assert_int_equal(gsp_exec_stats_get(ex, &st), GSP_OK);
  assert_int_equal(st.tasks_run, 1000);
  assert_true(st.tasks_stolen <= 1000);
  assert_int_equal(st.workers, 2);
  assert_int_equal(st.queued, 0);
  assert_int_equal(gsp_exec_stats_get(NULL, &st), GSP_EINVAL);
  gsp_exec_destroy(ex); /* workers exit: their shards fold into the registry */
  char *text = NULL;
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &text, NULL), GSP_OK);
  assert_non_null(strstr(text, "gsp_exec_tasks_total{pool=\"t\"} 1000\n"));
  assert_non_null(strstr(text, "gsp_exec_queue_wait_seconds_count{pool=\"t\"} 1000\n"));
  assert_non_null(strstr(text, "gsp_exec_task_run_seconds_count{pool=\"t\"} 1000\n"));
  assert_non_null(strstr(text, "gsp_exec_workers{pool=\"t\"} 2\n"));
  assert_non_null(strstr(text, "gsp_exec_steals_total{pool=\"t\"} "));
  gsp_free(text);
  gsp_metrics_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_map),
      cmocka_unit_test(test_map_nested_and_args),
      cmocka_unit_test(test_latency_first),
      cmocka_unit_test(test_cancel_shutdown),
      cmocka_unit_test(test_scaling_grows_and_shrinks),
      cmocka_unit_test(test_scaling_config),
      cmocka_unit_test(test_stats_and_metrics),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
