/*
 * test_codegraph_plan.c - the parse stage's order (gsp__cg_plan_order):
 * which files move ahead, where they go, and that the result is always a
 * permutation that keeps the other files in their base order. Pure
 * function over sizes; nothing here measures time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cg_int.h"

#define KB ((uint64_t)1024)

/* perm is a permutation of [0, n). */
static void check_perm(const size_t *perm, size_t n) {
  unsigned char *seen = calloc(n, 1);
  assert_non_null(seen);
  for (size_t p = 0; p < n; p++) {
    assert_true(perm[p] < n);
    assert_int_equal(seen[perm[p]], 0);
    seen[perm[p]] = 1;
  }
  free(seen);
}

static void test_small_files_stay(void **state) {
  (void)state;
  uint64_t sizes[40];
  size_t perm[80];
  for (size_t i = 0; i < 40; i++) sizes[i] = 1 + i % 16 * KB; /* all <= 16 KiB */
  assert_int_equal(gsp__cg_plan_order(sizes, 40, 2, 4, perm), 0);
  for (size_t p = 0; p < 40; p++) assert_int_equal(perm[p], p);
}

static void test_large_file_last_goes_first(void **state) {
  (void)state;
  uint64_t sizes[20];
  size_t perm[40];
  for (size_t i = 0; i < 20; i++) sizes[i] = 4 * KB;
  sizes[19] = 100 * KB; /* last: nothing after it */
  assert_int_equal(gsp__cg_plan_order(sizes, 20, 2, 4, perm), 1);
  assert_int_equal(perm[0], 19);
  for (size_t p = 1; p < 20; p++) assert_int_equal(perm[p], p - 1);
}

static void test_large_file_early_stays(void **state) {
  (void)state;
  uint64_t sizes[100];
  size_t perm[200];
  for (size_t i = 0; i < 100; i++) sizes[i] = 8 * KB;
  sizes[3] = 150 * KB; /* 96 x 8 KiB = 768 KiB after it, over 2 x 2 x 150 KiB */
  assert_int_equal(gsp__cg_plan_order(sizes, 100, 2, 8, perm), 0);
  sizes[3] = 200 * KB; /* now 4 x 200 KiB is over the 768 KiB after it */
  assert_int_equal(gsp__cg_plan_order(sizes, 100, 2, 8, perm), 1);
  assert_int_equal(perm[0], 3);
}

/* Several moved: largest first, one every grain positions, the rest in
 * base order; a file of zero work (vouched for by the stat index) never
 * moves and adds nothing to the work after the others. */
static void test_moved_spread_largest_first(void **state) {
  (void)state;
  enum { N = 30, G = 4 };
  uint64_t sizes[N];
  size_t perm[2 * N];
  for (size_t i = 0; i < N; i++) sizes[i] = 2 * KB;
  sizes[25] = 40 * KB, sizes[27] = 90 * KB, sizes[29] = 60 * KB;
  sizes[28] = 0;
  assert_int_equal(gsp__cg_plan_order(sizes, N, 2, G, perm), 3);
  check_perm(perm, N);
  assert_int_equal(perm[0], 27);
  assert_int_equal(perm[G], 29);
  assert_int_equal(perm[2 * G], 25);
  size_t prev = 0;
  int first = 1;
  for (size_t p = 0; p < N; p++) {
    if (p == 0 || p == G || p == 2 * G) continue;
    assert_true(first || perm[p] > prev); /* base order kept */
    prev = perm[p], first = 0;
  }
}

/* More moved files than chunks: the rest follow once the others run out. */
static void test_all_large(void **state) {
  (void)state;
  uint64_t sizes[5] = {50 * KB, 70 * KB, 60 * KB, 80 * KB, 90 * KB};
  size_t perm[10];
  assert_int_equal(gsp__cg_plan_order(sizes, 5, 2, 16, perm), 5);
  size_t want[5] = {4, 3, 1, 2, 0}; /* largest first */
  for (size_t p = 0; p < 5; p++) assert_int_equal(perm[p], want[p]);
}

/* Random sizes: always a permutation; kept files in base order; every
 * moved file meets the rule against the kept bytes after it. */
static void test_random_property(void **state) {
  (void)state;
  srand(12345);
  for (int round = 0; round < 200; round++) {
    size_t n = 1 + (size_t)(rand() % 300), grain = 1 + (size_t)(rand() % 16);
    unsigned threads = 2 + (unsigned)(rand() % 3);
    uint64_t *sizes = malloc(n * sizeof *sizes);
    size_t *perm = malloc(2 * n * sizeof *perm);
    unsigned char *moved = calloc(n, 1);
    assert_true(sizes && perm && moved);
    for (size_t i = 0; i < n; i++)
      sizes[i] = rand() % 10 == 0 ? (uint64_t)(rand() % 400) * KB : (uint64_t)(rand() % 20) * KB;
    size_t nm = gsp__cg_plan_order(sizes, n, threads, grain, perm);
    check_perm(perm, n);
    uint64_t after = 0;
    size_t count = 0;
    for (size_t p = n; p-- > 0;) {
      int m = sizes[p] > 16 * KB && sizes[p] * 2 * threads > after;
      moved[p] = (unsigned char)m, count += (size_t)m;
      if (!m) after += sizes[p];
    }
    assert_int_equal(count, nm);
    size_t last_kept = 0, seen_moved = 0;
    int any = 0;
    for (size_t p = 0; p < n; p++) {
      if (moved[perm[p]]) {
        seen_moved++;
        continue;
      }
      assert_true(!any || perm[p] > last_kept);
      last_kept = perm[p], any = 1;
    }
    assert_int_equal(seen_moved, nm);
    free(sizes), free(perm), free(moved);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_files_stay),
      cmocka_unit_test(test_large_file_last_goes_first),
      cmocka_unit_test(test_large_file_early_stays),
      cmocka_unit_test(test_moved_spread_largest_first),
      cmocka_unit_test(test_all_large),
      cmocka_unit_test(test_random_property),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
