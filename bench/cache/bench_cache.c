/*
 * bench_cache.c - throughput of the gsperf cache next to its peers, in one run.
 *
 * What is measured. Requests per second against one shared cache, from 1 and
 * 2 threads, for three workloads over 8-byte integer keys and 16-byte values:
 *
 *   get-hit        a lookup of a key known to be present. Keys follow a
 *                  Zipf(0.99) law over the HOT_KEYS resident keys; the cache
 *                  holds 1/8 more than that, so nothing is evicted.
 *   miss-then-put  a lookup of a key never seen before, then its put. The
 *                  cache is prefilled to capacity, so every put evicts.
 *                  Keys are fresh per request (a miss stream cannot be Zipf).
 *   mix 90/10      Zipf(0.99) over KEY_SPACE keys; 90% lookups (a miss is
 *                  followed by a put of that key, as a cache-aside caller
 *                  does), 10% puts. The cache starts full.
 *
 * One "op" is one request: a get, a get+put pair, or a put. Every cell
 * reports wall-clock Mops/s and CPU ns/op (CLOCK_THREAD_CPUTIME_ID summed
 * over the threads): on this shared VM the wall figure can lose half its
 * threads to other tenants while the CPU figure stays honest (MACHINE.md).
 * Each value read back is checked against the key it was stored under.
 *
 * How. Key streams are computed before timing (one per thread, 1 Mi keys,
 * reused cyclically). Threads start together on a barrier; the main thread
 * sleeps for the cell's duration and raises a stop flag that workers poll
 * every BATCH ops. Each cell builds a fresh cache, prefills it, runs, and
 * destroys it. A round runs every cell once with the subjects in a rotated
 * order; rounds repeat and the table shows medians (and the min..max of the
 * wall figure), the ratios are medians of per-round ratios, so two subjects
 * are always compared under the same machine conditions.
 *
 * Subjects (bench_subject.h). Every gsperf strategy with default shards,
 * reading through gsp_cache_get_copy (the no-pin path), and ADAPTIVE once
 * more through the pinned gsp_cache_get + gsp_cache_ref_release. Two peers,
 * written for this benchmark (peer_mutex_lru.c, peer_ck_ht.c):
 *
 *   mutex-LRU  what users write by hand: one pthread_mutex over a chained
 *              hash table (XXH3, like gsperf) and a doubly linked list,
 *              move-to-front on hit, key and value copied into one node
 *              that is allocated before taking the lock.
 *   ck_ht      Concurrency Kit's SPMC hash table: lock-free reads
 *              (ck_ht_get_spmc), one writer at a time (we serialize writes
 *              with a mutex, as its contract requires). It has no eviction:
 *              the benchmark keeps a FIFO ring of inserted keys and removes
 *              the oldest when over capacity. Values live in malloc'ed
 *              blocks reclaimed through ck_epoch (readers stay in an epoch
 *              section for one batch). Its get-hit rate is "the limit": no
 *              cache bookkeeping, no lock, no write on the read path.
 *
 * The goals printed at the end: ADAPTIVE get-hit at least 50% of ck_ht's,
 * and at least 4x the mutex-LRU's at 2 threads.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench_subject.h"
#include "gsperf/cache.h"
#include "../support/bench_util.h"

#define KEY_SPACE (1u << 20) /* keys of the mix workload */
#define HOT_KEYS (1u << 17)  /* keys of the get-hit workload */
#define CAPACITY (HOT_KEYS + HOT_KEYS / 8)
#define STREAM_LEN (1u << 20) /* precomputed keys per thread */
#define STREAM_MASK (STREAM_LEN - 1)
#define VLEN BENCH_VLEN
#define BATCH 64 /* ops between stop-flag polls */
#define MAX_THREADS BENCH_MAX_THREADS
#define MAX_ROUNDS 99
#define ZIPF_THETA 0.99
#define PUT_BIT (UINT64_C(1) << 63)   /* mix stream: this request is a put */
#define MISS_BASE (UINT64_C(1) << 40) /* ranks of never-seen keys */

/* ---- small helpers ------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *state) { return (double)(splitmix64(state) >> 11) * 0x1.0p-53; }

/* Rank -> key: an odd multiplier is a bijection, so distinct ranks give
 * distinct keys, never 0 (ck_ht's empty key) for the ranks used here. */
static uint64_t key_of(uint64_t rank) { return (rank + 1) * UINT64_C(0x9E3779B97F4A7C15); }

