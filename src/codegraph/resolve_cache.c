/*
 * resolve_cache.c - the resolution of a whole tree (every import's target
 * file, every reference's target definition) kept in the result store, so
 * a run whose inputs did not change skips both resolution passes, and a
 * run where some files changed binds the references of only the files
 * that can see a change.
 *
 * Key: the tree's layout, XXH3-128 over the format version, the root's
 * package name, the include directories, and for every file in path order
 * its path, language and whether it was read; contents are not in it. A
 * file added, removed or renamed, or another -I, gives another key (no
 * prior: everything is resolved). gsp__cg_inputs_key (the layout and every
 * content hash) names the exact inputs, for the database's meta table.
 *
 * Value: a manifest and sections. The manifest (under the layout key):
 * a header {magic "GSRV", version, nfiles, total imports, total
 * references}, one record per file {content hash, import, reference and
 * definition counts}, the key of every section, then every file's import
 * targets (int32, -1 = unresolved) in file order. A section holds the
 * reference targets (cg_target, 8 bytes) of RV_SECTION consecutive files,
 * stored under the XXH3-128 of its bytes (an empty one under no key). A
 * run that re-binds a few files writes the manifest and the sections that
 * hold them; every other section is already stored under its key. A tree
 * of one section keeps it at the end of the manifest instead (it would be
 * written again with the manifest on every change anyway). Checked
 * before use: exact lengths, counts that add up; a manifest or section
 * that fails is no prior.
 *
 * Memory: the manifest and sections read are kept with the handle
 * (cg->rv_slabs) and a restored file's targets point into them
 * (cg->borrowed), so restoring copies nothing and allocates nothing per
 * file; gsp__cg_targets_free frees both kinds.
 *
 * Use (gsp__cg_prior_*): a file whose content hash or counts differ from
 * its record has changed. None changed: every target is restored (after a
 * range check; one out of range and the prior is dropped). Some changed:
 * the imports of changed files and of JavaScript/TypeScript/JSON files
 * are resolved again; an unchanged C or Python file keeps its stored
 * import targets (its rules read the layout and its own imports only, and
 * the layout is the same); a file's references are bound
 * again when the file reaches a changed file through imports (its own
 * content, its include closure, the modules and re-exports it binds
 * through: all of what binding reads lies in that closure, and the closure
 * of a file that reaches no changed file is the same as before); every
 * other file's reference targets are restored from the prior. The result
 * equals a full resolution of the tree.
 */
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "resolve_int.h" /* gsp__cg_macro_includes */

#define RV_MAGIC "GSRV"
#define RV_VERSION 3u
#define RV_SECTION 256 /* files per section of reference targets */
/* Fewer files to resolve again than this: on the calling thread (waking
 * the pool for a few files costs more than it saves). */
#define RV_SERIAL_FILES 64

typedef struct rv_hdr {
  char magic[4];
  uint32_t version;
  uint64_t nfiles, nimps, nrefs;
} rv_hdr;

typedef struct rv_file {
  uint8_t hash[16];
  uint32_t nimps, nrefs, ndefs, has_res;
} rv_file;

_Static_assert(sizeof(rv_hdr) == 32, "rv_hdr layout");
_Static_assert(sizeof(rv_file) == 32, "rv_file layout");

static size_t nimps_of(const cg_file *f) { return f->res ? gsp_cg_result_nimports(f->res) : 0; }
static size_t nrefs_of(const cg_file *f) { return f->res ? gsp_cg_result_nrefs(f->res) : 0; }
static size_t ndefs_of(const cg_file *f) { return f->res ? gsp_cg_result_ndefs(f->res) : 0; }

