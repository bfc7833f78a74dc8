/*
 * tier_life.c - the tier's life: configuration, create/open/destroy, the
 * write-back batch, flush and clear.
 *
 * Configuration is checked and defaulted here (zero = default, see
 * tier.h); the L3 URI is parsed ("lmdb:/dir"; other schemes are
 * GSP_EINVAL with a message naming the URI). A half-built tier is torn
 * down by gsp_tier_destroy(), which accepts every partial state: the locks
 * are initialised first, and every other member is NULL until made.
 *
 * The write-back batch (wb, wb_n) is an array of (key, record) in put
 * order, under wbmu. Flushing writes all of it to L3 in one transaction and
 * empties it, whether the write succeeded or not (on failure the values
 * stay in L1/L2 and the put or flush that triggered it returns the error),
 * so the batch never grows past wb_batch entries. Write-behind has its
 * own queue and thread (tier_behind.c), started here once L3 is open and
 * stopped (after writing what is queued) before L3 is closed.
 *
 * Clear. gsp_tier_clear empties L1, L2, the batch and L3 one after the
 * other without any stripe lock (holding all 256 at once was the old way:
 * a thread holding that many locks is more than ThreadSanitizer can
 * follow, and every operation of the tier stalled behind it). Clears run
 * one at a time under clearmu, and clear_seq is odd while one runs. An
 * operation that changes levels under its key's stripe lock reads
 * clear_seq after locking (waiting for a running clear to end) and again
 * before unlocking; when the two differ, a clear overlapped it, and after
 * waiting for that clear to end the operation redoes its put, or undoes
 * its promotion or demotion, still under the stripe lock. Why that is
 * enough: each level orders its own operations by its own locks. If any
 * of the operation's level changes came after the clear emptied that
 * level, the clear's first bump of clear_seq happened before it, so the
 * operation's second read sees the bump; if none did, the clear emptied
 * every level after the operation changed it, and the operation is wholly
 * before the clear. The guarantee (tier.h): a key put, promoted or
 * demoted concurrently with a clear is afterwards either in no level or
 * in all the levels a put puts it in; everything that returned before the
 * clear began is gone; everything that begins after it returns stays.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tier_int.h"

#define MIB ((size_t)1024 * 1024)

/* ---- write-back batch ------------------------------------------------------- */

static void wb_clear_locked(gsp_tier *t) {
  for (size_t i = 0; i < t->wb_n; i++) {
    gsp_free(t->wb[i].key);
    gsp_free(t->wb[i].rec);
  }
  t->wb_n = 0;
}

int gsp__tier_wb_flush_locked(gsp_tier *t) {
  size_t n = t->wb_n;
  if (n == 0) return GSP_OK;
  const void **keys = gsp_malloc(n * sizeof *keys);
  const void **recs = gsp_malloc(n * sizeof *recs);
  size_t *klens = gsp_malloc(n * sizeof *klens);
  size_t *rlens = gsp_malloc(n * sizeof *rlens);
  int st = GSP_ENOMEM;
  if (keys && recs && klens && rlens) {
    for (size_t i = 0; i < n; i++) {
      keys[i] = t->wb[i].key;
      klens[i] = t->wb[i].klen;
      recs[i] = t->wb[i].rec;
      rlens[i] = t->wb[i].rlen;
    }
    uint64_t t0 = gsp_now_ns();
    st = t->l3->ops->put_batch(t->l3, n, keys, klens, recs, rlens);
    gsp__tier_time(t, GSP_TIER_L3, 1, t0);
    if (st != GSP_OK) {
      atomic_fetch_add(&t->ctr[GSP_TIER_L3].errors, 1);
      char m[512];
      gsp__l3_geterr(t->l3, m, sizeof m);
      gsp__tier_seterr(t, "write-back of %zu entries: %s", n, m);
    }
    wb_clear_locked(t);
  }
  gsp_free(keys);
  gsp_free(recs);
  gsp_free(klens);
  gsp_free(rlens);
  return st;
}

