/*
 * gsperf/cache.h - a bounded, thread-safe key -> value cache.
 *
 * Keys and values are byte strings, copied into the cache. The cache is
 * bounded by entry count, by bytes, or both; each entry is charged
 * key + value + GSP_CACHE_ENTRY_OVERHEAD bytes (or an explicit charge given
 * at put time). The strategy decides which entry leaves when it is full:
 *
 *   LRU       least recently used
 *   LFU       least frequently used, ties broken by recency; O(1)
 *   FIFO      oldest inserted
 *   TTL       the live entry closest to expiry (entries without a TTL last)
 *   ADAPTIVE  scan-resistant and frequency-aware, adapts to the workload:
 *             S3-FIFO queues with a TinyLFU frequency sketch, in variants
 *             chosen online by sampled shadow simulations (see
 *             src/cache/policy_adaptive.c); a put may be declined
 *   WEAK      holds weak references to gsp_rc objects owned elsewhere; an
 *             entry lives exactly as long as its object has a strong
 *             reference, and is never evicted for capacity
 *
 * Every strategy honours a default TTL (config) and a per-entry TTL (put
 * options); an expired entry is never returned.
 *
 * Thread safety: every function taking a gsp_cache * may be called from
 * any thread at once, except gsp_cache_destroy(), which must be the last
 * call on the cache and must not race with any other call on it (other
 * threads may still release objects a WEAK cache refers to). The cache is
 * split into shards by key hash, each with its own lock and its share of
 * the bound (rounded up); an operation touches one shard and no global
 * lock. A hit (get, get_copy, contains, the hit of get_or_compute) and a
 * plain miss of get/get_copy take no lock at all on every strategy but
 * WEAK: they read under epoch-based reclamation and log the lookup, which
 * the policy applies, in order, when the shard's lock is next taken;
 * expired entries, get_or_compute misses and writers take the shard lock. Eviction order is exact
 * within a shard (under heavy concurrent hits on one shard a few recency/frequency updates may be
 * dropped, never hit counts); set `shards = 1` for one global order (as
 * `gsperf cachesim` does): a single thread's operations then see exactly
 * the order of a cache that applies every hit at once.
 *
 * Callbacks (eviction, compute) run with no cache lock held, so they may
 * call back into the cache: on the thread whose operation caused them, or,
 * for a WEAK entry collected, on the thread that released the object's
 * last strong reference.
 *
 * Ownership: the cache copies keys and values. A pinned reference
 * (gsp_cache_ref) keeps its value readable and unchanged until released,
 * even if the entry is deleted, replaced or evicted meanwhile.
 */
#ifndef GSPERF_CACHE_H
#define GSPERF_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gsp_cache_strategy {
  GSP_CACHE_LRU = 0, /* default */
  GSP_CACHE_LFU = 1,
  GSP_CACHE_FIFO = 2,
  GSP_CACHE_TTL = 3,
  GSP_CACHE_ADAPTIVE = 4,
  GSP_CACHE_WEAK = 5,
} gsp_cache_strategy;

/* Bytes charged per entry on top of key and value when bounded by bytes. */
#define GSP_CACHE_ENTRY_OVERHEAD 96u

typedef enum gsp_cache_reason {
  GSP_CACHE_EVICTED = 0,   /* pushed out for capacity */
  GSP_CACHE_EXPIRED = 1,   /* its TTL ran out */
  GSP_CACHE_DELETED = 2,   /* gsp_cache_delete() or gsp_cache_clear() */
  GSP_CACHE_REPLACED = 3,  /* a put gave the key a new value */
  GSP_CACHE_COLLECTED = 4, /* WEAK: the object's last strong reference went */
} gsp_cache_reason;

/*
 * Called once for every entry that leaves the cache, on the thread whose
 * operation made it leave, with no cache lock held. key/val are valid only
 * during the call (for WEAK caches val is NULL and vlen 0).
 */
typedef void (*gsp_cache_evict_fn)(void *user, const void *key, size_t klen, const void *val,
                                   size_t vlen, gsp_cache_reason reason);

typedef struct gsp_cache_config {
  gsp_cache_strategy strategy;
  size_t max_entries;          /* 0 = no count bound */
  size_t max_bytes;            /* 0 = no byte bound; at least one bound is required
                                  unless the strategy is WEAK */
  uint64_t ttl_ms;             /* default TTL; 0 = entries do not expire */
  unsigned shards;             /* power of two; 0 = 16 per CPU (at most 256), fewer so
                                  each shard keeps 256 entries or 1 MiB */
  gsp_cache_evict_fn on_evict; /* may be NULL */
  void *evict_user;
  gsp_clock clock; /* zero = gsp_now_ns() */
} gsp_cache_config;

