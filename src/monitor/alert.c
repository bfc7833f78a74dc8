/*
 * alert.c - alert rules, their state machine, the event history, and the
 * regression pass over duration series.
 *
 * Rules live in an array of max_rules slots allocated at create; a rule's
 * strings are copied when it is added. Evaluation (under eval_lock, then
 * mon->lock) computes each rule's condition from the newest value of the
 * matching series (labels NULL: any series of that name; the condition
 * holds if it holds for one of them), steps the state machine described in
 * monitor.h, and writes each transition to the history ring and to the
 * scratch array. Then each duration series with new values is tested for a
 * regression (regress.c). Finally mon->lock is released and the callback is
 * called for each scratch event, still under eval_lock, so callbacks arrive
 * in order and never overlap.
 *
 * Cost: O(rules x series) compares plus one Mann-Whitney test per duration
 * series that received values, per evaluation.
 */
#include <stdio.h>
#include <string.h>

#include "monitor_int.h"

static const char *const k_levels[] = {"INFO", "WARNING", "ERROR", "CRITICAL"};
static const char *const k_states[] = {"inactive", "pending", "firing", "resolved"};
static const char *const k_cmps[] = {">", ">=", "<", "<=", "==", "!="};

const char *gsp_alert_level_name(gsp_alert_level level) {
  return (unsigned)level < 4 ? k_levels[level] : "UNKNOWN";
}

const char *gsp_alert_state_name(gsp_alert_state state) {
  return (unsigned)state < 4 ? k_states[state] : "unknown";
}

bool gsp__cmp_parse(const char *s, gsp_alert_cmp *out) {
  for (int i = 0; i < 6; i++)
    if (strcmp(s, k_cmps[i]) == 0) return (*out = (gsp_alert_cmp)i), true;
  return false;
}

bool gsp__level_parse(const char *s, gsp_alert_level *out) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, k_levels[i]) == 0) return (*out = (gsp_alert_level)i), true;
  return false;
}

static void rule_free(gsp__rule *r) {
  gsp_free(r->name);
  gsp_free(r->metric);
  gsp_free(r->labels);
  memset(r, 0, sizeof *r);
}

void gsp__rules_free(gsp_monitor *mon) {
  for (size_t i = 0; mon->rules && i < mon->nrules; i++) rule_free(&mon->rules[i]);
  mon->nrules = 0;
}

/* ---- adding rules ------------------------------------------------------------ */

static gsp__rule *find_rule_locked(gsp_monitor *mon, const char *name) {
  for (size_t i = 0; i < mon->nrules; i++)
    if (strcmp(mon->rules[i].name, name) == 0) return &mon->rules[i];
  return NULL;
}

static int check_rule(gsp_monitor *mon, const gsp_alert_rule *r, size_t idx) {
  if (!r->name || !r->name[0] || !r->metric || (unsigned)r->cmp > GSP_ALERT_NE ||
      (unsigned)r->level > GSP_ALERT_CRITICAL || r->threshold != r->threshold) {
    gsp__mon_err(mon, "rule %zu (%s): name, metric, comparison, level or threshold invalid", idx,
                 r->name ? r->name : "?");
    return GSP_EINVAL;
  }
  if (gsp_metrics_check_name(r->metric) != GSP_OK) {
    gsp__mon_err(mon, "rule %zu (%s): metric \"%s\" is not a valid name", idx, r->name, r->metric);
    return GSP_EINVAL;
  }
  return GSP_OK;
}

static int check_names_locked(gsp_monitor *mon, const gsp_alert_rule *rules, size_t n) {
  if (mon->nrules + n > mon->max_rules) {
    gsp__mon_err(mon, "too many rules: max_rules is %zu", mon->max_rules);
    return GSP_ENOSPC;
  }
  for (size_t i = 0; i < n; i++) {
    bool dup = find_rule_locked(mon, rules[i].name) != NULL;
    for (size_t j = 0; j < i && !dup; j++) dup = strcmp(rules[j].name, rules[i].name) == 0;
    if (dup) {
      gsp__mon_err(mon, "rule %zu (%s): a rule of that name exists", i, rules[i].name);
      return GSP_EEXIST;
    }
  }
  return GSP_OK;
}

