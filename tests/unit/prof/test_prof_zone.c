/*
 * test_prof_zone.c - zones through their common and rare paths: self time
 * down a chain of nested zones and across siblings, the first zone of a
 * new thread, the histogram slot an end leaves pending (counted by a
 * reader on another thread), ends that name another site, ends with no
 * open zone, a stack deeper than the timed depth, the scope macro on
 * every way out of a block.
 *
 * Durations come from nanosleep (wall time, as zones measure), and the
 * checks compare zones with each other, never with a clock: a loaded
 * machine stretches every zone, it does not reorder them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "gsperf/prof.h"

#define MS 1000000L
#define NS_SLACK 4 /* ns lost converting each of a few tick counts */

static void sleep_ns(long ns) {
  struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* One snapshot of every zone: the tick-to-ns ratio is taken once per
 * gsp_prof_zones_get, so zones compared with each other come from one. */
typedef struct snap {
  gsp_prof_zone_stats *z;
  size_t n;
} snap;

static snap take(void) {
  snap s = {NULL, 0};
  assert_int_equal(gsp_prof_zones_get(&s.z, &s.n), GSP_OK);
  return s;
}

static const gsp_prof_zone_stats *find(const snap *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->z[i].name, name) == 0) return &s->z[i];
  return NULL;
}

/* The stats of zone `name` (a copy; the test fails when it is missing). */
static gsp_prof_zone_stats zone_of(const snap *s, const char *name) {
  const gsp_prof_zone_stats *z = find(s, name);
  assert_non_null(z);
  return *z;
}

/* a > b > c, each sleeping 1 ms of its own: total = self + child's total
 * at every level (in ticks exactly; a few ns of rounding in ns). */
static void test_chain_self(void **state) {
  (void)state;
  static gsp_prof_zone_site a = {"z.chain_a", 0}, b = {"z.chain_b", 0}, c = {"z.chain_c", 0};
  for (int i = 0; i < 5; i++) {
    gsp_prof_zone_begin(&a);
    sleep_ns(MS);
    gsp_prof_zone_begin(&b);
    sleep_ns(MS);
    gsp_prof_zone_begin(&c);
    sleep_ns(MS);
    gsp_prof_zone_end(&c);
    gsp_prof_zone_end(&b);
    gsp_prof_zone_end(&a);
  }
  snap z = take();
  gsp_prof_zone_stats sa = zone_of(&z, "z.chain_a"), sb = zone_of(&z, "z.chain_b");
  gsp_prof_zone_stats sc = zone_of(&z, "z.chain_c");
  gsp_free(z.z);
  assert_int_equal(sa.count, 5);
  assert_int_equal(sb.count, 5);
  assert_int_equal(sc.count, 5);
  assert_true(sc.self_ns == sc.total_ns);
  assert_true(sb.self_ns + sc.total_ns <= sb.total_ns + NS_SLACK);
  assert_true(sb.self_ns + sc.total_ns + NS_SLACK >= sb.total_ns);
  assert_true(sa.self_ns + sb.total_ns <= sa.total_ns + NS_SLACK);
  assert_true(sa.self_ns + sb.total_ns + NS_SLACK >= sa.total_ns);
  assert_true(sa.self_ns >= 5 * MS && sb.self_ns >= 5 * MS && sc.self_ns >= 5 * MS);
  assert_int_equal(sa.mismatched + sb.mismatched + sc.mismatched, 0);
}

/* Siblings: a parent's self time excludes every child, its own time is
 * not charged to a zone that follows it at the same level. */
