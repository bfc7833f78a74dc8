/*
 * gsperf/tier.h - a multi-level cache: L1 memory, L2 compressed memory, L3
 * persistent (LMDB in a directory) or shared (Redis).
 *
 *   L1  a gsp_cache (any strategy) holding values as they are.
 *   L2  a gsp_cache of LZ4-compressed records, bounded in compressed bytes,
 *       with its own strategy; a value that does not shrink is stored raw
 *       and flagged so.
 *   L3  an LMDB environment in a directory (`l3 = "lmdb:/path"`), bounded in
 *       bytes, with a default TTL and its own eviction order (LRU or FIFO)
 *       kept in the database itself, so it survives restarts and is shared
 *       by every thread and process that opens the directory. Or a Redis
 *       server (`l3 = "redis://HOST:PORT/DB"`) for a cache shared by many
 *       machines: same interface; bound, eviction and durability are then
 *       the server's (maxmemory, maxmemory-policy, RDB/AOF).
 *
 * Reads go L1 -> L2 -> L3; a hit below L1 is promoted into L1 (an L2 hit
 * leaves L2). An entry evicted from L1 for capacity is demoted into L2; one
 * evicted from L2 (or from L1 when there is no L2) is written into L3 if L3
 * lacks it, in write-back mode (in write-through, L3 has every value
 * already, unless its own bound dropped it). Puts are write-through
 * (L1 and L3 before the call returns), write-back (L1 now; L3 in batches
 * of `wb_batch` writes, on gsp_tier_flush() and on destroy) or
 * write-behind (L1 now; L3 by a writer thread of the tier, in large
 * batches, off the caller's thread). Delete and clear reach every level
 * (clear empties the L3 directory too).
 *
 * Records in L2 and L3 carry a format version, the key and an XXH3-64
 * checksum of header, key and payload. A record that fails its check is a
 * miss, is counted (stats `corrupt`), is removed, and is never returned.
 *
 * Durability of an LMDB L3 put (see docs/tier.md):
 *   SYNC      the put returns after the data reached the disk (fsync): it
 *             survives a process kill and a machine crash.
 *   PERIODIC  the put is in the OS page cache when it returns (survives a
 *             process kill); a background thread syncs every
 *             `sync_interval_ms`, so a machine crash loses at most that much.
 *   NONE      like PERIODIC with no background sync: the OS writes back when
 *             it likes.
 * With write-back and write-behind these hold from the moment the batch
 * holding the put is committed (at the latest gsp_tier_flush()); a process
 * killed before that loses the uncommitted batches and nothing else: every
 * batch is one LMDB transaction, so the store another process opens is
 * never half-written.
 *
 * Thread safety: every function taking a gsp_tier * may be called from any
 * thread at once, except gsp_tier_destroy(), which must be the last call.
 * Several processes may open the same L3 directory at once.
 *
 * Callbacks: the compute function of gsp_tier_get_or_compute() runs on the
 * calling thread with no tier lock held.
 *
 * Ownership: values are copied in; values returned by get calls are
 * allocated with gsp_malloc and freed by the caller with gsp_free; a
 * borrowed value (gsp_tier_get_view) belongs to the tier and is the
 * caller's to read until gsp_tier_view_release().
 */
#ifndef GSPERF_TIER_H
#define GSPERF_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/cache.h"
#include "gsperf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gsp_tier_write_mode {
  GSP_TIER_WRITE_THROUGH = 0, /* default */
  GSP_TIER_WRITE_BACK = 1,
  GSP_TIER_WRITE_BEHIND = 2, /* L3 written by the tier's own writer thread (see below) */
} gsp_tier_write_mode;

typedef enum gsp_tier_durability {
  GSP_TIER_SYNC = 0, /* default */
  GSP_TIER_PERIODIC = 1,
  GSP_TIER_NONE = 2,
} gsp_tier_durability;

/* Levels, for gsp_tier_stats.level[]. */
enum { GSP_TIER_L1 = 0, GSP_TIER_L2 = 1, GSP_TIER_L3 = 2, GSP_TIER_LEVELS = 3 };

