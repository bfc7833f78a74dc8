/*
 * test_codegraph_resolve.c - import and symbol resolution on
 * fixture_resolve/, whose graph is known exactly:
 *
 *  - Python attributes assigned outside __init__: `self.x = ...` in any
 *    method (the first assignment is the definition; __init__'s wins
 *    wherever it stands), `cls.x = ...` in a classmethod, dataclass-style
 *    annotated fields (`x: int = 0`, `x: int`), and reads of `self.x`
 *    bound to them, inherited ones through a base class of another module;
 *    a function nested in a method defines nothing.
 *  - TypeScript/JavaScript packages: npm/yarn "workspaces" (patterns with
 *    `**` and a `!` exclusion; a bare import of a member's "name" resolves
 *    into its directory through its package.json), "exports" target arrays
 *    (the first that resolves) and nested conditions matched in key order
 *    as Node does (`types` first for a TypeScript importer), a package's
 *    top-level "types", tsconfig project "references" (a path inside a
 *    referenced project's outDir, through `paths` or relative, maps to its
 *    source under rootDir, set through "extends" or defaulting to the
 *    config's directory), a directory's package.json before its index.
 *  - C: a header tree's own include root (a directory above the including
 *    file: "x/b.h" from lib/x/deep/a.h is lib/x/b.h), nearest first.
 *
 * Every file, edge, definition, import and reference is compared; then the
 * unresolved specifiers (a fallback target that is not there is no miss),
 * snippets of package.json / tsconfig.json extraction, and the whole
 * analysis under allocation failure lives in test_codegraph_resolve_fault.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cg_dump.h"
#include "cg_lines.h"
#include "gsperf/codegraph.h"

/* ---- the fixture's graph ---- */

/* every file, in path order */
static const char *const files[] = {
    "c/conf.h",
    "c/lib/conf.h",
    "c/lib/x/b.h",
    "c/lib/x/deep/a.h",
    "c/lib/x/deep/c.h",
    "c/main.c",
    "py/zoo/__init__.py",
    "py/zoo/animal.py",
    "py/zoo/dog.py",
    "ts/apps/web/package.json",
    "ts/apps/web/src/legacy.js",
    "ts/apps/web/src/main.ts",
    "ts/apps/web/src/widget/index.ts",
    "ts/apps/web/src/widget/lib.ts",
    "ts/apps/web/src/widget/package.json",
    "ts/apps/web/tsconfig.json",
    "ts/package.json",
    "ts/packages/core/package.json",
    "ts/packages/core/src/feature.ts",
    "ts/packages/core/src/fmt.ts",
    "ts/packages/core/src/helper.ts",
    "ts/packages/core/src/index.ts",
    "ts/packages/core/tsconfig.build.json",
    "ts/packages/core/tsconfig.json",
    "ts/packages/ignored/index.js",
    "ts/packages/ignored/package.json",
    "ts/packages/ui/button.ts",
    "ts/packages/ui/index.ts",
    "ts/packages/ui/package.json",
    "ts/packages/ui/tsconfig.json",
    "ts/packages/ui/types.d.ts",
};

/* file -> file it imports */
static const char *const edges[] = {
    "c/lib/x/deep/a.h -> c/lib/conf.h",
    "c/lib/x/deep/a.h -> c/lib/x/b.h",
    "c/lib/x/deep/a.h -> c/lib/x/deep/c.h",
    "c/main.c -> c/lib/x/deep/a.h",
    "py/zoo/dog.py -> py/zoo/animal.py",
    "ts/apps/web/src/legacy.js -> ts/packages/core/src/index.ts",
    "ts/apps/web/src/legacy.js -> ts/packages/ui/index.ts",
    "ts/apps/web/src/main.ts -> ts/apps/web/src/widget/lib.ts",
    "ts/apps/web/src/main.ts -> ts/packages/core/src/feature.ts",
    "ts/apps/web/src/main.ts -> ts/packages/core/src/fmt.ts",
    "ts/apps/web/src/main.ts -> ts/packages/core/src/helper.ts",
    "ts/apps/web/src/main.ts -> ts/packages/core/src/index.ts",
    "ts/apps/web/src/main.ts -> ts/packages/ui/button.ts",
    "ts/apps/web/src/main.ts -> ts/packages/ui/types.d.ts",
    "ts/apps/web/src/widget/package.json -> ts/apps/web/src/widget/lib.ts",
    "ts/apps/web/tsconfig.json -> ts/packages/core/tsconfig.json",
    "ts/apps/web/tsconfig.json -> ts/packages/ui/tsconfig.json",
    "ts/packages/core/package.json -> ts/packages/core/src/feature.ts",
    "ts/packages/core/package.json -> ts/packages/core/src/index.ts",
    "ts/packages/core/tsconfig.json -> ts/packages/core/tsconfig.build.json",
    "ts/packages/ignored/package.json -> ts/packages/ignored/index.js",
    "ts/packages/ui/package.json -> ts/packages/ui/types.d.ts",
};

