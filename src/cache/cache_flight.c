/*
 * cache_flight.c - get-or-compute with single-flight.
 *
 * A miss that finds no computation in flight for its key registers a
 * gsp__flight in the shard's list and computes with no lock held; later
 * callers missing on the same key find the flight, wait on its condition
 * variable (under the shard lock) and share its result. The flight is
 * reference-counted under the shard lock (leader + waiters) and freed by
 * whoever leaves last; it holds one pin on the resulting value block.
 *
 * Invariant: a flight is in the shard's list iff it is not done, and its
 * `key` points into the leader's argument, valid while the leader has not
 * returned, which is at least as long as the flight is listed.
 */
#include <string.h>

#include "cache_core.h"

struct gsp__flight {
  gsp__flight *next;
  uint64_t hash;
  const void *key;
  size_t klen;
  pthread_cond_t cv;
  unsigned refs;
  int done;
  int status;
  gsp__vblock *vb;
};

static gsp__flight *find_flight_locked(gsp__shard *sh, uint64_t h, const void *key, size_t klen) {
  for (gsp__flight *f = sh->flights; f != NULL; f = f->next)
    if (f->hash == h && f->klen == klen && (klen == 0 || memcmp(f->key, key, klen) == 0)) return f;
  return NULL;
}

static void flight_put_locked(gsp__flight *f) {
  if (--f->refs != 0) return;
  gsp__vblock_unref(f->vb);
  pthread_cond_destroy(&f->cv);
  gsp_free(f);
}

static void flight_unlist_locked(gsp__shard *sh, gsp__flight *f) {
  gsp__flight **pp = &sh->flights;
  while (*pp != f) pp = &(*pp)->next;
  *pp = f->next;
}

/* Wait for another caller's computation; returns its status. */
static int join_flight_locked(gsp__shard *sh, gsp__flight *f, gsp_cache_ref **out) {
  f->refs++;
  while (!f->done) pthread_cond_wait(&f->cv, &sh->lock);
  int rv = f->status;
  if (rv == GSP_OK) {
    atomic_fetch_add_explicit(&f->vb->refs, 1, memory_order_relaxed);
    *out = (gsp_cache_ref *)f->vb;
  }
  flight_put_locked(f);
  return rv;
}

static gsp__flight *flight_new_locked(gsp__shard *sh, uint64_t h, const void *key, size_t klen) {
  gsp__flight *f = gsp_calloc(1, sizeof *f);
  if (f == NULL) return NULL;
  if (pthread_cond_init(&f->cv, NULL) != 0) {
    gsp_free(f);
    return NULL;
  }
  f->hash = h;
  f->key = key;
  f->klen = klen;
  f->refs = 1;
  f->next = sh->flights;
  sh->flights = f;
  return f;
}

/* Run compute and build an unlinked entry holding its value. */
static int run_compute(gsp_cache_compute_fn compute, void *user, const void *key, size_t klen,
                       gsp__entry **freshp) {
  void *val = NULL;
  size_t vlen = 0;
  int rv = compute(user, key, klen, &val, &vlen);
  if (rv != GSP_OK) {
    gsp_free(val);
    return rv < 0 ? rv : GSP_EINVAL;
  }
  if (val == NULL && vlen != 0) return GSP_EINVAL;
  *freshp = gsp__entry_new(key, klen, val, vlen, true);
  gsp_free(val);
  return *freshp != NULL ? GSP_OK : GSP_ENOMEM;
}

/* Look up; on a hit pin into *out and return true. Counts hit or miss. */
static bool hit_locked(gsp_cache *c, gsp__shard *sh, uint64_t h, const void *key, size_t klen,
                       gsp__graveyard *g, gsp_cache_ref **out) {
  gsp__entry *e = gsp__lookup_locked(c, sh, h, key, klen, g);
  if (e == NULL) {
    gsp__count_miss_locked(sh, h);
    return false;
  }
  gsp__count_hit_locked(sh, e);
  gsp__vblock *vb = gsp__entry_vb(e);
  gsp__vblock_pin(vb);
  *out = (gsp_cache_ref *)vb;
  return true;
}

static int lead_flight(gsp_cache *c, gsp__shard *sh, gsp__flight *f, gsp_cache_compute_fn compute,
                       void *user, const gsp_cache_put_opts *opts, gsp_cache_ref **out) {
  gsp__entry *fresh = NULL;
  gsp__vblock *vb = NULL;
  int rv = run_compute(compute, user, f->key, f->klen, &fresh);
  if (rv == GSP_OK) {
    vb = fresh->vb;
    gsp__vblock_pin(vb); /* for the caller */
    gsp__vblock_pin(vb); /* for the flight's waiters */
    /* the value is the caller's even if caching it fails */
    (void)gsp__put_entry(c, fresh, opts);
    *out = (gsp_cache_ref *)vb;
  }
  pthread_mutex_lock(&sh->lock);
  flight_unlist_locked(sh, f);
  f->done = 1;
  f->status = rv;
  f->vb = vb;
  pthread_cond_broadcast(&f->cv);
  flight_put_locked(f);
  pthread_mutex_unlock(&sh->lock);
  return rv;
}

int gsp_cache_get_or_compute(gsp_cache *c, const void *key, size_t klen,
                             gsp_cache_compute_fn compute, void *user,
                             const gsp_cache_put_opts *opts, gsp_cache_ref **out) {
  if (c == NULL || compute == NULL || out == NULL || (key == NULL && klen != 0) ||
      klen > UINT32_MAX)
    return GSP_EINVAL;
  if (c->cfg.strategy == GSP_CACHE_WEAK) return GSP_ENOTSUP;
  uint64_t h = gsp__cache_hash(key, klen);
  gsp__shard *sh = gsp__cache_shard(c, h);
  gsp__graveyard g = {0};
  int rv = GSP_OK;
  gsp__vblock *vb = NULL;
  gsp__lf_get q = {.pin = &vb};
  *out = NULL;
  if (gsp__lf_lookup(c, h, key, klen, &q) == GSP__LF_HIT) {
    *out = (gsp_cache_ref *)vb;
    return GSP_OK;
  }
  gsp__shard_lock(c, sh);
  gsp__flight *f = NULL;
  if (!hit_locked(c, sh, h, key, klen, &g, out)) {
    f = find_flight_locked(sh, h, key, klen);
    if (f != NULL) {
      rv = join_flight_locked(sh, f, out);
      f = NULL;
    } else {
      f = flight_new_locked(sh, h, key, klen);
      if (f == NULL) rv = GSP_ENOMEM;
    }
  }
  gsp__shard_unlock(c, sh, &g);
  if (f != NULL) rv = lead_flight(c, sh, f, compute, user, opts, out);
  return rv;
}
