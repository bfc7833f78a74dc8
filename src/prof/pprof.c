/*
 * pprof.c - a report as pprof's profile.proto, gzipped (what `go tool
 * pprof` and speedscope read).
 *
 * The protobuf encoding is written by hand: it is a handful of messages
 * and only two wire types (varint, length-delimited). A message is built
 * in a growable byte buffer; a nested message is built in its own buffer
 * and appended as a length-delimited field. Fields written:
 *   Profile: 1 sample_type, 2 sample, 3 mapping, 4 location, 5 function,
 *            6 string_table, 9 time_nanos (0), 10 duration_nanos,
 *            11 period_type, 12 period
 *   ValueType{1 type, 2 unit}  Sample{1 location_id packed, 2 value packed}
 *   Mapping{1 id, 2 start, 3 limit, 5 filename, 7 has_functions,
 *           8 has_filenames, 9 has_line_numbers}
 *   Location{1 id, 2 mapping_id, 3 address, 4 Line{1 function_id, 2 line}}
 *   Function{1 id, 2 name, 3 system_name, 4 filename}
 *   Label{1 key, 2 str, 3 num} (Sample field 3; multi-process profiles)
 * Sample values: [samples count, cpu nanoseconds]; location ids are
 * leaf first, as the format wants. Ids are index + 1. Strings are
 * interned pointers (from the symbol table), indexed through a map.
 * gzip through zlib's gzopen/gzwrite.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "multi_int.h"

typedef struct pbuf {
  uint8_t *p;
  size_t n, cap;
  bool oom;
} pbuf;

static void put(pbuf *b, const void *d, size_t n) {
  if (b->oom || n == 0) return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->n + n) cap *= 2;
    uint8_t *p = gsp_realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void varint(pbuf *b, uint64_t v) {
  uint8_t t[10];
  size_t n = 0;
  do {
    t[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    v >>= 7;
  } while (v);
  put(b, t, n);
}

static void field_u64(pbuf *b, unsigned field, uint64_t v) {
  varint(b, (uint64_t)field << 3);
  varint(b, v);
}

static void field_bytes(pbuf *b, unsigned field, const void *d, size_t n) {
  varint(b, ((uint64_t)field << 3) | 2);
  varint(b, n);
  put(b, d, n);
}

static void field_msg(pbuf *b, unsigned field, pbuf *m) {
  field_bytes(b, field, m->p, m->n);
  if (m->oom) b->oom = true;
  m->n = 0;
}

static int write_gz(const pbuf *b, const char *path);

/* ---- string table -------------------------------------------------------- */

typedef struct strtab {
  const char **v;
  size_t n, cap;
  const char **key; /* open addressing on the interned pointer */
  int64_t *val;
  size_t kcap;
} strtab;

static int64_t str_id(strtab *t, const char *s) {
  size_t j = (size_t)(((uintptr_t)s * 0x9e3779b97f4a7c15ull) >> 20) & (t->kcap - 1);
  while (t->key[j] && t->key[j] != s) j = (j + 1) & (t->kcap - 1);
  if (t->key[j]) return t->val[j];
  if (t->n == t->cap) return 0; /* sized for every string up front */
  t->key[j] = s;
  t->val[j] = (int64_t)t->n;
  t->v[t->n++] = s;
  return t->val[j];
}

static int strtab_init(strtab *t, size_t n) {
  memset(t, 0, sizeof *t);
  t->cap = n + 8;
  t->kcap = 64;
  while (t->kcap < t->cap * 2) t->kcap *= 2;
  t->v = gsp_calloc(t->cap, sizeof *t->v);
  t->key = gsp_calloc(t->kcap, sizeof *t->key);
  t->val = gsp_calloc(t->kcap, sizeof *t->val);
  if (!t->v || !t->key || !t->val) return GSP_ENOMEM;
  t->v[t->n++] = ""; /* string 0 must be "" */
  return GSP_OK;
}