/* file kind name line parent */
static const char *const defs[] = {
    "c/conf.h decl conf_other 1 -1",
    "c/lib/conf.h decl conf_fn 1 -1",
    "c/lib/x/b.h decl b_fn 1 -1",
    "c/lib/x/deep/c.h decl c_fn 1 -1",
    "c/main.c function main 3 -1",
    "py/zoo/animal.py struct Animal 5 -1",
    "py/zoo/animal.py global name 6 0",
    "py/zoo/animal.py global legs 7 0",
    "py/zoo/animal.py method describe 9 0",
    "py/zoo/animal.py method speak 12 0",
    "py/zoo/animal.py method __init__ 18 0",
    "py/zoo/animal.py global tag 19 0",
    "py/zoo/animal.py method register 22 0",
    "py/zoo/animal.py method nested 26 0",
    "py/zoo/animal.py function inner 27 8",
    "py/zoo/animal.py global sound 13 0",
    "py/zoo/animal.py global volume 14 0",
    "py/zoo/animal.py global registry 23 0",
    "py/zoo/dog.py struct Dog 4 -1",
    "py/zoo/dog.py method bark 5 0",
    "py/zoo/dog.py method rename 9 0",
    "py/zoo/dog.py global name 10 0",
    "py/zoo/dog.py global nick 10 0",
    "ts/apps/web/src/main.ts function main 11 -1",
    "ts/apps/web/src/widget/index.ts function widget 1 -1",
    "ts/apps/web/src/widget/lib.ts function widget 1 -1",
    "ts/packages/core/src/feature.ts function feature 1 -1",
    "ts/packages/core/src/fmt.ts function fmt 1 -1",
    "ts/packages/core/src/helper.ts function helper 1 -1",
    "ts/packages/core/src/index.ts function core 1 -1",
    "ts/packages/ignored/index.js function ignored 1 -1",
    "ts/packages/ui/button.ts function Button 1 -1",
    "ts/packages/ui/index.ts function ui 1 -1",
    "ts/packages/ui/types.d.ts decl ui 1 -1",
};

