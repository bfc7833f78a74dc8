/*
 * test_exec_io.c - the I/O executor: whole-file reads on both paths
 * (io_uring when the kernel allows it, and pread forced by no_uring) give
 * the same bytes for empty, tiny, chunk-aligned and multi-batch files,
 * into allocated and caller buffers; missing files, directories and small
 * buffers fail with their codes; a FIFO is read to EOF; many reads in
 * flight complete through callbacks; blocking jobs make the executor grow
 * (four jobs that wait for each other finish only if four threads run);
 * max_pending refuses work with GSP_EBUSY.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gsperf/exec.h"

static char g_dir[64];

typedef struct tfile {
  const char *name;
  size_t size;
  char *bytes;
} tfile;

static tfile g_files[] = {
    {"empty", 0, NULL},       {"tiny", 13, NULL},   {"chunk", 65536, NULL},
    {"chunk2", 131072, NULL}, {"odd", 65537, NULL}, {"big", 3500001, NULL},
};
#define NFILES (sizeof(g_files) / sizeof(g_files[0]))

static void path_of(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", g_dir, name);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof(g_dir), "/tmp/gsp_io_test_XXXXXX");
  if (mkdtemp(g_dir) == NULL) return -1;
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < NFILES; i++) {
    tfile *f = &g_files[i];
    f->bytes = malloc(f->size + 1);
    for (size_t k = 0; k < f->size; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      f->bytes[k] = (char)(x >> 24);
    }
    char p[128];
    path_of(f->name, p, sizeof(p));
    FILE *fp = fopen(p, "wb");
    if (fp == NULL || fwrite(f->bytes, 1, f->size, fp) != f->size) return -1;
    fclose(fp);
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
  for (size_t i = 0; i < NFILES; i++) free(g_files[i].bytes);
  return system(cmd) == 0 ? 0 : -1;
}

static gsp_io *make_io(bool no_uring) {
  gsp_io *io = NULL;
  gsp_io_config cfg = {.threads = 4, .chunk_bytes = 65536, .ring_entries = 4, .no_uring = no_uring};
  assert_int_equal(gsp_io_create(&cfg, &io), GSP_OK);
  if (no_uring) assert_false(gsp_io_uses_uring(io));
  return io;
}

static int read_sync(gsp_io *io, gsp_io_read *req) {
  gsp_exec_future *f = NULL;
  int r = -100;
  assert_int_equal(gsp_io_read_file(io, req, &f), GSP_OK);
  assert_int_equal(gsp_exec_future_wait(f, &r), GSP_OK);
  gsp_exec_future_release(f);
  assert_int_equal(r, req->status);
  return r;
}

static void check_files(gsp_io *io) {
  for (size_t i = 0; i < NFILES; i++) {
    tfile *f = &g_files[i];
    char p[128];
    path_of(f->name, p, sizeof(p));
    gsp_io_read a = {.path = p};
    assert_int_equal(read_sync(io, &a), GSP_OK);
    assert_int_equal(a.len, f->size);
    if (f->size > 0) assert_memory_equal(a.data, f->bytes, f->size);
    assert_int_equal(((char *)a.data)[a.len], '\0');
    gsp_free(a.data);
    char *buf = malloc(f->size + 10);
    gsp_io_read b = {.path = p, .buf = buf, .cap = f->size + 10};
    assert_int_equal(read_sync(io, &b), GSP_OK);
    assert_ptr_equal(b.data, buf);
    assert_int_equal(b.len, f->size);
    if (f->size > 0) assert_memory_equal(buf, f->bytes, f->size);
    free(buf);
    if (f->size > 0) {
      char small[8];
      gsp_io_read c = {.path = p, .buf = small, .cap = f->size - 1 < 8 ? f->size - 1 : 8};
      assert_int_equal(read_sync(io, &c), GSP_ERANGE);
      assert_int_equal(c.len, f->size);
      assert_null(c.data);
    }
  }
}

static void check_errors(gsp_io *io) {
  char p[128];
  path_of("missing", p, sizeof(p));
  gsp_io_read m = {.path = p};
  assert_int_equal(read_sync(io, &m), GSP_ENOENT);
  assert_null(m.data);
  gsp_io_read d = {.path = g_dir};
  assert_int_equal(read_sync(io, &d), GSP_EIO);
  assert_int_not_equal(d.sys_errno, 0);
  assert_int_equal(gsp_io_read_file(io, NULL, NULL), GSP_EINVAL);
  gsp_io_read nopath = {0};
  assert_int_equal(gsp_io_read_file(io, &nopath, NULL), GSP_EINVAL);
}

static void test_read_uring(void **state) {
  (void)state;
  gsp_io *io = make_io(false);
  if (!gsp_io_uses_uring(io)) {
    gsp_io_destroy(io);
    print_message("io_uring not available here: the pread test covers reads\n");
    skip();
  }
  check_files(io);
  check_errors(io);
  gsp_io_stats st;
  assert_int_equal(gsp_io_stats_get(io, &st), GSP_OK);
  assert_true(st.uring_reads > 0); /* the ring really did the reading */
  assert_true(st.bytes_read >= 2 * 3500001);
  gsp_io_destroy(io);
}