static void value_of(uint64_t key, unsigned char v[VLEN]) {
  uint64_t inv = ~key;
  memcpy(v, &key, 8);
  memcpy(v + 8, &inv, 8);
}

static bool value_ok(uint64_t key, const unsigned char v[VLEN]) {
  unsigned char want[VLEN];
  value_of(key, want);
  return memcmp(v, want, VLEN) == 0;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (p == NULL) {
    fprintf(stderr, "bench_cache: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

/* ---- Zipf (Gray et al., "Quickly generating billion-record synthetic
 * databases", as in YCSB): rank 0 is the most popular. ------------------ */

typedef struct zipf {
  uint64_t n;
  double theta, alpha, zetan, eta, half_pow;
} zipf;

static void zipf_init(zipf *z, uint64_t n, double theta) {
  double zeta2 = 1.0 + pow(0.5, theta);
  z->n = n;
  z->theta = theta;
  z->zetan = 0;
  for (uint64_t i = 1; i <= n; i++) z->zetan += pow((double)i, -theta);
  z->alpha = 1.0 / (1.0 - theta);
  z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / z->zetan);
  z->half_pow = pow(0.5, theta);
}

static uint64_t zipf_next(const zipf *z, uint64_t *rng) {
  double u = uniform01(rng), uz = u * z->zetan;
  if (uz < 1.0) return 0;
  if (uz < 1.0 + z->half_pow) return 1;
  uint64_t r = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
  return r < z->n ? r : z->n - 1;
}

/* ---- gsperf ------------------------------------------------------------- */

static void *gsp_subject_create(const bench_subject *sj, size_t capacity) {
  gsp_cache_config cfg = {.strategy = sj->strategy, .max_entries = capacity};
  if (sj->strategy == GSP_CACHE_TTL) cfg.ttl_ms = 3600u * 1000u; /* entries carry an expiry */
  gsp_cache *c = NULL;
  return gsp_cache_create(&cfg, &c) == GSP_OK ? c : NULL;
}

static void gsp_subject_destroy(void *obj) { gsp_cache_destroy(obj); }

static bool gsp_subject_get_copy(void *obj, void *ctx, uint64_t key, unsigned char out[VLEN]) {
  (void)ctx;
  size_t vlen = 0;
  return gsp_cache_get_copy(obj, &key, sizeof key, out, VLEN, &vlen) == GSP_OK && vlen == VLEN;
}

static bool gsp_subject_get_pinned(void *obj, void *ctx, uint64_t key, unsigned char out[VLEN]) {
  (void)ctx;
  gsp_cache_ref *ref = NULL;
  if (gsp_cache_get(obj, &key, sizeof key, &ref) != GSP_OK) return false;
  size_t vlen = 0;
  const void *v = gsp_cache_ref_value(ref, &vlen);
  if (vlen == VLEN) memcpy(out, v, VLEN);
  gsp_cache_ref_release(ref);
  return vlen == VLEN;
}

static bool gsp_subject_put(void *obj, void *ctx, uint64_t key, const unsigned char val[VLEN]) {
  (void)ctx;
  return gsp_cache_put(obj, &key, sizeof key, val, VLEN, NULL) == GSP_OK;
}

/* ---- the subject table --------------------------------------------------- */

#define GSP_SUBJECT(var, label, strat, getter)                      \
  static const bench_subject var = {.name = label,                  \
                                    .strategy = strat,              \
                                    .create = gsp_subject_create,   \
                                    .destroy = gsp_subject_destroy, \
                                    .get = getter,                  \
                                    .put = gsp_subject_put}

GSP_SUBJECT(g_lru, "gsperf LRU", GSP_CACHE_LRU, gsp_subject_get_copy);
GSP_SUBJECT(g_lfu, "gsperf LFU", GSP_CACHE_LFU, gsp_subject_get_copy);
GSP_SUBJECT(g_fifo, "gsperf FIFO", GSP_CACHE_FIFO, gsp_subject_get_copy);
GSP_SUBJECT(g_ttl, "gsperf TTL", GSP_CACHE_TTL, gsp_subject_get_copy);
GSP_SUBJECT(g_adaptive, "gsperf ADAPTIVE", GSP_CACHE_ADAPTIVE, gsp_subject_get_copy);
GSP_SUBJECT(g_adaptive_pin, "gsperf ADAPTIVE-pin", GSP_CACHE_ADAPTIVE, gsp_subject_get_pinned);

enum { SUBJ_ADAPTIVE = 4, SUBJ_MUTEX = 6, SUBJ_CK = 7, NSUBJ = 8 };

static const bench_subject *const g_subjects[NSUBJ] = {
    &g_lru,
    &g_lfu,
    &g_fifo,
    &g_ttl,
    &g_adaptive,
    &g_adaptive_pin,
    &bench_peer_mutex_lru,
    &bench_peer_ck_ht,
};

/* ---- workloads ------------------------------------------------------------- */

enum { WL_GET_HIT, WL_MISS_PUT, WL_MIX, NWL };
static const char *const g_wl_names[NWL] = {"get-hit", "miss-then-put", "mix 90/10"};

typedef struct streams {
  uint64_t *hit[MAX_THREADS]; /* ranks in [0, HOT_KEYS) */
  uint64_t *mix[MAX_THREADS]; /* ranks in [0, KEY_SPACE), PUT_BIT on puts */
} streams;

static void streams_build(streams *st, unsigned nthreads) {
  zipf hot, all;
  zipf_init(&hot, HOT_KEYS, ZIPF_THETA);
  zipf_init(&all, KEY_SPACE, ZIPF_THETA);
  for (unsigned t = 0; t < nthreads; t++) {
    uint64_t rng = 0x1234567u + 7919u * t;
    st->hit[t] = xmalloc(sizeof(uint64_t) * STREAM_LEN);
    st->mix[t] = xmalloc(sizeof(uint64_t) * STREAM_LEN);
    for (size_t i = 0; i < STREAM_LEN; i++) {
      st->hit[t][i] = zipf_next(&hot, &rng);
      st->mix[t][i] = zipf_next(&all, &rng) | (uniform01(&rng) < 0.10 ? PUT_BIT : 0);
    }
  }
}

static void streams_free(streams *st, unsigned nthreads) {
  for (unsigned t = 0; t < nthreads; t++) {
    free(st->hit[t]);
    free(st->mix[t]);
  }
}

/* Fill ranks [0, n) so the hottest key goes in last. Returns false on error. */
static bool prefill(const bench_subject *sj, void *obj, size_t n) {
  void *ctx = sj->thread_enter ? sj->thread_enter(obj, MAX_THREADS) : NULL;
  unsigned char v[VLEN];
  bool ok = true;
  for (size_t r = n; r-- > 0 && ok;) {
    value_of(key_of(r), v);
    ok = sj->put(obj, ctx, key_of(r), v);
  }
  if (sj->thread_exit) sj->thread_exit(obj, ctx);
  return ok;
}

/* ---- one cell: N threads on one subject and workload ----------------------- */

typedef struct cell_run {
  pthread_barrier_t start;
  atomic_bool stop;
} cell_run;

typedef struct worker {
  pthread_t thread;
  cell_run *run;
  const bench_subject *sj;
  void *obj;
  int wl;
  unsigned tid;
  const uint64_t *stream;
  size_t pos;
  uint64_t next_miss;
  uint64_t ops, lookups, hits, bad, failed;
  uint64_t wall_ns, cpu_ns;
} worker;

static void lookup(worker *w, void *ctx, uint64_t key, bool put_on_miss) {
  unsigned char v[VLEN];
  w->lookups++;
  if (w->sj->get(w->obj, ctx, key, v)) {
    w->hits++;
    w->bad += !value_ok(key, v);
  } else if (put_on_miss) {
    value_of(key, v);
    w->failed += !w->sj->put(w->obj, ctx, key, v);
  }
}

static void put_one(worker *w, void *ctx, uint64_t key) {
  unsigned char v[VLEN];
  value_of(key, v);
  w->failed += !w->sj->put(w->obj, ctx, key, v);
}

static void run_batch(worker *w, void *ctx) {
  for (unsigned k = 0; k < BATCH; k++) {
    if (w->wl == WL_GET_HIT) {
      lookup(w, ctx, key_of(w->stream[w->pos++ & STREAM_MASK]), false);
    } else if (w->wl == WL_MISS_PUT) {
      lookup(w, ctx, key_of(w->next_miss++), true);
    } else {
      uint64_t e = w->stream[w->pos++ & STREAM_MASK];
      if (e & PUT_BIT)
        put_one(w, ctx, key_of(e & ~PUT_BIT));
      else
        lookup(w, ctx, key_of(e), true);
    }
  }
  w->ops += BATCH;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  const bench_subject *sj = w->sj;
  void *ctx = sj->thread_enter ? sj->thread_enter(w->obj, w->tid) : NULL;
  pthread_barrier_wait(&w->run->start);
  uint64_t c0 = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID),
           t0 = gsp_bench_clock_ns(CLOCK_MONOTONIC);
  while (!atomic_load_explicit(&w->run->stop, memory_order_relaxed)) {
    run_batch(w, ctx);
    if (sj->quiesce) sj->quiesce(w->obj, ctx);
  }
  w->wall_ns = gsp_bench_clock_ns(CLOCK_MONOTONIC) - t0;
  w->cpu_ns = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
  if (sj->thread_exit) sj->thread_exit(w->obj, ctx);
  return NULL;
}

typedef struct sample {
  double mops;   /* wall-clock requests per second, millions */
  double cpu_ns; /* thread CPU time per request */
  double hit;    /* hits / lookups, percent */
  double util;   /* thread CPU time / (wall time x threads), percent */
} sample;

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) continue;
}

