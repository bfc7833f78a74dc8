/*
 * test_prof_inproc.c - in-process MEMORY and IO profiles (GOT patching):
 * exact counts and live sites for three allocation sites; blocks from
 * before start freed during the profile and blocks of the profile freed
 * after stop; the leak check tells lost blocks from reachable ones,
 * including blocks referenced only from another running thread's stack
 * or TLS; exact I/O counts for a known sequence; a library dlopen'ed
 * during the profile is seen; nothing is counted after stop.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/prof.h"

static void *g_keep[64];
static void *volatile g_lost[8];

/* Lost blocks are kept here disguised (xor), out of the scan's sight, so
 * the test can free them in the end (LeakSanitizer builds check that). */
#define DISGUISE 0x5a5a5a5a5a5a5a5aull
static uintptr_t g_hidden[8];
static int g_nhidden;
static void hide(void *p) { g_hidden[g_nhidden++] = (uintptr_t)p ^ DISGUISE; }
static void free_hidden(void) {
  while (g_nhidden > 0) free((void *)(g_hidden[--g_nhidden] ^ DISGUISE));
}

/* ---- three allocation sites and helpers -------------------------------- */

__attribute__((noinline)) static void site_a(int i) { g_keep[i] = malloc(100); }

__attribute__((noinline)) static void site_b(void) {
  void *volatile p = calloc(1, 200);
  free(p);
}

__attribute__((noinline)) static void site_c(int i) { g_lost[i] = malloc(300); }

__attribute__((noinline)) static void site_post(int i) { g_keep[40 + i] = malloc(50); }

/* The sites whose allocating function is fn, summed (a loop the
 * compiler unrolled calls fn from several places: several stacks). */
static bool find_site(const gsp_prof_heap_site *s, size_t n, const char *fn,
                      gsp_prof_heap_site *sum) {
  memset(sum, 0, sizeof *sum);
  bool found = false;
  for (size_t i = 0; i < n; i++) {
    if (s[i].depth == 0 || strcmp(s[i].stack[0], fn) != 0) continue;
    found = true;
    sum->allocs += s[i].allocs;
    sum->alloc_bytes += s[i].alloc_bytes;
    sum->live_count += s[i].live_count;
    sum->live_bytes += s[i].live_bytes;
    sum->leak_count += s[i].leak_count;
    sum->leak_bytes += s[i].leak_bytes;
    if (s[i].peak_bytes > sum->peak_bytes) sum->peak_bytes = s[i].peak_bytes;
  }
  return found;
}

/* Overwrites the dead stack below the caller, where copies of pointers
 * from earlier calls linger (a conservative scan would see them). */
__attribute__((noinline)) static void scrub_stack(void) {
  volatile char pad[32768];
  memset((char *)pad, 0, sizeof pad);
}

static gsp_prof *start(unsigned types) {
  gsp_prof *p = NULL;
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.types = types}, &p), GSP_OK);
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  return p;
}

/* ---- heap ---------------------------------------------------------------- */

