/*
 * bench_subject.h - what bench_cache needs from a cache under test.
 *
 * A subject is a struct of callbacks, so gsperf's strategies and the peers
 * written for the benchmark (peer_mutex_lru.c, peer_ck_ht.c) run through the
 * same loop. Keys are 8-byte integers, values BENCH_VLEN bytes.
 *
 * Threads: create/destroy run on the main thread with no worker alive. Each
 * worker calls thread_enter once (tid < BENCH_MAX_THREADS; the prefill uses
 * tid BENCH_MAX_THREADS), then get/put with the context it returned, calls
 * quiesce between batches (when it holds no reference into the cache), and
 * thread_exit at the end. thread_enter, quiesce and thread_exit may be NULL.
 */
#ifndef BENCH_SUBJECT_H
#define BENCH_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/cache.h"

#define BENCH_VLEN 16
#define BENCH_MAX_THREADS 16

typedef struct bench_subject bench_subject;
struct bench_subject {
  const char *name;
  gsp_cache_strategy strategy; /* gsperf subjects only */
  /* A cache bounded to `capacity` entries; NULL on failure. */
  void *(*create)(const bench_subject *sj, size_t capacity);
  void (*destroy)(void *obj);
  void *(*thread_enter)(void *obj, unsigned tid);
  void (*quiesce)(void *obj, void *ctx);
  void (*thread_exit)(void *obj, void *ctx);
  /* true on a hit, with the value copied into out. */
  bool (*get)(void *obj, void *ctx, uint64_t key, unsigned char out[BENCH_VLEN]);
  /* Insert or replace; false on failure (out of memory). */
  bool (*put)(void *obj, void *ctx, uint64_t key, const unsigned char val[BENCH_VLEN]);
};

extern const bench_subject bench_peer_mutex_lru;
extern const bench_subject bench_peer_ck_ht;

#endif