static void hash_layout(const gsp_cg *cg, XXH3_state_t *st, uint64_t seed) {
  XXH3_128bits_reset_withSeed(st, seed);
  const char *pkg = cg->root_pkg ? cg->root_pkg : "";
  XXH3_128bits_update(st, pkg, strlen(pkg) + 1);
  uint64_t n = cg->cfg.n_include_dirs;
  XXH3_128bits_update(st, &n, sizeof n);
  for (size_t i = 0; i < cg->cfg.n_include_dirs; i++) {
    const char *inc = cg->incs[i] ? cg->incs[i] : "\x01";
    XXH3_128bits_update(st, inc, strlen(inc) + 1);
  }
  n = cg->nfiles;
  XXH3_128bits_update(st, &n, sizeof n);
}

static void digest(XXH3_state_t *st, uint8_t key[16]) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
  memcpy(key, c.digest, 16);
}

void gsp__cg_inputs_key(const gsp_cg *cg, uint8_t key[16]) {
  XXH3_state_t st;
  hash_layout(cg, &st, (uint64_t)1u << 8 | CG_RESULT_VERSION);
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    uint8_t tag[2] = {(uint8_t)f->lang, f->res != NULL};
    XXH3_128bits_update(&st, f->path, strlen(f->path) + 1);
    XXH3_128bits_update(&st, tag, sizeof tag);
    XXH3_128bits_update(&st, f->hash, 16);
  }
  digest(&st, key);
}

void gsp__cg_layout_key(const gsp_cg *cg, uint8_t key[16]) {
  XXH3_state_t st;
  hash_layout(cg, &st, (uint64_t)RV_VERSION << 8 | CG_RESULT_VERSION);
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    uint8_t tag[2] = {(uint8_t)f->lang, f->res != NULL};
    XXH3_128bits_update(&st, f->path, strlen(f->path) + 1);
    XXH3_128bits_update(&st, tag, sizeof tag);
  }
  digest(&st, key);
}

static size_t nsections(size_t nfiles) { return (nfiles + RV_SECTION - 1) / RV_SECTION; }
/* A tree of one section keeps it in the manifest (rewritten on every
 * change anyway): no section keys then. */
static bool one_section(size_t nfiles) { return nsections(nfiles) <= 1; }
static size_t nkeys(size_t nfiles) { return one_section(nfiles) ? 0 : nsections(nfiles); }

/* ---- the handle's share: sections kept, targets borrowed ---- */

/* Keep v (gsp_malloc'd) with the handle; frees it and fails on no memory. */
static int slab_keep(gsp_cg *cg, void *v) {
  void **s = gsp_realloc(cg->rv_slabs, (cg->nrv_slabs + 1) * sizeof *s);
  if (s == NULL) {
    gsp_free(v);
    return GSP_ENOMEM;
  }
  cg->rv_slabs = s;
  s[cg->nrv_slabs++] = v;
  return GSP_OK;
}

void gsp__cg_targets_free(gsp_cg *cg) {
  for (size_t i = 0; i < cg->nfiles; i++) {
    uint8_t b = cg->borrowed ? cg->borrowed[i] : 0;
    if (!(b & 1)) gsp_free(cg->files[i].imp_target);
    if (!(b & 2)) gsp_free(cg->files[i].ref_target);
    cg->files[i].imp_target = NULL, cg->files[i].ref_target = NULL;
  }
  for (size_t k = 0; k < cg->nrv_slabs; k++) gsp_free(cg->rv_slabs[k]);
  gsp_free(cg->rv_slabs), gsp_free(cg->borrowed);
  cg->rv_slabs = NULL, cg->nrv_slabs = 0, cg->borrowed = NULL;
}

/* ---- reading a prior ---- */

static size_t manifest_len(size_t nfiles, uint64_t nimps, uint64_t nrefs) {
  return sizeof(rv_hdr) + nfiles * sizeof(rv_file) + nkeys(nfiles) * 16 + nimps * sizeof(int32_t) +
         (one_section(nfiles) ? nrefs * sizeof(cg_target) : 0);
}

