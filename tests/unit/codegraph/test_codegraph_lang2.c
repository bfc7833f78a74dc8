/*
 * test_codegraph_lang2.c - what the code graph resolves beyond names in
 * scope, on fixture_lang2/ whose graph is known exactly:
 *
 *  - Python attributes: class attributes (class body, `self.x = ...` in
 *    __init__) as definitions; `self.m()` / `self.x` / `cls.x` bound to the
 *    class's method or attribute, inherited ones through base classes in
 *    other modules (`class Item(Model)`, `class Special(b.Model)`);
 *    `super().m()`; `Class.m()`, `mod.Class.m()`, `pkg.mod.Class.m()`;
 *    calls on other objects (`it.total()`, `f().g()`) left unresolved.
 *  - TypeScript project files: tsconfig.json with comments and trailing
 *    commas, `extends` (without ".json"), `baseUrl`, `paths` (patterns,
 *    several targets, exact keys); package.json `imports` (`#internal/...`),
 *    `exports` subpath patterns and the `types` condition (a TypeScript
 *    importer gets the .d.ts, a JavaScript one the .js).
 *
 * Every file, edge, definition, import and reference is compared; then
 * snippets (JSON comments inside strings, an invalid tsconfig's line,
 * Python attribute corner cases), the C pre-pass with the annotation
 * macros of an included header (internals: gsp__cg_c_learn_macros,
 * gsp__cg_parse_with), the ranking of unresolved import specifiers
 * (gsp__cg_unresolved_top), and an edited tsconfig.json, whose new paths
 * the next run follows, with the result store or without.
 */
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
#include "cg_lines.h"
#include "extract.h" /* the C pre-pass's include-aware internals */
#include "gsperf/codegraph.h"
#include "gsperf/tier.h"

/* ---- the fixture's graph ---- */

static const char *const files[] = {
    "py/app.py",
    "py/shop/__init__.py",
    "py/shop/base.py",
    "py/shop/models.py",
    "ts/node_modules/widgets/index.d.ts",
    "ts/node_modules/widgets/index.js",
    "ts/node_modules/widgets/package.json",
    "ts/node_modules/widgets/src/features/button.js",
    "ts/package.json",
    "ts/src/app/config.ts",
    "ts/src/app/main.ts",
    "ts/src/app/plain.js",
    "ts/src/fallback/old.ts",
    "ts/src/internal/tools.ts",
    "ts/src/lib/direct.ts",
    "ts/src/lib/index.ts",
    "ts/tsconfig.base.json",
    "ts/tsconfig.json",
};

static const char *const edges[] = {
    "py/app.py -> py/shop/base.py",
    "py/app.py -> py/shop/models.py",
    "py/shop/models.py -> py/shop/base.py",
    "ts/node_modules/widgets/package.json -> ts/node_modules/widgets/index.d.ts",
    "ts/node_modules/widgets/package.json -> ts/node_modules/widgets/index.js",
    "ts/src/app/main.ts -> ts/node_modules/widgets/index.d.ts",
    "ts/src/app/main.ts -> ts/node_modules/widgets/src/features/button.js",
    "ts/src/app/main.ts -> ts/src/app/config.ts",
    "ts/src/app/main.ts -> ts/src/fallback/old.ts",
    "ts/src/app/main.ts -> ts/src/internal/tools.ts",
    "ts/src/app/main.ts -> ts/src/lib/direct.ts",
    "ts/src/app/main.ts -> ts/src/lib/index.ts",
    "ts/src/app/plain.js -> ts/node_modules/widgets/index.js",
    "ts/tsconfig.json -> ts/tsconfig.base.json",
};

/* file kind name line parent */
static const char *const defs[] = {
    "py/app.py function main 6 -1",
    "py/shop/base.py struct Model 1 -1",
    "py/shop/base.py global table 2 0",
    "py/shop/base.py method __init__ 4 0",
    "py/shop/base.py global key 5 0",
    "py/shop/base.py global dirty 6 0",
    "py/shop/base.py global saved 6 0",
    "py/shop/base.py method save 8 0",
    "py/shop/base.py method create 13 0",
    "py/shop/base.py method check 18 0",
    "py/shop/models.py struct Item 5 -1",
    "py/shop/models.py method __init__ 6 0",
    "py/shop/models.py global price 8 0",
    "py/shop/models.py method total 10 0",
    "py/shop/models.py method other 14 0",
    "py/shop/models.py struct Special 18 -1",
    "py/shop/models.py method run 19 5",
    "ts/node_modules/widgets/index.d.ts decl types 1 -1",
    "ts/node_modules/widgets/index.js function types 1 -1",
    "ts/node_modules/widgets/src/features/button.js function feature 1 -1",
    "ts/src/app/config.ts function config 1 -1",
    "ts/src/app/main.ts function main 10 -1",
    "ts/src/fallback/old.ts function legacy 1 -1",
    "ts/src/internal/tools.ts function inner 1 -1",
    "ts/src/lib/direct.ts function direct 1 -1",
    "ts/src/lib/index.ts function util 1 -1",
};

