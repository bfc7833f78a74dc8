/*
 * params.c - validation of the /api/v1/series query parameters.
 *
 * A pure function over already-decoded key/value pairs (libmicrohttpd does
 * the percent-decoding), with no allocation and no I/O, so it can be fuzzed
 * on its own. Rules: "name" is required and must be a valid metric name;
 * "labels" is optional, at most GSP__HTTP_LABELS_MAX bytes, no control
 * characters; "range" is optional, decimal seconds in 1 .. 31 days (no
 * sign, no spaces, no leading '+'); any other key, a repeated key or a key
 * without a value is an error that names the key.
 */
#include <string.h>

#include "http_int.h"

static bool parse_range(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (*s == '\0' || strlen(s) > 10) return false;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return false;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  if (v < 1 || v > GSP__HTTP_RANGE_MAX) return false;
  *out = v;
  return true;
}

static bool labels_ok(const char *s) {
  size_t n = 0;
  for (; *s; s++, n++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
  return n <= GSP__HTTP_LABELS_MAX;
}

static int fail(const char **bad, const char **why, const char *param, const char *reason) {
  *bad = param;
  *why = reason;
  return GSP_EINVAL;
}

static int one_param(const gsp__kv *p, gsp__series_req *out, unsigned *seen, const char **bad,
                     const char **why) {
  static const char *const keys[] = {"name", "labels", "range"};
  unsigned k = 0;
  while (k < 3 && strcmp(p->key, keys[k]) != 0) k++;
  if (k == 3) return fail(bad, why, p->key, "unknown parameter");
  if (*seen & (1u << k)) return fail(bad, why, keys[k], "repeated parameter");
  *seen |= 1u << k;
  if (p->val == NULL) return fail(bad, why, keys[k], "parameter needs a value");
  if (k == 0 && gsp_metrics_check_name(p->val) != GSP_OK)
    return fail(bad, why, "name", "not a valid metric name");
  if (k == 1 && !labels_ok(p->val)) return fail(bad, why, "labels", "bad label string");
  if (k == 2 && !parse_range(p->val, &out->range_s))
    return fail(bad, why, "range", "want whole seconds, 1 to 2678400");
  if (k == 0) out->name = p->val;
  if (k == 1) out->labels = *p->val ? p->val : NULL;
  return GSP_OK;
}

int gsp__series_params(const gsp__kv *kv, size_t n, gsp__series_req *out, const char **bad,
                       const char **why) {
  unsigned seen = 0;
  out->name = NULL;
  out->labels = NULL;
  out->range_s = GSP__HTTP_RANGE_DEFAULT;
  if (n > GSP__HTTP_MAX_PARAMS) return fail(bad, why, "query", "too many parameters");
  for (size_t i = 0; i < n; i++) {
    int rv = one_param(&kv[i], out, &seen, bad, why);
    if (rv != GSP_OK) return rv;
  }
  if (out->name == NULL) return fail(bad, why, "name", "missing parameter");
  return GSP_OK;
}
