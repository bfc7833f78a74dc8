/*
 * tier.c - the multi-level cache: read path, write path, demotion.
 *
 * Levels. L1 is a gsp_cache whose values are [value][u64 expiry wall ms]
 * (the expiry trails, so a buffer decoded from a lower level with
 * GSP__REC_SLACK spare bytes goes into L1 as it is, with no extra copy);
 * L2 is a gsp_cache whose values are records (record.c, LZ4-compressed
 * when that shrinks them); L3 is a backend (l3_lmdb.c) storing records.
 * The expiry travels with the entry from level to level, so a per-put TTL
 * holds wherever the entry goes.
 *
 * Locking. Operations on one key are ordered by a stripe lock (256 mutexes
 * chosen by the key's hash): put, delete, and the slow part of get (after
 * an L1 miss: L2, write-back batch, L3, promotion) hold it, so a promotion
 * can never put back a value older than a concurrent put or delete. L1
 * hits take no tier lock. A clear takes no stripe lock: the operations
 * that change levels under one bracket their changes with the clear
 * fences of tier_life.c and redo a put, or undo a promotion or demotion,
 * that a clear overlapped. Lock order: stripe -> clearmu (waiting out a
 * clear) and stripe -> wbmu -> L3's own locks;
 * a gsp_cache's locks are never held when the tier takes one (its
 * callbacks run unlocked).
 *
 * Demotion. The caches' eviction callbacks run on the thread whose put made
 * room. Into L3 only in write-back mode: in write-through every value is in
 * L3 already (or L3 dropped it by its own bound, which demotion should not
 * undo). They do not demote at once (that thread holds another key's stripe
 * lock): they copy the entry onto a list in a thread-local context set by
 * the operation, tagged with the evicted key's stripe generation. When the
 * operation has released its stripe lock it demotes each listed entry
 * under that entry's own stripe lock, and only if nothing was put to or
 * deleted from the stripe since (generation unchanged) and L1 does not
 * hold the key again. Into L3, only if L3 lacks the key. A demotion skipped that way loses nothing:
 * every value also reaches L3 (write-through now, write-back by its batch), so demotion only ever
 * saves a copy. Demotions into L2 may evict from L2; those go on the same list, into L3 when L3
 * lacks the key.
 *
 * Borrowed gets (gsp_tier_get_view) take the same path and lend instead of
 * copying: an L1 hit lends the pinned L1 entry (a gsp_cache_ref), an L3
 * hit of a backend with a view op lends the checked record in place (the
 * backend keeps what makes it valid, e.g. LMDB's read transaction), and
 * any other hit lends a decoded buffer the view owns. The view records
 * which in its impl_ slots; gsp_tier_view_release() undoes exactly that.
 *
 * Write-back. A put appends (key, record) to a batch; a full batch, an
 * explicit flush, a delete, and destroy write it to L3 in one transaction,
 * in order, under wbmu, so the newest value of a key is written last. Until
 * then a get that misses L1 and L2 looks in the batch (newest first).
 * Write-behind (tier_behind.c) queues instead, for a writer thread; a get
 * looks in that queue the same way. Write-around (config or per put) keeps
 * a put out of L1 when L3 takes it (and drops an older L1 copy).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "tier_int.h"

#define L1_TRAIL 8u /* the expiry after an L1 value */

typedef struct demote {
  struct demote *next;
  int to; /* GSP_TIER_L2 or GSP_TIER_L3 */
  unsigned stripe;
  uint32_t gen;
  uint64_t clear_seq; /* clear_seq when the noting operation began: a
                         clear since voids the demotion */
  size_t klen, vlen;  /* key then value (L2: raw value; L3: record) */
  uint64_t expire_ms;
  uint8_t data[];
} demote;

typedef struct demote_ctx {
  gsp_tier *t;
  demote *head, *tail;
  uint64_t clear_seq; /* at the start of the operation, before any eviction */
} demote_ctx;

static _Thread_local demote_ctx *tls_ctx;

void gsp__tier_seterr(gsp_tier *t, const char *fmt, ...) {
  pthread_mutex_lock(&t->errmu);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->errmsg, sizeof t->errmsg, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&t->errmu);
}

