/*
 * test_codegraph_lang3.c - resolution of what a plain reading of the
 * sources misses, on fixture_lang3/ whose graph is known exactly:
 *
 *  - C includes written through a macro (`#include APP_MAIN_H`), the
 *    header-path macro defined in the file itself or in a header it
 *    includes, also one reached only through another such include (a
 *    second round); version strings and malformed values are no paths.
 *  - C export macros known by their place (`GLAPI void APIENTRY f (`,
 *    `XMLPUBFUN xmlDocPtr XMLCALL f (`): blanked before the parse.
 *  - C++ standard-style headers without an extension (`#include
 *    <vector>`): files of the graph (parsed as C) when an include reaches
 *    them, directly or from another such header; an extension-less file
 *    nobody includes (c++/unused, a Makefile) is not.
 *
 * Every file, edge, definition and import is compared, with 1 and 2
 * workers (byte for byte the same graph), and a warm run through the
 * result store equals the cold one.
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
#include "gsperf/codegraph.h"
#include "gsperf/tier.h"

#define NELEM(a) (sizeof(a) / sizeof *(a))

static const char *const c_incs[] = {"inc", "inc/c++"};

static const char *const c_files[] = {
    "inc/app/cfg.h",
    "inc/app/main.h",
    "inc/app/next.h",
    "inc/c++/bits/vec.h",
    "inc/c++/initializer_list",
    "inc/c++/vector",
    "inc/cfg/header.h",
    "inc/ft2build.h",
    "src/local.c",
    "src/own.h",
    "src/use.c",
    "src/vec.c",
};

static const char *const c_edges[] = {
    "inc/c++/vector -> inc/c++/bits/vec.h", "inc/c++/vector -> inc/c++/initializer_list",
    "inc/ft2build.h -> inc/cfg/header.h",   "src/local.c -> src/own.h",
    "src/use.c -> inc/app/cfg.h",           "src/use.c -> inc/app/main.h",
    "src/use.c -> inc/app/next.h",          "src/use.c -> inc/ft2build.h",
    "src/vec.c -> inc/c++/vector",
};

static const char *const c_defs[] = {
    "inc/app/cfg.h macro APP_NEXT_H 1 -1",   "inc/app/cfg.h global app_cfg 2 -1",
    "inc/app/main.h decl app_main 1 -1",     "inc/app/next.h decl app_next 1 -1",
    "inc/c++/bits/vec.h decl vec_grow 1 -1", "inc/c++/initializer_list decl il_size 1 -1",
    "inc/c++/vector decl vector_size 4 -1",  "inc/cfg/header.h macro APP_MAIN_H 2 -1",
    "inc/cfg/header.h macro APP_CFG_H 3 -1", "inc/cfg/header.h macro APP_VERSION 4 -1",
    "inc/cfg/header.h macro APP_NAME 5 -1",  "src/local.c macro OWN_H 1 -1",
    "src/local.c function local 3 -1",       "src/own.h decl own 1 -1",
    "src/use.c function use 7 -1",           "src/vec.c function v 3 -1",
};

static const char *const c_imports[] = {
    "inc/app/cfg.h include_system app/next.h APP_NEXT_H - 2 1 -> -",
    "inc/c++/vector include_system bits/vec.h - - 0 2 -> inc/c++/bits/vec.h",
    "inc/c++/vector include_system initializer_list - - 0 3 -> inc/c++/initializer_list",
    "inc/cfg/header.h include_system app/main.h APP_MAIN_H - 2 2 -> -",
    "inc/cfg/header.h include app/cfg.h APP_CFG_H - 2 3 -> -",
    "inc/ft2build.h include_system cfg/header.h - - 0 2 -> inc/cfg/header.h",
    "src/local.c include own.h OWN_H - 2 1 -> -",
    "src/local.c include_system OWN_H - - 1 2 -> src/own.h",
    "src/use.c include_system ft2build.h - - 0 1 -> inc/ft2build.h",
    "src/use.c include_system APP_MAIN_H - - 1 2 -> inc/app/main.h",
    "src/use.c include_system APP_CFG_H - - 1 3 -> inc/app/cfg.h",
    "src/use.c include_system APP_NEXT_H - - 1 4 -> inc/app/next.h",
    "src/use.c include_system MISSING_H - - 1 5 -> -",
    "src/vec.c include_system vector - - 0 1 -> inc/c++/vector",
    "src/vec.c include_system missing_bare - - 0 2 -> -",
};

static const char *const c_refs[] = {
    "src/local.c own 3 -> src/own.h:own",
    "src/use.c app_main 7 -> inc/app/main.h:app_main",
    "src/use.c app_next 7 -> inc/app/next.h:app_next",
    "src/vec.c vector_size 3 -> inc/c++/vector:vector_size",
    "src/vec.c il_size 3 -> inc/c++/initializer_list:il_size",
};

static const char *const js_files[] = {
    "generated/gen.ts",
    "generated/templates/view.ts",
    "node_modules/dual/cjs/feature.cjs",
    "node_modules/dual/cjs/index.cjs",
    "node_modules/dual/cjs/late.cjs",
    "node_modules/dual/esm/feature.mjs",
    "node_modules/dual/esm/index.mjs",
    "node_modules/dual/esm/late.mjs",
    "node_modules/dual/package.json",
    "node_modules/dual/types/index.d.ts",
    "node_modules/dual/types/late.d.ts",
    "src/app.ts",
    "src/cjs.cjs",
    "src/esm.mjs",
    "src/templates/page.ts",
    "tsconfig.json",
};

static const char *const js_edges[] = {
    "node_modules/dual/package.json -> node_modules/dual/cjs/feature.cjs",
    "node_modules/dual/package.json -> node_modules/dual/cjs/index.cjs",
    "node_modules/dual/package.json -> node_modules/dual/cjs/late.cjs",
    "node_modules/dual/package.json -> node_modules/dual/esm/feature.mjs",
    "node_modules/dual/package.json -> node_modules/dual/esm/index.mjs",
    "node_modules/dual/package.json -> node_modules/dual/esm/late.mjs",
    "node_modules/dual/package.json -> node_modules/dual/types/index.d.ts",
    "node_modules/dual/package.json -> node_modules/dual/types/late.d.ts",
    "src/app.ts -> generated/gen.ts",
    "src/app.ts -> node_modules/dual/esm/late.mjs",
    "src/app.ts -> node_modules/dual/types/index.d.ts",
    "src/app.ts -> node_modules/dual/types/late.d.ts",
    "src/cjs.cjs -> node_modules/dual/cjs/feature.cjs",
    "src/cjs.cjs -> node_modules/dual/cjs/index.cjs",
    "src/cjs.cjs -> node_modules/dual/cjs/late.cjs",
    "src/esm.mjs -> node_modules/dual/esm/feature.mjs",
    "src/esm.mjs -> node_modules/dual/esm/index.mjs",
    "src/esm.mjs -> node_modules/dual/esm/late.mjs",
    "src/templates/page.ts -> generated/templates/view.ts",
};

static const char *const js_defs[] = {
    "generated/gen.ts function gen 1 -1",
    "generated/templates/view.ts function view 1 -1",
    "node_modules/dual/esm/feature.mjs function f 1 -1",
    "node_modules/dual/esm/index.mjs global default 1 -1",
    "node_modules/dual/esm/index.mjs function esmMain 1 -1",
    "node_modules/dual/esm/late.mjs global default 1 -1",
    "node_modules/dual/esm/late.mjs function lateEsm 1 -1",
    "node_modules/dual/types/index.d.ts global default 1 -1",
    "node_modules/dual/types/index.d.ts decl typedMain 1 -1",
    "node_modules/dual/types/late.d.ts global default 1 -1",
    "node_modules/dual/types/late.d.ts decl lateTyped 1 -1",
};

static const char *const js_imports[] = {
    "node_modules/dual/package.json import ./types/index.d.ts . types 0 4 -> "
    "node_modules/dual/types/index.d.ts",
    "node_modules/dual/package.json import ./esm/index.mjs . - 0 4 -> "
    "node_modules/dual/esm/index.mjs",
    "node_modules/dual/package.json import ./cjs/index.cjs . require 0 4 -> "
    "node_modules/dual/cjs/index.cjs",
    "node_modules/dual/package.json import ./types/index.d.ts . types-require 0 4 -> "
    "node_modules/dual/types/index.d.ts",
    "node_modules/dual/package.json import ./esm/feature.mjs ./feature - 0 9 -> "
    "node_modules/dual/esm/feature.mjs",
    "node_modules/dual/package.json import ./cjs/feature.cjs ./feature require 0 9 -> "
    "node_modules/dual/cjs/feature.cjs",
    "node_modules/dual/package.json import ./esm/late.mjs ./late - 0 13 -> "
    "node_modules/dual/esm/late.mjs",
    "node_modules/dual/package.json import ./cjs/late.cjs ./late require 0 13 -> "
    "node_modules/dual/cjs/late.cjs",
    "node_modules/dual/package.json import ./types/late.d.ts ./late types-require 0 13 -> "
    "node_modules/dual/types/late.d.ts",
    "node_modules/dual/package.json import dual name - 2 2 -> -",
    "src/app.ts from dual default d 0 1 -> node_modules/dual/types/index.d.ts",
    "src/app.ts from dual/late default l 0 2 -> node_modules/dual/esm/late.mjs",
    "src/app.ts import dual/late - r 0 3 -> node_modules/dual/types/late.d.ts",
    "src/app.ts import dual - q 0 4 -> node_modules/dual/types/index.d.ts",
    "src/app.ts from ./gen gen - 0 5 -> generated/gen.ts",
    "src/cjs.cjs import dual - d 0 1 -> node_modules/dual/cjs/index.cjs",
    "src/cjs.cjs from dual/feature f - 0 2 -> node_modules/dual/cjs/feature.cjs",
    "src/cjs.cjs import dual/late - l 0 3 -> node_modules/dual/cjs/late.cjs",
    "src/esm.mjs from dual default d 0 1 -> node_modules/dual/esm/index.mjs",
    "src/esm.mjs from dual/feature f - 0 2 -> node_modules/dual/esm/feature.mjs",
    "src/esm.mjs from dual/late default l 0 3 -> node_modules/dual/esm/late.mjs",
    "src/esm.mjs import dual - m 0 4 -> node_modules/dual/esm/index.mjs",
    "src/templates/page.ts from ./view view - 0 1 -> generated/templates/view.ts",
    "src/templates/page.ts from ./nowhere nowhere - 0 2 -> -",
    "tsconfig.json import src rootDirs rootDirs 2 3 -> -",
    "tsconfig.json import generated rootDirs rootDirs 2 3 -> -",
};

static const char *const js_refs[] = {
    "src/app.ts d 6 -> node_modules/dual/types/index.d.ts:default",
    "src/app.ts gen 7 -> generated/gen.ts:gen",
    "src/cjs.cjs f 4 -> -",
    "src/esm.mjs d 5 -> node_modules/dual/esm/index.mjs:esmMain",
    "src/esm.mjs f 6 -> node_modules/dual/esm/feature.mjs:f",
    "src/esm.mjs l 7 -> node_modules/dual/esm/late.mjs:lateEsm",
    "src/templates/page.ts view 3 -> generated/templates/view.ts:view",
};

static gsp_cg *analyze_c(const char *root, unsigned jobs, gsp_tier *store) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = root,
                       .jobs = jobs,
                       .store = store,
                       .include_dirs = c_incs,
                       .n_include_dirs = strstr(root, "/c") ? NELEM(c_incs) : 0,
                       .no_cache = store == NULL};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  return cg;
}

static bool g_print; /* CG_PRINT=1: print the lines instead of comparing */

