/*
 * bench_analyze.c - `gsperf analyze` next to its peers, on real corpora,
 * in one run.
 *
 * Files: every C and Python file under DIR (16 MiB at most), plus the
 * extension-less headers an include reaches (<vector>; one uncached graph
 * run finds them), which `gsperf analyze` parses as C: every row works on
 * the same files.
 *
 * Rows, each on 1 and 2 threads where that applies:
 *
 *   ts-parse   read + tree-sitter parse, tree dropped (the floor: what
 *              parsing alone costs)
 *   bare       read + parse + extract with the library's parser
 *              (gsp_cg_parse), no store, no resolution, no graph: the bare
 *              pipeline the issue measures against
 *   analyze    gsp_cg_run: walk, read, hash, parse, extract, resolve,
 *              graph (= `gsperf analyze DIR`, cold: no result store)
 *   analyze+db the same and the SQLite file, written during the run by its
 *              own thread (gsp_cg_config.db; = `gsperf analyze DIR --db FILE`)
 *   +db after  the same with the file written after the run
 *              (gsp_cg_write_db), as before the overlap: the difference is
 *              what overlapping the write saves
 *   engine-nodb  the run through the engine (integration.h: the engine's
 *              CPU pool, reads on its I/O executor when they would block,
 *              every stage monitored), no result store, no database: the
 *              engine's own cost is this row over `analyze`
 *   engine     the same with the SQLite file (written during the run)
 *              (= `gsperf analyze DIR --no-cache --db FILE`)
 *   engine+store  the same with the persistent result store written to a
 *              fresh cache directory (= a cold `gsperf analyze DIR --db FILE`):
 *              write-behind (one writer thread batches the puts into LMDB
 *              transactions) and write-around (results not copied into L1)
 *   store-wback   the store as configured before: write-back batches of 256
 *              written by whichever worker fills one, every put also in L1
 *   ctags      `ctags -R` (universal-ctags, definitions only), one thread
 *
 * Each cell runs in a forked child so peak RSS (wait4's ru_maxrss) and
 * CPU time (user + system, all threads) are its own. Cells rotate order
 * from round to round; tables show medians. MB/s is corpus bytes over
 * wall seconds; MB/cpu-s over CPU seconds, which is what to compare when
 * the machine is shared (MACHINE.md: a 2-thread run can show no wall
 * speedup under load while using 2x the CPU). The load average is printed
 * before and after.
 *
 * After the table, the re-analysis sequence on a copy of the tree in /tmp,
 * each run a separate process through the engine and one cache directory,
 * as `gsperf analyze` runs would be: cold, warm (nothing changed), one file
 * changed (a line appended), and cold again with reads on the workers
 * changed (a line appended), nothing changed again, the same without the
 * database, then (unless --no-io-rows) no cache with reads on the I/O
 * executor and on the workers; with each run's stage times and hit rate.
 * The database path stays the same across the sequence, as a user's
 * --db FILE would. (--warm-only: only this sequence.)
 *
 * With --store-cost, after the table: the result store alone (every result
 * of the corpus, parsed once beforehand, put into a fresh cache directory
 * from 1 and 2 threads and flushed), write-back as before against
 * write-behind + write-around, CPU per cell (writer thread included).
 *
 * With --warm-ab, instead of all that: the first warm run after a cold one
 * with the stat index and without it (--rounds sequences of each,
 * alternating), medians and cold/warm ratios. --no-stat-index: the
 * re-analysis sequence with every file read and hashed.
 *
 * Run: bench_analyze [--rounds N] [--warm-only] [--warm-ab] [--no-stat-index]
 *                    [--no-io-rows] [--only ROW,ROW] [--store-cost] [DIR...]
 * (--only: just those rows and bare, no re-analysis sequence; --only none:
 * bare alone)   (default /usr/include and
 * /usr/lib/python3.11; a DIR with an x86_64-linux-gnu/ subdirectory gets
 * it as an include directory, as a compiler would)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <tree_sitter/api.h>
#include <unistd.h>

#include "gsperf/codegraph.h"
#include "gsperf/integration.h"
#include "../support/bench_util.h"

const TSLanguage *tree_sitter_c(void);
const TSLanguage *tree_sitter_python(void);

#define MAX_ROUNDS 9

typedef struct file_ent {
  char *path;
  size_t size;
  gsp_cg_lang lang;
} file_ent;

static file_ent *g_files;
static size_t g_nfiles, g_cap, g_bytes;
static const char *g_dir;
static bool g_warm_only, g_io_rows = true, g_store_cost, g_no_stat, g_warm_ab;

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)ftw;
  gsp_cg_lang lang = gsp_cg_lang_of_path(path);
  if (type != FTW_F || (lang != GSP_CG_LANG_C && lang != GSP_CG_LANG_PYTHON) ||
      (size_t)st->st_size > (16u << 20))
    return 0;
  if (g_nfiles == g_cap) {
    g_cap = g_cap ? g_cap * 2 : 1024;
    g_files = realloc(g_files, g_cap * sizeof *g_files);
  }
  g_files[g_nfiles++] = (file_ent){strdup(path), (size_t)st->st_size, lang};
  g_bytes += (size_t)st->st_size;
  return 0;
}

/* ---- the bare pipelines: threads taking files from one counter ---- */

