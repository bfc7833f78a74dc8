/*
 * health.c - backend health: UP -> DOWN after consecutive failures, and the
 * way back (a probe, or a timed half-open trial), plus the probe thread.
 *
 * States (balance.h has the user's view):
 *
 *   UP --fail_threshold failures--> DOWN --retry_ms, probe true--> UP
 *                                    |  \--retry_ms, probe false--> DOWN
 *                                    \--retry_ms, no probe--> HALF_OPEN
 *   HALF_OPEN --trial succeeds--> UP;  --trial fails--> DOWN
 *             --trial abandoned--> HALF_OPEN (trial handed out again)
 *
 * Every transition runs on the writer side and rebuilds the view before
 * leaving it, so a pick that starts after the transition returned sees the
 * new live set. A transition to DOWN shrinks the live set and therefore
 * cannot fail for memory; one to UP may (a longer WRR schedule): the
 * backend then stays DOWN for another retry_ms.
 *
 * Timed retries without a probe are driven by the picks themselves: the
 * earliest retry time of the DOWN backends is kept in `next_retry`
 * (NONE when there is nothing to wait for), and a pick that finds it past
 * takes the writer side once to make those backends HALF_OPEN. Probes are
 * driven by gsp_balance_health_check(), called by the host or by the probe
 * thread; the probe itself runs with no lock held, on a copy of the name.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "balance_int.h"

static void mark_down_locked(gsp_balancer *b, gsp__bal_backend *k, uint64_t now) {
  atomic_store_explicit(&k->state, GSP_BALANCE_DOWN, memory_order_relaxed);
  k->retry_at_ns = now + b->cfg.retry_ms * 1000000u;
  (void)gsp__bal_rebuild_locked(b); /* a smaller live set: cannot fail */
  gsp__bal_update_next_retry_locked(b);
}

/* Bring k UP; on GSP_ENOMEM it goes (back) DOWN for another retry_ms. */
static bool mark_up_locked(gsp_balancer *b, gsp__bal_backend *k, uint64_t now) {
  atomic_store_explicit(&k->consec, 0, memory_order_relaxed);
  atomic_store_explicit(&k->state, GSP_BALANCE_UP, memory_order_relaxed);
  if (gsp__bal_rebuild_locked(b) == GSP_OK) {
    gsp__bal_update_next_retry_locked(b);
    return true;
  }
  gsp__bal_err(b, "backend \"%s\": out of memory bringing it up; retried later", k->name);
  mark_down_locked(b, k, now);
  return false;
}

void gsp__bal_update_next_retry_locked(gsp_balancer *b) {
  uint64_t next = GSP__BAL_NONE;
  if (b->cfg.probe == NULL) {
    for (uint32_t i = 0; i < b->nslots; i++) {
      const gsp__bal_backend *k = b->slots[i];
      if (k == NULL || atomic_load_explicit(&k->state, memory_order_relaxed) != GSP_BALANCE_DOWN)
        continue;
      if (k->retry_at_ns < next) next = k->retry_at_ns;
    }
  }
  atomic_store_explicit(&b->next_retry, next, memory_order_relaxed);
}

void gsp__bal_after_failure(gsp_balancer *b, uint32_t id) {
  uint64_t now = gsp__bal_now(b);
  gsp__bal_wr_lock(b);
  gsp__bal_backend *k = gsp__bal_lookup_locked(b, id);
  if (k != NULL && atomic_load_explicit(&k->state, memory_order_relaxed) == GSP_BALANCE_UP &&
      atomic_load_explicit(&k->consec, memory_order_relaxed) >= b->cfg.fail_threshold) {
    atomic_fetch_add_explicit(&k->downs, 1, memory_order_relaxed);
    mark_down_locked(b, k, now);
  }
  gsp__bal_wr_unlock(b);
}

void gsp__bal_after_trial(gsp_balancer *b, uint32_t id, gsp_balance_outcome o) {
  uint64_t now = gsp__bal_now(b);
  gsp__bal_wr_lock(b);
  gsp__bal_backend *k = gsp__bal_lookup_locked(b, id);
  if (k != NULL && atomic_load_explicit(&k->state, memory_order_relaxed) == GSP_BALANCE_HALF_OPEN) {
    if (o == GSP_BALANCE_SUCCESS)
      (void)mark_up_locked(b, k, now);
    else if (o == GSP_BALANCE_FAILURE)
      mark_down_locked(b, k, now);
    else
      atomic_store_explicit(&k->trial, 0, memory_order_relaxed);
  }
  gsp__bal_wr_unlock(b);
}