static int copy_rule(gsp__rule *d, const gsp_alert_rule *r) {
  *d = (gsp__rule){.cmp = r->cmp,
                   .threshold = r->threshold,
                   .level = r->level,
                   .for_ns = r->for_ms * 1000000u,
                   .cooldown_ns = r->cooldown_ms * 1000000u};
  d->name = gsp_strdup(r->name);
  d->metric = gsp_strdup(r->metric);
  d->labels = r->labels ? gsp_strdup(r->labels) : NULL;
  if (!d->name || !d->metric || (r->labels && !d->labels)) {
    rule_free(d);
    return GSP_ENOMEM;
  }
  return GSP_OK;
}

static int add_rules_locked(gsp_monitor *mon, const gsp_alert_rule *rules, size_t n) {
  int rv = check_names_locked(mon, rules, n);
  if (rv != GSP_OK) return rv;
  gsp__rule *dst = &mon->rules[mon->nrules];
  for (size_t i = 0; i < n; i++) {
    rv = copy_rule(&dst[i], &rules[i]);
    if (rv == GSP_OK) continue;
    while (i-- > 0) rule_free(&dst[i]); /* undo the copies made so far */
    return rv;
  }
  mon->nrules += n;
  return GSP_OK;
}

int gsp__add_rules(gsp_monitor *mon, const gsp_alert_rule *rules, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int rv = check_rule(mon, &rules[i], i);
    if (rv != GSP_OK) return rv;
  }
  pthread_mutex_lock(&mon->lock);
  int rv = add_rules_locked(mon, rules, n);
  pthread_mutex_unlock(&mon->lock);
  return rv;
}

int gsp_monitor_add_rule(gsp_monitor *mon, const gsp_alert_rule *rule) {
  if (mon == NULL || rule == NULL) return GSP_EINVAL;
  return gsp__add_rules(mon, rule, 1);
}

int gsp_monitor_rule_state(gsp_monitor *mon, const char *name, gsp_alert_state *out) {
  if (mon == NULL || name == NULL || out == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&mon->lock);
  gsp__rule *r = find_rule_locked(mon, name);
  if (r) *out = r->state;
  pthread_mutex_unlock(&mon->lock);
  return r ? GSP_OK : GSP_ENOENT;
}

size_t gsp_monitor_rules_foreach(gsp_monitor *mon, gsp_monitor_rule_fn fn, void *user) {
  if (mon == NULL || fn == NULL) return 0;
  pthread_mutex_lock(&mon->lock);
  size_t n = mon->nrules;
  for (size_t i = 0; i < n; i++) {
    const gsp__rule *r = &mon->rules[i];
    gsp_alert_rule pub = {r->name,
                          r->metric,
                          r->labels,
                          r->cmp,
                          r->threshold,
                          r->level,
                          r->for_ns / 1000000u,
                          r->cooldown_ns / 1000000u};
    fn(user, &pub, r->state);
  }
  pthread_mutex_unlock(&mon->lock);
  return n;
}

/* ---- evaluation ---------------------------------------------------------------- */

static bool compare(gsp_alert_cmp c, double v, double t) {
  switch (c) {
    case GSP_ALERT_GT:
      return v > t;
    case GSP_ALERT_GE:
      return v >= t;
    case GSP_ALERT_LT:
      return v < t;
    case GSP_ALERT_LE:
      return v <= t;
    case GSP_ALERT_EQ:
      return v == t;
    case GSP_ALERT_NE:
      return v != t;
  }
  return false;
}

/* The rule's condition now; *value is the value that made it true, or the
 * newest value of the first matching series. */
static bool condition_locked(gsp_monitor *mon, const gsp__rule *r, double *value) {
  bool seen = false;
  for (size_t i = 0; i < mon->nseries; i++) {
    const gsp__series *s = mon->series[i];
    if (!s->has_last || strcmp(s->name, r->metric) != 0) continue;
    if (r->labels && strcmp(s->labels, r->labels) != 0) continue;
    if (!seen) *value = s->last;
    seen = true;
    if (compare(r->cmp, s->last, r->threshold)) return (*value = s->last), true;
  }
  return false;
}

