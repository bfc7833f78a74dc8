/*
 * cache_core.h - the cache's shards and the functions cache.c shares with
 * the other files of the module (single-flight, weak entries, stats).
 *
 * Lock order: a gsp_rc's internal lock may be held when a shard lock is
 * taken (death callbacks); a shard lock is never held while calling into
 * gsp_rc_watch/unwatch/release. No code holds two shard locks at once.
 */
#ifndef GSP_CACHE_CORE_H
#define GSP_CACHE_CORE_H

#include <pthread.h>

#include "cache_ebr.h"
#include "cache_int.h"

typedef struct gsp__flight gsp__flight;

/* A hash table: mask + 1 chain heads. Replaced whole when it grows; the
 * old one is retired (rn) like an entry, as readers may still walk it. */
typedef struct gsp__table {
  gsp__retired rn;
  size_t mask;
  _Atomic(gsp__entry *) b[];
} gsp__table;

/*
 * Read buffers (cache_lf.c). A lock-free hit is logged as {entry, hash} in
 * one of the shard's stripes (chosen by the reader's EBR slot, so two
 * threads rarely share one) and applied to the policy, in order, by
 * whoever holds the shard lock next. `extra` counts hits that are not in
 * the ring: for policies that ignore hits, and hits dropped when the ring
 * was full and the lock busy.
 */
#define GSP__STRIPES 4u
#define GSP__RING 16u

typedef struct gsp__hitrec {
  _Atomic(gsp__entry *) e; /* NULL: free, or reserved and not yet written */
  _Atomic uint64_t hash;
} gsp__hitrec;

typedef struct gsp__stripe {
  _Atomic uint64_t tail;   /* next slot producers reserve (CAS) */
  _Atomic uint64_t head;   /* next slot the drainer reads (under the shard lock) */
  _Atomic uint64_t extra;  /* hits not in the ring */
  _Atomic uint64_t misses; /* lock-free misses not in the ring (policies without on_miss) */
  gsp__hitrec rec[GSP__RING];
} __attribute__((aligned(64))) gsp__stripe;

/* Entry block sizes the recycling pools keep: sizeof(gsp__entry) plus
 * 0, 16, ..., 16 * (GSP__POOL_CLASSES - 1) bytes of long key and value. */
#define GSP__POOL_CLASSES 16u

/* Retired memory of a shard, oldest first; under the shard lock. */
typedef struct gsp__limbo {
  gsp__retired *head, *tail;
  size_t count;
  uint64_t bytes;
} gsp__limbo;

typedef struct gsp__shard_stats {
  uint64_t hits, misses, insertions, updates, evictions, expirations, deletions, collections;
} gsp__shard_stats;

typedef struct gsp__shard {
  gsp__stripe stripe[GSP__STRIPES]; /* hit logs, written by lock-free readers */
  _Atomic(gsp__table *) tab;        /* read by lock-free readers ... */
  _Atomic uint64_t tab_seq;         /* odd while the table is being rehashed */
  char tab_line[48];                /* ... alone on their cache line */
  pthread_mutex_t lock;             /* the rest: under the lock */
  size_t count;
  uint64_t bytes;
  gsp__policy pol;
  gsp__shard_stats st;
  gsp__flight *flights; /* single-flight computations in progress */
  gsp__limbo limbo;     /* retired entries (and value donors) */
  gsp__limbo old_tabs;  /* retired hash tables */
  uint64_t retired;     /* retirements since the last epoch advance attempt */
  /* Recycling pools (cache_lf.c): reclaimed entry blocks by size class,
   * linked through rn; pool_n is written under the lock and read without
   * it by puts deciding whether to look. */
  gsp__retired *pool[GSP__POOL_CLASSES];
  _Atomic uint32_t pool_n[GSP__POOL_CLASSES];
} __attribute__((aligned(64))) gsp__shard;

