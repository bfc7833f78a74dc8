/*
 * bench_balance.c - the gsperf balancers next to what a host would write by
 * hand, in one run.
 *
 * What is measured. One operation is a pick and its release (success, a
 * made-up latency), over 16 backends with weights 1..4 (names "backend-i"),
 * keys from a set of 4096 strings for consistent hashing. Every subject
 * runs on 1 and on 2 threads; each thread does the same number of
 * operations. The table shows millions of operations per second (wall
 * clock, all threads) and CPU nanoseconds per operation (process CPU time /
 * operations), medians over rounds.
 *
 * Subjects. gsperf: all seven strategies, and consistent hashing with
 * bounded loads (hash_load_eps 0.25: a sum over the backends per pick).
 * Peers, written here as a host
 * would write them (Debian packages no C load-balancing library):
 *   mutex-rr      round robin under a pthread mutex, with per-backend
 *                 active, success and latency-sum counters (what gsperf
 *                 counts too) and an up flag checked per pick;
 *   mutex-swrr    nginx's smooth weighted round robin computed per pick
 *                 (O(n)) under a mutex, same counters;
 *   mutex-lc      least connections (active / weight scan) under a mutex;
 *   rwlock-ring   consistent hashing on a sorted ring of virtual nodes, 160
 *                 per backend on average (ketama's count) in proportion to
 *                 weight, XXH3 hashes, binary search under a pthread rwlock
 *                 read lock, atomic counters.
 * Each peer is paired with its gsperf strategy; the ratio column is the
 * median of per-round ratios (gsperf ops/s divided by the peer's), so both
 * sides of a ratio ran under the same machine conditions.
 *
 * Quality of consistent hashing, side by side: for Maglev (gsperf, M =
 * 65537) and the ring, the most loaded backend's share of 200000 keys
 * over the fair share, and the fraction of keys that move when backend-5
 * (weight 2 of 40) leaves; its fair share, 0.05, is the least possible.
 *
 * How. A round runs every (subject, threads) cell once, subjects in a
 * rotated order. The machine is shared and noisy (MACHINE.md): the load
 * average is printed before and after; the 2-thread figures mean scaling
 * only when the machine is otherwise idle.
 *
 * Run: bench_balance [--quick] [--rounds N]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "gsperf/balance.h"
#include "../support/bench_util.h"

#define NB 16
#define NKEYS 4096
#define VNODES 160
#define MAX_SUBJECTS 12
#define MAX_ROUNDS 15

static char g_keys[NKEYS][16];
static size_t g_keylen[NKEYS];
static uint32_t weight_of(unsigned i) { return 1 + i % 4; }

typedef struct subject {
  const char *name;
  int peer_of; /* index of the gsperf subject it is compared with, or -1 */
  void *(*setup)(int arg);
  void (*op)(void *ctx, uint64_t i);
  void (*teardown)(void *ctx);
  int arg;
} subject;

/* ---- gsperf ------------------------------------------------------------------ */

#define BOUNDED 100 /* setup argument: CONSISTENT_HASH with hash_load_eps 0.25 */

static void *g_setup(int strategy) {
  gsp_balancer *b;
  gsp_balance_config cfg = {.strategy = strategy};
  if (strategy == BOUNDED)
    cfg = (gsp_balance_config){.strategy = GSP_BALANCE_CONSISTENT_HASH, .hash_load_eps = 0.25};
  if (gsp_balance_create(&cfg, &b) != GSP_OK) abort();
  for (unsigned i = 0; i < NB; i++) {
    char name[32];
    snprintf(name, sizeof name, "backend-%u", i);
    if (gsp_balance_add(b, name, weight_of(i), NULL) != GSP_OK) abort();
  }
  return b;
}

static void g_op(void *ctx, uint64_t i) {
  gsp_balance_ticket t;
  unsigned k = (unsigned)(i & (NKEYS - 1));
  if (gsp_balance_pick(ctx, g_keys[k], g_keylen[k], &t) != GSP_OK) abort();
  gsp_balance_release(ctx, &t, GSP_BALANCE_SUCCESS, 1000 + (i & 7) * 100);
}

static void g_teardown(void *ctx) { gsp_balance_destroy(ctx); }

/* ---- mutex peers ---------------------------------------------------------------- */

typedef struct mpeer {
  pthread_mutex_t mu;
  unsigned next;
  int64_t cw[NB];
  uint32_t w[NB];
  unsigned active[NB];
  uint64_t succ[NB];
  uint64_t lat_sum[NB];
  bool up[NB];
} mpeer;

