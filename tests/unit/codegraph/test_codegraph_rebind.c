/*
 * test_codegraph_rebind.c - re-analysis after a change, through the stored
 * resolution (resolve_cache.c) and the incremental bind (resolve_refs.c):
 * the graph always equals a run without any store, byte for byte.
 *
 *   random edits    rounds of random edits (a definition added at the top,
 *                   which renumbers the file's definitions; a call, an
 *                   include or an import appended; a line deleted or
 *                   doubled) to one to three files of the C/Python fixture
 *                   and of the JavaScript/TypeScript one; after each round
 *                   a run with the store equals a run without. The seed is
 *                   printed; GSP_TEST_SEED repeats a run.
 *   lazy index      a Python-only change indexes only the files its
 *                   lookups reach, fewer definitions than a full bind.
 *   sections        with three sections of targets, a change to one leaf
 *                   file stores one new result and one new section; the
 *                   other sections are not written again.
 *   damaged         a stored manifest naming a target past the last
 *                   definition, or a missing section, is not used.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "../../../src/codegraph/cg_int.h" /* gsp__cg_layout_key, for the damaged manifests */
#include "cg_dump.h"
#include "gsperf/tier.h"

typedef struct run_out {
  char *dump;
  gsp_cg_stats st;
  const char *invariants;
  uint64_t l3_entries; /* after the run */
} run_out;

static void run_out_free(run_out *r) {
  free(r->dump);
  r->dump = NULL;
}

/* One analysis of root, with a fresh store on cache (as one process) or
 * with none (cache NULL). */
static int run_once(const char *root, const char *cache, const char *inc, run_out *out) {
  gsp_tier *tier = NULL;
  char uri[600], err[256] = "";
  if (cache) {
    snprintf(uri, sizeof uri, "lmdb:%s", cache);
    gsp_tier_config tc = {.l3 = uri, .durability = GSP_TIER_NONE, .no_promote = true};
    int rv = gsp_tier_create(&tc, &tier, err, sizeof err);
    if (rv != GSP_OK) return rv;
  }
  const char *incs[] = {inc};
  gsp_cg_config cfg = {.root = root, .jobs = 2, .store = tier, .no_cache = cache == NULL};
  if (inc) cfg.include_dirs = incs, cfg.n_include_dirs = 1;
  gsp_cg *cg = NULL;
  int rv = gsp_cg_create(&cfg, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (rv == GSP_OK) {
    out->dump = cg_dump(cg);
    out->invariants = cg_check_invariants(cg);
    gsp_cg_stats_get(cg, &out->st);
  }
  gsp_cg_destroy(cg);
  if (tier) {
    gsp_tier_stats ts;
    if (gsp_tier_stats_get(tier, &ts) == GSP_OK) out->l3_entries = ts.level[GSP_TIER_L3].entries;
  }
  gsp_tier_destroy(tier);
  return rv;
}

static void sh(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  assert_int_equal(system(cmd), 0);
}

/* dir (mkdtemp'd) gets tree/, a copy of src, and cache/ (created by the store). */
static void copy_tree(char *dir, const char *src) {
  assert_non_null(mkdtemp(dir));
  sh("mkdir -p '%s/tree' && cp -R '%s/.' '%s/tree'", dir, src, dir);
}

/* ---- random edits ---- */

typedef struct edit_files {
  char **path; /* relative to the tree */
  size_t n, cap;
} edit_files;

static const char *ext_of(const char *p) {
  const char *dot = strrchr(p, '.'), *slash = strrchr(p, '/');
  return dot && (!slash || dot > slash) ? dot + 1 : "";
}

static bool editable(const char *name) {
  static const char *const exts[] = {"c", "h", "py", "js", "mjs", "cjs", "ts", "tsx"};
  for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
    if (strcmp(ext_of(name), exts[i]) == 0) return true;
  return false;
}

static void list_files(const char *root, const char *rel, edit_files *out) {
  char path[2100];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  DIR *d = opendir(path);
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    char sub[1024];
    snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
    snprintf(path, sizeof path, "%s/%s", root, sub);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    if (S_ISDIR(sb.st_mode)) {
      list_files(root, sub, out);
    } else if (editable(sub)) {
      if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 16;
        out->path = realloc(out->path, out->cap * sizeof *out->path);
        assert_non_null(out->path);
      }
      out->path[out->n++] = strdup(sub);
    }
  }
  closedir(d);
}

