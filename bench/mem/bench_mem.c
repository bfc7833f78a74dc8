/*
 * bench_mem.c - the gsperf object pool and arena next to general allocators,
 * in one run.
 *
 * What is measured. CPU nanoseconds per alloc+free pair of 64-byte objects:
 *
 *   local   one thread allocates a window of 64 objects, writes the first
 *           word of each, then frees the 64 in allocation order.
 *   cross   a producer thread allocates a chunk of 16384 objects and
 *           writes each; a consumer thread then checks and frees all of
 *           them (every free is a cross-thread free); repeat. The threads
 *           take turns through a barrier and each times only its own work
 *           (CLOCK_THREAD_CPUTIME_ID), so the figure is the CPU time of
 *           allocating on one thread and freeing on another, per pair,
 *           without the hand-over's wake-ups, which would swamp it here
 *           (a wake-up costs 10-20 us, MACHINE.md).
 *
 * and CPU ns per gsp_arena_alloc of 64 bytes (16-aligned), with a reset
 * every 1024 allocations (its cost included); and the local workload once
 * more for the pool called directly (gsp_pool_alloc/gsp_pool_free, no
 * function-pointer wrapper), which is what a host pays.
 *
 * Subjects. gsperf pool (default config); glibc malloc/free; jemalloc
 * (mallocx/dallocx), mimalloc (mi_malloc/mi_free) and tcmalloc
 * (tc_malloc/tc_free), each loaded with dlopen(RTLD_LOCAL) so that none of
 * them replaces the process's malloc (Debian packages libjemalloc-dev,
 * libmimalloc-dev, libgoogle-perftools-dev; a library that does not load is
 * reported and skipped); and "freelist", what a host writes by hand: a
 * thread-local LIFO stack of freed objects capped at 4096, backed by malloc.
 * Every subject is called through the same function-pointer wrapper; the
 * "(harness)" row measures that alone: an alloc that hands out the slots
 * of a fixed array in turn and a free that does nothing, so subject minus
 * harness is what the allocator itself costs.
 *
 * How. A round runs every (workload, subject) cell once, subjects in a
 * rotated order; rounds repeat and the table shows medians; ratios are
 * medians of per-round ratios (subject / gsperf pool), so two subjects are
 * always compared under the same machine conditions. The machine is shared
 * and noisy (MACHINE.md): read the CPU figures, and the load line.
 *
 * Run: bench_mem [--quick] [--rounds N]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "gsperf/mem.h"
#include "../support/bench_util.h"

#define OBJ 64u
#define WINDOW 64u
#define CHUNK 16384u
#define MAX_SUBJECTS 8
#define MAX_ROUNDS 15

typedef struct subject {
  const char *name;
  void *(*alloc)(void *ctx);
  void (*free)(void *ctx, void *p);
  void *ctx;
  const char *missing; /* why it is skipped, or NULL */
} subject;

/* ---- subjects ------------------------------------------------------------- */

static void *pool_alloc(void *ctx) { return gsp_pool_alloc(ctx); }
static void pool_free(void *ctx, void *p) { gsp_pool_free(ctx, p); }
static void *libc_alloc(void *ctx) { return malloc(OBJ); }
static void libc_free(void *ctx, void *p) { free(p); }

static void *(*je_mallocx)(size_t, int);
static void (*je_dallocx)(void *, int);
static void *je_alloc(void *ctx) { return je_mallocx(OBJ, 0); }
static void je_free(void *ctx, void *p) { je_dallocx(p, 0); }

static void *(*mi_malloc_p)(size_t);
static void (*mi_free_p)(void *);
static void *mi_alloc(void *ctx) { return mi_malloc_p(OBJ); }
static void mi_free_(void *ctx, void *p) { mi_free_p(p); }

static void *(*tc_malloc_p)(size_t);
static void (*tc_free_p)(void *);
static void *tc_alloc(void *ctx) { return tc_malloc_p(OBJ); }
static void tc_free_(void *ctx, void *p) { tc_free_p(p); }

/* The hand-written peer: a capped thread-local stack over malloc. */
#define FL_CAP 4096u
static __thread void *fl_head;
static __thread unsigned fl_n;
static void *fl_alloc(void *ctx) {
  void *p = fl_head;
  if (p == NULL) return malloc(OBJ);
  fl_head = *(void **)p;
  fl_n--;
  return p;
}
static void fl_free(void *ctx, void *p) {
  if (fl_n == FL_CAP) {
    free(p);
    return;
  }
  *(void **)p = fl_head;
  fl_head = p;
  fl_n++;
}

/* The harness floor: the calls and the loop, no allocator. */
static _Alignas(64) unsigned char h_slots[CHUNK][OBJ];
static __thread unsigned h_next;
static void *h_alloc(void *ctx) {
  void *p = h_slots[h_next];
  h_next = (h_next + 1) % CHUNK;
  return p;
}
static void h_free(void *ctx, void *p) {}

