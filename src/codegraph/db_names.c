/*
 * db_names.c - the tables keyed by name (schema version 4, db.c):
 * symbol_names(name, id), one row per definition, and calls(name, id,
 * scope_id, qualifier, line), one row per call, WITHOUT ROWID tables
 * keyed by (name, id). They are the name lookups of `gsperf query symbol`
 * and `callers`, in place of the CREATE INDEX sorts of version 3 (and a
 * call is one row, where version 3 wrote a row and an index entry).
 *
 * Why: SQLite's sorter took most of the writer's CPU making those indexes
 * (on /usr/include, 690,000 definitions: about 0.45 s of the writer's
 * 1.3 s). Here the writer collects every (name, id) once the parse is
 * over, sorts them itself (a stable radix sort on the first 8 bytes of
 * the name, big-endian, then each run of equal prefixes by the rest of
 * the name; ids come in increasing order, so equal names stay in id
 * order) and appends them in key order, DBW_BATCH rows to a statement
 * run, so every row lands on the B-tree's last page.
 *
 * Layout: cg_name { key: the name's first 8 bytes, big-endian, zero
 * padded; name: into the file's result (lives as long as the run); id;
 * ref: the call's record (NULL for a definition; its strings start at
 * name - ref->name) }. 32 bytes a row, two arrays of them while sorting.
 * Order: SQLite's BINARY collation (memcmp, shorter first), then id;
 * names hold no NUL, so (key, then strcmp of the rest) is that order.
 *
 * The in-place update (db_update.c) deletes a file's rows (symbol_names
 * by name and id range, calls by file id) and inserts the rows of a new
 * file in file order (gsp__cg_dbw_file_names): the same table content as
 * a cold write.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

typedef struct cg_name {
  uint64_t key;
  const char *name;
  int64_t id;
  const cg_ref_rec *ref;
} cg_name;

static uint64_t prefix_key(const char *s) {
  uint64_t k = 0;
  bool end = false;
  for (int i = 0; i < 8; i++) {
    unsigned char c = end ? 0 : (unsigned char)s[i];
    end = end || c == 0;
    k = k << 8 | c;
  }
  return k;
}

/* The names of file f's definitions (calls false) or calls into v at n;
 * returns the new n. */
static size_t collect_file(const cg_dbw *w, size_t f, bool calls, cg_name *v, size_t n) {
  const gsp_cg_result *r = w->cg->files[f].res;
  if (r == NULL) return n;
  const char *strs = gsp__cg_strs(r);
  int64_t row0 = CG_DB_ROW0(w->fid[f]);
  if (!calls) {
    const cg_def_rec *d = gsp__cg_defs(r);
    for (size_t i = 0, nd = gsp_cg_result_ndefs(r); i < nd; i++)
      v[n++] = (cg_name){prefix_key(strs + d[i].name), strs + d[i].name, row0 + (int64_t)i, NULL};
    return n;
  }
  const cg_ref_rec *x = gsp__cg_refs(r);
  for (size_t i = 0, nr = gsp_cg_result_nrefs(r); i < nr; i++)
    if (x[i].kind == GSP_CG_REF_CALL)
      v[n++] = (cg_name){prefix_key(strs + x[i].name), strs + x[i].name, row0 + (int64_t)i, &x[i]};
  return n;
}

static size_t count_file(const cg_dbw *w, size_t f, bool calls) {
  const gsp_cg_result *r = w->cg->files[f].res;
  if (r == NULL) return 0;
  if (!calls) return gsp_cg_result_ndefs(r);
  const cg_ref_rec *x = gsp__cg_refs(r);
  size_t n = 0;
  for (size_t i = 0, nr = gsp_cg_result_nrefs(r); i < nr; i++) n += x[i].kind == GSP_CG_REF_CALL;
  return n;
}

/* Stable LSD radix sort of v by key, 8 bits a pass, through tmp; passes
 * whose byte is the same in every key are skipped. Returns the sorted
 * array (v or tmp). */