static void strtab_free(strtab *t) {
  gsp_free(t->v);
  gsp_free(t->key);
  gsp_free(t->val);
}

/* ---- messages ------------------------------------------------------------ */

static void value_type(pbuf *b, unsigned field, strtab *st, const char *type, const char *unit,
                       pbuf *tmp) {
  field_u64(tmp, 1, (uint64_t)str_id(st, type));
  field_u64(tmp, 2, (uint64_t)str_id(st, unit));
  field_msg(b, field, tmp);
}

/* Every stack of r as a Sample; loc_base offsets its location ids, and
 * labels (encoded Sample.label fields, may be empty) go into each. */
static void samples(const gsp_prof_report *r, pbuf *b, pbuf *tmp, pbuf *packed, uint64_t loc_base,
                    const pbuf *labels) {
  uint64_t period = r->hz ? 1000000000ull / r->hz : 0;
  const gsp__stacks *t = &r->stacks;
  for (size_t i = 0; i < t->cap; i++) {
    if (t->hash[i] == 0) continue;
    const gsp__stack *s = &t->v[i];
    for (uint32_t d = 0; d < s->depth; d++)
      varint(packed, loc_base + r->frame_loc[s->off + d] + 1ull);
    field_msg(tmp, 1, packed);
    varint(packed, s->count);
    varint(packed, s->count * period);
    field_msg(tmp, 2, packed);
    put(tmp, labels->p, labels->n);
    field_msg(b, 2, tmp);
  }
}

/* Mappings: one per distinct module file of the locations (linear, few). */
static uint64_t mapping_id(const gsp_prof_report *r, size_t loc, const char **files,
                           size_t *nfiles) {
  const char *mf = r->loc_sym[loc].map_file;
  if (!mf || !mf[0]) return 0;
  for (size_t i = 0; i < *nfiles; i++)
    if (files[i] == mf) return i + 1;
  files[*nfiles] = mf;
  return ++*nfiles;
}

/* Ids of one report's locations and mappings in a profile: location i
 * is loc_base + i + 1, its module map_base + m + 1, its function
 * fmap[func] + 1 (fmap NULL: func + 1). */
typedef struct idmap {
  uint64_t loc_base, map_base;
  const uint32_t *fmap;
} idmap;

static void locations(const gsp_prof_report *r, pbuf *b, pbuf *tmp, pbuf *line, strtab *st,
                      const char **files, size_t *nfiles, size_t *first_loc_of_file,
                      const idmap *ids) {
  for (size_t i = 0; i < r->nlocs; i++) {
    uint64_t mid = mapping_id(r, i, files, nfiles);
    if (mid && first_loc_of_file[mid - 1] == SIZE_MAX) first_loc_of_file[mid - 1] = i;
    field_u64(tmp, 1, ids->loc_base + i + 1);
    if (mid) field_u64(tmp, 2, ids->map_base + mid);
    field_u64(tmp, 3, r->locs[i].pc);
    uint32_t fn = ids->fmap ? ids->fmap[r->locs[i].func] : r->locs[i].func;
    field_u64(line, 1, fn + 1ull);
    if (r->locs[i].line) field_u64(line, 2, r->locs[i].line);
    field_msg(tmp, 4, line);
    field_msg(b, 4, tmp);
  }
  for (size_t m = 0; m < *nfiles; m++) {
    const gsp__sym *s = &r->loc_sym[first_loc_of_file[m]];
    field_u64(tmp, 1, ids->map_base + m + 1);
    field_u64(tmp, 2, s->map_start);
    field_u64(tmp, 3, s->map_limit);
    field_u64(tmp, 5, (uint64_t)str_id(st, s->map_file));
    field_u64(tmp, 7, 1);
    field_u64(tmp, 8, 1);
    field_u64(tmp, 9, 1);
    field_msg(b, 3, tmp);
  }
}

