/*
 * c_macros.c - the C macro pre-pass: blank annotation macros before
 * tree-sitter sees the file.
 *
 * Why: tree-sitter parses C without a preprocessor, so a header written as
 *     extern int foo (int *__p) __THROW __nonnull ((1)) __wur;
 * is a syntax error to it (__THROW looks like a declarator), and errors
 * cost definitions. glibc, gcc and gnulib headers are full of such macros.
 *
 * What: every occurrence of a known annotation macro outside comments,
 * strings and preprocessor lines is overwritten with spaces, together with
 * its parenthesized argument list when it takes one. Spaces, never
 * deletions: the blanked text has the same length, newlines stay, so every
 * byte offset and line number the extractor reports is the original's.
 * Shapes:
 *   ATTR   the name and an optional (...) after it:  __THROW, __wur,
 *          __nonnull ((1)), __attr_access ((...)), any __attribute_*__ and
 *          __attr_*, _GL_ATTRIBUTE_*, _GL_ARG_NONNULL (...), __asm__ (...)
 *   UNWRAP the name and the outer parentheses, the inside stays:
 *          __NTH (f (int x)) -> f (int x); __P ((int)) -> (int)
 *   REDIR  __REDIRECT (name, proto, alias) -> name proto: the name, the
 *          "(", the first comma, and from the second comma to the ")"
 * Object-like macros the same file defines as empty or as
 * __attribute__ (...) or as another ATTR macro (`#define API`,
 * `#define MY_PURE __attribute__ ((pure))`) are ATTR from their #define on,
 * until an #undef or a function-like redefinition. All-caps names that
 * stand where C allows only a macro (before a type keyword at the start of
 * a declaration, between a type and a function's name: `GLAPI void
 * APIENTRY f (`) are blanked too, see "export macros known by their
 * place" below. Branches only a C++ compiler takes (`#ifdef __cplusplus` ...) are blanked whole,
 * see below. The pre-pass reads no other file: a result depends on the file's bytes alone, which is
 * what lets results be cached by content hash. A caller that knows the file's includes may hand it
 * the names they define (cg_macro_set.extra, filled by gsp__cg_c_learn_macros from each included
 * header: the same scan, keeping the header's own ATTR names at its end);
 * they are ATTR in the file too unless the file #defines or #undefs them,
 * and the result then depends on those headers as well. The same pass,
 * blanking nothing, is the parse stage's pre-scan (gsp__cg_c_note_macros:
 * a file's #include spellings, #undef'd names and the names it teaches,
 * for hmacro.c).
 *
 * Invariants: the output has the input's length and its newlines at the
 * same offsets; directive names of #define/#undef are never blanked (the
 * extractor still sees every macro definition outside dead branches).
 *
 * Cost: one pass over the bytes with a character-class test; a hash
 * lookup only for identifiers that start with '_' or match a name the file
 * defined. Nothing is copied until the first blank (then the whole file,
 * once). Reused scratch (the built-in table, the file's own names) lives
 * in the parser's cg_macro_set.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "extract.h"

enum { SHAPE_NONE = 0, SHAPE_ATTR, SHAPE_UNWRAP, SHAPE_REDIR };

#define MAX_ARGS_BYTES 8192 /* an argument list longer than this is left alone */

static const struct {
  const char *name;
  uint8_t shape;
} builtin[] = {
    {"__THROW", SHAPE_ATTR},
    {"__THROWNL", SHAPE_ATTR},
    {"__BEGIN_DECLS", SHAPE_ATTR},
    {"__END_DECLS", SHAPE_ATTR},
    {"__BEGIN_NAMESPACE_STD", SHAPE_ATTR},
    {"__END_NAMESPACE_STD", SHAPE_ATTR},
    {"__wur", SHAPE_ATTR},
    {"__nonnull", SHAPE_ATTR},
    {"__returns_nonnull", SHAPE_ATTR},
    {"__always_inline", SHAPE_ATTR},
    {"__extern_inline", SHAPE_ATTR},
    {"__extern_always_inline", SHAPE_ATTR},
    {"__fortify_function", SHAPE_ATTR},
    {"__fortified_attr_access", SHAPE_ATTR},
    {"__LEAF", SHAPE_ATTR},
    {"__LEAF_ATTR", SHAPE_ATTR},
    {"__COLD", SHAPE_ATTR},
    {"__warnattr", SHAPE_ATTR},
    {"__errorattr", SHAPE_ATTR},
    {"__asm__", SHAPE_ATTR},
    {"__asm", SHAPE_ATTR},
    {"__glibc_macro_warning", SHAPE_ATTR},
    {"__nonstring", SHAPE_ATTR},
    {"__declspec", SHAPE_ATTR},
    {"__NTH", SHAPE_UNWRAP},
    {"__NTHNL", SHAPE_UNWRAP},
    {"__P", SHAPE_UNWRAP},
    {"__PMT", SHAPE_UNWRAP},
    {"__REDIRECT", SHAPE_REDIR},
    {"__REDIRECT_NTH", SHAPE_REDIR},
    {"__REDIRECT_NTHNL", SHAPE_REDIR},
    {"__REDIRECT_LDBL", SHAPE_REDIR},
    {"__REDIRECT_NTH_LDBL", SHAPE_REDIR},
    {"__REDIRECT_FORTIFY", SHAPE_REDIR},
    {"__REDIRECT_FORTIFY_NTH", SHAPE_REDIR},
    {"_GL_UNUSED", SHAPE_ATTR},
    {"_GL_ATTRIBUTE_MAYBE_UNUSED", SHAPE_ATTR},
    {"_GL_INLINE", SHAPE_ATTR},
    {"_GL_EXTERN_INLINE", SHAPE_ATTR},
    {"_GL_ARG_NONNULL", SHAPE_ATTR},
    {"_GL_INLINE_HEADER_BEGIN", SHAPE_ATTR},
    {"_GL_INLINE_HEADER_END", SHAPE_ATTR},
    {"_GL_BEGIN_C_LINKAGE", SHAPE_ATTR},
    {"_GL_END_C_LINKAGE", SHAPE_ATTR},
};

