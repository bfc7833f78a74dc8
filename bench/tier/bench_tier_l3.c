/*
 * bench_tier_l3.c - sections l3-get and sync-put of bench_tier (see
 * bench_tier.c): the tier's L3 next to raw LMDB and a SQLite WAL table.
 */
#include <lmdb.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bench_tier.h"

/* ---- raw LMDB ------------------------------------------------------------------ */

typedef struct raw_lmdb {
  MDB_env *env;
  MDB_dbi dbi;
  MDB_txn *rtxn; /* reset between gets */
} raw_lmdb;

static void raw_open(raw_lmdb *r, const char *dir, size_t mapsize) {
  if (mdb_env_create(&r->env) || mdb_env_set_mapsize(r->env, mapsize) ||
      mdb_env_open(r->env, dir, MDB_NOTLS, 0644)) {
    fprintf(stderr, "raw lmdb: cannot open %s\n", dir);
    exit(1);
  }
  MDB_txn *txn;
  mdb_txn_begin(r->env, NULL, 0, &txn);
  mdb_dbi_open(txn, NULL, 0, &r->dbi);
  mdb_txn_commit(txn);
  mdb_txn_begin(r->env, NULL, MDB_RDONLY, &r->rtxn);
  mdb_txn_reset(r->rtxn);
}

static void raw_close(raw_lmdb *r) {
  mdb_txn_abort(r->rtxn);
  mdb_env_close(r->env);
}

/* One put in its own transaction (durable on return with default flags). */
static int raw_put(raw_lmdb *r, const char *k, const void *v, size_t n) {
  MDB_txn *txn;
  if (mdb_txn_begin(r->env, NULL, 0, &txn)) return -1;
  MDB_val kv = {strlen(k), (void *)k}, vv = {n, (void *)v};
  if (mdb_put(txn, r->dbi, &kv, &vv, 0)) {
    mdb_txn_abort(txn);
    return -1;
  }
  return mdb_txn_commit(txn) ? -1 : 0;
}

/* mdb_get with the value left in the map (not read): the floor. */
static int raw_get_inplace(raw_lmdb *r, const char *k, size_t *n) {
  if (mdb_txn_renew(r->rtxn)) return -1;
  MDB_val kv = {32, (void *)k}, vv;
  int rc = mdb_get(r->rtxn, r->dbi, &kv, &vv);
  if (rc == 0) *n = vv.mv_size;
  mdb_txn_reset(r->rtxn);
  return rc ? -1 : 0;
}

static int raw_get(raw_lmdb *r, const char *k, void **out, size_t *n) {
  if (mdb_txn_renew(r->rtxn)) return -1;
  MDB_val kv = {32, (void *)k}, vv;
  int rc = mdb_get(r->rtxn, r->dbi, &kv, &vv);
  if (rc == 0) {
    *out = malloc(vv.mv_size);
    memcpy(*out, vv.mv_data, vv.mv_size);
    *n = vv.mv_size;
  }
  mdb_txn_reset(r->rtxn);
  return rc ? -1 : 0;
}

/* ---- SQLite (WAL) --------------------------------------------------------------- */

typedef struct raw_sql {
  sqlite3 *db;
  sqlite3_stmt *get, *put;
} raw_sql;

static void sql_open(raw_sql *s, const char *dir, bool full_sync) {
  char f[600];
  snprintf(f, sizeof f, "%s/kv.db", dir);
  if (sqlite3_open(f, &s->db) != SQLITE_OK) exit(1);
  sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
  sqlite3_exec(s->db, full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF", NULL, NULL,
               NULL);
  sqlite3_exec(s->db, "CREATE TABLE IF NOT EXISTS kv(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID",
               NULL, NULL, NULL);
  sqlite3_prepare_v2(s->db, "SELECT v FROM kv WHERE k = ?", -1, &s->get, NULL);
  sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO kv(k, v) VALUES (?, ?)", -1, &s->put, NULL);
}

static void sql_close(raw_sql *s) {
  sqlite3_finalize(s->get);
  sqlite3_finalize(s->put);
  sqlite3_close(s->db);
}