static void worker_init(worker *w, cell_run *run, const bench_subject *sj, void *obj, int wl,
                        unsigned tid, const streams *st) {
  memset(w, 0, sizeof *w);
  w->run = run;
  w->sj = sj;
  w->obj = obj;
  w->wl = wl;
  w->tid = tid;
  w->stream = wl == WL_GET_HIT ? st->hit[tid] : st->mix[tid];
  w->pos = (size_t)tid * 7919u; /* threads start at different places */
  w->next_miss = MISS_BASE + ((uint64_t)tid << 36);
}

static sample summarize(const worker *ws, unsigned n, const char *who, const char *wl) {
  uint64_t ops = 0, lookups = 0, hits = 0, bad = 0, failed = 0, wall = 1, cpu = 0;
  for (unsigned i = 0; i < n; i++) {
    ops += ws[i].ops;
    lookups += ws[i].lookups;
    hits += ws[i].hits;
    bad += ws[i].bad;
    failed += ws[i].failed;
    cpu += ws[i].cpu_ns;
    if (ws[i].wall_ns > wall) wall = ws[i].wall_ns;
  }
  if (bad || failed)
    fprintf(stderr, "bench_cache: %s/%s: %llu wrong values, %llu failed puts\n", who, wl,
            (unsigned long long)bad, (unsigned long long)failed);
  sample s = {(double)ops * 1e3 / (double)wall, ops ? (double)cpu / (double)ops : 0,
              lookups ? 100.0 * (double)hits / (double)lookups : 0,
              100.0 * (double)cpu / ((double)wall * n)};
  return s;
}

