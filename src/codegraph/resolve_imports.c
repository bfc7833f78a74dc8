/*
 * resolve_imports.c - imports to files.
 *
 * C: #include "x" is looked up relative to the including file's directory,
 * then in each include directory (gsp_cg_config.include_dirs, in order),
 * then at the root; #include <x> skips the file's own directory. Python:
 * a relative import (level n) starts from the file's package, n-1
 * directories up; an absolute one from the file's source root (the parent
 * of its outermost package, found by walking up while __init__.py exists),
 * then from the analysis root. A module a.b is a/b.py, a/b.pyi or
 * a/b/__init__.py. `from m import x` points at the submodule m/x when that
 * exists, else at m (x is then a name defined in m).
 *
 * JavaScript/TypeScript: a relative specifier from the file's directory:
 * as written, with each extension (TypeScript's first from a TypeScript
 * file), as its TypeScript twin (./x.js -> x.ts), as a directory's index,
 * as a package directory (its package.json entry). A bare specifier that
 * is no Node built-in: first through the nearest tsconfig.json or
 * jsconfig.json (its "paths", following "extends"; the best pattern's
 * targets in order, from "baseUrl" when one is set, else from the config
 * that holds the paths; then "baseUrl" itself), then node_modules/<pkg> in
 * the file's directory and each one above it, through that package.json's
 * "exports" (exact subpath, else the pattern with the longest prefix; the
 * "types" condition first for a TypeScript importer) / "main", else as a
 * path. `#x` goes through the "imports" of the nearest package.json. A
 * package.json's own entries resolve from its directory; a tsconfig's
 * "extends" names its base config (a relative path, ".json" implied).
 * These JSON files are files of the graph, so their content is part of
 * the resolution key like any source file's.
 *
 * Only files inside the analyzed tree can be targets: an include of a
 * system header outside it stays unresolved. Paths are normalized ("." and
 * ".." folded) and never climb above the root. Parallel over files; each
 * file's answers go into its own array, read-only use of everything else.
 */
#include <stdio.h>
#include <string.h>

#include "cg_int.h"

#define PATH_MAX_CG 4096

/* The last '/' in s[0, n), or NULL. */
static const char *last_slash(const char *s, size_t n) {
  while (n > 0)
    if (s[--n] == '/') return s + n;
  return NULL;
}

/* Append rel to out (holding a normalized relative dir of length n); fold
 * "." and ".."; false if it climbs above the root or is too long. */
