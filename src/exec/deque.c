/*
 * deque.c - the Chase-Lev work-stealing deque with C11 atomics.
 *
 * Algorithm. Chase and Lev (SPAA 2005), with the memory orders proved
 * correct for C11 by Le, Pop, Cohen and Zappa Nardelli, "Correct and
 * Efficient Work-Stealing for Weak Memory Models" (PPoPP 2013), figure 1.
 * The items live in a circular array indexed by two ever-growing 64-bit
 * counters: the owner pushes and pops at `bottom`, thieves take from `top`
 * with a CAS. The owner's pop and a thief's steal race only for the last
 * item, and both settle it with a seq_cst CAS on `top`; the seq_cst fence
 * in pop (after publishing the smaller bottom) and in steal (between
 * reading top and bottom) make each side see the other's claim.
 *
 * Departures from the paper, both for ThreadSanitizer, neither costs an
 * instruction on x86: push publishes `bottom` with a release store instead
 * of a release fence plus relaxed store, and the array pointer is
 * published with release and read with acquire (the paper: consume), so
 * happens-before edges exist in the form TSan understands.
 *
 * Growth. When full, the owner copies the live range into a ring twice the
 * size and publishes it. A thief may still be reading the old ring (it
 * loaded the pointer before the swap), so the old ring is not freed: it
 * goes on a list and is freed by gsp__deque_fini(). Rings double, so the
 * retired ones together are smaller than the live one.
 *
 * The owner's push reads `top` only when the ring looks full by the last
 * value it read (`top_seen`): top never decreases, so a stale value only
 * overstates how full the ring is, and the slot about to be overwritten
 * lies below a top the owner acquired, so its thief has finished reading
 * it. This keeps push off the cache line thieves write on every steal.
 * For the same reason pop returns at once, without the fence, when the
 * top it reads has reached bottom: the deque is then empty whatever
 * thieves do (only the owner adds items).
 *
 * Slots are atomics read and written relaxed: a thief that loses the CAS
 * may read a slot the owner is overwriting, which is benign but would be a
 * data race on plain memory.
 */
#include <stdbool.h>
#include <stddef.h>

#include "deque.h"
#include "gsperf/common.h"

struct gsp__deque_array {
  int64_t mask;              /* capacity - 1; capacity is a power of two */
  gsp__deque_array *retired; /* next older ring on the retired list */
  _Atomic(void *) slot[];
};

static gsp__deque_array *array_new(int64_t cap) {
  gsp__deque_array *a = gsp_malloc(sizeof(*a) + (size_t)cap * sizeof(a->slot[0]));
  if (a == NULL) return NULL;
  a->mask = cap - 1;
  a->retired = NULL;
  return a;
}

int gsp__deque_init(gsp__deque *d, unsigned log2_cap) {
  gsp__deque_array *a = array_new((int64_t)1 << log2_cap);
  if (a == NULL) return GSP_ENOMEM;
  atomic_init(&d->top, 0);
  atomic_init(&d->bottom, 0);
  atomic_init(&d->array, a);
  d->top_seen = 0;
  d->retired = NULL;
  return GSP_OK;
}

void gsp__deque_fini(gsp__deque *d) {
  gsp_free(atomic_load_explicit(&d->array, memory_order_relaxed));
  gsp__deque_array *r = d->retired;
  while (r != NULL) {
    gsp__deque_array *next = r->retired;
    gsp_free(r);
    r = next;
  }
  d->retired = NULL;
}

/* Owner: replace a full ring by one twice the size holding [t, b). */
static gsp__deque_array *grow(gsp__deque *d, gsp__deque_array *a, int64_t t, int64_t b) {
  gsp__deque_array *n = array_new((a->mask + 1) * 2);
  if (n == NULL) return NULL;
  for (int64_t i = t; i < b; i++) {
    void *x = atomic_load_explicit(&a->slot[i & a->mask], memory_order_relaxed);
    atomic_store_explicit(&n->slot[i & n->mask], x, memory_order_relaxed);
  }
  a->retired = d->retired;
  d->retired = a;
  atomic_store_explicit(&d->array, n, memory_order_release);
  return n;
}

int gsp__deque_push(gsp__deque *d, void *x) {
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  gsp__deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
  if (b - d->top_seen > a->mask) {
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    d->top_seen = t;
    if (b - t > a->mask) {
      a = grow(d, a, t, b);
      if (a == NULL) return GSP_ENOMEM;
    }
  }
  atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_relaxed);
  atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
  return GSP_OK;
}

void *gsp__deque_pop(gsp__deque *d) {
  /* Empty for certain when top (which only grows) has reached bottom: skip the fence. */
  if (atomic_load_explicit(&d->top, memory_order_relaxed) >=
      atomic_load_explicit(&d->bottom, memory_order_relaxed))
    return NULL;
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
  gsp__deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
  atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst);
  int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
  if (t > b) { /* empty */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    return NULL;
  }
  void *x = atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
  if (t == b) { /* the last item: race the thieves for it */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
      x = NULL;
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
  }
  return x;
}

gsp__steal_result gsp__deque_steal(gsp__deque *d, void **out) {
  int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
  atomic_thread_fence(memory_order_seq_cst);
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
  if (t >= b) return GSP__STEAL_EMPTY;
  gsp__deque_array *a = atomic_load_explicit(&d->array, memory_order_acquire);
  void *x = atomic_load_explicit(&a->slot[t & a->mask], memory_order_relaxed);
  /* The item was written on the owner's CPU: overlap its fetch with the CAS. */
  __builtin_prefetch(x);
  if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                               memory_order_relaxed))
    return GSP__STEAL_ABORT;
  *out = x;
  return GSP__STEAL_OK;
}

/*
 * Batch steal for a deque whose owner only pushes (a submission slot of a
 * thread outside the pool). With no pop there is no race for the last
 * item: thieves race only each other, and the CAS from t settles it. The
 * slots [t, t + k) read before a successful CAS are intact: top stayed t
 * meanwhile (it only grows), so the owner could not reuse those slots.
 */
size_t gsp__deque_steal_batch(gsp__deque *d, void **out, size_t max) {
  for (;;) {
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    atomic_thread_fence(memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    if (t >= b) return 0;
    size_t k = (size_t)(b - t + 1) / 2;
    if (k > max) k = max;
    gsp__deque_array *a = atomic_load_explicit(&d->array, memory_order_acquire);
    for (size_t i = 0; i < k; i++)
      out[i] = atomic_load_explicit(&a->slot[(t + (int64_t)i) & a->mask], memory_order_relaxed);
    if (atomic_compare_exchange_strong_explicit(&d->top, &t, t + (int64_t)k, memory_order_seq_cst,
                                                memory_order_relaxed))
      return k;
  }
}

size_t gsp__deque_size(gsp__deque *d) {
  int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
  return b > t ? (size_t)(b - t) : 0;
}

bool gsp__deque_empty(gsp__deque *d) {
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
  int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
  return t >= b;
}
