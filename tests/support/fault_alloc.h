/*
 * fault_alloc.h - the failing allocator the fault-injection tests share.
 *
 * Installed through gsp_set_allocator(), it numbers every allocation
 * (malloc and realloc) of the run and fails the one numbered g_fail_at
 * (1-based; 0 = never), counting blocks still live so a test can check
 * that a failed run freed everything. A test loops g_fail_at = 1, 2, ...
 * until a run ends without reaching the failure (g_failed stays false).
 * Include after <cmocka.h>; single-threaded use only.
 */
#ifndef GSP_TEST_FAULT_ALLOC_H
#define GSP_TEST_FAULT_ALLOC_H

#include <stdbool.h>
#include <stdlib.h>

#include "gsperf/common.h"

static long g_fail_at; /* fail the allocation with this number (1-based); 0 = never */
static long g_count;   /* allocations so far */
static long g_live;    /* allocated and not yet freed */
static bool g_failed;  /* the planned failure happened */

static bool should_fail(void) {
  g_count++;
  if (g_fail_at != 0 && g_count == g_fail_at) {
    g_failed = true;
    return true;
  }
  return false;
}

static void *f_malloc(void *u, size_t n) {
  (void)u;
  if (should_fail()) return NULL;
  void *p = malloc(n);
  if (p) g_live++;
  return p;
}

static void *f_realloc(void *u, void *p, size_t n) {
  (void)u;
  if (should_fail()) return NULL;
  void *q = realloc(p, n);
  if (q && !p) g_live++;
  return q;
}

static void f_free(void *u, void *p) {
  (void)u;
  if (p) g_live--;
  free(p);
}

/* A call under fault injection may only succeed or fail cleanly. */
static inline void ok_or_nomem(int rv) {
  if (rv != GSP_OK && rv != GSP_ENOMEM) fail_msg("unexpected status %s", gsp_err_name(rv));
}

#endif
