/*
 * test_trace.c - the cachesim trace reader (cli/trace.c) and Belady's MIN
 * (cli/belady.c): every format parses to the expected requests, plain and
 * zstd-compressed; malformed input is refused with the place named;
 * allocation failures leak nothing; MIN matches a brute-force optimum.
 *
 * Each test writes its files into a fresh temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <zstd.h>

#include "belady.h"
#include "gsperf/common.h"
#include "trace.h"

#include "../../support/fault_alloc.h"

static char g_dir[256];
static char g_err[512];

/* ---- fixtures and helpers ------------------------------------------------ */

static int make_dir(void **state) {
  (void)state;
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/gsp_trace_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *path_of(const char *name) {
  static char p[4][400];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
  return p[k];
}

static const char *write_bytes(const char *name, const void *data, size_t len) {
  const char *p = path_of(name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  if (len) assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  return p;
}

/* Compress data with zstd and write it; chop drops that many bytes off the end. */
static const char *write_zst(const char *name, const void *data, size_t len, size_t chop) {
  size_t cap = ZSTD_compressBound(len);
  void *buf = malloc(cap);
  assert_non_null(buf);
  size_t n = ZSTD_compress(buf, cap, data, len, 3);
  assert_false(ZSTD_isError(n));
  assert_true(n > chop);
  const char *p = write_bytes(name, buf, n - chop);
  free(buf);
  return p;
}

static void put_le(unsigned char *p, uint64_t v, unsigned nbytes) {
  for (unsigned i = 0; i < nbytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* oracleGeneral records: id, size, next per request (time = index). */
static size_t oracle_bytes(unsigned char *out, const uint64_t *id, const uint32_t *size,
                           const int64_t *next, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char *r = out + 24 * i;
    put_le(r, i, 4);
    put_le(r + 4, id[i], 8);
    put_le(r + 12, size[i], 4);
    put_le(r + 16, (uint64_t)next[i], 8);
  }
  return 24 * n;
}

static int load(const char *path, cs_trace_format fmt, cs_trace *t) {
  g_err[0] = '\0';
  return cs_trace_load(path, fmt, t, g_err, sizeof g_err);
}

static void expect_objs(const cs_trace *t, const uint32_t *obj, size_t n) {
  assert_int_equal(t->n, n);
  for (size_t i = 0; i < n; i++) assert_int_equal(t->obj[i], obj[i]);
}

/* The load fails and the message holds every given fragment. */
static void expect_error(const char *path, cs_trace_format fmt, int code, ...) {
  cs_trace t;
  va_list ap;
  assert_int_equal(load(path, fmt, &t), code);
  assert_non_null(strstr(g_err, path));
  va_start(ap, code);
  for (const char *frag = va_arg(ap, const char *); frag; frag = va_arg(ap, const char *)) {
    if (strstr(g_err, frag) == NULL) fail_msg("'%s' not in error '%s'", frag, g_err);
  }
  va_end(ap);
  assert_null(t.obj);
}

/* ---- the three formats ------------------------------------------------------ */

static const char keys_text[] = "alpha\nbeta 10\nalpha\r\n\tgamma  7 \ndelta";

static void check_keys(const cs_trace *t) {
  static const uint32_t obj[] = {0, 1, 0, 2, 3};
  static const uint32_t size[] = {1, 10, 1, 7, 1};
  expect_objs(t, obj, 5);
  for (size_t i = 0; i < 5; i++) assert_int_equal(t->size[i], size[i]);
  assert_int_equal(t->n_obj, 4);
  assert_int_equal(t->unique_bytes, 1 + 10 + 7 + 1);
  assert_true(t->has_sizes);
  assert_null(t->next);
  assert_int_equal(t->format, CS_FMT_KEYS);
}

static void test_keys(void **state) {
  (void)state;
  cs_trace t;
  assert_int_equal(load(write_bytes("web.txt", keys_text, strlen(keys_text)), CS_FMT_AUTO, &t), 0);
  check_keys(&t);
  assert_string_equal(t.name, "web");
  cs_trace_free(&t);
  assert_int_equal(load(write_zst("web.txt.zst", keys_text, strlen(keys_text), 0), CS_FMT_AUTO, &t),
                   0);
  check_keys(&t);
  assert_string_equal(t.name, "web");
  cs_trace_free(&t);
}

static const char lis_text[] = "5 3 0 0\n6 1 0 1\n0 1 x y\n18446744073709551615 1 0 0\n";

static void check_lis(const cs_trace *t) {
  static const uint32_t obj[] = {0, 1, 2, 1, 3, 4};
  static const uint64_t id[] = {5, 6, 7, 0, UINT64_MAX};
  expect_objs(t, obj, 6);
  assert_int_equal(t->n_obj, 5);
  for (size_t i = 0; i < 5; i++) assert_true(t->id[i] == id[i]);
  for (size_t i = 0; i < 6; i++) assert_int_equal(t->size[i], 1);
  assert_int_equal(t->unique_bytes, 5);
  assert_false(t->has_sizes);
  assert_int_equal(t->format, CS_FMT_LIS);
}

static void test_lis(void **state) {
  (void)state;
  cs_trace t;
  assert_int_equal(load(write_bytes("OLTP.lis", lis_text, strlen(lis_text)), CS_FMT_AUTO, &t), 0);
  check_lis(&t);
  assert_string_equal(t.name, "OLTP");
  cs_trace_free(&t);
  assert_int_equal(load(write_zst("P3.lis.zst", lis_text, strlen(lis_text), 0), CS_FMT_AUTO, &t),
                   0);
  check_lis(&t);
  assert_string_equal(t.name, "P3");
  cs_trace_free(&t);
  /* compressed data is found by its magic number, whatever the name */
  assert_int_equal(load(write_zst("plain_name", lis_text, strlen(lis_text), 0), CS_FMT_LIS, &t), 0);
  check_lis(&t);
  cs_trace_free(&t);
}

static const uint64_t or_id[] = {0, 42, 0, 7, 42};
static const uint32_t or_size[] = {512, 4096, 512, 100, 4096};
static const int64_t or_next[] = {3, 5, -1, -1, -1}; /* 1-based, as libCacheSim writes */

static void check_oracle(const cs_trace *t) {
  static const uint32_t obj[] = {0, 1, 0, 2, 1};
  expect_objs(t, obj, 5);
  assert_int_equal(t->n_obj, 3);
  assert_true(t->id[0] == 0 && t->id[1] == 42 && t->id[2] == 7);
  for (size_t i = 0; i < 5; i++) assert_int_equal(t->size[i], or_size[i]);
  assert_non_null(t->next);
  for (size_t i = 0; i < 5; i++) assert_int_equal(t->next[i], or_next[i]);
  assert_int_equal(t->unique_bytes, 512 + 4096 + 100);
  assert_true(t->has_sizes);
  assert_int_equal(t->format, CS_FMT_ORACLE);
}

static void test_oracle(void **state) {
  (void)state;
  unsigned char buf[24 * 5];
  size_t len = oracle_bytes(buf, or_id, or_size, or_next, 5);
  cs_trace t;
  assert_int_equal(load(write_bytes("cp.oracleGeneral.bin", buf, len), CS_FMT_AUTO, &t), 0);
  check_oracle(&t);
  assert_string_equal(t.name, "cp");
  cs_trace_free(&t);
  assert_int_equal(load(write_zst("cp.oracleGeneral.bin.zst", buf, len, 0), CS_FMT_AUTO, &t), 0);
  check_oracle(&t);
  assert_string_equal(t.name, "cp");
  cs_trace_free(&t);
  assert_int_equal(load(write_zst("cp.oracleGeneral.zst", buf, len, 0), CS_FMT_AUTO, &t), 0);
  assert_string_equal(t.name, "cp");
  cs_trace_free(&t);
}

static void test_format_names(void **state) {
  (void)state;
  cs_trace_format f;
  assert_int_equal(cs_trace_format_guess("a/b/x.lis.zst"), CS_FMT_LIS);
  assert_int_equal(cs_trace_format_guess("x.oracleGeneral.bin"), CS_FMT_ORACLE);
  assert_int_equal(cs_trace_format_guess("x.bin.zst"), CS_FMT_ORACLE);
  assert_int_equal(cs_trace_format_guess("x.csv"), CS_FMT_KEYS);
  assert_int_equal(cs_trace_format_parse("LIS", &f), 0);
  assert_int_equal(f, CS_FMT_LIS);
  assert_int_equal(cs_trace_format_parse("oracleGeneral", &f), 0);
  assert_int_equal(f, CS_FMT_ORACLE);
  assert_int_equal(cs_trace_format_parse("csv", &f), GSP_EINVAL);
}

/* A trace larger than every internal buffer (several zstd and line chunks). */
static void test_large_zst(void **state) {
  (void)state;
  size_t n = 300000, len = 0;
  char *text = malloc(n * 16);
  assert_non_null(text);
  for (size_t i = 0; i < n; i++) len += (size_t)snprintf(text + len, 16, "k%zu\n", i % 1000);
  cs_trace t;
  assert_int_equal(load(write_zst("big.zst", text, len, 0), CS_FMT_KEYS, &t), 0);
  assert_int_equal(t.n, n);
  assert_int_equal(t.n_obj, 1000);
  for (size_t i = 0; i < n; i += 997) assert_int_equal(t.obj[i], i % 1000);
  cs_trace_free(&t);
  free(text);
}

/* ---- malformed input ------------------------------------------------------------ */

static void test_bad_text(void **state) {
  (void)state;
  const char *p = write_bytes("bad1.lis", "1 2 0 0\n3 x 0 0\n", 16);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 2", "'x'", NULL);
  p = write_bytes("bad2.lis", "1 2\n-3 1\n", 9);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 2", "'-3'", NULL);
  p = write_bytes("bad3.lis", "1 2\n\n4 1\n", 9);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 2", "empty", NULL);
  p = write_bytes("bad4.lis", "1 0\n", 4);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 1", "count", NULL);
  p = write_bytes("bad5.lis", "7\n", 2);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 1", "one field", NULL);
  p = write_bytes("bad6.lis", "18446744073709551615 2\n", 23);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 1", "overflow", NULL);
  p = write_bytes("bad7.lis", "99999999999999999999 1\n", 23);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 1", "start", NULL);
  p = write_bytes("bad1.txt", "a\nb 1\nc 1 2\n", 12);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 3", "too many fields", NULL);
  p = write_bytes("bad2.txt", "a\nb 0\n", 6);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 2", "'0'", NULL);
  p = write_bytes("bad3.txt", "a\nb 1.5\n", 8);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 2", "'1.5'", NULL);
  p = write_bytes("bad4.txt", "a\nb\0c\n", 6);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "line 2", "NUL", NULL);
}

static void test_bad_binary(void **state) {
  (void)state;
  unsigned char buf[24 * 5];
  size_t len = oracle_bytes(buf, or_id, or_size, or_next, 5);
  const char *p = write_bytes("short.oracleGeneral.bin", buf, 24 * 2 + 10);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "byte offset 48", "multiple of 24", NULL);
  p = write_zst("short.bin.zst", buf, 24 * 3 + 1, 0);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "byte offset 72", "multiple of 24", NULL);
  put_le(buf + 24 * 3 + 12, 0, 4); /* record 3: size 0 */
  p = write_bytes("zero.bin", buf, len);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "byte offset 72", "size 0", NULL);
  put_le(buf + 24 * 3 + 12, 100, 4);
  put_le(buf + 24 * 4 + 16, (uint64_t)-5, 8); /* record 4: next = -5 */
  p = write_bytes("neg.bin", buf, len);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "byte offset 112", "-5", NULL);
}

