/*
 * resolve_refs.c - references to definitions.
 *
 * Index: the definitions of the files a bind can look at, grouped by name
 * in one flat array (a group is sorted by file, then definition), with an
 * open-addressing table from name to group whose slots keep 32 bits of the
 * name's hash (a probe compares strings only when those match). Finding
 * "the definitions named n in file f" is a hash lookup and a binary
 * search. A run that binds every file indexes every file. A run that binds
 * a few files (a re-analysis after a change) indexes only what they can
 * reach: the marked files and their forward closure over the resolved
 * imports (every lookup of the C, Python and JavaScript rules goes to the
 * file itself or to a file its imports reach, transitively). Should a
 * lookup still ask about a file outside that set, it is noted, and the
 * bind is done again with the whole index, so the result never depends on
 * the restriction; the restriction is not used when the set is most files.
 *
 * Lazy mode: a run that binds a few files none of which is C builds no
 * index by name. Python and JavaScript look definitions up file by file
 * ("named n in file f"), so each file gets its own small index (open
 * addressing over its definitions' names, a chain per name in definition
 * order: the same definitions in the same order as the group) on the
 * first lookup in it, built by whichever thread asks first and published
 * with a compare-and-swap. Only the files the lookups reach are indexed:
 * after a one-file change in /usr/lib/python3.11 a few files instead of
 * the 282 (17,385 definitions, 0.8 ms) its imports reach. C needs the
 * index by name (a name's definitions over the include closure).
 *
 * C: a name is bound to a definition in the same file, else to the nearest
 * definition in the file's include closure (breadth-first over resolved
 * includes, computed once per file on first need; nearest include depth
 * first, then a better kind: a function over a macro over a prototype).
 * Calls bind to functions, prototypes, macros and globals; type uses to
 * typedefs, tags and macros.
 *
 * Python: `self.f` / `cls.f` binds to a method or attribute f of the
 * enclosing class, else of its bases (depth first, in the order written;
 * a base is a reference like any other: a class of the same file, or one
 * brought in by an import, `class D(mod.Base)` too), `super().f` to f of
 * the bases; `q.f` binds to the top-level f of the module q names through
 * an import (import a.b / import a.b as q / from p import q), else, when q
 * names a class (`C`, `mod.C`, `pkg.mod.C`, resolved like a reference), to
 * its member f or an inherited one; `?.f` (an object of unknown type) to
 * nothing. A bare `f` to a definition visible in the same file (top level
 * or an enclosing scope), else to the top-level f of the module a
 * from-import names it from (`from m import f [as g]`), else of a module
 * imported with `*`. Chains of classes, bases and qualifiers stop at depth
 * PY_MAX_DEPTH (so a class that inherits from itself ends).
 *
 * C calls through a struct field (p->f(), with a qualifier) bind to
 * nothing: the callee is a function pointer known at run time.
 *
 * JavaScript/TypeScript: `this.f` as `self.f`; `ns.f` through a namespace
 * import or a require() alias; a bare name in scope in the file, else
 * through a named, default or require() import, following re-exports
 * (`export {x} from`, `export * from`, level 1 imports) up to 4 levels. A
 * default import binds to the function or class `export default` names
 * when there is one (same line), else to the "default" definition.
 *
 * Parallel over chunks of files; each chunk has its own BFS scratch. A run
 * that reuses part of a stored resolution binds only the files it marks
 * (resolve_cache.c); the others' targets are already set.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <xxhash.h>

#include "cg_int.h"

typedef struct def_ent {
  uint32_t file, def;
} def_ent;

typedef struct def_slot {
  uint32_t group1; /* group + 1, 0 = empty */
  uint32_t hash;   /* low 32 bits of the name's XXH3 */
} def_slot;

/* One file's definitions by name (lazy mode): slots hold the first
 * definition of a name + 1 (0 = empty) and 32 bits of its hash; next[d]
 * is the next definition of d's name in index order (UINT32_MAX: none). */
typedef struct file_ix {
  def_slot *slots;
  uint32_t *next;
  size_t mask;
} file_ix;

typedef struct def_index {
  def_ent *ents;
  uint32_t *goff, *gcnt; /* per group */
  const char **gname;
  def_slot *slots;
  size_t cslots, ngroups, ndefs;
  const uint8_t *indexed;     /* NULL = every file, else the files indexed */
  _Atomic bool missed;        /* a lookup asked about a file not indexed */
  _Atomic(file_ix *) *lazy;   /* lazy mode: per file, its index once built */
  _Atomic uint64_t lazy_defs; /* lazy mode: definitions indexed so far */
  _Atomic bool lazy_oom;      /* lazy mode: a file's index could not be built */
} def_index;

typedef struct bind_job {
  gsp_cg *cg;
  def_index ix;
  const uint8_t *only;    /* NULL = every file, else the files marked */
  _Atomic uint64_t bound; /* references bound to a definition */
} bind_job;

typedef struct scratch {
  uint32_t *gen, *dist, *queue;
  uint32_t cur_gen;
  long closure_of; /* file whose include closure is marked, or -1 */
} scratch;

