/*
 * tier_behind.c - write-behind: puts are queued and written to L3 by one
 * writer thread of the tier, in large batches, off the callers' threads.
 *
 * Data. A queue of nodes (gsp__wbh_node: key and value copied in one
 * allocation), oldest first, and a hash index over the same nodes (1024
 * chains, newest first) so a get finds the newest queued value of a key
 * without scanning the queue. Both under wbh->mu. The writer's encode
 * arena and batch arrays are its own and reused from batch to batch: after
 * the first batches a write allocates nothing.
 *
 * The writer takes the nodes at the head of the queue (up to batch_bytes
 * of values, at least one), encodes them into the arena without the lock,
 * writes them to L3 in one put_batch (one LMDB transaction), and only then
 * unlinks and frees them: a queued value stays visible to gets until it is
 * in L3, so a put is never invisible in between. Puts append at the tail
 * meanwhile. Order: the queue is written in put order, so the newest value
 * of a key is written last.
 *
 * Waking the writer. A put that is not deferred signals it at once (it
 * writes whatever is queued). A deferred put (gsp_tier_put_opts.defer)
 * does not, until wake_bytes of values are queued (the smallest of the
 * batch size, half the queue bound and WAKE_MAX): a scan of many small puts then costs
 * one wake-up and one transaction per batch instead of one per few puts.
 * The writer works while the queue is not empty and any of these holds:
 * a queued put is not deferred (urgent > 0), wake_bytes are queued, a
 * drain is waiting (drainers), a put waits for room (blocked), or the
 * tier is stopping. So nothing deferred is left behind by a flush, a
 * delete or destroy, and back-pressure can never wait on a writer that
 * sleeps.
 *
 * Back-pressure: a put waits (cond room) while max_bytes of values are
 * queued; one value larger than the bound is accepted into an empty queue.
 * A drain waits for an empty queue. Lock order: stripe -> wbh->mu ->
 * errmu; the writer holds no tier lock while it writes L3.
 *
 * Failure: the first failed batch sets err (sticky, message via the L3's
 * own, which names the path); the writer then drops what is queued without
 * writing it and puts return err at once, so a full disk costs the run
 * nothing more and the store keeps every batch committed before it.
 */
#include <string.h>
#include <xxhash.h>

#include "tier_int.h"

#define MIB ((size_t)1024 * 1024)
/* Deferred puts wake the writer at this many queued bytes at most: large
 * enough for one transaction per ~100 small values, small enough that the
 * queue's nodes (allocated by the putting threads, freed by the writer)
 * do not hold much heap (a cold /usr/include run: peak RSS +4.6 MB with
 * 256 KiB, +8.6 MB with 1 MiB, against puts that wake it at once). */
#define WAKE_MAX ((size_t)256 * 1024)

static size_t bucket_of(uint64_t h) { return (size_t)(h & (GSP__WBH_BUCKETS - 1)); }

/* Unlink the oldest node (the writer's, under mu) from queue and index. */
static gsp__wbh_node *pop_head(gsp__wbh *w) {
  gsp__wbh_node *n = w->head;
  w->head = n->next;
  if (w->head == NULL) w->tail = NULL;
  gsp__wbh_node **pp = &w->bucket[bucket_of(n->hash)];
  while (*pp != n) pp = &(*pp)->hnext;
  *pp = n->hnext;
  w->n--;
  w->bytes -= n->vlen;
  if (!n->deferred) w->urgent--;
  return n;
}

static int grow_arrays(gsp__wbh *w, size_t need) {
  if (need <= w->cap) return GSP_OK;
  size_t nc = w->cap ? w->cap * 2 : 256;
  while (nc < need) nc *= 2;
  const void **k = gsp_realloc(w->keys, nc * sizeof *k);
  if (k) w->keys = k;
  const void **r = gsp_realloc(w->recs, nc * sizeof *r);
  if (r) w->recs = r;
  size_t *kl = gsp_realloc(w->klens, nc * sizeof *kl);
  if (kl) w->klens = kl;
  size_t *rl = gsp_realloc(w->rlens, nc * sizeof *rl);
  if (rl) w->rlens = rl;
  if (!k || !r || !kl || !rl) return GSP_ENOMEM;
  w->cap = nc;
  return GSP_OK;
}