typedef struct bare_job {
  _Atomic size_t next;
  bool extract;
  _Atomic uint64_t defs;
} bare_job;

static char *read_file(const char *path, size_t *len, char **buf, size_t *cap) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return NULL;
  struct stat st;
  fstat(fd, &st);
  if ((size_t)st.st_size + 1 > *cap) *cap = (size_t)st.st_size + 1, *buf = realloc(*buf, *cap);
  ssize_t n, got = 0;
  while ((n = read(fd, *buf + got, *cap - (size_t)got)) > 0) got += n;
  close(fd);
  *len = (size_t)got;
  return *buf;
}

static void *bare_worker(void *arg) {
  bare_job *j = arg;
  gsp_cg_parser *p = NULL;
  TSParser *ts[3] = {NULL, ts_parser_new(), ts_parser_new()};
  ts_parser_set_language(ts[GSP_CG_LANG_C], tree_sitter_c());
  ts_parser_set_language(ts[GSP_CG_LANG_PYTHON], tree_sitter_python());
  if (gsp_cg_parser_create(&p) != GSP_OK) abort();
  char *buf = NULL;
  size_t cap = 0, i, len;
  uint64_t defs = 0;
  while ((i = atomic_fetch_add(&j->next, 1)) < g_nfiles) {
    if (read_file(g_files[i].path, &len, &buf, &cap) == NULL) continue;
    if (j->extract) {
      gsp_cg_result *r = NULL;
      if (gsp_cg_parse(p, g_files[i].lang, buf, len, &r) == GSP_OK) defs += gsp_cg_result_ndefs(r);
      gsp_cg_result_free(r);
    } else {
      TSTree *t = ts_parser_parse_string(ts[g_files[i].lang], NULL, buf, (uint32_t)len);
      defs += ts_node_child_count(ts_tree_root_node(t));
      ts_tree_delete(t);
    }
  }
  atomic_fetch_add(&j->defs, defs);
  free(buf);
  ts_parser_delete(ts[1]), ts_parser_delete(ts[2]);
  gsp_cg_parser_destroy(p);
  return NULL;
}

static int run_bare(bool extract, unsigned jobs) {
  bare_job j = {.extract = extract};
  pthread_t t[16];
  for (unsigned i = 0; i < jobs; i++) pthread_create(&t[i], NULL, bare_worker, &j);
  for (unsigned i = 0; i < jobs; i++) pthread_join(t[i], NULL);
  return j.defs > 0 ? 0 : 1;
}

typedef struct engine_run {
  const char *root, *cache_dir; /* cache_dir NULL = no store */
  const char *db;               /* database path; NULL = a temporary file */
  unsigned jobs;
  bool with_db, no_io, print;
  bool wback;       /* the store as before: write-back on the workers, puts copied into L1 */
  bool no_stat;     /* every file read and hashed (no stat index) */
  double *wall_out; /* if set: the run's wall and CPU seconds (shared with the parent) */
} engine_run;

static void print_engine_run(const char *label, const gsp_cg_stats *st, gsp_integration *ig,
                             double wall) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  gsp_opt_func_stats rd, ps;
  gsp_integration_stage_stats(ig, GSP_CG_STAGE_READ, &rd);
  gsp_integration_stage_stats(ig, GSP_CG_STAGE_PARSE, &ps);
  uint64_t looked = st->cache_hits + st->cache_misses;
  printf(
      "%-14s %7.3f %7.2f %8.1f %7llu %8.2f%% %9.1f %9.1f %9.2f %10.2f %7llu %8.1f %8.1f %8.1f "
      "%6llu %6llu %s\n",
      label, wall, cpu, (double)ru.ru_maxrss / 1024.0, (unsigned long long)st->parsed,
      looked ? 100.0 * (double)st->cache_hits / (double)looked : 0.0, (double)rd.duration.sum / 1e6,
      (double)ps.duration.sum / 1e6, (double)st->parse_ns / 1e6, (double)st->resolve_ns / 1e6,
      (unsigned long long)st->files_reresolved, (double)st->db_ns / 1e6,
      (double)st->db_cpu_ns / 1e6, (double)st->db_tail_cpu_ns / 1e6,
      (unsigned long long)st->reads_async, (unsigned long long)st->files_stat_known,
      st->resolve_cached        ? "cached"
      : st->resolve_incremental ? "incremental"
                                : "computed");
}

