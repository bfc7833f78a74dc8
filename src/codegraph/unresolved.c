/*
 * unresolved.c - what the graph could not follow: the import specifiers
 * left unresolved, counted and ranked, so a user sees what is missing (a
 * system header outside the tree, a package not installed, a path mapping
 * not understood).
 *
 * Every import whose target is -1 counts once under its specifier as
 * written (`module`), per language family (C, Python, JavaScript and
 * TypeScript together); the settings and patterns of package.json and
 * tsconfig files (level 2: they name no one file by design) are not
 * specifiers and are left out, nor are C header-path macros (`#define
 * NAME <x.h>`, a definition; an `#include NAME` left unresolved counts
 * under NAME), and so is an alternative of a target list
 * (`"exports": {".": ["./dist/x.mjs", "./src/x.ts"]}`, or the targets of
 * conditions, whatever the kind of reference they are for: "types",
 * "require", "types-require") when another target of the same entry resolved: a fallback
 * that is not there is no miss. Algorithm: collect (family, specifier,
 * file) for every unresolved import, sort, count the runs, then rank the
 * runs by count (ties: family, then specifier in byte order). O(U log U)
 * for U unresolved imports; memory: one array of U entries, freed before
 * returning. The answer's strings point into the graph's results and live
 * as long as the graph.
 */
#include <stdlib.h>
#include <string.h>

#include "resolve_int.h"

typedef struct unres_ent {
  const char *module;
  uint32_t file;
  uint8_t family;
} unres_ent;

static uint8_t family_of(gsp_cg_lang l) {
  return l == GSP_CG_LANG_TSX || l == GSP_CG_LANG_TS || l == GSP_CG_LANG_JSON ? GSP_CG_LANG_JS
                                                                              : (uint8_t)l;
}

static int cmp_ent(const void *a, const void *b) {
  const unres_ent *x = a, *y = b;
  if (x->family != y->family) return x->family < y->family ? -1 : 1;
  int c = strcmp(x->module, y->module);
  return c ? c : (x->file > y->file) - (x->file < y->file);
}

static int cmp_rank(const void *a, const void *b) {
  const cg_unresolved *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  if (x->lang != y->lang) return x->lang < y->lang ? -1 : 1;
  return strcmp(x->module, y->module);
}

/* Whether import i of JSON file f is an alternative of an entry another
 * of whose targets resolved (same key, same section). */
static bool resolved_alternative(const cg_file *file, const cg_imp_rec *im, size_t ni, size_t i) {
  const char *strs = gsp__cg_strs(file->res);
  bool ex = gsp__cg_exports_alias(strs + im[i].alias);
  for (size_t k = 0; k < ni; k++) {
    bool same_section =
        im[k].alias == im[i].alias || (ex && gsp__cg_exports_alias(strs + im[k].alias));
    if (k != i && im[k].name == im[i].name && same_section && file->imp_target &&
        file->imp_target[k] >= 0)
      return true;
  }
  return false;
}

/* Every unresolved import that is a specifier, into a new array. */
static int collect(const gsp_cg *cg, unres_ent **out, size_t *n) {
  size_t cap = 0, k = 0;
  for (size_t f = 0; f < cg->nfiles; f++)
    cap += cg->files[f].res ? gsp_cg_result_nimports(cg->files[f].res) : 0;
  unres_ent *v = gsp_malloc((cap ? cap : 1) * sizeof *v);
  if (v == NULL) return GSP_ENOMEM;
  for (size_t f = 0; f < cg->nfiles; f++) {
    const cg_file *file = &cg->files[f];
    size_t ni = file->res ? gsp_cg_result_nimports(file->res) : 0;
    const cg_imp_rec *im = ni ? gsp__cg_imps(file->res) : NULL;
    for (size_t i = 0; i < ni; i++) {
      if ((file->imp_target && file->imp_target[i] >= 0) ||
          (file->lang == GSP_CG_LANG_JSON &&
           (im[i].level == 2 || resolved_alternative(file, im, ni, i))) ||
          (file->lang == GSP_CG_LANG_C && im[i].level == CG_C_PATH_MACRO))
        continue;
      v[k++] =
          (unres_ent){gsp__cg_strs(file->res) + im[i].module, (uint32_t)f, family_of(file->lang)};
    }
  }
  *out = v, *n = k;
  return GSP_OK;
}

int gsp__cg_unresolved_top(const gsp_cg *cg, size_t k, cg_unresolved *out, size_t *nout,
                           size_t *ndistinct) {
  unres_ent *v;
  size_t n, runs = 0;
  int rv = collect(cg, &v, &n);
  if (rv != GSP_OK) return rv;
  qsort(v, n, sizeof *v, cmp_ent);
  cg_unresolved *all = gsp_malloc((n ? n : 1) * sizeof *all);
  if (all == NULL) {
    gsp_free(v);
    return GSP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    if (i == 0 || v[i].family != v[i - 1].family || strcmp(v[i].module, v[i - 1].module) != 0)
      all[runs++] = (cg_unresolved){v[i].module, (gsp_cg_lang)v[i].family, 0, v[i].file};
    all[runs - 1].count++;
  }
  qsort(all, runs, sizeof *all, cmp_rank);
  *nout = runs < k ? runs : k;
  if (*nout) memcpy(out, all, *nout * sizeof *out);
  if (ndistinct) *ndistinct = runs;
  gsp_free(all);
  gsp_free(v);
  return GSP_OK;
}

int gsp_cg_unresolved_top(const gsp_cg *cg, size_t k, gsp_cg_unresolved *out, size_t *nout,
                          size_t *ndistinct) {
  if (cg == NULL || out == NULL || nout == NULL) return GSP_EINVAL;
  return gsp__cg_unresolved_top(cg, k, out, nout, ndistinct);
}
