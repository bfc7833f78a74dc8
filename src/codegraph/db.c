/*
 * db.c - write the graph to one SQLite file: the schema, the ids, the
 * writer's schedule (the rows themselves: db_rows.c; an update in place:
 * db_update.c).
 *
 * Schema (version 4; docs/codegraph.md has the column reference):
 *
 *   meta(key PRIMARY KEY, value)      schema_version, generator, root, inputs
 *                                     (hex XXH3-128 of every path, language,
 *                                     content hash and include directory)
 *   files(id, path UNIQUE, lang, hash, bytes, lines, has_error, component,
 *         in_cycle, bind)
 *   symbols(id, file_id, name, kind, line, parent_id)
 *   imports(id, file_id, module, name, alias, kind, level, line, target_file_id)
 *   calls(name, id, file_id, scope_id, qualifier, line)  the call sites,
 *                                     WITHOUT ROWID, keyed by (name, id)
 *   type_uses(file_id PRIMARY KEY, sites)   a file's type-use sites, one
 *                                     JSON array [[n, scope n, name,
 *                                     qualifier, line], ...] (db_rows.c)
 *   ref_targets(id, target_symbol_id)       one row per bound reference
 *   symbol_names(name, id)            WITHOUT ROWID, keyed by (name, id):
 *                                     the definitions' name lookup
 *   ref_sites (VIEW: calls UNION ALL the unpacked type uses, the version 3
 *             table's columns)
 *   refs (VIEW: ref_sites LEFT JOIN ref_targets, the version 2 columns)
 *   (file_id of symbols, imports and calls: id >> 24, generated)
 *   edges(src_file_id, dst_file_id, kind)   kind: import | call | use
 *
 * Ids (db_int.h): a file's id is a 39-bit hash of its path; a symbol,
 * import or reference row's id is (file id << 24) + its index in the file.
 * So an id does not depend on the other files, the same tree gives the
 * same rows whatever its history, and each file's rows are one id range.
 * NULL (no ref_targets row) marks an unresolved target. File-level
 * call/use edges summarize the resolved references between two different
 * files. files.bind is a digest of the file's import and reference
 * targets (as ids): an update finds the files whose resolution changed by
 * it.
 *
 * Why a reference is two rows: everything but its target is known once
 * its file is parsed, so the sites (the widest rows, half of all) are
 * written during the parse; only the narrow targets wait for the binding,
 * after which the writer's work is on the run's critical path. Why type
 * uses are packed (version 4): no query looks them up by name and they
 * are most of the sites in C (5 in 6 on /usr/include): one row per file
 * instead of one per use. Why calls and symbol_names keyed by name
 * rather than CREATE INDEX (version 4): SQLite's sort of the names took
 * most of the writer's CPU; the writer sorts them itself and appends
 * them (db_names.c), and a call is one row, not a row and an index entry.
 *
 * Two ways to write. Cold (here): to PATH.tmp with journal and sync off
 * (the file is built from scratch and renamed over PATH only when
 * complete, so a crash leaves the old file), one transaction, prepared
 * statements reused for every row, 16 rows per INSERT for the big tables
 * (one statement run per batch: the cursor stays open and the rows of a
 * file, consecutive ids, are appended; an id one above the table's last
 * is left to SQLite, which spares the search that checks an explicit id:
 * db_rows.c). Update (db_update.c): when PATH was written by this
 * version for this root, the difference is applied to PATH itself in one
 * transaction under a rollback journal. Either gives the same rows.
 *
 * The writer (cg_dbw) runs on a thread of its own with gsp_cg_config.db
 * (started after the walk, so it overlaps the run; gsp__cg_dbw_*, called
 * by analyze.c and parse_stage.c) or on the calling thread in
 * gsp_cg_write_db. Its ids are assigned before the parse starts, and
 * their order offered as cg->parse_order: a parse that follows it
 * finishes the files in key order, so their rows are appended. It first
 * looks at PATH: written by this version for this root, with the same
 * inputs (decided once parsed): left alone; from other inputs: updated
 * once the graph is built (or written cold when the update would rewrite
 * most rows); anything else (absent, another schema version, root or
 * generator): written cold, as the files come in (parsed_stage: symbols
 * and sites, the name tables near the end of the parse), the imports
 * once resolved, reference targets and edges once bound, then files and
 * meta (resolved_stage).
 *
 * Invariants: the writer reads a file's result only after its ready flag
 * (release/acquire) or after the parse phase, imp_target/ref_target/the
 * CSR/components only after the phase that made them (under mu); it
 * writes nothing of gsp_cg but through gsp__cg_dbw_start/finish on the
 * run's thread (parse_order). PATH.tmp exists only while a cold write is
 * running.
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
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "db_int.h"

uint64_t (*gsp__cg_db_path_hash)(const char *path, size_t len) = NULL;

/* A row's file follows from its id: computed when read, not stored. */
#define FILE_ID "file_id INTEGER NOT NULL GENERATED ALWAYS AS (id >> 24) VIRTUAL"

