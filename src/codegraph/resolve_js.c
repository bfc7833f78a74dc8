/*
 * resolve_js.c - JavaScript/TypeScript imports to files, and the entries
 * of package.json / tsconfig.json files.
 *
 * A relative specifier from the file's directory; when nothing is there
 * and the importer's tsconfig has "rootDirs", the same place inside each
 * other root directory (the one holding the path found by longest match).
 * A module path (relative,
 * or a target of any rule below) is tried as: the source of a referenced
 * project's output (below), the path as written, with each extension
 * (TypeScript's first from a TypeScript file), as its TypeScript twin
 * (./x.js -> x.ts), as a package directory (its package.json entry; not
 * for a package's own entries: `"main": "."` would lead back to itself),
 * then as a directory's index with each extension (Node's order).
 *
 * A bare specifier that is no Node built-in: first through the nearest
 * tsconfig.json or jsconfig.json ("paths", following "extends"; the best
 * pattern's targets in order, from "baseUrl" when one is set, else from
 * the config that holds the paths; then "baseUrl" itself), then the
 * workspace package of that name (npm/yarn "workspaces": the package.json
 * whose "name" it is, in a directory a pattern of a package.json above the
 * importer names; what a package manager links into node_modules, taken at
 * its real path as Node and tsc do), then the importer's own package by
 * its name (Node's self-reference: the nearest package.json, when it has
 * "exports"), then node_modules/<pkg> in the file's directory and each one
 * above it. A package's entry: its "exports" (exact
 * subpath, else the pattern with the longest prefix; a target list in
 * order; the condition variant of the reference's kind first: "types" for
 * a TypeScript import, "require" for a require(), "types-require" for a
 * TypeScript require(), see package_entry), else for
 * the package itself "types"/"typings" (TypeScript importer) and "main",
 * else the path inside the package as a module. `#x` goes through the
 * "imports" of the nearest package.json: the key chosen as for "exports",
 * then the targets of the reference's kind (the same condition variants,
 * recorded with aliases "imports", "imports-types", "imports-require",
 * "imports-types-require").
 *
 * Project references: when the importer's nearest tsconfig lists
 * "references", a module path inside a referenced project's "outDir" is
 * first mapped to its source under that project's "rootDir" (default: the
 * referenced config's directory, as for a composite project; both through
 * its "extends" chain, relative to the config that sets them): dist/x.js,
 * dist/x.d.ts and dist/x become src/x.ts (or .tsx, ...). tsc does the same
 * (the editor's "source of project reference redirect"); the outputs are
 * usually not in the tree at all.
 *
 * A package.json's own entries resolve from its directory; a tsconfig's
 * "extends" names its base config (a relative path, ".json" implied), each
 * "references" path a config file or a directory holding tsconfig.json.
 * These JSON files are files of the graph, so their content is part of the
 * resolution key like any source file's.
 *
 * The workspace index (every workspace member, sorted by name) is built
 * once per run before the parallel resolution; everything else is a
 * read-only walk over the results, safe from many threads.
 */
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolve_int.h"

/* One resolution: the importer and what it resolves with. */
typedef struct js_ctx {
  const gsp_cg *cg;
  const cg_js_index *ix;
  const cg_file *f;
  gsp_cg_lang lang; /* the importer's (JS for a JSON file's own entries) */
  long cfg;         /* the importer's nearest tsconfig/jsconfig, -1 if none */
  bool require;     /* a require() (CG_IMP_REQUIRE), not an import */
} js_ctx;

static const char *const js_exts[] = {".js",  ".jsx",  ".mjs", ".cjs", ".ts",
                                      ".tsx", ".d.ts", ".mts", ".cts"};
static const char *const ts_exts[] = {".ts", ".tsx", ".d.ts", ".mts", ".cts",
                                      ".js", ".jsx", ".mjs",  ".cjs"};
#define NEXTS (sizeof js_exts / sizeof *js_exts)
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

/* buf[0,n) as a file: as written, with an extension, as its TypeScript twin. */
static long js_file(const js_ctx *x, const char *buf, size_t n) {
  const char *const *ext = x->lang == GSP_CG_LANG_JS ? js_exts : ts_exts;
  long t = n ? gsp__cg_lookup(x->cg, buf, n) : -1;
  for (size_t i = 0; t < 0 && n && i < NEXTS; i++) t = with_suffix(x->cg, buf, n, ext[i]);
  for (size_t i = 0; t < 0 && i < sizeof ts_for_js / sizeof *ts_for_js; i++)
    if (ends_with(buf, n, ts_for_js[i][0]))
      t = with_suffix(x->cg, buf, n - strlen(ts_for_js[i][0]), ts_for_js[i][1]);
  return t;
}