/* Character class: 1 identifier start, 2 digit, 0 anything else. */
static inline int cls_of(unsigned char c) {
  if ((unsigned)((c | 32) - 'a') < 26u || c == '_') return 1;
  return (unsigned)(c - '0') < 10u ? 2 : 0;
}

static bool has_prefix(const char *s, size_t n, const char *p) {
  size_t pl = strlen(p);
  return n >= pl && memcmp(s, p, pl) == 0;
}

static bool has_suffix(const char *s, size_t n, const char *x) {
  size_t xl = strlen(x);
  return n > xl && memcmp(s + n - xl, x, xl) == 0;
}

/* The shape of a name by rule: the families of annotation macros. */
static uint8_t family_shape(const char *s, size_t n) {
  if (has_prefix(s, n, "__attribute_") && has_suffix(s, n, "__") && n > 14) return SHAPE_ATTR;
  if (has_prefix(s, n, "__attr_")) return SHAPE_ATTR;
  if (has_prefix(s, n, "_GL_ATTRIBUTE_")) return SHAPE_ATTR;
  return SHAPE_NONE;
}

/* ---- name tables: the built-ins (made once per parser), the file's own
 * (emptied before each file; names point into that file's bytes) ---- */

static size_t slot_of(const cg_macro_tab *t, const char *s, size_t n) {
  return (size_t)XXH3_64bits(s, n) & (t->cap - 1);
}

static const cg_macro_ent *tab_find(const cg_macro_tab *t, const char *s, size_t n) {
  if (t->used == 0) return NULL;
  for (size_t h = slot_of(t, s, n);; h = (h + 1) & (t->cap - 1)) {
    const cg_macro_ent *e = &t->ents[h];
    if (e->name == NULL) return NULL;
    if (e->len == n && memcmp(e->name, s, n) == 0) return e;
  }
}

static void tab_put(cg_macro_tab *t, cg_macro_ent e) {
  size_t h = slot_of(t, e.name, e.len);
  while (t->ents[h].name) {
    if (t->ents[h].len == e.len && memcmp(t->ents[h].name, e.name, e.len) == 0) {
      t->ents[h].shape = e.shape; /* defined again */
      return;
    }
    h = (h + 1) & (t->cap - 1);
  }
  t->ents[h] = e;
  t->used++;
}

static int tab_add(cg_macro_tab *t, const char *s, size_t n, uint8_t shape) {
  if ((t->used + 1) * 2 > t->cap) {
    size_t ocap = t->cap, ncap = ocap ? ocap * 2 : 128;
    cg_macro_ent *old = t->ents;
    t->ents = gsp_calloc(ncap, sizeof *t->ents);
    if (t->ents == NULL) {
      t->ents = old;
      return GSP_ENOMEM;
    }
    t->cap = ncap, t->used = 0;
    for (size_t i = 0; i < ocap; i++)
      if (old[i].name) tab_put(t, old[i]);
    gsp_free(old);
  }
  tab_put(t, (cg_macro_ent){s, (uint32_t)n, shape});
  return GSP_OK;
}

static int tables_init(cg_macro_set *m) {
  gsp__cg_macro_tab_clear(&m->local);
  for (size_t i = m->builtin.used; i < sizeof builtin / sizeof *builtin; i++)
    if (tab_add(&m->builtin, builtin[i].name, strlen(builtin[i].name), builtin[i].shape) != GSP_OK)
      return GSP_ENOMEM;
  return GSP_OK;
}

void gsp__cg_macro_set_free(cg_macro_set *m) {
  gsp_free(m->builtin.ents);
  gsp_free(m->local.ents);
  memset(m, 0, sizeof *m);
}

