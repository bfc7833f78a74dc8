/*
 * zone.c - function timing zones: named regions timed with the TSC.
 *
 * Design. A zone site is a static struct at the call site; its first begin
 * registers it (one mutex, once per site) and gives it an id < MAX_SITES.
 * Each thread owns a zone_thread block: a stack of open zones (site id,
 * start TSC, time spent in nested zones; stack[0] is a sentinel parent, so
 * an end adds to its parent's nested time without a branch) and, per site
 * it has used, a zone_cell with count, total, self, max and a log-linear
 * histogram of total time in TSC ticks (4 sub-buckets per power of two).
 * The block is reached through an initial-exec TLS pointer (one
 * %fs-relative load, no __tls_get_addr call, in the shared library too).
 *
 * The hot path. begin pushes a frame and reads the TSC; end reads the TSC,
 * pops and updates the thread's own cell. Only the owning thread writes a
 * cell, with relaxed load + store (a plain mov on x86: no lock-prefixed
 * instruction); gsp_prof_zones_get reads with relaxed loads, so there is
 * no data race. The rare cases (first zone of a thread, first begin of a
 * site, first end of a site on a thread, a stack deeper than MAX_DEPTH,
 * an end with no open zone, an end naming another site than the innermost
 * zone) are out of line, so the common path saves no registers.
 *
 * The histogram slot of a zone is incremented one zone late: an end
 * increments the slot the previous end left in `pending` and leaves its
 * own there. An increment at an address computed from the TSC just read
 * stalls this machine's pipeline (about 5 of the 25 ns a pair took when it
 * was done at once, measured with bench/prof); the pending slot's address
 * is known long before. Readers add each thread's pending slot, so a
 * thread's counts are complete as soon as its end returns. (An inline
 * fast path in the header was measured too: no faster than this call,
 * whose cost hides under the TSC reads, so the header stays opaque.)
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
 * Invariants: site ids are dense 1..g_nsites, below MAX_SITES (a site
 * that finds no free id keeps 0 and is timed into cell 0, which is never
 * reported); frames 1..min(depth, MAX_DEPTH) of a block are its timed open
 * zones (deeper begins are counted in depth, not timed); pending points
 * into one of the block's cells' histograms or at its spare; a cell
 * pointer, once set, never changes (cells live as long as the process).
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
  uint64_t count, total, self, max, mismatched;
  uint64_t hist[NBUCKETS];
} zone_cell;

typedef struct zone_frame {
  uint64_t start, nested;
  uint32_t id;
} zone_frame;

typedef struct zone_thread {
  uint32_t depth;
  uint64_t *pending; /* histogram slot of the latest end, or &spare */
  uint64_t spare;    /* counts nothing */
  struct zone_thread *next;
  zone_frame stack[MAX_DEPTH + 1];
  zone_cell *cells[MAX_SITES];
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
  t->pending = &t->spare;
  pthread_mutex_lock(&g_mu);
  t->next = g_threads;
  g_threads = t;
  pthread_mutex_unlock(&g_mu);
  t_zone = t;
  return t;
}