static void test_bad_zstd(void **state) {
  (void)state;
  const char *p = write_zst("cut.lis.zst", lis_text, strlen(lis_text), 3);
  expect_error(p, CS_FMT_AUTO, GSP_ECORRUPT, "truncated zstd", NULL);
  size_t cap = ZSTD_compressBound(sizeof lis_text) + 4;
  unsigned char *z = malloc(cap);
  assert_non_null(z);
  size_t n = ZSTD_compress(z, cap, lis_text, strlen(lis_text), 3);
  z[4] |= 0x08; /* a reserved bit of the frame header descriptor */
  p = write_bytes("bits.lis.zst", z, n);
  expect_error(p, CS_FMT_AUTO, GSP_ECORRUPT, "corrupt zstd", "offset", NULL);
  z[4] &= (unsigned char)~0x08;
  memcpy(z + n, "junk", 4); /* trailing garbage after a good frame */
  p = write_bytes("tail.lis.zst", z, n + 4);
  expect_error(p, CS_FMT_AUTO, GSP_ECORRUPT, "corrupt zstd", NULL);
  free(z);
  p = write_bytes("fake.lis.zst", "1 1\n", 4);
  expect_error(p, CS_FMT_AUTO, GSP_EFORMAT, "zstd magic", NULL);
}

