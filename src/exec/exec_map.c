/*
 * exec_map.c - batch map: one function over n inputs into n outputs, with
 * a status per item and automatic chunking.
 *
 * Shape. As parallel-for (exec_group.c), the caller spawns at most one
 * helper task per worker into a group on its stack and then works itself;
 * every participant claims chunks from one shared cursor until none is
 * left, so only one task is allocated per worker, not per chunk.
 *
 * Chunking is guided self-scheduling (Polychronopoulos and Kuck, 1987): a
 * claim takes remaining / (2 * participants) items, bounded by min_chunk
 * and max_chunk, with one compare-and-swap on the cursor. Chunks start
 * large (a map of a million cheap items costs a few dozen atomic
 * operations, not a million) and shrink towards the end, so a slow item
 * near the end does not leave the other participants idle behind a big
 * chunk. Unlike parallel-for, an item's failure does not stop the others:
 * a batch wants every item's own result.
 *
 * Errors. Each item's status goes to status[i] when given. The lowest
 * failing index and its status are kept under a mutex that is taken only
 * when an item fails; the failure count is an atomic.
 */
#include <pthread.h>
#include <stdint.h>

#include "exec_int.h"

typedef struct map_job {
  gsp_exec_map_fn fn;
  void *user;
  gsp_exec_batch b;
  size_t n, parts;
  _Atomic size_t next; /* first item not yet claimed */
  _Atomic size_t nfailed;
  pthread_mutex_t mu; /* guards first_idx and first_status */
  size_t first_idx;   /* SIZE_MAX while nothing failed */
  int first_status;
} map_job;

/* Claim the next chunk into [*begin, *end); false when all are claimed. */
static bool claim(map_job *j, size_t *begin, size_t *end) {
  size_t cur = atomic_load_explicit(&j->next, memory_order_relaxed);
  for (;;) {
    if (cur >= j->n) return false;
    size_t c = (j->n - cur) / (2 * j->parts);
    if (c < j->b.min_chunk) c = j->b.min_chunk;
    if (j->b.max_chunk != 0 && c > j->b.max_chunk) c = j->b.max_chunk;
    if (c > j->n - cur) c = j->n - cur;
    if (atomic_compare_exchange_weak_explicit(&j->next, &cur, cur + c, memory_order_relaxed,
                                              memory_order_relaxed)) {
      *begin = cur;
      *end = cur + c;
      return true;
    }
  }
}

static void record_failure(map_job *j, size_t i, int r) {
  atomic_fetch_add_explicit(&j->nfailed, 1, memory_order_relaxed);
  pthread_mutex_lock(&j->mu);
  if (i < j->first_idx) {
    j->first_idx = i;
    j->first_status = r;
  }
  pthread_mutex_unlock(&j->mu);
}

static void run_item(map_job *j, size_t i) {
  const void *in = j->b.in != NULL ? (const char *)j->b.in + i * j->b.in_size : NULL;
  void *out = j->b.out != NULL ? (char *)j->b.out + i * j->b.out_size : NULL;
  int r = j->fn(j->user, i, in, out);
  if (j->b.status != NULL) j->b.status[i] = r;
  if (r != 0) record_failure(j, i, r);
}

static int map_run(void *arg) {
  map_job *j = arg;
  size_t begin = 0, end = 0;
  while (claim(j, &begin, &end))
    for (size_t i = begin; i < end; i++) run_item(j, i);
  return 0;
}

int gsp_exec_map(gsp_exec *ex, size_t n, gsp_exec_map_fn fn, void *user, const gsp_exec_batch *b,
                 size_t *nfailed) {
  if (ex == NULL || fn == NULL) return GSP_EINVAL;
  if (nfailed != NULL) *nfailed = 0;
  if (n == 0) return GSP_OK;
  map_job j = {.fn = fn, .user = user, .n = n, .first_idx = SIZE_MAX};
  if (b != NULL) j.b = *b;
  if (j.b.min_chunk == 0) j.b.min_chunk = 1;
  j.parts = (size_t)gsp_exec_workers(ex) + (gsp__exec_on_worker(ex) ? 0 : 1);
  if (j.parts == 0) j.parts = 1;
  atomic_init(&j.next, 0);
  atomic_init(&j.nfailed, 0);
  if (pthread_mutex_init(&j.mu, NULL) != 0) return GSP_ESYS;
  gsp__group g = {.ex = ex};
  atomic_init(&g.pending, 0);
  atomic_init(&g.err, 0);
  size_t helpers = j.parts - 1 < n - 1 ? j.parts - 1 : n - 1;
  for (size_t i = 0; i < helpers; i++) {
    gsp__task *t = gsp__task_new(ex, map_run, &j, &g, 1);
    if (t == NULL) break;
    atomic_fetch_add(&g.pending, 1);
    gsp__exec_push(ex, t);
  }
  map_run(&j);
  gsp__exec_wait_zero(ex, &g.pending);
  pthread_mutex_destroy(&j.mu);
  if (nfailed != NULL) *nfailed = atomic_load(&j.nfailed);
  return j.first_idx == SIZE_MAX ? GSP_OK : j.first_status;
}