static void test_read_pread(void **state) {
  (void)state;
  gsp_io *io = make_io(true);
  check_files(io);
  check_errors(io);
  gsp_io_stats st;
  assert_int_equal(gsp_io_stats_get(io, &st), GSP_OK);
  assert_int_equal(st.uring_reads, 0);
  assert_true(st.pread_reads > 0);
  assert_true(st.bytes_read >= 2 * 3500001);
  gsp_io_destroy(io);
}

/* ---- a FIFO: no size, read to EOF ---- */

static void *fifo_writer(void *arg) {
  const char *p = arg;
  FILE *fp = fopen(p, "wb");
  if (fp == NULL) return NULL;
  for (int i = 0; i < 10000; i++) fprintf(fp, "line %05d\n", i);
  fclose(fp);
  return NULL;
}

static void test_read_fifo(void **state) {
  (void)state;
  char p[128];
  path_of("fifo", p, sizeof(p));
  assert_int_equal(mkfifo(p, 0600), 0);
  for (int pass = 0; pass < 2; pass++) {
    gsp_io *io = make_io(pass == 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fifo_writer, p), 0);
    gsp_io_read r = {.path = p};
    assert_int_equal(read_sync(io, &r), GSP_OK);
    pthread_join(th, NULL);
    assert_int_equal(r.len, 10000 * 11);
    assert_memory_equal(r.data, "line 00000\nline 00001\n", 22);
    assert_memory_equal((char *)r.data + r.len - 11, "line 09999\n", 11);
    gsp_free(r.data);
    gsp_io_destroy(io);
  }
}

/* ---- many reads in flight, callbacks ---- */

typedef struct many {
  atomic_int done, ok;
} many;

static void on_read(gsp_io_read *req, void *user) {
  many *m = user;
  if (req->status == GSP_OK && req->len == g_files[5].size &&
      memcmp(req->data, g_files[5].bytes, req->len) == 0)
    atomic_fetch_add(&m->ok, 1);
  gsp_free(req->data);
  atomic_fetch_add(&m->done, 1);
}

static void test_many_reads(void **state) {
  (void)state;
  for (int pass = 0; pass < 2; pass++) {
    gsp_io *io = make_io(pass == 1);
    char p[128];
    path_of("big", p, sizeof(p));
    many m = {0, 0};
    gsp_io_read req[24];
    for (int i = 0; i < 24; i++) {
      req[i] = (gsp_io_read){.path = p, .done = on_read, .user = &m};
      assert_int_equal(gsp_io_read_file(io, &req[i], NULL), GSP_OK);
    }
    gsp_io_destroy(io); /* drains */
    assert_int_equal(atomic_load(&m.done), 24);
    assert_int_equal(atomic_load(&m.ok), 24);
  }
}

/* ---- blocking jobs, limits ---- */

static int meet(void *arg) {
  atomic_int *n = arg;
  atomic_fetch_add(n, 1);
  while (atomic_load(n) < 4) usleep(100); /* returns only once four run at once */
  return 7;
}