static int sql_put(raw_sql *s, const char *k, const void *v, size_t n) {
  sqlite3_bind_text(s->put, 1, k, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s->put, 2, v, (int)n, SQLITE_STATIC);
  int rc = sqlite3_step(s->put);
  sqlite3_reset(s->put);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int sql_get(raw_sql *s, const char *k, void **out, size_t *n) {
  sqlite3_bind_text(s->get, 1, k, 32, SQLITE_STATIC);
  int rc = sqlite3_step(s->get);
  if (rc == SQLITE_ROW) {
    *n = (size_t)sqlite3_column_bytes(s->get, 0);
    *out = malloc(*n);
    memcpy(*out, sqlite3_column_blob(s->get, 0), *n);
  }
  sqlite3_reset(s->get);
  return rc == SQLITE_ROW ? 0 : -1;
}

/* ---- l3-get ----------------------------------------------------------------------- */

enum { S_TIER, S_TIER_NP, S_VIEW, S_VIEW_NP, S_RAW, S_RAW_INPLACE, S_SQL, S_N };
static const char *const subj[S_N] = {
    "tier get (promote)", "tier get (no_promote)", "tier view (promote)", "tier view (no_promote)",
    "raw LMDB get+copy",  "raw LMDB in place",     "SQLite WAL"};

typedef struct l3env {
  gsp_tier *tier[2]; /* [0] promotes into L1, [1] does not; separate directories */
  raw_lmdb raw;
  raw_sql sql;
} l3env;

static gsp_tier *open_tier(const char *dir, gsp_tier_durability d, bool no_promote) {
  char uri[600], err[512];
  snprintf(uri, sizeof uri, "lmdb:%s", dir);
  gsp_tier_config cfg = {.l1_max_entries = 16,
                         .l2_max_bytes = SIZE_MAX,
                         .l3 = uri,
                         .l3_max_bytes = 4ull << 30,
                         .durability = d,
                         .no_promote = no_promote};
  gsp_tier *t;
  if (gsp_tier_create(&cfg, &t, err, sizeof err) != GSP_OK) {
    fprintf(stderr, "tier: %s\n", err);
    exit(1);
  }
  return t;
}

static void fill(l3env *e, const corpus *c, unsigned n, size_t v) {
  char k[33];
  MDB_txn *txn;
  mdb_txn_begin(e->raw.env, NULL, 0, &txn);
  sqlite3_exec(e->sql.db, "BEGIN", NULL, NULL, NULL);
  for (unsigned i = 0; i < n; i++) {
    hex_key(k, i);
    const char *val = slice(c, i, v);
    gsp_tier_put(e->tier[0], k, 32, val, v, NULL);
    gsp_tier_put(e->tier[1], k, 32, val, v, NULL);
    MDB_val kv = {32, k}, vv = {v, (void *)val};
    mdb_put(txn, e->raw.dbi, &kv, &vv, 0);
    sql_put(&e->sql, k, val, v);
  }
  mdb_txn_commit(txn);
  sqlite3_exec(e->sql.db, "COMMIT", NULL, NULL, NULL);
}

/* One get of subject s; returns nonzero on a miss. The copying subjects
 * free what they got; the in-place ones read nothing of the value. */
static int get_one(l3env *e, int s, const char *k) {
  void *v = NULL;
  size_t vn = 0;
  int rc;
  gsp_tier_view view;
  switch (s) {
    case S_RAW:
      rc = raw_get(&e->raw, k, &v, &vn);
      free(v);
      return rc;
    case S_RAW_INPLACE:
      return raw_get_inplace(&e->raw, k, &vn);
    case S_SQL:
      rc = sql_get(&e->sql, k, &v, &vn);
      free(v);
      return rc;
    case S_VIEW:
    case S_VIEW_NP:
      rc = gsp_tier_get_view(e->tier[s == S_VIEW_NP], k, 32, &view);
      gsp_tier_view_release(&view);
      return rc;
    default:
      rc = gsp_tier_get(e->tier[s == S_TIER_NP], k, 32, &v, &vn);
      gsp_free(v);
      return rc;
  }
}

/* One timed pass of `gets` random gets on subject s; returns misses. */
static unsigned get_pass(l3env *e, int s, unsigned n, unsigned gets, uint64_t seed) {
  unsigned bad = 0;
  char k[33];
  for (unsigned g = 0; g < gets; g++) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    hex_key(k, (unsigned)(seed % n));
    bad += get_one(e, s, k) != 0;
  }
  return bad;
}

static void print_l3_get(unsigned n, size_t v, unsigned gets, unsigned bad,
                         double wall[S_N][MAX_ROUNDS], double cpu[S_N][MAX_ROUNDS],
                         double ratio[S_N][MAX_ROUNDS]) {
  printf("== l3-get: %u entries of %zu B (%.0f MB), %u random gets per round%s\n", n, v,
         (double)n * (double)v / 1e6, gets, bad ? " (MISSES: a bug)" : "");
  printf("%-24s %12s %12s %10s %12s\n", "subject", "gets/s wall", "gets/s cpu", "ns/get cpu",
         "cpu vs raw");
  for (int s = 0; s < S_N; s++)
    printf("%-24s %12.0f %12.0f %10.0f %11.0f%%\n", subj[s], gets / median(wall[s], g_rounds),
           gets / median(cpu[s], g_rounds), 1e9 * median(cpu[s], g_rounds) / gets,
           100 * median(ratio[s], g_rounds));
  printf("per-round throughput ratio (cpu) to raw get+copy, tier get / view (no_promote):");
  for (unsigned r = 0; r < g_rounds; r++)
    printf(" %.2f/%.2f", ratio[S_TIER_NP][r], ratio[S_VIEW_NP][r]);
  printf("\n\n");
}

