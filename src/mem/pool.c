/*
 * pool.c - fixed-size object pools with per-thread magazines.
 *
 * Design. This is Bonwick's magazine allocator (the slab allocator's
 * per-CPU layer, USENIX 2001) with threads in place of CPUs. A pool is a
 * shared depot under one mutex plus, for every thread that uses the pool, a
 * thread cache holding two magazines ("loaded" and "prev") of at most
 * `batch` free objects each. A magazine is a singly linked chain of free
 * objects with a count, so moving a whole magazine is one pointer.
 *
 *   alloc: pop from loaded; if empty, swap with prev; if both are empty,
 *          take a full magazine from the depot (lock, once per batch).
 *   free:  push on loaded; if full and prev is empty, loaded becomes prev;
 *          if both are full, give prev to the depot (lock, once per batch).
 *
 * The fast paths read one thread-local pointer (the thread's last-used
 * cache, checked against the pool) and touch only that cache and the
 * object: no lock, no lock-prefixed instruction, no shared line written.
 * Holding two magazines is what keeps an alloc/free pair at a magazine
 * boundary from taking the lock on every call (hysteresis). A cross-thread
 * free is simply a free into the consumer's cache; its full magazines reach
 * the producer through the depot, one lock round trip per `batch` objects
 * on each side (measured in bench/mem).
 *
 * Data layout. Objects are carved from slabs (default 256 KiB, gsp_malloc,
 * pre-faulted by writing every page before the slab is installed, outside
 * the lock) by a bump pointer, `batch` at a time when the depot is empty;
 * the constructor runs then, once per object life. Free objects are linked
 * through their first word (next in magazine) and second word (next
 * magazine in the depot). With a constructor or destructor the object must
 * keep its constructed state while free, so each slot then has a header of
 * max(16, align) bytes before the object that holds the two links.
 *
 * Counting. The fast paths count nothing beyond the magazine's own `n`,
 * which the owner writes with a relaxed load and store (a plain mov on
 * x86, but no data race for a reader). Objects out of the depot are
 * carved - depot_free (exact, under the lock); those sitting in thread
 * caches are the sum of the registered caches' magazine counts; live is
 * the difference, and cached = carved - live. peak is the high-water mark of objects out of the
 * depot, which changes only under the lock.
 *
 * Thread caches live on two lists: the pool's (under pool->mu), for stats,
 * trim and destroy, and the owning thread's (thread-local, owner only), for
 * lookup and exit. One process-wide pthread key with a destructor gives
 * each thread's caches back at thread exit. Exit and pool destroy both run
 * under the process-wide g_mu (lock order g_mu -> pool->mu), so exactly one
 * of them hands a cache back: destroy marks each cache orphaned (pool =
 * NULL, its last write to the cache, with release order); an orphan is
 * freed by its thread, at exit or when its lookup walk meets it. The key
 * is never deleted, so no pool's destroy can race with a key destructor.
 *
 * Trim. The depot keeps no per-slab free counts (that is what makes a
 * magazine move O(1)); each slab only counts the objects carved from it.
 * Trim pays instead: under the lock it drains the depot into one chain,
 * finds each free object's slab by binary search in a sorted array of the
 * slabs (allocated before the lock is taken), releases every slab whose
 * carved objects are all free (running the dtor on them), and rebuilds
 * the depot from the rest: O(free objects x log slabs), off the hot path.
 * A slab with one object live or in another thread's cache stays. Each
 * thread holds at most 2 * batch free
 * objects per pool until it exits or trims. When a thread cache cannot be
 * allocated (out of memory) the thread is served straight from the depot
 * under the lock, so alloc fails only when a slab cannot be made and free
 * never fails.
 *
 * Invariants (under pool->mu): depot_free = objects in full magazines +
 * loose objects; carved - depot_free = objects live or in thread caches;
 * every full magazine in the depot holds exactly `batch` objects.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gsperf/mem.h"

#define DEFAULT_ALIGN 16u
#define DEFAULT_BATCH 64u
#define DEFAULT_SLAB ((size_t)256 * 1024)
#define MAX_ALIGN 4096u
#define PAGE 4096u

typedef struct mag {
  void *head;
  _Atomic unsigned n; /* written by the owner only; read by stats */
} mag;

