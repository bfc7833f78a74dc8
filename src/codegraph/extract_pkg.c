/*
 * extract_pkg.c - a package.json as a file of the graph: its entry points
 * are its imports.
 *
 * Why a file and not a side table: a package's entry point decides where
 * `import x from 'pkg'` leads, so it is an input of resolution. As a file
 * of the graph, package.json is hashed, cached and part of the resolution
 * key like every source file; an edited "main" can never leave a stale
 * resolution behind.
 *
 * Imports (kind MODULE, module = the path as written, relative to the
 * package's directory; name = where it came from):
 *   "exports": "./x.js"                         name "."
 *   "exports": {".": ..., "./sub": ...}         name the subpath
 *     where a value is a path, or conditions {"import"|"require"|"node"|
 *     "default": ...} (the first of these present, nested once)
 *   "main": "lib/x.js"                          name "main"
 * No definitions, no references. The line is the line of the key's first
 * occurrence in the text. Invalid JSON yields nothing and flags the file
 * (has_error). jansson's allocations do not go through the gsperf hooks.
 */
#include <jansson.h>
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

static void add_entry(pkg_text *t, const char *from, const char *path, const char *key) {
  if (path == NULL || path[0] == '\0') return;
  cg_imp_rec rec = {.kind = GSP_CG_IMPORT_MODULE, .line = key_line(t, key)};
  rec.module = gsp__cg_intern(t->b, path, strlen(path), NULL);
  rec.name = gsp__cg_intern(t->b, from, strlen(from), NULL);
  if (rec.module != 0) gsp__cg_add_import(t->b, &rec);
}

/* A path, or conditions: the first of the known conditions, nested once. */
static const char *target_of(json_t *v, int depth) {
  static const char *const conditions[] = {"import", "require", "node", "default"};
  if (json_is_string(v)) return json_string_value(v);
  if (!json_is_object(v) || depth > 1) return NULL;
  for (size_t i = 0; i < sizeof conditions / sizeof *conditions; i++) {
    const char *s = target_of(json_object_get(v, conditions[i]), depth + 1);
    if (s) return s;
  }
  return NULL;
}

static void exports(pkg_text *t, json_t *ex) {
  if (!json_is_object(ex) || json_object_size(ex) == 0) {
    add_entry(t, ".", target_of(ex, 0), "exports");
    return;
  }
  const char *key;
  json_t *v;
  bool subpaths = false;
  json_object_foreach(ex, key, v) subpaths = subpaths || key[0] == '.';
  if (!subpaths) { /* {"import": ..., "require": ...}: conditions for "." */
    add_entry(t, ".", target_of(ex, 0), "exports");
    return;
  }
  json_object_foreach(ex, key, v) {
    if (key[0] == '.' && strchr(key, '*') == NULL) add_entry(t, key, target_of(v, 0), key);
  }
}

bool gsp__cg_extract_pkg(const char *src, size_t len, cg_builder *b) {
  json_error_t err;
  json_t *root = json_loadb(src, len, 0, &err);
  if (root == NULL) return false;
  pkg_text t = {src, len, b};
  if (json_is_object(root)) {
    json_t *ex = json_object_get(root, "exports");
    if (ex) exports(&t, ex);
    json_t *main = json_object_get(root, "main");
    if (json_is_string(main)) add_entry(&t, "main", json_string_value(main), "main");
  }
  json_decref(root);
  return true;
}
