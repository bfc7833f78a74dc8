/*
 * deque.h - the Chase-Lev work-stealing deque (internal to src/exec).
 *
 * One owner thread pushes and pops at the bottom; any thread may steal
 * from the top. Items are non-NULL pointers. See deque.c for the algorithm.
 */
#ifndef GSP_EXEC_DEQUE_H
#define GSP_EXEC_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gsp__deque_array gsp__deque_array;

typedef struct gsp__deque {
  _Alignas(64) _Atomic int64_t top;    /* thieves CAS it upwards */
  _Alignas(64) _Atomic int64_t bottom; /* written by the owner only */
  _Atomic(gsp__deque_array *) array;   /* current ring, replaced on growth */
  int64_t top_seen;                    /* owner only: a past value of top (<= top) */
  gsp__deque_array *retired;           /* older rings, freed by fini (owner) */
} gsp__deque;

typedef enum gsp__steal_result {
  GSP__STEAL_EMPTY = 0, /* nothing to steal */
  GSP__STEAL_ABORT = 1, /* lost a race: retry or try another victim */
  GSP__STEAL_OK = 2,
} gsp__steal_result;

/* Initialise with room for 2^log2_cap items. 0 or GSP_ENOMEM. */
int gsp__deque_init(gsp__deque *d, unsigned log2_cap);
/* Free every ring; the deque must be quiescent. */
void gsp__deque_fini(gsp__deque *d);
/* Owner only: push x (non-NULL) at the bottom, growing. 0 or GSP_ENOMEM.
   The new bottom is published with a seq_cst store (deque.c, "Push
   publishes"): a seq_cst load the caller makes next is ordered after it. */
int gsp__deque_push(gsp__deque *d, void *x);
/* Owner only: push x[0..n) (non-NULL) at the bottom with one seq_cst
   publish, growing. 0, or GSP_ENOMEM with nothing pushed. */
int gsp__deque_push_batch(gsp__deque *d, void *const *x, size_t n);
/* Owner only: pop the newest item, or NULL if empty. */
void *gsp__deque_pop(gsp__deque *d);
/* Any thread: take the oldest item into *out. */
gsp__steal_result gsp__deque_steal(gsp__deque *d, void **out);
/* Any thread, on a deque whose owner never pops: take up to max of the
   oldest items (half of those present, rounded up) into out; 0 if empty. */
size_t gsp__deque_steal_batch(gsp__deque *d, void **out, size_t max);
/* Any thread: about how many items are queued. */
size_t gsp__deque_size(gsp__deque *d);
/* Any thread: an approximate emptiness test (exact for the owner); seq_cst loads. */
bool gsp__deque_empty(gsp__deque *d);

#endif
