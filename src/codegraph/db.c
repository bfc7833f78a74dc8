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
 * every row, indexes created after their table's rows (a bulk build beats
 * per-row index maintenance), on a connection of its own (no SQLite mutex:
 * one thread uses it at a time).
 *
 * The writer (cg_dbw) writes each table as soon as its rows are known, in
 * this order: symbols file by file as the parse stage finishes files (ids
 * need every earlier file's definition count, so it follows the first file
 * not yet finished), the symbols index once parsing is over, imports and
 * their indexes once resolved, references, their index and edges once
 * bound, then files (their component needs the graph) and meta. With
 * gsp_cg_config.db the writer is a thread of its own started after the
 * walk, so all but the last part overlaps the run (gsp__cg_dbw_*, called
 * by analyze.c and parse_stage.c); gsp_cg_write_db runs the same writer on
 * the calling thread after the run. Rows get explicit ids (or are keyed,
 * for edges) and meta rows are inserted in one fixed order, so the file's
 * content (sqlite3 .dump) is the same whichever way it was written. An
 * existing file written for the same root by this version may be current:
 * its files table is compared with the files as they are parsed, and the
 * write starts at the first difference; with none, the meta table's
 * inputs key decides after parsing (same: the file is left alone).
 *
 * Invariants: the writer reads a file's result only after its ready flag
 * (release/acquire) or after the parse phase, imp_target/ref_target/the
 * CSR/components only after the phase that made them (under mu); it
 * writes nothing of gsp_cg but through gsp__cg_dbw_finish on the run's
 * thread. PATH.tmp exists only while a writer is running.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
 * the rows (about 5 in 6 on /usr/include) and no query looks them up.
 * Each table's indexes are made as soon as its rows are written, in this
 * order (symbols, imports, refs), the order of the schema table. */
static const char symbols_index_sql[] = "CREATE INDEX symbols_name ON symbols(name);";
static const char imports_index_sql[] =
    "CREATE INDEX imports_file ON imports(file_id);"
    "CREATE INDEX imports_target ON imports(target_file_id);";
static const char refs_index_sql[] =
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

#define DBW_POLL_NS 10000000L /* the writer looks for finished files every 10 ms */

struct cg_dbw {
  gsp_cg *cg;
  char *path, *tmp;
  sqlite3 *db;
  sqlite3_stmt *st[ST__N];
  int64_t *sym_base;      /* per file: id of its first symbol, in file order */
  _Atomic uint8_t *ready; /* per file: result final (parse workers set it) */
  uint64_t *keys;         /* edge scratch */
  size_t ckeys;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int phase;          /* CG_DB_* the run reached; under mu */
  _Atomic bool abort; /* the run failed: stop and remove tmp */
  bool threaded;      /* th runs the writer */
  bool unchanged;     /* the file at path was current; nothing written */
  pthread_t th;
  int rv;
  uint64_t cpu_ns; /* the writer's CPU time */
  char err[512];
};
typedef struct cg_dbw writer;

static void werr(writer *w, const char *fmt, ...) GSP_PRINTF(2, 3);
static void werr(writer *w, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->err, sizeof w->err, fmt, ap);
  va_end(ap);
}

static int step(writer *w, sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc == SQLITE_DONE) return GSP_OK;
  werr(w, "%s: sqlite: %s", w->tmp, sqlite3_errmsg(w->db));
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
  bind_text(s, 4, r ? hex : "");
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
static int write_edges(writer *w, size_t f) {
  size_t n;
  const uint32_t *d = gsp_cg_deps(w->cg, f, &n);
  int rv = GSP_OK;
  for (size_t i = 0; rv == GSP_OK && i < n; i++) rv = write_edge(w, f, d[i], "import");
  const cg_file *file = &w->cg->files[f];
  size_t nr = file->res ? gsp_cg_result_nrefs(file->res) : 0, m = 0;
  if (nr > w->ckeys) {
    uint64_t *k = gsp_realloc(w->keys, nr * sizeof *k);
    if (k == NULL) return GSP_ENOMEM;
    w->keys = k, w->ckeys = nr;
  }
  uint64_t *keys = w->keys;
  const cg_ref_rec *refs = nr ? gsp__cg_refs(file->res) : NULL;
  for (size_t i = 0; i < nr; i++)
    if (file->ref_target[i].file && file->ref_target[i].file - 1 != f)
      keys[m++] = (uint64_t)(file->ref_target[i].file - 1) << 8 | refs[i].kind;
  if (m > 1) qsort(keys, m, sizeof *keys, cmp_u64);
  for (size_t i = 0; rv == GSP_OK && i < m; i++)
    if (i == 0 || keys[i] != keys[i - 1])
      rv = write_edge(w, f, (uint32_t)(keys[i] >> 8),
                      gsp_cg_ref_kind_name((gsp_cg_ref_kind)(keys[i] & 0xff)));
  return rv;
}

