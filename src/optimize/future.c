/*
 * future.c - asynchronous calls (the seed's async_enabled): gsp_opt_submit
 * starts a call on one of the engine's pools and returns a future to wait
 * on, with or without a deadline.
 *
 * The call itself is an ordinary one (gsp__opt_item: cache, strategy,
 * monitoring) run by a pool task. Calls that may block waiting (IO,
 * LATENCY, THROUGHPUT, MEMORY: its single-flight) go to the I/O executor,
 * so a worker of the CPU pool never sleeps on a flight or a batch; the
 * others (BALANCED, CPU) to the CPU pool. Without pools (enable_async OFF) the call runs at
 * submit, on the caller's thread, and the future is complete at once.
 *
 * Layout: one block holding the argument copy, the result and the pool's
 * future. refs (atomic) = the caller's reference + the task's until it has
 * run. `state` goes PENDING -> STARTED (the task, by CAS) or PENDING ->
 * CANCELED (a release before the start, by CAS): a canceled task still
 * runs on its pool but skips the call, so the call never happens. (The
 * pool-level cancel is not used: the I/O executor keeps per-submission
 * state that only a task that runs gives back.) The last of task and
 * caller frees the block and any result nobody took.
 */
#include <string.h>

#include "opt_int.h"

enum { PENDING = 0, STARTED = 1, CANCELED = 2 };

struct gsp_opt_future {
  gsp_opt_func *f;
  gsp_opt_strategy s;
  _Atomic unsigned refs;
  _Atomic int state; /* PENDING, STARTED, CANCELED */
  bool taken;        /* the result was moved to a waiter (caller's thread only) */
  gsp_exec_future *ef;
  gsp_opt_result res;
  size_t arglen;
  unsigned char arg[]; /* copy of the argument */
};

static void fut_unref(gsp_opt_future *fu) {
  if (atomic_fetch_sub_explicit(&fu->refs, 1, memory_order_acq_rel) != 1) return;
  gsp_opt_result_release(&fu->res);
  gsp_exec_future_release(fu->ef);
  gsp_free(fu);
}

static int fut_task(void *p) {
  gsp_opt_future *fu = p;
  int expect = PENDING;
  if (atomic_compare_exchange_strong(&fu->state, &expect, STARTED))
    (void)gsp__opt_item(fu->f, fu->s, fu->arg, fu->arglen, &fu->res);
  fut_unref(fu);
  return 0;
}

static bool blocking(gsp_opt_strategy s) {
  return s == GSP_OPT_IO || s == GSP_OPT_LATENCY || s == GSP_OPT_THROUGHPUT || s == GSP_OPT_MEMORY;
}

int gsp_opt_submit(gsp_opt_func *f, const void *arg, size_t arglen, gsp_opt_future **out) {
  if (out != NULL) *out = NULL;
  if (f == NULL || out == NULL || f->fn == NULL || (arg == NULL && arglen != 0)) return GSP_EINVAL;
  gsp_opt_future *fu = gsp_calloc(1, sizeof *fu + arglen);
  if (fu == NULL) return GSP_ENOMEM;
  fu->f = f;
  fu->s = gsp__opt_route(f, arg, arglen);
  fu->arglen = arglen;
  if (arglen) memcpy(fu->arg, arg, arglen);
  gsp_opt_engine *e = f->e;
  if (e->cpu == NULL) { /* no pools: run now */
    atomic_init(&fu->refs, 1);
    (void)gsp__opt_item(f, fu->s, fu->arg, arglen, &fu->res);
    *out = fu;
    return GSP_OK;
  }
  atomic_init(&fu->refs, 2);
  atomic_init(&fu->state, PENDING);
  int rv = blocking(fu->s) ? gsp_io_submit(e->io, fut_task, fu, &fu->ef)
                           : gsp_exec_submit(e->cpu, fut_task, fu, &fu->ef);
  if (rv != GSP_OK) {
    gsp_free(fu);
    return rv;
  }
  *out = fu;
  return GSP_OK;
}

int gsp_opt_future_wait(gsp_opt_future *fu, uint64_t timeout_ms, gsp_opt_result *out) {
  if (out != NULL) memset(out, 0, sizeof *out);
  if (fu == NULL || out == NULL) return GSP_EINVAL;
  if (fu->taken) return GSP_ESTATE;
  if (fu->ef != NULL) {
    int rv = timeout_ms != 0 ? gsp_exec_future_wait_for(fu->ef, timeout_ms, NULL)
                             : gsp_exec_future_wait(fu->ef, NULL);
    if (rv != GSP_OK) return rv; /* GSP_ETIMEDOUT: still running, wait again or release */
  }
  *out = fu->res; /* the task's writes are visible: the wait synchronizes with its end */
  memset(&fu->res, 0, sizeof fu->res);
  fu->taken = true;
  return out->status;
}

bool gsp_opt_future_done(const gsp_opt_future *fu) {
  return fu != NULL && (fu->ef == NULL || gsp_exec_future_done(fu->ef));
}

void gsp_opt_future_release(gsp_opt_future *fu) {
  if (fu == NULL) return;
  int expect = PENDING;
  if (fu->ef != NULL) /* not started: the task will skip the call */
    (void)atomic_compare_exchange_strong(&fu->state, &expect, CANCELED);
  fut_unref(fu);
}
