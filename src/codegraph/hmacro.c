/*
 * hmacro.c - annotation macros learned from included headers, in the
 * parse stage. A header's `#define API __attribute__ ((visibility
 * ("default")))` makes `API int f (void);` a syntax error to tree-sitter
 * in every file that includes it, unless the parse blanks API there too.
 *
 * Where the names come from: resolve_cxx.c reads every C file before the
 * parse stage (or takes its notes from the include memo when its stat is
 * unchanged) with gsp__cg_c_note_macros, the blanking pass itself, which
 * notes the file's #include spellings, the names it #undefs and the names
 * it teaches (the annotation macros it ends up defining, less built-ins,
 * family names and its include guard). Those notes depend on the file's
 * bytes alone. This file takes them over (adopt), and once the files are
 * sorted and indexed (prepare), gives every C file the union of the names
 * its direct includes teach, minus the names the file itself teaches or
 * #undefs (those are the file's own: its #define or #undef decides). One
 * level, as gsp__cg_parse_with documents: what an included header's own
 * includes teach does not reach the includer. Includes are resolved with
 * the import rules (gsp__cg_resolve_include_in: quoted relative to the
 * file, then the include path, the root and the directories above); an
 * include that leads nowhere in the tree teaches nothing.
 *
 * Key: a file with learned names is parsed with them (gsp__cg_parse_with),
 * so its result depends on them; its store key mixes the content hash with
 * the XXH3-128 of the sorted names (each followed by a NUL). A file with
 * none keeps the key of its content alone, so Python, JavaScript and most
 * C results are the ones a run without this pass stores. A header whose
 * taught set changes changes its includers' keys (they are parsed again);
 * a header change that keeps the set does not.
 *
 * Identity: once a file parsed with learned names has its result, its
 * hash (cg_file.hash: the database's files.hash, the stored resolution's
 * inputs, gsp_cg_file_hash) becomes XXH3-128 of (content hash, names
 * key), so that what compares file hashes to find changed files sees a
 * file whose learned names changed as changed (its definitions may
 * differ); the stat index still records the content hash
 * (gsp__cg_hm_content).
 *
 * Data: notes[k] per file as it was numbered when scanned (paths[k] its
 * path), note_of[f] = k + 1 per file as sorted (0: not scanned); per file
 * its names (pointers into the notes, sorted, unique) and its key (a file
 * whose one teaching include's names are not its own shares that
 * header's sorted set, tset, made once per teaching header); a hash
 * set of the last path components of the files that teach anything, so
 * that an include whose last component names none is not resolved at all
 * (most are not), and nothing at all is done when no file teaches.
 * Invariants: a file has a key exactly when it has names; names and keys
 * are the same for the same notes and layout, whatever the number of
 * threads (each file's are computed from read-only data by one thread).
 */
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "hmacro.h"
#include "resolve_int.h"

typedef struct hm_file {
  const char **names; /* NULL = none */
  uint32_t n;
  bool shared;  /* names are a teacher's (tset), not the file's own */
  bool settled; /* the file's hash is its identity now, content keeps the content hash */
  uint8_t key[16];
  uint8_t content[16];
} hm_file;

struct cg_hm {
  cg_notes *notes;
  const char **paths; /* per notes entry: its file's path (in cg->arena) */
  size_t nnotes;
  uint32_t *note_of; /* per file: notes entry + 1, 0 = none */
  hm_file *files;    /* per file */
  size_t nfiles;
  size_t *tstart;         /* per notes entry: offset of its first TEACH entry (they come last) */
  hm_file *tset;          /* per notes entry: its TEACH names sorted, unique, and their key */
  uint64_t *tslots;       /* last path components of the teaching files: hash | 1, 0 = empty */
  size_t tcap;            /* power of two */
  _Atomic size_t learned; /* files with names */
};

typedef struct cg_hm cg_hm;

int gsp__cg_notes_add(void *user, char kind, const char *s, size_t n) {
  cg_notes *l = user;
  if (l->len + n + 2 > l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 128;
    while (nc < l->len + n + 2) nc *= 2;
    char *q = gsp_realloc(l->buf, nc);
    if (q == NULL) return GSP_ENOMEM;
    l->buf = q, l->cap = nc;
  }
  l->buf[l->len++] = kind;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
  l->buf[l->len++] = '\0';
  return GSP_OK;
}

