/*
 * test_integration.c - `gsperf analyze`'s engine path: the code graph run
 * through gsp_integration with a tier-backed result store in a cache
 * directory. A second store opened on the same directory (as a second
 * process would) answers every file and the resolution, and the graph is
 * the same byte for byte; a changed file is the only one parsed again and
 * only it and the files that depend on it are resolved again, the graph
 * equal to a run without a store; reads on the I/O executor give the same
 * graph as reads on the workers, and only files not in the page cache go
 * there; every stage is counted in the engine's metrics; allocation
 * failures fail cleanly, never crash or leak.
 */
#include <fcntl.h>
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
  assert_true(changed.st.resolve_incremental);
  assert_int_equal(changed.st.files_reresolved, 1);              /* util.c: nothing includes it */
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

/* Store `val` as the resolution of tree's layout (key: namespace byte 'G'
 * and the layout key, as store.c and resolve_cache.c make it). */
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
  gsp__cg_layout_key(cg, key + 1);
  gsp_cg_destroy(cg);
  char uri[128], err[256];
  snprintf(uri, sizeof uri, "lmdb:%s", cache);
  gsp_tier *t = NULL;
  assert_int_equal(gsp_tier_create(&(gsp_tier_config){.l3 = uri}, &t, err, sizeof err), GSP_OK);
  assert_int_equal(gsp_tier_put(t, key, sizeof key, val, len, NULL), GSP_OK);
  gsp_tier_destroy(t);
}

/* The stored layout (resolve_cache.c): header, one record per file, then
 * import targets (int32) and reference targets (8 bytes each). */
typedef struct {
  char magic[4];
  uint32_t version;
  uint64_t nfiles, nimps, nrefs;
} rv_hdr_t;
typedef struct {
  uint8_t hash[16];
  uint32_t nimps, nrefs, ndefs, has_res;
} rv_file_t;

/* A value in the format before sections (version 2) that matches tree
 * file for file, every target unresolved but the first import, which
 * points past the last file: refused by its version now. Damaged values
 * of the current format (targets out of range, wrong counts, a missing
 * section) are test_codegraph_rebind's test_damaged_manifest_not_used. */
