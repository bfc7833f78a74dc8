/*
 * extract_pkg.c - the JSON files of a JavaScript/TypeScript project as files
 * of the graph: package.json (entry points, subpath patterns, "#" imports)
 * and tsconfig.json / jsconfig.json (extends, baseUrl, paths).
 *
 * Why files and not side tables: where `import x from 'pkg'` or
 * `import y from '@app/y'` leads depends on these files, so they are
 * inputs of resolution. As files of the graph they are hashed, cached and
 * part of the resolution key like every source file; an edited "main" or
 * "paths" never leaves a stale resolution behind.
 *
 * Everything is recorded as an import (kind MODULE; module = the value as
 * written; name = the key; alias = the section). Level 0 marks a path the
 * resolver looks up as a file (an edge of the graph); level 2 marks a
 * setting or a pattern that names no one file (never resolved; the
 * resolver of the importing files reads it):
 *
 *   "main": "lib/x.js"                        name main              level 0
 *   "types": "x.d.ts" ("typings")             name types (typings)   level 0
 *   "exports": "./x.js"                       name .                 level 0
 *   "exports": {"./sub": ...}                 name ./sub             level 0
 *   "exports": {"./f-*": "./src/f-*.js"}      name ./f-*             level 2
 *     a value is a path, an array (every element in order: the resolver
 *     takes the first that exists) or conditions, matched as Node does: in
 *     the object's key order, the first active condition whose value names
 *     something, nested to any depth (8 levels). Active: node and default,
 *     and import for an ESM import (alias "") or require for a require()
 *     (alias "require", recorded only when its answer differs); a
 *     TypeScript importer adds types (alias "types" for an import,
 *     "types-require" for a require, each only when it changes the answer)
 *   "imports": {"#x": ..., "#y-*": ...}       name #x, #y-*; level 2
 *     values as for "exports", the same conditions per kind of reference,
 *     with aliases "imports" (an ESM import), "imports-types",
 *     "imports-require", "imports-types-require" (each only when it
 *     changes the answer, as above); a target may name a package
 *   "workspaces": ["packages/x-*"]            name workspaces        level 2
 *     (or {"packages": [...]}), one record per pattern
 *   "name": "@scope/pkg"                      name name              level 2
 *   "extends": "./tsconfig.base.json"         name extends           level 0
 *   "references": [{"path": "../core"}]       name references        level 0
 *   "compilerOptions": {"baseUrl": "."}       name baseUrl           level 2
 *     also "outDir" and "rootDir"             name outDir, rootDir   level 2
 *   "compilerOptions": {"rootDirs": ["src", "gen"]}
 *                                             name rootDirs, alias rootDirs,
 *                                             level 2, one per directory
 *   "compilerOptions": {"paths": {"@a-*": ["src/a-*", ...]}}
 *                                             name @a-*, alias paths, level 2,
 *                                             one import per target in order
 *
 * tsconfig files allow comments and trailing commas: both are overwritten
 * with spaces (newlines kept, so lines stay) before jansson parses the
 * text; a copy is made only when there is something to remove. Invalid
 * JSON yields one import, name "error", module "line L: <jansson's
 * message>", level 2, and flags the file (has_error), so the file and line
 * of a real error are in the graph. The line of an entry is the line of its
 * key's first occurrence in the text. jansson's allocations do not go
 * through the gsperf hooks.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cg_int.h"

typedef struct pkg_text {
  const char *src;
  size_t len;
  cg_builder *b;
} pkg_text;

/* 1-based line of the first "key" in the text, 1 if not found. */
static uint32_t key_line(const pkg_text *t, const char *key) {
  size_t kl = strlen(key);
  for (const char *p = t->src; (p = memchr(p, '"', t->len - (size_t)(p - t->src))) != NULL; p++) {
    if ((size_t)(t->src + t->len - p) < kl + 2) break;
    if (memcmp(p + 1, key, kl) == 0 && p[kl + 1] == '"') {
      uint32_t line = 1;
      for (const char *q = t->src; q < p; q++) line += *q == '\n';
      return line;
    }
  }
  return 1;
}

