/*
 * test_mem_concurrent.c - pools under several threads (run under TSan by
 * the concurrency label): producers allocate and hand objects to consumers
 * that free them (every free is cross-thread), threads that exit with
 * objects in their caches, a pool destroyed while threads that used it are
 * still alive and exit afterwards. Counts are exact after join: live, the
 * objects' contents, ctor = dtor at destroy, nothing leaked.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/mem.h"

#define RING 256u
#define PER_PRODUCER 50000u

/* A single-producer single-consumer ring of object pointers. */
typedef struct ring {
  void *slot[RING];
  _Atomic unsigned head, tail;
} ring;

static void ring_put(ring *r, void *p) {
  unsigned t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  while (t - atomic_load_explicit(&r->head, memory_order_acquire) == RING) sched_yield();
  r->slot[t % RING] = p;
  atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}

static void *ring_get(ring *r) {
  unsigned h = atomic_load_explicit(&r->head, memory_order_relaxed);
  while (atomic_load_explicit(&r->tail, memory_order_acquire) == h) sched_yield();
  void *p = r->slot[h % RING];
  atomic_store_explicit(&r->head, h + 1, memory_order_release);
  return p;
}

typedef struct pair {
  gsp_pool *pool;
  ring ring;
  unsigned id;
  unsigned bad;
} pair;

static void *producer(void *arg) {
  pair *pr = arg;
  for (unsigned i = 0; i < PER_PRODUCER; i++) {
    uint32_t *o = gsp_pool_alloc(pr->pool);
    assert_non_null(o);
    o[0] = pr->id;
    o[1] = i;
    ring_put(&pr->ring, o);
  }
  return NULL;
}

static void *consumer(void *arg) {
  pair *pr = arg;
  for (unsigned i = 0; i < PER_PRODUCER; i++) {
    uint32_t *o = ring_get(&pr->ring);
    if (o[0] != pr->id || o[1] != i) pr->bad++;
    gsp_pool_free(pr->pool, o);
  }
  return NULL;
}

static _Atomic int g_ctor, g_dtor;
static void cnt_ctor(void *obj, void *user) {
  (void)obj;
  (void)user;
  atomic_fetch_add(&g_ctor, 1);
}
static void cnt_dtor(void *obj, void *user) {
  (void)obj;
  (void)user;
  atomic_fetch_add(&g_dtor, 1);
}

static void test_producer_consumer(void **state) {
  (void)state;
  atomic_store(&g_ctor, 0);
  atomic_store(&g_dtor, 0);
  gsp_pool_stats fin;
  gsp_pool *p = NULL;
  gsp_pool_config cfg = {
      .obj_size = 64, .batch = 16, .ctor = cnt_ctor, .dtor = cnt_dtor, .final_stats = &fin};
  assert_int_equal(gsp_pool_create(&cfg, &p), GSP_OK);
  static pair pairs[2];
  pthread_t t[4];
  for (unsigned k = 0; k < 2; k++) {
    memset(&pairs[k], 0, sizeof pairs[k]);
    pairs[k].pool = p;
    pairs[k].id = k + 1;
    assert_int_equal(pthread_create(&t[(size_t)2 * k], NULL, producer, &pairs[k]), 0);
    assert_int_equal(pthread_create(&t[(size_t)2 * k + 1], NULL, consumer, &pairs[k]), 0);
  }
  for (unsigned i = 0; i < 4; i++) pthread_join(t[i], NULL);
  for (unsigned k = 0; k < 2; k++) assert_int_equal(pairs[k].bad, 0);
  gsp_pool_stats st;
  gsp_pool_stats_get(p, &st);
  assert_int_equal(st.live, 0);
  assert_true(st.flushes > 0);
  /* the working set stays small: objects are recycled, not carved anew */
  assert_true(st.peak < 2 * PER_PRODUCER / 10);
  gsp_pool_destroy(p);
  assert_int_equal(fin.leaked, 0);
  assert_int_equal(atomic_load(&g_ctor), atomic_load(&g_dtor));
}