int gsp__cg_c_learn_macros(const char *src, size_t len, cg_macro_set *scratch, cg_macro_tab *into) {
  char *out = NULL;
  const cg_macro_tab *extra = scratch->extra;
  scratch->extra = NULL;
  int rv = gsp__cg_c_blank_macros(src, len, scratch, &out);
  scratch->extra = extra;
  gsp_free(out);
  for (size_t i = 0; rv == GSP_OK && i < scratch->local.cap; i++) {
    const cg_macro_ent *e = &scratch->local.ents[i];
    if (e->name && e->shape == SHAPE_ATTR) rv = tab_add(into, e->name, e->len, SHAPE_ATTR);
  }
  return rv;
}

static const cg_macro_ent *lookup(const cg_macro_set *m, const char *s, size_t n) {
  const cg_macro_ent *e = s[0] == '_' ? tab_find(&m->builtin, s, n) : NULL;
  if (e == NULL) e = tab_find(&m->local, s, n);
  return e || m->extra == NULL ? e : tab_find(m->extra, s, n);
}

void gsp__cg_macro_tab_clear(cg_macro_tab *t) {
  if (t->used) memset(t->ents, 0, t->cap * sizeof *t->ents);
  t->used = 0;
}

void gsp__cg_macro_tab_free(cg_macro_tab *t) {
  gsp_free(t->ents);
  memset(t, 0, sizeof *t);
}

/* ---- scanning ---- */

#define MAX_COND 64 /* nesting of #if tracked for C++-only branches */

enum { COND_PLAIN = 0, COND_BLANK_ENDIF, COND_DEAD_ELSE };

typedef struct scan {
  const char *src;
  size_t len;
  char *out; /* the blanked copy, made at the first blank */
  cg_macro_set *m;
  uint8_t cond[MAX_COND]; /* per open #if: what its #else / #endif needs */
  size_t ncond;           /* may exceed MAX_COND: deeper levels are plain */
  uint8_t prev;           /* the token before: PREV_* (export macros by place) */
  /* The pre-scan (gsp__cg_c_note_macros) only, which blanks nothing (out
   * stays NULL; the scan reads src alone): where notes go, and the
   * include guard: the name of a first directive `#ifndef X` followed by
   * `#define X`, kept when the #endif closing it is the last directive. */
  cg_note_fn note;
  void *note_user;
  size_t ndir;             /* directives seen */
  size_t guard_b, guard_e; /* the first directive's #ifndef name, or 0, 0 */
  bool guard_defined;      /* the second directive #defines it */
  size_t guard_closed;     /* ndir when #if nesting last fell back to 0 */
} scan;

static int own_copy(scan *s) {
  if (s->out) return GSP_OK;
  s->out = gsp_malloc(s->len ? s->len : 1);
  if (s->out == NULL) return GSP_ENOMEM;
  memcpy(s->out, s->src, s->len);
  return GSP_OK;
}

static int blank(scan *s, size_t from, size_t to) {
  if (s->note) return GSP_OK; /* the pre-scan wants no copy */
  if (own_copy(s) != GSP_OK) return GSP_ENOMEM;
  for (size_t i = from; i < to; i++)
    if (s->out[i] != '\n') s->out[i] = ' ';
  return GSP_OK;
}

static size_t skip_space(const scan *s, size_t i) {
  while (i < s->len && (s->src[i] == ' ' || s->src[i] == '\t' || s->src[i] == '\n' ||
                        s->src[i] == '\r' || s->src[i] == '\\'))
    i++;
  return i;
}

/* Past a string or character literal starting at i (the quote). */
static size_t skip_literal(const scan *s, size_t i) {
  char q = s->src[i++];
  while (i < s->len && s->src[i] != q && s->src[i] != '\n') i += s->src[i] == '\\' ? 2 : 1;
  return i < s->len ? i + 1 : s->len;
}

/* The ')' matching the '(' at open, or 0 when there is none close enough.
 * commas[0..1] get the first two top-level commas (0 = none). */
static size_t match_paren(const scan *s, size_t open, size_t commas[2]) {
  int depth = 0;
  size_t nc = 0, end = open + MAX_ARGS_BYTES < s->len ? open + MAX_ARGS_BYTES : s->len;
  commas[0] = commas[1] = 0;
  for (size_t i = open; i < end; i++) {
    char c = s->src[i];
    if (c == '"' || c == '\'') {
      i = skip_literal(s, i) - 1;
    } else if (c == '(') {
      depth++;
    } else if (c == ')') {
      if (--depth == 0) return i;
    } else if (c == ',' && depth == 1 && nc < 2) {
      commas[nc++] = i;
    } else if (c == ';' || c == '{' || c == '}') {
      return 0;
    }
  }
  return 0;
}

