/*
 * query.c - gsp_cgdb: read-only queries over a database written by
 * gsp_cg_write_db (schema version 4, in db.c; files of versions 1 to 3
 * are refused with GSP_ENOTSUP). Names are looked up by the keys of
 * symbol_names and calls. Each query is one prepared SELECT with
 * a fixed ORDER BY, so answers are stable; rows go to the caller's
 * callback as strings (NULL columns become "").
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db_int.h"

struct gsp_cgdb {
  sqlite3 *db;
  char err[512];
};

/* the module with its leading dots for a relative import */
#define MODULE_AS_WRITTEN "substr('................', 1, i.level) || i.module"

static const char *const deps_cols[] = {"path", "line", "module", NULL};
static const char *const cycles_cols[] = {"cycle", "path", NULL};
static const char *const symbol_cols[] = {"path", "line", "kind", "parent", NULL};
static const char *const callers_cols[] = {"path", "line", "caller", "target", NULL};
static const char *const impact_cols[] = {"path", NULL};

static const struct {
  const char *sql;
  const char *const *cols;
  bool file_arg;
} queries[] = {
    [GSP_CGDB_DEPS] = {"SELECT t.path, MIN(i.line), " MODULE_AS_WRITTEN
                       " FROM imports i JOIN files t"
                       " ON t.id = i.target_file_id WHERE i.file_id = ?1 GROUP BY t.id"
                       " ORDER BY t.path",
                       deps_cols, true},
    [GSP_CGDB_RDEPS] = {"SELECT s.path, MIN(i.line), " MODULE_AS_WRITTEN
                        " FROM imports i JOIN files s"
                        " ON s.id = i.file_id WHERE i.target_file_id = ?1 GROUP BY s.id"
                        " ORDER BY s.path",
                        deps_cols, true},
    [GSP_CGDB_CYCLES] = {"SELECT component, path FROM files WHERE in_cycle = 1"
                         " ORDER BY component, path",
                         cycles_cols, false},
    [GSP_CGDB_SYMBOL] = {"SELECT f.path, s.line, s.kind, COALESCE(p.name, '')"
                         " FROM symbol_names n JOIN symbols s ON s.id = n.id"
                         " JOIN files f ON f.id = s.file_id LEFT JOIN symbols p"
                         " ON p.id = s.parent_id WHERE n.name = ?1 ORDER BY f.path, s.line, s.id",
                         symbol_cols, false},
    [GSP_CGDB_CALLERS] = {"SELECT f.path, r.line, COALESCE(c.name, ''), COALESCE(tf.path, '')"
                          " FROM calls r JOIN files f ON f.id = r.file_id"
                          " LEFT JOIN symbols c ON c.id = r.scope_id"
                          " LEFT JOIN ref_targets rt ON rt.id = r.id"
                          " LEFT JOIN symbols t ON t.id = rt.target_symbol_id"
                          " LEFT JOIN files tf ON tf.id = t.file_id"
                          " WHERE r.name = ?1 ORDER BY f.path, r.line, r.id",
                          callers_cols, false},
    [GSP_CGDB_IMPACT] = {"WITH RECURSIVE up(id) AS (SELECT ?1 UNION SELECT e.src_file_id"
                         " FROM edges e JOIN up ON e.dst_file_id = up.id WHERE e.kind = 'import')"
                         " SELECT path FROM files WHERE id IN up AND id != ?1 ORDER BY path",
                         impact_cols, true},
};

static int fail(gsp_cgdb *db, int rv, const char *what) {
  snprintf(db->err, sizeof db->err, "%s", what);
  return rv;
}