const char *gsp_tier_errmsg(const gsp_tier *t) { return t ? t->errmsg : ""; }

unsigned gsp__tier_stripe_of(const void *key, size_t klen) {
  return (unsigned)(XXH3_64bits(key, klen) >> 32) & (GSP__TIER_STRIPES - 1);
}

static void l3_err(gsp_tier *t, int st) {
  atomic_fetch_add(&t->ctr[GSP_TIER_L3].errors, 1);
  char m[512];
  gsp__l3_geterr(t->l3, m, sizeof m);
  gsp__tier_seterr(t, "%s (%s)", m, gsp_strerror(st));
}

static uint64_t expiry_of(const gsp_tier *t, const gsp_tier_put_opts *o) {
  uint64_t ttl = o && o->ttl_ms ? o->ttl_ms : t->cfg.ttl_ms;
  if ((o && o->no_expire) || ttl == 0) return 0;
  return gsp__wall_ms() + ttl;
}

static bool expired(uint64_t expire_ms) { return expire_ms != 0 && expire_ms <= gsp__wall_ms(); }

/* ---- demotion list ---------------------------------------------------------- */

static void note_demote(gsp_tier *t, int to, const void *key, size_t klen, const void *val,
                        size_t vlen, uint64_t expire_ms) {
  demote_ctx *ctx = tls_ctx;
  if (ctx == NULL || ctx->t != t) return; /* not inside one of our operations */
  demote *d = gsp_malloc(sizeof *d + klen + vlen);
  if (d == NULL) return; /* a copy lost, nothing else */
  d->next = NULL;
  d->to = to;
  d->stripe = gsp__tier_stripe_of(key, klen);
  d->gen = atomic_load(&t->gen[d->stripe]);
  d->clear_seq = ctx->clear_seq;
  d->klen = klen;
  d->vlen = vlen;
  d->expire_ms = expire_ms;
  memcpy(d->data, key, klen);
  if (vlen) memcpy(d->data + klen, val, vlen);
  if (ctx->tail) {
    ctx->tail->next = d;
  } else {
    ctx->head = d;
  }
  ctx->tail = d;
}

void gsp__tier_l1_evicted(void *user, const void *key, size_t klen, const void *val, size_t vlen,
                          gsp_cache_reason reason) {
  gsp_tier *t = user;
  if (reason != GSP_CACHE_EVICTED || vlen < L1_TRAIL) return;
  uint64_t exp;
  memcpy(&exp, (const uint8_t *)val + vlen - L1_TRAIL, sizeof exp);
  if (expired(exp)) return;
  if (t->l2) {
    note_demote(t, GSP_TIER_L2, key, klen, val, vlen - L1_TRAIL, exp);
  } else if (t->wb) {
    note_demote(t, GSP_TIER_L3, key, klen, val, vlen - L1_TRAIL, exp);
  }
}

void gsp__tier_l2_evicted(void *user, const void *key, size_t klen, const void *val, size_t vlen,
                          gsp_cache_reason reason) {
  gsp_tier *t = user;
  gsp__rec_view rv;
  if (gsp__rec_check(val, vlen, NULL, 0, &rv) != GSP_OK) return;
  atomic_fetch_sub(&t->l2_raw, rv.vlen);
  atomic_fetch_sub(&t->l2_payload, rv.plen);
  if (reason != GSP_CACHE_EVICTED || !t->wb || expired(rv.expire_ms)) return;
  void *raw;
  size_t rlen;
  if (gsp__rec_value(&rv, &raw, &rlen) != GSP_OK) return;
  note_demote(t, GSP_TIER_L3, key, klen, raw, rlen, rv.expire_ms);
  gsp_free(raw);
}

static int l1_put(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t expire_ms);
static int l2_put(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t expire_ms);
static int l3_put(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t expire_ms);

/* A demotion a clear overlapped put back a value from before the clear:
 * take it out again (the stripe lock is still held). */
static void demote_undo(gsp_tier *t, const demote *d) {
  if (d->to == GSP_TIER_L2) {
    gsp_cache_delete(t->l2, d->data, d->klen);
  } else {
    (void)t->l3->ops->del(t->l3, d->data, d->klen);
  }
}

