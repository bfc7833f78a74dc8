/*
 * fuzz_series_params.c - libFuzzer harness for the /api/v1/series query
 * string.
 *
 * The server has no query parser of its own: libmicrohttpd splits the
 * query at '&', each pair at the first '=', percent-decodes keys and
 * values ('+' becomes a space) and hands the pairs to server.c, which
 * keeps at most GSP__HTTP_MAX_PARAMS + 1 of them and calls
 * gsp__series_params(). This harness does the same to its input (a key
 * without '=' gets a NULL value, as libmicrohttpd gives it) and then
 * checks what the validator promises: on success a valid name that points
 * into the pairs, labels NULL or non-empty, range within 1 .. 31 days; on
 * failure a named parameter and a reason. Everything lives in one copy of
 * the input, freed before returning, so a leak or an overflow is found by
 * ASan and a bad shift or overflow by UBSan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

#define MAX_KV (GSP__HTTP_MAX_PARAMS + 1)

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* In place, like MHD_http_unescape: "%XX" with two hex digits is a byte,
 * anything else is kept as it is; '+' is a space. */
static void unescape(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    int hi = r[0] == '%' ? hexval(r[1]) : -1;
    int lo = hi >= 0 ? hexval(r[2]) : -1;
    if (lo >= 0) {
      *w++ = (char)(hi * 16 + lo);
      r += 2;
    } else {
      *w++ = *r == '+' ? ' ' : *r;
    }
  }
  *w = '\0';
}

/* Split s (NUL-terminated, modified) into at most MAX_KV pairs. */
static size_t split(char *s, gsp__kv *kv) {
  size_t n = 0;
  while (s != NULL && n < MAX_KV) {
    char *amp = strchr(s, '&');
    if (amp) *amp = '\0';
    char *eq = strchr(s, '=');
    if (eq) *eq = '\0';
    unescape(s);
    if (eq) unescape(eq + 1);
    kv[n].key = s;
    kv[n].val = eq ? eq + 1 : NULL;
    n++;
    s = amp ? amp + 1 : NULL;
  }
  return n;
}

static void check(const gsp__kv *kv, size_t n, int rv, const gsp__series_req *q, const char *bad,
                  const char *why) {
  if (rv != GSP_OK) {
    if (rv != GSP_EINVAL || bad == NULL || why == NULL) abort();
    return;
  }
  if (q->name == NULL || gsp_metrics_check_name(q->name) != GSP_OK) abort();
  if (q->labels != NULL && (q->labels[0] == '\0' || strlen(q->labels) > GSP__HTTP_LABELS_MAX))
    abort();
  if (q->range_s < 1 || q->range_s > GSP__HTTP_RANGE_MAX) abort();
  bool found = false;
  for (size_t i = 0; i < n; i++) found |= kv[i].val == q->name;
  if (!found) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (s == NULL) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  gsp__kv kv[MAX_KV];
  size_t n = split(s, kv);
  gsp__series_req q;
  const char *bad = NULL;
  const char *why = NULL;
  int rv = gsp__series_params(kv, n, &q, &bad, &why);
  check(kv, n, rv, &q, bad, why);
  free(s);
  return 0;
}