static const char *snippet(const char *ext, unsigned r) {
  static const char *const c[] = {
      "int rb_first%u(void);\n",
      "int rb_call%u(void) { return util_add(%u, 1); }\n",
      "#include \"util.h\"\n",
      "#include \"lib/list.h\"\n",
      "struct node *rb_node%u(struct node *n) { return list_push(n, %u); }\n",
      "typedef int rb_t%u;\n"};
  static const char *const py[] = {
      "def rb_first%u():\n    pass\n",
      "def rb_call%u():\n    return helper(%u)\n",
      "from pkg.helpers import helper\n",
      "import pkg.core\n",
      "class Rb%u(Engine):\n    def go(self):\n        return self.run(%u)\n",
      "rb_x%u = pkg.core.Engine()\n"};
  static const char *const js[] = {"function rb_first%u() {}\n",
                                   "export function rb_call%u() { return greet('x', %u); }\n",
                                   "import { greet } from './lib/greet.js';\n",
                                   "const rb%u = require('./lib/util');\n",
                                   "export class Rb%u { go() { return this.go(%u); } }\n",
                                   "export * from './shapes';\n"};
  const char *const *set = js;
  if (strcmp(ext, "c") == 0 || strcmp(ext, "h") == 0) set = c;
  if (strcmp(ext, "py") == 0) set = py;
  return set[r % 6];
}

static size_t count_lines(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = 0;
  for (int ch; (ch = fgetc(f)) != EOF;) n += ch == '\n';
  fclose(f);
  return n;
}

/* One random edit to tree/rel; a line of what it did into log. */
static void random_edit(const char *tree, const char *rel, unsigned *seed, char *log, size_t cap) {
  char path[1024], text[512];
  snprintf(path, sizeof path, "%s/%s", tree, rel);
  unsigned op = (unsigned)rand_r(seed) % 4, k = (unsigned)rand_r(seed) % 1000;
  snprintf(text, sizeof text, snippet(ext_of(rel), (unsigned)rand_r(seed)), k, k);
  size_t lines = count_lines(path), line = lines ? (size_t)rand_r(seed) % lines + 1 : 0;
  if (op == 0) { /* at the top: every definition after it renumbered */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *old = NULL;
    size_t cap2 = 0, len = 0;
    for (int ch; (ch = fgetc(f)) != EOF;) {
      if (len + 1 >= cap2) old = realloc(old, cap2 = cap2 * 2 + 256);
      old[len++] = (char)ch;
    }
    fclose(f);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    if (len) fwrite(old, 1, len, f);
    fclose(f);
    free(old);
  } else if (op == 1 || lines == 0) {
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f, "\n%s", text);
    fclose(f);
  } else if (op == 2) {
    sh("sed -i '%zud' '%s'", line, path);
  } else {
    sh("sed -i '%zup' '%s'", line, path);
  }
  static const char *const names[] = {"top", "append", "delete line", "double line"};
  size_t used = strlen(log);
  snprintf(log + used, cap - used, " %s: %s %zu;", rel, names[op], op >= 2 ? line : 0);
}

static unsigned test_seed(void) {
  const char *e = getenv("GSP_TEST_SEED");
  unsigned s = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
  printf("GSP_TEST_SEED=%u\n", s);
  return s;
}