static void demote_one(gsp_tier *t, demote *d) {
  const uint8_t *key = d->data, *val = d->data + d->klen;
  bool done = false;
  pthread_mutex_lock(&t->stripe[d->stripe]);
  uint64_t cs = gsp__tier_clear_enter(t);
  if (cs != d->clear_seq || atomic_load(&t->gen[d->stripe]) != d->gen ||
      gsp_cache_contains(t->l1, key, d->klen) || expired(d->expire_ms))
    goto out_unlock;
  if (d->to == GSP_TIER_L2) {
    done = l2_put(t, key, d->klen, val, d->vlen, d->expire_ms) == GSP_OK;
  } else if (t->l3->ops->contains(t->l3, key, d->klen) == GSP_ENOENT) {
    done = l3_put(t, key, d->klen, val, d->vlen, d->expire_ms) == GSP_OK;
  }
  if (done && gsp__tier_clear_overlapped(t, &cs)) {
    demote_undo(t, d);
    done = false;
  }
  if (done) atomic_fetch_add(&t->ctr[d->to].demotions, 1);
out_unlock:
  pthread_mutex_unlock(&t->stripe[d->stripe]);
}

static void op_begin(gsp_tier *t, demote_ctx *ctx, demote_ctx **saved) {
  ctx->t = t;
  ctx->head = ctx->tail = NULL;
  ctx->clear_seq = gsp__tier_clear_seq(t);
  *saved = tls_ctx;
  tls_ctx = ctx;
}

/* Demote what the operation evicted; call with no stripe lock held. */
static void op_end(demote_ctx *ctx, demote_ctx *saved) {
  while (ctx->head) {
    demote *d = ctx->head;
    ctx->head = d->next;
    if (ctx->head == NULL) ctx->tail = NULL;
    demote_one(ctx->t, d); /* may append more (L2 evictions) */
    gsp_free(d);
  }
  tls_ctx = saved;
}

/* ---- one level at a time ---------------------------------------------------- */

/* Put buf (vlen value bytes, then L1_TRAIL bytes of room) into L1. */
static int l1_put_buf(gsp_tier *t, const void *key, size_t klen, uint8_t *buf, size_t vlen,
                      uint64_t expire_ms) {
  uint64_t t0 = gsp_now_ns();
  memcpy(buf + vlen, &expire_ms, L1_TRAIL);
  gsp_cache_put_opts o = {.no_expire = expire_ms == 0};
  if (expire_ms != 0) {
    uint64_t now = gsp__wall_ms();
    o.ttl_ms = expire_ms > now ? expire_ms - now : 1;
  }
  int st = gsp_cache_put(t->l1, key, klen, buf, vlen + L1_TRAIL, &o);
  gsp__tier_time(t, GSP_TIER_L1, 1, t0);
  return st;
}

static int l1_put(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t expire_ms) {
  uint8_t *buf = gsp_malloc(vlen + L1_TRAIL);
  if (buf == NULL) return GSP_ENOMEM;
  if (vlen) memcpy(buf, val, vlen);
  int st = l1_put_buf(t, key, klen, buf, vlen, expire_ms);
  gsp_free(buf);
  return st;
}

static int l2_put(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t expire_ms) {
  uint64_t t0 = gsp_now_ns();
  uint8_t *rec;
  size_t rlen;
  int st = gsp__rec_encode(key, klen, val, vlen, expire_ms, true, &rec, &rlen);
  if (st != GSP_OK) return st;
  size_t plen = rlen - GSP__REC_HDR - klen;
  atomic_fetch_add(&t->l2_raw, vlen);
  atomic_fetch_add(&t->l2_payload, plen);
  uint64_t now = gsp__wall_ms();
  gsp_cache_put_opts o = {.no_expire = expire_ms == 0,
                          .ttl_ms = expire_ms > now ? expire_ms - now : 1};
  st = gsp_cache_put(t->l2, key, klen, rec, rlen, &o);
  if (st != GSP_OK) {
    atomic_fetch_sub(&t->l2_raw, vlen);
    atomic_fetch_sub(&t->l2_payload, plen);
  }
  gsp_free(rec);
  gsp__tier_time(t, GSP_TIER_L2, 1, t0);
  return st;
}

