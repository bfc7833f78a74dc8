/*
 * resolve_macro_inc.c - C includes written through a macro.
 *
 * `#include FT_FREETYPE_H` names a file only through a definition such as
 * `#define FT_FREETYPE_H <freetype/freetype.h>`, usually in another header
 * the file includes (freetype's <ft2build.h> includes
 * <freetype/config/ftheader.h>, which defines them all). The extractor
 * records both (extract_c.c): the include (level CG_C_VIA_MACRO, module =
 * the macro's name) and every header-path macro (level CG_C_PATH_MACRO,
 * name = the macro, module = the path, kind by its form, <x> or "x").
 *
 * Rule: the nearest definition wins: the including file's own, else the
 * first found breadth-first over its resolved includes (nearest first; at
 * one depth in the order the includes are written, file by file). Its
 * path is then looked up as an #include of its form written in the
 * including file (what the preprocessor does after expanding the name).
 * The definition found decides: when its path names no file of the tree,
 * the include stays unresolved (no other definition is tried).
 *
 * Rounds: an include through a macro may lead to the header that defines
 * the next one, so resolution goes in rounds. A round reads only the
 * targets the round before set (its answers are applied after it), so
 * the outcome does not depend on the order files are visited or on the
 * number of threads; it stops when a round changes nothing, after at most
 * MAX_ROUNDS.
 *
 * Data: the (file, import) pairs to resolve, the answers of the round, a
 * visit stamp per file and a queue (nfiles each), freed before returning.
 * Cost: one breadth-first search per such include per round, each over at
 * most MAX_VISIT files; files without such includes cost one look at
 * their import records.
 */
#include <string.h>

#include "resolve_int.h"

#define MAX_ROUNDS 8
#define MAX_VISIT 4096

typedef struct pend {
  uint32_t file, imp;
} pend;

typedef struct macro_job {
  gsp_cg *cg;
  pend *p;
  size_t np;
  int32_t *answer;
  uint32_t *mark, *queue;
  uint32_t stamp;
} macro_job;

/* File g's definition of the header-path macro name: *found, and where its
 * path leads from file `from`. */
static long defined_in(const gsp_cg *cg, const cg_file *g, const char *name, const char *from,
                       bool *found) {
  size_t n = gsp_cg_result_nimports(g->res);
  const cg_imp_rec *im = n ? gsp__cg_imps(g->res) : NULL;
  const char *strs = gsp__cg_strs(g->res);
  for (size_t k = 0; k < n; k++) {
    if (im[k].level != CG_C_PATH_MACRO || strcmp(strs + im[k].name, name) != 0) continue;
    *found = true;
    return gsp__cg_resolve_include_in(cg, from, (gsp_cg_import_kind)im[k].kind, strs + im[k].module,
                                      NULL, NULL);
  }
  return -1;
}

/* Queue g's resolved includes not seen in this search. */
static void push_includes(macro_job *j, const cg_file *g, size_t *qt) {
  size_t n = gsp_cg_result_nimports(g->res);
  const cg_imp_rec *im = n ? gsp__cg_imps(g->res) : NULL;
  for (size_t k = 0; k < n && g->imp_target && *qt < MAX_VISIT; k++) {
    int32_t t = g->imp_target[k];
    if (im[k].level == CG_C_PATH_MACRO || t < 0 || j->mark[t] == j->stamp) continue;
    j->mark[t] = j->stamp;
    j->queue[(*qt)++] = (uint32_t)t;
  }
}

/* Where include `name` of file f leads: the nearest definition's path. */
static long via_macro(macro_job *j, uint32_t f, const char *name) {
  const gsp_cg *cg = j->cg;
  size_t qh = 0, qt = 0;
  j->stamp++;
  j->queue[qt++] = f;
  j->mark[f] = j->stamp;
  while (qh < qt) {
    const cg_file *g = &cg->files[j->queue[qh++]];
    if (g->res == NULL || g->lang != GSP_CG_LANG_C) continue;
    bool found = false;
    long t = defined_in(cg, g, name, cg->files[f].path, &found);
    if (found) return t;
    push_includes(j, g, &qt);
  }
  return -1;
}

/* The includes through a macro, into j->p. */
static int collect(macro_job *j) {
  gsp_cg *cg = j->cg;
  size_t cap = 0;
  for (size_t pass = 0; pass < 2; pass++) {
    for (size_t f = 0; f < cg->nfiles; f++) {
      const cg_file *file = &cg->files[f];
      size_t n = file->res && file->lang == GSP_CG_LANG_C ? gsp_cg_result_nimports(file->res) : 0;
      const cg_imp_rec *im = n ? gsp__cg_imps(file->res) : NULL;
      for (size_t k = 0; k < n; k++) {
        if (im[k].level != CG_C_VIA_MACRO || file->imp_target == NULL) continue;
        if (pass == 0) {
          cap++;
        } else {
          j->p[j->np++] = (pend){(uint32_t)f, (uint32_t)k};
        }
      }
    }
    if (pass == 0 && cap == 0) return GSP_OK;
    if (pass == 0 && (j->p = gsp_malloc(cap * sizeof *j->p)) == NULL) return GSP_ENOMEM;
  }
  return GSP_OK;
}

/* One round: every answer from the targets as they stand, then applied.
 * Returns whether a target changed. */
static bool round_once(macro_job *j) {
  gsp_cg *cg = j->cg;
  for (size_t i = 0; i < j->np; i++) {
    const cg_file *file = &cg->files[j->p[i].file];
    const cg_imp_rec *im = gsp__cg_imps(file->res) + j->p[i].imp;
    j->answer[i] = (int32_t)via_macro(j, j->p[i].file, gsp__cg_strs(file->res) + im->module);
  }
  bool changed = false;
  for (size_t i = 0; i < j->np; i++) {
    int32_t *t = &cg->files[j->p[i].file].imp_target[j->p[i].imp];
    changed = changed || *t != j->answer[i];
    *t = j->answer[i];
  }
  return changed;
}

int gsp__cg_macro_includes(gsp_cg *cg) {
  macro_job j = {.cg = cg};
  int rv = collect(&j);
  if (rv != GSP_OK || j.np == 0) {
    gsp_free(j.p);
    return rv;
  }
  j.answer = gsp_malloc(j.np * sizeof *j.answer);
  j.mark = gsp_calloc(cg->nfiles, sizeof *j.mark);
  j.queue = gsp_malloc((cg->nfiles < MAX_VISIT ? cg->nfiles : MAX_VISIT) * sizeof *j.queue);
  if (j.answer == NULL || j.mark == NULL || j.queue == NULL) {
    rv = GSP_ENOMEM;
  } else {
    for (int r = 0; r < MAX_ROUNDS && round_once(&j); r++) {
    }
  }
  gsp_free(j.p), gsp_free(j.answer), gsp_free(j.mark), gsp_free(j.queue);
  return rv;
}