static void free_notes(cg_notes *notes, size_t n) {
  for (size_t i = 0; notes && i < n; i++) gsp_free(notes[i].buf);
  gsp_free(notes);
}

int gsp__cg_hm_adopt(gsp_cg *cg, cg_notes *notes, size_t n) {
  gsp__cg_hm_free(cg);
  cg_hm *h = gsp_calloc(1, sizeof *h);
  const char **paths = gsp_malloc((n + 1) * sizeof *paths);
  if (h == NULL || paths == NULL) {
    gsp_free(h), gsp_free(paths);
    free_notes(notes, n);
    return GSP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) paths[i] = i < cg->nfiles ? cg->files[i].path : NULL;
  h->notes = notes, h->paths = paths, h->nnotes = n;
  cg->hm = h;
  return GSP_OK;
}

void gsp__cg_hm_free(gsp_cg *cg) {
  cg_hm *h = cg->hm;
  if (h == NULL) return;
  free_notes(h->notes, h->nnotes);
  for (size_t f = 0; h->files && f < h->nfiles; f++)
    if (!h->files[f].shared) gsp_free(h->files[f].names);
  for (size_t k = 0; h->tset && k < h->nnotes; k++) gsp_free(h->tset[k].names);
  gsp_free(h->tset);
  gsp_free(h->files), gsp_free(h->note_of), gsp_free((void *)h->paths), gsp_free(h->tslots);
  gsp_free(h->tstart);
  gsp_free(h);
  cg->hm = NULL;
}

/* ---- one file's names ---- */

typedef struct name_vec {
  const char **v;
  size_t n, cap;
} name_vec;

