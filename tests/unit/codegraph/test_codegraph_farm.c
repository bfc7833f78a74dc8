/*
 * test_codegraph_farm.c - the parse stage handed to a farm
 * (gsp_cg_config.farm), as `gsperf analyze --distributed` does over MPI:
 * a farm that parses each file with gsp_cg_parse_file and passes the
 * result through its serialized form yields the same graph (hashes
 * included) and the same database bytes as the local run; a file the farm
 * leaves without a result counts as skipped; a failing farm fails the run
 * and frees what it produced. gsp_cg_parse_file's own errors.
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

#include "cg_dump.h"
#include "cg_run.h"
#include "cg_scratch.h"
#include "gsperf/codegraph.h"

typedef struct farm_ctx {
  unsigned calls;
  size_t n;
  const char *skip; /* a path left without a result, or NULL */
  int fail;         /* returned after the results are set, or 0 */
} farm_ctx;

/* Parse every file here, through the bytes, as a remote rank's would come. */
static int test_farm(void *user, const char *root, gsp_cg_farm_file *ff, size_t n) {
  farm_ctx *fc = user;
  fc->calls++, fc->n = n;
  cg_farm_how how = {.skip = fc->skip, .macros = true, .through_bytes = true};
  assert_int_equal(cg_farm_parse(root, ff, n, &how), GSP_OK);
  return fc->fail;
}

static int analyze(farm_ctx *fc, unsigned jobs, gsp_cg **out) {
  const char *incs[] = {"c"};
  gsp_cg_config cfg = {.root = CG_FIXTURE_DIR,
                       .jobs = jobs,
                       .include_dirs = incs,
                       .n_include_dirs = 1,
                       .farm = fc ? test_farm : NULL,
                       .farm_user = fc};
  assert_int_equal(gsp_cg_create(&cfg, out), GSP_OK);
  return gsp_cg_run(*out);
}

static void test_farm_equals_local(void **state) {
  (void)state;
  gsp_cg *a = NULL, *b = NULL;
  farm_ctx fc = {0};
  assert_int_equal(analyze(NULL, 2, &a), GSP_OK);
  assert_int_equal(analyze(&fc, 2, &b), GSP_OK);
  assert_int_equal(fc.calls, 1);
  assert_int_equal(fc.n, gsp_cg_nfiles(a));
  char *da = cg_dump(a), *db = cg_dump(b);
  assert_string_equal(da, db);
  free(da), free(db);
  assert_null(cg_check_invariants(b));
  gsp_cg_stats sa, sb;
  gsp_cg_stats_get(a, &sa), gsp_cg_stats_get(b, &sb);
  assert_int_equal(sb.parsed, sa.files);
  assert_int_equal(sb.files_skipped, 0);
  assert_int_equal(sb.defs, sa.defs);
  assert_int_equal(sb.symbol_edges, sa.symbol_edges);

  cg_scratch sc;
  cg_scratch_make(&sc, "cgfarm", NULL);
  char pa[128], pb[128];
  snprintf(pa, sizeof pa, "%s/a.db", sc.dir), snprintf(pb, sizeof pb, "%s/b.db", sc.dir);
  assert_int_equal(gsp_cg_write_db(a, pa, NULL), GSP_OK);
  assert_int_equal(gsp_cg_write_db(b, pb, NULL), GSP_OK);
  cg_assert_same_file(pa, pb);
  cg_scratch_drop(&sc);
  gsp_cg_destroy(a), gsp_cg_destroy(b);
}

static void test_farm_skip(void **state) {
  (void)state;
  gsp_cg *cg = NULL;
  farm_ctx fc = {.skip = "c/util.h"};
  assert_int_equal(analyze(&fc, 1, &cg), GSP_OK);
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  assert_int_equal(st.files_skipped, 1);
  assert_int_equal(st.parsed, st.files - 1);
  long f = gsp_cg_file_find(cg, "c/util.h");
  assert_true(f >= 0);
  assert_null(gsp_cg_file_result(cg, (size_t)f));
  /* as in a local run, a skipped file is still a node its importers resolve to */
  long b = gsp_cg_file_find(cg, "c/broken.c");
  assert_true(b >= 0);
  assert_int_equal(gsp_cg_import_target(cg, (size_t)b, 0), f);
  gsp_cg_destroy(cg);
}