static const char schema_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, lang TEXT NOT NULL,"
    " hash TEXT NOT NULL, bytes INTEGER NOT NULL, lines INTEGER NOT NULL,"
    " has_error INTEGER NOT NULL, component INTEGER NOT NULL, in_cycle INTEGER NOT NULL,"
    " bind INTEGER NOT NULL);"
    "CREATE TABLE symbols(id INTEGER PRIMARY KEY, " FILE_ID
    ", name TEXT NOT NULL,"
    " kind TEXT NOT NULL, line INTEGER NOT NULL, parent_id INTEGER);"
    "CREATE TABLE imports(id INTEGER PRIMARY KEY, " FILE_ID
    ", module TEXT NOT NULL,"
    " name TEXT NOT NULL, alias TEXT NOT NULL, kind TEXT NOT NULL, level INTEGER NOT NULL,"
    " line INTEGER NOT NULL, target_file_id INTEGER);"
    "CREATE TABLE calls(name TEXT NOT NULL, id INTEGER NOT NULL, " FILE_ID
    ", scope_id INTEGER, qualifier TEXT NOT NULL, line INTEGER NOT NULL,"
    " PRIMARY KEY(name, id)) WITHOUT ROWID;"
    "CREATE TABLE type_uses(file_id INTEGER PRIMARY KEY, sites TEXT NOT NULL);"
    "CREATE TABLE ref_targets(id INTEGER PRIMARY KEY, target_symbol_id INTEGER NOT NULL);"
    "CREATE VIEW ref_sites(id, file_id, scope_id, name, qualifier, kind, line) AS"
    " SELECT id, file_id, scope_id, name, qualifier, 'call', line FROM calls UNION ALL"
    " SELECT (u.file_id << 24) + (j.value ->> 0), u.file_id, (u.file_id << 24) + (j.value ->> 1),"
    " j.value ->> 2, j.value ->> 3, 'use', j.value ->> 4 FROM type_uses u, json_each(u.sites) j;"
    "CREATE VIEW refs(id, file_id, scope_id, name, qualifier, kind, line, target_symbol_id) AS"
    " SELECT s.id, s.file_id, s.scope_id, s.name, s.qualifier, s.kind, s.line, t.target_symbol_id"
    " FROM ref_sites s LEFT JOIN ref_targets t ON t.id = s.id;"
    "CREATE TABLE symbol_names(name TEXT NOT NULL, id INTEGER NOT NULL,"
    " PRIMARY KEY(name, id)) WITHOUT ROWID;"
    "CREATE TABLE edges(src_file_id INTEGER NOT NULL, dst_file_id INTEGER NOT NULL,"
    " kind TEXT NOT NULL, PRIMARY KEY(src_file_id, dst_file_id, kind)) WITHOUT ROWID;";

/* The indexes the queries use (query.c); a reader may add others. The
 * rows of a file are found by id range, so no index on file_id is needed
 * but for imports, which rdeps reads by target; made once the imports
 * are written. Names are looked up in the name tables (db_names.c). */
static const char imports_index_sql[] =
    "CREATE INDEX imports_file ON imports(file_id);"
    "CREATE INDEX imports_target ON imports(target_file_id);";

