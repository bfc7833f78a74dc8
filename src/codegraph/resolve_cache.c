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
 * Value: a header {magic "GSRV", version, nfiles, total imports, total
 * references}, one record per file {content hash, import, reference and
 * definition counts}, then every file's import targets (int32, -1 =
 * unresolved) in file order, then every file's reference targets
 * (cg_target, 8 bytes). Checked before use: exact length, counts that add
 * up; a value that fails is no prior.
 *
 * Use (gsp__cg_prior_*): a file whose content hash or counts differ from
 * its record has changed. None changed: every target is restored (after a
 * range check; one out of range and the prior is dropped). Some changed:
 * imports are resolved again (cheap, and only a changed file's answers can
 * differ, since the paths are the same), and a file's references are bound
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

#include "cg_int.h"

#define RV_MAGIC "GSRV"
#define RV_VERSION 2u

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

/* ---- reading a prior ---- */

static bool value_fits(const gsp_cg *cg, const void *v, size_t len) {
  rv_hdr h;
  if (len < sizeof h) return false;
  memcpy(&h, v, sizeof h);
  if (memcmp(h.magic, RV_MAGIC, 4) != 0 || h.version != RV_VERSION || h.nfiles != cg->nfiles)
    return false;
  if (h.nimps > len / sizeof(int32_t) || h.nrefs > len / sizeof(cg_target)) return false;
  size_t want = sizeof h + cg->nfiles * sizeof(rv_file) + h.nimps * sizeof(int32_t) +
                h.nrefs * sizeof(cg_target);
  if (len != want) return false;
  const rv_file *rec = (const rv_file *)((const char *)v + sizeof h);
  uint64_t imps = 0, refs = 0;
  for (size_t i = 0; i < cg->nfiles; i++) imps += rec[i].nimps, refs += rec[i].nrefs;
  return imps == h.nimps && refs == h.nrefs;
}

static bool file_same(const cg_file *f, const rv_file *r) {
  return r->has_res == (f->res != NULL) && memcmp(r->hash, f->hash, 16) == 0 &&
         r->nimps == nimps_of(f) && r->nrefs == nrefs_of(f) && r->ndefs == ndefs_of(f);
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
  p->blob = v;
  p->changed = gsp_calloc(cg->nfiles + 1, 1);
  p->imp_off = gsp_malloc((cg->nfiles + 1) * sizeof *p->imp_off);
  p->ref_off = gsp_malloc((cg->nfiles + 1) * sizeof *p->ref_off);
  if (p->changed == NULL || p->imp_off == NULL || p->ref_off == NULL) {
    gsp__cg_prior_free(p);
    return GSP_ENOMEM;
  }
  const rv_hdr *h = (const rv_hdr *)v;
  const rv_file *rec = (const rv_file *)(h + 1);
  p->imps = (const int32_t *)(rec + cg->nfiles);
  p->refs = (const cg_target *)(p->imps + h->nimps);
  size_t io = 0, ro = 0;
  for (size_t i = 0; i < cg->nfiles; i++) {
    p->imp_off[i] = io, p->ref_off[i] = ro;
    io += rec[i].nimps, ro += rec[i].nrefs;
    p->changed[i] = !file_same(&cg->files[i], &rec[i]);
    p->nchanged += p->changed[i];
  }
  return GSP_OK;
}

void gsp__cg_prior_free(cg_prior *p) {
  gsp_free(p->blob), gsp_free(p->changed), gsp_free(p->imp_off), gsp_free(p->ref_off);
  *p = (cg_prior){0};
}

/* ---- restoring from it ---- */

static bool target_ok(const gsp_cg *cg, cg_target t) {
  if (t.file == 0) return true;
  const cg_file *tf = t.file <= cg->nfiles ? &cg->files[t.file - 1] : NULL;
  return tf && tf->res && t.def < gsp_cg_result_ndefs(tf->res);
}

/* File i's reference targets from the prior, if every one is in range. */
static int restore_refs(gsp_cg *cg, const cg_prior *p, size_t i, bool *ok) {
  cg_file *f = &cg->files[i];
  size_t nr = nrefs_of(f);
  const cg_target *src = p->refs + p->ref_off[i];
  *ok = true;
  for (size_t k = 0; *ok && k < nr; k++) *ok = target_ok(cg, src[k]);
  if (!*ok || f->res == NULL) return GSP_OK;
  f->ref_target = gsp_malloc((nr ? nr : 1) * sizeof *f->ref_target);
  if (f->ref_target == NULL) return GSP_ENOMEM;
  if (nr) memcpy(f->ref_target, src, nr * sizeof *src);
  return GSP_OK;
}

static void count_resolved(gsp_cg *cg) {
  cg->st.imports_resolved = cg->st.refs_resolved = 0;
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    for (size_t k = 0; k < nimps_of(f); k++) cg->st.imports_resolved += f->imp_target[k] >= 0;
    for (size_t k = 0; k < nrefs_of(f); k++) cg->st.refs_resolved += f->ref_target[k].file != 0;
  }
  cg->st.symbol_edges = cg->st.refs_resolved;
}

