/*
 * test_exec_sched_fault.c - fault injection over the newer pool parts: a
 * scaling pool with a metrics registry, latency and throughput
 * submissions, a batch map and a cancel-mode shutdown, then an I/O
 * executor reading this test's own source file on the io_uring path and
 * the pread path and running a blocking job, failing the Nth
 * allocation for every N until a run completes without reaching N. Every
 * call must succeed or fail cleanly, and every byte must be freed.
 * One worker and waits after each submission keep the numbering of
 * allocations the same in every run (the scaler cannot grow the pool:
 * nothing waits long enough with a 10 s target).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "gsperf/exec.h"
#include "gsperf/metrics.h"

#include "../../support/fault_alloc.h"

static int nop(void *arg) {
  (void)arg;
  return 0;
}

static int item(void *user, size_t i, const void *in, void *out) {
  (void)user;
  (void)in;
  (void)out;
  return i == 3 ? GSP_EIO : 0;
}

static void io_life(bool no_uring) {
  gsp_io *io = NULL;
  gsp_io_config cfg = {.threads = 1, .no_uring = no_uring, .chunk_bytes = 1024};
  int rv = gsp_io_create(&cfg, &io);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  gsp_io_read req = {.path = __FILE__};
  gsp_exec_future *f = NULL;
  rv = gsp_io_read_file(io, &req, &f);
  ok_or_nomem(rv);
  if (rv == GSP_OK) {
    int r = 0;
    assert_int_equal(gsp_exec_future_wait(f, &r), GSP_OK);
    ok_or_nomem(r);
    if (r == GSP_OK) assert_true(req.len > 1000);
    gsp_free(req.data);
    gsp_exec_future_release(f);
  }
  rv = gsp_io_submit(io, nop, NULL, &f);
  ok_or_nomem(rv);
  if (rv == GSP_OK) {
    assert_int_equal(gsp_exec_future_wait(f, NULL), GSP_OK);
    gsp_exec_future_release(f);
  }
  gsp_io_destroy(io);
}

static void one_life(void *arg) {
  (void)arg;
  gsp_metrics *m = NULL;
  int rv = gsp_metrics_create(NULL, &m);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {
      .workers = 1, .max_workers = 2, .target_wait_us = 10000000, .metrics = m, .name = "f"};
  rv = gsp_exec_create(&cfg, &ex);
  ok_or_nomem(rv);
  if (rv != GSP_OK) goto out_metrics;
  for (int i = 0; i < 4; i++) {
    gsp_exec_future *f = NULL;
    rv = gsp_exec_submit_prio(ex, i % 2 ? GSP_EXEC_LATENCY : GSP_EXEC_THROUGHPUT, nop, NULL, &f);
    ok_or_nomem(rv);
    if (rv != GSP_OK) continue;
    assert_int_equal(gsp_exec_future_wait(f, NULL), GSP_OK);
    gsp_exec_future_release(f);
  }
  int st[8] = {0};
  gsp_exec_batch b = {.status = st};
  size_t nf = 0;
  assert_int_equal(gsp_exec_map(ex, 8, item, NULL, &b, &nf), GSP_EIO);
  assert_int_equal(nf, 1);
  gsp_exec_shutdown(ex, GSP_EXEC_CANCEL);
  io_life(false);
  io_life(true);
out_metrics:
  gsp_metrics_destroy(m);
}

static void test_every_allocation_fails_once(void **state) {
  (void)state;
  long failed = fault_each_allocation(one_life, NULL);
  print_message("failed each of %ld allocations in turn\n", failed);
  assert_true(failed > 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_allocation_fails_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
