/*
 * balance.c - the balancer's life, its reader-writer scheme, and the
 * backend set (add, remove, reweight, enable, find, statistics).
 *
 * Data layout. Backends live in `slots`, an array of pointers indexed by
 * slot number; a removed backend leaves a NULL that the next add reuses.
 * A ticket holds its backend's address, so a release needs no lookup and
 * no lock. A removed backend therefore lives on while tickets are out:
 * removal sets its `removed` flag and links it into the `grave` list. A
 * sweep (under wmu: after every removal, and on every release of a removed
 * backend's ticket) frees the grave's backends whose summed `active` is 0;
 * destroy frees what is left. Why a sum read shard by shard is safe: after
 * the removal no pick can reach the backend, and every pick before it
 * happened before the remover's writer section, so each shard can only
 * go down from the value the sweep reads; a sum of 0 therefore means every
 * release's last store to the backend (the decrement, a release store) has
 * been read with acquire, and nothing touches the backend afterwards. Ids
 * are never reused. The view (view.c) is what
 * picks read: the live backends' slots plus each strategy's table. Its per-slot arrays share the
 * slots' capacity `cap`, grown before a backend is added, so a rebuild allocates nothing except a
 * longer WRR schedule.
 *
 * Reader-writer scheme and thread shards (see balance_int.h). A pick
 * stores to a counter line of its own thread's shard and, with
 * membarrier, has no lock-prefixed operation at all on the reader side;
 * a writer pays one membarrier system call (a few microseconds) on top of
 * waiting for picks in flight. Writers are rare (backend changes, health
 * transitions).
 *
 * Invariants (writer side): count = non-NULL slots below nslots; every
 * backend's slot field is its index; the view reflects the current states,
 * weights and enabled flags (rebuilt before the writer side is left).
 */
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <xxhash.h>

#include "balance_int.h"

static void blocks_free(gsp_balancer *b);

/* ---- thread shards --------------------------------------------------------- */

__thread unsigned gsp__bal_tl_shard;
atomic_uint gsp__bal_shards_hw;
static atomic_uint g_shard_mask; /* bit i: shard i owned (i < SHARDS - 1) */
static pthread_key_t g_shard_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_asym; /* membarrier(PRIVATE_EXPEDITED) registered */

static char g_shard_tag[GSP__BAL_SHARDS]; /* thread-specific value: &tag[shard] */

static void shard_give_back(void *v) {
  unsigned s = (unsigned)((char *)v - g_shard_tag);
  if (s < GSP__BAL_SHARDS - 1)
    atomic_fetch_and_explicit(&g_shard_mask, ~(1u << s), memory_order_release);
}

static void once_init(void) {
  (void)pthread_key_create(&g_shard_key, shard_give_back);
  g_asym = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

unsigned gsp__bal_shard_claim(void) {
  pthread_once(&g_once, once_init);
  unsigned s = GSP__BAL_SHARDS - 1, m = atomic_load_explicit(&g_shard_mask, memory_order_relaxed);
  for (;;) {
    unsigned free_bits = ~m & ((1u << (GSP__BAL_SHARDS - 1)) - 1);
    if (free_bits == 0) break;
    unsigned i = (unsigned)__builtin_ctz(free_bits);
    if (atomic_compare_exchange_weak_explicit(&g_shard_mask, &m, m | (1u << i),
                                              memory_order_acquire, memory_order_relaxed)) {
      s = i;
      break;
    }
  }
  unsigned hw = atomic_load_explicit(&gsp__bal_shards_hw, memory_order_relaxed);
  while (hw < s + 1 &&
         !atomic_compare_exchange_weak_explicit(&gsp__bal_shards_hw, &hw, s + 1,
                                                memory_order_relaxed, memory_order_relaxed)) {
  }
  if (s < GSP__BAL_SHARDS - 1) (void)pthread_setspecific(g_shard_key, &g_shard_tag[s]);
  gsp__bal_tl_shard = s + 1;
  return s;
}

/* ---- reader-writer scheme --------------------------------------------------- */

void gsp__bal_rd_lock(gsp_balancer *b) {
  unsigned s = gsp__bal_shard_id();
  atomic_uint_fast64_t *n = &b->rs[s].n;
  for (;;) {
    if (g_asym && s < GSP__BAL_SHARDS - 1) {
      gsp__bal_ctr_add(n, s, 1);
      atomic_signal_fence(memory_order_seq_cst); /* the writer's membarrier is the other half */
    } else {
      atomic_fetch_add_explicit(n, 1, memory_order_seq_cst);
    }
    if (atomic_load_explicit(&b->writer, memory_order_seq_cst) == 0) return;
    atomic_fetch_sub_explicit(n, 1, memory_order_release);
    pthread_mutex_lock(&b->wmu); /* sleep until the writer is done */
    pthread_mutex_unlock(&b->wmu);
  }
}

void gsp__bal_rd_unlock(gsp_balancer *b) {
  unsigned s = gsp__bal_shard_id();
  atomic_uint_fast64_t *n = &b->rs[s].n;
  if (s < GSP__BAL_SHARDS - 1)
    atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) - 1,
                          memory_order_release);
  else
    atomic_fetch_sub_explicit(n, 1, memory_order_release);
}

