/*
 * test_codegraph_lang.c - the languages and extractions beyond the first
 * C and Python set, on fixture_lang/ whose graph is known exactly:
 * JavaScript/TypeScript/TSX (definitions, calls, `new`, JSX components,
 * type uses, ES imports, re-exports, default imports, require(), dynamic
 * import(), extension / index / TypeScript-twin / node_modules resolution
 * through package.json "exports" and "main", two import cycles), Python
 * variable reads (module globals and from-imported names read in
 * functions; locals, parameters, `global` and `nonlocal` handled), C calls
 * through struct fields (unresolved by design), and the C macro pre-pass
 * (glibc-style headers and C++-only branches parse without errors, lines
 * unchanged). Every file, edge, definition, import and reference is
 * compared.
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

static const char *const lang_files[] = {
    "c/api.h",
    "c/ops.c",
    "js/app.js",
    "js/lazy.mjs",
    "js/lib/greet.js",
    "js/lib/index.js",
    "js/lib/parse.cjs",
    "js/lib/util.js",
    "js/node_modules/left-pad/lib/pad.mjs",
    "js/node_modules/left-pad/lib/util.js",
    "js/node_modules/left-pad/package.json",
    "js/node_modules/old-pkg/bin/cli.js",
    "js/node_modules/old-pkg/main.js",
    "js/node_modules/old-pkg/package.json",
    "py/conf.py",
    "py/user.py",
    "ts/config.ts",
    "ts/main.ts",
    "ts/shapes.ts",
    "ts/view.tsx",
};

static const char *const lang_edges[] = {
    "c/ops.c -> c/api.h",
    "js/app.js -> js/lazy.mjs",
    "js/app.js -> js/lib/greet.js",
    "js/app.js -> js/lib/parse.cjs",
    "js/app.js -> js/lib/util.js",
    "js/app.js -> js/node_modules/left-pad/lib/pad.mjs",
    "js/app.js -> js/node_modules/left-pad/lib/util.js",
    "js/app.js -> js/node_modules/old-pkg/main.js",
    "js/lib/greet.js -> js/lib/util.js",
    "js/lib/index.js -> js/lib/greet.js",
    "js/lib/index.js -> js/lib/util.js",
    "js/lib/util.js -> js/lib/greet.js",
    "js/node_modules/left-pad/package.json -> js/node_modules/left-pad/lib/pad.mjs",
    "js/node_modules/left-pad/package.json -> js/node_modules/left-pad/lib/util.js",
    "js/node_modules/old-pkg/bin/cli.js -> js/node_modules/old-pkg/main.js",
    "js/node_modules/old-pkg/package.json -> js/node_modules/old-pkg/main.js",
    "py/user.py -> py/conf.py",
    "ts/main.ts -> js/lib/index.js",
    "ts/main.ts -> ts/config.ts",
    "ts/main.ts -> ts/shapes.ts",
    "ts/shapes.ts -> ts/main.ts",
    "ts/view.tsx -> ts/main.ts",
    "ts/view.tsx -> ts/shapes.ts",
};

/* file kind name line parent */
static const char *const lang_defs[] = {
    "c/api.h macro API_H 2 -1",
    "c/api.h macro API_EXPORT 4 -1",
    "c/api.h macro API_PURE 5 -1",
    "c/api.h decl api_open 9 -1",
    "c/api.h decl api_close 10 -1",
    "c/api.h decl api_count 11 -1",
    "c/api.h decl api_read 12 -1",
    "c/api.h function api_max 15 -1",
    "c/api.h typedef ops_t 22 -1",
    "c/api.h struct ops 20 -1",
    "c/ops.c function twice 3 -1",
    "c/ops.c function use 5 -1",
    "js/app.js function main 10 -1",
    "js/app.js struct Widget 24 -1",
    "js/lazy.mjs function lazy 1 -1",
    "js/lib/greet.js global default 3 -1",
    "js/lib/greet.js function greet 3 -1",
    "js/lib/greet.js function shout 7 -1",
    "js/lib/parse.cjs function parse 3 -1",
    "js/lib/util.js function helper 3 -1",
    "js/lib/util.js struct Base 7 -1",
    "js/lib/util.js method hello 8 1",
    "js/lib/util.js method name 11 1",
    "js/node_modules/left-pad/lib/pad.mjs global default 1 -1",
    "js/node_modules/left-pad/lib/pad.mjs function leftPad 1 -1",
    "js/node_modules/left-pad/lib/util.js function padUtil 1 -1",
    "py/conf.py global LIMIT 1 -1",
    "py/conf.py global NAME 2 -1",
    "py/user.py global COUNT 4 -1",
    "py/user.py function check 7 -1",
    "py/user.py function shadow 13 -1",
    "py/user.py function bump 18 -1",
    "py/user.py struct K 23 -1",
    "py/user.py global size 24 4", /* a class attribute */
    "py/user.py method get 26 4",
    "ts/config.ts global config 1 -1",
    "ts/main.ts struct Named 6 -1",
    "ts/main.ts typedef Id 9 -1",
    "ts/main.ts struct Color 10 -1",
    "ts/main.ts function area 15 -1",
    "ts/main.ts function run 19 -1",
    "ts/shapes.ts struct Shape 3 -1",
    "ts/shapes.ts struct Circle 7 -1",
    "ts/shapes.ts method r 9 1",
    "ts/shapes.ts function size 14 -1",
    "ts/shapes.ts decl measure 18 -1",
    "ts/view.tsx function Badge 4 -1",
    "ts/view.tsx function View 8 -1",
};