typedef struct tcache {
  _Atomic(gsp_pool *) pool; /* NULL once the pool is destroyed (orphan) */
  mag loaded;
  mag prev;
  size_t hdr;                   /* copies of the pool's, so that the fast */
  unsigned batch;               /* paths touch no line of the pool */
  struct tcache *tnext;         /* the owning thread's list */
  struct tcache *pprev, *pnext; /* the pool's list (pool->mu) */
} tcache;

typedef struct tstate {
  tcache *last; /* the cache used last: the fast path's only lookup */
  tcache *head;
  bool keyed; /* the exit key's value is set for this thread */
} tstate;

typedef struct slab {
  struct slab *next;
  size_t bytes;
  size_t carved; /* objects carved from this slab */
} slab;

struct gsp_pool {
  /* read-only after create */
  size_t hdr; /* bytes of link header before each object (0 = links inside) */
  unsigned batch;
  size_t slot;
  size_t align;
  size_t slab_bytes;
  gsp_pool_obj_fn ctor, dtor;
  void *user;
  char *name;
  gsp_pool_stats *final;
  /* shared, under mu */
  pthread_mutex_t mu;
  void *full;  /* stack of full magazines, linked through link 1 of the head */
  void *loose; /* single free objects, linked through link 0 */
  size_t nloose, depot_free, carved, peak;
  char *carve, *carve_end;
  slab *slabs;
  size_t nslabs, nslab_bytes;
  uint64_t refills, flushes, misses;
  tcache *tcs;
  char errmsg[128];
};

static __thread tstate g_ts __attribute__((tls_model("initial-exec")));
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static int g_key_rc;

/* ---- links and magazines ------------------------------------------------ */

static void **link_of(const gsp_pool *p, void *obj) { return (void **)((char *)obj - p->hdr); }

static unsigned mag_n(const mag *m) { return atomic_load_explicit(&m->n, memory_order_relaxed); }

static void mag_set(mag *m, void *head, unsigned n) {
  m->head = head;
  atomic_store_explicit(&m->n, n, memory_order_relaxed);
}

/* dst = src; src = empty (dst must be empty). */
static void mag_move(mag *dst, mag *src) {
  mag_set(dst, src->head, mag_n(src));
  mag_set(src, NULL, 0);
}

static void mag_push(const gsp_pool *p, mag *m, void *obj) {
  link_of(p, obj)[0] = m->head;
  mag_set(m, obj, mag_n(m) + 1);
}

static void *mag_pop(const gsp_pool *p, mag *m) {
  void *obj = m->head;
  mag_set(m, link_of(p, obj)[0], mag_n(m) - 1);
  return obj;
}

static gsp_pool *tc_pool(tcache *c) { return atomic_load_explicit(&c->pool, memory_order_relaxed); }

/* ---- the depot (all _locked: pool->mu held) ------------------------------ */

static void depot_put_locked(gsp_pool *p, mag *m) {
  p->depot_free += mag_n(m);
  if (mag_n(m) == p->batch) {
    link_of(p, m->head)[1] = p->full;
    p->full = m->head;
  } else {
    while (mag_n(m) > 0) {
      void *obj = mag_pop(p, m);
      link_of(p, obj)[0] = p->loose;
      p->loose = obj;
      p->nloose++;
    }
  }
  mag_set(m, NULL, 0);
}

/* The current slab (the one carve points into) is always p->slabs. */
static void carve_one_locked(gsp_pool *p, mag *m) {
  void *obj = p->carve + p->hdr;
  p->carve += p->slot;
  p->carved++;
  p->slabs->carved++;
  if (p->ctor != NULL) p->ctor(obj, p->user);
  mag_push(p, m, obj);
}

