/*
 * l3_lmdb.c - the tier's persistent level: an LMDB environment in a
 * directory, bounded in bytes, shared by threads and processes.
 *
 * Data layout. Four named databases in one environment:
 *   data   key -> record (record.c: version, key, checksum, payload)
 *   seq    key -> u64 sequence number of the key's place in the order
 *   order  u64 big-endian sequence -> key; the first entry leaves first
 *   meta   "format" -> "gsperf-tier-l3", "version" -> u32,
 *          "bytes" -> u64 (sum of key + record sizes in data),
 *          "next" -> u64 (next sequence number)
 * FIFO gives a key a new sequence number when it is written; LRU also when
 * it is read. Reads never open a write transaction: an LRU read appends
 * the key to an in-memory list of touches (at most GSP__TOUCH_MAX keys in
 * a fixed buffer, no allocation; beyond that they are dropped), and the next write transaction of
 * this process applies them. So the eviction order lives in the database, survives a restart and is
 * shared by every process, at the price of a few touches lost on a crash.
 *
 * Bound. After each write transaction's puts, entries leave in order until
 * "bytes" <= max_bytes. The map is sized 2 x max_bytes + 64 MiB, room for
 * B-tree pages, overflow-page rounding and copy-on-write pages; if it fills
 * anyway (or the disk does), the transaction is aborted and the put fails
 * with GSP_ENOSPC, nothing half-written. Pages can also be held by an old
 * snapshot that a reader pins; a reader of a process that died leaves its
 * slot behind, so opening and a full map clear such slots
 * (mdb_reader_check) first.
 *
 * Durability. SYNC: LMDB's default, commit returns after fsync. PERIODIC:
 * MDB_NOSYNC plus a thread calling mdb_env_sync() every interval. NONE:
 * MDB_NOSYNC. In every mode a committed transaction survives the death of
 * the process (the pages are in the shared page cache) and LMDB's
 * copy-on-write B-tree means a reader never sees a half-written one.
 *
 * Reads use MDB_NOTLS read transactions kept, reset, in a small pool (under
 * rmu), renewed per read: no allocation and no reader-table search per get.
 * A borrowed read (lm_view) keeps its transaction out of the pool until
 * lm_unview(): the value stays valid in the map because the snapshot it
 * belongs to is pinned (at most the environment's 510 readers at once).
 *
 * Opening checks the file before trusting it: an unknown or damaged file
 * (MDB_INVALID), a newer LMDB (MDB_VERSION_MISMATCH), a file shorter than
 * its own last page (truncated: reading it would fault), a database with
 * names that are not ours (foreign), a missing or newer "format". Each is
 * an error naming the path and the problem, or, with `rebuild`, the files
 * are removed and the database created afresh.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tier_int.h"

#define GSP__TOUCH_MAX 1024u    /* touches kept between write transactions */
#define GSP__TOUCH_BYTES 65536u /* their keys, back to back */
#define GSP__MAGIC "gsperf-tier-l3"

#define GSP__RPOOL 64u
typedef struct lmdb_l3 {
  gsp__l3 base;
  MDB_env *env;
  MDB_dbi data, seq, order, meta;
  char *path;
  gsp_cache_strategy strategy;
  uint64_t max_bytes;
  bool readonly;
  pthread_mutex_t rmu; /* free (reset) read transactions */
  MDB_txn *rpool[GSP__RPOOL];
  unsigned rn;
  pthread_mutex_t tmu; /* touches not yet applied */
  uint8_t *touch_keys; /* GSP__TOUCH_BYTES */
  uint32_t *touch_off; /* key i at touch_keys + touch_off[i], touch_len[i] bytes */
  uint32_t *touch_len;
  size_t ntouch, touch_used;
  pthread_t syncer; /* PERIODIC only */
  bool has_syncer;
  pthread_mutex_t smu;
  pthread_cond_t scv;
  bool stop;
  unsigned interval_ms;
} lmdb_l3;

static int map_err(int rc) {
  switch (rc) {
    case 0:
      return GSP_OK;
    case MDB_NOTFOUND:
      return GSP_ENOENT;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
      return GSP_ENOSPC;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
      return GSP_ECORRUPT;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
      return GSP_EFORMAT;
    case ENOMEM:
      return GSP_ENOMEM;
    case MDB_READERS_FULL:
      return GSP_EBUSY;
    default:
      return GSP_EIO;
  }
}

static void fail(lmdb_l3 *l, int rc, const char *what) {
  gsp__l3_seterr(&l->base, "L3 %s: %s: %s", l->path, what, mdb_strerror(rc));
}

/* ---- small helpers ---------------------------------------------------------- */