/* Current version of the L2/L3 record format and the L3 directory layout. */
#define GSP_TIER_FORMAT_VERSION 1u

typedef struct gsp_tier_config {
  gsp_cache_strategy l1_strategy; /* any but WEAK */
  size_t l1_max_bytes;            /* 0 = 64 MiB (unless l1_max_entries is set) */
  size_t l1_max_entries;          /* 0 = no count bound */
  gsp_cache_strategy l2_strategy; /* any but WEAK */
  size_t l2_max_bytes;            /* compressed bytes; 0 = 64 MiB; SIZE_MAX = no L2 */
  const char *l3;                 /* "lmdb:/dir", "redis://host[:port][/db]", or NULL
                                     for no L3 (read by create only) */
  gsp_cache_strategy l3_strategy; /* LRU (default) or FIFO (LMDB only) */
  uint64_t l3_max_bytes;          /* key + record bytes stored; 0 = the bound the
                                     database was created with, or 1 GiB for a new one.
                                     The bound is stored with the data. */
  bool l3_compress;               /* LZ4 in L3 too (smaller files, slower gets) */
  uint64_t ttl_ms;                /* default TTL at every level; 0 = none */
  gsp_tier_write_mode write_mode;
  unsigned wb_batch; /* write-back: writes per L3 batch; 0 = 256 */
  gsp_tier_durability durability;
  unsigned sync_interval_ms; /* PERIODIC: 0 = 1000 */
  bool l3_rebuild;           /* a corrupt, foreign or newer L3 database is
                                removed and created afresh instead of failing */
  bool l3_readonly;          /* open L3 for reading only (puts fail GSP_ENOTSUP) */
  bool no_promote;           /* an L3 hit is not copied into L1: for workloads that
                                read each key about once per process (a scan) */
  /* Write-behind (GSP_TIER_WRITE_BEHIND): a put queues (key, value) and
   * returns; one writer thread takes everything queued and writes it to L3
   * in one transaction per batch (at most wbh_batch_bytes of values), then
   * drops it from the queue. The queue is bounded: a put waits while
   * wbh_queue_bytes of values are queued (back-pressure). Until written, a
   * queued value is found by get like any other level (counted as L3).
   * gsp_tier_flush() and destroy wait until the queue is empty. After an L3
   * write fails (disk or map full, I/O error), the failed batch and every
   * later put are not written: such puts return the error at once, and
   * gsp_tier_flush() returns it, gsp_tier_errmsg() naming the L3 path. */
  size_t wbh_queue_bytes; /* 0 = 8 MiB */
  size_t wbh_batch_bytes; /* 0 = 1 MiB */
  /* Write-around: a put whose value goes to L3 does not keep it in L1 (an
   * older L1 copy is dropped), for values that are read back rarely in this
   * process (a cold scan storing results for the next run). Without L3 it
   * has no effect. Also per put (gsp_tier_put_opts.no_l1). */
  bool write_around;
} gsp_tier_config;

typedef struct gsp_tier gsp_tier;

/*
 * Create a tier. Errors: GSP_EINVAL (bad configuration, unknown L3 scheme),
 * GSP_ENOMEM, GSP_EIO / GSP_ESYS (the L3 directory cannot be opened),
 * GSP_ECORRUPT (L3 database damaged or truncated), GSP_EFORMAT (not a
 * gsperf tier database, or a newer format) - unless l3_rebuild is set.
 * On failure *out is NULL and, if errmsg is not NULL, a message naming the
 * path and the problem is written there (at most errcap bytes).
 */
GSP_API int gsp_tier_create(const gsp_tier_config *cfg, gsp_tier **out, char *errmsg,
                            size_t errcap);
/*
 * The simple path for a persistent per-process cache: L1 and L2 of 64 MiB
 * (LRU), L3 an LMDB database in `dir` (created if absent) of l3_max_bytes
 * (0 = 1 GiB), write-through, durability NONE (a process kill loses
 * nothing; a machine crash may lose recent puts). Errors as create.
 */