static size_t carvable(const gsp_pool *p) { return (size_t)(p->carve_end - p->carve) / p->slot; }

static void take_loose_locked(gsp_pool *p, mag *m) {
  while (mag_n(m) < p->batch && p->loose != NULL) {
    void *obj = p->loose;
    p->loose = link_of(p, obj)[0];
    p->nloose--;
    p->depot_free--;
    mag_push(p, m, obj);
  }
}

/* Fill the empty magazine m; false when a new slab is needed. */
static bool depot_take_locked(gsp_pool *p, mag *m) {
  if (p->full != NULL) {
    mag_set(m, p->full, p->batch);
    p->full = link_of(p, m->head)[1];
    p->depot_free -= p->batch;
  } else if (p->nloose > 0) {
    take_loose_locked(p, m);
  } else {
    if (carvable(p) == 0) return false;
    while (mag_n(m) < p->batch && carvable(p) > 0) carve_one_locked(p, m);
    p->misses++;
  }
  size_t out = p->carved - p->depot_free;
  if (out > p->peak) p->peak = out;
  return true;
}

/* ---- slabs -------------------------------------------------------------- */

static slab *slab_new(gsp_pool *p) {
  slab *s = gsp_malloc(p->slab_bytes);
  if (s == NULL) return NULL;
  volatile char *b = (volatile char *)s;
  for (size_t i = 0; i < p->slab_bytes; i += PAGE) b[i] = 0; /* pre-fault off the lock */
  s->bytes = p->slab_bytes;
  s->carved = 0;
  return s;
}

/* Carve what is left of the current slab into loose objects, then make s
 * the current slab. */
static void slab_install_locked(gsp_pool *p, slab *s) {
  mag m = {NULL, 0};
  while (carvable(p) > 0) {
    carve_one_locked(p, &m);
    if (mag_n(&m) == p->batch) depot_put_locked(p, &m);
  }
  depot_put_locked(p, &m);
  uintptr_t first = (uintptr_t)(s + 1) + p->hdr; /* where the first object would be */
  size_t pad = (p->align - first % p->align) % p->align;
  p->carve = (char *)(s + 1) + pad;
  p->carve_end = (char *)s + s->bytes;
  s->next = p->slabs;
  p->slabs = s;
  p->nslabs++;
  p->nslab_bytes += s->bytes;
}

static void dtor_chain(const gsp_pool *p, void *head, int link) {
  while (head != NULL) {
    void *next = link_of(p, head)[link];
    if (link == 1) dtor_chain(p, link_of(p, head)[0], 0);
    p->dtor(head, p->user);
    head = next;
  }
}

/* Run the dtor on every free object and free every slab. */
static size_t release_all_locked(gsp_pool *p) {
  if (p->dtor != NULL) {
    dtor_chain(p, p->full, 1);
    dtor_chain(p, p->loose, 0);
  }
  size_t n = p->nslabs;
  for (slab *s = p->slabs, *next; s != NULL; s = next) {
    next = s->next;
    gsp_free(s);
  }
  p->slabs = NULL;
  p->full = p->loose = NULL;
  p->carve = p->carve_end = NULL;
  p->nloose = p->depot_free = p->carved = p->nslabs = p->nslab_bytes = 0;
  return n;
}

/* Fill m (empty), making slabs as needed. 0 or GSP_ENOMEM. */
static int depot_fill(gsp_pool *p, mag *m) {
  for (;;) {
    pthread_mutex_lock(&p->mu);
    bool got = depot_take_locked(p, m);
    if (got) p->refills++;
    pthread_mutex_unlock(&p->mu);
    if (got) return GSP_OK;
    slab *s = slab_new(p);
    if (s == NULL) return GSP_ENOMEM;
    pthread_mutex_lock(&p->mu);
    slab_install_locked(p, s);
    pthread_mutex_unlock(&p->mu);
  }
}