/* Without a probe: DOWN backends whose time has come become HALF_OPEN. */
static void expire_locked(gsp_balancer *b, uint64_t now) {
  bool changed = false;
  for (uint32_t i = 0; i < b->nslots; i++) {
    gsp__bal_backend *k = b->slots[i];
    if (k == NULL || atomic_load_explicit(&k->state, memory_order_relaxed) != GSP_BALANCE_DOWN ||
        k->retry_at_ns > now)
      continue;
    atomic_store_explicit(&k->trial, 0, memory_order_relaxed);
    atomic_store_explicit(&k->state, GSP_BALANCE_HALF_OPEN, memory_order_relaxed);
    changed = true;
  }
  if (changed) (void)gsp__bal_rebuild_locked(b); /* the live set is unchanged */
  gsp__bal_update_next_retry_locked(b);
}

void gsp__bal_expire_timed(gsp_balancer *b) {
  uint64_t now = gsp__bal_now(b);
  if (now < atomic_load_explicit(&b->next_retry, memory_order_relaxed)) return;
  gsp__bal_wr_lock(b);
  expire_locked(b, now);
  gsp__bal_wr_unlock(b);
}

/* ---- probes ------------------------------------------------------------------ */

/* The next DOWN backend at or after slot *from whose retry time has come;
 * copies its name. Reader side. */
static bool next_due(gsp_balancer *b, uint32_t *from, uint64_t now, uint32_t *id, char *name) {
  bool found = false;
  gsp__bal_rd_lock(b);
  for (; *from < b->nslots && !found; (*from)++) {
    const gsp__bal_backend *k = b->slots[*from];
    if (k == NULL || atomic_load_explicit(&k->state, memory_order_relaxed) != GSP_BALANCE_DOWN ||
        k->retry_at_ns > now)
      continue;
    *id = k->id;
    memcpy(name, k->name, strlen(k->name) + 1); /* <= GSP_BALANCE_NAME_MAX, checked at add */
    found = true;
  }
  gsp__bal_rd_unlock(b);
  return found;
}

static bool apply_probe(gsp_balancer *b, uint32_t id, bool healthy) {
  uint64_t now = gsp__bal_now(b);
  bool up = false;
  gsp__bal_wr_lock(b);
  gsp__bal_backend *k = gsp__bal_lookup_locked(b, id);
  if (k != NULL && atomic_load_explicit(&k->state, memory_order_relaxed) == GSP_BALANCE_DOWN) {
    if (healthy)
      up = mark_up_locked(b, k, now);
    else
      k->retry_at_ns = now + b->cfg.retry_ms * 1000000u;
  }
  gsp__bal_wr_unlock(b);
  return up;
}

unsigned gsp_balance_health_check(gsp_balancer *b) {
  if (b == NULL) return 0;
  uint64_t now = gsp__bal_now(b);
  if (b->cfg.probe == NULL) {
    gsp__bal_wr_lock(b);
    expire_locked(b, now);
    gsp__bal_wr_unlock(b);
    return 0;
  }
  char name[GSP_BALANCE_NAME_MAX + 1];
  unsigned ups = 0;
  uint32_t from = 0, id;
  while (next_due(b, &from, now, &id, name)) {
    bool healthy = b->cfg.probe(b->cfg.probe_user, id, name);
    ups += apply_probe(b, id, healthy);
  }
  return ups;
}

static void *probe_main(void *arg) {
  gsp_balancer *b = arg;
  pthread_mutex_lock(&b->probe_mu);
  while (!b->probe_stop) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + b->cfg.probe_interval_ms * 1000000u;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    int rc = 0;
    while (!b->probe_stop && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&b->probe_cv, &b->probe_mu, &ts);
    if (b->probe_stop) break;
    pthread_mutex_unlock(&b->probe_mu);
    (void)gsp_balance_health_check(b);
    pthread_mutex_lock(&b->probe_mu);
  }
  pthread_mutex_unlock(&b->probe_mu);
  return NULL;
}

int gsp__bal_probe_start(gsp_balancer *b) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_destroy(&b->probe_cv);
  pthread_cond_init(&b->probe_cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&b->probe_thr, NULL, probe_main, b) != 0) {
    gsp__bal_err(b, "create: the probe thread could not start");
    return GSP_ESYS;
  }
  b->probe_running = true;
  return GSP_OK;
}

void gsp__bal_probe_stop(gsp_balancer *b) {
  if (!b->probe_running) return;
  pthread_mutex_lock(&b->probe_mu);
  b->probe_stop = true;
  pthread_cond_signal(&b->probe_cv);
  pthread_mutex_unlock(&b->probe_mu);
  pthread_join(b->probe_thr, NULL);
  b->probe_running = false;
}
