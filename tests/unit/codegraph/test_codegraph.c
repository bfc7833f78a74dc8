/*
 * test_codegraph.c - the code graph on inputs whose answer is known:
 * extraction from C and Python snippets (syntax errors included), the
 * per-file result's serialization (round trip, every corrupted byte and
 * every truncation rejected), the fixture codebase (every file, every
 * import edge, every reference binding, cycles, topological order,
 * impact, fan-in ranking), .gitignore and symlink loops, the SQLite store
 * and its queries, determinism across worker counts and runs, and the
 * result store (a second run parses nothing, a changed file is the only
 * one parsed again).
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
#include "gsperf/codegraph.h"

/* ---- helpers ---- */

static gsp_cg_result *parse(gsp_cg_lang lang, const char *src) {
  gsp_cg_parser *p = NULL;
  gsp_cg_result *r = NULL;
  assert_int_equal(gsp_cg_parser_create(&p), GSP_OK);
  assert_int_equal(gsp_cg_parse(p, lang, src, strlen(src), &r), GSP_OK);
  gsp_cg_parser_destroy(p);
  return r;
}

/* "kind name line parent" per definition, joined by '\n'. */
static char *defs_text(const gsp_cg_result *r) {
  char *buf = NULL;
  size_t len = 0;
  FILE *o = open_memstream(&buf, &len);
  for (size_t i = 0; i < gsp_cg_result_ndefs(r); i++) {
    gsp_cg_def d;
    gsp_cg_result_def(r, i, &d);
    fprintf(o, "%s %s %u %d\n", gsp_cg_def_kind_name(d.kind), d.name, d.line, d.parent);
  }
  fclose(o);
  return buf;
}

static char *refs_text(const gsp_cg_result *r) {
  char *buf = NULL;
  size_t len = 0;
  FILE *o = open_memstream(&buf, &len);
  for (size_t i = 0; i < gsp_cg_result_nrefs(r); i++) {
    gsp_cg_ref x;
    gsp_cg_result_ref(r, i, &x);
    fprintf(o, "%s %s%s%s %u %d\n", gsp_cg_ref_kind_name(x.kind), x.qualifier,
            x.qualifier[0] ? "." : "", x.name, x.line, x.scope);
  }
  fclose(o);
  return buf;
}

static char *imports_text(const gsp_cg_result *r) {
  char *buf = NULL;
  size_t len = 0;
  FILE *o = open_memstream(&buf, &len);
  for (size_t i = 0; i < gsp_cg_result_nimports(r); i++) {
    gsp_cg_import m;
    gsp_cg_result_import(r, i, &m);
    fprintf(o, "%s [%s] [%s] [%s] %u %u\n", gsp_cg_import_kind_name(m.kind), m.module, m.name,
            m.alias, m.level, m.line);
  }
  fclose(o);
  return buf;
}

static void assert_text(char *got, const char *want) {
  if (strcmp(got, want) != 0) print_error("got:\n%s\nwant:\n%s\n", got, want);
  assert_string_equal(got, want);
  free(got);
}

static gsp_cg *analyze_dir(const char *root, unsigned jobs, gsp_cache *results) {
  gsp_cg *cg = NULL;
  const char *incs[] = {"c"};
  assert_int_equal(gsp_cg_create(&(gsp_cg_config){.root = root,
                                                  .jobs = jobs,
                                                  .results = results,
                                                  .include_dirs = incs,
                                                  .n_include_dirs = 1},
                                 &cg),
                   GSP_OK);
  int rv = gsp_cg_run(cg);
  if (rv != GSP_OK) print_error("run: %s\n", gsp_cg_errmsg(cg));
  assert_int_equal(rv, GSP_OK);
  return cg;
}

static size_t file_index(const gsp_cg *cg, const char *path) {
  long f = gsp_cg_file_find(cg, path);
  if (f < 0) print_error("no file %s\n", path);
  assert_true(f >= 0);
  return (size_t)f;
}

/* ---- extraction ---- */