static void test_blocking_jobs_grow(void **state) {
  (void)state;
  gsp_io *io = NULL;
  gsp_io_config cfg = {.threads = 4, .min_threads = 1};
  assert_int_equal(gsp_io_create(&cfg, &io), GSP_OK);
  atomic_int n = 0;
  gsp_exec_future *f[4];
  for (int i = 0; i < 4; i++) assert_int_equal(gsp_io_submit(io, meet, &n, &f[i]), GSP_OK);
  for (int i = 0; i < 4; i++) {
    int r = 0;
    assert_int_equal(gsp_exec_future_wait(f[i], &r), GSP_OK);
    assert_int_equal(r, 7);
    gsp_exec_future_release(f[i]);
  }
  gsp_io_destroy(io);
}

typedef struct gate {
  atomic_bool started, open;
} gate;

static int hold(void *arg) {
  gate *g = arg;
  atomic_store(&g->started, true);
  while (!atomic_load(&g->open)) sched_yield();
  return 0;
}

static void test_max_pending(void **state) {
  (void)state;
  gsp_io *io = NULL;
  gsp_io_config cfg = {.threads = 2, .max_pending = 1};
  assert_int_equal(gsp_io_create(&cfg, &io), GSP_OK);
  gate g = {false, false};
  assert_int_equal(gsp_io_submit(io, hold, &g, NULL), GSP_OK);
  assert_int_equal(gsp_io_submit(io, hold, &g, NULL), GSP_EBUSY);
  gsp_io_read r = {.path = "/nonexistent"};
  assert_int_equal(gsp_io_read_file(io, &r, NULL), GSP_EBUSY);
  atomic_store(&g.open, true);
  gsp_io_destroy(io);
  gsp_io_config bad = {.threads = 2, .min_threads = 3};
  assert_int_equal(gsp_io_create(&bad, &io), GSP_EINVAL);
  assert_int_equal(gsp_io_create(NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_io_submit(NULL, hold, &g, NULL), GSP_EINVAL);
  gsp_io_destroy(NULL);
}

static int count_run(void *arg) {
  atomic_fetch_add((atomic_int *)arg, 1);
  return 0;
}

/* A job or read canceled before it starts never runs, its wrapper is freed
   (ASan's leak check) and its pending slot comes back. */
static void test_cancel_before_start(void **state) {
  (void)state;
  gsp_io *io = NULL;
  gsp_io_config cfg = {.threads = 1, .min_threads = 1, .max_pending = 3};
  assert_int_equal(gsp_io_create(&cfg, &io), GSP_OK);
  gate g = {false, false};
  assert_int_equal(gsp_io_submit(io, hold, &g, NULL), GSP_OK);
  while (!atomic_load(&g.started)) sched_yield();
  atomic_int ran = 0;
  gsp_exec_future *fj = NULL, *fr = NULL;
  assert_int_equal(gsp_io_submit(io, count_run, &ran, &fj), GSP_OK);
  gsp_io_read r = {.path = "/nonexistent"};
  assert_int_equal(gsp_io_read_file(io, &r, &fr), GSP_OK);
  assert_int_equal(gsp_exec_future_cancel(fj), GSP_OK);
  assert_int_equal(gsp_exec_future_cancel(fr), GSP_OK);
  atomic_store(&g.open, true);
  int res = 0;
  assert_int_equal(gsp_exec_future_wait(fj, &res), GSP_ECANCELED);
  assert_int_equal(gsp_exec_future_wait(fr, &res), GSP_ECANCELED);
  gsp_exec_future_release(fj);
  gsp_exec_future_release(fr);
  gsp_io_stats st;
  for (int i = 0; i < 20000; i++) { /* bounded: at most about 20 s */
    assert_int_equal(gsp_io_stats_get(io, &st), GSP_OK);
    if (st.pending == 0) break;
    nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
  }
  assert_int_equal(st.pending, 0);
  /* All three slots are free again. */
  gate g2 = {false, true};
  for (int i = 0; i < 3; i++) assert_int_equal(gsp_io_submit(io, hold, &g2, NULL), GSP_OK);
  gsp_io_destroy(io);
  assert_int_equal(atomic_load(&ran), 0);
  assert_int_equal(r.status, 0);
  assert_null(r.data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read_uring),          cmocka_unit_test(test_read_pread),
      cmocka_unit_test(test_read_fifo),           cmocka_unit_test(test_many_reads),
      cmocka_unit_test(test_blocking_jobs_grow),  cmocka_unit_test(test_max_pending),
      cmocka_unit_test(test_cancel_before_start),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