/* file kind module name alias level line -> target ("-": none) */
static const char *const lang_imports[] = {
    "c/ops.c include api.h - - 0 1 -> c/api.h",
    "js/app.js from ./lib/greet.js default greet 0 1 -> js/lib/greet.js",
    "js/app.js from ./lib/greet.js shout yell 0 1 -> js/lib/greet.js",
    "js/app.js import ./lib/util - util 0 2 -> js/lib/util.js",
    "js/app.js from ./lib/parse.cjs parse - 0 3 -> js/lib/parse.cjs",
    "js/app.js from fs default fs 0 4 -> -",
    "js/app.js from left-pad default leftPad 0 5 -> js/node_modules/left-pad/lib/pad.mjs",
    "js/app.js from nowhere default missing 0 6 -> -",
    "js/app.js from left-pad/util padUtil - 0 7 -> js/node_modules/left-pad/lib/util.js",
    "js/app.js import old-pkg - old 0 8 -> js/node_modules/old-pkg/main.js",
    "js/app.js import ./lazy.mjs - - 0 20 -> js/lazy.mjs",
    "js/lib/greet.js from ./util.js helper - 0 1 -> js/lib/util.js",
    "js/lib/index.js from ./util.js * - 1 1 -> js/lib/util.js",
    "js/lib/index.js from ./greet.js default greet 1 2 -> js/lib/greet.js",
    "js/lib/parse.cjs import path - path 0 1 -> -",
    "js/lib/util.js from ./greet.js default greet 0 1 -> js/lib/greet.js",
    "js/node_modules/left-pad/package.json import ./lib/pad.mjs . - 0 6 -> "
    "js/node_modules/left-pad/lib/pad.mjs",
    "js/node_modules/left-pad/package.json import ./lib/pad.cjs . require 0 6 -> -",
    "js/node_modules/left-pad/package.json import ./lib/util.js ./util - 0 10 -> "
    "js/node_modules/left-pad/lib/util.js",
    "js/node_modules/left-pad/package.json import lib/pad.cjs main - 0 4 -> -",
    "js/node_modules/left-pad/package.json import left-pad name - 2 2 -> -",
    "js/node_modules/old-pkg/bin/cli.js import .. - pkg 0 1 -> js/node_modules/old-pkg/main.js",
    "js/node_modules/old-pkg/package.json import main main - 0 1 -> "
    "js/node_modules/old-pkg/main.js",
    "js/node_modules/old-pkg/package.json import old-pkg name - 2 1 -> -",
    "py/user.py from conf LIMIT - 0 1 -> py/conf.py",
    "py/user.py import conf - - 0 2 -> py/conf.py",
    "ts/main.ts from ../js/lib helper - 0 1 -> js/lib/index.js",
    "ts/main.ts from ../js/lib greet - 0 1 -> js/lib/index.js",
    "ts/main.ts from ./shapes Shape - 0 2 -> ts/shapes.ts",
    "ts/main.ts import ./shapes - shapes 0 3 -> ts/shapes.ts",
    "ts/main.ts import ./config - cfg 0 4 -> ts/config.ts",
    "ts/shapes.ts from ./main area - 0 1 -> ts/main.ts",
    "ts/view.tsx from ./shapes Circle - 0 1 -> ts/shapes.ts",
    "ts/view.tsx from ./main.js run - 0 2 -> ts/main.ts",
};

