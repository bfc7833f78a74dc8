/*
 * deque.c - the Chase-Lev work-stealing deque with C11 atomics.
 *
 * Algorithm. Chase and Lev (SPAA 2005), with the memory orders of Le,
 * Pop, Cohen and Zappa Nardelli, "Correct and Efficient Work-Stealing for
 * Weak Memory Models" (PPoPP 2013), figure 1, except that the two seq_cst
 * fences are replaced by seq_cst accesses (below). The items live in a
 * circular array indexed by two ever-growing 64-bit counters: the owner
 * pushes and pops at `bottom`, thieves take from `top` with a CAS. The
 * owner's pop and a thief's steal race only for the last item, and both
 * settle it with a seq_cst CAS on `top`.
 *
 * Why pop and steal see each other's claim, without fences. Pop publishes
 * its smaller bottom with a seq_cst store and then reads top seq_cst; a
 * steal reads top, then bottom, both seq_cst; every write of top is a
 * seq_cst CAS. All of these lie in the single total order S of seq_cst
 * operations, consistent with program order. Suppose a pop of item b
 * reads top = t < b (so it takes item b without a CAS) while a thief
 * reads top = b and bottom = b + 1 (the value from before the pop) and
 * CASes top from b. The thief's read of bottom did not see the pop's
 * store, and the only older values of bottom were written by the owner
 * before that store (so they happen before it), hence the read precedes
 * the store in S. The CAS that made top = b precedes the thief's read of
 * it in S. So: that CAS < thief reads top < thief reads bottom < pop
 * stores bottom < pop reads top, all in S, and a seq_cst read sees the
 * last seq_cst write before it in S (or a later one): the pop reads top
 * >= b, a contradiction. This is the store-buffering pattern, which
 * seq_cst accesses forbid on their own; the paper's fences (pop: between
 * the bottom store and the top load; steal: between the two loads) do the
 * same for relaxed accesses. On x86 the seq_cst store is one xchg where
 * the fence was a locked instruction, and seq_cst loads are plain loads,
 * so pop costs the same and steal loses its locked instruction; and
 * ThreadSanitizer, which does not model fences, models these accesses
 * (as the acquire and release they include).
 *
 * Push publishes `bottom` with a seq_cst store as well (the paper: a
 * release fence and a relaxed store). That makes it the release that
 * carries the item to thieves (they read bottom with acquire at least),
 * and lets the pool pair it with its sleeping workers without a fence:
 * the pusher then reads how many workers sleep (seq_cst), a worker about
 * to sleep raises that count (seq_cst) and then reads bottom (seq_cst,
 * gsp__deque_empty), and the same store-buffering argument shows one of
 * them sees the other (exec.c, "No wake-up is lost"). gsp__deque_push_batch()
 * publishes several items with one such store. The array pointer is
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
 * For the same reason pop returns at once, without the seq_cst store,
 * when the top it reads has reached bottom: the deque is then empty
 * whatever thieves do (only the owner adds items).
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

/*
 * Owner: ring a looks full for n more items by top_seen; read top (see
 * "The owner's push" above) and grow until they fit. NULL on ENOMEM.
 */
static gsp__deque_array *room_slow(gsp__deque *d, gsp__deque_array *a, int64_t b, int64_t n) {
  int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
  d->top_seen = t;
  while (a != NULL && b + n - 1 - t > a->mask) a = grow(d, a, t, b);
  return a;
}

/* Owner: store x[0..n) above bottom b in a, then publish them (seq_cst). */
static inline void put(gsp__deque *d, gsp__deque_array *a, int64_t b, void *const *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    atomic_store_explicit(&a->slot[(b + (int64_t)i) & a->mask], x[i], memory_order_relaxed);
  atomic_store_explicit(&d->bottom, b + (int64_t)n, memory_order_seq_cst); /* "Push publishes" */
}

int gsp__deque_push_batch(gsp__deque *d, void *const *x, size_t n) {
  if (n == 0) return GSP_OK;
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  gsp__deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
  if (b + (int64_t)n - 1 - d->top_seen > a->mask) {
    a = room_slow(d, a, b, (int64_t)n);
    if (a == NULL) return GSP_ENOMEM;
  }
  put(d, a, b, x, n);
  return GSP_OK;
}

/* A push onto a ring that looks full (out of line: see gsp__deque_push). */
__attribute__((noinline)) static int push_slow(gsp__deque *d, void *x) {
  return gsp__deque_push_batch(d, &x, 1);
}

/* The ring that looks full is handled out of line (a tail call), so a
   push that fits saves no registers. */
int gsp__deque_push(gsp__deque *d, void *x) {
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  gsp__deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
  if (__builtin_expect(b - d->top_seen > a->mask, 0)) return push_slow(d, x);
  atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_relaxed);
  atomic_store_explicit(&d->bottom, b + 1, memory_order_seq_cst); /* "Push publishes" */
  return GSP_OK;
}

void *gsp__deque_pop(gsp__deque *d) {
  /* Empty for certain when top (which only grows) has reached bottom: skip the xchg. */
  if (atomic_load_explicit(&d->top, memory_order_relaxed) >=
      atomic_load_explicit(&d->bottom, memory_order_relaxed))
    return NULL;
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
  gsp__deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
  /* seq_cst store, then seq_cst load: a thief that misses this store is
     seen in turn (see "Why pop and steal see each other's claim"). */
  atomic_store_explicit(&d->bottom, b, memory_order_seq_cst);
  int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
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
  /* Both seq_cst, top first: the pairing with pop described above. */
  int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
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
 * Top and bottom are read seq_cst as in a steal: with no pop to pair
 * with, acquire would do, and on x86 both are plain loads.
 */
size_t gsp__deque_steal_batch(gsp__deque *d, void **out, size_t max) {
  for (;;) {
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
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

/* seq_cst loads (plain loads on x86): the sleeper's side of "Push publishes". */
bool gsp__deque_empty(gsp__deque *d) {
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
  int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
  return t >= b;
}