static int l3_put(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t expire_ms) {
  uint64_t t0 = gsp_now_ns();
  uint8_t *rec;
  size_t rlen;
  int st = gsp__rec_encode(key, klen, val, vlen, expire_ms, t->cfg.l3_compress, &rec, &rlen);
  if (st != GSP_OK) return st;
  const void *k = key, *r = rec;
  st = t->l3->ops->put_batch(t->l3, 1, &k, &klen, &r, &rlen);
  gsp_free(rec);
  if (st != GSP_OK) l3_err(t, st);
  gsp__tier_time(t, GSP_TIER_L3, 1, t0);
  return st;
}

/* L1 lookup; returns 0 and a copy of the value. *tk: the clock when the
 * lookup started in, when it ended out (so levels share clock reads). */
static int l1_get(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                  uint64_t *tk) {
  gsp_cache_ref *r;
  int st = gsp_cache_get(t->l1, key, klen, &r);
  if (st == GSP_OK) {
    size_t n;
    const uint8_t *v = gsp_cache_ref_value(r, &n);
    *vlen = n - L1_TRAIL;
    *val = NULL;
    if (*vlen > 0 && (*val = gsp_malloc(*vlen)) == NULL) {
      st = GSP_ENOMEM;
    } else if (*vlen > 0) {
      memcpy(*val, v, *vlen);
    }
    gsp_cache_ref_release(r);
  }
  *tk = gsp__tier_time(t, GSP_TIER_L1, 0, *tk);
  return st;
}

/* L2 lookup: check and decode; a bad record is counted and removed. */
static int l2_get(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                  uint64_t *expire_ms, uint64_t *tk) {
  gsp_cache_ref *r;
  int st = gsp_cache_get(t->l2, key, klen, &r);
  if (st != GSP_OK) goto out;
  size_t rlen;
  const void *rec = gsp_cache_ref_value(r, &rlen);
  gsp__rec_view rv;
  st = gsp__rec_check(rec, rlen, key, klen, &rv);
  if (st == GSP_OK && expired(rv.expire_ms)) st = GSP_ENOENT;
  if (st == GSP_OK) st = gsp__rec_value(&rv, val, vlen);
  *expire_ms = rv.expire_ms;
  gsp_cache_ref_release(r);
  if (st == GSP_ECORRUPT || st == GSP_EFORMAT) {
    atomic_fetch_add(&t->ctr[GSP_TIER_L2].corrupt, 1);
    gsp__tier_seterr(t, "L2: record of a %zu-byte key failed its check, removed", klen);
    st = GSP_ENOENT;
  }
  if (st != GSP_OK && st != GSP_ENOMEM) gsp_cache_delete(t->l2, key, klen);
out:
  *tk = gsp__tier_time(t, GSP_TIER_L2, 0, *tk);
  return st;
}

static int l3_get(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                  uint64_t *expire_ms, uint64_t *tk) {
  int st = t->l3->ops->get(t->l3, key, klen, val, vlen, expire_ms);
  if (st == GSP_ECORRUPT || st == GSP_EFORMAT) {
    atomic_fetch_add(&t->ctr[GSP_TIER_L3].corrupt, 1);
    char m[512];
    gsp__l3_geterr(t->l3, m, sizeof m);
    gsp__tier_seterr(t, "%s", m);
    st = GSP_ENOENT;
  } else if (st != GSP_OK && st != GSP_ENOENT) {
    l3_err(t, st);
  }
  *tk = gsp__tier_time(t, GSP_TIER_L3, 0, *tk);
  return st;
}

/* L3 borrowed lookup (the backend has a view op); as l3_get otherwise. */
static int l3_view(gsp_tier *t, const void *key, size_t klen, gsp__l3_view *lv, uint64_t *tk) {
  int st = t->l3->ops->view(t->l3, key, klen, lv);
  if (st == GSP_ECORRUPT || st == GSP_EFORMAT) {
    atomic_fetch_add(&t->ctr[GSP_TIER_L3].corrupt, 1);
    char m[512];
    gsp__l3_geterr(t->l3, m, sizeof m);
    gsp__tier_seterr(t, "%s", m);
    st = GSP_ENOENT;
  } else if (st != GSP_OK && st != GSP_ENOENT) {
    l3_err(t, st);
  }
  *tk = gsp__tier_time(t, GSP_TIER_L3, 0, *tk);
  return st;
}

