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

#include "cache_int.h"

typedef struct gsp__flight gsp__flight;

typedef struct gsp__shard_stats {
  uint64_t hits, misses, insertions, updates, evictions, expirations, deletions, collections;
} gsp__shard_stats;

typedef struct gsp__shard {
  pthread_mutex_t lock;
  gsp__entry **buckets;
  size_t nbuckets; /* power of two */
  size_t count;
  uint64_t bytes;
  gsp__policy pol;
  gsp__shard_stats st;
  gsp__flight *flights; /* single-flight computations in progress */
} __attribute__((aligned(64))) gsp__shard;

/* A WEAK entry's link to its object. */
typedef struct gsp__weak {
  gsp_rc_watcher watcher;
  gsp_rc *rc;
  struct gsp_cache *cache;
  gsp__entry *entry;
  int dead; /* the object died (set under the shard lock) */
} gsp__weak;

struct gsp_cache {
  gsp_cache_config cfg;
  unsigned nshards;
  unsigned shard_shift;       /* shard = hash >> shard_shift */
  bool count_units;           /* capacity units are entries (else bytes) */
  uint64_t shard_bytes;       /* per-shard byte bound when both bounds are set */
  gsp__shard *shards;         /* 64-byte aligned, inside shards_mem */
  atomic_uint weak_callbacks; /* WEAK death callbacks running now */
  void *shards_mem;
};

/* Entries unlinked under a lock, to be told about and freed after unlock. */
typedef struct gsp__graveyard {
  gsp__entry *entries; /* chained through hnext, reason in e->reason */
  gsp__vblock *old_vb; /* a replaced value (reason REPLACED) */
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
/* Free an unlinked entry (its memory may outlive it, see gsp__vblock). */
void gsp__entry_free(gsp__entry *e);
void gsp__vblock_pin(gsp__vblock *vb);
void gsp__vblock_unref(gsp__vblock *vb);
/* Fill the entry's charge and expiry from the put options. */
void gsp__entry_account(struct gsp_cache *c, gsp__entry *e, const gsp_cache_put_opts *opts);
/* Insert fresh (a new unlinked value entry) or, if its key is present, move
 * its value into the existing entry. Consumes fresh in every case. */
int gsp__put_entry(struct gsp_cache *c, gsp__entry *fresh, const gsp_cache_put_opts *opts);

#endif
