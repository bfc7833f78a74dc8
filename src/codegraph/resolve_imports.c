/*
 * resolve_imports.c - imports to files.
 *
 * C: #include "x" is looked up relative to the including file's directory,
 * then in each include directory (gsp_cg_config.include_dirs, in order),
 * then at the root, then in each directory above the including file's,
 * nearest first; #include <x> skips the file's own directory. The last
 * step finds a header tree's own include root, the directory a build
 * passes with -I (`pkg-config --cflags` gives -I/usr/include/libxml2):
 * llvm-14/llvm/IR/Module.h's "llvm/ADT/StringRef.h" is
 * llvm-14/llvm/ADT/StringRef.h, libnl3/netlink/route/link.h's
 * <netlink/netlink.h> is libnl3/netlink/netlink.h. Python:
 * a relative import (level n) starts from the file's package, n-1
 * directories up; an absolute one from the file's source root (the parent
 * of its outermost package, found by walking up while __init__.py exists),
 * then from the analysis root. A module a.b is a/b.py, a/b.pyi or
 * a/b/__init__.py. `from m import x` points at the submodule m/x when that
 * exists, else at m (x is then a name defined in m).
 *
 * `#include NAME` (a macro): resolve_macro_inc.c, after the others.
 *
 * JavaScript/TypeScript, and the entries of package.json / tsconfig.json
 * files: resolve_js.c (with the workspace index this driver builds once
 * before the parallel pass).
 *
 * Only files inside the analyzed tree can be targets: an include of a
 * system header outside it stays unresolved. Paths are normalized ("." and
 * ".." folded) and never climb above the root. Parallel over files; each
 * file's answers go into its own array, read-only use of everything else.
 */
#include <stdio.h>
#include <string.h>

#include "resolve_int.h"

const char *gsp__cg_last_slash(const char *s, size_t n) {
  while (n > 0)
    if (s[--n] == '/') return s + n;
  return NULL;
}

bool gsp__cg_path_append(char *out, size_t *n, const char *rel, size_t rl) {
  size_t len = *n;
  const char *p = rel, *end = rel + rl;
  while (p < end) {
    const char *s = memchr(p, '/', (size_t)(end - p));
    size_t cl = (size_t)((s ? s : end) - p);
    if (cl == 2 && p[0] == '.' && p[1] == '.') {
      if (len == 0) return false;
      const char *slash = gsp__cg_last_slash(out, len);
      len = slash ? (size_t)(slash - out) : 0;
    } else if (cl > 0 && !(cl == 1 && p[0] == '.')) {
      if (len + cl + 2 >= PATH_MAX_CG) return false;
      if (len) out[len++] = '/';
      memcpy(out + len, p, cl);
      len += cl;
    }
    p += cl + (s != NULL);
  }
  out[len] = '\0';
  *n = len;
  return true;
}

size_t gsp__cg_dir_len(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? (size_t)(s - path) : 0;
}

static long try_at(const gsp_cg *cg, cg_path_lookup look, const void *ctx, const char *dir,
                   size_t dl, const char *rel) {
  char buf[PATH_MAX_CG];
  if (dl >= PATH_MAX_CG) return -1;
  memcpy(buf, dir, dl);
  buf[dl] = '\0';
  size_t n = dl;
  if (!gsp__cg_path_append(buf, &n, rel, strlen(rel))) return -1;
  return look ? look(ctx, buf, n) : gsp__cg_lookup(cg, buf, n);
}

long gsp__cg_resolve_include_in(const gsp_cg *cg, const char *from, gsp_cg_import_kind kind,
                                const char *module, cg_path_lookup look, const void *ctx) {
  long t = -1;
  if (kind == GSP_CG_IMPORT_INCLUDE_QUOTED)
    t = try_at(cg, look, ctx, from, gsp__cg_dir_len(from), module);
  for (size_t i = 0; t < 0 && i < cg->cfg.n_include_dirs; i++)
    if (cg->incs[i]) t = try_at(cg, look, ctx, cg->incs[i], strlen(cg->incs[i]), module);
  if (t < 0) t = try_at(cg, look, ctx, "", 0, module);
  for (size_t d = gsp__cg_dir_len(from); t < 0 && d > 0;) { /* the directories above */
    const char *s = gsp__cg_last_slash(from, d);
    d = s ? (size_t)(s - from) : 0;
    if (d > 0) t = try_at(cg, look, ctx, from, d, module);
  }
  return t;
}

/* An include (level 0) now; one through a macro in macro_includes; a
 * header-path macro never. */
static long resolve_include(const gsp_cg *cg, const cg_file *f, const gsp_cg_import *im) {
  if (im->level != 0) return -1;
  return gsp__cg_resolve_include_in(cg, f->path, im->kind, im->module, NULL, NULL);
}

/* dir/<dotted as path> as a module: .py, .pyi, /__init__.py, /__init__.pyi */
static long py_module(const gsp_cg *cg, const char *dir, size_t dl, const char *dotted) {
  char buf[PATH_MAX_CG];
  size_t n = dl, ml = strlen(dotted);
  if (dl + ml + 16 >= PATH_MAX_CG) return -1;
  memcpy(buf, dir, dl);
  if (ml) {
    if (n) buf[n++] = '/';
    for (size_t i = 0; i < ml; i++) buf[n++] = dotted[i] == '.' ? '/' : dotted[i];
  }
  static const char *const suffix[] = {".py", ".pyi", "/__init__.py", "/__init__.pyi"};
  for (size_t s = ml ? 0 : 2; s < 4; s++) {
    const char *sf = n == 0 && s >= 2 ? suffix[s] + 1 : suffix[s];
    size_t sl = strlen(sf);
    memcpy(buf + n, sf, sl + 1);
    long t = gsp__cg_lookup(cg, buf, n + sl);
    if (t >= 0) return t;
  }
  return -1;
}