/* One `gsperf analyze` through the engine (in the calling process). */
static int run_engine(const engine_run *er, const char *label) {
  gsp_tier *tier = NULL;
  char uri[4200], err[512] = "", db[128];
  if (er->cache_dir) {
    snprintf(uri, sizeof uri, "lmdb:%s", er->cache_dir);
    gsp_tier_config tc = {.l3 = uri,
                          .write_mode = er->wback ? GSP_TIER_WRITE_BACK : GSP_TIER_WRITE_BEHIND,
                          .write_around = !er->wback,
                          .durability = GSP_TIER_NONE,
                          .no_promote = true};
    if (gsp_tier_create(&tc, &tier, err, sizeof err) != GSP_OK) {
      fprintf(stderr, "tier: %s\n", err);
      return 1;
    }
  }
  double t0 = gsp_bench_clock_s(CLOCK_MONOTONIC);
  /* as `gsperf analyze`: one I/O thread per parse thread (one read ahead each) */
  gsp_opt_config ec = {.max_workers = er->jobs > 1 ? er->jobs - 1 : 1, .io_workers = er->jobs};
  gsp_integration *ig = NULL;
  int rv = gsp_integration_create(
      &(gsp_integration_config){.engine_cfg = &ec, .store = tier, .no_io = er->no_io}, &ig, err,
      sizeof err);
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = er->root, .jobs = er->jobs, .no_stat_index = er->no_stat};
  const char *incs[] = {"x86_64-linux-gnu"};
  char inc[4200];
  struct stat sb;
  snprintf(inc, sizeof inc, "%s/x86_64-linux-gnu", er->root);
  if (stat(inc, &sb) == 0 && S_ISDIR(sb.st_mode)) cfg.include_dirs = incs, cfg.n_include_dirs = 1;
  snprintf(db, sizeof db, "/tmp/bench_analyze.%d.db", (int)getpid());
  if (er->db) snprintf(db, sizeof db, "%s", er->db);
  if (er->with_db) cfg.db = db; /* written during the run, as `gsperf analyze --db` */
  if (rv == GSP_OK) {
    gsp_integration_apply(ig, &cfg);
    if (er->jobs == 1) cfg.exec = NULL;
    rv = gsp_cg_create(&cfg, &cg);
  }
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (tier) gsp_tier_flush(tier);
  double wall = gsp_bench_clock_s(CLOCK_MONOTONIC) - t0;
  if (er->wall_out) {
    er->wall_out[0] = rv == GSP_OK ? wall : -1.0;
    er->wall_out[1] = gsp_bench_cpu_ns() / 1e9;
  }
  if (rv != GSP_OK) fprintf(stderr, "engine: %s %s\n", cg ? gsp_cg_errmsg(cg) : "", err);
  if (rv == GSP_OK && er->print) {
    gsp_cg_stats st;
    gsp_cg_stats_get(cg, &st);
    print_engine_run(label, &st, ig, wall);
  }
  if (er->db == NULL) unlink(db);
  gsp_cg_destroy(cg);
  gsp_integration_destroy(ig);
  gsp_tier_destroy(tier);
  return rv == GSP_OK ? 0 : 1;
}

static void engine_child(const engine_run *er, const char *label) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int rv = run_engine(er, label);
    fflush(stdout);
    _exit(rv);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) printf("%-14s FAILED\n", label);
}

/* Append a comment line to the first file of the copy (by walk order). */
static int change_one_file(const char *copy) {
  char path[8192];
  snprintf(path, sizeof path, "%s%s", copy, g_files[0].path + strlen(g_dir));
  FILE *f = fopen(path, "a");
  if (f == NULL) return -1;
  fputs(g_files[0].lang == GSP_CG_LANG_PYTHON ? "\n# changed\n" : "\n/* changed */\n", f);
  printf("(changed: %s)\n", path);
  return fclose(f);
}