static void emit_locked(gsp_monitor *mon, size_t *nev, const gsp_alert_event *ev) {
  mon->scratch[(*nev)++] = *ev;
  size_t idx = (mon->ev_head + mon->ev_len) % mon->max_events;
  mon->events[idx] = *ev;
  if (mon->ev_len < mon->max_events)
    mon->ev_len++;
  else
    mon->ev_head = (mon->ev_head + 1) % mon->max_events;
}

static void rule_event(gsp_monitor *mon, size_t *nev, const gsp__rule *r, gsp_alert_event_kind kind,
                       double v, uint64_t now) {
  gsp_alert_event ev = {
      .kind = kind, .level = r->level, .value = v, .baseline = r->threshold, .t_ns = now};
  snprintf(ev.rule, sizeof ev.rule, "%s", r->name);
  snprintf(ev.series, sizeof ev.series, "%s", r->metric);
  emit_locked(mon, nev, &ev);
}

static void step_rule_locked(gsp_monitor *mon, gsp__rule *r, uint64_t now, size_t *nev) {
  double v = 0;
  if (!condition_locked(mon, r, &v)) {
    if (r->state == GSP_ALERT_FIRING) {
      r->state = GSP_ALERT_RESOLVED;
      rule_event(mon, nev, r, GSP_EVENT_RESOLVED, v, now);
    } else if (r->state == GSP_ALERT_PENDING) {
      r->state = GSP_ALERT_INACTIVE;
    }
    return;
  }
  if (r->state == GSP_ALERT_INACTIVE || r->state == GSP_ALERT_RESOLVED) {
    r->state = GSP_ALERT_PENDING;
    r->since = now;
  }
  bool held = now >= r->since && now - r->since >= r->for_ns;
  bool cooled = !r->fired || (now >= r->last_fired && now - r->last_fired >= r->cooldown_ns);
  if (r->state == GSP_ALERT_PENDING && held && cooled) {
    r->state = GSP_ALERT_FIRING;
    r->fired = true;
    r->last_fired = now;
    rule_event(mon, nev, r, GSP_EVENT_FIRING, v, now);
  }
}

static void regress_pass_locked(gsp_monitor *mon, uint64_t now, size_t *nev) {
  for (size_t i = 0; i < mon->nseries; i++) {
    gsp__series *s = mon->series[i];
    gsp_regress_result res;
    if (s->reg == NULL || s->untested == 0) continue;
    s->untested = 0;
    if (!gsp_regress_test(s->reg, &res)) continue;
    gsp_alert_event ev = {.kind = GSP_EVENT_REGRESSION,
                          .level = GSP_ALERT_WARNING,
                          .value = res.recent_median,
                          .baseline = res.baseline_median,
                          .z = res.z,
                          .t_ns = now};
    snprintf(ev.rule, sizeof ev.rule, "regression");
    snprintf(ev.series, sizeof ev.series, "%s", s->name);
    emit_locked(mon, nev, &ev);
  }
}

int gsp__evaluate(gsp_monitor *mon, uint64_t now) {
  size_t nev = 0;
  pthread_mutex_lock(&mon->lock);
  for (size_t i = 0; i < mon->nrules; i++) step_rule_locked(mon, &mon->rules[i], now, &nev);
  regress_pass_locked(mon, now, &nev);
  pthread_mutex_unlock(&mon->lock);
  for (size_t i = 0; mon->on_alert && i < nev; i++)
    mon->on_alert(mon->on_alert_user, &mon->scratch[i]);
  return GSP_OK;
}

int gsp_monitor_evaluate(gsp_monitor *mon, uint64_t now_ns) {
  if (mon == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&mon->eval_lock);
  int rv = gsp__evaluate(mon, now_ns);
  pthread_mutex_unlock(&mon->eval_lock);
  return rv;
}

size_t gsp_monitor_events(gsp_monitor *mon, gsp_alert_event *buf, size_t cap) {
  if (mon == NULL || buf == NULL) return 0;
  pthread_mutex_lock(&mon->lock);
  size_t n = mon->ev_len < cap ? mon->ev_len : cap;
  size_t skip = mon->ev_len - n;
  for (size_t i = 0; i < n; i++) buf[i] = mon->events[(mon->ev_head + skip + i) % mon->max_events];
  pthread_mutex_unlock(&mon->lock);
  return n;
}