/* In column order; a generated column (file_id) takes no value. */
static const char *const insert_sql[ST__N] = {
    "INSERT INTO files VALUES(?,?,?,?,?,?,?,?,?,?)",
    "INSERT INTO symbols VALUES(?,?,?,?,?)",
    "INSERT INTO imports VALUES(?,?,?,?,?,?,?,?)",
    "INSERT INTO calls VALUES(?,?,?,?,?)", /* name, id, scope_id, qualifier, line */
    "INSERT INTO type_uses VALUES(?,?)",
    "INSERT INTO ref_targets VALUES(?,?)",
    "INSERT INTO edges VALUES(?,?,?)",
    "INSERT INTO meta VALUES(?,?)",
    "INSERT INTO symbol_names VALUES(?,?)",
};

#define DBW_POLL_NS 10000000L /* the writer looks for finished files every 10 ms */

typedef cg_dbw writer;

void gsp__cg_dbw_err(writer *w, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->err, sizeof w->err, fmt, ap);
  va_end(ap);
}

int gsp__cg_dbw_step(writer *w, sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc == SQLITE_DONE) return GSP_OK;
  gsp__cg_dbw_err(w, "%s: sqlite: %s", w->db_path_shown, sqlite3_errmsg(w->db));
  return GSP_EIO;
}

/* ---- ids ---- */

static uint64_t path_hash(const char *p, size_t n) {
  return gsp__cg_db_path_hash ? gsp__cg_db_path_hash(p, n) : XXH3_64bits(p, n);
}

typedef struct id_pair {
  int64_t id;
  size_t f;
} id_pair;

static int cmp_pair(const void *a, const void *b) {
  int64_t x = ((const id_pair *)a)->id, y = ((const id_pair *)b)->id;
  return x < y ? -1 : x > y;
}

/* w->fid and w->order; the rule for a taken id is db_int.h's. */
static int assign_ids(writer *w) {
  size_t n = w->cg->nfiles, cap = 16;
  while (cap < 2 * n) cap *= 2;
  int64_t *slot = gsp_calloc(cap, sizeof *slot);
  id_pair *p = gsp_malloc((n + 1) * sizeof *p);
  if (slot == NULL || p == NULL) {
    gsp_free(slot), gsp_free(p);
    return GSP_ENOMEM;
  }
  for (size_t f = 0; f < n; f++) {
    const char *path = w->cg->files[f].path;
    int64_t id = (int64_t)(path_hash(path, strlen(path)) & (uint64_t)CG_DB_KEY_MASK);
    for (id = id ? id : 1;;) {
      size_t h = (size_t)id & (cap - 1);
      while (slot[h] && slot[h] != id) h = (h + 1) & (cap - 1);
      if (slot[h] == 0) {
        slot[h] = id;
        break;
      }
      id = id == CG_DB_KEY_MASK ? 1 : id + 1; /* taken: the next free one */
    }
    w->fid[f] = id;
    p[f] = (id_pair){id, f};
  }
  if (n > 1) qsort(p, n, sizeof *p, cmp_pair);
  for (size_t i = 0; i < n; i++) w->order[i] = p[i].f;
  gsp_free(slot), gsp_free(p);
  w->ids_done = true;
  return GSP_OK;
}

static int write_meta(writer *w) {
  char hex[33];
  gsp__cg_dbw_key_hex(w->cg->inputs_key, hex);
  const char *kv[][2] = {{"schema_version", CG_DB_SCHEMA},
                         {"generator", "gsperf " GSP_VERSION_STRING},
                         {"root", w->cg->root},
                         {"inputs", hex}};
  int rv = GSP_OK;
  for (size_t i = 0; rv == GSP_OK && i < sizeof kv / sizeof *kv; i++) {
    sqlite3_bind_text(w->st[ST_META], 1, kv[i][0], -1, SQLITE_STATIC);
    sqlite3_bind_text(w->st[ST_META], 2, kv[i][1], -1, SQLITE_STATIC);
    rv = gsp__cg_dbw_step(w, w->st[ST_META]);
  }
  return rv;
}

