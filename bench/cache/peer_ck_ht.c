/*
 * peer_ck_ht.c - Concurrency Kit's ck_ht as a peer for bench_cache: "the
 * limit" for reads, since a lookup is a lock-free probe with no bookkeeping.
 *
 * Mode CK_HT_MODE_DIRECT: the 8-byte key is stored in the slot, the value
 * slot holds a pointer to a malloc'ed block with the 16-byte value, which
 * a get copies out (as gsp_cache_get_copy does). The table starts at twice
 * the bound, so it rarely grows.
 *
 * ck_ht is SPMC: any number of readers, one writer at a time. Every put and
 * remove here holds one mutex, as that contract requires. ck_ht has no
 * eviction; a FIFO ring of inserted keys (under the same mutex) names the
 * key to remove once the table holds more than the bound.
 *
 * Reclamation: a reader may still be copying a value the writer has just
 * replaced or removed, so those blocks go through ck_epoch. Each worker
 * stays inside one epoch section for a batch of operations and leaves it
 * in quiesce(), where it also polls (frees what is safe) every 16 batches;
 * destroy frees what is left once no thread runs.
 */
#include <ck_epoch.h>
#include <ck_ht.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bench_subject.h"

#define VLEN BENCH_VLEN
#define MAX_THREADS BENCH_MAX_THREADS

typedef struct ckv {
  ck_epoch_entry_t epoch_entry; /* first: the reclaim callback casts back */
  unsigned char val[VLEN];
} ckv;

typedef struct ck_tctx {
  ck_epoch_record_t rec; /* first, and cache-line aligned by its type */
  unsigned batches;
  bool registered;
} ck_tctx;

typedef struct ckh {
  ck_ht_t ht;
  ck_epoch_t epoch;
  ck_tctx *tctx;         /* MAX_THREADS + 1 (the last one prefills) */
  pthread_mutex_t wlock; /* ck_ht is single-writer: every write holds it */
  uint64_t *ring;        /* capacity + 1 keys in insertion order, under wlock */
  size_t ring_head, ring_len, capacity;
} ckh;

/* ck_malloc has no user pointer, so the maps ck_ht retires when it grows
 * (free with defer=true: readers may still probe them) are parked here and
 * freed when the table is destroyed. Growth is rare: the table starts at
 * twice the bound. */
typedef struct parked_map {
  struct parked_map *next;
  void *map;
} parked_map;
static pthread_mutex_t g_parked_lock = PTHREAD_MUTEX_INITIALIZER;
static parked_map *g_parked;

static void *ck_malloc_cb(size_t n) { return malloc(n); }

static void *ck_realloc_cb(void *p, size_t old, size_t n, bool defer) {
  (void)old;
  (void)defer;
  return realloc(p, n);
}

static void ck_free_cb(void *p, size_t n, bool defer) {
  (void)n;
  if (!defer) {
    free(p);
    return;
  }
  parked_map *pm = malloc(sizeof *pm);
  if (pm == NULL) return; /* leak it: a reader may still be probing it */
  pm->map = p;
  pthread_mutex_lock(&g_parked_lock);
  pm->next = g_parked;
  g_parked = pm;
  pthread_mutex_unlock(&g_parked_lock);
}

static void ck_free_parked(void) {
  pthread_mutex_lock(&g_parked_lock);
  while (g_parked != NULL) {
    parked_map *pm = g_parked;
    g_parked = pm->next;
    free(pm->map);
    free(pm);
  }
  pthread_mutex_unlock(&g_parked_lock);
}

static struct ck_malloc g_ck_alloc = {ck_malloc_cb, ck_realloc_cb, ck_free_cb};

static void ckv_reclaim(ck_epoch_entry_t *e) { free((ckv *)(void *)e); }

static void *ckh_create(const bench_subject *sj, size_t capacity) {
  (void)sj;
  ckh *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->tctx = aligned_alloc(64, sizeof(ck_tctx) * (MAX_THREADS + 1));
  t->ring = malloc(sizeof *t->ring * (capacity + 1));
  if (t->tctx == NULL || t->ring == NULL ||
      !ck_ht_init(&t->ht, CK_HT_MODE_DIRECT, NULL, &g_ck_alloc, 2 * capacity, 0x5eed)) {
    free(t->tctx);
    free(t->ring);
    free(t);
    return NULL;
  }
  memset(t->tctx, 0, sizeof(ck_tctx) * (MAX_THREADS + 1));
  ck_epoch_init(&t->epoch);
  pthread_mutex_init(&t->wlock, NULL);
  t->capacity = capacity;
  return t;
}