/* file qualifier.name line -> file:definition */
static const char *const lang_refs[] = {
    "c/ops.c ops_t 5 -> c/api.h:ops_t",
    "c/ops.c ops 5 -> c/api.h:ops",
    "c/ops.c p.run 6 -> -",
    "c/ops.c s.run 7 -> -",
    "c/ops.c api_open 8 -> c/api.h:api_open",
    "c/ops.c api_max 8 -> c/api.h:api_max",
    "c/ops.c twice 8 -> c/ops.c:twice",
    "c/ops.c api_read 8 -> c/api.h:api_read",
    "js/app.js greet 11 -> js/lib/greet.js:greet",
    "js/app.js yell 12 -> js/lib/greet.js:shout",
    "js/app.js util.helper 13 -> js/lib/util.js:helper",
    "js/app.js parse 14 -> js/lib/parse.cjs:parse",
    "js/app.js leftPad 15 -> js/node_modules/left-pad/lib/pad.mjs:leftPad",
    "js/app.js fs.readFileSync 16 -> -",
    "js/app.js missing 17 -> -",
    "js/app.js padUtil 18 -> js/node_modules/left-pad/lib/util.js:padUtil",
    "js/app.js old.old 19 -> -",
    "js/app.js Widget 21 -> js/app.js:Widget",
    "js/app.js util.Base 24 -> js/lib/util.js:Base",
    "js/lib/greet.js helper 4 -> js/lib/util.js:helper",
    "js/lib/greet.js greet 8 -> js/lib/greet.js:greet",
    "js/lib/parse.cjs path.join 4 -> -",
    "js/lib/util.js greet 9 -> js/lib/greet.js:greet",
    "js/lib/util.js this.name 9 -> js/lib/util.js:name",
    "js/node_modules/old-pkg/bin/cli.js pkg.old 2 -> -",
    "py/user.py range 27 -> -",
    "py/user.py COUNT 8 -> py/user.py:COUNT",
    "py/user.py LIMIT 8 -> py/conf.py:LIMIT",
    "py/user.py COUNT 20 -> py/user.py:COUNT",
    "py/user.py LIMIT 27 -> py/conf.py:LIMIT",
    "py/user.py COUNT 27 -> py/user.py:COUNT",
    "ts/main.ts Shape 15 -> ts/shapes.ts:Shape",
    "ts/main.ts shapes.size 16 -> ts/shapes.ts:size",
    "ts/main.ts Id 19 -> ts/main.ts:Id",
    "ts/main.ts helper 20 -> js/lib/util.js:helper",
    "ts/main.ts greet 21 -> js/lib/greet.js:greet",
    "ts/main.ts area 22 -> ts/main.ts:area",
    "ts/main.ts shapes.Circle 22 -> ts/shapes.ts:Circle",
    "ts/shapes.ts Shape 7 -> ts/shapes.ts:Shape",
    "ts/shapes.ts area 10 -> ts/main.ts:area",
    "ts/shapes.ts Shape 14 -> ts/shapes.ts:Shape",
    "ts/shapes.ts Shape 18 -> ts/shapes.ts:Shape",
    "ts/view.tsx JSX.Element 4 -> -",
    "ts/view.tsx run 5 -> ts/main.ts:run",
    "ts/view.tsx JSX.Element 8 -> -",
    "ts/view.tsx run 9 -> ts/main.ts:run",
    "ts/view.tsx Badge 12 -> ts/view.tsx:Badge",
    "ts/view.tsx Circle 13 -> ts/shapes.ts:Circle",
};

/* ---- helpers ---- */

