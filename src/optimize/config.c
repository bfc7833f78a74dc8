/*
 * config.c - the engine's configuration: names of levels and strategies,
 * the check, defaults, and reading it from a JSON file (jansson) or from
 * GSPERF_* environment variables.
 *
 * One table (`keys`) lists every settable field with its kind; the JSON
 * reader and the environment reader both go through it, so a key works
 * the same in both. Values are parsed into a copy of the config, which
 * replaces the caller's only when everything parsed: an error leaves the
 * caller's config unchanged. Messages name the source (file or variable),
 * the key and the value.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "opt_int.h"

static const char *const level_names[] = {"balanced", "minimal", "aggressive"};
static const char *const strategy_names[] = {
    "default",          "balanced",          "cpu_optimized",        "io_optimized",
    "memory_optimized", "latency_optimized", "throughput_optimized", "custom"};

const char *gsp_opt_level_name(gsp_opt_level l) {
  return (unsigned)l < 3 ? level_names[l] : "unknown";
}

int gsp_opt_level_parse(const char *s, gsp_opt_level *out) {
  if (s == NULL || out == NULL) return GSP_EINVAL;
  for (unsigned i = 0; i < 3; i++)
    if (strcasecmp(s, level_names[i]) == 0) {
      *out = (gsp_opt_level)i;
      return GSP_OK;
    }
  return GSP_EINVAL;
}

const char *gsp_opt_strategy_name(gsp_opt_strategy s) {
  return (unsigned)s <= GSP_OPT_CUSTOM ? strategy_names[s] : "unknown";
}

int gsp_opt_strategy_parse(const char *s, gsp_opt_strategy *out) {
  if (s == NULL || out == NULL) return GSP_EINVAL;
  size_t n = strlen(s);
  for (unsigned i = 0; i <= GSP_OPT_CUSTOM; i++) {
    const char *name = strategy_names[i];
    const char *suffix = strstr(name, "_optimized");
    size_t short_len = suffix ? (size_t)(suffix - name) : strlen(name);
    if (strcasecmp(s, name) == 0 || (n == short_len && strncasecmp(s, name, n) == 0)) {
      *out = (gsp_opt_strategy)i;
      return GSP_OK;
    }
  }
  return GSP_EINVAL;
}

static void put_err(char *err, size_t cap, const char *fmt, ...) GSP_PRINTF(3, 4);
static void put_err(char *err, size_t cap, const char *fmt, ...) {
  if (err == NULL || cap == 0) return;
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

int gsp_opt_config_check(const gsp_opt_config *c, char *err, size_t cap) {
  if (c == NULL) return GSP_OK;
  if ((unsigned)c->level > GSP_OPT_LEVEL_AGGRESSIVE) {
    put_err(err, cap, "level: %d is not a level", (int)c->level);
    return GSP_EINVAL;
  }
  if ((unsigned)c->strategy >= GSP_OPT_CUSTOM) {
    put_err(err, cap,
            "strategy: %d is not an engine-wide strategy (custom needs a policy "
            "per function)",
            (int)c->strategy);
    return GSP_EINVAL;
  }
  if (c->max_workers > 1024 || c->io_workers > 1024) {
    put_err(err, cap, "%s: %u is above 1024", c->max_workers > 1024 ? "max_workers" : "io_workers",
            c->max_workers > 1024 ? c->max_workers : c->io_workers);
    return GSP_EINVAL;
  }
  unsigned max = c->max_workers != 0 ? c->max_workers : gsp_exec_default_workers();
  if (c->min_workers > max) {
    put_err(err, cap, "min_workers: %u is above max_workers (%u)", c->min_workers, max);
    return GSP_EINVAL;
  }
  if ((unsigned)c->enable_async > GSP_OPT_OFF || (unsigned)c->enable_caching > GSP_OPT_OFF) {
    put_err(err, cap, "%s: not a switch value",
            (unsigned)c->enable_async > GSP_OPT_OFF ? "enable_async" : "enable_caching");
    return GSP_EINVAL;
  }
  if (c->batch_size > 65536 || c->batch_window_us > 60000000) {
    put_err(err, cap, "%s: %u is above %s",
            c->batch_size > 65536 ? "batch_size" : "batch_window_us",
            c->batch_size > 65536 ? c->batch_size : c->batch_window_us,
            c->batch_size > 65536 ? "65536" : "60000000");
    return GSP_EINVAL;
  }
  if (!isfinite(c->timeout_seconds) || c->timeout_seconds < 0 || c->timeout_seconds > 1e7) {
    put_err(err, cap, "timeout_seconds: %g is not in [0, 1e7]", c->timeout_seconds);
    return GSP_EINVAL;
  }
  if (c->name != NULL && !gsp__opt_name_ok(c->name)) {
    put_err(err, cap, "name: \"%.130s\" is not 1-128 of [A-Za-z0-9_.:/-]", c->name);
    return GSP_EINVAL;
  }
  return GSP_OK;
}

void gsp__opt_config_resolve(const gsp_opt_config *in, gsp_opt_config *o) {
  *o = in != NULL ? *in : (gsp_opt_config){0};
  if (o->strategy == GSP_OPT_DEFAULT) o->strategy = GSP_OPT_BALANCED;
  if (o->max_workers == 0) o->max_workers = gsp_exec_default_workers();
  if (o->io_workers == 0) o->io_workers = o->max_workers * 4 > 8 ? o->max_workers * 4 : 8;
  if (o->io_workers > 256) o->io_workers = 256; /* the I/O executor's most threads */
  if (o->enable_async == GSP_OPT_SWITCH_DEFAULT) o->enable_async = GSP_OPT_ON;
  if (o->enable_caching == GSP_OPT_SWITCH_DEFAULT)
    o->enable_caching = o->level == GSP_OPT_LEVEL_MINIMAL ? GSP_OPT_OFF : GSP_OPT_ON;
  if (o->level == GSP_OPT_LEVEL_MINIMAL) {
    o->enable_async = GSP_OPT_OFF;
    o->enable_caching = GSP_OPT_OFF;
  }
  if (o->cache_entries == 0)
    o->cache_entries = o->level == GSP_OPT_LEVEL_AGGRESSIVE ? 40000 : 10000;
  if (o->max_value_bytes == 0) o->max_value_bytes = (size_t)64 * 1024;
  if (o->batch_size == 0) o->batch_size = 64;
  if (o->batch_window_us == 0)
    o->batch_window_us = o->level == GSP_OPT_LEVEL_AGGRESSIVE ? 400 : 200;
}

