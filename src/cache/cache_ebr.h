/*
 * cache_ebr.h - epoch-based reclamation for the cache's lock-free readers.
 *
 * One process-wide domain serves every cache. A reader brackets its
 * lock-free lookup with gsp__ebr_enter()/gsp__ebr_exit(); memory that a
 * reader may still see (an unlinked entry, a replaced value, an old hash
 * table) is tagged with gsp__ebr_tag() when it is retired and freed once
 * gsp__ebr_safe(tag) holds. See cache_ebr.c for the algorithm and proof.
 *
 * Thread safety: enter/exit touch only the calling thread's slot; the rest
 * may be called from any thread at any time. Sections do not nest and
 * never run user code.
 */
#ifndef GSP_CACHE_EBR_H
#define GSP_CACHE_EBR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GSP__EBR_SLOTS 256u /* threads that can read lock-free at once */

typedef struct gsp__ebr_slot {
  _Atomic uint64_t state; /* 0: outside; else epoch << 1 | 1 */
  atomic_bool used;       /* owned by a live thread */
  unsigned id;            /* index in the slot array (stripe choice) */
} __attribute__((aligned(64))) gsp__ebr_slot;

extern _Atomic uint64_t gsp__ebr_epoch;
extern _Atomic uint64_t gsp__ebr_tsan_fence;
extern bool gsp__ebr_fenced; /* no membarrier: readers fence themselves */
extern __thread gsp__ebr_slot *gsp__ebr_self __attribute__((tls_model("initial-exec")));

#if defined(__SANITIZE_THREAD__)
#define GSP__EBR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GSP__EBR_TSAN 1
#endif
#endif

/*
 * A full fence (store-load order), where EBR needs one: between a reader's
 * announcement and its first load of a table, and between an unlink and
 * the epoch load of gsp__ebr_tag or the slot scan of an advance, when
 * membarrier() is not there to do it (see cache_ebr.c). Nothing weaker
 * will do: it is the store-buffering pattern, each side stores one
 * variable and loads the other, and only seq_cst fences (or seq_cst on all
 * four accesses) forbid both loads missing both stores. ThreadSanitizer
 * does not model fences (gcc says so with -Wtsan); in a TSan build the
 * fence is instead a seq_cst read-modify-write of one shared variable,
 * which TSan does model: such RMWs are totally ordered, each synchronizes
 * with the one before, so of two threads the later sees everything the
 * earlier did before its RMW, what the two fences guarantee. On x86, our
 * target, the locked RMW is a full barrier in hardware too. It is not the
 * default because every reader would then write one shared cache line.
 */
static inline void gsp__ebr_full_fence(void) {
#ifdef GSP__EBR_TSAN
  (void)atomic_fetch_add_explicit(&gsp__ebr_tsan_fence, 0, memory_order_seq_cst);
#else
  atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* Claim a slot for the calling thread; NULL when all are taken. */
gsp__ebr_slot *gsp__ebr_register(void);

/* Start a read section; NULL means "no slot: take the locked path". */
static inline gsp__ebr_slot *gsp__ebr_enter(void) {
  gsp__ebr_slot *s = gsp__ebr_self;
  if (s == NULL && (s = gsp__ebr_register()) == NULL) return NULL;
  uint64_t g = atomic_load_explicit(&gsp__ebr_epoch, memory_order_acquire);
  atomic_store_explicit(&s->state, g << 1 | 1u, memory_order_release);
  if (gsp__ebr_fenced)
    gsp__ebr_full_fence();
  else
    atomic_signal_fence(memory_order_seq_cst); /* membarrier() on the reclaimer's side */
  return s;
}

static inline void gsp__ebr_exit(gsp__ebr_slot *s) {
  atomic_store_explicit(&s->state, 0, memory_order_release);
}

/* The tag for memory just made unreachable (call after unlinking it). */
uint64_t gsp__ebr_tag(void);

/* Memory retired with this tag can be freed: no reader can still see it. */
static inline bool gsp__ebr_safe(uint64_t tag) {
  return atomic_load_explicit(&gsp__ebr_epoch, memory_order_acquire) >= tag + 2;
}

/* Advance the epoch if every reader has seen the current one; true if
 * the epoch moved (by this call or another). Costs one membarrier(). */
bool gsp__ebr_try_advance(void);

/* Advance until gsp__ebr_safe(tag), yielding between tries; gives up after
 * about `tries` attempts (a reader stuck in a section) and returns false. */
bool gsp__ebr_wait(uint64_t tag, unsigned tries);

#endif