/* dlsym two symbols from lib; on failure record why in s->missing. */
static bool load2(subject *s, const char *lib, const char *a, void **pa, const char *b, void **pb) {
  static char why[MAX_SUBJECTS][160];
  static unsigned nwhy;
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL && nwhy < MAX_SUBJECTS) {
    snprintf(why[nwhy], sizeof why[nwhy], "%s", dlerror());
    s->missing = why[nwhy++];
    return false;
  }
  if (h != NULL) {
    *pa = dlsym(h, a);
    *pb = dlsym(h, b);
  }
  if (h == NULL || *pa == NULL || *pb == NULL) {
    s->missing = "symbol not found";
    return false;
  }
  return true;
}

static unsigned make_subjects(subject *s, gsp_pool *pool) {
  unsigned n = 0;
  s[n++] = (subject){"gsperf-pool", pool_alloc, pool_free, pool, NULL};
  s[n++] = (subject){"glibc", libc_alloc, libc_free, NULL, NULL};
  s[n] = (subject){"jemalloc", je_alloc, je_free, NULL, NULL};
  load2(&s[n++], "libjemalloc.so.2", "mallocx", (void **)&je_mallocx, "dallocx",
        (void **)&je_dallocx);
  s[n] = (subject){"mimalloc", mi_alloc, mi_free_, NULL, NULL};
  load2(&s[n++], "libmimalloc.so.2", "mi_malloc", (void **)&mi_malloc_p, "mi_free",
        (void **)&mi_free_p);
  s[n] = (subject){"tcmalloc", tc_alloc, tc_free_, NULL, NULL};
  load2(&s[n++], "libtcmalloc_minimal.so.4", "tc_malloc", (void **)&tc_malloc_p, "tc_free",
        (void **)&tc_free_p);
  s[n++] = (subject){"freelist", fl_alloc, fl_free, NULL, NULL};
  s[n++] = (subject){"(harness)", h_alloc, h_free, NULL, NULL};
  return n;
}

/* ---- workloads ------------------------------------------------------------ */

static double run_local(const subject *s, uint64_t pairs) {
  void *w[WINDOW];
  uint64_t c0 = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
  for (uint64_t done = 0; done < pairs; done += WINDOW) {
    for (unsigned i = 0; i < WINDOW; i++) {
      w[i] = s->alloc(s->ctx);
      *(uint64_t *)w[i] = done + i;
    }
    for (unsigned i = 0; i < WINDOW; i++) s->free(s->ctx, w[i]);
  }
  return (double)(gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)pairs;
}

typedef struct xfer {
  const subject *s;
  uint64_t pairs;
  uint64_t bad;
  uint64_t cpu[2];
  pthread_barrier_t bar;
  void *obj[CHUNK];
} xfer;

static void *producer(void *arg) {
  xfer *x = arg;
  for (uint64_t done = 0; done < x->pairs; done += CHUNK) {
    uint64_t c0 = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (unsigned i = 0; i < CHUNK; i++) {
      x->obj[i] = x->s->alloc(x->s->ctx);
      *(uint64_t *)x->obj[i] = done + i;
    }
    x->cpu[0] += gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    pthread_barrier_wait(&x->bar); /* hand the chunk over */
    pthread_barrier_wait(&x->bar); /* the consumer has freed it */
  }
  return NULL;
}

static void *consumer(void *arg) {
  xfer *x = arg;
  for (uint64_t done = 0; done < x->pairs; done += CHUNK) {
    pthread_barrier_wait(&x->bar);
    uint64_t c0 = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (unsigned i = 0; i < CHUNK; i++) {
      x->bad += *(uint64_t *)x->obj[i] != done + i;
      x->s->free(x->s->ctx, x->obj[i]);
    }
    x->cpu[1] += gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    pthread_barrier_wait(&x->bar);
  }
  return NULL;
}

static double run_cross(const subject *s, uint64_t pairs) {
  static xfer x;
  x.s = s;
  x.pairs = pairs;
  x.bad = x.cpu[0] = x.cpu[1] = 0;
  pthread_barrier_init(&x.bar, NULL, 2);
  pthread_t tp, tc;
  pthread_create(&tc, NULL, consumer, &x);
  pthread_create(&tp, NULL, producer, &x);
  pthread_join(tp, NULL);
  pthread_join(tc, NULL);
  pthread_barrier_destroy(&x.bar);
  if (x.bad != 0) fprintf(stderr, "%s: %llu corrupt objects\n", s->name, (unsigned long long)x.bad);
  return (double)(x.cpu[0] + x.cpu[1]) / (double)pairs;
}

static double run_arena(gsp_arena *a, uint64_t allocs) {
  uint64_t c0 = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
  for (uint64_t done = 0; done < allocs; done += 1024) {
    for (unsigned i = 0; i < 1024; i++) {
      uint64_t *p = gsp_arena_alloc(a, OBJ, 16);
      *p = i;
    }
    gsp_arena_reset(a);
  }
  return (double)(gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)allocs;
}