static void be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name) {
  MDB_val k = {strlen(name), (void *)name}, v;
  uint64_t x = 0;
  if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == sizeof x) memcpy(&x, v.mv_data, sizeof x);
  return x;
}

static int meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t x) {
  MDB_val k = {strlen(name), (void *)name}, v = {sizeof x, &x};
  return mdb_put(txn, dbi, &k, &v, 0);
}

static int rtxn_get(lmdb_l3 *l, MDB_txn **out) {
  MDB_txn *txn = NULL;
  pthread_mutex_lock(&l->rmu);
  if (l->rn > 0) txn = l->rpool[--l->rn];
  pthread_mutex_unlock(&l->rmu);
  if (txn) {
    int rc = mdb_txn_renew(txn);
    if (rc == 0) {
      *out = txn;
      return 0;
    }
    mdb_txn_abort(txn);
  }
  return mdb_txn_begin(l->env, NULL, MDB_RDONLY, out);
}

static void rtxn_put(lmdb_l3 *l, MDB_txn *txn) {
  mdb_txn_reset(txn);
  pthread_mutex_lock(&l->rmu);
  if (l->rn < GSP__RPOOL) {
    l->rpool[l->rn++] = txn;
    txn = NULL;
  }
  pthread_mutex_unlock(&l->rmu);
  if (txn) mdb_txn_abort(txn);
}

static void touch_add(lmdb_l3 *l, const void *key, size_t klen) {
  if (l->strategy != GSP_CACHE_LRU || l->readonly) return;
  pthread_mutex_lock(&l->tmu);
  if (l->ntouch < GSP__TOUCH_MAX && l->touch_used + klen <= GSP__TOUCH_BYTES) {
    memcpy(l->touch_keys + l->touch_used, key, klen);
    l->touch_off[l->ntouch] = (uint32_t)l->touch_used;
    l->touch_len[l->ntouch++] = (uint32_t)klen;
    l->touch_used += klen;
  }
  pthread_mutex_unlock(&l->tmu);
}

/* ---- the order: sequence numbers -------------------------------------------- */

/* Drop key's place in the order (if any). */
static int order_drop(lmdb_l3 *l, MDB_txn *txn, MDB_val *k) {
  MDB_val s;
  int rc = mdb_get(txn, l->seq, k, &s);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc != 0) return rc;
  if (s.mv_size == 8) {
    MDB_val ok = {8, s.mv_data};
    rc = mdb_del(txn, l->order, &ok, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
  }
  rc = mdb_del(txn, l->seq, k, NULL);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Give key a new place at the end of the order. */
static int order_push(lmdb_l3 *l, MDB_txn *txn, MDB_val *k, uint64_t *next) {
  int rc = order_drop(l, txn, k);
  if (rc != 0) return rc;
  uint8_t sb[8];
  be64(sb, (*next)++);
  MDB_val s = {8, sb};
  rc = mdb_put(txn, l->seq, k, &s, 0);
  if (rc == 0) rc = mdb_put(txn, l->order, &s, k, 0);
  return rc;
}

/* Remove key from data and order, adjusting *bytes. */
static int entry_del(lmdb_l3 *l, MDB_txn *txn, MDB_val *k, uint64_t *bytes) {
  MDB_val v;
  int rc = mdb_get(txn, l->data, k, &v);
  if (rc == 0) {
    uint64_t sz = k->mv_size + v.mv_size;
    *bytes = *bytes > sz ? *bytes - sz : 0;
    rc = mdb_del(txn, l->data, k, NULL);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return rc;
  int rc2 = order_drop(l, txn, k);
  return rc2 != 0 ? rc2 : rc;
}

static int apply_touches(lmdb_l3 *l, MDB_txn *txn, uint64_t *next) {
  pthread_mutex_lock(&l->tmu);
  size_t n = l->ntouch;
  l->ntouch = l->touch_used = 0;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    MDB_val k = {l->touch_len[i], l->touch_keys + l->touch_off[i]}, v;
    if (mdb_get(txn, l->data, &k, &v) == 0) rc = order_push(l, txn, &k, next);
  }
  pthread_mutex_unlock(&l->tmu);
  return rc;
}

static int evict_over(lmdb_l3 *l, MDB_txn *txn, uint64_t *bytes) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, l->order, &cur);
  if (rc != 0) return rc;
  MDB_val s, k;
  while (*bytes > l->max_bytes && (rc = mdb_cursor_get(cur, &s, &k, MDB_FIRST)) == 0) {
    uint8_t kb[512];
    size_t kl = k.mv_size < sizeof kb ? k.mv_size : sizeof kb;
    memcpy(kb, k.mv_data, kl);
    MDB_val key = {kl, kb};
    rc = mdb_cursor_del(cur, 0);
    if (rc == 0) rc = entry_del(l, txn, &key, bytes);
    if (rc != 0 && rc != MDB_NOTFOUND) break;
  }
  mdb_cursor_close(cur);
  if (rc == MDB_NOTFOUND) rc = 0;
  /* no order left but still over: entries without a place (older files) */
  return rc;
}

