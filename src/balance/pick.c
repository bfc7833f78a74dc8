/*
 * pick.c - gsp_balance_pick and gsp_balance_release: the strategies.
 *
 * A pick runs on the reader side (balance_int.h) and reads the view:
 *
 *   ROUND_ROBIN   live[rr++ % n]: one shared atomic increment.
 *   WRR           sched[rr++ % len]: the precomputed smooth sequence.
 *   LEAST_CONN    a scan of live[] for the least active / w (compared by
 *                 cross-multiplication); ties go to one of the tied
 *                 backends drawn in proportion to weight.
 *   RANDOM        one draw from the alias table.
 *   P2C           two alias draws, the less loaded (active / w) wins, the
 *                 first on a tie (so with no load it is RANDOM).
 *   CONSISTENT    table[XXH3(key) scaled to M] (Maglev).
 *   LEAST_LAT     a scan for the least ewma * (active + 1) / w; one pick
 *                 in 64 is an alias draw (exploration).
 *
 * Before any strategy, a HALF_OPEN backend whose trial is not yet handed
 * out takes the pick (the trial is claimed by a compare-and-swap, so only
 * one pick gets it). Random numbers come from a per-thread splitmix64
 * generator, seeded from a process-wide counter: no shared state.
 *
 * Concurrent picks of LEAST_CONNECTIONS, P2C and LEAST_LATENCY read
 * `active` counters that other picks are about to raise, so two threads may
 * choose the same backend at once; the bounds in balance.h are for one
 * picking thread. ROUND_ROBIN and WRR are exact under any concurrency.
 *
 * A release takes no lock: the ticket holds the backend's address, and a
 * removed backend's memory lives until its last ticket is back (the
 * REMOVED bit in `active`, balance.c). It updates the counters, the
 * decrement of `active` last; a failure that reaches the threshold, or
 * the end of a half-open trial, continues in health.c on the writer side
 * (which finds the backend again by id).
 */
#include <xxhash.h>

#include "balance_int.h"

static atomic_uint_fast64_t g_seed = 0x853c49e6748fea9bull;
static __thread uint64_t tl_rng;

