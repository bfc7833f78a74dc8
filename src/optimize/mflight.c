/*
 * mflight.c - MEMORY_OPTIMIZED's single-flight: concurrent misses on one
 * key compute it once; the others wait and share the result.
 *
 * Unlike LATENCY (flight.c), the computation runs on the first caller's
 * own thread (the "leader"), not on a pool, and callers have no deadline.
 * A miss looks for a flight of its key in the function's list:
 *
 *   none     it lists a new flight and leads: it checks the cache and the
 *            compressed store once more without counting (a flight that
 *            ended between its lookup and its lock has stored its result
 *            there), else runs fn and stores the result as MEMORY does
 *            (small results in the named cache, large ones compressed,
 *            nothing under pressure); then it publishes.
 *   found    it waits on the flight's condition variable until the leader
 *            publishes, and leaves with the leader's status: the same
 *            error, or its own copy of the value (a share: counted as a
 *            hit, since fn did not run for it).
 *
 * Publishing unlists the flight (later callers start afresh: they find
 * the result in the cache, or compute again if it could not be stored)
 * and hands the waiters a copy of the value owned by the flight; the last
 * waiter to leave takes that copy instead of copying it again, so n
 * waiters cost n copies, as many as n callers computing alone would hold,
 * and one computation instead of n + 1. If that copy cannot be allocated
 * the waiters get GSP_ENOMEM.
 *
 * Cancellation: a waiter leaves only when the flight is published, and
 * the leader always publishes, whatever fn returned, so a flight never
 * outlives its leader's call. An asynchronous MEMORY call whose future is
 * released before it starts never reaches this file; one released while it
 * runs (as leader or waiter) completes unobserved, and its flight is
 * published and freed as any other. If the leader cannot allocate a
 * flight, it computes alone (no sharing, no failure).
 *
 * Layout and locking: the list (f->mflights) and every flight field are
 * under f->fl_mu, a leaf lock (no callback and no cache call runs under
 * it). refs counts the leader until it publishes plus each waiter inside;
 * whoever drops it to zero frees the flight.
 */
#include <string.h>

#include "opt_int.h"

struct gsp__opt_mflight {
  gsp__opt_mflight *next;
  unsigned char *key;
  size_t klen;
  pthread_cond_t cv;
  unsigned refs, waiters;
  bool done;
  int status;
  void *val; /* the waiters' copy of the result; the last one takes it */
  size_t vlen;
};

static void mflight_free(gsp__opt_mflight *fl) {
  pthread_cond_destroy(&fl->cv);
  gsp_free(fl->val);
  gsp_free(fl->key);
  gsp_free(fl);
}

static gsp__opt_mflight *find_locked(gsp_opt_func *f, const void *key, size_t klen) {
  for (gsp__opt_mflight *fl = f->mflights; fl != NULL; fl = fl->next)
    if (fl->klen == klen && memcmp(fl->key, key, klen) == 0) return fl;
  return NULL;
}

static void unlist_locked(gsp_opt_func *f, gsp__opt_mflight *fl) {
  for (gsp__opt_mflight **pp = &f->mflights; *pp != NULL; pp = &(*pp)->next)
    if (*pp == fl) {
      *pp = fl->next;
      return;
    }
}

static gsp__opt_mflight *mflight_new(const gsp__opt_call *c) {
  gsp__opt_mflight *fl = gsp_calloc(1, sizeof *fl);
  if (fl == NULL) return NULL;
  fl->key = gsp_malloc(c->klen ? c->klen : 1);
  if (fl->key == NULL || pthread_cond_init(&fl->cv, NULL) != 0) {
    gsp_free(fl->key);
    gsp_free(fl);
    return NULL;
  }
  memcpy(fl->key, c->key, c->klen);
  fl->klen = c->klen;
  fl->refs = 1; /* the leader */
  return fl;
}