static void check_line(const char *got, const char *const *want, size_t nwant, size_t *k) {
  if (g_print) {
    if (*k == 0) printf("@@ %p\n", (const void *)want);
    printf("    \"%s\",\n", got);
    (*k)++;
    return;
  }
  expect_line(got, want, nwant, k);
}

typedef struct expected {
  const char *const *files, *const *edges, *const *defs, *const *imports, *const *refs;
  size_t nfiles, nedges, ndefs, nimports, nrefs;
} expected;

#define EXPECTED(p)                                                                            \
  {                                                                                            \
    p##_files, p##_edges, p##_defs, p##_imports, p##_refs, NELEM(p##_files), NELEM(p##_edges), \
        NELEM(p##_defs), NELEM(p##_imports), NELEM(p##_refs)                                   \
  }

/* Every file, edge, definition, import and reference of the graph of root. */
static void check_graph(const char *root, const expected *x) {
  gsp_cg *cg = analyze_c(root, 2, NULL);
  char line[768];
  size_t k = 0;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++)
    check_line(gsp_cg_file_path(cg, f), x->files, x->nfiles, &k);
  if (!g_print) assert_int_equal(k, x->nfiles);
  k = 0;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    size_t n;
    const uint32_t *d = gsp_cg_deps(cg, f, &n);
    for (size_t i = 0; i < n; i++) {
      snprintf(line, sizeof line, "%s -> %s", gsp_cg_file_path(cg, f), gsp_cg_file_path(cg, d[i]));
      check_line(line, x->edges, x->nedges, &k);
    }
  }
  if (!g_print) assert_int_equal(k, x->nedges);
  size_t kd = 0, ki = 0;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    for (size_t i = 0; i < gsp_cg_result_ndefs(r); i++) {
      def_line(cg, f, i, line, sizeof line);
      check_line(line, x->defs, x->ndefs, &kd);
    }
  }
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    for (size_t i = 0; i < gsp_cg_result_nimports(r); i++) {
      import_line(cg, f, i, line, sizeof line);
      check_line(line, x->imports, x->nimports, &ki);
    }
  }
  size_t kr = 0;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    for (size_t i = 0; i < gsp_cg_result_nrefs(r); i++) {
      ref_line(cg, f, i, line, sizeof line);
      check_line(line, x->refs, x->nrefs, &kr);
    }
  }
  if (!g_print) {
    assert_int_equal(kd, x->ndefs);
    assert_int_equal(ki, x->nimports);
    assert_int_equal(kr, x->nrefs);
  }
  const char *why = cg_check_invariants(cg);
  if (why) print_error("%s\n", why);
  assert_null(why);
  gsp_cg_destroy(cg);
}

