/*
 * db_rows.c - the rows of one file, as the database writer (db.c) and the
 * in-place update (db_update.c) insert them: symbols, imports, reference
 * sites, reference targets, outgoing edges and the files row, plus the
 * files.bind digest. Schema and ids: db.c and db_int.h.
 *
 * Each writer binds the prepared inserts of cg_dbw (st: one row; many:
 * DBW_BATCH rows, one statement run per batch, so a file's consecutive ids
 * are appended with the cursor left open) from the file's result and
 * resolution arrays; text is bound SQLITE_STATIC (the result outlives the
 * step). A reference is written in two parts: its site (everything but
 * the target, known once the file is parsed: a calls row (db_names.c), or
 * for a type use an element of its file's type_uses row) and, when bound, its target
 * row (known once the references are bound); the views join them.
 *
 * Invariants: nothing here waits or takes a lock; the caller makes sure
 * the data a writer reads is final (db.c's phases). Row ids are
 * (file id << 24) + index, so a file's rows of a table are one id range.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "db_int.h"

typedef cg_dbw writer;

static void bind_text(sqlite3_stmt *s, int i, const char *t) {
  sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
}
static void bind_id(sqlite3_stmt *s, int i, int64_t id) {
  if (id > 0)
    sqlite3_bind_int64(s, i, id);
  else
    sqlite3_bind_null(s, i);
}

/* A row's id (column i of s, a row of table t). In a cold write, whose
 * tables are filled in id order, an id one above the table's last is
 * bound as NULL: SQLite then gives the row the table's largest rowid plus
 * one, the same id, found by following the rightmost pages instead of the
 * binary search down the tree that an explicit id costs (the check that
 * it is not taken) - about a tenth of the writer's CPU. */
static void bind_row_id(writer *w, int t, sqlite3_stmt *s, int i, int64_t id) {
  if (w->append && id == w->last_id[t] + 1)
    sqlite3_bind_null(s, i);
  else
    sqlite3_bind_int64(s, i, id);
  w->last_id[t] = id;
}

static int64_t sym_id(const writer *w, size_t f, int64_t i) {
  return i >= 0 ? CG_DB_ROW0(w->fid[f]) + i : 0;
}

/* Rows of one kind in file f fit its id range. */
static int check_count(writer *w, size_t f, size_t n, const char *what) {
  if (n < (size_t)CG_DB_ROWS_PER_FILE) return GSP_OK;
  gsp__cg_dbw_err(w, "%s: %zu %s, more than schema version " CG_DB_SCHEMA " holds per file",
                  w->cg->files[f].path, n, what);
  return GSP_EOVERFLOW;
}

/* ---- rows ---- */

void gsp__cg_dbw_key_hex(const uint8_t key[16], char out[33]) {
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < 16; i++) out[2 * i] = hx[key[i] >> 4], out[2 * i + 1] = hx[key[i] & 15];
  out[32] = '\0';
}

void gsp__cg_dbw_hash_hex(const cg_file *file, char out[33]) {
  if (file->res)
    gsp__cg_dbw_key_hex(file->hash, out);
  else
    out[0] = '\0';
}

int gsp__cg_dbw_file_row(writer *w, size_t f) {
  const cg_file *file = &w->cg->files[f];
  sqlite3_stmt *s = w->st[ST_FILE];
  char hex[33];
  gsp__cg_dbw_hash_hex(file, hex);
  const gsp_cg_result *r = file->res;
  sqlite3_bind_int64(s, 1, w->fid[f]);
  bind_text(s, 2, file->path);
  bind_text(s, 3, gsp_cg_lang_name(file->lang));
  bind_text(s, 4, hex);
  sqlite3_bind_int64(s, 5, (int64_t)file->size);
  sqlite3_bind_int64(s, 6, r ? gsp_cg_result_lines(r) : 0);
  sqlite3_bind_int(s, 7, r ? gsp_cg_result_has_error(r) : 0);
  sqlite3_bind_int64(s, 8, (int64_t)w->cg->comp_of[f]);
  sqlite3_bind_int(s, 9, w->cg->comp_cycle[w->cg->comp_of[f]]);
  sqlite3_bind_int64(s, 10, gsp__cg_dbw_bind(w, f));
  return gsp__cg_dbw_step(w, s);
}

