/*
 * zone.c - function timing zones: named regions timed with the TSC.
 *
 * Design. A zone site is a static struct at the call site; its first begin
 * registers it (one mutex, once per site) and gives it an id < MAX_SITES.
 * Each thread owns a zone_thread block: a stack of open zones (site id,
 * start TSC, time spent in nested zones) and, per site it has used, a
 * zone_cell with count, total, self, max and a log-linear histogram of
 * total time in TSC ticks (4 sub-buckets per power of two). begin pushes,
 * end pops, adds total - nested to self and total to the parent's nested
 * time. The hot path touches only thread-owned memory: the cells' fields
 * are written by their owner with relaxed load + store (a plain mov on
 * x86) and read by gsp_prof_zones_get with relaxed loads, so there is no
 * lock-prefixed instruction and no data race.
 *
 * Data layout. g_threads links every zone_thread ever made (under g_mu);
 * a block outlives its thread (its counts stay part of the totals) and is
 * reused by no one: a process that makes many short threads that use zones
 * keeps one block (cells for the sites it used) per thread.
 *
 * TSC to ns: the ratio comes from two (TSC, CLOCK_MONOTONIC) pairs, the
 * first taken when the first site registers and the second when stats are
 * read (at least 20 ms apart; gsp_prof_zones_get waits out the rest). The
 * TSC is invariant on the machines we support (constant_tsc, nonstop_tsc).
 *
 * Invariants: a thread's stack depth <= MAX_DEPTH (deeper begins are
 * counted as mismatched and not timed); site ids are dense 1..g_nsites.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "gsperf/prof.h"

#define MAX_SITES 4096
#define MAX_DEPTH 128
#define NBUCKETS 256 /* 64 powers of two x 4 sub-buckets */

typedef struct zone_cell {
  _Atomic uint64_t count, total, self, max, mismatched;
  _Atomic uint64_t hist[NBUCKETS];
} zone_cell;

typedef struct zone_frame {
  uint32_t id;
  uint64_t start, nested;
} zone_frame;

