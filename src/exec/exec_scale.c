/*
 * exec_scale.c - worker slots, starting and stopping workers, and the
 * scaler thread that grows the pool under load.
 *
 * Slots. The pool allocates max_workers worker slots at creation, each
 * with its deque ready, so a slot's memory never moves and a thief may
 * look at any slot below `nslots` (the high-water mark of slots ever
 * started) without a lock. A slot is OFF (never started), RUN, or EXITED
 * (its thread returned and waits to be joined). All state changes happen
 * under `mu`. A worker retires only when it found no work anywhere with
 * `mu` held, so its deque is empty and stays empty (only its owner pushes
 * to it); a new thread started in the slot later becomes the deque's new
 * owner, ordered after the old one by the join and pthread_create.
 *
 * Growing. When min_workers < max_workers a scaler thread wakes every
 * target/2 (at least 1 ms; 50 ms while the whole pool sleeps) and looks at
 * the pool with `mu` held: if work is queued while no worker sleeps, the
 * queued work is waiting for a worker, and once that has been true for
 * target_wait it starts one more worker (up to max_workers) and starts
 * measuring again. Tasks that block (sleep, wait on I/O) therefore make
 * the pool grow until the queue drains. The measure is a sample, not a
 * per-task stamp, so it costs the workers nothing.
 *
 * Shrinking. With scaling on, an idle worker sleeps with a timeout of
 * idle_ms; if it wakes by timeout, finds no work and the pool has more
 * than min_workers, it retires (gsp__exec_may_retire_locked).
 *
 * Stopping. gsp__exec_stop_all() stops the scaler first (no growth after
 * that), then raises `stopping` under `mu`, after which no slot changes
 * state, and joins every slot that ever ran.
 */
#include <errno.h>
#include <time.h>

#include "exec_int.h"
#include "gsperf/metrics.h"

enum { LOG2_DEQUE = 8, IDLE_TICK_NS = 50000000, MIN_TICK_NS = 1000000 };

int gsp__exec_slots_alloc(gsp_exec *ex) {
  ex->w = gsp_calloc(ex->max_workers, sizeof(gsp__worker));
  if (ex->w == NULL) return GSP_ENOMEM;
  for (unsigned i = 0; i < ex->max_workers; i++) {
    gsp__worker *w = &ex->w[i];
    if (gsp__deque_init(&w->dq, LOG2_DEQUE) != GSP_OK) {
      for (unsigned j = 0; j < i; j++) gsp__deque_fini(&ex->w[j].dq);
      gsp_free(ex->w);
      ex->w = NULL;
      return GSP_ENOMEM;
    }
    w->ex = ex;
    w->id = i;
    w->rng = 0x9E3779B97F4A7C15ull * (i + 1);
    w->state = GSP__SLOT_OFF;
  }
  return GSP_OK;
}

void gsp__exec_slots_free(gsp_exec *ex) {
  gsp__task_cache_free(ex);
  for (unsigned i = 0; i < ex->max_workers; i++) gsp__deque_fini(&ex->w[i].dq);
  gsp_free(ex->w);
}

/* The lowest slot that is OFF or EXITED (joined here), or NULL. */
static gsp__worker *free_slot_locked(gsp_exec *ex) {
  for (unsigned i = 0; i < ex->max_workers; i++) {
    gsp__worker *w = &ex->w[i];
    if (w->state == GSP__SLOT_RUN) continue;
    if (w->state == GSP__SLOT_EXITED) pthread_join(w->thread, NULL);
    w->state = GSP__SLOT_OFF;
    return w;
  }
  return NULL;
}

int gsp__exec_start_worker_locked(gsp_exec *ex) {
  gsp__worker *w = free_slot_locked(ex);
  if (w == NULL) return GSP_ENOSPC;
  if (w->id + 1 > atomic_load(&ex->nslots)) atomic_store(&ex->nslots, w->id + 1);
  if (pthread_create(&w->thread, NULL, gsp__exec_worker_main, w) != 0) return GSP_ESYS;
  w->state = GSP__SLOT_RUN;
  unsigned live = atomic_fetch_add(&ex->nlive, 1) + 1;
  if (live > atomic_load(&ex->peak)) atomic_store(&ex->peak, live);
  gsp__exec_workers_changed(ex);
  return GSP_OK;
}

bool gsp__exec_may_retire_locked(gsp_exec *ex, gsp__worker *w) {
  if (atomic_load(&ex->stopping) || atomic_load(&ex->nlive) <= ex->min_workers) return false;
  if (gsp__exec_any_work(ex)) return false;
  w->state = GSP__SLOT_EXITED;
  atomic_fetch_sub(&ex->nlive, 1);
  atomic_fetch_add(&ex->shrunk, 1);
  if (ex->m.shrunk != NULL) gsp_counter_inc(ex->m.shrunk);
  gsp__exec_workers_changed(ex);
  return true;
}

static struct timespec abs_ts(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  return ts;
}

/* One look at the pool: grow if work has waited target_wait with no idle worker. */
static uint64_t scale_step_locked(gsp_exec *ex, uint64_t now) {
  uint64_t tick = ex->target_wait_ns / 2 > MIN_TICK_NS ? ex->target_wait_ns / 2 : MIN_TICK_NS;
  bool waiting = atomic_load(&ex->nsleeping) == 0 && gsp__exec_any_work(ex);
  if (!waiting) {
    ex->backlog_since = 0;
    return atomic_load(&ex->nsleeping) == atomic_load(&ex->nlive) ? IDLE_TICK_NS : tick;
  }
  if (ex->backlog_since == 0) {
    ex->backlog_since = now;
  } else if (now - ex->backlog_since >= ex->target_wait_ns) {
    if (atomic_load(&ex->nlive) < ex->max_workers && gsp__exec_start_worker_locked(ex) == GSP_OK) {
      atomic_fetch_add(&ex->grown, 1);
      if (ex->m.grown != NULL) gsp_counter_inc(ex->m.grown);
    }
    ex->backlog_since = 0;
  }
  return tick;
}

static void *scaler_main(void *arg) {
  gsp_exec *ex = arg;
  pthread_mutex_lock(&ex->mu);
  while (!atomic_load(&ex->stopping)) {
    uint64_t now = gsp_now_ns();
    struct timespec ts = abs_ts(now + scale_step_locked(ex, now));
    pthread_cond_timedwait(&ex->scaler_cv, &ex->mu, &ts);
  }
  pthread_mutex_unlock(&ex->mu);
  return NULL;
}

int gsp__exec_scaler_start(gsp_exec *ex) {
  if (pthread_create(&ex->scaler, NULL, scaler_main, ex) != 0) return GSP_ESYS;
  ex->scaler_started = true;
  return GSP_OK;
}

void gsp__exec_stop_all(gsp_exec *ex) {
  pthread_mutex_lock(&ex->mu);
  atomic_store(&ex->stopping, true);
  pthread_cond_signal(&ex->scaler_cv);
  pthread_cond_broadcast(&ex->work_cv);
  pthread_mutex_unlock(&ex->mu);
  if (ex->scaler_started) pthread_join(ex->scaler, NULL);
  ex->scaler_started = false;
  /* With stopping raised under mu no slot changes state any more. */
  for (unsigned i = 0; i < ex->max_workers; i++) {
    gsp__worker *w = &ex->w[i];
    if (w->state != GSP__SLOT_OFF) pthread_join(w->thread, NULL);
    w->state = GSP__SLOT_OFF;
  }
  atomic_store(&ex->nlive, 0);
}