static void random_rounds(const char *src, const char *inc, int rounds) {
  char dir[] = "/tmp/cgrbXXXXXX", tree[64], cache[64], log[4096];
  copy_tree(dir, src);
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(cache, sizeof cache, "%s/cache", dir);
  edit_files files = {0};
  list_files(tree, "", &files);
  assert_true(files.n > 3);
  unsigned seed = test_seed();
  run_out cold = {0};
  assert_int_equal(run_once(tree, cache, inc, &cold), GSP_OK);
  run_out_free(&cold);
  for (int r = 0; r < rounds; r++) {
    int nedit = 1 + rand_r(&seed) % 3;
    log[0] = '\0';
    for (int e = 0; e < nedit; e++)
      random_edit(tree, files.path[(size_t)rand_r(&seed) % files.n], &seed, log, sizeof log);
    run_out inc_run = {0}, fresh = {0};
    assert_int_equal(run_once(tree, cache, inc, &inc_run), GSP_OK);
    assert_int_equal(run_once(tree, NULL, inc, &fresh), GSP_OK);
    if (strcmp(inc_run.dump, fresh.dump) != 0) fprintf(stderr, "round %d:%s\n", r, log);
    assert_string_equal(inc_run.dump, fresh.dump);
    assert_null(inc_run.invariants);
    assert_true(inc_run.st.resolve_incremental || inc_run.st.resolve_cached);
    assert_true(inc_run.st.parsed <= (uint64_t)nedit);
    assert_int_equal(inc_run.st.refs_resolved, fresh.st.refs_resolved);
    assert_int_equal(inc_run.st.imports_resolved, fresh.st.imports_resolved);
    assert_int_equal(inc_run.st.symbol_edges, fresh.st.symbol_edges);
    assert_int_equal(inc_run.st.file_edges, fresh.st.file_edges);
    run_out_free(&inc_run), run_out_free(&fresh);
  }
  for (size_t i = 0; i < files.n; i++) free(files.path[i]);
  free(files.path);
  sh("rm -rf '%s'", dir);
}

static void test_random_edits_c_python(void **state) {
  (void)state;
  random_rounds(CG_FIXTURE_DIR, "c", 16);
}

static void test_random_edits_js_ts(void **state) {
  (void)state;
  random_rounds(CG_FIXTURE_LANG_DIR, NULL, 16);
}

/* ---- lazy index ---- */

static void test_python_change_indexes_lazily(void **state) {
  (void)state;
  char dir[] = "/tmp/cgrbXXXXXX", tree[64], cache[64];
  copy_tree(dir, CG_FIXTURE_DIR);
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(cache, sizeof cache, "%s/cache", dir);
  run_out cold = {0}, inc = {0}, fresh = {0};
  assert_int_equal(run_once(tree, cache, "c", &cold), GSP_OK);
  sh("printf '\\ndef later():\\n    return helper(1)\\n' >> '%s/py/pkg/helpers.py'", tree);
  assert_int_equal(run_once(tree, cache, "c", &inc), GSP_OK);
  assert_int_equal(run_once(tree, NULL, "c", &fresh), GSP_OK);
  assert_true(inc.st.resolve_incremental);
  assert_string_equal(inc.dump, fresh.dump);
  assert_true(inc.st.defs_indexed > 0);
  assert_true(inc.st.defs_indexed < fresh.st.defs_indexed);
  run_out_free(&cold), run_out_free(&inc), run_out_free(&fresh);
  sh("rm -rf '%s'", dir);
}

/* ---- sections ---- */

/* Three sections of 256 files, more targets (8 bytes each) than the
 * manifest has bytes. */
#define GEN_FILES 600

static void gen_chain(const char *tree) {
  sh("mkdir -p '%s'", tree);
  for (int i = 0; i < GEN_FILES; i++) {
    char path[600];
    snprintf(path, sizeof path, "%s/m%03d.py", tree, i);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (i) fprintf(f, "from m%03d import f%d\n\n", i - 1, i - 1);
    fprintf(f, "def f%d():\n    return %s\n", i, i ? "f0()" : "1");
    if (i)
      fprintf(f, "\ndef g%d():\n    return f%d() + f0() + f0() + f0() + f0() + f0() + f0()\n", i,
              i - 1);
    fclose(f);
  }
}