/* Encode the first n nodes from `first` into the arena and write them. */
static int write_nodes(gsp_tier *t, gsp__wbh_node *first, size_t n) {
  gsp__wbh *w = t->wbh;
  /* p->next of the batch's last node is the tail's, which a put may set
   * meanwhile: never read it (i + 1 < n) */
  size_t need = 0;
  gsp__wbh_node *p = first;
  for (size_t i = 0; i < n; p = ++i < n ? p->next : p) need += GSP__REC_HDR + p->klen + p->vlen;
  if (grow_arrays(w, n) != GSP_OK) return GSP_ENOMEM;
  if (need > w->arena_cap) {
    uint8_t *a = gsp_realloc(w->arena, need);
    if (a == NULL) return GSP_ENOMEM;
    w->arena = a, w->arena_cap = need;
  }
  size_t off = 0;
  p = first;
  for (size_t i = 0; i < n; p = ++i < n ? p->next : p) {
    size_t rlen;
    int st = gsp__rec_encode_to(p->data, p->klen, p->data + p->klen, p->vlen, p->expire_ms,
                                t->cfg.l3_compress, w->arena + off, &rlen);
    if (st != GSP_OK) return st;
    w->keys[i] = p->data, w->klens[i] = p->klen;
    w->recs[i] = w->arena + off, w->rlens[i] = rlen;
    off += rlen;
  }
  uint64_t t0 = gsp_now_ns();
  int st = t->l3->ops->put_batch(t->l3, n, w->keys, w->klens, w->recs, w->rlens);
  gsp__tier_time(t, GSP_TIER_L3, 1, t0);
  return st;
}

static void note_failure(gsp_tier *t, int st, size_t n) {
  atomic_fetch_add(&t->ctr[GSP_TIER_L3].errors, 1);
  char m[512];
  gsp__l3_geterr(t->l3, m, sizeof m);
  gsp__tier_seterr(t, "write-behind of %zu entries: %s (%s); later puts are not stored", n,
                   m[0] ? m : "L3 write failed", gsp_strerror(st));
  gsp_log(GSP_LOG_WARN, "tier", "write-behind of %zu entries: %s (%s); later puts are not stored",
          n, m[0] ? m : "L3 write failed", gsp_strerror(st));
}

/* Take a batch (mu held): count the head nodes up to batch_bytes. */
static size_t batch_len(const gsp__wbh *w) {
  size_t n = 0, bytes = 0;
  for (const gsp__wbh_node *p = w->head; p && (n == 0 || bytes + p->vlen <= w->batch_bytes);
       p = p->next) {
    bytes += p->vlen;
    n++;
  }
  return n;
}

/* Whether the writer has work now (mu held; see the top comment). */
static bool due(const gsp__wbh *w) {
  if (w->head == NULL) return false;
  return w->urgent > 0 || w->bytes >= w->wake_bytes || w->drainers > 0 || w->blocked > 0 || w->stop;
}

static void *writer_main(void *arg) {
  gsp_tier *t = arg;
  gsp__wbh *w = t->wbh;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!due(w) && !(w->stop && w->head == NULL)) pthread_cond_wait(&w->work, &w->mu);
    if (w->head == NULL) break; /* stopping and nothing left */
    size_t n = batch_len(w);
    gsp__wbh_node *first = w->head;
    int failed = w->err;
    pthread_mutex_unlock(&w->mu);
    int st = failed ? failed : write_nodes(t, first, n);
    if (st != GSP_OK && !failed) note_failure(t, st, n);
    pthread_mutex_lock(&w->mu);
    if (st != GSP_OK && w->err == GSP_OK) w->err = st;
    gsp__wbh_node *done = NULL;
    for (size_t i = 0; i < n; i++) {
      gsp__wbh_node *x = pop_head(w);
      x->next = done;
      done = x;
    }
    pthread_cond_broadcast(&w->room);
    pthread_mutex_unlock(&w->mu);
    while (done) {
      gsp__wbh_node *x = done;
      done = x->next;
      gsp_free(x);
    }
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