static void test_c_graph(void **state) {
  (void)state;
  expected x = EXPECTED(c);
  check_graph(CG_FIXTURE_LANG3_DIR "/c", &x);
}

static void test_js_graph(void **state) {
  (void)state;
  expected x = EXPECTED(js);
  check_graph(CG_FIXTURE_LANG3_DIR "/js", &x);
}

/* One worker or two, cold or warm through the result store: the same
 * graph byte for byte. */
static void test_c_deterministic(void **state) {
  (void)state;
  char dir[] = "/tmp/cg_lang3_XXXXXX";
  assert_non_null(mkdtemp(dir));
  gsp_tier *tier = NULL;
  assert_int_equal(gsp_tier_open(dir, 0, &tier, NULL, 0), GSP_OK);
  gsp_cg *one = analyze_c(CG_FIXTURE_LANG3_DIR "/c", 1, NULL);
  gsp_cg *cold = analyze_c(CG_FIXTURE_LANG3_DIR "/c", 2, tier);
  gsp_cg *warm = analyze_c(CG_FIXTURE_LANG3_DIR "/c", 2, tier);
  gsp_cg_stats st;
  gsp_cg_stats_get(warm, &st);
  assert_int_equal(st.parsed, 0);
  assert_true(st.resolve_cached);
  char *a = cg_dump(one), *b = cg_dump(cold), *c = cg_dump(warm);
  assert_non_null(a);
  assert_string_equal(a, b);
  assert_string_equal(a, c);
  free(a), free(b), free(c);
  gsp_cg_destroy(one), gsp_cg_destroy(cold), gsp_cg_destroy(warm);
  gsp_tier_destroy(tier);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

/* The records of one C file: header-path macros by their value's form,
 * includes through a macro; no path in a version string, a value with a
 * blank, two paths, a function-like macro or a non-header quoted name. */
static void test_c_records(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_C,
                           "#define A_H <a/b.h>\n"
                           "#define Q_H  \"q.hpp\"  /* quoted */\n"
                           "#define V \"1.0\"\n"
                           "#define S <a b.h>\n"
                           "#define T <a.h> <b.h>\n"
                           "#define F(x) <x.h>\n"
                           "#define N \"notes.txt\"\n"
                           "#include A_H\n"
                           "#include \"plain.h\"\n");
  static const char *const want[] = {"include_system a/b.h A_H 2 1", "include q.hpp Q_H 2 2",
                                     "include_system A_H - 1 8", "include plain.h - 0 9"};
  assert_int_equal(gsp_cg_result_nimports(r), NELEM(want));
  for (size_t i = 0; i < NELEM(want); i++) {
    gsp_cg_import m;
    char line[256];
    gsp_cg_result_import(r, i, &m);
    snprintf(line, sizeof line, "%s %s %s %u %u", gsp_cg_import_kind_name(m.kind), m.module,
             m.name[0] ? m.name : "-", m.level, m.line);
    assert_string_equal(line, want[i]);
  }
  gsp_cg_result_free(r);
}