/* The re-analysis sequence on a copy of the tree (see the top comment). */
static void reanalysis(unsigned jobs) {
  char copy[64], cache[80], db[80], cmd[4400];
  snprintf(copy, sizeof copy, "/tmp/bench_analyze.%d.tree", (int)getpid());
  snprintf(cache, sizeof cache, "%s.cache", copy);
  snprintf(db, sizeof db, "%s.db", copy);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s' && cp -R '%s' '%s'", copy, cache, db, g_dir,
           copy);
  if (system(cmd) != 0) {
    printf("re-analysis: cannot copy %s to %s\n", g_dir, copy);
    return;
  }
  printf("re-analysis through the engine, %u jobs, each run its own process, cache %s:\n", jobs,
         cache);
  printf("%-14s %7s %7s %8s %7s %9s %9s %9s %9s %10s %7s %8s %8s %8s %6s %6s %s\n", "run", "wall s",
         "cpu s", "peak MB", "parsed", "hit rate", "read ms*", "file ms*", "parse ms", "resolve ms",
         "rebound", "db ms+", "db cpu", "db tail", "async", "stat", "resolution");
  engine_run er = {.root = copy,
                   .cache_dir = cache,
                   .db = db,
                   .jobs = jobs,
                   .with_db = true,
                   .print = true,
                   .no_stat = g_no_stat};
  engine_child(&er, "cold");
  engine_child(&er, "warm");
  if (change_one_file(copy) == 0) engine_child(&er, "1 changed");
  engine_child(&er, "warm again");
  er.with_db = false;
  engine_child(&er, "warm, no db");
  if (!g_io_rows) goto out;
  engine_run nocache = {.root = copy, .jobs = jobs, .with_db = true, .print = true};
  engine_child(&nocache, "no-cache io");
  nocache.no_io = true;
  engine_child(&nocache, "no-cache sync");
out:
  printf(
      "(* summed over files and threads: read = the read stage, file = store lookup or parse;\n"
      " rebound = files whose references were bound; + the wait for the database after the\n"
      " graph; db cpu its thread's CPU, db tail the part of it after the graph)\n");
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", copy, cache, db);
  if (system(cmd) != 0) printf("cannot remove %s\n", copy);
}

static void print_load(const char *when);

/* --warm-ab: the first warm run after a cold one, with the stat index and
 * without (every file read and hashed), `rounds` sequences of each,
 * alternating which goes first: a fresh copy of the tree, cold, warm, warm
 * again, each its own process as in reanalysis(); then the medians and the
 * cold/warm ratios. */
static void warm_ab(int rounds) {
  double *shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) return;
  static const char *const runs[3] = {"cold", "warm", "warm again"};
  double v[2][3][MAX_ROUNDS], cpu[2][3][MAX_ROUNDS];
  char copy[64], cache[80], db[80], cmd[4400];
  snprintf(copy, sizeof copy, "/tmp/bench_analyze.%d.ab", (int)getpid());
  snprintf(cache, sizeof cache, "%s.cache", copy);
  snprintf(db, sizeof db, "%s.db", copy);
  printf("first warm run, stat index on/off, 2 jobs, %d rounds:\n", rounds);
  for (int r = 0; r < rounds; r++)
    for (int o = 0; o < 2; o++) {
      int m = (r & 1) ? 1 - o : o; /* 0 = stat index, 1 = every file hashed */
      snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s' && cp -R '%s' '%s'", copy, cache, db, g_dir,
               copy);
      if (system(cmd) != 0) return;
      engine_run er = {.root = copy,
                       .cache_dir = cache,
                       .db = db,
                       .jobs = 2,
                       .with_db = true,
                       .no_stat = m == 1,
                       .wall_out = shm};
      for (int k = 0; k < 3; k++) {
        shm[0] = shm[1] = -1.0;
        engine_child(&er, runs[k]);
        v[m][k][r] = shm[0], cpu[m][k][r] = shm[1];
      }
      printf("round %d %-7s cold %.3f s (cpu %.3f)  warm %.3f (cpu %.3f)  again %.3f (cpu %.3f)\n",
             r + 1, m ? "hashed" : "stat", v[m][0][r], cpu[m][0][r], v[m][1][r], cpu[m][1][r],
             v[m][2][r], cpu[m][2][r]);
    }
  print_load("after");
  printf(
      "medians      cold s  warm s  again s  cold/warm  cold/again | cold cpu  warm cpu  again cpu"
      "  cpu cold/warm\n");
  for (int m = 0; m < 2; m++) {
    size_t n = (size_t)rounds;
    double c = gsp_bench_median(v[m][0], n), w = gsp_bench_median(v[m][1], n),
           a = gsp_bench_median(v[m][2], n), cc = gsp_bench_median(cpu[m][0], n),
           cw = gsp_bench_median(cpu[m][1], n), ca = gsp_bench_median(cpu[m][2], n);
    printf("%-10s %8.3f %7.3f %8.3f %9.1fx %10.1fx | %8.3f %9.3f %10.3f %13.1fx\n",
           m ? "hashed" : "stat index", c, w, a, c / w, c / a, cc, cw, ca, cc / cw);
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", copy, cache, db);
  if (system(cmd) != 0) printf("cannot remove %s\n", copy);
  munmap(shm, 4096);
}

