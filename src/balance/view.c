/*
 * view.c - rebuilding what picks read: the live list, the half-open list,
 * the smooth weighted round-robin schedule, the alias table and the Maglev
 * table.
 *
 * Live list. Slots of backends that are enabled, UP and of weight > 0, in
 * slot order. Every strategy picks among these only, so a backend that
 * goes DOWN leaves all of them at once, in the same writer section.
 *
 * Smooth WRR schedule. The nginx algorithm (every backend adds its weight
 * to its current value, the largest is chosen and loses the total) is
 * periodic with period W = sum of weights; with the weights divided by
 * their gcd first, the period is W/g. The schedule stores one period, so
 * a pick is one atomic increment and an index, and any number of threads
 * share one sequence. Building costs O(W/g * n); beyond GSP__BAL_SCHED_CAP
 * entries the weights are scaled down (each keeps at least 1).
 *
 * Alias table (Vose). n buckets of probability 1/n each, bucket i keeps i
 * with probability prob[i] / 2^32 and gives alias[i] otherwise: a weighted
 * random draw in O(1) with one 64-bit random number.
 *
 * Maglev table. Each live backend has a permutation of the M table entries
 * (offset + j * skip mod M, M prime, from two hashes of its name, walked
 * by adding skip, so no division per step); backends
 * take turns claiming their next unclaimed entry until the table is full.
 * Weights: a backend earns w credits per turn and claims one entry per
 * max_w credits, so its share of entries follows w/W. Because each
 * backend's preference order depends only on its own name, a change of
 * the set disturbs few entries of the others.
 *
 * Invariants: every array has the slots' capacity, except sched (sched_cap)
 * and table (table_size, allocated at create); a rebuild that does not
 * grow the live set (a subset: fewer backends, so W/g cannot grow)
 * allocates nothing and cannot fail.
 */
#include <string.h>

#include "balance_int.h"

static void *grow(void *p, size_t n, size_t size, int *rv) {
  void *q = gsp_realloc(p, n * size);
  if (q == NULL) {
    *rv = GSP_ENOMEM;
    return p;
  }
  return q;
}

int gsp__bal_view_grow_locked(gsp_balancer *b, uint32_t cap) {
  gsp__bal_view *v = &b->v;
  int rv = GSP_OK;
  v->live = grow(v->live, cap, sizeof *v->live, &rv);
  v->lw = grow(v->lw, cap, sizeof *v->lw, &rv);
  v->half = grow(v->half, cap, sizeof *v->half, &rv);
  v->alias = grow(v->alias, cap, sizeof *v->alias, &rv);
  v->prob = grow(v->prob, cap, sizeof *v->prob, &rv);
  v->s_w = grow(v->s_w, cap, sizeof *v->s_w, &rv);
  v->s_a = grow(v->s_a, cap, sizeof *v->s_a, &rv);
  v->s_b = grow(v->s_b, cap, sizeof *v->s_b, &rv);
  v->s_x = grow(v->s_x, cap, sizeof *v->s_x, &rv);
  v->s_y = grow(v->s_y, cap, sizeof *v->s_y, &rv);
  v->s_z = grow(v->s_z, cap, sizeof *v->s_z, &rv);
  v->s_p = grow(v->s_p, cap, sizeof *v->s_p, &rv);
  return rv;
}

int gsp__bal_table_alloc(gsp__bal_view *v, uint32_t size) {
  v->table = gsp_malloc((size_t)size * sizeof *v->table);
  if (v->table == NULL) return GSP_ENOMEM;
  v->table_size = size;
  return GSP_OK;
}

void gsp__bal_view_free(gsp__bal_view *v) {
  void *arrays[] = {v->live, v->lw,  v->half, v->sched, v->alias, v->prob, v->table,
                    v->s_w,  v->s_a, v->s_b,  v->s_x,   v->s_y,   v->s_z,  v->s_p};
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) gsp_free(arrays[i]);
  memset(v, 0, sizeof *v);
}

/* ---- live and half-open lists ------------------------------------------- */

static void fill_lists(gsp_balancer *b) {
  gsp__bal_view *v = &b->v;
  v->n = 0;
  v->n_half = 0;
  for (uint32_t i = 0; i < b->nslots; i++) {
    const gsp__bal_backend *k = b->slots[i];
    if (k == NULL || !k->enabled || k->weight == 0) continue;
    int st = atomic_load_explicit(&k->state, memory_order_relaxed);
    if (st == GSP_BALANCE_UP) {
      v->s_w[v->n] = k->weight;
      v->lw[v->n] = k->weight;
      v->live[v->n++] = i;
    } else if (st == GSP_BALANCE_HALF_OPEN) {
      v->half[v->n_half++] = i;
    }
  }
}

/* ---- smooth weighted round robin ----------------------------------------- */

static uint32_t gcd32(uint32_t a, uint32_t c) {
  while (c != 0) {
    uint32_t t = a % c;
    a = c;
    c = t;
  }
  return a;
}

/* Reduce the live weights in s_w (by their gcd, then scaled to the cap);
 * returns the schedule length. */