/* No thread is left: every retired value may go, then the live ones. */
static void ckh_destroy(void *obj) {
  ckh *t = obj;
  for (unsigned i = 0; i <= MAX_THREADS; i++)
    if (t->tctx[i].registered) ck_epoch_reclaim(&t->tctx[i].rec);
  ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
  ck_ht_entry_t *e;
  while (ck_ht_next(&t->ht, &it, &e)) free((void *)ck_ht_entry_value_direct(e));
  ck_ht_destroy(&t->ht);
  ck_free_parked();
  pthread_mutex_destroy(&t->wlock);
  free(t->ring);
  free(t->tctx);
  free(t);
}

static void *ckh_thread_enter(void *obj, unsigned tid) {
  ckh *t = obj;
  ck_tctx *c = &t->tctx[tid];
  if (!c->registered) ck_epoch_register(&t->epoch, &c->rec, NULL);
  c->registered = true;
  ck_epoch_begin(&c->rec, NULL);
  return c;
}

static void ckh_quiesce(void *obj, void *ctx) {
  (void)obj;
  ck_tctx *c = ctx;
  ck_epoch_end(&c->rec, NULL);
  if ((++c->batches & 15) == 0) ck_epoch_poll(&c->rec);
  ck_epoch_begin(&c->rec, NULL);
}

static void ckh_thread_exit(void *obj, void *ctx) {
  (void)obj;
  ck_epoch_end(&((ck_tctx *)ctx)->rec, NULL);
}

static bool ckh_get(void *obj, void *ctx, uint64_t key, unsigned char out[VLEN]) {
  (void)ctx;
  ckh *t = obj;
  ck_ht_hash_t h;
  ck_ht_entry_t e;
  ck_ht_hash_direct(&h, &t->ht, key);
  ck_ht_entry_key_set_direct(&e, key);
  if (!ck_ht_get_spmc(&t->ht, h, &e)) return false;
  memcpy(out, ((const ckv *)ck_ht_entry_value_direct(&e))->val, VLEN);
  return true;
}

/* A new key entered: remember it, and remove the oldest when over the bound. */
static void ckh_admit_locked(ckh *t, ck_tctx *c, uint64_t key) {
  size_t slots = t->capacity + 1;
  t->ring[(t->ring_head + t->ring_len++) % slots] = key;
  if (t->ring_len <= t->capacity) return;
  uint64_t old = t->ring[t->ring_head];
  t->ring_head = (t->ring_head + 1) % slots;
  t->ring_len--;
  ck_ht_hash_t h;
  ck_ht_entry_t e;
  ck_ht_hash_direct(&h, &t->ht, old);
  ck_ht_entry_key_set_direct(&e, old);
  if (ck_ht_remove_spmc(&t->ht, h, &e))
    ck_epoch_call(&c->rec, (ck_epoch_entry_t *)ck_ht_entry_value_direct(&e), ckv_reclaim);
}

static bool ckh_put(void *obj, void *ctx, uint64_t key, const unsigned char val[VLEN]) {
  ckh *t = obj;
  ck_tctx *c = ctx;
  ckv *v = malloc(sizeof *v);
  if (v == NULL) return false;
  memcpy(v->val, val, VLEN);
  ck_ht_hash_t h;
  ck_ht_entry_t e;
  ck_ht_hash_direct(&h, &t->ht, key);
  ck_ht_entry_set_direct(&e, h, key, (uintptr_t)v);
  pthread_mutex_lock(&t->wlock);
  bool ok = ck_ht_set_spmc(&t->ht, h, &e);
  if (ok && !ck_ht_entry_empty(&e))
    ck_epoch_call(&c->rec, (ck_epoch_entry_t *)ck_ht_entry_value_direct(&e), ckv_reclaim);
  else if (ok)
    ckh_admit_locked(t, c, key);
  pthread_mutex_unlock(&t->wlock);
  if (!ok) free(v);
  return ok;
}

const bench_subject bench_peer_ck_ht = {
    .name = "ck_ht",
    .create = ckh_create,
    .destroy = ckh_destroy,
    .thread_enter = ckh_thread_enter,
    .quiesce = ckh_quiesce,
    .thread_exit = ckh_thread_exit,
    .get = ckh_get,
    .put = ckh_put,
};