static void test_siblings_self(void **state) {
  (void)state;
  static gsp_prof_zone_site p = {"z.sib_parent", 0}, k = {"z.sib_kid", 0};
  static gsp_prof_zone_site next = {"z.sib_next", 0};
  gsp_prof_zone_begin(&p);
  for (int i = 0; i < 3; i++) {
    gsp_prof_zone_begin(&k);
    sleep_ns(MS);
    gsp_prof_zone_end(&k);
  }
  gsp_prof_zone_end(&p);
  gsp_prof_zone_begin(&next); /* at depth 0 again: the sentinel parent */
  gsp_prof_zone_end(&next);
  snap z = take();
  gsp_prof_zone_stats sp = zone_of(&z, "z.sib_parent"), sk = zone_of(&z, "z.sib_kid");
  gsp_prof_zone_stats sn = zone_of(&z, "z.sib_next");
  gsp_free(z.z);
  assert_int_equal(sk.count, 3);
  assert_true(sk.total_ns >= 3 * MS);
  assert_true(sp.self_ns + sk.total_ns <= sp.total_ns + NS_SLACK);
  assert_true(sp.self_ns + sk.total_ns + NS_SLACK >= sp.total_ns);
  assert_true(sp.self_ns < sk.total_ns);
  assert_int_equal(sn.count, 1);
  assert_true(sn.self_ns == sn.total_ns);
}

/* The zones of a thread that has ended: long, middle, then a short one
 * last, so the short one's histogram slot is still pending when the
 * thread exits. Read from here, p50 is the middle one's: a reader that
 * missed the pending slot would see two zones and answer the long one. */
static void *three_zones(void *arg) {
  static gsp_prof_zone_site s = {"z.pending", 0};
  (void)arg;
  gsp_prof_zone_begin(&s);
  sleep_ns(60 * MS);
  gsp_prof_zone_end(&s);
  gsp_prof_zone_begin(&s);
  sleep_ns(2 * MS);
  gsp_prof_zone_end(&s);
  gsp_prof_zone_begin(&s);
  gsp_prof_zone_end(&s);
  return NULL;
}

static void test_pending_slot(void **state) {
  (void)state;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, three_zones, NULL), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  snap z = take();
  gsp_prof_zone_stats s = zone_of(&z, "z.pending");
  gsp_free(z.z);
  assert_int_equal(s.count, 3);
  assert_true(s.max_ns >= 60 * MS);
  assert_true(s.p50_ns >= MS);      /* not the short zone */
  assert_true(s.p50_ns < 30 * MS);  /* not the long zone */
  assert_true(s.p99_ns >= 30 * MS); /* the long zone's bucket */
}

/* end(b) while a's zone is innermost: a's zone ends, counted as
 * mismatched; then nothing is open and the next end is ignored. The stack
 * stays right for the zones after. */
static void test_mismatch_paths(void **state) {
  (void)state;
  static gsp_prof_zone_site a = {"z.mis_a", 0}, b = {"z.mis_b", 0}, ok = {"z.mis_ok", 0};
  gsp_prof_zone_begin(&ok);
  gsp_prof_zone_end(&ok); /* the cell of ok exists: later ends take the common path */
  gsp_prof_zone_begin(&a);
  gsp_prof_zone_end(&b); /* a's cell is new here: the rare path counts it */
  gsp_prof_zone_begin(&a);
  gsp_prof_zone_end(&b); /* a's cell exists: the mismatch still goes the rare way */
  gsp_prof_zone_end(&b); /* nothing open: ignored */
  gsp_prof_zone_end(&a); /* still nothing open */
  snap z = take();
  gsp_prof_zone_stats sa = zone_of(&z, "z.mis_a");
  assert_null(find(&z, "z.mis_b"));
  gsp_free(z.z);
  assert_int_equal(sa.count, 2);
  assert_int_equal(sa.mismatched, 2);
  for (int i = 0; i < 10; i++) {
    gsp_prof_zone_begin(&ok);
    gsp_prof_zone_end(&ok);
  }
  z = take();
  gsp_prof_zone_stats so = zone_of(&z, "z.mis_ok");
  gsp_free(z.z);
  assert_int_equal(so.count, 11);
  assert_int_equal(so.mismatched, 0);
}

/* 200 nested begins of one site: the first 128 are timed, the deeper ones
 * only counted in the depth, and 200 ends bring the stack back to empty. */