/* Blank the macro at [b, e) of the given shape; returns where to go on. */
static size_t apply(scan *s, size_t b, size_t e, uint8_t shape, int *rv) {
  size_t open = skip_space(s, e), commas[2];
  bool has_args = open < s->len && s->src[open] == '(';
  size_t close = has_args ? match_paren(s, open, commas) : 0;
  switch (shape) {
    case SHAPE_ATTR:
      *rv = blank(s, b, close ? close + 1 : e);
      return close ? close + 1 : e;
    case SHAPE_UNWRAP:
      if (close == 0) return e;
      *rv = blank(s, b, open + 1);
      if (*rv == GSP_OK) *rv = blank(s, close, close + 1);
      return open + 1; /* the inside is scanned as usual */
    default:           /* SHAPE_REDIR */
      if (close == 0 || commas[1] == 0) return e;
      *rv = blank(s, b, open + 1);
      if (*rv == GSP_OK) *rv = blank(s, commas[0], commas[0] + 1);
      if (*rv == GSP_OK) *rv = blank(s, commas[1], close + 1);
      return close + 1;
  }
}

/* The file's own name at [b, e) is not an annotation (any more): #undef,
 * or a function-like redefinition. Its slot stays, with no shape. */
static int forget(scan *s, size_t b, size_t e) {
  cg_macro_ent *ent = (cg_macro_ent *)tab_find(&s->m->local, s->src + b, e - b);
  if (ent) ent->shape = SHAPE_NONE;
  if (ent == NULL && s->m->extra && tab_find(s->m->extra, s->src + b, e - b))
    return tab_add(&s->m->local, s->src + b, e - b, SHAPE_NONE); /* hides the include's */
  return GSP_OK;
}

/* Whether the #define body at [i, eol) makes an annotation: empty (or a
 * comment), __attribute__ (...), or a known annotation macro. */
static bool annotation_body(const scan *s, size_t i, size_t eol) {
  while (i < eol && (s->src[i] == ' ' || s->src[i] == '\t' || s->src[i] == '\r')) i++;
  if (i == eol ||
      (eol - i >= 2 && s->src[i] == '/' && (s->src[i + 1] == '/' || s->src[i + 1] == '*')))
    return true;
  size_t wb = i;
  while (i < eol && cls_of((unsigned char)s->src[i])) i++;
  const cg_macro_ent *e = i > wb ? lookup(s->m, s->src + wb, i - wb) : NULL;
  return (i - wb == 13 && memcmp(s->src + wb, "__attribute__", 13) == 0) ||
         (e && e->shape == SHAPE_ATTR) || family_shape(s->src + wb, i - wb) == SHAPE_ATTR;
}

/* #define NAME body / #undef NAME, from just after the directive word:
 * an object-like macro with an annotation body becomes ATTR for the rest
 * of the file; #undef and function-like redefinitions forget the name. */
static int learn_define(scan *s, size_t i, size_t eol, bool undef) {
  while (i < eol && (s->src[i] == ' ' || s->src[i] == '\t')) i++;
  size_t nb = i;
  while (i < eol && cls_of((unsigned char)s->src[i])) i++;
  if (i == nb || cls_of((unsigned char)s->src[nb]) != 1) return GSP_OK;
  if (undef || (i < eol && s->src[i] == '(') || !annotation_body(s, i, eol))
    return forget(s, nb, i);
  return tab_add(&s->m->local, s->src + nb, i - nb, SHAPE_ATTR);
}

/* ---- C++-only conditionals ----
 * `#ifdef __cplusplus` ... `#endif` is dead code to a C compiler, and its
 * usual content (`extern "C" {` with the `}` in a second such block) is a
 * syntax error to tree-sitter. The dead branch is blanked, directives
 * included: `#if[def] __cplusplus` up to its #else/#elif/#endif, and the
 * #else branch of `#if[n]def !__cplusplus`. A dead branch ended by #elif
 * turns that #elif into an #if of the same length ("#elif" -> "#if  "). */

/* The end of the line starting at i ('\n' or len), continuations included. */
static size_t line_end(const scan *s, size_t i) {
  while (i < s->len && !(s->src[i] == '\n' && (i == 0 || s->src[i - 1] != '\\'))) i++;
  return i;
}

static size_t skip_blanks(const scan *s, size_t i, size_t eol) {
  while (i < eol && (s->src[i] == ' ' || s->src[i] == '\t')) i++;
  return i;
}

/* The directive word after the '#' at i: its start, and its length in *wl. */
static size_t directive_word(const scan *s, size_t i, size_t eol, size_t *wl) {
  size_t b = skip_blanks(s, i + 1, eol), e = b;
  while (e < eol && cls_of((unsigned char)s->src[e]) == 1) e++;
  *wl = e - b;
  return b;
}

static bool word_is(const scan *s, size_t b, size_t wl, const char *w) {
  return wl == strlen(w) && memcmp(s->src + b, w, wl) == 0;
}

