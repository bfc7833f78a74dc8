/*
 * policy_ttl.c - the TTL policy: among live entries, the one closest to
 * expiry leaves first; entries without a TTL leave last, oldest first.
 *
 * Data layout: a binary min-heap of slots {deadline, sequence, entry},
 * ordered by (deadline = expire_ns, or UINT64_MAX when none; then insertion
 * sequence). The ordering keys sit in the slot itself, so sifting never
 * touches an entry except to record its new index in pn.aux. Insert, remove
 * and update are O(log n); victim is O(1). The heap array grows by doubling
 * in on_insert (the only allocation) and never shrinks below its peak, so
 * memory is 24 bytes per entry at the largest size reached.
 */
#include "cache_int.h"

typedef struct slot {
  uint64_t deadline;
  uint64_t seq;
  gsp__entry *e;
} slot;

typedef struct ttl_state {
  slot *heap;
  size_t n, cap;
  uint64_t seq;
} ttl_state;

/* A TTL entry always holds a value; its current block carries the expiry. */
static uint64_t deadline(const gsp__entry *e) {
  uint64_t x = gsp__entry_vb(e)->expire_ns;
  return x ? x : UINT64_MAX;
}

static bool before(const slot *a, const slot *b) {
  return a->deadline != b->deadline ? a->deadline < b->deadline : a->seq < b->seq;
}

static void place(ttl_state *s, size_t i, slot v) {
  s->heap[i] = v;
  v.e->pn.aux = i;
}

static void sift_up(ttl_state *s, size_t i) {
  slot v = s->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(&v, &s->heap[parent])) break;
    place(s, i, s->heap[parent]);
    i = parent;
  }
  place(s, i, v);
}

static void sift_down(ttl_state *s, size_t i) {
  slot v = s->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->n) break;
    if (c + 1 < s->n && before(&s->heap[c + 1], &s->heap[c])) c++;
    if (!before(&s->heap[c], &v)) break;
    place(s, i, s->heap[c]);
    i = c;
  }
  place(s, i, v);
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
    slot *nh = gsp_realloc(s->heap, ncap * sizeof(slot));
    if (nh == NULL) return GSP_ENOMEM;
    s->heap = nh;
    s->cap = ncap;
  }
  s->heap[s->n] = (slot){deadline(e), s->seq++, e};
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
  s->heap[i].deadline = deadline(e);
  sift_up(s, i);
  sift_down(s, (size_t)e->pn.aux);
}

static void ttl_remove(gsp__policy *p, gsp__entry *e) {
  ttl_state *s = p->state;
  size_t i = (size_t)e->pn.aux;
  slot last = s->heap[--s->n];
  if (last.e == e) return;
  place(s, i, last);
  sift_up(s, i);
  sift_down(s, (size_t)last.e->pn.aux);
}

static gsp__entry *ttl_victim(gsp__policy *p) {
  ttl_state *s = p->state;
  return s->n ? s->heap[0].e : NULL;
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