static void test_only_changed_sections_written(void **state) {
  (void)state;
  char dir[] = "/tmp/cgrbXXXXXX", tree[64], cache[64];
  assert_non_null(mkdtemp(dir));
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(cache, sizeof cache, "%s/cache", dir);
  gen_chain(tree);
  run_out cold = {0}, inc = {0}, fresh = {0};
  assert_int_equal(run_once(tree, cache, NULL, &cold), GSP_OK);
  assert_int_equal(cold.st.parsed, GEN_FILES);
  /* every result, three sections, the manifest */
  assert_int_equal(cold.l3_entries, GEN_FILES + 3 + 1);
  /* the last module: imported by none, in the third section */
  sh("printf '\\ndef h():\\n    return g%d()\\n' >> '%s/m%03d.py'", GEN_FILES - 1, tree,
     GEN_FILES - 1);
  assert_int_equal(run_once(tree, cache, NULL, &inc), GSP_OK);
  assert_int_equal(run_once(tree, NULL, NULL, &fresh), GSP_OK);
  assert_true(inc.st.resolve_incremental);
  assert_int_equal(inc.st.files_reresolved, 1);
  assert_string_equal(inc.dump, fresh.dump);
  /* one new result and one new section; the manifest replaced in place */
  assert_int_equal(inc.l3_entries, cold.l3_entries + 2);
  run_out_free(&cold), run_out_free(&inc), run_out_free(&fresh);
  sh("rm -rf '%s'", dir);
}

/* ---- damaged manifests ---- */

/* The stored manifest of tree (a run with the store must have written it),
 * changed by fn, and put back. */
static void alter_manifest(const char *tree, const char *cache, const char *inc,
                           void (*fn)(uint8_t *v, size_t len)) {
  gsp_cg *cg = NULL;
  const char *incs[] = {inc};
  gsp_cg_config cfg = {.root = tree, .jobs = 1, .no_cache = true};
  if (inc) cfg.include_dirs = incs, cfg.n_include_dirs = 1;
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  uint8_t key[17] = {'G'};
  gsp__cg_layout_key(cg, key + 1);
  gsp_cg_destroy(cg);
  char uri[128], err[256];
  snprintf(uri, sizeof uri, "lmdb:%s", cache);
  gsp_tier *t = NULL;
  assert_int_equal(gsp_tier_create(&(gsp_tier_config){.l3 = uri}, &t, err, sizeof err), GSP_OK);
  void *v = NULL;
  size_t len = 0;
  assert_int_equal(gsp_tier_get(t, key, sizeof key, &v, &len), GSP_OK);
  fn(v, len);
  assert_int_equal(gsp_tier_put(t, key, sizeof key, v, len, NULL), GSP_OK);
  gsp_free(v);
  gsp_tier_destroy(t);
}

/* Manifest layout: header {magic, version, nfiles, nimps, nrefs} (32
 * bytes), 32 bytes per file {hash, nimps, nrefs, ndefs, has_res}, the
 * section keys (16 bytes each, none for a tree of one section), the
 * import targets (4 bytes each), then (one section) the reference targets. */
static uint64_t nfiles_of(const uint8_t *v, size_t len) {
  uint64_t n;
  assert_true(len >= 32);
  memcpy(&n, v + 8, sizeof n);
  assert_true(32 + n * 32 <= len);
  return n;
}

/* (a tree of several sections) the first section's key: one under which
 * nothing is stored. */
static void first_section_missing(uint8_t *v, size_t len) {
  v[32 + nfiles_of(v, len) * 32] ^= 0x5a;
}

/* (a tree of one section) the first import target: past the last file. */
static void import_out_of_range(uint8_t *v, size_t len) {
  int32_t past = 100000;
  memcpy(v + 32 + nfiles_of(v, len) * 32, &past, sizeof past);
}

/* (a tree of one section) the last reference target: past the last
 * definition of the first file. */
static void ref_out_of_range(uint8_t *v, size_t len) {
  uint32_t t[2] = {1, 100000};
  (void)nfiles_of(v, len);
  memcpy(v + len - sizeof t, t, sizeof t);
}

/* Every file's definition count one higher: the files now all differ
 * from their records, so the prior is never taken whole. */
static void counts_off(uint8_t *v, size_t len) {
  uint64_t n = nfiles_of(v, len);
  for (uint64_t f = 0; f < n; f++) v[32 + f * 32 + 24]++;
}

/* tree analyzed with the store, the manifest damaged by fn: the next run
 * does not take the stored resolution whole and its graph is the cold
 * one. */
