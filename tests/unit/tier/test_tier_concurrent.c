/*
 * test_tier_concurrent.c - the tier under threads and processes.
 *
 * Read-your-writes under churn: each thread owns a range of keys and, after
 * every put, reads its key back through a hierarchy small enough that
 * entries move between levels all the time, while the other threads put,
 * read and delete shared keys; a thread must always read its latest
 * version (a stale promotion or demotion would show an older one), and
 * every read of a shared key must be intact. Run in write-through and
 * write-back. Single-flight: many threads get-or-compute the same keys;
 * each key is computed once. Processes: several children write their own
 * ranges into one L3 directory at once; the parent then finds all of them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/wait.h>

#include "tier_scratch.h"

#define THREADS 4
#define OWN 40
#define SHARED 64
#define ROUNDS 600

typedef struct worker {
  gsp_tier *t;
  unsigned id;
  _Atomic int *bad;
} worker;

static unsigned version_of(const char *v) {
  unsigned i, ver;
  return sscanf(v, "k%u.v%u:", &i, &ver) == 2 ? ver : 0;
}

static void *churn(void *arg) {
  worker *w = arg;
  char k[32], val[600];
  uint64_t x = 88172645463325252ull + w->id;
  for (unsigned r = 1; r <= ROUNDS; r++) {
    unsigned own = 1000 + w->id * OWN + r % OWN;
    size_t n = make_value(val, 200 + (r * 37) % 400, own, r, 1);
    size_t kl = key_of(k, sizeof k, own);
    if (gsp_tier_put(w->t, k, kl, val, n, NULL) != GSP_OK) atomic_fetch_add(w->bad, 1);
    void *got;
    size_t gl;
    if (gsp_tier_get(w->t, k, kl, &got, &gl) != GSP_OK || !value_ok(got, gl, own, 1) ||
        version_of(got) != r)
      atomic_fetch_add(w->bad, 1);
    gsp_free(got);
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    unsigned sh = (unsigned)(x % SHARED);
    kl = key_of(k, sizeof k, sh);
    if (x % 7 == 0) {
      gsp_tier_delete(w->t, k, kl);
    } else if (x % 3 == 0) {
      n = make_value(val, 100 + x % 300, sh, w->id * 100000 + r, 1);
      gsp_tier_put(w->t, k, kl, val, n, NULL);
    } else if (x % 2 == 0) {
      gsp_tier_view v; /* borrowed: must stay intact while others write */
      if (gsp_tier_get_view(w->t, k, kl, &v) == GSP_OK) {
        if (!value_ok(v.data, v.len, sh, 1)) atomic_fetch_add(w->bad, 1);
        gsp_tier_view_release(&v);
      }
    } else if (gsp_tier_get(w->t, k, kl, &got, &gl) == GSP_OK) {
      if (!value_ok(got, gl, sh, 1)) atomic_fetch_add(w->bad, 1);
      gsp_free(got);
    }
  }
  return NULL;
}