/* file kind module name alias level line -> target ("-": none) */
static const char *const imports[] = {
    "c/lib/x/deep/a.h include x/b.h - - 0 1 -> c/lib/x/b.h",
    "c/lib/x/deep/a.h include_system x/deep/c.h - - 0 2 -> c/lib/x/deep/c.h",
    "c/lib/x/deep/a.h include conf.h - - 0 3 -> c/lib/conf.h",
    "c/lib/x/deep/a.h include nowhere.h - - 0 4 -> -",
    "c/main.c include lib/x/deep/a.h - - 0 1 -> c/lib/x/deep/a.h",
    "py/zoo/animal.py from dataclasses dataclass - 0 1 -> -",
    "py/zoo/dog.py from animal Animal - 1 1 -> py/zoo/animal.py",
    "ts/apps/web/package.json import web name - 2 1 -> -",
    "ts/apps/web/src/legacy.js from @mono/core core - 0 1 -> ts/packages/core/src/index.ts",
    "ts/apps/web/src/legacy.js from @mono/ui ui - 0 2 -> ts/packages/ui/index.ts",
    "ts/apps/web/src/main.ts from @mono/core core - 0 1 -> ts/packages/core/src/index.ts",
    "ts/apps/web/src/main.ts from @mono/core/feature feature - 0 2 -> "
    "ts/packages/core/src/feature.ts",
    "ts/apps/web/src/main.ts from @core/helper helper - 0 3 -> ts/packages/core/src/helper.ts",
    "ts/apps/web/src/main.ts from ../../../packages/core/dist/fmt.js fmt - 0 4 -> "
    "ts/packages/core/src/fmt.ts",
    "ts/apps/web/src/main.ts from @mono/ui ui - 0 5 -> ts/packages/ui/types.d.ts",
    "ts/apps/web/src/main.ts from @mono/ui/button Button - 0 6 -> ts/packages/ui/button.ts",
    "ts/apps/web/src/main.ts from ../../../packages/ui/out/button.js Button B2 0 7 -> "
    "ts/packages/ui/button.ts",
    "ts/apps/web/src/main.ts from @mono/ignored ignored - 0 8 -> -",
    "ts/apps/web/src/main.ts from ./widget widget - 0 9 -> ts/apps/web/src/widget/lib.ts",
    "ts/apps/web/src/widget/package.json import ./lib.ts main - 0 1 -> "
    "ts/apps/web/src/widget/lib.ts",
    "ts/apps/web/tsconfig.json import ../../packages/core/dist/* @core/* paths 2 3 -> -",
    "ts/apps/web/tsconfig.json import ../../packages/core references - 0 5 -> "
    "ts/packages/core/tsconfig.json",
    "ts/apps/web/tsconfig.json import ../../packages/ui/tsconfig.json references - 0 5 -> "
    "ts/packages/ui/tsconfig.json",
    "ts/package.json import packages/** workspaces - 2 4 -> -",
    "ts/package.json import apps/* workspaces - 2 4 -> -",
    "ts/package.json import !packages/ignored workspaces - 2 4 -> -",
    "ts/package.json import mono name - 2 2 -> -",
    "ts/packages/core/package.json import ./src/index.ts . types 0 4 -> "
    "ts/packages/core/src/index.ts",
    "ts/packages/core/package.json import ./dist/index.mjs . - 0 4 -> -",
    "ts/packages/core/package.json import ./src/index.ts . - 0 4 -> ts/packages/core/src/index.ts",
    "ts/packages/core/package.json import ./src/index.cjs . require 0 4 -> -",
    "ts/packages/core/package.json import ./src/index.ts . types-require 0 4 -> "
    "ts/packages/core/src/index.ts",
    "ts/packages/core/package.json import ./src/feature.ts ./feature - 0 12 -> "
    "ts/packages/core/src/feature.ts",
    "ts/packages/core/package.json import @mono/core name - 2 2 -> -",
    "ts/packages/core/tsconfig.build.json import ./dist outDir - 2 3 -> -",
    "ts/packages/core/tsconfig.build.json import ./src rootDir - 2 4 -> -",
    "ts/packages/core/tsconfig.json import ./tsconfig.build extends - 0 2 -> "
    "ts/packages/core/tsconfig.build.json",
    "ts/packages/ignored/package.json import index.js main - 0 1 -> ts/packages/ignored/index.js",
    "ts/packages/ignored/package.json import @mono/ignored name - 2 1 -> -",
    "ts/packages/ui/package.json import ./types.d.ts types - 0 1 -> ts/packages/ui/types.d.ts",
    "ts/packages/ui/package.json import @mono/ui name - 2 1 -> -",
    "ts/packages/ui/tsconfig.json import out outDir - 2 1 -> -",
};

/* file qualifier.name line -> file:definition */
static const char *const refs[] = {
    "c/main.c b_fn 3 -> c/lib/x/b.h:b_fn",
    "c/main.c c_fn 3 -> c/lib/x/deep/c.h:c_fn",
    "c/main.c conf_fn 3 -> c/lib/conf.h:conf_fn",
    "py/zoo/animal.py str 6 -> -",
    "py/zoo/animal.py int 7 -> -",
    "py/zoo/animal.py self.name 10 -> py/zoo/animal.py:name",
    "py/zoo/animal.py self.legs 10 -> py/zoo/animal.py:legs",
    "py/zoo/animal.py self.sound 10 -> py/zoo/animal.py:sound",
    "py/zoo/animal.py self.tag 10 -> py/zoo/animal.py:tag",
    "py/zoo/animal.py int 14 -> -",
    "py/zoo/animal.py cls.registry 24 -> py/zoo/animal.py:registry",
    "py/zoo/animal.py self.hidden 30 -> -",
    "py/zoo/dog.py Animal 4 -> py/zoo/animal.py:Animal",
    "py/zoo/dog.py self.speak 6 -> py/zoo/animal.py:speak",
    "py/zoo/dog.py self.sound 7 -> py/zoo/animal.py:sound",
    "py/zoo/dog.py self.volume 7 -> py/zoo/animal.py:volume",
    "py/zoo/dog.py self.registry 7 -> py/zoo/animal.py:registry",
    "py/zoo/dog.py self.missing 7 -> -",
    "py/zoo/dog.py self.nick 11 -> py/zoo/dog.py:nick",
    "ts/apps/web/src/legacy.js core 4 -> ts/packages/core/src/index.ts:core",
    "ts/apps/web/src/legacy.js ui 4 -> ts/packages/ui/index.ts:ui",
    "ts/apps/web/src/main.ts core 12 -> ts/packages/core/src/index.ts:core",
    "ts/apps/web/src/main.ts feature 12 -> ts/packages/core/src/feature.ts:feature",
    "ts/apps/web/src/main.ts helper 12 -> ts/packages/core/src/helper.ts:helper",
    "ts/apps/web/src/main.ts fmt 12 -> ts/packages/core/src/fmt.ts:fmt",
    "ts/apps/web/src/main.ts ui 12 -> ts/packages/ui/types.d.ts:ui",
    "ts/apps/web/src/main.ts Button 12 -> ts/packages/ui/button.ts:Button",
    "ts/apps/web/src/main.ts B2 12 -> ts/packages/ui/button.ts:Button",
    "ts/apps/web/src/main.ts ignored 12 -> -",
    "ts/apps/web/src/main.ts widget 12 -> ts/apps/web/src/widget/lib.ts:widget",
};