static void test_empty_and_missing(void **state) {
  (void)state;
  expect_error(write_bytes("empty.lis", "", 0), CS_FMT_AUTO, GSP_EFORMAT, "empty trace", NULL);
  expect_error(write_zst("empty.txt.zst", "", 0, 0), CS_FMT_AUTO, GSP_EFORMAT, "empty trace", NULL);
  expect_error(path_of("no-such-file.lis"), CS_FMT_AUTO, GSP_EIO, "cannot open", NULL);
}

/* ---- allocation failures leak nothing --------------------------------------------- */

/* One load + Belady run of a trace file, as fault_each_allocation() calls it. */
static void load_and_run(void *path) {
  cs_trace t;
  int64_t *next = NULL;
  cs_next_source src;
  int64_t bad;
  uint64_t m;
  int rv = load(path, CS_FMT_AUTO, &t);
  if (rv == GSP_OK) rv = cs_belady_next(&t, &next, &src, &bad);
  if (rv == GSP_OK) rv = cs_belady_run(&t, next, 2, true, &m);
  if (rv != GSP_OK && strstr(g_err, "out of memory") == NULL && g_err[0] != '\0')
    fail_msg("failing allocation %ld: unexpected error '%s'", g_fail_at, g_err);
  gsp_free(next);
  cs_trace_free(&t);
  if (rv != GSP_OK) assert_int_equal(rv, GSP_ENOMEM);
  if (!g_failed) assert_int_equal(rv, GSP_OK); /* nothing failed: the run must succeed */
}