static void test_heap_sites(void **state) {
  (void)state;
  void *pre[8];
  for (int i = 0; i < 8; i++) pre[i] = malloc(64); /* before start */
  gsp_prof *p = start(GSP_PROF_MEMORY);
  for (int i = 0; i < 8; i++) free(pre[i]); /* freed during: not counted */
  for (int i = 0; i < 10; i++) site_a(i);
  for (int i = 0; i < 20; i++) site_b();
  for (int i = 0; i < 4; i++) site_c(i);
  g_keep[20] = g_lost[0]; /* two of site_c's blocks stay reachable */
  g_keep[21] = g_lost[1];
  hide(g_lost[2]);
  hide(g_lost[3]);
  for (int i = 0; i < 4; i++) g_lost[i] = NULL; /* the other two are lost */
  for (int i = 0; i < 5; i++) site_post(i);
  scrub_stack();
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  for (int i = 0; i < 5; i++) free(g_keep[40 + i]); /* freed after stop */

  gsp_prof_heap *h = NULL;
  assert_int_equal(gsp_prof_heap_get(p, &h), GSP_OK);
  assert_true(gsp_prof_heap_leaks_checked(h));
  const gsp_prof_heap_site *s;
  size_t n = gsp_prof_heap_sites(h, &s);
  gsp_prof_heap_site sa, sb, sc, sd, *a = &sa, *b = &sb, *c = &sc, *d = &sd;
  assert_true(find_site(s, n, "site_a", a));
  assert_true(find_site(s, n, "site_b", b));
  assert_true(find_site(s, n, "site_c", c));
  assert_true(find_site(s, n, "site_post", d));
  assert_int_equal(a->allocs, 10);
  assert_int_equal(a->alloc_bytes, 1000);
  assert_int_equal(a->live_count, 10);
  assert_int_equal(a->live_bytes, 1000);
  assert_int_equal(a->leak_count, 0);
  assert_int_equal(b->allocs, 20);
  assert_int_equal(b->live_count, 0);
  assert_int_equal(b->peak_bytes, 200);
  assert_int_equal(c->allocs, 4);
  assert_int_equal(c->live_count, 4);
  assert_int_equal(c->leak_count, 2);
  assert_int_equal(c->leak_bytes, 600);
  assert_int_equal(d->live_count, 5); /* live at stop */
  const gsp_prof_heap_site *l;
  size_t nl = gsp_prof_heap_leaks(h, &l);
  for (size_t i = 0; i < nl; i++) assert_string_equal(l[i].stack[0], "site_c");
  gsp_prof_heap_destroy(h);

  /* after stop nothing is counted */
  for (int i = 0; i < 10; i++) free(g_keep[i]);
  site_a(0);
  assert_int_equal(gsp_prof_heap_get(p, &h), GSP_OK);
  n = gsp_prof_heap_sites(h, &s);
  assert_true(find_site(s, n, "site_a", a));
  assert_int_equal(a->allocs, 10);
  assert_int_equal(a->live_count, 10);
  gsp_prof_heap_destroy(h);
  free(g_keep[0]);
  free(g_keep[20]);
  free(g_keep[21]);
  free_hidden();
  gsp_prof_destroy(p);
}

/* Every allocation call the hooks cover, and a second profile. */
__attribute__((noinline)) static void site_each(void **out) {
  out[0] = malloc(10);
  out[1] = calloc(2, 10);
  out[2] = realloc(malloc(5), 30);
  assert_int_equal(posix_memalign(&out[3], 64, 40), 0);
  out[4] = aligned_alloc(64, 64);
  out[5] = memalign(128, 60); /* NOLINT: obsolete but hooked */
  out[6] = valloc(70);
}

static void test_heap_calls(void **state) {
  (void)state;
  gsp_prof *p = start(GSP_PROF_MEMORY), *q = NULL;
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.types = GSP_PROF_MEMORY}, &q), GSP_OK);
  assert_int_equal(gsp_prof_start(q), GSP_EBUSY);
  void *blk[7];
  site_each(blk);
  void *moved = realloc(blk[0], 4000); /* tracked block reallocated */
  assert_non_null(moved);
  blk[0] = moved;
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  assert_int_equal(gsp_prof_heap_get(q, &(gsp_prof_heap *){NULL}), GSP_ESTATE);
  gsp_prof_heap *h = NULL;
  assert_int_equal(gsp_prof_heap_get(p, &h), GSP_OK);
  const gsp_prof_heap_site *s;
  size_t n = gsp_prof_heap_sites(h, &s);
  uint64_t allocs = 0, live = 0, bytes = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(s[i].stack[0], "site_each") == 0) {
      allocs += s[i].allocs;
      live += s[i].live_count;
      bytes += s[i].live_bytes;
    }
  /* 8 calls (malloc(5) then its realloc are two); live: 7 */
  assert_int_equal(allocs, 8);
  assert_int_equal(live, 6); /* blk[0] moved by a realloc from this test */
  assert_int_equal(bytes, 20 + 30 + 40 + 64 + 60 + 70);
  gsp_prof_heap_destroy(h);
  for (int i = 0; i < 7; i++) free(blk[i]);
  gsp_prof_destroy(q);
  gsp_prof_destroy(p);
}