static void test_parse_c(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_C,
                           "#include <stdio.h>\n"
                           "#include \"a/b.h\"\n"
                           "#define MAX(a, b) ((a) > (b) ? (a) : (b))\n"
                           "typedef struct node { int v; } node_t;\n"
                           "typedef int (*cb_t)(node_t *);\n"
                           "static int counter = 0, *ptr;\n"
                           "int helper(int);\n"
                           "int (*fp)(void);\n"
                           "struct node *mk(void) {\n"
                           "  int local = helper(counter);\n"
                           "  return make(MAX(local, 1));\n"
                           "}\n");
  assert_text(defs_text(r),
              "macro MAX 3 -1\n"
              "typedef node_t 4 -1\n"
              "struct node 4 -1\n"
              "typedef cb_t 5 -1\n"
              "global counter 6 -1\n"
              "global ptr 6 -1\n"
              "decl helper 7 -1\n"
              "global fp 8 -1\n"
              "function mk 9 -1\n");
  assert_text(refs_text(r),
              "use node_t 5 -1\n"
              "use node 9 8\n"
              "call helper 10 8\n"
              "call make 11 8\n"
              "call MAX 11 8\n");
  assert_text(imports_text(r),
              "include_system [stdio.h] [] [] 0 1\n"
              "include [a/b.h] [] [] 0 2\n");
  assert_int_equal(gsp_cg_result_lines(r), 12);
  assert_false(gsp_cg_result_has_error(r));
  assert_int_equal(gsp_cg_result_lang(r), GSP_CG_LANG_C);
  gsp_cg_result_free(r);
}

static void test_parse_python(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_PYTHON,
                           "import os.path\n"
                           "import a.b as ab\n"
                           "from . import sib\n"
                           "from ..pkg.mod import f as g, h\n"
                           "from x import *\n"
                           "from __future__ import annotations\n"
                           "X = 1\n"
                           "X = 2\n"
                           "a, b = 3, 4\n"
                           "class C(Base, mod.Other):\n"
                           "    attr = 5\n"
                           "    def m(self, y: int) -> T:\n"
                           "        self.m2()\n"
                           "        os.path.join('a')\n"
                           "        return g()\n"
                           "def top():\n"
                           "    def inner(): pass\n"
                           "    inner()\n");
  assert_text(defs_text(r),
              "global X 7 -1\n"
              "global a 9 -1\n"
              "global b 9 -1\n"
              "struct C 10 -1\n"
              "global attr 11 3\n" /* a class attribute */
              "method m 12 3\n"
              "function top 16 -1\n"
              "function inner 17 6\n");
  assert_text(refs_text(r),
              "use Base 10 3\n" /* bases: in the class's scope */
              "use mod.Other 10 3\n"
              "use int 12 5\n"
              "use T 12 5\n"
              "call self.m2 13 5\n"
              "call os.path.join 14 5\n"
              "call g 15 5\n"
              "call inner 18 6\n");
  assert_text(imports_text(r),
              "import [os.path] [] [] 0 1\n"
              "import [a.b] [] [ab] 0 2\n"
              "from [] [sib] [] 1 3\n"
              "from [pkg.mod] [f] [g] 2 4\n"
              "from [pkg.mod] [h] [] 2 4\n"
              "from [x] [*] [] 0 5\n");
  gsp_cg_result_free(r);
}

static void test_parse_syntax_error(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_C,
                           "int good_before(void) { return 1; }\n"
                           "int broken(void) { return (1 + ; }\n"
                           "int good_after(void) { return good_before(); }\n");
  assert_true(gsp_cg_result_has_error(r));
  char *d = defs_text(r);
  assert_non_null(strstr(d, "function good_before 1 -1\n"));
  assert_non_null(strstr(d, "function good_after 3 -1\n"));
  free(d);
  gsp_cg_result_free(r);
  r = parse(GSP_CG_LANG_PYTHON, "import m\ndef ok():\n    m.f()\ndef bad(:\n    pass\n");
  assert_true(gsp_cg_result_has_error(r));
  d = defs_text(r);
  assert_non_null(strstr(d, "function ok 2 -1\n"));
  free(d);
  assert_text(imports_text(r), "import [m] [] [] 0 1\n");
  gsp_cg_result_free(r);
}

static void test_parse_invalid(void **state) {
  (void)state;
  gsp_cg_parser *p = NULL;
  gsp_cg_result *r = (gsp_cg_result *)1;
  assert_int_equal(gsp_cg_parser_create(NULL), GSP_EINVAL);
  assert_int_equal(gsp_cg_parser_create(&p), GSP_OK);
  assert_int_equal(gsp_cg_parse(p, GSP_CG_LANG_NONE, "x", 1, &r), GSP_EINVAL);
  assert_null(r);
  assert_int_equal(gsp_cg_parse(p, GSP_CG_LANG_C, "", 0, &r), GSP_OK);
  assert_int_equal(gsp_cg_result_ndefs(r), 0);
  assert_int_equal(gsp_cg_result_lines(r), 0);
  gsp_cg_result_free(r);
  gsp_cg_parser_destroy(p);
  gsp_cg_parser_destroy(NULL);
  assert_int_equal(gsp_cg_lang_of_path("a/b.c"), GSP_CG_LANG_C);
  assert_int_equal(gsp_cg_lang_of_path("x.h"), GSP_CG_LANG_C);
  assert_int_equal(gsp_cg_lang_of_path("m.py"), GSP_CG_LANG_PYTHON);
  assert_int_equal(gsp_cg_lang_of_path("a.c/README"), GSP_CG_LANG_NONE);
  assert_int_equal(gsp_cg_lang_of_path("x.cpp"), GSP_CG_LANG_NONE);
}

