/*
 * batch.c - gsp_opt_call_batch: n calls of one function as one batch (the
 * seed's batch_execution), spread as the strategy says:
 *
 *   BALANCED, CPU, CUSTOM  gsp_exec_parallel_for on the CPU pool, automatic
 *                          chunking (about 8 chunks per worker); the caller
 *                          works too.
 *   IO                     parallel_for on the I/O pool with one item per
 *                          chunk, so up to io_workers + 1 blocking calls
 *                          are in flight at once.
 *   MEMORY                 windows of batch_size items, one after the other,
 *                          each window parallel on the CPU pool: at most
 *                          batch_size results are being made at a time.
 *   LATENCY                parallel_for on the I/O pool, one item per chunk:
 *                          each item waits for its own deadline on an I/O
 *                          thread while the work runs on the CPU pool.
 *   THROUGHPUT             the items, batch_size at a time, straight
 *                          through the batch callback (no gathering wait).
 *
 * Every item is a full call (gsp__opt_item: cache, monitoring, its own
 * status in out[i]); chunk functions always return 0 so one failing item
 * never stops the others. Without pools (enable_async OFF, level MINIMAL)
 * the items run one by one on the caller's thread.
 */
#include <string.h>

#include "opt_int.h"

typedef struct batch_ctx {
  gsp_opt_func *f;
  const gsp_opt_arg *args;
  gsp_opt_result *out;
  size_t base; /* MEMORY: the window's first item */
} batch_ctx;

static void run_item(batch_ctx *x, size_t i) {
  const gsp_opt_arg *a = &x->args[i];
  gsp_opt_strategy s = gsp__opt_route(x->f, a->data, a->len);
  if (s == GSP_OPT_THROUGHPUT) s = GSP_OPT_BALANCED; /* no gathering inside a batch */
  (void)gsp__opt_item(x->f, s, a->data, a->len, &x->out[i]);
}

static int chunk(void *user, size_t begin, size_t end) {
  batch_ctx *x = user;
  for (size_t i = begin; i < end; i++) run_item(x, x->base + i);
  return 0;
}

static void run_throughput(gsp_opt_func *f, const gsp_opt_arg *args, size_t n,
                           gsp_opt_result *out) {
  size_t bs = f->o.batch_size;
  void **vals = gsp_calloc(bs, sizeof *vals);
  size_t *lens = gsp_calloc(bs, sizeof *lens);
  int *status = gsp_calloc(bs, sizeof *status);
  if (vals == NULL || lens == NULL || status == NULL) {
    for (size_t i = 0; i < n; i++) out[i].status = GSP_ENOMEM;
    goto out_free;
  }
  for (size_t off = 0; off < n; off += bs) {
    size_t m = n - off < bs ? n - off : bs;
    uint64_t t0 = gsp_now_ns();
    (void)gsp__opt_run_batch(f, args + off, m, vals, lens, status);
    atomic_fetch_add_explicit(&f->batches, 1, memory_order_relaxed);
    uint64_t each = (gsp_now_ns() - t0) / m;
    for (size_t i = 0; i < m; i++) {
      gsp_opt_result *r = &out[off + i];
      r->status = status[i];
      r->own_ = vals[i];
      r->data = vals[i];
      r->len = lens[i];
      gsp_opt_record(f, each, status[i]);
    }
  }
out_free:
  gsp_free(vals);
  gsp_free(lens);
  gsp_free(status);
}

static void run_parallel(gsp_opt_func *f, batch_ctx *x, size_t n) {
  gsp_opt_engine *e = f->e;
  switch (f->o.strategy) {
    case GSP_OPT_IO:
    case GSP_OPT_LATENCY:
      atomic_fetch_add_explicit(&e->io_tasks, n, memory_order_relaxed);
      (void)gsp_exec_parallel_for(e->io, n, 1, chunk, x);
      return;
    case GSP_OPT_MEMORY:
      for (x->base = 0; x->base < n; x->base += f->o.batch_size) {
        size_t m = n - x->base < f->o.batch_size ? n - x->base : f->o.batch_size;
        (void)gsp_exec_parallel_for(e->cpu, m, 0, chunk, x);
      }
      x->base = 0;
      break;
    default:
      (void)gsp_exec_parallel_for(e->cpu, n, 0, chunk, x);
      break;
  }
  atomic_fetch_add_explicit(&e->cpu_batches, 1, memory_order_relaxed);
}

int gsp_opt_call_batch(gsp_opt_func *f, const gsp_opt_arg *args, size_t n, gsp_opt_result *out) {
  if (out != NULL && n != 0) memset(out, 0, n * sizeof *out);
  if (f == NULL || (n != 0 && (args == NULL || out == NULL)) || f->fn == NULL) return GSP_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (args[i].data == NULL && args[i].len != 0) return GSP_EINVAL;
  if (n == 0) return GSP_OK;
  batch_ctx x = {.f = f, .args = args, .out = out};
  if (f->o.strategy == GSP_OPT_THROUGHPUT) {
    run_throughput(f, args, n, out);
  } else {
    atomic_fetch_add_explicit(&f->batches, 1, memory_order_relaxed);
    if (f->e->cpu == NULL)
      (void)chunk(&x, 0, n);
    else
      run_parallel(f, &x, n);
  }
  for (size_t i = 0; i < n; i++)
    if (out[i].status != GSP_OK) return out[i].status;
  return GSP_OK;
}