typedef struct gsp_cache gsp_cache;
typedef struct gsp_cache_ref gsp_cache_ref;

/*
 * Create a cache. Errors: GSP_EINVAL (cfg NULL, no bound on a non-WEAK
 * cache, shards not a power of two, unknown strategy), GSP_ENOMEM.
 */
GSP_API int gsp_cache_create(const gsp_cache_config *cfg, gsp_cache **out);
/* Free the cache and every entry (without eviction callbacks). NULL-safe.
 * Pinned references must all be released before. */
GSP_API void gsp_cache_destroy(gsp_cache *c);

/* Options for one put; zero means default. */
typedef struct gsp_cache_put_opts {
  uint64_t ttl_ms; /* 0 = the cache's default TTL */
  bool no_expire;  /* true = never expires, whatever the default */
  uint64_t charge; /* 0 = 1 (count-bounded) or key+value+overhead bytes */
} gsp_cache_put_opts;

/*
 * Insert or replace. Errors: GSP_EINVAL (NULL key or value with a non-zero
 * length, key longer than 4 GiB), GSP_ENOMEM, GSP_ENOTSUP (WEAK cache: use
 * gsp_cache_put_weak). An entry whose charge exceeds a shard's capacity is
 * evicted at once (the put returns 0). An ADAPTIVE cache may decline to keep a new entry
 * whose key has less history than what it would displace; the put still
 * returns 0 and the decline counts as an eviction.
 */
GSP_API int gsp_cache_put(gsp_cache *c, const void *key, size_t klen, const void *val, size_t vlen,
                          const gsp_cache_put_opts *opts);

/* Look up and pin. Returns 0 and *out, or GSP_ENOENT (miss or expired). */
GSP_API int gsp_cache_get(gsp_cache *c, const void *key, size_t klen, gsp_cache_ref **out);
/* The pinned value; valid until gsp_cache_ref_release(). */
GSP_API const void *gsp_cache_ref_value(const gsp_cache_ref *r, size_t *vlen);
GSP_API const void *gsp_cache_ref_key(const gsp_cache_ref *r, size_t *klen);
/* Unpin. NULL-safe. */
GSP_API void gsp_cache_ref_release(gsp_cache_ref *r);

/*
 * Look up and copy the value into buf. Returns 0 with *vlen set; GSP_ENOENT
 * on a miss; GSP_ERANGE if cap is too small, with *vlen set to the size
 * needed (nothing is copied, the lookup still counts as a hit).
 */
GSP_API int gsp_cache_get_copy(gsp_cache *c, const void *key, size_t klen, void *buf, size_t cap,
                               size_t *vlen);

GSP_API bool gsp_cache_contains(gsp_cache *c, const void *key, size_t klen);
/* Remove one key. Returns 0 or GSP_ENOENT. */
GSP_API int gsp_cache_delete(gsp_cache *c, const void *key, size_t klen);
/* Remove everything (callbacks see GSP_CACHE_DELETED). */
GSP_API void gsp_cache_clear(gsp_cache *c);
/* Remove every expired entry now; returns how many went. Expired entries
 * are also removed when touched, so calling this only frees memory sooner. */
GSP_API size_t gsp_cache_expire(gsp_cache *c);
/*
 * Evict entries, each shard in its policy's order, until at least `bytes`
 * bytes (key + value + overhead) are gone or the cache is empty; returns
 * the bytes freed. Shards give up their share in turn, so the cache shrinks
 * evenly. Callbacks see GSP_CACHE_EVICTED. For memory-pressure reclaim.
 */
GSP_API uint64_t gsp_cache_shrink(gsp_cache *c, uint64_t bytes);

/*
 * Get-or-compute with single-flight (the seed's @cached). On a hit, pins
 * and returns the cached value. On a miss, exactly one caller runs
 * compute(); concurrent callers missing on the same key wait and receive the
 * same result. compute() runs with no lock held, on the first caller's
 * thread; it returns 0 and a value in *val allocated with gsp_malloc (the
 * cache takes it and frees it), or a negative code, which every waiter
 * receives and nothing is cached. The value is returned pinned even if the
 * cache declines to keep it.
 */
typedef int (*gsp_cache_compute_fn)(void *user, const void *key, size_t klen, void **val,
                                    size_t *vlen);
