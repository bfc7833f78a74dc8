/*
 * cmd_analyze.c - `gsperf analyze [DIR] [options]`: build the code graph of
 * a source tree (gsperf/codegraph.h), optionally write it to a SQLite file,
 * and report: files, lines, symbols, edges, cycles, the most depended-on
 * files, time per stage, result-store hits, peak memory.
 *
 * The run goes through the optimization engine (gsperf/integration.h: CPU
 * pool, reads on the I/O executor, every stage an engine function) with the
 * persistent result store (gsperf/tier.h: L1, L2 LZ4, L3 LMDB in the cache
 * directory), and the report adds the cache hit rates per level and the
 * engine's optimization report. A progress line (files, MB/s, ETA) is drawn
 * on stderr only when stderr is a terminal; --serve and --profile are in
 * analyze_extras.c. --distributed farms the parse stage out to MPI ranks
 * (analyze_dist.c): under mpirun, rank 0 runs everything else and the
 * other ranks only parse; without mpirun it runs locally.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <unistd.h>

#include "analyze_dist.h"
#include "analyze_extras.h"
#include "cmd.h"
#include "gsperf/codegraph.h"
#include "gsperf/integration.h"
#include "gsperf/optimize.h"
#include "gsperf/tier.h"

#define MAX_INCLUDES 64
/* --memory aggressive: SQLite's heap in this process (the database
 * writer's page cache and sort buffers) is held near this size. */
#define LEAN_SQLITE_BYTES ((sqlite3_int64)1 << 20)
#define MAX_TOP 1000

typedef struct opts {
  const char *dir, *db, *cache_dir, *serve, *port_file, *profile;
  unsigned linger;
  const char *incs[MAX_INCLUDES];
  size_t nincs;
  unsigned jobs, top;
  bool json, no_cache, no_stat_index, have_dir, distributed, mem_aggressive;
} opts;