static void add_rec(pkg_text *t, const char *name, const char *alias, const char *value,
                    uint32_t level, uint32_t line) {
  if (value == NULL || value[0] == '\0') return;
  cg_imp_rec rec = {.kind = GSP_CG_IMPORT_MODULE, .line = line, .level = (uint8_t)level};
  rec.module = gsp__cg_intern(t->b, value, strlen(value), NULL);
  rec.name = gsp__cg_intern(t->b, name, strlen(name), NULL);
  if (alias[0]) rec.alias = gsp__cg_intern(t->b, alias, strlen(alias), NULL);
  if (rec.module != 0) gsp__cg_add_import(t->b, &rec);
}

/* An entry point or a pattern: a pattern (a '*' in the key) is level 2. */
static void add_entry(pkg_text *t, const char *from, const char *alias, const char *path,
                      const char *key) {
  add_rec(t, from, alias, path, strchr(from, '*') ? 2 : 0, key_line(t, key));
}

/* ---- export targets: Node's condition matching ---- */

#define PKG_MAX_TARGETS 16
#define PKG_MAX_NEST 8

/* The targets a value names, in the order to try them. */
typedef struct pkg_targets {
  const char *v[PKG_MAX_TARGETS];
  size_t n;
} pkg_targets;

/* The conditions a reference activates (Node's: "node" and "default"
 * always, "import" for an ESM import, "require" for a require() call;
 * TypeScript adds "types"). */
typedef struct pkg_conds {
  bool types, require;
} pkg_conds;

static bool active_condition(const char *key, pkg_conds c) {
  if (strcmp(key, "node") == 0 || strcmp(key, "default") == 0) return true;
  if (strcmp(key, c.require ? "require" : "import") == 0) return true;
  return c.types && strcmp(key, "types") == 0;
}

/* Collect the targets of v: a path; an array, every element in order (the
 * first that resolves wins); conditions, in the object's key order the
 * first active one whose value names something (Node skips one that names
 * nothing and goes on). */
static void collect_targets(json_t *v, pkg_conds c, int depth, pkg_targets *out) {
  if (depth > PKG_MAX_NEST || out->n == PKG_MAX_TARGETS) return;
  if (json_is_string(v)) {
    out->v[out->n++] = json_string_value(v);
  } else if (json_is_array(v)) {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) collect_targets(e, c, depth + 1, out);
  } else if (json_is_object(v)) {
    const char *key;
    json_t *e;
    json_object_foreach(v, key, e) {
      size_t before = out->n;
      if (active_condition(key, c)) collect_targets(e, c, depth + 1, out);
      if (out->n > before) return;
    }
  }
}

static bool same_targets(const pkg_targets *a, const pkg_targets *b) {
  if (a->n != b->n) return false;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->v[i], b->v[i]) != 0) return false;
  return true;
}

/* The aliases of a section's records per kind of reference, and whether
 * they are settings (level 2: "imports", whose targets may be packages) or
 * entry points (level 0, a pattern 2: "exports"). */
typedef struct pkg_section {
  const char *imp, *types, *req, *types_req;
  bool settings;
} pkg_section;

static const pkg_section exports_section = {"", "types", "require", "types-require", false};
static const pkg_section imports_section = {"imports", "imports-types", "imports-require",
                                            "imports-types-require", true};

static void add_targets(pkg_text *t, const char *from, const pkg_section *sec, const char *alias,
                        const pkg_targets *tg, const char *key) {
  for (size_t i = 0; i < tg->n; i++) {
    if (sec->settings)
      add_rec(t, from, alias, tg->v[i], 2, key_line(t, key));
    else
      add_entry(t, from, alias, tg->v[i], key);
  }
}

/* Entry `from` of value v in section sec, per kind of reference: what an
 * ESM import gets (sec->imp), and only where the answer differs: a
 * TypeScript import (sec->types), a require() (sec->req), a TypeScript
 * require (sec->types_req, when it differs from the require() answer). The
 * "types" targets come first, so a reader of the old layout finds what it
 * did. */
