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
 * path; a note list may point into backing, the include memo's buffer,
 * rather than own a copy), note_of[f] = k + 1 per file as sorted (0: not
 * scanned). The teaching entries: tix[k] = index + 1 of entry k's set in
 * tsets (its TEACH names sorted, unique, and their key; 0: it teaches
 * nothing), a compact array of the few files that teach. The learning
 * files: lix[f] = index + 1 of f's record in learned (0: no names), a
 * compact array filled in any order by the parallel loop (an atomic
 * counter hands out the records): its set is the one teacher's (the usual
 * case: one teaching include, none of whose names are the file's own) or
 * its own merged copy (a chunk of the parallel loop, up to 64 files in
 * path order, shares the union it made for the same teachers with its
 * files after it that drop none of its names: the union cache below).
 * Only the per-file and per-entry indexes are dense (4 bytes a file), so
 * a warm run touches little fresh memory here. A
 * hash set of the last path components of the files that teach
 * anything, so that an include whose last component names none is not
 * resolved at all (about three includes in four on /usr/include), and
 * nothing at all is done when no file teaches.
 * Cost, per run, warm or cold (the names depend on the tree's layout and
 * the include path as well as on the notes): a look at each list's last
 * entry (the TEACH names come last, so a list that teaches is found, and
 * its names taken, from the end), a sort per teaching file, and per C
 * file a walk over its notes, a resolution per include that may teach,
 * and for a file with several teachers a linear merge of their sorted
 * sets (unless cached) and one hash of the result.
 * Invariants: a file has a key exactly when it has names (lix[f] != 0);
 * names and keys are the same for the same notes and layout, whatever the
 * number of threads (each file's are computed from read-only data by one
 * thread; only where its record lands in learned varies).
 */
#define _GNU_SOURCE /* memrchr */
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "hmacro.h"
#include "resolve_int.h"

/* A sorted, unique set of names and its key; a teacher's also where its
 * TEACH entries start in its notes. */
typedef struct hm_set {
  const char **names;
  uint32_t n;
  size_t from;
  uint8_t key[16];
} hm_set;

/* A file with learned names. */
typedef struct hm_learned {
  const hm_set *set; /* a teacher's (in tsets) or own */
  hm_set *own;       /* the file's own merged set (set), or NULL */
  bool settled;      /* the file's hash is its identity now, content keeps the content hash */
  uint8_t content[16];
} hm_learned;

struct cg_hm {
  cg_notes *notes;
  const char **paths; /* per notes entry: its file's path (in cg->arena) */
  size_t nnotes;
  void *backing;     /* the memo buffer borrowed notes point into, or NULL */
  uint32_t *note_of; /* per file: notes entry + 1, 0 = none */
  size_t nfiles;
  uint32_t *tix;            /* per notes entry: its set in tsets + 1, 0 = teaches nothing */
  hm_set *tsets;            /* the teachers' sets */
  size_t ntsets;            /* how many teach */
  uint64_t *tslots;         /* last path components of the teaching files: hash | 1, 0 = empty */
  size_t tcap;              /* power of two */
  uint32_t *lix;            /* per file: its record in learned + 1, 0 = no names */
  hm_learned *learned;      /* room for every scanned file */
  _Atomic size_t learned_n; /* records handed out: files with names */
};

typedef struct cg_hm cg_hm;

/* Make l's buffer its own (a list borrowed from the memo is copied
 * before it grows). GSP_ENOMEM. */
static int notes_own(cg_notes *l) {
  if (!l->borrowed) return GSP_OK;
  size_t nc = l->len > 64 ? l->len : 64;
  char *q = gsp_malloc(nc);
  if (q == NULL) return GSP_ENOMEM;
  if (l->len) memcpy(q, l->buf, l->len);
  l->buf = q, l->cap = nc, l->borrowed = false;
  return GSP_OK;
}

int gsp__cg_notes_add(void *user, char kind, const char *s, size_t n) {
  cg_notes *l = user;
  if (notes_own(l) != GSP_OK) return GSP_ENOMEM;
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
  for (size_t i = 0; notes && i < n; i++)
    if (!notes[i].borrowed) gsp_free(notes[i].buf);
  gsp_free(notes);
}

