/*
 * test_tier_clear.c - gsp_tier_clear racing with puts, gets (promotions)
 * and demotions, and what tier.h promises about it: a put that returned
 * before a clear began is gone; a put that began after the last clear
 * returned is there; any other put is either wholly gone or wholly there,
 * in every level a put puts it in. The last part is checked by reopening
 * the L3 directory: a key the tier shows must still be there in a fresh
 * tier over the same L3, and a key it does not show must not be.
 *
 * Writers put unique keys (never one twice), a reader gets random keys
 * already put (promotions from L2 and L3 into a small L1, which demote
 * others), a clearer clears many times, spread over the writers' progress.
 * Run in write-through, write-back and write-behind, a few races each. (With the
 * fences taken out of the tier, about one race in ten fails here.)
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "tier_scratch.h"

#define WRITERS 3
#define PUTS 3000 /* per writer */
#define TAIL 40   /* puts a writer makes after the last clear */
#define CLEARS 120
#define VLEN 200
#define ROUNDS 3 /* races per mode */

typedef struct put_rec {
  unsigned finished_before; /* clears finished when the put began */
  unsigned started_after;   /* clears started when it had returned */
} put_rec;

typedef struct race {
  gsp_tier *t;
  _Atomic unsigned progress[WRITERS];
  _Atomic unsigned started, finished;
  _Atomic int writers_done;
  put_rec rec[WRITERS][PUTS];
} race;

typedef struct writer_arg {
  race *r;
  unsigned w;
} writer_arg;

static unsigned key_id(unsigned w, unsigned i) { return w * 100000u + i; }

static void *writer(void *arg) {
  writer_arg *a = arg;
  race *r = a->r;
  char k[32], v[VLEN];
  for (unsigned i = 0; i < PUTS; i++) {
    while (i == PUTS - TAIL && atomic_load(&r->finished) < CLEARS) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
    unsigned id = key_id(a->w, i);
    int kl = snprintf(k, sizeof k, "c%u", id);
    make_value(v, sizeof v, id, 1, 0);
    r->rec[a->w][i].finished_before = atomic_load(&r->finished);
    if (gsp_tier_put(r->t, k, (size_t)kl, v, sizeof v, NULL) != GSP_OK) abort();
    r->rec[a->w][i].started_after = atomic_load(&r->started);
    atomic_store(&r->progress[a->w], i + 1);
  }
  atomic_fetch_add(&r->writers_done, 1);
  return NULL;
}

static unsigned total_progress(race *r) {
  unsigned n = 0;
  for (unsigned w = 0; w < WRITERS; w++) n += atomic_load(&r->progress[w]);
  return n;
}

static void *reader(void *arg) {
  race *r = arg;
  uint64_t x = 0x243F6A8885A308D3ull;
  char k[32];
  while (atomic_load(&r->writers_done) < WRITERS) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    unsigned w = (unsigned)(x % WRITERS), p = atomic_load(&r->progress[w]);
    if (p == 0) continue;
    unsigned id = key_id(w, (unsigned)(x >> 8) % p);
    int kl = snprintf(k, sizeof k, "c%u", id);
    void *v = NULL;
    size_t n = 0;
    int st = gsp_tier_get(r->t, k, (size_t)kl, &v, &n);
    if (st == GSP_OK && !value_ok(v, n, id, 0)) abort();
    if (st != GSP_OK && st != GSP_ENOENT) abort();
    gsp_free(v);
  }
  return NULL;
}

/* Clear number c once the writers are c+1 steps of CLEARS+2 along, so the
 * clears spread over the run; the writers' last TAIL puts wait for the
 * last clear. */
static void *clearer(void *arg) {
  race *r = arg;
  for (unsigned c = 0; c < CLEARS; c++) {
    while (total_progress(r) < (c + 1) * (WRITERS * (PUTS - TAIL) / (CLEARS + 1))) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&r->started, 1);
    if (gsp_tier_clear(r->t) != GSP_OK) abort();
    atomic_fetch_add(&r->finished, 1);
  }
  return NULL;
}