static bool run_cell(const bench_subject *sj, int wl, unsigned nthreads, unsigned ms,
                     const streams *st, sample *out) {
  void *obj = sj->create(sj, CAPACITY);
  if (obj == NULL || !prefill(sj, obj, wl == WL_GET_HIT ? HOT_KEYS : CAPACITY)) {
    fprintf(stderr, "bench_cache: %s: create or prefill failed\n", sj->name);
    if (obj != NULL) sj->destroy(obj);
    return false;
  }
  cell_run run;
  worker ws[MAX_THREADS];
  pthread_barrier_init(&run.start, NULL, nthreads + 1);
  atomic_init(&run.stop, false);
  for (unsigned t = 0; t < nthreads; t++) {
    worker_init(&ws[t], &run, sj, obj, wl, t, st);
    pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]);
  }
  pthread_barrier_wait(&run.start);
  sleep_ms(ms);
  atomic_store_explicit(&run.stop, true, memory_order_relaxed);
  for (unsigned t = 0; t < nthreads; t++) pthread_join(ws[t].thread, NULL);
  pthread_barrier_destroy(&run.start);
  *out = summarize(ws, nthreads, sj->name, g_wl_names[wl]);
  sj->destroy(obj);
  return true;
}

/* ---- options ------------------------------------------------------------------ */

typedef struct options {
  bool quick, csv;
  unsigned threads[MAX_THREADS];
  unsigned nthreads; /* how many thread counts */
  unsigned repeats, cell_ms;
} options;

static bool parse_uint(const char *s, long lo, long hi, unsigned *out, const char **end) {
  char *e = NULL;
  errno = 0;
  long v = strtol(s, &e, 10);
  if (e == s || errno != 0 || v < lo || v > hi) return false;
  *out = (unsigned)v;
  if (end != NULL) *end = e;
  return end != NULL || *e == '\0';
}