/* ---- serialization ---- */

static void test_result_roundtrip(void **state) {
  (void)state;
  gsp_cg_result *r = parse(GSP_CG_LANG_PYTHON,
                           "from .a import b as c\nclass K(B):\n"
                           "    def f(self): return self.g(c())\n");
  size_t len = 0;
  const unsigned char *bytes = gsp_cg_result_bytes(r, &len);
  assert_true(len > 48);
  gsp_cg_result *back = NULL;
  assert_int_equal(gsp_cg_result_load(bytes, len, &back), GSP_OK);
  size_t len2 = 0;
  assert_int_equal(memcmp(gsp_cg_result_bytes(back, &len2), bytes, len), 0);
  assert_int_equal(len2, len);
  assert_text(defs_text(back), "struct K 2 -1\nmethod f 3 0\n");
  assert_text(refs_text(back), "use B 2 0\ncall self.g 3 1\ncall c 3 1\n");
  assert_text(imports_text(back), "from [a] [b] [c] 1 1\n");
  gsp_cg_result_free(back);

  unsigned char *copy = malloc(len);
  for (size_t i = 0; i < len; i++) { /* every single-byte change is caught */
    memcpy(copy, bytes, len);
    copy[i] ^= 0x5a;
    gsp_cg_result *bad = (gsp_cg_result *)1;
    assert_int_equal(gsp_cg_result_load(copy, len, &bad), GSP_ECORRUPT);
    assert_null(bad);
  }
  for (size_t n = 0; n < len; n++) { /* every truncation too */
    gsp_cg_result *bad = NULL;
    assert_int_equal(gsp_cg_result_load(bytes, n, &bad), GSP_ECORRUPT);
  }
  assert_int_equal(gsp_cg_result_load(NULL, 0, &back), GSP_ECORRUPT);
  assert_int_equal(gsp_cg_result_load(bytes, len, NULL), GSP_EINVAL);
  free(copy);
  gsp_cg_result_free(r);
}

/* ---- the fixture ---- */

static const char *const fixture_files[] = {
    "c/broken.c",         "c/keep.gen.c",   "c/lib/list.c",      "c/lib/list.h",
    "c/lib/node.h",       "c/main.c",       "c/sub/top_only.c",  "c/types.h",
    "c/util.c",           "c/util.h",       "py/app.py",         "py/bad.py",
    "py/pkg/__init__.py", "py/pkg/core.py", "py/pkg/helpers.py", "py/pkg/sub/__init__.py",
    "py/pkg/sub/mod.py",
};

static const char *const fixture_edges[] = {
    "c/broken.c -> c/util.h",
    "c/keep.gen.c -> c/util.h",
    "c/lib/list.c -> c/lib/list.h",
    "c/lib/list.h -> c/lib/node.h",
    "c/lib/list.h -> c/types.h",
    "c/lib/node.h -> c/lib/list.h",
    "c/main.c -> c/lib/list.h",
    "c/main.c -> c/util.h",
    "c/sub/top_only.c -> c/util.h",
    "c/util.c -> c/util.h",
    "c/util.h -> c/types.h",
    "py/app.py -> py/pkg/__init__.py",
    "py/app.py -> py/pkg/sub/mod.py",
    "py/bad.py -> py/pkg/helpers.py",
    "py/pkg/__init__.py -> py/pkg/core.py",
    "py/pkg/core.py -> py/pkg/helpers.py",
    "py/pkg/helpers.py -> py/pkg/core.py",
    "py/pkg/sub/mod.py -> py/pkg/core.py",
    "py/pkg/sub/mod.py -> py/pkg/helpers.py",
};