/* A waiter: until the leader publishes, then the status or a copy. */
static int wait_locked(gsp_opt_func *f, gsp__opt_mflight *fl, gsp_opt_result *out) {
  fl->refs++;
  fl->waiters++;
  while (!fl->done) pthread_cond_wait(&fl->cv, &f->fl_mu);
  int rv = fl->status;
  if (rv == GSP_OK && fl->refs == 1) { /* the last one out takes the flight's copy */
    out->own_ = fl->val;
    fl->val = NULL;
  } else if (rv == GSP_OK) {
    out->own_ = gsp_malloc(fl->vlen ? fl->vlen : 1);
    if (out->own_ == NULL) rv = GSP_ENOMEM;
    if (out->own_ != NULL && fl->vlen) memcpy(out->own_, fl->val, fl->vlen);
  }
  if (rv == GSP_OK) {
    out->data = out->own_;
    out->len = fl->vlen;
  }
  if (--fl->refs == 0) mflight_free(fl);
  return rv;
}

/* The leader: the result (or error) to every waiter, then let go. */
static void publish(gsp_opt_func *f, gsp__opt_mflight *fl, int rv, const gsp_opt_result *res) {
  void *copy = NULL;
  pthread_mutex_lock(&f->fl_mu);
  unlist_locked(f, fl);
  bool share = fl->waiters > 0 && rv == GSP_OK;
  pthread_mutex_unlock(&f->fl_mu);
  if (share) { /* no waiter can join now: the count is final */
    copy = gsp_malloc(res->len ? res->len : 1);
    if (copy != NULL && res->len) memcpy(copy, res->data, res->len);
    if (copy == NULL) rv = GSP_ENOMEM;
  }
  pthread_mutex_lock(&f->fl_mu);
  fl->done = true;
  fl->status = rv;
  fl->val = copy;
  fl->vlen = res->len;
  pthread_cond_broadcast(&fl->cv);
  bool last = --fl->refs == 0;
  pthread_mutex_unlock(&f->fl_mu);
  if (last) mflight_free(fl);
}

/* The leader's second look, counted nowhere unless it finds the key. */
static bool recheck(gsp__opt_call *c, gsp_opt_result *out) {
  gsp_opt_func *f = c->f;
  gsp_cache_ref *ref = NULL;
  if (f->cache != NULL && gsp_cache_contains(f->cache, c->key, c->klen) &&
      gsp_cache_get(f->cache, c->key, c->klen, &ref) == GSP_OK) {
    out->ref_ = ref;
    out->data = gsp_cache_ref_value(ref, &out->len);
    return true;
  }
  return f->big != NULL && gsp_tier_contains(f->big, c->key, c->klen) &&
         gsp__opt_memstore_get(f, c, out);
}

int gsp__opt_memory(gsp__opt_call *c, gsp_opt_result *out) {
  gsp_opt_func *f = c->f;
  pthread_mutex_lock(&f->fl_mu);
  gsp__opt_mflight *fl = find_locked(f, c->key, c->klen);
  if (fl != NULL) {
    c->hit = true; /* shares the leader's computation */
    int rv = wait_locked(f, fl, out);
    pthread_mutex_unlock(&f->fl_mu);
    return rv;
  }
  fl = mflight_new(c);
  if (fl != NULL) {
    fl->next = f->mflights;
    f->mflights = fl;
  }
  pthread_mutex_unlock(&f->fl_mu);
  int rv = GSP_OK;
  if (fl != NULL && recheck(c, out))
    c->hit = true;
  else
    rv = gsp__opt_compute_store(c, GSP_OPT_MEMORY, out);
  if (fl != NULL) publish(f, fl, rv, out);
  return rv;
}

unsigned gsp__opt_memory_waiters(gsp_opt_func *f) {
  unsigned n = 0;
  pthread_mutex_lock(&f->fl_mu);
  for (gsp__opt_mflight *fl = f->mflights; fl != NULL; fl = fl->next) n += fl->waiters;
  pthread_mutex_unlock(&f->fl_mu);
  return n;
}