/* +1 when the condition in [b, eol) is "__cplusplus is defined", -1 when it
 * is its negation, 0 for anything else. Blanks are ignored; a comment ends it. */
static int cpp_condition(const scan *s, size_t b, size_t eol) {
  char q[48];
  size_t n = 0;
  for (size_t i = b; i < eol && n < sizeof q - 1; i++) {
    char c = s->src[i];
    if (c == '/' && i + 1 < eol && (s->src[i + 1] == '/' || s->src[i + 1] == '*')) break;
    if (c != ' ' && c != '\t' && c != '\r' && c != '\\' && c != '\n') q[n++] = c;
  }
  q[n] = '\0';
  bool neg = q[0] == '!';
  const char *c = q + neg;
  if (strcmp(c, "__cplusplus") != 0 && strcmp(c, "defined(__cplusplus)") != 0 &&
      strcmp(c, "defined__cplusplus") != 0)
    return 0;
  return neg ? -1 : 1;
}

enum { END_NONE = 0, END_ELSE, END_ELIF, END_ENDIF };

/* From the line at `from`, the directive that ends the current branch at
 * depth 0: its kind, the position of its '#' (*hash) and its line's end. */
static int branch_end(const scan *s, size_t from, size_t *hash, size_t *eol) {
  int depth = 0;
  for (size_t p = from; p < s->len; p = *eol + 1) {
    *eol = line_end(s, p);
    size_t h = skip_blanks(s, p, *eol), wl;
    if (h >= *eol || s->src[h] != '#') continue;
    size_t w = directive_word(s, h, *eol, &wl);
    *hash = h;
    if (word_is(s, w, wl, "if") || word_is(s, w, wl, "ifdef") || word_is(s, w, wl, "ifndef"))
      depth++;
    else if (word_is(s, w, wl, "endif") && depth-- == 0)
      return END_ENDIF;
    else if (depth == 0 && word_is(s, w, wl, "else"))
      return END_ELSE;
    else if (depth == 0 && word_is(s, w, wl, "elif"))
      return END_ELIF;
  }
  return END_NONE;
}

static void cond_push(scan *s, uint8_t c) {
  if (s->ncond < MAX_COND) s->cond[s->ncond] = c;
  s->ncond++;
}

static uint8_t cond_top(const scan *s) {
  return s->ncond && s->ncond <= MAX_COND ? s->cond[s->ncond - 1] : COND_PLAIN;
}

/* `#if __cplusplus` at i (line end eol): blank the dead branch. */
static size_t dead_then(scan *s, size_t i, size_t eol, int *rv) {
  size_t hash, end;
  int k = branch_end(s, eol + 1, &hash, &end);
  if (k == END_NONE) {
    cond_push(s, COND_PLAIN);
    return eol;
  }
  if (k == END_ELIF) {
    size_t wl, w = directive_word(s, hash, end, &wl);
    *rv = blank(s, i, hash);
    if (*rv == GSP_OK && s->out) memcpy(s->out + w, "if  ", 4); /* #elif X -> #if   X */
    cond_push(s, COND_PLAIN);
    return end;
  }
  *rv = blank(s, i, end);
  if (k == END_ELSE) cond_push(s, COND_BLANK_ENDIF);
  return end;
}

/* #else or #elif at i after the live branch of `#if !__cplusplus`. */
static size_t dead_else(scan *s, size_t i, size_t eol, int *rv) {
  size_t hash = 0, end = eol;
  int k;
  do k = branch_end(s, end + 1, &hash, &end);
  while (k == END_ELSE || k == END_ELIF);
  s->ncond--;
  if (k == END_NONE) return eol;
  *rv = blank(s, i, end);
  return end;
}

/* Conditionals: what a directive word means for C++-only branches. */
static size_t conditional(scan *s, size_t i, size_t eol, size_t w, size_t wl, int *rv) {
  size_t rest = w + wl;
  int c = 0;
  if (word_is(s, w, wl, "ifdef") || word_is(s, w, wl, "ifndef")) {
    c = cpp_condition(s, rest, eol) == 1 ? (wl == 5 ? 1 : -1) : 0; /* #ifndef X is !X */
  } else if (word_is(s, w, wl, "if")) {
    c = cpp_condition(s, rest, eol);
  } else if (word_is(s, w, wl, "else") || word_is(s, w, wl, "elif")) {
    return cond_top(s) == COND_DEAD_ELSE ? dead_else(s, i, eol, rv) : eol;
  } else if (word_is(s, w, wl, "endif")) {
    if (cond_top(s) == COND_BLANK_ENDIF || cond_top(s) == COND_DEAD_ELSE) *rv = blank(s, i, eol);
    if (s->ncond) s->ncond--;
    return eol;
  } else {
    return eol;
  }
  if (c > 0) return dead_then(s, i, eol, rv);
  if (c < 0) {
    *rv = blank(s, i, eol);
    cond_push(s, COND_DEAD_ELSE);
    return eol;
  }
  cond_push(s, COND_PLAIN);
  return eol;
}