int gsp__cg_dbw_exec(writer *w, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(w->db, sql, NULL, NULL, &msg) == SQLITE_OK) return GSP_OK;
  gsp__cg_dbw_err(w, "%s: sqlite: %s", w->db_path_shown, msg ? msg : sqlite3_errmsg(w->db));
  sqlite3_free(msg);
  return GSP_EIO;
}

/* insert_sql[t] with DBW_BATCH rows of values, into buf. */
static void many_sql(int t, char *buf, size_t cap) {
  const char *sql = insert_sql[t], *v = strstr(sql, "VALUES(");
  size_t head = (size_t)(v - sql) + 6, row = strlen(v + 6), n = head;
  memcpy(buf, sql, head);
  for (int i = 0; i < DBW_BATCH && n + row + 2 < cap; i++) {
    if (i) buf[n++] = ',';
    memcpy(buf + n, v + 6, row), n += row;
  }
  buf[n] = '\0';
}

int gsp__cg_dbw_prepare(writer *w) {
  char sql[2048];
  for (int i = 0; i < ST__N; i++) {
    bool many = i == ST_SYM || i == ST_IMP || i == ST_CALL || i == ST_TGT || i == ST_SNAME;
    if (many) many_sql(i, sql, sizeof sql);
    if (sqlite3_prepare_v2(w->db, insert_sql[i], -1, &w->st[i], NULL) != SQLITE_OK ||
        (many && sqlite3_prepare_v2(w->db, sql, -1, &w->many[i], NULL) != SQLITE_OK)) {
      gsp__cg_dbw_err(w, "%s: %s", w->db_path_shown, sqlite3_errmsg(w->db));
      return GSP_EIO;
    }
  }
  return GSP_OK;
}

void gsp__cg_dbw_finalize(writer *w) {
  for (int i = 0; i < ST__N; i++) {
    sqlite3_finalize(w->st[i]), w->st[i] = NULL;
    sqlite3_finalize(w->many[i]), w->many[i] = NULL;
  }
}

static int open_tmp(writer *w) {
  unlink(w->tmp);
  w->db_path_shown = w->tmp;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(w->tmp, &w->db, flags, NULL) != SQLITE_OK) {
    gsp__cg_dbw_err(w, "%s: %s", w->tmp, w->db ? sqlite3_errmsg(w->db) : "cannot open");
    return GSP_EIO;
  }
  bool low = w->cg->cfg.memory == GSP_CG_MEMORY_AGGRESSIVE; /* bounded cache, sorts spill */
  int rv = gsp__cg_dbw_exec(
      w, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=16384;");
  if (rv == GSP_OK)
    rv = gsp__cg_dbw_exec(w, low ? "PRAGMA cache_size=-4096; PRAGMA temp_store=FILE;"
                                 : "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;");
  if (rv == GSP_OK) rv = gsp__cg_dbw_exec(w, schema_sql);
  if (rv == GSP_OK) rv = gsp__cg_dbw_prepare(w);
  return rv == GSP_OK ? gsp__cg_dbw_exec(w, "BEGIN") : rv;
}

/* ---- the writer's schedule ---- */