static bool value_fits(const gsp_cg *cg, const void *v, size_t len) {
  rv_hdr h;
  if (len < sizeof h) return false;
  memcpy(&h, v, sizeof h);
  if (memcmp(h.magic, RV_MAGIC, 4) != 0 || h.version != RV_VERSION || h.nfiles != cg->nfiles)
    return false;
  bool inl = one_section(cg->nfiles); /* (the bounds keep the length from wrapping) */
  if (h.nimps > len / sizeof(int32_t) || (inl && h.nrefs > len / sizeof(cg_target)) ||
      len != manifest_len(cg->nfiles, h.nimps, h.nrefs))
    return false;
  const rv_file *rec = (const rv_file *)((const char *)v + sizeof h);
  uint64_t imps = 0, refs = 0;
  for (size_t i = 0; i < cg->nfiles; i++) imps += rec[i].nimps, refs += rec[i].nrefs;
  return imps == h.nimps && refs == h.nrefs;
}

static bool file_same(const cg_file *f, const rv_file *r) {
  return r->has_res == (f->res != NULL) && memcmp(r->hash, f->hash, 16) == 0 &&
         r->nimps == nimps_of(f) && r->nrefs == nrefs_of(f) && r->ndefs == ndefs_of(f);
}

static const rv_file *manifest_files(const void *v) {
  return (const rv_file *)((const char *)v + sizeof(rv_hdr));
}

static const uint8_t *manifest_keys(const void *v, size_t nfiles) {
  return (const uint8_t *)(manifest_files(v) + nfiles);
}

static int32_t *manifest_imps(void *v, size_t nfiles) {
  return (int32_t *)(manifest_keys(v, nfiles) + 16 * nkeys(nfiles));
}

/* The targets of a one-section tree, after the import targets. */
static cg_target *manifest_refs(void *v, size_t nfiles) {
  const rv_hdr *h = v;
  return (cg_target *)(manifest_imps(v, nfiles) + h->nimps);
}

/* Section c of the prior: read, checked against the stored counts, kept
 * with the handle, and every one of its files' targets located in it.
 * GSP_ENOENT when missing or of the wrong length. */
static int section_load(gsp_cg *cg, const cg_store *st, cg_prior *p, size_t c) {
  static cg_target none; /* where the targets of a file with none point */
  const rv_file *rec = manifest_files(p->blob);
  size_t lo = c * RV_SECTION, hi = lo + RV_SECTION < cg->nfiles ? lo + RV_SECTION : cg->nfiles;
  uint64_t want = 0;
  for (size_t i = lo; i < hi; i++) want += rec[i].nrefs;
  void *v = NULL;
  size_t len = 0;
  if (want && one_section(cg->nfiles)) {
    v = manifest_refs(p->blob, cg->nfiles);
  } else if (want) {
    int rv = st->get_blob(st->user, manifest_keys(p->blob, cg->nfiles) + 16 * c, &v, &len);
    if (rv != GSP_OK) return rv == GSP_ENOMEM ? rv : GSP_ENOENT;
    if (len != want * sizeof(cg_target)) {
      gsp_free(v);
      return GSP_ENOENT;
    }
    if (slab_keep(cg, v) != GSP_OK) return GSP_ENOMEM;
  }
  cg_target *t = v ? v : &none;
  for (size_t i = lo; i < hi; i++) p->refs[i] = t, t += rec[i].nrefs;
  return GSP_OK;
}

static int prior_fill(gsp_cg *cg, const cg_store *st, cg_prior *p) {
  size_t nf = cg->nfiles;
  p->changed = gsp_calloc(nf + 1, 1);
  p->imp_off = gsp_malloc((nf + 1) * sizeof *p->imp_off);
  p->refs = gsp_malloc((nf + 1) * sizeof(cg_target *));
  if (cg->borrowed == NULL) cg->borrowed = gsp_calloc(nf + 1, 1);
  if (p->changed == NULL || p->imp_off == NULL || p->refs == NULL || cg->borrowed == NULL)
    return GSP_ENOMEM;
  const rv_file *rec = manifest_files(p->blob);
  p->imps = manifest_imps(p->blob, nf);
  size_t io = 0;
  for (size_t i = 0; i < nf; i++) {
    p->imp_off[i] = io;
    io += rec[i].nimps;
    p->changed[i] = !file_same(&cg->files[i], &rec[i]);
    p->nchanged += p->changed[i];
  }
  int rv = GSP_OK;
  for (size_t c = 0; rv == GSP_OK && c < nsections(nf); c++) rv = section_load(cg, st, p, c);
  return rv;
}