static void functions(const gsp_prof_report *r, pbuf *b, pbuf *tmp, strtab *st) {
  for (size_t i = 0; i < r->nfuncs; i++) {
    field_u64(tmp, 1, i + 1);
    int64_t name = str_id(st, r->funcs[i].name);
    field_u64(tmp, 2, (uint64_t)name);
    field_u64(tmp, 3, (uint64_t)name);
    field_u64(tmp, 4, (uint64_t)str_id(st, r->funcs[i].file));
    field_msg(b, 5, tmp);
  }
}

static int encode(const gsp_prof_report *r, pbuf *b) {
  strtab st;
  pbuf tmp = {0}, inner = {0}, packed = {0};
  const char **files = gsp_calloc(r->nlocs + 1, sizeof *files);
  size_t *first = gsp_malloc((r->nlocs + 1) * sizeof *first), nfiles = 0;
  int rv = strtab_init(&st, 2 * r->nfuncs + r->nlocs + 8);
  if (rv == GSP_OK && (!files || !first)) rv = GSP_ENOMEM;
  if (rv == GSP_OK) {
    for (size_t i = 0; i <= r->nlocs; i++) first[i] = SIZE_MAX;
    value_type(b, 1, &st, "samples", "count", &tmp);
    value_type(b, 1, &st, "cpu", "nanoseconds", &tmp);
    samples(r, b, &tmp, &packed, 0, &(pbuf){0});
    locations(r, b, &tmp, &inner, &st, files, &nfiles, first, &(idmap){0, 0, NULL});
    functions(r, b, &tmp, &st);
    for (size_t i = 0; i < st.n; i++) field_bytes(b, 6, st.v[i], strlen(st.v[i]));
    uint64_t period = r->hz ? 1000000000ull / r->hz : 0;
    if (r->hz) field_u64(b, 10, r->stacks.total * period);
    value_type(b, 11, &st, "cpu", "nanoseconds", &tmp);
    field_u64(b, 12, period);
    if (b->oom || tmp.oom || inner.oom || packed.oom) rv = GSP_ENOMEM;
  }
  gsp_free(tmp.p);
  gsp_free(inner.p);
  gsp_free(packed.p);
  gsp_free(files);
  gsp_free(first);
  strtab_free(&st);
  return rv;
}

int gsp_prof_report_write_pprof(const gsp_prof_report *r, const char *path) {
  if (!r || !path) return GSP_EINVAL;
  pbuf b = {0};
  int rv = encode(r, &b);
  if (rv == GSP_OK) rv = write_gz(&b, path);
  gsp_free(b.p);
  return rv;
}

/* ---- several processes -----------------------------------------------------
 * One profile for all processes: each process's locations and mappings
 * get their own id ranges (its addresses mean nothing in another), the
 * functions are the merged ones (one Function per name), and every
 * Sample carries Label{pid: number} and Label{comm, exe: strings}. */

static void label(pbuf *out, strtab *st, const char *key, const char *str, long num, pbuf *tmp) {
  field_u64(tmp, 1, (uint64_t)str_id(st, key));
  if (str)
    field_u64(tmp, 2, (uint64_t)str_id(st, str));
  else
    field_u64(tmp, 3, (uint64_t)num);
  field_msg(out, 3, tmp);
}

typedef struct mbufs {
  pbuf tmp, inner, packed, labels;
  const char **files;
  size_t *first;
} mbufs;