/* The directory buf[0,n)'s index file. */
static long js_index_file(const js_ctx *x, const char *buf, size_t n) {
  const char *const *ext = x->lang == GSP_CG_LANG_JS ? js_exts : ts_exts;
  long t = -1;
  for (size_t i = 0; t < 0 && i < NEXTS; i++) {
    char idx[16];
    snprintf(idx, sizeof idx, "%sindex%s", n ? "/" : "", ext[i]);
    t = with_suffix(x->cg, buf, n, idx);
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

/* The value of the level 2 setting `name` of JSON file cfg, or NULL. */
static const char *setting_of(const gsp_cg *cg, long cfg, const char *name) {
  const cg_file *jf = &cg->files[cfg];
  for (size_t i = 0; jf->res && i < gsp_cg_result_nimports(jf->res); i++) {
    gsp_cg_import im;
    gsp_cg_result_import(jf->res, i, &im);
    if (im.level == 2 && strcmp(im.name, name) == 0 && im.alias[0] == '\0') return im.module;
  }
  return NULL;
}

/* dir(file cfg) + rel, normalized, into out (*n its length). */
static bool from_config(const gsp_cg *cg, long cfg, const char *rel, char *out, size_t *n) {
  const char *p = cg->files[cfg].path;
  *n = gsp__cg_dir_len(p);
  memcpy(out, p, *n);
  out[*n] = '\0';
  return gsp__cg_path_append(out, n, rel, strlen(rel));
}

/* A tsconfig's "extends" as a file: a relative path, with ".json" added
 * when it names none. A package's tsconfig (a bare name) is not followed. */
static long extends_target(const gsp_cg *cg, const cg_file *jf, const char *rel) {
  if (rel[0] != '.') return -1;
  char buf[PATH_MAX_CG];
  size_t n = gsp__cg_dir_len(jf->path);
  memcpy(buf, jf->path, n);
  buf[n] = '\0';
  if (!gsp__cg_path_append(buf, &n, rel, strlen(rel))) return -1;
  long t = gsp__cg_lookup(cg, buf, n);
  return t >= 0 ? t : with_suffix(cg, buf, n, ".json");
}

/* A "references" path as a config: the file itself, else the directory's
 * tsconfig.json. */
static long reference_target(const gsp_cg *cg, const cg_file *jf, const char *rel) {
  char buf[PATH_MAX_CG];
  size_t n = gsp__cg_dir_len(jf->path);
  memcpy(buf, jf->path, n);
  buf[n] = '\0';
  if (!gsp__cg_path_append(buf, &n, rel, strlen(rel))) return -1;
  long t = ends_with(buf, n, ".json") ? gsp__cg_lookup(cg, buf, n) : -1;
  return t >= 0 ? t : with_suffix(cg, buf, n, n ? "/tsconfig.json" : "tsconfig.json");
}

/* The settings of a tsconfig with its extends chain: for each, the nearest
 * config of the chain that sets it. */
enum { TS_PATHS, TS_ROOT_DIRS, TS_BASE_URL, TS_OUT_DIR, TS_ROOT_DIR, TS__COUNT };
typedef struct ts_conf {
  long cfg[TS__COUNT];          /* the config that sets it, -1 if none */
  const char *value[TS__COUNT]; /* its value (NULL for paths) */
} ts_conf;

static void ts_conf_load(const gsp_cg *cg, long cfg, ts_conf *c) {
  static const char *const names[TS__COUNT] = {NULL, NULL, "baseUrl", "outDir", "rootDir"};
  for (int s = 0; s < TS__COUNT; s++) c->cfg[s] = -1, c->value[s] = NULL;
  for (int depth = 0; cfg >= 0 && depth < 8 && cg->files[cfg].res; depth++) {
    const cg_file *jf = &cg->files[cfg];
    long next = -1;
    for (size_t i = 0; i < gsp_cg_result_nimports(jf->res); i++) {
      gsp_cg_import im;
      gsp_cg_result_import(jf->res, i, &im);
      if (strcmp(im.alias, "paths") == 0 && c->cfg[TS_PATHS] < 0) c->cfg[TS_PATHS] = cfg;
      if (strcmp(im.alias, "rootDirs") == 0 && c->cfg[TS_ROOT_DIRS] < 0) c->cfg[TS_ROOT_DIRS] = cfg;
      for (int s = TS_BASE_URL; s < TS__COUNT; s++)
        if (im.level == 2 && strcmp(im.name, names[s]) == 0 && c->cfg[s] < 0)
          c->cfg[s] = cfg, c->value[s] = im.module;
      if (strcmp(im.name, "extends") == 0 && im.level == 0)
        next = extends_target(cg, jf, im.module);
    }
    cfg = next == cfg ? -1 : next;
  }
}

/* ---- module paths ---- */

static long dir_package(const js_ctx *x, char *buf, size_t n);

/* buf[0,n) inside referenced project rc's outDir: its source, or -1. */
static long project_source(const js_ctx *x, long rc, const char *buf, size_t n) {
  ts_conf c;
  char out[PATH_MAX_CG], src[PATH_MAX_CG];
  size_t ol, sl;
  ts_conf_load(x->cg, rc, &c);
  if (c.cfg[TS_OUT_DIR] < 0 ||
      !from_config(x->cg, c.cfg[TS_OUT_DIR], c.value[TS_OUT_DIR], out, &ol) || ol == 0 || n < ol ||
      memcmp(buf, out, ol) != 0 || (n > ol && buf[ol] != '/'))
    return -1; /* no outDir, the whole tree as one (never mapped), or not inside it */
  bool root_set = c.cfg[TS_ROOT_DIR] >= 0;
  if (!from_config(x->cg, root_set ? c.cfg[TS_ROOT_DIR] : rc, root_set ? c.value[TS_ROOT_DIR] : ".",
                   src, &sl))
    return -1;
  const char *rest = buf + ol + (n > ol);
  size_t rl = n - (size_t)(rest - buf);
  if (ends_with(rest, rl, ".d.ts")) rl -= 5; /* a declaration output: its .ts */
  if (!gsp__cg_path_append(src, &sl, rest, rl)) return -1;
  long t = js_file(x, src, sl);
  return t >= 0 ? t : js_index_file(x, src, sl);
}

/* buf[0,n) through the project references of the importer's config. */
static long referenced_source(const js_ctx *x, const char *buf, size_t n) {
  const cg_file *jf = x->cfg >= 0 ? &x->cg->files[x->cfg] : NULL;
  size_t ni = jf && jf->res ? gsp_cg_result_nimports(jf->res) : 0;
  for (size_t i = 0; i < ni; i++) {
    gsp_cg_import im;
    gsp_cg_result_import(jf->res, i, &im);
    if (strcmp(im.name, "references") != 0 || im.level != 0) continue;
    long rc = reference_target(x->cg, jf, im.module);
    long t = rc >= 0 && rc != x->cfg ? project_source(x, rc, buf, n) : -1;
    if (t >= 0) return t;
  }
  return -1;
}

/* The module at the normalized path buf[0,n): see the comment at the top.
 * dirs: a directory's package.json counts. */
static long js_path(const js_ctx *x, char *buf, size_t n, bool dirs) {
  long t = referenced_source(x, buf, n);
  if (t < 0) t = js_file(x, buf, n);
  if (t < 0 && dirs) t = dir_package(x, buf, n);
  if (t < 0) t = js_index_file(x, buf, n);
  return t;
}

/* rel (a path) from the directory dir[0,dl), as a module. */
static long module_at(const js_ctx *x, const char *dir, size_t dl, const char *rel, bool dirs) {
  char buf[PATH_MAX_CG];
  size_t n = dl;
  if (dl >= PATH_MAX_CG) return -1;
  memcpy(buf, dir, dl);
  buf[n] = '\0';
  if (!gsp__cg_path_append(buf, &n, rel, strlen(rel))) return -1;
  return js_path(x, buf, n, dirs);
}

/* The targets of key in section alias of jf, in order, with spec's '*'
 * part put in, from the directory base[0,bl): the first that exists. */
static long key_targets(const js_ctx *x, const cg_file *jf, const char *alias, const char *key,
                        const char *spec, const char *base, size_t bl, bool dirs) {
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
    long t = module_at(x, base, bl, rel, dirs);
    if (t >= 0) return t;
  }
  return -1;
}

/* The sections of a package.json's records that a reference of x's kind
 * reads, nearest first ("exports", or "imports" for `#x`): extract_pkg.c
 * records a variant only where it differs from the next one. */
static const char *const *kind_sections(const js_ctx *x, bool imports) {
  static const char *const by_kind[2][2][2][4] = {
      {                                                                /* "exports" */
       {{"", NULL}, {"require", "", NULL}},                            /* JavaScript */
       {{"types", "", NULL}, {"types-require", "require", "", NULL}}}, /* TypeScript */
      {                                                                /* "imports" */
       {{"imports", NULL}, {"imports-require", "imports", NULL}},
       {{"imports-types", "imports", NULL},
        {"imports-types-require", "imports-require", "imports", NULL}}}};
  return by_kind[imports][x->lang != GSP_CG_LANG_JS][x->require];
}

/* The key spec matches in any of sections: an exact one, else the pattern
 * with the longest prefix. The key is chosen before the conditions, as
 * Node does; NULL when none matches. */
static const char *kind_key(const cg_file *jf, const char *const *sections, const char *spec) {
  const char *best = NULL;
  size_t best_prefix = 0;
  for (size_t s = 0; sections[s]; s++) {
    const char *k = best_key(jf, sections[s], spec);
    if (k == NULL) continue;
    const char *st = strchr(k, '*');
    if (st == NULL) return k;
    if (best == NULL || (size_t)(st - k) > best_prefix) best = k, best_prefix = (size_t)(st - k);
  }
  return best;
}

/* An entry of package.json file pj for subpath sub ("." for the package
 * itself): the file its "exports" (exact, else a pattern; the condition
 * variants of the reference's kind in order, kind_sections) or, for ".",
 * its "types" / "typings" (TypeScript importer) and "main" names. */
static long package_entry(const js_ctx *x, long pj, const char *sub) {
  const cg_file *f = &x->cg->files[pj];
  if (f->res == NULL) return -1;
  size_t dl = gsp__cg_dir_len(f->path);
  bool ts = x->lang != GSP_CG_LANG_JS;
  const char *const *sections = kind_sections(x, false);
  const char *key = kind_key(f, sections, sub);
  for (size_t s = 0; key && sections[s]; s++) {
    long t = key_targets(x, f, sections[s], key, sub, f->path, dl, false);
    if (t >= 0) return t;
  }
  if (strcmp(sub, ".") != 0) return -1;
  static const char *const fields[] = {"types", "typings", "main"};
  for (size_t i = ts ? 0 : 2; i < 3; i++) {
    long t = key_targets(x, f, "", fields[i], fields[i], f->path, dl, false);
    if (t >= 0) return t;
  }
  return -1;
}

/* The directory buf[0,n) as a package: the entry its package.json names. */
static long dir_package(const js_ctx *x, char *buf, size_t n) {
  size_t n0 = n;
  long pj = gsp__cg_path_append(buf, &n, "package.json", 12) ? gsp__cg_lookup(x->cg, buf, n) : -1;
  buf[n0] = '\0';
  return pj >= 0 ? package_entry(x, pj, ".") : -1;
}

/* The nearest file named name (or name2) in f's directory or above. */
static long nearest(const gsp_cg *cg, const cg_file *f, const char *name, const char *name2) {
  char buf[PATH_MAX_CG];
  size_t dl = gsp__cg_dir_len(f->path);
  for (;;) {
    for (int k = 0; k < 2; k++) {
      size_t n = dl;
      memcpy(buf, f->path, dl);
      buf[n] = '\0';
      const char *nm = k == 0 ? name : name2;
      long t = nm && gsp__cg_path_append(buf, &n, nm, strlen(nm)) ? gsp__cg_lookup(cg, buf, n) : -1;
      if (t >= 0) return t;
    }
    if (dl == 0) return -1;
    const char *s = gsp__cg_last_slash(f->path, dl);
    dl = s ? (size_t)(s - f->path) : 0;
  }
}

/* ---- bare specifiers ---- */

static long js_package(const js_ctx *x, const char *spec);

/* The targets of key in section alias of package.json jf, in order, with
 * spec's '*' part put in: the first that exists (a relative target from
 * the package's directory, a bare one as a package). */
static long import_targets(const js_ctx *x, const cg_file *jf, const char *alias, const char *key,
                           const char *spec) {
  const char *star;
  size_t sl, n = gsp_cg_result_nimports(jf->res);
  key_match(key, spec, &star, &sl);
  for (size_t i = 0; i < n; i++) {
    gsp_cg_import im;
    char rel[PATH_MAX_CG];
    gsp_cg_result_import(jf->res, i, &im);
    if (strcmp(im.alias, alias) != 0 || strcmp(im.name, key) != 0 ||
        !substitute(im.module, star, sl, rel, sizeof rel))
      continue;
    long t = rel[0] == '.' ? module_at(x, jf->path, gsp__cg_dir_len(jf->path), rel, true)
                           : js_package(x, rel);
    if (t >= 0) return t;
  }
  return -1;
}

/* `#x` through the "imports" of the nearest package.json: the key as for
 * "exports", then the condition variants of the reference's kind in order
 * (kind_sections). */
static long hash_import(const js_ctx *x, const char *spec) {
  long pj = nearest(x->cg, x->f, "package.json", NULL);
  const cg_file *jf = pj >= 0 ? &x->cg->files[pj] : NULL;
  if (jf == NULL || jf->res == NULL) return -1;
  const char *const *sections = kind_sections(x, true);
  const char *key = kind_key(jf, sections, spec);
  for (size_t s = 0; key && sections[s]; s++) {
    long t = import_targets(x, jf, sections[s], key, spec);
    if (t >= 0) return t;
  }
  return -1;
}

/* A bare specifier through the importer's tsconfig / jsconfig: "paths"
 * (from baseUrl when set, else from the config that has them), then
 * baseUrl itself. */
static long ts_paths(const js_ctx *x, const char *spec) {
  ts_conf c;
  ts_conf_load(x->cg, x->cfg, &c);
  char base[PATH_MAX_CG];
  size_t bl = 0;
  long bc = c.cfg[TS_BASE_URL], pc = c.cfg[TS_PATHS];
  if (bc >= 0 && !from_config(x->cg, bc, c.value[TS_BASE_URL], base, &bl)) return -1;
  if (pc >= 0) {
    const cg_file *pf = &x->cg->files[pc];
    const char *key = best_key(pf, "paths", spec);
    long t = -1;
    if (key && bc >= 0)
      t = key_targets(x, pf, "paths", key, spec, base, bl, true);
    else if (key)
      t = key_targets(x, pf, "paths", key, spec, pf->path, gsp__cg_dir_len(pf->path), true);
    if (t >= 0) return t;
  }
  return bc >= 0 ? module_at(x, base, bl, spec, true) : -1;
}

/* The length of the package name at the start of a bare specifier
 * ("pkg", "@scope/pkg"). */
static size_t package_name_len(const char *spec) {
  size_t n = strcspn(spec, "/");
  if (spec[0] == '@' && spec[n] == '/') n += 1 + strcspn(spec + n + 1, "/");
  return n;
}

/* Whether directory dir[0,dl) ("" = the root) holds path. */
static bool dir_holds(const char *dir, size_t dl, const char *path) {
  return dl == 0 || (strncmp(path, dir, dl) == 0 && path[dl] == '/');
}

/* The entry of package pj's directory for subpath spec + pn (or the path
 * inside the package as a module). */
static long package_at(const js_ctx *x, long pj, const char *spec, size_t pn) {
  char sub[PATH_MAX_CG], buf[PATH_MAX_CG];
  snprintf(sub, sizeof sub, ".%s", spec + pn);
  long t = package_entry(x, pj, sub);
  if (t >= 0) return t;
  const char *p = x->cg->files[pj].path;
  size_t n = gsp__cg_dir_len(p);
  memcpy(buf, p, n);
  buf[n] = '\0';
  if (!gsp__cg_path_append(buf, &n, spec + pn, strlen(spec + pn))) return -1;
  return js_path(x, buf, n, false);
}

/* A bare specifier as a workspace package of a workspace holding the
 * importer (the nearest such workspace when several are). */
static long workspace_package(const js_ctx *x, const char *spec) {
  const cg_js_index *ix = x->ix;
  size_t pn = package_name_len(spec), lo = 0, hi = ix ? ix->n : 0;
  char name[PATH_MAX_CG];
  if (pn >= sizeof name || hi == 0) return -1;
  memcpy(name, spec, pn);
  name[pn] = '\0';
  while (lo < hi) { /* the first member named name or after it */
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(ix->m[mid].name, name) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  long best = -1;
  size_t best_dl = 0;
  for (size_t i = lo; i < ix->n && strcmp(ix->m[i].name, name) == 0; i++) {
    const char *root = x->cg->files[ix->m[i].root].path;
    size_t dl = gsp__cg_dir_len(root);
    if (dir_holds(root, dl, x->f->path) && (best < 0 || dl > best_dl))
      best = ix->m[i].pj, best_dl = dl;
  }
  return best >= 0 ? package_at(x, best, spec, pn) : -1;
}

/* Whether package.json pj has "exports" (entries whose key is a subpath). */
static bool has_exports(const gsp_cg *cg, long pj) {
  const gsp_cg_result *r = cg->files[pj].res;
  for (size_t i = 0; r && i < gsp_cg_result_nimports(r); i++) {
    gsp_cg_import im;
    gsp_cg_result_import(r, i, &im);
    if (im.name[0] == '.' && gsp__cg_exports_alias(im.alias)) return true;
  }
  return false;
}

/* A package naming itself (Node's self-reference: the nearest package.json
 * has that "name" and "exports"). */
static long self_package(const js_ctx *x, const char *spec) {
  long pj = nearest(x->cg, x->f, "package.json", NULL);
  const char *name = pj >= 0 ? setting_of(x->cg, pj, "name") : NULL;
  size_t pn = package_name_len(spec);
  if (name == NULL || strlen(name) != pn || strncmp(name, spec, pn) != 0 || !has_exports(x->cg, pj))
    return -1;
  return package_at(x, pj, spec, pn);
}

/* A bare specifier: node_modules/<pkg> in the file's directory or any
 * directory above it, inside the tree. */
static long js_package(const js_ctx *x, const char *spec) {
  char buf[PATH_MAX_CG];
  const char *path = x->f->path;
  size_t dl = gsp__cg_dir_len(path), pn = package_name_len(spec);
  for (;;) {
    size_t n = dl;
    memcpy(buf, path, dl);
    buf[n] = '\0';
    if (gsp__cg_path_append(buf, &n, "node_modules", 12) &&
        gsp__cg_path_append(buf, &n, spec, pn) &&
        gsp__cg_path_append(buf, &n, "package.json", 12)) {
      long pj = gsp__cg_lookup(x->cg, buf, n), t = -1;
      if (pj >= 0) {
        t = package_at(x, pj, spec, pn);
      } else { /* no package.json: the path itself */
        n = dl;
        buf[n] = '\0';
        if (gsp__cg_path_append(buf, &n, "node_modules", 12) &&
            gsp__cg_path_append(buf, &n, spec, strlen(spec)))
          t = js_path(x, buf, n, false);
      }
      if (t >= 0) return t;
    }
    if (dl == 0) return -1;
    const char *s = gsp__cg_last_slash(path, dl);
    dl = s ? (size_t)(s - path) : 0;
  }
}

/* The rootDirs entry k of config rc (relative to rc's directory) into
 * out; false when there is no entry k or it leaves the tree. */
static bool root_dir_at(const gsp_cg *cg, long rc, size_t k, char *out, size_t *n, bool *more) {
  const cg_file *jf = &cg->files[rc];
  size_t seen = 0;
  *more = false;
  for (size_t i = 0; i < gsp_cg_result_nimports(jf->res); i++) {
    gsp_cg_import im;
    gsp_cg_result_import(jf->res, i, &im);
    if (strcmp(im.alias, "rootDirs") != 0 || seen++ != k) continue;
    *more = true;
    return from_config(cg, rc, im.module, out, n);
  }
  return false;
}

/* A relative specifier that names no file where it points: tsconfig
 * "rootDirs" merge directories into one virtual directory, so the path
 * it points at inside one of them (the longest that holds it) is looked
 * up at the same place inside each of the others, in the order listed. */
static long root_dirs(const js_ctx *x, const char *spec) {
  ts_conf c;
  ts_conf_load(x->cg, x->cfg, &c);
  long rc = c.cfg[TS_ROOT_DIRS];
  char cand[PATH_MAX_CG], rd[PATH_MAX_CG], buf[PATH_MAX_CG];
  size_t cn = gsp__cg_dir_len(x->f->path), rn, best = SIZE_MAX, best_len = 0;
  if (rc < 0) return -1;
  memcpy(cand, x->f->path, cn);
  cand[cn] = '\0';
  if (!gsp__cg_path_append(cand, &cn, spec, strlen(spec))) return -1;
  bool more = true;
  for (size_t k = 0; more; k++) /* the longest rootDir holding the path */
    if (root_dir_at(x->cg, rc, k, rd, &rn, &more) && dir_holds(rd, rn, cand) &&
        (best == SIZE_MAX || rn > best_len))
      best = k, best_len = rn;
  if (best == SIZE_MAX) return -1;
  const char *rest = cand + best_len + (best_len > 0);
  more = true;
  for (size_t k = 0; more; k++) {
    size_t n;
    if (k == best || !root_dir_at(x->cg, rc, k, buf, &n, &more)) continue;
    if (!gsp__cg_path_append(buf, &n, rest, strlen(rest))) continue;
    long t = js_path(x, buf, n, true);
    if (t >= 0) return t;
  }
  return -1;
}

static long resolve_spec(const js_ctx *x, const char *spec) {
  bool relative = spec[0] == '.' && (spec[1] == '/' || spec[1] == '\0' ||
                                     (spec[1] == '.' && (spec[2] == '/' || spec[2] == '\0')));
  if (spec[0] == '#') return hash_import(x, spec);
  if (!relative) {
    if (node_builtin(spec) || spec[0] == '/') return -1;
    long t = ts_paths(x, spec);
    if (t < 0) t = workspace_package(x, spec);
    if (t < 0) t = self_package(x, spec);
    return t >= 0 ? t : js_package(x, spec);
  }
  long t = module_at(x, x->f->path, gsp__cg_dir_len(x->f->path), spec, true);
  return t >= 0 ? t : root_dirs(x, spec);
}

/* A package.json's entry point, relative to its directory; a tsconfig's
 * "extends" and "references". Settings and patterns (level 2) name no one
 * file. */
static long resolve_entry(const js_ctx *x, const gsp_cg_import *im) {
  if (im->level == 2) return -1;
  if (strcmp(im->name, "extends") == 0) return extends_target(x->cg, x->f, im->module);
  if (strcmp(im->name, "references") == 0) return reference_target(x->cg, x->f, im->module);
  char buf[PATH_MAX_CG];
  size_t n = gsp__cg_dir_len(x->f->path);
  memcpy(buf, x->f->path, n);
  buf[n] = '\0';
  if (!gsp__cg_path_append(buf, &n, im->module, strlen(im->module))) return -1;
  long t = js_file(x, buf, n);
  return t >= 0 ? t : js_index_file(x, buf, n);
}

bool gsp__cg_exports_alias(const char *alias) {
  return alias[0] == '\0' || strcmp(alias, "types") == 0 || strcmp(alias, "require") == 0 ||
         strcmp(alias, "types-require") == 0;
}

long gsp__cg_resolve_js(const gsp_cg *cg, const cg_js_index *ix, const cg_file *f,
                        const gsp_cg_import *im, bool require) {
  js_ctx x = {.cg = cg, .ix = ix, .f = f, .lang = f->lang, .cfg = -1, .require = require};
  if (f->lang == GSP_CG_LANG_JSON) {
    x.lang = GSP_CG_LANG_JS;
    return resolve_entry(&x, im);
  }
  x.cfg = nearest(cg, f, "tsconfig.json", "jsconfig.json");
  return resolve_spec(&x, im->module);
}

/* ---- the workspace index ---- */

static bool is_package_json(const cg_file *f) {
  const char *base = strrchr(f->path, '/');
  return f->lang == GSP_CG_LANG_JSON && f->res &&
         strcmp(base ? base + 1 : f->path, "package.json") == 0;
}

/* Whether directory rel (relative to a workspace root) matches pattern
 * pat: a glob over '/'-separated names ("packages/x-*", "apps/<star>"), or
 * one ending in "/<star><star>" (any directory below the part before it). */
static bool ws_match(const char *pat, const char *rel) {
  char p[PATH_MAX_CG], r[PATH_MAX_CG];
  while (pat[0] == '.' && pat[1] == '/') pat += 2;
  size_t pl = strlen(pat);
  while (pl > 0 && pat[pl - 1] == '/') pl--;
  if (pl == 0 || pl >= sizeof p || strlen(rel) >= sizeof r) return false;
  memcpy(p, pat, pl);
  p[pl] = '\0';
  if (pl >= 2 && strcmp(p + pl - 2, "**") == 0 && (pl == 2 || p[pl - 3] == '/')) {
    if (pl == 2) return true;
    p[pl - 3] = '\0';
    memcpy(r, rel, strlen(rel) + 1);
    for (char *s = strchr(r, '/'); s; s = strchr(s + 1, '/')) { /* a proper ancestor matches */
      *s = '\0';
      bool m = fnmatch(p, r, FNM_PATHNAME) == 0;
      *s = '/';
      if (m) return true;
    }
    return false;
  }
  return fnmatch(p, rel, FNM_PATHNAME) == 0;
}

/* Whether root (a package.json with "workspaces") names the directory of
 * package.json pj: a pattern matches and no "!" pattern excludes it. */
static bool in_workspace(const gsp_cg *cg, uint32_t root, uint32_t pj) {
  const cg_file *rf = &cg->files[root];
  const char *rp = rf->path, *pp = cg->files[pj].path;
  size_t rl = gsp__cg_dir_len(rp), pl = gsp__cg_dir_len(pp);
  if (root == pj || pl <= rl || !dir_holds(rp, rl, pp)) return false;
  char rel[PATH_MAX_CG];
  const char *start = pp + rl + (rl > 0);
  size_t n = (size_t)(pp + pl - start);
  if (n >= sizeof rel) return false;
  memcpy(rel, start, n);
  rel[n] = '\0';
  bool in = false;
  for (size_t i = 0; i < gsp_cg_result_nimports(rf->res); i++) {
    gsp_cg_import im;
    gsp_cg_result_import(rf->res, i, &im);
    if (im.level != 2 || strcmp(im.name, "workspaces") != 0) continue;
    if (im.module[0] == '!' && ws_match(im.module + 1, rel)) return false;
    if (im.module[0] != '!' && ws_match(im.module, rel)) in = true;
  }
  return in;
}

static int cmp_member(const void *a, const void *b) {
  const cg_ws_member *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->root > y->root) - (x->root < y->root);
}

/* Append every workspace root's member pj (named name) to ix (room for
 * nroots more). */
static void add_members(const gsp_cg *cg, const uint32_t *roots, size_t nroots, uint32_t pj,
                        const char *name, cg_js_index *ix) {
  for (size_t r = 0; r < nroots; r++)
    if (in_workspace(cg, roots[r], pj)) ix->m[ix->n++] = (cg_ws_member){name, pj, roots[r]};
}

static bool is_workspace_root(const cg_file *jf) {
  for (size_t i = 0; i < gsp_cg_result_nimports(jf->res); i++) {
    gsp_cg_import im;
    gsp_cg_result_import(jf->res, i, &im);
    if (im.level == 2 && strcmp(im.name, "workspaces") == 0) return true;
  }
  return false;
}

int gsp__cg_js_index_build(const gsp_cg *cg, cg_js_index *ix) {
  size_t nroots = 0, npkg = 0, k = 0;
  ix->m = NULL, ix->n = 0;
  for (size_t f = 0; f < cg->nfiles; f++) {
    if (!is_package_json(&cg->files[f])) continue;
    nroots += is_workspace_root(&cg->files[f]);
    npkg += setting_of(cg, (long)f, "name") != NULL;
  }
  if (nroots == 0 || npkg == 0) return GSP_OK;
  uint32_t *roots = gsp_malloc(nroots * sizeof *roots);
  ix->m = gsp_malloc(npkg * nroots * sizeof *ix->m);
  if (roots == NULL || ix->m == NULL) {
    gsp_free(roots);
    gsp__cg_js_index_free(ix);
    return GSP_ENOMEM;
  }
  for (size_t f = 0; f < cg->nfiles; f++)
    if (is_package_json(&cg->files[f]) && is_workspace_root(&cg->files[f]))
      roots[k++] = (uint32_t)f;
  for (size_t f = 0; f < cg->nfiles; f++) {
    const char *name = is_package_json(&cg->files[f]) ? setting_of(cg, (long)f, "name") : NULL;
    if (name) add_members(cg, roots, nroots, (uint32_t)f, name, ix);
  }
  gsp_free(roots);
  qsort(ix->m, ix->n, sizeof *ix->m, cmp_member);
  return GSP_OK;
}

void gsp__cg_js_index_free(cg_js_index *ix) {
  gsp_free(ix->m);
  ix->m = NULL, ix->n = 0;
}