static void help(void) {
  printf(
      "usage: gsperf analyze [DIR] [--db FILE] [--jobs N] [-I DIR]... [--cache-dir DIR]\n"
      "                      [--no-cache] [--no-stat-index] [--top K] [--json]\n"
      "                      [--serve ADDR[:PORT]] [--port-file FILE]\n"
      "                      [--serve-linger SECS] [--profile DIR]\n"
      "                      [--distributed] [--memory default|aggressive]\n\n"
      "Walks DIR (default '.'; skips .git, honours .gitignore), parses every C\n"
      "and Python file with tree-sitter, resolves includes/imports and references,\n"
      "builds the file dependency graph and reports on it.\n\n"
      "  --db FILE          write the graph to this SQLite file (see 'gsperf query'),\n"
      "                     by a thread of its own during the run\n"
      "  --jobs N, -j N     worker threads (default: the CPUs available)\n"
      "  -I DIR, --include DIR\n"
      "                     C include directory, relative to DIR or absolute (repeatable)\n"
      "  --cache-dir DIR    persistent result cache (multi-level: memory, LZ4, LMDB in\n"
      "                     DIR); default $XDG_CACHE_HOME/gsperf, else ~/.cache/gsperf.\n"
      "                     A later run re-parses only files whose content changed and\n"
      "                     resolves again only the files that reach a changed one\n"
      "  --no-cache         no cache: parse and resolve everything, store nothing\n"
      "  --no-stat-index    read and hash every file even when its device, inode,\n"
      "                     size and times match the last run's (the stat index\n"
      "                     in the cache directory)\n"
      "  --top K            most depended-on files to list (default 10)\n"
      "  --json             print the report as JSON on stdout\n"
      "  --serve ADDR[:PORT]\n"
      "                     serve the dashboard and /metrics during the run (every\n"
      "                     stage's histograms, cache hit rates per level); port 0 =\n"
      "                     a free port, default 9464\n"
      "  --port-file FILE   with --serve: write the port there once listening\n"
      "  --serve-linger SECS\n"
      "                     with --serve: keep serving this long after the report\n"
      "  --profile DIR      CPU-profile the run (all threads); writes DIR/cpu.pb.gz,\n"
      "                     cpu.collapsed, flame.svg, report.txt\n"
      "  --distributed      under 'mpirun -np N': rank 0 walks, resolves and writes;\n"
      "                     ranks 1..N-1 parse the files rank 0's cache does not hold\n"
      "                     (shared file system). Without mpirun, or in a build\n"
      "                     without Open MPI, the run is local\n"
      "  --memory aggressive\n"
      "                     memory first: large parses share an 8 MiB tree budget,\n"
      "                     freed memory goes back to the system, SQLite holds about\n"
      "                     1 MiB, result cache L1 1 MiB, no L2, LZ4 in L3 (same\n"
      "                     graph and database; default: speed)\n\n"
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
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return help(), -1;
    if (strcmp(a, "--json") == 0)
      o->json = true;
    else if (strcmp(a, "--distributed") == 0)
      o->distributed = true;
    else if (strcmp(a, "--no-cache") == 0)
      o->no_cache = true;
    else if (strcmp(a, "--no-stat-index") == 0)
      o->no_stat_index = true;
    else if (strcmp(a, "--db") == 0 && v)
      o->db = v, i++;
    else if (strcmp(a, "--cache-dir") == 0 && v)
      o->cache_dir = v, i++;
    else if (strcmp(a, "--serve") == 0 && v)
      o->serve = v, i++;
    else if (strcmp(a, "--port-file") == 0 && v)
      o->port_file = v, i++;
    else if (strcmp(a, "--profile") == 0 && v)
      o->profile = v, i++;
    else if (strcmp(a, "--memory") == 0 && v) {
      if (analyze_memory_parse(v, &o->mem_aggressive) != 0)
        return usage("--memory wants default or aggressive, got", v);
      i++;
    } else if (strcmp(a, "--serve-linger") == 0 && v) {
      if (!parse_uint(v, 0, 86400, &o->linger))
        return usage("--serve-linger wants 0..86400, got", v);
      i++;
    } else if ((strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0) && v) {
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

typedef struct progress_ctx {
  bool tty;
  gsp_integration *ig;
} progress_ctx;

/* On a worker thread, every 100 ms: refresh the served gauges, draw the bar. */
static void progress(void *user, const gsp_cg_progress *p) {
  progress_ctx *pc = user;
  gsp_integration_sync(pc->ig);
  if (!pc->tty) return;
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

#define MAX_UNRESOLVED 10

typedef struct report {
  gsp_cg_stats st;
  uint64_t store_ns;
  long peak_kb;
  uint32_t top[MAX_TOP];
  size_t ntop;
  bool cached; /* a result cache was used */
  int ranks;   /* MPI ranks (rank 0 + parse ranks); 1 = local */
  gsp_tier_stats ts;
  char *opt_json;                          /* the engine's optimization report */
  gsp_cg_unresolved unres[MAX_UNRESOLVED]; /* the most frequent unresolved specifiers */
  size_t nunres, nunres_distinct;
} report;

/* The cache directory: --cache-dir, $XDG_CACHE_HOME/gsperf, ~/.cache/gsperf. */
static int cache_path(const opts *o, char *buf, size_t cap) {
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int n;
  if (o->cache_dir)
    n = snprintf(buf, cap, "%s", o->cache_dir);
  else if (xdg && xdg[0] == '/')
    n = snprintf(buf, cap, "%s/gsperf", xdg);
  else if (home && home[0])
    n = snprintf(buf, cap, "%s/.cache/gsperf", home);
  else
    n = snprintf(buf, cap, "/tmp/gsperf-cache-%ld", (long)getuid());
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* mkdir -p path (the last component is made by the tier). */
static void make_parents(char *path) {
  for (char *p = path + 1; (p = strchr(p, '/')) != NULL; p++) {
    *p = '\0';
    (void)mkdir(path, 0755);
    *p = '/';
  }
}

/* The multi-level cache in the cache directory: L1 and L2 in memory, L3
 * LMDB. Write-behind: one writer thread batches the puts into LMDB
 * transactions, off the parse workers' path; write-around: results are
 * not copied into L1 (one run reads each file's result once, so L3 hits
 * are not promoted either); no fsync but one sync at the end (a killed
 * run loses at most its last batch, never the store's consistency). */
static int open_cache(const opts *o, gsp_tier **out) {
  char dir[4096], uri[4200], err[512] = "";
  if (cache_path(o, dir, sizeof dir) != 0) {
    fprintf(stderr, "gsperf analyze: cache directory path too long\n");
    return 1;
  }
  make_parents(dir);
  snprintf(uri, sizeof uri, "lmdb:%s", dir);
  gsp_tier_config tc = {.l3 = uri,
                        .write_mode = GSP_TIER_WRITE_BEHIND,
                        .write_around = true,
                        .durability = GSP_TIER_NONE,
                        .no_promote = true,
                        .l3_rebuild = true};
  if (o->mem_aggressive) analyze_memory_tier(&tc);
  int rv = gsp_tier_create(&tc, out, err, sizeof err);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf analyze: cache %s: %s\n(use --no-cache or --cache-dir DIR)\n", dir,
            err[0] ? err : gsp_strerror(rv));
    return 1;
  }
  return 0;
}

static void print_json(const gsp_cg *cg, const opts *o, const report *r) {
  const gsp_cg_stats *s = &r->st;
  printf("{\"root\": ");
  json_str(o->dir);
  printf(
      ", \"files\": %llu, \"files_c\": %llu, \"files_python\": %llu, \"files_js\": %llu, "
      "\"files_ts\": %llu, \"files_json\": %llu, "
      "\"files_with_errors\": %llu, \"files_skipped\": %llu, \"bytes\": %llu, \"lines\": %llu,\n",
      (unsigned long long)s->files, (unsigned long long)s->files_c,
      (unsigned long long)s->files_python, (unsigned long long)s->files_js,
      (unsigned long long)s->files_ts, (unsigned long long)s->files_json,
      (unsigned long long)s->files_with_errors, (unsigned long long)s->files_skipped,
      (unsigned long long)s->bytes, (unsigned long long)s->lines);
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
  printf("],\n \"unresolved_distinct\": %zu, \"unresolved_top\": [", r->nunres_distinct);
  for (size_t i = 0; i < r->nunres; i++) {
    printf("%s{\"module\": ", i ? ", " : "");
    json_str(r->unres[i].module);
    printf(", \"lang\": \"%s\", \"count\": %u, \"first_file\": ",
           gsp_cg_lang_name(r->unres[i].lang), r->unres[i].count);
    json_str(gsp_cg_file_path(cg, r->unres[i].first_file));
    printf("}");
  }
  printf(
      "],\n \"stages_ms\": {\"walk\": %.3f, \"parse\": %.3f, \"resolve\": %.3f, "
      "\"graph\": %.3f, \"store\": %.3f, \"store_cpu\": %.3f, \"store_cpu_after_graph\": %.3f}, "
      "\"db_unchanged\": %s, \"db_incremental\": %s, \"db_rows\": %llu,\n",
      ms(s->walk_ns), ms(s->parse_ns), ms(s->resolve_ns), ms(s->graph_ns), ms(r->store_ns),
      ms(s->db_cpu_ns), ms(s->db_tail_cpu_ns), s->db_unchanged ? "true" : "false",
      s->db_incremental ? "true" : "false", (unsigned long long)s->db_rows);
  printf(
      " \"workers\": %u, \"ranks\": %d, \"parsed\": %llu, \"cache\": {\"enabled\": %s, "
      "\"hits\": %llu, \"misses\": %llu, \"stat_known\": %llu, \"resolution_cached\": %s, "
      "\"resolution_incremental\": %s, \"files_reresolved\": %llu, \"levels\": [",
      s->workers, r->ranks, (unsigned long long)s->parsed, r->cached ? "true" : "false",
      (unsigned long long)s->cache_hits, (unsigned long long)s->cache_misses,
      (unsigned long long)s->files_stat_known, s->resolve_cached ? "true" : "false",
      s->resolve_incremental ? "true" : "false", (unsigned long long)s->files_reresolved);
  for (int l = 0; l < GSP_TIER_LEVELS; l++) {
    const gsp_tier_level_stats *ls = &r->ts.level[l];
    printf("%s{\"level\": %d, \"hits\": %llu, \"misses\": %llu, \"entries\": %llu}", l ? ", " : "",
           l + 1, (unsigned long long)ls->hits, (unsigned long long)ls->misses,
           (unsigned long long)ls->entries);
  }
  printf("]},\n \"peak_rss_kb\": %ld,\n \"optimization\": %s}\n", r->peak_kb,
         r->opt_json ? r->opt_json : "null");
}

static double pct_of(uint64_t part, uint64_t whole) {
  return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void print_cache_text(const report *r) {
  const gsp_cg_stats *s = &r->st;
  if (!r->cached) {
    printf("  cache        off: %llu parsed\n", (unsigned long long)s->parsed);
    return;
  }
  printf("  cache        %llu parsed, %llu from the cache (%.1f%%); resolution %s\n",
         (unsigned long long)s->parsed, (unsigned long long)s->cache_hits,
         pct_of(s->cache_hits, s->cache_hits + s->cache_misses),
         s->resolve_cached ? "from the cache" : "computed");
  if (s->files_stat_known)
    printf("  stat index   %llu files not read: device, inode, size and times as last run\n",
           (unsigned long long)s->files_stat_known);
  if (s->resolve_incremental)
    printf(
        "  resolution   %llu of %llu files bound again (they reach a changed file);"
        " the rest from the cache\n",
        (unsigned long long)s->files_reresolved, (unsigned long long)(s->files - s->files_skipped));
  static const char *const names[] = {"L1 memory", "L2 lz4", "L3 lmdb"};
  for (int l = 0; l < GSP_TIER_LEVELS; l++) {
    const gsp_tier_level_stats *ls = &r->ts.level[l];
    printf("    %-10s hits %llu / %llu lookups reaching it (%.1f%%), %llu entries\n", names[l],
           (unsigned long long)ls->hits,
           (unsigned long long)ls->hits + (unsigned long long)ls->misses,
           pct_of(ls->hits, ls->hits + ls->misses), (unsigned long long)ls->entries);
  }
}

static void print_text(const gsp_cg *cg, const opts *o, const report *r) {
  const gsp_cg_stats *s = &r->st;
  double pct = s->refs ? 100.0 * (double)s->refs_resolved / (double)s->refs : 0;
  double secs = (double)s->parse_ns / 1e9;
  printf("gsperf analyze %s\n", o->dir);
  printf(
      "  files        %llu (c %llu, python %llu, js %llu, ts %llu, json %llu; "
      "%llu with syntax errors, %llu skipped)\n",
      (unsigned long long)s->files, (unsigned long long)s->files_c,
      (unsigned long long)s->files_python, (unsigned long long)s->files_js,
      (unsigned long long)s->files_ts, (unsigned long long)s->files_json,
      (unsigned long long)s->files_with_errors, (unsigned long long)s->files_skipped);
  printf("  size         %llu lines, %.1f MB\n", (unsigned long long)s->lines,
         (double)s->bytes / 1e6);
  printf("  symbols      %llu definitions, %llu references (%llu resolved, %.1f%%)\n",
         (unsigned long long)s->defs, (unsigned long long)s->refs,
         (unsigned long long)s->refs_resolved, pct);
  printf("  imports      %llu (%llu resolved to files in the tree)\n",
         (unsigned long long)s->imports, (unsigned long long)s->imports_resolved);
  if (r->nunres) {
    printf("  unresolved   %zu distinct specifiers; most imported:", r->nunres_distinct);
    for (size_t i = 0; i < r->nunres; i++)
      printf("%s %s (%u)", i ? "," : "", r->unres[i].module, r->unres[i].count);
    printf("\n");
  }
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
  char on[64];
  if (r->ranks > 1)
    snprintf(on, sizeof on, "%d parse ranks", r->ranks - 1);
  else
    snprintf(on, sizeof on, "%u workers", s->workers);
  printf(
      "  stages       walk %.1f ms, parse %.1f ms (%.1f MB/s on %s), resolve %.1f ms,"
      " graph %.1f ms%s",
      ms(s->walk_ns), ms(s->parse_ns), secs > 0 ? (double)s->bytes / 1e6 / secs : 0.0, on,
      ms(s->resolve_ns), ms(s->graph_ns), o->db ? "," : "\n");
  if (o->db && s->db_unchanged)
    printf(" store %.1f ms (%s: unchanged, inputs are the same)\n", ms(r->store_ns), o->db);
  else if (o->db)
    printf(
        " store %.1f ms after the graph (%s %s, %llu rows; written during the run: %.1f ms CPU,"
        " %.1f ms of it after the graph)\n",
        ms(r->store_ns), o->db, s->db_incremental ? "updated in place" : "written anew",
        (unsigned long long)s->db_rows, ms(s->db_cpu_ns), ms(s->db_tail_cpu_ns));
  print_cache_text(r);
  printf("  memory peak  %.1f MB RSS\n", (double)r->peak_kb / 1024.0);
  char *text = NULL, err[256];
  if (r->opt_json && gsp_opt_report_text(r->opt_json, &text, err, sizeof err) == GSP_OK)
    printf("\n%s", text);
  gsp_free(text);
}

/* The engine for `jobs` threads: jobs - 1 CPU workers and the caller. */
static int open_engine(const opts *o, gsp_tier *tier, gsp_integration **out) {
  unsigned jobs = o->jobs ? o->jobs : gsp_exec_default_workers();
  /* Each parse thread has at most one read ahead in flight, so `jobs` I/O
   * threads are enough; more only add idle threads and wake-ups. */
  gsp_opt_config ec = {.max_workers = jobs > 1 ? jobs - 1 : 1, .io_workers = jobs};
  if (o->mem_aggressive) ec.strategy = GSP_OPT_MEMORY; /* applied to the run by integration */
  char err[512] = "";
  int rv = gsp_integration_create(&(gsp_integration_config){.engine_cfg = &ec, .store = tier}, out,
                                  err, sizeof err);
  if (rv != GSP_OK) fprintf(stderr, "gsperf analyze: %s\n", err[0] ? err : gsp_strerror(rv));
  return rv == GSP_OK ? 0 : 1;
}

static int run(const opts *o, gsp_integration *ig, analyze_dist *dist, gsp_cg **cg, report *r) {
  progress_ctx pc = {.tty = isatty(STDERR_FILENO), .ig = ig};
  gsp_cg_config cfg = {.root = o->dir,
                       .include_dirs = o->incs,
                       .n_include_dirs = o->nincs,
                       .jobs = o->jobs,
                       .no_cache = o->no_cache,
                       .no_stat_index = o->no_stat_index,
                       .db = o->db, /* written during the run */
                       .progress = pc.tty || o->serve ? progress : NULL,
                       .progress_user = &pc};
  gsp_integration_apply(ig, &cfg);
  if (o->jobs == 1) cfg.exec = NULL; /* the caller alone */
  if (dist) analyze_dist_apply(dist, &cfg);
  int rv = gsp_cg_create(&cfg, cg);
  if (rv == GSP_OK) rv = gsp_cg_run(*cg);
  if (rv == GSP_OK && gsp_cg_warning(*cg)[0] != '\0')
    fprintf(stderr, "gsperf analyze: warning: %s\n", gsp_cg_warning(*cg));
  if (rv == GSP_OK && o->db) rv = gsp_cg_write_db(*cg, o->db, &r->store_ns);
  return rv;
}

static void finish_report(const opts *o, gsp_cg *cg, gsp_integration *ig, gsp_tier *tier,
                          report *r) {
  if (tier) {
    if (gsp_tier_flush(tier) != GSP_OK)
      fprintf(stderr, "gsperf analyze: warning: results not stored in the cache: %s\n",
              gsp_tier_errmsg(tier));
    (void)gsp_tier_stats_get(tier, &r->ts);
  }
  gsp_integration_sync(ig);
  if (gsp_opt_report_json(gsp_integration_engine(ig), &r->opt_json, NULL) != GSP_OK)
    r->opt_json = NULL;
  gsp_cg_stats_get(cg, &r->st);
  r->ntop = gsp_cg_top_depended(cg, o->top, r->top);
  if (gsp_cg_unresolved_top(cg, MAX_UNRESOLVED, r->unres, &r->nunres, &r->nunres_distinct) !=
      GSP_OK)
    r->nunres = r->nunres_distinct = 0; /* out of memory: the list is left out */
  struct rusage ru;
  r->peak_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

/* GET /api/v1/report on the --serve server: the engine's report, live. */
static int report_route(void *user, char **out, size_t *len) {
  return gsp_opt_report_json(user, out, len);
}

/* What watches the run: the server and the profiler (either may be off). */
typedef struct watchers {
  analyze_serve srv;
  gsp_prof *prof;
} watchers;

static int watch_start(const opts *o, gsp_integration *ig, watchers *w) {
  *w = (watchers){.prof = NULL};
  gsp_metrics *m = gsp_opt_metrics(gsp_integration_engine(ig));
  if (o->serve && analyze_serve_start(&w->srv, o->serve, o->port_file, m) != 0) return 1;
  /* The server stops (watch_stop) before the engine is destroyed. */
  if (o->serve && gsp_http_add_json_route(w->srv.http, "/api/v1/report", report_route,
                                          gsp_integration_engine(ig)) != GSP_OK)
    fprintf(stderr, "gsperf analyze: --serve: /api/v1/report is not served\n");
  if (o->profile && analyze_profile_start(&w->prof, o->profile) != 0) return 1;
  /* The optimization report then shows the run's hottest functions. */
  if (w->prof) gsp_opt_set_profiler(gsp_integration_engine(ig), w->prof);
  return 0;
}

static int watch_stop(const opts *o, gsp_integration *ig, watchers *w, bool ok) {
  if (w->prof) gsp_opt_set_profiler(gsp_integration_engine(ig), NULL);
  int bad = w->prof ? analyze_profile_finish(w->prof, o->profile) : 0;
  if (ok && o->serve && o->linger) {
    fflush(stdout);
    sleep(o->linger);
  }
  analyze_serve_stop(&w->srv);
  return bad;
}

/* --memory aggressive, process-wide part: past LEAN_SQLITE_BYTES SQLite
 * recycles page-cache pages and spills sorts to its temporary files
 * instead of growing (sqlite3_soft_heap_limit64; the database file is the
 * same). The code graph's own AGGRESSIVE settings are per connection. */
static void lean_process(const opts *o) {
  if (o->mem_aggressive) sqlite3_soft_heap_limit64(LEAN_SQLITE_BYTES);
}

static int analyze(const opts *o, analyze_dist *dist) {
  gsp_cg *cg = NULL;
  gsp_tier *tier = NULL;
  gsp_integration *ig = NULL;
  watchers w = {.prof = NULL};
  lean_process(o);
  if (!o->no_cache && open_cache(o, &tier) != 0) return 1;
  if (open_engine(o, tier, &ig) != 0) {
    gsp_tier_destroy(tier);
    return 1;
  }
  report r = {.cached = tier != NULL, .ranks = dist ? analyze_dist_size(dist) : 1};
  int rv = watch_start(o, ig, &w) == 0 ? run(o, ig, dist, &cg, &r) : GSP_EINVAL;
  if (rv == GSP_EINVAL && cg == NULL) {
    /* the watchers said why */
  } else if (rv != GSP_OK) {
    fprintf(stderr, "gsperf analyze: %s\n",
            cg && gsp_cg_errmsg(cg)[0] ? gsp_cg_errmsg(cg) : gsp_strerror(rv));
  } else {
    finish_report(o, cg, ig, tier, &r);
    if (o->json)
      print_json(cg, o, &r);
    else
      print_text(cg, o, &r);
  }
  if (watch_stop(o, ig, &w, rv == GSP_OK) != 0) rv = rv ? rv : GSP_EIO;
  gsp_free(r.opt_json);
  gsp_cg_destroy(cg);
  gsp_integration_destroy(ig);
  gsp_tier_destroy(tier);
  return rv == GSP_OK ? 0 : 1;
}

int gsp_cmd_analyze(int argc, char **argv) {
  opts o = {.dir = ".", .top = 10};
  int rv = parse_args(argc, argv, &o);
  if (rv != 0) return rv < 0 ? 0 : rv;
  if (!o.distributed) return analyze(&o, NULL);
  analyze_dist *dist = NULL;
  if (analyze_dist_open(&dist) != 0) return 1;
  rv = analyze_dist_is_worker(dist) ? analyze_dist_serve(dist) : analyze(&o, dist);
  analyze_dist_close(dist);
  return rv;
}