static uint8_t *bad_value(const char *tree, size_t *len) {
  gsp_cg *cg = NULL;
  const char *incs[] = {"c"};
  assert_int_equal(
      gsp_cg_create(
          &(gsp_cg_config){
              .root = tree, .include_dirs = incs, .n_include_dirs = 1, .jobs = 1, .no_cache = true},
          &cg),
      GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  size_t nf = gsp_cg_nfiles(cg);
  rv_hdr_t h = {{'G', 'S', 'R', 'V'}, 2, nf, st.imports, st.refs};
  *len = sizeof h + nf * sizeof(rv_file_t) + h.nimps * 4 + h.nrefs * 8;
  uint8_t *v = calloc(1, *len);
  assert_non_null(v);
  memcpy(v, &h, sizeof h);
  rv_file_t *rec = (rv_file_t *)(v + sizeof h);
  for (size_t f = 0; f < nf; f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    memcpy(rec[f].hash, gsp_cg_file_hash(cg, f), 16);
    rec[f].has_res = r != NULL;
    rec[f].nimps = r ? (uint32_t)gsp_cg_result_nimports(r) : 0;
    rec[f].nrefs = r ? (uint32_t)gsp_cg_result_nrefs(r) : 0;
    rec[f].ndefs = r ? (uint32_t)gsp_cg_result_ndefs(r) : 0;
  }
  int32_t *imp = (int32_t *)(rec + nf);
  memset(imp, 0xff, h.nimps * 4); /* -1: unresolved */
  imp[0] = 1000;
  gsp_cg_destroy(cg);
  return v;
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
  assert_false(a.st.resolve_incremental);
  assert_int_equal(a.st.parsed, 0);
  assert_string_equal(a.dump, cold.dump);
  /* an older format: right length, counts and hashes, an import past the last file */
  size_t len = 0;
  uint8_t *v = bad_value(tree, &len);
  plant_resolution(tree, cache, v, len);
  free(v);
  assert_int_equal(run_once(tree, cache, false, &b), GSP_OK);
  assert_false(b.st.resolve_cached);
  assert_null(b.invariants);
  assert_string_equal(b.dump, cold.dump);
  run_out_free(&cold), run_out_free(&a), run_out_free(&b);
  remove_dir(dir);
}

/* 1 + the files that depend on rel transitively, in tree as it is now. */
static size_t reach_of(const char *tree, const char *rel) {
  gsp_cg *cg = NULL;
  const char *incs[] = {"c"};
  assert_int_equal(
      gsp_cg_create(
          &(gsp_cg_config){
              .root = tree, .include_dirs = incs, .n_include_dirs = 1, .jobs = 1, .no_cache = true},
          &cg),
      GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  long f = gsp_cg_file_find(cg, rel);
  assert_true(f >= 0);
  uint32_t *imp = NULL;
  size_t n = 0;
  assert_int_equal(gsp_cg_impact(cg, (size_t)f, &imp, &n), GSP_OK);
  gsp_free(imp);
  gsp_cg_destroy(cg);
  return n + 1;
}

/* Change rel (cmd run in the tree), re-analyze with the store: one file
 * parsed, the references of rel and its dependents bound again, the rest
 * reused, the graph equal to a run without any store. */
static void change_and_check(const char *tree, const char *cache, const char *rel, const char *cmd,
                             bool narrow) {
  char full[512];
  snprintf(full, sizeof full, "cd '%s' && %s", tree, cmd);
  assert_int_equal(system(full), 0);
  run_out inc = {0}, fresh = {0};
  assert_int_equal(run_once(tree, cache, false, &inc), GSP_OK);
  assert_int_equal(run_once(tree, NULL, false, &fresh), GSP_OK);
  assert_int_equal(inc.st.parsed, 1);
  assert_false(inc.st.resolve_cached);
  assert_true(inc.st.resolve_incremental);
  size_t want = reach_of(tree, rel);
  assert_true(want < fresh.st.files); /* some files are reused */
  assert_int_equal(inc.st.files_reresolved, want);
  assert_int_equal(fresh.st.files_reresolved, fresh.st.files - fresh.st.files_skipped);
  assert_null(inc.invariants);
  assert_string_equal(inc.dump, fresh.dump);
  assert_int_equal(inc.st.refs_resolved, fresh.st.refs_resolved);
  assert_int_equal(inc.st.imports_resolved, fresh.st.imports_resolved);
  /* the binding indexed only what the rebound files reach (narrow), or all */
  if (narrow)
    assert_true(inc.st.defs_indexed < fresh.st.defs_indexed);
  else
    assert_true(inc.st.defs_indexed <= fresh.st.defs_indexed);
  assert_true(inc.st.defs_indexed > 0);
  run_out_free(&inc), run_out_free(&fresh);
}

static void test_incremental_resolution(void **state) {
  (void)state;
  char dir[] = "/tmp/cgintXXXXXX", tree[64], cache[64];
  copy_fixture(dir);
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(cache, sizeof cache, "%s/cache", dir);
  run_out cold = {0}, warm = {0};
  assert_int_equal(run_once(tree, cache, false, &cold), GSP_OK);
  assert_int_equal(cold.st.files_reresolved, cold.st.files - cold.st.files_skipped);
  /* a leaf: only itself */
  change_and_check(tree, cache, "c/util.c",
                   "printf 'int util_more(void) { return util_add(1, 2); }\\n' >> c/util.c", true);
  /* a header many files include, its definitions renumbered */
  change_and_check(tree, cache, "c/util.h", "sed -i '1i int util_first(void);' c/util.h", false);
  /* a Python module others import and bind through */
  change_and_check(tree, cache, "py/pkg/helpers.py",
                   "sed -i '1i def early():\\n    pass' py/pkg/helpers.py", false);
  /* a module the package re-exports from gains a definition */
  change_and_check(tree, cache, "py/pkg/core.py",
                   "printf '\\nclass Late:\\n    pass\\n' >> py/pkg/core.py", false);
  assert_int_equal(run_once(tree, cache, false, &warm), GSP_OK);
  assert_true(warm.st.resolve_cached);
  assert_int_equal(warm.st.files_reresolved, 0);
  run_out_free(&cold), run_out_free(&warm);
  remove_dir(dir);
}

static unsigned narrowed;
static void narrow_to_nothing(uint8_t *want, size_t nfiles) {
  memset(want, 0, nfiles);
  narrowed++;
}

/* An incremental bind whose restricted index misses a file a lookup needs
 * (forced: the hook empties the set) starts again with every file: the
 * graph equals a run without any store. */
static void test_incremental_bind_restarts_whole(void **state) {
  (void)state;
  char dir[] = "/tmp/cgintXXXXXX", tree[64], cache[64], cmd[256];
  copy_fixture(dir);
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(cache, sizeof cache, "%s/cache", dir);
  run_out cold = {0}, inc = {0}, fresh = {0};
  assert_int_equal(run_once(tree, cache, false, &cold), GSP_OK);
  snprintf(cmd, sizeof cmd,
           "cd '%s' && printf 'int util_more(void) { return util_add(1, 2); }\\n' >> c/util.c",
           tree);
  assert_int_equal(system(cmd), 0);
  gsp__cg_bind_want_hook = narrow_to_nothing;
  narrowed = 0;
  assert_int_equal(run_once(tree, cache, false, &inc), GSP_OK);
  gsp__cg_bind_want_hook = NULL;
  assert_int_equal(run_once(tree, NULL, false, &fresh), GSP_OK);
  assert_int_equal(narrowed, 1);
  assert_true(inc.st.resolve_incremental);
  assert_int_equal(inc.st.defs_indexed, fresh.st.defs_indexed); /* the second bind: all */
  assert_string_equal(inc.dump, fresh.dump);
  assert_int_equal(inc.st.refs_resolved, fresh.st.refs_resolved);
  run_out_free(&cold), run_out_free(&inc), run_out_free(&fresh);
  remove_dir(dir);
}

/* Files not in the page cache are read on the I/O executor; the graph is
 * the same as with reads on the workers. */
static void test_uncached_reads_handed_off(void **state) {
  (void)state;
  char dir[] = "/tmp/cgintXXXXXX", tree[64], cmd[256];
  copy_fixture(dir);
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(cmd, sizeof cmd, "sync '%s'/c/*.c '%s'/py/*.py", tree, tree);
  assert_int_equal(system(cmd), 0);
  static const char *const files[] = {"c/main.c", "c/util.c", "py/app.py", "py/bad.py"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tree, files[i]);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);
  }
  run_out a = {0}, b = {0}, c = {0};
  assert_int_equal(run_once(tree, NULL, false, &a), GSP_OK);
  assert_true(a.st.reads_async >= 1);
  assert_int_equal(run_once(tree, NULL, false, &b), GSP_OK); /* now cached */
  assert_int_equal(b.st.reads_async, 0);
  assert_int_equal(run_once(tree, NULL, true, &c), GSP_OK);
  assert_int_equal(c.st.reads_async, 0);
  assert_string_equal(a.dump, c.dump);
  assert_string_equal(b.dump, c.dump);
  run_out_free(&a), run_out_free(&b), run_out_free(&c);
  remove_dir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_persistent_store),
      cmocka_unit_test(test_io_reads_same_graph),
      cmocka_unit_test(test_incremental_resolution),
      cmocka_unit_test(test_incremental_bind_restarts_whole),
      cmocka_unit_test(test_uncached_reads_handed_off),
      cmocka_unit_test(test_damaged_resolution_ignored),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