void (*gsp__cg_bind_want_hook)(uint8_t *want, size_t nfiles) = NULL;

static int32_t find_group(const def_index *ix, const char *name, size_t *slot) {
  uint64_t h64 = XXH3_64bits(name, strlen(name));
  size_t mask = ix->cslots - 1, h = (size_t)(h64 >> 32) & mask;
  for (; ix->slots[h].group1; h = (h + 1) & mask)
    if (ix->slots[h].hash == (uint32_t)h64 && strcmp(ix->gname[ix->slots[h].group1 - 1], name) == 0)
      break;
  if (slot) *slot = h;
  return ix->slots[h].group1 ? (int32_t)ix->slots[h].group1 - 1 : -1;
}

static int index_alloc(def_index *ix, size_t ndefs) {
  ix->cslots = 16;
  while (ix->cslots < ndefs * 2) ix->cslots *= 2;
  ix->ents = gsp_malloc((ndefs + 1) * sizeof *ix->ents);
  ix->goff = gsp_calloc(ndefs + 1, sizeof *ix->goff);
  ix->gcnt = gsp_calloc(ndefs + 1, sizeof *ix->gcnt);
  ix->gname = gsp_malloc((ndefs + 1) * sizeof *ix->gname);
  ix->slots = gsp_calloc(ix->cslots, sizeof *ix->slots);
  return ix->ents && ix->goff && ix->gcnt && ix->gname && ix->slots ? GSP_OK : GSP_ENOMEM;
}

static void index_free(def_index *ix) {
  gsp_free(ix->ents), gsp_free(ix->goff), gsp_free(ix->gcnt);
  gsp_free(ix->gname), gsp_free(ix->slots);
  ix->ents = NULL, ix->goff = ix->gcnt = NULL, ix->gname = NULL, ix->slots = NULL;
  ix->ngroups = 0;
}

static bool indexed(const gsp_cg *cg, const uint8_t *want, size_t f) {
  return cg->files[f].res != NULL && (want == NULL || want[f]);
}

/* Pass 1: the groups, their sizes, and each definition's group in gof
 * (definitions numbered in (file, def) order over the indexed files). */
static void index_groups(gsp_cg *cg, def_index *ix, const uint8_t *want, uint32_t *gof) {
  size_t k = 0;
  for (size_t f = 0; f < cg->nfiles; f++) {
    if (!indexed(cg, want, f)) continue;
    const gsp_cg_result *r = cg->files[f].res;
    const cg_def_rec *d = gsp__cg_defs(r);
    for (size_t i = 0; i < gsp_cg_result_ndefs(r); i++) {
      size_t slot;
      const char *name = gsp__cg_strs(r) + d[i].name;
      int32_t g = find_group(ix, name, &slot);
      if (g < 0) {
        g = (int32_t)ix->ngroups++;
        ix->gname[g] = name;
        ix->slots[slot] = (def_slot){(uint32_t)g + 1, (uint32_t)XXH3_64bits(name, strlen(name))};
      }
      ix->gcnt[g]++;
      gof[k++] = (uint32_t)g;
    }
  }
}

static int index_build(gsp_cg *cg, def_index *ix, const uint8_t *want) {
  size_t ndefs = 0;
  for (size_t f = 0; f < cg->nfiles; f++)
    if (indexed(cg, want, f)) ndefs += gsp_cg_result_ndefs(cg->files[f].res);
  uint32_t *gof = gsp_malloc((ndefs + 1) * sizeof *gof);
  if (gof == NULL || index_alloc(ix, ndefs) != GSP_OK) {
    gsp_free(gof);
    return GSP_ENOMEM;
  }
  ix->indexed = want, ix->ndefs = ndefs;
  index_groups(cg, ix, want, gof);
  for (size_t g = 1; g < ix->ngroups; g++) ix->goff[g] = ix->goff[g - 1] + ix->gcnt[g - 1];
  memset(ix->gcnt, 0, ix->ngroups * sizeof *ix->gcnt);
  size_t k = 0;
  for (size_t f = 0; f < cg->nfiles; f++) { /* fill, in (file, def) order */
    if (!indexed(cg, want, f)) continue;
    for (size_t i = 0; i < gsp_cg_result_ndefs(cg->files[f].res); i++) {
      uint32_t g = gof[k++];
      ix->ents[ix->goff[g] + ix->gcnt[g]++] = (def_ent){(uint32_t)f, (uint32_t)i};
    }
  }
  gsp_free(gof);
  return GSP_OK;
}

/* Whether file f's definitions are in the index; a lookup outside the
 * restriction is noted so that the bind is done again, whole. */
static bool is_indexed(const def_index *ix, uint32_t f) {
  if (ix->indexed == NULL || ix->indexed[f]) return true;
  atomic_store_explicit((_Atomic bool *)&ix->missed, true, memory_order_relaxed);
  return false;
}

