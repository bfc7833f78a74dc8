/*
 * db.c - write the graph to one SQLite file.
 *
 * Schema (version 1; docs/codegraph.md has the column reference):
 *
 *   meta(key PRIMARY KEY, value)      schema_version, generator, root, inputs
 *                                     (hex XXH3-128 of every path, language,
 *                                     content hash and include directory)
 *   files(id, path UNIQUE, lang, hash, bytes, lines, has_error, component, in_cycle)
 *   symbols(id, file_id, name, kind, line, parent_id)
 *   imports(id, file_id, module, name, alias, kind, level, line, target_file_id)
 *   refs(id, file_id, scope_id, name, qualifier, kind, line, target_symbol_id)
 *   edges(src_file_id, dst_file_id, kind)   kind: import | call | use
 *
 * Ids: files are numbered from 1 in path order; symbol ids are the file's
 * first id plus the definition's index, so they follow from the graph
 * alone and two runs over the same tree write the same rows in the same
 * order. NULL marks an unresolved target. File-level call/use edges
 * summarize the resolved references between two different files.
 *
 * Writing: to PATH.tmp with journal and sync off (the file is rebuilt from
 * scratch, and renamed over PATH only when complete, so a crash leaves the
 * old file), one transaction, one prepared statement per table reused for
 * every row, indexes created after the rows (a bulk build beats per-row
 * index maintenance).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_int.h"

static const char schema_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, lang TEXT NOT NULL,"
    " hash TEXT NOT NULL, bytes INTEGER NOT NULL, lines INTEGER NOT NULL,"
    " has_error INTEGER NOT NULL, component INTEGER NOT NULL, in_cycle INTEGER NOT NULL);"
    "CREATE TABLE symbols(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, name TEXT NOT NULL,"
    " kind TEXT NOT NULL, line INTEGER NOT NULL, parent_id INTEGER);"
    "CREATE TABLE imports(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, module TEXT NOT NULL,"
    " name TEXT NOT NULL, alias TEXT NOT NULL, kind TEXT NOT NULL, level INTEGER NOT NULL,"
    " line INTEGER NOT NULL, target_file_id INTEGER);"
    "CREATE TABLE refs(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, scope_id INTEGER,"
    " name TEXT NOT NULL, qualifier TEXT NOT NULL, kind TEXT NOT NULL, line INTEGER NOT NULL,"
    " target_symbol_id INTEGER);"
    "CREATE TABLE edges(src_file_id INTEGER NOT NULL, dst_file_id INTEGER NOT NULL,"
    " kind TEXT NOT NULL, PRIMARY KEY(src_file_id, dst_file_id, kind)) WITHOUT ROWID;";

/* The indexes the queries use (query.c); a reader may add others. Only
 * calls are indexed by name among the references: type uses are most of
 * the rows (about 5 in 6 on /usr/include) and no query looks them up. */
static const char index_sql[] =
    "CREATE INDEX symbols_name ON symbols(name);"
    "CREATE INDEX imports_file ON imports(file_id);"
    "CREATE INDEX imports_target ON imports(target_file_id);"
    "CREATE INDEX refs_call_name ON refs(name) WHERE kind = 'call';";

enum { ST_FILE, ST_SYM, ST_IMP, ST_REF, ST_EDGE, ST_META, ST__N };
static const char *const insert_sql[ST__N] = {
    "INSERT INTO files VALUES(?,?,?,?,?,?,?,?,?)",
    "INSERT INTO symbols VALUES(?,?,?,?,?,?)",
    "INSERT INTO imports VALUES(?,?,?,?,?,?,?,?,?)",
    "INSERT INTO refs VALUES(?,?,?,?,?,?,?,?)",
    "INSERT INTO edges VALUES(?,?,?)",
    "INSERT INTO meta VALUES(?,?)",
};

typedef struct writer {
  gsp_cg *cg;
  sqlite3 *db;
  sqlite3_stmt *st[ST__N];
  int64_t *sym_base; /* per file: id of its first symbol */
} writer;

static int step(writer *w, sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc == SQLITE_DONE) return GSP_OK;
  gsp__cg_seterr(w->cg, "sqlite: %s", sqlite3_errmsg(w->db));
  return GSP_EIO;
}