typedef struct zone_thread {
  struct zone_thread *next;
  uint32_t depth;
  zone_frame stack[MAX_DEPTH];
  _Atomic(zone_cell *) cells[MAX_SITES];
} zone_thread;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static zone_thread *g_threads;
static const char *g_names[MAX_SITES];
static _Atomic uint32_t g_nsites;
static uint64_t g_cal_tsc, g_cal_ns;
static __thread zone_thread *t_zone __attribute__((tls_model("initial-exec")));

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t register_site(gsp_prof_zone_site *s) {
  pthread_mutex_lock(&g_mu);
  uint32_t id = __atomic_load_n(&s->id_, __ATOMIC_RELAXED);
  uint32_t n = atomic_load_explicit(&g_nsites, memory_order_relaxed);
  if (id == 0 && n + 1 < MAX_SITES) {
    if (n == 0) {
      g_cal_tsc = __rdtsc();
      g_cal_ns = mono_ns();
    }
    id = n + 1;
    g_names[id] = s->name ? s->name : "?";
    atomic_store_explicit(&g_nsites, id, memory_order_release);
    __atomic_store_n(&s->id_, id, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&g_mu);
  return id;
}

static zone_thread *thread_block(void) {
  zone_thread *t = gsp_calloc(1, sizeof *t);
  if (!t) return NULL;
  pthread_mutex_lock(&g_mu);
  t->next = g_threads;
  g_threads = t;
  pthread_mutex_unlock(&g_mu);
  t_zone = t;
  return t;
}

static void bump(_Atomic uint64_t *f, uint64_t v) {
  atomic_store_explicit(f, atomic_load_explicit(f, memory_order_relaxed) + v, memory_order_relaxed);
}

static unsigned bucket_of(uint64_t v) {
  if (v < 4) return (unsigned)v;
  unsigned b = 63u - (unsigned)__builtin_clzll(v);
  return b * 4u + (unsigned)((v >> (b - 2)) & 3u);
}

static uint64_t bucket_low(unsigned i) {
  if (i < 8) return i < 4 ? i : 4; /* 4..7 are never used (bucket_of) */
  unsigned b = i / 4, sub = i % 4;
  return (1ull << b) + ((uint64_t)sub << (b - 2));
}

/* The rare paths of begin (first use of a site or of zones on a thread, a
 * stack too deep), kept out of line so the common path needs no saved
 * registers. */
__attribute__((noinline, cold)) static void begin_slow(gsp_prof_zone_site *site) {
  uint32_t id = __atomic_load_n(&site->id_, __ATOMIC_ACQUIRE);
  if (id == 0) id = register_site(site);
  zone_thread *t = t_zone;
  if (t == NULL && (t = thread_block()) == NULL) return;
  if (t->depth >= MAX_DEPTH || id == 0) {
    t->depth++; /* counted, not timed; end pops it */
    return;
  }
  zone_frame *f = &t->stack[t->depth++];
  f->id = id;
  f->nested = 0;
  f->start = __rdtsc();
}

void gsp_prof_zone_begin(gsp_prof_zone_site *site) {
  uint32_t id = __atomic_load_n(&site->id_, __ATOMIC_ACQUIRE);
  zone_thread *t = t_zone;
  if (__builtin_expect(id == 0 || t == NULL || t->depth >= MAX_DEPTH, 0)) {
    begin_slow(site);
    return;
  }
  zone_frame *f = &t->stack[t->depth++];
  f->id = id;
  f->nested = 0;
  f->start = __rdtsc();
}

/* Adds the zone ending at `now` in frame f (at depth d of t) to cell c. */
static inline void record(zone_thread *t, zone_cell *c, const zone_frame *f, uint32_t d,
                          uint64_t now, const gsp_prof_zone_site *site) {
  if (__builtin_expect(f->id != __atomic_load_n(&site->id_, __ATOMIC_RELAXED), 0))
    bump(&c->mismatched, 1);
  uint64_t total = now - f->start;
  bump(&c->count, 1);
  bump(&c->total, total);
  bump(&c->self, total > f->nested ? total - f->nested : 0);
  bump(&c->hist[bucket_of(total)], 1);
  if (total > atomic_load_explicit(&c->max, memory_order_relaxed))
    atomic_store_explicit(&c->max, total, memory_order_relaxed);
  if (d > 0) t->stack[d - 1].nested += total;
}

/* The first end of a site on this thread: its cell is made here, out of
 * line, so the common path of end makes no call and saves no registers. */
__attribute__((noinline, cold)) static void end_new_cell(zone_thread *t, const zone_frame *f,
                                                         uint32_t d, uint64_t now,
                                                         const gsp_prof_zone_site *site) {
  zone_cell *c = gsp_calloc(1, sizeof *c);
  if (c == NULL) return;
  atomic_store_explicit(&t->cells[f->id], c, memory_order_release);
  record(t, c, f, d, now, site);
}

void gsp_prof_zone_end(gsp_prof_zone_site *site) {
  uint64_t now = __rdtsc();
  zone_thread *t = t_zone;
  if (__builtin_expect(t == NULL || t->depth == 0, 0)) return;
  uint32_t d = --t->depth;
  if (__builtin_expect(d >= MAX_DEPTH, 0)) return;
  const zone_frame *f = &t->stack[d];
  zone_cell *c = atomic_load_explicit(&t->cells[f->id], memory_order_relaxed);
  if (__builtin_expect(c == NULL, 0)) {
    end_new_cell(t, f, d, now, site);
    return;
  }
  record(t, c, f, d, now, site);
}

gsp_prof_zone_site *gsp_prof_zone_enter(gsp_prof_zone_site *site) {
  gsp_prof_zone_begin(site);
  return site;
}

void gsp_prof_zone_leave(gsp_prof_zone_site **site) { gsp_prof_zone_end(*site); }

/* ---- reading ------------------------------------------------------------- */

typedef struct zone_sum {
  uint64_t count, total, self, max, mismatched;
  uint64_t hist[NBUCKETS];
} zone_sum;

static void add_cell(zone_sum *s, zone_cell *c) {
  s->count += atomic_load_explicit(&c->count, memory_order_relaxed);
  s->total += atomic_load_explicit(&c->total, memory_order_relaxed);
  s->self += atomic_load_explicit(&c->self, memory_order_relaxed);
  s->mismatched += atomic_load_explicit(&c->mismatched, memory_order_relaxed);
  uint64_t m = atomic_load_explicit(&c->max, memory_order_relaxed);
  if (m > s->max) s->max = m;
  for (unsigned i = 0; i < NBUCKETS; i++)
    s->hist[i] += atomic_load_explicit(&c->hist[i], memory_order_relaxed);
}

static uint64_t quantile(const zone_sum *s, double q) {
  uint64_t want = (uint64_t)(q * (double)s->count), seen = 0;
  for (unsigned i = 0; i < NBUCKETS; i++) {
    seen += s->hist[i];
    if (seen > want) return bucket_low(i) + (bucket_low(i + 1) - bucket_low(i)) / 2;
  }
  return s->max;
}

/* ns per TSC tick from the calibration pair and now (waits for >= 20 ms). */
static double ns_per_tick(void) {
  uint64_t t1 = __rdtsc(), n1 = mono_ns();
  while (n1 - g_cal_ns < 20000000u) {
    struct timespec ts = {0, (long)(20000000u - (n1 - g_cal_ns))};
    nanosleep(&ts, NULL);
    t1 = __rdtsc();
    n1 = mono_ns();
  }
  return t1 > g_cal_tsc ? (double)(n1 - g_cal_ns) / (double)(t1 - g_cal_tsc) : 1.0;
}

static void fill_stats(gsp_prof_zone_stats *o, const char *name, const zone_sum *s, double k) {
  o->name = name;
  o->count = s->count;
  o->total_ns = (uint64_t)((double)s->total * k);
  o->self_ns = (uint64_t)((double)s->self * k);
  o->max_ns = (uint64_t)((double)s->max * k);
  o->p50_ns = (uint64_t)((double)quantile(s, 0.50) * k);
  o->p90_ns = (uint64_t)((double)quantile(s, 0.90) * k);
  o->p99_ns = (uint64_t)((double)quantile(s, 0.99) * k);
  o->mismatched = s->mismatched;
}

static int by_total_desc(const void *a, const void *b) {
  const gsp_prof_zone_stats *x = a, *y = b;
  return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

int gsp_prof_zones_get(gsp_prof_zone_stats **out, size_t *n) {
  if (!out || !n) return GSP_EINVAL;
  *out = NULL;
  *n = 0;
  uint32_t ns = atomic_load_explicit(&g_nsites, memory_order_acquire);
  if (ns == 0) return GSP_OK;
  zone_sum *sum = gsp_calloc(1, sizeof *sum);
  gsp_prof_zone_stats *st = gsp_calloc(ns, sizeof *st);
  if (!sum || !st) {
    gsp_free(sum);
    gsp_free(st);
    return GSP_ENOMEM;
  }
  double k = ns_per_tick();
  size_t m = 0;
  pthread_mutex_lock(&g_mu);
  for (uint32_t id = 1; id <= ns; id++) {
    memset(sum, 0, sizeof *sum);
    for (zone_thread *t = g_threads; t; t = t->next) {
      zone_cell *c = atomic_load_explicit(&t->cells[id], memory_order_acquire);
      if (c) add_cell(sum, c);
    }
    if (sum->count > 0) fill_stats(&st[m++], g_names[id], sum, k);
  }
  pthread_mutex_unlock(&g_mu);
  gsp_free(sum);
  if (m == 0) {
    gsp_free(st);
    return GSP_OK;
  }
  qsort(st, m, sizeof *st, by_total_desc);
  *out = st;
  *n = m;
  return GSP_OK;
}

void gsp_prof_zones_reset(void) {
  pthread_mutex_lock(&g_mu);
  for (zone_thread *t = g_threads; t; t = t->next) {
    for (uint32_t id = 1; id < MAX_SITES; id++) {
      zone_cell *c = atomic_load_explicit(&t->cells[id], memory_order_relaxed);
      if (c) memset(c, 0, sizeof *c);
    }
  }
  pthread_mutex_unlock(&g_mu);
}
