/*
 * test_codegraph_fault.c - the code graph under allocation failure: the
 * Nth allocation fails, for N = 1, 2, ... until a run no longer reaches
 * the failure. Every call must then either succeed or fail with
 * GSP_ENOMEM, and once everything is destroyed nothing allocated through
 * the gsperf hooks may remain (tree-sitter's and SQLite's own allocations
 * do not go through the hooks). Covers parsing and extraction, loading a
 * serialized result, and a whole analysis of the fixture (walk, parse on
 * the pool, resolution, graph) plus the database write; the same for the
 * other languages (C macro pre-pass, Python variable reads, TypeScript) and
 * fixture_lang/, and for fixture_lang2/ (Python attributes and bases,
 * tsconfig files with comments, package.json patterns).
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

#include "gsperf/codegraph.h"

#include "../../support/fault_alloc.h"

static const char py_src[] =
    "import a.b as c\nfrom .x import y\nclass K(B):\n"
    "    def f(self, v: int):\n        return self.g(y(v))\n";

static int parse_once(void) {
  gsp_cg_parser *p = NULL;
  gsp_cg_result *r = NULL, *back = NULL;
  int rv = gsp_cg_parser_create(&p);
  if (rv == GSP_OK) rv = gsp_cg_parse(p, GSP_CG_LANG_PYTHON, py_src, sizeof py_src - 1, &r);
  if (rv == GSP_OK) {
    size_t len;
    const void *b = gsp_cg_result_bytes(r, &len);
    rv = gsp_cg_result_load(b, len, &back);
  }
  if (rv == GSP_OK) assert_int_equal(gsp_cg_result_ndefs(back), 2);
  gsp_cg_result_free(back);
  gsp_cg_result_free(r);
  gsp_cg_parser_destroy(p);
  return rv;
}

/* C through the macro pre-pass (its tables, a file-local #define, the
 * blanked copy), Python with variable reads, TypeScript. */
static const char c_src[] =
    "#define API\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n"
    "API int f (int) __THROW __nonnull ((1));\n";
static const char py_reads_src[] = "from m import A\nB = 1\ndef f(x):\n    return A + B + x\n";
static const char ts_src[] = "import {a} from './a';\nexport class C { m(): T { return a(); } }\n";

static int parse_langs_once(void) {
  static const struct {
    gsp_cg_lang lang;
    const char *src;
    size_t nrefs;
  } cases[] = {{GSP_CG_LANG_C, c_src, 0},
               {GSP_CG_LANG_PYTHON, py_reads_src, 2},
               {GSP_CG_LANG_TS, ts_src, 2}};
  gsp_cg_parser *p = NULL;
  int rv = gsp_cg_parser_create(&p);
  for (size_t i = 0; rv == GSP_OK && i < sizeof cases / sizeof *cases; i++) {
    gsp_cg_result *r = NULL;
    rv = gsp_cg_parse(p, cases[i].lang, cases[i].src, strlen(cases[i].src), &r);
    if (rv == GSP_OK) {
      assert_false(gsp_cg_result_has_error(r));
      assert_int_equal(gsp_cg_result_nrefs(r), cases[i].nrefs);
    }
    gsp_cg_result_free(r);
  }
  gsp_cg_parser_destroy(p);
  return rv;
}

static int analyze_lang_once(void) {
  gsp_cg *cg = NULL;
  int rv = gsp_cg_create(&(gsp_cg_config){.root = CG_FIXTURE_LANG_DIR, .jobs = 2}, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (rv == GSP_OK) {
    gsp_cg_stats st;
    gsp_cg_stats_get(cg, &st);
    assert_int_equal(st.files, 20);
    assert_int_equal(st.file_edges, 23);
  }
  gsp_cg_destroy(cg);
  return rv;
}

/* Python attributes, tsconfig (comments copied out), package patterns. */
static int analyze_lang2_once(void) {
  gsp_cg *cg = NULL;
  int rv = gsp_cg_create(&(gsp_cg_config){.root = CG_FIXTURE_LANG2_DIR, .jobs = 2}, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (rv == GSP_OK) {
    gsp_cg_stats st;
    gsp_cg_stats_get(cg, &st);
    assert_int_equal(st.files, 18);
    assert_int_equal(st.file_edges, 14);
    assert_int_equal(st.refs_resolved, 24);
  }
  gsp_cg_destroy(cg);
  return rv;
}

static int analyze_once(const char *db) {
  gsp_cg *cg = NULL;
  int rv = gsp_cg_create(&(gsp_cg_config){.root = CG_FIXTURE_DIR, .jobs = 2}, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (rv == GSP_OK) rv = gsp_cg_write_db(cg, db, NULL);
  if (rv == GSP_OK) {
    gsp_cg_stats st;
    gsp_cg_stats_get(cg, &st);
    assert_int_equal(st.files, 17);
    assert_int_equal(st.file_edges, 19);
  }
  gsp_cg_destroy(cg);
  return rv;
}

typedef struct fault_run {
  int (*fn)(void *);
  void *arg;
} fault_run;

/* One life under fault injection: a clean GSP_ENOMEM, or GSP_OK once no
   allocation failed. */
static void run_life(void *p) {
  fault_run *r = p;
  int rv = r->fn(r->arg);
  ok_or_nomem(rv);
  if (!g_failed) assert_int_equal(rv, GSP_OK);
}

static long run_faults(int (*fn)(void *), void *arg) {
  fault_run r = {fn, arg};
  return fault_each_allocation(run_life, &r);
}

static int parse_fn(void *arg) {
  (void)arg;
  return parse_once();
}
static int analyze_fn(void *arg) { return analyze_once(arg); }
static int parse_langs_fn(void *arg) {
  (void)arg;
  return parse_langs_once();
}
static int analyze_lang_fn(void *arg) {
  (void)arg;
  return analyze_lang_once();
}

static int analyze_lang2_fn(void *arg) {
  (void)arg;
  return analyze_lang2_once();
}

static void test_analyze_lang2_faults(void **state) {
  (void)state;
  assert_true(run_faults(analyze_lang2_fn, NULL) >= 50);
}

static void test_parse_langs_faults(void **state) {
  (void)state;
  assert_true(run_faults(parse_langs_fn, NULL) >= 10);
}

static void test_analyze_lang_faults(void **state) {
  (void)state;
  assert_true(run_faults(analyze_lang_fn, NULL) >= 50);
}

static void test_parse_faults(void **state) {
  (void)state;
  assert_true(run_faults(parse_fn, NULL) >= 5);
}

static void test_analyze_faults(void **state) {
  (void)state;
  char dir[] = "/tmp/cgfaultXXXXXX", db[64];
  assert_non_null(mkdtemp(dir));
  snprintf(db, sizeof db, "%s/f.db", dir);
  assert_true(run_faults(analyze_fn, db) >= 50);
  unlink(db);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_faults),         cmocka_unit_test(test_analyze_faults),
      cmocka_unit_test(test_parse_langs_faults),   cmocka_unit_test(test_analyze_lang_faults),
      cmocka_unit_test(test_analyze_lang2_faults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