/* ---- operations ------------------------------------------------------------- */

static int check_key(lmdb_l3 *l, size_t klen) {
  if (klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(l->env)) {
    gsp__l3_seterr(&l->base, "L3 %s: key of %zu bytes (1..%d allowed)", l->path, klen,
                   mdb_env_get_maxkeysize(l->env));
    return GSP_EINVAL;
  }
  return GSP_OK;
}

static int lm_del(gsp__l3 *b, const void *key, size_t klen);

/* A record found but not usable (damaged, or expired: st GSP_ENOENT):
 * removed unless read-only; returns GSP_ECORRUPT or GSP_ENOENT. */
static int lm_bad(lmdb_l3 *l, const void *key, size_t klen, int st) {
  if (!l->readonly) lm_del(&l->base, key, klen);
  if (st == GSP_ENOENT) return st;
  gsp__l3_seterr(&l->base, "L3 %s: a record failed its check%s", l->path,
                 l->readonly ? " (read-only: left in place)" : ", removed");
  return GSP_ECORRUPT;
}

/* Find and check key's record in a read transaction, left open in *txn on
 * success (the record in *rv points into the map); on failure the
 * transaction is back in the pool and a bad record is dealt with. */
static int lm_find(lmdb_l3 *l, const void *key, size_t klen, MDB_txn **txn, gsp__rec_view *rv) {
  int st = check_key(l, klen);
  if (st != GSP_OK) return st;
  int rc = rtxn_get(l, txn);
  if (rc != 0) {
    fail(l, rc, "read transaction");
    return map_err(rc);
  }
  MDB_val k = {klen, (void *)key}, v;
  rc = mdb_get(*txn, l->data, &k, &v);
  if (rc != 0) {
    rtxn_put(l, *txn);
    if (rc != MDB_NOTFOUND) fail(l, rc, "get");
    return map_err(rc);
  }
  st = gsp__rec_check(v.mv_data, v.mv_size, key, klen, rv);
  if (st == GSP_OK && rv->expire_ms != 0 && rv->expire_ms <= gsp__wall_ms()) st = GSP_ENOENT;
  if (st == GSP_OK) return st;
  rtxn_put(l, *txn);
  return lm_bad(l, key, klen, st);
}

/* Read, check and decode; `touch` records the read for LRU. */
static int lm_read(gsp__l3 *b, const void *key, size_t klen, void **val, size_t *vlen,
                   uint64_t *expire_ms, bool touch) {
  lmdb_l3 *l = (lmdb_l3 *)b;
  MDB_txn *txn;
  gsp__rec_view rv = {0};
  int st = lm_find(l, key, klen, &txn, &rv);
  if (st != GSP_OK) return st;
  st = gsp__rec_value(&rv, val, vlen);
  rtxn_put(l, txn);
  if (st == GSP_ECORRUPT) return lm_bad(l, key, klen, st);
  if (st != GSP_OK) return st;
  *expire_ms = rv.expire_ms;
  if (touch) touch_add(l, key, klen);
  return GSP_OK;
}

/* Borrow: a raw record's value is handed out in place, its read
 * transaction kept open (pinning the snapshot) until lm_unview(); an LZ4
 * record is decoded into v->buf and the transaction closed at once. */
static int lm_view(gsp__l3 *b, const void *key, size_t klen, gsp__l3_view *v) {
  lmdb_l3 *l = (lmdb_l3 *)b;
  MDB_txn *txn;
  gsp__rec_view rv = {0};
  int st = lm_find(l, key, klen, &txn, &rv);
  if (st != GSP_OK) return st;
  v->expire_ms = rv.expire_ms;
  v->len = rv.vlen;
  if (rv.flags & GSP__REC_LZ4) {
    size_t n;
    st = gsp__rec_value(&rv, &v->buf, &n);
    rtxn_put(l, txn);
    if (st == GSP_ECORRUPT) return lm_bad(l, key, klen, st);
    if (st != GSP_OK) return st;
    v->data = v->buf;
  } else {
    v->data = rv.vlen ? rv.payload : NULL;
    v->txn = txn;
  }
  touch_add(l, key, klen);
  return GSP_OK;
}