static void bind_text(sqlite3_stmt *s, int i, const char *t) {
  sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
}
static void bind_id(sqlite3_stmt *s, int i, int64_t id) {
  if (id > 0)
    sqlite3_bind_int64(s, i, id);
  else
    sqlite3_bind_null(s, i);
}

static int write_file_row(writer *w, size_t f) {
  const cg_file *file = &w->cg->files[f];
  sqlite3_stmt *s = w->st[ST_FILE];
  char hex[33];
  for (int i = 0; i < 16; i++) snprintf(hex + (size_t)2 * i, 3, "%02x", file->hash[i]);
  const gsp_cg_result *r = file->res;
  sqlite3_bind_int64(s, 1, (int64_t)f + 1);
  bind_text(s, 2, file->path);
  bind_text(s, 3, gsp_cg_lang_name(file->lang));
  sqlite3_bind_text(s, 4, r ? hex : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 5, (int64_t)file->size);
  sqlite3_bind_int64(s, 6, r ? gsp_cg_result_lines(r) : 0);
  sqlite3_bind_int(s, 7, r ? gsp_cg_result_has_error(r) : 0);
  sqlite3_bind_int64(s, 8, (int64_t)w->cg->comp_of[f]);
  sqlite3_bind_int(s, 9, w->cg->comp_cycle[w->cg->comp_of[f]]);
  return step(w, s);
}

static int write_symbols(writer *w, size_t f) {
  const gsp_cg_result *r = w->cg->files[f].res;
  sqlite3_stmt *s = w->st[ST_SYM];
  int rv = GSP_OK;
  for (size_t i = 0; r && rv == GSP_OK && i < gsp_cg_result_ndefs(r); i++) {
    gsp_cg_def d;
    gsp_cg_result_def(r, i, &d);
    sqlite3_bind_int64(s, 1, w->sym_base[f] + (int64_t)i);
    sqlite3_bind_int64(s, 2, (int64_t)f + 1);
    bind_text(s, 3, d.name);
    bind_text(s, 4, gsp_cg_def_kind_name(d.kind));
    sqlite3_bind_int64(s, 5, d.line);
    bind_id(s, 6, d.parent >= 0 ? w->sym_base[f] + d.parent : 0);
    rv = step(w, s);
  }
  return rv;
}

static int write_imports(writer *w, size_t f, int64_t *next_id) {
  const cg_file *file = &w->cg->files[f];
  sqlite3_stmt *s = w->st[ST_IMP];
  int rv = GSP_OK;
  for (size_t i = 0; file->res && rv == GSP_OK && i < gsp_cg_result_nimports(file->res); i++) {
    gsp_cg_import im;
    gsp_cg_result_import(file->res, i, &im);
    sqlite3_bind_int64(s, 1, (*next_id)++);
    sqlite3_bind_int64(s, 2, (int64_t)f + 1);
    bind_text(s, 3, im.module), bind_text(s, 4, im.name), bind_text(s, 5, im.alias);
    bind_text(s, 6, gsp_cg_import_kind_name(im.kind));
    sqlite3_bind_int(s, 7, (int)im.level);
    sqlite3_bind_int64(s, 8, im.line);
    bind_id(s, 9, file->imp_target[i] + 1);
    rv = step(w, s);
  }
  return rv;
}