int gsp__cg_hm_adopt(gsp_cg *cg, cg_notes *notes, size_t n, void *backing) {
  gsp__cg_hm_free(cg);
  cg_hm *h = gsp_calloc(1, sizeof *h);
  const char **paths = gsp_malloc((n + 1) * sizeof *paths);
  if (h == NULL || paths == NULL) {
    gsp_free(h), gsp_free(paths);
    free_notes(notes, n);
    gsp_free(backing);
    return GSP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) paths[i] = i < cg->nfiles ? cg->files[i].path : NULL;
  h->notes = notes, h->paths = paths, h->nnotes = n, h->backing = backing;
  cg->hm = h;
  return GSP_OK;
}

void gsp__cg_hm_free(gsp_cg *cg) {
  cg_hm *h = cg->hm;
  if (h == NULL) return;
  free_notes(h->notes, h->nnotes);
  gsp_free(h->backing);
  size_t nl = atomic_load(&h->learned_n);
  for (size_t i = 0; h->learned && i < nl; i++)
    if (h->learned[i].own) gsp_free((void *)h->learned[i].own->names), gsp_free(h->learned[i].own);
  for (size_t t = 0; h->tsets && t < h->ntsets; t++) gsp_free((void *)h->tsets[t].names);
  gsp_free(h->tsets), gsp_free(h->tix), gsp_free(h->learned), gsp_free(h->lix);
  gsp_free(h->note_of), gsp_free((void *)h->paths), gsp_free(h->tslots);
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

/* The teacher's set of notes entry k, or NULL when it teaches nothing. */
static const hm_set *tset_of(const cg_hm *h, size_t k) {
  return h->tix[k] ? &h->tsets[h->tix[k] - 1] : NULL;
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

/* The teaching files file f includes directly (their sets, each once),
 * into tv. */
static int gather(const gsp_cg *cg, const cg_hm *h, size_t f, const cg_notes *own, name_vec *tv) {
  const hm_set *mine = tset_of(h, h->note_of[f] - 1);
  size_t o = 0, end = mine ? mine->from : own->len; /* the TEACH names come last */
  char kind;
  const char *sp;
  int rv = GSP_OK;
  while (rv == GSP_OK && o < end && next_note(own, &o, &kind, &sp)) {
    if ((kind != CG_NOTE_QUOTED && kind != CG_NOTE_SYSTEM) || !may_teach(h, sp)) continue;
    gsp_cg_import_kind ik =
        kind == CG_NOTE_QUOTED ? GSP_CG_IMPORT_INCLUDE_QUOTED : GSP_CG_IMPORT_INCLUDE_SYSTEM;
    long t = gsp__cg_resolve_include_in(cg, cg->files[f].path, ik, sp, NULL, NULL);
    if (t < 0 || (size_t)t == f || h->note_of[t] == 0) continue;
    const hm_set *ts = tset_of(h, h->note_of[t] - 1);
    bool seen = ts == NULL || ts->n == 0;
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

/* The key of the sorted names v[0, n): XXH3-128 of the names, each
 * followed by a NUL, hashed in one call from a copy (much cheaper than an
 * update per name; the same digest), or name by name when there is no
 * memory for the copy. */
static void names_key(const char *const *v, size_t n, uint8_t key[16]) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += strlen(v[i]) + 1;
  char *buf = gsp_malloc(len + 1);
  XXH128_hash_t d;
  if (buf) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
      size_t l = strlen(v[i]) + 1;
      memcpy(buf + o, v[i], l);
      o += l;
    }
    d = XXH3_128bits(buf, len);
    gsp_free(buf);
  } else {
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    for (size_t i = 0; i < n; i++) XXH3_128bits_update(&st, v[i], strlen(v[i]) + 1);
    d = XXH3_128bits_digest(&st);
  }
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, d);
  memcpy(key, c.digest, 16);
}