/* file kind module name alias level line -> target ("-": none) */
static const char *const imports[] = {
    "py/app.py import shop.models - sm 0 1 -> py/shop/models.py",
    "py/app.py import shop.base - - 0 2 -> py/shop/base.py",
    "py/app.py from shop.models Item - 0 3 -> py/shop/models.py",
    "py/shop/models.py from base Model - 1 1 -> py/shop/base.py",
    "py/shop/models.py from  base b 1 2 -> py/shop/base.py",
    "ts/node_modules/widgets/package.json import ./index.d.ts . types 0 4 -> "
    "ts/node_modules/widgets/index.d.ts",
    "ts/node_modules/widgets/package.json import ./index.js . - 0 4 -> "
    "ts/node_modules/widgets/index.js",
    "ts/node_modules/widgets/package.json import ./index.d.ts . types-require 0 4 -> "
    "ts/node_modules/widgets/index.d.ts", /* a TypeScript require() */
    "ts/node_modules/widgets/package.json import ./src/features/*.js ./features/* - 2 5 -> -",
    "ts/node_modules/widgets/package.json import widgets name - 2 2 -> -",
    "ts/package.json import ./src/internal/*.ts #internal/* imports 2 5 -> -",
    "ts/package.json import app name - 2 2 -> -",
    "ts/src/app/main.ts from @app/config config - 0 1 -> ts/src/app/config.ts",
    "ts/src/app/main.ts from @app/old legacy - 0 2 -> ts/src/fallback/old.ts",
    "ts/src/app/main.ts from @lib util - 0 3 -> ts/src/lib/index.ts",
    "ts/src/app/main.ts from lib/direct direct - 0 4 -> ts/src/lib/direct.ts",
    "ts/src/app/main.ts from widgets/features/button feature - 0 5 -> "
    "ts/node_modules/widgets/src/features/button.js",
    "ts/src/app/main.ts from #internal/tools inner - 0 6 -> ts/src/internal/tools.ts",
    "ts/src/app/main.ts from widgets types - 0 7 -> ts/node_modules/widgets/index.d.ts",
    "ts/src/app/main.ts from @app/nowhere nothing - 0 8 -> -",
    "ts/src/app/plain.js from widgets types - 0 1 -> ts/node_modules/widgets/index.js",
    "ts/tsconfig.base.json import ./src baseUrl - 2 4 -> -",
    "ts/tsconfig.base.json import app/* @app/* paths 2 6 -> -",
    "ts/tsconfig.base.json import fallback/* @app/* paths 2 6 -> -",
    "ts/tsconfig.base.json import lib/index.ts @lib paths 2 7 -> -",
    "ts/tsconfig.json import ./tsconfig.base extends - 0 2 -> ts/tsconfig.base.json",
};