int gsp__tier_wb_append(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                        uint64_t expire_ms) {
  gsp__wb_op op = {.klen = klen};
  int st = gsp__rec_encode(key, klen, val, vlen, expire_ms, t->cfg.l3_compress, &op.rec, &op.rlen);
  if (st != GSP_OK) return st;
  op.key = gsp_malloc(klen ? klen : 1);
  if (op.key == NULL) {
    gsp_free(op.rec);
    return GSP_ENOMEM;
  }
  if (klen) memcpy(op.key, key, klen);
  pthread_mutex_lock(&t->wbmu);
  if (t->wb_n == t->wb_cap) st = gsp__tier_wb_flush_locked(t); /* full: write it first */
  if (t->wb_n < t->wb_cap) {
    t->wb[t->wb_n++] = op;
  } else {
    gsp_free(op.key);
    gsp_free(op.rec);
    if (st == GSP_OK) st = GSP_ENOMEM;
  }
  pthread_mutex_unlock(&t->wbmu);
  return st;
}

int gsp__tier_wb_find(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                      uint64_t *expire_ms) {
  int st = GSP_ENOENT;
  pthread_mutex_lock(&t->wbmu);
  for (size_t i = t->wb_n; i-- > 0;) {
    gsp__wb_op *op = &t->wb[i];
    if (op->klen != klen || memcmp(op->key, key, klen) != 0) continue;
    gsp__rec_view rv;
    st = gsp__rec_check(op->rec, op->rlen, key, klen, &rv);
    if (st == GSP_OK) st = gsp__rec_value(&rv, val, vlen);
    if (st == GSP_OK) *expire_ms = rv.expire_ms;
    break;
  }
  pthread_mutex_unlock(&t->wbmu);
  return st == GSP_ECORRUPT ? GSP_ENOENT : st;
}

/* ---- create / destroy -------------------------------------------------------- */

static int cerr(char *buf, size_t cap, int st, const char *fmt, ...) GSP_PRINTF(4, 5);
static int cerr(char *buf, size_t cap, int st, const char *fmt, ...) {
  if (buf && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
  }
  return st;
}

static int check_config(const gsp_tier_config *c, char *eb, size_t ec) {
  if (c->l1_strategy == GSP_CACHE_WEAK || c->l2_strategy == GSP_CACHE_WEAK ||
      (unsigned)c->l1_strategy > GSP_CACHE_WEAK || (unsigned)c->l2_strategy > GSP_CACHE_WEAK)
    return cerr(eb, ec, GSP_EINVAL, "tier: L1/L2 strategy must be lru, lfu, fifo, ttl or adaptive");
  if ((unsigned)c->write_mode > GSP_TIER_WRITE_BEHIND || (unsigned)c->durability > GSP_TIER_NONE)
    return cerr(eb, ec, GSP_EINVAL, "tier: unknown write mode or durability");
  bool redis = c->l3 && strncmp(c->l3, "redis://", 8) == 0;
  if (c->l3 && !redis && strncmp(c->l3, "lmdb:", 5) != 0)
    return cerr(eb, ec, GSP_EINVAL,
                "tier: L3 '%s': unknown scheme (expected lmdb:/dir or redis://host:port/db)",
                c->l3);
  if (c->l3 && !redis && c->l3[5] == '\0')
    return cerr(eb, ec, GSP_EINVAL, "tier: L3 '%s': no directory", c->l3);
  return GSP_OK;
}

static gsp_tier *tier_alloc(const gsp_tier_config *cfg) {
  gsp_tier *t = gsp_calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->cfg = *cfg;
  t->cfg.l3 = NULL;
  for (unsigned i = 0; i < GSP__TIER_STRIPES; i++) pthread_mutex_init(&t->stripe[i], NULL);
  pthread_mutex_init(&t->wbmu, NULL);
  pthread_mutex_init(&t->flmu, NULL);
  pthread_mutex_init(&t->errmu, NULL);
  pthread_mutex_init(&t->clearmu, NULL);
  return t;
}