static void test_deep_stack(void **state) {
  (void)state;
  static gsp_prof_zone_site d = {"z.deep", 0}, after = {"z.deep_after", 0};
  for (int i = 0; i < 200; i++) gsp_prof_zone_begin(&d);
  for (int i = 0; i < 200; i++) gsp_prof_zone_end(&d);
  snap z = take();
  gsp_prof_zone_stats sd = zone_of(&z, "z.deep");
  gsp_free(z.z);
  assert_int_equal(sd.count, 128);
  assert_int_equal(sd.mismatched, 0);
  gsp_prof_zone_begin(&after);
  gsp_prof_zone_end(&after);
  gsp_prof_zone_end(&after); /* the stack is empty again: ignored */
  z = take();
  gsp_prof_zone_stats sa = zone_of(&z, "z.deep_after");
  gsp_free(z.z);
  assert_int_equal(sa.count, 1);
  assert_int_equal(sa.mismatched, 0);
}

static int scoped_work(int x) {
  GSP_PROF_SCOPE("z.scope_outer");
  if (x == 0) return 0; /* leaves through return */
  for (int i = 0; i < x; i++) {
    GSP_PROF_SCOPE("z.scope_loop");
    if (i == 1) continue; /* leaves the loop body early */
    if (i == 3) break;    /* leaves the loop */
  }
  return x;
}

/* The scope macro ends its zone on every way out of a block, nested
 * scopes end in order (no mismatch). */
static void test_scope_exits(void **state) {
  (void)state;
  for (int x = 0; x < 6; x++) scoped_work(x);
  snap z = take();
  gsp_prof_zone_stats so = zone_of(&z, "z.scope_outer"), sl = zone_of(&z, "z.scope_loop");
  gsp_free(z.z);
  assert_int_equal(so.count, 6);
  /* x = 1..5 run min(x, 4) loop bodies: 1 + 2 + 3 + 4 + 4 */
  assert_int_equal(sl.count, 14);
  assert_int_equal(so.mismatched + sl.mismatched, 0);
  assert_true(so.self_ns + sl.total_ns <= so.total_ns + NS_SLACK);
}

/* More sites than the process can name (4095): the ones without a name
 * are timed but not reported, and the zones around them stay right. Runs
 * last: after it, no new site gets a name in this process. */
#define MANY 4200
static void test_sites_exhausted(void **state) {
  (void)state;
  static gsp_prof_zone_site many[MANY];
  static char names[MANY][16];
  static gsp_prof_zone_site outer = {"z.around_unnamed", 0};
  gsp_prof_zone_begin(&outer); /* named before the names run out */
  gsp_prof_zone_end(&outer);
  for (int i = 0; i < MANY; i++) {
    snprintf(names[i], sizeof names[i], "z.many%d", i);
    many[i].name = names[i];
    gsp_prof_zone_begin(&many[i]);
    gsp_prof_zone_end(&many[i]);
  }
  snap before = take();
  assert_true(before.n > 1000 && before.n < 4096);
  assert_null(find(&before, "z.many4199"));
  gsp_prof_zone_begin(&outer);
  gsp_prof_zone_begin(&many[MANY - 1]); /* unnamed, nested */
  sleep_ns(MS);
  gsp_prof_zone_end(&many[MANY - 1]);
  gsp_prof_zone_end(&outer);
  snap after = take();
  assert_int_equal(after.n, before.n);
  gsp_prof_zone_stats o = zone_of(&after, "z.around_unnamed");
  assert_int_equal(o.count, 2);
  assert_int_equal(o.mismatched, 0);
  assert_true(o.total_ns >= MS && o.self_ns < MS); /* the unnamed zone is not its own */
  for (size_t i = 0; i < after.n; i++) {           /* the unnamed zone touched no other */
    if (strcmp(after.z[i].name, "z.around_unnamed") == 0) continue;
    assert_int_equal(after.z[i].count, zone_of(&before, after.z[i].name).count);
  }
  gsp_free(before.z);
  gsp_free(after.z);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chain_self),      cmocka_unit_test(test_siblings_self),
      cmocka_unit_test(test_pending_slot),    cmocka_unit_test(test_mismatch_paths),
      cmocka_unit_test(test_deep_stack),      cmocka_unit_test(test_scope_exits),
      cmocka_unit_test(test_sites_exhausted), /* last: it uses up the site names */
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
