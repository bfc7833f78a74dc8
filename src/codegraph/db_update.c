/*
 * db_update.c - bring a database written by an earlier run (same root,
 * same gsperf version, schema 4) to this run's graph by writing only the
 * rows that differ.
 *
 * Base: the stored files table (cg_dbrow per row, read before the run
 * needs it: id, path -> this run's file, lang, hash, bytes, component,
 * in_cycle, bind). Each file of this run is then one of:
 *
 *   new      no row, or lang/hash/bytes differ: its old rows (if any) are
 *            deleted by id range (symbol_names: by the names of its old
 *            symbols and id range; type_uses by file id; calls, keyed by
 *            name, for all such files in one statement) and all its rows
 *            inserted
 *   rebound  same content, other resolution (files.bind differs): its
 *            imports, reference targets and outgoing edges are replaced
 *            and its files row updated (component, in_cycle, bind)
 *   moved    only component/in_cycle differ: its files row updated
 *   same     nothing written
 *
 * and a row whose path is gone is deleted with all its rows. meta.inputs
 * is updated last. Everything happens in one transaction on PATH itself
 * under a rollback journal, so a process killed mid-update leaves a hot
 * journal that the next opener (writer or gsp_cgdb_open) rolls back: the
 * old graph, or after COMMIT the new one, never a mix.
 *
 * Ids do not depend on other files, so the rows written are exactly a cold
 * write's; the result is the same database content (tested with sqlite3
 * .dump). The update is skipped (the writer writes cold) when a kept
 * file's id moved (a hash collision resolved another way) or when it
 * would rewrite more than half of the rows.
 *
 * Invariant: nothing is written before BEGIN IMMEDIATE; any failure rolls
 * back and leaves PATH as it was.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "db_int.h"

void (*gsp__cg_db_update_hook)(void *sqlite_db) = NULL;

static const char *col_text(sqlite3_stmt *st, int c) {
  const unsigned char *t = sqlite3_column_text(st, c);
  return t ? (const char *)t : "";
}

static bool read_row(cg_dbw *w, sqlite3_stmt *st, cg_dbrow *r) {
  const char *path = col_text(st, 1);
  r->id = sqlite3_column_int64(st, 0);
  snprintf(r->lang, sizeof r->lang, "%s", col_text(st, 2));
  snprintf(r->hash, sizeof r->hash, "%s", col_text(st, 3));
  r->bytes = sqlite3_column_int64(st, 4);
  r->component = sqlite3_column_int64(st, 5);
  r->in_cycle = sqlite3_column_int(st, 6);
  r->bind = sqlite3_column_int64(st, 7);
  r->f = gsp__cg_lookup(w->cg, path, strlen(path));
  if (r->f < 0) return true;
  if (w->old_of[r->f] >= 0) return false; /* two rows of one path: not ours */
  w->old_of[r->f] = (long)(r - w->old);
  return true;
}

bool gsp__cg_dbw_load_old(cg_dbw *w, sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  size_t n = 0, nf = w->cg->nfiles;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM files", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = (size_t)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st), st = NULL;
  w->old = gsp_calloc(n + 1, sizeof *w->old);
  w->old_of = gsp_malloc((nf + 1) * sizeof *w->old_of);
  bool ok = w->old && w->old_of &&
            sqlite3_prepare_v2(db,
                               "SELECT id, path, lang, hash, bytes, component, in_cycle, bind"
                               " FROM files",
                               -1, &st, NULL) == SQLITE_OK;
  for (size_t f = 0; ok && f < nf; f++) w->old_of[f] = -1;
  size_t i = 0;
  while (ok && i < n && sqlite3_step(st) == SQLITE_ROW) ok = read_row(w, st, &w->old[i++]);
  ok = ok && i == n && sqlite3_step(st) == SQLITE_DONE;
  sqlite3_finalize(st);
  w->nold = i;
  w->have_old = ok;
  return ok;
}