static gsp_cg *analyze_fixture(unsigned jobs) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = CG_FIXTURE_LANG_DIR, .jobs = jobs};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  return cg;
}

#define NELEM(a) (sizeof(a) / sizeof *(a))

/* ---- the fixture ---- */

static void test_lang_files_and_edges(void **state) {
  (void)state;
  gsp_cg *cg = analyze_fixture(2);
  assert_int_equal(gsp_cg_nfiles(cg), NELEM(lang_files));
  for (size_t i = 0; i < NELEM(lang_files); i++)
    assert_string_equal(gsp_cg_file_path(cg, i), lang_files[i]);
  size_t k = 0;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    size_t n;
    const uint32_t *d = gsp_cg_deps(cg, f, &n);
    for (size_t i = 0; i < n; i++) {
      char e[512];
      snprintf(e, sizeof e, "%s -> %s", gsp_cg_file_path(cg, f), gsp_cg_file_path(cg, d[i]));
      expect_line(e, lang_edges, NELEM(lang_edges), &k);
    }
  }
  assert_int_equal(k, NELEM(lang_edges));
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  assert_int_equal(st.files_with_errors, 0); /* api.h too: its macros are blanked */
  assert_int_equal(st.files_c, 2);
  assert_int_equal(st.files_python, 2);
  assert_int_equal(st.files_js, 10); /* .js, .mjs, .cjs, node_modules' inside the tree */
  assert_int_equal(st.files_ts, 4);  /* .ts and .tsx */
  assert_int_equal(st.files_json, 2);
  assert_int_equal(st.files, 20);
  assert_int_equal(st.imports, NELEM(lang_imports));
  assert_int_equal(st.imports_resolved, 27); /* fs, nowhere, path, a missing main stay out */
  assert_int_equal(st.cycles, 2);            /* greet.js <-> util.js, main.ts <-> shapes.ts */
  assert_int_equal(st.files_in_cycles, 4);
  assert_string_equal(gsp_cg_lang_name(gsp_cg_result_lang(gsp_cg_file_result(cg, 2))),
                      "javascript");
  const char *why = cg_check_invariants(cg);
  if (why) print_error("%s\n", why);
  assert_null(why);
  gsp_cg_destroy(cg);
}

static void test_lang_definitions_and_imports(void **state) {
  (void)state;
  gsp_cg *cg = analyze_fixture(1);
  size_t kd = 0, ki = 0;
  char line[512];
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    for (size_t i = 0; i < gsp_cg_result_ndefs(r); i++) {
      def_line(cg, f, i, line, sizeof line);
      expect_line(line, lang_defs, NELEM(lang_defs), &kd);
    }
    for (size_t i = 0; i < gsp_cg_result_nimports(r); i++) {
      import_line(cg, f, i, line, sizeof line);
      expect_line(line, lang_imports, NELEM(lang_imports), &ki);
    }
  }
  assert_int_equal(kd, NELEM(lang_defs));
  assert_int_equal(ki, NELEM(lang_imports));
  gsp_cg_destroy(cg);
}

static void test_lang_bindings(void **state) {
  (void)state;
  gsp_cg *cg = analyze_fixture(2);
  size_t k = 0;
  char line[768];
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++)
    for (size_t i = 0; i < gsp_cg_result_nrefs(gsp_cg_file_result(cg, f)); i++) {
      ref_line(cg, f, i, line, sizeof line);
      expect_line(line, lang_refs, NELEM(lang_refs), &k);
    }
  assert_int_equal(k, NELEM(lang_refs));
  gsp_cg_destroy(cg);
}

/* One worker or two: the same graph, byte for byte. */
static void test_lang_deterministic(void **state) {
  (void)state;
  gsp_cg *a = analyze_fixture(1), *b = analyze_fixture(2);
  char *da = cg_dump(a), *db = cg_dump(b);
  assert_non_null(da);
  assert_non_null(db);
  assert_string_equal(da, db);
  free(da), free(db);
  gsp_cg_destroy(a), gsp_cg_destroy(b);
}

/* ---- snippets ---- */