/* ---- the read path ---------------------------------------------------------- */

/* val: a gsp__rec_value() buffer (GSP__REC_SLACK spare bytes), NULL if empty. */
static void promote(gsp_tier *t, int from, const void *key, size_t klen, void *val, size_t vlen,
                    uint64_t expire_ms) {
  atomic_fetch_add(&t->ctr[from].hits, 1);
  if (from == GSP_TIER_L3 && t->cfg.no_promote) return; /* (the wb batch counts as L3) */
  int st = val ? l1_put_buf(t, key, klen, val, vlen, expire_ms)
               : l1_put(t, key, klen, NULL, 0, expire_ms);
  if (st == GSP_OK) atomic_fetch_add(&t->ctr[from].promotions, 1);
}

/* An L3 hit borrowed in place: promotion copies it into L1. */
static void promote_view(gsp_tier *t, const void *key, size_t klen, const gsp__l3_view *lv) {
  atomic_fetch_add(&t->ctr[GSP_TIER_L3].hits, 1);
  if (t->cfg.no_promote) return;
  if (l1_put(t, key, klen, lv->data, lv->len, lv->expire_ms) == GSP_OK)
    atomic_fetch_add(&t->ctr[GSP_TIER_L3].promotions, 1);
}

/* Below L1, with the key's stripe lock held (or with nothing to promote).
 * With lv (a borrowed get) an L3 hit of a backend that can lend fills lv
 * instead of *val. */
static int lookup_below_locked(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                               uint64_t *tk, gsp__l3_view *lv) {
  uint64_t exp = 0;
  int st = GSP_ENOENT;
  if (t->l2) {
    st = l2_get(t, key, klen, val, vlen, &exp, tk);
    if (st == GSP_OK) {
      gsp_cache_delete(t->l2, key, klen); /* L1 and L2 hold an entry once */
      promote(t, GSP_TIER_L2, key, klen, *val, *vlen, exp);
      return st;
    }
    if (st != GSP_ENOENT) return st;
    atomic_fetch_add(&t->ctr[GSP_TIER_L2].misses, 1);
  }
  if (t->l3 && (t->wb || t->wbh)) { /* a queued put counts as an L3 hit */
    st = t->wb ? gsp__tier_wb_find(t, key, klen, val, vlen, &exp)
               : gsp__wbh_find(t, key, klen, val, vlen, &exp);
    if (st == GSP_OK) promote(t, GSP_TIER_L3, key, klen, *val, *vlen, exp);
    if (st != GSP_ENOENT) return st;
  }
  if (t->l3 && lv && t->l3->ops->view) {
    st = l3_view(t, key, klen, lv, tk);
    if (st == GSP_OK) promote_view(t, key, klen, lv);
  } else if (t->l3) {
    st = l3_get(t, key, klen, val, vlen, &exp, tk);
    if (st == GSP_OK) promote(t, GSP_TIER_L3, key, klen, *val, *vlen, exp);
  }
  if (t->l3 && st == GSP_ENOENT) atomic_fetch_add(&t->ctr[GSP_TIER_L3].misses, 1);
  return st;
}

/* After an L1 miss: the levels below, under the key's stripe lock unless
 * nothing can move (no L2, no promotion). */
static int lookup_below(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                        uint64_t *tk, gsp__l3_view *lv) {
  atomic_fetch_add(&t->ctr[GSP_TIER_L1].misses, 1);
  if (!t->l2 && !t->l3) return GSP_ENOENT;
  if (t->l2 == NULL && t->cfg.no_promote)
    return lookup_below_locked(t, key, klen, val, vlen, tk, lv);
  demote_ctx ctx, *saved;
  unsigned s = gsp__tier_stripe_of(key, klen);
  op_begin(t, &ctx, &saved);
  pthread_mutex_lock(&t->stripe[s]);
  uint64_t cs = gsp__tier_clear_enter(t);
  int st = lookup_below_locked(t, key, klen, val, vlen, tk, lv);
  if (gsp__tier_clear_overlapped(t, &cs)) {
    /* what was promoted is from before the clear: out of L1 again, and a
     * demotion of it noted meanwhile (another operation evicted it) is
     * void (the caller still gets it, as a get that ran before the clear) */
    atomic_fetch_add(&t->gen[s], 1);
    gsp_cache_delete(t->l1, key, klen);
  }
  pthread_mutex_unlock(&t->stripe[s]);
  op_end(&ctx, saved);
  return st;
}