static int write_refs(writer *w, size_t f, int64_t *next_id) {
  const cg_file *file = &w->cg->files[f];
  sqlite3_stmt *s = w->st[ST_REF];
  int rv = GSP_OK;
  for (size_t i = 0; file->res && rv == GSP_OK && i < gsp_cg_result_nrefs(file->res); i++) {
    gsp_cg_ref r;
    gsp_cg_result_ref(file->res, i, &r);
    const cg_target *t = &file->ref_target[i];
    sqlite3_bind_int64(s, 1, (*next_id)++);
    sqlite3_bind_int64(s, 2, (int64_t)f + 1);
    bind_id(s, 3, r.scope >= 0 ? w->sym_base[f] + r.scope : 0);
    bind_text(s, 4, r.name), bind_text(s, 5, r.qualifier);
    bind_text(s, 6, gsp_cg_ref_kind_name(r.kind));
    sqlite3_bind_int64(s, 7, r.line);
    bind_id(s, 8, t->file ? w->sym_base[t->file - 1] + t->def : 0);
    rv = step(w, s);
  }
  return rv;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int write_edge(writer *w, size_t f, uint32_t dst, const char *kind) {
  sqlite3_stmt *s = w->st[ST_EDGE];
  sqlite3_bind_int64(s, 1, (int64_t)f + 1);
  sqlite3_bind_int64(s, 2, (int64_t)dst + 1);
  bind_text(s, 3, kind);
  return step(w, s);
}

/* import edges, then distinct (file, kind) of references into other files */
static int write_edges(writer *w, size_t f, uint64_t **keys, size_t *cap) {
  size_t n;
  const uint32_t *d = gsp_cg_deps(w->cg, f, &n);
  int rv = GSP_OK;
  for (size_t i = 0; rv == GSP_OK && i < n; i++) rv = write_edge(w, f, d[i], "import");
  const cg_file *file = &w->cg->files[f];
  size_t nr = file->res ? gsp_cg_result_nrefs(file->res) : 0, m = 0;
  if (nr > *cap) {
    uint64_t *k = gsp_realloc(*keys, nr * sizeof *k);
    if (k == NULL) return GSP_ENOMEM;
    *keys = k, *cap = nr;
  }
  const cg_ref_rec *refs = nr ? gsp__cg_refs(file->res) : NULL;
  for (size_t i = 0; i < nr; i++)
    if (file->ref_target[i].file && file->ref_target[i].file - 1 != f)
      (*keys)[m++] = (uint64_t)(file->ref_target[i].file - 1) << 8 | refs[i].kind;
  if (m > 1) qsort(*keys, m, sizeof **keys, cmp_u64);
  for (size_t i = 0; rv == GSP_OK && i < m; i++)
    if (i == 0 || (*keys)[i] != (*keys)[i - 1])
      rv = write_edge(w, f, (uint32_t)((*keys)[i] >> 8),
                      gsp_cg_ref_kind_name((gsp_cg_ref_kind)((*keys)[i] & 0xff)));
  return rv;
}

static void inputs_hex(const gsp_cg *cg, char out[33]) {
  for (size_t i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", cg->inputs_key[i]);
}

static int write_meta(writer *w) {
  char hex[33];
  inputs_hex(w->cg, hex);
  const char *kv[][2] = {{"schema_version", "1"},
                         {"generator", "gsperf " GSP_VERSION_STRING},
                         {"root", w->cg->root},
                         {"inputs", hex}};
  int rv = GSP_OK;
  for (size_t i = 0; rv == GSP_OK && i < sizeof kv / sizeof *kv; i++) {
    bind_text(w->st[ST_META], 1, kv[i][0]), bind_text(w->st[ST_META], 2, kv[i][1]);
    rv = step(w, w->st[ST_META]);
  }
  return rv;
}

static int write_all(writer *w) {
  int64_t imp_id = 1, ref_id = 1;
  uint64_t *keys = NULL;
  size_t cap = 0;
  int rv = write_meta(w);
  for (size_t f = 0; rv == GSP_OK && f < w->cg->nfiles; f++) rv = write_file_row(w, f);
  for (size_t f = 0; rv == GSP_OK && f < w->cg->nfiles; f++) rv = write_symbols(w, f);
  for (size_t f = 0; rv == GSP_OK && f < w->cg->nfiles; f++) rv = write_imports(w, f, &imp_id);
  for (size_t f = 0; rv == GSP_OK && f < w->cg->nfiles; f++) rv = write_refs(w, f, &ref_id);
  for (size_t f = 0; rv == GSP_OK && f < w->cg->nfiles; f++) rv = write_edges(w, f, &keys, &cap);
  gsp_free(keys);
  return rv;
}

static int exec_sql(writer *w, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(w->db, sql, NULL, NULL, &msg) == SQLITE_OK) return GSP_OK;
  gsp__cg_seterr(w->cg, "sqlite: %s", msg ? msg : sqlite3_errmsg(w->db));
  sqlite3_free(msg);
  return GSP_EIO;
}

static int open_db(writer *w, const char *tmp) {
  unlink(tmp);
  if (sqlite3_open_v2(tmp, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    gsp__cg_seterr(w->cg, "%s: %s", tmp, w->db ? sqlite3_errmsg(w->db) : "cannot open");
    return GSP_EIO;
  }
  bool low = w->cg->cfg.memory == GSP_CG_MEMORY_AGGRESSIVE; /* bounded cache, sorts spill */
  int rv = exec_sql(w, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=8192;");
  if (rv == GSP_OK)
    rv = exec_sql(w, low ? "PRAGMA cache_size=-4096; PRAGMA temp_store=FILE;"
                         : "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;");
  if (rv == GSP_OK) rv = exec_sql(w, schema_sql);
  for (int i = 0; rv == GSP_OK && i < ST__N; i++)
    if (sqlite3_prepare_v2(w->db, insert_sql[i], -1, &w->st[i], NULL) != SQLITE_OK) {
      gsp__cg_seterr(w->cg, "%s: %s", tmp, sqlite3_errmsg(w->db));
      rv = GSP_EIO;
    }
  return rv;
}

/* The meta value of key in the database at path, into out ("" if none). */
static void meta_value(sqlite3 *db, const char *key, char *out, size_t cap) {
  sqlite3_stmt *st = NULL;
  out[0] = '\0';
  if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
}

/* The file at path was written from the same inputs by this version. */
static bool db_current(const gsp_cg *cg, const char *path) {
  if (access(path, R_OK) != 0) return false;
  sqlite3 *db = NULL;
  char hex[33], v[4096];
  bool same = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK;
  inputs_hex(cg, hex);
  meta_value(db, "inputs", v, sizeof v);
  same = same && strcmp(v, hex) == 0;
  meta_value(db, "generator", v, sizeof v);
  same = same && strcmp(v, "gsperf " GSP_VERSION_STRING) == 0;
  meta_value(db, "root", v, sizeof v);
  same = same && strcmp(v, cg->root) == 0;
  sqlite3_close(db);
  return same;
}

int gsp_cg_write_db(gsp_cg *cg, const char *path, uint64_t *elapsed_ns) {
  if (cg == NULL || path == NULL || !cg->ran || cg->comp_of == NULL) return GSP_EINVAL;
  uint64_t t0 = gsp_now_ns();
  cg->st.db_unchanged = db_current(cg, path);
  if (cg->st.db_unchanged) {
    if (elapsed_ns) *elapsed_ns = gsp_now_ns() - t0;
    gsp__cg_hook(cg, GSP_CG_STAGE_DB, gsp_now_ns() - t0, GSP_OK, true);
    return GSP_OK;
  }
  writer w = {.cg = cg};
  size_t pl = strlen(path);
  char *tmp = gsp_malloc(pl + 5);
  w.sym_base = gsp_malloc((cg->nfiles + 1) * sizeof *w.sym_base);
  int rv = tmp && w.sym_base ? GSP_OK : GSP_ENOMEM;
  if (rv != GSP_OK) goto out;
  memcpy(tmp, path, pl), memcpy(tmp + pl, ".tmp", 5);
  int64_t base = 1;
  for (size_t f = 0; f < cg->nfiles; f++) {
    w.sym_base[f] = base;
    base += cg->files[f].res ? (int64_t)gsp_cg_result_ndefs(cg->files[f].res) : 0;
  }
  rv = open_db(&w, tmp);
  if (rv == GSP_OK) rv = exec_sql(&w, "BEGIN");
  if (rv == GSP_OK) rv = write_all(&w);
  if (rv == GSP_OK) rv = exec_sql(&w, index_sql);
  if (rv == GSP_OK) rv = exec_sql(&w, "COMMIT");
  for (int i = 0; i < ST__N; i++) sqlite3_finalize(w.st[i]);
  if (w.db && sqlite3_close(w.db) != SQLITE_OK && rv == GSP_OK) rv = GSP_EIO;
  if (rv == GSP_OK && rename(tmp, path) != 0) {
    gsp__cg_seterr(cg, "%s: cannot rename %s over it", path, tmp);
    rv = GSP_EIO;
  }
  if (rv != GSP_OK) unlink(tmp);
out:
  gsp_free(tmp);
  gsp_free(w.sym_base);
  uint64_t ns = gsp_now_ns() - t0;
  if (elapsed_ns) *elapsed_ns = ns;
  gsp__cg_hook(cg, GSP_CG_STAGE_DB, ns, rv, false);
  return rv;
}