/* The name at or after i on the line (blanks skipped): its bounds, false
 * when there is none. */
static bool line_name(const scan *s, size_t i, size_t eol, size_t *b, size_t *e) {
  i = skip_blanks(s, i, eol);
  *b = i;
  while (i < eol && cls_of((unsigned char)s->src[i])) i++;
  *e = i;
  return i > *b && cls_of((unsigned char)s->src[*b]) == 1;
}

/* Pre-scan notes of a directive (word at w, length wl, line end eol): an
 * #include's spelling, an #undef's name, the include guard's two lines. */
static int note_directive(scan *s, size_t w, size_t wl, size_t eol) {
  size_t b, e, rest = w + wl;
  s->ndir++;
  if (word_is(s, w, wl, "include")) {
    b = skip_blanks(s, rest, eol);
    char close = b < eol && s->src[b] == '<' ? '>' : b < eol && s->src[b] == '"' ? '"' : 0;
    for (e = b + 1; close && e < eol && s->src[e] != close;) e++;
    if (close == 0 || e >= eol || e == b + 1) return GSP_OK;
    char kind = close == '>' ? CG_NOTE_SYSTEM : CG_NOTE_QUOTED;
    return s->note(s->note_user, kind, s->src + b + 1, e - b - 1);
  }
  if (word_is(s, w, wl, "undef") && line_name(s, rest, eol, &b, &e))
    return s->note(s->note_user, CG_NOTE_UNDEF, s->src + b, e - b);
  if (s->ndir == 1 && word_is(s, w, wl, "ifndef") && line_name(s, rest, eol, &b, &e))
    s->guard_b = b, s->guard_e = e;
  if (s->ndir == 2 && s->guard_e && word_is(s, w, wl, "define") && line_name(s, rest, eol, &b, &e))
    s->guard_defined =
        e - b == s->guard_e - s->guard_b && memcmp(s->src + b, s->src + s->guard_b, e - b) == 0;
  return GSP_OK;
}

/* Past a preprocessor line starting at i (the '#'), continuations included. */
static size_t directive(scan *s, size_t i, int *rv) {
  size_t eol = line_end(s, i), wl, w = directive_word(s, i, eol, &wl);
  if (s->note && (*rv = note_directive(s, w, wl, eol)) != GSP_OK) return eol;
  if (word_is(s, w, wl, "define") || word_is(s, w, wl, "undef")) {
    *rv = learn_define(s, w + wl, eol, wl == 5);
    return eol;
  }
  size_t end = conditional(s, i, eol, w, wl, rv);
  if (s->ncond == 0 && word_is(s, w, wl, "endif")) s->guard_closed = s->ndir;
  return end;
}

static size_t comment(const scan *s, size_t i) {
  if (s->src[i + 1] == '/') {
    const char *nl = memchr(s->src + i, '\n', s->len - i);
    return nl ? (size_t)(nl - s->src) : s->len;
  }
  for (i += 2; i + 1 < s->len; i++)
    if (s->src[i] == '*' && s->src[i + 1] == '/') return i + 2;
  return s->len;
}

/* ---- export macros known by their place ----
 * A library's own export and calling-convention macros (GLAPI, XMLPUBFUN,
 * OSSL_DEPRECATEDIN_3_0, SQLITE_API, APIENTRY, XMLCALL, ...) are defined in
 * a header of their own, so the file's bytes do not say what they are;
 * where they stand does. C has no place for a name before a type keyword
 * at the start of a declaration, none for two type names in a row, and
 * none between a type and a function's declarator, so an all-caps name
 * ([A-Z][A-Z0-9_]{2,}) there is a macro expanding to specifiers or
 * attributes, and is blanked when it is
 *   R1 the first token of its line, or after extern/static/inline, and
 *      followed by a type keyword: `GLAPI void ...`, `extern DECLSPEC int`
 *   R2 the first token of its line and followed by two names or more
 *      (`const`/`volatile`/`restrict` do not count; '*' may come between)
 *      and a '(': `OSSL_DEPRECATEDIN_3_0 RSA *RSA_new (void);`,
 *      `XMLPUBFUN xmlDocPtr XMLCALL xmlNewDoc (`
 *   R3 after a type keyword (not struct/union/enum: a tag follows those),
 *      a '*' or a name, and followed by a name and '(':
 *      `void APIENTRY glClear (`, `xmlDocPtr XMLCALL xmlNewDoc (`
 * `FILE const *f` and `struct FOO f (void)` stay as they are. A blanked
 * name leaves the state as it found it (the next token is the first of
 * its line if the blanked one was). When a rule takes a type name for a
 * macro (`BOOL WINAPI f (`: BOOL goes, WINAPI is read as the type), the
 * declaration keeps its name, which is what the graph records. */

