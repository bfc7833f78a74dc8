/*
 * bounded.c - consistent hashing with bounded loads (Mirrokni, Thorup and
 * Zadimoghaddam, SODA 2018) over the Maglev table.
 *
 * A key's home is its Maglev entry. With A tickets out over the live
 * backends (weights w_i, sum W), backend i may take the pick while
 * active_i < (1 + eps) * (A + 1) * w_i / W, i.e. while it stays within
 * ceil((1 + eps) x its fair share) counting this pick. If the home
 * backend is full, the pick walks the table forward from the key's entry
 * (consecutive Maglev entries are spread over the backends like the
 * points of a ring with M virtual nodes) and takes the first backend
 * below capacity. Some backend always is (the capacities sum to more than
 * A), so the walk ends; it is cut at M entries all the same and falls back
 * to the key's home.
 *
 * Data: nothing of its own; it reads the view (table, live, lw) and the
 * ticket counts. A pick costs a pass over the live backends to sum A and
 * W (O(n)), plus the walk. The bound holds for one picking thread; picks
 * racing on other threads may each see a backend just below capacity.
 * With no tickets out every key goes home, so the mapping is Maglev's.
 */
#include "balance_int.h"

static uint64_t active_at(const gsp_balancer *b, uint32_t slot, unsigned hw) {
  int64_t a = gsp__bal_active_at(b, slot, hw);
  return a > 0 ? (uint64_t)a : 0;
}

uint32_t gsp__bal_pick_bounded(const gsp_balancer *b, uint32_t pos) {
  const gsp__bal_view *v = &b->v;
  unsigned hw = atomic_load_explicit(&gsp__bal_shards_hw, memory_order_relaxed);
  uint64_t total = 0, wsum = 0;
  for (uint32_t i = 0; i < v->n; i++) {
    total += active_at(b, v->live[i], hw);
    wsum += v->lw[i];
  }
  /* capacity per unit of weight, scaled by W: a * W < lim * w */
  double lim = (1.0 + b->cfg.hash_load_eps) * (double)(total + 1);
  uint32_t p = pos;
  for (uint32_t step = 0; step < v->table_size; step++) {
    uint32_t slot = v->table[p];
    double a = (double)active_at(b, slot, hw);
    if (a * (double)wsum < lim * (double)b->slots[slot]->weight) return slot;
    p = p + 1 < v->table_size ? p + 1 : 0;
  }
  return v->table[pos];
}