int gsp__wbh_start(gsp_tier *t) {
  gsp__wbh *w = gsp_calloc(1, sizeof *w);
  if (w == NULL) return GSP_ENOMEM;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->work, NULL);
  pthread_cond_init(&w->room, NULL);
  w->max_bytes = t->cfg.wbh_queue_bytes ? t->cfg.wbh_queue_bytes : 8 * MIB;
  w->batch_bytes = t->cfg.wbh_batch_bytes ? t->cfg.wbh_batch_bytes : MIB;
  w->wake_bytes = w->batch_bytes < w->max_bytes / 2 ? w->batch_bytes : w->max_bytes / 2;
  if (w->wake_bytes > WAKE_MAX) w->wake_bytes = WAKE_MAX;
  if (w->wake_bytes == 0) w->wake_bytes = 1;
  t->wbh = w;
  if (pthread_create(&w->thread, NULL, writer_main, t) != 0) return GSP_ESYS;
  w->started = true;
  return GSP_OK;
}

void gsp__wbh_stop(gsp_tier *t) {
  gsp__wbh *w = t->wbh;
  if (w == NULL) return;
  if (w->started) {
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* it writes what is queued first */
  }
  while (w->head) gsp_free(pop_head(w));
  gsp_free(w->arena);
  gsp_free(w->keys);
  gsp_free(w->recs);
  gsp_free(w->klens);
  gsp_free(w->rlens);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->work);
  pthread_cond_destroy(&w->room);
  gsp_free(w);
  t->wbh = NULL;
}

int gsp__wbh_push(gsp_tier *t, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t expire_ms, bool defer) {
  gsp__wbh *w = t->wbh;
  gsp__wbh_node *n = gsp_malloc(sizeof *n + klen + vlen);
  if (n == NULL) return GSP_ENOMEM;
  *n = (gsp__wbh_node){.hash = XXH3_64bits(key, klen),
                       .expire_ms = expire_ms,
                       .klen = klen,
                       .vlen = vlen,
                       .deferred = defer};
  memcpy(n->data, key, klen);
  if (vlen) memcpy(n->data + klen, val, vlen);
  pthread_mutex_lock(&w->mu);
  while (w->err == GSP_OK && w->head != NULL && w->bytes + vlen > w->max_bytes) {
    w->blocked++;
    pthread_cond_signal(&w->work); /* a deferred queue must drain for room */
    pthread_cond_wait(&w->room, &w->mu);
    w->blocked--;
  }
  int st = w->err;
  if (st == GSP_OK) {
    if (w->tail) {
      w->tail->next = n;
    } else {
      w->head = n;
    }
    w->tail = n;
    size_t b = bucket_of(n->hash);
    n->hnext = w->bucket[b];
    w->bucket[b] = n;
    w->n++;
    w->bytes += vlen;
    if (!defer) w->urgent++;
    if (!defer || w->bytes >= w->wake_bytes) pthread_cond_signal(&w->work);
  }
  pthread_mutex_unlock(&w->mu);
  if (st != GSP_OK) gsp_free(n);
  return st;
}

int gsp__wbh_find(gsp_tier *t, const void *key, size_t klen, void **val, size_t *vlen,
                  uint64_t *expire_ms) {
  gsp__wbh *w = t->wbh;
  uint64_t h = XXH3_64bits(key, klen);
  int st = GSP_ENOENT;
  pthread_mutex_lock(&w->mu);
  for (gsp__wbh_node *p = w->bucket[bucket_of(h)]; p; p = p->hnext) {
    if (p->hash != h || p->klen != klen || memcmp(p->data, key, klen) != 0) continue;
    *val = NULL, *vlen = p->vlen, *expire_ms = p->expire_ms;
    st = GSP_OK;
    if (p->vlen && (*val = gsp_malloc(p->vlen + GSP__REC_SLACK)) == NULL) st = GSP_ENOMEM;
    if (*val) memcpy(*val, p->data + klen, p->vlen);
    break;
  }
  pthread_mutex_unlock(&w->mu);
  return st;
}

int gsp__wbh_drain(gsp_tier *t) {
  gsp__wbh *w = t->wbh;
  pthread_mutex_lock(&w->mu);
  w->drainers++;
  pthread_cond_signal(&w->work); /* deferred puts are due now */
  while (w->head != NULL) pthread_cond_wait(&w->room, &w->mu);
  w->drainers--;
  int st = w->err;
  pthread_mutex_unlock(&w->mu);
  return st;
}

size_t gsp__wbh_pending(gsp_tier *t) {
  gsp__wbh *w = t->wbh;
  pthread_mutex_lock(&w->mu);
  size_t n = w->n;
  pthread_mutex_unlock(&w->mu);
  return n;
}
