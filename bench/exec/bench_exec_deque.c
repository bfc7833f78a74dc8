/*
 * bench_exec_deque.c - the pool's Chase-Lev deque (src/exec/deque.c:
 * seq_cst accesses, no fences) next to the same deque written with the
 * seq_cst fences of Le et al. (PPoPP 2013, figure 1), the form the pool
 * used before, in one run.
 *
 * Cells, each a median over rounds, the two deques alternating (order
 * swapped every round):
 *
 *   push+pop    the owner pushes one item the way the pool submits (the
 *               push, then the read of the sleeper count that decides on a
 *               wake-up: a fence between them for the fence deque, none
 *               for the seq_cst one) and pops it at once: nested
 *               fork-join's common case. CPU ns per pair.
 *   steal       the owner pushes N items, then steals them all itself:
 *               one uncontended steal each. CPU ns per steal.
 *   2 threads   the owner pushes N items (pool-style) and pops every
 *               other one while a thief steals: process CPU ns per item,
 *               and wall ns per item.
 *
 * Both deques get a ring big enough for N items, so neither grows. The
 * machine is shared and noisy (MACHINE.md): the load average is printed;
 * read the ratios, which come from the same rounds.
 *
 * Run: bench_exec_deque [--rounds N] [--n ITEMS]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/bench_util.h"
#include "deque.h"
#include "gsperf/common.h"

#define MAX_ROUNDS 31

enum { LOG2_CAP = 21 }; /* 2 Mi slots: no growth at the default N */

static size_t g_n = (size_t)1 << 20;
static char g_items[1];              /* every item points here: never NULL */
static _Atomic unsigned g_nsleeping; /* stands for the pool's sleeper count */
static unsigned g_sink;

/* ---- the fence deque (Le et al., figure 1, as deque.c had it; no growth) ---- */

typedef struct fence_ring {
  int64_t mask;
  _Atomic(void *) slot[];
} fence_ring;

typedef struct fence_deque {
  _Alignas(64) _Atomic int64_t top;
  _Alignas(64) _Atomic int64_t bottom;
  _Atomic(fence_ring *) array;
  int64_t top_seen;
} fence_deque;

static void fence_init(fence_deque *d) {
  int64_t cap = (int64_t)1 << LOG2_CAP;
  fence_ring *a = calloc(1, sizeof(*a) + (size_t)cap * sizeof(a->slot[0]));
  if (a == NULL) abort();
  a->mask = cap - 1;
  atomic_init(&d->top, 0);
  atomic_init(&d->bottom, 0);
  atomic_init(&d->array, a);
  d->top_seen = 0;
}

static void fence_fini(fence_deque *d) { free(atomic_load(&d->array)); }

/* noinline, like the pool's calls into deque.c. */
__attribute__((noinline)) static void fence_push(fence_deque *d, void *x) {
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  fence_ring *a = atomic_load_explicit(&d->array, memory_order_relaxed);
  if (b - d->top_seen > a->mask) {
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    d->top_seen = t;
    if (b - t > a->mask) abort(); /* the ring is sized for every item */
  }
  atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_relaxed);
  atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
}

__attribute__((noinline)) static void *fence_pop(fence_deque *d) {
  if (atomic_load_explicit(&d->top, memory_order_relaxed) >=
      atomic_load_explicit(&d->bottom, memory_order_relaxed))
    return NULL;
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
  fence_ring *a = atomic_load_explicit(&d->array, memory_order_relaxed);
  atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst);
  int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
  if (t > b) {
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    return NULL;
  }
  void *x = atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
  if (t == b) {
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
      x = NULL;
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
  }
  return x;
}

__attribute__((noinline)) static gsp__steal_result fence_steal1(fence_deque *d, void **out) {
  int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
  atomic_thread_fence(memory_order_seq_cst);
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
  if (t >= b) return GSP__STEAL_EMPTY;
  fence_ring *a = atomic_load_explicit(&d->array, memory_order_acquire);
  void *x = atomic_load_explicit(&a->slot[t & a->mask], memory_order_relaxed);
  __builtin_prefetch(x);
  if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                               memory_order_relaxed))
    return GSP__STEAL_ABORT;
  *out = x;
  return GSP__STEAL_OK;
}

static void *fence_steal(fence_deque *d) {
  void *x = NULL;
  gsp__steal_result r;
  while ((r = fence_steal1(d, &x)) == GSP__STEAL_ABORT) {
  }
  return r == GSP__STEAL_OK ? x : NULL;
}

/* As the pool submitted: push, fence, read the sleeper count. */
static void fence_submit(fence_deque *d, void *x) {
  fence_push(d, x);
  atomic_thread_fence(memory_order_seq_cst);
  g_sink += atomic_load_explicit(&g_nsleeping, memory_order_relaxed);
}

/* ---- the pool's deque, driven the same way ---- */

static void *sc_steal(gsp__deque *d) {
  void *x = NULL;
  gsp__steal_result r;
  while ((r = gsp__deque_steal(d, &x)) == GSP__STEAL_ABORT) {
  }
  return r == GSP__STEAL_OK ? x : NULL;
}

/* As the pool submits now: push (seq_cst publish), read the sleeper count. */
static void sc_submit(gsp__deque *d, void *x) {
  if (gsp__deque_push(d, x) != GSP_OK) abort();
  g_sink += atomic_load(&g_nsleeping);
}

/* ---- cells ---- */

