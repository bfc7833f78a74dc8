/*
 * cg_run.h - the runs the code-graph store and farm tests share: a farm
 * that parses the files it is handed as a remote rank would (optionally
 * with the learned macros handed over, optionally passing each result
 * through its serialized form), and the result store of `gsperf analyze`
 * (an LMDB tier written behind, around L1, without promotion) with a graph
 * created through the integration engine on it. Include after cmocka.h.
 */
#ifndef GSP_TEST_CG_RUN_H
#define GSP_TEST_CG_RUN_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gsperf/codegraph.h"
#include "gsperf/integration.h"
#include "gsperf/tier.h"

/* How cg_farm_parse parses. */
typedef struct cg_farm_how {
  const char *skip;   /* a path left without a result, or NULL */
  bool macros;        /* parse with the names handed (gsp_cg_parse_file_with) */
  bool through_bytes; /* pass each result through gsp_cg_result_bytes/_load */
} cg_farm_how;

static inline int cg_farm_parse_one(gsp_cg_parser *p, const char *root, gsp_cg_farm_file *f,
                                    const cg_farm_how *how) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, f->path);
  gsp_cg_result *r = NULL;
  int rv = how->macros
               ? gsp_cg_parse_file_with(p, path, f->lang, 0, f->macros, f->nmacros, f->hash, &r)
               : gsp_cg_parse_file(p, path, f->lang, 0, f->hash, &r);
  if (rv != GSP_OK || !how->through_bytes) {
    f->res = r;
    return rv;
  }
  size_t len = 0;
  const void *bytes = gsp_cg_result_bytes(r, &len);
  rv = gsp_cg_result_load(bytes, len, &f->res);
  gsp_cg_result_free(r);
  return rv;
}

/* The body of a farm (gsp_cg_config.farm): files ff[0, n) under root read,
 * hashed and parsed, each result set. GSP_OK, or the first failure (the
 * files after it are left without a result). */
static inline int cg_farm_parse(const char *root, gsp_cg_farm_file *ff, size_t n,
                                const cg_farm_how *how) {
  gsp_cg_parser *p = NULL;
  int rv = gsp_cg_parser_create(&p);
  for (size_t i = 0; rv == GSP_OK && i < n; i++) {
    if (how->skip && strcmp(ff[i].path, how->skip) == 0) continue;
    rv = cg_farm_parse_one(p, root, &ff[i], how);
  }
  gsp_cg_parser_destroy(p);
  return rv;
}

/* The result store `gsperf analyze` opens on the cache directory: L3 in
 * LMDB, written behind and around L1, no promotion, no durability. NULL
 * (the reason on stderr) when it cannot be created. */
static inline gsp_tier *cg_open_store(const char *cache) {
  char uri[512], err[512] = "";
  snprintf(uri, sizeof uri, "lmdb:%s", cache);
  gsp_tier_config tc = {.l3 = uri,
                        .write_mode = GSP_TIER_WRITE_BEHIND,
                        .write_around = true,
                        .durability = GSP_TIER_NONE,
                        .no_promote = true};
  gsp_tier *t = NULL;
  if (gsp_tier_create(&tc, &t, err, sizeof err) != GSP_OK) fprintf(stderr, "tier: %s\n", err);
  return t;
}

/* A graph over root (2 jobs) set up by the integration engine (one
 * worker, two I/O workers) on store (NULL = none), as `gsperf analyze`
 * does; hook, when set, is the stage hook. The caller destroys *cg, then
 * *ig (both set, possibly NULL, whatever the outcome). */
static inline int cg_create_integrated(const char *root, gsp_tier *store, gsp_cg_stage_fn hook,
                                       void *hook_user, gsp_integration **ig, gsp_cg **cg) {
  *ig = NULL, *cg = NULL;
  gsp_opt_config ec = {.max_workers = 1, .io_workers = 2};
  int rv = gsp_integration_create(&(gsp_integration_config){.engine_cfg = &ec, .store = store}, ig,
                                  NULL, 0);
  if (rv != GSP_OK) return rv;
  gsp_cg_config cfg = {.root = root, .jobs = 2};
  gsp_integration_apply(*ig, &cfg);
  if (hook) cfg.stage_hook = hook, cfg.stage_user = hook_user;
  return gsp_cg_create(&cfg, cg);
}

#endif