GSP_API int gsp_tier_open(const char *dir, uint64_t l3_max_bytes, gsp_tier **out, char *errmsg,
                          size_t errcap);
/* Flush pending write-back, close L3, free everything. NULL-safe. */
GSP_API void gsp_tier_destroy(gsp_tier *t);
/* Detail of the latest failure on this tier ("" if none); when several
 * threads fail at once, each sees the latest message. */
GSP_API const char *gsp_tier_errmsg(const gsp_tier *t);
/* The directory of an LMDB L3 (as configured, after "lmdb:"), where other
 * per-cache files may live beside the database (the code graph keeps its
 * stat index there); NULL without L3 or with a Redis L3, or t NULL. The
 * string belongs to the tier and lives until gsp_tier_destroy(). Any
 * thread. */
GSP_API const char *gsp_tier_l3_dir(const gsp_tier *t);

typedef struct gsp_tier_put_opts {
  uint64_t ttl_ms; /* 0 = the tier's default */
  bool no_expire;  /* never expires, whatever the default */
  bool no_l1;      /* write-around for this put (see gsp_tier_config.write_around) */
  /* Write-behind only (ignored otherwise): this put does not wake the
   * writer thread. It is written once the values queued reach the wake
   * size (the smallest of wbh_batch_bytes, half of wbh_queue_bytes and
   * 256 KiB), when a put that is not deferred is queued, or by
   * gsp_tier_flush(), gsp_tier_delete(), gsp_tier_clear() or destroy
   * (and when a put waits for room in the queue). For a scan that stores
   * many values and flushes at its end: one large transaction per batch
   * and no wake-up per put, instead of a transaction per few puts. Until
   * written the value is found by get as any queued value; a process
   * killed before the flush loses the deferred puts not yet written (at
   * most a batch and the queue), never the consistency of L3. */
  bool defer;
} gsp_tier_put_opts;

/*
 * Insert or replace. Errors: GSP_EINVAL, GSP_ENOMEM, GSP_ENOSPC (L3 map or
 * disk full: the value is still in L1), GSP_EIO, GSP_ENOTSUP (read-only).
 * On an L3 error the value stays cached in memory and the call returns the
 * error, so the caller knows it is not persistent (with write-around the
 * value is then nowhere). Write-behind: success means queued; an L3 error
 * is returned by a later put and by gsp_tier_flush().
 */
GSP_API int gsp_tier_put(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                         const gsp_tier_put_opts *opts);
/*
 * Look up through every level. Returns 0 with *val (gsp_malloc, caller
 * frees; NULL when vlen is 0) and *vlen, or GSP_ENOENT. L3 errors other than
 * a miss are returned (GSP_EIO, GSP_ENOMEM); a corrupt record is a miss.
 */
GSP_API int gsp_tier_get(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen);
/*
 * Borrowed (zero-copy) get: the value is handed out where it lies, checked
 * like every read, and stays valid and unchanged until
 * gsp_tier_view_release(). An L1 hit pins the L1 entry; an L3 (LMDB) hit
 * points into the memory-mapped database and keeps its read transaction
 * open, so the bytes are never copied (an LZ4-compressed L3 record, an L2
 * hit, a write-back hit and a Redis hit are decoded into a buffer the view
 * owns). With promotion on, an L3 hit is still copied into L1.
 *
 * Returns 0 and fills *v (v->data is NULL when v->len is 0), GSP_ENOENT
 * (v zeroed, nothing to release), or an error as gsp_tier_get(); GSP_EBUSY
 * when every LMDB reader slot (510 per directory) is held by views.
 *
 * Ownership and threads: the view is the caller's; release it exactly once,
 * from any thread, before gsp_tier_destroy(). Hold views briefly: an open
 * LMDB view pins the snapshot it reads, so pages freed by later writes are
 * not reused until it is released (a long-held view can fill the map).
 * Counted in the statistics like gsp_tier_get().
 */