#define NELEM(a) (sizeof(a) / sizeof *(a))

static gsp_cg *analyze(unsigned jobs) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = CG_FIXTURE_RESOLVE_DIR, .jobs = jobs};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  return cg;
}

static void test_files_and_edges(void **state) {
  (void)state;
  gsp_cg *cg = analyze(2);
  assert_int_equal(gsp_cg_nfiles(cg), NELEM(files));
  for (size_t i = 0; i < NELEM(files); i++) assert_string_equal(gsp_cg_file_path(cg, i), files[i]);
  size_t k = 0;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    size_t n;
    const uint32_t *d = gsp_cg_deps(cg, f, &n);
    for (size_t i = 0; i < n; i++) {
      char e[512];
      snprintf(e, sizeof e, "%s -> %s", gsp_cg_file_path(cg, f), gsp_cg_file_path(cg, d[i]));
      expect_line(e, edges, NELEM(edges), &k);
    }
  }
  assert_int_equal(k, NELEM(edges));
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  assert_int_equal(st.files_with_errors, 0);
  assert_int_equal(st.imports, NELEM(imports));
  assert_int_equal(st.imports_resolved, 25); /* settings, dist/index.mjs, nowhere.h, ... */
  assert_int_equal(st.refs, NELEM(refs));
  assert_int_equal(st.refs_resolved, 24);
  const char *why = cg_check_invariants(cg);
  if (why) print_error("%s\n", why);
  assert_null(why);
  gsp_cg_destroy(cg);
}

static void test_definitions_and_imports(void **state) {
  (void)state;
  gsp_cg *cg = analyze(1);
  size_t kd = 0, ki = 0;
  char line[512];
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    for (size_t i = 0; i < gsp_cg_result_ndefs(r); i++) {
      def_line(cg, f, i, line, sizeof line);
      expect_line(line, defs, NELEM(defs), &kd);
    }
    for (size_t i = 0; i < gsp_cg_result_nimports(r); i++) {
      import_line(cg, f, i, line, sizeof line);
      expect_line(line, imports, NELEM(imports), &ki);
    }
  }
  assert_int_equal(kd, NELEM(defs));
  assert_int_equal(ki, NELEM(imports));
  gsp_cg_destroy(cg);
}

static void test_bindings(void **state) {
  (void)state;
  gsp_cg *cg = analyze(2);
  size_t k = 0;
  char line[512];
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    for (size_t i = 0; i < gsp_cg_result_nrefs(r); i++) {
      ref_line(cg, f, i, line, sizeof line);
      expect_line(line, refs, NELEM(refs), &k);
    }
  }
  assert_int_equal(k, NELEM(refs));
  gsp_cg_destroy(cg);
}

/* ./dist/index.mjs (an alternative whose sibling resolved) is no miss;
 * the excluded workspace package, a missing header and a module outside
 * the tree are. */
