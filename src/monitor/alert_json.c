/*
 * alert_json.c - alert rules from a JSON file (jansson).
 *
 * The file is an array of rule objects, or an object whose "rules" member
 * is one. Each object is read field by field into a gsp_alert_rule whose
 * strings point into the jansson tree; unknown keys, wrong types and bad
 * values are errors naming the file, the rule's index and name, and the
 * field. All rules are checked first, then added in one step
 * (gsp__add_rules), so a file either loads whole or not at all.
 *
 * jansson allocates with its own allocator (we do not change its global
 * hooks, which belong to the host); every copy the monitor keeps is made
 * with gsp_malloc.
 */
#include <jansson.h>
#include <string.h>

#include "monitor_int.h"

typedef struct jctx {
  gsp_monitor *mon;
  const char *path;
  size_t idx;
  const char *name;
} jctx;

static int field_err(jctx *c, const char *field, const char *why) {
  gsp__mon_err(c->mon, "%s: rule %zu (%s): field \"%s\": %s", c->path, c->idx,
               c->name ? c->name : "?", field, why);
  return GSP_EFORMAT;
}

static int get_string(jctx *c, json_t *o, const char *key, bool required, const char **out) {
  json_t *v = json_object_get(o, key);
  if (v == NULL) return required ? field_err(c, key, "missing") : GSP_OK;
  if (!json_is_string(v)) return field_err(c, key, "must be a string");
  *out = json_string_value(v);
  return GSP_OK;
}

static int get_ms(jctx *c, json_t *o, const char *key, uint64_t *out) {
  json_t *v = json_object_get(o, key);
  if (v == NULL) return GSP_OK;
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return field_err(c, key, "must be a non-negative integer (milliseconds)");
  *out = (uint64_t)json_integer_value(v);
  return GSP_OK;
}

static int check_keys(jctx *c, json_t *o) {
  static const char *const known[] = {"name",      "metric", "labels", "comparison",
                                      "threshold", "level",  "for_ms", "cooldown_ms"};
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof *known && !ok; i++)
      ok = strcmp(key, known[i]) == 0;
    if (!ok) return field_err(c, key, "unknown key");
  }
  return GSP_OK;
}

static int get_enums(jctx *c, json_t *o, gsp_alert_rule *r) {
  const char *cmp = NULL, *level = NULL;
  int rv = get_string(c, o, "comparison", true, &cmp);
  if (rv == GSP_OK && !gsp__cmp_parse(cmp, &r->cmp))
    rv = field_err(c, "comparison", "must be one of > >= < <= == !=");
  if (rv == GSP_OK) rv = get_string(c, o, "level", false, &level);
  if (rv == GSP_OK && level && !gsp__level_parse(level, &r->level))
    rv = field_err(c, "level", "must be INFO, WARNING, ERROR or CRITICAL");
  return rv;
}

static int parse_rule(jctx *c, json_t *o, gsp_alert_rule *r) {
  *r = (gsp_alert_rule){.level = GSP_ALERT_WARNING};
  c->name = NULL;
  if (!json_is_object(o)) return field_err(c, "(rule)", "must be an object");
  int rv = get_string(c, o, "name", true, &r->name);
  if (rv == GSP_OK) c->name = r->name;
  if (rv == GSP_OK) rv = check_keys(c, o);
  if (rv == GSP_OK) rv = get_string(c, o, "metric", true, &r->metric);
  if (rv == GSP_OK && gsp_metrics_check_name(r->metric) != GSP_OK)
    rv = field_err(c, "metric", "is not a valid metric name");
  if (rv == GSP_OK) rv = get_string(c, o, "labels", false, &r->labels);
  if (rv == GSP_OK) rv = get_enums(c, o, r);
  json_t *t = json_object_get(o, "threshold");
  if (rv == GSP_OK && !json_is_number(t)) rv = field_err(c, "threshold", "must be a number");
  if (rv == GSP_OK) r->threshold = json_number_value(t);
  if (rv == GSP_OK) rv = get_ms(c, o, "for_ms", &r->for_ms);
  if (rv == GSP_OK) rv = get_ms(c, o, "cooldown_ms", &r->cooldown_ms);
  return rv;
}

static int load_array(gsp_monitor *mon, const char *path, json_t *arr) {
  size_t n = json_array_size(arr);
  if (n == 0) return GSP_OK;
  gsp_alert_rule *rules = gsp_calloc(n, sizeof *rules);
  if (rules == NULL) return GSP_ENOMEM;
  jctx c = {.mon = mon, .path = path};
  int rv = GSP_OK;
  for (c.idx = 0; rv == GSP_OK && c.idx < n; c.idx++)
    rv = parse_rule(&c, json_array_get(arr, c.idx), &rules[c.idx]);
  if (rv == GSP_OK) rv = gsp__add_rules(mon, rules, n);
  if (rv == GSP_EEXIST || rv == GSP_ENOSPC || rv == GSP_EINVAL) {
    char inner[GSP__MON_ERR_LEN];
    memcpy(inner, mon->errmsg, sizeof inner);
    gsp__mon_err(mon, "%s: %s", path, inner);
  }
  gsp_free(rules);
  return rv;
}

int gsp_monitor_load_rules(gsp_monitor *mon, const char *path) {
  if (mon == NULL || path == NULL) return GSP_EINVAL;
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (root == NULL) {
    bool io = je.line == -1 || json_error_code(&je) == json_error_cannot_open_file;
    gsp__mon_err(mon, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return io ? GSP_EIO : GSP_EFORMAT;
  }
  json_t *arr = json_is_object(root) ? json_object_get(root, "rules") : root;
  int rv;
  if (!json_is_array(arr)) {
    gsp__mon_err(mon, "%s: expected an array of rules or {\"rules\": [...]}", path);
    rv = GSP_EFORMAT;
  } else {
    rv = load_array(mon, path, arr);
  }
  json_decref(root);
  return rv;
}