enum { PREV_OTHER = 0, PREV_TYPE, PREV_STORAGE, PREV_NAME };

static bool word_in(const char *w, size_t n, const char *const *list, size_t k) {
  for (size_t i = 0; i < k; i++)
    if (strlen(list[i]) == n && memcmp(w, list[i], n) == 0) return true;
  return false;
}

static const char *const type_kw[] = {"void",  "char",   "short",  "int",      "long",
                                      "float", "double", "signed", "unsigned", "_Bool"};
static const char *const tag_kw[] = {"struct", "union", "enum"};
static const char *const storage_kw[] = {"extern", "static", "inline"};
static const char *const qual_kw[] = {"const", "volatile", "restrict"};
#define NELEM(a) (sizeof(a) / sizeof *(a))

/* What the name w[0,n) makes the next token's PREV_*. */
static uint8_t prev_of(const char *w, size_t n) {
  if (word_in(w, n, type_kw, NELEM(type_kw))) return PREV_TYPE;
  if (word_in(w, n, storage_kw, NELEM(storage_kw))) return PREV_STORAGE;
  if (word_in(w, n, tag_kw, NELEM(tag_kw)) || word_in(w, n, qual_kw, NELEM(qual_kw)))
    return PREV_OTHER;
  return PREV_NAME;
}

static bool all_caps(const char *w, size_t n) {
  if (n < 3 || w[0] < 'A' || w[0] > 'Z') return false;
  for (size_t i = 1; i < n; i++)
    if (!((w[i] >= 'A' && w[i] <= 'Z') || (w[i] >= '0' && w[i] <= '9') || w[i] == '_'))
      return false;
  return true;
}

/* The name starting at or after i (blanks and newlines skipped): its
 * bounds, false when the next token is no name. */
static bool next_name(const scan *s, size_t i, size_t *b, size_t *e) {
  while (i < s->len &&
         (s->src[i] == ' ' || s->src[i] == '\t' || s->src[i] == '\n' || s->src[i] == '\r'))
    i++;
  *b = i;
  if (i >= s->len || cls_of((unsigned char)s->src[i]) != 1) return false;
  while (i < s->len && cls_of((unsigned char)s->src[i])) i++;
  *e = i;
  return true;
}

/* From i: names (and '*'), then '('; how many names, qualifiers not
 * counted (0 when the tokens end otherwise). At most 6 tokens. */
static int names_then_paren(const scan *s, size_t i) {
  int names = 0;
  for (int tok = 0; tok < 6; tok++) {
    size_t b, e;
    if (next_name(s, i, &b, &e)) {
      names += !word_in(s->src + b, e - b, qual_kw, NELEM(qual_kw));
      i = e;
      continue;
    }
    if (b < s->len && s->src[b] == '*') {
      i = b + 1;
      continue;
    }
    return b < s->len && s->src[b] == '(' ? names : 0;
  }
  return 0;
}

/* Whether the all-caps name at [b, e) stands where only a macro can. */
static bool export_macro(const scan *s, size_t e, bool line_first) {
  size_t nb, ne;
  bool named = next_name(s, e, &nb, &ne);
  if ((line_first || s->prev == PREV_STORAGE) && named &&
      word_in(s->src + nb, ne - nb, type_kw, NELEM(type_kw)))
    return true;                                              /* R1 */
  if (line_first && names_then_paren(s, e) >= 2) return true; /* R2 */
  if (!line_first && (s->prev == PREV_TYPE || s->prev == PREV_NAME) && named &&
      !word_in(s->src + nb, ne - nb, qual_kw, NELEM(qual_kw)))
    return names_then_paren(s, e) == 1; /* R3 */
  return false;
}

/* The identifier at i; *line_first: it is the first token of its line
 * (kept when it is blanked). */
static size_t identifier(scan *s, size_t i, int *rv, bool *line_first) {
  size_t b = i;
  while (i < s->len && cls_of((unsigned char)s->src[i])) i++;
  const cg_macro_ent *e = NULL;
  if (s->src[b] == '_' || s->m->local.used || (s->m->extra && s->m->extra->used))
    e = lookup(s->m, s->src + b, i - b);
  uint8_t shape = e ? e->shape : s->src[b] == '_' ? family_shape(s->src + b, i - b) : SHAPE_NONE;
  if (shape != SHAPE_NONE) return apply(s, b, i, shape, rv);
  if (all_caps(s->src + b, i - b) && export_macro(s, i, *line_first)) {
    *rv = blank(s, b, i);
    return i;
  }
  s->prev = prev_of(s->src + b, i - b);
  *line_first = false;
  return i;
}