static void key_hex(const uint8_t key[16], char out[33]) {
  for (size_t i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", key[i]);
}

static int write_meta(writer *w) {
  uint8_t key[16];
  char hex[33];
  gsp__cg_inputs_key(w->cg, key);
  key_hex(key, hex);
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

static int exec_sql(writer *w, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(w->db, sql, NULL, NULL, &msg) == SQLITE_OK) return GSP_OK;
  werr(w, "%s: sqlite: %s", w->tmp, msg ? msg : sqlite3_errmsg(w->db));
  sqlite3_free(msg);
  return GSP_EIO;
}

static int open_db(writer *w) {
  unlink(w->tmp);
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(w->tmp, &w->db, flags, NULL) != SQLITE_OK) {
    werr(w, "%s: %s", w->tmp, w->db ? sqlite3_errmsg(w->db) : "cannot open");
    return GSP_EIO;
  }
  bool low = w->cg->cfg.memory == GSP_CG_MEMORY_AGGRESSIVE; /* bounded cache, sorts spill */
  int rv = exec_sql(w, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=16384;");
  if (rv == GSP_OK)
    rv = exec_sql(w, low ? "PRAGMA cache_size=-4096; PRAGMA temp_store=FILE;"
                         : "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;");
  if (rv == GSP_OK) rv = exec_sql(w, schema_sql);
  for (int i = 0; rv == GSP_OK && i < ST__N; i++)
    if (sqlite3_prepare_v2(w->db, insert_sql[i], -1, &w->st[i], NULL) != SQLITE_OK) {
      werr(w, "%s: %s", w->tmp, sqlite3_errmsg(w->db));
      rv = GSP_EIO;
    }
  return rv == GSP_OK ? exec_sql(w, "BEGIN") : rv;
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

/* The file at path was written by this version for this root, and (when
 * key is not NULL) from these inputs. */
static bool db_current(const gsp_cg *cg, const char *path, const uint8_t *key) {
  if (access(path, R_OK) != 0) return false;
  sqlite3 *db = NULL;
  char hex[33], v[4096];
  bool same = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK;
  if (key) {
    key_hex(key, hex);
    meta_value(db, "inputs", v, sizeof v);
    same = same && strcmp(v, hex) == 0;
  }
  meta_value(db, "generator", v, sizeof v);
  same = same && strcmp(v, "gsperf " GSP_VERSION_STRING) == 0;
  meta_value(db, "root", v, sizeof v);
  same = same && strcmp(v, cg->root) == 0;
  sqlite3_close(db);
  return same;
}

/* ---- the writer's schedule ---- */

/* Wait until the run reached phase p; GSP_ECANCELED if it failed. */
static int wait_phase(writer *w, int p) {
  pthread_mutex_lock(&w->mu);
  while (w->phase < p && !atomic_load(&w->abort)) pthread_cond_wait(&w->cv, &w->mu);
  pthread_mutex_unlock(&w->mu);
  return atomic_load(&w->abort) ? GSP_ECANCELED : GSP_OK;
}

/* Is file f's result final? Polls, sleeping up to DBW_POLL_NS. */
static bool file_ready(writer *w, size_t f, bool *all) {
  if (*all || atomic_load_explicit(&w->ready[f], memory_order_acquire)) return true;
  pthread_mutex_lock(&w->mu);
  if (w->phase < CG_DB_PARSED && !atomic_load(&w->abort)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += DBW_POLL_NS;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
  }
  *all = w->phase >= CG_DB_PARSED;
  pthread_mutex_unlock(&w->mu);
  return *all || atomic_load_explicit(&w->ready[f], memory_order_acquire);
}

/* Symbols, file by file as the files are finished; then their index. */
static int symbols_stage(writer *w) {
  const gsp_cg *cg = w->cg;
  int64_t base = 1;
  bool all = false;
  int rv = GSP_OK;
  for (size_t f = 0; rv == GSP_OK && f < cg->nfiles;) {
    if (atomic_load_explicit(&w->abort, memory_order_relaxed)) return GSP_ECANCELED;
    if (!file_ready(w, f, &all)) continue;
    w->sym_base[f] = base;
    base += cg->files[f].res ? (int64_t)gsp_cg_result_ndefs(cg->files[f].res) : 0;
    rv = write_symbols(w, f++);
  }
  if (rv == GSP_OK) rv = wait_phase(w, CG_DB_PARSED);
  return rv == GSP_OK ? exec_sql(w, symbols_index_sql) : rv;
}

static int rows_stage(writer *w) {
  const gsp_cg *cg = w->cg;
  int64_t imp_id = 1, ref_id = 1;
  int rv = wait_phase(w, CG_DB_IMPORTS);
  for (size_t f = 0; rv == GSP_OK && f < cg->nfiles; f++) rv = write_imports(w, f, &imp_id);
  if (rv == GSP_OK) rv = exec_sql(w, imports_index_sql);
  if (rv == GSP_OK) rv = wait_phase(w, CG_DB_BOUND);
  for (size_t f = 0; rv == GSP_OK && f < cg->nfiles; f++) {
    rv = write_refs(w, f, &ref_id);
    if (atomic_load_explicit(&w->abort, memory_order_relaxed)) rv = GSP_ECANCELED;
  }
  if (rv == GSP_OK) rv = exec_sql(w, refs_index_sql);
  for (size_t f = 0; rv == GSP_OK && f < cg->nfiles; f++) rv = write_edges(w, f);
  if (rv == GSP_OK) rv = wait_phase(w, CG_DB_GRAPH);
  for (size_t f = 0; rv == GSP_OK && f < cg->nfiles; f++) rv = write_file_row(w, f);
  if (rv == GSP_OK) rv = write_meta(w);
  return rv == GSP_OK ? exec_sql(w, "COMMIT") : rv;
}

static int close_db(writer *w, int rv) {
  for (int i = 0; i < ST__N; i++) sqlite3_finalize(w->st[i]), w->st[i] = NULL;
  if (w->db && sqlite3_close(w->db) != SQLITE_OK && rv == GSP_OK) {
    werr(w, "%s: sqlite: cannot close", w->tmp);
    rv = GSP_EIO;
  }
  w->db = NULL;
  if (rv == GSP_OK && rename(w->tmp, w->path) != 0) {
    werr(w, "%s: cannot rename %s over it", w->path, w->tmp);
    rv = GSP_EIO;
  }
  if (rv != GSP_OK) unlink(w->tmp);
  return rv;
}

/* Row (path, hash) of an existing file's files table is file f's. */
static bool row_matches(sqlite3_stmt *st, const cg_file *f) {
  const char *path = (const char *)sqlite3_column_text(st, 0);
  const char *hash = (const char *)sqlite3_column_text(st, 1);
  uint8_t none[16] = {0};
  char hex[33];
  key_hex(f->res ? f->hash : none, hex);
  return path && hash && strcmp(path, f->path) == 0 && strcmp(hash, f->res ? hex : "") == 0;
}

/* Is the existing file at path current? Decided as early as the files
 * come in: no at the first file whose path or content hash differs from
 * its row (the write then starts at once, overlapping the rest of the
 * parse), else after parsing, by the inputs key. */
static int verdict(writer *w, bool *current) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  *current = false;
  int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(w->path, &db, flags, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "SELECT path, hash FROM files ORDER BY id", -1, &st, NULL) !=
          SQLITE_OK) {
    sqlite3_close(db);
    return GSP_OK; /* unreadable: rewrite it */
  }
  bool same = true, all = false;
  int rv = GSP_OK;
  for (size_t f = 0; same && rv == GSP_OK && f < w->cg->nfiles;) {
    if (atomic_load_explicit(&w->abort, memory_order_relaxed)) rv = GSP_ECANCELED;
    if (rv != GSP_OK || !file_ready(w, f, &all)) continue;
    same = sqlite3_step(st) == SQLITE_ROW && row_matches(st, &w->cg->files[f]);
    f++;
  }
  same = same && rv == GSP_OK && sqlite3_step(st) == SQLITE_DONE;
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (!same) return rv;
  rv = wait_phase(w, CG_DB_PARSED);
  uint8_t key[16];
  if (rv == GSP_OK) gsp__cg_inputs_key(w->cg, key);
  if (rv == GSP_OK) *current = db_current(w->cg, w->path, key);
  return rv;
}