/* db: 0 none, 1 written after the run, 2 during it */
static int run_analyze(unsigned jobs, int db_mode) {
  char inc[4096];
  snprintf(inc, sizeof inc, "%s/x86_64-linux-gnu", g_dir);
  struct stat st;
  const char *incs[] = {"x86_64-linux-gnu"};
  bool has_inc = stat(inc, &st) == 0 && S_ISDIR(st.st_mode);
  gsp_cg *cg = NULL;
  char db[64];
  snprintf(db, sizeof db, "/tmp/bench_analyze.%d.db", (int)getpid());
  int rv = gsp_cg_create(&(gsp_cg_config){.root = g_dir,
                                          .jobs = jobs,
                                          .include_dirs = incs,
                                          .n_include_dirs = has_inc ? 1 : 0,
                                          .db = db_mode == 2 ? db : NULL},
                         &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (rv == GSP_OK && db_mode == 1) rv = gsp_cg_write_db(cg, db, NULL);
  if (rv != GSP_OK) fprintf(stderr, "analyze: %s\n", gsp_cg_errmsg(cg));
  unlink(db);
  gsp_cg_destroy(cg);
  return rv == GSP_OK ? 0 : 1;
}

/* In the cell's child: become ctags, so wait4 reports ctags's own usage. */
static void exec_ctags(void) {
  char out[64];
  snprintf(out, sizeof out, "/tmp/bench_analyze.%d.tags", (int)getppid());
  execlp("ctags", "ctags", "-R", "--languages=C,C++,Python", "-f", out, g_dir, (char *)NULL);
  _exit(127);
}

/* ---- cells ---- */

enum {
  M_TS,
  M_BARE,
  M_ANALYZE,
  M_ANALYZE_DB,
  M_ANALYZE_DB_AFTER,
  M_ENGINE_NODB,
  M_ENGINE,
  M_ENGINE_STORE,
  M_ENGINE_STORE_WB,
  M_CTAGS
};
static const char *const mode_name[] = {"ts-parse",    "bare",        "analyze", "analyze+db",
                                        "+db after",   "engine-nodb", "engine",  "engine+store",
                                        "store-wback", "ctags -R"};
static const char *g_only; /* --only: comma-separated row names (bare always runs) */

static bool row_wanted(int mode) {
  if (g_only == NULL || mode == M_BARE) return true;
  size_t n = strlen(mode_name[mode]);
  for (const char *p = g_only; (p = strstr(p, mode_name[mode])) != NULL; p += n)
    if ((p == g_only || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return true;
  return false;
}

typedef struct cell {
  int mode;
  unsigned jobs;
  double wall[MAX_ROUNDS], cpu[MAX_ROUNDS], rss_mb[MAX_ROUNDS];
  int n;
  bool failed;
} cell;

static void run_cell(cell *c) {
  double t0 = gsp_bench_clock_s(CLOCK_MONOTONIC);
  pid_t pid = fork();
  if (pid == 0) {
    if (c->mode == M_CTAGS) exec_ctags();
    if (c->mode == M_ANALYZE || c->mode == M_ANALYZE_DB || c->mode == M_ANALYZE_DB_AFTER)
      _exit(run_analyze(c->jobs, c->mode == M_ANALYZE_DB ? 2 : c->mode == M_ANALYZE_DB_AFTER));
    if (c->mode == M_ENGINE || c->mode == M_ENGINE_STORE || c->mode == M_ENGINE_NODB ||
        c->mode == M_ENGINE_STORE_WB) {
      char cache[64], cmd[128];
      snprintf(cache, sizeof cache, "/tmp/bench_analyze.%d.cache", (int)getpid());
      engine_run er = {.root = g_dir, .jobs = c->jobs, .with_db = c->mode != M_ENGINE_NODB};
      if (c->mode == M_ENGINE_STORE || c->mode == M_ENGINE_STORE_WB) er.cache_dir = cache;
      er.wback = c->mode == M_ENGINE_STORE_WB;
      int rv = run_engine(&er, "");
      snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
      if (system(cmd) != 0) rv = 1;
      _exit(rv);
    }
    _exit(run_bare(c->mode == M_BARE, c->jobs));
  }
  int status = 0;
  struct rusage ru;
  wait4(pid, &status, 0, &ru);
  double wall = gsp_bench_clock_s(CLOCK_MONOTONIC) - t0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) c->failed = true;
  if (c->mode == M_CTAGS) {
    char out[64];
    snprintf(out, sizeof out, "/tmp/bench_analyze.%d.tags", (int)getpid());
    unlink(out);
  }
  c->wall[c->n] = wall;
  c->cpu[c->n] = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  c->rss_mb[c->n] = (double)ru.ru_maxrss / 1024.0;
  c->n++;
}

/* ---- the store alone: every result of the corpus put into a fresh cache ----
 * The results are parsed once in the parent; each cell is a forked child
 * (so its CPU is its own, the tier's writer thread included) that creates a
 * tier on a fresh directory, looks up (a miss) and puts every result from
 * `jobs` threads as gsp_cg's parse stage does (17-byte keys), flushes (the run's end), and
 * destroys it. CPU = the child's user + sys. */

typedef struct store_cfg {
  const char *name;
  bool behind; /* write-behind + write-around; else write-back on the callers */
} store_cfg;

static const store_cfg g_store_cfgs[] = {{"write-back (before)", false},
                                         {"write-behind+around", true}};

static gsp_cg_result **g_results;

static void parse_all(void) {
  g_results = calloc(g_nfiles, sizeof *g_results);
  gsp_cg_parser *p = NULL;
  if (gsp_cg_parser_create(&p) != GSP_OK) abort();
  char *buf = NULL;
  size_t cap = 0, len;
  for (size_t i = 0; i < g_nfiles; i++)
    if (read_file(g_files[i].path, &len, &buf, &cap) != NULL)
      (void)gsp_cg_parse(p, g_files[i].lang, buf, len, &g_results[i]);
  free(buf);
  gsp_cg_parser_destroy(p);
}

typedef struct put_job {
  gsp_tier *t;
  unsigned k, n;
} put_job;

static void *put_worker(void *arg) {
  put_job *j = arg;
  for (size_t i = j->k; i < g_nfiles; i += j->n) {
    if (g_results[i] == NULL) continue;
    uint8_t key[17] = {'R'};
    memcpy(key + 1, &i, sizeof i);
    size_t len;
    void *v = NULL;
    if (gsp_tier_get(j->t, key, sizeof key, &v, &len) == GSP_OK) { /* a miss, as cold */
      gsp_free(v);
      continue;
    }
    const void *b = gsp_cg_result_bytes(g_results[i], &len);
    (void)gsp_tier_put(j->t, key, sizeof key, b, len, NULL);
  }
  return NULL;
}

static int store_child(const store_cfg *sc, unsigned jobs, const char *dir) {
  char uri[128], err[512];
  snprintf(uri, sizeof uri, "lmdb:%s", dir);
  gsp_tier_config tc = {.l3 = uri,
                        .write_mode = sc->behind ? GSP_TIER_WRITE_BEHIND : GSP_TIER_WRITE_BACK,
                        .write_around = sc->behind,
                        .durability = GSP_TIER_NONE,
                        .no_promote = true};
  gsp_tier *t = NULL;
  if (gsp_tier_create(&tc, &t, err, sizeof err) != GSP_OK) return 1;
  pthread_t th[2];
  put_job pj[2];
  for (unsigned k = 0; k < jobs; k++) {
    pj[k] = (put_job){t, k, jobs};
    pthread_create(&th[k], NULL, put_worker, &pj[k]);
  }
  for (unsigned k = 0; k < jobs; k++) pthread_join(th[k], NULL);
  int rv = gsp_tier_flush(t);
  gsp_tier_destroy(t);
  return rv == GSP_OK ? 0 : 1;
}

static void store_cost(int rounds) {
  parse_all();
  size_t nres = 0, bytes = 0;
  for (size_t i = 0; i < g_nfiles; i++)
    if (g_results[i]) {
      size_t len;
      gsp_cg_result_bytes(g_results[i], &len);
      nres++, bytes += len;
    }
  printf("store alone: %zu results, %.1f MB, put from 1 and 2 threads into a fresh cache\n", nres,
         (double)bytes / 1e6);
  enum { NCFG = 2 };
  double cpu[NCFG][3][MAX_ROUNDS], wall[NCFG][3][MAX_ROUNDS];
  for (int r = 0; r < rounds; r++)
    for (int c = 0; c < NCFG; c++)
      for (unsigned jobs = 1; jobs <= 2; jobs++) {
        int cc = (c + r) % NCFG; /* rotate the order */
        char dir[64], cmd[96];
        snprintf(dir, sizeof dir, "/tmp/bench_analyze.%d.store", (int)getpid());
        double t0 = gsp_bench_clock_s(CLOCK_MONOTONIC);
        pid_t pid = fork();
        if (pid == 0) _exit(store_child(&g_store_cfgs[cc], jobs, dir));
        int status;
        struct rusage ru;
        wait4(pid, &status, 0, &ru);
        wall[cc][jobs][r] = gsp_bench_clock_s(CLOCK_MONOTONIC) - t0;
        cpu[cc][jobs][r] = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) printf("store cell FAILED\n");
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) printf("cannot remove %s\n", dir);
      }
  printf("%-22s %4s %9s %9s\n", "store", "jobs", "wall ms", "cpu ms");
  for (int c = 0; c < NCFG; c++)
    for (unsigned jobs = 1; jobs <= 2; jobs++)
      printf("%-22s %4u %9.1f %9.1f\n", g_store_cfgs[c].name, jobs,
             1e3 * gsp_bench_median_of(wall[c][jobs], (size_t)(rounds)),
             1e3 * gsp_bench_median_of(cpu[c][jobs], (size_t)(rounds)));
  for (size_t i = 0; i < g_nfiles; i++) gsp_cg_result_free(g_results[i]);
  free(g_results);
}

