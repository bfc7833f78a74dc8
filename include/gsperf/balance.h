/*
 * gsperf/balance.h - load balancers over a set of weighted backends.
 *
 * A balancer holds backends (a unique name, a weight, a health state) and
 * one strategy. A caller asks for a backend with gsp_balance_pick(), which
 * returns a ticket; when the request is over it hands the ticket back with
 * gsp_balance_release(), saying whether the request succeeded and how long
 * it took. Backends may be added, removed, reweighted, disabled and
 * enabled at any time, from any thread, while others pick.
 *
 * Strategies and their fairness bounds (what the tests check; "live"
 * backends are those enabled, healthy and of weight > 0; n of them, weights
 * w_i, W = sum of w_i; bounds hold while the live set does not change):
 *
 *   ROUND_ROBIN           weights ignored. After any k picks (from any
 *                         number of threads) every live backend has k/n
 *                         picks rounded up or down: counts differ by <= 1.
 *   WEIGHTED_ROUND_ROBIN  smooth weighted round robin (the nginx sequence,
 *                         precomputed). In every window of W/g consecutive
 *                         picks (g = gcd of the weights) backend i gets
 *                         exactly w_i/g; after any k picks its count is
 *                         within 1 of k*w_i/W ("smooth": heavy backends are
 *                         spread out, not picked in bursts). W/g is capped
 *                         at 2^16: beyond it weights are scaled down, each
 *                         keeping at least 1.
 *   LEAST_CONNECTIONS     the live backend with the least active / w
 *                         (active = tickets not yet released); a tie goes
 *                         to one of the tied backends drawn in proportion
 *                         to weight (so with immediate releases it is
 *                         weighted random). With k tickets held and none
 *                         released, one picking thread: equal weights,
 *                         active counts differ by <= 1; any weights, each
 *                         is within 2 of k*w_i/W (measured worst 1.83 over
 *                         300 random sets of 2..16 weights).
 *   RANDOM                weighted random (Vose's alias table, O(1)): each
 *                         count is Binomial(k, w_i/W); the tests allow 6
 *                         standard deviations.
 *   POWER_OF_TWO_CHOICES  two weighted-random candidates, the one with the
 *                         least active / w wins (the first on a tie). With
 *                         k tickets held over n equal backends, max - min
 *                         active stays O(log log n) whatever k; the test
 *                         allows 6 for n = 16, k = 16000. With immediate
 *                         releases it is RANDOM.
 *   CONSISTENT_HASH       Maglev hashing (Eisenbud et al., NSDI 2016): a
 *                         lookup table of M entries (prime, default 65537)
 *                         filled from per-backend permutations, weights by
 *                         share of entries. A key always maps to the same
 *                         backend while the live set is unchanged; when one
 *                         of n backends joins or leaves, at most 1.2/n of
 *                         keys move (the test measures it on 100000 keys);
 *                         each backend's share of keys follows w_i/W (the
 *                         test allows 6 standard deviations; keep
 *                         M >= 100 n). Maglev over a ring with
 *                         virtual nodes: one hash and one table read per
 *                         pick instead of a binary search, and near-exact
 *                         balance without hundreds of virtual nodes per
 *                         backend; the price is a table rebuild (about a
 *                         millisecond of CPU for M = 65537) on every change
 *                         of the live set.
 *                         With hash_load_eps = eps > 0, bounded loads
 *                         (Mirrokni, Thorup, Zadimoghaddam, 2018): a
 *                         backend with active_i >= (1 + eps) * (A + 1) *
 *                         w_i / W (A = tickets out) is full, and the key
 *                         goes to the next backend in table order that is
 *                         not. With one picking thread, every backend's
 *                         active count stays <= ceil((1 + eps) * A *
 *                         w_i / W) (the test checks it for eps 0.25 and
 *                         1, equal and mixed weights); with no tickets
 *                         out keys map exactly as plain Maglev. A pick
 *                         then costs O(n) more (it sums the counts).
 *   LEAST_LATENCY         the live backend with the least
 *                         ewma * (active + 1) / w, where ewma is the
 *                         exponentially weighted moving average of the
 *                         latencies reported on release (backends with no
 *                         sample yet first); one pick in 64 goes to a
 *                         weighted-random backend instead, so a backend
 *                         that was slow once gets measured again.
 *
 * Health. A release with GSP_BALANCE_FAILURE counts a consecutive failure;
 * `fail_threshold` of them in a row mark the backend DOWN (a success resets
 * the count). A DOWN backend gets no picks. It comes back one of two ways:
 *   - with a probe callback: after `retry_ms`, the probe is called (on the
 *     balancer's probe thread every `probe_interval_ms`, or on the thread
 *     that calls gsp_balance_health_check()); true brings it UP.
 *   - without one (timed half-open retry): after `retry_ms` it becomes
 *     HALF_OPEN: exactly one pick (a trial) goes to it, whatever the
 *     strategy or key; the trial's success brings it UP, a failure sends it
 *     back DOWN for another `retry_ms`.
 * No pick that starts after a call that marked a backend DOWN (or disabled
 * it, or removed it) has returned can return that backend, except as the
 * single half-open trial described above.
 *
 * Thread safety: gsp_balance_pick, gsp_balance_release, the backend calls
 * (add, remove, set_weight, set_enabled), gsp_balance_health_check and the
 * statistics calls may be called from any thread at once.
 * gsp_balance_destroy must be the last call and must not race with others;
 * tickets not released by then are forgotten. Picks take no mutex: a pick
 * enters the reader side of the balancer's own reader-writer scheme (a
 * plain store to a counter line of the calling thread's shard; the writer
 * side supplies the memory barrier with membarrier(2), or both sides use
 * lock-prefixed operations where the kernel lacks it) and uses the
 * strategy's atomics (ROUND_ROBIN and WRR: one fetch-add on a shared
 * cursor). Ticket counts and outcome counters are kept per thread (16
 * shards, updated without lock prefix) and summed on read. A release takes
 * no lock at all (the ticket keeps its backend's memory alive), unless it
 * changes the backend's health. Changes of the backend set or of a
 * backend's health take the writer side, which waits for picks in flight
 * and excludes new ones for the time of a rebuild (O(table_size) for
 * CONSISTENT_HASH, O(W/g * n) for WRR). While a backend is DOWN without a
 * probe, every pick also reads the clock, to see whether its retry time
 * has come.
 *
 * Callbacks: the probe runs on the balancer's probe thread or on the thread
 * calling gsp_balance_health_check(), with no balancer lock held; it may
 * call any balancer function except gsp_balance_destroy.
 *
 * Ownership: names are copied at add; all memory comes from gsp_malloc()
 * and is freed by gsp_balance_destroy().
 */