static void entry_per_kind(pkg_text *t, const pkg_section *sec, const char *from, json_t *v,
                           const char *key) {
  pkg_targets imp = {0}, typed = {0}, req = {0}, treq = {0};
  collect_targets(v, (pkg_conds){false, false}, 0, &imp);
  collect_targets(v, (pkg_conds){true, false}, 0, &typed);
  collect_targets(v, (pkg_conds){false, true}, 0, &req);
  collect_targets(v, (pkg_conds){true, true}, 0, &treq);
  bool req_own = !same_targets(&imp, &req);
  if (!same_targets(&imp, &typed)) add_targets(t, from, sec, sec->types, &typed, key);
  add_targets(t, from, sec, sec->imp, &imp, key);
  if (req_own) add_targets(t, from, sec, sec->req, &req, key);
  if (!same_targets(req_own ? &req : &imp, &treq))
    add_targets(t, from, sec, sec->types_req, &treq, key);
}

static void exports(pkg_text *t, json_t *ex) {
  const char *key;
  json_t *v;
  bool subpaths = false;
  if (json_is_object(ex)) {
    json_object_foreach(ex, key, v) subpaths = subpaths || key[0] == '.';
  }
  if (!subpaths) { /* a path, an array, or conditions: all for "." */
    entry_per_kind(t, &exports_section, ".", ex, "exports");
    return;
  }
  json_object_foreach(ex, key, v) {
    if (key[0] == '.') entry_per_kind(t, &exports_section, key, v, key);
  }
}

/* "imports": {"#x": target, "#y-*": pattern}: targets chosen per kind of
 * reference as for "exports", recorded as settings (level 2). */
static void imports(pkg_text *t, json_t *im) {
  const char *key;
  json_t *v;
  if (!json_is_object(im)) return;
  json_object_foreach(im, key, v) {
    if (key[0] == '#') entry_per_kind(t, &imports_section, key, v, key);
  }
}

/* "workspaces": ["packages/x-*"] or {"packages": [...]}: one pattern each. */
static void workspaces(pkg_text *t, json_t *ws) {
  if (json_is_object(ws)) ws = json_object_get(ws, "packages");
  if (!json_is_array(ws)) return;
  size_t i;
  json_t *p;
  uint32_t line = key_line(t, "workspaces");
  json_array_foreach(ws, i, p) {
    if (json_is_string(p)) add_rec(t, "workspaces", "", json_string_value(p), 2, line);
  }
}

/* "references": [{"path": "../core"}]: the referenced projects. */
static void references(pkg_text *t, json_t *refs) {
  size_t i;
  json_t *r;
  if (!json_is_array(refs)) return;
  uint32_t line = key_line(t, "references");
  json_array_foreach(refs, i, r) {
    json_t *path = json_is_object(r) ? json_object_get(r, "path") : NULL;
    if (json_is_string(path)) add_rec(t, "references", "", json_string_value(path), 0, line);
  }
}

/* A string setting of compilerOptions, as a level 2 record. */
static void setting(pkg_text *t, json_t *co, const char *name) {
  json_t *v = json_object_get(co, name);
  if (json_is_string(v)) add_rec(t, name, "", json_string_value(v), 2, key_line(t, name));
}

static void compiler_options(pkg_text *t, json_t *co) {
  json_t *paths = json_object_get(co, "paths");
  setting(t, co, "baseUrl");
  setting(t, co, "outDir");
  setting(t, co, "rootDir");
  json_t *rd = json_object_get(co, "rootDirs");
  size_t ri;
  json_t *dir;
  if (json_is_array(rd)) {
    uint32_t line = key_line(t, "rootDirs");
    json_array_foreach(rd, ri, dir) {
      if (json_is_string(dir)) add_rec(t, "rootDirs", "rootDirs", json_string_value(dir), 2, line);
    }
  }
  const char *key;
  json_t *v;
  if (!json_is_object(paths)) return;
  json_object_foreach(paths, key, v) {
    size_t i;
    json_t *target;
    uint32_t line = key_line(t, key);
    if (!json_is_array(v)) continue;
    json_array_foreach(v, i, target) {
      if (json_is_string(target)) add_rec(t, key, "paths", json_string_value(target), 2, line);
    }
  }
}

/* ---- comments and trailing commas ---- */