static void check_damage(const char *tree, const char *cache, const char *inc,
                         void (*fn)(uint8_t *v, size_t len)) {
  run_out cold = {0}, a = {0};
  assert_int_equal(run_once(tree, cache, inc, &cold), GSP_OK);
  alter_manifest(tree, cache, inc, fn);
  assert_int_equal(run_once(tree, cache, inc, &a), GSP_OK);
  assert_false(a.st.resolve_cached);
  assert_null(a.invariants);
  assert_string_equal(a.dump, cold.dump);
  run_out_free(&cold), run_out_free(&a);
}

static void test_damaged_manifest_not_used(void **state) {
  (void)state;
  char dir[] = "/tmp/cgrbXXXXXX", tree[64], cache[64], gen[64];
  copy_tree(dir, CG_FIXTURE_DIR);
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(cache, sizeof cache, "%s/cache", dir);
  check_damage(tree, cache, "c", import_out_of_range);
  check_damage(tree, cache, "c", ref_out_of_range);
  check_damage(tree, cache, "c", counts_off);
  snprintf(gen, sizeof gen, "%s/gen", dir);
  gen_chain(gen);
  snprintf(cache, sizeof cache, "%s/cache2", dir);
  check_damage(gen, cache, NULL, first_section_missing);
  sh("rm -rf '%s'", dir);
}

/* ---- includes through a macro ---- */

/* One re-analysis against a run without a store: equal graphs and counts. */
static void same_as_fresh(const char *tree, const char *cache, const char *what) {
  run_out inc_run = {0}, fresh = {0};
  assert_int_equal(run_once(tree, cache, "inc", &inc_run), GSP_OK);
  assert_int_equal(run_once(tree, NULL, "inc", &fresh), GSP_OK);
  if (strcmp(inc_run.dump, fresh.dump) != 0) fprintf(stderr, "after %s\n", what);
  assert_string_equal(inc_run.dump, fresh.dump);
  assert_true(inc_run.st.resolve_incremental);
  assert_int_equal(inc_run.st.parsed, 1);
  assert_int_equal(inc_run.st.imports_resolved, fresh.st.imports_resolved);
  assert_int_equal(inc_run.st.refs_resolved, fresh.st.refs_resolved);
  run_out_free(&inc_run), run_out_free(&fresh);
}

/* `#include APP_MAIN_H` in src/use.c is answered by a definition in
 * another header (inc/cfg/header.h, reached through <ft2build.h>) and,
 * for APP_NEXT_H, by one in a header reached through a macro include
 * (inc/app/cfg.h): the includer changed alone, then each defining header
 * changed alone (the unchanged includer's include moves), each time equal
 * to a run without a store. */
static void test_macro_includes_follow_changes(void **state) {
  (void)state;
  char dir[] = "/tmp/cgrbmXXXXXX", tree[64], cache[64];
  copy_tree(dir, CG_FIXTURE_LANG3_DIR "/c");
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(cache, sizeof cache, "%s/cache", dir);
  run_out cold = {0};
  assert_int_equal(run_once(tree, cache, "inc", &cold), GSP_OK);
  assert_non_null(strstr(cold.dump, "app/main.h"));
  run_out_free(&cold);
  sh("printf '\\nint use_more(void) { return use(); }\\n' >> '%s/src/use.c'", tree);
  same_as_fresh(tree, cache, "use.c changed");
  sh("sed -i 's|<app/main.h>|<app/next.h>|' '%s/inc/cfg/header.h'", tree);
  same_as_fresh(tree, cache, "APP_MAIN_H redefined");
  sh("sed -i 's|<app/next.h>|<app/main.h>|' '%s/inc/app/cfg.h'", tree);
  same_as_fresh(tree, cache, "APP_NEXT_H redefined");
  sh("rm -rf '%s'", dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_edits_c_python),
      cmocka_unit_test(test_random_edits_js_ts),
      cmocka_unit_test(test_python_change_indexes_lazily),
      cmocka_unit_test(test_only_changed_sections_written),
      cmocka_unit_test(test_damaged_manifest_not_used),
      cmocka_unit_test(test_macro_includes_follow_changes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