/* into = a followed by b, both sorted and unique: their union, sorted,
 * unique (room for an + bn). */
static size_t merge_two(const char *const *a, size_t an, const char *const *b, size_t bn,
                        const char **into) {
  size_t i = 0, k = 0, m = 0;
  while (i < an && k < bn) {
    int c = strcmp(a[i], b[k]);
    into[m++] = c <= 0 ? a[i] : b[k];
    i += c <= 0, k += c >= 0;
  }
  while (i < an) into[m++] = a[i++];
  while (k < bn) into[m++] = b[k++];
  return m;
}

/* nv = the union of the teachers' sets in tv (each sorted and unique),
 * sorted and unique, merged set by set (tmp: scratch). GSP_ENOMEM. */
static int union_sets(const name_vec *tv, name_vec *nv, name_vec *tmp) {
  size_t total = 0;
  for (size_t t = 0; t < tv->n; t++) total += ((const hm_set *)(const void *)tv->v[t])->n;
  nv->n = tmp->n = 0;
  for (name_vec *v = nv; v; v = v == nv ? tmp : NULL) {
    if (v->cap >= total) continue;
    const char **q = gsp_realloc((void *)v->v, total * sizeof *q);
    if (q == NULL) return GSP_ENOMEM;
    v->v = q, v->cap = total;
  }
  for (size_t t = 0; t < tv->n; t++) {
    const hm_set *ts = (const hm_set *)(const void *)tv->v[t];
    tmp->n = merge_two(nv->v, nv->n, ts->names, ts->n, tmp->v);
    name_vec sw = *nv;
    *nv = *tmp, *tmp = sw;
  }
  return GSP_OK;
}

/* Drop from the sorted, unique nv the names own teaches or #undefs (drop:
 * scratch of nv->n flags). */
static size_t drop_own(name_vec *nv, const cg_notes *own, uint8_t *drop) {
  memset(drop, 0, nv->n);
  size_t o = 0;
  char kind;
  const char *name;
  while (next_note(own, &o, &kind, &name)) {
    if (kind != CG_NOTE_TEACH && kind != CG_NOTE_UNDEF) continue;
    const char **hit = bsearch(&name, (void *)nv->v, nv->n, sizeof *nv->v, cmp_name);
    if (hit) drop[hit - nv->v] = 1;
  }
  size_t m = 0, n = nv->n;
  for (size_t i = 0; i < nv->n; i++)
    if (!drop[i]) nv->v[m++] = nv->v[i];
  nv->n = m;
  return n - m;
}

/* File f's own set from the union of its teachers' sets (tv): merged,
 * less its own names, copied into *out (NULL when none is left); *pure
 * when none was dropped (*out is then the union itself). */
static int merge_names(const cg_notes *own, const name_vec *tv, name_vec *nv, name_vec *tmp,
                       hm_set **out, bool *pure) {
  *out = NULL;
  int rv = union_sets(tv, nv, tmp);
  uint8_t *drop = rv == GSP_OK ? gsp_malloc(nv->n + 1) : NULL;
  if (drop == NULL) return GSP_ENOMEM;
  *pure = drop_own(nv, own, drop) == 0;
  gsp_free(drop);
  if (nv->n == 0) return GSP_OK;
  hm_set *set = gsp_calloc(1, sizeof *set);
  const char **names = gsp_malloc(nv->n * sizeof *names);
  if (set == NULL || names == NULL) {
    gsp_free(set), gsp_free((void *)names);
    return GSP_ENOMEM;
  }
  memcpy((void *)names, nv->v, nv->n * sizeof *names);
  set->names = names, set->n = (uint32_t)nv->n;
  names_key(set->names, set->n, set->key);
  *out = set;
  return GSP_OK;
}

/* Per chunk of files, the unions of teachers' sets met lately
 * (direct-mapped by the teachers): files that include the same teaching
 * headers (most of a library's files include its few configuration
 * headers) share one union instead of merging and keying it again. A union is kept only when the
 * file that made it dropped none of its names (it is then the union
 * itself, owned by that file's record). */
#define UCACHE 64