static void *m_setup(int arg) {
  (void)arg;
  mpeer *m = calloc(1, sizeof *m);
  pthread_mutex_init(&m->mu, NULL);
  for (unsigned i = 0; i < NB; i++) {
    m->w[i] = weight_of(i);
    m->up[i] = true;
  }
  return m;
}

static void m_release(mpeer *m, unsigned i, uint64_t n) {
  pthread_mutex_lock(&m->mu);
  m->active[i]--;
  m->succ[i]++;
  m->lat_sum[i] += 1000 + (n & 7) * 100;
  pthread_mutex_unlock(&m->mu);
}

static void m_rr_op(void *ctx, uint64_t n) {
  mpeer *m = ctx;
  pthread_mutex_lock(&m->mu);
  unsigned i = m->next;
  while (!m->up[i]) i = (i + 1) % NB;
  m->next = (i + 1) % NB;
  m->active[i]++;
  pthread_mutex_unlock(&m->mu);
  m_release(m, i, n);
}

static void m_swrr_op(void *ctx, uint64_t n) {
  mpeer *m = ctx;
  pthread_mutex_lock(&m->mu);
  int64_t total = 0;
  unsigned best = NB;
  for (unsigned i = 0; i < NB; i++) {
    if (!m->up[i]) continue;
    m->cw[i] += m->w[i];
    total += m->w[i];
    if (best == NB || m->cw[i] > m->cw[best]) best = i;
  }
  m->cw[best] -= total;
  m->active[best]++;
  pthread_mutex_unlock(&m->mu);
  m_release(m, best, n);
}

static void m_lc_op(void *ctx, uint64_t n) {
  mpeer *m = ctx;
  pthread_mutex_lock(&m->mu);
  unsigned best = NB;
  for (unsigned i = 0; i < NB; i++) {
    if (!m->up[i]) continue;
    if (best == NB || (uint64_t)m->active[i] * m->w[best] < (uint64_t)m->active[best] * m->w[i])
      best = i;
  }
  m->active[best]++;
  pthread_mutex_unlock(&m->mu);
  m_release(m, best, n);
}

static void m_teardown(void *ctx) {
  mpeer *m = ctx;
  pthread_mutex_destroy(&m->mu);
  free(m);
}

/* ---- sorted ring peer --------------------------------------------------------- */

typedef struct vnode {
  uint64_t h;
  unsigned b;
} vnode;

typedef struct ring {
  pthread_rwlock_t lk;
  vnode *v;
  size_t n;
  atomic_uint active[NB];
  atomic_uint_fast64_t succ[NB];
  atomic_uint_fast64_t lat_sum[NB];
} ring;

static int vnode_cmp(const void *a, const void *c) {
  uint64_t x = ((const vnode *)a)->h, y = ((const vnode *)c)->h;
  return x < y ? -1 : x > y;
}

/* Build the ring of the backends whose bit is set in `mask`. */
static void ring_build(ring *r, unsigned mask) {
  r->n = 0;
  for (unsigned i = 0; i < NB; i++) {
    if (!(mask >> i & 1)) continue;
    for (unsigned k = 0; k < VNODES * weight_of(i) * 2 / 5; k++) {
      char s[48];
      int len = snprintf(s, sizeof s, "backend-%u-%u", i, k);
      r->v[r->n++] = (vnode){XXH3_64bits(s, (size_t)len), i};
    }
  }
  qsort(r->v, r->n, sizeof *r->v, vnode_cmp);
}

static void *ring_setup(int arg) {
  (void)arg;
  ring *r = calloc(1, sizeof *r);
  pthread_rwlock_init(&r->lk, NULL);
  r->v = calloc((size_t)NB * VNODES * 4, sizeof *r->v);
  ring_build(r, (1u << NB) - 1);
  return r;
}

static unsigned ring_lookup(const ring *r, const void *key, size_t len) {
  uint64_t h = XXH3_64bits(key, len);
  size_t lo = 0, hi = r->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (r->v[mid].h < h)
      lo = mid + 1;
    else
      hi = mid;
  }
  return r->v[lo == r->n ? 0 : lo].b;
}