/* file qualifier.name line -> file:definition */
static const char *const refs[] = {
    "py/app.py Item 7 -> py/shop/models.py:Item",
    "py/app.py it.total 8 -> -",
    "py/app.py Item.total 9 -> py/shop/models.py:total",
    "py/app.py sm.Item.create 10 -> py/shop/base.py:create",
    "py/app.py shop.base.Model.save 11 -> py/shop/base.py:save",
    "py/app.py ?.run 12 -> -",
    "py/app.py sm.Special 12 -> py/shop/models.py:Special",
    "py/app.py obj.anything 13 -> -",
    "py/shop/base.py self.table 10 -> py/shop/base.py:table",
    "py/shop/base.py cls.check 14 -> py/shop/base.py:check",
    "py/shop/base.py cls 15 -> -",
    "py/shop/base.py cls.table 19 -> py/shop/base.py:table",
    "py/shop/models.py Model 5 -> py/shop/base.py:Model",
    "py/shop/models.py super.__init__ 7 -> py/shop/base.py:__init__",
    "py/shop/models.py super 7 -> -",
    "py/shop/models.py self.save 11 -> py/shop/base.py:save",
    "py/shop/models.py self.price 12 -> py/shop/models.py:price",
    "py/shop/models.py len 12 -> -",
    "py/shop/models.py self.key 12 -> py/shop/base.py:key",
    "py/shop/models.py self.missing 15 -> -",
    "py/shop/models.py self.unknown 15 -> -",
    "py/shop/models.py b.Model 18 -> py/shop/base.py:Model",
    "py/shop/models.py self.save 20 -> py/shop/base.py:save",
    "py/shop/models.py self.table 21 -> py/shop/base.py:table",
    "py/shop/models.py handler 21 -> -",
    "ts/src/app/main.ts config 11 -> ts/src/app/config.ts:config",
    "ts/src/app/main.ts legacy 12 -> ts/src/fallback/old.ts:legacy",
    "ts/src/app/main.ts util 13 -> ts/src/lib/index.ts:util",
    "ts/src/app/main.ts direct 14 -> ts/src/lib/direct.ts:direct",
    "ts/src/app/main.ts feature 15 -> ts/node_modules/widgets/src/features/button.js:feature",
    "ts/src/app/main.ts inner 16 -> ts/src/internal/tools.ts:inner",
    "ts/src/app/main.ts types 17 -> ts/node_modules/widgets/index.d.ts:types",
    "ts/src/app/main.ts nothing 18 -> -",
    "ts/src/app/plain.js types 3 -> ts/node_modules/widgets/index.js:types",
};

/* ---- helpers ---- */

#define NELEM(a) (sizeof(a) / sizeof *(a))

static gsp_cg *analyze(const char *root, unsigned jobs, gsp_tier *store) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = root, .jobs = jobs, .store = store};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  return cg;
}

/* ---- the fixture ---- */

static void test_files_and_edges(void **state) {
  (void)state;
  gsp_cg *cg = analyze(CG_FIXTURE_LANG2_DIR, 2, NULL);
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
  assert_int_equal(st.files_with_errors, 0); /* comments and trailing commas are no errors */
  assert_int_equal(st.files_python, 4);
  assert_int_equal(st.files_js, 3);
  assert_int_equal(st.files_ts, 7);
  assert_int_equal(st.files_json, 4); /* two package.json, two tsconfig */
  assert_int_equal(st.imports, NELEM(imports));
  assert_int_equal(st.imports_resolved, 17); /* settings, patterns and @app/nowhere stay out */
  assert_int_equal(st.refs, NELEM(refs));
  assert_int_equal(st.refs_resolved, 24); /* calls on unknown objects are counted, unbound */
  const char *why = cg_check_invariants(cg);
  if (why) print_error("%s\n", why);
  assert_null(why);
  gsp_cg_destroy(cg);
}

static void test_definitions_and_imports(void **state) {
  (void)state;
  gsp_cg *cg = analyze(CG_FIXTURE_LANG2_DIR, 1, NULL);
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
  gsp_cg *cg = analyze(CG_FIXTURE_LANG2_DIR, 2, NULL);
  size_t k = 0;
  char line[768];
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++)
    for (size_t i = 0; i < gsp_cg_result_nrefs(gsp_cg_file_result(cg, f)); i++) {
      ref_line(cg, f, i, line, sizeof line);
      expect_line(line, refs, NELEM(refs), &k);
    }
  assert_int_equal(k, NELEM(refs));
  gsp_cg_destroy(cg);
}

/* One worker or two: the same graph, byte for byte. */
static void test_deterministic(void **state) {
  (void)state;
  gsp_cg *a = analyze(CG_FIXTURE_LANG2_DIR, 1, NULL), *b = analyze(CG_FIXTURE_LANG2_DIR, 2, NULL);
  char *da = cg_dump(a), *db = cg_dump(b);
  assert_non_null(da);
  assert_non_null(db);
  assert_string_equal(da, db);
  free(da), free(db);
  gsp_cg_destroy(a), gsp_cg_destroy(b);
}

/* ---- snippets ---- */

static char *imports_of(const gsp_cg_result *r) {
  static char buf[2048];
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < gsp_cg_result_nimports(r) && n < sizeof buf; i++) {
    gsp_cg_import m;
    gsp_cg_result_import(r, i, &m);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s|%s|%s|%u|%u\n", m.name, m.alias, m.module,
                          m.level, m.line);
  }
  return buf;
}