uint64_t gsp__bal_rand(void) {
  if (tl_rng == 0) tl_rng = atomic_fetch_add(&g_seed, 0x9e3779b97f4a7c15ull) | 1;
  uint64_t z = (tl_rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* x scaled to [0, n) without a division. */
static inline uint32_t scale32(uint64_t x, uint32_t n) {
  return (uint32_t)(((x >> 32) * (uint64_t)n) >> 32);
}

static inline uint32_t alias_draw(const gsp__bal_view *v) {
  uint64_t r = gsp__bal_rand();
  uint32_t i = scale32(r, v->n);
  return (uint32_t)r < v->prob[i] ? v->live[i] : v->live[v->alias[i]];
}

static inline uint32_t active_of(const gsp_balancer *b, uint32_t slot) {
  return atomic_load_explicit(&b->slots[slot]->active, memory_order_relaxed) & ~GSP__BAL_REMOVED;
}

/* Compare the loads active / w of two backends: <0, 0, >0. */
static inline int load_cmp(const gsp_balancer *b, uint32_t a, uint32_t c) {
  uint64_t la = (uint64_t)active_of(b, a) * b->slots[c]->weight;
  uint64_t lc = (uint64_t)active_of(b, c) * b->slots[a]->weight;
  return la < lc ? -1 : la > lc;
}

/* Among the backends tied at the least load (one of them `best`), one
 * drawn in proportion to weight (a weighted reservoir of one). */
static uint32_t draw_tied(const gsp_balancer *b, uint32_t best) {
  const gsp__bal_view *v = &b->v;
  uint64_t tied_w = 0;
  uint32_t pick = best;
  for (uint32_t i = 0; i < v->n; i++) {
    uint32_t s = v->live[i];
    if (load_cmp(b, s, best) != 0) continue;
    uint32_t w = b->slots[s]->weight;
    tied_w += w;
    if (scale32(gsp__bal_rand(), (uint32_t)tied_w) < w) pick = s;
  }
  return pick;
}

/* The least loaded live backend; among equals, one drawn in proportion to
 * weight, as nginx does with round robin. One pass finds the least load
 * and counts the ties: one is the answer, all tied is an alias draw, and
 * only a partial tie needs a second pass. */
static uint32_t pick_least_conn(const gsp_balancer *b) {
  const gsp__bal_view *v = &b->v;
  uint32_t best = v->live[0], ties = 1;
  for (uint32_t i = 1; i < v->n; i++) {
    int c = load_cmp(b, v->live[i], best);
    if (c < 0) {
      best = v->live[i];
      ties = 1;
    } else if (c == 0) {
      ties++;
    }
  }
  if (ties == 1) return best;
  if (ties == v->n) return alias_draw(v);
  return draw_tied(b, best);
}

static uint32_t pick_p2c(const gsp_balancer *b) {
  uint32_t x = alias_draw(&b->v), y = alias_draw(&b->v);
  return load_cmp(b, y, x) < 0 ? y : x;
}

/* A backend's expected wait: ewma * (active + 1), to be divided by w. */
static double latency_load(const gsp__bal_backend *k) {
  uint64_t e = atomic_load_explicit(&k->ewma, memory_order_relaxed);
  unsigned a = atomic_load_explicit(&k->active, memory_order_relaxed) & ~GSP__BAL_REMOVED;
  return (double)e * (double)(a + 1u);
}

/* Least ewma * (active + 1) / w, compared by cross-multiplication. */
static uint32_t pick_least_latency(const gsp_balancer *b) {
  const gsp__bal_view *v = &b->v;
  uint64_t r = gsp__bal_rand();
  if ((r & 63) == 0) return alias_draw(v);
  uint32_t start = scale32(r, v->n), best = v->live[start];
  double best_load = latency_load(b->slots[best]), best_w = b->slots[best]->weight;
  for (uint32_t k = 1; k < v->n; k++) {
    uint32_t i = start + k < v->n ? start + k : start + k - v->n;
    const gsp__bal_backend *c = b->slots[v->live[i]];
    double load = latency_load(c);
    if (load * best_w < best_load * (double)c->weight) {
      best_load = load;
      best_w = c->weight;
      best = v->live[i];
    }
  }
  return best;
}

static uint32_t pick_hash(const gsp_balancer *b, const void *key, size_t len) {
  uint64_t h = XXH3_64bits(key, len);
  return b->v.table[((h >> 32) * (uint64_t)b->v.table_size) >> 32];
}

static uint32_t pick_strategy(gsp_balancer *b, const void *key, size_t len) {
  const gsp__bal_view *v = &b->v;
  uint64_t i;
  switch (b->cfg.strategy) {
    case GSP_BALANCE_ROUND_ROBIN:
      i = atomic_fetch_add_explicit(&b->rr, 1, memory_order_relaxed);
      return v->live[i % v->n];
    case GSP_BALANCE_WEIGHTED_ROUND_ROBIN:
      i = atomic_fetch_add_explicit(&b->rr, 1, memory_order_relaxed);
      return v->sched[i % v->sched_len];
    case GSP_BALANCE_LEAST_CONNECTIONS:
      return pick_least_conn(b);
    case GSP_BALANCE_RANDOM:
      return alias_draw(v);
    case GSP_BALANCE_POWER_OF_TWO_CHOICES:
      return pick_p2c(b);
    case GSP_BALANCE_CONSISTENT_HASH:
      return pick_hash(b, key, len);
    default:
      return pick_least_latency(b);
  }
}

/* Hand out a half-open backend's trial, if one is still to give. */
static bool try_trial(gsp_balancer *b, uint32_t *slot) {
  for (uint32_t i = 0; i < b->v.n_half; i++) {
    gsp__bal_backend *k = b->slots[b->v.half[i]];
    unsigned zero = 0;
    if (atomic_load_explicit(&k->trial, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_strong(&k->trial, &zero, 1)) {
      *slot = k->slot;
      return true;
    }
  }
  return false;
}

static int pick_locked(gsp_balancer *b, const void *key, size_t len, gsp_balance_ticket *t) {
  uint32_t slot;
  t->flags_ = 0;
  if (b->v.n_half > 0 && try_trial(b, &slot)) {
    t->flags_ = GSP__BAL_TRIAL;
  } else {
    if (b->v.n == 0) return GSP_ENOENT;
    slot = pick_strategy(b, key, len);
  }
  gsp__bal_backend *k = b->slots[slot];
  atomic_fetch_add_explicit(&k->active, 1, memory_order_relaxed);
  t->id_ = k->id;
  t->backend_ = k;
  return GSP_OK;
}

int gsp_balance_pick(gsp_balancer *b, const void *key, size_t len, gsp_balance_ticket *t) {
  if (b == NULL || t == NULL) return GSP_EINVAL;
  if (b->cfg.strategy == GSP_BALANCE_CONSISTENT_HASH && key == NULL) {
    gsp__bal_err(b, "pick: the consistent_hash strategy needs a key");
    return GSP_EINVAL;
  }
  if (atomic_load_explicit(&b->next_retry, memory_order_relaxed) != GSP__BAL_NONE)
    gsp__bal_expire_timed(b);
  t->start_ns_ = b->cfg.strategy == GSP_BALANCE_LEAST_LATENCY ? gsp__bal_now(b) : 0;
  gsp__bal_rd_lock(b);
  int rv = pick_locked(b, key, len, t);
  gsp__bal_rd_unlock(b);
  if (rv != GSP_OK) gsp__bal_err(b, "pick: no live backend");
  return rv;
}

/* ---- release --------------------------------------------------------------- */

/* A racing update may be lost (a plain load and store): a sample, not a
 * count. */
static void ewma_add(gsp_balancer *b, gsp__bal_backend *k, uint64_t lat) {
  uint64_t old = atomic_load_explicit(&k->ewma, memory_order_relaxed);
  double a = b->cfg.ewma_alpha;
  uint64_t nv = old == 0 ? lat : (uint64_t)(a * (double)lat + (1.0 - a) * (double)old);
  atomic_store_explicit(&k->ewma, nv != 0 ? nv : 1, memory_order_relaxed); /* 0 = no sample */
}

/* Count the outcome; true if the writer side must follow (threshold hit).
 * Runs without a lock: the ticket keeps the backend's memory alive. */
static bool account(gsp_balancer *b, gsp__bal_backend *k, gsp_balance_outcome o, uint64_t lat) {
  if (o == GSP_BALANCE_ABANDONED) {
    atomic_fetch_add_explicit(&k->aband, 1, memory_order_relaxed);
    return false;
  }
  if (lat != 0) {
    atomic_fetch_add_explicit(&k->lat_sum, lat, memory_order_relaxed);
    ewma_add(b, k, lat);
  }
  if (o == GSP_BALANCE_SUCCESS) {
    atomic_fetch_add_explicit(&k->succ, 1, memory_order_relaxed);
    if (atomic_load_explicit(&k->consec, memory_order_relaxed) != 0)
      atomic_store_explicit(&k->consec, 0, memory_order_relaxed);
    return false;
  }
  atomic_fetch_add_explicit(&k->fail, 1, memory_order_relaxed);
  unsigned c = atomic_fetch_add_explicit(&k->consec, 1, memory_order_relaxed) + 1;
  return c >= b->cfg.fail_threshold &&
         atomic_load_explicit(&k->state, memory_order_relaxed) == GSP_BALANCE_UP;
}

int gsp_balance_release(gsp_balancer *b, const gsp_balance_ticket *t, gsp_balance_outcome outcome,
                        uint64_t latency_ns) {
  if (b == NULL || t == NULL || t->backend_ == NULL || (unsigned)outcome > GSP_BALANCE_ABANDONED)
    return GSP_EINVAL;
  if (latency_ns == 0 && t->start_ns_ != 0 && outcome != GSP_BALANCE_ABANDONED) {
    uint64_t now = gsp__bal_now(b);
    latency_ns = now > t->start_ns_ ? now - t->start_ns_ : 1;
  }
  gsp__bal_backend *k = t->backend_;
  bool down = account(b, k, outcome, latency_ns);
  /* the last access to k: after it a removal may free it */
  unsigned prev = atomic_fetch_sub_explicit(&k->active, 1, memory_order_acq_rel);
  if (prev & GSP__BAL_REMOVED) {
    if (prev == (GSP__BAL_REMOVED | 1u)) gsp__bal_bury(b, k);
    return GSP_ENOENT;
  }
  if (t->flags_ & GSP__BAL_TRIAL)
    gsp__bal_after_trial(b, t->id_, outcome);
  else if (down)
    gsp__bal_after_failure(b, t->id_);
  return GSP_OK;
}