/* ---- what each file needs ---- */

enum { ACT_SAME, ACT_MOVED, ACT_REBOUND, ACT_NEW };

static size_t nrows(const cg_file *file, bool defs) {
  const gsp_cg_result *r = file->res;
  if (r == NULL) return 0;
  return (defs ? gsp_cg_result_ndefs(r) : 0) + gsp_cg_result_nimports(r) + gsp_cg_result_nrefs(r);
}

static int classify(const cg_dbw *w, size_t f) {
  const gsp_cg *cg = w->cg;
  const cg_file *file = &cg->files[f];
  if (w->old_of[f] < 0) return ACT_NEW;
  const cg_dbrow *r = &w->old[w->old_of[f]];
  char hex[33];
  gsp__cg_dbw_hash_hex(file, hex);
  if (strcmp(r->lang, gsp_cg_lang_name(file->lang)) != 0 || strcmp(r->hash, hex) != 0 ||
      r->bytes != (int64_t)file->size)
    return ACT_NEW;
  if (r->bind != gsp__cg_dbw_bind(w, f)) return ACT_REBOUND;
  uint32_t c = cg->comp_of[f];
  return r->component != (int64_t)c || r->in_cycle != cg->comp_cycle[c] ? ACT_MOVED : ACT_SAME;
}

/* act per file; false when a cold write is the better (or only) way. */
static bool plan(const cg_dbw *w, uint8_t *act) {
  size_t work = 0, total = 0;
  for (size_t i = 0; i < w->nold; i++) {
    long f = w->old[i].f;
    if (f >= 0 && w->fid[f] != w->old[i].id) return false; /* a kept file's id moved */
    if (f < 0) work++;
  }
  for (size_t f = 0; f < w->cg->nfiles; f++) {
    const cg_file *file = &w->cg->files[f];
    act[f] = (uint8_t)classify(w, f);
    total += nrows(file, true) + 1;
    if (act[f] == ACT_NEW) work += nrows(file, true) + 1;
    if (act[f] == ACT_REBOUND) work += nrows(file, false) + 1;
    work += act[f] == ACT_MOVED;
  }
  return work * 2 <= total;
}

/* ---- the transaction ---- */

/* Per file: symbol_names first (found through the symbols they name),
 * then DL_USE: a rebound file deletes DL_IMP..DL_EDGE (not its sites);
 * DL_USE and from DL_EDGE on: by file id, the others by id range. Calls
 * (keyed by name) go in one statement for every file whose rows go:
 * DL_CALLS, a JSON array of file ids. */
enum {
  DL_SNAME,
  DL_USE,
  DL_SYM,
  DL_IMP,
  DL_TGT,
  DL_EDGE,
  DL_FILE,
  UP_FILE,
  UP_META,
  DL_CALLS,
  DL__N
};
static const char delete_names_sql[] =
    "DELETE FROM symbol_names WHERE id BETWEEN ?1 AND ?2"
    " AND name IN (SELECT name FROM symbols WHERE id BETWEEN ?1 AND ?2)";
static const char *const change_sql[DL__N] = {
    delete_names_sql,
    "DELETE FROM type_uses WHERE file_id = ?1",
    "DELETE FROM symbols WHERE id BETWEEN ?1 AND ?2",
    "DELETE FROM imports WHERE id BETWEEN ?1 AND ?2",
    "DELETE FROM ref_targets WHERE id BETWEEN ?1 AND ?2",
    "DELETE FROM edges WHERE src_file_id = ?1",
    "DELETE FROM files WHERE id = ?1",
    "UPDATE files SET component = ?2, in_cycle = ?3, bind = ?4 WHERE id = ?1",
    "UPDATE meta SET value = ?2 WHERE key = ?1",
    "DELETE FROM calls WHERE file_id IN (SELECT value FROM json_each(?1))",
};