/* Comments and trailing commas go; the same characters inside strings stay. */
static void test_json_comments(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_JSON,
                           "{ // a comment with \"quotes\"\n"
                           "  \"main\": \"a//b.js\", /* c, } */\n"
                           "  \"exports\": {\"./x\": \"./y,}.js\", \"./z/*\": \"./s/*.js\",},\n"
                           "  \"compilerOptions\": {\"paths\": {\"~/*\": [\"src/*\",],},},\n"
                           "}\n");
  assert_false(gsp_cg_result_has_error(r));
  assert_string_equal(imports_of(r),
                      "./x||./y,}.js|0|3\n"
                      "./z/*||./s/*.js|2|3\n"
                      "main||a//b.js|0|2\n"
                      "~/*|paths|src/*|2|4\n");
  gsp_cg_result_free(r);
  /* a real error: the file is flagged and the line named */
  r = parse(GSP_CG_LANG_JSON, "{\n  // fine\n  \"extends\": \"./b\",\n  \"x\": [1 2]\n}\n");
  assert_true(gsp_cg_result_has_error(r));
  gsp_cg_import m;
  assert_int_equal(gsp_cg_result_nimports(r), 1);
  gsp_cg_result_import(r, 0, &m);
  assert_string_equal(m.name, "error");
  assert_int_equal(m.line, 4);
  assert_non_null(strstr(m.module, "line 4: "));
  gsp_cg_result_free(r);
  /* an unterminated comment or string is an error, not a crash */
  r = parse(GSP_CG_LANG_JSON, "{\"a\": 1} /* open");
  assert_true(gsp_cg_result_has_error(r));
  gsp_cg_result_free(r);
  r = parse(GSP_CG_LANG_JSON, "{\"a\": \"open\\");
  assert_true(gsp_cg_result_has_error(r));
  gsp_cg_result_free(r);
}

static char *refs_of(const gsp_cg_result *r) {
  static char buf[2048];
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < gsp_cg_result_nrefs(r) && n < sizeof buf; i++) {
    gsp_cg_ref x;
    gsp_cg_result_ref(r, i, &x);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s %s.%s %u %d\n", gsp_cg_ref_kind_name(x.kind),
                          x.qualifier, x.name, x.line, x.scope);
  }
  return buf;
}

static char *defs_of(const gsp_cg_result *r) {
  static char buf[2048];
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < gsp_cg_result_ndefs(r) && n < sizeof buf; i++) {
    gsp_cg_def d;
    gsp_cg_result_def(r, i, &d);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s %s %u %d\n", gsp_cg_def_kind_name(d.kind),
                          d.name, d.line, d.parent);
  }
  return buf;
}

/* Which assignments define attributes, which attribute uses are reads. */
static void test_python_attributes(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_PYTHON,
                           "class A:\n"                             /* 1 */
                           "    x = y = 0\n"                        /* 2 */
                           "    def __init__(self):\n"              /* 3 */
                           "        self.a, self.b = 1, 2\n"        /* 4 */
                           "        self.a = self.b\n"              /* 5 */
                           "        other.c = 3\n"                  /* 6 */
                           "        def inner():\n"                 /* 7 */
                           "            self.d = 4\n"               /* 8 */
                           "    def m(self):\n"                     /* 9 */
                           "        self.e = 5\n"                   /* 10 */
                           "        self.a += 1\n"                  /* 11 */
                           "        return get().f(), self.b.c\n"); /* 12 */
  /* x, y, a, b (once), then m's e after the walk; not other.c or inner's self.d */
  assert_string_equal(defs_of(r),
                      "struct A 1 -1\nglobal x 2 0\nglobal y 2 0\nmethod __init__ 3 0\n"
                      "global a 4 0\nglobal b 4 0\nfunction inner 7 3\nmethod m 9 0\n"
                      "global e 10 0\n");
  assert_string_equal(refs_of(r),
                      "use self.b 5 3\ncall ?.f 12 7\ncall .get 12 7\nuse self.b 12 7\n");
  gsp_cg_result_free(r);
}

/* A project's own annotation macros, learned from a header the file
 * includes: blanked in the including file unless it redefines them (lower
 * case: all-caps names in these places are blanked by their place). */
