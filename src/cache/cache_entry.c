/*
 * cache_entry.c - the cache's entries and reference-counted value blocks:
 * sizing, initialisation, charge and expiry accounting, and freeing.
 *
 * Data layout (cache_int.h): an entry holds its chain link, the key inline
 * when short, the current value pointer and its own "home" value block;
 * a long key and the value bytes follow, the whole rounded to 16 bytes so
 * sizes fall into the shard's recycling classes. A value block is shared by
 * the entry (one reference) and every reader that pinned it (one each).
 *
 * Invariants: a home block's references count the entry's current-value
 * pointer and the home itself, so an entry is freed only when both its own
 * value and every pin of its home block are gone; an entry is accounted
 * (charge, expiry) before it is published, never after.
 */
#include <string.h>

#include "cache_core.h"

static size_t long_key_bytes(size_t klen) { return gsp__long_key_bytes(klen); }

size_t gsp__entry_size(size_t klen, size_t vlen) {
  size_t size = sizeof(gsp__entry) + long_key_bytes(klen);
  if (vlen > SIZE_MAX - size - 15u) return 0;
  return (size + vlen + 15u) & ~(size_t)15u; /* a size class of the recycling pools */
}

void gsp__entry_init(gsp__entry *e, uint64_t hash, const void *key, size_t klen, const void *val,
                     size_t vlen, bool with_value) {
  memset(e, 0, sizeof *e);
  e->klen = (uint32_t)klen;
  e->hash = hash;
  if (klen) memcpy((unsigned char *)gsp__entry_key(e), key, klen);
  if (with_value) {
    gsp__vblock *vb = &e->hvb;
    atomic_init(&vb->refs, 2); /* home + current value of e */
    vb->vlen = vlen;
    if (vlen) memcpy(gsp__vblock_data(vb), val, vlen);
    atomic_init(&e->vb, vb);
    e->has_home = 1;
  }
}

gsp__entry *gsp__entry_new(const void *key, size_t klen, const void *val, size_t vlen,
                           bool with_value) {
  size_t size = gsp__entry_size(klen, with_value ? vlen : 0);
  if (size == 0) return NULL;
  gsp__entry *e = gsp_malloc(size);
  if (e == NULL) return NULL;
  gsp__entry_init(e, gsp__cache_hash(key, klen), key, klen, val, vlen, with_value);
  return e;
}

void gsp__entry_free(gsp__entry *e) {
  if (e == NULL) return;
  if (!e->has_home && e->weak != NULL) {
    gsp_rc_unwatch(e->weak->rc, &e->weak->watcher);
    gsp_rc_weak_release(e->weak->rc);
    gsp_free(e->weak);
  }
  /* Unpinned and holding its own value: nobody else can reach it (it is
   * unlinked, and pins are only taken through a linked entry), so skip the
   * two atomic decrements. The acquire pairs with a last unpin's release. */
  gsp__vblock *vb = atomic_load_explicit(&e->vb, memory_order_relaxed);
  if (vb == &e->hvb && atomic_load_explicit(&e->hvb.refs, memory_order_acquire) == 2) {
    gsp_free(e);
    return;
  }
  gsp__vblock_unref(vb);
  if (e->has_home)
    gsp__vblock_unref(&e->hvb); /* may free e itself: last touch of e */
  else
    gsp_free(e);
}

void gsp__vblock_unref(gsp__vblock *vb) {
  if (vb == NULL) return;
  if (atomic_fetch_sub_explicit(&vb->refs, 1, memory_order_acq_rel) == 1)
    gsp_free(gsp__vblock_home(vb));
}

void gsp__vblock_pin(gsp__vblock *vb) {
  atomic_fetch_add_explicit(&vb->refs, 1, memory_order_relaxed);
}

void gsp__entry_account(gsp_cache *c, gsp__entry *e, const gsp_cache_put_opts *opts) {
  uint64_t ttl_ms = c->cfg.ttl_ms;
  if (opts != NULL && opts->charge != 0)
    e->charge = opts->charge;
  else
    e->charge = c->count_units ? 1 : gsp__entry_bytes(e);
  if (opts != NULL && opts->ttl_ms != 0) ttl_ms = opts->ttl_ms;
  if (opts != NULL && opts->no_expire) ttl_ms = 0;
  uint64_t expire_ns = ttl_ms ? gsp__cache_now(c) + ttl_ms * 1000000u : 0;
  gsp__vblock *vb = atomic_load_explicit(&e->vb, memory_order_relaxed);
  if (vb != NULL)
    vb->expire_ns = expire_ns; /* the entry is not published yet */
  else
    e->weak->expire_ns = expire_ns;
}
