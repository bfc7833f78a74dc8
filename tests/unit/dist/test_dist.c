/*
 * test_dist.c - gsp_dist without mpirun (the embedded default): the
 * registry (duplicates, bad names), maps on the pool with results in
 * submission order, retries in place up to max_attempts, the lowest
 * failing index's status, unknown names, bad arguments, a caller's pool,
 * and every allocation failing in turn (fault_alloc.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/dist.h"

#include "../../support/fault_alloc.h"

#define N 200

static atomic_int g_runs[N];

/* in: uint32 x; out: uint64 x*x. Input x fails its first (x % 4) runs. */
static int sq_flaky(void *user, const void *in, size_t len, void **out, size_t *out_len) {
  (void)user;
  uint32_t x;
  assert_int_equal(len, sizeof(x));
  memcpy(&x, in, sizeof(x));
  int run = atomic_fetch_add(&g_runs[x], 1) + 1;
  if (run <= (int)(x % 4)) return GSP_EIO - (int)(x % 4);
  uint64_t *o = gsp_malloc(sizeof(*o));
  if (o == NULL) return GSP_ENOMEM;
  *o = (uint64_t)x * x;
  *out = o;
  *out_len = sizeof(*o);
  return 0;
}

static void inputs(uint32_t *x, gsp_dist_input *in) {
  for (uint32_t i = 0; i < N; i++) {
    x[i] = i;
    in[i] = (gsp_dist_input){&x[i], sizeof(x[i])};
    atomic_store(&g_runs[i], 0);
  }
}

static void test_local_map(void **state) {
  (void)state;
  gsp_dist *d = NULL;
  gsp_dist_config cfg = {.mode = GSP_DIST_AUTO}; /* no mpirun here: local */
  assert_int_equal(gsp_dist_create(&cfg, &d), GSP_OK);
  assert_false(gsp_dist_uses_mpi(d));
  assert_int_equal(gsp_dist_size(d), 1);
  assert_int_equal(gsp_dist_rank(d), 0);
  assert_true(gsp_dist_is_master(d));
  assert_int_equal(gsp_dist_register(d, "sq", sq_flaky, NULL), GSP_OK);
  assert_int_equal(gsp_dist_register(d, "sq", sq_flaky, NULL), GSP_EEXIST);
  static uint32_t x[N];
  static gsp_dist_input in[N];
  static gsp_dist_result res[N];
  inputs(x, in);
  /* default max_attempts 3: inputs with x % 4 == 3 fail 3 times and stay failed */
  assert_int_equal(gsp_dist_map(d, "sq", N, in, res), GSP_EIO - 3);
  for (uint32_t i = 0; i < N; i++) {
    assert_int_equal(res[i].rank, 0);
    if (i % 4 == 3) {
      assert_int_equal(res[i].status, GSP_EIO - 3);
      assert_int_equal(res[i].attempts, 3);
      assert_null(res[i].data);
      continue;
    }
    assert_int_equal(res[i].status, 0);
    assert_int_equal(res[i].attempts, i % 4 + 1);
    assert_int_equal(res[i].len, sizeof(uint64_t));
    assert_true(*(uint64_t *)res[i].data == (uint64_t)i * i);
  }
  gsp_dist_results_free(res, N);
  assert_null(res[0].data);
  assert_int_equal(gsp_dist_map(d, "nope", N, in, res), GSP_ENOENT);
  assert_int_equal(gsp_dist_map(d, "sq", 0, NULL, NULL), GSP_OK);
  gsp_dist_destroy(d);
}

static void test_caller_pool_and_attempts(void **state) {
  (void)state;
  gsp_exec *ex = NULL;
  gsp_exec_config ec = {.workers = 2};
  assert_int_equal(gsp_exec_create(&ec, &ex), GSP_OK);
  gsp_dist *d = NULL;
  gsp_dist_config cfg = {.mode = GSP_DIST_LOCAL, .exec = ex, .max_attempts = 4};
  assert_int_equal(gsp_dist_create(&cfg, &d), GSP_OK);
  assert_int_equal(gsp_dist_register(d, "sq", sq_flaky, NULL), GSP_OK);
  static uint32_t x[N];
  static gsp_dist_input in[N];
  static gsp_dist_result res[N];
  inputs(x, in);
  assert_int_equal(gsp_dist_map(d, "sq", N, in, res), GSP_OK); /* 4 runs are enough */
  for (uint32_t i = 0; i < N; i++) assert_int_equal(res[i].attempts, i % 4 + 1);
  gsp_dist_results_free(res, N);
  gsp_dist_destroy(d);
  gsp_exec_destroy(ex); /* the caller's pool outlives the dist */
}

static void test_bad_arguments(void **state) {
  (void)state;
  gsp_dist *d = NULL;
  assert_int_equal(gsp_dist_create(NULL, NULL), GSP_EINVAL);
  gsp_dist_config bad = {.mode = (gsp_dist_mode)9};
  assert_int_equal(gsp_dist_create(&bad, &d), GSP_EINVAL);
  assert_int_equal(gsp_dist_create(NULL, &d), GSP_OK);
  char longname[80];
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  assert_int_equal(gsp_dist_register(d, longname, sq_flaky, NULL), GSP_EINVAL);
  assert_int_equal(gsp_dist_register(d, "", sq_flaky, NULL), GSP_EINVAL);
  assert_int_equal(gsp_dist_register(d, "x", NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_dist_register(NULL, "x", sq_flaky, NULL), GSP_EINVAL);
  for (int i = 0; i < 20; i++) { /* grows the registry */
    char name[16];
    snprintf(name, sizeof(name), "f%d", i);
    assert_int_equal(gsp_dist_register(d, name, sq_flaky, NULL), GSP_OK);
  }
  assert_int_equal(gsp_dist_map(d, "f3", 5, NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_dist_map(d, NULL, 0, NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_dist_map(NULL, "f3", 0, NULL, NULL), GSP_EINVAL);
  gsp_dist_results_free(NULL, 3);
  gsp_dist_destroy(d);
  gsp_dist_destroy(NULL);
}

static void one_life(void *arg) {
  (void)arg;
  gsp_dist *d = NULL;
  gsp_dist_config cfg = {.mode = GSP_DIST_LOCAL, .max_attempts = 4};
  int rv = gsp_dist_create(&cfg, &d);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  rv = gsp_dist_register(d, "sq", sq_flaky, NULL);
  ok_or_nomem(rv);
  static uint32_t x[N];
  static gsp_dist_input in[N];
  static gsp_dist_result res[N];
  inputs(x, in);
  if (rv == GSP_OK) {
    rv = gsp_dist_map(d, "sq", 16, in, res);
    ok_or_nomem(rv);
    gsp_dist_results_free(res, 16);
  }
  gsp_dist_destroy(d);
}

static void test_every_allocation_fails_once(void **state) {
  (void)state;
  long failed = fault_each_allocation(one_life, NULL);
  print_message("failed each of %ld allocations in turn\n", failed);
  assert_true(failed > 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_local_map),
      cmocka_unit_test(test_caller_pool_and_attempts),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_every_allocation_fails_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
