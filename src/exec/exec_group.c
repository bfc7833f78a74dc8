/*
 * exec_group.c - task groups and parallel-for on top of the pool.
 *
 * A group is a counter of unfinished tasks and a first-error cell
 * (gsp__group in exec_int.h). Spawning raises the counter before the task
 * is queued; a task lowers it as its very last touch of the group, after
 * recording a failure with a CAS from 0, so "first error wins" and a waiter
 * that sees zero may free the group at once. A task of a group that has
 * already failed is skipped (its function is not called).
 *
 * Parallel-for. Rather than splitting the range into one task per chunk,
 * the caller spawns at most one helper task per worker and every
 * participant (the helpers and the caller itself) claims chunk after chunk
 * from one shared atomic cursor until none is left. That is dynamic load
 * balancing at one compare-and-swap per chunk, one task allocation per worker
 * (not per chunk), and the caller is never idle. A helper that starts
 * after all chunks are claimed returns at once. If a helper cannot be
 * allocated the others (or the caller alone) take its share, so a
 * parallel-for cannot fail for lack of memory. With grain 0 the grain is
 * an eighth of a participant's share: enough slack to even out unequal
 * chunks, few enough that the cursor is not contended.
 *
 * Guided chunks: the cursor holds the first index not yet claimed, and a
 * claim takes grain indexes or, once less than 2 x participants x grain
 * is left, that share of what is left (one at the least). A participant
 * that takes the last full chunk of a fixed split could run long after
 * the others ran dry; with shrinking chunks the last ones are single
 * indexes. Participants counts the helpers spawned (their number is known
 * before any starts) and the caller; a caller alone takes grain at a time.
 * The chunk at each index depends on that index alone, whoever claims it.
 */
#include <stdlib.h>

#include "exec_int.h"

struct gsp_exec_group {
  gsp__group g;
};

static void group_init(gsp__group *g, gsp_exec *ex) {
  g->ex = ex;
  atomic_init(&g->pending, 0);
  atomic_init(&g->err, 0);
}

static int group_spawn(gsp__group *g, gsp_exec_fn fn, void *arg) {
  gsp__task *t = gsp__task_new(g->ex, fn, arg, g, 1);
  if (t == NULL) return GSP_ENOMEM;
  atomic_fetch_add(&g->pending, 1);
  gsp__exec_push(g->ex, t);
  return GSP_OK;
}

int gsp_exec_group_create(gsp_exec *ex, gsp_exec_group **out) {
  if (ex == NULL || out == NULL) return GSP_EINVAL;
  gsp_exec_group *g = gsp_malloc(sizeof(*g));
  if (g == NULL) return GSP_ENOMEM;
  group_init(&g->g, ex);
  *out = g;
  return GSP_OK;
}

int gsp_exec_group_spawn(gsp_exec_group *g, gsp_exec_fn fn, void *arg) {
  if (g == NULL || fn == NULL) return GSP_EINVAL;
  if (atomic_load(&g->g.ex->stopping) && !gsp__exec_on_worker(g->g.ex)) return GSP_ESTATE;
  return group_spawn(&g->g, fn, arg);
}

int gsp_exec_group_wait(gsp_exec_group *g) {
  if (g == NULL) return GSP_EINVAL;
  gsp__exec_wait_zero(g->g.ex, &g->g.pending);
  return atomic_load(&g->g.err);
}

void gsp_exec_group_destroy(gsp_exec_group *g) {
  if (g == NULL) return;
  gsp__exec_wait_zero(g->g.ex, &g->g.pending);
  gsp_free(g);
}

/* ---- parallel-for ---- */

typedef struct pfor {
  gsp_exec_range_fn fn;
  void *user;
  size_t n, grain, parts;
  _Atomic size_t next; /* first index not yet claimed */
  _Atomic int err;
} pfor;

/* Claim the next chunk: grain indexes, or fewer near the end (a share of
 * what is left, one at the least), so the participants finish together. */
static bool pfor_claim(pfor *p, size_t *begin, size_t *end) {
  size_t b = atomic_load_explicit(&p->next, memory_order_relaxed);
  for (;;) {
    if (b >= p->n) return false;
    size_t take = p->parts > 1 ? (p->n - b) / (2 * p->parts) : p->grain;
    if (take > p->grain) take = p->grain;
    if (take > p->n - b) take = p->n - b;
    if (take == 0) take = 1;
    if (atomic_compare_exchange_weak_explicit(&p->next, &b, b + take, memory_order_relaxed,
                                              memory_order_relaxed)) {
      *begin = b, *end = b + take;
      return true;
    }
  }
}

static int pfor_run(void *arg) {
  pfor *p = arg;
  size_t begin = 0, end = 0;
  for (;;) {
    if (atomic_load_explicit(&p->err, memory_order_relaxed) != 0) return 0;
    if (!pfor_claim(p, &begin, &end)) return 0;
    int r = p->fn(p->user, begin, end);
    int none = 0;
    if (r != 0) atomic_compare_exchange_strong(&p->err, &none, r);
  }
}

int gsp_exec_parallel_for(gsp_exec *ex, size_t n, size_t grain, gsp_exec_range_fn fn, void *user) {
  if (ex == NULL || fn == NULL) return GSP_EINVAL;
  if (n == 0) return GSP_OK;
  size_t parts = (size_t)gsp_exec_workers(ex) + (gsp__exec_on_worker(ex) ? 0 : 1);
  if (grain == 0) grain = (n + parts * 8 - 1) / (parts * 8);
  size_t nchunks = n / grain + (n % grain != 0);
  size_t helpers = nchunks - 1 < parts - 1 ? nchunks - 1 : parts - 1;
  pfor p = {.fn = fn, .user = user, .n = n, .grain = grain, .parts = helpers + 1};
  atomic_init(&p.next, 0);
  atomic_init(&p.err, 0);
  gsp__group g;
  group_init(&g, ex);
  for (size_t i = 0; i < helpers; i++)
    if (group_spawn(&g, pfor_run, &p) != GSP_OK) break;
  pfor_run(&p);
  gsp__exec_wait_zero(ex, &g.pending);
  return atomic_load(&p.err);
}