void gsp__bal_wr_lock(gsp_balancer *b) {
  pthread_once(&g_once, once_init);
  pthread_mutex_lock(&b->wmu);
  atomic_store_explicit(&b->writer, 1, memory_order_seq_cst);
  if (g_asym) (void)syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  for (unsigned i = 0; i < GSP__BAL_SHARDS; i++) {
    unsigned spins = 0;
    while (atomic_load_explicit(&b->rs[i].n, memory_order_acquire) != 0) {
      if (++spins > 64) sched_yield();
    }
  }
}

void gsp__bal_wr_unlock(gsp_balancer *b) {
  if (b->grave != NULL) gsp__bal_sweep(b, true); /* releases that missed the removal */
  atomic_store_explicit(&b->writer, 0, memory_order_release);
  pthread_mutex_unlock(&b->wmu);
}

void gsp__bal_err(gsp_balancer *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&b->errmu);
  vsnprintf(b->errmsg, sizeof b->errmsg, fmt, ap);
  pthread_mutex_unlock(&b->errmu);
  va_end(ap);
}

uint64_t gsp__bal_now(const gsp_balancer *b) {
  if (b->cfg.clock.now != NULL) return b->cfg.clock.now(b->cfg.clock.user);
  return gsp_now_ns();
}

gsp__bal_backend *gsp__bal_lookup_locked(const gsp_balancer *b, uint32_t id) {
  for (uint32_t i = 0; i < b->nslots; i++) {
    if (b->slots[i] != NULL && b->slots[i]->id == id) return b->slots[i];
  }
  return NULL;
}

void gsp__bal_backend_free(gsp__bal_backend *k) {
  gsp_free(k->name);
  gsp_free(k->raw);
}

void gsp__bal_sweep(gsp_balancer *b, bool locked) {
  if (!locked) pthread_mutex_lock(&b->wmu);
  gsp__bal_backend *k = b->grave;
  while (k != NULL) {
    gsp__bal_backend *next = k->grave_next;
    if (gsp__bal_active(k, GSP__BAL_SHARDS) == 0) {
      if (k->grave_prev != NULL)
        k->grave_prev->grave_next = next;
      else
        b->grave = next;
      if (next != NULL) next->grave_prev = k->grave_prev;
      gsp__bal_backend_free(k);
    }
    k = next;
  }
  if (!locked) pthread_mutex_unlock(&b->wmu);
}

const char *gsp_balance_strategy_name(gsp_balance_strategy s) {
  static const char *const names[] = {"round_robin",  "weighted_round_robin", "least_connections",
                                      "random",       "power_of_two_choices", "consistent_hash",
                                      "least_latency"};
  if ((unsigned)s >= sizeof names / sizeof names[0]) return NULL;
  return names[s];
}

/* ---- life ------------------------------------------------------------------ */

