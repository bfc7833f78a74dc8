/*
 * test_codegraph_js_imports.c - package.json "imports" (`#x` specifiers)
 * resolved per kind of reference, as Node does (extract_pkg.c records the
 * targets of each kind, resolve_js.c picks the kind's):
 *
 *  - a condition object: `import` takes the "import" target, `require()`
 *    the "require" one, nested conditions ("node": {...}) too;
 *  - subpath patterns (`#util/` and a star), each kind with its own target, and an
 *    exact key winning over a pattern whatever the kind;
 *  - an array of fallbacks whose first target is missing, its second a
 *    condition object;
 *  - TypeScript: the "types" condition for an import and for `import x =
 *    require()`, never for JavaScript;
 *  - bare targets (a package in node_modules), whose own "exports" then
 *    take the reference's kind;
 *  - the records of package.json: one per kind only where the answer
 *    differs.
 *
 * The tree is written into a scratch directory by the test.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "cg_dump.h"
#include "gsperf/codegraph.h"

typedef struct tree_file {
  const char *path, *text;
} tree_file;

static const tree_file tree[] = {
    {"package.json",
     "{\n"
     "  \"name\": \"app\",\n"
     "  \"imports\": {\n"
     "    \"#dep\": {\"import\": \"./src/dep.mjs\", \"require\": \"./src/dep.cjs\"},\n"
     "    \"#nested\": {\"node\": {\"require\": \"./src/n-req.js\", \"import\": "
     "\"./src/n-imp.js\"},\n"
     "                \"default\": \"./src/n-def.js\"},\n"
     "    \"#util/*\": {\"require\": \"./src/util/*.cjs\", \"default\": \"./src/util/*.mjs\"},\n"
     "    \"#util/special\": \"./src/special.js\",\n"
     "    \"#fb\": [\"./src/missing.js\", {\"require\": \"./src/fb-req.js\", \"default\": "
     "\"./src/fb-def.js\"}],\n"
     "    \"#typed\": {\"types\": \"./src/t.d.ts\", \"default\": \"./src/t.js\"},\n"
     "    \"#pkg\": {\"require\": \"dual/extra\", \"default\": \"dual\"},\n"
     "    \"#dual\": \"dual\"\n"
     "  }\n"
     "}\n"},
    {"src/dep.mjs", "export const a = 1;\n"},
    {"src/dep.cjs", "module.exports = {a: 1};\n"},
    {"src/n-req.js", "module.exports = 1;\n"},
    {"src/n-imp.js", "export default 1;\n"},
    {"src/n-def.js", "export default 1;\n"},
    {"src/util/a.mjs", "export default 1;\n"},
    {"src/util/a.cjs", "module.exports = 1;\n"},
    {"src/util/special.mjs", "export default 1;\n"},
    {"src/util/special.cjs", "module.exports = 1;\n"},
    {"src/special.js", "export default 1;\n"},
    {"src/fb-req.js", "module.exports = 1;\n"},
    {"src/fb-def.js", "export default 1;\n"},
    {"src/t.d.ts", "export declare const t: number;\n"},
    {"src/t.js", "export const t = 1;\n"},
    {"node_modules/dual/package.json",
     "{\"name\": \"dual\", \"exports\": {\".\": {\"require\": \"./cjs/index.js\", \"import\": "
     "\"./esm/index.js\"}, \"./extra\": \"./extra.js\"}}\n"},
    {"node_modules/dual/cjs/index.js", "module.exports = 1;\n"},
    {"node_modules/dual/esm/index.js", "export default 1;\n"},
    {"node_modules/dual/extra.js", "module.exports = 1;\n"},
    {"src/main.mjs",
     "import a from '#dep';\n"
     "import n from '#nested';\n"
     "import u from '#util/a';\n"
     "import s from '#util/special';\n"
     "import f from '#fb';\n"
     "import t from '#typed';\n"
     "import p from '#pkg';\n"
     "import d from '#dual';\n"},
    {"src/main.cjs",
     "const a = require('#dep');\n"
     "const n = require('#nested');\n"
     "const u = require('#util/a');\n"
     "const s = require('#util/special');\n"
     "const f = require('#fb');\n"
     "const t = require('#typed');\n"
     "const p = require('#pkg');\n"
     "const d = require('#dual');\n"},
    {"src/main.ts",
     "import t from '#typed';\n"
     "import a from '#dep';\n"
     "import n = require('#nested');\n"},
    {"src/other.ts",
     "import q = require('#typed');\n"
     "import w = require('#dep');\n"},
};

static void write_file(const char *root, const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  for (char *s = strchr(path + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = '\0';
    mkdir(path, 0755);
    *s = '/';
  }
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

typedef struct fx {
  char dir[64];
  gsp_cg *cg;
} fx;

static int setup(void **state) {
  fx *x = calloc(1, sizeof *x);
  snprintf(x->dir, sizeof x->dir, "/tmp/cgjsimpXXXXXX");
  if (mkdtemp(x->dir) == NULL) return -1;
  for (size_t i = 0; i < sizeof tree / sizeof *tree; i++)
    write_file(x->dir, tree[i].path, tree[i].text);
  gsp_cg_config cfg = {.root = x->dir, .jobs = 2};
  if (gsp_cg_create(&cfg, &x->cg) != GSP_OK || gsp_cg_run(x->cg) != GSP_OK) return -1;
  *state = x;
  return 0;
}

static int teardown(void **state) {
  fx *x = *state;
  char cmd[128];
  gsp_cg_destroy(x->cg);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
  int rc = system(cmd);
  free(x);
  return rc == 0 ? 0 : -1;
}

/* Where the import of spec in file `from` leads ("" = unresolved). */
static const char *target(const gsp_cg *cg, const char *from, const char *spec) {
  long f = gsp_cg_file_find(cg, from);
  assert_true(f >= 0);
  const gsp_cg_result *r = gsp_cg_file_result(cg, (size_t)f);
  assert_non_null(r);
  for (size_t i = 0; i < gsp_cg_result_nimports(r); i++) {
    gsp_cg_import im;
    gsp_cg_result_import(r, i, &im);
    if (strcmp(im.module, spec) != 0) continue;
    long t = gsp_cg_import_target(cg, (size_t)f, i);
    return t >= 0 ? gsp_cg_file_path(cg, (size_t)t) : "";
  }
  fail_msg("%s has no import of %s", from, spec);
  return NULL;
}