static uint32_t sched_weights(gsp__bal_view *v) {
  uint32_t g = 0;
  uint64_t sum = 0;
  for (uint32_t i = 0; i < v->n; i++) g = gcd32(v->s_w[i], g);
  for (uint32_t i = 0; i < v->n; i++) sum += v->s_w[i] /= g;
  if (sum <= GSP__BAL_SCHED_CAP) return (uint32_t)sum;
  uint64_t scaled = 0;
  for (uint32_t i = 0; i < v->n; i++) {
    uint64_t w = (uint64_t)v->s_w[i] * GSP__BAL_SCHED_CAP / sum;
    v->s_w[i] = w != 0 ? (uint32_t)w : 1;
    scaled += v->s_w[i];
  }
  return (uint32_t)scaled;
}

static int build_sched(gsp_balancer *b) {
  gsp__bal_view *v = &b->v;
  uint32_t len = sched_weights(v);
  if (len > v->sched_cap) {
    /* a scaled schedule may reach the cap plus one per backend */
    uint32_t cap = len > GSP__BAL_SCHED_CAP / 2 ? GSP__BAL_SCHED_CAP + b->cap : len;
    uint32_t *s = gsp_realloc(v->sched, (size_t)cap * sizeof *s);
    if (s == NULL) return GSP_ENOMEM;
    v->sched = s;
    v->sched_cap = cap;
  }
  int64_t *cw = v->s_z;
  memset(cw, 0, v->n * sizeof *cw);
  for (uint32_t t = 0; t < len; t++) {
    uint32_t best = 0;
    for (uint32_t i = 0; i < v->n; i++) {
      cw[i] += v->s_w[i];
      if (cw[i] > cw[best]) best = i;
    }
    cw[best] -= len;
    v->sched[t] = v->live[best];
  }
  v->sched_len = len;
  return GSP_OK;
}

/* ---- alias table --------------------------------------------------------- */

static void build_alias(gsp_balancer *b) {
  gsp__bal_view *v = &b->v;
  uint32_t n = v->n, ns = 0, nl = 0;
  double sum = 0;
  for (uint32_t i = 0; i < n; i++) sum += b->slots[v->live[i]]->weight;
  for (uint32_t i = 0; i < n; i++) {
    v->s_p[i] = b->slots[v->live[i]]->weight * (double)n / sum;
    if (v->s_p[i] < 1.0)
      v->s_a[ns++] = i;
    else
      v->s_b[nl++] = i;
  }
  while (ns > 0 && nl > 0) {
    uint32_t s = v->s_a[--ns], l = v->s_b[nl - 1];
    v->prob[s] = (uint32_t)(v->s_p[s] * 4294967296.0);
    v->alias[s] = l;
    v->s_p[l] -= 1.0 - v->s_p[s];
    if (v->s_p[l] < 1.0) {
      nl--;
      v->s_a[ns++] = l;
    }
  }
  /* what is left is 1 up to rounding: keep always */
  while (ns > 0) {
    uint32_t i = v->s_a[--ns];
    v->prob[i] = UINT32_MAX;
    v->alias[i] = i;
  }
  while (nl > 0) {
    uint32_t i = v->s_b[--nl];
    v->prob[i] = UINT32_MAX;
    v->alias[i] = i;
  }
}

/* ---- Maglev ---------------------------------------------------------------- */

/* (p + skip) mod m for p, skip < m: the next entry of a permutation. */
static inline uint64_t step(uint64_t p, uint64_t skip, uint32_t m) {
  p += skip;
  return p >= m ? p - m : p;
}

static void build_maglev(gsp_balancer *b) {
  gsp__bal_view *v = &b->v;
  uint32_t m = v->table_size, n = v->n, max_w = 0, filled = 0;
  uint64_t *pos = v->s_x, *skip = v->s_y; /* next entry of i's permutation */
  int64_t *credit = v->s_z;
  if (n == 0) return;
  for (uint32_t i = 0; i < n; i++) {
    const gsp__bal_backend *k = b->slots[v->live[i]];
    pos[i] = k->h_off % m;
    skip[i] = k->h_skip % (m - 1) + 1;
    credit[i] = 0;
    if (k->weight > max_w) max_w = k->weight;
  }
  memset(v->table, 0xff, (size_t)m * sizeof *v->table);
  while (filled < m) {
    for (uint32_t i = 0; i < n && filled < m; i++) {
      credit[i] += b->slots[v->live[i]]->weight;
      for (; credit[i] >= (int64_t)max_w && filled < m; credit[i] -= max_w) {
        while (v->table[pos[i]] != UINT32_MAX) pos[i] = step(pos[i], skip[i], m);
        v->table[pos[i]] = v->live[i];
        pos[i] = step(pos[i], skip[i], m);
        filled++;
      }
    }
  }
}

int gsp__bal_rebuild_locked(gsp_balancer *b) {
  fill_lists(b);
  atomic_store_explicit(&b->rr, 0, memory_order_relaxed);
  switch (b->cfg.strategy) {
    case GSP_BALANCE_WEIGHTED_ROUND_ROBIN:
      return build_sched(b);
    case GSP_BALANCE_LEAST_CONNECTIONS:
    case GSP_BALANCE_RANDOM:
    case GSP_BALANCE_POWER_OF_TWO_CHOICES:
    case GSP_BALANCE_LEAST_LATENCY:
      build_alias(b);
      return GSP_OK;
    case GSP_BALANCE_CONSISTENT_HASH:
      build_maglev(b);
      return GSP_OK;
    default:
      return GSP_OK;
  }
}