static bool is_prime(uint32_t n) {
  if (n < 2) return false;
  for (uint32_t d = 2; (uint64_t)d * d <= n; d++) {
    if (n % d == 0) return false;
  }
  return true;
}

static int check_config(gsp_balance_config *c) {
  if (gsp_balance_strategy_name(c->strategy) == NULL) return GSP_EINVAL;
  if (c->ewma_alpha == 0) c->ewma_alpha = 0.3;
  if (!(c->ewma_alpha > 0 && c->ewma_alpha <= 1)) return GSP_EINVAL;
  if (c->table_size == 0) c->table_size = 65537;
  if (c->table_size < 3 || c->table_size > (1u << 24) || !is_prime(c->table_size))
    return GSP_EINVAL;
  if (!(c->hash_load_eps >= 0 && c->hash_load_eps <= 1e6)) return GSP_EINVAL;
  if (c->fail_threshold == 0) c->fail_threshold = 3;
  if (c->retry_ms == 0) c->retry_ms = 5000;
  return GSP_OK;
}

int gsp_balance_create(const gsp_balance_config *cfg, gsp_balancer **out) {
  if (cfg == NULL || out == NULL) return GSP_EINVAL;
  *out = NULL;
  gsp_balance_config c = *cfg;
  int rv = check_config(&c);
  if (rv != GSP_OK) return rv;
  gsp_balancer *b = gsp_calloc(1, sizeof *b);
  if (b == NULL) return GSP_ENOMEM;
  b->cfg = c;
  atomic_init(&b->next_retry, GSP__BAL_NONE);
  pthread_mutex_init(&b->wmu, NULL);
  pthread_mutex_init(&b->errmu, NULL);
  pthread_mutex_init(&b->probe_mu, NULL);
  pthread_mutex_init(&b->metmu, NULL);
  pthread_cond_init(&b->probe_cv, NULL);
  rv = gsp__bal_metrics_init(b);
  if (rv != GSP_OK) goto out_destroy;
  if (c.strategy == GSP_BALANCE_CONSISTENT_HASH &&
      gsp__bal_table_alloc(&b->v, c.table_size) != GSP_OK) {
    rv = GSP_ENOMEM;
    goto out_destroy;
  }
  if (c.probe != NULL && c.probe_interval_ms > 0) {
    rv = gsp__bal_probe_start(b);
    if (rv != GSP_OK) goto out_destroy;
  }
  *out = b;
  return GSP_OK;
out_destroy:
  gsp_balance_destroy(b);
  return rv;
}

void gsp_balance_destroy(gsp_balancer *b) {
  if (b == NULL) return;
  gsp__bal_probe_stop(b);
  for (uint32_t i = 0; i < b->nslots; i++) {
    if (b->slots[i] != NULL) gsp__bal_backend_free(b->slots[i]);
  }
  gsp_free(b->slots);
  while (b->grave != NULL) {
    gsp__bal_backend *k = b->grave;
    b->grave = k->grave_next;
    gsp__bal_backend_free(k);
  }
  gsp__bal_view_free(&b->v);
  blocks_free(b);
  pthread_cond_destroy(&b->probe_cv);
  pthread_mutex_destroy(&b->probe_mu);
  pthread_mutex_destroy(&b->metmu);
  gsp_free(b->mname);
  pthread_mutex_destroy(&b->errmu);
  pthread_mutex_destroy(&b->wmu);
  gsp_free(b);
}

const char *gsp_balance_errmsg(const gsp_balancer *b) {
  if (b == NULL) return "no balancer";
  return b->errmsg[0] != '\0' ? b->errmsg : "no error";
}

/* ---- the backend set ------------------------------------------------------ */

/* Count blocks for `cap` slots (balance_int.h); the blocks array grows on
 * the writer side, the blocks themselves never move. */
