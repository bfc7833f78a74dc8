/*
 * tier_int.h - internals shared by the files of the tier module: the record
 * format (record.c), the L3 backend interface (l3_lmdb.c) and the tier
 * itself (tier.c, tier_flight.c, tier_stats.c).
 */
#ifndef GSP_TIER_INT_H
#define GSP_TIER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/cache.h"
#include "gsperf/metrics.h"
#include "gsperf/tier.h"

/* ---- records (record.c) ---------------------------------------------------
 * Little-endian, 32-byte header, then the key, then the payload:
 *   0  u64 XXH3-64 of everything after it (bytes 8.. to the end)
 *   8  u8  version (GSP_TIER_FORMAT_VERSION)
 *   9  u8  flags (GSP__REC_LZ4: payload is LZ4 block data)
 *  10  u16 reserved, 0
 *  12  u32 key length
 *  16  u32 value length (uncompressed)
 *  20  u32 payload length (stored)
 *  24  u64 expiry, wall-clock ms since the epoch; 0 = never
 */
#define GSP__REC_HDR 32u
#define GSP__REC_LZ4 0x01u
#define GSP__REC_MAX_VAL 0x7f000000u /* LZ4's input limit, under 2 GiB */

typedef struct gsp__rec_view {
  unsigned flags;
  const uint8_t *key;
  uint32_t klen;
  uint32_t vlen;
  const uint8_t *payload;
  uint32_t plen;
  uint64_t expire_ms;
} gsp__rec_view;

/* Encode (compress when `compress` and the value shrinks). *out is
 * gsp_malloc'd. Errors: GSP_ENOMEM, GSP_EOVERFLOW (too large). */
int gsp__rec_encode(const void *key, size_t klen, const void *val, size_t vlen, uint64_t expire_ms,
                    bool compress, uint8_t **out, size_t *olen);
/* The same into rec, which has room for GSP__REC_HDR + klen + vlen bytes. */
int gsp__rec_encode_to(const void *key, size_t klen, const void *val, size_t vlen,
                       uint64_t expire_ms, bool compress, uint8_t *rec, size_t *olen);
/* Check a record: version, lengths, checksum and (if key != NULL) that it
 * carries `key`. Returns 0, GSP_EFORMAT (newer version) or GSP_ECORRUPT. */
int gsp__rec_check(const void *rec, size_t rlen, const void *key, size_t klen, gsp__rec_view *v);
/* The value of a checked record into a gsp_malloc'd buffer (NULL if empty)
 * of vlen + GSP__REC_SLACK bytes: the spare bytes after the value let the
 * tier promote the buffer into L1 (value + expiry trailer) without copying
 * it once more. Errors: GSP_ENOMEM, GSP_ECORRUPT (payload does not
 * decompress). */
#define GSP__REC_SLACK 8u

int gsp__rec_value(const gsp__rec_view *v, void **val, size_t *vlen);
/* Wall-clock milliseconds since the epoch. */
uint64_t gsp__wall_ms(void);

/* ---- L3 backends -----------------------------------------------------------
 * An L3 backend stores encoded records by key. get() checks the record
 * (gsp__rec_check) and decodes it; a record failing the check is deleted
 * and reported as GSP_ECORRUPT (the tier counts it as a miss). */
typedef struct gsp__l3 gsp__l3;
/* A borrowed L3 value: data points into the backend's storage (txn keeps it
 * valid) or into buf (decoded, gsp_malloc'd); unview() ends it. */
typedef struct gsp__l3_view {
  const void *data;
  size_t len;
  uint64_t expire_ms;
  void *txn;
  void *buf;
} gsp__l3_view;
typedef struct gsp__l3_ops {
  int (*get)(gsp__l3 *b, const void *key, size_t klen, void **val, size_t *vlen,
             uint64_t *expire_ms);
  /* Optional (NULL: borrowed gets copy through get()). v zeroed by the caller. */
  int (*view)(gsp__l3 *b, const void *key, size_t klen, gsp__l3_view *v);
  void (*unview)(gsp__l3 *b, gsp__l3_view *v);
  int (*contains)(gsp__l3 *b, const void *key, size_t klen);
  /* Store a batch of records (one transaction); rec NULL = delete key. */
  int (*put_batch)(gsp__l3 *b, size_t n, const void *const *keys, const size_t *klens,
                   const void *const *recs, const size_t *rlens);
  int (*del)(gsp__l3 *b, const void *key, size_t klen);
  int (*clear)(gsp__l3 *b);
  int (*sync)(gsp__l3 *b);
  int (*verify)(gsp__l3 *b, bool repair, uint64_t *good, uint64_t *bad);
  void (*info)(gsp__l3 *b, uint64_t *entries, uint64_t *bytes, uint64_t *capacity);
  void (*close)(gsp__l3 *b);
} gsp__l3_ops;