static void ring_op(void *ctx, uint64_t n) {
  ring *r = ctx;
  unsigned k = (unsigned)(n & (NKEYS - 1));
  pthread_rwlock_rdlock(&r->lk);
  unsigned b = ring_lookup(r, g_keys[k], g_keylen[k]);
  atomic_fetch_add_explicit(&r->active[b], 1, memory_order_relaxed);
  pthread_rwlock_unlock(&r->lk);
  pthread_rwlock_rdlock(&r->lk);
  atomic_fetch_sub_explicit(&r->active[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&r->succ[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&r->lat_sum[b], 1000 + (n & 7) * 100, memory_order_relaxed);
  pthread_rwlock_unlock(&r->lk);
}

static void ring_teardown(void *ctx) {
  ring *r = ctx;
  pthread_rwlock_destroy(&r->lk);
  free(r->v);
  free(r);
}

/* ---- the runner ------------------------------------------------------------------ */

typedef struct run {
  const subject *s;
  void *ctx;
  uint64_t ops;
  unsigned tid;
  pthread_barrier_t *bar;
} run;

static void *worker(void *arg) {
  run *r = arg;
  pthread_barrier_wait(r->bar);
  uint64_t base = (uint64_t)r->tid * 7919;
  for (uint64_t i = 0; i < r->ops; i++) r->s->op(r->ctx, base + i);
  return NULL;
}

/* Ops per second (wall) and CPU ns per op of one cell. */
static void cell(const subject *s, unsigned threads, uint64_t ops, double *mops, double *cpu) {
  void *ctx = s->setup(s->arg);
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, threads + 1);
  pthread_t th[2];
  run r[2];
  for (unsigned t = 0; t < threads; t++) {
    r[t] = (run){s, ctx, ops, t, &bar};
    pthread_create(&th[t], NULL, worker, &r[t]);
  }
  uint64_t c0 = gsp_bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID),
           w0 = gsp_bench_clock_ns(CLOCK_MONOTONIC);
  pthread_barrier_wait(&bar);
  for (unsigned t = 0; t < threads; t++) pthread_join(th[t], NULL);
  uint64_t w1 = gsp_bench_clock_ns(CLOCK_MONOTONIC),
           c1 = gsp_bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  pthread_barrier_destroy(&bar);
  s->teardown(ctx);
  double total = (double)ops * threads;
  *mops = total / ((double)(w1 - w0) / 1e3);
  *cpu = (double)(c1 - c0) / total;
}

static unsigned make_subjects(subject *s) {
  unsigned n = 0;
  for (int st = GSP_BALANCE_ROUND_ROBIN; st <= GSP_BALANCE_LEAST_LATENCY; st++)
    s[n++] = (subject){gsp_balance_strategy_name(st), -1, g_setup, g_op, g_teardown, st};
  s[n++] = (subject){"consistent_hash eps.25", -1, g_setup, g_op, g_teardown, BOUNDED};
  s[n++] = (subject){"mutex-rr", GSP_BALANCE_ROUND_ROBIN, m_setup, m_rr_op, m_teardown, 0};
  s[n++] =
      (subject){"mutex-swrr", GSP_BALANCE_WEIGHTED_ROUND_ROBIN, m_setup, m_swrr_op, m_teardown, 0};
  s[n++] = (subject){"mutex-lc", GSP_BALANCE_LEAST_CONNECTIONS, m_setup, m_lc_op, m_teardown, 0};
  s[n++] =
      (subject){"rwlock-ring", GSP_BALANCE_CONSISTENT_HASH, ring_setup, ring_op, ring_teardown, 0};
  return n;
}

static void print_machine(const char *when) {
  double l[3];
  gsp_bench_loadavg(l);
  struct utsname u;
  uname(&u);
  printf("# %s: %s %s, %ld CPUs online, load %.2f %.2f %.2f\n", when, u.sysname, u.release,
         sysconf(_SC_NPROCESSORS_ONLN), l[0], l[1], l[2]);
}

/* ---- consistent-hash quality ------------------------------------------------------ */

#define QKEYS 200000

static void quality_maglev(double *imb, double *moved) {
  static unsigned map[QKEYS];
  unsigned cnt[NB] = {0}, mv = 0;
  gsp_balancer *b = g_setup(GSP_BALANCE_CONSISTENT_HASH);
  for (int pass = 0; pass < 2; pass++) {
    for (unsigned k = 0; k < QKEYS; k++) {
      char key[24];
      int len = snprintf(key, sizeof key, "q%u", k);
      gsp_balance_ticket t;
      gsp_balance_pick(b, key, (size_t)len, &t);
      gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 1);
      unsigned id = gsp_balance_ticket_backend(&t);
      if (pass == 0) {
        map[k] = id;
        cnt[id]++;
      } else {
        mv += map[k] != id;
      }
    }
    if (pass == 0) gsp_balance_remove(b, 5);
  }
  gsp_balance_destroy(b);
  double mx = 0, wsum = 0;
  for (unsigned i = 0; i < NB; i++) wsum += weight_of(i);
  for (unsigned i = 0; i < NB; i++) {
    double r = cnt[i] / (QKEYS * weight_of(i) / wsum);
    mx = r > mx ? r : mx;
  }
  *imb = mx;
  *moved = (double)mv / QKEYS;
}