int gsp__tier_lookup(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                     bool count) {
  if (count) atomic_fetch_add(&t->lookups, 1);
  uint64_t tk = gsp_now_ns();
  int st = l1_get(t, key, klen, val, vlen, &tk);
  if (st == GSP_OK) atomic_fetch_add(&t->ctr[GSP_TIER_L1].hits, 1);
  if (st == GSP_ENOENT) st = lookup_below(t, key, klen, val, vlen, &tk, NULL);
  if (st == GSP_OK && count) atomic_fetch_add(&t->hits, 1);
  return st;
}

static int check_args(gsp_tier *t, const void *key, size_t klen) {
  if (t == NULL || key == NULL || klen == 0 || klen > GSP__REC_MAX_VAL) return GSP_EINVAL;
  return GSP_OK;
}

int gsp_tier_get(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen) {
  if (check_args(t, key, klen) != GSP_OK || val == NULL || vlen == NULL) return GSP_EINVAL;
  *val = NULL;
  *vlen = 0;
  return gsp__tier_lookup(t, key, klen, val, vlen, true);
}

/* impl_ of a gsp_tier_view: the tier, an L1 reference, an L3 loan (txn,
 * buf), or a buffer the view owns. */
enum { V_TIER, V_REF, V_TXN, V_L3BUF, V_BUF };

int gsp_tier_get_view(gsp_tier *t, const void *key, size_t klen, gsp_tier_view *v) {
  if (v) memset(v, 0, sizeof *v);
  if (check_args(t, key, klen) != GSP_OK || v == NULL) return GSP_EINVAL;
  atomic_fetch_add(&t->lookups, 1);
  uint64_t tk = gsp_now_ns();
  gsp_cache_ref *r;
  int st = gsp_cache_get(t->l1, key, klen, &r);
  tk = gsp__tier_time(t, GSP_TIER_L1, 0, tk);
  if (st == GSP_OK) {
    atomic_fetch_add(&t->ctr[GSP_TIER_L1].hits, 1);
    size_t n;
    v->data = gsp_cache_ref_value(r, &n);
    v->len = n - L1_TRAIL;
    v->impl_[V_REF] = r;
  } else if (st == GSP_ENOENT) {
    gsp__l3_view lv = {0};
    void *buf = NULL;
    st = lookup_below(t, key, klen, &buf, &v->len, &tk, &lv);
    v->data = buf;
    v->impl_[V_BUF] = buf;
    if (st == GSP_OK && (lv.txn || lv.buf)) {
      v->data = lv.data;
      v->len = lv.len;
      v->impl_[V_TXN] = lv.txn;
      v->impl_[V_L3BUF] = lv.buf;
    }
  }
  if (st != GSP_OK) {
    memset(v, 0, sizeof *v);
    return st;
  }
  if (v->len == 0) v->data = NULL;
  v->impl_[V_TIER] = t;
  atomic_fetch_add(&t->hits, 1);
  return GSP_OK;
}

void gsp_tier_view_release(gsp_tier_view *v) {
  if (v == NULL || v->impl_[V_TIER] == NULL) return;
  gsp_tier *t = v->impl_[V_TIER];
  if (v->impl_[V_REF]) gsp_cache_ref_release(v->impl_[V_REF]);
  if (v->impl_[V_TXN] || v->impl_[V_L3BUF]) {
    gsp__l3_view lv = {.txn = v->impl_[V_TXN], .buf = v->impl_[V_L3BUF]};
    t->l3->ops->unview(t->l3, &lv);
  }
  gsp_free(v->impl_[V_BUF]);
  memset(v, 0, sizeof *v);
}