struct gsp__l3 {
  const gsp__l3_ops *ops;
  char errmsg[512]; /* latest failure, under errmu */
  pthread_mutex_t errmu;
};

typedef struct gsp__l3_config {
  const char *path;
  gsp_cache_strategy strategy;
  uint64_t max_bytes;
  gsp_tier_durability durability;
  unsigned sync_interval_ms;
  bool rebuild;
  bool readonly;
} gsp__l3_config;

int gsp__l3_lmdb_open(const gsp__l3_config *cfg, gsp__l3 **out, char *errmsg, size_t errcap);
/* "redis://HOST[:PORT][/DB]"; connects lazily (the server may be down). */
int gsp__l3_redis_open(const char *uri, gsp__l3 **out, char *errmsg, size_t errcap);
void gsp__l3_seterr(gsp__l3 *b, const char *fmt, ...) GSP_PRINTF(2, 3);
/* Copy b's latest message into buf. */
void gsp__l3_geterr(gsp__l3 *b, char *buf, size_t cap);

/* ---- the tier (tier.c) ---------------------------------------------------- */
#define GSP__TIER_STRIPES 256u

typedef struct gsp__level_ctr {
  _Atomic uint64_t hits, misses, promotions, demotions, corrupt, errors;
} gsp__level_ctr;

typedef struct gsp__wb_op { /* one pending write-back operation */
  void *key;
  size_t klen;
  uint8_t *rec; /* NULL = delete */
  size_t rlen;
} gsp__wb_op;

typedef struct gsp__flight gsp__flight;

/* Write-behind (tier_behind.c): one queued put, key then value in data. */
typedef struct gsp__wbh_node {
  struct gsp__wbh_node *next;  /* queue order, oldest first */
  struct gsp__wbh_node *hnext; /* hash chain, newest first */
  uint64_t hash;
  uint64_t expire_ms;
  size_t klen, vlen;
  bool deferred; /* gsp_tier_put_opts.defer: did not wake the writer */
  uint8_t data[];
} gsp__wbh_node;

#define GSP__WBH_BUCKETS 1024u

typedef struct gsp__wbh {
  pthread_mutex_t mu;
  pthread_cond_t work; /* the writer waits for puts */
  pthread_cond_t room; /* puts wait for room; drains wait for an empty queue */
  gsp__wbh_node *head, *tail;
  gsp__wbh_node *bucket[GSP__WBH_BUCKETS];
  size_t n, bytes; /* queued, the batch being written included */
  size_t max_bytes, batch_bytes;
  size_t wake_bytes; /* queued bytes that wake the writer for deferred puts */
  size_t urgent;     /* queued nodes that are not deferred */
  unsigned drainers; /* threads waiting in gsp__wbh_drain */
  unsigned blocked;  /* puts waiting for room */
  int err;           /* first failed L3 write; sticky */
  bool stop, started;
  pthread_t thread;
  /* the writer's own, reused from batch to batch */
  uint8_t *arena;
  size_t arena_cap;
  const void **keys, **recs;
  size_t *klens, *rlens;
  size_t cap;
} gsp__wbh;