/* The whole write. check: a current file at path is left alone. */
static int write_body(writer *w, bool check) {
  if (check) {
    int rv = verdict(w, &w->unchanged);
    if (rv != GSP_OK || w->unchanged) return rv;
  }
  int rv = open_db(w);
  if (rv == GSP_OK) rv = symbols_stage(w);
  if (rv == GSP_OK) rv = rows_stage(w);
  return close_db(w, rv);
}

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *writer_main(void *arg) {
  writer *w = arg;
  /* an existing file of this root may be current: decide after parsing */
  w->rv = write_body(w, db_current(w->cg, w->path, NULL));
  w->cpu_ns = thread_cpu_ns();
  return NULL;
}

static void writer_free(writer *w) {
  if (w == NULL) return;
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  gsp_free(w->path), gsp_free(w->tmp);
  gsp_free(w->sym_base), gsp_free((void *)w->ready), gsp_free(w->keys);
  gsp_free(w);
}

static writer *writer_new(gsp_cg *cg, const char *path, int phase) {
  writer *w = gsp_calloc(1, sizeof *w);
  if (w == NULL) return NULL;
  w->cg = cg, w->phase = phase;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  size_t pl = strlen(path);
  w->path = gsp_strdup(path);
  w->tmp = gsp_malloc(pl + 5);
  w->sym_base = gsp_malloc((cg->nfiles + 1) * sizeof *w->sym_base);
  w->ready = gsp_calloc(cg->nfiles + 1, sizeof *w->ready);
  if (w->path == NULL || w->tmp == NULL || w->sym_base == NULL || w->ready == NULL) {
    writer_free(w);
    return NULL;
  }
  memcpy(w->tmp, path, pl), memcpy(w->tmp + pl, ".tmp", 5);
  return w;
}

