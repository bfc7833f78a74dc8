/*
 * test_prof_io_raw.c - pread and pwrite under an in-process IO profile,
 * where the hook makes the system call itself (when the program's pread
 * and pwrite are the C library's), behave as the C library's do:
 * - results and bytes: data written and read back at offsets, counts
 *   and bytes recorded exactly;
 * - failures: -1 with errno EBADF (a closed descriptor, a write to a
 *   read-only one) and ESPIPE (a pipe), counted as calls with no bytes;
 * - cancellation: a thread with a cancel pending (requested while it had
 *   cancellation disabled) is cancelled at its next pread, as at any
 *   cancellation point (its pread loop never ends otherwise).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/prof.h"

static gsp_prof *start_io(void) {
  gsp_prof *p = NULL;
  gsp_prof_config cfg = {.types = GSP_PROF_IO, .io_sample = 1};
  assert_int_equal(gsp_prof_create(&cfg, &p), GSP_OK);
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  return p;
}

/* count and bytes of the row (path prefix, call); 0 and 0 if none. */
static void row(gsp_prof *p, const char *path, const char *call, uint64_t *count, uint64_t *bytes) {
  gsp_prof_io_stat *rows = NULL;
  size_t n = 0;
  *count = *bytes = 0;
  assert_int_equal(gsp_prof_io_get(p, &rows, &n), GSP_OK);
  for (size_t i = 0; i < n; i++)
    if (strcmp(rows[i].call, call) == 0 && strncmp(rows[i].path, path, strlen(path)) == 0) {
      *count += rows[i].count;
      *bytes += rows[i].bytes;
    }
  gsp_free(rows);
}

static void test_data(void **state) {
  (void)state;
  char file[] = "/tmp/test_prof_io_raw.XXXXXX";
  int fd = mkstemp(file);
  assert_true(fd >= 0);
  gsp_prof *p = start_io();
  char out[100], in[100];
  for (int i = 0; i < 50; i++) {
    memset(out, 'a' + i % 26, sizeof out);
    assert_int_equal(pwrite(fd, out, sizeof out, (off_t)i * 1000), sizeof out);
  }
  for (int i = 49; i >= 0; i--) {
    assert_int_equal(pread(fd, in, sizeof in, (off_t)i * 1000), sizeof in);
    assert_int_equal(in[0], 'a' + i % 26);
    assert_int_equal(in[99], 'a' + i % 26);
  }
  assert_int_equal(pread(fd, in, sizeof in, 49000 + 50), 50); /* short, at the end */
  assert_int_equal(pread(fd, in, sizeof in, 1 << 20), 0);     /* past the end */
  gsp_prof_stop(p);
  uint64_t c, b;
  row(p, file, "pwrite", &c, &b);
  assert_int_equal(c, 50);
  assert_int_equal(b, 5000);
  row(p, file, "pread", &c, &b);
  assert_int_equal(c, 52);
  assert_int_equal(b, 5050);
  gsp_prof_destroy(p);
  close(fd);
  unlink(file);
}

static void test_errors(void **state) {
  (void)state;
  int pfd[2], ro = open("/dev/null", O_RDONLY);
  char c = 'x';
  assert_int_equal(pipe(pfd), 0);
  assert_true(ro >= 0);
  gsp_prof *p = start_io();
  errno = 0;
  assert_int_equal(pread(pfd[0], &c, 1, 0), -1);
  assert_int_equal(errno, ESPIPE);
  errno = 0;
  assert_int_equal(pwrite(pfd[1], &c, 1, 0), -1);
  assert_int_equal(errno, ESPIPE);
  errno = 0;
  assert_int_equal(pwrite(ro, &c, 1, 0), -1);
  assert_int_equal(errno, EBADF);
  close(ro);
  errno = 0;
  assert_int_equal(pread(ro, &c, 1, 0), -1);
  assert_int_equal(errno, EBADF);
  gsp_prof_stop(p);
  uint64_t n, b;
  row(p, "pipe:", "pread", &n, &b);
  assert_int_equal(n, 1);
  assert_int_equal(b, 0);
  row(p, "/dev/null", "pwrite", &n, &b);
  assert_int_equal(n, 1);
  assert_int_equal(b, 0);
  gsp_prof_destroy(p);
  close(pfd[0]);
  close(pfd[1]);
}

typedef struct cancel_arg {
  int fd;
  pthread_barrier_t ready, cancelled;
} cancel_arg;

/* Disables cancellation until main has asked for it, then preads in a
 * loop: only a cancel acted on in pread ends it. */
static void *cancel_body(void *v) {
  cancel_arg *a = v;
  char c;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
  pthread_barrier_wait(&a->ready);
  pthread_barrier_wait(&a->cancelled);
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
  for (;;)
    if (pread(a->fd, &c, 1, 0) < 0) return NULL;
}

static void test_cancel(void **state) {
  (void)state;
  cancel_arg a;
  a.fd = open("/dev/zero", O_RDONLY);
  assert_true(a.fd >= 0);
  pthread_barrier_init(&a.ready, NULL, 2);
  pthread_barrier_init(&a.cancelled, NULL, 2);
  gsp_prof *p = start_io();
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, cancel_body, &a), 0);
  pthread_barrier_wait(&a.ready);
  assert_int_equal(pthread_cancel(t), 0);
  pthread_barrier_wait(&a.cancelled);
  void *res = NULL;
  assert_int_equal(pthread_join(t, &res), 0);
  assert_ptr_equal(res, PTHREAD_CANCELED);
  gsp_prof_stop(p);
  uint64_t n, b;
  row(p, "/dev/zero", "pread", &n, &b);
  assert_true(n <= 1); /* cancelled at its first pread (counted or not) */
  gsp_prof_destroy(p);
  pthread_barrier_destroy(&a.ready);
  pthread_barrier_destroy(&a.cancelled);
  close(a.fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_data),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_cancel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