/* Every reference of the fixture: file, qualified name, line -> target. */
static const char *const fixture_refs[] = {
    "c/broken.c util_add 3 -> c/util.h:util_add",
    "c/broken.c good_before 9 -> c/broken.c:good_before",
    "c/keep.gen.c util_add 2 -> c/util.h:util_add",
    "c/lib/list.c list 4 -> c/lib/list.h:list",
    "c/lib/list.c point_t 4 -> c/types.h:point_t",
    "c/lib/list.h node 6 -> c/lib/node.h:node",
    "c/lib/list.h list 8 -> c/lib/list.h:list",
    "c/lib/list.h point_t 8 -> c/types.h:point_t",
    "c/lib/node.h node 5 -> c/lib/node.h:node",
    "c/lib/node.h point_t 6 -> c/types.h:point_t",
    "c/main.c list 8 -> c/lib/list.h:list",
    "c/main.c point_t 9 -> c/types.h:point_t",
    "c/main.c list_push 10 -> c/lib/list.h:list_push",
    "c/main.c printf 11 -> -",
    "c/main.c util_add 11 -> c/util.h:util_add",
    "c/sub/top_only.c util_add 2 -> c/util.h:util_add",
    "py/app.py m.f 7 -> py/pkg/sub/mod.py:f",
    "py/app.py ?.run 8 -> -", /* on a call's result: unknown */
    "py/app.py Engine 8 -> py/pkg/core.py:Engine",
    "py/app.py os.getcwd 9 -> -",
    "py/bad.py pkg.helpers.helper 5 -> py/pkg/helpers.py:helper",
    "py/pkg/core.py Base 9 -> py/pkg/core.py:Base",
    "py/pkg/core.py self.step 11 -> py/pkg/core.py:step",
    "py/pkg/core.py h 12 -> py/pkg/helpers.py:helper",
    "py/pkg/core.py helpers.helper 15 -> py/pkg/helpers.py:helper",
    "py/pkg/helpers.py pkg.core.Engine 11 -> py/pkg/core.py:Engine",
    "py/pkg/helpers.py LIMIT 7 -> py/pkg/helpers.py:LIMIT", /* a read, after the walk */
    "py/pkg/sub/mod.py helper 6 -> py/pkg/helpers.py:helper",
    "py/pkg/sub/mod.py core.Engine 7 -> py/pkg/core.py:Engine",
};

static void test_fixture_files_and_edges(void **state) {
  (void)state;
  gsp_cg *cg = analyze_dir(CG_FIXTURE_DIR, 2, NULL);
  size_t nf = sizeof fixture_files / sizeof *fixture_files;
  assert_int_equal(gsp_cg_nfiles(cg), nf); /* build/, *.gen.c and /c/top_only.c ignored */
  for (size_t i = 0; i < nf; i++) assert_string_equal(gsp_cg_file_path(cg, i), fixture_files[i]);
  size_t ne = 0;
  for (size_t f = 0; f < nf; f++) {
    size_t n;
    const uint32_t *d = gsp_cg_deps(cg, f, &n);
    for (size_t i = 0; i < n; i++, ne++) {
      char e[256];
      snprintf(e, sizeof e, "%s -> %s", gsp_cg_file_path(cg, f), gsp_cg_file_path(cg, d[i]));
      assert_true(ne < sizeof fixture_edges / sizeof *fixture_edges);
      assert_string_equal(e, fixture_edges[ne]);
    }
  }
  assert_int_equal(ne, sizeof fixture_edges / sizeof *fixture_edges);
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  assert_int_equal(st.files, nf);
  assert_int_equal(st.files_c, 10);
  assert_int_equal(st.files_python, 7);
  assert_int_equal(st.files_with_errors, 2); /* c/broken.c, py/bad.py */
  assert_int_equal(st.file_edges, ne);
  assert_int_equal(st.imports, 23);
  assert_int_equal(st.imports_resolved, 20); /* <stdio.h>, "missing.h", os stay outside */
  const char *why = cg_check_invariants(cg);
  if (why) print_error("%s\n", why);
  assert_null(why);
  gsp_cg_destroy(cg);
}

