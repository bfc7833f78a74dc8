/*
 * inproc_heap.c - heap tracking inside a program linked with the library
 * (the in-process MEMORY profile): malloc, calloc, realloc, free,
 * posix_memalign, aligned_alloc, memalign and valloc redirected through
 * the GOT (got.c) to the hooks below while the profile runs, live bytes
 * and peak per call site, and at stop the leaks (a reachability scan,
 * heap_scan.c, with every thread stopped).
 *
 * Why an address table and not a header. Blocks allocated before start
 * are freed during the profile, blocks of the profile are freed after
 * stop, and some calls never pass through a patched slot (the loader's
 * own allocations, a function pointer taken before start): a header in
 * front of the block would have to be guessed. Here the block stays the
 * C library's, untouched, and a tracked block is an entry in a table
 * keyed by its address: a free of an address not in it is not ours and
 * passes through; an allocation at an address still in it (a block freed
 * by a path not patched) replaces the stale entry.
 *
 * The table: SHARDS shards chosen by a hash of the address, each an
 * open-addressing array (linear probing, backward-shift deletion, so no
 * tombstones) of {address, size << 16 | site} under a one-byte spinlock
 * (one lock-prefixed exchange; the critical section is a few probes).
 * The arrays come from mmap, never from the heap being tracked, and
 * double (mmap of the new one, munmap of the old) when 3/4 full: the only
 * system call a hook makes, amortized over the blocks that filled it.
 *
 * Sites, reentrancy, sampling: as the preload's (heap_hook.c): the
 * allocating stack from the hook's frame up the frame-pointer chain
 * (checked to stay on the stack), SITE_DEPTH frames, in a fixed table
 * claimed by CAS (site 0, "other", when full); a thread-local guard makes
 * allocations made while a hook or the profiler's own code runs
 * untracked; with sample_bytes > 0 one allocation per sample_bytes on a
 * thread is tracked (no leak check then). A hook calls the real function
 * (resolved with dlsym(RTLD_DEFAULT) at start, before any slot is
 * patched: what the slot would have called) first and records after, and
 * a free removes the entry before the real free (so an address reused at
 * once by another thread is never removed by mistake).
 *
 * State is process-wide (one MEMORY profile at a time): g_on says whether
 * hooks record; start resets the tables and the sites; stop runs (in
 * every-allocation mode) the leak check, restores the slots, and the
 * sites stay readable until the next start. The leak check runs before
 * the slots are restored, so frees racing with it wait on the shards.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap_sites.h"
#include "prof_int.h"

#define SHARDS 256u
#define INIT_BITS 10u
#define NSITES GSP__NSITES
#define SITE_DEPTH GSP__SITE_DEPTH
#define SIZE_SHIFT 16

typedef struct ent {
  uintptr_t addr; /* 0 = empty */
  uint64_t meta;  /* size << SIZE_SHIFT | site */
} ent;

typedef struct ashard {
  atomic_flag lock;
  unsigned bits;
  size_t n;
  ent *tab;
} __attribute__((aligned(64))) ashard;

typedef gsp__site site;

typedef struct real_fns {
  void *(*malloc)(size_t);
  void *(*calloc)(size_t, size_t);
  void *(*realloc)(void *, size_t);
  void (*free)(void *);
  int (*posix_memalign)(void **, size_t, size_t);
  void *(*aligned_alloc)(size_t, size_t);
  void *(*memalign)(size_t, size_t);
  void *(*valloc)(size_t);
} real_fns;

static ashard g_shards[SHARDS];
static site g_sites[NSITES];
static real_fns g_real;
static _Atomic int g_on, g_busy;
static uint64_t g_sample_bytes;
static bool g_checked;
static size_t g_missed;
static __thread int t_guard __attribute__((tls_model("initial-exec")));
static __thread uint64_t t_until __attribute__((tls_model("initial-exec")));

/* ---- the address table ----------------------------------------------------- */

static uint64_t mix(uintptr_t a) { return (uint64_t)(a >> 4) * 0x9e3779b97f4a7c15ull; }
static ashard *shard_of(uint64_t h) { return &g_shards[h >> 56]; }
static size_t home(const ashard *s, uintptr_t a) {
  return (size_t)(mix(a) >> 8) & (((size_t)1 << s->bits) - 1);
}