static void test_c_macros_from_includes(void **state) {
  (void)state;
  static const char hdr[] =
      "#define api __attribute__ ((visibility (\"default\")))\n"
      "#define nothing\n"
      "#define win __declspec (dllexport)\n"
      "#define VALUE 1\n"
      "#define GONE\n"
      "#undef GONE\n"
      "#define FN(x) x\n";
  static const char src[] =
      "#include \"hdr.h\"\napi int f (void);\nnothing int g (void);\n"
      "win int h (void);\n";
  cg_macro_tab extra = {0};
  cg_macro_set scratch = {0};
  assert_int_equal(gsp__cg_c_learn_macros(hdr, strlen(hdr), &scratch, &extra), GSP_OK);
  assert_int_equal(extra.used, 3); /* api, nothing, win; not VALUE, GONE or FN */
  gsp_cg_parser *p = NULL;
  gsp_cg_result *r = NULL;
  assert_int_equal(gsp_cg_parser_create(&p), GSP_OK);
  assert_int_equal(gsp_cg_parse(p, GSP_CG_LANG_C, src, strlen(src), &r), GSP_OK);
  assert_true(gsp_cg_result_has_error(r)); /* the file alone: api is unknown */
  gsp_cg_result_free(r);
  assert_int_equal(gsp__cg_parse_with(p, GSP_CG_LANG_C, src, strlen(src), &extra, &r), GSP_OK);
  assert_false(gsp_cg_result_has_error(r));
  assert_string_equal(defs_of(r), "decl f 2 -1\ndecl g 3 -1\ndecl h 4 -1\n");
  gsp_cg_result_free(r);
  static const char undef[] = "#undef api\napi int f (void);\n";
  assert_int_equal(gsp__cg_parse_with(p, GSP_CG_LANG_C, undef, strlen(undef), &extra, &r), GSP_OK);
  assert_true(gsp_cg_result_has_error(r)); /* the file's own #undef wins */
  gsp_cg_result_free(r);
  assert_int_equal(gsp_cg_parse(p, GSP_CG_LANG_C, src, strlen(src), &r), GSP_OK);
  assert_true(gsp_cg_result_has_error(r)); /* the extra names were for that call only */
  gsp_cg_result_free(r);
  gsp_cg_parser_destroy(p);
  gsp__cg_macro_tab_free(&extra);
  gsp__cg_macro_set_free(&scratch);
}

/* What the graph could not follow, most frequent first. */
static void test_unresolved_specifiers(void **state) {
  (void)state;
  gsp_cg *cg = analyze(CG_FIXTURE_LANG_DIR, 1, NULL);
  cg_unresolved top[8];
  size_t n = 0, distinct = 0;
  assert_int_equal(gsp__cg_unresolved_top(cg, 8, top, &n, &distinct), GSP_OK);
  static const char *const want[] = {"fs js/app.js",
                                     "lib/pad.cjs js/node_modules/left-pad/package.json",
                                     "nowhere js/app.js", "path js/lib/parse.cjs"};
  assert_int_equal(n, NELEM(want));
  assert_int_equal(distinct, NELEM(want));
  for (size_t i = 0; i < n; i++) {
    char got[256];
    snprintf(got, sizeof got, "%s %s", top[i].module, gsp_cg_file_path(cg, top[i].first_file));
    assert_string_equal(got, want[i]);
    assert_int_equal(top[i].count, 1);
    assert_int_equal(top[i].lang, GSP_CG_LANG_JS);
  }
  assert_int_equal(gsp__cg_unresolved_top(cg, 2, top, &n, NULL), GSP_OK);
  assert_int_equal(n, 2);
  gsp_cg_destroy(cg);
  /* tsconfig settings and patterns are no specifiers; @app/nowhere is one */
  cg = analyze(CG_FIXTURE_LANG2_DIR, 1, NULL);
  assert_int_equal(gsp__cg_unresolved_top(cg, 8, top, &n, &distinct), GSP_OK);
  assert_int_equal(n, 1);
  assert_string_equal(top[0].module, "@app/nowhere");
  gsp_cg_destroy(cg);
  /* counted per specifier: C system headers outside the tree */
  cg = analyze(CG_FIXTURE_DIR, 1, NULL);
  assert_int_equal(gsp__cg_unresolved_top(cg, 8, top, &n, &distinct), GSP_OK);
  assert_true(n >= 1);
  for (size_t i = 1; i < n; i++) assert_true(top[i - 1].count >= top[i].count);
  gsp_cg_destroy(cg);
}