/* A WEAK entry's link to its object. */
typedef struct gsp__weak {
  gsp_rc_watcher watcher;
  gsp_rc *rc;
  struct gsp_cache *cache;
  gsp__entry *entry;
  int dead;           /* the object died (set under the shard lock) */
  uint64_t expire_ns; /* the entry's expiry (value entries keep it in their block) */
} gsp__weak;

/* An entry's expiry, 0 = never. Under the shard lock. */
static inline uint64_t gsp__entry_expire(const gsp__entry *e) {
  const gsp__vblock *vb = atomic_load_explicit(&e->vb, memory_order_relaxed);
  return vb != NULL ? vb->expire_ns : e->weak->expire_ns;
}

struct gsp_cache {
  gsp_cache_config cfg;
  unsigned nshards;
  unsigned shard_shift;       /* shard = hash >> shard_shift */
  bool count_units;           /* capacity units are entries (else bytes) */
  bool lockfree;              /* hits take the lock-free read path (all but WEAK) */
  bool log_hits;              /* the policy wants to hear about hits */
  uint64_t shard_bytes;       /* per-shard byte bound when both bounds are set */
  gsp__shard *shards;         /* 64-byte aligned, inside shards_mem */
  atomic_uint weak_callbacks; /* WEAK death callbacks running now */
  void *shards_mem;
};

/* Entries unlinked under a lock, to be told about and freed after unlock. */
typedef struct gsp__graveyard {
  gsp__retired *entries; /* chained through rn, reason in e->reason */
  gsp__vblock *old_vb;   /* a replaced value (reason REPLACED) */
  gsp__entry *donor;     /* the unlinked entry whose value replaced old_vb */
  gsp__retired *reclaim; /* retired memory now safe to free */
  gsp__retired *tables;  /* retired tables now safe to free */
  bool advance;          /* try to move the epoch after unlocking */
} gsp__graveyard;

/* Count a lookup's outcome and tell the policy. Under the shard lock. */
static inline void gsp__count_hit_locked(gsp__shard *sh, gsp__entry *e) {
  sh->st.hits++;
  sh->pol.ops->on_hit(&sh->pol, e);
}

static inline void gsp__count_miss_locked(gsp__shard *sh, uint64_t hash) {
  sh->st.misses++;
  if (sh->pol.ops->on_miss != NULL) sh->pol.ops->on_miss(&sh->pol, hash);
}

/* Lock the shard and apply the hits the calling thread logged in it. */
void gsp__shard_lock(struct gsp_cache *c, gsp__shard *sh);
/* Retire what g holds (or free it: WEAK), unlock, then run callbacks and
 * free what is safe. */
void gsp__shard_unlock(struct gsp_cache *c, gsp__shard *sh, gsp__graveyard *g);

/* ---- lock-free read path (cache_lf.c) ---- */
typedef struct gsp__lf_get {
  void *buf; /* copy into buf (cap bytes) ... */
  size_t cap;
  gsp__vblock **pin; /* ... or pin into *pin (when non-NULL) */
  bool log_miss;     /* a certain miss may be logged and answered lock-free */
  size_t vlen;       /* out: the value's length */
  int rv;            /* out: GSP_OK or GSP_ERANGE */
} gsp__lf_get;
enum { GSP__LF_LOCKED = 0, GSP__LF_HIT = 1, GSP__LF_MISS = 2 };
/* A lock-free lookup: GSP__LF_HIT when served (value copied or pinned, hit
 * logged), GSP__LF_MISS when the key is certainly absent and the miss was
 * logged (only with log_miss), GSP__LF_LOCKED to take the locked path
 * (expired, a rehash overlapped, no reader slot, ring full and lock busy). */
int gsp__lf_lookup(struct gsp_cache *c, uint64_t hash, const void *key, size_t klen,
                   gsp__lf_get *q);
/* True if a live entry for key is found lock-free (false: ask locked). */
bool gsp__lf_contains(struct gsp_cache *c, uint64_t hash, const void *key, size_t klen);
/* Apply the hits logged in the calling thread's stripe (all stripes when
 * `all`). Under the shard lock. */