typedef struct ucache_ent {
  uint32_t *tix; /* the teachers' indexes in tsets, ascending */
  size_t n;
  const hm_set *set;
} ucache_ent;

typedef struct prep_state {
  name_vec v[3]; /* the teachers' sets, a merge, its scratch */
  ucache_ent cache[UCACHE];
  uint32_t tix[64]; /* the current file's teachers, when they fit */
} prep_state;

/* The teachers in tv as ascending indexes into tsets (into st->tix); their
 * cache entry, or NULL when there are too many to cache. */
static ucache_ent *cache_slot(const cg_hm *h, const name_vec *tv, prep_state *st) {
  if (tv->n > sizeof st->tix / sizeof st->tix[0]) return NULL;
  for (size_t i = 0; i < tv->n; i++) {
    uint32_t x = (uint32_t)((const hm_set *)(const void *)tv->v[i] - h->tsets);
    size_t k = i;
    for (; k > 0 && st->tix[k - 1] > x; k--) st->tix[k] = st->tix[k - 1];
    st->tix[k] = x;
  }
  return &st->cache[XXH3_64bits(st->tix, tv->n * sizeof st->tix[0]) % UCACHE];
}

static bool cache_has(const ucache_ent *e, const prep_state *st, size_t n) {
  return e && e->set && e->n == n && memcmp(e->tix, st->tix, n * sizeof st->tix[0]) == 0;
}

/* Keep set as the union of the teachers in st->tix (no memory: not kept). */
static void cache_put(ucache_ent *e, const prep_state *st, size_t n, const hm_set *set) {
  uint32_t *t = gsp_malloc(n * sizeof *t);
  if (t == NULL) return;
  memcpy(t, st->tix, n * sizeof *t);
  gsp_free(e->tix);
  *e = (ucache_ent){.tix = t, .n = n, .set = set};
}

/* File f's set when it has several teachers (or names of its own among its
 * one teacher's): a cached union when none of its names are f's own, else
 * a merge of its own (*mine). */
static int several(const cg_hm *h, const cg_notes *own, prep_state *st, const hm_set **set,
                   hm_set **mine) {
  const name_vec *tv = &st->v[0];
  ucache_ent *e = tv->n > 1 ? cache_slot(h, tv, st) : NULL;
  if (cache_has(e, st, tv->n) && !own_overlaps(own, e->set->names, e->set->n)) {
    *set = e->set;
    return GSP_OK;
  }
  bool pure = false;
  int rv = merge_names(own, tv, &st->v[1], &st->v[2], mine, &pure);
  *set = *mine;
  if (rv == GSP_OK && e && pure && *mine) cache_put(e, st, tv->n, *mine);
  return rv;
}

/* File f's learned names, as a record of learned when it has some. One
 * teacher and none of its names the file's own (the usual case): the
 * teacher's set itself, shared. */
static int one_file(const gsp_cg *cg, cg_hm *h, size_t f, prep_state *st) {
  const cg_notes *own = notes_of(h, f);
  if (own == NULL || cg->files[f].lang != GSP_CG_LANG_C) return GSP_OK;
  name_vec *tv = &st->v[0];
  tv->n = 0;
  int rv = gather(cg, h, f, own, tv);
  if (rv != GSP_OK || tv->n == 0) return rv;
  const hm_set *set = (const hm_set *)(const void *)tv->v[0];
  hm_set *mine = NULL;
  if (tv->n > 1 || own_overlaps(own, set->names, set->n)) rv = several(h, own, st, &set, &mine);
  if (rv != GSP_OK || set == NULL) return rv;
  size_t i = atomic_fetch_add(&h->learned_n, 1);
  h->learned[i] = (hm_learned){.set = set, .own = mine};
  h->lix[f] = (uint32_t)i + 1;
  return GSP_OK;
}

typedef struct prep_job {
  gsp_cg *cg;
} prep_job;