/* Length of the string literal at s[0] == '"' (quotes included). */
static size_t string_len(const char *s, size_t n) {
  size_t i = 1;
  while (i < n && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
  return i < n ? i + 1 : n;
}

/* Length of the comment at s (s[0] == '/'), 0 when it is not one (an
 * unterminated block comment is left for the JSON parser to refuse). */
static size_t comment_len(const char *s, size_t n) {
  if (n < 2 || (s[1] != '/' && s[1] != '*')) return 0;
  size_t i = 2;
  if (s[1] == '/') {
    while (i < n && s[i] != '\n') i++;
    return i;
  }
  while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/')) i++;
  return i + 1 < n ? i + 2 : 0;
}

/* Whether the comma at s[0] only precedes blanks and a closing bracket. */
static bool trailing_comma(const char *s, size_t n) {
  size_t i = 1;
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i < n && (s[i] == '}' || s[i] == ']');
}

/* Overwrite comments (newlines kept) and trailing commas with spaces.
 * Comments go first, so a comma before a comment is seen as trailing. */
static void blank_json(char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    if (s[i] == '"') {
      i += string_len(s + i, n - i);
      continue;
    }
    size_t l = s[i] == '/' ? comment_len(s + i, n - i) : 0;
    for (size_t k = i; k < i + l; k++)
      if (s[k] != '\n') s[k] = ' ';
    i += l ? l : 1;
  }
  for (size_t i = 0; i < n;) {
    if (s[i] == '"') {
      i += string_len(s + i, n - i);
      continue;
    }
    if (s[i] == ',' && trailing_comma(s + i, n - i)) s[i] = ' ';
    i++;
  }
}

/* Whether src has a comment or a trailing comma outside its strings. */
static bool needs_blanking(const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    if (s[i] == '"') {
      i += string_len(s + i, n - i);
      continue;
    }
    if ((s[i] == '/' && comment_len(s + i, n - i)) || (s[i] == ',' && trailing_comma(s + i, n - i)))
      return true;
    i++;
  }
  return false;
}

static void add_error(pkg_text *t, const json_error_t *err) {
  char msg[256];
  snprintf(msg, sizeof msg, "line %d: %s", err->line, err->text);
  add_rec(t, "error", "", msg, 2, err->line > 0 ? (uint32_t)err->line : 1);
}

static void extract_root(pkg_text *t, json_t *root) {
  if (!json_is_object(root)) return;
  json_t *ex = json_object_get(root, "exports");
  if (ex) exports(t, ex);
  json_t *main = json_object_get(root, "main");
  if (json_is_string(main)) add_entry(t, "main", "", json_string_value(main), "main");
  static const char *const typings[] = {"types", "typings"};
  for (size_t i = 0; i < 2; i++) {
    json_t *ty = json_object_get(root, typings[i]);
    if (json_is_string(ty)) add_entry(t, typings[i], "", json_string_value(ty), typings[i]);
  }
  imports(t, json_object_get(root, "imports"));
  json_t *ext = json_object_get(root, "extends");
  if (json_is_string(ext))
    add_rec(t, "extends", "", json_string_value(ext), 0, key_line(t, "extends"));
  json_t *co = json_object_get(root, "compilerOptions");
  if (json_is_object(co)) compiler_options(t, co);
  references(t, json_object_get(root, "references"));
  workspaces(t, json_object_get(root, "workspaces"));
  json_t *name = json_object_get(root, "name");
  if (json_is_string(name)) add_rec(t, "name", "", json_string_value(name), 2, key_line(t, "name"));
}

bool gsp__cg_extract_pkg(const char *src, size_t len, cg_builder *b) {
  char *copy = NULL;
  if (needs_blanking(src, len)) {
    copy = gsp_malloc(len ? len : 1);
    if (copy == NULL) {
      b->err = GSP_ENOMEM;
      return false;
    }
    memcpy(copy, src, len);
    blank_json(copy, len);
  }
  pkg_text t = {src, len, b};
  json_error_t err;
  json_t *root = json_loadb(copy ? copy : src, len, 0, &err);
  gsp_free(copy);
  if (root == NULL) {
    add_error(&t, &err);
    return false;
  }
  extract_root(&t, root);
  json_decref(root);
  return true;
}