static void test_fixture_bindings(void **state) {
  (void)state;
  gsp_cg *cg = analyze_dir(CG_FIXTURE_DIR, 2, NULL);
  size_t k = 0, nwant = sizeof fixture_refs / sizeof *fixture_refs;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    for (size_t i = 0; i < gsp_cg_result_nrefs(r); i++, k++) {
      gsp_cg_ref x;
      gsp_cg_result_ref(r, i, &x);
      char got[512], target[256] = "-";
      size_t tf, td;
      if (gsp_cg_ref_target(cg, f, i, &tf, &td)) {
        gsp_cg_def d;
        gsp_cg_result_def(gsp_cg_file_result(cg, tf), td, &d);
        snprintf(target, sizeof target, "%s:%s", gsp_cg_file_path(cg, tf), d.name);
      }
      snprintf(got, sizeof got, "%s %s%s%s %u -> %s", gsp_cg_file_path(cg, f), x.qualifier,
               x.qualifier[0] ? "." : "", x.name, x.line, target);
      assert_true(k < nwant);
      assert_string_equal(got, fixture_refs[k]);
    }
  }
  assert_int_equal(k, nwant);
  /* definitions of the file with a syntax error survive it */
  gsp_cg_result *r = (gsp_cg_result *)gsp_cg_file_result(cg, file_index(cg, "c/broken.c"));
  assert_text(defs_text(r),
              "function good_before 3 -1\nfunction broken 5 -1\nfunction good_after 9 -1\n");
  r = (gsp_cg_result *)gsp_cg_file_result(cg, file_index(cg, "py/bad.py"));
  assert_text(defs_text(r), "function still_here 4 -1\nfunction broken 8 -1\n");
  gsp_cg_destroy(cg);
}

static void test_fixture_graph(void **state) {
  (void)state;
  gsp_cg *cg = analyze_dir(CG_FIXTURE_DIR, 1, NULL);
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  assert_int_equal(st.cycles, 2);
  assert_int_equal(st.files_in_cycles, 4);
  size_t list_h = file_index(cg, "c/lib/list.h"), node_h = file_index(cg, "c/lib/node.h");
  size_t core = file_index(cg, "py/pkg/core.py"), helpers = file_index(cg, "py/pkg/helpers.py");
  assert_int_equal(gsp_cg_component_of(cg, list_h), gsp_cg_component_of(cg, node_h));
  assert_int_equal(gsp_cg_component_of(cg, core), gsp_cg_component_of(cg, helpers));
  size_t cycles = 0;
  for (size_t c = 0; c < gsp_cg_ncomponents(cg); c++) {
    size_t n;
    const uint32_t *m = gsp_cg_component(cg, c, &n);
    assert_int_equal(gsp_cg_component_is_cycle(cg, c), n > 1);
    if (n > 1) {
      cycles++;
      assert_int_equal(n, 2);
      assert_true((m[0] == list_h && m[1] == node_h) || (m[0] == core && m[1] == helpers));
    }
  }
  assert_int_equal(cycles, 2);
  assert_int_equal(gsp_cg_ncomponents(cg), gsp_cg_nfiles(cg) - 2);
  /* impact of types.h: everything that reaches it through includes */
  uint32_t *imp = NULL;
  size_t n = 0;
  assert_int_equal(gsp_cg_impact(cg, file_index(cg, "c/types.h"), &imp, &n), GSP_OK);
  const char *want[] = {"c/broken.c",       "c/keep.gen.c", "c/lib/list.c",
                        "c/lib/list.h",     "c/lib/node.h", "c/main.c",
                        "c/sub/top_only.c", "c/util.c",     "c/util.h"};
  assert_int_equal(n, sizeof want / sizeof *want);
  for (size_t i = 0; i < n; i++) assert_string_equal(gsp_cg_file_path(cg, imp[i]), want[i]);
  gsp_free(imp);
  assert_int_equal(gsp_cg_impact(cg, file_index(cg, "py/app.py"), &imp, &n), GSP_OK);
  assert_int_equal(n, 0);
  gsp_free(imp);
  assert_int_equal(gsp_cg_impact(cg, 999, &imp, &n), GSP_EINVAL);
  uint32_t top[3];
  assert_int_equal(gsp_cg_top_depended(cg, 3, top), 3);
  assert_string_equal(gsp_cg_file_path(cg, top[0]), "c/util.h");     /* 5 importers */
  assert_string_equal(gsp_cg_file_path(cg, top[1]), "c/lib/list.h"); /* 3, first by path */
  assert_string_equal(gsp_cg_file_path(cg, top[2]), "py/pkg/core.py");
  size_t nr;
  gsp_cg_rdeps(cg, top[0], &nr);
  assert_int_equal(nr, 5);
  assert_int_equal(gsp_cg_file_find(cg, "./c/util.h"), (long)top[0]);
  assert_int_equal(gsp_cg_file_find(cg, "c/nope.h"), -1);
  gsp_cg_destroy(cg);
}

/* ---- the store and queries ---- */