static void multi_proc(const gsp_prof_multi *m, size_t p, pbuf *b, strtab *st, mbufs *w,
                       idmap *ids) {
  const gsp_prof_report *r = m->reps[p];
  const gsp_prof_process *pr = &m->procs[p];
  label(&w->labels, st, "pid", NULL, pr->pid, &w->tmp);
  label(&w->labels, st, "comm", pr->comm, 0, &w->tmp);
  if (pr->exe[0]) label(&w->labels, st, "exe", pr->exe, 0, &w->tmp);
  samples(r, b, &w->tmp, &w->packed, ids->loc_base, &w->labels);
  if (w->labels.oom) b->oom = true;
  w->labels.n = 0;
  size_t nfiles = 0;
  for (size_t i = 0; i <= r->nlocs; i++) w->first[i] = SIZE_MAX;
  ids->fmap = m->fmap + m->fmap_off[p];
  locations(r, b, &w->tmp, &w->inner, st, w->files, &nfiles, w->first, ids);
  ids->loc_base += r->nlocs;
  ids->map_base += nfiles;
}

static void multi_functions(const gsp_prof_multi *m, pbuf *b, pbuf *tmp, strtab *st) {
  for (size_t i = 0; i < m->nfuncs; i++) {
    field_u64(tmp, 1, i + 1);
    int64_t name = str_id(st, m->funcs[i].f.name);
    field_u64(tmp, 2, (uint64_t)name);
    field_u64(tmp, 3, (uint64_t)name);
    field_u64(tmp, 4, (uint64_t)str_id(st, m->funcs[i].f.file));
    field_msg(b, 5, tmp);
  }
}

static int encode_multi(const gsp_prof_multi *m, pbuf *b) {
  size_t maxlocs = 0, nstr = 2 * m->nfuncs + 16;
  for (size_t p = 0; p < m->n; p++) {
    if (m->reps[p]->nlocs > maxlocs) maxlocs = m->reps[p]->nlocs;
    nstr += m->reps[p]->nlocs + 2;
  }
  strtab st;
  mbufs w = {0};
  w.files = gsp_calloc(maxlocs + 1, sizeof *w.files);
  w.first = gsp_malloc((maxlocs + 1) * sizeof *w.first);
  int rv = strtab_init(&st, nstr);
  if (rv == GSP_OK && (!w.files || !w.first)) rv = GSP_ENOMEM;
  if (rv == GSP_OK) {
    value_type(b, 1, &st, "samples", "count", &w.tmp);
    value_type(b, 1, &st, "cpu", "nanoseconds", &w.tmp);
    idmap ids = {0, 0, NULL};
    for (size_t p = 0; p < m->n; p++) multi_proc(m, p, b, &st, &w, &ids);
    multi_functions(m, b, &w.tmp, &st);
    value_type(b, 11, &st, "cpu", "nanoseconds", &w.tmp);
    for (size_t i = 0; i < st.n; i++) field_bytes(b, 6, st.v[i], strlen(st.v[i]));
    uint64_t period = m->hz ? 1000000000ull / m->hz : 0;
    if (m->hz) field_u64(b, 10, m->total * period);
    field_u64(b, 12, period);
    if (b->oom || w.tmp.oom || w.inner.oom || w.packed.oom) rv = GSP_ENOMEM;
  }
  gsp_free(w.tmp.p);
  gsp_free(w.inner.p);
  gsp_free(w.packed.p);
  gsp_free(w.labels.p);
  gsp_free(w.files);
  gsp_free(w.first);
  strtab_free(&st);
  return rv;
}

int gsp_prof_multi_write_pprof(const gsp_prof_multi *m, const char *path) {
  if (!m || !path) return GSP_EINVAL;
  pbuf b = {0};
  int rv = encode_multi(m, &b);
  if (rv == GSP_OK) rv = write_gz(&b, path);
  gsp_free(b.p);
  return rv;
}

/* ---- heap profiles ---------------------------------------------------------
 * A heap profile has no addresses left (heap_report.c keeps names): each
 * distinct function name is one Function and one Location (address 0,
 * one Line), both with the id of the name in the string table. Sample
 * values per site: alloc_objects, alloc_space, inuse_objects, inuse_space
 * (live at exit). */