typedef struct upd {
  cg_dbw *w;
  sqlite3_stmt *st[DL__N];
} upd;

/* Delete the rows of file id fid: the tables in [from, to] of DL_*. */
static int delete_rows(upd *u, int64_t fid, int from, int to) {
  int rv = GSP_OK;
  for (int t = from; rv == GSP_OK && t <= to; t++) {
    sqlite3_stmt *s = u->st[t];
    bool range = t < DL_EDGE && t != DL_USE;
    sqlite3_bind_int64(s, 1, range ? CG_DB_ROW0(fid) : fid);
    if (range) sqlite3_bind_int64(s, 2, CG_DB_ROW0(fid) + CG_DB_ROWS_PER_FILE - 1);
    rv = gsp__cg_dbw_step(u->w, s);
  }
  return rv;
}

static int update_file_row(upd *u, size_t f) {
  const gsp_cg *cg = u->w->cg;
  sqlite3_stmt *s = u->st[UP_FILE];
  sqlite3_bind_int64(s, 1, u->w->fid[f]);
  sqlite3_bind_int64(s, 2, (int64_t)cg->comp_of[f]);
  sqlite3_bind_int(s, 3, cg->comp_cycle[cg->comp_of[f]]);
  sqlite3_bind_int64(s, 4, gsp__cg_dbw_bind(u->w, f));
  return gsp__cg_dbw_step(u->w, s);
}

static int apply_file(upd *u, size_t f, int act) {
  cg_dbw *w = u->w;
  int rv = GSP_OK;
  if (act == ACT_NEW) {
    if (w->old_of[f] >= 0) rv = delete_rows(u, w->old[w->old_of[f]].id, DL_SNAME, DL_FILE);
    if (rv == GSP_OK) rv = gsp__cg_dbw_symbols(w, f);
    if (rv == GSP_OK) rv = gsp__cg_dbw_ref_sites(w, f);
    if (rv == GSP_OK) rv = gsp__cg_dbw_file_names(w, f);
  } else if (act == ACT_REBOUND) {
    rv = delete_rows(u, w->fid[f], DL_IMP, DL_EDGE);
  }
  if (act < ACT_REBOUND) return act == ACT_MOVED ? update_file_row(u, f) : GSP_OK;
  if (rv == GSP_OK) rv = gsp__cg_dbw_imports(w, f);
  if (rv == GSP_OK) rv = gsp__cg_dbw_ref_targets(w, f);
  if (rv == GSP_OK) rv = gsp__cg_dbw_edges(w, f);
  if (rv != GSP_OK) return rv;
  return act == ACT_NEW ? gsp__cg_dbw_file_row(w, f) : update_file_row(u, f);
}

/* The calls of every file whose rows go (removed, or new with an old
 * row), in one statement: calls are keyed by name, so this reads the
 * table once rather than once per file. */
static int delete_calls(upd *u, const uint8_t *act) {
  cg_dbw *w = u->w;
  size_t cap = 64, len = 1;
  char *ids = gsp_malloc(cap);
  if (ids == NULL) return GSP_ENOMEM;
  ids[0] = '[';
  for (size_t i = 0; i < w->nold; i++) {
    long f = w->old[i].f;
    if (f >= 0 && act[f] != ACT_NEW) continue;
    if (len + 24 > cap) {
      char *t = gsp_realloc(ids, cap *= 2);
      if (t == NULL) {
        gsp_free(ids);
        return GSP_ENOMEM;
      }
      ids = t;
    }
    len += (size_t)snprintf(ids + len, cap - len, "%s%lld", len > 1 ? "," : "",
                            (long long)w->old[i].id);
  }
  ids[len++] = ']';
  int rv = GSP_OK;
  if (len > 2) {
    sqlite3_bind_text(u->st[DL_CALLS], 1, ids, (int)len, SQLITE_STATIC);
    rv = gsp__cg_dbw_step(w, u->st[DL_CALLS]);
  }
  gsp_free(ids);
  return rv;
}