/* ---- thread caches ------------------------------------------------------ */

/* Give c's objects and count to the pool. */
static void tc_return_locked(gsp_pool *p, tcache *c) {
  depot_put_locked(p, &c->loaded);
  depot_put_locked(p, &c->prev);
}

static void tc_unlink_locked(gsp_pool *p, tcache *c) {
  if (c->pprev != NULL)
    c->pprev->pnext = c->pnext;
  else
    p->tcs = c->pnext;
  if (c->pnext != NULL) c->pnext->pprev = c->pprev;
}

/* Key destructor: give every cache of the exiting thread back. */
static void thread_exit(void *arg) {
  tstate *ts = arg;
  pthread_mutex_lock(&g_mu);
  for (tcache *c = ts->head, *next; c != NULL; c = next) {
    next = c->tnext;
    gsp_pool *p = tc_pool(c);
    if (p != NULL) {
      pthread_mutex_lock(&p->mu);
      tc_return_locked(p, c);
      tc_unlink_locked(p, c);
      pthread_mutex_unlock(&p->mu);
    }
    gsp_free(c);
  }
  *ts = (tstate){NULL, NULL, false};
  pthread_mutex_unlock(&g_mu);
}

static void key_init(void) { g_key_rc = pthread_key_create(&g_key, thread_exit); }

/* This thread's cache for p, without creating one; frees orphans met. */
static tcache *tc_find(const gsp_pool *p) {
  tcache **pp = &g_ts.head;
  while (*pp != NULL) {
    tcache *c = *pp;
    gsp_pool *cp = atomic_load_explicit(&c->pool, memory_order_acquire);
    if (cp == p && p != NULL) return c;
    if (cp == NULL) { /* orphan: its pool was destroyed */
      *pp = c->tnext;
      if (g_ts.last == c) g_ts.last = NULL;
      gsp_free(c);
      continue;
    }
    pp = &c->tnext;
  }
  return NULL;
}

static bool thread_keyed(void) {
  if (g_ts.keyed) return true;
  pthread_once(&g_key_once, key_init);
  if (g_key_rc != 0 || pthread_setspecific(g_key, &g_ts) != 0) return false;
  g_ts.keyed = true;
  return true;
}

/* This thread's cache for p, created on first use; NULL when out of
 * memory (the caller then goes to the depot directly). */
static tcache *tc_get(gsp_pool *p) {
  tcache *c = tc_find(p);
  if (c == NULL) {
    if (!thread_keyed()) return NULL;
    c = gsp_calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    atomic_init(&c->pool, p);
    c->hdr = p->hdr;
    c->batch = p->batch;
    pthread_mutex_lock(&p->mu);
    c->pnext = p->tcs;
    if (p->tcs != NULL) p->tcs->pprev = c;
    p->tcs = c;
    pthread_mutex_unlock(&p->mu);
    c->tnext = g_ts.head;
    g_ts.head = c;
  }
  g_ts.last = c;
  return c;
}

/* ---- alloc and free ----------------------------------------------------- */

/* No thread cache: one object straight from the depot. */
static void *alloc_uncached(gsp_pool *p) {
  mag m = {NULL, 0};
  if (depot_fill(p, &m) != GSP_OK) return NULL;
  void *obj = mag_pop(p, &m);
  pthread_mutex_lock(&p->mu);
  depot_put_locked(p, &m);
  pthread_mutex_unlock(&p->mu);
  return obj;
}

__attribute__((noinline)) static void *alloc_slow(gsp_pool *p) {
  tcache *c = tc_get(p);
  if (c == NULL) return alloc_uncached(p);
  if (mag_n(&c->loaded) == 0) mag_move(&c->loaded, &c->prev); /* prev may be empty too */
  if (mag_n(&c->loaded) == 0 && depot_fill(p, &c->loaded) != GSP_OK) return NULL;
  return mag_pop(p, &c->loaded);
}