static void lm_unview(gsp__l3 *b, gsp__l3_view *v) {
  if (v->txn) rtxn_put((lmdb_l3 *)b, v->txn);
  gsp_free(v->buf);
  v->txn = v->buf = NULL;
}

static int lm_get(gsp__l3 *b, const void *key, size_t klen, void **val, size_t *vlen,
                  uint64_t *expire_ms) {
  return lm_read(b, key, klen, val, vlen, expire_ms, true);
}

static int lm_contains(gsp__l3 *b, const void *key, size_t klen) {
  void *v = NULL;
  size_t n;
  uint64_t e;
  int st = lm_read(b, key, klen, &v, &n, &e, false);
  gsp_free(v);
  return st;
}

/* Place a key new to data at the end of the order: no older place to
 * drop (seq holds only keys data holds), and the sequence number is past
 * every one in order, so the order put appends (MDB_APPEND: no search;
 * LMDB refuses it with MDB_KEYEXIST if "next" was ever behind, and the
 * plain put then does). */
static int order_append(lmdb_l3 *l, MDB_txn *txn, MDB_val *k, uint64_t *next) {
  uint8_t sb[8];
  be64(sb, (*next)++);
  MDB_val s = {8, sb};
  int rc = mdb_put(txn, l->seq, k, &s, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) { /* a stray place (not expected): the general way */
    (*next)--;
    return order_push(l, txn, k, next);
  }
  if (rc == 0) rc = mdb_put(txn, l->order, &s, k, MDB_APPEND);
  if (rc == MDB_KEYEXIST) rc = mdb_put(txn, l->order, &s, k, 0);
  return rc;
}

/* Put or (rec NULL) delete one key. A put first tries MDB_NOOVERWRITE: a
 * key new to the database (every key of a cold scan) then costs one
 * search instead of three (no old entry, no old place to look up). */
static int batch_one(lmdb_l3 *l, MDB_txn *txn, MDB_val *k, const void *rec, size_t rlen,
                     uint64_t *bytes, uint64_t *next) {
  if (rec == NULL) {
    int rc = entry_del(l, txn, k, bytes);
    return rc == MDB_NOTFOUND ? 0 : rc;
  }
  MDB_val v = {rlen, (void *)rec};
  int rc = mdb_put(txn, l->data, k, &v, MDB_NOOVERWRITE);
  if (rc == 0) {
    *bytes += k->mv_size + rlen;
    return order_append(l, txn, k, next);
  }
  if (rc != MDB_KEYEXIST) return rc;
  rc = entry_del(l, txn, k, bytes); /* replace: the old entry's bytes and place go */
  if (rc != 0 && rc != MDB_NOTFOUND) return rc;
  v = (MDB_val){rlen, (void *)rec}; /* MDB_KEYEXIST pointed v at the old value */
  rc = mdb_put(txn, l->data, k, &v, 0);
  if (rc != 0) return rc;
  *bytes += k->mv_size + rlen;
  return order_push(l, txn, k, next);
}

/* One write transaction: touches, the batch, eviction, meta. */
static int write_batch(lmdb_l3 *l, size_t n, const void *const *keys, const size_t *klens,
                       const void *const *recs, const size_t *rlens) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
  if (rc != 0) return rc;
  uint64_t bytes = meta_u64(txn, l->meta, "bytes"), next = meta_u64(txn, l->meta, "next");
  rc = apply_touches(l, txn, &next);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    MDB_val k = {klens[i], (void *)keys[i]};
    rc = batch_one(l, txn, &k, recs[i], rlens[i], &bytes, &next);
  }
  if (rc == 0) rc = evict_over(l, txn, &bytes);
  if (rc == 0) rc = meta_put_u64(txn, l->meta, "bytes", bytes);
  if (rc == 0) rc = meta_put_u64(txn, l->meta, "next", next);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return rc;
  }
  return mdb_txn_commit(txn);
}

static int lm_put_batch(gsp__l3 *b, size_t n, const void *const *keys, const size_t *klens,
                        const void *const *recs, const size_t *rlens) {
  lmdb_l3 *l = (lmdb_l3 *)b;
  if (l->readonly) {
    gsp__l3_seterr(b, "L3 %s: opened read-only", l->path);
    return GSP_ENOTSUP;
  }
  for (size_t i = 0; i < n; i++) {
    int st = check_key(l, klens[i]);
    if (st != GSP_OK) return st;
    if (recs[i] && klens[i] + rlens[i] > l->max_bytes) {
      gsp__l3_seterr(b, "L3 %s: entry of %zu bytes exceeds the bound of %llu bytes", l->path,
                     klens[i] + rlens[i], (unsigned long long)l->max_bytes);
      return GSP_ENOSPC;
    }
  }
  int rc = write_batch(l, n, keys, klens, recs, rlens);
  int dead = 0;
  /* A full map may be pages pinned by readers of processes that died: clear
   * their slots and try once more. */
  if (rc == MDB_MAP_FULL && mdb_reader_check(l->env, &dead) == 0 && dead > 0)
    rc = write_batch(l, n, keys, klens, recs, rlens);
  if (rc != 0) fail(l, rc, rc == MDB_MAP_FULL ? "map full" : "write");
  return map_err(rc);
}

