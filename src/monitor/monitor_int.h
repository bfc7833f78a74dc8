/*
 * monitor_int.h - private structures of the monitor, shared by monitor.c
 * (life cycle, series table, record, query), retention.c (tier rings),
 * procfs.c (parsers of /proc and cgroup files), collect.c (the collector
 * thread), sources.c (collection sources: host callbacks, caches, pools),
 * alert.c (rules, state machine, events), alert_json.c (rule files) and
 * regress.c (Mann-Whitney detector).
 *
 * Locks, in the order they may be taken:
 *   eval_lock  serializes evaluation and collection (owns the event
 *              scratch array, the collector's previous-sample state and
 *              the source table);
 *   lock       guards series, rules, events, last sample, errors.
 * thread_lock guards running/stop and pairs with `wake`; it is never held
 * together with the other two. ctl_lock serializes start and stop and is
 * held across the join; the collector thread never takes it.
 */
#ifndef GSPERF_MONITOR_INT_H
#define GSPERF_MONITOR_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/monitor.h"

#define GSP__MON_ERR_LEN 320u

typedef struct gsp__ring {
  uint64_t step_ns;
  uint32_t cap;
  uint32_t head; /* index of the newest point */
  uint32_t len;
  bool wrapped; /* a point has been overwritten */
  gsp_monitor_point *pts;
} gsp__ring;

typedef struct gsp__series {
  char *name;
  char *labels; /* "" when none */
  uint64_t hash;
  double last; /* newest value recorded, for alert rules */
  bool has_last;
  uint64_t untested; /* values since the last regression test */
  gsp_regress *reg;  /* duration series only */
  gsp__ring tiers[GSP_MONITOR_MAX_TIERS];
} gsp__series;

typedef struct gsp__rule {
  char *name, *metric, *labels; /* labels NULL = any */
  gsp_alert_cmp cmp;
  double threshold;
  gsp_alert_level level;
  uint64_t for_ns, cooldown_ns;
  gsp_alert_state state;
  uint64_t since;      /* PENDING since */
  uint64_t last_fired; /* valid when fired */
  bool fired;
} gsp__rule;

/* A collection source (sources.c). drop frees user (ready sources). */
#define GSP__SOURCE_NAME_MAX 128u
typedef struct gsp__source {
  char *name;
  gsp_monitor_source_fn fn;
  void *user;
  void (*drop)(void *user);
} gsp__source;

/* What the collector remembers between samples, to compute rates. */
typedef struct gsp__prev {
  bool have_proc, have_cpu;
  uint64_t proc_ticks, proc_t;
  uint64_t cpu_busy, cpu_total;
} gsp__prev;

struct gsp_monitor {
  pthread_mutex_t lock;
  pthread_mutex_t eval_lock;
  pthread_mutex_t thread_lock;
  pthread_mutex_t ctl_lock; /* serializes start and stop (held through the join) */
  pthread_cond_t wake;
  pthread_t thread;
  bool running, stop;

  uint32_t interval_ms;
  char *proc_root, *cgroup_root;
  gsp_clock clock;
  gsp__ring tier_cfg[GSP_MONITOR_MAX_TIERS]; /* step and cap only */
  uint32_t ntiers;
  size_t points_total;
  gsp_regress_config regress_cfg;
  gsp_alert_fn on_alert;
  void *on_alert_user;
  gsp_gauge *gauges[GSP_MON_NFIELDS];
  gsp_metrics *metrics; /* borrowed; NULL = none */
  gsp__source *sources; /* under eval_lock, registration order */
  size_t nsources, capsources;

  gsp__series **series; /* creation order, max_series slots */
  size_t nseries, max_series;
  gsp__series **table; /* open addressing by hash, tmask + 1 slots */
  size_t tmask;

  gsp__rule *rules;
  size_t nrules, max_rules;
  gsp_alert_event *events; /* history ring */
  size_t ev_head, ev_len, max_events;
  gsp_alert_event *scratch; /* events of one evaluation: max_rules + max_series */

  gsp__prev prev;
  gsp_monitor_sample last;
  char collect_err[GSP__MON_ERR_LEN];
  uint64_t collect_errors;
  char errmsg[GSP__MON_ERR_LEN];
};

/* monitor.c */
uint64_t gsp__mon_now(const gsp_monitor *mon);
void gsp__mon_err(gsp_monitor *mon, const char *fmt, ...) GSP_PRINTF(2, 3);
int gsp__record_locked(gsp_monitor *mon, const char *name, const char *labels, double v,
                       uint64_t t);

/* retention.c */
void gsp__ring_add(gsp__ring *r, double v, uint64_t t);
/* Index into tiers of the finest tier holding everything since from. */
uint32_t gsp__pick_tier(const gsp__series *s, uint32_t ntiers, uint64_t from);
/* Copy the points of r in [from, to] into out (room for r->len); count. */
size_t gsp__ring_copy(const gsp__ring *r, uint64_t from, uint64_t to, gsp_monitor_point *out);

/* procfs.c: fill s from files under proc and cgroup; returns false and
 * writes "file: field ..." into err on the first parse error (other files
 * are still read). prev carries rates between calls. */
bool gsp__procfs_sample(const char *proc, const char *cgroup, gsp__prev *prev,
                        gsp_monitor_sample *s, char *err, size_t errlen);

/* sources.c */
int gsp__run_sources_eval_locked(gsp_monitor *mon, uint64_t now);
void gsp__sources_free(gsp_monitor *mon);

/* alert.c */
int gsp__evaluate(gsp_monitor *mon, uint64_t now);
void gsp__rules_free(gsp_monitor *mon);
/* Check then add n rules, all or nothing; takes the lock. */
int gsp__add_rules(gsp_monitor *mon, const gsp_alert_rule *rules, size_t n);
bool gsp__cmp_parse(const char *s, gsp_alert_cmp *out);
bool gsp__level_parse(const char *s, gsp_alert_level *out);

#endif /* GSPERF_MONITOR_INT_H */
