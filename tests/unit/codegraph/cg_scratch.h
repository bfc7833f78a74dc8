/*
 * cg_scratch.h - a scratch directory for the code-graph tests that run
 * over a tree and a cache directory of their own (stat index, include
 * memo, learned macros, network mounts, cache upkeep): DIR =
 * /tmp/<prefix>XXXXXX holding tree/ (a copy of a fixture, or empty) and
 * the path cache/ (not created); the result store in that cache
 * directory; reading a file whole; comparing two files byte for byte.
 * Include after cmocka.h.
 */
#ifndef GSP_TEST_CG_SCRATCH_H
#define GSP_TEST_CG_SCRATCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gsperf/tier.h"

typedef struct cg_scratch {
  char dir[64], tree[96], cache[96];
} cg_scratch;

/* Past the file system's timestamp granularity and the stat index's racy
 * margin, so what was just written is not racy. */
static inline void cg_settle(void) { usleep(250 * 1000); }

/* DIR with tree = a copy of from (NULL: an empty directory). */
static inline void cg_scratch_make(cg_scratch *s, const char *prefix, const char *from) {
  snprintf(s->dir, sizeof s->dir, "/tmp/%sXXXXXX", prefix);
  assert_non_null(mkdtemp(s->dir));
  snprintf(s->tree, sizeof s->tree, "%s/tree", s->dir);
  snprintf(s->cache, sizeof s->cache, "%s/cache", s->dir);
  if (from == NULL) {
    assert_int_equal(mkdir(s->tree, 0755), 0);
    return;
  }
  char cmd[1024];
  assert_true(strlen(from) < 512);
  snprintf(cmd, sizeof cmd, "cp -R '%s' '%s'", from, s->tree);
  assert_int_equal(system(cmd), 0);
}

/* Remove DIR, also where a test made parts of it read-only. */
static inline void cg_scratch_drop(const cg_scratch *s) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", s->dir, s->dir);
  assert_int_equal(system(cmd), 0);
}

/* The whole file at path (malloc'd, NUL-terminated), its length in *len. */
static inline char *cg_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return b;
}

/* The result store a run of these tests goes through: L3 (LMDB) in the
 * cache directory, no fsync; NULL when store is false. */
static inline gsp_tier *cg_scratch_store(const char *cache, bool store) {
  if (!store) return NULL;
  char uri[4200], err[512] = "";
  snprintf(uri, sizeof uri, "lmdb:%s", cache);
  gsp_tier_config tc = {.l3 = uri, .durability = GSP_TIER_NONE};
  gsp_tier *t = NULL;
  assert_int_equal(gsp_tier_create(&tc, &t, err, sizeof err), GSP_OK);
  return t;
}

static inline void cg_assert_same_file(const char *a, const char *b) {
  size_t la = 0, lb = 0;
  char *da = cg_slurp(a, &la), *db = cg_slurp(b, &lb);
  assert_int_equal(la, lb);
  assert_memory_equal(da, db, la);
  free(da), free(db);
}

#endif