static int lm_del(gsp__l3 *b, const void *key, size_t klen) {
  lmdb_l3 *l = (lmdb_l3 *)b;
  int st = check_key(l, klen);
  if (st != GSP_OK) return st;
  if (l->readonly) return GSP_ENOTSUP;
  MDB_txn *txn;
  int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
  if (rc != 0) {
    fail(l, rc, "write transaction");
    return map_err(rc);
  }
  uint64_t bytes = meta_u64(txn, l->meta, "bytes");
  MDB_val k = {klen, (void *)key};
  rc = entry_del(l, txn, &k, &bytes);
  if (rc == 0) rc = meta_put_u64(txn, l->meta, "bytes", bytes);
  if (rc == 0) return map_err(mdb_txn_commit(txn));
  mdb_txn_abort(txn);
  if (rc != MDB_NOTFOUND) fail(l, rc, "delete");
  return map_err(rc);
}

static int lm_clear(gsp__l3 *b) {
  lmdb_l3 *l = (lmdb_l3 *)b;
  if (l->readonly) return GSP_ENOTSUP;
  MDB_txn *txn = NULL;
  int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
  if (rc == 0) rc = mdb_drop(txn, l->data, 0);
  if (rc == 0) rc = mdb_drop(txn, l->seq, 0);
  if (rc == 0) rc = mdb_drop(txn, l->order, 0);
  if (rc == 0) rc = meta_put_u64(txn, l->meta, "bytes", 0);
  if (rc == 0) {
    rc = mdb_txn_commit(txn);
  } else if (txn) {
    mdb_txn_abort(txn);
  }
  if (rc != 0) fail(l, rc, "clear");
  return map_err(rc);
}

static int lm_sync(gsp__l3 *b) {
  lmdb_l3 *l = (lmdb_l3 *)b;
  if (l->readonly) return GSP_OK;
  int rc = mdb_env_sync(l->env, 1);
  if (rc != 0) fail(l, rc, "sync");
  return map_err(rc);
}

static void lm_info(gsp__l3 *b, uint64_t *entries, uint64_t *bytes, uint64_t *capacity) {
  lmdb_l3 *l = (lmdb_l3 *)b;
  *entries = *bytes = 0;
  *capacity = l->max_bytes;
  MDB_txn *txn;
  if (rtxn_get(l, &txn) != 0) return;
  MDB_stat ms;
  if (mdb_stat(txn, l->data, &ms) == 0) *entries = ms.ms_entries;
  *bytes = meta_u64(txn, l->meta, "bytes");
  rtxn_put(l, txn);
}

static int lm_verify(gsp__l3 *b, bool repair, uint64_t *good, uint64_t *bad) {
  lmdb_l3 *l = (lmdb_l3 *)b;
  *good = *bad = 0;
  MDB_txn *txn;
  MDB_cursor *cur;
  int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0) {
    fail(l, rc, "read transaction");
    return map_err(rc);
  }
  rc = mdb_cursor_open(txn, l->data, &cur);
  MDB_val k, v;
  gsp__rec_view rv;
  int st = GSP_OK;
  for (int op = MDB_FIRST; rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
    if (gsp__rec_check(v.mv_data, v.mv_size, k.mv_data, k.mv_size, &rv) == GSP_OK) {
      (*good)++;
      continue;
    }
    (*bad)++;
    if (repair && st == GSP_OK) st = lm_del(b, k.mv_data, k.mv_size) == GSP_ENOMEM ? GSP_ENOMEM : 0;
  }
  if (rc == 0 || rc == MDB_NOTFOUND) {
    mdb_cursor_close(cur);
    rc = 0;
  }
  mdb_txn_abort(txn);
  if (rc != 0) fail(l, rc, "verify");
  return rc != 0 ? map_err(rc) : st;
}

/* ---- periodic sync -------------------------------------------------------- */

static void *syncer_main(void *arg) {
  lmdb_l3 *l = arg;
  pthread_mutex_lock(&l->smu);
  while (!l->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)l->interval_ms * 1000000u;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    pthread_cond_timedwait(&l->scv, &l->smu, &ts);
    if (l->stop) break;
    pthread_mutex_unlock(&l->smu);
    mdb_env_sync(l->env, 1);
    pthread_mutex_lock(&l->smu);
  }
  pthread_mutex_unlock(&l->smu);
  return NULL;
}