/* GSP_OK: schema version 4; GSP_ENOTSUP: an older one; else not ours. */
static int schema_of(sqlite3 *db) {
  sqlite3_stmt *s = NULL;
  int rv = GSP_ECORRUPT;
  if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &s, NULL) ==
          SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
    const char *v = (const char *)sqlite3_column_text(s, 0);
    bool older = strcmp(v, "1") == 0 || strcmp(v, "2") == 0 || strcmp(v, "3") == 0;
    rv = strcmp(v, CG_DB_SCHEMA) == 0 ? GSP_OK : older ? GSP_ENOTSUP : GSP_ECORRUPT;
  }
  sqlite3_finalize(s);
  return rv;
}

/* Read-write when the file allows it, so that SQLite rolls back a journal
 * left by a killed update before the first read; else read-only. */
static int open_conn(const char *path, sqlite3 **db) {
  if (access(path, W_OK) == 0 &&
      sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK)
    return GSP_OK;
  sqlite3_close(*db), *db = NULL;
  return sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK
             ? GSP_OK
             : GSP_ECORRUPT;
}

int gsp_cgdb_open(const char *path, gsp_cgdb **out) {
  if (path == NULL || out == NULL) return GSP_EINVAL;
  *out = NULL;
  if (access(path, R_OK) != 0) return GSP_ENOENT;
  gsp__cg_sqlite_setup();
  gsp_cgdb *db = gsp_calloc(1, sizeof *db);
  if (db == NULL) return GSP_ENOMEM;
  int rv = open_conn(path, &db->db);
  if (rv == GSP_OK) rv = schema_of(db->db);
  if (rv != GSP_OK) {
    gsp_cgdb_close(db);
    return rv;
  }
  *out = db;
  return GSP_OK;
}

void gsp_cgdb_close(gsp_cgdb *db) {
  if (db == NULL) return;
  sqlite3_close(db->db);
  gsp_free(db);
}

const char *gsp_cgdb_errmsg(const gsp_cgdb *db) { return db ? db->err : ""; }

static int file_id(gsp_cgdb *db, const char *path, int64_t *id) {
  while (path[0] == '.' && path[1] == '/') path += 2;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db->db, "SELECT id FROM files WHERE path = ?1", -1, &s, NULL) != SQLITE_OK)
    return fail(db, GSP_EIO, sqlite3_errmsg(db->db));
  sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  if (rc == SQLITE_ROW) return GSP_OK;
  snprintf(db->err, sizeof db->err, "%s: no such file in the database", path);
  return GSP_ENOENT;
}

static int run_rows(gsp_cgdb *db, sqlite3_stmt *s, size_t ncols, gsp_cgdb_row_fn row, void *user) {
  const char *vals[8];
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    for (size_t i = 0; i < ncols && i < 8; i++) {
      const unsigned char *t = sqlite3_column_text(s, (int)i);
      vals[i] = t ? (const char *)t : "";
    }
    if (row) row(user, ncols, vals);
  }
  return rc == SQLITE_DONE ? GSP_OK : fail(db, GSP_EIO, sqlite3_errmsg(db->db));
}

int gsp_cgdb_run(gsp_cgdb *db, gsp_cgdb_query q, const char *arg, const char *const **cols,
                 gsp_cgdb_row_fn row, void *user) {
  if (db == NULL || q < GSP_CGDB_DEPS || q > GSP_CGDB_IMPACT) return GSP_EINVAL;
  if (q != GSP_CGDB_CYCLES && arg == NULL) return GSP_EINVAL;
  if (cols) *cols = queries[q].cols;
  size_t ncols = 0;
  while (queries[q].cols[ncols]) ncols++;
  int64_t id = 0;
  if (queries[q].file_arg) {
    int rv = file_id(db, arg, &id);
    if (rv != GSP_OK) return rv;
  }
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db->db, queries[q].sql, -1, &s, NULL) != SQLITE_OK)
    return fail(db, GSP_EIO, sqlite3_errmsg(db->db));
  if (queries[q].file_arg)
    sqlite3_bind_int64(s, 1, id);
  else if (q != GSP_CGDB_CYCLES)
    sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
  int rv = run_rows(db, s, ncols, row, user);
  sqlite3_finalize(s);
  return rv;
}
