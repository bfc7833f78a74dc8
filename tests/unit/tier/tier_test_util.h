/*
 * tier_test_util.h - helpers the tier tests share: scratch directories,
 * deterministic values that carry their own key (so a read can be checked
 * for damage or a mix-up), and a tier config builder.
 */
#ifndef GSP_TIER_TEST_UTIL_H
#define GSP_TIER_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gsperf/tier.h"

/* A fresh empty scratch directory name in buf ("/tmp/gsp-tier-XXXXXX"). */
static inline void scratch_dir(char *buf, size_t cap) {
  snprintf(buf, cap, "/tmp/gsp-tier-XXXXXX");
  if (mkdtemp(buf) == NULL) abort();
}

static inline void rm_dir(const char *dir) {
  char f[512];
  snprintf(f, sizeof f, "%s/data.mdb", dir);
  unlink(f);
  snprintf(f, sizeof f, "%s/lock.mdb", dir);
  unlink(f);
  rmdir(dir);
}

/* Value of key i, version v: "k<i>.v<v>:" then bytes derived from both,
 * n bytes in all; compressible when `text`, random-looking otherwise. */
static inline size_t make_value(char *buf, size_t n, unsigned i, unsigned v, int text) {
  int h = snprintf(buf, n, "k%u.v%u:", i, v);
  uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + v;
  for (size_t j = (size_t)h; j < n; j++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    buf[j] = text ? (char)('a' + (j / 16 + i) % 7) : (char)x;
  }
  return n;
}

/* Check a value read for key i: right prefix and the bytes of some version. */
/* "k<i>.v<v>:" of a value that need not end in a NUL (a borrowed view
 * ends where the mapped file may end): parsed from a bounded copy. */
static inline int value_head(const char *val, size_t n, unsigned *i, unsigned *v) {
  char head[32];
  size_t h = n < sizeof head - 1 ? n : sizeof head - 1;
  memcpy(head, val, h);
  head[h] = '\0';
  return sscanf(head, "k%u.v%u:", i, v) == 2;
}

static inline int value_ok(const char *val, size_t n, unsigned i, int text) {
  unsigned ki, v;
  if (n < 4 || !value_head(val, n, &ki, &v) || ki != i) return 0;
  char *want = malloc(n);
  make_value(want, n, i, v, text);
  int ok = memcmp(want, val, n) == 0;
  free(want);
  return ok;
}

static inline size_t key_of(char *buf, size_t cap, unsigned i) {
  return (size_t)snprintf(buf, cap, "key-%08u", i);
}

#endif
