/*
 * load_balancing.c - the seed's LoadBalancingStrategy with
 * ScalabilityManager.batch_execution, in C:
 *
 *   results = scalability_manager.batch_execution(
 *       func=process_item, args_list=[(item,) for item in large_dataset],
 *       request_key="batch_processing")
 *
 * A batch of items is spread over three workers (weights 1, 1, 2) by each
 * of three strategies. Worker "worker-1" breaks half-way: its failures
 * mark it DOWN (fail_threshold 2) and the failed items are retried on the
 * worker the balancer picks next. With CONSISTENT_HASH every item of one
 * request key goes to the same worker (sticky routing) until that worker
 * is down. The per-worker statistics are printed and exported as
 * Prometheus text. Checks its results: exit status 1 on any mismatch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gsperf/balance.h"
#include "gsperf/metrics.h"

#define ITEMS 300
#define WORKERS 3
#define MAX_TRIES 4

typedef struct worker {
  const char *name;
  uint32_t weight;
  uint32_t id;
  bool broken;
  unsigned done;
} worker;

/* The work itself; a broken worker fails it. */
static bool process_item(worker *w, long item, long *out) {
  if (w->broken) return false;
  *out = item * item;
  w->done++;
  return true;
}

static worker *by_id(worker *ws, uint32_t id) {
  for (int i = 0; i < WORKERS; i++) {
    if (ws[i].id == id) return &ws[i];
  }
  return NULL;
}

/* One item: pick, run, release; on failure pick again. */
static int run_item(gsp_balancer *b, worker *ws, const char *key, long item, long *out) {
  for (int tries = 0; tries < MAX_TRIES; tries++) {
    gsp_balance_ticket t;
    int rv = gsp_balance_pick(b, key, strlen(key), &t);
    if (rv != GSP_OK) return rv;
    worker *w = by_id(ws, gsp_balance_ticket_backend(&t));
    bool ok = process_item(w, item, out);
    gsp_balance_release(b, &t, ok ? GSP_BALANCE_SUCCESS : GSP_BALANCE_FAILURE, 1000 + 200 * w->id);
    if (ok) return GSP_OK;
  }
  return GSP_EBUSY; /* every try failed */
}

static int batch_execution(gsp_balance_strategy s, gsp_metrics *m) {
  worker ws[WORKERS] = {
      {"worker-0", 1, 0, false, 0}, {"worker-1", 1, 0, false, 0}, {"worker-2", 2, 0, false, 0}};
  gsp_balance_config cfg = {.strategy = s,
                            .fail_threshold = 2,
                            .retry_ms = 3600000,
                            .metrics = m,
                            .metrics_name = gsp_balance_strategy_name(s)};
  gsp_balancer *b = NULL;
  int rv = gsp_balance_create(&cfg, &b);
  for (int i = 0; rv == GSP_OK && i < WORKERS; i++)
    rv = gsp_balance_add(b, ws[i].name, ws[i].weight, &ws[i].id);
  if (rv != GSP_OK) {
    fprintf(stderr, "setup: %s (%s)\n", gsp_strerror(rv), gsp_balance_errmsg(b));
    gsp_balance_destroy(b);
    return 1;
  }
  int bad = 0;
  unsigned after_break_on_1 = 0;
  for (long item = 0; item < ITEMS; item++) {
    if (item == ITEMS / 2) ws[1].broken = true;
    unsigned before = ws[1].done;
    long out = 0;
    /* one request key per 50 items: "batch_processing-0", ... */
    char key[32];
    snprintf(key, sizeof key, "batch_processing-%ld", item / 50);
    rv = run_item(b, ws, key, item, &out);
    if (rv != GSP_OK || out != item * item) {
      fprintf(stderr, "%s: item %ld: %s\n", gsp_balance_strategy_name(s), item, gsp_strerror(rv));
      bad = 1;
    }
    if (item >= ITEMS / 2) after_break_on_1 += ws[1].done - before;
  }
  gsp_balance_stats st[WORKERS];
  size_t n = 0;
  gsp_balance_stats_all(b, st, WORKERS, &n);
  printf("%-22s", gsp_balance_strategy_name(s));
  for (size_t i = 0; i < n; i++) {
    worker *w = by_id(ws, st[i].id);
    printf("  %s: %3llu ok %llu failed %-4s", w->name, (unsigned long long)st[i].successes,
           (unsigned long long)st[i].failures, st[i].state == GSP_BALANCE_UP ? "up" : "DOWN");
    if (st[i].successes != w->done) bad = 1;
  }
  printf("\n");
  /* the broken worker is DOWN and did nothing after it broke */
  gsp_balance_stats s1;
  if (gsp_balance_stats_get(b, ws[1].id, &s1) != GSP_OK || s1.state != GSP_BALANCE_DOWN ||
      after_break_on_1 != 0) {
    fprintf(stderr, "%s: worker-1 should be DOWN\n", gsp_balance_strategy_name(s));
    bad = 1;
  }
  gsp_balance_metrics_update(b);
  gsp_balance_destroy(b);
  return bad;
}

static int print_sink(void *user, const char *buf, size_t len) {
  (void)user;
  fwrite(buf, 1, len, stdout);
  return 0;
}

int main(void) {
  gsp_metrics *m = NULL;
  if (gsp_metrics_create(NULL, &m) != GSP_OK) return 1;
  int bad = 0;
  bad |= batch_execution(GSP_BALANCE_ROUND_ROBIN, m);
  bad |= batch_execution(GSP_BALANCE_LEAST_CONNECTIONS, m);
  bad |= batch_execution(GSP_BALANCE_CONSISTENT_HASH, m);
  printf("\n");
  gsp_metrics_write(m, GSP_METRICS_PROMETHEUS, print_sink, NULL);
  gsp_metrics_destroy(m);
  printf("%s\n", bad ? "FAILED" : "ok");
  return bad;
}