static gsp_tier_config config(gsp_tier_write_mode mode) {
  return (gsp_tier_config){.l1_max_entries = 48,
                           .l2_max_bytes = 16 * 1024,
                           .l3 = g_uri,
                           .write_mode = mode,
                           .wb_batch = 16,
                           .durability = GSP_TIER_NONE};
}

static bool shown(gsp_tier *t, unsigned id) {
  char k[32];
  int kl = snprintf(k, sizeof k, "c%u", id);
  void *v = NULL;
  size_t n = 0;
  int st = gsp_tier_get(t, k, (size_t)kl, &v, &n);
  assert_true(st == GSP_OK || st == GSP_ENOENT);
  if (st == GSP_OK) assert_true(value_ok(v, n, id, 0));
  gsp_free(v);
  return st == GSP_OK;
}

/* Every key against the rules; *seen[w][i] what the tier showed. */
static void check_rules(race *r, bool seen[WRITERS][PUTS], unsigned *kept) {
  *kept = 0;
  for (unsigned w = 0; w < WRITERS; w++) {
    for (unsigned i = 0; i < PUTS; i++) {
      const put_rec *p = &r->rec[w][i];
      seen[w][i] = shown(r->t, key_id(w, i));
      if (p->started_after < CLEARS) assert_false(seen[w][i]);   /* a clear came after */
      if (p->finished_before == CLEARS) assert_true(seen[w][i]); /* after every clear */
      *kept += seen[w][i];
    }
  }
}

static void run_race(gsp_tier_write_mode mode) {
  tier_setup(NULL);
  gsp_tier_config cfg = config(mode);
  race *r = calloc(1, sizeof *r);
  assert_non_null(r);
  assert_int_equal(gsp_tier_create(&cfg, &r->t, NULL, 0), GSP_OK);
  pthread_t tw[WRITERS], tr, tc;
  writer_arg wa[WRITERS];
  for (unsigned w = 0; w < WRITERS; w++) {
    wa[w] = (writer_arg){r, w};
    assert_int_equal(pthread_create(&tw[w], NULL, writer, &wa[w]), 0);
  }
  assert_int_equal(pthread_create(&tr, NULL, reader, r), 0);
  assert_int_equal(pthread_create(&tc, NULL, clearer, r), 0);
  for (unsigned w = 0; w < WRITERS; w++) pthread_join(tw[w], NULL);
  pthread_join(tr, NULL);
  pthread_join(tc, NULL);
  assert_int_equal(atomic_load(&r->finished), CLEARS);

  static bool seen[WRITERS][PUTS];
  unsigned kept;
  check_rules(r, seen, &kept);
  assert_true(kept > 0 && kept < WRITERS * PUTS);
  assert_int_equal(gsp_tier_flush(r->t), GSP_OK);
  gsp_tier_destroy(r->t);

  /* The same L3 in a fresh tier: exactly the keys the old one showed. */
  assert_int_equal(gsp_tier_create(&cfg, &r->t, NULL, 0), GSP_OK);
  unsigned differ = 0;
  for (unsigned w = 0; w < WRITERS; w++)
    for (unsigned i = 0; i < PUTS; i++) differ += shown(r->t, key_id(w, i)) != seen[w][i];
  assert_int_equal(differ, 0);
  gsp_tier_destroy(r->t);
  free(r);
  tier_teardown(NULL);
}

static void test_clear_race_write_through(void **st) {
  (void)st;
  for (int i = 0; i < ROUNDS; i++) run_race(GSP_TIER_WRITE_THROUGH);
}

static void test_clear_race_write_back(void **st) {
  (void)st;
  for (int i = 0; i < ROUNDS; i++) run_race(GSP_TIER_WRITE_BACK);
}

static void test_clear_race_write_behind(void **st) {
  (void)st;
  for (int i = 0; i < ROUNDS; i++) run_race(GSP_TIER_WRITE_BEHIND);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clear_race_write_through),
      cmocka_unit_test(test_clear_race_write_back),
      cmocka_unit_test(test_clear_race_write_behind),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
