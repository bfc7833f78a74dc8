/*
 * opt_test_util.h - helpers shared by the optimization engine's unit tests
 * (each test file has its own copy: static, some unused in a file).
 */
#ifndef OPT_TEST_UTIL_H
#define OPT_TEST_UTIL_H

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "gsperf/optimize.h"

#define OPT_TEST_UNUSED __attribute__((unused))

static atomic_int g_runs OPT_TEST_UNUSED;

/* Result: "r:" + argument. */
OPT_TEST_UNUSED static int echo_fn(void *user, const void *arg, size_t n, void **out,
                                   size_t *outlen) {
  (void)user;
  atomic_fetch_add(&g_runs, 1);
  char *r = gsp_malloc(n + 2);
  if (r == NULL) return GSP_ENOMEM;
  memcpy(r, "r:", 2);
  if (n) memcpy(r + 2, arg, n);
  *out = r;
  *outlen = n + 2;
  return GSP_OK;
}

OPT_TEST_UNUSED static int fail_fn(void *user, const void *arg, size_t n, void **out,
                                   size_t *outlen) {
  (void)user, (void)arg, (void)n, (void)out, (void)outlen;
  atomic_fetch_add(&g_runs, 1);
  return GSP_EIO;
}

OPT_TEST_UNUSED static gsp_opt_engine *engine(const gsp_opt_config *cfg) {
  gsp_opt_engine *e = NULL;
  assert_int_equal(gsp_opt_engine_create(cfg, &e), GSP_OK);
  return e;
}

OPT_TEST_UNUSED static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

#endif