void *gsp_pool_alloc(gsp_pool *p) {
  tcache *c = g_ts.last;
  unsigned n;
  if (__builtin_expect(c != NULL && tc_pool(c) == p && (n = mag_n(&c->loaded)) > 0, 1)) {
    void *obj = c->loaded.head;
    void *next = *(void **)((char *)obj - c->hdr);
    mag_set(&c->loaded, next, n - 1);
    __builtin_prefetch(next, 1); /* the next object's line, if another core had it */
    return obj;
  }
  return alloc_slow(p);
}

__attribute__((noinline)) static void free_slow(gsp_pool *p, void *obj) {
  tcache *c = tc_get(p);
  if (c == NULL) {
    mag m = {NULL, 0};
    mag_push(p, &m, obj);
    pthread_mutex_lock(&p->mu);
    depot_put_locked(p, &m);
    pthread_mutex_unlock(&p->mu);
    return;
  }
  if (mag_n(&c->loaded) == p->batch) {
    if (mag_n(&c->prev) != 0) {
      pthread_mutex_lock(&p->mu);
      depot_put_locked(p, &c->prev);
      p->flushes++;
      pthread_mutex_unlock(&p->mu);
    }
    mag_move(&c->prev, &c->loaded);
  }
  mag_push(p, &c->loaded, obj);
}

void gsp_pool_free(gsp_pool *p, void *obj) {
  if (obj == NULL) return;
  tcache *c = g_ts.last;
  unsigned n;
  if (__builtin_expect(c != NULL && tc_pool(c) == p && (n = mag_n(&c->loaded)) < c->batch, 1)) {
    *(void **)((char *)obj - c->hdr) = c->loaded.head;
    mag_set(&c->loaded, obj, n + 1);
    return;
  }
  free_slow(p, obj);
}

/* ---- create, destroy, reserve, trim, stats -------------------------------- */

static size_t round_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

static void pool_layout(gsp_pool *p, const gsp_pool_config *cfg) {
  p->align = cfg->align != 0 ? cfg->align : DEFAULT_ALIGN;
  p->batch = cfg->batch != 0 ? cfg->batch : DEFAULT_BATCH;
  bool hdr = cfg->ctor != NULL || cfg->dtor != NULL;
  p->hdr = hdr ? round_up(2 * sizeof(void *), p->align) : 0;
  size_t body = cfg->obj_size < 2 * sizeof(void *) && !hdr ? 2 * sizeof(void *) : cfg->obj_size;
  p->slot = round_up(p->hdr + body, p->align);
  size_t min_slab = sizeof(slab) + p->align + p->hdr + (size_t)2 * p->batch * p->slot;
  p->slab_bytes = cfg->slab_bytes != 0 ? cfg->slab_bytes : DEFAULT_SLAB;
  if (p->slab_bytes < min_slab) p->slab_bytes = min_slab;
  p->ctor = cfg->ctor;
  p->dtor = cfg->dtor;
  p->user = cfg->user;
  p->final = cfg->final_stats;
}

static bool config_ok(const gsp_pool_config *cfg) {
  if (cfg == NULL || cfg->obj_size == 0 || cfg->obj_size > SIZE_MAX / 4) return false;
  size_t a = cfg->align;
  return a == 0 || ((a & (a - 1)) == 0 && a <= MAX_ALIGN);
}