int gsp__cg_prior_load(gsp_cg *cg, const cg_store *st, cg_prior *p) {
  *p = (cg_prior){0};
  if (st->get_blob == NULL) return GSP_ENOENT;
  uint8_t key[16];
  gsp__cg_layout_key(cg, key);
  void *v = NULL;
  size_t len = 0;
  int rv = st->get_blob(st->user, key, &v, &len);
  if (rv != GSP_OK) return rv == GSP_ENOMEM ? rv : GSP_ENOENT;
  if (!value_fits(cg, v, len)) {
    gsp_free(v);
    return GSP_ENOENT;
  }
  rv = slab_keep(cg, v);
  if (rv == GSP_OK) p->blob = v, rv = prior_fill(cg, st, p);
  if (rv != GSP_OK) gsp__cg_prior_free(p), gsp__cg_targets_free(cg);
  return rv;
}

void gsp__cg_prior_free(cg_prior *p) {
  gsp_free(p->changed), gsp_free(p->imp_off), gsp_free(p->refs);
  *p = (cg_prior){0};
}

/* ---- restoring from it ---- */

/* Per file: how many definitions a target in it may name (0 when the
 * file was not read), so that checking a target is two loads. */
static uint32_t *def_bounds(const gsp_cg *cg) {
  uint32_t *nd = gsp_malloc((cg->nfiles + 1) * sizeof *nd);
  for (size_t i = 0; nd && i < cg->nfiles; i++) nd[i] = (uint32_t)ndefs_of(&cg->files[i]);
  return nd;
}

/* Whether every target of t[0,n) is unresolved or names an existing
 * definition; *bound += how many are resolved. */
static bool targets_ok(const uint32_t *nd, size_t nf, const cg_target *t, size_t n,
                       uint64_t *bound) {
  uint64_t b = 0;
  for (size_t k = 0; k < n; k++) {
    uint32_t f = t[k].file;
    if (f == 0) continue;
    if (f > nf || t[k].def >= nd[f - 1]) return false;
    b++;
  }
  *bound += b;
  return true;
}

/* File i's reference targets: the prior's, in place, if every one is in
 * range (*ok; nothing is set when not). */
static void restore_refs(gsp_cg *cg, const cg_prior *p, const uint32_t *nd, size_t i, bool *ok) {
  cg_file *f = &cg->files[i];
  uint64_t bound = 0;
  *ok = targets_ok(nd, cg->nfiles, p->refs[i], nrefs_of(f), &bound);
  if (!*ok || f->res == NULL) return;
  f->ref_target = p->refs[i];
  cg->borrowed[i] |= 2;
  cg->st.refs_resolved += bound;
}

/* File i's import targets: the prior's, in place, if every one is in range. */
static void restore_imps(gsp_cg *cg, const cg_prior *p, size_t i, bool *ok) {
  cg_file *f = &cg->files[i];
  size_t ni = nimps_of(f);
  const int32_t *src = p->imps + p->imp_off[i];
  uint64_t bound = 0;
  *ok = true;
  for (size_t k = 0; *ok && k < ni; k++) {
    *ok = src[k] >= -1 && src[k] < (int64_t)cg->nfiles;
    bound += src[k] >= 0;
  }
  if (!*ok || f->res == NULL) return;
  f->imp_target = (int32_t *)src; /* the manifest is the handle's (rv_slabs) */
  cg->borrowed[i] |= 1;
  cg->st.imports_resolved += bound;
}