static void lm_close(gsp__l3 *b) {
  lmdb_l3 *l = (lmdb_l3 *)b;
  if (l->has_syncer) {
    pthread_mutex_lock(&l->smu);
    l->stop = true;
    pthread_cond_signal(&l->scv);
    pthread_mutex_unlock(&l->smu);
    pthread_join(l->syncer, NULL);
  }
  while (l->rn > 0) mdb_txn_abort(l->rpool[--l->rn]);
  if (l->env) {
    if (!l->readonly) mdb_env_sync(l->env, 1);
    mdb_env_close(l->env);
  }
  gsp_free(l->touch_keys);
  gsp_free(l->touch_off);
  gsp_free(l->touch_len);
  gsp_free(l->path);
  pthread_mutex_destroy(&l->rmu);
  pthread_mutex_destroy(&l->tmu);
  pthread_mutex_destroy(&l->smu);
  pthread_cond_destroy(&l->scv);
  pthread_mutex_destroy(&l->base.errmu);
  gsp_free(l);
}

static const gsp__l3_ops lmdb_ops = {
    .get = lm_get,
    .view = lm_view,
    .unview = lm_unview,
    .contains = lm_contains,
    .put_batch = lm_put_batch,
    .del = lm_del,
    .clear = lm_clear,
    .sync = lm_sync,
    .verify = lm_verify,
    .info = lm_info,
    .close = lm_close,
};

/* ---- opening ---------------------------------------------------------------- */

static int oerr(char *buf, size_t cap, int st, const char *fmt, ...) GSP_PRINTF(4, 5);
static int oerr(char *buf, size_t cap, int st, const char *fmt, ...) {
  if (buf && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
  }
  return st;
}

/* The file must hold every page its header claims (else reads would fault). */
static int check_size(lmdb_l3 *l, char *eb, size_t ec) {
  MDB_envinfo ei;
  MDB_stat ms;
  char f[4096];
  struct stat sb;
  snprintf(f, sizeof f, "%s/data.mdb", l->path);
  if (mdb_env_info(l->env, &ei) != 0 || mdb_env_stat(l->env, &ms) != 0 || stat(f, &sb) != 0)
    return oerr(eb, ec, GSP_EIO, "L3 %s: cannot inspect the database file", f);
  uint64_t need = ((uint64_t)ei.me_last_pgno + 1) * ms.ms_psize;
  if ((uint64_t)sb.st_size < need)
    return oerr(eb, ec, GSP_ECORRUPT, "L3 %s: truncated: %lld bytes, its pages need %llu", f,
                (long long)sb.st_size, (unsigned long long)need);
  return GSP_OK;
}

static bool ours(const MDB_val *k) {
  static const char *names[] = {"data", "seq", "order", "meta"};
  for (size_t i = 0; i < 4; i++)
    if (k->mv_size == strlen(names[i]) && memcmp(k->mv_data, names[i], k->mv_size) == 0)
      return true;
  return false;
}

/* Any key in the main database that is not one of our names: foreign. */
static int check_main(lmdb_l3 *l, MDB_txn *txn, char *eb, size_t ec) {
  MDB_dbi main;
  MDB_cursor *cur;
  MDB_val k, v;
  int rc = mdb_dbi_open(txn, NULL, 0, &main);
  if (rc == 0) rc = mdb_cursor_open(txn, main, &cur);
  if (rc != 0) return oerr(eb, ec, map_err(rc), "L3 %s: %s", l->path, mdb_strerror(rc));
  int st = GSP_OK;
  for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT)
    if (!ours(&k)) {
      st = oerr(eb, ec, GSP_EFORMAT, "L3 %s: foreign LMDB database (holds '%.*s')", l->path,
                (int)(k.mv_size > 64 ? 64 : k.mv_size), (const char *)k.mv_data);
      break;
    }
  mdb_cursor_close(cur);
  return st;
}

