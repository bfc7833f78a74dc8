/*
 * test_integration.c - `gsperf analyze`'s engine path: the code graph run
 * through gsp_integration with a tier-backed result store in a cache
 * directory. A second store opened on the same directory (as a second
 * process would) answers every file and the resolution, and the graph is
 * the same byte for byte; a changed file is the only one parsed again and
 * the resolution is recomputed; reads on the I/O executor give the same
 * graph as reads on the workers; every stage is counted in the engine's
 * metrics; allocation failures fail cleanly, never crash or leak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../../src/codegraph/cg_int.h" /* gsp__cg_inputs_key, for the damaged-entry test */
#include "../codegraph/cg_dump.h"
#include "gsperf/integration.h"

typedef struct run_out {
  char *dump;
  gsp_cg_stats st;
  gsp_opt_func_stats stage[GSP_CG_STAGES];
  char *metrics;          /* Prometheus text of the engine's registry */
  const char *invariants; /* NULL when they hold */
} run_out;

static void run_out_free(run_out *r) {
  free(r->dump);
  gsp_free(r->metrics);
}

/* Analyze root through a fresh engine and (unless cache_dir is NULL) a
 * fresh tier on cache_dir, as one `gsperf analyze` process would. */
static int run_once(const char *root, const char *cache_dir, bool no_io, run_out *out) {
  gsp_tier *tier = NULL;
  char uri[512], err[512] = "";
  if (cache_dir) {
    snprintf(uri, sizeof uri, "lmdb:%s", cache_dir);
    gsp_tier_config tc = {.l3 = uri,
                          .write_mode = GSP_TIER_WRITE_BACK,
                          .durability = GSP_TIER_NONE,
                          .no_promote = true};
    int rv = gsp_tier_create(&tc, &tier, err, sizeof err);
    if (rv != GSP_OK) return rv;
  }
  gsp_integration *ig = NULL;
  gsp_opt_config ec = {.max_workers = 1, .io_workers = 2};
  int rv = gsp_integration_create(
      &(gsp_integration_config){.engine_cfg = &ec, .store = tier, .no_io = no_io}, &ig, err,
      sizeof err);
  gsp_cg *cg = NULL;
  const char *incs[] = {"c"};
  gsp_cg_config cfg = {.root = root, .include_dirs = incs, .n_include_dirs = 1};
  if (rv == GSP_OK) {
    gsp_integration_apply(ig, &cfg);
    rv = gsp_cg_create(&cfg, &cg);
  }
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (rv == GSP_OK) {
    gsp_integration_sync(ig);
    out->dump = cg_dump(cg);
    out->invariants = cg_check_invariants(cg);
    gsp_cg_stats_get(cg, &out->st);
    for (int s = 0; s < GSP_CG_STAGES; s++)
      gsp_integration_stage_stats(ig, (gsp_cg_stage)s, &out->stage[s]);
    rv = gsp_metrics_render(gsp_opt_metrics(gsp_integration_engine(ig)), GSP_METRICS_PROMETHEUS,
                            &out->metrics, NULL);
  }
  gsp_cg_destroy(cg);
  gsp_integration_destroy(ig);
  gsp_tier_destroy(tier);
  return rv;
}

static void copy_fixture(char *dir) {
  char cmd[512];
  assert_non_null(mkdtemp(dir));
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/tree' && cp -R '%s/.' '%s/tree'", dir, CG_FIXTURE_DIR,
           dir);
  assert_int_equal(system(cmd), 0);
}