static void expect(const gsp_cg *cg, const char *from, const char *spec, const char *want) {
  const char *got = target(cg, from, spec);
  if (strcmp(got, want) != 0) fail_msg("%s: %s -> '%s', want '%s'", from, spec, got, want);
}

static void test_conditions_per_kind(void **state) {
  const gsp_cg *cg = ((fx *)*state)->cg;
  expect(cg, "src/main.mjs", "#dep", "src/dep.mjs");
  expect(cg, "src/main.cjs", "#dep", "src/dep.cjs");
  expect(cg, "src/main.mjs", "#nested", "src/n-imp.js");
  expect(cg, "src/main.cjs", "#nested", "src/n-req.js");
}

static void test_patterns(void **state) {
  const gsp_cg *cg = ((fx *)*state)->cg;
  expect(cg, "src/main.mjs", "#util/a", "src/util/a.mjs");
  expect(cg, "src/main.cjs", "#util/a", "src/util/a.cjs");
  /* the exact key first, whatever the kind (the pattern would name
   * src/util/special.cjs for a require()) */
  expect(cg, "src/main.mjs", "#util/special", "src/special.js");
  expect(cg, "src/main.cjs", "#util/special", "src/special.js");
}

static void test_fallbacks(void **state) {
  const gsp_cg *cg = ((fx *)*state)->cg;
  expect(cg, "src/main.mjs", "#fb", "src/fb-def.js");
  expect(cg, "src/main.cjs", "#fb", "src/fb-req.js");
}

static void test_types(void **state) {
  const gsp_cg *cg = ((fx *)*state)->cg;
  expect(cg, "src/main.mjs", "#typed", "src/t.js");
  expect(cg, "src/main.cjs", "#typed", "src/t.js");
  expect(cg, "src/main.ts", "#typed", "src/t.d.ts");
  expect(cg, "src/other.ts", "#typed", "src/t.d.ts");
  expect(cg, "src/main.ts", "#dep", "src/dep.mjs");
  expect(cg, "src/main.ts", "#nested", "src/n-req.js");
  expect(cg, "src/other.ts", "#dep", "src/dep.cjs");
}

static void test_bare_targets(void **state) {
  const gsp_cg *cg = ((fx *)*state)->cg;
  expect(cg, "src/main.mjs", "#pkg", "node_modules/dual/esm/index.js");
  expect(cg, "src/main.cjs", "#pkg", "node_modules/dual/extra.js");
  expect(cg, "src/main.mjs", "#dual", "node_modules/dual/esm/index.js");
  expect(cg, "src/main.cjs", "#dual", "node_modules/dual/cjs/index.js");
}

/* How many records of package.json have this name, alias and module. */
static size_t records(const gsp_cg *cg, const char *name, const char *alias, const char *module) {
  long f = gsp_cg_file_find(cg, "package.json");
  assert_true(f >= 0);
  const gsp_cg_result *r = gsp_cg_file_result(cg, (size_t)f);
  size_t n = 0;
  for (size_t i = 0; i < gsp_cg_result_nimports(r); i++) {
    gsp_cg_import im;
    gsp_cg_result_import(r, i, &im);
    if (strcmp(im.name, name) == 0 && strcmp(im.alias, alias) == 0 &&
        (module == NULL || strcmp(im.module, module) == 0)) {
      assert_int_equal(im.level, 2);
      n++;
    }
  }
  return n;
}

static void test_records(void **state) {
  const gsp_cg *cg = ((fx *)*state)->cg;
  assert_int_equal(records(cg, "#dep", "imports", "./src/dep.mjs"), 1);
  assert_int_equal(records(cg, "#dep", "imports-require", "./src/dep.cjs"), 1);
  assert_int_equal(records(cg, "#dep", "imports-types", NULL), 0);
  assert_int_equal(records(cg, "#dep", "imports-types-require", NULL), 0);
  /* one answer for every kind: one record */
  assert_int_equal(records(cg, "#util/special", "imports", "./src/special.js"), 1);
  assert_int_equal(records(cg, "#util/special", "imports-require", NULL), 0);
  /* the fallback list: both targets, in order, per kind */
  assert_int_equal(records(cg, "#fb", "imports", NULL), 2);
  assert_int_equal(records(cg, "#fb", "imports-require", "./src/fb-req.js"), 1);
  assert_int_equal(records(cg, "#typed", "imports-types", "./src/t.d.ts"), 1);
  assert_int_equal(records(cg, "#typed", "imports-types-require", "./src/t.d.ts"), 1);
  assert_int_equal(records(cg, "#typed", "imports-require", NULL), 0);
  assert_null(cg_check_invariants(cg));
  char *dump = cg_dump(cg);
  assert_non_null(dump);
  free(dump);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conditions_per_kind), cmocka_unit_test(test_patterns),
      cmocka_unit_test(test_fallbacks),           cmocka_unit_test(test_types),
      cmocka_unit_test(test_bare_targets),        cmocka_unit_test(test_records),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