#ifndef GSPERF_BALANCE_H
#define GSPERF_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/common.h"

struct gsp_metrics;

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gsp_balance_strategy {
  GSP_BALANCE_ROUND_ROBIN = 0, /* the default */
  GSP_BALANCE_WEIGHTED_ROUND_ROBIN = 1,
  GSP_BALANCE_LEAST_CONNECTIONS = 2,
  GSP_BALANCE_RANDOM = 3,
  GSP_BALANCE_POWER_OF_TWO_CHOICES = 4,
  GSP_BALANCE_CONSISTENT_HASH = 5,
  GSP_BALANCE_LEAST_LATENCY = 6,
} gsp_balance_strategy;

/* "round_robin", "weighted_round_robin", ...; NULL for an unknown value. */
GSP_API const char *gsp_balance_strategy_name(gsp_balance_strategy s);

/* Called for a DOWN backend whose retry time has come; true = healthy. */
typedef bool (*gsp_balance_probe_fn)(void *user, uint32_t id, const char *name);

typedef struct gsp_balance_config {
  gsp_balance_strategy strategy;
  unsigned fail_threshold;    /* consecutive failures that mark a backend
                                 DOWN; 0 = 3 */
  uint64_t retry_ms;          /* time a backend stays DOWN before its probe
                                 or half-open trial; 0 = 5000 */
  gsp_balance_probe_fn probe; /* NULL = timed half-open retry */
  void *probe_user;
  uint64_t probe_interval_ms;  /* with a probe: 0 = no thread of its own (the
                                  host calls gsp_balance_health_check); > 0 =
                                  a probe thread wakes this often */
  double ewma_alpha;           /* LEAST_LATENCY weight of a new sample,
                                  in (0, 1]; 0 = 0.3 */
  uint32_t table_size;         /* CONSISTENT_HASH entries, a prime;
                                  0 = 65537 */
  double hash_load_eps;        /* CONSISTENT_HASH: 0 = plain Maglev; > 0 =
                                  bounded loads: no backend takes a pick
                                  that would put it above
                                  ceil((1 + eps) * its weighted share of the
                                  tickets out); see the strategy list */
  gsp_clock clock;             /* time for retries and latencies; zero =
                                  gsp_now_ns() */
  struct gsp_metrics *metrics; /* NULL = no export; else per-backend series
                                  (gsp_balance_metrics_update); the registry
                                  must outlive the balancer */
  const char *metrics_name;    /* the "balancer" label value; NULL =
                                  "default"; copied */
} gsp_balance_config;