static int check_format(lmdb_l3 *l, MDB_txn *txn, char *eb, size_t ec) {
  MDB_val k = {6, "format"}, v;
  int rc = mdb_get(txn, l->meta, &k, &v);
  MDB_stat ms;
  if (rc == MDB_NOTFOUND) {
    if (mdb_stat(txn, l->data, &ms) == 0 && ms.ms_entries > 0)
      return oerr(eb, ec, GSP_EFORMAT, "L3 %s: foreign database (no gsperf format record)",
                  l->path);
    if (l->readonly) return oerr(eb, ec, GSP_EFORMAT, "L3 %s: not a gsperf cache", l->path);
    MDB_val m = {strlen(GSP__MAGIC), GSP__MAGIC};
    rc = mdb_put(txn, l->meta, &k, &m, 0);
    if (rc == 0) rc = meta_put_u64(txn, l->meta, "version", GSP_TIER_FORMAT_VERSION);
    return rc ? oerr(eb, ec, map_err(rc), "L3 %s: %s", l->path, mdb_strerror(rc)) : GSP_OK;
  }
  if (rc != 0) return oerr(eb, ec, map_err(rc), "L3 %s: %s", l->path, mdb_strerror(rc));
  if (v.mv_size != strlen(GSP__MAGIC) || memcmp(v.mv_data, GSP__MAGIC, v.mv_size) != 0)
    return oerr(eb, ec, GSP_EFORMAT, "L3 %s: foreign database (bad format record)", l->path);
  uint64_t ver = meta_u64(txn, l->meta, "version");
  if (ver > GSP_TIER_FORMAT_VERSION)
    return oerr(eb, ec, GSP_EFORMAT, "L3 %s: format version %llu is newer than this gsperf's %u",
                l->path, (unsigned long long)ver, GSP_TIER_FORMAT_VERSION);
  if (ver != GSP_TIER_FORMAT_VERSION)
    return oerr(eb, ec, GSP_ECORRUPT, "L3 %s: bad format version %llu", l->path,
                (unsigned long long)ver);
  return GSP_OK;
}

/* The bound: the configured one (then stored), else the stored one, else 1 GiB. */
static int settle_bound(lmdb_l3 *l, MDB_txn *txn, uint64_t want, char *eb, size_t ec) {
  uint64_t stored = meta_u64(txn, l->meta, "max_bytes");
  l->max_bytes = want ? want : stored ? stored : (1ull << 30);
  if (l->readonly || stored == l->max_bytes) return GSP_OK;
  int rc = meta_put_u64(txn, l->meta, "max_bytes", l->max_bytes);
  return rc ? oerr(eb, ec, map_err(rc), "L3 %s: %s", l->path, mdb_strerror(rc)) : GSP_OK;
}

static int open_dbis(lmdb_l3 *l, uint64_t want, char *eb, size_t ec) {
  MDB_txn *txn;
  unsigned fl = l->readonly ? 0 : MDB_CREATE;
  int rc = mdb_txn_begin(l->env, NULL, l->readonly ? MDB_RDONLY : 0, &txn);
  if (rc != 0) return oerr(eb, ec, map_err(rc), "L3 %s: %s", l->path, mdb_strerror(rc));
  int st = check_main(l, txn, eb, ec);
  if (st == GSP_OK) {
    rc = mdb_dbi_open(txn, "data", fl, &l->data);
    if (rc == 0) rc = mdb_dbi_open(txn, "seq", fl, &l->seq);
    if (rc == 0) rc = mdb_dbi_open(txn, "order", fl, &l->order);
    if (rc == 0) rc = mdb_dbi_open(txn, "meta", fl, &l->meta);
    if (rc == MDB_NOTFOUND) {
      st = oerr(eb, ec, GSP_EFORMAT, "L3 %s: not a gsperf cache", l->path);
    } else if (rc != 0) {
      st = oerr(eb, ec, map_err(rc), "L3 %s: %s", l->path, mdb_strerror(rc));
    }
  }
  if (st == GSP_OK) st = check_format(l, txn, eb, ec);
  if (st == GSP_OK) st = settle_bound(l, txn, want, eb, ec);
  if (st == GSP_OK) {
    rc = mdb_txn_commit(txn);
    if (rc != 0) st = oerr(eb, ec, map_err(rc), "L3 %s: %s", l->path, mdb_strerror(rc));
  } else {
    mdb_txn_abort(txn);
  }
  return st;
}