static void test_alloc_failures(void **state) {
  (void)state;
  unsigned char buf[24 * 5];
  const char *paths[3] = {
      write_bytes("fi.txt", keys_text, strlen(keys_text)),
      write_zst("fi.lis.zst", lis_text, strlen(lis_text), 0),
      write_bytes("fi.bin", buf, oracle_bytes(buf, or_id, or_size, or_next, 5))};
  for (int k = 0; k < 3; k++)
    assert_true(fault_each_allocation(load_and_run, (void *)paths[k]) > 0);
}

/* ---- Belady's MIN ------------------------------------------------------------------- */

/* A trace straight from object numbers (ids = numbers), for the simulator. */
static void make_trace(cs_trace *t, uint32_t *obj, uint32_t *size, size_t n, uint64_t *ids) {
  *t = (cs_trace){.n = n, .obj = obj, .size = size, .id = ids};
  for (size_t i = 0; i < n; i++) {
    if (obj[i] >= t->n_obj) t->n_obj = obj[i] + 1;
    ids[obj[i]] = obj[i];
  }
}

static uint64_t belady(const cs_trace *t, uint64_t cap, bool ignore_size) {
  int64_t *next;
  cs_next_source src;
  int64_t bad;
  uint64_t misses = 0;
  assert_int_equal(cs_belady_next(t, &next, &src, &bad), 0);
  assert_int_equal(cs_belady_run(t, next, cap, ignore_size, &misses), 0);
  gsp_free(next);
  return misses;
}

/* The fewest misses of any demand-paging schedule (exhaustive search). */
static uint64_t brute_min(const uint32_t *seq, size_t n, size_t i, uint32_t *cache, size_t used,
                          size_t cap) {
  if (i == n) return 0;
  for (size_t k = 0; k < used; k++)
    if (cache[k] == seq[i]) return brute_min(seq, n, i + 1, cache, used, cap);
  if (used < cap) {
    cache[used] = seq[i];
    return 1 + brute_min(seq, n, i + 1, cache, used + 1, cap);
  }
  uint64_t best = UINT64_MAX;
  for (size_t k = 0; k < used; k++) {
    uint32_t old = cache[k];
    cache[k] = seq[i];
    uint64_t m = brute_min(seq, n, i + 1, cache, used, cap);
    cache[k] = old;
    if (m < best) best = m;
  }
  return 1 + best;
}