/* Export macros known by their place (c_macros.c): an all-caps name before
 * a type keyword or before two names and '(' at the start of a line, or
 * between a type and a function's name, is blanked; `FILE const *`, a tag
 * after `struct`, and function-like macros in expressions stay. */
static void test_c_export_macros(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_C,
                           "MYLIB_API int lib_init (void);\n"
                           "MYLIB_API lib_ctx *MYLIB_CALL lib_new (const char *name);\n"
                           "extern MYLIB_API unsigned lib_count;\n"
                           "struct lib_ctx MYLIB_CALL lib_make (void);\n"
                           "FILE const *lib_file (void);\n"
                           "struct FOO lib_foo (void);\n"
                           "XMLPUBFUN xmlDocPtr XMLCALL\n"
                           "  xml_new_doc (const xmlChar *version);\n"
                           "int f (int x) { return MAX (x, 1) * LIMIT; }\n");
  assert_false(gsp_cg_result_has_error(r));
  static const char *const defs[] = {"decl lib_init 1",    "decl lib_new 2",  "global lib_count 3",
                                     "decl lib_make 4",    "decl lib_file 5", "decl lib_foo 6",
                                     "decl xml_new_doc 8", "function f 9"};
  static const char *const refs[] = {"use lib_ctx 2",   "use lib_ctx 4", "use FILE 5", "use FOO 6",
                                     "use xmlDocPtr 7", "use xmlChar 8", "call MAX 9"};
  char line[256];
  assert_int_equal(gsp_cg_result_ndefs(r), NELEM(defs));
  for (size_t i = 0; i < NELEM(defs); i++) {
    gsp_cg_def d;
    gsp_cg_result_def(r, i, &d);
    snprintf(line, sizeof line, "%s %s %u", gsp_cg_def_kind_name(d.kind), d.name, d.line);
    assert_string_equal(line, defs[i]);
  }
  assert_int_equal(gsp_cg_result_nrefs(r), NELEM(refs));
  for (size_t i = 0; i < NELEM(refs); i++) {
    gsp_cg_ref x;
    gsp_cg_result_ref(r, i, &x);
    snprintf(line, sizeof line, "%s %s %u", gsp_cg_ref_kind_name(x.kind), x.name, x.line);
    assert_string_equal(line, refs[i]);
  }
  gsp_cg_result_free(r);
  /* the same names in lower case are not taken for macros */
  r = parse(GSP_CG_LANG_C, "mylib_api int lib_init (void);\n");
  assert_true(gsp_cg_result_has_error(r));
  gsp_cg_result_free(r);
}