static bool path_append(char *out, size_t *n, const char *rel, size_t rl) {
  size_t len = *n;
  const char *p = rel, *end = rel + rl;
  while (p < end) {
    const char *s = memchr(p, '/', (size_t)(end - p));
    size_t cl = (size_t)((s ? s : end) - p);
    if (cl == 2 && p[0] == '.' && p[1] == '.') {
      if (len == 0) return false;
      const char *slash = last_slash(out, len);
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

static size_t dir_len(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? (size_t)(s - path) : 0;
}

static long try_at(const gsp_cg *cg, const char *dir, size_t dl, const char *rel) {
  char buf[PATH_MAX_CG];
  if (dl >= PATH_MAX_CG) return -1;
  memcpy(buf, dir, dl);
  buf[dl] = '\0';
  size_t n = dl;
  if (!path_append(buf, &n, rel, strlen(rel))) return -1;
  return gsp__cg_lookup(cg, buf, n);
}

static long resolve_include(const gsp_cg *cg, const cg_file *f, const gsp_cg_import *im) {
  long t = -1;
  if (im->kind == GSP_CG_IMPORT_INCLUDE_QUOTED)
    t = try_at(cg, f->path, dir_len(f->path), im->module);
  for (size_t i = 0; t < 0 && i < cg->cfg.n_include_dirs; i++)
    if (cg->incs[i]) t = try_at(cg, cg->incs[i], strlen(cg->incs[i]), im->module);
  if (t < 0) t = try_at(cg, "", 0, im->module);
  return t;
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
  size_t d = dir_len(path);
  char buf[PATH_MAX_CG];
  while (d > 0 && d + 13 < PATH_MAX_CG) {
    memcpy(buf, path, d);
    memcpy(buf + d, "/__init__.py", 13);
    if (gsp__cg_lookup(cg, buf, d + 12) < 0) break;
    const char *s = last_slash(path, d);
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
    bl = dir_len(f->path);
    memcpy(base, f->path, bl);
    base[bl] = '\0';
    for (uint32_t up = 1; up < im->level; up++)
      if (!path_append(base, &bl, "..", 2)) return -1;
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

/* ---- JavaScript / TypeScript ---- */

static const char *const js_exts[] = {".js",  ".jsx",  ".mjs", ".cjs", ".ts",
                                      ".tsx", ".d.ts", ".mts", ".cts"};
static const char *const ts_exts[] = {".ts", ".tsx", ".d.ts", ".mts", ".cts",
                                      ".js", ".jsx", ".mjs",  ".cjs"};
/* TypeScript sources import their compiled names: './x.js' is x.ts. */
static const char *const ts_for_js[][2] = {
    {".js", ".ts"}, {".js", ".tsx"}, {".jsx", ".tsx"}, {".mjs", ".mts"}, {".cjs", ".cts"}};

static bool ends_with(const char *s, size_t n, const char *x) {
  size_t xl = strlen(x);
  return n >= xl && memcmp(s + n - xl, x, xl) == 0;
}

/* base[0,n) + suffix as a file, or -1. */
static long with_suffix(const gsp_cg *cg, const char *base, size_t n, const char *suffix) {
  char buf[PATH_MAX_CG];
  size_t sl = strlen(suffix);
  if (n + sl + 1 >= PATH_MAX_CG) return -1;
  memcpy(buf, base, n);
  memcpy(buf + n, suffix, sl + 1);
  return gsp__cg_lookup(cg, buf, n + sl);
}

/* The module file for the path buf[0,n) (normalized, relative to root): the
 * path itself, with an extension, its TypeScript twin, or its index file. */
static long js_file(const gsp_cg *cg, gsp_cg_lang lang, const char *buf, size_t n) {
  const char *const *ext = lang == GSP_CG_LANG_JS ? js_exts : ts_exts;
  const size_t next = sizeof js_exts / sizeof *js_exts;
  long t = n ? gsp__cg_lookup(cg, buf, n) : -1;
  for (size_t i = 0; t < 0 && n && i < next; i++) t = with_suffix(cg, buf, n, ext[i]);
  for (size_t i = 0; t < 0 && i < sizeof ts_for_js / sizeof *ts_for_js; i++)
    if (ends_with(buf, n, ts_for_js[i][0]))
      t = with_suffix(cg, buf, n - strlen(ts_for_js[i][0]), ts_for_js[i][1]);
  for (size_t i = 0; t < 0 && i < next; i++) {
    char idx[16];
    snprintf(idx, sizeof idx, "%sindex%s", n ? "/" : "", ext[i]);
    t = with_suffix(cg, buf, n, idx);
  }
  return t;
}

static bool node_builtin(const char *spec) {
  static const char *const names[] = {"assert",      "async_hooks", "buffer",     "child_process",
                                      "cluster",     "console",     "crypto",     "dgram",
                                      "dns",         "events",      "fs",         "http",
                                      "http2",       "https",       "module",     "net",
                                      "os",          "path",        "perf_hooks", "process",
                                      "querystring", "readline",    "stream",     "string_decoder",
                                      "timers",      "tls",         "tty",        "url",
                                      "util",        "v8",          "vm",         "worker_threads",
                                      "zlib"};
  if (strncmp(spec, "node:", 5) == 0) return true;
  size_t n = strcspn(spec, "/");
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strlen(names[i]) == n && strncmp(spec, names[i], n) == 0) return true;
  return false;
}

/* ---- package.json and tsconfig.json settings (extract_pkg.c) ---- */

/* Whether spec matches pattern key (at most one '*'); *star, *star_len: the
 * part the '*' stands for (NULL for an exact key). */
static bool key_match(const char *key, const char *spec, const char **star, size_t *star_len) {
  const char *st = strchr(key, '*');
  *star = NULL, *star_len = 0;
  if (st == NULL) return strcmp(key, spec) == 0;
  size_t pl = (size_t)(st - key), sl = strlen(st + 1), n = strlen(spec);
  if (n < pl + sl || strncmp(spec, key, pl) != 0 || strcmp(spec + n - sl, st + 1) != 0)
    return false;
  *star = spec + pl, *star_len = n - pl - sl;
  return true;
}

/* The key of JSON file jf's entries in section alias ("" for exports) that
 * spec matches: an exact key, else the pattern with the longest prefix
 * (Node's and TypeScript's rule). NULL when none matches. */
static const char *best_key(const cg_file *jf, const char *alias, const char *spec) {
  size_t n = jf->res ? gsp_cg_result_nimports(jf->res) : 0;
  const char *best = NULL;
  size_t best_prefix = 0;
  for (size_t i = 0; i < n; i++) {
    gsp_cg_import im;
    gsp_cg_result_import(jf->res, i, &im);
    const char *star;
    size_t sl;
    if (strcmp(im.alias, alias) != 0 || !key_match(im.name, spec, &star, &sl)) continue;
    if (star == NULL) return im.name;
    size_t prefix = (size_t)(strchr(im.name, '*') - im.name);
    if (best == NULL || prefix > best_prefix) best = im.name, best_prefix = prefix;
  }
  return best;
}

/* value with its '*' replaced by star[0,sl), into out. */
static bool substitute(const char *value, const char *star, size_t sl, char *out, size_t cap) {
  const char *st = star ? strchr(value, '*') : NULL;
  int k = st ? snprintf(out, cap, "%.*s%.*s%s", (int)(st - value), value, (int)sl, star, st + 1)
             : snprintf(out, cap, "%s", value);
  return k >= 0 && (size_t)k < cap;
}

static long dir_package(const gsp_cg *cg, gsp_cg_lang lang, char *buf, size_t n);

/* rel (a path) from the directory dir[0,dl): a module file, or with dirs
 * also a package directory. A package's own entries never take a
 * directory as a package (`"main": "."` would lead back to itself). */
static long module_at(const gsp_cg *cg, gsp_cg_lang lang, const char *dir, size_t dl,
                      const char *rel, bool dirs) {
  char buf[PATH_MAX_CG];
  size_t n = dl;
  if (dl >= PATH_MAX_CG) return -1;
  memcpy(buf, dir, dl);
  buf[n] = '\0';
  if (!path_append(buf, &n, rel, strlen(rel))) return -1;
  long t = js_file(cg, lang, buf, n);
  return t >= 0 || !dirs ? t : dir_package(cg, lang, buf, n);
}

/* The targets of key in section alias of jf, in order, with spec's '*'
 * part put in, from the directory base[0,bl): the first that exists. */
static long key_targets(const gsp_cg *cg, gsp_cg_lang lang, const cg_file *jf, const char *alias,
                        const char *key, const char *spec, const char *base, size_t bl, bool dirs) {
  const char *star;
  size_t sl;
  key_match(key, spec, &star, &sl);
  size_t n = gsp_cg_result_nimports(jf->res);
  for (size_t i = 0; i < n; i++) {
    gsp_cg_import im;
    char rel[PATH_MAX_CG];
    gsp_cg_result_import(jf->res, i, &im);
    if (strcmp(im.alias, alias) != 0 || strcmp(im.name, key) != 0 ||
        !substitute(im.module, star, sl, rel, sizeof rel))
      continue;
    long t = module_at(cg, lang, base, bl, rel, dirs);
    if (t >= 0) return t;
  }
  return -1;
}

/* An entry of package.json file pj for subpath sub ("." for the package
 * itself): the file its "exports" (exact, else a pattern; a TypeScript
 * importer tries the "types" condition first) or, for ".", its "main"
 * names. */
static long package_entry(const gsp_cg *cg, gsp_cg_lang lang, long pj, const char *sub) {
  const cg_file *f = &cg->files[pj];
  if (f->res == NULL) return -1;
  size_t dl = dir_len(f->path);
  static const char *const sections[] = {"types", ""};
  for (size_t s = lang == GSP_CG_LANG_JS ? 1 : 0; s < 2; s++) {
    const char *key = best_key(f, sections[s], sub);
    long t = key ? key_targets(cg, lang, f, sections[s], key, sub, f->path, dl, false) : -1;
    if (t >= 0) return t;
  }
  return strcmp(sub, ".") == 0 ? key_targets(cg, lang, f, "", "main", "main", f->path, dl, false)
                               : -1;
}

/* The directory buf[0,n) as a package: the entry its package.json names. */
static long dir_package(const gsp_cg *cg, gsp_cg_lang lang, char *buf, size_t n) {
  long pj = path_append(buf, &n, "package.json", 12) ? gsp__cg_lookup(cg, buf, n) : -1;
  return pj >= 0 ? package_entry(cg, lang, pj, ".") : -1;
}

/* The nearest file named name (or name2) in f's directory or above. */
static long nearest(const gsp_cg *cg, const cg_file *f, const char *name, const char *name2) {
  char buf[PATH_MAX_CG];
  size_t dl = dir_len(f->path);
  for (;;) {
    for (int k = 0; k < 2; k++) {
      size_t n = dl;
      memcpy(buf, f->path, dl);
      buf[n] = '\0';
      const char *nm = k == 0 ? name : name2;
      long t = nm && path_append(buf, &n, nm, strlen(nm)) ? gsp__cg_lookup(cg, buf, n) : -1;
      if (t >= 0) return t;
    }
    if (dl == 0) return -1;
    const char *s = last_slash(f->path, dl);
    dl = s ? (size_t)(s - f->path) : 0;
  }
}

static long js_package(const gsp_cg *cg, const cg_file *f, const char *spec);

/* `#x` through the "imports" of the nearest package.json: a relative
 * target from the package's directory, a bare one as a package. */
static long hash_import(const gsp_cg *cg, const cg_file *f, const char *spec) {
  long pj = nearest(cg, f, "package.json", NULL);
  const cg_file *jf = pj >= 0 ? &cg->files[pj] : NULL;
  const char *key = jf && jf->res ? best_key(jf, "imports", spec) : NULL;
  if (key == NULL) return -1;
  const char *star;
  size_t sl, n = gsp_cg_result_nimports(jf->res);
  key_match(key, spec, &star, &sl);
  for (size_t i = 0; i < n; i++) {
    gsp_cg_import im;
    char rel[PATH_MAX_CG];
    gsp_cg_result_import(jf->res, i, &im);
    if (strcmp(im.alias, "imports") != 0 || strcmp(im.name, key) != 0 ||
        !substitute(im.module, star, sl, rel, sizeof rel))
      continue;
    long t = rel[0] == '.' ? module_at(cg, f->lang, jf->path, dir_len(jf->path), rel, true)
                           : js_package(cg, f, rel);
    if (t >= 0) return t;
  }
  return -1;
}

/* A tsconfig's "extends" as a file: a relative path, with ".json" added
 * when it names none. A package's tsconfig (a bare name) is not followed. */
static long extends_target(const gsp_cg *cg, const cg_file *jf, const char *rel) {
  if (rel[0] != '.') return -1;
  char buf[PATH_MAX_CG];
  size_t n = dir_len(jf->path);
  memcpy(buf, jf->path, n);
  buf[n] = '\0';
  if (!path_append(buf, &n, rel, strlen(rel))) return -1;
  long t = gsp__cg_lookup(cg, buf, n);
  return t >= 0 ? t : with_suffix(cg, buf, n, ".json");
}

/* The settings of a tsconfig with its extends chain: the nearest config
 * that has "paths" and the nearest that has "baseUrl" (the value). */
typedef struct ts_conf {
  long paths_cfg, base_cfg;
  const char *base_url;
} ts_conf;

static void ts_conf_load(const gsp_cg *cg, long cfg, ts_conf *c) {
  c->paths_cfg = c->base_cfg = -1, c->base_url = NULL;
  for (int depth = 0; cfg >= 0 && depth < 8 && cg->files[cfg].res; depth++) {
    const cg_file *jf = &cg->files[cfg];
    long next = -1;
    for (size_t i = 0; i < gsp_cg_result_nimports(jf->res); i++) {
      gsp_cg_import im;
      gsp_cg_result_import(jf->res, i, &im);
      if (strcmp(im.alias, "paths") == 0 && c->paths_cfg < 0) c->paths_cfg = cfg;
      if (strcmp(im.name, "baseUrl") == 0 && im.level == 2 && c->base_cfg < 0)
        c->base_cfg = cfg, c->base_url = im.module;
      if (strcmp(im.name, "extends") == 0 && im.level == 0)
        next = extends_target(cg, jf, im.module);
    }
    cfg = next == cfg ? -1 : next;
  }
}

/* A bare specifier through the nearest tsconfig.json / jsconfig.json:
 * "paths" (from baseUrl when set, else from the config that has them),
 * then baseUrl itself. */
static long ts_paths(const gsp_cg *cg, const cg_file *f, const char *spec) {
  ts_conf c;
  ts_conf_load(cg, nearest(cg, f, "tsconfig.json", "jsconfig.json"), &c);
  char base[PATH_MAX_CG];
  size_t bl = 0;
  if (c.base_cfg >= 0) {
    const char *p = cg->files[c.base_cfg].path;
    bl = dir_len(p);
    memcpy(base, p, bl);
    base[bl] = '\0';
    if (!path_append(base, &bl, c.base_url, strlen(c.base_url))) return -1;
  }
  if (c.paths_cfg >= 0) {
    const cg_file *pf = &cg->files[c.paths_cfg];
    const char *key = best_key(pf, "paths", spec);
    long t = -1;
    if (key && c.base_cfg >= 0)
      t = key_targets(cg, f->lang, pf, "paths", key, spec, base, bl, true);
    else if (key)
      t = key_targets(cg, f->lang, pf, "paths", key, spec, pf->path, dir_len(pf->path), true);
    if (t >= 0) return t;
  }
  return c.base_cfg >= 0 ? module_at(cg, f->lang, base, bl, spec, true) : -1;
}

/* The length of the package name at the start of a bare specifier
 * ("pkg", "@scope/pkg"). */
static size_t package_name_len(const char *spec) {
  size_t n = strcspn(spec, "/");
  if (spec[0] == '@' && spec[n] == '/') n += 1 + strcspn(spec + n + 1, "/");
  return n;
}

/* A bare specifier: node_modules/<pkg> in the file's directory or any
 * directory above it, inside the tree: the entry its package.json names
 * for the subpath, else the path itself as a module (extensions, index). */
static long js_package(const gsp_cg *cg, const cg_file *f, const char *spec) {
  char buf[PATH_MAX_CG], sub[PATH_MAX_CG];
  size_t dl = dir_len(f->path), pn = package_name_len(spec);
  snprintf(sub, sizeof sub, ".%s", spec + pn);
  for (;;) {
    size_t n = dl;
    memcpy(buf, f->path, dl);
    buf[n] = '\0';
    if (path_append(buf, &n, "node_modules", 12) && path_append(buf, &n, spec, pn)) {
      size_t pkg_len = n;
      long pj = path_append(buf, &n, "package.json", 12) ? gsp__cg_lookup(cg, buf, n) : -1;
      long t = pj >= 0 ? package_entry(cg, f->lang, pj, sub) : -1;
      buf[pkg_len] = '\0', n = pkg_len;
      if (t < 0 && path_append(buf, &n, spec + pn, strlen(spec + pn)))
        t = js_file(cg, f->lang, buf, n);
      if (t >= 0) return t;
    }
    if (dl == 0) return -1;
    const char *s = last_slash(f->path, dl);
    dl = s ? (size_t)(s - f->path) : 0;
  }
}

static long resolve_js(const gsp_cg *cg, const cg_file *f, const gsp_cg_import *im) {
  const char *spec = im->module;
  bool relative = spec[0] == '.' && (spec[1] == '/' || spec[1] == '\0' ||
                                     (spec[1] == '.' && (spec[2] == '/' || spec[2] == '\0')));
  if (spec[0] == '#') return hash_import(cg, f, spec);
  if (!relative) {
    if (node_builtin(spec) || spec[0] == '/') return -1;
    long t = ts_paths(cg, f, spec);
    return t >= 0 ? t : js_package(cg, f, spec);
  }
  char buf[PATH_MAX_CG];
  size_t n = dir_len(f->path);
  memcpy(buf, f->path, n);
  buf[n] = '\0';
  if (!path_append(buf, &n, spec, strlen(spec))) return -1;
  long t = js_file(cg, f->lang, buf, n);
  if (t < 0) t = dir_package(cg, f->lang, buf, n); /* require('../'): the directory's package */
  return t;
}

/* A package.json's entry point, relative to its directory; a tsconfig's
 * "extends". Settings and patterns (level 2) name no one file. */
static long resolve_entry(const gsp_cg *cg, const cg_file *f, const gsp_cg_import *im) {
  if (im->level == 2) return -1;
  if (strcmp(im->name, "extends") == 0) return extends_target(cg, f, im->module);
  char buf[PATH_MAX_CG];
  size_t n = dir_len(f->path);
  memcpy(buf, f->path, n);
  buf[n] = '\0';
  if (!path_append(buf, &n, im->module, strlen(im->module))) return -1;
  return js_file(cg, GSP_CG_LANG_JS, buf, n);
}

static long resolve_one(const gsp_cg *cg, const cg_file *f, const gsp_cg_import *im) {
  switch (f->lang) {
    case GSP_CG_LANG_JSON:
      return resolve_entry(cg, f, im);
    case GSP_CG_LANG_C:
      return resolve_include(cg, f, im);
    case GSP_CG_LANG_PYTHON:
      return resolve_py(cg, f, im);
    default:
      return resolve_js(cg, f, im);
  }
}

static int resolve_range(void *user, size_t begin, size_t end) {
  gsp_cg *cg = user;
  for (size_t i = begin; i < end; i++) {
    cg_file *f = &cg->files[i];
    size_t n = f->res ? gsp_cg_result_nimports(f->res) : 0;
    if (n == 0) continue;
    f->imp_target = gsp_malloc(n * sizeof *f->imp_target);
    if (f->imp_target == NULL) return GSP_ENOMEM;
    for (size_t k = 0; k < n; k++) {
      gsp_cg_import im;
      gsp_cg_result_import(f->res, k, &im);
      long t = resolve_one(cg, f, &im);
      f->imp_target[k] = (int32_t)t;
    }
  }
  return GSP_OK;
}

int gsp__cg_resolve_imports(gsp_cg *cg, gsp_exec *ex) {
  int rv = gsp__cg_for(ex, cg->nfiles, 0, resolve_range, cg);
  if (rv != GSP_OK) return rv;
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    size_t n = f->res ? gsp_cg_result_nimports(f->res) : 0;
    for (size_t k = 0; k < n; k++) cg->st.imports_resolved += f->imp_target[k] >= 0;
  }
  return GSP_OK;
}
