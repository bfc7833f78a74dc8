/*
 * db_int.h - what the database writer's sources share: the writer
 * (db.c: schedule, cold write) and the in-place update (db_update.c).
 *
 * Ids (schema version 3 and 4; docs/codegraph.md): a file's id is a 39-bit hash
 * of its path (XXH3-64 of the path, low 39 bits, 0 taken as 1); a file
 * whose id is already taken by a file earlier in path order takes the
 * next free one (the probe wraps from 2^39 - 1 to 1). A symbol, import or
 * reference row's id (a reference's site and target rows share it) is
 * its file's id shifted left by 24 bits plus its index in the file, so ids never depend on other
 * files (except through a hash collision) and each file's rows of a table are one id range.
 */
#ifndef GSP_CG_DB_INT_H
#define GSP_CG_DB_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "cg_int.h"

#define CG_DB_SCHEMA "4"
#define CG_DB_IDX_BITS 24
#define CG_DB_KEY_BITS 39
#define CG_DB_KEY_MASK ((INT64_C(1) << CG_DB_KEY_BITS) - 1)
/* The first row id of file id fid, and the range's size. */
#define CG_DB_ROW0(fid) ((int64_t)(fid) << CG_DB_IDX_BITS)
#define CG_DB_ROWS_PER_FILE ((int64_t)1 << CG_DB_IDX_BITS)

/* The prepared inserts: files, symbols, imports, calls, type_uses,
 * ref_targets, edges, meta, symbol_names. */
enum { ST_FILE, ST_SYM, ST_IMP, ST_CALL, ST_USE, ST_TGT, ST_EDGE, ST_META, ST_SNAME, ST__N };
/* Rows per multi-row INSERT of symbols, imports, calls, reference
 * targets and symbol names: one statement run (cursor opened once, rows
 * appended) per DBW_BATCH rows; the last rows below a full batch go one
 * by one. */
#define DBW_BATCH 16

/* The files table of the database found at PATH (an update's base). */
typedef struct cg_dbrow {
  int64_t id, bytes, component, bind;
  long f; /* the file of this run with the row's path, or -1 (removed) */
  int in_cycle;
  char lang[12];
  char hash[33];
} cg_dbrow;

struct cg_dbw {
  gsp_cg *cg;
  char *path, *tmp, *journal; /* PATH, PATH.tmp, PATH-journal */
  const char *db_path_shown;  /* the file being written: tmp or path */
  sqlite3 *db;
  sqlite3_stmt *st[ST__N];   /* one-row inserts */
  sqlite3_stmt *many[ST__N]; /* multi-row inserts (symbols, imports, calls, targets, names) */
  int64_t *fid;              /* per file: its id */
  size_t *order;             /* file indices in id order */
  _Atomic uint8_t *ready;    /* per file: result final (parse workers set it) */
  bool ids_done;             /* fid and order assigned */
  uint64_t *keys;            /* edge and digest scratch */
  size_t ckeys;
  char *text; /* a file's type_uses.sites (JSON), built by db_rows.c */
  size_t ctext;
  cg_dbrow *old; /* the stored files table, when PATH may be updated */
  size_t nold;
  long *old_of; /* per file: its row in old, or -1 */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int phase;          /* CG_DB_* the run reached; under mu */
  _Atomic bool abort; /* the run failed: stop and remove tmp */
  bool threaded;      /* th runs the writer */
  bool unchanged;     /* the file at path was current; nothing written */
  bool incremental;   /* PATH was updated in place */
  bool have_old;      /* old holds PATH's files table */
  pthread_t th;
  int rv;
  uint64_t rows;   /* rows inserted, updated or deleted */
  uint64_t cpu_ns; /* the writer's CPU time */
  /* cold write: each table is filled in id order from empty, so an id
   * one above the last one written may be left to SQLite (db_rows.c) */
  bool append;
  int64_t last_id[ST__N];
  char err[512];
};
typedef struct cg_dbw cg_dbw;

void gsp__cg_dbw_err(cg_dbw *w, const char *fmt, ...) GSP_PRINTF(2, 3);
int gsp__cg_dbw_step(cg_dbw *w, sqlite3_stmt *s);
int gsp__cg_dbw_exec(cg_dbw *w, const char *sql);
int gsp__cg_dbw_prepare(cg_dbw *w);
void gsp__cg_dbw_finalize(cg_dbw *w);
/* Wait until the run reached phase p; GSP_ECANCELED if it failed. */
int gsp__cg_dbw_wait(cg_dbw *w, int p);
/* db_rows.c: rows of file f: symbols, imports, reference sites (once
 * parsed), reference targets (once bound), its outgoing edges, its files
 * row (needs the graph). */
int gsp__cg_dbw_symbols(cg_dbw *w, size_t f);
int gsp__cg_dbw_imports(cg_dbw *w, size_t f);
int gsp__cg_dbw_ref_sites(cg_dbw *w, size_t f);
int gsp__cg_dbw_ref_targets(cg_dbw *w, size_t f);
int gsp__cg_dbw_edges(cg_dbw *w, size_t f);
int gsp__cg_dbw_file_row(cg_dbw *w, size_t f);
/* The digest of file f's resolution: its import and reference targets as
 * ids (the files.bind column). */
int64_t gsp__cg_dbw_bind(const cg_dbw *w, size_t f);
/* Content hash column of file f ("" when unreadable). */
void gsp__cg_dbw_hash_hex(const cg_file *file, char out[33]);
void gsp__cg_dbw_key_hex(const uint8_t key[16], char out[33]);

/* SQLite's global setup (allocation statistics off), once per process,
 * before the first write or query opens a database. */
void gsp__cg_sqlite_setup(void);

/* db_names.c: the rows keyed by name (symbol_names, calls) of the first
 * n files in id order, sorted and appended (a cold write); those of file
 * f alone, in file order (the files after those, and an update). */
int gsp__cg_dbw_names(cg_dbw *w, size_t n);
int gsp__cg_dbw_file_names(cg_dbw *w, size_t f);

/* db_update.c: read PATH's files table into w->old (false: unusable). */
bool gsp__cg_dbw_load_old(cg_dbw *w, sqlite3 *db);
/* Update PATH in place to this run's graph, in one transaction (phase
 * GRAPH reached). *applied false: not worth it or not possible (ids of
 * kept files moved), nothing written: write it cold. */
int gsp__cg_dbw_update(cg_dbw *w, bool *applied);

/* Test seams: the path hash behind file ids (NULL: XXH3-64), and a
 * function the update calls with its connection (sqlite3 *) inside its
 * transaction, every row written, just before COMMIT. */
extern uint64_t (*gsp__cg_db_path_hash)(const char *path, size_t len);
extern void (*gsp__cg_db_update_hook)(void *sqlite_db);

#endif