static void print_load(const char *when) {
  double l[3] = {0};
  getloadavg(l, 3);
  printf("load average %s: %.2f %.2f %.2f\n", when, l[0], l[1], l[2]);
}

/* The extension-less headers an include reaches (<vector>), which
 * `gsperf analyze` parses as C: added to the bare pipelines' files so that
 * every row works on the same files. One uncached run of the graph finds
 * them, in a child process (so the cells forked later do not inherit its
 * heap in their peak RSS), which writes their paths to a pipe. */
static void reached_headers_child(const char *dir, FILE *out) {
  const char *incs[] = {"x86_64-linux-gnu"};
  char inc[4200];
  struct stat sb;
  gsp_cg_config cfg = {.root = dir, .jobs = 2, .no_cache = true};
  snprintf(inc, sizeof inc, "%s/x86_64-linux-gnu", dir);
  if (stat(inc, &sb) == 0 && S_ISDIR(sb.st_mode)) cfg.include_dirs = incs, cfg.n_include_dirs = 1;
  gsp_cg *cg = NULL;
  if (gsp_cg_create(&cfg, &cg) != GSP_OK || gsp_cg_run(cg) != GSP_OK) {
    fprintf(stderr, "bench_analyze: %s: %s\n", dir, cg ? gsp_cg_errmsg(cg) : "out of memory");
    _exit(1);
  }
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const char *rel = gsp_cg_file_path(cg, f), *base = strrchr(rel, '/');
    if (strchr(base ? base + 1 : rel, '.') == NULL) fprintf(out, "%s/%s\n", dir, rel);
  }
  fflush(out);
  _exit(0);
}

