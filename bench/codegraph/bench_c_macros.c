/*
 * bench_c_macros.c - what the C macro pre-pass buys and costs.
 *
 * Every .h and .c file under the given directories (default /usr/include)
 * is read into memory first, so no I/O is timed. Then, per file, the
 * library's own C path (tree-sitter parse + extraction into a builder, the
 * internals gsp_cg_parse uses) runs twice: on the bytes as they are
 * ("raw", what tree-sitter sees without the pre-pass) and on the pre-pass's
 * output ("blanked", what gsp_cg_parse does), and a third time with the
 * annotation macros its includes define blanked too ("+includes": each
 * `#include` resolved one level deep inside the corpus - quoted ones from
 * the file's directory first, then the given directories and their
 * x86_64-linux-gnu / aarch64-linux-gnu subdirectories - and every included
 * header's empty or attribute-like object macros learned with
 * gsp__cg_c_learn_macros, the learning timed with it). Counted: files whose
 * tree has an error, definitions extracted. Timed: CPU time of the whole
 * corpus, the rounds interleaved, medians; the pre-pass alone too.
 * The machine may be shared: the load average is printed with the figures.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <tree_sitter/api.h>

#include "cg_int.h"
#include "extract.h"
#include "../support/bench_util.h"

const TSLanguage *tree_sitter_c(void);

typedef struct src_file {
  char *path;
  char *text;
  size_t len;
  bool cxx; /* looks like C++ (a C parser cannot take it whatever is blanked) */
} src_file;

static bool looks_cxx(const char *path, const char *t) {
  return strstr(path, "/c++/") != NULL || strstr(t, "namespace ") != NULL ||
         strstr(t, "template<") != NULL || strstr(t, "template <") != NULL;
}

static src_file *g_files;
static size_t g_n, g_cap, g_bytes;

static int add_file(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)ftw;
  size_t pl = strlen(path);
  if (type != FTW_F || pl < 2 || path[pl - 2] != '.' ||
      (path[pl - 1] != 'h' && path[pl - 1] != 'c'))
    return 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) return 0;
  char *buf = malloc((size_t)st->st_size + 1);
  size_t n = buf ? fread(buf, 1, (size_t)st->st_size, f) : 0;
  fclose(f);
  if (buf == NULL) return 0;
  buf[n] = '\0';
  if (g_n == g_cap) {
    g_cap = g_cap ? g_cap * 2 : 1024;
    g_files = realloc(g_files, g_cap * sizeof *g_files);
    if (g_files == NULL) exit(1);
  }
  g_files[g_n++] = (src_file){strdup(path), buf, n, looks_cxx(path, buf)};
  g_bytes += n;
  return 0;
}

typedef struct counts {
  size_t with_errors, cxx_with_errors, defs;
} counts;

typedef struct ctx {
  TSParser *ts;
  cg_lang_tab *tab;
  cg_builder b;
  cg_macro_set m, learn;
  cg_macro_tab extra; /* what the current file's includes define */
} ctx;

/* ---- includes, one level ---- */

static char *g_dirs[16]; /* include search path */
static size_t g_ndirs;
static size_t *g_by_path; /* file indexes sorted by path */

static int cmp_by_path(const void *a, const void *b) {
  return strcmp(g_files[*(const size_t *)a].path, g_files[*(const size_t *)b].path);
}