/* What stays unresolved: an include through an undefined macro counts
 * under the macro's name; header-path macros are definitions, no
 * specifiers; an extension-less include nothing answers counts too. In
 * the JavaScript tree only the missing ./nowhere (the variants of a
 * package's "exports" entry are alternatives of each other). */
static void test_unresolved(void **state) {
  (void)state;
  gsp_cg_unresolved top[8];
  size_t n = 0, distinct = 0;
  gsp_cg *cg = analyze_c(CG_FIXTURE_LANG3_DIR "/c", 1, NULL);
  assert_int_equal(gsp_cg_unresolved_top(cg, 8, top, &n, &distinct), GSP_OK);
  assert_int_equal(n, 2);
  assert_int_equal(distinct, 2);
  assert_string_equal(top[0].module, "MISSING_H");
  assert_string_equal(gsp_cg_file_path(cg, top[0].first_file), "src/use.c");
  assert_string_equal(top[1].module, "missing_bare");
  gsp_cg_destroy(cg);
  cg = analyze_c(CG_FIXTURE_LANG3_DIR "/js", 1, NULL);
  assert_int_equal(gsp_cg_unresolved_top(cg, 8, top, &n, &distinct), GSP_OK);
  assert_int_equal(n, 1);
  assert_string_equal(top[0].module, "./nowhere");
  gsp_cg_destroy(cg);
}

int main(void) {
  g_print = getenv("CG_PRINT") != NULL;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_c_graph),   cmocka_unit_test(test_c_deterministic),
      cmocka_unit_test(test_js_graph),  cmocka_unit_test(test_unresolved),
      cmocka_unit_test(test_c_records), cmocka_unit_test(test_c_export_macros),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