/* ---- one table of keys for the file and the environment ---------------- */

typedef enum kkind { K_LEVEL, K_STRATEGY, K_UINT, K_SIZE, K_U64, K_SWITCH, K_SECONDS } kkind;

typedef struct key_def {
  const char *name;
  kkind kind;
  size_t off;
} key_def;

static const key_def keys[] = {
    {"level", K_LEVEL, offsetof(gsp_opt_config, level)},
    {"strategy", K_STRATEGY, offsetof(gsp_opt_config, strategy)},
    {"max_workers", K_UINT, offsetof(gsp_opt_config, max_workers)},
    {"io_workers", K_UINT, offsetof(gsp_opt_config, io_workers)},
    {"enable_async", K_SWITCH, offsetof(gsp_opt_config, enable_async)},
    {"enable_caching", K_SWITCH, offsetof(gsp_opt_config, enable_caching)},
    {"memory_limit_mb", K_U64, offsetof(gsp_opt_config, memory_limit_mb)},
    {"timeout_seconds", K_SECONDS, offsetof(gsp_opt_config, timeout_seconds)},
    {"cache_entries", K_SIZE, offsetof(gsp_opt_config, cache_entries)},
    {"max_value_bytes", K_SIZE, offsetof(gsp_opt_config, max_value_bytes)},
    {"batch_size", K_UINT, offsetof(gsp_opt_config, batch_size)},
    {"batch_window_us", K_UINT, offsetof(gsp_opt_config, batch_window_us)},
    {"min_workers", K_UINT, offsetof(gsp_opt_config, min_workers)},
};
#define NKEYS (sizeof keys / sizeof *keys)

static const key_def *find_key(const char *name) {
  for (size_t i = 0; i < NKEYS; i++)
    if (strcmp(keys[i].name, name) == 0) return &keys[i];
  return NULL;
}

