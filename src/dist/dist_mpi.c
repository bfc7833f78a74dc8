/*
 * dist_mpi.c - the master-worker task farm over MPI.
 *
 * Roles. Rank 0 is the master: it owns the inputs, hands out batches and
 * gathers results. Ranks 1..N-1 serve: they probe for a message from the
 * master, run a work batch on their pool (gsp_exec_map over the batch)
 * and send the results back, until a STOP message ends the map. Only the
 * thread that called gsp_dist_map makes MPI calls (MPI_THREAD_FUNNELED).
 *
 * Dynamic load balancing. The master first sends one batch to every
 * worker, then waits for any worker's results (MPI_Probe on
 * MPI_ANY_SOURCE) and immediately sends that worker the next batch: fast
 * ranks take more batches, slow ones fewer. Each worker has at most one
 * batch in flight, so a worker's results never wait behind a send of the
 * master to that same worker (no send-send deadlock).
 *
 * Retries. A task whose status is not 0 goes back to the end of the
 * master's queue with the failing rank noted, until it has run
 * max_attempts times. A batch for rank r skips tasks that last failed on
 * r when any other worker exists, so a retry lands on another rank (a
 * task queued behind such skips waits for the next free rank).
 *
 * Wire format (native byte order; the ranks share one architecture):
 *   WORK   gsp__wire_hdr{count, fn name} + count x gsp__wire_item{index, len} + payloads
 *   RESULT gsp__wire_hdr{count}          + count x gsp__wire_res{index, status, len} + payloads
 *   LOST   gsp__wire_hdr{count = LOST}   (a worker could not build its reply:
 *                                    every task it had is requeued)
 *   STOP   empty
 * A message must stay under 2 GiB (MPI counts are int): batches bound it.
 *
 * Errors on the master (no memory for a message, an MPI call failing)
 * stop new dispatches; the master still collects every batch in flight
 * and then sends STOP, so the workers always return from gsp_dist_map.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"

/* ---- life cycle ---- */

static bool launched_by_mpi(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMI_SIZE") != NULL ||
         getenv("PMIX_RANK") != NULL;
}

int gsp__dist_mpi_start(gsp_dist *d, gsp_dist_mode mode) {
  if (mode == GSP_DIST_LOCAL) return GSP_OK;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited && mode == GSP_DIST_AUTO && !launched_by_mpi()) return GSP_OK;
  if (!inited) {
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return GSP_ESYS;
    d->mpi_owned = true;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &d->size);
  d->mpi = true;
  return GSP_OK;
}

void gsp__dist_mpi_stop(gsp_dist *d) {
  if (d->mpi_owned) MPI_Finalize();
  d->mpi_owned = false;
}

/* ---- worker side ---- */

typedef struct batch {
  const gsp__dist_fn *f;
  const gsp__wire_item *items;
  const char **in; /* payload of item k */
  void **out;
  size_t *out_len;
  int *status;
} batch;

static int batch_item(void *user, size_t k, const void *in, void *out) {
  (void)in;
  (void)out;
  batch *b = user;
  if (b->f == NULL) return b->status[k] = GSP_ENOENT;
  b->status[k] =
      gsp__dist_call(b->f, b->in[k], (size_t)b->items[k].len, &b->out[k], &b->out_len[k]);
  return b->status[k];
}

static void send_lost(void) {
  gsp__wire_hdr h = {.count = GSP__LOST_BATCH};
  MPI_Send(&h, (int)sizeof(h), MPI_BYTE, 0, GSP__TAG_RESULT, MPI_COMM_WORLD);
}

/* Pack and send the results of a run batch; LOST when memory runs out. */
static void send_results(const batch *b, uint32_t count) {
  size_t size = sizeof(gsp__wire_hdr) + count * sizeof(gsp__wire_res);
  for (uint32_t k = 0; k < count; k++) size += b->out_len[k];
  char *msg = size <= INT32_MAX ? gsp_malloc(size) : NULL;
  if (msg == NULL) {
    send_lost();
    return;
  }
  gsp__wire_hdr h = {.count = count};
  memcpy(msg, &h, sizeof(h));
  char *pay = msg + sizeof(h) + count * sizeof(gsp__wire_res);
  for (uint32_t k = 0; k < count; k++) {
    gsp__wire_res r = {b->items[k].index, b->status[k], 0, b->out_len[k]};
    memcpy(msg + sizeof(h) + k * sizeof(r), &r, sizeof(r));
    if (b->out_len[k] != 0) memcpy(pay, b->out[k], b->out_len[k]);
    pay += b->out_len[k];
  }
  MPI_Send(msg, (int)size, MPI_BYTE, 0, GSP__TAG_RESULT, MPI_COMM_WORLD);
  gsp_free(msg);
}

/* Run one received WORK message and reply. */
static void serve_batch(gsp_dist *d, const char *msg) {
  gsp__wire_hdr h;
  memcpy(&h, msg, sizeof(h));
  h.fn[GSP__DIST_NAME_MAX - 1] = '\0';
  uint32_t n = h.count;
  batch b = {.f = gsp__dist_find(d, h.fn), .items = (const gsp__wire_item *)(msg + sizeof(h))};
  b.in = gsp_calloc(n, sizeof(*b.in));
  b.out = gsp_calloc(n, sizeof(*b.out));
  b.out_len = gsp_calloc(n, sizeof(*b.out_len));
  b.status = gsp_calloc(n, sizeof(*b.status));
  if (b.in == NULL || b.out == NULL || b.out_len == NULL || b.status == NULL) {
    send_lost();
    goto out_free;
  }
  const char *pay = msg + sizeof(h) + n * sizeof(gsp__wire_item);
  for (uint32_t k = 0; k < n; k++) {
    b.in[k] = pay;
    pay += b.items[k].len;
  }
  if (n == 1)
    batch_item(&b, 0, NULL, NULL); /* one task: no hand-off to the pool */
  else
    gsp_exec_map(d->ex, n, batch_item, &b, NULL, NULL);
  send_results(&b, n);
  for (uint32_t k = 0; k < n; k++) gsp_free(b.out[k]);
out_free:
  gsp_free(b.in);
  gsp_free(b.out);
  gsp_free(b.out_len);
  gsp_free(b.status);
}

int gsp__dist_mpi_serve(gsp_dist *d) {
  if (!d->mpi) return GSP_ESTATE;
  for (;;) {
    MPI_Status st;
    if (MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st) != MPI_SUCCESS) return GSP_ESYS;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    char *msg = gsp_malloc(count > 0 ? (size_t)count : 1);
    if (msg == NULL) { /* cannot even take the message */
      MPI_Abort(MPI_COMM_WORLD, 12);
      return GSP_ENOMEM;
    }
    MPI_Recv(msg, count, MPI_BYTE, 0, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (st.MPI_TAG == GSP__TAG_STOP) {
      gsp_free(msg);
      return GSP_OK;
    }
    serve_batch(d, msg);
    gsp_free(msg);
  }
}
