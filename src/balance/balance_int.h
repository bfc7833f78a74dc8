/*
 * balance_int.h - what the balancer's source files share: the backend
 * record, the pick view, the balancer, the per-thread shards and the
 * reader-writer scheme.
 *
 * Thread shards. A thread that touches any balancer claims one of
 * GSP__BAL_SHARDS process-wide shard numbers for its life (a bit in a
 * global mask, given back by a thread-exit destructor). Shards
 * 0..GSP__BAL_SHARDS-2 belong to one thread at a time: their counters are
 * updated with a relaxed load and store (no lock prefix). Threads beyond
 * that share the last shard, updated with atomic read-modify-writes. A
 * shard given back and claimed again passes on its values (release and
 * acquire on the mask), so sums over shards stay exact.
 *
 * Locking. Picks run on the "reader" side: a thread adds 1 to its shard's
 * reader counter in the balancer (rs[shard]) and then checks that no writer
 * is active; a writer takes `wmu`, raises `writer`, and waits until every
 * counter is 0. The raise/check pair needs a full barrier on both sides
 * (Dekker's pattern). Where the kernel offers it, the reader side has only
 * a compiler barrier and the writer issues membarrier(PRIVATE_EXPEDITED),
 * which runs a full barrier on every CPU running one of our threads
 * (asymmetric fences, as userspace RCU does); otherwise both sides use
 * sequentially consistent operations. A reader that meets a writer backs
 * out and sleeps on `wmu` until the writer is done. Everything in the view
 * and in the backend records that is not _Atomic is written only by a
 * writer, and read only under one side or the other. Never take the writer
 * side while holding the reader side.
 */
#ifndef GSP_BALANCE_INT_H
#define GSP_BALANCE_INT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gsperf/balance.h"

#define GSP__BAL_SHARDS 16        /* thread shards; the last one is shared */
#define GSP__BAL_SCHED_CAP 65536u /* longest smooth-WRR schedule before scaling */
#define GSP__BAL_TRIAL 1u         /* ticket flag: the half-open trial */
#define GSP__BAL_NONE UINT64_MAX

/* Tickets out, per thread shard and backend slot: row[s][slot % BLK] is
 * picks minus releases made by shard s's threads on the backend in that
 * slot. It goes negative when tickets are released on another thread than
 * picked them, so only the sum over shards means anything. A row belongs
 * to one shard, so threads never write the same line; a load scan reads
 * the rows of the shards in use, a few dense lines. Blocks never move and
 * live until destroy; a slot whose removed backend still has tickets out
 * is not reused (its counts stay with it; a reused slot inherits counts
 * that sum to 0). */
#define GSP__BAL_BLK 64
typedef struct gsp__bal_actblk {
  alignas(64) atomic_uint_fast64_t row[GSP__BAL_SHARDS][GSP__BAL_BLK];
  void *raw;
} gsp__bal_actblk;

typedef struct gsp__bal_rwslot {
  alignas(64) atomic_uint_fast64_t n;
} gsp__bal_rwslot;

/* One thread shard of a backend's outcome counters, a cache line of its
 * own. */
typedef struct gsp__bal_shard {
  alignas(64) atomic_uint_fast64_t succ;
  atomic_uint_fast64_t fail, aband, lat_sum;
} gsp__bal_shard;

typedef struct gsp__bal_backend {
  gsp__bal_shard sh[GSP__BAL_SHARDS]; /* first: the record is 64-aligned */
  /* Tickets out: act[s * GSP__BAL_BLK] is shard s's count, in the
   * balancer's count blocks (below). */
  atomic_uint_fast64_t *act;
  void *raw; /* what gsp_malloc returned */
  uint32_t id;
  uint32_t slot; /* index in b->slots */
  char *name;
  uint64_t h_off; /* Maglev: offset and skip hashes of the name */
  uint64_t h_skip;
  uint32_t weight;                     /* writer side */
  bool enabled;                        /* writer side */
  uint64_t retry_at_ns;                /* writer side: when DOWN ends (probe or trial) */
  _Atomic int state;                   /* gsp_balance_state; stored by writers only */
  atomic_uint trial;                   /* HALF_OPEN: 1 once the trial is handed out */
  atomic_int removed;                  /* set once by the remover */
  struct gsp__bal_backend *grave_prev; /* removed with tickets out (wmu) */
  struct gsp__bal_backend *grave_next;
  atomic_uint consec;
  atomic_uint_fast64_t downs, ewma;
  /* metrics export (metrics.c): series, and what was exported (metmu) */
  struct gsp_counter *m_picks, *m_fail;
  struct gsp_gauge *m_up, *m_ewma;
  uint64_t m_picks_done, m_fail_done;
} gsp__bal_backend;

