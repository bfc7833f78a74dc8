/*
 * test_codegraph_real.c - invariants on real code: the project's own src/
 * (C), the email package of the system's Python 3.11 and npm's own lib/
 * (JavaScript, /usr/lib/node_modules/npm; each skipped if absent). Every resolved import points at
 * an analyzed file and every bound reference at an existing definition of that name (or of the name
 * an import aliases); edges agree with reverse edges and with the
 * topological order of components; one worker and two workers give the
 * same graph byte for byte, and so do a cold and a warm run through the
 * result store (which parses nothing the second time); the database
 * written twice is the same file byte for byte.
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
#include "gsperf/codegraph.h"

static gsp_cg *run(const char *root, unsigned jobs, gsp_cache *cache) {
  gsp_cg *cg = NULL;
  assert_int_equal(
      gsp_cg_create(&(gsp_cg_config){.root = root, .jobs = jobs, .results = cache}, &cg), GSP_OK);
  int rv = gsp_cg_run(cg);
  if (rv != GSP_OK) print_error("%s\n", gsp_cg_errmsg(cg));
  assert_int_equal(rv, GSP_OK);
  return cg;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  rewind(f);
  char *b = malloc(*len + 1);
  assert_int_equal(fread(b, 1, *len, f), *len);
  fclose(f);
  return b;
}

static void check_tree(const char *root, uint64_t min_files) {
  gsp_cache *cache = NULL;
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.max_bytes = 256u << 20}, &cache), GSP_OK);
  gsp_cg *one = run(root, 1, cache), *two = run(root, 2, cache);
  gsp_cg_stats st;
  gsp_cg_stats_get(one, &st);
  assert_true(st.files >= min_files);
  assert_int_equal(st.parsed, st.files - st.files_skipped);
  assert_true(st.imports_resolved > 0 && st.refs_resolved > 0);
  const char *why = cg_check_invariants(one);
  if (why) print_error("%s: %s\n", root, why);
  assert_null(why);
  gsp_cg_stats_get(two, &st);
  assert_int_equal(st.parsed, 0); /* warm: every result from the store */
  char *a = cg_dump(one), *b = cg_dump(two);
  assert_string_equal(a, b);
  free(a), free(b);

  char dir[] = "/tmp/cgrealXXXXXX", p1[64], p2[64];
  assert_non_null(mkdtemp(dir));
  snprintf(p1, sizeof p1, "%s/1.db", dir), snprintf(p2, sizeof p2, "%s/2.db", dir);
  assert_int_equal(gsp_cg_write_db(one, p1, NULL), GSP_OK);
  assert_int_equal(gsp_cg_write_db(two, p2, NULL), GSP_OK);
  size_t l1, l2;
  char *d1 = slurp(p1, &l1), *d2 = slurp(p2, &l2);
  assert_int_equal(l1, l2);
  assert_int_equal(memcmp(d1, d2, l1), 0);
  free(d1), free(d2);
  unlink(p1), unlink(p2), rmdir(dir);
  gsp_cg_destroy(one), gsp_cg_destroy(two);
  gsp_cache_destroy(cache);
}

static void test_project_src(void **state) {
  (void)state;
  check_tree(CG_PROJECT_DIR "/src", 40);
}

static void test_python_email(void **state) {
  (void)state;
  if (access("/usr/lib/python3.11/email/__init__.py", R_OK) != 0) skip();
  check_tree("/usr/lib/python3.11/email", 20);
}

static void test_npm_lib(void **state) {
  (void)state;
  if (access("/usr/lib/node_modules/npm/lib/npm.js", R_OK) != 0) skip();
  check_tree("/usr/lib/node_modules/npm/lib", 50);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_project_src),
      cmocka_unit_test(test_python_email),
      cmocka_unit_test(test_npm_lib),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
