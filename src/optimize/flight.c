/*
 * flight.c - LATENCY_OPTIMIZED: single-flight computations on the CPU pool
 * with a deadline per caller.
 *
 * A miss looks for a flight of its key in the function's list; if there is
 * none it makes one (owning copies of the key and the argument) and
 * submits the computation to the engine's CPU pool in the latency class
 * (it starts before every queued batch chunk), keeping the future.
 * Every caller of that key then waits on the flight's condition variable
 * (CLOCK_MONOTONIC) until the result is in or its own deadline passes.
 *
 *   result in   each waiter gets its own copy of the value (the flight's
 *               value is freed with the flight); the task stored it in the
 *               cache if the function has one.
 *   deadline    the waiter leaves with GSP_ETIMEDOUT. The last waiter to
 *               leave cancels the task if it has not started
 *               (gsp_exec_future_cancel succeeds only then); a started
 *               task runs to the end and caches its result for later calls.
 *
 * Layout and locking: all flight fields are under f->fl_mu. refs counts
 * the waiters inside plus one for the task while it may still run; the
 * flight is unlisted when its task ends or is canceled, and freed by
 * whoever drops refs to zero. With enable_async OFF there is no pool: the
 * call computes on the caller's thread, without a deadline.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "opt_int.h"

struct gsp__opt_flight {
  gsp__opt_flight *next;
  gsp_opt_func *f;
  unsigned char *key; /* key bytes, then the argument bytes */
  size_t klen;
  const unsigned char *arg;
  size_t arglen;
  pthread_cond_t cv;
  unsigned refs, waiters;
  bool done;
  int status;
  void *val;
  size_t vlen;
  gsp_exec_future *fut;
};

static void flight_free(gsp__opt_flight *fl) {
  gsp_exec_future_release(fl->fut);
  pthread_cond_destroy(&fl->cv);
  gsp_free(fl->val);
  gsp_free(fl->key);
  gsp_free(fl);
}

static void unlist_locked(gsp_opt_func *f, gsp__opt_flight *fl) {
  for (gsp__opt_flight **pp = &f->flights; *pp != NULL; pp = &(*pp)->next)
    if (*pp == fl) {
      *pp = fl->next;
      return;
    }
}

static void unref_locked(gsp__opt_flight *fl) {
  if (--fl->refs == 0) flight_free(fl);
}

static int flight_task(void *arg) {
  gsp__opt_flight *fl = arg;
  gsp_opt_func *f = fl->f;
  void *val = NULL;
  size_t vlen = 0;
  int rv = gsp__opt_run_fn(f, fl->arg, fl->arglen, &val, &vlen);
  if (rv == GSP_OK && gsp__opt_should_store(f, GSP_OPT_LATENCY, fl->arg, fl->arglen, vlen)) {
    gsp__opt_call c = {.f = f, .key = fl->key, .klen = fl->klen};
    gsp__opt_store(f, &c, val, vlen);
  }
  pthread_mutex_lock(&f->fl_mu);
  unlist_locked(f, fl);
  fl->done = true;
  fl->status = rv;
  fl->val = val;
  fl->vlen = vlen;
  pthread_cond_broadcast(&fl->cv);
  unref_locked(fl);
  pthread_mutex_unlock(&f->fl_mu);
  return 0;
}

static gsp__opt_flight *find_locked(gsp_opt_func *f, const void *key, size_t klen) {
  for (gsp__opt_flight *fl = f->flights; fl != NULL; fl = fl->next)
    if (fl->klen == klen && memcmp(fl->key, key, klen) == 0) return fl;
  return NULL;
}