static int open_env(lmdb_l3 *l, const gsp__l3_config *cfg, char *eb, size_t ec) {
  int rc = mdb_env_create(&l->env);
  if (rc != 0) return oerr(eb, ec, map_err(rc), "L3 %s: %s", l->path, mdb_strerror(rc));
  if (!l->readonly && mkdir(l->path, 0755) != 0 && errno != EEXIST)
    return oerr(eb, ec, GSP_EIO, "L3 %s: cannot create the directory: %s", l->path,
                strerror(errno));
  mdb_env_set_maxdbs(l->env, 4);
  mdb_env_set_maxreaders(l->env, 510);
  mdb_env_set_mapsize(l->env,
                      (size_t)(2 * (cfg->max_bytes ? cfg->max_bytes : (1ull << 30)) + (64u << 20)));
  unsigned fl = MDB_NOTLS | (cfg->durability != GSP_TIER_SYNC ? MDB_NOSYNC : 0) |
                (l->readonly ? MDB_RDONLY : 0);
  rc = mdb_env_open(l->env, l->path, fl, 0644);
  if (rc != 0) {
    const char *why = rc == MDB_INVALID            ? "not an LMDB database, or damaged"
                      : rc == MDB_VERSION_MISMATCH ? "written by a newer LMDB version"
                                                   : mdb_strerror(rc);
    return oerr(eb, ec, rc == ENOENT || rc == EACCES ? GSP_EIO : map_err(rc), "L3 %s: %s", l->path,
                why);
  }
  int st = check_size(l, eb, ec);
  int dead;
  mdb_reader_check(l->env, &dead); /* slots of processes that died */
  if (st == GSP_OK) st = open_dbis(l, cfg->max_bytes, eb, ec);
  if (st == GSP_OK && l->max_bytes > cfg->max_bytes) /* a larger stored bound */
    mdb_env_set_mapsize(l->env, (size_t)(2 * l->max_bytes + (64u << 20)));
  return st;
}

static void remove_files(const char *dir) {
  char f[4096];
  snprintf(f, sizeof f, "%s/data.mdb", dir);
  unlink(f);
  snprintf(f, sizeof f, "%s/lock.mdb", dir);
  unlink(f);
}

static int lmdb_new(const gsp__l3_config *cfg, lmdb_l3 **out) {
  lmdb_l3 *l = gsp_calloc(1, sizeof *l);
  if (l == NULL) return GSP_ENOMEM;
  pthread_mutex_init(&l->base.errmu, NULL);
  pthread_mutex_init(&l->rmu, NULL);
  pthread_mutex_init(&l->tmu, NULL);
  pthread_mutex_init(&l->smu, NULL);
  pthread_cond_init(&l->scv, NULL);
  l->base.ops = &lmdb_ops;
  l->strategy = cfg->strategy;
  l->readonly = cfg->readonly;
  l->interval_ms = cfg->sync_interval_ms ? cfg->sync_interval_ms : 1000;
  l->path = gsp_strdup(cfg->path);
  l->touch_keys = gsp_malloc(GSP__TOUCH_BYTES);
  l->touch_off = gsp_calloc(GSP__TOUCH_MAX, sizeof *l->touch_off);
  l->touch_len = gsp_calloc(GSP__TOUCH_MAX, sizeof *l->touch_len);
  *out = l;
  return l->path && l->touch_keys && l->touch_off && l->touch_len ? GSP_OK : GSP_ENOMEM;
}

int gsp__l3_lmdb_open(const gsp__l3_config *cfg, gsp__l3 **out, char *eb, size_t ec) {
  *out = NULL;
  if (cfg->strategy != GSP_CACHE_LRU && cfg->strategy != GSP_CACHE_FIFO)
    return oerr(eb, ec, GSP_EINVAL, "L3 %s: strategy %s not supported (lru or fifo)", cfg->path,
                gsp_cache_strategy_name(cfg->strategy));
  lmdb_l3 *l = NULL;
  int st = lmdb_new(cfg, &l);
  if (st == GSP_OK) st = open_env(l, cfg, eb, ec);
  if ((st == GSP_EFORMAT || st == GSP_ECORRUPT) && cfg->rebuild && !cfg->readonly) {
    mdb_env_close(l->env);
    l->env = NULL;
    remove_files(l->path);
    st = open_env(l, cfg, eb, ec);
  }
  if (st == GSP_OK && cfg->durability == GSP_TIER_PERIODIC && !l->readonly) {
    if (pthread_create(&l->syncer, NULL, syncer_main, l) == 0) {
      l->has_syncer = true;
    } else {
      st = oerr(eb, ec, GSP_ESYS, "L3 %s: cannot start the sync thread", l->path);
    }
  }
  if (st != GSP_OK) {
    if (st == GSP_ENOMEM) oerr(eb, ec, st, "L3 %s: out of memory", cfg->path);
    if (l) lm_close(&l->base);
    return st;
  }
  *out = &l->base;
  return GSP_OK;
}

void gsp__l3_seterr(gsp__l3 *b, const char *fmt, ...) {
  pthread_mutex_lock(&b->errmu);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->errmsg, sizeof b->errmsg, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&b->errmu);
}

void gsp__l3_geterr(gsp__l3 *b, char *buf, size_t cap) {
  pthread_mutex_lock(&b->errmu);
  snprintf(buf, cap, "%s", b->errmsg);
  pthread_mutex_unlock(&b->errmu);
}
