/*
 * rc.c - reference-counted control blocks with weak references and death
 * watchers.
 *
 * Layout: one gsp_rc per object, allocated here, holding the object pointer,
 * its destructor, a strong and a weak count, and a list of watchers.
 *
 * Invariants:
 * - All strong references together own one weak reference, so the block
 *   outlives the destructor and the watcher callbacks.
 * - strong never rises from 0: gsp_rc_try_retain() increments only a
 *   non-zero count (CAS loop).
 * - The watcher list changes only under `lock`. The lock is recursive so a
 *   callback may unwatch (itself or another watcher) on its own thread,
 *   while gsp_rc_unwatch() on any other thread waits for running callbacks.
 * - Callbacks run one at a time, popped from the list head, each marked
 *   fired before its call; a fired watcher is never touched again.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "gsperf/common.h"

struct gsp_rc {
  atomic_uint strong;
  atomic_uint weak;
  void *obj;
  gsp_rc_dtor dtor;
  void *user;
  pthread_mutex_t lock;
  gsp_rc_watcher *watchers;
};

int gsp_rc_create(void *obj, gsp_rc_dtor dtor, void *user, gsp_rc **out) {
  if (out == NULL) return GSP_EINVAL;
  gsp_rc *rc = gsp_calloc(1, sizeof *rc);
  if (rc == NULL) return GSP_ENOMEM;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  int rv = pthread_mutex_init(&rc->lock, &attr);
  pthread_mutexattr_destroy(&attr);
  if (rv != 0) {
    gsp_free(rc);
    return GSP_ENOMEM;
  }
  atomic_init(&rc->strong, 1);
  atomic_init(&rc->weak, 1);
  rc->obj = obj;
  rc->dtor = dtor;
  rc->user = user;
  *out = rc;
  return GSP_OK;
}

void gsp_rc_retain(gsp_rc *rc) { atomic_fetch_add_explicit(&rc->strong, 1, memory_order_relaxed); }

bool gsp_rc_try_retain(gsp_rc *rc) {
  unsigned s = atomic_load_explicit(&rc->strong, memory_order_relaxed);
  while (s != 0) {
    if (atomic_compare_exchange_weak_explicit(&rc->strong, &s, s + 1, memory_order_acquire,
                                              memory_order_relaxed))
      return true;
  }
  return false;
}

bool gsp_rc_alive(const gsp_rc *rc) {
  return atomic_load_explicit(&rc->strong, memory_order_acquire) != 0;
}

void *gsp_rc_get(const gsp_rc *rc) { return rc->obj; }

uint32_t gsp_rc_strong_count(const gsp_rc *rc) {
  return atomic_load_explicit(&rc->strong, memory_order_acquire);
}

void gsp_rc_weak_retain(gsp_rc *rc) {
  atomic_fetch_add_explicit(&rc->weak, 1, memory_order_relaxed);
}

void gsp_rc_weak_release(gsp_rc *rc) {
  if (rc == NULL) return;
  if (atomic_fetch_sub_explicit(&rc->weak, 1, memory_order_acq_rel) != 1) return;
  pthread_mutex_destroy(&rc->lock);
  gsp_free(rc);
}

static void unlink_watcher(gsp_rc *rc, gsp_rc_watcher *w) {
  if (w->prev_ != NULL)
    w->prev_->next_ = w->next_;
  else
    rc->watchers = w->next_;
  if (w->next_ != NULL) w->next_->prev_ = w->prev_;
  w->prev_ = w->next_ = NULL;
}

static void fire_watchers(gsp_rc *rc) {
  pthread_mutex_lock(&rc->lock);
  while (rc->watchers != NULL) {
    gsp_rc_watcher *w = rc->watchers;
    unlink_watcher(rc, w);
    w->fired_ = 1;
    w->fn_(w, w->user_);
  }
  pthread_mutex_unlock(&rc->lock);
}

void gsp_rc_release(gsp_rc *rc) {
  if (rc == NULL) return;
  if (atomic_fetch_sub_explicit(&rc->strong, 1, memory_order_acq_rel) != 1) return;
  if (rc->dtor != NULL) rc->dtor(rc->obj, rc->user);
  fire_watchers(rc);
  gsp_rc_weak_release(rc);
}

int gsp_rc_watch(gsp_rc *rc, gsp_rc_watcher *w, gsp_rc_dead_fn fn, void *user) {
  if (rc == NULL || w == NULL || fn == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&rc->lock);
  if (atomic_load_explicit(&rc->strong, memory_order_acquire) == 0) {
    pthread_mutex_unlock(&rc->lock);
    w->fired_ = 1; /* never linked: a later unwatch is a no-op */
    return GSP_ESTATE;
  }
  w->fn_ = fn;
  w->user_ = user;
  w->fired_ = 0;
  w->prev_ = NULL;
  w->next_ = rc->watchers;
  if (rc->watchers != NULL) rc->watchers->prev_ = w;
  rc->watchers = w;
  pthread_mutex_unlock(&rc->lock);
  return GSP_OK;
}

void gsp_rc_unwatch(gsp_rc *rc, gsp_rc_watcher *w) {
  if (rc == NULL || w == NULL) return;
  pthread_mutex_lock(&rc->lock);
  if (!w->fired_) unlink_watcher(rc, w);
  pthread_mutex_unlock(&rc->lock);
}