/* Parse a non-negative integer from text, at most max. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out) {
  if (s == NULL || !isdigit((unsigned char)s[0])) return false;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max) return false;
  *out = v;
  return true;
}

static bool parse_switch(const char *s, gsp_opt_switch *out) {
  static const char *const on[] = {"1", "true", "on", "yes"};
  static const char *const off[] = {"0", "false", "off", "no"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(s, on[i]) == 0) {
      *out = GSP_OPT_ON;
      return true;
    }
    if (strcasecmp(s, off[i]) == 0) {
      *out = GSP_OPT_OFF;
      return true;
    }
  }
  return false;
}

static uint64_t kind_max(kkind k) {
  if (k == K_UINT) return UINT32_MAX;
  if (k == K_SIZE) return SIZE_MAX;
  return UINT64_MAX;
}

/* Store a value given as text (environment, or a JSON string/number). */
static bool set_from_text(gsp_opt_config *c, const key_def *k, const char *s) {
  char *p = (char *)c + k->off;
  uint64_t u = 0;
  switch (k->kind) {
    case K_LEVEL:
      return gsp_opt_level_parse(s, (gsp_opt_level *)(void *)p) == GSP_OK;
    case K_STRATEGY: {
      gsp_opt_strategy st;
      if (gsp_opt_strategy_parse(s, &st) != GSP_OK || st == GSP_OPT_CUSTOM) return false;
      *(gsp_opt_strategy *)(void *)p = st;
      return true;
    }
    case K_SWITCH:
      return parse_switch(s, (gsp_opt_switch *)(void *)p);
    case K_SECONDS: {
      char *end = NULL;
      errno = 0;
      double d = strtod(s, &end);
      if (s[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(d) || d < 0 || d > 1e7)
        return false;
      *(double *)(void *)p = d;
      return true;
    }
    default:
      break;
  }
  if (!parse_uint(s, kind_max(k->kind), &u)) return false;
  if (k->kind == K_UINT) *(unsigned *)(void *)p = (unsigned)u;
  if (k->kind == K_SIZE) *(size_t *)(void *)p = (size_t)u;
  if (k->kind == K_U64) *(uint64_t *)(void *)p = u;
  return true;
}

/* A JSON value as text for set_from_text; false if of the wrong type. */
static bool json_to_text(const key_def *k, json_t *v, char *buf, size_t cap) {
  if (k->kind == K_LEVEL || k->kind == K_STRATEGY) {
    if (!json_is_string(v)) return false;
    (void)snprintf(buf, cap, "%s", json_string_value(v));
    return true;
  }
  if (k->kind == K_SWITCH) {
    if (!json_is_boolean(v)) return false;
    (void)snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
    return true;
  }
  if (k->kind == K_SECONDS && json_is_number(v)) {
    (void)snprintf(buf, cap, "%.17g", json_number_value(v));
    return true;
  }
  if (!json_is_integer(v)) return false;
  (void)snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
  return true;
}

static void value_text(json_t *v, char *buf, size_t cap) {
  char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  (void)snprintf(buf, cap, "%.60s", d != NULL ? d : "?");
  json_malloc_t jm = NULL;
  json_free_t jf = NULL;
  json_get_alloc_funcs(&jm, &jf); /* the text is jansson's allocation */
  if (d != NULL && jf != NULL) jf(d);
}

static int load_object(const char *path, json_t *root, gsp_opt_config *c, char *err, size_t cap) {
  const char *name;
  json_t *v;
  json_object_foreach(root, name, v) {
    const key_def *k = find_key(name);
    char text[128], shown[64];
    if (k == NULL) {
      put_err(err, cap, "%s: unknown key \"%s\"", path, name);
      return GSP_EFORMAT;
    }
    if (!json_to_text(k, v, text, sizeof text) || !set_from_text(c, k, text)) {
      value_text(v, shown, sizeof shown);
      put_err(err, cap, "%s: key \"%s\": bad value %s", path, name, shown);
      return GSP_EFORMAT;
    }
  }
  return GSP_OK;
}

int gsp_opt_config_load(const char *path, gsp_opt_config *cfg, char *err, size_t cap) {
  if (path == NULL || cfg == NULL) return GSP_EINVAL;
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (root == NULL) {
    bool unreadable = json_error_code(&je) == json_error_cannot_open_file;
    put_err(err, cap, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return unreadable ? GSP_EIO : GSP_EFORMAT;
  }
  int rv = GSP_EFORMAT;
  gsp_opt_config tmp = *cfg;
  if (!json_is_object(root))
    put_err(err, cap, "%s: the configuration must be a JSON object", path);
  else
    rv = load_object(path, root, &tmp, err, cap);
  json_decref(root);
  if (rv == GSP_OK) rv = gsp_opt_config_check(&tmp, err, cap);
  if (rv == GSP_OK) *cfg = tmp;
  return rv == GSP_EINVAL ? GSP_EFORMAT : rv;
}

int gsp_opt_config_from_env(gsp_opt_config *cfg, char *err, size_t cap) {
  if (cfg == NULL) return GSP_EINVAL;
  gsp_opt_config tmp = *cfg;
  for (size_t i = 0; i < NKEYS; i++) {
    char var[64] = "GSPERF_";
    size_t n = strlen(var);
    for (const char *s = keys[i].name; *s && n + 1 < sizeof var; s++)
      var[n++] = (char)toupper((unsigned char)*s);
    var[n] = '\0';
    const char *v = getenv(var);
    if (v == NULL) continue;
    if (!set_from_text(&tmp, &keys[i], v)) {
      put_err(err, cap, "environment: %s: bad value \"%.60s\"", var, v);
      return GSP_EFORMAT;
    }
  }
  int rv = gsp_opt_config_check(&tmp, err, cap);
  if (rv != GSP_OK) return GSP_EFORMAT;
  *cfg = tmp;
  return GSP_OK;
}
