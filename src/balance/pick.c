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
 * Counting. `active` and the outcome counters are kept per thread shard
 * (balance_int.h): a pick adds 1 to its thread's shard of `active`, a
 * release subtracts 1 from its own thread's shard and counts the outcome
 * there, each with a plain load and store. The strategies that compare
 * loads sum `active` over the shards in use (one or two on a small host).
 * So an uncontended pick and release of ROUND_ROBIN or WRR do one
 * lock-prefixed operation (the shared cursor), the others none.
 *
 * A release takes no lock: the ticket holds the backend's address, and a
 * removed backend's memory lives until its tickets are back (balance.c).
 * It reads `removed` first, updates the counters, and the decrement of
 * `active` is its last access to the backend; a failure that reaches the
 * threshold, or the end of a half-open trial, continues in health.c on
 * the writer side (which finds the backend again by id).
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

static inline uint64_t active_of(const gsp_balancer *b, uint32_t slot, unsigned hw) {
  int64_t a = gsp__bal_active_at(b, slot, hw);
  return a > 0 ? (uint64_t)a : 0;
}

/* Compare the loads active / w of two backends: <0, 0, >0. */
static inline int load_cmp(const gsp_balancer *b, uint32_t a, uint32_t c, unsigned hw) {
  uint64_t la = active_of(b, a, hw) * b->slots[c]->weight;
  uint64_t lc = active_of(b, c, hw) * b->slots[a]->weight;
  return la < lc ? -1 : la > lc;
}

static inline unsigned shards_hw(void) {
  return atomic_load_explicit(&gsp__bal_shards_hw, memory_order_relaxed);
}

/* Among the live backends at load `ba / bw` (the least), one drawn in
 * proportion to weight (a weighted reservoir of one). */
static uint32_t draw_tied(const gsp_balancer *b, uint64_t ba, uint64_t bw, unsigned hw) {
  const gsp__bal_view *v = &b->v;
  uint64_t tied_w = 0;
  uint32_t pick = 0;
  for (uint32_t i = 0; i < v->n; i++) {
    uint64_t w = v->lw[i];
    if (active_of(b, v->live[i], hw) * bw != ba * w) continue;
    tied_w += w;
    if (scale32(gsp__bal_rand(), (uint32_t)tied_w) < w) pick = v->live[i];
  }
  return pick;
}

/* Tickets out of the backend in `slot` from the first two shard rows
 * (the common case: up to 64 slots, at most two threads ever used). */
static inline uint64_t active2(const atomic_uint_fast64_t *r0, const atomic_uint_fast64_t *r1,
                               uint32_t slot) {
  uint64_t sum = atomic_load_explicit(&r0[slot], memory_order_relaxed) +
                 atomic_load_explicit(&r1[slot], memory_order_relaxed);
  return (int64_t)sum > 0 ? sum : 0;
}

/* The least loaded live backend; among equals, one drawn in proportion to
 * weight, as nginx does with round robin. One pass finds the least load
 * (active / w, compared by cross-multiplication) and counts the ties: one
 * is the answer, all tied is an alias draw, and only a partial tie needs a
 * second pass. What the loop reads is copied to locals first (the compiler
 * reloads fields of b after every atomic load); with one count block and
 * at most two shards in use, the counts are read straight from two rows. */
static uint32_t pick_least_conn(const gsp_balancer *b) {
  const gsp__bal_view *v = &b->v;
  const uint32_t *live = v->live, *lw = v->lw, n = v->n;
  unsigned hw = shards_hw();
  bool fast = hw <= 2 && b->nslots <= GSP__BAL_BLK;
  const atomic_uint_fast64_t *r0 = b->blk[0]->row[0], *r1 = b->blk[0]->row[1];
  uint32_t best = 0, ties = 1;
  uint64_t ba = fast ? active2(r0, r1, live[0]) : active_of(b, live[0], hw), bw = lw[0];
  for (uint32_t i = 1; i < n; i++) {
    uint64_t a = fast ? active2(r0, r1, live[i]) : active_of(b, live[i], hw), w = lw[i];
    uint64_t l = a * bw, r = ba * w;
    if (l < r) {
      best = i;
      ba = a;
      bw = w;
      ties = 1;
    } else {
      ties += l == r;
    }
  }
  if (ties == 1) return live[best];
  if (ties == n) return alias_draw(v);
  return draw_tied(b, ba, bw, hw);
}

