/*
 * test_codegraph_store_defer.c - the code graph's result puts into a
 * write-behind tier are deferred (gsp_tier_put_opts.defer, store.c):
 *
 *  - while the parse runs, no result reaches L3 (every parsed file's
 *    result waits in the queue: no wake-up and no transaction per
 *    result), and gets still find them (byte-identical files);
 *  - after gsp_cg_run and the caller's flush, L3 holds every result and
 *    the resolution, and nothing is pending;
 *  - the warm run after it answers every file from the store (nothing
 *    parsed, resolution cached) with a graph byte-identical to the cold
 *    run's and to a run without a store;
 *  - a cold run destroyed without a flush (gsp_cg_destroy, then
 *    gsp_tier_destroy) loses nothing: the next run is fully warm.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "cg_dump.h"
#include "cg_run.h"
#include "cg_scratch.h"

typedef struct probe {
  gsp_tier *tier;
  _Atomic uint64_t parse_hooks; /* PARSE steps that parsed (not cached) */
  _Atomic uint64_t l3_max;      /* most L3 entries seen at such a step */
  _Atomic uint64_t failures;    /* stats that could not be read */
} probe;

/* L3 entries now; counts a failure if the statistics cannot be read. */
static uint64_t l3_entries(probe *p) {
  gsp_tier_stats ts;
  if (gsp_tier_stats_get(p->tier, &ts) == GSP_OK) return ts.level[GSP_TIER_L3].entries;
  atomic_fetch_add(&p->failures, 1);
  return 0;
}

/* After a file's result was put (the hook follows the put). For the first
 * three parsed files the hook gives a writer that (wrongly) wrote each
 * put at once 50 ms to do so; a deferred put is never written meanwhile. */
static void on_stage(void *user, gsp_cg_stage s, uint64_t ns, int status, bool cached) {
  (void)ns, (void)status;
  probe *p = user;
  if (s != GSP_CG_STAGE_PARSE || cached) return;
  uint64_t nth = atomic_fetch_add(&p->parse_hooks, 1) + 1;
  uint64_t seen = l3_entries(p);
  for (int i = 0; nth <= 3 && seen == 0 && i < 25; i++) {
    nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
    seen = l3_entries(p);
  }
  uint64_t cur = atomic_load(&p->l3_max);
  while (seen > cur && !atomic_compare_exchange_weak(&p->l3_max, &cur, seen)) {
  }
}

typedef struct run_out {
  char *dump;
  const char *invariants; /* NULL when they hold */
  gsp_cg_stats st;
  probe pr;
  gsp_tier_stats after; /* the tier's statistics after the flush */
} run_out;

/* One run; cache NULL = no store. `flush`: flush before destroying (else
 * the graph is destroyed first, then the tier). */
static int run_once(const char *cache, bool flush, run_out *out) {
  memset(out, 0, sizeof *out);
  gsp_tier *tier = NULL;
  if (cache && (tier = cg_open_store(cache)) == NULL) return GSP_EIO;
  out->pr.tier = tier;
  gsp_integration *ig = NULL;
  gsp_cg *cg = NULL;
  int rv = cg_create_integrated(CG_FIXTURE_DIR, tier, tier ? on_stage : NULL, &out->pr, &ig, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (rv == GSP_OK) {
    out->dump = cg_dump(cg);
    out->invariants = cg_check_invariants(cg);
    gsp_cg_stats_get(cg, &out->st);
  }
  if (tier && flush) {
    if (rv == GSP_OK) rv = gsp_tier_flush(tier);
    if (rv == GSP_OK) rv = gsp_tier_stats_get(tier, &out->after);
  }
  gsp_cg_destroy(cg);
  gsp_integration_destroy(ig);
  gsp_tier_destroy(tier);
  return rv;
}

static void test_deferred_then_flushed(void **state) {
  (void)state;
  cg_scratch sc;
  cg_scratch_make(&sc, "cgdefer", NULL);
  const char *cache = sc.cache;
  run_out ref, cold, warm;
  assert_int_equal(run_once(NULL, false, &ref), GSP_OK);
  assert_int_equal(run_once(cache, true, &cold), GSP_OK);
  assert_true(cold.st.parsed > 3);
  assert_int_equal(atomic_load(&cold.pr.failures), 0);
  assert_int_equal(atomic_load(&cold.pr.parse_hooks), cold.st.parsed);
  assert_int_equal(atomic_load(&cold.pr.l3_max), 0); /* nothing written during the parse */
  assert_int_equal(cold.after.wb_pending, 0);
  /* every distinct result, and the resolution (one or more blobs) */
  assert_true(cold.after.level[GSP_TIER_L3].entries > cold.st.parsed);
  assert_null(cold.invariants);
  assert_string_equal(ref.dump, cold.dump);

  assert_int_equal(run_once(cache, true, &warm), GSP_OK);
  assert_int_equal(warm.st.parsed, 0);
  assert_int_equal(warm.st.cache_misses, 0);
  assert_true(warm.st.resolve_cached);
  assert_string_equal(ref.dump, warm.dump);
  free(ref.dump), free(cold.dump), free(warm.dump);
  cg_scratch_drop(&sc);
}

static void test_destroy_without_flush(void **state) {
  (void)state;
  cg_scratch sc;
  cg_scratch_make(&sc, "cgdefer", NULL);
  const char *cache = sc.cache;
  run_out cold, warm;
  assert_int_equal(run_once(cache, false, &cold), GSP_OK);
  assert_true(cold.st.parsed > 3);
  assert_int_equal(run_once(cache, true, &warm), GSP_OK);
  assert_int_equal(warm.st.parsed, 0);
  assert_int_equal(warm.st.cache_misses, 0);
  assert_string_equal(cold.dump, warm.dump);
  free(cold.dump), free(warm.dump);
  cg_scratch_drop(&sc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deferred_then_flushed),
      cmocka_unit_test(test_destroy_without_flush),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
