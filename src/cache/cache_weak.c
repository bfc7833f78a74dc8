/*
 * cache_weak.c - the WEAK strategy: entries that hold weak references to
 * gsp_rc objects and vanish when the object dies.
 *
 * Each WEAK entry owns a gsp__weak: a weak reference on the object and a
 * death watcher. The watcher is registered before the entry is linked, so
 * no death can be missed: if the object dies first, the callback marks the
 * gsp__weak dead under the shard lock and the put declines to link it.
 *
 * Who frees an entry: whoever unlinks it. The death callback frees it only
 * if it found it linked; a remover that unlinked it first frees it after
 * gsp_rc_unwatch(), which waits for a callback running on another thread.
 * The callback runs under the object's lock and takes the shard lock
 * (order: rc lock, then shard lock; see cache_core.h). Destroy waits for
 * every running callback: through gsp_rc_unwatch() for entries still in the
 * table, through the weak_callbacks count for those a callback unlinked.
 */
#include "cache_core.h"

static void on_object_dead(gsp_rc_watcher *watcher, void *user) {
  (void)watcher;
  gsp__weak *w = user;
  gsp_cache *c = w->cache;
  /* Counted before anything else, so gsp_cache_destroy() can wait for a
   * callback whose entry it no longer finds in the table. */
  atomic_fetch_add_explicit(&c->weak_callbacks, 1, memory_order_acq_rel);
  gsp__entry *e = w->entry;
  gsp__shard *sh = gsp__cache_shard(c, e->hash);
  gsp__graveyard g = {0};
  pthread_mutex_lock(&sh->lock);
  w->dead = 1;
  if (e->linked) gsp__unlink_locked(sh, e, GSP_CACHE_COLLECTED, &g);
  pthread_mutex_unlock(&sh->lock);
  gsp__graveyard_flush(c, &g);
  atomic_fetch_sub_explicit(&c->weak_callbacks, 1, memory_order_acq_rel);
}

static gsp__entry *weak_entry_new(gsp_cache *c, const void *key, size_t klen, gsp_rc *obj,
                                  const gsp_cache_put_opts *opts, int *rv) {
  gsp__entry *e = gsp__entry_new(key, klen, NULL, 0, false);
  gsp__weak *w = gsp_calloc(1, sizeof *w);
  if (e == NULL || w == NULL) {
    gsp_free(e);
    gsp_free(w);
    *rv = GSP_ENOMEM;
    return NULL;
  }
  w->rc = obj;
  w->cache = c;
  w->entry = e;
  e->weak = w; /* after the retain below, gsp__entry_free() undoes all of this */
  gsp__entry_account(c, e, opts);
  gsp_rc_weak_retain(obj);
  *rv = gsp_rc_watch(obj, &w->watcher, on_object_dead, w);
  if (*rv != GSP_OK) {
    gsp__entry_free(e);
    return NULL;
  }
  return e;
}

int gsp_cache_put_weak(gsp_cache *c, const void *key, size_t klen, gsp_rc *obj,
                       const gsp_cache_put_opts *opts) {
  if (c == NULL || obj == NULL || (key == NULL && klen != 0) || klen > UINT32_MAX)
    return GSP_EINVAL;
  if (c->cfg.strategy != GSP_CACHE_WEAK) return GSP_ENOTSUP;
  int rv;
  gsp__entry *e = weak_entry_new(c, key, klen, obj, opts, &rv);
  if (e == NULL) return rv; /* GSP_ESTATE: the object is already dead */
  gsp__shard *sh = gsp__cache_shard(c, e->hash);
  gsp__graveyard g = {0};
  pthread_mutex_lock(&sh->lock);
  if (e->weak->dead) {
    rv = GSP_ESTATE;
  } else {
    gsp__entry *old = gsp__lookup_locked(c, sh, e->hash, key, klen, &g);
    if (old != NULL) gsp__unlink_locked(sh, old, GSP_CACHE_REPLACED, &g);
    rv = gsp__insert_locked(c, sh, e, &g);
    if (rv == GSP_OK && old != NULL) {
      sh->st.insertions--;
      sh->st.updates++;
    }
  }
  pthread_mutex_unlock(&sh->lock);
  if (rv != GSP_OK) gsp__entry_free(e);
  gsp__graveyard_flush(c, &g);
  return rv;
}

int gsp_cache_get_weak(gsp_cache *c, const void *key, size_t klen, gsp_rc **out) {
  if (c == NULL || out == NULL || (key == NULL && klen != 0) || klen > UINT32_MAX)
    return GSP_EINVAL;
  if (c->cfg.strategy != GSP_CACHE_WEAK) return GSP_ENOTSUP;
  uint64_t h = gsp__cache_hash(key, klen);
  gsp__shard *sh = gsp__cache_shard(c, h);
  gsp__graveyard g = {0};
  *out = NULL;
  pthread_mutex_lock(&sh->lock);
  gsp__entry *e = gsp__lookup_locked(c, sh, h, key, klen, &g);
  if (e != NULL && gsp_rc_try_retain(e->weak->rc)) {
    gsp__count_hit_locked(sh, e);
    *out = e->weak->rc;
  } else {
    gsp__count_miss_locked(sh, h);
  }
  pthread_mutex_unlock(&sh->lock);
  gsp__graveyard_flush(c, &g);
  return *out != NULL ? GSP_OK : GSP_ENOENT;
}