int gsp__cg_prior_restore_all(gsp_cg *cg, const cg_prior *p) {
  uint32_t *nd = def_bounds(cg);
  if (nd == NULL) return GSP_ENOMEM;
  bool ok = true;
  cg->st.imports_resolved = cg->st.refs_resolved = 0;
  for (size_t i = 0; ok && i < cg->nfiles; i++) {
    restore_imps(cg, p, i, &ok);
    if (ok) restore_refs(cg, p, nd, i, &ok);
  }
  gsp_free(nd);
  if (!ok) { /* one out of range: the prior is dropped */
    gsp__cg_targets_free(cg);
    cg->st.imports_resolved = cg->st.refs_resolved = 0;
  }
  cg->st.symbol_edges = cg->st.refs_resolved;
  return ok ? GSP_OK : GSP_ENOENT;
}

/* Whether the resolver must see file i again: changed, or its language's
 * rules read other files' contents (JavaScript/TypeScript and JSON go
 * through package.json and tsconfig files). */
static bool imports_redo(const gsp_cg *cg, const cg_prior *p, size_t i) {
  gsp_cg_lang l = cg->files[i].lang;
  return p->changed[i] || (l != GSP_CG_LANG_C && l != GSP_CG_LANG_PYTHON);
}

/* The resolver over the files of redo[] only: run on a copy of the handle
 * whose file table shows no result for the others (the resolver skips a
 * file without one, and a C or Python file's answers read no other file's
 * result), then their targets moved into cg. */
static int resolve_some(gsp_cg *cg, gsp_exec *ex, const uint8_t *redo) {
  size_t nf = cg->nfiles, n = 0;
  for (size_t i = 0; i < nf; i++) n += redo[i];
  if (n < RV_SERIAL_FILES) ex = NULL; /* a few files: on this thread */
  gsp_cg *view = gsp_malloc(sizeof *view);
  cg_file *files = gsp_malloc((nf + 1) * sizeof *files);
  int rv = view && files ? GSP_OK : GSP_ENOMEM;
  if (rv == GSP_OK) {
    *view = *cg;
    memcpy(files, cg->files, nf * sizeof *files);
    for (size_t i = 0; i < nf; i++)
      if (!redo[i]) files[i].res = NULL, files[i].imp_target = NULL;
    view->files = files;
    view->st.imports_resolved = 0;
    rv = gsp__cg_resolve_imports(view, ex);
    for (size_t i = 0; i < nf; i++)
      if (redo[i]) cg->files[i].imp_target = files[i].imp_target;
    cg->st.imports_resolved += view->st.imports_resolved;
  }
  gsp_free(view), gsp_free(files);
  return rv;
}

/* File f's import targets as its own array (a borrowed one is copied):
 * imports_moved compares them with the prior's, so they are never
 * changed in place. */
static bool own_imps(gsp_cg *cg, size_t f) {
  cg_file *file = &cg->files[f];
  if (!(cg->borrowed[f] & 1)) return true;
  size_t n = nimps_of(file);
  int32_t *t = gsp_malloc(n * sizeof *t);
  if (t == NULL) return false;
  memcpy(t, file->imp_target, n * sizeof *t);
  file->imp_target = t;
  cg->borrowed[f] &= (uint8_t)~1u;
  return true;
}

/* Includes through a macro read other files' definitions and includes
 * (resolve_macro_inc.c), which resolve_some's view hides and which a
 * change in another file can move: all of them are resolved again over
 * the whole table, from unresolved, as a run without a prior does. */
static int macro_includes_again(gsp_cg *cg) {
  bool any = false;
  for (size_t f = 0; f < cg->nfiles; f++) {
    const cg_file *file = &cg->files[f];
    if (file->res == NULL || file->lang != GSP_CG_LANG_C || file->imp_target == NULL) continue;
    size_t n = nimps_of(file);
    const cg_imp_rec *im = n ? gsp__cg_imps(file->res) : NULL;
    for (size_t k = 0; k < n; k++) {
      if (im[k].level != CG_C_VIA_MACRO) continue;
      if (!own_imps(cg, f)) return GSP_ENOMEM;
      file->imp_target[k] = -1, any = true;
    }
  }
  return any ? gsp__cg_macro_includes(cg) : GSP_OK;
}