/* Owner-only add: relaxed load + store, no lock prefix. */
static void bump(uint64_t *f, uint64_t v) {
  __atomic_store_n(f, __atomic_load_n(f, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
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
  if (id == 0 && atomic_load_explicit(&g_nsites, memory_order_relaxed) + 1 < MAX_SITES)
    id = register_site(site); /* (once the ids run out, without the mutex) */
  zone_thread *t = t_zone;
  if (t == NULL && (t = thread_block()) == NULL) return;
  if (t->depth >= MAX_DEPTH) {
    t->depth++; /* counted, not timed; end pops it */
    return;
  }
  /* id 0: more sites than MAX_SITES; timed into cell 0, never reported,
   * so that the stack and the parent's self time stay right */
  zone_frame *f = &t->stack[++t->depth];
  f->id = id;
  f->nested = 0;
  f->start = __rdtsc();
}

void gsp_prof_zone_begin(gsp_prof_zone_site *site) {
  uint32_t id = __atomic_load_n(&site->id_, __ATOMIC_RELAXED);
  zone_thread *t = t_zone;
  if (__builtin_expect(id == 0 || t == NULL || t->depth >= MAX_DEPTH, 0)) {
    begin_slow(site);
    return;
  }
  zone_frame *f = &t->stack[++t->depth];
  f->id = id;
  f->nested = 0;
  f->start = __rdtsc();
}

/* Adds the zone of frame f, ending at `now`, to cell c, and its time to
 * the parent's nested time; the histogram slot one zone late (above). */
static inline void record(zone_thread *t, zone_cell *c, zone_frame *f, uint64_t now) {
  uint64_t total = now - f->start;
  f[-1].nested += total;
  bump(&c->count, 1);
  bump(&c->total, total);
  bump(&c->self, total > f->nested ? total - f->nested : 0);
  bump(t->pending, 1);
  __atomic_store_n(&t->pending, &c->hist[bucket_of(total)], __ATOMIC_RELAXED);
  if (total > __atomic_load_n(&c->max, __ATOMIC_RELAXED))
    __atomic_store_n(&c->max, total, __ATOMIC_RELAXED);
}

/* The rare paths of end: no open zone (ignored), an untimed zone (popped),
 * the first end of a site on this thread (its cell is made here), an end
 * that names another site than the innermost zone (that zone is ended and
 * counted as mismatched). */
__attribute__((noinline, cold)) static void end_slow(zone_thread *t, gsp_prof_zone_site *site,
                                                     uint64_t now) {
  if (t == NULL || t->depth == 0) return;
  uint32_t d = t->depth--;
  if (d > MAX_DEPTH) return;
  zone_frame *f = &t->stack[d];
  zone_cell *c = t->cells[f->id];
  if (c == NULL) {
    c = gsp_calloc(1, sizeof *c);
    if (c == NULL) return; /* this zone is lost; the stack stays right */
    __atomic_store_n(&t->cells[f->id], c, __ATOMIC_RELEASE);
  }
  if (f->id != __atomic_load_n(&site->id_, __ATOMIC_RELAXED)) bump(&c->mismatched, 1);
  record(t, c, f, now);
}

void gsp_prof_zone_end(gsp_prof_zone_site *site) {
  uint64_t now = __rdtsc();
  zone_thread *t = t_zone;
  uint32_t d = t ? t->depth : 0;
  if (__builtin_expect(d - 1u >= MAX_DEPTH, 0)) { /* d == 0 or d > MAX_DEPTH */
    end_slow(t, site, now);
    return;
  }
  zone_frame *f = &t->stack[d];
  zone_cell *c = t->cells[f->id];
  if (__builtin_expect(c == NULL || f->id != __atomic_load_n(&site->id_, __ATOMIC_RELAXED), 0)) {
    end_slow(t, site, now);
    return;
  }
  t->depth = d - 1;
  record(t, c, f, now);
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

/* Adds cell c of a thread whose pending histogram slot is `pending`. */
static void add_cell(zone_sum *s, zone_cell *c, const uint64_t *pending) {
  s->count += __atomic_load_n(&c->count, __ATOMIC_RELAXED);
  s->total += __atomic_load_n(&c->total, __ATOMIC_RELAXED);
  s->self += __atomic_load_n(&c->self, __ATOMIC_RELAXED);
  s->mismatched += __atomic_load_n(&c->mismatched, __ATOMIC_RELAXED);
  uint64_t m = __atomic_load_n(&c->max, __ATOMIC_RELAXED);
  if (m > s->max) s->max = m;
  for (unsigned i = 0; i < NBUCKETS; i++)
    s->hist[i] += __atomic_load_n(&c->hist[i], __ATOMIC_RELAXED);
  uintptr_t p = (uintptr_t)pending, h = (uintptr_t)c->hist;
  if (p >= h && p < h + sizeof c->hist) s->hist[(p - h) / sizeof c->hist[0]]++;
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
      zone_cell *c = __atomic_load_n(&t->cells[id], __ATOMIC_ACQUIRE);
      if (c) add_cell(sum, c, __atomic_load_n(&t->pending, __ATOMIC_RELAXED));
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
    __atomic_store_n(&t->pending, &t->spare, __ATOMIC_RELAXED);
    for (uint32_t id = 1; id < MAX_SITES; id++) {
      zone_cell *c = __atomic_load_n(&t->cells[id], __ATOMIC_RELAXED);
      if (c) memset(c, 0, sizeof *c);
    }
  }
  pthread_mutex_unlock(&g_mu);
}