static bool parse_threads(const char *s, options *o) {
  o->nthreads = 0;
  for (;;) {
    const char *e;
    if (o->nthreads == MAX_THREADS) return false;
    if (!parse_uint(s, 1, MAX_THREADS, &o->threads[o->nthreads++], &e)) return false;
    if (*e == '\0') return true;
    if (*e != ',') return false;
    s = e + 1;
  }
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_cache [--quick] [--threads 1,2] [--csv] [--repeats N] [--ms N]\n"
          "  --quick       2 rounds of 100 ms cells (default: 5 rounds of 400 ms)\n"
          "  --threads L   comma-separated thread counts, each 1..%d\n"
          "  --csv         print the table as CSV (machine and goals as # lines)\n"
          "  --repeats N   rounds (1..%d); --ms N: milliseconds per cell\n",
          MAX_THREADS, MAX_ROUNDS);
}

/* An option that takes a value: parse argv[i + 1] into o. */
static bool parse_valued(const char *name, const char *v, options *o) {
  if (v == NULL) return false;
  if (strcmp(name, "--threads") == 0) return parse_threads(v, o);
  if (strcmp(name, "--repeats") == 0) return parse_uint(v, 1, MAX_ROUNDS, &o->repeats, NULL);
  if (strcmp(name, "--ms") == 0) return parse_uint(v, 10, 60000, &o->cell_ms, NULL);
  return false;
}

/* Returns 0 to run, 1 for --help, -1 on a bad argument. */
static int parse_options(int argc, char **argv, options *o) {
  *o = (options){.threads = {1, 2}, .nthreads = 2};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return 1;
    if (strcmp(a, "--quick") == 0) {
      o->quick = true;
    } else if (strcmp(a, "--csv") == 0) {
      o->csv = true;
    } else if (parse_valued(a, i + 1 < argc ? argv[i + 1] : NULL, o)) {
      i++;
    } else {
      fprintf(stderr, "bench_cache: bad or incomplete argument '%s'\n", a);
      return -1;
    }
  }
  if (o->repeats == 0) o->repeats = o->quick ? 2 : 5;
  if (o->cell_ms == 0) o->cell_ms = o->quick ? 100 : 400;
  return 0;
}

/* ---- results and ratios ------------------------------------------------------- */

typedef struct results {
  const options *o;
  sample *s; /* [round][workload][thread count][subject] */
} results;

static sample *at(const results *r, unsigned round, int wl, unsigned ti, int sj) {
  return &r->s[((round * NWL + (unsigned)wl) * r->o->nthreads + ti) * NSUBJ + (unsigned)sj];
}

enum { M_MOPS, M_CPU, M_HIT, M_UTIL, M_MIN, M_MAX };

static double sample_field(const sample *s, int what) {
  switch (what) {
    case M_CPU:
      return s->cpu_ns;
    case M_HIT:
      return s->hit;
    case M_UTIL:
      return s->util;
    default:
      return s->mops;
  }
}

/* A statistic of one cell over the rounds. */
static double cell_stat(const results *r, int wl, unsigned ti, int sj, int what) {
  double v[MAX_ROUNDS];
  unsigned n = r->o->repeats;
  for (unsigned k = 0; k < n; k++) {
    v[k] = sample_field(at(r, k, wl, ti, sj), what);
  }
  double med = gsp_bench_median(v, n); /* sorts v */
  return what == M_MIN ? v[0] : what == M_MAX ? v[n - 1] : med;
}

/* Median over rounds of a/b throughput: by wall Mops/s, or by CPU ns/op. */
static double cell_ratio(const results *r, int wl, unsigned ti, int a, int b, bool cpu) {
  double v[MAX_ROUNDS];
  for (unsigned k = 0; k < r->o->repeats; k++) {
    const sample *x = at(r, k, wl, ti, a), *y = at(r, k, wl, ti, b);
    v[k] = cpu ? y->cpu_ns / x->cpu_ns : x->mops / y->mops;
  }
  return gsp_bench_median(v, r->o->repeats);
}