static void quality_ring(double *imb, double *moved) {
  static unsigned map[QKEYS];
  unsigned cnt[NB] = {0}, mv = 0;
  ring *r = ring_setup(0);
  for (int pass = 0; pass < 2; pass++) {
    for (unsigned k = 0; k < QKEYS; k++) {
      char key[24];
      int len = snprintf(key, sizeof key, "q%u", k);
      unsigned id = ring_lookup(r, key, (size_t)len);
      if (pass == 0) {
        map[k] = id;
        cnt[id]++;
      } else {
        mv += map[k] != id;
      }
    }
    if (pass == 0) ring_build(r, ((1u << NB) - 1) & ~(1u << 5));
  }
  ring_teardown(r);
  double mx = 0, wsum = 0;
  for (unsigned i = 0; i < NB; i++) wsum += weight_of(i);
  for (unsigned i = 0; i < NB; i++) {
    double q = cnt[i] / (QKEYS * weight_of(i) / wsum);
    mx = q > mx ? q : mx;
  }
  *imb = mx;
  *moved = (double)mv / QKEYS;
}

/* ---- main ------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  unsigned rounds = 5;
  uint64_t ops = 2000000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      rounds = 2;
      ops = 200000;
    } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = (unsigned)strtoul(argv[++i], NULL, 10);
      if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 5;
    } else {
      fprintf(stderr, "usage: bench_balance [--quick] [--rounds N]\n");
      return 2;
    }
  }
  for (unsigned k = 0; k < NKEYS; k++)
    g_keylen[k] = (size_t)snprintf(g_keys[k], sizeof g_keys[k], "key-%u", k);
  subject s[MAX_SUBJECTS];
  unsigned ns = make_subjects(s);
  static double mops[MAX_SUBJECTS][2][MAX_ROUNDS], cpu[MAX_SUBJECTS][2][MAX_ROUNDS];
  print_machine("before");
  printf("# %u backends (weights 1..4), %u rounds, %llu pick+release per thread per cell\n", NB,
         rounds, (unsigned long long)ops);
  for (unsigned r = 0; r < rounds; r++) {
    for (unsigned j = 0; j < ns; j++) {
      unsigned i = (j + r) % ns;
      for (unsigned t = 0; t < 2; t++) cell(&s[i], t + 1, ops, &mops[i][t][r], &cpu[i][t][r]);
    }
  }
  printf("%-22s %8s %8s %8s %8s %16s\n", "subject", "Mops/s1", "ns/op1", "Mops/s2", "ns/op2",
         "gsperf/peer 1|2");
  for (unsigned i = 0; i < ns; i++) {
    double ratio[2] = {0, 0};
    for (unsigned t = 0; t < 2 && s[i].peer_of >= 0; t++) {
      double q[MAX_ROUNDS];
      for (unsigned r = 0; r < rounds; r++) q[r] = mops[s[i].peer_of][t][r] / mops[i][t][r];
      ratio[t] = gsp_bench_median(q, rounds);
    }
    double m1 = gsp_bench_median(mops[i][0], rounds), c1 = gsp_bench_median(cpu[i][0], rounds);
    double m2 = gsp_bench_median(mops[i][1], rounds), c2 = gsp_bench_median(cpu[i][1], rounds);
    if (s[i].peer_of >= 0)
      printf("%-22s %8.2f %8.1f %8.2f %8.1f %7.2fx|%6.2fx  (vs %s)\n", s[i].name, m1, c1, m2, c2,
             ratio[0], ratio[1], s[s[i].peer_of].name);
    else
      printf("%-22s %8.2f %8.1f %8.2f %8.1f\n", s[i].name, m1, c1, m2, c2);
  }
  double mi, mm, ri, rm;
  quality_maglev(&mi, &mm);
  quality_ring(&ri, &rm);
  double wsum = 0;
  for (unsigned i = 0; i < NB; i++) wsum += weight_of(i);
  printf(
      "# consistent hashing, %d keys over %d backends: most loaded / fair share, "
      "keys moved when backend-5 leaves (its fair share, the least possible: %.4f)\n",
      QKEYS, NB, weight_of(5) / wsum);
  printf("%-22s %8.3f %8.4f\n", "maglev (gsperf)", mi, mm);
  printf("%-22s %8.3f %8.4f\n", "ring 160 vnodes", ri, rm);
  print_machine("after");
  return 0;
}