int gsp_pool_create(const gsp_pool_config *cfg, gsp_pool **out) {
  if (out == NULL || !config_ok(cfg)) return GSP_EINVAL;
  *out = NULL;
  gsp_pool *p = gsp_calloc(1, sizeof *p);
  if (p == NULL) return GSP_ENOMEM;
  pool_layout(p, cfg);
  p->name = gsp_strdup(cfg->name != NULL ? cfg->name : "pool");
  if (p->name == NULL) goto out_free_pool;
  pthread_mutex_init(&p->mu, NULL);
  if (cfg->reserve > 0 && gsp_pool_reserve(p, cfg->reserve) != GSP_OK) {
    p->final = NULL;
    gsp_pool_destroy(p);
    return GSP_ENOMEM;
  }
  *out = p;
  return GSP_OK;
out_free_pool:
  gsp_free(p);
  return GSP_ENOMEM;
}

static int64_t live_locked(const gsp_pool *p) {
  int64_t live = (int64_t)(p->carved - p->depot_free);
  for (tcache *c = p->tcs; c != NULL; c = c->pnext)
    live -= (int64_t)mag_n(&c->loaded) + (int64_t)mag_n(&c->prev);
  return live;
}

static void stats_locked(const gsp_pool *p, gsp_pool_stats *o) {
  int64_t live = live_locked(p);
  if (live < 0) live = 0;
  *o = (gsp_pool_stats){
      .live = (uint64_t)live,
      .cached = p->carved > (size_t)live ? p->carved - (size_t)live : 0,
      .peak = p->peak,
      .refills = p->refills,
      .flushes = p->flushes,
      .misses = p->misses,
      .slabs = p->nslabs,
      .slab_bytes = p->nslab_bytes,
  };
}

/* Orphan every thread cache: its objects and counts go to the depot. */
static void orphan_all_locked(gsp_pool *p) {
  for (tcache *c = p->tcs, *next; c != NULL; c = next) {
    next = c->pnext; /* the store below is our last touch: its thread may free c */
    tc_return_locked(p, c);
    atomic_store_explicit(&c->pool, NULL, memory_order_release);
  }
  p->tcs = NULL;
}

void gsp_pool_destroy(gsp_pool *p) {
  if (p == NULL) return;
  if (g_ts.last != NULL && tc_pool(g_ts.last) == p) g_ts.last = NULL;
  pthread_mutex_lock(&g_mu);
  pthread_mutex_lock(&p->mu);
  orphan_all_locked(p);
  gsp_pool_stats st;
  stats_locked(p, &st);
  st.leaked = st.live;
  release_all_locked(p);
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_unlock(&g_mu);
  if (st.leaked > 0)
    gsp_log(GSP_LOG_WARN, "mem", "pool %s destroyed with %llu objects never returned", p->name,
            (unsigned long long)st.leaked);
  if (p->final != NULL) *p->final = st;
  pthread_mutex_destroy(&p->mu);
  gsp_free(p->name);
  gsp_free(p);
  (void)tc_find(NULL); /* free this thread's orphan now rather than later */
}

const char *gsp_pool_errmsg(const gsp_pool *p) {
  if (p == NULL) return "no pool";
  return p->errmsg[0] != '\0' ? p->errmsg : "no error";
}

int gsp_pool_reserve(gsp_pool *p, size_t n) {
  for (;;) {
    pthread_mutex_lock(&p->mu);
    size_t avail = p->depot_free + carvable(p);
    pthread_mutex_unlock(&p->mu);
    if (avail >= n) return GSP_OK;
    slab *s = slab_new(p);
    if (s == NULL) {
      snprintf(p->errmsg, sizeof p->errmsg, "reserve: a slab of %zu bytes could not be allocated",
               p->slab_bytes);
      return GSP_ENOMEM;
    }
    pthread_mutex_lock(&p->mu);
    slab_install_locked(p, s);
    pthread_mutex_unlock(&p->mu);
  }
}

/* ---- trim: release every slab whose carved objects are all free ----------- */

typedef struct slab_ref {
  slab *s;
  size_t nfree;
} slab_ref;

static int slab_ref_cmp(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const slab_ref *)a)->s, y = (uintptr_t)((const slab_ref *)b)->s;
  return x < y ? -1 : x > y;
}

