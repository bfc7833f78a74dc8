/*
 * cmd_analyze.c - `gsperf analyze [DIR] [options]`: build the code graph of
 * a source tree (gsperf/codegraph.h), optionally write it to a SQLite file,
 * and report: files, lines, symbols, edges, cycles, the most depended-on
 * files, time per stage, result-store hits, peak memory.
 *
 * A progress line (files, MB/s, ETA) is drawn on stderr only when stderr is
 * a terminal. The options that need the multi-level cache, the engine, the
 * server, the profiler or MPI are refused with exit 2 until those exist.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cmd.h"
#include "gsperf/codegraph.h"

#define MAX_INCLUDES 64
#define MAX_TOP 1000

typedef struct opts {
  const char *dir, *db;
  const char *incs[MAX_INCLUDES];
  size_t nincs;
  unsigned jobs, top;
  bool json, no_cache, have_dir;
} opts;

static void help(void) {
  printf(
      "usage: gsperf analyze [DIR] [--db FILE] [--jobs N] [-I DIR]... [--no-cache]\n"
      "                      [--top K] [--json]\n\n"
      "Walks DIR (default '.'; skips .git, honours .gitignore), parses every C\n"
      "and Python file with tree-sitter, resolves includes/imports and references,\n"
      "builds the file dependency graph and reports on it.\n\n"
      "  --db FILE          write the graph to this SQLite file (see 'gsperf query')\n"
      "  --jobs N, -j N     worker threads (default: the CPUs available)\n"
      "  -I DIR, --include DIR\n"
      "                     C include directory, relative to DIR or absolute (repeatable)\n"
      "  --no-cache         parse every file (this build has no persistent result cache\n"
      "                     yet, so every run is a cold run either way)\n"
      "  --top K            most depended-on files to list (default 10)\n"
      "  --json             print the report as JSON on stdout\n\n"
      "Not available in this build: --cache-dir, --serve, --profile, --distributed.\n"
      "Exit: 0 analyzed, 1 failed (the message names the file), 2 bad usage.\n");
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out) {
  char *end = NULL;
  if (s == NULL || *s < '0' || *s > '9') return false;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  *out = (unsigned)v;
  return true;
}

static int usage(const char *what, const char *arg) {
  fprintf(stderr, "gsperf analyze: %s '%s'\n(see 'gsperf analyze --help')\n", what, arg);
  return 2;
}

static int parse_args(int argc, char **argv, opts *o) {
  static const char *const later[] = {"--cache-dir", "--serve", "--profile", "--distributed"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    for (size_t k = 0; k < sizeof later / sizeof *later; k++)
      if (strcmp(a, later[k]) == 0) return usage("option not available in this build:", a);
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return help(), -1;
    if (strcmp(a, "--json") == 0)
      o->json = true;
    else if (strcmp(a, "--no-cache") == 0)
      o->no_cache = true;
    else if (strcmp(a, "--db") == 0 && v)
      o->db = v, i++;
    else if ((strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0) && v) {
      if (!parse_uint(v, 1, 1024, &o->jobs)) return usage("--jobs wants 1..1024, got", v);
      i++;
    } else if ((strcmp(a, "-I") == 0 || strcmp(a, "--include") == 0) && v) {
      if (o->nincs == MAX_INCLUDES) return usage("too many include dirs at", v);
      o->incs[o->nincs++] = v, i++;
    } else if (strncmp(a, "-I", 2) == 0 && a[2]) {
      if (o->nincs == MAX_INCLUDES) return usage("too many include dirs at", a);
      o->incs[o->nincs++] = a + 2;
    } else if (strcmp(a, "--top") == 0 && v) {
      if (!parse_uint(v, 0, MAX_TOP, &o->top)) return usage("--top wants 0..1000, got", v);
      i++;
    } else if (a[0] == '-' && a[1] != '\0')
      return usage(v || a[1] == '-' ? "unknown option" : "option needs a value:", a);
    else if (!o->have_dir)
      o->dir = a, o->have_dir = true;
    else
      return usage("unexpected argument", a);
  }
  return 0;
}

static void progress(void *user, const gsp_cg_progress *p) {
  (void)user;
  double secs = (double)p->elapsed_ns / 1e9,
         mbs = secs > 0 ? (double)p->bytes_done / 1e6 / secs : 0;
  double eta = mbs > 0 ? (double)(p->bytes_total - p->bytes_done) / 1e6 / mbs : 0;
  fprintf(stderr, "\r  %llu/%llu files  %.1f MB/s  ETA %.0f s   ",
          (unsigned long long)p->files_done, (unsigned long long)p->files_total, mbs, eta);
  if (p->files_done == p->files_total) fprintf(stderr, "\r%60s\r", "");
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

typedef struct report {
  gsp_cg_stats st;
  uint64_t store_ns;
  long peak_kb;
  uint32_t top[MAX_TOP];
  size_t ntop;
} report;

static void print_json(const gsp_cg *cg, const opts *o, const report *r) {
  const gsp_cg_stats *s = &r->st;
  printf("{\"root\": ");
  json_str(o->dir);
  printf(
      ", \"files\": %llu, \"files_c\": %llu, \"files_python\": %llu, "
      "\"files_with_errors\": %llu, \"files_skipped\": %llu, \"bytes\": %llu, \"lines\": %llu,\n",
      (unsigned long long)s->files, (unsigned long long)s->files_c,
      (unsigned long long)s->files_python, (unsigned long long)s->files_with_errors,
      (unsigned long long)s->files_skipped, (unsigned long long)s->bytes,
      (unsigned long long)s->lines);
  printf(
      " \"symbols\": %llu, \"references\": %llu, \"references_resolved\": %llu, "
      "\"imports\": %llu, \"imports_resolved\": %llu, \"file_edges\": %llu, "
      "\"symbol_edges\": %llu, \"cycles\": %llu, \"files_in_cycles\": %llu,\n",
      (unsigned long long)s->defs, (unsigned long long)s->refs,
      (unsigned long long)s->refs_resolved, (unsigned long long)s->imports,
      (unsigned long long)s->imports_resolved, (unsigned long long)s->file_edges,
      (unsigned long long)s->symbol_edges, (unsigned long long)s->cycles,
      (unsigned long long)s->files_in_cycles);
  printf(" \"top_depended\": [");
  for (size_t i = 0; i < r->ntop; i++) {
    size_t n;
    gsp_cg_rdeps(cg, r->top[i], &n);
    printf("%s{\"path\": ", i ? ", " : "");
    json_str(gsp_cg_file_path(cg, r->top[i]));
    printf(", \"importers\": %zu}", n);
  }
  printf(
      "],\n \"stages_ms\": {\"walk\": %.3f, \"parse\": %.3f, \"resolve\": %.3f, "
      "\"graph\": %.3f, \"store\": %.3f},\n",
      ms(s->walk_ns), ms(s->parse_ns), ms(s->resolve_ns), ms(s->graph_ns), ms(r->store_ns));
  printf(
      " \"workers\": %u, \"parsed\": %llu, \"cache\": {\"hits\": %llu, \"misses\": %llu}, "
      "\"peak_rss_kb\": %ld}\n",
      s->workers, (unsigned long long)s->parsed, (unsigned long long)s->cache_hits,
      (unsigned long long)s->cache_misses, r->peak_kb);
}

static void print_text(const gsp_cg *cg, const opts *o, const report *r) {
  const gsp_cg_stats *s = &r->st;
  double pct = s->refs ? 100.0 * (double)s->refs_resolved / (double)s->refs : 0;
  double secs = (double)s->parse_ns / 1e9;
  printf("gsperf analyze %s\n", o->dir);
  printf("  files        %llu (c %llu, python %llu; %llu with syntax errors, %llu skipped)\n",
         (unsigned long long)s->files, (unsigned long long)s->files_c,
         (unsigned long long)s->files_python, (unsigned long long)s->files_with_errors,
         (unsigned long long)s->files_skipped);
  printf("  size         %llu lines, %.1f MB\n", (unsigned long long)s->lines,
         (double)s->bytes / 1e6);
  printf("  symbols      %llu definitions, %llu references (%llu resolved, %.1f%%)\n",
         (unsigned long long)s->defs, (unsigned long long)s->refs,
         (unsigned long long)s->refs_resolved, pct);
  printf("  imports      %llu (%llu resolved to files in the tree)\n",
         (unsigned long long)s->imports, (unsigned long long)s->imports_resolved);
  printf("  edges        %llu file imports, %llu symbol edges (calls and uses)\n",
         (unsigned long long)s->file_edges, (unsigned long long)s->symbol_edges);
  printf("  cycles       %llu (%llu files)\n", (unsigned long long)s->cycles,
         (unsigned long long)s->files_in_cycles);
  if (r->ntop) printf("  most depended-on files (importers):\n");
  for (size_t i = 0; i < r->ntop; i++) {
    size_t n;
    gsp_cg_rdeps(cg, r->top[i], &n);
    printf("    %6zu  %s\n", n, gsp_cg_file_path(cg, r->top[i]));
  }
  printf(
      "  stages       walk %.1f ms, parse %.1f ms (%.1f MB/s on %u workers), resolve %.1f ms,"
      " graph %.1f ms%s",
      ms(s->walk_ns), ms(s->parse_ns), secs > 0 ? (double)s->bytes / 1e6 / secs : 0.0, s->workers,
      ms(s->resolve_ns), ms(s->graph_ns), o->db ? "," : "\n");
  if (o->db) printf(" store %.1f ms (%s)\n", ms(r->store_ns), o->db);
  printf("  cache        %llu parsed; no persistent result cache in this build\n",
         (unsigned long long)s->parsed);
  printf("  memory peak  %.1f MB RSS\n", (double)r->peak_kb / 1024.0);
}

static int analyze(const opts *o) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = o->dir,
                       .include_dirs = o->incs,
                       .n_include_dirs = o->nincs,
                       .jobs = o->jobs,
                       .no_cache = true,
                       .progress = isatty(STDERR_FILENO) ? progress : NULL};
  int rv = gsp_cg_create(&cfg, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  report r = {.ntop = 0};
  if (rv == GSP_OK && o->db) rv = gsp_cg_write_db(cg, o->db, &r.store_ns);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf analyze: %s\n",
            cg && gsp_cg_errmsg(cg)[0] ? gsp_cg_errmsg(cg) : gsp_strerror(rv));
    gsp_cg_destroy(cg);
    return 1;
  }
  gsp_cg_stats_get(cg, &r.st);
  r.ntop = gsp_cg_top_depended(cg, o->top, r.top);
  struct rusage ru;
  r.peak_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
  if (o->json)
    print_json(cg, o, &r);
  else
    print_text(cg, o, &r);
  gsp_cg_destroy(cg);
  return 0;
}

int gsp_cmd_analyze(int argc, char **argv) {
  opts o = {.dir = ".", .top = 10};
  int rv = parse_args(argc, argv, &o);
  if (rv != 0) return rv < 0 ? 0 : rv;
  return analyze(&o);
}