static void test_lang_of_path(void **state) {
  (void)state;
  static const struct {
    const char *path;
    gsp_cg_lang lang;
  } cases[] = {
      {"a.js", GSP_CG_LANG_JS},     {"a.mjs", GSP_CG_LANG_JS},       {"a.cjs", GSP_CG_LANG_JS},
      {"a.jsx", GSP_CG_LANG_JS},    {"a.ts", GSP_CG_LANG_TS},        {"a.d.ts", GSP_CG_LANG_TS},
      {"a.mts", GSP_CG_LANG_TS},    {"a.cts", GSP_CG_LANG_TS},       {"a.tsx", GSP_CG_LANG_TSX},
      {"a.json", GSP_CG_LANG_NONE}, {"js/README", GSP_CG_LANG_NONE},
  };
  for (size_t i = 0; i < NELEM(cases); i++)
    assert_int_equal(gsp_cg_lang_of_path(cases[i].path), cases[i].lang);
  assert_string_equal(gsp_cg_lang_name(GSP_CG_LANG_TS), "typescript");
  assert_string_equal(gsp_cg_lang_name(GSP_CG_LANG_TSX), "tsx");
  assert_string_equal(gsp_cg_lang_name((gsp_cg_lang)99), "none");
}

/* glibc's annotation macros: without the pre-pass this header is a syntax
 * error to tree-sitter and loses its prototypes. */
static const char c_header[] =
    "#define MY_API\n"                                               /* 1 */
    "#define MY_PURE __attribute__ ((__pure__))\n"                   /* 2 */
    "__BEGIN_DECLS\n"                                                /* 3 */
    "extern char *a_dup (const char *__s) __THROW\n"                 /* 4 */
    "     __attribute_malloc__ __nonnull ((1,\n"                     /* 5 */
    "                                      2)) __wur;\n"             /* 6 */
    "MY_API int a_len (const char *s) MY_PURE;\n"                    /* 7 */
    "extern int __REDIRECT (a_stat, (const char *__f), a_stat64);\n" /* 8 */
    "__extern_inline int\n"                                          /* 9 */
    "__NTH (a_max (int x, int y))\n"                                 /* 10 */
    "{ return x > y ? x : y; }\n"                                    /* 11 */
    "/* __THROW in a comment */ extern int a_last (void) __wur;\n"   /* 12 */
    "__END_DECLS\n";                                                 /* 13 */

static char *defs_of(const gsp_cg_result *r) {
  static char buf[4096];
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < gsp_cg_result_ndefs(r) && n < sizeof buf; i++) {
    gsp_cg_def d;
    gsp_cg_result_def(r, i, &d);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s %s %u\n", gsp_cg_def_kind_name(d.kind),
                          d.name, d.line);
  }
  return buf;
}

static void test_c_macro_prepass(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_C, c_header);
  assert_false(gsp_cg_result_has_error(r));
  assert_string_equal(defs_of(r),
                      "macro MY_API 1\nmacro MY_PURE 2\ndecl a_dup 4\ndecl a_len 7\n"
                      "decl a_stat 8\nfunction a_max 10\ndecl a_last 12\n");
  assert_int_equal(gsp_cg_result_lines(r), 13);
  gsp_cg_result_free(r);
  /* a name used before its empty #define, strings and unknown macros stay
   * (lower case: an all-caps name there is blanked by its place) */
  r = parse(GSP_CG_LANG_C, "later int f(void);\n#define later\nconst char *s = \"__THROW\";\n");
  assert_true(gsp_cg_result_has_error(r));
  assert_string_equal(defs_of(r), "decl f 1\nmacro later 2\nglobal s 3\n");
  gsp_cg_result_free(r);
  /* #undef and a function-like redefinition end a name's blanking */
  r = parse(GSP_CG_LANG_C, "#define M\nM int g(void);\n#undef M\n#define M(x) x\nint h = M(1);\n");
  assert_false(gsp_cg_result_has_error(r));
  assert_string_equal(defs_of(r), "macro M 1\ndecl g 2\nmacro M 4\nglobal h 5\n");
  assert_int_equal(gsp_cg_result_nrefs(r), 1); /* the call M(1) */
  gsp_cg_result_free(r);
}

/* Branches only a C++ compiler takes are dead code to C: blanked, so the
 * classic extern "C" { ... } pair is no syntax error. */