typedef struct gsp_tier_view {
  const void *data; /* the value */
  size_t len;       /* its length */
  void *impl_[6];   /* private to the tier */
} gsp_tier_view;
GSP_API int gsp_tier_get_view(gsp_tier *t, const void *key, size_t klen, gsp_tier_view *v);
/* End a view from gsp_tier_get_view(). NULL-safe; a zeroed view is a no-op. */
GSP_API void gsp_tier_view_release(gsp_tier_view *v);
GSP_API bool gsp_tier_contains(gsp_tier *t, const void *key, size_t klen);
/* Remove from every level. Returns 0, GSP_ENOENT (nowhere), or an L3 error. */
GSP_API int gsp_tier_delete(gsp_tier *t, const void *key, size_t klen);
/* Remove everything from every level, the L3 database included. Other
 * calls may run meanwhile: what returned before the clear began is gone,
 * what begins after it returns stays, and a put (or a promotion, a
 * demotion) that overlaps it is afterwards either in no level or wholly
 * in place, in every level a put puts it in. */
GSP_API int gsp_tier_clear(gsp_tier *t);
/* Write pending write-back entries to L3 and sync L3 to disk. */
GSP_API int gsp_tier_flush(gsp_tier *t);

/*
 * Get-or-compute with single-flight across levels: a lookup through every
 * level; on a miss exactly one caller per key runs compute() (no lock held)
 * and puts its value, while concurrent callers of the same key wait and get
 * a copy of the same value or the same error. compute() returns 0 and a
 * gsp_malloc'd value (the tier takes it) or a negative code. The result
 * is returned as by gsp_tier_get(). A failing L3 write does not fail the
 * call (the value is returned and cached in memory).
 */
GSP_API int gsp_tier_get_or_compute(gsp_tier *t, const void *key, size_t klen,
                                    gsp_cache_compute_fn compute, void *user,
                                    const gsp_tier_put_opts *opts, void **val, size_t *vlen);

typedef struct gsp_tier_latency {
  uint64_t count;
  uint64_t p50_ns, p99_ns, max_ns;
  double mean_ns;
} gsp_tier_latency;

typedef struct gsp_tier_level_stats {
  bool present;             /* the level is configured */
  uint64_t hits;            /* lookups answered by this level */
  uint64_t misses;          /* lookups that reached this level and missed */
  uint64_t promotions;      /* entries copied up from this level into L1 */
  uint64_t demotions;       /* entries demoted into this level */
  uint64_t corrupt;         /* records that failed their check (removed) */
  uint64_t errors;          /* failed operations (L3: I/O, map full) */
  uint64_t entries;         /* now */
  uint64_t bytes;           /* now: stored bytes (L2: compressed records) */
  uint64_t raw_bytes;       /* now: value bytes before compression (L2) */
  uint64_t capacity;        /* the level's bound in bytes (0: bounded by entries) */
  double compression_ratio; /* raw_bytes / stored payload (L2), 0 if empty */
  gsp_tier_latency read, write;
} gsp_tier_level_stats;

typedef struct gsp_tier_stats {
  gsp_tier_level_stats level[GSP_TIER_LEVELS];
  uint64_t lookups;    /* gsp_tier_get (and get-or-compute lookups) */
  uint64_t hits;       /* answered by any level */
  double hit_rate;     /* hits / lookups, 0 when none */
  uint64_t wb_pending; /* write-back / write-behind entries not yet in L3 */
} gsp_tier_stats;

/* A snapshot of the statistics. Errors: GSP_ENOMEM (latencies left zero). */
GSP_API int gsp_tier_stats_get(gsp_tier *t, gsp_tier_stats *out);
/* The statistics as one JSON object; snprintf-like return. */
GSP_API size_t gsp_tier_stats_json(const gsp_tier_stats *s, char *buf, size_t cap);

/*
 * Check every L3 record (format version, key, checksum, length); bad
 * records are counted, and removed when `repair` is true. Errors: GSP_ENOTSUP
 * (no L3), GSP_EIO. Not for use while other threads of this process write.
 */
GSP_API int gsp_tier_verify(gsp_tier *t, bool repair, uint64_t *good, uint64_t *bad);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_TIER_H */
