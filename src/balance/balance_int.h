/*
 * balance_int.h - what the balancer's source files share: the backend
 * record, the pick view, the balancer, and the reader-writer scheme.
 *
 * Locking. Picks and releases run on the "reader" side: a thread adds 1 to
 * its own padded counter (one of GSP__BAL_RW_SLOTS, chosen per thread) and
 * checks that no writer is active; a writer takes `wmu`, raises `writer`,
 * and waits until every counter is 0. Both sides use sequentially
 * consistent operations for the raise/check pair (Dekker's pattern), so
 * either the reader sees the writer or the writer sees the reader. A reader
 * that meets a writer backs out and sleeps on `wmu` until the writer is
 * done. Everything in the view and in the backend records that is not
 * _Atomic is written only by a writer, and read only under one side or the
 * other. Never take the writer side while holding the reader side.
 */
#ifndef GSP_BALANCE_INT_H
#define GSP_BALANCE_INT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gsperf/balance.h"

#define GSP__BAL_RW_SLOTS 16
#define GSP__BAL_SCHED_CAP 65536u /* longest smooth-WRR schedule before scaling */
#define GSP__BAL_TRIAL 1u         /* ticket flag: the half-open trial */
#define GSP__BAL_NONE UINT64_MAX
#define GSP__BAL_REMOVED 0x80000000u /* in `active`: removed from the set */

typedef struct gsp__bal_rwslot {
  alignas(64) atomic_uint_fast64_t n;
} gsp__bal_rwslot;

typedef struct gsp__bal_backend {
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
  atomic_uint active;                  /* tickets out, | GSP__BAL_REMOVED once removed */
  struct gsp__bal_backend *grave_prev; /* removed with tickets out (wmu) */
  struct gsp__bal_backend *grave_next;
  atomic_uint consec;
  atomic_uint_fast64_t succ, fail, aband, downs, lat_sum, ewma;
} gsp__bal_backend;

/* What picks read; rebuilt by writers after every change of the live set. */
typedef struct gsp__bal_view {
  uint32_t n;      /* live backends */
  uint32_t *live;  /* their slots */
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
  gsp__bal_rwslot rs[GSP__BAL_RW_SLOTS];
  atomic_int writer;
  atomic_uint_fast64_t next_retry; /* earliest timed retry, or NONE */
  gsp_balance_config cfg;
  gsp__bal_view v;
  gsp__bal_backend **slots; /* writer side; NULL = free slot */
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
  alignas(64) atomic_uint_fast64_t rr; /* ROUND_ROBIN / WRR position */
  char rr_pad_[56];
};

/* balance.c */
void gsp__bal_rd_lock(gsp_balancer *b);
void gsp__bal_rd_unlock(gsp_balancer *b);
void gsp__bal_wr_lock(gsp_balancer *b);
void gsp__bal_wr_unlock(gsp_balancer *b);
void gsp__bal_err(gsp_balancer *b, const char *fmt, ...) GSP_PRINTF(2, 3);
uint64_t gsp__bal_now(const gsp_balancer *b);
gsp__bal_backend *gsp__bal_lookup_locked(const gsp_balancer *b, uint32_t id);
/* The last ticket of a removed backend is back: free it. */
void gsp__bal_bury(gsp_balancer *b, gsp__bal_backend *k);

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

/* health.c */
void gsp__bal_after_failure(gsp_balancer *b, uint32_t id);
void gsp__bal_after_trial(gsp_balancer *b, uint32_t id, gsp_balance_outcome o);
void gsp__bal_expire_timed(gsp_balancer *b);
void gsp__bal_update_next_retry_locked(gsp_balancer *b);
int gsp__bal_probe_start(gsp_balancer *b);
void gsp__bal_probe_stop(gsp_balancer *b);

#endif
