/*
 * resolve_cache.c - the resolution of a whole tree (every import's target
 * file, every reference's target definition) kept in the result store, so a
 * run whose inputs did not change skips both resolution passes.
 *
 * Key: XXH3-128 over everything resolution reads: the format version, the
 * root's package name, the include directories, and for every file in path
 * order its path, language, content hash and whether it was read. Any change
 * (a file edited, added, removed or renamed; another -I) gives another key,
 * so an entry is never stale; it is simply not found.
 *
 * Value: a header {magic "GSRV", version, nfiles, total imports, total
 * references}, then every file's import targets (int32, -1 = unresolved) in
 * file order, then every file's reference targets (cg_target, 8 bytes).
 * A value is checked before use: exact length, counts equal to the results
 * now loaded, every target in range. A value that fails is a miss.
 */
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "cg_int.h"

#define RV_MAGIC "GSRV"
#define RV_VERSION 1u

typedef struct rv_hdr {
  char magic[4];
  uint32_t version;
  uint64_t nfiles, nimps, nrefs;
} rv_hdr;

static size_t nimps_of(const cg_file *f) { return f->res ? gsp_cg_result_nimports(f->res) : 0; }
static size_t nrefs_of(const cg_file *f) { return f->res ? gsp_cg_result_nrefs(f->res) : 0; }

void gsp__cg_inputs_key(const gsp_cg *cg, uint8_t key[16]) {
  XXH3_state_t st;
  XXH3_128bits_reset_withSeed(&st, (uint64_t)RV_VERSION << 8 | CG_RESULT_VERSION);
  const char *pkg = cg->root_pkg ? cg->root_pkg : "";
  XXH3_128bits_update(&st, pkg, strlen(pkg) + 1);
  uint64_t n = cg->cfg.n_include_dirs;
  XXH3_128bits_update(&st, &n, sizeof n);
  for (size_t i = 0; i < cg->cfg.n_include_dirs; i++) {
    const char *inc = cg->incs[i] ? cg->incs[i] : "\x01";
    XXH3_128bits_update(&st, inc, strlen(inc) + 1);
  }
  n = cg->nfiles;
  XXH3_128bits_update(&st, &n, sizeof n);
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    uint8_t tag[2] = {(uint8_t)f->lang, f->res != NULL};
    XXH3_128bits_update(&st, f->path, strlen(f->path) + 1);
    XXH3_128bits_update(&st, tag, sizeof tag);
    XXH3_128bits_update(&st, f->hash, 16);
  }
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
  memcpy(key, c.digest, 16);
}

static bool header_fits(const gsp_cg *cg, const rv_hdr *h, size_t len) {
  uint64_t imps = 0, refs = 0;
  for (size_t i = 0; i < cg->nfiles; i++) imps += nimps_of(&cg->files[i]);
  for (size_t i = 0; i < cg->nfiles; i++) refs += nrefs_of(&cg->files[i]);
  return memcmp(h->magic, RV_MAGIC, 4) == 0 && h->version == RV_VERSION &&
         h->nfiles == cg->nfiles && h->nimps == imps && h->nrefs == refs &&
         len == sizeof *h + imps * sizeof(int32_t) + refs * sizeof(cg_target);
}

static bool targets_ok(const gsp_cg *cg, const int32_t *imp, const cg_target *ref, size_t nimps,
                       size_t nrefs) {
  for (size_t i = 0; i < nimps; i++)
    if (imp[i] < -1 || imp[i] >= (int64_t)cg->nfiles) return false;
  for (size_t i = 0; i < nrefs; i++) {
    if (ref[i].file == 0) continue;
    const cg_file *t = ref[i].file <= cg->nfiles ? &cg->files[ref[i].file - 1] : NULL;
    if (t == NULL || t->res == NULL || ref[i].def >= gsp_cg_result_ndefs(t->res)) return false;
  }
  return true;
}

/* Give every read file its two arrays, filled from the value. */
static int restore(gsp_cg *cg, const int32_t *imp, const cg_target *ref) {
  for (size_t i = 0; i < cg->nfiles; i++) {
    cg_file *f = &cg->files[i];
    if (f->res == NULL) continue;
    size_t ni = nimps_of(f), nr = nrefs_of(f);
    f->imp_target = gsp_malloc((ni ? ni : 1) * sizeof *f->imp_target);
    f->ref_target = gsp_malloc((nr ? nr : 1) * sizeof *f->ref_target);
    if (f->imp_target == NULL || f->ref_target == NULL) return GSP_ENOMEM;
    if (ni) memcpy(f->imp_target, imp, ni * sizeof *imp);
    if (nr) memcpy(f->ref_target, ref, nr * sizeof *ref);
    for (size_t k = 0; k < ni; k++) cg->st.imports_resolved += imp[k] >= 0;
    for (size_t k = 0; k < nr; k++) cg->st.refs_resolved += ref[k].file != 0;
    imp += ni, ref += nr;
  }
  cg->st.symbol_edges = cg->st.refs_resolved;
  return GSP_OK;
}

int gsp__cg_resolution_load(gsp_cg *cg, const cg_store *st, const uint8_t key[16]) {
  if (st->get_blob == NULL) return GSP_ENOENT;
  void *v = NULL;
  size_t len = 0;
  int rv = st->get_blob(st->user, key, &v, &len);
  if (rv != GSP_OK) return rv == GSP_ENOMEM ? rv : GSP_ENOENT;
  rv = GSP_ENOENT;
  rv_hdr h;
  if (len >= sizeof h) memcpy(&h, v, sizeof h);
  if (len >= sizeof h && header_fits(cg, &h, len)) {
    const int32_t *imp = (const int32_t *)((const char *)v + sizeof h);
    const cg_target *ref = (const cg_target *)(imp + h.nimps);
    if (targets_ok(cg, imp, ref, h.nimps, h.nrefs)) rv = restore(cg, imp, ref);
  }
  gsp_free(v);
  return rv;
}

void gsp__cg_resolution_save(gsp_cg *cg, const cg_store *st, const uint8_t key[16]) {
  if (st->put_blob == NULL) return;
  rv_hdr h = {.magic = RV_MAGIC, .version = RV_VERSION, .nfiles = cg->nfiles};
  for (size_t i = 0; i < cg->nfiles; i++) h.nimps += nimps_of(&cg->files[i]);
  for (size_t i = 0; i < cg->nfiles; i++) h.nrefs += nrefs_of(&cg->files[i]);
  size_t len = sizeof h + h.nimps * sizeof(int32_t) + h.nrefs * sizeof(cg_target);
  char *v = gsp_malloc(len);
  if (v == NULL) return; /* then the next run resolves again */
  memcpy(v, &h, sizeof h);
  int32_t *imp = (int32_t *)(v + sizeof h);
  cg_target *ref = (cg_target *)(imp + h.nimps);
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    size_t ni = nimps_of(f), nr = nrefs_of(f);
    if (ni) memcpy(imp, f->imp_target, ni * sizeof *imp);
    if (nr) memcpy(ref, f->ref_target, nr * sizeof *ref);
    imp += ni, ref += nr;
  }
  st->put_blob(st->user, key, v, len);
  gsp_free(v);
}