static int make_caches(gsp_tier *t) {
  gsp_tier_config *c = &t->cfg;
  gsp_cache_config l1 = {.strategy = c->l1_strategy,
                         .max_bytes = c->l1_max_bytes,
                         .max_entries = c->l1_max_entries,
                         .on_evict = gsp__tier_l1_evicted,
                         .evict_user = t};
  if (l1.max_bytes == 0 && l1.max_entries == 0) l1.max_bytes = 64 * MIB;
  int st = gsp_cache_create(&l1, &t->l1);
  if (st != GSP_OK || c->l2_max_bytes == SIZE_MAX) return st;
  gsp_cache_config l2 = {.strategy = c->l2_strategy,
                         .max_bytes = c->l2_max_bytes ? c->l2_max_bytes : 64 * MIB,
                         .on_evict = gsp__tier_l2_evicted,
                         .evict_user = t};
  return gsp_cache_create(&l2, &t->l2);
}

static int make_l3(gsp_tier *t, const char *uri, char *eb, size_t ec) {
  gsp_tier_config *c = &t->cfg;
  gsp__l3_config l3 = {.path = uri + 5,
                       .strategy = c->l3_strategy,
                       .max_bytes = c->l3_max_bytes,
                       .durability = c->durability,
                       .sync_interval_ms = c->sync_interval_ms,
                       .rebuild = c->l3_rebuild,
                       .readonly = c->l3_readonly};
  if (c->write_mode == GSP_TIER_WRITE_BACK) {
    t->wb_cap = c->wb_batch ? c->wb_batch : 256;
    t->wb = gsp_calloc(t->wb_cap, sizeof *t->wb);
    if (t->wb == NULL) return cerr(eb, ec, GSP_ENOMEM, "tier: out of memory");
  }
  int st = strncmp(uri, "redis://", 8) == 0 ? gsp__l3_redis_open(uri, &t->l3, eb, ec)
                                            : gsp__l3_lmdb_open(&l3, &t->l3, eb, ec);
  if (st == GSP_OK && c->write_mode == GSP_TIER_WRITE_BEHIND && !c->l3_readonly) {
    st = gsp__wbh_start(t);
    if (st != GSP_OK) cerr(eb, ec, st, "tier: cannot start the write-behind thread");
  }
  return st;
}

int gsp_tier_create(const gsp_tier_config *cfg, gsp_tier **out, char *eb, size_t ec) {
  if (eb && ec) eb[0] = '\0';
  if (out) *out = NULL;
  if (cfg == NULL || out == NULL) return cerr(eb, ec, GSP_EINVAL, "tier: NULL argument");
  int st = check_config(cfg, eb, ec);
  if (st != GSP_OK) return st;
  gsp_tier *t = tier_alloc(cfg);
  if (t == NULL) return cerr(eb, ec, GSP_ENOMEM, "tier: out of memory");
  st = make_caches(t);
  if (st == GSP_OK) st = gsp__tier_metrics_init(t);
  if (st != GSP_OK) cerr(eb, ec, st, "tier: cannot create the memory levels: %s", gsp_strerror(st));
  if (st == GSP_OK && cfg->l3) st = make_l3(t, cfg->l3, eb, ec);
  if (st == GSP_OK && t->l3 && strncmp(cfg->l3, "lmdb:", 5) == 0 &&
      (t->l3_dir = gsp_strdup(cfg->l3 + 5)) == NULL)
    st = cerr(eb, ec, GSP_ENOMEM, "tier: out of memory");
  if (st != GSP_OK) {
    gsp_tier_destroy(t);
    return st;
  }
  *out = t;
  return GSP_OK;
}

int gsp_tier_open(const char *dir, uint64_t l3_max_bytes, gsp_tier **out, char *eb, size_t ec) {
  if (dir == NULL || out == NULL) return cerr(eb, ec, GSP_EINVAL, "tier: NULL argument");
  size_t n = strlen(dir) + 6;
  char *uri = gsp_malloc(n);
  if (uri == NULL) return cerr(eb, ec, GSP_ENOMEM, "tier: out of memory");
  snprintf(uri, n, "lmdb:%s", dir);
  gsp_tier_config cfg = {.l3 = uri, .l3_max_bytes = l3_max_bytes, .durability = GSP_TIER_NONE};
  int st = gsp_tier_create(&cfg, out, eb, ec);
  gsp_free(uri);
  return st;
}

