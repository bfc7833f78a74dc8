/*
 * batch.c - gsp_opt_call_batch: n calls of one function as one batch (the
 * seed's batch_execution), spread as the strategy says:
 *
 *   BALANCED, CPU, CUSTOM  gsp_exec_map on the CPU pool (guided
 *                          self-scheduling: big claims first, single items
 *                          at the end), started from a task of the pool:
 *                          the participants are exactly the pool's workers
 *                          and the caller only waits. (With the caller
 *                          working too, a 2-CPU machine ran 3 threads on
 *                          2 cores; whichever was preempted holding a
 *                          chunk made the batch wait a scheduler tick,
 *                          4 ms here, which is most of a short batch.)
 *   IO                     every item submitted to the I/O executor
 *                          (gsp_io_submit), then all waited for: up to
 *                          io_workers blocking calls are in flight at once.
 *                          An item the executor refuses (GSP_EBUSY past
 *                          max_pending, GSP_ENOMEM) runs on the caller.
 *   MEMORY                 windows of batch_size items, one after the other,
 *                          each window mapped as above: at most
 *                          batch_size results are being made at a time.
 *   LATENCY                as IO: each item waits for its own deadline on
 *                          an I/O thread while the work runs on the CPU
 *                          pool.
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

/* One item of an IO or LATENCY batch, as an I/O-executor task. */
typedef struct io_item {
  batch_ctx *x;
  size_t i;
} io_item;

static int io_item_task(void *p) {
  io_item *it = p;
  run_item(it->x, it->i);
  return 0;
}

static void run_on_io(gsp_opt_engine *e, batch_ctx *x, size_t n) {
  io_item *items = gsp_malloc(n * sizeof *items);
  gsp_exec_future **futs = gsp_calloc(n, sizeof(gsp_exec_future *));
  if (items == NULL || futs == NULL) {
    (void)chunk(x, 0, n); /* no memory for the hand-over: the caller runs them */
  } else {
    size_t queued = 0;
    for (size_t i = 0; i < n; i++) {
      items[i] = (io_item){x, i};
      if (gsp_io_submit(e->io, io_item_task, &items[i], &futs[i]) == GSP_OK) {
        queued++;
      } else {
        futs[i] = NULL;
        run_item(x, i);
      }
    }
    atomic_fetch_add_explicit(&e->io_tasks, queued, memory_order_relaxed);
    for (size_t i = 0; i < n; i++) {
      if (futs[i] == NULL) continue;
      (void)gsp_exec_future_wait(futs[i], NULL); /* never canceled: it runs */
      gsp_exec_future_release(futs[i]);
    }
  }
  gsp_free(futs);
  gsp_free(items);
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

/* A CPU batch: items [x->base, x->base + n) mapped over the pool. */
typedef struct cpu_job {
  gsp_opt_engine *e;
  batch_ctx *x;
  size_t n;
} cpu_job;

static int map_item(void *user, size_t i, const void *in, void *out) {
  (void)in, (void)out;
  batch_ctx *x = user;
  run_item(x, x->base + i);
  return 0;
}

static int cpu_job_task(void *p) {
  cpu_job *j = p;
  (void)gsp_exec_map(j->e->cpu, j->n, map_item, j->x, NULL, NULL);
  return 0;
}

/* Map on the pool from one of its tasks; the caller waits (or maps itself
   when the task cannot be submitted). */
static void run_on_cpu(gsp_opt_engine *e, batch_ctx *x, size_t n) {
  cpu_job j = {e, x, n};
  gsp_exec_future *fu = NULL;
  if (gsp_exec_submit(e->cpu, cpu_job_task, &j, &fu) != GSP_OK) {
    (void)cpu_job_task(&j);
    return;
  }
  (void)gsp_exec_future_wait(fu, NULL); /* never canceled: it runs */
  gsp_exec_future_release(fu);
}

static void run_parallel(gsp_opt_func *f, batch_ctx *x, size_t n) {
  gsp_opt_engine *e = f->e;
  switch (f->o.strategy) {
    case GSP_OPT_IO:
    case GSP_OPT_LATENCY:
      run_on_io(e, x, n);
      return;
    case GSP_OPT_MEMORY:
      for (x->base = 0; x->base < n; x->base += f->o.batch_size) {
        size_t m = n - x->base < f->o.batch_size ? n - x->base : f->o.batch_size;
        run_on_cpu(e, x, m);
      }
      x->base = 0;
      break;
    default:
      run_on_cpu(e, x, n);
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