/* ---- leak check with threads still running -------------------------------- */

static pthread_barrier_t g_bar;
static __thread void *t_held;

__attribute__((noinline)) static void *thread_site(size_t n) {
  void *p = malloc(n);
  __asm__ volatile("" ::: "memory"); /* no tail call: thread_site is the site */
  return p;
}

/* A block lost at once, allocated in a frame of its own so that no
 * register of the caller keeps its address. */
__attribute__((noinline)) static void lose_one(void) {
  void *volatile lost = thread_site(3333);
  hide(lost);
  lost = NULL;
  (void)lost;
}

static void *holder(void *arg) {
  (void)arg;
  void *volatile on_stack = thread_site(1111); /* only this stack refers to it */
  t_held = thread_site(2222);                  /* only this thread's TLS refers to it */
  lose_one();                                  /* a real leak */
  scrub_stack();
  pthread_barrier_wait(&g_bar); /* allocated */
  pthread_barrier_wait(&g_bar); /* the profile stopped */
  free(on_stack);
  free(t_held);
  return NULL;
}

static void test_leaks_threads(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__)
  skip(); /* ThreadSanitizer defers the signal that stops the threads */
#endif
  pthread_barrier_init(&g_bar, NULL, 2);
  gsp_prof *p = start(GSP_PROF_MEMORY);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, holder, NULL), 0);
  pthread_barrier_wait(&g_bar);
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  pthread_barrier_wait(&g_bar);
  pthread_join(t, NULL);
  gsp_prof_stats st;
  gsp_prof_stats_get(p, &st);
  assert_int_equal(st.threads_unscanned, 0);
  gsp_prof_heap *h = NULL;
  assert_int_equal(gsp_prof_heap_get(p, &h), GSP_OK);
  const gsp_prof_heap_site *l;
  size_t nl = gsp_prof_heap_leaks(h, &l);
  if (getenv("DBG")) gsp_prof_heap_write_text(h, stderr, 20);
  assert_int_equal(nl, 1);
  assert_int_equal(l[0].leak_count, 1);
  assert_int_equal(l[0].leak_bytes, 3333);
  assert_string_equal(l[0].stack[0], "thread_site");
  gsp_prof_heap_destroy(h);
  gsp_prof_destroy(p);
  pthread_barrier_destroy(&g_bar);
  free_hidden();
}

/* ---- I/O ------------------------------------------------------------------ */

static const gsp_prof_io_stat *find_io(const gsp_prof_io_stat *r, size_t n, const char *path,
                                       const char *call) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(r[i].call, call) == 0 && strncmp(r[i].path, path, strlen(path)) == 0) return &r[i];
  return NULL;
}

static void expect_io(const gsp_prof_io_stat *r, size_t n, const char *path, const char *call,
                      uint64_t count, uint64_t bytes) {
  const gsp_prof_io_stat *s = find_io(r, n, path, call);
  if (!s) fail_msg("no row for %s %s", call, path);
  assert_int_equal(s->count, count);
  assert_int_equal(s->bytes, bytes);
}

static void io_sequence(const char *file) {
  static char buf[4096];
  memset(buf, 'x', sizeof buf);
  int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0644);
  assert_true(fd >= 0);
  for (int i = 0; i < 100; i++) assert_int_equal(write(fd, buf, sizeof buf), sizeof buf);
  assert_int_equal(fsync(fd), 0);
  assert_int_equal(fdatasync(fd), 0);
  assert_int_equal(close(fd), 0);
  fd = openat(AT_FDCWD, file, O_RDWR);
  assert_true(fd >= 0);
  for (int i = 0; i < 50; i++)
    assert_int_equal(pread(fd, buf, sizeof buf, (off_t)i * 4096), sizeof buf);
  struct iovec v[2] = {{buf, 1024}, {buf + 1024, 1024}};
  assert_int_equal(readv(fd, v, 2), 2048);
  struct iovec w[2] = {{buf, 512}, {buf + 512, 512}};
  assert_int_equal(writev(fd, w, 2), 1024);
  assert_int_equal(pwrite(fd, buf, 100, 0), 100);
  assert_int_equal(read(fd, buf, 10), 10);
  assert_int_equal(close(fd), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(send(sv[0], buf, 64, 0), 64);
    assert_int_equal(recv(sv[1], buf, 64, 0), 64);
  }
  close(sv[0]);
  close(sv[1]);
}