enum { K_FENCE = 0, K_SC = 1, NK = 2 };
enum { C_PUSHPOP = 0, C_STEAL = 1, C_TWO_CPU = 2, C_TWO_WALL = 3, NC = 4 };

typedef struct two_ctx {
  int kind;
  fence_deque *fd;
  gsp__deque *sd;
  atomic_bool done;
  _Atomic size_t taken;
} two_ctx;

static void *thief(void *arg) {
  two_ctx *c = arg;
  size_t got = 0;
  for (;;) {
    void *x = c->kind == K_FENCE ? fence_steal(c->fd) : sc_steal(c->sd);
    if (x != NULL)
      got++;
    else if (atomic_load(&c->done))
      break;
  }
  atomic_fetch_add(&c->taken, got);
  return NULL;
}

/* One round of every cell for one kind, into m[cell]. */
static void run_kind(int kind, double m[NC]) {
  fence_deque fd;
  gsp__deque sd;
  fence_init(&fd);
  if (gsp__deque_init(&sd, LOG2_CAP) != GSP_OK) abort();
  uint64_t c0 = gsp_bench_cpu_ns();
  for (size_t i = 0; i < g_n; i++) {
    if (kind == K_FENCE) {
      fence_submit(&fd, g_items);
      g_sink += fence_pop(&fd) != NULL;
    } else {
      sc_submit(&sd, g_items);
      g_sink += gsp__deque_pop(&sd) != NULL;
    }
  }
  m[C_PUSHPOP] = (double)(gsp_bench_cpu_ns() - c0) / (double)g_n;
  for (size_t i = 0; i < g_n; i++)
    kind == K_FENCE ? fence_push(&fd, g_items) : sc_submit(&sd, g_items);
  c0 = gsp_bench_cpu_ns();
  for (size_t i = 0; i < g_n; i++)
    g_sink += (kind == K_FENCE ? fence_steal(&fd) : sc_steal(&sd)) != NULL;
  m[C_STEAL] = (double)(gsp_bench_cpu_ns() - c0) / (double)g_n;
  fence_fini(&fd);
  gsp__deque_fini(&sd);

  fence_init(&fd);
  if (gsp__deque_init(&sd, LOG2_CAP) != GSP_OK) abort();
  two_ctx c = {.kind = kind, .fd = &fd, .sd = &sd};
  atomic_init(&c.done, false);
  atomic_init(&c.taken, 0);
  pthread_t th;
  uint64_t w0 = gsp_bench_wall_ns();
  c0 = gsp_bench_cpu_ns();
  if (pthread_create(&th, NULL, thief, &c) != 0) abort();
  size_t popped = 0;
  for (size_t i = 0; i < g_n; i++) {
    if (kind == K_FENCE) {
      fence_submit(&fd, g_items);
      if (i % 2 == 1) popped += fence_pop(&fd) != NULL;
    } else {
      sc_submit(&sd, g_items);
      if (i % 2 == 1) popped += gsp__deque_pop(&sd) != NULL;
    }
  }
  atomic_store(&c.done, true);
  pthread_join(th, NULL);
  /* Items the owner left behind, once the thief has stopped. */
  void *x;
  while ((x = kind == K_FENCE ? fence_pop(&fd) : gsp__deque_pop(&sd)) != NULL) popped++;
  m[C_TWO_CPU] = (double)(gsp_bench_cpu_ns() - c0) / (double)g_n;
  m[C_TWO_WALL] = (double)(gsp_bench_wall_ns() - w0) / (double)g_n;
  if (popped + atomic_load(&c.taken) != g_n) {
    fprintf(stderr, "bench_exec_deque: lost items (%zu of %zu)\n", popped + atomic_load(&c.taken),
            g_n);
    exit(1);
  }
  fence_fini(&fd);
  gsp__deque_fini(&sd);
}

static void print_load(const char *when) {
  double l[3];
  gsp_bench_loadavg(l);
  printf("# %s: load %.2f %.2f %.2f\n", when, l[0], l[1], l[2]);
}

int main(int argc, char **argv) {
  int rounds = 9;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      rounds = (int)strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
      g_n = (size_t)strtoull(argv[++i], NULL, 10);
  }
  if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 9;
  if (g_n < 1 || g_n > ((size_t)1 << LOG2_CAP)) g_n = (size_t)1 << 20;
  print_load("before");
  static double m[NK][NC][MAX_ROUNDS];
  for (int r = 0; r < rounds; r++) {
    for (int j = 0; j < NK; j++) {
      int kind = (j + r) % NK; /* alternate which deque goes first */
      double v[NC];
      run_kind(kind, v);
      for (int c = 0; c < NC; c++) m[kind][c][r] = v[c];
    }
  }
  print_load("after");
  static const char *const names[NC] = {"push+pop CPU ns", "steal CPU ns", "2 threads CPU ns/item",
                                        "2 threads wall ns/item"};
  printf("%-24s %12s %12s %10s   (%d rounds, %zu items)\n", "cell", "fences", "seq_cst",
         "seq/fence", rounds, g_n);
  for (int c = 0; c < NC; c++) {
    double f = gsp_bench_median(m[K_FENCE][c], (size_t)rounds);
    double s = gsp_bench_median(m[K_SC][c], (size_t)rounds);
    printf("%-24s %12.2f %12.2f %9.2fx\n", names[c], f, s, s / f);
  }
  return g_sink == 0xFFFFFFFFu; /* keeps the sink alive */
}