static int prep_range(void *user, size_t begin, size_t end) {
  prep_job *j = user;
  prep_state *st = gsp_calloc(1, sizeof *st);
  if (st == NULL) return GSP_ENOMEM;
  int rv = GSP_OK;
  for (size_t f = begin; f < end && rv == GSP_OK; f++) rv = one_file(j->cg, j->cg->hm, f, st);
  for (size_t i = 0; i < 3; i++) gsp_free((void *)st->v[i].v);
  for (size_t i = 0; i < UCACHE; i++) gsp_free(st->cache[i].tix);
  gsp_free(st);
  return rv;
}

/* The offset of the first TEACH entry of l, l->len when there is none.
 * gsp__cg_c_note_macros tells them last, so they are found from the end:
 * an entry ends with its NUL and starts with its kind byte right after
 * the previous entry's NUL (no kind byte is NUL). */
static size_t teach_start(const cg_notes *l) {
  size_t at = l->len;
  while (at >= 2) {
    const char *z = memrchr(l->buf, '\0', at - 1); /* at - 1 is the entry's own NUL */
    size_t s = z ? (size_t)(z - l->buf) + 1 : 0;
    if (l->buf[s] != CG_NOTE_TEACH) break;
    at = s;
  }
  return at;
}

/* The kind of l's last entry, 0 when it has none. */
static char last_kind(const cg_notes *l) {
  if (l->len < 2) return 0;
  const char *z = memrchr(l->buf, '\0', l->len - 1);
  return l->buf[z ? (size_t)(z - l->buf) + 1 : 0];
}

/* The set of the names notes entry k teaches from offset from on: sorted,
 * unique, and their key. */
static int teacher_set(cg_hm *h, size_t k, size_t from, hm_set *ts) {
  const cg_notes *l = &h->notes[k];
  size_t o = from, n = 0;
  char kind;
  const char *name;
  while (next_note(l, &o, &kind, &name)) n++;
  const char **names = gsp_malloc(n * sizeof *names);
  if (names == NULL) return GSP_ENOMEM;
  o = from, n = 0;
  while (next_note(l, &o, &kind, &name)) names[n++] = name;
  qsort((void *)names, n, sizeof *names, cmp_name);
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (m == 0 || strcmp(names[m - 1], names[i]) != 0) names[m++] = names[i];
  *ts = (hm_set){.names = names, .n = (uint32_t)m, .from = from};
  names_key(names, m, ts->key);
  return GSP_OK;
}

/* tix and tsets: the entries that teach, with their sets; how many
 * (SIZE_MAX: out of memory). */
static size_t find_teachers(cg_hm *h) {
  size_t n = 0;
  h->tix = gsp_calloc(h->nnotes + 1, sizeof *h->tix);
  if (h->tix == NULL) return SIZE_MAX;
  for (size_t k = 0; k < h->nnotes; k++)
    if (h->paths[k] && last_kind(&h->notes[k]) == CG_NOTE_TEACH) h->tix[k] = (uint32_t)++n;
  if (n == 0) return 0;
  h->tsets = gsp_calloc(n, sizeof *h->tsets);
  if (h->tsets == NULL) return SIZE_MAX;
  for (size_t k = 0; k < h->nnotes; k++) {
    if (h->tix[k] == 0) continue;
    if (teacher_set(h, k, teach_start(&h->notes[k]), &h->tsets[h->ntsets]) != GSP_OK)
      return SIZE_MAX;
    h->ntsets++;
  }
  return n;
}

/* tslots: the last path components of the files that teach. GSP_ENOMEM. */
static int index_teachers(cg_hm *h, size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap *= 2;
  h->tslots = gsp_calloc(cap, sizeof *h->tslots);
  if (h->tslots == NULL) return GSP_ENOMEM;
  h->tcap = cap;
  for (size_t k = 0; k < h->nnotes; k++) {
    if (h->tix[k] == 0) continue;
    const char *b = strrchr(h->paths[k], '/');
    b = b ? b + 1 : h->paths[k];
    uint64_t v = base_hash(b, strlen(b));
    size_t i = (size_t)v & (cap - 1);
    while (h->tslots[i] && h->tslots[i] != v) i = (i + 1) & (cap - 1);
    h->tslots[i] = v;
  }
  return GSP_OK;
}