static void lock(ashard *s) {
  while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire)) __builtin_ia32_pause();
}
static void unlock(ashard *s) { atomic_flag_clear_explicit(&s->lock, memory_order_release); }

static ent *map_tab(unsigned bits) {
  void *m = mmap(NULL, sizeof(ent) << bits, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return m == MAP_FAILED ? NULL : m;
}

/* Slot of a (found, or the empty one where it would go). */
static size_t probe(const ashard *s, uintptr_t a) {
  size_t mask = ((size_t)1 << s->bits) - 1, i = home(s, a);
  while (s->tab[i].addr && s->tab[i].addr != a) i = (i + 1) & mask;
  return i;
}

static bool grow_locked(ashard *s) {
  ent *old = s->tab, *nt = map_tab(s->bits + 1);
  if (!nt) return false;
  size_t ocap = (size_t)1 << s->bits;
  s->tab = nt;
  s->bits++;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].addr) s->tab[probe(s, old[i].addr)] = old[i];
  munmap(old, sizeof(ent) * ocap);
  return true;
}

/* Removes slot i, shifting later entries of its cluster back. */
static void remove_at(ashard *s, size_t i) {
  size_t mask = ((size_t)1 << s->bits) - 1, j = i;
  for (;;) {
    s->tab[i].addr = 0;
    for (;;) {
      j = (j + 1) & mask;
      if (!s->tab[j].addr) return;
      size_t k = home(s, s->tab[j].addr);
      bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (!stays) break;
    }
    s->tab[i] = s->tab[j];
    i = j;
  }
}

static void site_sub(uint64_t meta);

/* Inserts a, replacing a stale entry; false when the table cannot grow. */
static bool table_put(uintptr_t a, uint64_t meta) {
  ashard *s = shard_of(mix(a));
  lock(s);
  if (!s->tab || ((s->n + 1) * 4 > ((size_t)3 << s->bits) && !grow_locked(s))) {
    unlock(s);
    return false;
  }
  size_t i = probe(s, a);
  uint64_t stale = s->tab[i].addr ? s->tab[i].meta : 0;
  if (!s->tab[i].addr) s->n++;
  s->tab[i] = (ent){a, meta};
  unlock(s);
  if (stale) site_sub(stale);
  return true;
}

/* Removes a; its meta, or 0 when it was not tracked. */
static uint64_t table_take(uintptr_t a) {
  ashard *s = shard_of(mix(a));
  lock(s);
  uint64_t meta = 0;
  if (s->tab) {
    size_t i = probe(s, a);
    if (s->tab[i].addr) {
      meta = s->tab[i].meta;
      remove_at(s, i);
      s->n--;
    }
  }
  unlock(s);
  return meta;
}

/* ---- sites ------------------------------------------------------------------- */

__attribute__((no_sanitize("address"))) static uint32_t capture_stack(uintptr_t *fp,
                                                                      uint64_t *pcs) {
  uint32_t n = 0;
  uintptr_t lo = (uintptr_t)fp, hi = lo + (8u << 20);
  while (n < SITE_DEPTH) {
    uintptr_t next = fp[0], ret = fp[1];
    if (ret < 4096) break;
    pcs[n++] = ret;
    if (next <= (uintptr_t)fp || next >= hi || (next & 7)) break;
    fp = (uintptr_t *)next;  // NOLINT(performance-no-int-to-ptr): a frame pointer
  }
  return n;
}

/* Bytes a tracked block counts for (with sampling, the interval it
 * stands for when larger). */
static uint64_t charge(uint64_t size) { return size > g_sample_bytes ? size : g_sample_bytes; }

static void site_sub(uint64_t meta) {
  site *s = &g_sites[meta & 0xffff];
  atomic_fetch_sub_explicit(&s->live, charge(meta >> SIZE_SHIFT), memory_order_relaxed);
  atomic_fetch_sub_explicit(&s->live_count, 1, memory_order_relaxed);
}

/* ---- hooks --------------------------------------------------------------------- */

static bool want(size_t size) {
  if (!atomic_load_explicit(&g_on, memory_order_relaxed) || t_guard) return false;
  if (g_sample_bytes == 0) return true;
  if (t_until > size) {
    t_until -= size;
    return false;
  }
  t_until = g_sample_bytes;
  return true;
}