/* The parent of the outermost package holding path (length of that dir). */
static size_t source_root(const gsp_cg *cg, const char *path) {
  size_t d = gsp__cg_dir_len(path);
  char buf[PATH_MAX_CG];
  while (d > 0 && d + 13 < PATH_MAX_CG) {
    memcpy(buf, path, d);
    memcpy(buf + d, "/__init__.py", 13);
    if (gsp__cg_lookup(cg, buf, d + 12) < 0) break;
    const char *s = gsp__cg_last_slash(path, d);
    d = s ? (size_t)(s - path) : 0;
  }
  return d;
}

/* module (dotted) under base: the module, or for `from module import name`
 * the submodule module.name when it exists. */
static long resolve_under(const gsp_cg *cg, const gsp_cg_import *im, const char *base, size_t bl,
                          const char *module) {
  long m = py_module(cg, base, bl, module);
  if (im->kind == GSP_CG_IMPORT_FROM && im->name[0] != '*' && (m >= 0 || module[0] == '\0')) {
    char sub[PATH_MAX_CG];
    int k = snprintf(sub, sizeof sub, "%s%s%s", module, module[0] ? "." : "", im->name);
    long s = k > 0 && (size_t)k < sizeof sub ? py_module(cg, base, bl, sub) : -1;
    if (s >= 0) m = s;
  }
  return m;
}

static long resolve_py(const gsp_cg *cg, const cg_file *f, const gsp_cg_import *im) {
  char base[PATH_MAX_CG];
  size_t bl;
  if (im->level > 0) {
    bl = gsp__cg_dir_len(f->path);
    memcpy(base, f->path, bl);
    base[bl] = '\0';
    for (uint32_t up = 1; up < im->level; up++)
      if (!gsp__cg_path_append(base, &bl, "..", 2)) return -1;
    return resolve_under(cg, im, base, bl, im->module);
  }
  bl = source_root(cg, f->path);
  memcpy(base, f->path, bl);
  base[bl] = '\0';
  long t = resolve_under(cg, im, base, bl, im->module);
  if (t < 0 && bl > 0) t = resolve_under(cg, im, "", 0, im->module); /* the analysis root */
  /* the root is itself a package (analyzing .../email): email.x is x */
  size_t pl = cg->root_pkg ? strlen(cg->root_pkg) : 0;
  if (t < 0 && pl && strncmp(im->module, cg->root_pkg, pl) == 0 &&
      (im->module[pl] == '.' || im->module[pl] == '\0'))
    t = resolve_under(cg, im, "", 0, im->module + pl + (im->module[pl] == '.'));
  return t;
}

typedef struct resolve_job {
  gsp_cg *cg;
  cg_js_index ix;
} resolve_job;

static long resolve_one(const resolve_job *j, const cg_file *f, const gsp_cg_import *im, size_t k) {
  const gsp_cg *cg = j->cg;
  switch (f->lang) {
    case GSP_CG_LANG_C:
      return resolve_include(cg, f, im);
    case GSP_CG_LANG_PYTHON:
      return resolve_py(cg, f, im);
    default:
      return gsp__cg_resolve_js(cg, &j->ix, f, im,
                                (gsp__cg_imps(f->res)[k].pad[0] & CG_IMP_REQUIRE) != 0);
  }
}

static int resolve_range(void *user, size_t begin, size_t end) {
  const resolve_job *j = user;
  gsp_cg *cg = j->cg;
  for (size_t i = begin; i < end; i++) {
    cg_file *f = &cg->files[i];
    size_t n = f->res ? gsp_cg_result_nimports(f->res) : 0;
    if (n == 0) continue;
    f->imp_target = gsp_malloc(n * sizeof *f->imp_target);
    if (f->imp_target == NULL) return GSP_ENOMEM;
    for (size_t k = 0; k < n; k++) {
      gsp_cg_import im;
      gsp_cg_result_import(f->res, k, &im);
      long t = resolve_one(j, f, &im, k);
      f->imp_target[k] = (int32_t)t;
    }
  }
  return GSP_OK;
}

int gsp__cg_resolve_imports(gsp_cg *cg, gsp_exec *ex) {
  resolve_job j = {.cg = cg};
  int rv = gsp__cg_js_index_build(cg, &j.ix);
  if (rv == GSP_OK) rv = gsp__cg_for(ex, cg->nfiles, 0, resolve_range, &j);
  gsp__cg_js_index_free(&j.ix);
  if (rv == GSP_OK) rv = gsp__cg_macro_includes(cg);
  if (rv != GSP_OK) return rv;
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    size_t n = f->res ? gsp_cg_result_nimports(f->res) : 0;
    for (size_t k = 0; k < n; k++) cg->st.imports_resolved += f->imp_target[k] >= 0;
  }
  return GSP_OK;
}