static const char c_cplusplus[] =
    "#ifdef __cplusplus\n"
    "extern \"C\" {\n"
    "#endif\n"
    "int a(void);\n"
    "#if defined (__cplusplus)\n"
    "}\n"
    "#else\n"
    "int b(void);\n"
    "#endif\n"
    "#ifndef __cplusplus\n"
    "int c(void);\n"
    "#else\n"
    "class K {};\n"
    "#endif\n"
    "#if __cplusplus /* C++ */\n"
    "int d;\n"
    "#elif defined(FOO)\n"
    "int e(void);\n"
    "#endif\n"
    "#ifdef __cplusplus\n"
    "#define ONLY_CXX 1\n"
    "}\n"
    "#endif\n";

static void test_c_cplusplus_branches(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_C, c_cplusplus);
  assert_false(gsp_cg_result_has_error(r));
  assert_string_equal(defs_of(r), "decl a 4\ndecl b 8\ndecl c 11\ndecl e 18\n");
  assert_int_equal(gsp_cg_result_lines(r), 23);
  gsp_cg_result_free(r);
}

static void test_c_field_calls(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_C,
                           "void f(struct s *p, struct s v) {\n  p->op(1);\n  v.op(2);\n"
                           "  p->inner.cb();\n  get()->fn();\n  g();\n}\n");
  static const char *const want[] = {"use .s",           "use .s",    "call p.op", "call v.op",
                                     "call p->inner.cb", "call ?.fn", "call .get", "call .g"};
  assert_int_equal(gsp_cg_result_nrefs(r), NELEM(want));
  for (size_t i = 0; i < NELEM(want); i++) {
    gsp_cg_ref x;
    char got[128];
    gsp_cg_result_ref(r, i, &x);
    snprintf(got, sizeof got, "%s %s.%s", gsp_cg_ref_kind_name(x.kind), x.qualifier, x.name);
    assert_string_equal(got, want[i]);
  }
  gsp_cg_result_free(r);
}

static void test_js_syntax_error_and_kinds(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_JS, "function ok() {}\nfunction bad( {\nclass K {}\n");
  assert_true(gsp_cg_result_has_error(r));
  assert_int_equal(gsp_cg_result_lang(r), GSP_CG_LANG_JS);
  assert_non_null(strstr(defs_of(r), "function ok 1\n"));
  gsp_cg_result_free(r);
  r = parse(GSP_CG_LANG_TSX, "export default () => <div/>;\nlet x: A.B<C> = 1;\n");
  assert_false(gsp_cg_result_has_error(r));
  assert_string_equal(defs_of(r), "global default 1\nglobal x 2\n");
  assert_int_equal(gsp_cg_result_nrefs(r), 2); /* A.B, C */
  gsp_cg_result_free(r);
  /* an object literal's method is no definition; a class's is */
  r = parse(GSP_CG_LANG_JS, "const o = { f() {} };\nclass C {\n  g() {}\n}\nfunction* h() {}\n");
  assert_string_equal(defs_of(r), "global o 1\nstruct C 2\nmethod g 3\nfunction h 5\n");
  gsp_cg_result_free(r);
}