int gsp__cg_prior_imports(gsp_cg *cg, gsp_exec *ex, const cg_prior *p) {
  size_t nf = cg->nfiles;
  uint8_t *redo = gsp_calloc(nf + 1, 1);
  if (redo == NULL) return GSP_ENOMEM;
  for (size_t i = 0; i < nf; i++) {
    bool ok = false;
    if (!imports_redo(cg, p, i)) restore_imps(cg, p, i, &ok);
    redo[i] = !ok && cg->files[i].res != NULL;
  }
  int rv = resolve_some(cg, ex, redo);
  gsp_free(redo);
  if (rv == GSP_OK) rv = macro_includes_again(cg);
  cg->st.imports_resolved = 0; /* counted as gsp__cg_resolve_imports does */
  for (size_t i = 0; rv == GSP_OK && i < nf; i++) {
    size_t n = cg->files[i].imp_target ? nimps_of(&cg->files[i]) : 0;
    for (size_t k = 0; k < n; k++) cg->st.imports_resolved += cg->files[i].imp_target[k] >= 0;
  }
  return rv;
}

/* Whether file i's imports now resolve elsewhere than in the prior run
 * (its content is the same, but a package.json or tsconfig.json it goes
 * through changed, or a file its specifiers name appeared): its references
 * may bind elsewhere too. Only for unchanged files (same import count). */
static bool imports_moved(const gsp_cg *cg, const cg_prior *p, size_t i) {
  size_t ni = nimps_of(&cg->files[i]);
  return ni && memcmp(cg->files[i].imp_target, p->imps + p->imp_off[i], ni * sizeof(int32_t)) != 0;
}

int gsp__cg_prior_affected(gsp_cg *cg, const cg_prior *p, uint8_t **todo, size_t *n) {
  size_t nf = cg->nfiles;
  uint8_t *mark = gsp_calloc(nf + 1, 1);
  uint32_t *queue = gsp_malloc((nf + 1) * sizeof *queue);
  uint32_t *nd = def_bounds(cg);
  int rv = mark && queue && nd ? GSP_OK : GSP_ENOMEM;
  size_t head = 0, tail = 0;
  for (size_t i = 0; rv == GSP_OK && i < nf; i++)
    if (p->changed[i] || imports_moved(cg, p, i)) mark[i] = 1, queue[tail++] = (uint32_t)i;
  while (rv == GSP_OK && head < tail) { /* every file that reaches a changed one */
    uint32_t f = queue[head++];
    for (uint32_t e = cg->rdep_off[f]; e < cg->rdep_off[f + 1]; e++)
      if (!mark[cg->rdep[e]]) mark[cg->rdep[e]] = 1, queue[tail++] = cg->rdep[e];
  }
  cg->st.refs_resolved = 0; /* the restored files' share; the bind adds the rest */
  for (size_t i = 0; rv == GSP_OK && i < nf; i++) {
    if (mark[i]) continue;
    bool ok;
    restore_refs(cg, p, nd, i, &ok);
    mark[i] = !ok; /* a target out of range: bind it again */
  }
  gsp_free(nd), gsp_free(queue);
  *n = 0;
  for (size_t i = 0; rv == GSP_OK && i < nf; i++) *n += mark[i] && cg->files[i].res;
  if (rv != GSP_OK) gsp_free(mark), mark = NULL;
  *todo = mark;
  return rv;
}

/* ---- writing ---- */

/* Whether every file of section c has the prior's targets (borrowed), so
 * that the section stored under the prior's key is this one. */
static bool section_kept(const gsp_cg *cg, size_t c) {
  if (cg->borrowed == NULL || cg->nrv_slabs == 0) return false;
  size_t lo = c * RV_SECTION, hi = lo + RV_SECTION < cg->nfiles ? lo + RV_SECTION : cg->nfiles;
  for (size_t i = lo; i < hi; i++)
    if (cg->files[i].res && !(cg->borrowed[i] & 2)) return false;
  return true;
}

