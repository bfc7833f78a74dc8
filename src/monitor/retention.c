/*
 * retention.c - the tier rings of a series: fixed memory, exact buckets.
 *
 * Layout. A tier is a ring of `cap` points, allocated with the series and
 * never grown; `head` is the newest point, the oldest is head + 1 once the
 * ring is full. A point is a bucket [t, t + step) with min, max, mean and
 * count of the raw values that fell in it.
 *
 * Algorithm. Every tier is fed the raw value (not the finer tier's points),
 * so each bucket is exact: a 10 s bucket's mean is the mean of every value
 * in those 10 s, not a mean of means. Appending is O(tiers): the value's
 * bucket start b = t - t % step is compared with the newest point; equal or
 * older (a late value) folds into it, newer opens a new point and, when the
 * ring is full, overwrites the oldest (the ring is then "wrapped": data has
 * been dropped). Gaps in time leave no empty points: a ring holds `cap`
 * non-empty buckets, which may span more than cap x step.
 *
 * Query picks the finest tier that has dropped nothing from `from` on: one
 * that never wrapped, or whose oldest point starts at or before `from`.
 *
 * Invariant: points in a ring are in strictly increasing t order from the
 * oldest to head.
 */
#include <stddef.h>

#include "monitor_int.h"

static void point_add(gsp_monitor_point *p, double v) {
  if (v < p->min) p->min = v;
  if (v > p->max) p->max = v;
  p->count++;
  p->mean += (v - p->mean) / (double)p->count;
}

void gsp__ring_add(gsp__ring *r, double v, uint64_t t) {
  uint64_t b = t - t % r->step_ns;
  if (r->len > 0) {
    gsp_monitor_point *p = &r->pts[r->head];
    if (b <= p->t_ns) {
      point_add(p, v);
      return;
    }
    r->head = (r->head + 1) % r->cap;
    if (r->len < r->cap)
      r->len++;
    else
      r->wrapped = true;
  } else {
    r->head = 0;
    r->len = 1;
  }
  r->pts[r->head] = (gsp_monitor_point){.t_ns = b, .min = v, .max = v, .mean = v, .count = 1};
}

static uint32_t oldest_index(const gsp__ring *r) {
  return r->len < r->cap ? 0 : (r->head + 1) % r->cap;
}

uint32_t gsp__pick_tier(const gsp__series *s, uint32_t ntiers, uint64_t from) {
  for (uint32_t i = 0; i < ntiers; i++) {
    const gsp__ring *r = &s->tiers[i];
    if (!r->wrapped || r->pts[oldest_index(r)].t_ns <= from) return i;
  }
  return ntiers - 1;
}

size_t gsp__ring_copy(const gsp__ring *r, uint64_t from, uint64_t to, gsp_monitor_point *out) {
  size_t n = 0;
  uint32_t idx = oldest_index(r);
  for (uint32_t k = 0; k < r->len; k++, idx = (idx + 1) % r->cap) {
    const gsp_monitor_point *p = &r->pts[idx];
    if (p->t_ns >= from && p->t_ns <= to) out[n++] = *p;
  }
  return n;
}
