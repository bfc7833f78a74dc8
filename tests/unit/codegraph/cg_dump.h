/*
 * cg_dump.h - a canonical text dump of an analyzed code graph (files with
 * hashes, definitions, imports with targets, references with targets,
 * edges, components), for tests that compare two graphs byte for byte,
 * and an invariant check (every resolved import and reference points at
 * an existing file and definition of the reference's name, or of a name
 * an import brings in under it; edges agree both ways).
 */
#ifndef GSP_TEST_CG_DUMP_H
#define GSP_TEST_CG_DUMP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gsperf/codegraph.h"

static void dump_file(const gsp_cg *cg, size_t f, FILE *o) {
  const gsp_cg_result *r = gsp_cg_file_result(cg, f);
  const uint8_t *h = gsp_cg_file_hash(cg, f);
  fprintf(o, "F %s ", gsp_cg_file_path(cg, f));
  for (int i = 0; i < 16; i++) fprintf(o, "%02x", h[i]);
  fprintf(o, " comp=%zu\n", gsp_cg_component_of(cg, f));
  if (r == NULL) return;
  for (size_t i = 0; i < gsp_cg_result_ndefs(r); i++) {
    gsp_cg_def d;
    gsp_cg_result_def(r, i, &d);
    fprintf(o, " D %s %s %u %d\n", gsp_cg_def_kind_name(d.kind), d.name, d.line, d.parent);
  }
  for (size_t i = 0; i < gsp_cg_result_nimports(r); i++) {
    gsp_cg_import m;
    gsp_cg_result_import(r, i, &m);
    fprintf(o, " I %s %s %s %s %u %u -> %ld\n", gsp_cg_import_kind_name(m.kind), m.module, m.name,
            m.alias, m.level, m.line, gsp_cg_import_target(cg, f, i));
  }
  for (size_t i = 0; i < gsp_cg_result_nrefs(r); i++) {
    gsp_cg_ref x;
    size_t tf = 0, td = 0;
    gsp_cg_result_ref(r, i, &x);
    bool ok = gsp_cg_ref_target(cg, f, i, &tf, &td);
    fprintf(o, " R %s %s.%s %u %d -> %ld:%ld\n", gsp_cg_ref_kind_name(x.kind), x.qualifier, x.name,
            x.line, x.scope, ok ? (long)tf : -1L, ok ? (long)td : -1L);
  }
  size_t n;
  const uint32_t *d = gsp_cg_deps(cg, f, &n);
  for (size_t i = 0; i < n; i++) fprintf(o, " E %u\n", d[i]);
}

/* The dump in a malloc'ed string (caller frees). */
static char *cg_dump(const gsp_cg *cg) {
  char *buf = NULL;
  size_t len = 0;
  FILE *o = open_memstream(&buf, &len);
  if (o == NULL) return NULL;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) dump_file(cg, f, o);
  for (size_t c = 0; c < gsp_cg_ncomponents(cg); c++) {
    size_t n;
    const uint32_t *m = gsp_cg_component(cg, c, &n);
    fprintf(o, "C %zu %d", c, gsp_cg_component_is_cycle(cg, c));
    for (size_t i = 0; i < n; i++) fprintf(o, " %u", m[i]);
    fputc('\n', o);
  }
  fclose(o);
  return buf;
}

/* An import of r brings `name` in under the name `local`. */
static bool aliased(const gsp_cg_result *r, const char *local, const char *name) {
  for (size_t i = 0; i < gsp_cg_result_nimports(r); i++) {
    gsp_cg_import m;
    gsp_cg_result_import(r, i, &m);
    if (strcmp(m.alias, local) == 0 && strcmp(m.name, name) == 0) return true;
  }
  return false;
}

/* An import of r brings something in under the name `local` (JavaScript:
 * a default import, or a name re-exported under another name on the way). */
static bool imported(const gsp_cg_result *r, const char *local) {
  gsp_cg_lang l = gsp_cg_result_lang(r);
  if (l != GSP_CG_LANG_JS && l != GSP_CG_LANG_TS && l != GSP_CG_LANG_TSX) return false;
  for (size_t i = 0; i < gsp_cg_result_nimports(r); i++) {
    gsp_cg_import m;
    gsp_cg_result_import(r, i, &m);
    if (strcmp(m.alias[0] ? m.alias : m.name, local) == 0) return true;
  }
  return false;
}

/* Returns NULL when every invariant holds, else a static description. */
static const char *cg_check_invariants(const gsp_cg *cg) {
  static char why[512];
  size_t nf = gsp_cg_nfiles(cg);
  for (size_t f = 0; f < nf; f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    if (f > 0 && strcmp(gsp_cg_file_path(cg, f - 1), gsp_cg_file_path(cg, f)) >= 0)
      return "files not sorted and distinct";
    if (gsp_cg_file_find(cg, gsp_cg_file_path(cg, f)) != (long)f) return "path index disagrees";
    for (size_t i = 0; r && i < gsp_cg_result_nimports(r); i++) {
      long t = gsp_cg_import_target(cg, f, i);
      if (t < -1 || t >= (long)nf || (t >= 0 && gsp_cg_file_result(cg, (size_t)t) == NULL)) {
        snprintf(why, sizeof why, "%s: import %zu -> bad file %ld", gsp_cg_file_path(cg, f), i, t);
        return why;
      }
    }
    for (size_t i = 0; r && i < gsp_cg_result_nrefs(r); i++) {
      size_t tf, td;
      gsp_cg_ref x;
      gsp_cg_result_ref(r, i, &x);
      if (!gsp_cg_ref_target(cg, f, i, &tf, &td)) continue;
      const gsp_cg_result *tr = tf < nf ? gsp_cg_file_result(cg, tf) : NULL;
      gsp_cg_def d;
      if (tr == NULL || td >= gsp_cg_result_ndefs(tr)) goto bad_ref;
      gsp_cg_result_def(tr, td, &d);
      if (strcmp(d.name, x.name) != 0 && !aliased(r, x.name, d.name) && !imported(r, x.name))
        goto bad_ref;
      continue;
    bad_ref:
      snprintf(why, sizeof why, "%s: ref %s -> bad target %zu:%zu", gsp_cg_file_path(cg, f), x.name,
               tf, td);
      return why;
    }
    size_t n, m;
    const uint32_t *d = gsp_cg_deps(cg, f, &n);
    for (size_t i = 0; i < n; i++) {
      const uint32_t *rd = gsp_cg_rdeps(cg, d[i], &m);
      bool found = false;
      for (size_t k = 0; k < m; k++) found |= rd[k] == f;
      if (!found || gsp_cg_component_of(cg, f) > gsp_cg_component_of(cg, d[i]))
        return "edge missing from rdeps or against the topological order";
    }
  }
  return NULL;
}

#endif
