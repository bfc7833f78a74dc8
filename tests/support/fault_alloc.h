/*
 * fault_alloc.h - the failing allocator the fault-injection tests share.
 *
 * Installed through gsp_set_allocator(), it numbers every allocation
 * (malloc and realloc) of the run and fails the one numbered g_fail_at
 * (1-based; 0 = never), counting blocks still live so a test can check
 * that a failed run freed everything. fault_each_allocation() is the one
 * driver: it runs a test's life with allocation 1, 2, ... failing until a
 * run ends without reaching the failure (g_failed stays false), and fails
 * the test naming the allocation whose failure leaked. The life itself
 * checks that each call it makes ends in GSP_OK or a clean GSP_ENOMEM
 * (ok_or_nomem). Include after <cmocka.h>. The hooks take a mutex, so a library that
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

/* More runs than this means the life never stops allocating: a bug. */
#define FAULT_MAX_RUNS 1000000L

/* Arms the allocator for one run that fails allocation n (0 = none). */
static inline void fault_arm(long n) {
  pthread_mutex_lock(&g_fault_mu);
  g_fail_at = n;
  g_count = 0;
  g_live = 0;
  g_failed = false;
  pthread_mutex_unlock(&g_fault_mu);
}

/* Reads the outcome of the run: blocks it left live, whether it failed. */
static inline long fault_outcome(bool *failed) {
  pthread_mutex_lock(&g_fault_mu);
  long live = g_live;
  *failed = g_failed;
  pthread_mutex_unlock(&g_fault_mu);
  return live;
}

/*
 * Installs the failing allocator and calls life(arg) with allocation 1,
 * then 2, ... failing, until a run completes without reaching its
 * failure. Each run must free every block it allocated; if one does not,
 * the default allocator is restored and the test fails naming the
 * allocation number. Returns how many allocations were failed in turn
 * (the run count minus the final, unfailed one), with the default
 * allocator restored and g_fail_at back to 0. life may read g_fail_at
 * for its own messages and may use cmocka assertions.
 */
static inline long fault_each_allocation(void (*life)(void *), void *arg) {
  static gsp_allocator failing = {f_malloc, f_realloc, f_free, NULL};
  gsp_set_allocator(&failing);
  long n = 1;
  for (;; n++) {
    if (n > FAULT_MAX_RUNS) {
      gsp_set_allocator(NULL);
      fail_msg("still allocating after %ld failed allocations", FAULT_MAX_RUNS);
    }
    fault_arm(n);
    life(arg);
    bool failed = false;
    long live = fault_outcome(&failed);
    if (live != 0) {
      gsp_set_allocator(NULL);
      fail_msg("failing allocation %ld leaked %ld blocks", n, live);
    }
    if (!failed) break;
  }
  gsp_set_allocator(NULL);
  fault_arm(0);
  return n - 1;
}

#endif
