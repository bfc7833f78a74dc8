/*
 * cmd_cachesim.c - `gsperf cachesim`: replay cache traces through the
 * library's real cache, every strategy and size, next to Belady's MIN.
 *
 * What it does. Each trace is loaded once (trace.c) into an array of
 * requests. Each (strategy, size) pair is one job: a fresh gsp_cache with
 * one shard (so eviction is exact, as in a simulator) bounded by entries
 * (--ignore-size) or by bytes, fed every request as get-then-put-on-miss.
 * Hits and misses are counted here and cross-checked against the cache's
 * own statistics. A "belady" job per size gives the offline bound
 * (belady.c). Sizes below 1 are fractions of the trace's unique objects
 * or unique bytes, truncated as libCacheSim does (at least 1).
 *
 * Admission. Every miss is put; the cache itself declines an object larger
 * than its whole capacity (without flushing the rest), as libCacheSim does.
 *
 * Threads. Jobs are independent and read the trace only, so a few worker
 * threads take them in order from a shared counter; each result lands in
 * its job's slot and output is printed afterwards in job order, so the
 * output does not depend on scheduling.
 *
 * Data layout: one `opts` from the command line; per trace a `run` holding
 * the loaded trace, the next-access array (for Belady) and the job array.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "belady.h"
#include "cmd.h"
#include "gsperf/cache.h"
#include "gsperf/common.h"
#include "trace.h"

#define MAX_STRATEGIES 8
#define MAX_SIZES 64
#define MAX_JOBS_THREADS 64
#define PROGRESS_MIN_WORK 20000000ull /* request replays before showing progress */

static const char *const prog = "gsperf cachesim";

typedef struct opts {
  gsp_cache_strategy strat[MAX_STRATEGIES];
  size_t nstrat;
  bool belady;
  double sizes[MAX_SIZES];
  size_t nsizes;
  bool ignore_size;
  bool csv;
  cs_trace_format format;
  unsigned threads; /* 0 = one per CPU */
  char **traces;
  size_t ntraces;
} opts;

typedef struct job {
  bool belady;
  gsp_cache_strategy strat;
  uint64_t cap;
  uint64_t misses;
  int rv;
  char err[256];
} job;

typedef struct run {
  const opts *o;
  cs_trace t;
  int64_t *next; /* Belady's next-access indices, or NULL */
  job *jobs;
  size_t njobs;
  atomic_size_t taken;
  size_t done;
  bool progress;
  pthread_mutex_t lock; /* done and the progress line */
} run;

/* ---- help and option parsing ---------------------------------------------- */

static void help(FILE *out) {
  fprintf(out,
          "usage: gsperf cachesim [options] TRACE...\n"
          "Replay each trace through the cache library (one shard, exact eviction) and\n"
          "report misses per strategy and cache size, plus Belady's MIN as the bound.\n\n"
          "  --strategies LIST  lru,lfu,fifo,ttl,adaptive or all (the default); ttl acts\n"
          "                     as fifo (traces carry no TTLs). Belady is always added\n"
          "  --sizes LIST       below 1: fraction of the unique objects (--ignore-size)\n"
          "                     or unique bytes, truncated, at least 1; from 1: absolute\n"
          "                     objects or bytes. Default 0.001,0.01,0.1\n"
          "  --ignore-size      every object costs 1; else its size in bytes (its first\n"
          "                     size counts for unique bytes; .lis and bare keys are 1)\n"
          "  --format F         auto (by name: .lis, .oracleGeneral/.bin, else keys),\n"
          "                     oracle, keys (`key [size]` per line) or lis\n"
          "  --no-belady        leave out the belady row (--strategies belady: only it)\n"
          "  --csv              print trace,strategy,cache_size,requests,misses,miss_ratio\n"
          "  --threads N        worker threads (default: one per CPU)\n\n"
          "Traces may be zstd-compressed (.zst). Belady evicts the object requested\n"
          "furthest in the future; with sizes this is an approximation (exact\n"
          "size-aware MIN is NP-hard). Objects larger than the cache are not admitted.\n"
          "Exit: 0 ok, 1 a trace could not be read or simulated, 2 bad usage.\n");
}