static int apply_all(upd *u, const uint8_t *act) {
  cg_dbw *w = u->w;
  int rv = delete_calls(u, act);
  for (size_t i = 0; rv == GSP_OK && i < w->nold; i++)
    if (w->old[i].f < 0) rv = delete_rows(u, w->old[i].id, DL_SNAME, DL_FILE);
  for (size_t i = 0; rv == GSP_OK && i < w->cg->nfiles; i++)
    rv = apply_file(u, w->order[i], act[w->order[i]]);
  if (rv != GSP_OK) return rv;
  char hex[33];
  gsp__cg_dbw_key_hex(w->cg->inputs_key, hex);
  sqlite3_bind_text(u->st[UP_META], 1, "inputs", -1, SQLITE_STATIC);
  sqlite3_bind_text(u->st[UP_META], 2, hex, -1, SQLITE_STATIC);
  return gsp__cg_dbw_step(w, u->st[UP_META]);
}

static int open_path(upd *u) {
  cg_dbw *w = u->w;
  w->db_path_shown = w->path;
  if (sqlite3_open_v2(w->path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
      SQLITE_OK) {
    gsp__cg_dbw_err(w, "%s: %s", w->path, w->db ? sqlite3_errmsg(w->db) : "cannot open");
    return GSP_EIO;
  }
  bool low = w->cg->cfg.memory == GSP_CG_MEMORY_AGGRESSIVE;
  int rv = gsp__cg_dbw_exec(w, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=NORMAL;");
  if (rv == GSP_OK)
    rv = gsp__cg_dbw_exec(w, low ? "PRAGMA cache_size=-4096;" : "PRAGMA cache_size=-65536;");
  if (rv == GSP_OK) rv = gsp__cg_dbw_prepare(w);
  for (int i = 0; rv == GSP_OK && i < DL__N; i++)
    if (sqlite3_prepare_v2(w->db, change_sql[i], -1, &u->st[i], NULL) != SQLITE_OK) {
      gsp__cg_dbw_err(w, "%s: %s", w->path, sqlite3_errmsg(w->db));
      rv = GSP_EIO;
    }
  return rv == GSP_OK ? gsp__cg_dbw_exec(w, "BEGIN IMMEDIATE") : rv;
}

static int close_path(upd *u, int rv) {
  cg_dbw *w = u->w;
  if (rv != GSP_OK && w->db && !sqlite3_get_autocommit(w->db))
    sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
  for (int i = 0; i < DL__N; i++) sqlite3_finalize(u->st[i]);
  gsp__cg_dbw_finalize(w);
  if (w->db && sqlite3_close(w->db) != SQLITE_OK && rv == GSP_OK) {
    gsp__cg_dbw_err(w, "%s: sqlite: cannot close", w->path);
    rv = GSP_EIO;
  }
  w->db = NULL;
  return rv;
}

int gsp__cg_dbw_update(cg_dbw *w, bool *applied) {
  *applied = false;
  if (!w->have_old) return GSP_OK;
  uint8_t *act = gsp_malloc(w->cg->nfiles + 1);
  if (act == NULL) return GSP_ENOMEM;
  if (!plan(w, act)) {
    gsp_free(act);
    return GSP_OK;
  }
  upd u = {.w = w};
  int rv = open_path(&u);
  if (rv == GSP_OK) rv = apply_all(&u, act);
  if (rv == GSP_OK && gsp__cg_db_update_hook) gsp__cg_db_update_hook(w->db);
  if (rv == GSP_OK) rv = gsp__cg_dbw_exec(w, "COMMIT");
  if (rv == GSP_OK) w->rows = (uint64_t)sqlite3_total_changes64(w->db);
  rv = close_path(&u, rv);
  gsp_free(act);
  *applied = rv == GSP_OK;
  w->incremental = *applied;
  return rv;
}