typedef struct rows {
  char text[4096];
  size_t n;
} rows;

static void collect(void *user, size_t ncols, const char *const *cols) {
  rows *r = user;
  size_t len = strlen(r->text);
  for (size_t i = 0; i < ncols; i++)
    len += (size_t)snprintf(r->text + len, sizeof r->text - len, "%s%s", i ? "|" : "", cols[i]);
  snprintf(r->text + len, sizeof r->text - len, "\n");
  r->n++;
}

static void query_is(gsp_cgdb *db, gsp_cgdb_query q, const char *arg, const char *want) {
  rows r = {.n = 0};
  r.text[0] = '\0';
  int rv = gsp_cgdb_run(db, q, arg, NULL, collect, &r);
  if (rv != GSP_OK) print_error("%s\n", gsp_cgdb_errmsg(db));
  assert_int_equal(rv, GSP_OK);
  if (strcmp(r.text, want) != 0) print_error("query %d %s:\n%s", q, arg ? arg : "", r.text);
  assert_string_equal(r.text, want);
}

static char *read_all(const char *path, size_t *len) {
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

static void test_db_queries(void **state) {
  (void)state;
  char dir[] = "/tmp/cgdbXXXXXX", path[64], path2[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/a.db", dir);
  snprintf(path2, sizeof path2, "%s/b.db", dir);
  gsp_cg *cg = analyze_dir(CG_FIXTURE_DIR, 2, NULL);
  uint64_t ns = 0;
  assert_int_equal(gsp_cg_write_db(cg, path, &ns), GSP_OK);
  assert_true(ns > 0);
  gsp_cg_destroy(cg);
  cg = analyze_dir(CG_FIXTURE_DIR, 1, NULL); /* another run, one worker: same bytes */
  assert_int_equal(gsp_cg_write_db(cg, path2, NULL), GSP_OK);
  gsp_cg_destroy(cg);
  size_t la, lb;
  char *a = read_all(path, &la), *b = read_all(path2, &lb);
  assert_int_equal(la, lb);
  assert_int_equal(memcmp(a, b, la), 0);
  free(a), free(b);

  gsp_cgdb *db = NULL;
  assert_int_equal(gsp_cgdb_open(path, &db), GSP_OK);
  query_is(db, GSP_CGDB_DEPS, "c/main.c", "c/lib/list.h|3|lib/list.h\nc/util.h|2|util.h\n");
  query_is(db, GSP_CGDB_RDEPS, "c/util.h",
           "c/broken.c|1|util.h\nc/keep.gen.c|1|util.h\nc/main.c|2|util.h\n"
           "c/sub/top_only.c|1|../util.h\nc/util.c|1|util.h\n");
  query_is(db, GSP_CGDB_DEPS, "py/app.py",
           "py/pkg/__init__.py|3|pkg\npy/pkg/sub/mod.py|2|pkg.sub.mod\n");
  query_is(db, GSP_CGDB_DEPS, "py/pkg/sub/mod.py",
           "py/pkg/core.py|2|..\npy/pkg/helpers.py|1|..helpers\n");
  query_is(db, GSP_CGDB_CYCLES, NULL,
           "5|py/pkg/core.py\n5|py/pkg/helpers.py\n10|c/lib/list.h\n10|c/lib/node.h\n");
  query_is(db, GSP_CGDB_SYMBOL, "util_add", "c/util.c|3|function|\nc/util.h|5|decl|\n");
  query_is(db, GSP_CGDB_SYMBOL, "step", "py/pkg/core.py|14|method|Engine\n");
  query_is(db, GSP_CGDB_CALLERS, "helper",
           "py/bad.py|5|still_here|py/pkg/helpers.py\npy/pkg/core.py|15|step|py/pkg/helpers.py\n"
           "py/pkg/sub/mod.py|6|f|py/pkg/helpers.py\n");
  query_is(db, GSP_CGDB_CALLERS, "printf", "c/main.c|11|main|\n");
  query_is(db, GSP_CGDB_SYMBOL, "no_such_symbol", "");
  query_is(db, GSP_CGDB_IMPACT, "c/types.h",
           "c/broken.c\nc/keep.gen.c\nc/lib/list.c\nc/lib/list.h\nc/lib/node.h\nc/main.c\n"
           "c/sub/top_only.c\nc/util.c\nc/util.h\n");
  query_is(db, GSP_CGDB_IMPACT, "py/app.py", "");
  const char *const *cols = NULL;
  assert_int_equal(gsp_cgdb_run(db, GSP_CGDB_DEPS, "c/nope.c", &cols, collect, NULL), GSP_ENOENT);
  assert_non_null(strstr(gsp_cgdb_errmsg(db), "c/nope.c"));
  assert_string_equal(cols[0], "path");
  assert_int_equal(gsp_cgdb_run(db, GSP_CGDB_SYMBOL, NULL, NULL, collect, NULL), GSP_EINVAL);
  gsp_cgdb_close(db);
  assert_int_equal(gsp_cgdb_open(CG_FIXTURE_DIR "/c/util.h", &db), GSP_ECORRUPT);
  assert_int_equal(gsp_cgdb_open("/nonexistent/x.db", &db), GSP_ENOENT);
  unlink(path), unlink(path2), rmdir(dir);
}

/* ---- determinism, the result store, walking ---- */

static void test_deterministic(void **state) {
  (void)state;
  gsp_cg *a = analyze_dir(CG_FIXTURE_DIR, 1, NULL), *b = analyze_dir(CG_FIXTURE_DIR, 2, NULL);
  char *da = cg_dump(a), *db = cg_dump(b);
  assert_string_equal(da, db);
  free(da), free(db);
  gsp_cg_destroy(a), gsp_cg_destroy(b);
}

static void write_file(const char *dir, const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_result_store_reparses_changed_only(void **state) {
  (void)state;
  char dir[] = "/tmp/cgstoreXXXXXX", sub[64];
  assert_non_null(mkdtemp(dir));
  snprintf(sub, sizeof sub, "%s/c", dir);
  assert_int_equal(mkdir(sub, 0755), 0);
  write_file(dir, "c/a.h", "int a(void);\n");
  write_file(dir, "c/a.c", "#include \"a.h\"\nint a(void) { return 1; }\n");
  write_file(dir, "c/b.c", "#include \"a.h\"\nint b(void) { return a(); }\n");
  write_file(dir, "m.py", "def f():\n    return 1\n");
  gsp_cache *cache = NULL;
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.max_bytes = 1 << 20}, &cache), GSP_OK);
  gsp_cg_stats st;
  gsp_cg *cold = analyze_dir(dir, 2, cache);
  gsp_cg_stats_get(cold, &st);
  assert_int_equal(st.parsed, 4);
  assert_int_equal(st.cache_misses, 4);
  gsp_cg *warm = analyze_dir(dir, 2, cache);
  gsp_cg_stats_get(warm, &st);
  assert_int_equal(st.parsed, 0);
  assert_int_equal(st.cache_hits, 4);
  char *dc = cg_dump(cold), *dw = cg_dump(warm);
  assert_string_equal(dc, dw); /* the warm graph equals the cold one */
  free(dc), free(dw);
  write_file(dir, "c/b.c", "#include \"a.h\"\nint b(void) { return a() + 1; }\n");
  gsp_cg *changed = analyze_dir(dir, 2, cache);
  gsp_cg_stats_get(changed, &st);
  assert_int_equal(st.parsed, 1);
  assert_int_equal(st.cache_hits, 3);
  gsp_cg *nocache = NULL;
  assert_int_equal(
      gsp_cg_create(&(gsp_cg_config){.root = dir, .results = cache, .no_cache = true}, &nocache),
      GSP_OK);
  assert_int_equal(gsp_cg_run(nocache), GSP_OK);
  assert_int_equal(gsp_cg_run(nocache), GSP_ESTATE);
  gsp_cg_stats_get(nocache, &st);
  assert_int_equal(st.parsed, 4);
  assert_int_equal(st.cache_hits, 0);
  gsp_cg_destroy(cold), gsp_cg_destroy(warm), gsp_cg_destroy(changed), gsp_cg_destroy(nocache);
  gsp_cache_destroy(cache);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_walk_symlinks_and_ignore(void **state) {
  (void)state;
  char dir[] = "/tmp/cgwalkXXXXXX", p[128];
  assert_non_null(mkdtemp(dir));
  snprintf(p, sizeof p, "%s/a", dir);
  assert_int_equal(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/a/deep", dir);
  assert_int_equal(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/.git", dir);
  assert_int_equal(mkdir(p, 0755), 0);
  write_file(dir, "a/x.c", "int x;\n");
  write_file(dir, "a/deep/y.py", "y = 1\n");
  write_file(dir, "a/deep/skip.py", "z = 1\n");
  write_file(dir, "a/deep/.gitignore", "skip.py\n");
  write_file(dir, ".git/hook.py", "h = 1\n");
  write_file(dir, "notes.txt", "not source\n");
  snprintf(p, sizeof p, "%s/a/deep/loop", dir);
  assert_int_equal(symlink("../..", p), 0); /* back to the root: a loop */
  snprintf(p, sizeof p, "%s/alias", dir);
  assert_int_equal(symlink("a", p), 0); /* the same directory twice */
  snprintf(p, sizeof p, "%s/dangling.c", dir);
  assert_int_equal(symlink("nowhere.c", p), 0);
  gsp_cg *cg = analyze_dir(dir, 1, NULL);
  /* links are not followed (as git records them): no loop, no second copy */
  assert_int_equal(gsp_cg_nfiles(cg), 2);
  assert_string_equal(gsp_cg_file_path(cg, 0), "a/deep/y.py");
  assert_string_equal(gsp_cg_file_path(cg, 1), "a/x.c");
  gsp_cg_destroy(cg);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

typedef struct progress_seen {
  int calls;
  gsp_cg_progress last;
} progress_seen;

static void on_progress(void *user, const gsp_cg_progress *p) {
  progress_seen *s = user; /* never called by two threads at once */
  assert_true(p->files_done <= p->files_total && p->bytes_done <= p->bytes_total);
  s->calls++;
  s->last = *p;
}

static void test_progress(void **state) {
  (void)state;
  progress_seen seen = {0};
  gsp_cg *cg = NULL;
  assert_int_equal(
      gsp_cg_create(
          &(gsp_cg_config){
              .root = CG_FIXTURE_DIR, .jobs = 2, .progress = on_progress, .progress_user = &seen},
          &cg),
      GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  assert_true(seen.calls >= 1);
  assert_int_equal(seen.last.files_done, st.files); /* the final call: all done */
  assert_int_equal(seen.last.files_total, st.files);
  assert_int_equal(seen.last.bytes_done, st.bytes);
  assert_int_equal(st.workers, 2);
  gsp_cg_destroy(cg);
}

static void test_empty_tree(void **state) {
  (void)state;
  char dir[] = "/tmp/cgemptyXXXXXX", db[64];
  assert_non_null(mkdtemp(dir));
  write_file(dir, "README", "no sources here\n");
  gsp_cg *cg = analyze_dir(dir, 2, NULL);
  assert_int_equal(gsp_cg_nfiles(cg), 0);
  assert_int_equal(gsp_cg_ncomponents(cg), 0);
  uint32_t top[1];
  assert_int_equal(gsp_cg_top_depended(cg, 1, top), 0);
  snprintf(db, sizeof db, "%s/e.db", dir);
  assert_int_equal(gsp_cg_write_db(cg, db, NULL), GSP_OK);
  gsp_cg_destroy(cg);
  gsp_cgdb *q = NULL;
  assert_int_equal(gsp_cgdb_open(db, &q), GSP_OK);
  query_is(q, GSP_CGDB_CYCLES, NULL, "");
  gsp_cgdb_close(q);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_errors(void **state) {
  (void)state;
  gsp_cg *cg = NULL;
  assert_int_equal(gsp_cg_create(NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_cg_create(&(gsp_cg_config){.root = "/nonexistent/tree"}, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_ENOENT);
  assert_non_null(strstr(gsp_cg_errmsg(cg), "/nonexistent/tree"));
  assert_int_equal(gsp_cg_write_db(cg, "/tmp/never.db", NULL), GSP_EINVAL);
  gsp_cg_destroy(cg);
  gsp_cg_destroy(NULL);
  cg = analyze_dir(CG_FIXTURE_DIR, 1, NULL);
  assert_int_equal(gsp_cg_write_db(cg, "/nonexistent/dir/x.db", NULL), GSP_EIO);
  assert_non_null(strstr(gsp_cg_errmsg(cg), "/nonexistent/dir/x.db"));
  gsp_cg_destroy(cg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_c),
      cmocka_unit_test(test_parse_python),
      cmocka_unit_test(test_parse_syntax_error),
      cmocka_unit_test(test_parse_invalid),
      cmocka_unit_test(test_result_roundtrip),
      cmocka_unit_test(test_fixture_files_and_edges),
      cmocka_unit_test(test_fixture_bindings),
      cmocka_unit_test(test_fixture_graph),
      cmocka_unit_test(test_db_queries),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_result_store_reparses_changed_only),
      cmocka_unit_test(test_walk_symlinks_and_ignore),
      cmocka_unit_test(test_progress),
      cmocka_unit_test(test_empty_tree),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