static void test_unresolved(void **state) {
  (void)state;
  gsp_cg *cg = analyze(2);
  gsp_cg_unresolved u[8];
  size_t n = 0, nd = 0;
  assert_int_equal(gsp_cg_unresolved_top(cg, 8, u, &n, &nd), GSP_OK);
  assert_int_equal(n, 3);
  assert_int_equal(nd, 3);
  const char *want[][3] = {{"nowhere.h", "c/lib/x/deep/a.h"},
                           {"dataclasses", "py/zoo/animal.py"},
                           {"@mono/ignored", "ts/apps/web/src/main.ts"}};
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(u[i].module, want[i][0]);
    assert_int_equal(u[i].count, 1);
    assert_string_equal(gsp_cg_file_path(cg, u[i].first_file), want[i][1]);
  }
  gsp_cg_destroy(cg);
}

/* One thread or four: the same graph, byte for byte (the workspace index
 * is built before the parallel pass and only read during it). */
static void test_parallel_same(void **state) {
  (void)state;
  gsp_cg *a = analyze(1), *b = analyze(4);
  char *da = cg_dump(a), *db = cg_dump(b);
  assert_non_null(da);
  assert_non_null(db);
  assert_string_equal(da, db);
  free(da), free(db);
  gsp_cg_destroy(a), gsp_cg_destroy(b);
}

/* ---- package.json / tsconfig.json extraction ---- */

static char *imports_of(const gsp_cg_result *r) {
  static char buf[2048];
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < gsp_cg_result_nimports(r) && n < sizeof buf; i++) {
    gsp_cg_import m;
    gsp_cg_result_import(r, i, &m);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s %s %s %u %u\n", m.module, m.name,
                          m.alias[0] ? m.alias : "-", m.level, m.line);
  }
  return buf;
}

static void expect_imports(const char *json, const char *want) {
  gsp_cg_result *r = parse(GSP_CG_LANG_JSON, json);
  assert_string_equal(imports_of(r), want);
  gsp_cg_result_free(r);
}

/* Conditions in the object's key order, nested deeper than once; an
 * array's elements in order; "types" only where it changes the answer; a
 * null target or an empty list names nothing. */
static void test_export_conditions(void **state) {
  (void)state;
  expect_imports(
      "{\n"
      "  \"exports\": {\n"
      "    \"browser\": \"./b.js\",\n"
      "    \"node\": { \"import\": { \"default\": [\"./a.mjs\", \"./a2.mjs\"] } },\n"
      "    \"types\": \"./t.d.ts\",\n"
      "    \"default\": \"./d.js\"\n"
      "  }\n"
      "}\n",
      "./a.mjs . - 0 2\n./a2.mjs . - 0 2\n./d.js . require 0 2\n./t.d.ts . types-require 0 2\n");
  expect_imports(
      "{\"exports\": {\".\": {\"types\": {\"import\": \"./i.d.mts\", \"require\": "
      "\"./r.d.cts\"}, \"default\": \"./x.js\"}, \"./internal/*\": null, \"./y\": []}}",
      "./i.d.mts . types 0 1\n./x.js . - 0 1\n./r.d.cts . types-require 0 1\n");
  /* a condition that names nothing is skipped, as Node does; "require"
   * is no condition of an import, nor "import" of a require() */
  expect_imports("{\"exports\": {\"import\": {\"worker\": \"./w.js\"}, \"require\": \"./r.cjs\"}}",
                 "./r.cjs . require 0 1\n");
  expect_imports("{\"exports\": [{\"worker\": \"./w.js\"}, \"./x.js\", \"./y.js\"]}",
                 "./x.js . - 0 1\n./y.js . - 0 1\n");
}

static void test_workspace_and_project_settings(void **state) {
  (void)state;
  expect_imports(
      "{\"name\": \"@s/p\", \"workspaces\": {\"packages\": [\"a/*\", \"!a/b\"]},\n"
      " \"types\": \"./index.d.ts\", \"typings\": \"./old.d.ts\"}",
      "./index.d.ts types - 0 2\n./old.d.ts typings - 0 2\n"
      "a/* workspaces - 2 1\n!a/b workspaces - 2 1\n@s/p name - 2 1\n");
  expect_imports(
      "{\"references\": [{\"path\": \"../a\"}, {\"nopath\": 1}, \"bad\"],\n"
      " \"compilerOptions\": {\"outDir\": \"out\", \"rootDir\": \"src\"}}",
      "out outDir - 2 2\nsrc rootDir - 2 2\n../a references - 0 1\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_files_and_edges),
      cmocka_unit_test(test_definitions_and_imports),
      cmocka_unit_test(test_bindings),
      cmocka_unit_test(test_unresolved),
      cmocka_unit_test(test_parallel_same),
      cmocka_unit_test(test_export_conditions),
      cmocka_unit_test(test_workspace_and_project_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