static uint32_t pick_p2c(const gsp_balancer *b) {
  uint32_t x = alias_draw(&b->v), y = alias_draw(&b->v);
  return load_cmp(b, y, x, shards_hw()) < 0 ? y : x;
}

/* A backend's expected wait: ewma * (active + 1), to be divided by w. */
static double latency_load(const gsp_balancer *b, uint32_t slot, unsigned hw) {
  uint64_t e = atomic_load_explicit(&b->slots[slot]->ewma, memory_order_relaxed);
  int64_t a = gsp__bal_active_at(b, slot, hw);
  return (double)e * (double)((a > 0 ? a : 0) + 1);
}

/* Least ewma * (active + 1) / w, compared by cross-multiplication. */
static uint32_t pick_least_latency(const gsp_balancer *b) {
  const gsp__bal_view *v = &b->v;
  uint64_t r = gsp__bal_rand();
  if ((r & 63) == 0) return alias_draw(v);
  unsigned hw = shards_hw();
  uint32_t start = scale32(r, v->n), best = v->live[start];
  double best_load = latency_load(b, best, hw), best_w = b->slots[best]->weight;
  for (uint32_t k = 1; k < v->n; k++) {
    uint32_t i = start + k < v->n ? start + k : start + k - v->n;
    const gsp__bal_backend *c = b->slots[v->live[i]];
    double load = latency_load(b, v->live[i], hw);
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
  uint32_t pos = (uint32_t)(((h >> 32) * (uint64_t)b->v.table_size) >> 32);
  if (b->cfg.hash_load_eps > 0) return gsp__bal_pick_bounded(b, pos);
  return b->v.table[pos];
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
  unsigned sh = gsp__bal_shard_id();
  gsp__bal_ctr_add(&k->act[(size_t)sh * GSP__BAL_BLK], sh, 1);
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

/* Count the outcome in this thread's shard; true if the writer side must
 * follow (threshold hit). Runs without a lock: the ticket keeps the
 * backend's memory alive. */
static bool account(gsp_balancer *b, gsp__bal_backend *k, unsigned sh, gsp_balance_outcome o,
                    uint64_t lat) {
  gsp__bal_shard *s = &k->sh[sh];
  if (o == GSP_BALANCE_ABANDONED) {
    gsp__bal_ctr_add(&s->aband, sh, 1);
    return false;
  }
  if (lat != 0) {
    gsp__bal_ctr_add(&s->lat_sum, sh, lat);
    ewma_add(b, k, lat);
  }
  if (o == GSP_BALANCE_SUCCESS) {
    gsp__bal_ctr_add(&s->succ, sh, 1);
    if (atomic_load_explicit(&k->consec, memory_order_relaxed) != 0)
      atomic_store_explicit(&k->consec, 0, memory_order_relaxed);
    return false;
  }
  gsp__bal_ctr_add(&s->fail, sh, 1);
  unsigned c = atomic_fetch_add_explicit(&k->consec, 1, memory_order_relaxed) + 1;
  return c >= b->cfg.fail_threshold &&
         atomic_load_explicit(&k->state, memory_order_relaxed) == GSP_BALANCE_UP;
}

/* The release's last access to k: after it a sweep may free k. */
static void active_down(gsp__bal_backend *k, unsigned sh) {
  atomic_uint_fast64_t *a = &k->act[(size_t)sh * GSP__BAL_BLK];
  if (sh < GSP__BAL_SHARDS - 1)
    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) - 1,
                          memory_order_release);
  else
    atomic_fetch_sub_explicit(a, 1, memory_order_release);
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
  unsigned sh = gsp__bal_shard_id();
  bool removed = atomic_load_explicit(&k->removed, memory_order_relaxed) != 0;
  bool down = !removed && account(b, k, sh, outcome, latency_ns);
  active_down(k, sh);
  if (removed) {
    gsp__bal_sweep(b, false);
    return GSP_ENOENT;
  }
  if (t->flags_ & GSP__BAL_TRIAL)
    gsp__bal_after_trial(b, t->id_, outcome);
  else if (down)
    gsp__bal_after_failure(b, t->id_);
  return GSP_OK;
}