static void add_reached_headers(const char *dir, size_t *n_added, size_t *bytes_added) {
  size_t n0 = g_nfiles, b0 = g_bytes;
  int fds[2];
  if (pipe(fds) != 0) return;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    reached_headers_child(dir, fdopen(fds[1], "w"));
  }
  close(fds[1]);
  FILE *in = pid > 0 ? fdopen(fds[0], "r") : NULL;
  char full[4200];
  struct stat sb;
  while (in && fgets(full, sizeof full, in)) {
    full[strcspn(full, "\n")] = '\0';
    if (stat(full, &sb) != 0 || (size_t)sb.st_size > (16u << 20)) continue;
    if (g_nfiles == g_cap) {
      g_cap = g_cap ? g_cap * 2 : 1024;
      g_files = realloc(g_files, g_cap * sizeof *g_files);
    }
    g_files[g_nfiles++] = (file_ent){strdup(full), (size_t)sb.st_size, GSP_CG_LANG_C};
    g_bytes += (size_t)sb.st_size;
  }
  if (in)
    fclose(in);
  else
    close(fds[0]);
  if (pid > 0) waitpid(pid, NULL, 0);
  *n_added = g_nfiles - n0, *bytes_added = g_bytes - b0;
}

static void bench_dir(const char *dir, int rounds) {
  g_dir = dir;
  g_nfiles = g_bytes = 0;
  nftw(dir, collect, 64, FTW_PHYS);
  size_t n_added = 0, bytes_added = 0;
  add_reached_headers(dir, &n_added, &bytes_added);
  printf("\n== %s: %zu C/Python files, %.1f MB ==\n", dir, g_nfiles, (double)g_bytes / 1e6);
  if (n_added)
    printf(
        "(%zu of them extension-less headers reached by includes, %.1f MB, parsed as C by every "
        "row)\n",
        n_added, (double)bytes_added / 1e6);
  print_load("before");
  cell cells[] = {{.mode = M_TS, .jobs = 1},
                  {.mode = M_TS, .jobs = 2},
                  {.mode = M_BARE, .jobs = 1},
                  {.mode = M_BARE, .jobs = 2},
                  {.mode = M_ANALYZE, .jobs = 1},
                  {.mode = M_ANALYZE, .jobs = 2},
                  {.mode = M_ANALYZE_DB, .jobs = 1},
                  {.mode = M_ANALYZE_DB, .jobs = 2},
                  {.mode = M_ANALYZE_DB_AFTER, .jobs = 1},
                  {.mode = M_ANALYZE_DB_AFTER, .jobs = 2},
                  {.mode = M_ENGINE_NODB, .jobs = 1},
                  {.mode = M_ENGINE_NODB, .jobs = 2},
                  {.mode = M_ENGINE, .jobs = 1},
                  {.mode = M_ENGINE, .jobs = 2},
                  {.mode = M_ENGINE_STORE, .jobs = 1},
                  {.mode = M_ENGINE_STORE, .jobs = 2},
                  {.mode = M_ENGINE_STORE_WB, .jobs = 1},
                  {.mode = M_ENGINE_STORE_WB, .jobs = 2},
                  {.mode = M_CTAGS, .jobs = 1}};
  int nc = 0;
  for (size_t k = 0; !g_warm_only && !g_warm_ab && k < sizeof cells / sizeof *cells; k++)
    if (row_wanted(cells[k].mode)) cells[nc++] = cells[k];
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < nc; k++) {
      cell *c = &cells[(k + r) % nc];
      run_cell(c);
    }
  print_load("after");
  if (g_warm_only || g_warm_ab) goto warm;
  double bare[3] = {0};
  for (int k = 0; k < nc; k++)
    if (cells[k].mode == M_BARE)
      bare[cells[k].jobs] = gsp_bench_median_of(cells[k].cpu, (size_t)(cells[k].n));
  printf("%-12s %4s %8s %8s %9s %11s %9s %12s %9s\n", "pipeline", "jobs", "wall s", "cpu s", "MB/s",
         "MB/cpu-s", "peak MB", "cpu vs bare", "speedup");
  for (int k = 0; k < nc; k++) {
    const cell *c = &cells[k];
    double w = gsp_bench_median_of(c->wall, (size_t)(c->n)),
           cpu = gsp_bench_median_of(c->cpu, (size_t)(c->n)),
           rss = gsp_bench_median_of(c->rss_mb, (size_t)(c->n));
    double mb = (double)g_bytes / 1e6;
    printf("%-12s %4u %8.2f %8.2f %9.2f %11.2f %9.1f", mode_name[c->mode], c->jobs, w, cpu, mb / w,
           cpu > 0 ? mb / cpu : 0, rss);
    if (c->mode != M_CTAGS && bare[c->jobs] > 0) printf(" %11.2fx", cpu / bare[c->jobs]);
    for (int o = 0; c->jobs == 2 && o < nc; o++) /* wall speedup over the same row on 1 job */
      if (cells[o].mode == c->mode && cells[o].jobs == 1)
        printf(" %8.2fx", gsp_bench_median_of(cells[o].wall, (size_t)(cells[o].n)) / w);
    printf("%s\n", c->failed ? "  (FAILED)" : "");
  }