static int usage_error(const char *fmt, ...) GSP_PRINTF(1, 2);
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(see 'gsperf cachesim --help')\n");
  va_end(ap);
  return 2;
}

static bool add_strategy(opts *o, gsp_cache_strategy s) {
  for (size_t i = 0; i < o->nstrat; i++)
    if (o->strat[i] == s) return true;
  if (o->nstrat == MAX_STRATEGIES) return false;
  o->strat[o->nstrat++] = s;
  return true;
}

static void add_all(opts *o) {
  static const gsp_cache_strategy all[] = {GSP_CACHE_LRU, GSP_CACHE_LFU, GSP_CACHE_FIFO,
                                           GSP_CACHE_TTL, GSP_CACHE_ADAPTIVE};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) add_strategy(o, all[i]);
}

static int one_strategy(opts *o, const char *name) {
  gsp_cache_strategy s;
  if (strcasecmp(name, "all") == 0) {
    add_all(o);
  } else if (strcasecmp(name, "belady") == 0) {
    o->belady = true;
  } else if (gsp_cache_strategy_parse(name, &s) != GSP_OK) {
    return usage_error(
        "--strategies: unknown strategy '%s' (choose from lru, lfu, fifo, "
        "ttl, adaptive, belady, all)",
        name);
  } else if (s == GSP_CACHE_WEAK) {
    return usage_error(
        "--strategies: '%s' is not a cachesim strategy: a weak cache "
        "never evicts for capacity",
        name);
  } else {
    add_strategy(o, s);
  }
  return 0;
}

static int parse_strategies(opts *o, char *list) {
  char *save = NULL;
  o->nstrat = 0; /* the belady row stays unless --no-belady */
  if (list == NULL || *list == '\0' || list[strlen(list) - 1] == ',' || *list == ',' ||
      strstr(list, ",,"))
    return usage_error("--strategies: empty name in '%s'", list);
  for (char *s = strtok_r(list, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save)) {
    int rv = one_strategy(o, s);
    if (rv != 0) return rv;
  }
  return 0;
}

static bool parse_size(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v <= 0) return false;
  if (v >= 1 && (v != floor(v) || v > 9.2e18)) return false; /* absolute: whole */
  *out = v;
  return true;
}

static int parse_sizes(opts *o, char *list) {
  char *save = NULL;
  o->nsizes = 0;
  if (list == NULL || *list == '\0' || list[strlen(list) - 1] == ',' || *list == ',' ||
      strstr(list, ",,"))
    return usage_error("--sizes: empty value in '%s'", list);
  for (char *s = strtok_r(list, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save)) {
    if (o->nsizes == MAX_SIZES) return usage_error("--sizes: more than %d values", MAX_SIZES);
    if (!parse_size(s, &o->sizes[o->nsizes]))
      return usage_error(
          "--sizes: bad size '%s' (want a fraction in (0,1) or a whole "
          "number >= 1)",
          s);
    o->nsizes++;
  }
  return 0;
}

static int parse_threads(opts *o, const char *v) {
  char *end;
  if (v == NULL) return usage_error("--threads: missing value");
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || n == 0 || n > MAX_JOBS_THREADS)
    return usage_error("--threads: bad value '%s' (want 1..%d)", v, MAX_JOBS_THREADS);
  o->threads = (unsigned)n;
  return 0;
}

enum { OPT_STRAT, OPT_SIZES, OPT_IGNORE, OPT_FORMAT, OPT_CSV, OPT_NOBELADY, OPT_THREADS, OPT_HELP };

typedef struct optdef {
  const char *name;
  bool has_arg;
  int id;
} optdef;

static const optdef optdefs[] = {
    {"--strategies", true, OPT_STRAT},
    {"--sizes", true, OPT_SIZES},
    {"--ignore-size", false, OPT_IGNORE},
    {"--format", true, OPT_FORMAT},
    {"--csv", false, OPT_CSV},
    {"--no-belady", false, OPT_NOBELADY},
    {"--threads", true, OPT_THREADS},
    {"--help", false, OPT_HELP},
    {"-h", false, OPT_HELP},
};