bool gsp_tier_contains(gsp_tier *t, const void *key, size_t klen) {
  if (check_args(t, key, klen) != GSP_OK) return false;
  if (gsp_cache_contains(t->l1, key, klen) || (t->l2 && gsp_cache_contains(t->l2, key, klen)))
    return true;
  if (!t->l3) return false;
  void *v = NULL;
  size_t n;
  uint64_t e;
  int st = GSP_ENOENT;
  if (t->wb) st = gsp__tier_wb_find(t, key, klen, &v, &n, &e);
  if (t->wbh) st = gsp__wbh_find(t, key, klen, &v, &n, &e);
  gsp_free(v);
  return st == GSP_OK || t->l3->ops->contains(t->l3, key, klen) == GSP_OK;
}

/* ---- the write path --------------------------------------------------------- */

/* The levels below L1 of a put (stripe lock held). */
static int store_below(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                       uint64_t exp, bool defer) {
  if (t->l2) gsp_cache_delete(t->l2, key, klen); /* an older copy */
  if (t->l3 && t->cfg.l3_readonly) {
    gsp__tier_seterr(t, "L3 opened read-only: the value is in memory only");
    return GSP_ENOTSUP;
  }
  if (t->l3 && t->wb) return gsp__tier_wb_append(t, key, klen, val, vlen, exp);
  if (t->l3 && t->wbh) return gsp__wbh_push(t, key, klen, val, vlen, exp, defer);
  if (t->l3) return l3_put(t, key, klen, val, vlen, exp);
  return GSP_OK;
}

int gsp__tier_store(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                    const gsp_tier_put_opts *opts) {
  uint64_t exp = expiry_of(t, opts);
  unsigned s = gsp__tier_stripe_of(key, klen);
  demote_ctx ctx, *saved;
  op_begin(t, &ctx, &saved);
  pthread_mutex_lock(&t->stripe[s]);
  bool around = t->l3 && !t->cfg.l3_readonly && (t->cfg.write_around || (opts && opts->no_l1));
  uint64_t cs = gsp__tier_clear_enter(t);
  int st, st3;
  do { /* again when a clear overlapped: the put is then wholly after it */
    atomic_fetch_add(&t->gen[s], 1);
    st = GSP_OK;
    if (around)
      gsp_cache_delete(t->l1, key, klen); /* an older copy */
    else
      st = l1_put(t, key, klen, val, vlen, exp);
    st3 = store_below(t, key, klen, val, vlen, exp, opts && opts->defer);
  } while (gsp__tier_clear_overlapped(t, &cs));
  pthread_mutex_unlock(&t->stripe[s]);
  op_end(&ctx, saved);
  return st != GSP_OK ? st : st3;
}

int gsp_tier_put(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                 const gsp_tier_put_opts *opts) {
  if (check_args(t, key, klen) != GSP_OK || (val == NULL && vlen > 0) || vlen > GSP__REC_MAX_VAL)
    return GSP_EINVAL;
  return gsp__tier_store(t, key, klen, val, vlen, opts);
}

int gsp_tier_delete(gsp_tier *t, const void *key, size_t klen) {
  if (check_args(t, key, klen) != GSP_OK) return GSP_EINVAL;
  unsigned s = gsp__tier_stripe_of(key, klen);
  pthread_mutex_lock(&t->stripe[s]);
  atomic_fetch_add(&t->gen[s], 1);
  bool found = gsp_cache_delete(t->l1, key, klen) == GSP_OK;
  if (t->l2 && gsp_cache_delete(t->l2, key, klen) == GSP_OK) found = true;
  int st = GSP_OK;
  if (t->l3 && !t->cfg.l3_readonly) {
    if (t->wb) {
      pthread_mutex_lock(&t->wbmu);
      st = gsp__tier_wb_flush_locked(t);
      pthread_mutex_unlock(&t->wbmu);
    }
    if (t->wbh) st = gsp__wbh_drain(t); /* a queued put must not land after the delete */
    if (st == GSP_OK) st = t->l3->ops->del(t->l3, key, klen);
    if (st == GSP_OK) found = true;
    if (st == GSP_ENOENT) st = GSP_OK;
    if (st != GSP_OK) l3_err(t, st);
  }
  pthread_mutex_unlock(&t->stripe[s]);
  if (st != GSP_OK) return st;
  return found ? GSP_OK : GSP_ENOENT;
}