typedef struct gsp_balancer gsp_balancer;

/* Errors: GSP_EINVAL (cfg NULL, strategy unknown, ewma_alpha out of range,
 * table_size not a prime in [3, 2^24], hash_load_eps negative, NaN or
 * above 1e6), GSP_EEXIST (a metrics family of the same name exists with
 * another type or labels), GSP_ENOMEM, GSP_ESYS (the probe thread could
 * not start). */
GSP_API int gsp_balance_create(const gsp_balance_config *cfg, gsp_balancer **out);
/* Stops the probe thread, frees everything. NULL-safe. */
GSP_API void gsp_balance_destroy(gsp_balancer *b);
/* The last error message of a failed call on b (naming the backend or the
 * value at fault); never NULL. Meaningful on the thread that got the
 * error when no other thread fails a call meanwhile. */
GSP_API const char *gsp_balance_errmsg(const gsp_balancer *b);

/* ---- backends ------------------------------------------------------------ */

#define GSP_BALANCE_NAME_MAX 255 /* bytes in a backend name, NUL excluded */
#define GSP_BALANCE_WEIGHT_MAX 65535u

/*
 * Add a backend, UP and enabled, with weight 0..GSP_BALANCE_WEIGHT_MAX
 * (0 = in the set but given no picks). Its id (never reused by this
 * balancer) goes to *id if id is not NULL. Errors: GSP_EINVAL (empty or
 * too long name, weight too large), GSP_EEXIST (name taken), GSP_ENOMEM.
 */
GSP_API int gsp_balance_add(gsp_balancer *b, const char *name, uint32_t weight, uint32_t *id);
/* Remove a backend; its outstanding tickets then release with GSP_ENOENT
 * (a release racing with the removal may still return GSP_OK). Its memory
 * is freed once its tickets are back, at the latest by the next change of
 * the set or by destroy. Errors: GSP_ENOENT. */
GSP_API int gsp_balance_remove(gsp_balancer *b, uint32_t id);
/* Errors: GSP_ENOENT, GSP_EINVAL (weight too large), GSP_ENOMEM (a larger
 * schedule could not be allocated; the old weight stays). */
GSP_API int gsp_balance_set_weight(gsp_balancer *b, uint32_t id, uint32_t weight);
/* Disable (drain: no new picks, health unchanged) or enable a backend.
 * Errors: GSP_ENOENT, GSP_ENOMEM (enabling needs a larger schedule). */
GSP_API int gsp_balance_set_enabled(gsp_balancer *b, uint32_t id, bool enabled);
/* The id of the backend with this name. Errors: GSP_ENOENT. */
GSP_API int gsp_balance_find(gsp_balancer *b, const char *name, uint32_t *id);
/* Backends in the set (live or not). */
GSP_API size_t gsp_balance_count(gsp_balancer *b);

/* ---- picking ------------------------------------------------------------- */

/* What gsp_balance_pick hands out; fields are private. */
typedef struct gsp_balance_ticket {
  void *backend_;
  uint64_t start_ns_;
  uint32_t id_;
  uint32_t flags_;
} gsp_balance_ticket;

/* The id of the backend a ticket names. */
static inline uint32_t gsp_balance_ticket_backend(const gsp_balance_ticket *t) { return t->id_; }

typedef enum gsp_balance_outcome {
  GSP_BALANCE_SUCCESS = 0,
  GSP_BALANCE_FAILURE = 1,   /* counts toward fail_threshold */
  GSP_BALANCE_ABANDONED = 2, /* no verdict (the caller gave up): counted
                                apart, health and latency untouched */
} gsp_balance_outcome;