__attribute__((noinline)) static void track(void *p, size_t size, uintptr_t *fp) {
  t_guard = 1;
  uint64_t pcs[SITE_DEPTH];
  uint32_t n = capture_stack(fp, pcs);
  uint32_t id = n > 0 ? gsp__site_find(g_sites, pcs, n) : 0;
  if (size >> (64 - SIZE_SHIFT)) size = ((uint64_t)1 << (64 - SIZE_SHIFT)) - 1;
  if (table_put((uintptr_t)p, (uint64_t)size << SIZE_SHIFT | id))
    gsp__site_add(&g_sites[id], charge(size));
  t_guard = 0;
}

static void untrack(void *p) {
  if (!p || !atomic_load_explicit(&g_on, memory_order_relaxed)) return;
  uint64_t meta = table_take((uintptr_t)p);
  if (meta) site_sub(meta);
}

static void *hk_malloc(size_t n) {
  void *p = g_real.malloc(n);
  if (p && want(n)) track(p, n, __builtin_frame_address(0));
  return p;
}

static void hk_free(void *p) {
  untrack(p);
  g_real.free(p);
}

static void *hk_calloc(size_t n, size_t sz) {
  void *p = g_real.calloc(n, sz);
  if (p && want(n * sz)) track(p, n * sz, __builtin_frame_address(0));
  return p;
}

static void *hk_realloc(void *p, size_t n) {
  uint64_t meta = 0;
  if (p && atomic_load_explicit(&g_on, memory_order_relaxed)) meta = table_take((uintptr_t)p);
  void *q = g_real.realloc(p, n);
  if (!q && n && meta) { /* failed: p is still the caller's */
    table_put((uintptr_t)p, meta);
    return NULL;
  }
  if (meta) site_sub(meta);
  if (q && want(n)) track(q, n, __builtin_frame_address(0));
  return q;
}

static int hk_posix_memalign(void **out, size_t a, size_t n) {
  int rv = g_real.posix_memalign(out, a, n);
  if (rv == 0 && *out && want(n)) track(*out, n, __builtin_frame_address(0));
  return rv;
}

static void *hk_aligned_alloc(size_t a, size_t n) {
  void *p = g_real.aligned_alloc(a, n);
  if (p && want(n)) track(p, n, __builtin_frame_address(0));
  return p;
}

static void *hk_memalign(size_t a, size_t n) {
  void *p = g_real.memalign(a, n);
  if (p && want(n)) track(p, n, __builtin_frame_address(0));
  return p;
}

static void *hk_valloc(size_t n) {
  void *p = g_real.valloc(n);
  if (p && want(n)) track(p, n, __builtin_frame_address(0));
  return p;
}

/* ---- start, stop ----------------------------------------------------------------- */

static int resolve(void) {
  void *v[8];
  static const char *const names[8] = {"malloc",         "calloc",        "realloc",  "free",
                                       "posix_memalign", "aligned_alloc", "memalign", "valloc"};
  for (int i = 0; i < 8; i++)
    if (!(v[i] = dlsym(RTLD_DEFAULT, names[i]))) return GSP_ENOTSUP;
  g_real.malloc = (void *(*)(size_t))v[0];
  g_real.calloc = (void *(*)(size_t, size_t))v[1];
  g_real.realloc = (void *(*)(void *, size_t))v[2];
  g_real.free = (void (*)(void *))v[3];
  g_real.posix_memalign = (int (*)(void **, size_t, size_t))v[4];
  g_real.aligned_alloc = (void *(*)(size_t, size_t))v[5];
  g_real.memalign = (void *(*)(size_t, size_t))v[6];
  g_real.valloc = (void *(*)(size_t))v[7];
  return GSP_OK;
}

static int reset_tables(void) {
  for (unsigned i = 0; i < SHARDS; i++) {
    ashard *s = &g_shards[i];
    if (s->tab) munmap(s->tab, sizeof(ent) << s->bits);
    s->bits = INIT_BITS;
    s->n = 0;
    s->tab = map_tab(INIT_BITS);
    if (!s->tab) return GSP_ENOMEM;
  }
  memset(g_sites, 0, sizeof g_sites);
  return GSP_OK;
}