/* What picks read; rebuilt by writers after every change of the live set. */
typedef struct gsp__bal_view {
  uint32_t n;      /* live backends */
  uint32_t *live;  /* their slots */
  uint32_t *lw;    /* their weights (a dense copy for the load scans) */
  uint32_t n_half; /* HALF_OPEN backends with a trial to give */
  uint32_t *half;  /* their slots */
  uint32_t *sched; /* WEIGHTED_ROUND_ROBIN: slots in smooth order */
  uint32_t sched_len;
  uint32_t sched_cap;
  uint32_t *alias; /* all but RR, WRR, CONSISTENT: Vose alias table */
  uint32_t *prob;  /* over live[]: keep i when u32 < prob[i] */
  uint32_t *table; /* CONSISTENT_HASH: Maglev table of slots */
  uint32_t table_size;
  /* Scratch for rebuilds, each of the slots' capacity (no allocation
   * while a rebuild only shrinks the live set). */
  uint32_t *s_w;
  uint32_t *s_a;
  uint32_t *s_b;
  uint64_t *s_x;
  uint64_t *s_y;
  int64_t *s_z;
  double *s_p;
} gsp__bal_view;

/* Layout: the reader counters first (a line each), then what every pick
 * reads and writers rarely change (writer flag, next_retry, cfg, view),
 * then the cold fields, and last the round-robin position, which every
 * ROUND_ROBIN/WRR pick writes, alone on its line. */
struct gsp_balancer {
  gsp__bal_rwslot rs[GSP__BAL_SHARDS];
  atomic_int writer;
  atomic_uint_fast64_t next_retry; /* earliest timed retry, or NONE */
  gsp_balance_config cfg;
  gsp__bal_view v;
  gsp__bal_backend **slots; /* writer side; NULL = free slot */
  gsp__bal_actblk **blk;    /* count blocks, cap / GSP__BAL_BLK of them */
  uint32_t nslots;          /* slots in use or freed (high-water mark) */
  uint32_t cap;             /* capacity of slots and of the view's arrays */
  uint32_t count;           /* backends in the set */
  uint32_t next_id;
  gsp__bal_backend *grave; /* removed backends with tickets out (wmu) */
  pthread_mutex_t wmu;
  pthread_mutex_t errmu;
  pthread_mutex_t probe_mu;
  pthread_cond_t probe_cv;
  pthread_t probe_thr;
  bool probe_running;
  bool probe_stop;
  char errmsg[320];
  char *mname; /* the "balancer" label value (copy) */
  struct gsp_metric_family *f_picks, *f_fail, *f_up, *f_ewma;
  pthread_mutex_t metmu;
  alignas(64) atomic_uint_fast64_t rr; /* ROUND_ROBIN / WRR position */
  char rr_pad_[56];
};

/* balance.c */
extern __thread unsigned gsp__bal_tl_shard; /* 1 + this thread's shard; 0 = none yet */
extern atomic_uint gsp__bal_shards_hw;      /* 1 + highest shard ever claimed */
unsigned gsp__bal_shard_claim(void);
/* This thread's shard number. */
static inline unsigned gsp__bal_shard_id(void) {
  unsigned s = gsp__bal_tl_shard;
  return s != 0 ? s - 1 : gsp__bal_shard_claim();
}
/* Add v to a counter of shard s (v may be a negated count). */
static inline void gsp__bal_ctr_add(atomic_uint_fast64_t *c, unsigned s, uint64_t v) {
  if (s < GSP__BAL_SHARDS - 1)
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
  else
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}
/* Tickets of k out (sum over shards). `upto` = shards to sum: picks pass
 * gsp__bal_shards_hw (a shard claimed meanwhile may be missed: its thread
 * has not picked yet), exact readers GSP__BAL_SHARDS. */
