/*
 * opt_int.h - the optimization engine's private structures, shared by the
 * files of src/optimize (engine, functions, strategies, report).
 *
 * Locks: engine->mu guards the function list, the cache-metrics table and
 * errmsg; each function's fl_mu guards its LATENCY and MEMORY flights and tp_mu its
 * THROUGHPUT batch being gathered. Lock order: engine->mu before nothing
 * else of the engine (the cache manager's, the metrics registry's and the
 * memory monitor's own locks may be taken under it, never the reverse);
 * fl_mu and tp_mu are leaves. No callback runs with any of them held.
 */
#ifndef GSP_OPT_INT_H
#define GSP_OPT_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "gsperf/optimize.h"
#include "gsperf/tier.h"

#define GSP__OPT_NAME_MAX 128u
#define GSP__OPT_KEYBUF 256u /* keys up to this size are built on the stack */

typedef struct gsp__opt_flight gsp__opt_flight;
typedef struct gsp__opt_mflight gsp__opt_mflight;
typedef struct gsp__opt_tpbatch gsp__opt_tpbatch;

/* One cache's metrics and the statistics last pushed into them. */
typedef struct gsp__opt_cache_sync {
  char name[GSP__OPT_NAME_MAX + 1];
  gsp_counter *hits, *misses, *evictions;
  gsp_gauge *entries, *bytes;
  uint64_t last_hits, last_misses, last_evictions;
} gsp__opt_cache_sync;

struct gsp_opt_func {
  gsp_opt_func *next; /* engine list, newest first */
  gsp_opt_engine *e;
  char *name;
  size_t nlen;
  gsp_opt_fn fn; /* NULL: monitor-only */
  void *user;
  gsp_opt_func_opts o; /* resolved: strategy, batch_size, timeout_ms set */
  gsp_cache *cache;    /* NULL when caching is off */
  char *cache_name;
  gsp_tier *big; /* MEMORY: results above max_value_bytes, L1 + LZ4 L2; or NULL */
  gsp_counter *calls, *errors, *hits, *misses;
  gsp_hist *dur;
  _Atomic uint64_t timeouts, batches;
  pthread_mutex_t fl_mu; /* LATENCY and MEMORY flights */
  gsp__opt_flight *flights;
  gsp__opt_mflight *mflights;
  pthread_mutex_t tp_mu; /* THROUGHPUT: the batch being gathered */
  gsp__opt_tpbatch *gathering;
  unsigned tp_running; /* batches running now */
};

struct gsp_opt_engine {
  gsp_opt_config cfg; /* resolved defaults; borrowed pointers kept */
  char *proc_root;
  char *name;                            /* cfg.name points here */
  char cpu_pool[GSP__OPT_NAME_MAX + 16]; /* the pools' label values */
  char io_pool[GSP__OPT_NAME_MAX + 16];
  gsp_exec *cpu;                /* the CPU pool (scaling when min_workers is set) */
  gsp_io *io;                   /* the I/O executor */
  gsp_hist *cpu_wait, *io_wait; /* the pools' queue-wait histograms (ns) */
  gsp_cache_manager *caches;
  gsp_metrics *metrics;
  bool own_metrics;
  gsp_mempressure *mem;
  bool own_mem;
  bool monitoring;
  bool started_monitor; /* the lent monitor's collector was started by us */
  pthread_mutex_t mu;
  gsp_opt_func *funcs;
  size_t nfuncs;
  gsp__opt_cache_sync *syncs;
  size_t nsyncs;
  gsp_metric_family *f_calls, *f_errors, *f_hits, *f_misses, *f_dur;
  gsp_metric_family *c_hits, *c_misses, *c_evictions, *c_entries, *c_bytes;
  _Atomic uint64_t cpu_batches, io_tasks;
  gsp_prof *prof; /* lent by the host (gsp_opt_set_profiler), under mu; or NULL */
  char errmsg[256];
};

/* A call's context while it is being served. */
typedef struct gsp__opt_call {
  gsp_opt_func *f;
  const void *arg;
  size_t arglen;
  const void *key; /* prefixed with the function's name */
  size_t klen;
  bool looked_up; /* the cache was asked */
  bool hit;       /* served without running fn on this call */
} gsp__opt_call;

/* engine.c */
void gsp__opt_seterr(gsp_opt_engine *e, const char *fmt, ...) GSP_PRINTF(2, 3);
int gsp__opt_cache_for(gsp_opt_engine *e, const char *name, gsp_cache **out);
bool gsp__opt_name_ok(const char *name);

/* config.c */
void gsp__opt_config_resolve(const gsp_opt_config *in, gsp_opt_config *out);

/* func.c */
gsp_opt_strategy gsp__opt_route(gsp_opt_func *f, const void *arg, size_t arglen);
int gsp__opt_run_fn(gsp_opt_func *f, const void *arg, size_t arglen, void **val, size_t *vlen);
int gsp__opt_item(gsp_opt_func *f, gsp_opt_strategy s, const void *arg, size_t arglen,
                  gsp_opt_result *out);
bool gsp__opt_should_store(gsp_opt_func *f, gsp_opt_strategy s, const void *arg, size_t arglen,
                           size_t vlen);
void gsp__opt_store(gsp_opt_func *f, const gsp__opt_call *c, const void *val, size_t vlen);
/* Run fn for the call and keep its result as strategy s does (the cache, or
   MEMORY's compressed store); the result goes to *out. */
int gsp__opt_compute_store(gsp__opt_call *c, gsp_opt_strategy s, gsp_opt_result *out);

/* memstore.c (MEMORY's compressed store) */
int gsp__opt_memstore_create(gsp_opt_func *f);
bool gsp__opt_memstore_get(gsp_opt_func *f, const gsp__opt_call *c, gsp_opt_result *out);
void gsp__opt_memstore_put(gsp_opt_func *f, const gsp__opt_call *c, const void *val, size_t vlen);

/* mflight.c (MEMORY's single-flight; c->key set) */
int gsp__opt_memory(gsp__opt_call *c, gsp_opt_result *out);
/* Callers now waiting on f's MEMORY flights (for tests). */
unsigned gsp__opt_memory_waiters(gsp_opt_func *f);

/* flight.c (LATENCY) */
int gsp__opt_latency(gsp__opt_call *c, gsp_opt_result *out);
/* gather.c (THROUGHPUT) */
int gsp__opt_throughput(gsp__opt_call *c, gsp_opt_result *out);
int gsp__opt_run_batch(gsp_opt_func *f, const gsp_opt_arg *args, size_t n, void **vals,
                       size_t *lens, int *status);

/* engine.c: the I/O executor's underlying pool (statistics only). */
gsp_exec *gsp__opt_io_exec(gsp_opt_engine *e);

/* report.c */
int gsp__opt_read_meminfo(const char *proc_root, uint64_t *total, uint64_t *avail);

#endif
