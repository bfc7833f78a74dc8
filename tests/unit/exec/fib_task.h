/*
 * fib_task.h - recursive Fibonacci as nested fork-join on a gsp_exec pool,
 * shared by the exec tests: each task submits its left half, runs its
 * right half itself, then waits (helping) for the left. Returns the first
 * error of the three. Include after <gsperf/exec.h>.
 */
#ifndef GSP_TEST_FIB_TASK_H
#define GSP_TEST_FIB_TASK_H

typedef struct fib_arg {
  gsp_exec *ex;
  int n;
  long out;
} fib_arg;

static int fib_task(void *p) {
  fib_arg *a = p;
  if (a->n < 2) {
    a->out = a->n;
    return 0;
  }
  fib_arg left = {a->ex, a->n - 1, 0}, right = {a->ex, a->n - 2, 0};
  gsp_exec_future *f = NULL;
  int rv = gsp_exec_submit(a->ex, fib_task, &left, &f);
  if (rv != GSP_OK) return rv;
  int rr = fib_task(&right);
  int rl = -1;
  rv = gsp_exec_future_wait(f, &rl);
  gsp_exec_future_release(f);
  a->out = left.out + right.out;
  return rv != GSP_OK ? rv : (rl != 0 ? rl : rr);
}

#endif