static void remove_dir(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_persistent_store(void **state) {
  (void)state;
  char dir[] = "/tmp/cgintXXXXXX", tree[64], cache[64], cmd[256];
  copy_fixture(dir);
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(cache, sizeof cache, "%s/cache", dir);
  run_out cold = {0}, warm = {0}, changed = {0}, fresh = {0};
  assert_int_equal(run_once(tree, cache, false, &cold), GSP_OK);
  assert_int_equal(cold.st.parsed, 17);
  assert_false(cold.st.resolve_cached);
  assert_null(cold.invariants);
  assert_int_equal(run_once(tree, cache, false, &warm), GSP_OK);
  assert_int_equal(warm.st.parsed, 0);
  assert_int_equal(warm.st.cache_hits, 17);
  assert_true(warm.st.resolve_cached);
  assert_null(warm.invariants);
  assert_string_equal(cold.dump, warm.dump);
  /* the stages, as the engine counted them */
  assert_int_equal(warm.stage[GSP_CG_STAGE_PARSE].calls, 17);
  assert_int_equal(warm.stage[GSP_CG_STAGE_PARSE].cache_hits, 17);
  assert_int_equal(warm.stage[GSP_CG_STAGE_READ].calls, 17);
  assert_int_equal(warm.stage[GSP_CG_STAGE_TYPES].cache_hits, 1);
  assert_int_equal(cold.stage[GSP_CG_STAGE_TYPES].cache_misses, 1);
  assert_int_equal(cold.stage[GSP_CG_STAGE_PARSE].cache_misses, 17);
  assert_non_null(
      strstr(warm.metrics, "gsperf_function_calls_total{function=\"optimize_parsing\"} 17"));
  assert_non_null(strstr(warm.metrics, "gsperf_analyze_cache_hit_ratio{level=\"l3\"} 1"));
  assert_non_null(strstr(warm.metrics,
                         "gsperf_function_duration_seconds_count{function=\"optimize_graph\"} 1"));
  /* one file changes: it alone is parsed; the resolution is recomputed */
  snprintf(cmd, sizeof cmd,
           "printf 'int util_more(void) { return util_add(1, 2); }\\n' >> %s/c/util.c", tree);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(run_once(tree, cache, false, &changed), GSP_OK);
  assert_int_equal(changed.st.parsed, 1);
  assert_int_equal(changed.st.cache_hits, 16);
  assert_false(changed.st.resolve_cached);
  assert_int_equal(run_once(tree, NULL, false, &fresh), GSP_OK); /* no cache at all */
  assert_int_equal(fresh.st.parsed, 17);
  assert_string_equal(changed.dump, fresh.dump);
  run_out_free(&cold), run_out_free(&warm), run_out_free(&changed), run_out_free(&fresh);
  remove_dir(dir);
}

static void test_io_reads_same_graph(void **state) {
  (void)state;
  run_out a = {0}, b = {0};
  assert_int_equal(run_once(CG_FIXTURE_DIR, NULL, false, &a), GSP_OK);
  assert_int_equal(run_once(CG_FIXTURE_DIR, NULL, true, &b), GSP_OK);
  assert_string_equal(a.dump, b.dump);
  assert_int_equal(a.stage[GSP_CG_STAGE_READ].calls, 17);
  assert_int_equal(a.stage[GSP_CG_STAGE_READ].errors, 0);
  assert_int_equal(a.st.parsed, 17);
  run_out_free(&a), run_out_free(&b);
}

static void test_errors(void **state) {
  (void)state;
  gsp_integration *ig = NULL;
  assert_int_equal(gsp_integration_create(NULL, NULL, NULL, 0), GSP_EINVAL);
  gsp_opt_config bad = {.batch_size = 1u << 30};
  char err[256] = "";
  assert_int_equal(
      gsp_integration_create(&(gsp_integration_config){.engine_cfg = &bad}, &ig, err, sizeof err),
      GSP_EINVAL);
  assert_null(ig);
  assert_non_null(strstr(err, "batch_size"));
  /* two handles on one engine: the stage names are taken */
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(&(gsp_opt_config){.max_workers = 1}, &e), GSP_OK);
  gsp_integration *a = NULL, *b = NULL;
  assert_int_equal(gsp_integration_create(&(gsp_integration_config){.engine = e}, &a, NULL, 0),
                   GSP_OK);
  assert_int_equal(
      gsp_integration_create(&(gsp_integration_config){.engine = e}, &b, err, sizeof err),
      GSP_EEXIST);
  assert_non_null(strstr(err, "optimize_file_ops"));
  assert_ptr_equal(gsp_integration_engine(a), e);
  assert_string_equal(gsp_integration_stage_function(GSP_CG_STAGE_TYPES), "optimize_types");
  assert_null(gsp_integration_stage_function(GSP_CG_STAGES));
  gsp_integration_destroy(a);
  gsp_integration_destroy(NULL);
  gsp_opt_engine_destroy(e);
}

/* Store `val` as the resolution of tree's present inputs (key: namespace
 * byte 'G' and the inputs key, as store.c and resolve_cache.c make it). */
static void plant_resolution(const char *tree, const char *cache, const void *val, size_t len) {
  gsp_cg *cg = NULL;
  const char *incs[] = {"c"};
  assert_int_equal(
      gsp_cg_create(
          &(gsp_cg_config){
              .root = tree, .include_dirs = incs, .n_include_dirs = 1, .jobs = 1, .no_cache = true},
          &cg),
      GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  uint8_t key[17] = {'G'};
  gsp__cg_inputs_key(cg, key + 1);
  gsp_cg_destroy(cg);
  char uri[128], err[256];
  snprintf(uri, sizeof uri, "lmdb:%s", cache);
  gsp_tier *t = NULL;
  assert_int_equal(gsp_tier_create(&(gsp_tier_config){.l3 = uri}, &t, err, sizeof err), GSP_OK);
  assert_int_equal(gsp_tier_put(t, key, sizeof key, val, len, NULL), GSP_OK);
  gsp_tier_destroy(t);
}

/* A stored resolution that does not fit the tree is a miss, never used. */
static void test_damaged_resolution_ignored(void **state) {
  (void)state;
  char dir[] = "/tmp/cgintXXXXXX", tree[64], cache[64];
  copy_fixture(dir);
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(cache, sizeof cache, "%s/cache", dir);
  run_out cold = {0}, a = {0}, b = {0};
  assert_int_equal(run_once(tree, cache, false, &cold), GSP_OK);
  /* too short */
  plant_resolution(tree, cache, "GSRV", 4);
  assert_int_equal(run_once(tree, cache, false, &a), GSP_OK);
  assert_false(a.st.resolve_cached);
  assert_int_equal(a.st.parsed, 0);
  assert_string_equal(a.dump, cold.dump);
  /* the right length and counts, an import pointing past the last file */
  struct {
    char magic[4];
    uint32_t version;
    uint64_t nfiles, nimps, nrefs;
  } h = {{'G', 'S', 'R', 'V'}, 1, 17, cold.st.imports, cold.st.refs};
  size_t len = sizeof h + h.nimps * 4 + h.nrefs * 8;
  uint8_t *v = calloc(1, len);
  assert_non_null(v);
  memcpy(v, &h, sizeof h);
  int32_t bad = 1000;
  memcpy(v + sizeof h, &bad, sizeof bad);
  plant_resolution(tree, cache, v, len);
  free(v);
  assert_int_equal(run_once(tree, cache, false, &b), GSP_OK);
  assert_false(b.st.resolve_cached);
  assert_null(b.invariants);
  assert_string_equal(b.dump, cold.dump);
  run_out_free(&cold), run_out_free(&a), run_out_free(&b);
  remove_dir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_persistent_store),
      cmocka_unit_test(test_io_reads_same_graph),
      cmocka_unit_test(test_damaged_resolution_ignored),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
