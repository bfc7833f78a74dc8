/*
 * gather.c - THROUGHPUT_OPTIMIZED: concurrent calls gathered into batches.
 *
 * Group commit. A function has at most one batch open for gathering
 * (f->gathering, under f->tp_mu). A call that finds none opens one and
 * becomes its leader; later calls join it by appending their argument (a
 * pointer into the caller's memory, valid because every member waits for
 * the batch). The batch closes when no batch of the function is running
 * (at once, for a lone call), when a running batch ends, when it holds
 * batch_size calls (the call that fills it wakes the leader), or at the
 * latest batch_window_us after the leader opened it, even if a batch is
 * still running. The leader then runs the whole batch, with no lock held,
 * through the function's batch callback (one call for all: where the
 * per-call saving comes from) or fn per item, and wakes the members; each
 * takes its own result (ownership moves to its gsp_opt_result) and stores
 * it in the cache. Calls arriving while a batch runs open the next one.
 *
 * So batches form exactly while the function is busy: under load, the
 * calls that arrive during one batch make the next, and an idle function
 * adds no wait. f->tp_running counts batches running.
 *
 * The batch block: arrays of batch_size arguments, results, lengths and
 * statuses in one allocation; refs = members still inside; freed by the
 * last one out.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "opt_int.h"

struct gsp__opt_tpbatch {
  size_t n, cap;
  bool closed, done;
  unsigned refs;
  pthread_cond_t cv;
  gsp_opt_arg *args;
  void **vals;
  size_t *lens;
  int *status;
};

int gsp__opt_run_batch(gsp_opt_func *f, const gsp_opt_arg *args, size_t n, void **vals,
                       size_t *lens, int *status) {
  for (size_t i = 0; i < n; i++) {
    vals[i] = NULL;
    lens[i] = 0;
    status[i] = GSP_OK;
  }
  if (f->o.batch == NULL) {
    for (size_t i = 0; i < n; i++)
      status[i] = gsp__opt_run_fn(f, args[i].data, args[i].len, &vals[i], &lens[i]);
    return GSP_OK;
  }
  int rv = f->o.batch(f->o.batch_user, args, n, vals, lens, status);
  for (size_t i = 0; i < n; i++) {
    bool bad = status[i] == GSP_OK && vals[i] == NULL && lens[i] != 0;
    if (rv != GSP_OK || status[i] != GSP_OK || bad) {
      gsp_free(vals[i]);
      vals[i] = NULL;
      lens[i] = 0;
      if (rv != GSP_OK) status[i] = rv < 0 ? rv : GSP_EINVAL;
      if (bad || status[i] > 0) status[i] = GSP_EINVAL;
    }
  }
  return rv;
}

static gsp__opt_tpbatch *batch_new(size_t cap) {
  size_t each = sizeof(gsp_opt_arg) + sizeof(void *) + sizeof(size_t) + sizeof(int);
  gsp__opt_tpbatch *b = gsp_calloc(1, sizeof *b + cap * each);
  if (b == NULL) return NULL;
  if (pthread_cond_init(&b->cv, NULL) != 0) {
    gsp_free(b);
    return NULL;
  }
  b->cap = cap;
  b->args = (gsp_opt_arg *)(void *)(b + 1);
  b->vals = (void **)(void *)(b->args + cap);
  b->lens = (size_t *)(void *)(b->vals + cap);
  b->status = (int *)(void *)(b->lens + cap);
  return b;
}

static void batch_unref_locked(gsp__opt_tpbatch *b) {
  if (--b->refs != 0) return;
  for (size_t i = 0; i < b->n; i++) gsp_free(b->vals[i]);
  pthread_cond_destroy(&b->cv);
  gsp_free(b);
}

static void window_ts(unsigned us, struct timespec *ts) {
  (void)clock_gettime(CLOCK_REALTIME, ts);
  uint64_t ns = (uint64_t)ts->tv_nsec + (uint64_t)us * 1000u;
  ts->tv_sec += (time_t)(ns / 1000000000u);
  ts->tv_nsec = (long)(ns % 1000000000u);
}

/*
 * The leader: while another batch of the function runs (and the batch is
 * not full), keep gathering, for at most the window; then run the batch.
 * When no batch runs, a lone call runs at once: no waiting for company
 * that is not coming.
 */
static void lead_locked(gsp_opt_func *f, gsp__opt_tpbatch *b) {
  struct timespec ts;
  window_ts(f->e->cfg.batch_window_us, &ts);
  while (!b->closed && f->tp_running > 0)
    if (pthread_cond_timedwait(&b->cv, &f->tp_mu, &ts) == ETIMEDOUT) break;
  b->closed = true;
  if (f->gathering == b) f->gathering = NULL;
  f->tp_running++;
  pthread_mutex_unlock(&f->tp_mu);
  (void)gsp__opt_run_batch(f, b->args, b->n, b->vals, b->lens, b->status);
  atomic_fetch_add_explicit(&f->batches, 1, memory_order_relaxed);
  pthread_mutex_lock(&f->tp_mu);
  f->tp_running--;
  b->done = true;
  pthread_cond_broadcast(&b->cv);
  if (f->gathering != NULL) pthread_cond_broadcast(&f->gathering->cv); /* its turn */
}

/* Join (or open) the gathering batch; returns it with c's index in *idx. */
static gsp__opt_tpbatch *join_locked(gsp__opt_call *c, size_t *idx, bool *leader) {
  gsp_opt_func *f = c->f;
  gsp__opt_tpbatch *b = f->gathering;
  *leader = false;
  if (b == NULL) {
    b = batch_new(f->o.batch_size);
    if (b == NULL) return NULL;
    f->gathering = b;
    *leader = true;
  }
  *idx = b->n++;
  b->args[*idx] = (gsp_opt_arg){c->arg, c->arglen};
  b->refs++;
  if (b->n == b->cap) {
    b->closed = true;
    f->gathering = NULL;
    pthread_cond_broadcast(&b->cv);
  }
  return b;
}

int gsp__opt_throughput(gsp__opt_call *c, gsp_opt_result *out) {
  gsp_opt_func *f = c->f;
  size_t idx = 0;
  bool leader = false;
  pthread_mutex_lock(&f->tp_mu);
  gsp__opt_tpbatch *b = join_locked(c, &idx, &leader);
  if (b == NULL) {
    pthread_mutex_unlock(&f->tp_mu);
    return GSP_ENOMEM;
  }
  if (leader)
    lead_locked(f, b);
  else
    while (!b->done) pthread_cond_wait(&b->cv, &f->tp_mu);
  int rv = b->status[idx];
  void *val = b->vals[idx];
  size_t vlen = b->lens[idx];
  b->vals[idx] = NULL;
  batch_unref_locked(b);
  pthread_mutex_unlock(&f->tp_mu);
  if (rv != GSP_OK) return rv;
  if (gsp__opt_should_store(f, GSP_OPT_THROUGHPUT, c->arg, c->arglen, vlen))
    gsp__opt_store(f, c, val, vlen);
  out->own_ = val;
  out->data = val;
  out->len = vlen;
  return GSP_OK;
}
