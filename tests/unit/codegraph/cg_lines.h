/*
 * cg_lines.h - one line of text per definition, import and reference of
 * an analyzed graph (with their targets), compared in order against a
 * test's expected lines; and parsing one source text into a result. Shared by the tests whose
 * fixtures' graphs are known exactly. Include after cmocka.h.
 */
#ifndef GSP_TEST_CG_LINES_H
#define GSP_TEST_CG_LINES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gsperf/codegraph.h"

static void expect_line(const char *got, const char *const *want, size_t nwant, size_t *k) {
  if (*k >= nwant) print_error("unexpected extra line: %s\n", got);
  assert_true(*k < nwant);
  assert_string_equal(got, want[*k]);
  (*k)++;
}

static void def_line(const gsp_cg *cg, size_t f, size_t i, char *out, size_t cap) {
  gsp_cg_def d;
  gsp_cg_result_def(gsp_cg_file_result(cg, f), i, &d);
  snprintf(out, cap, "%s %s %s %u %d", gsp_cg_file_path(cg, f), gsp_cg_def_kind_name(d.kind),
           d.name, d.line, d.parent);
}

static void import_line(const gsp_cg *cg, size_t f, size_t i, char *out, size_t cap) {
  gsp_cg_import m;
  gsp_cg_result_import(gsp_cg_file_result(cg, f), i, &m);
  long t = gsp_cg_import_target(cg, f, i);
  snprintf(out, cap, "%s %s %s %s %s %u %u -> %s", gsp_cg_file_path(cg, f),
           gsp_cg_import_kind_name(m.kind), m.module, m.name[0] ? m.name : "-",
           m.alias[0] ? m.alias : "-", m.level, m.line,
           t >= 0 ? gsp_cg_file_path(cg, (size_t)t) : "-");
}

static void ref_line(const gsp_cg *cg, size_t f, size_t i, char *out, size_t cap) {
  gsp_cg_ref x;
  char target[256] = "-";
  size_t tf, td;
  gsp_cg_result_ref(gsp_cg_file_result(cg, f), i, &x);
  if (gsp_cg_ref_target(cg, f, i, &tf, &td)) {
    gsp_cg_def d;
    gsp_cg_result_def(gsp_cg_file_result(cg, tf), td, &d);
    snprintf(target, sizeof target, "%s:%s", gsp_cg_file_path(cg, tf), d.name);
  }
  snprintf(out, cap, "%s %s%s%s %u -> %s", gsp_cg_file_path(cg, f), x.qualifier,
           x.qualifier[0] ? "." : "", x.name, x.line, target);
}

static gsp_cg_result *parse(gsp_cg_lang lang, const char *src) {
  gsp_cg_parser *p = NULL;
  gsp_cg_result *r = NULL;
  assert_int_equal(gsp_cg_parser_create(&p), GSP_OK);
  assert_int_equal(gsp_cg_parse(p, lang, src, strlen(src), &r), GSP_OK);
  gsp_cg_parser_destroy(p);
  return r;
}

#endif
