/*
 * dist_master.c - the master's side of the MPI task farm (see the essay
 * in dist_mpi.c for roles, load balancing, retries and the wire format).
 *
 * State. `todo` is a ring of task indices waiting to be sent (each task is
 * in it at most once, so n slots suffice). Per task: runs so far and the
 * rank of its last failure. Per worker: the indices of its batch in
 * flight (at most one batch) and whether it is idle. A result is final
 * when its status is 0 or the task has run max_attempts times; `done`
 * counts final results, and the map ends when done == n.
 */
#include <mpi.h>
#include <stdint.h>
#include <string.h>

#include "dist_int.h"

typedef struct farm {
  gsp_dist *d;
  const gsp__dist_fn *f;
  const gsp_dist_input *in;
  gsp_dist_result *res;
  size_t n, done;
  size_t *todo; /* ring of n slots */
  size_t head, len;
  int *bad_rank;   /* per task: last rank it failed on, -1 = none */
  size_t *flight;  /* per worker rank: batch indices, d->batch each */
  size_t *nflight; /* per worker rank */
  int fatal;       /* first master-side error; stops dispatching */
} farm;

static void todo_push(farm *m, size_t i) {
  m->todo[(m->head + m->len) % m->n] = i;
  m->len++;
}

static size_t todo_pop(farm *m) {
  size_t i = m->todo[m->head];
  m->head = (m->head + 1) % m->n;
  m->len--;
  return i;
}

/* Take up to batch tasks for rank into out; tasks that last failed there are rotated past. */
static size_t pick(farm *m, int rank, size_t *out) {
  bool avoid = m->d->size > 2;
  size_t k = 0, seen = m->len;
  while (k < m->d->batch && seen-- > 0) {
    size_t i = todo_pop(m);
    if (avoid && m->bad_rank[i] == rank)
      todo_push(m, i);
    else
      out[k++] = i;
  }
  return k;
}

static int send_batch(farm *m, int rank, const size_t *idx, size_t k) {
  size_t size = sizeof(gsp__wire_hdr) + k * sizeof(gsp__wire_item);
  for (size_t j = 0; j < k; j++) size += m->in[idx[j]].len;
  if (size > INT32_MAX) return GSP_EOVERFLOW;
  char *msg = gsp_malloc(size);
  if (msg == NULL) return GSP_ENOMEM;
  gsp__wire_hdr h = {.count = (uint32_t)k};
  memcpy(h.fn, m->f->name, sizeof(h.fn));
  memcpy(msg, &h, sizeof(h));
  char *pay = msg + sizeof(h) + k * sizeof(gsp__wire_item);
  for (size_t j = 0; j < k; j++) {
    const gsp_dist_input *x = &m->in[idx[j]];
    gsp__wire_item it = {idx[j], x->len};
    memcpy(msg + sizeof(h) + j * sizeof(it), &it, sizeof(it));
    if (x->len != 0) memcpy(pay, x->data, x->len);
    pay += x->len;
  }
  int rv = MPI_Send(msg, (int)size, MPI_BYTE, rank, GSP__TAG_WORK, MPI_COMM_WORLD);
  gsp_free(msg);
  return rv == MPI_SUCCESS ? GSP_OK : GSP_ESYS;
}

/* Give rank its next batch if there is one it may take. */
static void dispatch(farm *m, int rank) {
  if (m->fatal != GSP_OK || m->nflight[rank] != 0 || m->len == 0) return;
  size_t *slot = &m->flight[(size_t)rank * m->d->batch];
  size_t k = pick(m, rank, slot);
  if (k == 0) return;
  int rv = send_batch(m, rank, slot, k);
  if (rv != GSP_OK) {
    for (size_t j = 0; j < k; j++) todo_push(m, slot[j]);
    m->fatal = rv;
    return;
  }
  m->nflight[rank] = k;
}

/* One run of task i finished on rank with status; payload is copied when final. */
static void settle(farm *m, size_t i, int rank, int status, const char *data, size_t len) {
  gsp_dist_result *r = &m->res[i];
  r->attempts++;
  if (status != 0 && r->attempts < m->d->max_attempts) {
    m->bad_rank[i] = rank;
    todo_push(m, i);
    return;
  }
  r->status = status;
  r->rank = rank;
  if (status == 0 && len != 0) {
    r->data = gsp_malloc(len);
    if (r->data == NULL)
      r->status = GSP_ENOMEM;
    else
      memcpy(r->data, data, len);
    r->len = r->data != NULL ? len : 0;
  }
  m->done++;
}