void section_l3_get(const corpus *c, unsigned n, size_t v, unsigned gets) {
  char d_tier[2][512], d_raw[512];
  scratch(d_tier[0], sizeof d_tier[0], "l3t");
  scratch(d_tier[1], sizeof d_tier[1], "l3n");
  scratch(d_raw, sizeof d_raw, "l3r");
  l3env e;
  /* the tiers stay open for the whole section, as raw LMDB does (so both
   * sides have the map's pages faulted in after the first round); L1 holds
   * 16 entries of n, so the gets are served by L3 */
  e.tier[0] = open_tier(d_tier[0], GSP_TIER_NONE, false);
  e.tier[1] = open_tier(d_tier[1], GSP_TIER_NONE, true);
  raw_open(&e.raw, d_raw, 4ull << 30);
  sql_open(&e.sql, d_raw, false);
  fill(&e, c, n, v);
  double wall[S_N][MAX_ROUNDS], cpu[S_N][MAX_ROUNDS], ratio[S_N][MAX_ROUNDS];
  unsigned bad = 0;
  for (unsigned r = 0; r < g_rounds; r++) {
    for (int j = 0; j < S_N; j++) {
      int s = (j + (int)r) % S_N;
      double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
      bad += get_pass(&e, s, n, gets, 0x9E3779B97F4A7C15ull + r);
      wall[s][r] = now_s(CLOCK_MONOTONIC) - w0;
      cpu[s][r] = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    /* ratios of CPU time: one thread, so CPU time is the work done, while
     * wall time also counts the time other jobs of a loaded machine ran */
    for (int s = 0; s < S_N; s++) ratio[s][r] = cpu[S_RAW][r] / cpu[s][r];
  }
  print_l3_get(n, v, gets, bad, wall, cpu, ratio);
  gsp_tier_destroy(e.tier[0]);
  gsp_tier_destroy(e.tier[1]);
  raw_close(&e.raw);
  sql_close(&e.sql);
  rm_scratch(d_tier[0]);
  rm_scratch(d_tier[1]);
  rm_scratch(d_raw);
}

/* ---- sync-put ----------------------------------------------------------------------- */

void section_sync_put(const corpus *c, size_t v, unsigned puts) {
  char d_tier[512], d_raw[512];
  scratch(d_tier, sizeof d_tier, "spt");
  scratch(d_raw, sizeof d_raw, "spr");
  gsp_tier *t = open_tier(d_tier, GSP_TIER_SYNC, false);
  raw_lmdb raw;
  raw_sql sql;
  raw_open(&raw, d_raw, 1ull << 30);
  sql_open(&sql, d_raw, true);
  enum { P_TIER, P_RAW, P_SQL, P_N };
  static const char *const names[P_N] = {"tier SYNC put", "raw LMDB txn+fsync",
                                         "SQLite WAL sync=FULL"};
  double wall[P_N][MAX_ROUNDS], cpu[P_N][MAX_ROUNDS], ratio[P_N][MAX_ROUNDS];
  unsigned next = 0, bad = 0;
  char k[33];
  for (unsigned r = 0; r < g_rounds; r++) {
    for (int j = 0; j < P_N; j++) {
      int s = (j + (int)r) % P_N;
      double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
      for (unsigned i = 0; i < puts; i++, next++) {
        hex_key(k, next);
        const char *val = slice(c, next, v);
        bad += (s == P_TIER  ? gsp_tier_put(t, k, 32, val, v, NULL)
                : s == P_RAW ? raw_put(&raw, k, val, v)
                             : sql_put(&sql, k, val, v)) != 0;
      }
      wall[s][r] = now_s(CLOCK_MONOTONIC) - w0;
      cpu[s][r] = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    for (int s = 0; s < P_N; s++) ratio[s][r] = wall[s][r] / wall[P_RAW][r];
  }
  printf("== sync-put: %u new entries of %zu B per round, durable when the call returns%s\n", puts,
         v, bad ? " (FAILED PUTS)" : "");
  printf("%-22s %12s %12s %16s\n", "subject", "puts/s wall", "us cpu/put", "time vs raw");
  for (int s = 0; s < P_N; s++)
    printf("%-22s %12.0f %12.1f %15.2fx\n", names[s], puts / median(wall[s], g_rounds),
           1e6 * median(cpu[s], g_rounds) / puts, median(ratio[s], g_rounds));
  printf("per-round time tier/raw:");
  for (unsigned r = 0; r < g_rounds; r++) printf(" %.2f", ratio[P_TIER][r]);
  printf("  (the disk is shared: rounds vary)\n\n");
  gsp_tier_destroy(t);
  raw_close(&raw);
  sql_close(&sql);
  rm_scratch(d_tier);
  rm_scratch(d_raw);
}