GSP_API int gsp_cache_get_or_compute(gsp_cache *c, const void *key, size_t klen,
                                     gsp_cache_compute_fn compute, void *user,
                                     const gsp_cache_put_opts *opts, gsp_cache_ref **out);

/*
 * WEAK strategy. put_weak stores a weak reference to obj (the caller keeps
 * its own strong reference). get_weak returns a new strong reference in
 * *out (the caller releases it) while the object lives, else GSP_ENOENT.
 * When the object's last strong reference is released, its entry goes at
 * once (callback reason GSP_CACHE_COLLECTED). On other strategies these
 * return GSP_ENOTSUP.
 */
GSP_API int gsp_cache_put_weak(gsp_cache *c, const void *key, size_t klen, gsp_rc *obj,
                               const gsp_cache_put_opts *opts);
GSP_API int gsp_cache_get_weak(gsp_cache *c, const void *key, size_t klen, gsp_rc **out);

typedef struct gsp_cache_stats {
  uint64_t hits;
  uint64_t misses;
  uint64_t insertions;  /* puts of a new key */
  uint64_t updates;     /* puts that replaced a value */
  uint64_t evictions;   /* left for capacity (incl. declined admissions) */
  uint64_t expirations; /* left because their TTL ran out */
  uint64_t deletions;   /* removed by delete or clear */
  uint64_t collections; /* WEAK: left because their object died */
  uint64_t entries;     /* now */
  uint64_t bytes;       /* now: key+value+overhead of every entry */
  uint64_t charge;      /* now: units counted against the bound */
  double hit_rate;      /* hits / (hits + misses), 0 when no lookups */
} gsp_cache_stats;

/* A consistent-per-shard snapshot of the statistics. */
GSP_API void gsp_cache_stats_get(gsp_cache *c, gsp_cache_stats *out);
/* Zero the counters (not entries/bytes/charge). */
GSP_API void gsp_cache_stats_reset(gsp_cache *c);
/*
 * The statistics as one JSON object, written into buf (NUL-terminated).
 * Returns the length it needs (excluding NUL), like snprintf; if that is
 * >= cap, the output was cut.
 */
GSP_API size_t gsp_cache_stats_json(const gsp_cache_stats *s, char *buf, size_t cap);

GSP_API const char *gsp_cache_strategy_name(gsp_cache_strategy s);
/* Parse "lru", "lfu", "fifo", "ttl", "adaptive", "weak" (any case). */
GSP_API int gsp_cache_strategy_parse(const char *name, gsp_cache_strategy *out);
GSP_API void gsp_cache_config_get(const gsp_cache *c, gsp_cache_config *out);

/*
 * The cache manager: named caches, as the seed's CacheManager. Thread-safe;
 * the manager owns its caches and destroys them with itself. A cache
 * returned by create/find stays valid until the manager is destroyed or the
 * cache is removed by name.
 */
typedef struct gsp_cache_manager gsp_cache_manager;

GSP_API int gsp_cache_manager_create(gsp_cache_manager **out);
GSP_API void gsp_cache_manager_destroy(gsp_cache_manager *m);
/* Names are 1-128 characters of [A-Za-z0-9_.:/-]. GSP_EEXIST if the name
 * is taken, GSP_EINVAL for a bad name or configuration (errmsg says why). */
GSP_API int gsp_cache_manager_create_cache(gsp_cache_manager *m, const char *name,
                                           const gsp_cache_config *cfg, gsp_cache **out);
/* NULL if absent. */
GSP_API gsp_cache *gsp_cache_manager_find(gsp_cache_manager *m, const char *name);
GSP_API int gsp_cache_manager_remove(gsp_cache_manager *m, const char *name);
/* Number of caches. */
GSP_API size_t gsp_cache_manager_count(gsp_cache_manager *m);
/* The i-th name in sorted order, i < count; valid until the next create or
 * remove on the manager. NULL if i is out of range. */
GSP_API const char *gsp_cache_manager_name(gsp_cache_manager *m, size_t i);
/* The stats of every cache as {"name": {...}, ...}; snprintf-like return. */
GSP_API size_t gsp_cache_manager_stats_json(gsp_cache_manager *m, char *buf, size_t cap);
/* The manager's last error detail (e.g. which name was taken); when several
 * threads fail at once, each sees the latest message, not necessarily its own. */
GSP_API const char *gsp_cache_manager_errmsg(gsp_cache_manager *m);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_CACHE_H */