int gsp__cg_prior_restore_all(gsp_cg *cg, const cg_prior *p) {
  for (size_t i = 0; i < cg->nfiles; i++) { /* check everything first */
    size_t ni = nimps_of(&cg->files[i]);
    const int32_t *imp = p->imps + p->imp_off[i];
    for (size_t k = 0; k < ni; k++)
      if (imp[k] < -1 || imp[k] >= (int64_t)cg->nfiles) return GSP_ENOENT;
    for (size_t k = 0; k < nrefs_of(&cg->files[i]); k++)
      if (!target_ok(cg, p->refs[p->ref_off[i] + k])) return GSP_ENOENT;
  }
  for (size_t i = 0; i < cg->nfiles; i++) {
    cg_file *f = &cg->files[i];
    if (f->res == NULL) continue;
    size_t ni = nimps_of(f);
    f->imp_target = gsp_malloc((ni ? ni : 1) * sizeof *f->imp_target);
    if (f->imp_target == NULL) return GSP_ENOMEM;
    if (ni) memcpy(f->imp_target, p->imps + p->imp_off[i], ni * sizeof *f->imp_target);
    bool ok;
    int rv = restore_refs(cg, p, i, &ok);
    if (rv != GSP_OK) return rv;
  }
  count_resolved(cg);
  return GSP_OK;
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
  int rv = mark && queue ? GSP_OK : GSP_ENOMEM;
  size_t head = 0, tail = 0;
  for (size_t i = 0; rv == GSP_OK && i < nf; i++)
    if (p->changed[i] || imports_moved(cg, p, i)) mark[i] = 1, queue[tail++] = (uint32_t)i;
  while (rv == GSP_OK && head < tail) { /* every file that reaches a changed one */
    uint32_t f = queue[head++];
    for (uint32_t e = cg->rdep_off[f]; e < cg->rdep_off[f + 1]; e++)
      if (!mark[cg->rdep[e]]) mark[cg->rdep[e]] = 1, queue[tail++] = cg->rdep[e];
  }
  for (size_t i = 0; rv == GSP_OK && i < nf; i++) {
    if (mark[i]) continue;
    bool ok;
    rv = restore_refs(cg, p, i, &ok);
    mark[i] = !ok; /* a target out of range: bind it again */
  }
  gsp_free(queue);
  *n = 0;
  for (size_t i = 0; rv == GSP_OK && i < nf; i++) *n += mark[i] && cg->files[i].res;
  if (rv != GSP_OK) gsp_free(mark), mark = NULL;
  *todo = mark;
  return rv;
}

void gsp__cg_resolution_save(gsp_cg *cg, const cg_store *st, const uint8_t inputs[16]) {
  (void)inputs; /* stored by the layout (gsp__cg_layout_key) */
  if (st->put_blob == NULL) return;
  rv_hdr h = {.magic = RV_MAGIC, .version = RV_VERSION, .nfiles = cg->nfiles};
  for (size_t i = 0; i < cg->nfiles; i++) h.nimps += nimps_of(&cg->files[i]);
  for (size_t i = 0; i < cg->nfiles; i++) h.nrefs += nrefs_of(&cg->files[i]);
  size_t len = sizeof h + cg->nfiles * sizeof(rv_file) + h.nimps * sizeof(int32_t) +
               h.nrefs * sizeof(cg_target);
  char *v = gsp_malloc(len);
  if (v == NULL) return; /* then the next run resolves again */
  memcpy(v, &h, sizeof h);
  rv_file *rec = (rv_file *)(v + sizeof h);
  int32_t *imp = (int32_t *)(rec + cg->nfiles);
  cg_target *ref = (cg_target *)(imp + h.nimps);
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    size_t ni = nimps_of(f), nr = nrefs_of(f);
    rec[i] = (rv_file){.nimps = (uint32_t)ni,
                       .nrefs = (uint32_t)nr,
                       .ndefs = (uint32_t)ndefs_of(f),
                       .has_res = f->res != NULL};
    memcpy(rec[i].hash, f->hash, 16);
    if (ni) memcpy(imp, f->imp_target, ni * sizeof *imp);
    if (nr) memcpy(ref, f->ref_target, nr * sizeof *ref);
    imp += ni, ref += nr;
  }
  uint8_t key[16];
  gsp__cg_layout_key(cg, key);
  st->put_blob(st->user, key, v, len);
  gsp_free(v);
}

/* ---- the whole-tree interface ---- */

int gsp__cg_resolution_load(gsp_cg *cg, const cg_store *st, const uint8_t key[16]) {
  (void)key; /* the prior is found by the layout; its contents must all match */
  cg_prior p;
  int rv = gsp__cg_prior_load(cg, st, &p);
  if (rv == GSP_OK) rv = p.nchanged == 0 ? gsp__cg_prior_restore_all(cg, &p) : GSP_ENOENT;
  gsp__cg_prior_free(&p);
  return rv;
}