/* The pass over s->src: blanks into s->out, notes when s->note. */
static int run_scan(scan *s_) {
  scan s = *s_;
  const char *src = s.src;
  size_t len = s.len;
  int rv = GSP_OK;
  bool line_start = true;
  for (size_t i = 0; i < len && rv == GSP_OK;) {
    unsigned char c = (unsigned char)src[i];
    if (c == '#' && line_start) {
      i = directive(&s, i, &rv);
    } else if (c == '/' && i + 1 < len && (src[i + 1] == '/' || src[i + 1] == '*')) {
      i = comment(&s, i);
      continue; /* a comment keeps line_start as it was */
    } else if (c == '"' || c == '\'') {
      i = skip_literal(&s, i);
    } else if (cls_of(c) == 1) {
      i = identifier(&s, i, &rv, &line_start);
      continue; /* line_start as identifier() left it */
    } else if (cls_of(c) == 2) {
      while (i < len && cls_of((unsigned char)src[i])) i++; /* a number */
    } else {
      bool blank_char = c == ' ' || c == '\t' || c == '\r' || c == '\n';
      if (!blank_char) s.prev = c == '*' ? PREV_TYPE : PREV_OTHER;
      line_start = c == '\n' || (line_start && blank_char);
      i++;
      continue;
    }
    s.prev = PREV_OTHER;
    line_start = false;
  }
  *s_ = s;
  return rv;
}

int gsp__cg_c_blank_macros(const char *src, size_t len, cg_macro_set *m, char **out) {
  *out = NULL;
  if (tables_init(m) != GSP_OK) return GSP_ENOMEM;
  scan s = {.src = src, .len = len, .m = m};
  int rv = run_scan(&s);
  if (rv != GSP_OK) {
    gsp_free(s.out);
    return rv;
  }
  *out = s.out;
  return GSP_OK;
}

/* Whether a name is spelled as include guards are (FOO_H, FOO_H_, FOO_H__,
 * FOO_HPP, FOO_INCLUDED, ...): such a name stands in #if lines only, and
 * teaching it would make an edit of a header's first lines (the guard
 * broken for a moment) re-parse every includer for nothing. */
static bool guard_spelling(const char *s, size_t n) {
  while (n > 0 && s[n - 1] == '_') n--;
  return has_suffix(s, n, "_H") || has_suffix(s, n, "_HPP") || has_suffix(s, n, "_HH") ||
         has_suffix(s, n, "_INCLUDED");
}

/* A name the file's own ATTR table ends with that is worth teaching: not
 * blanked anyway (a built-in, a family name) and not an include guard (by
 * its place or its spelling). */
static bool teachable(const scan *s, const cg_macro_ent *e) {
  if (e->name == NULL || e->shape != SHAPE_ATTR) return false;
  if (tab_find(&s->m->builtin, e->name, e->len) || family_shape(e->name, e->len) != SHAPE_NONE ||
      guard_spelling(e->name, e->len))
    return false;
  bool guard = s->guard_defined && s->guard_closed == s->ndir &&
               e->len == s->guard_e - s->guard_b &&
               memcmp(e->name, s->src + s->guard_b, e->len) == 0;
  return !guard;
}

static int ent_cmp(const void *a, const void *b) {
  const cg_macro_ent *x = a, *y = b;
  int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Note the taught names in name order, not the table's slot order (which
 * depends on the files the scratch table saw before), so the notes, and
 * the memo that keeps them, are the same bytes however files are split
 * between threads. */
static int note_taught(const scan *s, cg_note_fn note, void *user) {
  const cg_macro_tab *t = &s->m->local;
  size_t n = 0;
  for (size_t i = 0; i < t->cap; i++) n += teachable(s, &t->ents[i]);
  if (n == 0) return GSP_OK;
  cg_macro_ent *v = gsp_malloc(n * sizeof *v); /* copies of the entries */
  if (v == NULL) return GSP_ENOMEM;
  n = 0;
  for (size_t i = 0; i < t->cap; i++)
    if (teachable(s, &t->ents[i])) v[n++] = t->ents[i];
  qsort(v, n, sizeof *v, ent_cmp);
  int rv = GSP_OK;
  for (size_t i = 0; rv == GSP_OK && i < n; i++)
    rv = note(user, CG_NOTE_TEACH, v[i].name, v[i].len);
  gsp_free(v);
  return rv;
}

int gsp__cg_c_note_macros(const char *src, size_t len, cg_macro_set *scratch, cg_note_fn note,
                          void *user) {
  const cg_macro_tab *extra = scratch->extra;
  scratch->extra = NULL;
  int rv = tables_init(scratch);
  scan s = {.src = src, .len = len, .m = scratch, .note = note, .note_user = user};
  if (rv == GSP_OK) rv = run_scan(&s);
  scratch->extra = extra;
  gsp_free(s.out);
  if (rv == GSP_OK) rv = note_taught(&s, note, user);
  return rv;
}

int gsp__cg_macro_tab_add(cg_macro_tab *t, const char *s, size_t n) {
  return tab_add(t, s, n, SHAPE_ATTR);
}