int gsp__cg_dbw_symbols(writer *w, size_t f) {
  const gsp_cg_result *r = w->cg->files[f].res;
  size_t n = r ? gsp_cg_result_ndefs(r) : 0;
  int rv = check_count(w, f, n, "definitions");
  const cg_def_rec *d = n ? gsp__cg_defs(r) : NULL;
  const char *strs = n ? gsp__cg_strs(r) : NULL;
  for (size_t i = 0; rv == GSP_OK && i < n;) {
    size_t k = n - i >= DBW_BATCH ? DBW_BATCH : 1;
    sqlite3_stmt *s = k > 1 ? w->many[ST_SYM] : w->st[ST_SYM];
    for (int b = 0; k > 0; k--, i++, b += 5) {
      bind_row_id(w, ST_SYM, s, b + 1, sym_id(w, f, (int64_t)i));
      bind_text(s, b + 2, strs + d[i].name);
      bind_text(s, b + 3, gsp_cg_def_kind_name((gsp_cg_def_kind)d[i].kind));
      sqlite3_bind_int64(s, b + 4, d[i].line);
      bind_id(s, b + 5, sym_id(w, f, d[i].parent));
    }
    rv = gsp__cg_dbw_step(w, s);
  }
  return rv;
}

int gsp__cg_dbw_imports(writer *w, size_t f) {
  const cg_file *file = &w->cg->files[f];
  size_t n = file->res ? gsp_cg_result_nimports(file->res) : 0;
  int rv = check_count(w, f, n, "imports");
  for (size_t i = 0; rv == GSP_OK && i < n;) {
    size_t k = n - i >= DBW_BATCH ? DBW_BATCH : 1;
    sqlite3_stmt *s = k > 1 ? w->many[ST_IMP] : w->st[ST_IMP];
    for (int b = 0; k > 0; k--, i++, b += 8) {
      gsp_cg_import im;
      gsp_cg_result_import(file->res, i, &im);
      bind_row_id(w, ST_IMP, s, b + 1, CG_DB_ROW0(w->fid[f]) + (int64_t)i);
      bind_text(s, b + 2, im.module), bind_text(s, b + 3, im.name);
      bind_text(s, b + 4, im.alias);
      bind_text(s, b + 5, gsp_cg_import_kind_name(im.kind));
      sqlite3_bind_int(s, b + 6, (int)im.level);
      sqlite3_bind_int64(s, b + 7, im.line);
      bind_id(s, b + 8, file->imp_target[i] >= 0 ? w->fid[file->imp_target[i]] : 0);
    }
    rv = gsp__cg_dbw_step(w, s);
  }
  return rv;
}

static int64_t ref_target_id(const writer *w, const cg_target *t) {
  return t->file ? CG_DB_ROW0(w->fid[t->file - 1]) + t->def : 0;
}

static int grow_text(writer *w, size_t n) {
  if (n <= w->ctext) return GSP_OK;
  size_t cap = w->ctext ? w->ctext : 4096;
  while (cap < n) cap *= 2;
  char *t = gsp_realloc(w->text, cap);
  if (t == NULL) return GSP_ENOMEM;
  w->text = t, w->ctext = cap;
  return GSP_OK;
}

/* Decimal v at o; returns the end. */
static char *put_u64(char *o, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do tmp[n++] = (char)('0' + v % 10), v /= 10;
  while (v);
  while (n) *o++ = tmp[--n];
  return o;
}

/* JSON string of s at o (room for 6 bytes per byte of s plus 2); returns
 * the end. Bytes from 0x80 up are copied as they are, like the other
 * tables' text. */
static char *put_json_str(char *o, const char *s) {
  static const char hx[] = "0123456789abcdef";
  *o++ = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      *o++ = '\\', *o++ = (char)*p;
    } else if (*p < 0x20) {
      *o++ = '\\', *o++ = 'u', *o++ = '0', *o++ = '0';
      *o++ = hx[*p >> 4], *o++ = hx[*p & 15];
    } else {
      *o++ = (char)*p;
    }
  }
  *o++ = '"';
  return o;
}

/* The type uses among file f's n references: one type_uses row, its sites
 * a JSON array of [index, scope index or null, name, qualifier, line] in
 * index order (none: no row). */
static int write_uses(writer *w, size_t f, const cg_ref_rec *r, const char *strs, size_t n) {
  size_t len = 1;
  int rv = grow_text(w, 64);
  for (size_t i = 0; rv == GSP_OK && i < n; i++) {
    if (r[i].kind == GSP_CG_REF_CALL) continue;
    const char *name = strs + r[i].name, *qual = strs + r[i].qual;
    rv = grow_text(w, len + 6 * (strlen(name) + strlen(qual)) + 96);
    if (rv != GSP_OK) break;
    char *o = w->text + len;
    if (len > 1) *o++ = ',';
    *o++ = '[', o = put_u64(o, i), *o++ = ',';
    if (r[i].scope >= 0)
      o = put_u64(o, (uint64_t)r[i].scope);
    else
      *o++ = 'n', *o++ = 'u', *o++ = 'l', *o++ = 'l';
    *o++ = ',', o = put_json_str(o, name), *o++ = ',', o = put_json_str(o, qual), *o++ = ',';
    o = put_u64(o, r[i].line), *o++ = ']';
    len = (size_t)(o - w->text);
  }
  if (rv != GSP_OK || len == 1) return rv;
  w->text[0] = '[', w->text[len++] = ']';
  sqlite3_stmt *s = w->st[ST_USE];
  sqlite3_bind_int64(s, 1, w->fid[f]);
  sqlite3_bind_text(s, 2, w->text, (int)len, SQLITE_STATIC);
  return gsp__cg_dbw_step(w, s);
}