/* ---- an edited tsconfig.json changes the graph ---- */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_tsconfig_edit(void **state) {
  (void)state;
  char dir[] = "/tmp/cg_lang2_XXXXXX", cmd[512], path[512];
  assert_non_null(mkdtemp(dir));
  snprintf(cmd, sizeof cmd, "cp -r %s/ts %s/ts && mkdir %s/cache", CG_FIXTURE_LANG2_DIR, dir, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof path, "%s/cache", dir);
  gsp_tier *tier = NULL;
  assert_int_equal(gsp_tier_open(path, 0, &tier, NULL, 0), GSP_OK);
  gsp_cg *cg = analyze(dir, 2, tier);
  long main_ts = gsp_cg_file_find(cg, "ts/src/app/main.ts");
  assert_true(main_ts >= 0);
  assert_string_equal(gsp_cg_file_path(cg, (size_t)gsp_cg_import_target(cg, (size_t)main_ts, 0)),
                      "ts/src/app/config.ts");
  gsp_cg_destroy(cg);
  /* @app/... now leads to fallback/ only: @app/config names no file */
  snprintf(path, sizeof path, "%s/ts/tsconfig.base.json", dir);
  write_file(path,
             "{\"compilerOptions\": {\"baseUrl\": \"./src\",\n"
             "  \"paths\": {\"@app/*\": [\"fallback/*\"], \"@lib\": [\"lib/index.ts\"]}}}\n");
  cg = analyze(dir, 2, tier);
  gsp_cg *fresh = analyze(dir, 1, NULL);
  for (int k = 0; k < 2; k++) { /* imports are resolved again, with or without the store */
    const gsp_cg *g = k ? fresh : cg;
    assert_int_equal(gsp_cg_import_target(g, (size_t)main_ts, 0), -1);
    assert_int_equal(gsp_cg_import_target(g, (size_t)main_ts, 1),
                     gsp_cg_file_find(g, "ts/src/fallback/old.ts"));
  }
  size_t tf, td;
  assert_false(gsp_cg_ref_target(fresh, (size_t)main_ts, 0, &tf, &td)); /* config() */
  assert_true(gsp_cg_ref_target(fresh, (size_t)main_ts, 1, &tf, &td));  /* legacy() */
  char *a = cg_dump(cg), *b = cg_dump(fresh); /* the stored bindings were not kept */
  assert_string_equal(a, b);
  free(a), free(b);
  gsp_cg_destroy(fresh);
  gsp_cg_destroy(cg);
  gsp_tier_destroy(tier);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

/* A package whose entries name its own directory, a tsconfig extending
 * itself: resolution ends (unresolved), it does not loop. */
static void test_self_references(void **state) {
  (void)state;
  char dir[] = "/tmp/cg_lang2_self_XXXXXX", path[512], cmd[512];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/pkg", dir);
  assert_int_equal(mkdir(path, 0755), 0);
  snprintf(path, sizeof path, "%s/pkg/package.json", dir);
  write_file(path,
             "{\"main\": \".\", \"exports\": {\".\": \"./\", \"./x\": \"..\"},\n"
             " \"imports\": {\"#self\": \"./\"}}\n");
  snprintf(path, sizeof path, "%s/pkg/a.js", dir);
  write_file(path, "require('.');\nrequire('#self');\n");
  snprintf(path, sizeof path, "%s/b.ts", dir);
  write_file(path, "import x from './pkg';\nimport y from 'lib/y';\n");
  snprintf(path, sizeof path, "%s/tsconfig.json", dir);
  write_file(path,
             "{\"extends\": \"./tsconfig\", \"compilerOptions\": {\"baseUrl\": \".\",\n"
             " \"paths\": {\"*\": [\"*\", \"pkg\"]}}}\n");
  gsp_cg *cg = analyze(dir, 1, NULL);
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  assert_int_equal(st.files, 4);
  long a = gsp_cg_file_find(cg, "pkg/a.js"), b = gsp_cg_file_find(cg, "b.ts");
  assert_int_equal(gsp_cg_import_target(cg, (size_t)a, 0), -1);
  assert_int_equal(gsp_cg_import_target(cg, (size_t)a, 1), -1);
  assert_int_equal(gsp_cg_import_target(cg, (size_t)b, 0), -1);
  assert_int_equal(gsp_cg_import_target(cg, (size_t)b, 1), -1);
  gsp_cg_destroy(cg);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_files_and_edges),
      cmocka_unit_test(test_definitions_and_imports),
      cmocka_unit_test(test_bindings),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_json_comments),
      cmocka_unit_test(test_python_attributes),
      cmocka_unit_test(test_c_macros_from_includes),
      cmocka_unit_test(test_unresolved_specifiers),
      cmocka_unit_test(test_tsconfig_edit),
      cmocka_unit_test(test_self_references),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