static void test_belady_textbook(void **state) {
  (void)state;
  /* the classic reference string: OPT has 9, 7, 6 faults with 2, 3, 4 frames */
  uint32_t obj[] = {0, 1, 2, 3, 0, 1, 4, 0, 1, 2, 3, 4};
  uint32_t size[12];
  uint64_t ids[5];
  cs_trace t;
  for (int i = 0; i < 12; i++) size[i] = 1;
  make_trace(&t, obj, size, 12, ids);
  assert_int_equal(belady(&t, 1, true), 12);
  assert_int_equal(belady(&t, 2, true), 9);
  assert_int_equal(belady(&t, 3, true), 7);
  assert_int_equal(belady(&t, 4, true), 6);
  assert_int_equal(belady(&t, 5, true), 5);
  assert_int_equal(belady(&t, 100, false), 5);
}

static void test_belady_is_optimal(void **state) {
  (void)state;
  unsigned seed = 12345;
  for (int round = 0; round < 40; round++) {
    uint32_t obj[14], size[14], cache[4];
    uint64_t ids[6];
    cs_trace t;
    for (int i = 0; i < 14; i++) {
      seed = seed * 1103515245u + 12345u;
      obj[i] = (seed >> 16) % 6;
      size[i] = 1;
    }
    make_trace(&t, obj, size, 14, ids);
    for (size_t cap = 1; cap <= 4; cap++)
      assert_int_equal(belady(&t, cap, true), brute_min(obj, 14, 0, cache, 0, cap));
  }
}

static void test_belady_bytes(void **state) {
  (void)state;
  /* cap 10 bytes: A(6) B(4) C(3) A B D(11) A. C pushes out B (needed after
   * A), A hits; B pushes out C (never needed again); D can never fit; A hits */
  uint32_t obj[] = {0, 1, 2, 0, 1, 3, 0};
  uint32_t size[] = {6, 4, 3, 6, 4, 11, 6};
  uint64_t ids[4];
  cs_trace t;
  make_trace(&t, obj, size, 7, ids);
  assert_int_equal(belady(&t, 10, false), 5); /* A B C, B again, D */
  assert_int_equal(belady(&t, 10, true), 4);  /* counted as objects: A B C D */
}

static void test_next_from_oracle(void **state) {
  (void)state;
  unsigned char buf[24 * 5];
  int64_t next0[5], *next;
  cs_next_source src;
  int64_t bad;
  cs_trace t;
  const char *p = write_bytes("n1.bin", buf, oracle_bytes(buf, or_id, or_size, or_next, 5));
  assert_int_equal(load(p, CS_FMT_AUTO, &t), 0);
  assert_int_equal(cs_belady_next(&t, &next, &src, &bad), 0);
  assert_int_equal(src, CS_NEXT_ORACLE1);
  assert_true(next[0] == 2 && next[1] == 4 && next[2] == -1 && next[4] == -1);
  gsp_free(next);
  cs_trace_free(&t);
  for (int i = 0; i < 5; i++) next0[i] = or_next[i] < 0 ? -1 : or_next[i] - 1;
  p = write_bytes("n0.bin", buf, oracle_bytes(buf, or_id, or_size, next0, 5));
  assert_int_equal(load(p, CS_FMT_AUTO, &t), 0);
  assert_int_equal(cs_belady_next(&t, &next, &src, &bad), 0);
  assert_int_equal(src, CS_NEXT_ORACLE0);
  assert_true(next[0] == 2 && next[1] == 4);
  gsp_free(next);
  cs_trace_free(&t);
  next0[1] = -1; /* wrong: id 42 comes back at index 4 */
  p = write_bytes("nx.bin", buf, oracle_bytes(buf, or_id, or_size, next0, 5));
  assert_int_equal(load(p, CS_FMT_AUTO, &t), 0);
  assert_int_equal(cs_belady_next(&t, &next, &src, &bad), 0);
  assert_int_equal(src, CS_NEXT_RECOMPUTED);
  assert_int_equal(bad, 4);
  assert_true(next[0] == 2 && next[1] == 4 && next[3] == -1);
  gsp_free(next);
  cs_trace_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_lis),
      cmocka_unit_test(test_oracle),
      cmocka_unit_test(test_format_names),
      cmocka_unit_test(test_large_zst),
      cmocka_unit_test(test_bad_text),
      cmocka_unit_test(test_bad_binary),
      cmocka_unit_test(test_bad_zstd),
      cmocka_unit_test(test_empty_and_missing),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_belady_textbook),
      cmocka_unit_test(test_belady_is_optimal),
      cmocka_unit_test(test_belady_bytes),
      cmocka_unit_test(test_next_from_oracle),
  };
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
