/*
 * future.c - asynchronous calls (the seed's async_enabled): gsp_opt_submit
 * starts a call on one of the engine's pools and returns a future to wait
 * on, with or without a deadline.
 *
 * The call itself is an ordinary one (gsp__opt_item: cache, strategy,
 * monitoring) run by a pool task. Calls that may block waiting (IO,
 * LATENCY, THROUGHPUT) go to the I/O pool, so a worker of the CPU pool
 * never sleeps on a flight or a batch; the others (BALANCED, CPU, MEMORY)
 * to the CPU pool. Without pools (enable_async OFF) the call runs at
 * submit, on the caller's thread, and the future is complete at once.
 *
 * Layout: one block holding the argument copy, the result and the pool's
 * future. refs (atomic) = the caller's reference + the task's while it may
 * still run. A release before the task started cancels it (the task's
 * reference is then dropped by the releaser); otherwise the last of task
 * and caller frees the block and any result nobody took.
 */
#include <string.h>

#include "opt_int.h"

struct gsp_opt_future {
  gsp_opt_func *f;
  gsp_opt_strategy s;
  _Atomic unsigned refs;
  bool taken; /* the result was moved to a waiter (caller's thread only) */
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
  (void)gsp__opt_item(fu->f, fu->s, fu->arg, fu->arglen, &fu->res);
  fut_unref(fu);
  return 0;
}

static gsp_exec *pool_for(gsp_opt_engine *e, gsp_opt_strategy s) {
  bool blocking = s == GSP_OPT_IO || s == GSP_OPT_LATENCY || s == GSP_OPT_THROUGHPUT;
  return blocking ? e->io : e->cpu;
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
  gsp_exec *pool = pool_for(f->e, fu->s);
  if (pool == NULL) { /* no pools: run now */
    atomic_init(&fu->refs, 1);
    (void)gsp__opt_item(f, fu->s, fu->arg, arglen, &fu->res);
    *out = fu;
    return GSP_OK;
  }
  atomic_init(&fu->refs, 2);
  int rv = gsp_exec_submit(pool, fut_task, fu, &fu->ef);
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
  if (fu->ef != NULL && gsp_exec_future_cancel(fu->ef) == GSP_OK)
    fut_unref(fu); /* the task will never run: its reference goes too */
  fut_unref(fu);
}