int gsp__cg_dbw_wait(writer *w, int p) {
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

/* Where the name tables are written, as a count of files written in the
 * order the writer takes them: on the writer's thread, once the files
 * written hold DBW_NAMES_AT of the bytes, so the sort and the appends
 * overlap the end of the parse, and the names of the files after that go
 * in as they come (each where it falls: a few times the cost of an
 * append, for a tenth of the rows); after the run, at the end. A count,
 * not a time: the same run gives the same bytes. */
#define DBW_NAMES_AT 0.9
static size_t names_point(const writer *w) {
  size_t n = w->cg->nfiles;
  if (!w->threaded) return n;
  double want = DBW_NAMES_AT * (double)w->cg->st.bytes, have = 0;
  for (size_t i = 0; i < n; i++) {
    have += (double)w->cg->files[w->order[i]].size;
    if (have >= want) return i + 1;
  }
  return n;
}

/* What is known of each file once parsed: its symbols, reference sites
 * and name rows. Always in id order, file by file, rows appended in key
 * order, so every way of running gives the same bytes: on the writer's
 * thread each file as soon as it is finished, which keeps pace with a
 * parse that follows the id order (cg->parse_order, the local parse
 * stage); a parse in another order (the farm) is written as its id-order
 * prefix grows, at the latest after it. After the run: at once. */
static int parsed_stage(writer *w) {
  bool all = false;
  size_t at = names_point(w), named = 0;
  int rv = GSP_OK;
  for (size_t i = 0; rv == GSP_OK && i < w->cg->nfiles;) {
    if (atomic_load_explicit(&w->abort, memory_order_relaxed)) return GSP_ECANCELED;
    size_t f = w->order[i];
    if (i == at && named == 0 && (rv = gsp__cg_dbw_names(w, (named = at))) != GSP_OK) break;
    if (!file_ready(w, f, &all)) continue;
    rv = gsp__cg_dbw_symbols(w, f), i++;
    if (rv == GSP_OK) rv = gsp__cg_dbw_ref_sites(w, f);
    if (rv == GSP_OK && named) rv = gsp__cg_dbw_file_names(w, f);
  }
  if (rv == GSP_OK) rv = gsp__cg_dbw_wait(w, CG_DB_PARSED);
  return rv == GSP_OK && named == 0 ? gsp__cg_dbw_names(w, w->cg->nfiles) : rv;
}

/* What needs the resolution, in id order: imports and their indexes once
 * imports are resolved, reference targets and edges once bound, then
 * the files rows (components) and meta after the graph. */
static int resolved_stage(writer *w) {
  size_t n = w->cg->nfiles;
  const size_t *o = w->order;
  int rv = gsp__cg_dbw_wait(w, CG_DB_IMPORTS);
  for (size_t i = 0; rv == GSP_OK && i < n; i++) rv = gsp__cg_dbw_imports(w, o[i]);
  if (rv == GSP_OK) rv = gsp__cg_dbw_exec(w, imports_index_sql);
  if (rv == GSP_OK) rv = gsp__cg_dbw_wait(w, CG_DB_BOUND);
  for (size_t i = 0; rv == GSP_OK && i < n; i++) {
    rv = gsp__cg_dbw_ref_targets(w, o[i]);
    if (atomic_load_explicit(&w->abort, memory_order_relaxed)) rv = GSP_ECANCELED;
  }
  for (size_t i = 0; rv == GSP_OK && i < n; i++) rv = gsp__cg_dbw_edges(w, o[i]);
  if (rv == GSP_OK) rv = gsp__cg_dbw_wait(w, CG_DB_GRAPH);
  for (size_t i = 0; rv == GSP_OK && i < n; i++) rv = gsp__cg_dbw_file_row(w, o[i]);
  if (rv == GSP_OK) rv = write_meta(w);
  if (rv == GSP_OK) rv = gsp__cg_dbw_exec(w, "COMMIT");
  if (rv == GSP_OK) w->rows = (uint64_t)sqlite3_total_changes64(w->db);
  return rv;
}

static int close_tmp(writer *w, int rv) {
  gsp__cg_dbw_finalize(w);
  if (w->db && sqlite3_close(w->db) != SQLITE_OK && rv == GSP_OK) {
    gsp__cg_dbw_err(w, "%s: sqlite: cannot close", w->tmp);
    rv = GSP_EIO;
  }
  w->db = NULL;
  /* a journal left by a killed update belongs to the old file */
  if (rv == GSP_OK && unlink(w->journal) != 0 && access(w->journal, F_OK) == 0) {
    gsp__cg_dbw_err(w, "%s: cannot remove %s", w->path, w->journal);
    rv = GSP_EIO;
  }
  if (rv == GSP_OK && rename(w->tmp, w->path) != 0) {
    gsp__cg_dbw_err(w, "%s: cannot rename %s over it", w->path, w->tmp);
    rv = GSP_EIO;
  }
  if (rv != GSP_OK) unlink(w->tmp);
  return rv;
}

static int write_cold(writer *w) {
  int rv = open_tmp(w);
  w->append = true;
  memset(w->last_id, 0, sizeof w->last_id);
  if (rv == GSP_OK) rv = parsed_stage(w);
  if (rv == GSP_OK) rv = resolved_stage(w);
  return close_tmp(w, rv);
}

/* The meta value of key, into out ("" if none). */
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

/* What is at PATH: a database of this schema, version and root (its files
 * table loaded, its inputs into inputs), or something to write anew (an
 * older schema is said so in the log). Opened read-write, so a journal
 * left by a killed update is rolled back first. */
static bool probe_existing(writer *w, char inputs[33]) {
  if (access(w->path, F_OK) != 0) return false;
  sqlite3 *db = NULL;
  char v[4096];
  bool ok =
      sqlite3_open_v2(w->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK;
  if (ok) meta_value(db, "schema_version", v, sizeof v);
  if (ok && v[0] != '\0' && strcmp(v, CG_DB_SCHEMA) != 0)
    gsp_log(GSP_LOG_WARN, "codegraph", "%s: schema version %s; rewriting it as version %s", w->path,
            v, CG_DB_SCHEMA);
  ok = ok && strcmp(v, CG_DB_SCHEMA) == 0;
  if (ok) meta_value(db, "generator", v, sizeof v);
  ok = ok && strcmp(v, "gsperf " GSP_VERSION_STRING) == 0;
  if (ok) meta_value(db, "root", v, sizeof v);
  ok = ok && strcmp(v, w->cg->root) == 0;
  if (ok) meta_value(db, "inputs", v, sizeof v);
  ok = ok && strlen(v) == 32;
  if (ok) memcpy(inputs, v, 33);
  ok = ok && gsp__cg_dbw_load_old(w, db);
  sqlite3_close(db);
  return ok;
}

/* The whole write: PATH left alone, updated, or written cold. */
static int write_body(writer *w) {
  int rv = w->ids_done ? GSP_OK : assign_ids(w);
  char inputs[33], now[33];
  if (rv != GSP_OK || !probe_existing(w, inputs)) return rv == GSP_OK ? write_cold(w) : rv;
  rv = gsp__cg_dbw_wait(w, CG_DB_PARSED);
  if (rv != GSP_OK) return rv;
  uint8_t key[16];
  gsp__cg_inputs_key(w->cg, key);
  gsp__cg_dbw_key_hex(key, now);
  if (strcmp(now, inputs) == 0) {
    w->unchanged = true;
    return GSP_OK;
  }
  bool applied = false;
  rv = gsp__cg_dbw_wait(w, CG_DB_GRAPH);
  if (rv == GSP_OK) rv = gsp__cg_dbw_update(w, &applied);
  if (rv != GSP_OK || applied) return rv;
  return write_cold(w);
}

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *writer_main(void *arg) {
  writer *w = arg;
  w->rv = write_body(w);
  w->cpu_ns = thread_cpu_ns();
  return NULL;
}

static void writer_free(writer *w) {
  if (w == NULL) return;
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  gsp_free(w->path), gsp_free(w->tmp), gsp_free(w->journal);
  gsp_free(w->fid), gsp_free(w->order), gsp_free((void *)w->ready), gsp_free(w->keys);
  gsp_free(w->text);
  gsp_free(w->old), gsp_free(w->old_of);
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
  w->journal = gsp_malloc(pl + 9);
  w->fid = gsp_malloc((cg->nfiles + 1) * sizeof *w->fid);
  w->order = gsp_malloc((cg->nfiles + 1) * sizeof *w->order);
  w->ready = gsp_calloc(cg->nfiles + 1, sizeof *w->ready);
  if (w->path == NULL || w->tmp == NULL || w->journal == NULL || w->fid == NULL ||
      w->order == NULL || w->ready == NULL) {
    writer_free(w);
    return NULL;
  }
  memcpy(w->tmp, path, pl), memcpy(w->tmp + pl, ".tmp", 5);
  memcpy(w->journal, path, pl), memcpy(w->journal + pl, "-journal", 9);
  w->db_path_shown = w->path;
  return w;
}

/* SQLite counts every allocation under a global mutex unless told not to
 * before it initializes itself: about a tenth of a cold write's CPU. Done
 * once, on the thread that starts the first write or query; an
 * application that initialized SQLite itself keeps its own setting (the
 * call then fails, harmlessly). */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;
static void sqlite_setup_once(void) { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }
void gsp__cg_sqlite_setup(void) { pthread_once(&sqlite_once, sqlite_setup_once); }

/* ---- the run's side (cg_int.h) ---- */

int gsp__cg_dbw_start(gsp_cg *cg) {
  gsp__cg_sqlite_setup();
  writer *w = writer_new(cg, cg->cfg.db, 0);
  if (w == NULL) return GSP_ENOMEM;
  int rv = assign_ids(w);
  if (rv != GSP_OK) {
    writer_free(w);
    return rv;
  }
  cg->parse_order = w->order;
  w->threaded = true; /* before the thread starts: it reads it */
  if (pthread_create(&w->th, NULL, writer_main, w) != 0) w->threaded = false;
  cg->dbw = w; /* not threaded: gsp__cg_dbw_finish writes on the run's thread */
  return GSP_OK;
}

void gsp__cg_dbw_ready(gsp_cg *cg, size_t f) {
  writer *w = cg->dbw;
  if (w == NULL) return;
  atomic_store_explicit(&w->ready[f], 1, memory_order_release);
}

void gsp__cg_dbw_phase(gsp_cg *cg, int phase) {
  writer *w = cg->dbw;
  if (w == NULL) return;
  pthread_mutex_lock(&w->mu);
  if (phase > w->phase) w->phase = phase;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static void record(gsp_cg *cg, const writer *w) {
  cg->st.db_unchanged = w->unchanged;
  cg->st.db_incremental = w->incremental;
  cg->st.db_rows = w->rows;
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
    w->rv = write_body(w);
    w->cpu_ns = thread_cpu_ns() - c0;
  }
  int rv = run_rv != GSP_OK ? run_rv : w->rv;
  if (run_rv == GSP_OK && w->rv != GSP_OK) gsp__cg_seterr(cg, "%s", w->err);
  cg->st.db_ns = gsp_now_ns() - t0;
  cg->st.db_cpu_ns = w->cpu_ns;
  cg->st.db_tail_cpu_ns = w->cpu_ns > at_graph ? w->cpu_ns - at_graph : 0;
  record(cg, w);
  cg->db_rv = w->rv;
  cg->db_written = run_rv == GSP_OK;
  if (run_rv == GSP_OK) gsp__cg_hook(cg, GSP_CG_STAGE_DB, cg->st.db_ns, w->rv, w->unchanged);
  cg->dbw = NULL;
  cg->parse_order = NULL;
  writer_free(w);
  return rv;
}

int gsp_cg_write_db(gsp_cg *cg, const char *path, uint64_t *elapsed_ns) {
  if (cg == NULL || path == NULL || !cg->ran || cg->comp_of == NULL) return GSP_EINVAL;
  if (cg->db_written && strcmp(path, cg->cfg.db) == 0) { /* written by the run */
    if (elapsed_ns) *elapsed_ns = cg->st.db_ns;
    return cg->db_rv;
  }
  gsp__cg_sqlite_setup();
  uint64_t t0 = gsp_now_ns(), c0 = thread_cpu_ns();
  writer *w = writer_new(cg, path, CG_DB_GRAPH);
  int rv = w ? write_body(w) : GSP_ENOMEM;
  if (rv != GSP_OK && w) gsp__cg_seterr(cg, "%s", w->err);
  if (w) record(cg, w);
  writer_free(w);
  uint64_t ns = gsp_now_ns() - t0;
  cg->st.db_ns = ns;
  cg->st.db_cpu_ns = cg->st.db_tail_cpu_ns = thread_cpu_ns() - c0;
  if (elapsed_ns) *elapsed_ns = ns;
  gsp__cg_hook(cg, GSP_CG_STAGE_DB, ns, rv, cg->st.db_unchanged);
  return rv;
}
