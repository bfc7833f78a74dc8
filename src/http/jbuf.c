/*
 * jbuf.c - a tiny append-only JSON writer for the HTTP routes.
 *
 * The buffer doubles as it grows (gsp_realloc). An allocation failure sets
 * a sticky `oom` flag so callers can write a whole document without
 * checking each append, and check once in gsp__jb_take(). Strings are
 * escaped per RFC 8259 for control characters, quote and backslash; other
 * bytes (including UTF-8) are copied as they are.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "http_int.h"

static bool reserve(gsp__jbuf *b, size_t n) {
  if (b->oom) return false;
  if (b->cap - b->len > n) return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len <= n) cap *= 2;
  char *p = gsp_realloc(b->p, cap);
  if (p == NULL) {
    b->oom = true;
    return false;
  }
  b->p = p;
  b->cap = cap;
  return true;
}

void gsp__jb_raw(gsp__jbuf *b, const char *s, size_t n) {
  if (!reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void gsp__jb_lit(gsp__jbuf *b, const char *s) { gsp__jb_raw(b, s, strlen(s)); }

static void esc_char(gsp__jbuf *b, unsigned char c) {
  char tmp[8];
  if (c == '"' || c == '\\') {
    tmp[0] = '\\';
    tmp[1] = (char)c;
    gsp__jb_raw(b, tmp, 2);
    return;
  }
  int n = snprintf(tmp, sizeof tmp, "\\u%04x", c);
  gsp__jb_raw(b, tmp, (size_t)n);
}

void gsp__jb_str(gsp__jbuf *b, const char *s) {
  if (s == NULL) {
    gsp__jb_lit(b, "null");
    return;
  }
  gsp__jb_raw(b, "\"", 1);
  const char *run = s;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    gsp__jb_raw(b, run, (size_t)(s - run));
    esc_char(b, c);
    run = s + 1;
  }
  gsp__jb_raw(b, run, (size_t)(s - run));
  gsp__jb_raw(b, "\"", 1);
}

void gsp__jb_num(gsp__jbuf *b, double v) {
  char tmp[40];
  if (!isfinite(v)) {
    gsp__jb_lit(b, "null");
    return;
  }
  int n = snprintf(tmp, sizeof tmp, "%.17g", v);
  gsp__jb_raw(b, tmp, (size_t)n);
}

void gsp__jb_u64(gsp__jbuf *b, uint64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
  gsp__jb_raw(b, tmp, (size_t)n);
}

void gsp__jb_key(gsp__jbuf *b, const char *key, bool first) {
  if (!first) gsp__jb_raw(b, ",", 1);
  gsp__jb_str(b, key);
  gsp__jb_raw(b, ":", 1);
}

int gsp__jb_take(gsp__jbuf *b, char **out, size_t *len) {
  if (b->oom || b->p == NULL) {
    gsp__jb_free(b);
    return GSP_ENOMEM;
  }
  *out = b->p;
  *len = b->len;
  b->p = NULL;
  b->len = b->cap = 0;
  return GSP_OK;
}

void gsp__jb_free(gsp__jbuf *b) {
  gsp_free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}