/* What of file f's references is written as it is parsed: its type_uses
 * row (its calls go in by name: db_names.c). */
int gsp__cg_dbw_ref_sites(writer *w, size_t f) {
  const cg_file *file = &w->cg->files[f];
  size_t n = file->res ? gsp_cg_result_nrefs(file->res) : 0;
  int rv = check_count(w, f, n, "references");
  if (rv != GSP_OK || n == 0) return rv;
  return write_uses(w, f, gsp__cg_refs(file->res), gsp__cg_strs(file->res), n);
}

/* The bound references of file f: one (id, target) row each, in id order,
 * DBW_BATCH to a statement run; the last few one by one. */
int gsp__cg_dbw_ref_targets(writer *w, size_t f) {
  const cg_file *file = &w->cg->files[f];
  size_t n = file->res && file->ref_target ? gsp_cg_result_nrefs(file->res) : 0, i = 0;
  int rv = GSP_OK;
  while (rv == GSP_OK && i < n) {
    size_t left = 0;
    for (size_t j = i; j < n && left < DBW_BATCH; j++) left += file->ref_target[j].file != 0;
    if (left == 0) break;
    size_t k = left == DBW_BATCH ? DBW_BATCH : 1;
    sqlite3_stmt *s = k > 1 ? w->many[ST_TGT] : w->st[ST_TGT];
    for (int b = 0; k > 0; i++) {
      if (file->ref_target[i].file == 0) continue;
      bind_row_id(w, ST_TGT, s, b + 1, CG_DB_ROW0(w->fid[f]) + (int64_t)i);
      sqlite3_bind_int64(s, b + 2, ref_target_id(w, &file->ref_target[i]));
      b += 2, k--;
    }
    rv = gsp__cg_dbw_step(w, s);
  }
  return rv;
}

int64_t gsp__cg_dbw_bind(const writer *w, size_t f) {
  const cg_file *file = &w->cg->files[f];
  size_t ni = file->res ? gsp_cg_result_nimports(file->res) : 0;
  size_t nr = file->res ? gsp_cg_result_nrefs(file->res) : 0;
  XXH3_state_t st;
  int64_t buf[64];
  size_t k = 0;
  XXH3_64bits_reset(&st);
  for (size_t i = 0; i < ni + nr; i++) {
    if (i < ni)
      buf[k++] = file->imp_target[i] >= 0 ? w->fid[file->imp_target[i]] : 0;
    else
      buf[k++] = ref_target_id(w, &file->ref_target[i - ni]);
    if (k == 64 || i + 1 == ni + nr) {
      XXH3_64bits_update(&st, buf, k * sizeof *buf);
      k = 0;
    }
  }
  buf[0] = (int64_t)ni; /* so the split between imports and references counts */
  XXH3_64bits_update(&st, buf, sizeof *buf);
  return (int64_t)(XXH3_64bits_digest(&st) >> 1);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int write_edge(writer *w, size_t f, uint32_t dst, const char *kind) {
  sqlite3_stmt *s = w->st[ST_EDGE];
  sqlite3_bind_int64(s, 1, w->fid[f]);
  sqlite3_bind_int64(s, 2, w->fid[dst]);
  bind_text(s, 3, kind);
  return gsp__cg_dbw_step(w, s);
}

static int grow_keys(writer *w, size_t n) {
  if (n <= w->ckeys) return GSP_OK;
  uint64_t *k = gsp_realloc(w->keys, n * sizeof *k);
  if (k == NULL) return GSP_ENOMEM;
  w->keys = k, w->ckeys = n;
  return GSP_OK;
}

/* import edges, then distinct (file, kind) of references into other files */
int gsp__cg_dbw_edges(writer *w, size_t f) {
  size_t n;
  const uint32_t *d = gsp_cg_deps(w->cg, f, &n);
  int rv = GSP_OK;
  for (size_t i = 0; rv == GSP_OK && i < n; i++) rv = write_edge(w, f, d[i], "import");
  const cg_file *file = &w->cg->files[f];
  size_t nr = file->res ? gsp_cg_result_nrefs(file->res) : 0, m = 0;
  if (rv == GSP_OK) rv = grow_keys(w, nr);
  if (rv != GSP_OK) return rv;
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