/*
 * policy_ttl.c - the TTL policy: among live entries, the one closest to
 * expiry leaves first; entries without a TTL leave last, oldest first.
 *
 * Data layout: a binary min-heap of entry pointers ordered by
 * (expire_ns, or UINT64_MAX when none; then insertion sequence). An entry's
 * pn.aux is its heap index, pn.stamp its sequence number. Insert, remove
 * and update are O(log n); victim is O(1). The heap array grows by doubling
 * in on_insert (the only allocation) and never shrinks below its peak, so
 * memory is one pointer per entry at the largest size reached.
 */
#include "cache_int.h"

typedef struct ttl_state {
  gsp__entry **heap;
  size_t n, cap;
  uint64_t seq;
} ttl_state;

static uint64_t deadline(const gsp__entry *e) { return e->expire_ns ? e->expire_ns : UINT64_MAX; }

static bool before(const gsp__entry *a, const gsp__entry *b) {
  uint64_t da = deadline(a), db = deadline(b);
  return da != db ? da < db : a->pn.stamp < b->pn.stamp;
}

static void place(ttl_state *s, size_t i, gsp__entry *e) {
  s->heap[i] = e;
  e->pn.aux = i;
}

static void sift_up(ttl_state *s, size_t i) {
  gsp__entry *e = s->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(e, s->heap[parent])) break;
    place(s, i, s->heap[parent]);
    i = parent;
  }
  place(s, i, e);
}

static void sift_down(ttl_state *s, size_t i) {
  gsp__entry *e = s->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->n) break;
    if (c + 1 < s->n && before(s->heap[c + 1], s->heap[c])) c++;
    if (!before(s->heap[c], e)) break;
    place(s, i, s->heap[c]);
    i = c;
  }
  place(s, i, e);
}

static int ttl_init(gsp__policy *p, uint64_t capacity) {
  (void)capacity;
  p->state = gsp_calloc(1, sizeof(ttl_state));
  return p->state ? GSP_OK : GSP_ENOMEM;
}

static void ttl_fini(gsp__policy *p) {
  ttl_state *s = p->state;
  if (s == NULL) return;
  gsp_free(s->heap);
  gsp_free(s);
  p->state = NULL;
}

static int ttl_insert(gsp__policy *p, gsp__entry *e) {
  ttl_state *s = p->state;
  if (s->n == s->cap) {
    size_t ncap = s->cap ? s->cap * 2 : 64;
    gsp__entry **nh = gsp_realloc(s->heap, ncap * sizeof(gsp__entry *));
    if (nh == NULL) return GSP_ENOMEM;
    s->heap = nh;
    s->cap = ncap;
  }
  e->pn.stamp = s->seq++;
  s->heap[s->n] = e;
  sift_up(s, s->n++);
  return GSP_OK;
}

static void ttl_hit(gsp__policy *p, gsp__entry *e) {
  (void)p;
  (void)e;
}

static void ttl_update(gsp__policy *p, gsp__entry *e, uint64_t old_charge) {
  (void)old_charge;
  ttl_state *s = p->state;
  size_t i = (size_t)e->pn.aux;
  sift_up(s, i);
  sift_down(s, (size_t)e->pn.aux);
}

static void ttl_remove(gsp__policy *p, gsp__entry *e) {
  ttl_state *s = p->state;
  size_t i = (size_t)e->pn.aux;
  gsp__entry *last = s->heap[--s->n];
  if (last == e) return;
  place(s, i, last);
  sift_up(s, i);
  sift_down(s, (size_t)last->pn.aux);
}

static gsp__entry *ttl_victim(gsp__policy *p) {
  ttl_state *s = p->state;
  return s->n ? s->heap[0] : NULL;
}

const gsp__policy_ops gsp__policy_ttl = {
    .name = "ttl",
    .evict_first = true,
    .init = ttl_init,
    .fini = ttl_fini,
    .on_insert = ttl_insert,
    .on_hit = ttl_hit,
    .on_update = ttl_update,
    .on_remove = ttl_remove,
    .on_miss = NULL,
    .victim = ttl_victim,
};