static void test_farm_fails(void **state) {
  (void)state;
  gsp_cg *cg = NULL;
  farm_ctx fc = {.fail = GSP_ESYS};
  assert_int_equal(analyze(&fc, 2, &cg), GSP_ESYS);
  assert_non_null(strstr(gsp_cg_errmsg(cg), "farm"));
  gsp_cg_destroy(cg); /* the results the farm set are freed (ASan checks) */
}

static void test_parse_file_errors(void **state) {
  (void)state;
  gsp_cg_parser *p = NULL;
  assert_int_equal(gsp_cg_parser_create(&p), GSP_OK);
  uint8_t h[16];
  gsp_cg_result *r = NULL;
  assert_int_equal(gsp_cg_parse_file(p, "/nonexistent/x.c", GSP_CG_LANG_C, 0, h, &r), GSP_EIO);
  assert_null(r);
  assert_int_equal(gsp_cg_parse_file(p, CG_FIXTURE_DIR, GSP_CG_LANG_C, 0, h, &r), GSP_EIO);
  assert_int_equal(gsp_cg_parse_file(p, CG_FIXTURE_DIR "/c/util.h", GSP_CG_LANG_C, 4, h, &r),
                   GSP_EIO); /* larger than max_bytes */
  assert_int_equal(gsp_cg_parse_file(NULL, CG_FIXTURE_DIR "/c/util.h", GSP_CG_LANG_C, 0, h, &r),
                   GSP_EINVAL);
  assert_int_equal(gsp_cg_parse_file(p, CG_FIXTURE_DIR "/c/util.h", GSP_CG_LANG_NONE, 0, h, &r),
                   GSP_EINVAL);
  assert_null(r);
  assert_int_equal(gsp_cg_parse_file(p, CG_FIXTURE_DIR "/c/util.h", GSP_CG_LANG_C, 0, h, &r),
                   GSP_OK);
  assert_true(gsp_cg_result_ndefs(r) > 0);
  gsp_cg_result_free(r);
  r = NULL;
  const char *bad[] = {"API", NULL};
  assert_int_equal(
      gsp_cg_parse_file_with(p, CG_FIXTURE_DIR "/c/util.h", GSP_CG_LANG_C, 0, NULL, 1, h, &r),
      GSP_EINVAL);
  assert_int_equal(
      gsp_cg_parse_file_with(p, CG_FIXTURE_DIR "/c/util.h", GSP_CG_LANG_C, 0, bad, 2, h, &r),
      GSP_EINVAL);
  assert_null(r);
  gsp_cg_parser_destroy(p);
}

/* A name handed with a file is blanked as an annotation macro: the
 * declaration it prefixes is a definition again; hash stays the content's. */
static void test_parse_file_with_macros(void **state) {
  (void)state;
  char dir[] = "/tmp/gsp_farm_with.XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/use.c", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("int g(int x) API;\nint f(void) API { return 1; }\n", f);
  fclose(f);
  gsp_cg_parser *p = NULL;
  assert_int_equal(gsp_cg_parser_create(&p), GSP_OK);
  const char *names[] = {"API"};
  uint8_t h0[16], h1[16];
  gsp_cg_result *r0 = NULL, *r1 = NULL;
  assert_int_equal(gsp_cg_parse_file(p, path, GSP_CG_LANG_C, 0, h0, &r0), GSP_OK);
  assert_int_equal(gsp_cg_parse_file_with(p, path, GSP_CG_LANG_C, 0, names, 1, h1, &r1), GSP_OK);
  assert_memory_equal(h0, h1, 16);
  assert_true(gsp_cg_result_has_error(r0));
  assert_false(gsp_cg_result_has_error(r1));
  gsp_cg_result_free(r0), gsp_cg_result_free(r1);
  gsp_cg_parser_destroy(p);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_farm_equals_local),
      cmocka_unit_test(test_farm_skip),
      cmocka_unit_test(test_farm_fails),
      cmocka_unit_test(test_parse_file_errors),
      cmocka_unit_test(test_parse_file_with_macros),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