static void run_churn(gsp_tier_write_mode mode) {
  gsp_tier *t = NULL;
  gsp_tier_config c = {.l1_max_entries = 24,
                       .l2_max_bytes = 8 * 1024,
                       .l3 = g_uri,
                       .write_mode = mode,
                       .wb_batch = 16,
                       .durability = GSP_TIER_NONE};
  char err[256];
  assert_int_equal(gsp_tier_create(&c, &t, err, sizeof err), GSP_OK);
  _Atomic int bad = 0;
  pthread_t th[THREADS];
  worker w[THREADS];
  for (unsigned i = 0; i < THREADS; i++) {
    w[i] = (worker){t, i, &bad};
    pthread_create(&th[i], NULL, churn, &w[i]);
  }
  for (unsigned i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  assert_int_equal(atomic_load(&bad), 0);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_true(s.level[1].demotions > 0);
  assert_true(s.level[1].hits + s.level[2].hits > 0);
  gsp_tier_destroy(t);
  /* and the newest version of every owned key is in L3 */
  assert_int_equal(gsp_tier_create(&(gsp_tier_config){.l3 = g_uri}, &t, err, sizeof err), GSP_OK);
  for (unsigned id = 0; id < THREADS; id++)
    for (unsigned j = 0; j < OWN; j++) {
      char k[32];
      unsigned own = 1000 + id * OWN + j;
      void *got;
      size_t gl;
      assert_int_equal(gsp_tier_get(t, k, key_of(k, sizeof k, own), &got, &gl), GSP_OK);
      assert_true(value_ok(got, gl, own, 1));
      unsigned last = ROUNDS - (ROUNDS % OWN + OWN - j) % OWN;
      assert_int_equal(version_of(got), last);
      gsp_free(got);
    }
  gsp_tier_destroy(t);
}

static void test_churn_write_through(void **st) {
  (void)st;
  run_churn(GSP_TIER_WRITE_THROUGH);
}

static void test_churn_write_back(void **st) {
  (void)st;
  run_churn(GSP_TIER_WRITE_BACK);
}

static _Atomic int g_computes;

static int slow_compute(void *user, const void *key, size_t klen, void **val, size_t *vlen) {
  (void)user;
  (void)klen;
  atomic_fetch_add(&g_computes, 1);
  usleep(2000); /* widen the window for the others to arrive */
  unsigned i;
  if (sscanf(key, "key-%u", &i) != 1) return GSP_EINVAL;
  *val = gsp_malloc(300);
  if (*val == NULL) return GSP_ENOMEM;
  *vlen = make_value(*val, 300, i, 7, 1);
  return GSP_OK;
}

typedef struct flyer {
  gsp_tier *t;
  _Atomic int *bad;
} flyer;

static void *fly(void *arg) {
  flyer *f = arg;
  for (unsigned i = 0; i < 30; i++) {
    char k[32];
    void *v;
    size_t n;
    int rv =
        gsp_tier_get_or_compute(f->t, k, key_of(k, sizeof k, i), slow_compute, NULL, NULL, &v, &n);
    if (rv != GSP_OK || !value_ok(v, n, i, 1)) atomic_fetch_add(f->bad, 1);
    gsp_free(v);
  }
  return NULL;
}

static void test_single_flight(void **st) {
  (void)st;
  gsp_tier *t = NULL;
  gsp_tier_config c = {.l3 = g_uri, .durability = GSP_TIER_NONE};
  assert_int_equal(gsp_tier_create(&c, &t, NULL, 0), GSP_OK);
  _Atomic int bad = 0;
  atomic_store(&g_computes, 0);
  pthread_t th[6];
  flyer f = {t, &bad};
  for (int i = 0; i < 6; i++) pthread_create(&th[i], NULL, fly, &f);
  for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
  assert_int_equal(atomic_load(&bad), 0);
  assert_int_equal(atomic_load(&g_computes), 30);
  gsp_tier_destroy(t);
}

static void child_writes(unsigned id) {
  gsp_tier *t = NULL;
  gsp_tier_config c = {.l3 = g_uri, .durability = GSP_TIER_NONE};
  if (gsp_tier_create(&c, &t, NULL, 0) != GSP_OK) _exit(2);
  char k[32], v[800];
  for (unsigned i = 0; i < 300; i++) {
    unsigned key = id * 1000 + i;
    size_t n = make_value(v, 200 + i, key, 1, 1);
    if (gsp_tier_put(t, k, key_of(k, sizeof k, key), v, n, NULL) != GSP_OK) _exit(3);
    void *got;
    size_t gl;
    if (gsp_tier_get(t, k, key_of(k, sizeof k, (id + 1) % 3 * 1000 + i), &got, &gl) == GSP_OK) {
      if (!value_ok(got, gl, (id + 1) % 3 * 1000 + i, 1)) _exit(4);
      gsp_free(got);
    }
  }
  gsp_tier_destroy(t);
  _exit(0);
}

static void test_processes(void **st) {
  (void)st;
  pid_t pids[3];
  for (unsigned id = 0; id < 3; id++) {
    pids[id] = fork();
    assert_true(pids[id] >= 0);
    if (pids[id] == 0) child_writes(id);
  }
  for (unsigned id = 0; id < 3; id++) {
    int status;
    assert_int_equal(waitpid(pids[id], &status, 0), pids[id]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  gsp_tier *t = NULL;
  assert_int_equal(gsp_tier_create(&(gsp_tier_config){.l3 = g_uri}, &t, NULL, 0), GSP_OK);
  for (unsigned id = 0; id < 3; id++)
    for (unsigned i = 0; i < 300; i++) {
      char k[32];
      void *got;
      size_t gl;
      assert_int_equal(gsp_tier_get(t, k, key_of(k, sizeof k, id * 1000 + i), &got, &gl), GSP_OK);
      assert_true(value_ok(got, gl, id * 1000 + i, 1));
      gsp_free(got);
    }
  uint64_t good, bad;
  assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
  assert_int_equal(good, 900);
  assert_int_equal(bad, 0);
  gsp_tier_destroy(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_churn_write_through, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_churn_write_back, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_single_flight, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_processes, tier_setup, tier_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