void gsp_tier_destroy(gsp_tier *t) {
  if (t == NULL) return;
  if (t->l3 && t->wb) {
    pthread_mutex_lock(&t->wbmu);
    gsp__tier_wb_flush_locked(t);
    wb_clear_locked(t); /* if the flush could not even start */
    pthread_mutex_unlock(&t->wbmu);
  }
  gsp__wbh_stop(t); /* writes what is queued first */
  if (t->l3) t->l3->ops->close(t->l3);
  gsp_cache_destroy(t->l1);
  gsp_cache_destroy(t->l2);
  gsp_free(t->wb);
  gsp_metrics_destroy(t->metrics);
  for (unsigned i = 0; i < GSP__TIER_STRIPES; i++) pthread_mutex_destroy(&t->stripe[i]);
  pthread_mutex_destroy(&t->wbmu);
  pthread_mutex_destroy(&t->flmu);
  pthread_mutex_destroy(&t->errmu);
  pthread_mutex_destroy(&t->clearmu);
  gsp_free(t->l3_dir);
  gsp_free(t);
}

const char *gsp_tier_l3_dir(const gsp_tier *t) { return t ? t->l3_dir : NULL; }

/* ---- flush / clear ------------------------------------------------------------ */

int gsp_tier_flush(gsp_tier *t) {
  if (t == NULL) return GSP_EINVAL;
  if (t->l3 == NULL) return GSP_OK;
  int st = GSP_OK;
  if (t->wb) {
    pthread_mutex_lock(&t->wbmu);
    st = gsp__tier_wb_flush_locked(t);
    pthread_mutex_unlock(&t->wbmu);
  }
  if (t->wbh) st = gsp__wbh_drain(t);
  int st2 = t->l3->ops->sync(t->l3);
  return st != GSP_OK ? st : st2;
}

/* Waits until no clear runs; returns clear_seq then (even). */
static uint64_t clear_wait(gsp_tier *t) {
  uint64_t cs = atomic_load(&t->clear_seq);
  while (cs & 1u) {
    pthread_mutex_lock(&t->clearmu); /* the running clear holds it */
    pthread_mutex_unlock(&t->clearmu);
    cs = atomic_load(&t->clear_seq);
  }
  return cs;
}

uint64_t gsp__tier_clear_enter(gsp_tier *t) { return clear_wait(t); }

bool gsp__tier_clear_overlapped(gsp_tier *t, uint64_t *cs) {
  if (atomic_load(&t->clear_seq) == *cs) return false;
  *cs = clear_wait(t);
  return true;
}

uint64_t gsp__tier_clear_seq(gsp_tier *t) { return atomic_load(&t->clear_seq); }

int gsp_tier_clear(gsp_tier *t) {
  if (t == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&t->clearmu);
  atomic_fetch_add(&t->clear_seq, 1); /* odd: operations from now on wait or redo */
  gsp_cache_clear(t->l1);
  if (t->l2) gsp_cache_clear(t->l2);
  int st = GSP_OK;
  if (t->l3) {
    pthread_mutex_lock(&t->wbmu);
    wb_clear_locked(t);
    pthread_mutex_unlock(&t->wbmu);
    /* Puts that begin now wait for the clear; one already under its stripe
     * lock may still queue, and is then redone after the clear (see above). */
    if (t->wbh) (void)gsp__wbh_drain(t);
    st = t->cfg.l3_readonly ? GSP_ENOTSUP : t->l3->ops->clear(t->l3);
    if (st != GSP_OK) gsp__tier_seterr(t, "clear: L3: %s", gsp_strerror(st));
  }
  atomic_fetch_add(&t->clear_seq, 1); /* even: no clear runs */
  pthread_mutex_unlock(&t->clearmu);
  return st;
}

int gsp_tier_verify(gsp_tier *t, bool repair, uint64_t *good, uint64_t *bad) {
  if (t == NULL || good == NULL || bad == NULL) return GSP_EINVAL;
  if (t->l3 == NULL) return GSP_ENOTSUP;
  int st = t->l3->ops->verify(t->l3, repair && !t->cfg.l3_readonly, good, bad);
  if (st != GSP_OK) {
    char m[512];
    gsp__l3_geterr(t->l3, m, sizeof m);
    gsp__tier_seterr(t, "%s", m);
  }
  return st;
}