static inline int64_t gsp__bal_active(const gsp__bal_backend *k, unsigned upto) {
  uint64_t a = 0;
  for (unsigned i = 0; i < upto; i++)
    a += atomic_load_explicit(&k->act[(size_t)i * GSP__BAL_BLK], memory_order_acquire);
  return (int64_t)a;
}
/* The same for the backend in `slot`, read from the blocks (reader side). */
static inline int64_t gsp__bal_active_at(const gsp_balancer *b, uint32_t slot, unsigned upto) {
  const gsp__bal_actblk *k = b->blk[slot / GSP__BAL_BLK];
  uint64_t a = 0;
  for (unsigned i = 0; i < upto; i++)
    a += atomic_load_explicit(&k->row[i][slot % GSP__BAL_BLK], memory_order_relaxed);
  return (int64_t)a;
}
/* p rounded up to a multiple of 64 (p from gsp_malloc with 63 to spare). */
static inline void *gsp__bal_align64(void *p) { return (char *)p + (64 - (uintptr_t)p % 64) % 64; }
void gsp__bal_rd_lock(gsp_balancer *b);
void gsp__bal_rd_unlock(gsp_balancer *b);
void gsp__bal_wr_lock(gsp_balancer *b);
void gsp__bal_wr_unlock(gsp_balancer *b);
void gsp__bal_err(gsp_balancer *b, const char *fmt, ...) GSP_PRINTF(2, 3);
uint64_t gsp__bal_now(const gsp_balancer *b);
gsp__bal_backend *gsp__bal_lookup_locked(const gsp_balancer *b, uint32_t id);
/* Free removed backends whose tickets are all back (takes wmu unless
 * `locked`, i.e. the caller holds it). */
void gsp__bal_sweep(gsp_balancer *b, bool locked);
void gsp__bal_backend_free(gsp__bal_backend *k);

/* view.c: rebuild everything picks read from the backends' state. May
 * allocate only when the live set grows; on GSP_ENOMEM the view is
 * unusable until the caller undoes its change and rebuilds again (which
 * then cannot fail). */
int gsp__bal_rebuild_locked(gsp_balancer *b);
/* Grow the view's per-slot arrays to `cap` entries. */
int gsp__bal_view_grow_locked(gsp_balancer *b, uint32_t cap);
void gsp__bal_view_free(gsp__bal_view *v);
int gsp__bal_table_alloc(gsp__bal_view *v, uint32_t size);

/* pick.c */
uint64_t gsp__bal_rand(void);

/* metrics.c: families at create, series at add (writer side). */
int gsp__bal_metrics_init(gsp_balancer *b);
int gsp__bal_metrics_add_locked(gsp_balancer *b, gsp__bal_backend *k);
void gsp__bal_metrics_removed(gsp__bal_backend *k);
void gsp__bal_stats_of(const gsp__bal_backend *k, gsp_balance_stats *o);

/* bounded.c: the CONSISTENT_HASH pick with hash_load_eps > 0, from the
 * key's table entry. */
uint32_t gsp__bal_pick_bounded(const gsp_balancer *b, uint32_t pos);

/* health.c */
void gsp__bal_after_failure(gsp_balancer *b, uint32_t id);
void gsp__bal_after_trial(gsp_balancer *b, uint32_t id, gsp_balance_outcome o);
void gsp__bal_expire_timed(gsp_balancer *b);
void gsp__bal_update_next_retry_locked(gsp_balancer *b);
int gsp__bal_probe_start(gsp_balancer *b);
void gsp__bal_probe_stop(gsp_balancer *b);

#endif
