/*
 * pressure_int.h - internals shared by pressure.c (sources, state machine,
 * thread) and reclaim.c (reclaimer registry and passes).
 */
#ifndef GSP_MEM_PRESSURE_INT_H
#define GSP_MEM_PRESSURE_INT_H

#include <pthread.h>

#include "gsperf/mem.h"
#include "gsperf/metrics.h"

#define GSP__MP_PATH 512
#define GSP__MP_ERR 768

typedef struct gsp__reclaimer {
  char *name;
  gsp_mem_reclaim_fn fn;
  void *user;
} gsp__reclaimer;

typedef struct gsp__mp_gauges {
  gsp_gauge *rss, *heap, *limit, *ratio, *level, *psi_some, *cg_limit, *cg_usage;
  gsp_counter *reclaims, *reclaimed;
  gsp_counter *entered[GSP_MEM_CRITICAL + 1]; /* by level entered */
} gsp__mp_gauges;

struct gsp_mempressure {
  /* read-only after create */
  gsp_mempressure_config cfg; /* defaults filled in; roots point below */
  char *proc_root, *cgroup_root;
  char statm[GSP__MP_PATH], psi[GSP__MP_PATH];
  char cg_dir[GSP__MP_PATH]; /* "" = no memory cgroup */
  int cg_version;
  uint64_t phys_bytes;
  gsp__mp_gauges g;
  /* sample state, under mu */
  pthread_mutex_t mu;
  gsp_mem_sample last;
  gsp_mem_level level;
  double prev_psi;
  bool have_prev_psi;
  uint64_t last_reclaim_ns;
  gsp_mempressure_stats stats;
  gsp_mem_event *hist;
  size_t hist_n, hist_head; /* hist_head = next slot */
  char errmsg[GSP__MP_ERR];
  /* reclaimers, under rmu; reclaim passes hold rmu */
  pthread_mutex_t rmu;
  gsp__reclaimer *rec;
  size_t nrec, caprec;
  /* start/stop serialized by lifemu; thread flags under tmu */
  pthread_mutex_t lifemu;
  pthread_mutex_t tmu;
  pthread_cond_t tcv;
  pthread_t thread;
  bool running, stopping;
};

/* reclaim.c */
size_t gsp__mp_reclaim(gsp_mempressure *mp, gsp_mem_level level, size_t wanted);
void gsp__mp_reclaimers_free(gsp_mempressure *mp);

#endif