static void test_package_json(void **state) {
  (void)state;
  assert_int_equal(gsp_cg_lang_of_path("a/package.json"), GSP_CG_LANG_JSON);
  assert_int_equal(gsp_cg_lang_of_path("package.json"), GSP_CG_LANG_JSON);
  assert_int_equal(gsp_cg_lang_of_path("a/tsconfig.json"), GSP_CG_LANG_JSON);
  assert_int_equal(gsp_cg_lang_of_path("jsconfig.json"), GSP_CG_LANG_JSON);
  assert_int_equal(gsp_cg_lang_of_path("a/tsconfig.base.json"), GSP_CG_LANG_JSON);
  assert_int_equal(gsp_cg_lang_of_path("a/tsconfigs.json"), GSP_CG_LANG_NONE);
  assert_int_equal(gsp_cg_lang_of_path("a/data.json"), GSP_CG_LANG_NONE);
  gsp_cg_result *r = parse(
      GSP_CG_LANG_JSON,
      "{\n \"main\": \"m.js\",\n \"exports\": {\n  \"node\": {\"default\": \"n.js\"}\n }\n}\n");
  assert_false(gsp_cg_result_has_error(r));
  assert_int_equal(gsp_cg_result_lines(r), 6);
  assert_int_equal(gsp_cg_result_ndefs(r) + gsp_cg_result_nrefs(r), 0);
  assert_int_equal(gsp_cg_result_nimports(r), 2);
  gsp_cg_import im;
  gsp_cg_result_import(r, 0, &im); /* conditions without subpaths: the package itself */
  assert_string_equal(im.module, "n.js");
  assert_string_equal(im.name, ".");
  assert_int_equal(im.line, 3);
  gsp_cg_result_import(r, 1, &im);
  assert_string_equal(im.module, "m.js");
  assert_string_equal(im.name, "main");
  assert_int_equal(im.line, 2);
  gsp_cg_result_free(r);
  r = parse(GSP_CG_LANG_JSON, "{\n\"main\": ");
  assert_true(gsp_cg_result_has_error(r));
  assert_int_equal(gsp_cg_result_nimports(r), 1); /* the error, with its line */
  gsp_cg_result_import(r, 0, &im);
  assert_string_equal(im.name, "error");
  assert_int_equal(im.line, 2);
  assert_int_equal(im.level, 2);
  assert_non_null(strstr(im.module, "line 2: "));
  gsp_cg_result_free(r);
}

/* Python reads: what shadows a module name and what does not. */
static void test_python_reads(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_PYTHON,
                           "from m import A as B\n"
                           "X, Y = 1, 2\n"
                           "def f(p, *X):\n"                   /* 3 */
                           "    def g():\n"                    /* 4 */
                           "        nonlocal p\n"              /* 5 */
                           "        return X + Y + B\n"        /* 6 */
                           "    with o() as Y:\n"              /* 7 */
                           "        return o.X, f(k=B), Y\n"); /* 8 */
  char got[256] = "";
  size_t n = 0;
  for (size_t i = 0; i < gsp_cg_result_nrefs(r); i++) {
    gsp_cg_ref x;
    gsp_cg_result_ref(r, i, &x);
    n += (size_t)snprintf(got + n, sizeof got - n, "%s %s %u %d;", gsp_cg_ref_kind_name(x.kind),
                          x.name, x.line, x.scope);
  }
  /* X is f's parameter (shadows in g too), Y is bound by `with ... as` in f */
  assert_string_equal(got, "call o 7 2;call f 8 2;use B 6 3;use B 8 2;"); /* scopes: f 2, g 3 */
  gsp_cg_result_free(r);
}

/* The serialized form carries the extractor's version: a block written by
 * an older extractor is refused, so a cache never serves it. */
static void test_old_results_refused(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_TS, "export function f() {}\n");
  size_t len;
  const uint8_t *b = gsp_cg_result_bytes(r, &len);
  uint8_t *copy = malloc(len);
  assert_non_null(copy);
  memcpy(copy, b, len);
  gsp_cg_result *back = NULL;
  assert_int_equal(gsp_cg_result_load(copy, len, &back), GSP_OK);
  assert_int_equal(gsp_cg_result_lang(back), GSP_CG_LANG_TS);
  gsp_cg_result_free(back);
  uint16_t old = 1;
  memcpy(copy + 4, &old, sizeof old); /* version 1: before these languages */
  assert_int_equal(gsp_cg_result_load(copy, len, &back), GSP_ECORRUPT);
  free(copy);
  gsp_cg_result_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lang_files_and_edges),
      cmocka_unit_test(test_lang_definitions_and_imports),
      cmocka_unit_test(test_lang_bindings),
      cmocka_unit_test(test_lang_deterministic),
      cmocka_unit_test(test_lang_of_path),
      cmocka_unit_test(test_c_macro_prepass),
      cmocka_unit_test(test_c_cplusplus_branches),
      cmocka_unit_test(test_c_field_calls),
      cmocka_unit_test(test_js_syntax_error_and_kinds),
      cmocka_unit_test(test_python_reads),
      cmocka_unit_test(test_package_json),
      cmocka_unit_test(test_old_results_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
