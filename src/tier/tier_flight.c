/*
 * tier_flight.c - get-or-compute with single-flight across every level.
 *
 * A flight is one computation of one key in progress. Flights live on a
 * list under flmu (few are in progress at once, so a list is enough). The
 * first caller to miss a key registers a flight and becomes its leader: it
 * looks the key up again through every level (another leader may have
 * finished between its first lookup and its registering), computes on a
 * miss, stores the value, and publishes. Callers that find the flight wait
 * on its condition variable and receive a copy of the leader's result.
 *
 * Ownership. The leader's key pointer is valid while the flight is on the
 * list (the leader is inside the call). At publication the flight leaves
 * the list, so no new waiter can join; `refs` counts the leader and the
 * waiters, and the last one out frees the flight and its copy of the value.
 * The leader returns its own buffer; the flight keeps a copy only when
 * someone waits.
 */
#include <string.h>

#include "tier_int.h"

struct gsp__flight {
  gsp__flight *next;
  const void *key;
  size_t klen;
  pthread_cond_t cv;
  bool done;
  unsigned refs;
  int st;
  void *val;
  size_t vlen;
};

static gsp__flight *find_locked(gsp_tier *t, const void *key, size_t klen) {
  for (gsp__flight *f = t->flights; f; f = f->next)
    if (f->klen == klen && memcmp(f->key, key, klen) == 0) return f;
  return NULL;
}

static void unlink_locked(gsp_tier *t, gsp__flight *f) {
  for (gsp__flight **p = &t->flights; *p; p = &(*p)->next)
    if (*p == f) {
      *p = f->next;
      return;
    }
}

static void drop_locked(gsp__flight *f) {
  if (--f->refs > 0) return;
  pthread_cond_destroy(&f->cv);
  gsp_free(f->val);
  gsp_free(f);
}

static int copy_out(const void *src, size_t n, void **val, size_t *vlen) {
  *val = NULL;
  *vlen = n;
  if (n == 0) return GSP_OK;
  if ((*val = gsp_malloc(n)) == NULL) return GSP_ENOMEM;
  memcpy(*val, src, n);
  return GSP_OK;
}

static int wait_for(gsp_tier *t, gsp__flight *f, void **val, size_t *vlen) {
  f->refs++;
  while (!f->done) pthread_cond_wait(&f->cv, &t->flmu);
  int st = f->st;
  if (st == GSP_OK) st = copy_out(f->val, f->vlen, val, vlen);
  drop_locked(f);
  return st;
}

/* The leader's work: look again, compute on a miss, store. */
static int lead(gsp_tier *t, const void *key, size_t klen, gsp_cache_compute_fn compute, void *user,
                const gsp_tier_put_opts *opts, void **val, size_t *vlen) {
  int st = gsp__tier_lookup(t, key, klen, val, vlen, false);
  if (st != GSP_ENOENT) return st;
  st = compute(user, key, klen, val, vlen);
  if (st != GSP_OK) {
    *val = NULL;
    *vlen = 0;
    return st;
  }
  gsp__tier_store(t, key, klen, *val, *vlen, opts); /* an L3 failure does not fail the call */
  return GSP_OK;
}

static void publish(gsp_tier *t, gsp__flight *f, int st, const void *val, size_t vlen) {
  pthread_mutex_lock(&t->flmu);
  unlink_locked(t, f);
  f->st = st;
  if (st == GSP_OK && f->refs > 1) f->st = copy_out(val, vlen, &f->val, &f->vlen);
  f->done = true;
  pthread_cond_broadcast(&f->cv);
  drop_locked(f);
  pthread_mutex_unlock(&t->flmu);
}

int gsp_tier_get_or_compute(gsp_tier *t, const void *key, size_t klen, gsp_cache_compute_fn compute,
                            void *user, const gsp_tier_put_opts *opts, void **val, size_t *vlen) {
  if (t == NULL || key == NULL || klen == 0 || compute == NULL || val == NULL || vlen == NULL)
    return GSP_EINVAL;
  *val = NULL;
  *vlen = 0;
  int st = gsp__tier_lookup(t, key, klen, val, vlen, true);
  if (st != GSP_ENOENT) return st;
  pthread_mutex_lock(&t->flmu);
  gsp__flight *f = find_locked(t, key, klen);
  if (f) {
    st = wait_for(t, f, val, vlen);
    pthread_mutex_unlock(&t->flmu);
    return st;
  }
  f = gsp_calloc(1, sizeof *f);
  if (f == NULL) {
    pthread_mutex_unlock(&t->flmu);
    return GSP_ENOMEM;
  }
  f->key = key;
  f->klen = klen;
  f->refs = 1;
  pthread_cond_init(&f->cv, NULL);
  f->next = t->flights;
  t->flights = f;
  pthread_mutex_unlock(&t->flmu);
  st = lead(t, key, klen, compute, user, opts, val, vlen);
  publish(t, f, st, *val, *vlen);
  return st;
}