static int blocks_grow_locked(gsp_balancer *b, uint32_t cap) {
  uint32_t have = (b->cap + GSP__BAL_BLK - 1) / GSP__BAL_BLK;
  uint32_t need = (cap + GSP__BAL_BLK - 1) / GSP__BAL_BLK;
  if (need == have) return GSP_OK;
  gsp__bal_actblk **nb = gsp_realloc(b->blk, need * sizeof(gsp__bal_actblk *));
  if (nb == NULL) return GSP_ENOMEM;
  b->blk = nb;
  for (uint32_t i = have; i < need; i++) nb[i] = NULL;
  for (uint32_t i = have; i < need; i++) {
    void *raw = gsp_calloc(1, sizeof(gsp__bal_actblk) + 63);
    if (raw == NULL) return GSP_ENOMEM;
    nb[i] = (gsp__bal_actblk *)gsp__bal_align64(raw);
    nb[i]->raw = raw;
  }
  return GSP_OK;
}

static void blocks_free(gsp_balancer *b) {
  for (uint32_t i = 0; b->blk != NULL && i < (b->cap + GSP__BAL_BLK - 1) / GSP__BAL_BLK; i++) {
    if (b->blk[i] != NULL) gsp_free(b->blk[i]->raw);
  }
  gsp_free(b->blk);
}

/* A slot whose removed backend still has tickets out keeps its counts. */
static bool slot_in_grave(const gsp_balancer *b, uint32_t slot) {
  for (const gsp__bal_backend *k = b->grave; k != NULL; k = k->grave_next) {
    if (k->slot == slot) return true;
  }
  return false;
}

/* A free slot index, growing slots, blocks and the view's arrays if needed. */
static int reserve_slot_locked(gsp_balancer *b, uint32_t *slot) {
  for (uint32_t i = 0; i < b->nslots; i++) {
    if (b->slots[i] == NULL && !slot_in_grave(b, i)) {
      *slot = i;
      return GSP_OK;
    }
  }
  if (b->nslots == b->cap) {
    uint32_t ncap = b->cap != 0 ? b->cap * 2 : 8;
    gsp__bal_backend **ns = gsp_realloc(b->slots, ncap * sizeof(gsp__bal_backend *));
    if (ns == NULL) return GSP_ENOMEM;
    b->slots = ns;
    if (gsp__bal_view_grow_locked(b, ncap) != GSP_OK) return GSP_ENOMEM;
    if (blocks_grow_locked(b, ncap) != GSP_OK) return GSP_ENOMEM;
    b->cap = ncap;
  }
  b->slots[b->nslots] = NULL;
  *slot = b->nslots++;
  return GSP_OK;
}

static gsp__bal_backend *backend_new(const char *name, uint32_t weight) {
  void *raw = gsp_calloc(1, sizeof(gsp__bal_backend) + 63);
  if (raw == NULL) return NULL;
  gsp__bal_backend *k = gsp__bal_align64(raw);
  k->raw = raw;
  k->name = gsp_strdup(name);
  if (k->name == NULL) {
    gsp_free(raw);
    return NULL;
  }
  size_t len = strlen(name);
  k->h_off = XXH3_64bits_withSeed(name, len, 0x6d61676c6576ull);
  k->h_skip = XXH3_64bits_withSeed(name, len, 0x736b6970ull);
  k->weight = weight;
  k->enabled = true;
  atomic_init(&k->state, GSP_BALANCE_UP);
  return k;
}

static int find_locked(const gsp_balancer *b, const char *name, uint32_t *id) {
  for (uint32_t i = 0; i < b->nslots; i++) {
    if (b->slots[i] != NULL && strcmp(b->slots[i]->name, name) == 0) {
      if (id != NULL) *id = b->slots[i]->id;
      return GSP_OK;
    }
  }
  return GSP_ENOENT;
}