/* ---- report --------------------------------------------------------------- */

static void print_machine(unsigned rounds, uint64_t pairs) {
  char cpu[128], load[128];
  struct utsname u;
  uname(&u);
  gsp_bench_read_line("/proc/cpuinfo", "model name", cpu, sizeof cpu);
  gsp_bench_read_line("/proc/loadavg", "", load, sizeof load);
  printf("machine: %s, nproc %ld, kernel %s %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN), u.sysname,
         u.release);
  printf("load average: %s\n", load);
  printf("%u rounds, %llu pairs per cell, subjects rotated; medians of CPU ns\n\n", rounds,
         (unsigned long long)pairs);
}

/* The local workload with direct calls to the pool. */
static double run_local_pool(gsp_pool *p, uint64_t pairs) {
  void *w[WINDOW];
  uint64_t c0 = gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
  for (uint64_t done = 0; done < pairs; done += WINDOW) {
    for (unsigned i = 0; i < WINDOW; i++) {
      w[i] = gsp_pool_alloc(p);
      *(uint64_t *)w[i] = done + i;
    }
    for (unsigned i = 0; i < WINDOW; i++) gsp_pool_free(p, w[i]);
  }
  return (double)(gsp_bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)pairs;
}

typedef struct results {
  double local[MAX_SUBJECTS][MAX_ROUNDS];
  double cross[MAX_SUBJECTS][MAX_ROUNDS];
  double arena[MAX_ROUNDS];
  double direct[MAX_ROUNDS];
} results;

static void print_table(const subject *s, unsigned n, const results *r, unsigned rounds) {
  printf("%-12s %14s %9s %14s %9s\n", "subject", "local ns/pair", "x pool", "cross ns/pair",
         "x pool");
  for (unsigned k = 0; k < n; k++) {
    if (s[k].missing != NULL) {
      printf("%-12s skipped: %s\n", s[k].name, s[k].missing);
      continue;
    }
    double rl[MAX_ROUNDS], rc[MAX_ROUNDS];
    for (unsigned i = 0; i < rounds; i++) {
      rl[i] = r->local[k][i] / r->local[0][i];
      rc[i] = r->cross[k][i] / r->cross[0][i];
    }
    printf("%-12s %14.2f %8.2fx %14.2f %8.2fx\n", s[k].name,
           gsp_bench_median_of(r->local[k], rounds), gsp_bench_median_of(rl, rounds),
           gsp_bench_median_of(r->cross[k], rounds), gsp_bench_median_of(rc, rounds));
  }
  printf("\npool, direct calls (no wrapper), local: %.2f ns/pair\n",
         gsp_bench_median_of(r->direct, rounds));
  printf("arena alloc (64 B, reset every 1024): %.2f ns/alloc\n",
         gsp_bench_median_of(r->arena, rounds));
  printf("goals (issue 7): pool <= 3.5 ns local, <= 10 ns cross-thread; arena <= 2 ns\n");
  printf("x pool = subject / gsperf-pool, median of per-round ratios (> 1: pool is faster)\n");
}

/* jemalloc's initial-exec TLS does not fit glibc's default static TLS
 * surplus for dlopen: re-run once with a larger surplus. */
static void reexec_with_tls_room(char **argv) {
  if (getenv("GSP_BENCH_MEM_REEXEC") != NULL) return;
  setenv("GSP_BENCH_MEM_REEXEC", "1", 1);
  setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=65536", 1);
  execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
  reexec_with_tls_room(argv);
  unsigned rounds = 7;
  uint64_t pairs = 4u << 20;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      rounds = 3;
      pairs = 1u << 20;
    } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = (unsigned)strtoul(argv[++i], NULL, 10);
      if (rounds == 0 || rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
    } else {
      fprintf(stderr, "usage: bench_mem [--quick] [--rounds N]\n");
      return 2;
    }
  }
  gsp_pool *pool = NULL;
  gsp_arena *arena = NULL;
  if (gsp_pool_create(&(gsp_pool_config){.obj_size = OBJ, .name = "bench"}, &pool) != GSP_OK ||
      gsp_arena_create(NULL, &arena) != GSP_OK)
    return 1;
  subject s[MAX_SUBJECTS];
  unsigned n = make_subjects(s, pool);
  static results r;
  print_machine(rounds, pairs);
  for (unsigned i = 0; i < rounds; i++) {
    for (unsigned j = 0; j < n; j++) {
      unsigned k = (i + j) % n;
      if (s[k].missing != NULL) continue;
      r.local[k][i] = run_local(&s[k], pairs);
      r.cross[k][i] = run_cross(&s[k], pairs);
    }
    r.arena[i] = run_arena(arena, pairs);
    r.direct[i] = run_local_pool(pool, pairs);
  }
  print_table(s, n, &r, rounds);
  gsp_arena_destroy(arena);
  gsp_pool_destroy(pool);
  return 0;
}