/* The first entry of group g in file f, or NULL; *end = one past the group. */
static const def_ent *in_file(const def_index *ix, int32_t g, uint32_t f, const def_ent **end) {
  const def_ent *lo = ix->ents + ix->goff[g], *hi = lo + ix->gcnt[g];
  *end = hi;
  while (lo < hi) {
    const def_ent *mid = lo + (hi - lo) / 2;
    if (mid->file < f)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < *end && lo->file == f ? lo : NULL;
}

/* ---- lazy mode: one file's index, built on its first lookup ---- */

static size_t file_probe(const file_ix *x, const cg_def_rec *d, const char *strs, const char *name,
                         uint64_t h64) {
  size_t s = (size_t)(h64 >> 32) & x->mask;
  for (; x->slots[s].group1; s = (s + 1) & x->mask)
    if (x->slots[s].hash == (uint32_t)h64 &&
        strcmp(strs + d[x->slots[s].group1 - 1].name, name) == 0)
      break;
  return s;
}

/* One block: the header, the slots, next[]. NULL on no memory. */
static file_ix *file_ix_build(const gsp_cg_result *r) {
  size_t n = gsp_cg_result_ndefs(r), cap = 4;
  while (cap < n * 2) cap *= 2;
  file_ix *x = gsp_malloc(sizeof *x + cap * sizeof *x->slots + (n + 1) * sizeof *x->next);
  if (x == NULL) return NULL;
  x->slots = (def_slot *)(x + 1);
  x->next = (uint32_t *)(x->slots + cap);
  x->mask = cap - 1;
  memset(x->slots, 0, cap * sizeof *x->slots);
  const cg_def_rec *d = gsp__cg_defs(r);
  const char *strs = gsp__cg_strs(r);
  for (size_t i = n; i-- > 0;) { /* backwards: each chain comes out in index order */
    const char *name = strs + d[i].name;
    uint64_t h64 = XXH3_64bits(name, strlen(name));
    size_t s = file_probe(x, d, strs, name, h64);
    x->next[i] = x->slots[s].group1 ? x->slots[s].group1 - 1 : UINT32_MAX;
    x->slots[s] = (def_slot){(uint32_t)i + 1, (uint32_t)h64};
  }
  return x;
}

/* File f's index, built now if no thread has built it yet; NULL on no
 * memory (noted: the bind then fails). */
static const file_ix *file_ix_of(const bind_job *j, uint32_t f) {
  _Atomic(file_ix *) *cell = &j->ix.lazy[f];
  file_ix *x = atomic_load_explicit(cell, memory_order_acquire), *none = NULL;
  if (x) return x;
  const gsp_cg_result *r = j->cg->files[f].res;
  if ((x = file_ix_build(r)) == NULL) {
    atomic_store_explicit((_Atomic bool *)&j->ix.lazy_oom, true, memory_order_relaxed);
    return NULL;
  }
  if (!atomic_compare_exchange_strong_explicit(cell, &none, x, memory_order_acq_rel,
                                               memory_order_acquire)) {
    gsp_free(x); /* another thread's is in place */
    return none;
  }
  atomic_fetch_add_explicit((_Atomic uint64_t *)&j->ix.lazy_defs, gsp_cg_result_ndefs(r),
                            memory_order_relaxed);
  return x;
}

/* The first definition named name in file f (lazy mode), or UINT32_MAX;
 * the next ones follow through next[]. */
static uint32_t lazy_first(const bind_job *j, uint32_t f, const char *name, const file_ix **out) {
  const file_ix *x = file_ix_of(j, f);
  *out = x;
  if (x == NULL) return UINT32_MAX;
  const gsp_cg_result *r = j->cg->files[f].res;
  size_t s = file_probe(x, gsp__cg_defs(r), gsp__cg_strs(r), name, XXH3_64bits(name, strlen(name)));
  return x->slots[s].group1 ? x->slots[s].group1 - 1 : UINT32_MAX;
}

/* ---- C ---- */

static int c_rank(uint8_t def_kind, uint8_t ref_kind) {
  static const int8_t call_rank[] = {-1, 0, -1, -1, -1, 3, 2, 1};
  static const int8_t type_rank[] = {-1, -1, -1, 0, 0, -1, -1, 1};
  if (def_kind > GSP_CG_DEF_MACRO) return -1;
  return ref_kind == GSP_CG_REF_CALL ? call_rank[def_kind] : type_rank[def_kind];
}

static void mark_closure(const bind_job *j, scratch *s, uint32_t from) {
  const gsp_cg *cg = j->cg;
  uint32_t head = 0, tail = 0;
  s->cur_gen++;
  s->gen[from] = s->cur_gen, s->dist[from] = 0;
  (void)is_indexed(&j->ix, from);
  s->queue[tail++] = from;
  while (head < tail) {
    uint32_t f = s->queue[head++];
    for (uint32_t e = cg->dep_off[f]; e < cg->dep_off[f + 1]; e++) {
      uint32_t t = cg->dep[e];
      if (s->gen[t] == s->cur_gen) continue;
      s->gen[t] = s->cur_gen, s->dist[t] = s->dist[f] + 1;
      s->queue[tail++] = t;
      (void)is_indexed(&j->ix, t);
    }
  }
  s->closure_of = from;
}

static cg_target bind_c(const bind_job *j, scratch *s, uint32_t f, const cg_ref_rec *ref,
                        const char *strs) {
  const gsp_cg *cg = j->cg;
  cg_target best = {0, 0};
  if (ref->qual) return best; /* p->f(): a function pointer, bound at run time */
  if (s->closure_of != (long)f) mark_closure(j, s, f); /* first: it checks the restriction */
  int32_t g = find_group(&j->ix, strs + ref->name, NULL);
  if (g < 0) return best;
  uint64_t best_score = UINT64_MAX;
  const def_ent *e = j->ix.ents + j->ix.goff[g], *end = e + j->ix.gcnt[g];
  for (; e < end; e++) {
    if (s->gen[e->file] != s->cur_gen) continue;
    const cg_def_rec *d = gsp__cg_defs(cg->files[e->file].res) + e->def;
    int r = c_rank(d->kind, ref->kind);
    if (r < 0) continue;
    uint64_t score = (uint64_t)s->dist[e->file] << 8 | (uint64_t)r;
    if (score < best_score) best_score = score, best = (cg_target){e->file + 1, e->def};
  }
  return best;
}

/* ---- Python ---- */

static bool py_eligible(uint8_t def_kind, uint8_t ref_kind) {
  if (ref_kind == GSP_CG_REF_TYPE)
    return def_kind == GSP_CG_DEF_STRUCT || def_kind == GSP_CG_DEF_GLOBAL;
  return def_kind == GSP_CG_DEF_FUNCTION || def_kind == GSP_CG_DEF_STRUCT ||
         def_kind == GSP_CG_DEF_GLOBAL;
}

static bool js_eligible(uint8_t def_kind, uint8_t ref_kind) {
  if (ref_kind == GSP_CG_REF_TYPE)
    return def_kind == GSP_CG_DEF_STRUCT || def_kind == GSP_CG_DEF_TYPEDEF ||
           def_kind == GSP_CG_DEF_GLOBAL;
  return def_kind == GSP_CG_DEF_FUNCTION || def_kind == GSP_CG_DEF_STRUCT ||
         def_kind == GSP_CG_DEF_GLOBAL || def_kind == GSP_CG_DEF_DECL;
}

static bool is_js(gsp_cg_lang l) {
  return l == GSP_CG_LANG_JS || l == GSP_CG_LANG_TS || l == GSP_CG_LANG_TSX;
}

/* Whether definition di of defs has parent `parent` (-2: one on the
 * parent chain of scope, or top level) and is eligible for ref_kind (0:
 * any). */
static bool def_fits(const cg_def_rec *defs, uint32_t di, bool js, int32_t parent, int32_t scope,
                     uint8_t ref_kind) {
  const cg_def_rec *d = defs + di;
  if (ref_kind && !(js ? js_eligible(d->kind, ref_kind) : py_eligible(d->kind, ref_kind)))
    return false;
  bool ok = d->parent == parent;
  for (int32_t p = scope; !ok && parent == -2 && p >= 0; p = defs[p].parent)
    ok = d->parent == p && defs[p].kind != GSP_CG_DEF_STRUCT;
  return ok || (parent == -2 && d->parent == -1);
}

/* A definition named name in file f whose parent is `parent` (-2: the
 * parent chain of scope, or top level), eligible for ref_kind (0: any). */
static cg_target def_in(const bind_job *j, const char *name, uint32_t f, int32_t parent,
                        int32_t scope, uint8_t ref_kind) {
  if (!is_indexed(&j->ix, f) || j->cg->files[f].res == NULL) return (cg_target){0, 0};
  const cg_def_rec *defs = gsp__cg_defs(j->cg->files[f].res);
  bool js = is_js(j->cg->files[f].lang);
  if (j->ix.lazy) { /* the same definitions in the same order, from the file's own index */
    const file_ix *x;
    for (uint32_t di = lazy_first(j, f, name, &x); di != UINT32_MAX; di = x->next[di])
      if (def_fits(defs, di, js, parent, scope, ref_kind)) return (cg_target){f + 1, di};
    return (cg_target){0, 0};
  }
  int32_t g = find_group(&j->ix, name, NULL);
  const def_ent *end, *e = g < 0 ? NULL : in_file(&j->ix, g, f, &end);
  for (; e && e < end && e->file == f; e++)
    if (def_fits(defs, e->def, js, parent, scope, ref_kind)) return (cg_target){f + 1, e->def};
  return (cg_target){0, 0};
}

static int32_t enclosing_class(const cg_def_rec *defs, int32_t scope) {
  for (int32_t p = scope; p >= 0; p = defs[p].parent)
    if (defs[p].kind == GSP_CG_DEF_STRUCT) return p;
  return -1;
}

static bool is_submodule_of(const char *path, const char *name) {
  size_t pl = strlen(path), nl = strlen(name);
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (strcmp(base, "__init__.py") == 0 || strcmp(base, "__init__.pyi") == 0) {
    const char *end = base - 1, *start = end;
    while (start > path && start[-1] != '/') start--;
    return end > path && (size_t)(end - start) == nl && strncmp(start, name, nl) == 0;
  }
  return pl > nl && strncmp(base, name, nl) == 0 && (base[nl] == '.');
}

/* The top-level definition `name` of module file f, following re-exports
 * (`from .core import Engine` in a package's __init__.py) a few levels. */
static cg_target module_def(const bind_job *j, const char *name, uint32_t f, uint8_t ref_kind,
                            int depth) {
  cg_target t = def_in(j, name, f, -1, -1, ref_kind);
  const cg_file *file = &j->cg->files[f];
  /* an import target may have no result (skipped: too large or unreadable) */
  if (t.file || depth >= 4 || file->lang != GSP_CG_LANG_PYTHON || file->res == NULL) return t;
  const cg_imp_rec *im = gsp__cg_imps(file->res);
  const char *strs = gsp__cg_strs(file->res);
  for (uint32_t i = 0; t.file == 0 && i < gsp__cg_hdr(file->res)->nimports; i++) {
    int32_t tf = file->imp_target[i];
    if (tf < 0 || (uint32_t)tf == f || im[i].kind != GSP_CG_IMPORT_FROM) continue;
    const char *orig = strs + im[i].name, *local = im[i].alias ? strs + im[i].alias : orig;
    if (strcmp(local, name) != 0 || is_submodule_of(j->cg->files[tf].path, orig)) continue;
    t = module_def(j, orig, (uint32_t)tf, ref_kind, depth + 1);
  }
  return t;
}

/* A Python reference by its parts; depth bounds the walk through classes,
 * bases and qualifiers. */
typedef struct py_ref {
  const char *name, *qual; /* qual "" when bare */
  uint8_t kind;
  int32_t scope;
} py_ref;

#define PY_MAX_DEPTH 8

static cg_target py_resolve(const bind_job *j, uint32_t f, const py_ref *r, int depth);

static bool is_class(const bind_job *j, cg_target t) {
  if (t.file == 0 || j->cg->files[t.file - 1].lang != GSP_CG_LANG_PYTHON) return false;
  return gsp__cg_defs(j->cg->files[t.file - 1].res)[t.def].kind == GSP_CG_DEF_STRUCT;
}

static cg_target class_member(const bind_job *j, cg_target cls, const char *name, int depth);

/* name in the bases of class cls (in their order), or nothing. */
static cg_target base_member(const bind_job *j, cg_target cls, const char *name, int depth) {
  uint32_t f = cls.file - 1;
  const gsp_cg_result *res = j->cg->files[f].res;
  const cg_ref_rec *refs = gsp__cg_refs(res);
  const char *strs = gsp__cg_strs(res);
  cg_target t = {0, 0};
  for (uint32_t i = 0; t.file == 0 && i < gsp__cg_hdr(res)->nrefs; i++) {
    if (!(refs[i].pad[0] & CG_REF_BASE) || refs[i].scope != (int32_t)cls.def) continue;
    py_ref b = {strs + refs[i].name, strs + refs[i].qual, GSP_CG_REF_TYPE, refs[i].scope};
    cg_target base = py_resolve(j, f, &b, depth + 1);
    if (is_class(j, base)) t = class_member(j, base, name, depth + 1);
  }
  return t;
}

/* name defined in class cls (a method or an attribute), else inherited. */
static cg_target class_member(const bind_job *j, cg_target cls, const char *name, int depth) {
  if (depth >= PY_MAX_DEPTH) return (cg_target){0, 0};
  cg_target t = def_in(j, name, cls.file - 1, (int32_t)cls.def, -1, 0);
  return t.file ? t : base_member(j, cls, name, depth);
}

/* q (a name or a dotted path) as a class visible in file f, or nothing. */
static cg_target py_class(const bind_job *j, uint32_t f, const char *q, int32_t scope, int depth) {
  const char *dot = strrchr(q, '.');
  cg_target t;
  if (dot == NULL) {
    t = py_resolve(j, f, &(py_ref){q, "", GSP_CG_REF_TYPE, scope}, depth + 1);
  } else {
    char prefix[512];
    size_t pl = (size_t)(dot - q);
    if (pl >= sizeof prefix) return (cg_target){0, 0};
    memcpy(prefix, q, pl);
    prefix[pl] = '\0';
    t = py_resolve(j, f, &(py_ref){dot + 1, prefix, GSP_CG_REF_TYPE, scope}, depth + 1);
  }
  return is_class(j, t) ? t : (cg_target){0, 0};
}

/* q.n where q is a module an import of file f names: its top-level n. */
static cg_target py_module_member(const bind_job *j, uint32_t f, const py_ref *r, bool *matched) {
  const cg_file *file = &j->cg->files[f];
  const char *strs = gsp__cg_strs(file->res);
  const cg_imp_rec *im = gsp__cg_imps(file->res);
  for (uint32_t i = 0; i < gsp__cg_hdr(file->res)->nimports; i++) {
    int32_t t = file->imp_target[i];
    if (t < 0) continue;
    const char *local = strs + (im[i].alias                        ? im[i].alias
                                : im[i].kind == GSP_CG_IMPORT_FROM ? im[i].name
                                                                   : im[i].module);
    if (strcmp(local, r->qual) != 0) continue;
    if (im[i].kind == GSP_CG_IMPORT_FROM &&
        !is_submodule_of(j->cg->files[t].path, strs + im[i].name))
      continue;
    *matched = true;
    return module_def(j, r->name, (uint32_t)t, r->kind, 0);
  }
  return (cg_target){0, 0};
}

/* self.n / cls.n: the enclosing class's n or an inherited one; super().n:
 * a base's n; q.n: a module's n, else a member of the class q names. */
static cg_target py_qualified(const bind_job *j, uint32_t f, const py_ref *r, int depth) {
  const cg_def_rec *defs = gsp__cg_defs(j->cg->files[f].res);
  const char *q = r->qual;
  bool self = strcmp(q, "self") == 0 || strcmp(q, "cls") == 0;
  if (self || strcmp(q, "super") == 0) {
    int32_t c = enclosing_class(defs, r->scope);
    if (c < 0) return (cg_target){0, 0};
    cg_target cls = {f + 1, (uint32_t)c};
    return self ? class_member(j, cls, r->name, depth) : base_member(j, cls, r->name, depth);
  }
  if (strcmp(q, "?") == 0) return (cg_target){0, 0}; /* an object of unknown type */
  bool matched = false;
  cg_target t = py_module_member(j, f, r, &matched);
  if (t.file || matched || depth >= PY_MAX_DEPTH) return t;
  cg_target cls = py_class(j, f, q, r->scope, depth);
  return cls.file ? class_member(j, cls, r->name, depth + 1) : cls;
}

/* A bare name: in the file's scopes, else through from-imports. */
static cg_target py_bare(const bind_job *j, uint32_t f, const py_ref *r) {
  const char *n = r->name;
  cg_target t = def_in(j, n, f, -2, r->scope, r->kind);
  const cg_file *file = &j->cg->files[f];
  const cg_imp_rec *im = gsp__cg_imps(file->res);
  const char *strs = gsp__cg_strs(file->res);
  uint32_t nim = gsp__cg_hdr(file->res)->nimports;
  for (uint32_t i = 0; t.file == 0 && i < nim; i++) {
    int32_t tf = file->imp_target[i];
    if (tf < 0 || im[i].kind != GSP_CG_IMPORT_FROM) continue;
    const char *name = strs + im[i].name, *local = im[i].alias ? strs + im[i].alias : name;
    if (strcmp(local, n) != 0 || is_submodule_of(j->cg->files[tf].path, name)) continue;
    t = module_def(j, name, (uint32_t)tf, r->kind, 0);
  }
  for (uint32_t i = 0; t.file == 0 && i < nim; i++)
    if (file->imp_target[i] >= 0 && im[i].kind == GSP_CG_IMPORT_FROM &&
        strcmp(strs + im[i].name, "*") == 0)
      t = def_in(j, n, (uint32_t)file->imp_target[i], -1, -1, r->kind);
  return t;
}

static cg_target py_resolve(const bind_job *j, uint32_t f, const py_ref *r, int depth) {
  if (depth > PY_MAX_DEPTH) return (cg_target){0, 0};
  return r->qual[0] ? py_qualified(j, f, r, depth) : py_bare(j, f, r);
}

static cg_target bind_py(const bind_job *j, uint32_t f, const cg_ref_rec *ref, const char *strs) {
  if (strs == NULL) return (cg_target){0, 0};
  py_ref r = {strs + ref->name, strs + ref->qual, ref->kind, ref->scope};
  return py_resolve(j, f, &r, 0);
}

/* ---- JavaScript / TypeScript ---- */

static const char *imp_local(const cg_imp_rec *im, const char *strs) {
  return strs + (im->alias ? im->alias : im->name);
}

/* `export default function f` defines "default" and f on one line: a
 * default import binds to f itself when there is one. */
static cg_target named_default(const bind_job *j, cg_target t) {
  const gsp_cg_result *r = j->cg->files[t.file - 1].res;
  const cg_def_rec *d = gsp__cg_defs(r);
  uint32_t n = gsp__cg_hdr(r)->ndefs;
  for (uint32_t i = t.def + 1; i < n && d[i].line == d[t.def].line; i++)
    if (d[i].parent == -1 && (d[i].kind == GSP_CG_DEF_FUNCTION || d[i].kind == GSP_CG_DEF_STRUCT))
      return (cg_target){t.file, i};
  return t;
}

/* The top-level definition `name` of module file f, following its
 * re-exports (`export {x [as name]} from`, `export * from`) a few levels. */
static cg_target js_module_def(const bind_job *j, const char *name, uint32_t f, uint8_t ref_kind,
                               int depth) {
  cg_target t = def_in(j, name, f, -1, -1, ref_kind);
  const cg_file *file = &j->cg->files[f];
  if (t.file && strcmp(name, "default") == 0) return named_default(j, t);
  if (t.file || depth >= 4 || !is_js(file->lang) || file->res == NULL) return t; /* skipped */
  const cg_imp_rec *im = gsp__cg_imps(file->res);
  const char *strs = gsp__cg_strs(file->res);
  for (uint32_t i = 0; t.file == 0 && i < gsp__cg_hdr(file->res)->nimports; i++) {
    int32_t tf = file->imp_target[i];
    if (tf < 0 || (uint32_t)tf == f || im[i].level != 1 || im[i].kind != GSP_CG_IMPORT_FROM)
      continue;
    const char *orig = strs + im[i].name;
    if (strcmp(orig, "*") == 0) {
      if (strcmp(name, "default") != 0)
        t = js_module_def(j, name, (uint32_t)tf, ref_kind, depth + 1);
    } else if (strcmp(imp_local(&im[i], strs), name) == 0) {
      t = js_module_def(j, orig, (uint32_t)tf, ref_kind, depth + 1);
    }
  }
  return t;
}

/* this.f to a method of the enclosing class; ns.f to f of the module a
 * namespace import or a require() names ns. */
static cg_target bind_js_qualified(const bind_job *j, uint32_t f, const cg_ref_rec *ref,
                                   const char *strs) {
  const cg_file *file = &j->cg->files[f];
  const char *q = strs + ref->qual, *n = strs + ref->name;
  if (strcmp(q, "this") == 0) {
    int32_t c = enclosing_class(gsp__cg_defs(file->res), ref->scope);
    return c < 0 ? (cg_target){0, 0} : def_in(j, n, f, c, -1, 0);
  }
  const cg_imp_rec *im = gsp__cg_imps(file->res);
  for (uint32_t i = 0; i < gsp__cg_hdr(file->res)->nimports; i++) {
    int32_t t = file->imp_target[i];
    if (t < 0 || im[i].kind != GSP_CG_IMPORT_MODULE || im[i].level != 0 || im[i].alias == 0 ||
        strcmp(strs + im[i].alias, q) != 0)
      continue;
    return js_module_def(j, n, (uint32_t)t, ref->kind, 0);
  }
  return (cg_target){0, 0};
}

/* A bare name: a definition in scope in the file, else what an import
 * (`import {f}`, `import f from`, `const {f} = require()`) brings in. */
static cg_target bind_js(const bind_job *j, uint32_t f, const cg_ref_rec *ref, const char *strs) {
  if (ref->qual) return bind_js_qualified(j, f, ref, strs);
  const char *n = strs + ref->name;
  cg_target t = def_in(j, n, f, -2, ref->scope, ref->kind);
  const cg_file *file = &j->cg->files[f];
  const cg_imp_rec *im = gsp__cg_imps(file->res);
  for (uint32_t i = 0; t.file == 0 && i < gsp__cg_hdr(file->res)->nimports; i++) {
    int32_t tf = file->imp_target[i];
    if (tf < 0 || im[i].kind != GSP_CG_IMPORT_FROM || im[i].level != 0 ||
        strcmp(imp_local(&im[i], strs), n) != 0)
      continue;
    t = js_module_def(j, strs + im[i].name, (uint32_t)tf, ref->kind, 0);
  }
  return t;
}

/* ---- driver ---- */

static cg_target bind_one(const bind_job *j, scratch *s, uint32_t f, const cg_ref_rec *ref,
                          const char *strs) {
  switch (j->cg->files[f].lang) {
    case GSP_CG_LANG_C:
      return bind_c(j, s, f, ref, strs);
    case GSP_CG_LANG_PYTHON:
      return bind_py(j, f, ref, strs);
    default:
      return bind_js(j, f, ref, strs);
  }
}

static int bind_file(bind_job *j, scratch *s, uint32_t f, uint64_t *bound) {
  cg_file *file = &j->cg->files[f];
  size_t n = file->res ? gsp_cg_result_nrefs(file->res) : 0;
  if (n == 0) return GSP_OK;
  file->ref_target = gsp_malloc(n * sizeof *file->ref_target);
  if (file->ref_target == NULL) return GSP_ENOMEM;
  const cg_ref_rec *refs = gsp__cg_refs(file->res);
  const char *strs = gsp__cg_strs(file->res);
  for (size_t i = 0; i < n; i++) {
    file->ref_target[i] = bind_one(j, s, f, &refs[i], strs);
    *bound += file->ref_target[i].file != 0;
  }
  return GSP_OK;
}

static void scratch_free(scratch *s) {
  gsp_free(s->gen), gsp_free(s->dist), gsp_free(s->queue);
  *s = (scratch){.closure_of = -1};
}

/* The BFS scratch of a range, made when its first marked file comes. */
static int scratch_make(scratch *s, size_t nf) {
  s->gen = gsp_calloc(nf, sizeof *s->gen);
  s->dist = gsp_malloc(nf * sizeof *s->dist);
  s->queue = gsp_malloc(nf * sizeof *s->queue);
  return s->gen && s->dist && s->queue ? GSP_OK : GSP_ENOMEM;
}

static int bind_range(void *user, size_t begin, size_t end) {
  bind_job *j = user;
  scratch s = {.closure_of = -1};
  uint64_t bound = 0;
  int rv = GSP_OK;
  for (size_t f = begin; f < end && rv == GSP_OK; f++) {
    if (j->only && !j->only[f]) continue;
    if (s.gen == NULL) rv = scratch_make(&s, j->cg->nfiles);
    if (rv == GSP_OK) rv = bind_file(j, &s, (uint32_t)f, &bound);
  }
  scratch_free(&s);
  atomic_fetch_add_explicit(&j->bound, bound, memory_order_relaxed);
  return rv;
}

int gsp__cg_bind_refs(gsp_cg *cg, gsp_exec *ex) { return gsp__cg_bind_refs_only(cg, ex, NULL); }

/* The files a bind of the marked files can look at: them and their forward
 * closure over the include/import edges; NULL (index all) when that is
 * most of the files or on no memory. */
static uint8_t *reachable(const gsp_cg *cg, const uint8_t *only) {
  size_t nf = cg->nfiles, n = 0, head = 0;
  if (only == NULL || nf == 0) return NULL;
  uint8_t *want = gsp_calloc(nf, 1);
  uint32_t *queue = gsp_malloc(nf * sizeof *queue);
  if (want == NULL || queue == NULL) {
    gsp_free(want), gsp_free(queue);
    return NULL;
  }
  for (size_t f = 0; f < nf; f++)
    if (only[f]) want[f] = 1, queue[n++] = (uint32_t)f;
  while (head < n && n <= nf / 2) {
    uint32_t f = queue[head++];
    for (uint32_t e = cg->dep_off[f]; e < cg->dep_off[f + 1]; e++)
      if (!want[cg->dep[e]]) want[cg->dep[e]] = 1, queue[n++] = cg->dep[e];
  }
  gsp_free(queue);
  if (n > nf / 2) gsp_free(want), want = NULL;
  if (want && gsp__cg_bind_want_hook) gsp__cg_bind_want_hook(want, nf);
  return want;
}

static void unbind_marked(gsp_cg *cg, const uint8_t *only) {
  for (size_t f = 0; f < cg->nfiles; f++)
    if (only[f]) gsp_free(cg->files[f].ref_target), cg->files[f].ref_target = NULL;
}

/* Lazy mode fits a bind of a few files none of which is C: Python and
 * JavaScript look definitions up file by file (def_in), so only the files
 * a lookup reaches get indexed; C scans a name's definitions over the
 * include closure and needs the index by name. */
static bool lazy_fits(const gsp_cg *cg, const uint8_t *only) {
  if (only == NULL) return false;
  for (size_t f = 0; f < cg->nfiles; f++)
    if (only[f] && cg->files[f].lang == GSP_CG_LANG_C) return false;
  return true;
}

static void lazy_free(def_index *ix, size_t nf) {
  for (size_t f = 0; ix->lazy && f < nf; f++) gsp_free(atomic_load(&ix->lazy[f]));
  gsp_free((void *)ix->lazy);
  ix->lazy = NULL;
}

/* Index (all of want, or lazily) and bind the marked files. */
static int bind_with(bind_job *j, gsp_exec *ex, const uint8_t *want, bool lazy) {
  gsp_cg *cg = j->cg;
  int rv = GSP_OK;
  atomic_store(&j->bound, 0);
  if (lazy) {
    j->ix.indexed = want;
    j->ix.lazy = gsp_calloc(cg->nfiles + 1, sizeof *j->ix.lazy);
    rv = j->ix.lazy ? GSP_OK : GSP_ENOMEM;
  } else {
    rv = index_build(cg, &j->ix, want);
  }
  size_t grain = cg->nfiles / ((size_t)gsp__cg_threads(ex) * 8 + 1) + 1;
  if (rv == GSP_OK) rv = gsp__cg_for(ex, cg->nfiles, grain, bind_range, j);
  if (rv == GSP_OK && atomic_load(&j->ix.lazy_oom)) rv = GSP_ENOMEM;
  cg->st.defs_indexed = rv != GSP_OK ? 0 : lazy ? atomic_load(&j->ix.lazy_defs) : j->ix.ndefs;
  lazy_free(&j->ix, cg->nfiles);
  index_free(&j->ix);
  return rv;
}

/* Fewer marked files than this are bound on the calling thread: waking
 * the pool for a few files costs more than it saves, and on a loaded
 * machine the wait for a descheduled worker costs milliseconds. */
#define BIND_SERIAL_FILES 32

static size_t count_marked(const gsp_cg *cg, const uint8_t *only) {
  size_t n = 0;
  for (size_t f = 0; f < cg->nfiles; f++) n += only[f] != 0;
  return n;
}

int gsp__cg_bind_refs_only(gsp_cg *cg, gsp_exec *ex, const uint8_t *only) {
  bind_job j = {.cg = cg, .only = only};
  if (only && count_marked(cg, only) < BIND_SERIAL_FILES) ex = NULL;
  uint8_t *want = reachable(cg, only);
  int rv = bind_with(&j, ex, want, lazy_fits(cg, only));
  if (rv == GSP_OK && want && atomic_load(&j.ix.missed)) {
    unbind_marked(cg, only); /* a lookup left the restriction: all again */
    atomic_store(&j.ix.missed, false);
    rv = bind_with(&j, ex, NULL, false);
  }
  gsp_free(want);
  if (rv == GSP_OK) cg->st.refs_resolved += atomic_load(&j.bound); /* the others: restored */
  cg->st.symbol_edges = cg->st.refs_resolved;
  return rv;
}