static cg_name *radix_sort(cg_name *v, cg_name *tmp, size_t n) {
  size_t count[256];
  for (int shift = 0; shift < 64; shift += 8) {
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) count[(v[i].key >> shift) & 255]++;
    if (count[(v[0].key >> shift) & 255] == n) continue;
    for (size_t b = 0, at = 0; b < 256; b++) {
      size_t c = count[b];
      count[b] = at, at += c;
    }
    for (size_t i = 0; i < n; i++) tmp[count[(v[i].key >> shift) & 255]++] = v[i];
    cg_name *t = v;
    v = tmp, tmp = t;
  }
  return v;
}

/* The rest of the order within a run of equal keys whose names are 8
 * bytes or longer: the bytes past the first 8, then id. */
static int cmp_rest(const void *a, const void *b) {
  const cg_name *x = a, *y = b;
  int c = strcmp(x->name + 8, y->name + 8);
  if (c != 0) return c;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Each run of equal keys in order. A key whose last byte is 0 is a whole
 * name (shorter than 8 bytes): its run is one name, already in id order. */
static void sort_names(cg_name *v, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && v[j].key == v[i].key) j++;
    if (j - i > 1 && (v[i].key & 255) != 0) qsort(v + i, j - i, sizeof *v, cmp_rest);
    i = j;
  }
}

/* Bind row e at column b of s: (name, id), and for a call (scope_id,
 * qualifier, line). Returns the columns bound. */
static int bind_row(sqlite3_stmt *s, int b, const cg_name *e) {
  sqlite3_bind_text(s, b + 1, e->name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, b + 2, e->id);
  if (e->ref == NULL) return 2;
  if (e->ref->scope >= 0)
    sqlite3_bind_int64(s, b + 3, (e->id >> CG_DB_IDX_BITS << CG_DB_IDX_BITS) + e->ref->scope);
  else
    sqlite3_bind_null(s, b + 3);
  sqlite3_bind_text(s, b + 4, e->name - e->ref->name + e->ref->qual, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, b + 5, e->ref->line);
  return 5;
}

/* Append v[0..n) to table t (symbol_names or calls): one statement run
 * per DBW_BATCH rows, the last few one by one. */
static int insert_names(cg_dbw *w, int t, const cg_name *v, size_t n) {
  int rv = GSP_OK;
  for (size_t i = 0; rv == GSP_OK && i < n;) {
    size_t k = n - i >= DBW_BATCH ? DBW_BATCH : 1;
    sqlite3_stmt *s = k > 1 ? w->many[t] : w->st[t];
    for (int b = 0; k > 0; k--, i++) b += bind_row(s, b, &v[i]);
    rv = gsp__cg_dbw_step(w, s);
  }
  return rv;
}

static int write_table(cg_dbw *w, size_t nf, bool calls) {
  size_t n = 0;
  for (size_t i = 0; i < nf; i++) n += count_file(w, w->order[i], calls);
  if (n == 0) return GSP_OK;
  cg_name *v = gsp_malloc(n * sizeof *v), *tmp = gsp_malloc(n * sizeof *tmp);
  if (v == NULL || tmp == NULL) {
    gsp_free(v), gsp_free(tmp);
    return GSP_ENOMEM;
  }
  size_t m = 0;
  for (size_t i = 0; i < nf; i++) m = collect_file(w, w->order[i], calls, v, m);
  cg_name *s = radix_sort(v, tmp, m);
  sort_names(s, m);
  int rv = insert_names(w, calls ? ST_CALL : ST_SNAME, s, m);
  gsp_free(v), gsp_free(tmp);
  return rv;
}

int gsp__cg_dbw_names(cg_dbw *w, size_t nf) {
  int rv = write_table(w, nf, false);
  return rv == GSP_OK ? write_table(w, nf, true) : rv;
}

int gsp__cg_dbw_file_names(cg_dbw *w, size_t f) {
  int rv = GSP_OK;
  for (int k = 0; rv == GSP_OK && k < 2; k++) {
    bool calls = k == 1;
    size_t n = count_file(w, f, calls);
    if (n == 0) continue;
    cg_name *v = gsp_malloc(n * sizeof *v);
    if (v == NULL) return GSP_ENOMEM;
    n = collect_file(w, f, calls, v, 0);
    rv = insert_names(w, calls ? ST_CALL : ST_SNAME, v, n);
    gsp_free(v);
  }
  return rv;
}