struct gsp_tier {
  gsp_tier_config cfg;
  gsp_cache *l1;
  gsp_cache *l2; /* NULL = no L2 */
  gsp__l3 *l3;   /* NULL = no L3 */
  pthread_mutex_t stripe[GSP__TIER_STRIPES];
  _Atomic uint32_t gen[GSP__TIER_STRIPES]; /* bumped by every put/delete */
  gsp__level_ctr ctr[GSP_TIER_LEVELS];
  _Atomic uint64_t lookups, hits;
  _Atomic uint64_t l2_raw, l2_payload; /* L2 value bytes before/after compression */
  /* latency histograms: [level][0 = read, 1 = write] */
  gsp_metrics *metrics;
  gsp_hist *lat[GSP_TIER_LEVELS][2];
  /* write-back batch, under wbmu */
  pthread_mutex_t wbmu;
  gsp__wb_op *wb;
  size_t wb_n, wb_cap;
  gsp__wbh *wbh; /* write-behind; NULL in the other modes */
  /* get-or-compute flights, under flmu */
  pthread_mutex_t flmu;
  gsp__flight *flights;
  /* latest error text, under errmu */
  pthread_mutex_t errmu;
  char errmsg[512];
  /* gsp_tier_clear: one at a time under clearmu; clear_seq is odd while
   * one runs (see tier_life.c) */
  pthread_mutex_t clearmu;
  _Atomic uint64_t clear_seq;
  char *l3_dir; /* the LMDB L3's directory (gsp_tier_l3_dir); NULL otherwise */
};

void gsp__tier_seterr(gsp_tier *t, const char *fmt, ...) GSP_PRINTF(2, 3);
unsigned gsp__tier_stripe_of(const void *key, size_t klen);
/* The lookup of gsp_tier_get (counted in lookups/hits when `count`); the
 * caller holds no stripe lock. */
int gsp__tier_lookup(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                     bool count);
int gsp__tier_store(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                    const gsp_tier_put_opts *opts);
/* Record now - t0 as a latency of level/op (0 read, 1 write); returns now. */
uint64_t gsp__tier_time(gsp_tier *t, int level, int op, uint64_t t0);
int gsp__tier_metrics_init(gsp_tier *t);
void gsp__tier_l1_evicted(void *user, const void *key, size_t klen, const void *val, size_t vlen,
                          gsp_cache_reason reason);
void gsp__tier_l2_evicted(void *user, const void *key, size_t klen, const void *val, size_t vlen,
                          gsp_cache_reason reason);
/* Clear fences (tier_life.c). gsp_tier_clear holds no stripe lock, so an
 * operation that changes levels under a stripe lock brackets its changes:
 * cs = gsp__tier_clear_enter(t) after locking (waits out a running
 * clear), then, before unlocking, gsp__tier_clear_overlapped(t, &cs):
 * true when a clear ran meanwhile; it has ended by then, cs is updated,
 * and the operation redoes (a put) or undoes (a promotion, a demotion)
 * what it did, so a key ends up wholly before or wholly after the clear.
 * gsp__tier_clear_seq: the current value; an operation takes it before it
 * touches any level, and a demotion it notes is void if a clear began
 * since (the evicted value may be from before that clear). */
uint64_t gsp__tier_clear_enter(gsp_tier *t);
bool gsp__tier_clear_overlapped(gsp_tier *t, uint64_t *cs);
uint64_t gsp__tier_clear_seq(gsp_tier *t);
/* Write-back batch (tier_life.c); _locked: wbmu held. */
int gsp__tier_wb_flush_locked(gsp_tier *t);
int gsp__tier_wb_append(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                        uint64_t expire_ms);
int gsp__tier_wb_find(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                      uint64_t *expire_ms);

/* Write-behind (tier_behind.c). */
int gsp__wbh_start(gsp_tier *t);
/* Write what is queued, stop the writer, free everything. NULL-safe. */
void gsp__wbh_stop(gsp_tier *t);
/* Queue a put (waits for room); `defer`: do not wake the writer for it
 * (gsp_tier_put_opts.defer). Errors: GSP_ENOMEM, or the sticky L3 error. */
int gsp__wbh_push(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t expire_ms, bool defer);
/* The newest queued value of key: as gsp__tier_wb_find (GSP__REC_SLACK room). */
int gsp__wbh_find(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                  uint64_t *expire_ms);
/* Wait until everything queued was written (or dropped after a failure);
 * returns the sticky L3 error, GSP_OK if none. */
int gsp__wbh_drain(gsp_tier *t);
size_t gsp__wbh_pending(gsp_tier *t);

#endif