/* Section c's targets (files lo..hi) into w, in file order. */
static void section_fill(const gsp_cg *cg, size_t c, cg_target *w) {
  size_t lo = c * RV_SECTION, hi = lo + RV_SECTION < cg->nfiles ? lo + RV_SECTION : cg->nfiles;
  for (size_t i = lo; i < hi; i++) {
    size_t nr = nrefs_of(&cg->files[i]);
    if (nr) memcpy(w, cg->files[i].ref_target, nr * sizeof *w);
    w += nr;
  }
}

/* Section c's key, stored now unless the prior's is still right; false
 * when it could not be stored (no memory). */
static bool section_save(const gsp_cg *cg, const cg_store *st, size_t c, uint8_t key[16]) {
  if (section_kept(cg, c)) {
    memcpy(key, manifest_keys(cg->rv_slabs[0], cg->nfiles) + 16 * c, 16);
    return true;
  }
  size_t lo = c * RV_SECTION, hi = lo + RV_SECTION < cg->nfiles ? lo + RV_SECTION : cg->nfiles;
  size_t n = 0;
  for (size_t i = lo; i < hi; i++) n += nrefs_of(&cg->files[i]);
  memset(key, 0, 16);
  if (n == 0) return true;
  cg_target *buf = gsp_malloc(n * sizeof *buf);
  if (buf == NULL) return false;
  section_fill(cg, c, buf);
  XXH128_canonical_t h;
  XXH128_canonicalFromHash(&h, XXH3_128bits_withSeed(buf, n * sizeof *buf, RV_VERSION));
  memcpy(key, h.digest, 16);
  int rv = st->put_blob(st->user, key, buf, n * sizeof *buf);
  gsp_free(buf);
  return rv == GSP_OK;
}

/* The manifest's records and import targets. */
static void manifest_fill(const gsp_cg *cg, char *v) {
  rv_file *rec = (rv_file *)(v + sizeof(rv_hdr));
  int32_t *imp = manifest_imps(v, cg->nfiles);
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    size_t ni = nimps_of(f);
    rec[i] = (rv_file){.nimps = (uint32_t)ni,
                       .nrefs = (uint32_t)nrefs_of(f),
                       .ndefs = (uint32_t)ndefs_of(f),
                       .has_res = f->res != NULL};
    memcpy(rec[i].hash, f->hash, 16);
    if (ni) memcpy(imp, f->imp_target, ni * sizeof *imp);
    imp += ni;
  }
}

void gsp__cg_resolution_save(gsp_cg *cg, const cg_store *st, const uint8_t inputs[16]) {
  (void)inputs; /* stored by the layout (gsp__cg_layout_key) */
  if (st->put_blob == NULL) return;
  size_t nf = cg->nfiles;
  rv_hdr h = {.magic = RV_MAGIC, .version = RV_VERSION, .nfiles = nf};
  for (size_t i = 0; i < nf; i++) h.nimps += nimps_of(&cg->files[i]);
  for (size_t i = 0; i < nf; i++) h.nrefs += nrefs_of(&cg->files[i]);
  size_t len = manifest_len(nf, h.nimps, h.nrefs);
  char *v = gsp_malloc(len);
  if (v == NULL) return; /* then the next run resolves again */
  memcpy(v, &h, sizeof h);
  manifest_fill(cg, v);
  bool ok = true; /* the sections first: a manifest never names a missing one */
  if (one_section(nf) && nf)
    section_fill(cg, 0, manifest_refs(v, nf));
  else
    for (size_t c = 0; ok && c < nsections(nf); c++)
      ok = section_save(cg, st, c, (uint8_t *)v + sizeof h + nf * sizeof(rv_file) + 16 * c);
  uint8_t key[16];
  gsp__cg_layout_key(cg, key);
  if (ok) st->put_blob(st->user, key, v, len);
  gsp_free(v);
}
