/*
 * test_prof_inproc_fault.c - fault injection on the results of an
 * in-process MEMORY and IO profile: gsp_prof_heap_get, gsp_prof_io_get
 * and gsp_prof_io_write_text, failing the Nth allocation for every N
 * until a run completes without reaching N. Each run must not crash, get
 * only success or a clean GSP_ENOMEM, and free every byte it allocated.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/prof.h"

#include "../../support/fault_alloc.h"

static void *volatile g_keep[16];

__attribute__((noinline)) static void work(void) {
  for (int i = 0; i < 16; i++) g_keep[i] = malloc(64 + (size_t)i);
  int fd = open("/dev/null", O_WRONLY);
  if (fd >= 0) {
    for (int i = 0; i < 5; i++)
      if (write(fd, "x", 1) != 1) break;
    close(fd);
  }
}

static void one_run(void *arg) {
  gsp_prof *p = arg;
  gsp_prof_heap *h = NULL;
  int rv = gsp_prof_heap_get(p, &h);
  ok_or_nomem(rv);
  if (rv == GSP_OK) gsp_prof_heap_destroy(h);
  gsp_prof_io_stat *io = NULL;
  size_t n = 0;
  rv = gsp_prof_io_get(p, &io, &n);
  ok_or_nomem(rv);
  if (rv == GSP_OK) gsp_free(io);
  FILE *f = fopen("/dev/null", "w");
  ok_or_nomem(gsp_prof_io_write_text(p, f));
  fclose(f);
}

static void test_results_faults(void **state) {
  (void)state;
  gsp_prof *p;
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.types = GSP_PROF_MEMORY | GSP_PROF_IO}, &p),
                   GSP_OK);
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  work();
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  (void)fault_each_allocation(one_run, p);
  gsp_prof_destroy(p);
  for (int i = 0; i < 16; i++) free(g_keep[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_results_faults)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