static void take_results(farm *m, int rank, const char *msg, size_t size) {
  gsp__wire_hdr h = {.count = GSP__LOST_BATCH};
  if (size >= sizeof(h)) memcpy(&h, msg, sizeof(h));
  size_t *slot = &m->flight[(size_t)rank * m->d->batch];
  if (h.count == GSP__LOST_BATCH) {
    for (size_t j = 0; j < m->nflight[rank]; j++) settle(m, slot[j], rank, GSP_ENOMEM, NULL, 0);
  } else {
    const char *pay = msg + sizeof(h) + h.count * sizeof(gsp__wire_res);
    for (uint32_t k = 0; k < h.count; k++) {
      gsp__wire_res r;
      memcpy(&r, msg + sizeof(h) + k * sizeof(r), sizeof(r));
      if (r.index < m->n) settle(m, (size_t)r.index, rank, r.status, pay, (size_t)r.len);
      pay += r.len;
    }
  }
  m->nflight[rank] = 0;
}

static size_t in_flight(const farm *m) {
  size_t t = 0;
  for (int r = 1; r < m->d->size; r++) t += m->nflight[r];
  return t;
}

/* Receive one RESULT message from any worker and process it. */
static int receive_one(farm *m, int *from) {
  MPI_Status st;
  if (MPI_Probe(MPI_ANY_SOURCE, GSP__TAG_RESULT, MPI_COMM_WORLD, &st) != MPI_SUCCESS)
    return GSP_ESYS;
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  char *msg = gsp_malloc(count > 0 ? (size_t)count : 1);
  if (msg == NULL) { /* cannot take the message: no way on */
    MPI_Abort(MPI_COMM_WORLD, 12);
    return GSP_ENOMEM;
  }
  MPI_Recv(msg, count, MPI_BYTE, st.MPI_SOURCE, GSP__TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  take_results(m, st.MPI_SOURCE, msg, (size_t)count);
  gsp_free(msg);
  *from = st.MPI_SOURCE;
  return GSP_OK;
}

static int run_farm(farm *m) {
  for (size_t i = 0; i < m->n; i++) todo_push(m, i);
  for (int r = 1; r < m->d->size; r++) dispatch(m, r);
  while (in_flight(m) != 0) {
    int from = 0;
    int rv = receive_one(m, &from);
    if (rv != GSP_OK) return rv; /* MPI itself failed: nothing more can be trusted */
    dispatch(m, from);
    for (int r = 1; r < m->d->size; r++) dispatch(m, r); /* requeued work for idle ranks */
  }
  return m->fatal;
}

static void send_stop(const gsp_dist *d) {
  for (int r = 1; r < d->size; r++) MPI_Send(NULL, 0, MPI_BYTE, r, GSP__TAG_STOP, MPI_COMM_WORLD);
}

int gsp__dist_mpi_master(gsp_dist *d, const gsp__dist_fn *f, size_t n, const gsp_dist_input *in,
                         gsp_dist_result *res) {
  farm m = {.d = d, .f = f, .in = in, .res = res, .n = n};
  int rv = GSP_ENOMEM;
  if (f == NULL || n == 0) {
    rv = GSP_OK;
    goto out_stop;
  }
  m.todo = gsp_calloc(n, sizeof(*m.todo));
  m.bad_rank = gsp_calloc(n, sizeof(*m.bad_rank));
  m.flight = gsp_calloc((size_t)d->size * d->batch, sizeof(*m.flight));
  m.nflight = gsp_calloc((size_t)d->size, sizeof(*m.nflight));
  if (m.todo == NULL || m.bad_rank == NULL || m.flight == NULL || m.nflight == NULL) goto out_free;
  for (size_t i = 0; i < n; i++) m.bad_rank[i] = -1;
  rv = run_farm(&m);
  if (rv == GSP_OK && m.done != n) rv = GSP_ESTATE; /* cannot happen: all settled */
out_free:
  gsp_free(m.todo);
  gsp_free(m.bad_rank);
  gsp_free(m.flight);
  gsp_free(m.nflight);
out_stop:
  send_stop(d);
  return rv;
}