void gsp__lf_drain_locked(struct gsp_cache *c, gsp__shard *sh, bool all);
/* Move the graveyard's entries and donor into the limbo and take out what
 * has become safe to free. Under the shard lock. */
void gsp__lf_retire_locked(gsp__shard *sh, gsp__graveyard *g);
void gsp__lf_retire_table_locked(gsp__shard *sh, gsp__table *t);
/* After unlocking: free what retire_locked took out, maybe advance. */
void gsp__lf_reclaim(gsp__graveyard *g);
/* Whether the shard's pool may hold a block of this size (a hint read
 * without the lock), and take one (NULL if none). */
bool gsp__pool_may_have(gsp__shard *sh, size_t size);
gsp__entry *gsp__pool_take_locked(gsp__shard *sh, size_t size);
/* Free a shard's limbo and pools now (destroy: no reader left). */
void gsp__lf_limbo_free_all(gsp__shard *sh);
/* Wait (bounded) until everything retired so far is safe, then free it. */
void gsp__lf_reclaim_all(struct gsp_cache *c);
bool gsp__key_equal(const unsigned char *a, const void *b, size_t n);

uint64_t gsp__cache_hash(const void *key, size_t klen);
uint64_t gsp__cache_now(const struct gsp_cache *c);
gsp__shard *gsp__cache_shard(struct gsp_cache *c, uint64_t hash);
/* Find a live entry; an expired one is unlinked into g and NULL returned. */
gsp__entry *gsp__lookup_locked(struct gsp_cache *c, gsp__shard *sh, uint64_t hash, const void *key,
                               size_t klen, gsp__graveyard *g);
void gsp__unlink_locked(gsp__shard *sh, gsp__entry *e, gsp_cache_reason why, gsp__graveyard *g);
/* Link a new entry (policy told), then evict while over the bounds. */
int gsp__insert_locked(struct gsp_cache *c, gsp__shard *sh, gsp__entry *e, gsp__graveyard *g);
/* Tell the eviction callback and free everything in g. No lock held. */
void gsp__graveyard_flush(struct gsp_cache *c, gsp__graveyard *g);
/* A new unlinked entry for key; with_value gives it an embedded value
 * block holding a copy of val (WEAK entries have none). */
gsp__entry *gsp__entry_new(const void *key, size_t klen, const void *val, size_t vlen,
                           bool with_value);
/* The allocation size of an entry block (16-byte multiple; 0: too large),
 * and the initialization of a block of that size. */
size_t gsp__entry_size(size_t klen, size_t vlen);
void gsp__entry_init(gsp__entry *e, uint64_t hash, const void *key, size_t klen, const void *val,
                     size_t vlen, bool with_value);
/* Free an unlinked entry (its memory may outlive it, see gsp__vblock). */
void gsp__entry_free(gsp__entry *e);
void gsp__vblock_pin(gsp__vblock *vb);
void gsp__vblock_unref(gsp__vblock *vb);
/* Fill the entry's charge and expiry from the put options. */
void gsp__entry_account(struct gsp_cache *c, gsp__entry *e, const gsp_cache_put_opts *opts);

/* Bytes an entry counts against a byte bound: key, value and overhead. */
static inline uint64_t gsp__entry_bytes(const gsp__entry *e) {
  const gsp__vblock *vb = atomic_load_explicit(&e->vb, memory_order_relaxed);
  return (uint64_t)e->klen + (vb ? vb->vlen : 0) + GSP_CACHE_ENTRY_OVERHEAD;
}
/* Insert fresh (a new unlinked value entry) or, if its key is present, move
 * its value into the existing entry. Consumes fresh in every case. */
int gsp__put_entry(struct gsp_cache *c, gsp__entry *fresh, const gsp_cache_put_opts *opts);

#endif