static int apply(opts *o, int id, char *val) {
  switch (id) {
    case OPT_STRAT:
      return parse_strategies(o, val);
    case OPT_SIZES:
      return parse_sizes(o, val);
    case OPT_FORMAT:
      if (cs_trace_format_parse(val, &o->format) == GSP_OK) return 0;
      return usage_error("--format: unknown format '%s' (auto, oracle, keys, lis)", val);
    case OPT_THREADS:
      return parse_threads(o, val);
    case OPT_IGNORE:
      o->ignore_size = true;
      return 0;
    case OPT_CSV:
      o->csv = true;
      return 0;
    case OPT_NOBELADY:
      o->belady = false;
      return 0;
  }
  help(stdout);
  return -1; /* --help: stop, exit 0 */
}

/* One option at argv[*i]; may consume the next argument as its value. */
static int parse_option(opts *o, int argc, char **argv, int *i) {
  char *arg = argv[*i], *eq = strchr(arg, '=');
  size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
  for (size_t k = 0; k < sizeof optdefs / sizeof *optdefs; k++) {
    const optdef *d = &optdefs[k];
    if (strlen(d->name) != len || strncmp(arg, d->name, len) != 0) continue;
    if (!d->has_arg && eq != NULL)
      return usage_error("option %s takes no value (got '%s')", d->name, eq + 1);
    if (!d->has_arg) return apply(o, d->id, NULL);
    if (eq != NULL) return apply(o, d->id, eq + 1);
    if (*i + 1 >= argc) return usage_error("option %s needs a value", d->name);
    return apply(o, d->id, argv[++*i]);
  }
  return usage_error("unknown option '%s'", arg);
}

static int parse_args(opts *o, int argc, char **argv) {
  char default_sizes[] = "0.001,0.01,0.1";
  char *positional[argc > 0 ? argc : 1];
  bool only_files = false;
  *o = (opts){.belady = true};
  add_all(o);
  parse_sizes(o, default_sizes);
  for (int i = 1; i < argc; i++) {
    if (!only_files && strcmp(argv[i], "--") == 0) {
      only_files = true;
    } else if (!only_files && argv[i][0] == '-' && argv[i][1] != '\0') {
      int rv = parse_option(o, argc, argv, &i);
      if (rv != 0) return rv;
    } else {
      positional[o->ntraces++] = argv[i];
    }
  }
  if (o->ntraces == 0) return usage_error("no trace given");
  if (o->nstrat == 0 && !o->belady) return usage_error("nothing to run");
  o->traces = gsp_malloc(o->ntraces * sizeof *o->traces);
  if (o->traces == NULL) return usage_error("out of memory");
  memcpy(o->traces, positional, o->ntraces * sizeof *o->traces);
  return 0;
}

/* ---- one simulation ----------------------------------------------------------- */

static int replay(gsp_cache *c, const cs_trace *t, bool ignore_size, uint64_t *misses) {
  uint64_t miss = 0;
  for (size_t i = 0; i < t->n; i++) {
    uint64_t key = t->id[t->obj[i]];
    size_t vlen;
    int rv = gsp_cache_get_copy(c, &key, sizeof key, NULL, 0, &vlen);
    if (rv == GSP_OK) continue;
    if (rv != GSP_ENOENT) return rv;
    miss++;
    uint64_t charge = ignore_size ? 1 : t->size[i];
    rv = gsp_cache_put(c, &key, sizeof key, NULL, 0, &(gsp_cache_put_opts){.charge = charge});
    if (rv != GSP_OK) return rv;
  }
  *misses = miss;
  return GSP_OK;
}