static long find_path(const char *path) {
  size_t lo = 0, hi = g_n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(g_files[g_by_path[mid]].path, path);
    if (c == 0) return (long)g_by_path[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

static void add_dir(const char *d) {
  struct stat st;
  if (g_ndirs < sizeof g_dirs / sizeof *g_dirs && stat(d, &st) == 0 && S_ISDIR(st.st_mode))
    g_dirs[g_ndirs++] = strdup(d);
}

/* The corpus file an include of file f names, or -1. */
static long resolve_include(size_t f, const char *name, size_t nl, bool quoted) {
  char buf[4096];
  if (quoted) {
    const char *slash = strrchr(g_files[f].path, '/');
    int dl = slash ? (int)(slash - g_files[f].path) : 0;
    snprintf(buf, sizeof buf, "%.*s/%.*s", dl, g_files[f].path, (int)nl, name);
    long t = find_path(buf);
    if (t >= 0) return t;
  }
  for (size_t i = 0; i < g_ndirs; i++) {
    snprintf(buf, sizeof buf, "%s/%.*s", g_dirs[i], (int)nl, name);
    long t = find_path(buf);
    if (t >= 0) return t;
  }
  return -1;
}

/* c->extra = the annotation macros of the headers file f includes. */
static void learn_includes(ctx *c, size_t f) {
  const char *p = g_files[f].text, *end = p + g_files[f].len;
  gsp__cg_macro_tab_clear(&c->extra);
  for (; p < end; p++) {
    const char *q = p;
    while (q < end && (*q == ' ' || *q == '\t')) q++;
    const char *eol = memchr(q, '\n', (size_t)(end - q));
    if (eol == NULL) eol = end;
    if (q + 8 < eol && *q == '#') {
      q++;
      while (q < eol && (*q == ' ' || *q == '\t')) q++;
      if ((size_t)(eol - q) > 8 && memcmp(q, "include", 7) == 0) {
        q += 7;
        while (q < eol && (*q == ' ' || *q == '\t')) q++;
        char close = *q == '"' ? '"' : *q == '<' ? '>' : 0;
        const char *ne = close ? memchr(q + 1, close, (size_t)(eol - q - 1)) : NULL;
        long h = ne ? resolve_include(f, q + 1, (size_t)(ne - q - 1), close == '"') : -1;
        if (h >= 0 && (size_t)h != f &&
            gsp__cg_c_learn_macros(g_files[h].text, g_files[h].len, &c->learn, &c->extra) != GSP_OK)
          exit(1);
      }
    }
    p = eol;
  }
}

enum { RAW = 0, BLANKED = 1, INCLUDES = 2 };

/* Parse and extract every file, raw, blanked, or blanked with what its
 * includes define; returns CPU seconds. */
static double run(ctx *c, int mode, counts *out) {
  counts k = {0, 0, 0};
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (size_t i = 0; i < g_n; i++) {
    char *copy = NULL;
    if (mode == INCLUDES) learn_includes(c, i);
    c->m.extra = mode == INCLUDES ? &c->extra : NULL;
    if (mode != RAW &&
        gsp__cg_c_blank_macros(g_files[i].text, g_files[i].len, &c->m, &copy) != GSP_OK)
      exit(1);
    const char *text = copy ? copy : g_files[i].text;
    TSTree *t = ts_parser_parse_string(c->ts, NULL, text, (uint32_t)g_files[i].len);
    gsp__cg_builder_reset(&c->b);
    gsp__cg_extract_c(c->tab, t, text, &c->b);
    bool err = ts_node_has_error(ts_tree_root_node(t));
    k.with_errors += err;
    k.cxx_with_errors += err && g_files[i].cxx;
    k.defs += c->b.ndefs;
    ts_tree_delete(t);
    free(copy);
  }
  if (out) *out = k;
  return gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
}

static double prepass_only(ctx *c) {
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (size_t i = 0; i < g_n; i++) {
    char *copy = NULL;
    if (gsp__cg_c_blank_macros(g_files[i].text, g_files[i].len, &c->m, &copy) != GSP_OK) exit(1);
    free(copy);
  }
  return gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
}

int main(int argc, char **argv) {
  int rounds = 3, first = 1;
  if (argc > 2 && strcmp(argv[1], "--rounds") == 0) rounds = atoi(argv[2]), first = 3;
  if (rounds < 1 || rounds > 50) rounds = 3;
  const char *roots[64];
  int nroots = 0;
  for (int i = first; i < argc && nroots < 64; i++) roots[nroots++] = argv[i];
  if (nroots == 0) roots[nroots++] = "/usr/include";
  for (int i = 0; i < nroots; i++) {
    char d[4096];
    nftw(roots[i], add_file, 32, FTW_PHYS);
    add_dir(roots[i]);
    snprintf(d, sizeof d, "%s/x86_64-linux-gnu", roots[i]);
    add_dir(d);
    snprintf(d, sizeof d, "%s/aarch64-linux-gnu", roots[i]);
    add_dir(d);
  }
  g_by_path = malloc((g_n + 1) * sizeof *g_by_path);
  if (g_by_path == NULL) return 1;
  for (size_t i = 0; i < g_n; i++) g_by_path[i] = i;
  qsort(g_by_path, g_n, sizeof *g_by_path, cmp_by_path);
  ctx c = {.ts = ts_parser_new()};
  ts_parser_set_language(c.ts, tree_sitter_c());
  if (gsp__cg_tab_create(GSP_CG_LANG_C, tree_sitter_c(), &c.tab) != GSP_OK) return 1;
  gsp__cg_builder_init(&c.b);
  double load[3];
  gsp_bench_loadavg(load);
  printf("bench_c_macros: %zu C files, %.1f MB, %d rounds, load %.2f %.2f %.2f\n", g_n,
         (double)g_bytes / 1e6, rounds, load[0], load[1], load[2]);
  counts raw, blank, inc;
  double traw[50], tblank[50], tpre[50], tinc[50];
  for (int r = 0; r < rounds; r++) {
    traw[r] = run(&c, RAW, &raw);
    tblank[r] = run(&c, BLANKED, &blank);
    tinc[r] = run(&c, INCLUDES, &inc);
    tpre[r] = prepass_only(&c);
  }
  double mr = gsp_bench_median(traw, rounds), mb = gsp_bench_median(tblank, rounds),
         mp = gsp_bench_median(tpre, rounds);
  double mi = gsp_bench_median(tinc, rounds), mbytes = (double)g_bytes / 1e6;
  printf("%-28s %10s %10s %10s\n", "", "raw", "pre-pass", "+includes");
  printf("%-28s %10zu %10zu %10zu\n", "files with syntax errors", raw.with_errors,
         blank.with_errors, inc.with_errors);
  printf("%-28s %10zu %10zu %10zu\n", "  of which look like C++", raw.cxx_with_errors,
         blank.cxx_with_errors, inc.cxx_with_errors);
  printf("%-28s %10zu %10zu %10zu\n", "definitions", raw.defs, blank.defs, inc.defs);
  printf("%-28s %10.2f %10.2f %10.2f\n", "parse+extract CPU s", mr, mb, mi);
  printf("%-28s %10.2f %10.2f %10.2f\n", "MB/s (CPU)", mbytes / mr, mbytes / mb, mbytes / mi);
  printf("pre-pass alone: %.3f CPU s (%.0f MB/s) = %.2f%% of the raw parse+extract\n", mp,
         mbytes / mp, 100.0 * mp / mr);
  printf("pre-pass run vs raw run: %+.2f%% CPU (parsing the blanked text differs too)\n",
         100.0 * (mb - mr) / mr);
  gsp__cg_builder_free(&c.b);
  gsp__cg_macro_set_free(&c.m);
  gsp__cg_macro_set_free(&c.learn);
  gsp__cg_macro_tab_free(&c.extra);
  for (size_t i = 0; i < g_ndirs; i++) free(g_dirs[i]);
  free(g_by_path);
  gsp__cg_tab_destroy(c.tab);
  ts_parser_delete(c.ts);
  for (size_t i = 0; i < g_n; i++) free(g_files[i].text), free(g_files[i].path);
  free(g_files);
  return 0;
}