static int add_locked(gsp_balancer *b, const char *name, uint32_t weight, uint32_t *id) {
  if (find_locked(b, name, NULL) == GSP_OK) {
    gsp__bal_err(b, "add: a backend named \"%s\" exists already", name);
    return GSP_EEXIST;
  }
  uint32_t slot;
  if (reserve_slot_locked(b, &slot) != GSP_OK) goto out_nomem;
  gsp__bal_backend *k = backend_new(name, weight);
  if (k == NULL) goto out_nomem;
  k->id = b->next_id;
  k->slot = slot;
  k->act = &b->blk[slot / GSP__BAL_BLK]->row[0][slot % GSP__BAL_BLK];
  int rv = gsp__bal_metrics_add_locked(b, k);
  if (rv != GSP_OK) {
    gsp__bal_backend_free(k);
    return rv;
  }
  b->slots[slot] = k;
  if (gsp__bal_rebuild_locked(b) != GSP_OK) {
    b->slots[slot] = NULL;
    (void)gsp__bal_rebuild_locked(b); /* the old live set: fits */
    gsp__bal_backend_free(k);
    goto out_nomem;
  }
  b->next_id++;
  b->count++;
  if (id != NULL) *id = k->id;
  return GSP_OK;
out_nomem:
  gsp__bal_err(b, "add: out of memory adding backend \"%s\"", name);
  return GSP_ENOMEM;
}

int gsp_balance_add(gsp_balancer *b, const char *name, uint32_t weight, uint32_t *id) {
  if (b == NULL || name == NULL) return GSP_EINVAL;
  size_t len = strlen(name);
  if (len == 0 || len > GSP_BALANCE_NAME_MAX || weight > GSP_BALANCE_WEIGHT_MAX) {
    gsp__bal_err(b, "add: backend \"%.64s\": name of %zu bytes (1..%d) or weight %u (0..%u)", name,
                 len, GSP_BALANCE_NAME_MAX, weight, GSP_BALANCE_WEIGHT_MAX);
    return GSP_EINVAL;
  }
  gsp__bal_wr_lock(b);
  int rv = add_locked(b, name, weight, id);
  gsp__bal_wr_unlock(b);
  return rv;
}

int gsp_balance_remove(gsp_balancer *b, uint32_t id) {
  if (b == NULL) return GSP_EINVAL;
  gsp__bal_wr_lock(b);
  gsp__bal_backend *k = gsp__bal_lookup_locked(b, id);
  if (k == NULL) {
    gsp__bal_wr_unlock(b);
    gsp__bal_err(b, "remove: no backend with id %u", id);
    return GSP_ENOENT;
  }
  b->slots[k->slot] = NULL;
  b->count--;
  (void)gsp__bal_rebuild_locked(b); /* a smaller live set: cannot fail */
  gsp__bal_update_next_retry_locked(b);
  /* no pick can reach k any more; releases may still be under way */
  atomic_store_explicit(&k->removed, 1, memory_order_relaxed);
  gsp__bal_metrics_removed(k);
  k->grave_prev = NULL;
  k->grave_next = b->grave;
  if (b->grave != NULL) b->grave->grave_prev = k;
  b->grave = k;
  gsp__bal_wr_unlock(b); /* sweeps the grave */
  return GSP_OK;
}

/* Apply a weight or enabled change; undo it if the rebuild cannot grow. */
static int change_locked(gsp_balancer *b, gsp__bal_backend *k, uint32_t weight, bool enabled) {
  uint32_t old_w = k->weight;
  bool old_e = k->enabled;
  k->weight = weight;
  k->enabled = enabled;
  if (gsp__bal_rebuild_locked(b) == GSP_OK) return GSP_OK;
  k->weight = old_w;
  k->enabled = old_e;
  (void)gsp__bal_rebuild_locked(b);
  gsp__bal_err(b, "backend \"%s\": out of memory for the new schedule (weight %u)", k->name,
               weight);
  return GSP_ENOMEM;
}

static int change(gsp_balancer *b, uint32_t id, bool set_w, uint32_t weight, bool enabled) {
  gsp__bal_wr_lock(b);
  gsp__bal_backend *k = gsp__bal_lookup_locked(b, id);
  int rv = GSP_ENOENT;
  if (k != NULL) rv = change_locked(b, k, set_w ? weight : k->weight, set_w ? k->enabled : enabled);
  gsp__bal_wr_unlock(b);
  if (k == NULL) gsp__bal_err(b, "no backend with id %u", id);
  return rv;
}