static void sim_cache(const run *r, job *j) {
  gsp_cache_config cfg = {.strategy = j->strat, .shards = 1};
  gsp_cache *c = NULL;
  gsp_cache_stats st;
  if (r->o->ignore_size)
    cfg.max_entries = (size_t)j->cap;
  else
    cfg.max_bytes = (size_t)j->cap;
  j->rv = gsp_cache_create(&cfg, &c);
  if (j->rv != GSP_OK) {
    snprintf(j->err, sizeof j->err, "creating the cache: %s", gsp_strerror(j->rv));
    return;
  }
  j->rv = replay(c, &r->t, r->o->ignore_size, &j->misses);
  if (j->rv != GSP_OK) {
    snprintf(j->err, sizeof j->err, "cache operation failed: %s", gsp_strerror(j->rv));
    goto out_destroy;
  }
  gsp_cache_stats_get(c, &st);
  if (st.misses != j->misses || st.hits + st.misses != r->t.n) {
    snprintf(j->err, sizeof j->err,
             "cache statistics disagree: cache says %llu hits + %llu misses, counted %llu misses",
             (unsigned long long)st.hits, (unsigned long long)st.misses,
             (unsigned long long)j->misses);
    j->rv = GSP_ESTATE;
  }
out_destroy:
  gsp_cache_destroy(c);
}

static void sim_job(const run *r, job *j) {
  if (!j->belady) {
    sim_cache(r, j);
    return;
  }
  j->rv = cs_belady_run(&r->t, r->next, j->cap, r->o->ignore_size, &j->misses);
  if (j->rv != GSP_OK) snprintf(j->err, sizeof j->err, "%s", gsp_strerror(j->rv));
}

/* ---- workers ------------------------------------------------------------------- */

static void job_finished(run *r) {
  pthread_mutex_lock(&r->lock);
  r->done++;
  if (r->progress) {
    fprintf(stderr, "\r%s: %s: %zu/%zu runs done", prog, r->t.name, r->done, r->njobs);
    fflush(stderr);
  }
  pthread_mutex_unlock(&r->lock);
}

static void *worker(void *arg) {
  run *r = arg;
  for (;;) {
    size_t k = atomic_fetch_add(&r->taken, 1);
    if (k >= r->njobs) break;
    sim_job(r, &r->jobs[k]);
    job_finished(r);
  }
  return NULL;
}

static unsigned thread_count(const run *r) {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned n = r->o->threads ? r->o->threads : (unsigned)(ncpu > 0 ? ncpu : 1);
  if (n > MAX_JOBS_THREADS) n = MAX_JOBS_THREADS;
  return n < r->njobs ? n : (unsigned)r->njobs;
}

static void run_jobs(run *r) {
  pthread_t tid[MAX_JOBS_THREADS];
  unsigned n = thread_count(r), started = 0;
  for (; started + 1 < n; started++) /* the calling thread is the last worker */
    if (pthread_create(&tid[started], NULL, worker, r) != 0) break;
  worker(r);
  for (unsigned i = 0; i < started; i++) pthread_join(tid[i], NULL);
  if (r->progress) fprintf(stderr, "\r\033[K");
}

/* ---- per trace --------------------------------------------------------------------- */

static uint64_t resolve_size(const opts *o, const cs_trace *t, double v) {
  if (v >= 1) return (uint64_t)v;
  double total = o->ignore_size ? (double)t->n_obj : (double)t->unique_bytes;
  uint64_t cap = (uint64_t)(total * v);
  return cap ? cap : 1;
}

static int make_jobs(run *r) {
  const opts *o = r->o;
  size_t per = o->nstrat + (o->belady ? 1 : 0);
  r->njobs = o->nsizes * per;
  r->jobs = gsp_calloc(r->njobs, sizeof *r->jobs);
  if (r->jobs == NULL) return GSP_ENOMEM;
  for (size_t s = 0; s < o->nsizes; s++) {
    for (size_t k = 0; k < per; k++) {
      job *j = &r->jobs[s * per + k];
      j->cap = resolve_size(o, &r->t, o->sizes[s]);
      j->belady = k == o->nstrat;
      if (!j->belady) j->strat = o->strat[k];
    }
  }
  return GSP_OK;
}