static int vec_push(name_vec *nv, const char *s) {
  if (nv->n == nv->cap) {
    size_t nc = nv->cap ? nv->cap * 2 : 64;
    const char **q = gsp_realloc((void *)nv->v, nc * sizeof *q);
    if (q == NULL) return GSP_ENOMEM;
    nv->v = q, nv->cap = nc;
  }
  nv->v[nv->n++] = s;
  return GSP_OK;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The notes of file f, or NULL. */
static const cg_notes *notes_of(const cg_hm *h, size_t f) {
  return h->note_of[f] ? &h->notes[h->note_of[f] - 1] : NULL;
}

/* The next entry of l from *o: its kind and text; false at the end. */
static bool next_note(const cg_notes *l, size_t *o, char *kind, const char **text) {
  if (*o >= l->len) return false;
  *kind = l->buf[*o];
  *text = l->buf + *o + 1;
  *o += strlen(*text) + 2;
  return true;
}

/* The hash slot of a last path component s[0, n). */
static uint64_t base_hash(const char *s, size_t n) { return XXH3_64bits(s, n) | 1; }

/* Whether an include spelled sp may lead to a teaching file: false only
 * when no teaching file has sp's last component as its name (the
 * resolution then is not worth making). */
static bool may_teach(const cg_hm *h, const char *sp) {
  const char *b = strrchr(sp, '/');
  b = b ? b + 1 : sp;
  size_t n = strlen(b);
  if (n == 0 || strcmp(b, ".") == 0 || strcmp(b, "..") == 0) return true; /* folded: unknown */
  uint64_t v = base_hash(b, n);
  for (size_t i = (size_t)v & (h->tcap - 1); h->tslots[i]; i = (i + 1) & (h->tcap - 1))
    if (h->tslots[i] == v) return true;
  return false;
}

/* The teaching files file f includes directly (notes entries, each once),
 * into tv. */
static int gather(const gsp_cg *cg, const cg_hm *h, size_t f, const cg_notes *own, name_vec *tv) {
  size_t o = 0, end = h->tstart[h->note_of[f] - 1]; /* the TEACH names come last */
  char kind;
  const char *sp;
  int rv = GSP_OK;
  while (rv == GSP_OK && o < end && next_note(own, &o, &kind, &sp)) {
    if ((kind != CG_NOTE_QUOTED && kind != CG_NOTE_SYSTEM) || !may_teach(h, sp)) continue;
    gsp_cg_import_kind ik =
        kind == CG_NOTE_QUOTED ? GSP_CG_IMPORT_INCLUDE_QUOTED : GSP_CG_IMPORT_INCLUDE_SYSTEM;
    long t = gsp__cg_resolve_include_in(cg, cg->files[f].path, ik, sp, NULL, NULL);
    if (t < 0 || (size_t)t == f || h->note_of[t] == 0) continue;
    const hm_file *ts = &h->tset[h->note_of[t] - 1];
    bool seen = ts->n == 0;
    for (size_t i = 0; i < tv->n && !seen; i++) seen = tv->v[i] == (const char *)ts;
    if (!seen) rv = vec_push(tv, (const char *)ts); /* the teacher's set, as a pointer */
  }
  return rv;
}

/* Whether a name own teaches or #undefs is in the sorted names[0, n). */
static bool own_overlaps(const cg_notes *own, const char *const *names, size_t n) {
  size_t o = 0;
  char kind;
  const char *name;
  while (next_note(own, &o, &kind, &name))
    if ((kind == CG_NOTE_TEACH || kind == CG_NOTE_UNDEF) &&
        bsearch(&name, (const void *)names, n, sizeof *names, cmp_name))
      return true;
  return false;
}

/* The key of the sorted names v[0, n). */
static void names_key(const char *const *v, size_t n, uint8_t key[16]) {
  XXH3_state_t st;
  XXH3_128bits_reset(&st);
  for (size_t i = 0; i < n; i++) XXH3_128bits_update(&st, v[i], strlen(v[i]) + 1);
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
  memcpy(key, c.digest, 16);
}

/* Sort nv, drop duplicates and the names own teaches or #undefs (drop:
 * scratch of nv->n flags). */
static void settle_names(name_vec *nv, const cg_notes *own, uint8_t *drop) {
  qsort((void *)nv->v, nv->n, sizeof *nv->v, cmp_name);
  size_t m = 0;
  for (size_t i = 0; i < nv->n; i++)
    if (m == 0 || strcmp(nv->v[m - 1], nv->v[i]) != 0) nv->v[m++] = nv->v[i];
  nv->n = m;
  memset(drop, 0, m);
  size_t o = 0;
  char kind;
  const char *name;
  while (next_note(own, &o, &kind, &name)) {
    if (kind != CG_NOTE_TEACH && kind != CG_NOTE_UNDEF) continue;
    const char **hit = bsearch(&name, (void *)nv->v, nv->n, sizeof *nv->v, cmp_name);
    if (hit) drop[hit - nv->v] = 1;
  }
  m = 0;
  for (size_t i = 0; i < nv->n; i++)
    if (!drop[i]) nv->v[m++] = nv->v[i];
  nv->n = m;
}

/* File f's names from the union of its teachers' sets (tv): merged,
 * settled, its own copy. */
static int merge_names(cg_hm *h, size_t f, const cg_notes *own, const name_vec *tv, name_vec *nv) {
  int rv = GSP_OK;
  nv->n = 0;
  for (size_t t = 0; t < tv->n && rv == GSP_OK; t++) {
    const hm_file *ts = (const hm_file *)(const void *)tv->v[t];
    for (uint32_t i = 0; i < ts->n && rv == GSP_OK; i++) rv = vec_push(nv, ts->names[i]);
  }
  uint8_t *drop = rv == GSP_OK ? gsp_malloc(nv->n) : NULL;
  if (drop == NULL) return GSP_ENOMEM;
  settle_names(nv, own, drop);
  gsp_free(drop);
  if (nv->n == 0) return GSP_OK;
  hm_file *hf = &h->files[f];
  hf->names = gsp_malloc(nv->n * sizeof *hf->names);
  if (hf->names == NULL) return GSP_ENOMEM;
  memcpy((void *)hf->names, nv->v, nv->n * sizeof *hf->names);
  hf->n = (uint32_t)nv->n;
  names_key(hf->names, hf->n, hf->key);
  return GSP_OK;
}

/* File f's learned names. One teacher and none of its names the file's
 * own (the usual case): the teacher's set itself, shared. */
static int one_file(const gsp_cg *cg, cg_hm *h, size_t f, name_vec *tv, name_vec *nv) {
  const cg_notes *own = notes_of(h, f);
  if (own == NULL || cg->files[f].lang != GSP_CG_LANG_C) return GSP_OK;
  tv->n = 0;
  int rv = gather(cg, h, f, own, tv);
  if (rv != GSP_OK || tv->n == 0) return rv;
  const hm_file *ts = (const hm_file *)(const void *)tv->v[0];
  if (tv->n == 1 && !own_overlaps(own, ts->names, ts->n)) {
    h->files[f] = *ts;
    h->files[f].shared = true;
  } else {
    rv = merge_names(h, f, own, tv, nv);
  }
  if (rv == GSP_OK && h->files[f].names) atomic_fetch_add(&h->learned, 1);
  return rv;
}

typedef struct prep_job {
  gsp_cg *cg;
} prep_job;

static int prep_range(void *user, size_t begin, size_t end) {
  prep_job *j = user;
  name_vec tv = {0}, nv = {0};
  int rv = GSP_OK;
  for (size_t f = begin; f < end && rv == GSP_OK; f++) rv = one_file(j->cg, j->cg->hm, f, &tv, &nv);
  gsp_free((void *)tv.v), gsp_free((void *)nv.v);
  return rv;
}

/* The offset of the first TEACH entry of l (gsp__cg_c_note_macros tells
 * them last), l->len when there is none. */
static size_t teach_start(const cg_notes *l) {
  size_t o = 0, at = 0;
  char kind;
  const char *text;
  while (next_note(l, &o, &kind, &text)) {
    if (kind == CG_NOTE_TEACH) return at;
    at = o;
  }
  return l->len;
}

static bool teaches(const cg_hm *h, size_t k) {
  return h->paths[k] && h->tstart[k] < h->notes[k].len;
}

/* tset[k]: the names notes entry k teaches, sorted, unique, and their key. */
static int teacher_set(cg_hm *h, size_t k) {
  const cg_notes *l = &h->notes[k];
  size_t o = h->tstart[k], n = 0;
  char kind;
  const char *name;
  while (next_note(l, &o, &kind, &name)) n++;
  hm_file *ts = &h->tset[k];
  ts->names = gsp_malloc(n * sizeof *ts->names);
  if (ts->names == NULL) return GSP_ENOMEM;
  o = h->tstart[k], n = 0;
  while (next_note(l, &o, &kind, &name)) ts->names[n++] = name;
  qsort((void *)ts->names, n, sizeof *ts->names, cmp_name);
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (m == 0 || strcmp(ts->names[m - 1], ts->names[i]) != 0) ts->names[m++] = ts->names[i];
  ts->n = (uint32_t)m;
  names_key(ts->names, m, ts->key);
  return GSP_OK;
}

/* tstart, and tslots: the last path components of the files that teach;
 * how many teach (SIZE_MAX: out of memory). */
static size_t index_teachers(cg_hm *h) {
  size_t n = 0, cap = 16;
  h->tstart = gsp_malloc((h->nnotes + 1) * sizeof *h->tstart);
  if (h->tstart == NULL) return SIZE_MAX;
  for (size_t k = 0; k < h->nnotes; k++) h->tstart[k] = teach_start(&h->notes[k]);
  for (size_t k = 0; k < h->nnotes; k++) n += teaches(h, k);
  if (n == 0) return 0;
  h->tset = gsp_calloc(h->nnotes + 1, sizeof *h->tset);
  if (h->tset == NULL) return SIZE_MAX;
  for (size_t k = 0; k < h->nnotes; k++)
    if (teaches(h, k) && teacher_set(h, k) != GSP_OK) return SIZE_MAX;
  while (cap < n * 2) cap *= 2;
  h->tslots = gsp_calloc(cap, sizeof *h->tslots);
  if (h->tslots == NULL) return SIZE_MAX;
  h->tcap = cap;
  for (size_t k = 0; k < h->nnotes; k++) {
    if (!teaches(h, k)) continue;
    const char *b = strrchr(h->paths[k], '/');
    b = b ? b + 1 : h->paths[k];
    uint64_t v = base_hash(b, strlen(b));
    size_t i = (size_t)v & (cap - 1);
    while (h->tslots[i] && h->tslots[i] != v) i = (i + 1) & (cap - 1);
    h->tslots[i] = v;
  }
  return n;
}

/* note_of: each notes entry's file by its path in the sorted list. */
static void map_notes(gsp_cg *cg, cg_hm *h) {
  for (size_t k = 0; k < h->nnotes; k++) {
    if (h->paths[k] == NULL || !h->notes[k].scanned) continue;
    long f = gsp__cg_lookup(cg, h->paths[k], strlen(h->paths[k]));
    if (f >= 0) h->note_of[f] = (uint32_t)k + 1;
  }
}

int gsp__cg_hm_prepare(gsp_cg *cg, gsp_exec *ex) {
  cg_hm *h = cg->hm;
  if (h == NULL || cg->nfiles == 0) return GSP_OK;
  h->note_of = gsp_calloc(cg->nfiles, sizeof *h->note_of);
  h->files = gsp_calloc(cg->nfiles, sizeof *h->files);
  if (h->note_of == NULL || h->files == NULL) return GSP_ENOMEM;
  h->nfiles = cg->nfiles;
  size_t teachers = index_teachers(h);
  if (teachers == SIZE_MAX) return GSP_ENOMEM;
  if (teachers == 0) return GSP_OK; /* nobody learns anything */
  map_notes(cg, h);
  prep_job j = {cg};
  return gsp__cg_for(ex, cg->nfiles, 64, prep_range, &j);
}

const uint8_t *gsp__cg_hm_key(const gsp_cg *cg, size_t f) {
  const cg_hm *h = cg->hm;
  if (h == NULL || h->files == NULL || f >= h->nfiles || h->files[f].names == NULL) return NULL;
  return h->files[f].key;
}

const cg_macro_tab *gsp__cg_hm_extra(const gsp_cg *cg, size_t f, cg_macro_tab *scratch, int *rv) {
  *rv = GSP_OK;
  if (gsp__cg_hm_key(cg, f) == NULL) return NULL;
  const hm_file *hf = &cg->hm->files[f];
  gsp__cg_macro_tab_clear(scratch);
  for (uint32_t i = 0; i < hf->n && *rv == GSP_OK; i++)
    *rv = gsp__cg_macro_tab_add(scratch, hf->names[i], strlen(hf->names[i]));
  return *rv == GSP_OK ? scratch : NULL;
}

const char *const *gsp__cg_hm_names(const gsp_cg *cg, size_t f, size_t *n) {
  *n = 0;
  if (gsp__cg_hm_key(cg, f) == NULL) return NULL;
  *n = cg->hm->files[f].n;
  return cg->hm->files[f].names;
}

void gsp__cg_hm_store_key(const gsp_cg *cg, size_t f, const uint8_t hash[16], uint8_t key[16]) {
  uint8_t in[32];
  size_t n = 16;
  const uint8_t *names = gsp__cg_hm_key(cg, f);
  memcpy(in, hash, 16);
  if (names) memcpy(in + 16, names, 16), n = 32;
  uint64_t seed = (uint64_t)cg->files[f].lang << 8 | CG_RESULT_VERSION;
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits_withSeed(in, n, seed));
  memcpy(key, c.digest, 16);
}

size_t gsp__cg_hm_files(const gsp_cg *cg) { return cg->hm ? atomic_load(&cg->hm->learned) : 0; }

void gsp__cg_hm_settle(gsp_cg *cg, size_t f) {
  cg_hm *h = cg->hm;
  cg_file *file = &cg->files[f];
  if (gsp__cg_hm_key(cg, f) == NULL || file->res == NULL || h->files[f].settled) return;
  hm_file *hf = &h->files[f];
  uint8_t in[32];
  memcpy(in, file->hash, 16);
  memcpy(in + 16, hf->key, 16);
  memcpy(hf->content, file->hash, 16);
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits(in, sizeof in));
  memcpy(file->hash, c.digest, 16);
  hf->settled = true;
}

const uint8_t *gsp__cg_hm_content(const gsp_cg *cg, size_t f) {
  const cg_hm *h = cg->hm;
  bool settled = h && h->files && f < h->nfiles && h->files[f].settled;
  return settled ? h->files[f].content : cg->files[f].hash;
}