int gsp_balance_set_weight(gsp_balancer *b, uint32_t id, uint32_t weight) {
  if (b == NULL) return GSP_EINVAL;
  if (weight > GSP_BALANCE_WEIGHT_MAX) {
    gsp__bal_err(b, "set_weight: backend %u: weight %u above %u", id, weight,
                 GSP_BALANCE_WEIGHT_MAX);
    return GSP_EINVAL;
  }
  return change(b, id, true, weight, false);
}

int gsp_balance_set_enabled(gsp_balancer *b, uint32_t id, bool enabled) {
  if (b == NULL) return GSP_EINVAL;
  return change(b, id, false, 0, enabled);
}

int gsp_balance_find(gsp_balancer *b, const char *name, uint32_t *id) {
  if (b == NULL || name == NULL) return GSP_EINVAL;
  gsp__bal_rd_lock(b);
  int rv = find_locked(b, name, id);
  gsp__bal_rd_unlock(b);
  return rv;
}

size_t gsp_balance_count(gsp_balancer *b) {
  if (b == NULL) return 0;
  gsp__bal_rd_lock(b);
  size_t n = b->count;
  gsp__bal_rd_unlock(b);
  return n;
}

/* ---- statistics ------------------------------------------------------------ */

void gsp__bal_stats_of(const gsp__bal_backend *k, gsp_balance_stats *o) {
  memset(o, 0, sizeof *o);
  o->id = k->id;
  o->weight = k->weight;
  o->enabled = k->enabled;
  o->state = (gsp_balance_state)atomic_load_explicit(&k->state, memory_order_relaxed);
  int64_t active = gsp__bal_active(k, GSP__BAL_SHARDS);
  o->active = active > 0 ? (uint32_t)active : 0;
  o->consec_failures = atomic_load_explicit(&k->consec, memory_order_relaxed);
  for (unsigned i = 0; i < GSP__BAL_SHARDS; i++) {
    o->successes += atomic_load_explicit(&k->sh[i].succ, memory_order_relaxed);
    o->failures += atomic_load_explicit(&k->sh[i].fail, memory_order_relaxed);
    o->abandoned += atomic_load_explicit(&k->sh[i].aband, memory_order_relaxed);
    o->latency_sum_ns += atomic_load_explicit(&k->sh[i].lat_sum, memory_order_relaxed);
  }
  o->downs = atomic_load_explicit(&k->downs, memory_order_relaxed);
  o->ewma_latency_ns = atomic_load_explicit(&k->ewma, memory_order_relaxed);
  o->picks = o->successes + o->failures + o->abandoned + o->active;
}

int gsp_balance_stats_get(gsp_balancer *b, uint32_t id, gsp_balance_stats *out) {
  if (b == NULL || out == NULL) return GSP_EINVAL;
  gsp__bal_rd_lock(b);
  const gsp__bal_backend *k = gsp__bal_lookup_locked(b, id);
  if (k != NULL) gsp__bal_stats_of(k, out);
  gsp__bal_rd_unlock(b);
  return k != NULL ? GSP_OK : GSP_ENOENT;
}

void gsp_balance_stats_all(gsp_balancer *b, gsp_balance_stats *out, size_t cap, size_t *n) {
  size_t got = 0;
  if (b == NULL) goto out;
  gsp__bal_rd_lock(b);
  /* ids grow with time, slots are reused: sort by id with a selection over
   * the small set (admin path, O(n^2) is fine for hundreds of backends). */
  uint32_t last = 0;
  for (; got < b->count; got++) {
    const gsp__bal_backend *best = NULL;
    for (uint32_t i = 0; i < b->nslots; i++) {
      const gsp__bal_backend *k = b->slots[i];
      if (k == NULL || (got > 0 && k->id <= last)) continue;
      if (best == NULL || k->id < best->id) best = k;
    }
    if (best == NULL) break;
    last = best->id;
    if (got < cap) gsp__bal_stats_of(best, &out[got]);
  }
  gsp__bal_rd_unlock(b);
out:
  if (n != NULL) *n = got;
}