static void test_io_exact(void **state) {
  (void)state;
  char dir[] = "/tmp/gsp-inproc-XXXXXX", file[64];
  assert_non_null(mkdtemp(dir));
  snprintf(file, sizeof file, "%s/data", dir);
  gsp_prof *p = start(GSP_PROF_IO);
  io_sequence(file);
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  int fd = open(file, O_RDONLY); /* after stop: not counted */
  close(fd);
  gsp_prof_io_stat *r = NULL;
  size_t n = 0;
  assert_int_equal(gsp_prof_io_get(p, &r, &n), GSP_OK);
  expect_io(r, n, file, "open", 1, 0);
  expect_io(r, n, file, "write", 100, 409600);
  expect_io(r, n, file, "fsync", 1, 0);
  expect_io(r, n, file, "fdatasync", 1, 0);
  expect_io(r, n, file, "close", 2, 0);
  expect_io(r, n, file, "openat", 1, 0);
  expect_io(r, n, file, "pread", 50, 204800);
  expect_io(r, n, file, "readv", 1, 2048);
  expect_io(r, n, file, "writev", 1, 1024);
  expect_io(r, n, file, "pwrite", 1, 100);
  expect_io(r, n, file, "read", 1, 10);
  expect_io(r, n, "socket:", "send", 10, 640);
  expect_io(r, n, "socket:", "recv", 10, 640);
  gsp_free(r);
  FILE *f = tmpfile();
  assert_int_equal(gsp_prof_io_write_text(p, f), GSP_OK);
  assert_true(ftell(f) > 0);
  fclose(f);
  gsp_prof_destroy(p);
  unlink(file);
  rmdir(dir);
}

/* ---- a library loaded during the profile ------------------------------------ */

static void test_dlopen(void **state) {
  (void)state;
  gsp_prof *p = start(GSP_PROF_MEMORY | GSP_PROF_IO);
  void *lib = dlopen(INPROC_LIB, RTLD_NOW | RTLD_LOCAL);
  assert_non_null(lib);
  void *(*alloc)(size_t) = (void *(*)(size_t))dlsym(lib, "inproc_lib_alloc");
  long (*wr)(int, const char *, size_t) =
      (long (*)(int, const char *, size_t))dlsym(lib, "inproc_lib_write");
  assert_non_null(alloc);
  assert_non_null(wr);
  void *blk = alloc(4321);
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  assert_int_equal(wr(pfd[1], "hello", 5), 5);
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  free(blk);
  close(pfd[0]);
  close(pfd[1]);
  gsp_prof_heap *h = NULL;
  assert_int_equal(gsp_prof_heap_get(p, &h), GSP_OK); /* the library still mapped */
  dlclose(lib);
  const gsp_prof_heap_site *s;
  size_t n = gsp_prof_heap_sites(h, &s);
  gsp_prof_heap_site a;
  assert_true(find_site(s, n, "inproc_lib_alloc", &a));
  assert_int_equal(a.alloc_bytes, 4321);
  gsp_prof_heap_destroy(h);
  gsp_prof_io_stat *r = NULL;
  assert_int_equal(gsp_prof_io_get(p, &r, &n), GSP_OK);
  expect_io(r, n, "pipe:", "write", 1, 5);
  gsp_free(r);
  gsp_prof_destroy(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_heap_sites),    cmocka_unit_test(test_heap_calls),
      cmocka_unit_test(test_leaks_threads), cmocka_unit_test(test_io_exact),
      cmocka_unit_test(test_dlopen),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
