/*
 * fault_alloc.h - the failing allocator the fault-injection tests share.
 *
 * Installed through gsp_set_allocator(), it numbers every allocation
 * (malloc and realloc) of the run and fails the one numbered g_fail_at
 * (1-based; 0 = never), counting blocks still live so a test can check
 * that a failed run freed everything. A test loops g_fail_at = 1, 2, ...
 * until a run ends without reaching the failure (g_failed stays false).
 * Include after <cmocka.h>. The hooks take a mutex, so a library that
 * allocates or frees on its own threads (a pool's workers) is counted
 * correctly; read the counters once those threads are done.
 */
#ifndef GSP_TEST_FAULT_ALLOC_H
#define GSP_TEST_FAULT_ALLOC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "gsperf/common.h"

static long g_fail_at; /* fail the allocation with this number (1-based); 0 = never */
static long g_count;   /* allocations so far */
static long g_live;    /* allocated and not yet freed */
static bool g_failed;  /* the planned failure happened */
static pthread_mutex_t g_fault_mu = PTHREAD_MUTEX_INITIALIZER;

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
  void *p = NULL;
  pthread_mutex_lock(&g_fault_mu);
  if (!should_fail()) p = malloc(n);
  if (p) g_live++;
  pthread_mutex_unlock(&g_fault_mu);
  return p;
}

static void *f_realloc(void *u, void *p, size_t n) {
  (void)u;
  void *q = NULL;
  pthread_mutex_lock(&g_fault_mu);
  if (!should_fail()) q = realloc(p, n);
  if (q && !p) g_live++;
  pthread_mutex_unlock(&g_fault_mu);
  return q;
}

static void f_free(void *u, void *p) {
  (void)u;
  pthread_mutex_lock(&g_fault_mu);
  if (p) g_live--;
  free(p);
  pthread_mutex_unlock(&g_fault_mu);
}

/* A call under fault injection may only succeed or fail cleanly. */
static inline void ok_or_nomem(int rv) {
  if (rv != GSP_OK && rv != GSP_ENOMEM) fail_msg("unexpected status %s", gsp_err_name(rv));
}

#endif