static int prepare_belady(run *r) {
  cs_next_source src;
  int64_t bad;
  if (!r->o->belady) return GSP_OK;
  int rv = cs_belady_next(&r->t, &r->next, &src, &bad);
  if (rv != GSP_OK) return rv;
  if (src == CS_NEXT_RECOMPUTED)
    fprintf(stderr,
            "%s: note: %s: the next-access field disagrees with the ids (first at record %lld, "
            "byte offset %lld); Belady uses next accesses computed from the ids\n",
            prog, r->t.name, (long long)bad, (long long)bad * 24);
  return GSP_OK;
}

/* Write s as one CSV field (quoted when it holds a comma, quote or newline). */
static void csv_field(const char *s) {
  if (strpbrk(s, ",\"\r\n") == NULL) {
    fputs(s, stdout);
    return;
  }
  putchar('"');
  for (; *s; s++) {
    if (*s == '"') putchar('"');
    putchar(*s);
  }
  putchar('"');
}

static const char *job_name(const job *j) {
  return j->belady ? "belady" : gsp_cache_strategy_name(j->strat);
}

static double ratio(uint64_t misses, size_t n) { return n ? (double)misses / (double)n : 0.0; }

static void print_csv(const run *r) {
  for (size_t k = 0; k < r->njobs; k++) {
    const job *j = &r->jobs[k];
    csv_field(r->t.name);
    printf(",%s,%llu,%zu,%llu,%.6f\n", job_name(j), (unsigned long long)j->cap, r->t.n,
           (unsigned long long)j->misses, ratio(j->misses, r->t.n));
  }
}

static void print_table(const run *r) {
  const cs_trace *t = &r->t;
  printf("%s: %zu requests, %zu objects, %llu unique bytes (%s format); cache size in %s\n",
         t->name, t->n, t->n_obj, (unsigned long long)t->unique_bytes,
         cs_trace_format_name(t->format), r->o->ignore_size ? "objects" : "bytes");
  printf("  %14s  %-9s %12s %12s %10s\n", "cache_size", "strategy", "requests", "misses",
         "miss_ratio");
  for (size_t k = 0; k < r->njobs; k++) {
    const job *j = &r->jobs[k];
    printf("  %14llu  %-9s %12zu %12llu %10.4f\n", (unsigned long long)j->cap, job_name(j), t->n,
           (unsigned long long)j->misses, ratio(j->misses, t->n));
  }
  printf("\n");
}

static int report(const run *r) {
  for (size_t k = 0; k < r->njobs; k++) {
    const job *j = &r->jobs[k];
    if (j->rv == GSP_OK) continue;
    fprintf(stderr, "%s: %s: %s at cache size %llu: %s\n", prog, r->t.name, job_name(j),
            (unsigned long long)j->cap, j->err);
    return 1;
  }
  if (r->o->csv)
    print_csv(r);
  else
    print_table(r);
  fflush(stdout);
  return 0;
}

static int run_trace(const opts *o, const char *path) {
  char err[512];
  run r = {.o = o};
  int status = 1;
  atomic_init(&r.taken, 0);
  pthread_mutex_init(&r.lock, NULL);
  if (cs_trace_load(path, o->format, &r.t, err, sizeof err) != GSP_OK) {
    fprintf(stderr, "%s: %s\n", prog, err);
    goto out;
  }
  if (prepare_belady(&r) != GSP_OK || make_jobs(&r) != GSP_OK) {
    fprintf(stderr, "%s: %s: out of memory\n", prog, path);
    goto out;
  }
  r.progress = isatty(STDERR_FILENO) && (uint64_t)r.t.n * r.njobs >= PROGRESS_MIN_WORK;
  run_jobs(&r);
  status = report(&r);
out:
  gsp_free(r.jobs);
  gsp_free(r.next);
  cs_trace_free(&r.t);
  pthread_mutex_destroy(&r.lock);
  return status;
}

int gsp_cmd_cachesim(int argc, char **argv) {
  opts o;
  int rv = parse_args(&o, argc, argv);
  if (rv != 0) return rv < 0 ? 0 : rv;
  int status = 0;
  if (o.csv) printf("trace,strategy,cache_size,requests,misses,miss_ratio\n");
  for (size_t i = 0; i < o.ntraces; i++)
    if (run_trace(&o, o.traces[i]) != 0) status = 1;
  gsp_free(o.traces);
  return status;
}