/* ---- the run's side (cg_int.h) ---- */

int gsp__cg_dbw_start(gsp_cg *cg) {
  writer *w = writer_new(cg, cg->cfg.db, 0);
  if (w == NULL) return GSP_ENOMEM;
  w->threaded = pthread_create(&w->th, NULL, writer_main, w) == 0;
  cg->dbw = w; /* not threaded: gsp__cg_dbw_finish writes on the run's thread */
  return GSP_OK;
}

void gsp__cg_dbw_ready(gsp_cg *cg, size_t f) {
  if (cg->dbw) atomic_store_explicit(&cg->dbw->ready[f], 1, memory_order_release);
}

void gsp__cg_dbw_phase(gsp_cg *cg, int phase) {
  writer *w = cg->dbw;
  if (w == NULL) return;
  pthread_mutex_lock(&w->mu);
  if (phase > w->phase) w->phase = phase;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

int gsp__cg_dbw_finish(gsp_cg *cg, int run_rv) {
  writer *w = cg->dbw;
  if (w == NULL) return run_rv;
  uint64_t t0 = gsp_now_ns(), at_graph = 0;
  clockid_t cid;
  struct timespec ts;
  if (w->threaded && pthread_getcpuclockid(w->th, &cid) == 0 && clock_gettime(cid, &ts) == 0)
    at_graph = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  if (run_rv != GSP_OK) atomic_store(&w->abort, true);
  gsp__cg_dbw_phase(cg, CG_DB_GRAPH);
  if (w->threaded) {
    pthread_join(w->th, NULL);
  } else if (run_rv == GSP_OK) {
    uint64_t c0 = thread_cpu_ns();
    w->rv = write_body(w, true);
    w->cpu_ns = thread_cpu_ns() - c0;
  }
  int rv = run_rv != GSP_OK ? run_rv : w->rv;
  if (run_rv == GSP_OK && w->rv != GSP_OK) gsp__cg_seterr(cg, "%s", w->err);
  cg->st.db_ns = gsp_now_ns() - t0;
  cg->st.db_cpu_ns = w->cpu_ns;
  cg->st.db_tail_cpu_ns = w->cpu_ns > at_graph ? w->cpu_ns - at_graph : 0;
  cg->st.db_unchanged = w->unchanged;
  cg->db_rv = w->rv;
  cg->db_written = run_rv == GSP_OK;
  if (run_rv == GSP_OK) gsp__cg_hook(cg, GSP_CG_STAGE_DB, cg->st.db_ns, w->rv, w->unchanged);
  cg->dbw = NULL;
  writer_free(w);
  return rv;
}

int gsp_cg_write_db(gsp_cg *cg, const char *path, uint64_t *elapsed_ns) {
  if (cg == NULL || path == NULL || !cg->ran || cg->comp_of == NULL) return GSP_EINVAL;
  if (cg->db_written && strcmp(path, cg->cfg.db) == 0) { /* written by the run */
    if (elapsed_ns) *elapsed_ns = cg->st.db_ns;
    return cg->db_rv;
  }
  uint64_t t0 = gsp_now_ns(), c0 = thread_cpu_ns();
  writer *w = writer_new(cg, path, CG_DB_GRAPH);
  int rv = w ? write_body(w, true) : GSP_ENOMEM;
  if (rv != GSP_OK && w) gsp__cg_seterr(cg, "%s", w->err);
  cg->st.db_unchanged = w && w->unchanged;
  writer_free(w);
  uint64_t ns = gsp_now_ns() - t0;
  cg->st.db_ns = ns;
  cg->st.db_cpu_ns = cg->st.db_tail_cpu_ns = thread_cpu_ns() - c0;
  if (elapsed_ns) *elapsed_ns = ns;
  gsp__cg_hook(cg, GSP_CG_STAGE_DB, ns, rv, cg->st.db_unchanged);
  return rv;
}
