/*
 * bench_c_macros.c - what the C macro pre-pass buys and costs.
 *
 * Every .h and .c file under the given directories (default /usr/include)
 * is read into memory first, so no I/O is timed. Then, per file, the
 * library's own C path (tree-sitter parse + extraction into a builder, the
 * internals gsp_cg_parse uses) runs twice: on the bytes as they are
 * ("raw", what tree-sitter sees without the pre-pass) and on the pre-pass's
 * output ("blanked", what gsp_cg_parse does). Counted: files whose tree has
 * an error, definitions extracted. Timed: CPU time of the whole corpus,
 * raw and blanked rounds interleaved, medians; the pre-pass alone too.
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
  g_files[g_n++] = (src_file){buf, n, looks_cxx(path, buf)};
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
  cg_macro_set m;
} ctx;

/* Parse and extract every file, blanked or raw; returns CPU seconds. */
static double run(ctx *c, bool blanked, counts *out) {
  counts k = {0, 0, 0};
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (size_t i = 0; i < g_n; i++) {
    char *copy = NULL;
    if (blanked && gsp__cg_c_blank_macros(g_files[i].text, g_files[i].len, &c->m, &copy) != GSP_OK)
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
  if (first >= argc) nftw("/usr/include", add_file, 32, FTW_PHYS);
  for (int i = first; i < argc; i++) nftw(argv[i], add_file, 32, FTW_PHYS);
  ctx c = {.ts = ts_parser_new()};
  ts_parser_set_language(c.ts, tree_sitter_c());
  if (gsp__cg_tab_create(GSP_CG_LANG_C, tree_sitter_c(), &c.tab) != GSP_OK) return 1;
  gsp__cg_builder_init(&c.b);
  double load[3];
  gsp_bench_loadavg(load);
  printf("bench_c_macros: %zu C files, %.1f MB, %d rounds, load %.2f %.2f %.2f\n", g_n,
         (double)g_bytes / 1e6, rounds, load[0], load[1], load[2]);
  counts raw, blank;
  double traw[50], tblank[50], tpre[50];
  for (int r = 0; r < rounds; r++) {
    traw[r] = run(&c, false, &raw);
    tblank[r] = run(&c, true, &blank);
    tpre[r] = prepass_only(&c);
  }
  double mr = gsp_bench_median(traw, rounds), mb = gsp_bench_median(tblank, rounds),
         mp = gsp_bench_median(tpre, rounds);
  double mbytes = (double)g_bytes / 1e6;
  printf("%-28s %10s %10s\n", "", "raw", "pre-pass");
  printf("%-28s %10zu %10zu\n", "files with syntax errors", raw.with_errors, blank.with_errors);
  printf("%-28s %10zu %10zu\n", "  of which look like C++", raw.cxx_with_errors,
         blank.cxx_with_errors);
  printf("%-28s %10zu %10zu\n", "definitions", raw.defs, blank.defs);
  printf("%-28s %10.2f %10.2f\n", "parse+extract CPU s", mr, mb);
  printf("%-28s %10.2f %10.2f\n", "MB/s (CPU)", mbytes / mr, mbytes / mb);
  printf("pre-pass alone: %.3f CPU s (%.0f MB/s) = %.2f%% of the raw parse+extract\n", mp,
         mbytes / mp, 100.0 * mp / mr);
  printf("pre-pass run vs raw run: %+.2f%% CPU (parsing the blanked text differs too)\n",
         100.0 * (mb - mr) / mr);
  gsp__cg_builder_free(&c.b);
  gsp__cg_macro_set_free(&c.m);
  gsp__cg_tab_destroy(c.tab);
  ts_parser_delete(c.ts);
  for (size_t i = 0; i < g_n; i++) free(g_files[i].text);
  free(g_files);
  return 0;
}