int gsp__iheap_start(uint64_t sample_bytes) {
  int expect = 0;
  if (!atomic_compare_exchange_strong(&g_busy, &expect, 1)) return GSP_EBUSY;
  int rv = resolve();
  if (rv == GSP_OK) rv = reset_tables();
  g_sample_bytes = sample_bytes;
  g_checked = false;
  g_missed = 0;
  static const gsp__got_fn fns[] = {
      {"malloc", (void *)hk_malloc},
      {"calloc", (void *)hk_calloc},
      {"realloc", (void *)hk_realloc},
      {"free", (void *)hk_free},
      {"posix_memalign", (void *)hk_posix_memalign},
      {"aligned_alloc", (void *)hk_aligned_alloc},
      {"memalign", (void *)hk_memalign},
      {"valloc", (void *)hk_valloc},
  };
  if (rv == GSP_OK) atomic_store(&g_on, 1);
  if (rv == GSP_OK) rv = gsp__got_patch(GSP__GOT_HEAP, fns, sizeof fns / sizeof fns[0]);
  if (rv != GSP_OK) {
    atomic_store(&g_on, 0);
    atomic_store(&g_busy, 0);
  }
  return rv;
}

/* ---- leak check ------------------------------------------------------------------ */

static void quiesce(void *u, bool on) {
  (void)u;
  for (unsigned i = 0; i < SHARDS; i++) {
    if (on)
      lock(&g_shards[i]);
    else
      unlock(&g_shards[i]);
  }
}

static size_t count(void *u) {
  (void)u;
  size_t n = 0;
  for (unsigned i = 0; i < SHARDS; i++) n += g_shards[i].n;
  return n;
}

static size_t gather(void *u, gsp__blk *out, size_t cap) {
  (void)u;
  size_t n = 0;
  for (unsigned i = 0; i < SHARDS; i++) {
    const ashard *s = &g_shards[i];
    for (size_t j = 0; s->tab && j < ((size_t)1 << s->bits) && n < cap; j++) {
      const ent *e = &s->tab[j];
      if (e->addr)
        out[n++] = (gsp__blk){e->addr, e->meta >> SIZE_SHIFT, (uint32_t)(e->meta & 0xffff), 0};
    }
  }
  return n;
}

static void verdict(void *u, const gsp__blk *b, size_t n) {
  (void)u;
  for (size_t i = 0; i < n; i++) {
    if (b[i].mark || b[i].site == 0) continue;
    g_sites[b[i].site].leaks++;
    g_sites[b[i].site].leak_bytes += b[i].size;
  }
}

void gsp__iheap_stop(void) {
  if (!atomic_load(&g_busy)) return;
  int saved = t_guard;
  t_guard = 1;
  if (g_sample_bytes == 0) { /* hooks still in place: frees meanwhile wait on the shards */
    gsp__reach_ops ops = {quiesce, count, gather, verdict, NULL, 0, 0};
    gsp__reach_stats st;
    g_checked = gsp__heap_reach(&ops, &st) == GSP_OK;
    g_missed = st.threads_missed;
  }
  gsp__got_unpatch(GSP__GOT_HEAP);
  atomic_store(&g_on, 0);
  t_guard = saved;
  atomic_store(&g_busy, 0);
}

bool gsp__iheap_guard(bool on) {
  bool was = t_guard != 0;
  t_guard = on;
  return was;
}
size_t gsp__iheap_threads_missed(void) { return g_missed; }

/* ---- output ---------------------------------------------------------------------- */

int gsp__iheap_write(int fd) {
  char line[64 + SITE_DEPTH * 20];
  int n = snprintf(line, sizeof line, "gsperf-heap 1 sample %llu leaks %d\n",
                   (unsigned long long)g_sample_bytes, g_checked ? 1 : 0);
  if (write(fd, line, (size_t)n) != n) return GSP_EIO;
  for (unsigned i = 1; i < NSITES; i++) {
    site *s = &g_sites[i];
    if (!atomic_load(&s->ready)) continue;
    n = snprintf(line, sizeof line, "%llu %llu %llu %llu %llu %llu %llu %u",
                 (unsigned long long)s->allocs, (unsigned long long)s->bytes,
                 (unsigned long long)s->live, (unsigned long long)s->live_count,
                 (unsigned long long)s->peak, (unsigned long long)s->leaks,
                 (unsigned long long)s->leak_bytes, s->depth);
    for (uint32_t d = 0; d < s->depth && n < (int)sizeof line - 20; d++)
      n += snprintf(line + n, sizeof line - (size_t)n, " %llx", (unsigned long long)s->pcs[d]);
    line[n++] = '\n';
    if (write(fd, line, (size_t)n) != n) return GSP_EIO;
  }
  return GSP_OK;
}