/*
 * Pick a backend. `key` (len bytes) is required by CONSISTENT_HASH and
 * ignored by the other strategies (may be NULL). The ticket must be
 * released exactly once. Errors: GSP_ENOENT (no live backend and no
 * half-open trial to give), GSP_EINVAL (CONSISTENT_HASH without a key).
 */
GSP_API int gsp_balance_pick(gsp_balancer *b, const void *key, size_t len, gsp_balance_ticket *t);
/*
 * Hand a ticket back. latency_ns is the request's duration; 0 means: with
 * LEAST_LATENCY, the time since the pick by the balancer's clock; with the
 * other strategies, not measured. It feeds the backend's EWMA and latency
 * sum (which only LEAST_LATENCY picks by). A release takes no lock of the
 * balancer (unless it changes the backend's health). Errors: GSP_ENOENT
 * (the backend was removed meanwhile: the ticket is consumed all the same),
 * GSP_EINVAL (bad outcome). Releasing a ticket twice is undefined.
 */
GSP_API int gsp_balance_release(gsp_balancer *b, const gsp_balance_ticket *t,
                                gsp_balance_outcome outcome, uint64_t latency_ns);

/* ---- health and statistics ---------------------------------------------- */

typedef enum gsp_balance_state {
  GSP_BALANCE_UP = 0,
  GSP_BALANCE_DOWN = 1,
  GSP_BALANCE_HALF_OPEN = 2,
} gsp_balance_state;

/*
 * Run the health machinery once on the calling thread: DOWN backends whose
 * retry time has come are probed (the probe is called here) or, without a
 * probe, made HALF_OPEN. Returns the number of backends brought UP.
 */
GSP_API unsigned gsp_balance_health_check(gsp_balancer *b);

typedef struct gsp_balance_stats {
  uint32_t id;
  uint32_t weight;
  gsp_balance_state state;
  bool enabled;
  uint32_t active; /* tickets out */
  uint32_t consec_failures;
  uint64_t picks; /* = successes + failures + abandoned + active */
  uint64_t successes;
  uint64_t failures;
  uint64_t abandoned;
  uint64_t downs;           /* times it went from UP to DOWN */
  uint64_t latency_sum_ns;  /* of successful and failed requests */
  uint64_t ewma_latency_ns; /* 0 = no sample yet */
} gsp_balance_stats;

/* Statistics of one backend (a snapshot of counters read without a lock).
 * Errors: GSP_ENOENT. */
GSP_API int gsp_balance_stats_get(gsp_balancer *b, uint32_t id, gsp_balance_stats *out);
/* Statistics of up to cap backends in id order; *n = backends in the set
 * (may exceed cap). */
GSP_API void gsp_balance_stats_all(gsp_balancer *b, gsp_balance_stats *out, size_t cap, size_t *n);

/* ---- metrics export ------------------------------------------------------ */

/*
 * With cfg.metrics set, every backend gets these series in the registry,
 * labelled {balancer = cfg.metrics_name, backend = its name}:
 *   gsperf_balance_picks_total            counter: picks (released or not)
 *   gsperf_balance_failures_total         counter: releases with FAILURE
 *   gsperf_balance_up                     gauge: 1 if UP, else 0 (DOWN,
 *                                         HALF_OPEN, disabled, removed)
 *   gsperf_balance_latency_ewma_seconds   gauge: the latency EWMA (unset
 *                                         until a first sample)
 * Picks and releases never touch the registry (they stay free of shared
 * writes); gsp_balance_metrics_update() brings the series up to date from
 * the statistics, adding to each counter what it gained since the last
 * update. Call it before each scrape (or on a timer). The series are
 * created by gsp_balance_add (which then fails with the registry's error:
 * GSP_ENOMEM, GSP_ENOSPC, GSP_EEXIST if the families exist with other
 * labels). A removed backend's series stay, with up = 0.
 *
 * Thread safety: gsp_balance_metrics_update may be called from any thread,
 * concurrently with everything but destroy (updates are serialized).
 * Errors: GSP_EINVAL (b NULL or no registry configured).
 */
GSP_API int gsp_balance_metrics_update(gsp_balancer *b);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_BALANCE_H */