static void run_all(results *r, const streams *st) {
  const options *o = r->o;
  for (unsigned k = 0; k < o->repeats; k++) {
    if (!o->csv) fprintf(stderr, "round %u/%u...\n", k + 1, o->repeats);
    for (int wl = 0; wl < NWL; wl++)
      for (unsigned ti = 0; ti < o->nthreads; ti++)
        for (unsigned j = 0; j < NSUBJ; j++) {
          int sj = (int)((j + k + (unsigned)wl) % NSUBJ); /* rotate the order */
          sample *s = at(r, k, wl, ti, sj);
          if (!run_cell(g_subjects[sj], wl, o->threads[ti], o->cell_ms, st, s))
            *s = (sample){1e-9, 1e9, 0, 0};
        }
  }
}

/* ---- report ------------------------------------------------------------------- */

static void print_load(const char *lead, const char *when) {
  char load[128];
  gsp_bench_read_line("/proc/loadavg", "", load, sizeof load);
  printf("%sload average %s: %s\n", lead, when, load);
}

static unsigned gsperf_shards(void) {
  gsp_cache_config cfg = {.strategy = GSP_CACHE_LRU, .max_entries = CAPACITY}, got;
  gsp_cache *c = NULL;
  if (gsp_cache_create(&cfg, &c) != GSP_OK) return 0;
  gsp_cache_config_get(c, &got);
  gsp_cache_destroy(c);
  return got.shards;
}

static void print_machine(const options *o) {
  const char *lead = o->csv ? "# " : "";
  char cpu[256];
  struct utsname u;
  gsp_bench_read_line("/proc/cpuinfo", "model name", cpu, sizeof cpu);
  if (uname(&u) != 0) snprintf(u.release, sizeof u.release, "?");
  printf("%sbench_cache: gsperf %s cache throughput vs peers\n", lead, GSP_VERSION_STRING);
  printf("%smachine: %s, nproc %ld, kernel %s %s\n", lead, cpu, sysconf(_SC_NPROCESSORS_ONLN),
         u.sysname, u.release);
  print_load(lead, "at start");
  printf(
      "%skeys 8 B, values 16 B; Zipf(%.2f); key space %u, resident hot keys %u, "
      "capacity %u entries; gsperf default shards: %u\n",
      lead, ZIPF_THETA, KEY_SPACE, HOT_KEYS, CAPACITY, gsperf_shards());
  printf("%s%u rounds x %u ms per cell, subjects interleaved; medians shown\n%s", lead, o->repeats,
         o->cell_ms, o->csv ? "" : "\n");
}

static void print_row(const results *r, int wl, unsigned ti, int sj) {
  const options *o = r->o;
  double mops = cell_stat(r, wl, ti, sj, M_MOPS), lo = cell_stat(r, wl, ti, sj, M_MIN),
         hi = cell_stat(r, wl, ti, sj, M_MAX), cpu = cell_stat(r, wl, ti, sj, M_CPU),
         hit = cell_stat(r, wl, ti, sj, M_HIT), util = cell_stat(r, wl, ti, sj, M_UTIL);
  double vs_ck = 100.0 * cell_ratio(r, wl, ti, sj, SUBJ_CK, false);
  double vs_mx = cell_ratio(r, wl, ti, sj, SUBJ_MUTEX, false);
  if (o->csv) {
    printf("%s,%u,%s,%.3f,%.3f,%.3f,%.1f,%.0f,%.2f,%.1f,%.3f\n", g_wl_names[wl], o->threads[ti],
           g_subjects[sj]->name, mops, lo, hi, cpu, util, hit, vs_ck, vs_mx);
    return;
  }
  printf("%-14s %3u  %-20s %7.2f  %6.2f..%-6.2f %8.1f  %4.0f  %6.2f  %6.1f%%  %6.2fx\n",
         g_wl_names[wl], o->threads[ti], g_subjects[sj]->name, mops, lo, hi, cpu, util, hit, vs_ck,
         vs_mx);
}

static void print_table(const results *r) {
  if (r->o->csv) {
    printf(
        "workload,threads,subject,mops_median,mops_min,mops_max,cpu_ns_per_op,"
        "cpu_util_pct,hit_pct,pct_of_ck_ht,x_mutex_lru\n");
  } else {
    printf("%-14s %3s  %-20s %7s  %-14s %8s  %4s  %6s  %7s  %7s\n", "workload", "thr", "subject",
           "Mops/s", "  min..max", "cpu ns/op", "cpu%", "hit%", "%ck_ht", "xmutex");
  }
  for (int wl = 0; wl < NWL; wl++) {
    for (unsigned ti = 0; ti < r->o->nthreads; ti++)
      for (int sj = 0; sj < NSUBJ; sj++) print_row(r, wl, ti, sj);
    if (!r->o->csv) printf("\n");
  }
}

