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
 *   "exports": "./x.js"                       name .                 level 0
 *   "exports": {"./sub": ...}                 name ./sub             level 0
 *   "exports": {"./f-*": "./src/f-*.js"}      name ./f-*             level 2
 *     a value is a path or conditions: the first of import, require,
 *     node, default (nested once); a "types" condition is one more
 *     import with alias "types" (what a TypeScript importer prefers)
 *   "imports": {"#x": ..., "#y-*": ...}       name #x, #y-*; alias imports; level 2
 *   "extends": "./tsconfig.base.json"         name extends           level 0
 *   "compilerOptions": {"baseUrl": "."}       name baseUrl           level 2
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

/* The "types" condition of a value (at the top or nested once), or NULL. */
static const char *types_of(json_t *v) {
  json_t *ty = json_is_object(v) ? json_object_get(v, "types") : NULL;
  if (json_is_string(ty)) return json_string_value(ty);
  const char *key;
  json_t *c;
  if (!json_is_object(v)) return NULL;
  json_object_foreach(v, key, c) {
    ty = json_is_object(c) ? json_object_get(c, "types") : NULL;
    if (json_is_string(ty)) return json_string_value(ty);
  }
  return NULL;
}

static void entry_with_types(pkg_text *t, const char *from, json_t *v, const char *key) {
  add_entry(t, from, "types", types_of(v), key);
  add_entry(t, from, "", target_of(v, 0), key);
}

static void exports(pkg_text *t, json_t *ex) {
  const char *key;
  json_t *v;
  bool subpaths = false;
  if (json_is_object(ex)) {
    json_object_foreach(ex, key, v) subpaths = subpaths || key[0] == '.';
  }
  if (!subpaths) { /* a path, or {"import": ..., "require": ...}: conditions for "." */
    entry_with_types(t, ".", ex, "exports");
    return;
  }
  json_object_foreach(ex, key, v) {
    if (key[0] == '.') entry_with_types(t, key, v, key);
  }
}

/* "imports": {"#x": target, "#y-*": pattern} */
static void imports(pkg_text *t, json_t *im) {
  const char *key;
  json_t *v;
  if (!json_is_object(im)) return;
  json_object_foreach(im, key, v) {
    if (key[0] == '#') add_rec(t, key, "imports", target_of(v, 0), 2, key_line(t, key));
  }
}

static void compiler_options(pkg_text *t, json_t *co) {
  json_t *base = json_object_get(co, "baseUrl"), *paths = json_object_get(co, "paths");
  if (json_is_string(base))
    add_rec(t, "baseUrl", "", json_string_value(base), 2, key_line(t, "baseUrl"));
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
  imports(t, json_object_get(root, "imports"));
  json_t *ext = json_object_get(root, "extends");
  if (json_is_string(ext))
    add_rec(t, "extends", "", json_string_value(ext), 0, key_line(t, "extends"));
  json_t *co = json_object_get(root, "compilerOptions");
  if (json_is_object(co)) compiler_options(t, co);
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