warm:
  fflush(stdout);
  if (g_store_cost) store_cost(rounds);
  if (g_warm_ab) {
    warm_ab(rounds);
    goto out;
  }
  if (g_only == NULL || g_warm_only) reanalysis(2);
out:
  for (size_t i = 0; i < g_nfiles; i++) free(g_files[i].path);
}

static void usage(FILE *to) {
  fprintf(to,
          "usage: bench_analyze [--rounds N] [--only ROW,ROW...] [--no-io-rows] [--warm-only]\n"
          "                     [--warm-ab] [--no-stat-index] [--store-cost] [DIR...]\n"
          "DIR default: /usr/include and /usr/lib/python3.11. Rows and columns: see the\n"
          "comment at the top of bench/analyze/bench_analyze.c.\n");
}

int main(int argc, char **argv) {
  int rounds = 3, ndirs = 0;
  const char *dirs[16];
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--warm-only") == 0)
      g_warm_only = true;
    else if (strcmp(argv[i], "--no-stat-index") == 0)
      g_no_stat = true;
    else if (strcmp(argv[i], "--warm-ab") == 0)
      g_warm_ab = true;
    else if (strcmp(argv[i], "--no-io-rows") == 0)
      g_io_rows = false;
    else if (strcmp(argv[i], "--store-cost") == 0)
      g_store_cost = true;
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      g_only = argv[++i];
    else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return usage(stdout), 0;
    else if (argv[i][0] == '-')
      return fprintf(stderr, "bench_analyze: unknown option or missing value: '%s'\n", argv[i]),
             usage(stderr), 2;
    else if (ndirs < 16)
      dirs[ndirs++] = argv[i];
    else
      return fprintf(stderr, "bench_analyze: more than 16 directories at '%s'\n", argv[i]), 2;
  }
  if (rounds < 1 || rounds > MAX_ROUNDS) {
    fprintf(stderr, "bench_analyze: --rounds wants 1..%d\n", MAX_ROUNDS);
    return 2;
  }
  if (ndirs == 0) dirs[ndirs++] = "/usr/include", dirs[ndirs++] = "/usr/lib/python3.11";
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("bench_analyze: %d rounds, %ld CPUs online\n", rounds, sysconf(_SC_NPROCESSORS_ONLN));
  for (int d = 0; d < ndirs; d++) bench_dir(dirs[d], rounds);
  free(g_files);
  return 0;
}
