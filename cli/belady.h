/*
 * belady.h - Belady's MIN, the offline optimum, for `gsperf cachesim`.
 *
 * MIN knows the future: on a miss it makes room by evicting the cached
 * object whose next request is furthest away (objects never requested
 * again first). Counting objects (every object costs 1) this is optimal.
 * Counting bytes it is only an approximation: the same furthest-next rule
 * is applied, while the true size-aware optimum is NP-hard.
 *
 * As in libCacheSim, a missed object is always admitted (room is made
 * first), unless it alone is larger than the whole cache.
 *
 * Thread safety: the functions only read the trace and next-access array,
 * so several runs may share them from different threads.
 */
#ifndef GSP_CLI_BELADY_H
#define GSP_CLI_BELADY_H

#include <stdbool.h>
#include <stdint.h>

#include "trace.h"

/* Where cs_belady_next found the next-access indices. */
typedef enum cs_next_source {
  CS_NEXT_COMPUTED = 0, /* the trace had none: computed by a reverse pass */
  CS_NEXT_ORACLE0,      /* the oracle field, as 0-based request indices */
  CS_NEXT_ORACLE1,      /* the oracle field, as 1-based (libCacheSim's vtime) */
  CS_NEXT_RECOMPUTED,   /* the oracle field was inconsistent; computed */
} cs_next_source;

/*
 * For every request i, the index of the same object's next request, or -1.
 * Taken from the trace's oracle field when it is consistent with the ids
 * (checked exactly, 0- or 1-based), else computed. *out is gsp_malloc'ed;
 * the caller frees it with gsp_free. When the field was inconsistent,
 * *bad_at is the first request index found wrong (else -1). Returns 0 or
 * GSP_ENOMEM.
 */
int cs_belady_next(const cs_trace *t, int64_t **out, cs_next_source *src, int64_t *bad_at);

/*
 * Replay the trace through MIN with capacity cap: objects when ignore_size,
 * else bytes (each request charged its size). Sets *misses. Returns 0 or
 * GSP_ENOMEM (GSP_EINVAL if cap is 0).
 */
int cs_belady_run(const cs_trace *t, const int64_t *next, uint64_t cap, bool ignore_size,
                  uint64_t *misses);

#endif