typedef struct holder {
  gsp_pool *pool;
  unsigned keep; /* objects still allocated when the thread exits */
  void *kept[64];
} holder;

/* Allocate and free a lot (filling the thread cache), keep some, exit. */
static void *cache_and_exit(void *arg) {
  holder *h = arg;
  void *o[200];
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 200; i++) o[i] = gsp_pool_alloc(h->pool);
    for (int i = 0; i < 200; i++) gsp_pool_free(h->pool, o[i]);
  }
  for (unsigned i = 0; i < h->keep; i++) h->kept[i] = gsp_pool_alloc(h->pool);
  return NULL;
}

static void test_threads_exit_with_cache(void **state) {
  (void)state;
  gsp_pool_stats fin;
  gsp_pool *p = NULL;
  assert_int_equal(
      gsp_pool_create(&(gsp_pool_config){.obj_size = 40, .batch = 32, .final_stats = &fin}, &p),
      GSP_OK);
  holder h[4];
  pthread_t t[4];
  for (unsigned k = 0; k < 4; k++) {
    h[k] = (holder){.pool = p, .keep = 10 * k};
    assert_int_equal(pthread_create(&t[k], NULL, cache_and_exit, &h[k]), 0);
  }
  for (unsigned k = 0; k < 4; k++) pthread_join(t[k], NULL);
  gsp_pool_stats st;
  gsp_pool_stats_get(p, &st);
  assert_int_equal(st.live, 0 + 10 + 20 + 30);
  /* the exited threads' caches went back: this thread frees their objects */
  for (unsigned k = 0; k < 4; k++)
    for (unsigned i = 0; i < h[k].keep; i++) gsp_pool_free(p, h[k].kept[i]);
  gsp_pool_stats_get(p, &st);
  assert_int_equal(st.live, 0);
  assert_true(gsp_pool_trim(p) > 0); /* nothing is held by a thread cache */
  gsp_pool_destroy(p);
  assert_int_equal(fin.leaked, 0);
}

typedef struct late {
  gsp_pool *pool;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int used;  /* threads done with the pool */
  int phase; /* 2 = threads may exit */
} late;

static void *use_then_wait(void *arg) {
  late *l = arg;
  for (int i = 0; i < 500; i++) gsp_pool_free(l->pool, gsp_pool_alloc(l->pool));
  pthread_mutex_lock(&l->mu);
  l->used++;
  pthread_cond_broadcast(&l->cv);
  while (l->phase != 2) pthread_cond_wait(&l->cv, &l->mu);
  pthread_mutex_unlock(&l->mu);
  return NULL; /* exits holding an orphaned cache */
}

static void test_destroy_before_thread_exit(void **state) {
  (void)state;
  for (int rep = 0; rep < 20; rep++) {
    static late l;
    l.phase = 0;
    l.used = 0;
    pthread_mutex_init(&l.mu, NULL);
    pthread_cond_init(&l.cv, NULL);
    assert_int_equal(gsp_pool_create(&(gsp_pool_config){.obj_size = 32}, &l.pool), GSP_OK);
    pthread_t t[2];
    for (int k = 0; k < 2; k++) assert_int_equal(pthread_create(&t[k], NULL, use_then_wait, &l), 0);
    pthread_mutex_lock(&l.mu);
    while (l.used != 2) pthread_cond_wait(&l.cv, &l.mu);
    pthread_mutex_unlock(&l.mu);
    /* even reps: destroy while the threads hold caches, then let them exit;
       odd reps: let them exit while the destroy runs */
    if (rep % 2 == 0) gsp_pool_destroy(l.pool);
    pthread_mutex_lock(&l.mu);
    l.phase = 2;
    pthread_cond_broadcast(&l.cv);
    pthread_mutex_unlock(&l.mu);
    if (rep % 2 == 1) gsp_pool_destroy(l.pool);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    pthread_cond_destroy(&l.cv);
    pthread_mutex_destroy(&l.mu);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_producer_consumer),
      cmocka_unit_test(test_threads_exit_with_cache),
      cmocka_unit_test(test_destroy_before_thread_exit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