static void print_notes(const char *lead) {
  printf(
      "%snotes: op = one request (get | get-miss+put | put); Mops/s is wall clock, cpu ns/op\n"
      "%s  is thread CPU time per op summed over threads; cpu%% is that CPU time over wall x\n"
      "%s  threads (below ~90%% the threads did not get their cores: wall figures then\n"
      "%s  understate, compare cpu ns/op); %%ck_ht and xmutex are medians of per-round\n"
      "%s  ratios of Mops/s. gsperf gets use gsp_cache_get_copy into a 16-byte\n"
      "%s  buffer, ADAPTIVE-pin uses gsp_cache_get + gsp_cache_ref_release. gsperf TTL runs\n"
      "%s  with a 1 h default TTL, so each lookup reads the clock.\n"
      "%s  ck_ht: lock-free ck_ht_get_spmc reads; its writes are single-writer (SPMC), so\n"
      "%s  every put/remove here holds one mutex. It has no eviction: the benchmark removes\n"
      "%s  the oldest inserted key (FIFO ring) when over capacity; replaced and removed\n"
      "%s  values are freed through ck_epoch (readers hold an epoch section per %d ops).\n",
      lead, lead, lead, lead, lead, lead, lead, lead, lead, lead, lead, BATCH);
}

static int thread_index(const options *o, unsigned n) {
  for (unsigned i = 0; i < o->nthreads; i++)
    if (o->threads[i] == n) return (int)i;
  return -1;
}

static void print_goal_ck(const results *r, const char *lead, unsigned n) {
  int ti = thread_index(r->o, n);
  if (ti < 0) return;
  double w = 100.0 * cell_ratio(r, WL_GET_HIT, (unsigned)ti, SUBJ_ADAPTIVE, SUBJ_CK, false);
  double c = 100.0 * cell_ratio(r, WL_GET_HIT, (unsigned)ti, SUBJ_ADAPTIVE, SUBJ_CK, true);
  printf(
      "%s  ADAPTIVE get-hit vs ck_ht get-hit, %u thread%s: %5.1f%% wall, %5.1f%% cpu"
      "  (goal >= 50%%: %s)\n",
      lead, n, n == 1 ? " " : "s", w, c, w >= 50.0 ? "met" : "NOT met");
}

static void print_goals(const results *r) {
  const char *lead = r->o->csv ? "# " : "";
  printf("%sgoals (wall = ratio of Mops/s, cpu = inverse ratio of CPU ns/op):\n", lead);
  print_goal_ck(r, lead, 1);
  print_goal_ck(r, lead, 2);
  int ti = thread_index(r->o, 2);
  if (ti < 0) {
    printf("%s  ADAPTIVE vs mutex-LRU at 2 threads: n/a (2 not in --threads)\n", lead);
  } else {
    double w = cell_ratio(r, WL_GET_HIT, (unsigned)ti, SUBJ_ADAPTIVE, SUBJ_MUTEX, false);
    double c = cell_ratio(r, WL_GET_HIT, (unsigned)ti, SUBJ_ADAPTIVE, SUBJ_MUTEX, true);
    printf(
        "%s  ADAPTIVE get-hit / mutex-LRU get-hit, 2 threads: %5.2fx wall, %5.2fx cpu"
        "  (goal >= 4x: %s)\n",
        lead, w, c, w >= 4.0 ? "met" : "NOT met");
  }
  print_load(lead, "at end");
}

int main(int argc, char **argv) {
  options o;
  int rv = parse_options(argc, argv, &o);
  if (rv != 0) {
    usage(rv > 0 ? stdout : stderr);
    return rv > 0 ? 0 : 2;
  }
  unsigned maxt = 0;
  for (unsigned i = 0; i < o.nthreads; i++) maxt = o.threads[i] > maxt ? o.threads[i] : maxt;
  print_machine(&o);
  fflush(stdout);
  streams st;
  streams_build(&st, maxt);
  results r = {&o, xmalloc(sizeof(sample) * o.repeats * NWL * o.nthreads * NSUBJ)};
  run_all(&r, &st);
  print_table(&r);
  print_notes(o.csv ? "# " : "");
  printf("%s\n", o.csv ? "#" : "");
  print_goals(&r);
  free(r.s);
  streams_free(&st, maxt);
  return 0;
}