/* note_of: each notes entry's file by its path in the sorted list; how
 * many files have notes. */
static size_t map_notes(gsp_cg *cg, cg_hm *h) {
  size_t n = 0;
  for (size_t k = 0; k < h->nnotes; k++) {
    if (h->paths[k] == NULL || !h->notes[k].scanned) continue;
    long f = gsp__cg_lookup(cg, h->paths[k], strlen(h->paths[k]));
    if (f >= 0) h->note_of[f] = (uint32_t)k + 1, n++;
  }
  return n;
}

int gsp__cg_hm_prepare(gsp_cg *cg, gsp_exec *ex) {
  cg_hm *h = cg->hm;
  if (h == NULL || cg->nfiles == 0 || h->note_of != NULL) return GSP_OK; /* once */
  h->note_of = gsp_calloc(cg->nfiles, sizeof *h->note_of);
  h->lix = gsp_calloc(cg->nfiles, sizeof *h->lix);
  if (h->note_of == NULL || h->lix == NULL) return GSP_ENOMEM;
  h->nfiles = cg->nfiles;
  size_t teachers = find_teachers(h);
  if (teachers == SIZE_MAX) return GSP_ENOMEM;
  if (teachers == 0) return GSP_OK; /* nobody learns anything */
  if (index_teachers(h, teachers) != GSP_OK) return GSP_ENOMEM;
  size_t scanned = map_notes(cg, h);
  h->learned = gsp_malloc((scanned + 1) * sizeof *h->learned); /* touched as filled */
  if (h->learned == NULL) return GSP_ENOMEM;
  prep_job j = {cg};
  return gsp__cg_for(ex, cg->nfiles, 64, prep_range, &j);
}

/* File f's record, or NULL when it learned nothing. */
static hm_learned *learned_of(const gsp_cg *cg, size_t f) {
  const cg_hm *h = cg->hm;
  if (h == NULL || h->lix == NULL || f >= h->nfiles || h->lix[f] == 0) return NULL;
  return &h->learned[h->lix[f] - 1];
}

const uint8_t *gsp__cg_hm_key(const gsp_cg *cg, size_t f) {
  const hm_learned *l = learned_of(cg, f);
  return l ? l->set->key : NULL;
}

const cg_macro_tab *gsp__cg_hm_extra(const gsp_cg *cg, size_t f, cg_macro_tab *scratch, int *rv) {
  *rv = GSP_OK;
  const hm_learned *l = learned_of(cg, f);
  if (l == NULL) return NULL;
  gsp__cg_macro_tab_clear(scratch);
  for (uint32_t i = 0; i < l->set->n && *rv == GSP_OK; i++)
    *rv = gsp__cg_macro_tab_add(scratch, l->set->names[i], strlen(l->set->names[i]));
  return *rv == GSP_OK ? scratch : NULL;
}

const char *const *gsp__cg_hm_names(const gsp_cg *cg, size_t f, size_t *n) {
  const hm_learned *l = learned_of(cg, f);
  *n = l ? l->set->n : 0;
  return l ? l->set->names : NULL;
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

size_t gsp__cg_hm_files(const gsp_cg *cg) { return cg->hm ? atomic_load(&cg->hm->learned_n) : 0; }

void gsp__cg_hm_settle(gsp_cg *cg, size_t f) {
  hm_learned *l = learned_of(cg, f);
  cg_file *file = &cg->files[f];
  if (l == NULL || file->res == NULL || l->settled) return;
  uint8_t in[32];
  memcpy(in, file->hash, 16);
  memcpy(in + 16, l->set->key, 16);
  memcpy(l->content, file->hash, 16);
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits(in, sizeof in));
  memcpy(file->hash, c.digest, 16);
  l->settled = true;
}

const uint8_t *gsp__cg_hm_content(const gsp_cg *cg, size_t f) {
  const hm_learned *l = learned_of(cg, f);
  return l && l->settled ? l->content : cg->files[f].hash;
}