static gsp__opt_flight *flight_new(gsp__opt_call *c) {
  gsp__opt_flight *fl = gsp_calloc(1, sizeof *fl);
  if (fl == NULL) return NULL;
  fl->key = gsp_malloc(c->klen + c->arglen);
  pthread_condattr_t ca;
  bool ok = fl->key != NULL && pthread_condattr_init(&ca) == 0;
  if (ok) {
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    ok = pthread_cond_init(&fl->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
  }
  if (!ok) {
    gsp_free(fl->key);
    gsp_free(fl);
    return NULL;
  }
  memcpy(fl->key, c->key, c->klen);
  if (c->arglen) memcpy(fl->key + c->klen, c->arg, c->arglen);
  fl->f = c->f;
  fl->klen = c->klen;
  fl->arg = fl->key + c->klen;
  fl->arglen = c->arglen;
  fl->refs = 1; /* the task */
  return fl;
}

/* Start the flight of c's key (none is listed); NULL and *rv on failure. */
static gsp__opt_flight *start_locked(gsp__opt_call *c, int *rv) {
  gsp_opt_func *f = c->f;
  gsp__opt_flight *fl = flight_new(c);
  if (fl == NULL) {
    *rv = GSP_ENOMEM;
    return NULL;
  }
  *rv = gsp_exec_submit_prio(f->e->cpu, GSP_EXEC_LATENCY, flight_task, fl, &fl->fut);
  if (*rv != GSP_OK) {
    flight_free(fl);
    return NULL;
  }
  fl->next = f->flights;
  f->flights = fl;
  return fl;
}

static void deadline_ts(uint64_t timeout_ms, struct timespec *ts) {
  (void)clock_gettime(CLOCK_MONOTONIC, ts);
  uint64_t ns = (uint64_t)ts->tv_nsec + (timeout_ms % 1000u) * 1000000u;
  ts->tv_sec += (time_t)(timeout_ms / 1000u + ns / 1000000000u);
  ts->tv_nsec = (long)(ns % 1000000000u);
}

/* Wait for the result or the deadline; returns the caller's status. */
static int wait_locked(gsp_opt_func *f, gsp__opt_flight *fl, gsp_opt_result *out) {
  struct timespec ts;
  uint64_t timeout = f->o.timeout_ms;
  if (timeout != 0) deadline_ts(timeout, &ts);
  while (!fl->done) {
    int w = timeout != 0 ? pthread_cond_timedwait(&fl->cv, &f->fl_mu, &ts)
                         : pthread_cond_wait(&fl->cv, &f->fl_mu);
    if (w == ETIMEDOUT && !fl->done) break;
  }
  fl->waiters--;
  if (!fl->done) {
    if (fl->waiters == 0 && gsp_exec_future_cancel(fl->fut) == GSP_OK) {
      unlist_locked(f, fl); /* the task will never run: drop its reference */
      unref_locked(fl);
    }
    return GSP_ETIMEDOUT;
  }
  if (fl->status != GSP_OK) return fl->status;
  void *copy = gsp_malloc(fl->vlen);
  if (copy == NULL) return GSP_ENOMEM;
  if (fl->vlen) memcpy(copy, fl->val, fl->vlen);
  out->own_ = copy;
  out->data = copy;
  out->len = fl->vlen;
  return GSP_OK;
}

static int inline_call(gsp__opt_call *c, gsp_opt_result *out) {
  void *val = NULL;
  size_t vlen = 0;
  int rv = gsp__opt_run_fn(c->f, c->arg, c->arglen, &val, &vlen);
  if (rv != GSP_OK) return rv;
  if (gsp__opt_should_store(c->f, GSP_OPT_LATENCY, c->arg, c->arglen, vlen))
    gsp__opt_store(c->f, c, val, vlen);
  out->own_ = val;
  out->data = val;
  out->len = vlen;
  return GSP_OK;
}

/* The task stores its value in the cache, then unlists its flight under
 * fl_mu: a caller that missed the cache just before the store and takes
 * fl_mu after the unlisting finds no flight, and the value in the cache.
 * Looked up again under fl_mu before a new flight starts, so a key is
 * computed once while its value stays cached. */
static bool cached_locked(gsp__opt_call *c, gsp_opt_result *out) {
  gsp_cache_ref *ref = NULL;
  if (c->f->cache == NULL || gsp_cache_get(c->f->cache, c->key, c->klen, &ref) != GSP_OK)
    return false;
  c->hit = true;
  out->ref_ = ref;
  out->data = gsp_cache_ref_value(ref, &out->len);
  return true;
}

int gsp__opt_latency(gsp__opt_call *c, gsp_opt_result *out) {
  gsp_opt_func *f = c->f;
  if (f->e->cpu == NULL) return inline_call(c, out);
  int rv = GSP_OK;
  pthread_mutex_lock(&f->fl_mu);
  gsp__opt_flight *fl = find_locked(f, c->key, c->klen);
  if (fl != NULL) {
    c->hit = true; /* shares another caller's computation */
  } else if (cached_locked(c, out)) {
    pthread_mutex_unlock(&f->fl_mu);
    return GSP_OK;
  } else {
    fl = start_locked(c, &rv);
  }
  if (fl != NULL) {
    fl->refs++;
    fl->waiters++;
    rv = wait_locked(f, fl, out);
    unref_locked(fl);
  }
  pthread_mutex_unlock(&f->fl_mu);
  return rv;
}