/* The slab holding obj: the last one starting at or below it. */
static slab_ref *slab_of(slab_ref *v, size_t n, const void *obj) {
  size_t lo = 0, hi = n;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if ((uintptr_t)v[mid].s <= (uintptr_t)obj)
      lo = mid;
    else
      hi = mid;
  }
  return &v[lo];
}

/* Every depot object on one chain through link 0; the depot is left empty
 * (depot_free still counts them). */
static void *depot_drain_locked(gsp_pool *p) {
  void *chain = p->loose;
  while (p->full != NULL) {
    void *head = p->full, *tail = head;
    p->full = link_of(p, head)[1];
    while (link_of(p, tail)[0] != NULL) tail = link_of(p, tail)[0];
    link_of(p, tail)[0] = chain;
    chain = head;
  }
  p->loose = NULL;
  p->nloose = 0;
  return chain;
}

/* Unlink the slabs marked free (nfree == carved) onto *gone; returns how many. */
static size_t unlink_free_slabs_locked(gsp_pool *p, slab_ref *v, size_t n, slab **gone) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    slab *s = v[i].s;
    if (v[i].nfree != s->carved) continue;
    if (s == p->slabs) p->carve = p->carve_end = NULL; /* the current slab */
    for (slab **pp = &p->slabs; *pp != NULL; pp = &(*pp)->next)
      if (*pp == s) {
        *pp = s->next;
        break;
      }
    p->carved -= s->carved;
    p->nslabs--;
    p->nslab_bytes -= s->bytes;
    s->next = *gone;
    *gone = s;
    k++;
  }
  return k;
}

/* v holds room for every slab. Returns the slabs released (on *gone). */
static size_t trim_slabs_locked(gsp_pool *p, slab_ref *v, slab **gone) {
  size_t n = 0;
  for (slab *s = p->slabs; s != NULL; s = s->next) v[n++] = (slab_ref){s, 0};
  qsort(v, n, sizeof *v, slab_ref_cmp);
  void *chain = depot_drain_locked(p);
  for (void *o = chain; o != NULL; o = link_of(p, o)[0]) slab_of(v, n, o)->nfree++;
  mag m = {NULL, 0};
  p->depot_free = 0;
  for (void *o = chain, *next; o != NULL; o = next) {
    next = link_of(p, o)[0];
    slab_ref *r = slab_of(v, n, o);
    if (r->nfree == r->s->carved) {
      if (p->dtor != NULL) p->dtor(o, p->user);
      continue;
    }
    mag_push(p, &m, o);
    if (mag_n(&m) == p->batch) depot_put_locked(p, &m);
  }
  depot_put_locked(p, &m);
  return unlink_free_slabs_locked(p, v, n, gone);
}

size_t gsp_pool_trim(gsp_pool *p) {
  tcache *c = tc_find(p);
  pthread_mutex_lock(&p->mu);
  size_t cap = p->nslabs + 8; /* room for slabs made meanwhile */
  pthread_mutex_unlock(&p->mu);
  slab_ref *v = gsp_malloc(cap * sizeof *v);
  slab *gone = NULL;
  size_t n = 0;
  pthread_mutex_lock(&p->mu);
  if (c != NULL) tc_return_locked(p, c);
  if (v != NULL && p->nslabs <= cap)
    n = trim_slabs_locked(p, v, &gone);
  else if (p->depot_free == p->carved) /* no memory for the slab table */
    n = release_all_locked(p);
  pthread_mutex_unlock(&p->mu);
  for (slab *next; gone != NULL; gone = next) {
    next = gone->next;
    gsp_free(gone);
  }
  gsp_free(v);
  return n;
}

void gsp_pool_stats_get(gsp_pool *p, gsp_pool_stats *out) {
  pthread_mutex_lock(&p->mu);
  stats_locked(p, out);
  pthread_mutex_unlock(&p->mu);
}