static void heap_sample(pbuf *b, pbuf *tmp, pbuf *packed, strtab *st, bool *seen,
                        const gsp_prof_heap_site *s) {
  for (size_t d = 0; d < s->depth; d++) {
    int64_t id = str_id(st, s->stack[d]);
    varint(packed, (uint64_t)id);
    seen[id] = true;
  }
  field_msg(tmp, 1, packed);
  varint(packed, s->allocs);
  varint(packed, s->alloc_bytes);
  varint(packed, s->live_count);
  varint(packed, s->live_bytes);
  field_msg(tmp, 2, packed);
  if (s->pid > 0) {
    field_u64(packed, 1, (uint64_t)str_id(st, "pid"));
    field_u64(packed, 3, (uint64_t)s->pid);
    field_msg(tmp, 3, packed);
    field_u64(packed, 1, (uint64_t)str_id(st, "comm"));
    field_u64(packed, 2, (uint64_t)str_id(st, s->comm));
    field_msg(tmp, 3, packed);
  }
  field_msg(b, 2, tmp);
}

static void heap_funcs(pbuf *b, pbuf *tmp, pbuf *line, const strtab *st, const bool *seen) {
  for (size_t i = 1; i < st->n; i++) {
    if (!seen[i]) continue;
    field_u64(line, 1, i);
    field_u64(tmp, 1, i);
    field_msg(tmp, 4, line);
    field_msg(b, 4, tmp);
    field_u64(tmp, 1, i);
    field_u64(tmp, 2, i);
    field_u64(tmp, 3, i);
    field_msg(b, 5, tmp);
  }
}

static int encode_heap(const gsp_prof_heap *h, pbuf *b) {
  const gsp_prof_heap_site *sites;
  size_t n = gsp_prof_heap_sites(h, &sites), names = 0;
  for (size_t i = 0; i < n; i++) names += sites[i].depth + 1; /* + its comm */
  strtab st;
  pbuf tmp = {0}, inner = {0}, packed = {0};
  int rv = strtab_init(&st, names + 16);
  bool *seen = gsp_calloc(names + 24, sizeof *seen);
  if (rv == GSP_OK && !seen) rv = GSP_ENOMEM;
  if (rv == GSP_OK) {
    value_type(b, 1, &st, "alloc_objects", "count", &tmp);
    value_type(b, 1, &st, "alloc_space", "bytes", &tmp);
    value_type(b, 1, &st, "inuse_objects", "count", &tmp);
    value_type(b, 1, &st, "inuse_space", "bytes", &tmp);
    for (size_t i = 0; i < n; i++) heap_sample(b, &tmp, &packed, &st, seen, &sites[i]);
    heap_funcs(b, &tmp, &inner, &st, seen);
    value_type(b, 11, &st, "space", "bytes", &tmp); /* before the strings go out */
    field_u64(b, 12, gsp_prof_heap_sample_bytes(h));
    for (size_t i = 0; i < st.n; i++) field_bytes(b, 6, st.v[i], strlen(st.v[i]));
    if (b->oom || tmp.oom || inner.oom || packed.oom) rv = GSP_ENOMEM;
  }
  gsp_free(tmp.p);
  gsp_free(inner.p);
  gsp_free(packed.p);
  gsp_free(seen);
  strtab_free(&st);
  return rv;
}

static int write_gz(const pbuf *b, const char *path) {
  gzFile gz = gzopen(path, "wb");
  if (!gz) return GSP_EIO;
  int rv = GSP_OK;
  if (b->n && gzwrite(gz, b->p, (unsigned)b->n) != (int)b->n) rv = GSP_EIO;
  if (gzclose(gz) != Z_OK) rv = GSP_EIO;
  return rv;
}

int gsp_prof_heap_write_pprof(const gsp_prof_heap *h, const char *path) {
  if (!h || !path) return GSP_EINVAL;
  pbuf b = {0};
  int rv = encode_heap(h, &b);
  if (rv == GSP_OK) rv = write_gz(&b, path);
  gsp_free(b.p);
  return rv;
}
