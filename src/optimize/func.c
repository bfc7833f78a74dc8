/*
 * func.c - wrapped functions: registration, the call path, monitoring,
 * the scope macro's functions and per-function statistics.
 *
 * A call (gsp_opt_call) builds the cache key on the stack (the function's
 * name, a NUL, then the argument bytes or what the key callback writes;
 * keys above GSP__OPT_KEYBUF bytes go to the heap), picks the strategy
 * (CUSTOM asks the host's route callback) and serves the call:
 *
 *   BALANCED, CPU, IO   gsp_cache_get_or_compute (single-flight) with fn
 *                       on the caller's thread; or fn alone without a cache.
 *   MEMORY              get (the cache, then the compressed store); on a
 *                       miss, single-flight (mflight.c): one caller runs fn
 *                       and stores the result if gsp__opt_should_store()
 *                       agrees (size, pressure, the host's cacheable
 *                       callback), concurrent callers of the key share it.
 *   CUSTOM              get; on a miss run fn and put as MEMORY does.
 *   LATENCY             flight.c;  THROUGHPUT  gather.c.
 *
 * Then it records: calls, errors, cache hits or misses (when the cache was
 * asked), and the duration from entry to return (unless switched off, or
 * a hit with GSP_OPT_MON_HIT_DURATION). A "hit" is a call served without
 * running fn for it: a cache hit, or a share of another caller's result.
 *
 * The hot path of a hit takes no engine lock: the key copy, one cache
 * lookup (its shard's lock), three per-thread counter increments and, when
 * timed, two clock reads and a histogram record.
 */
#include <string.h>

#include "opt_int.h"

/* ---- registration ---------------------------------------------------------- */

static int make_series(gsp_opt_engine *e, gsp_opt_func *f) {
  const char *lv[] = {f->name};
  int rv = gsp_metrics_counter(e->f_calls, lv, &f->calls);
  if (rv == GSP_OK) rv = gsp_metrics_counter(e->f_errors, lv, &f->errors);
  if (rv == GSP_OK) rv = gsp_metrics_counter(e->f_hits, lv, &f->hits);
  if (rv == GSP_OK) rv = gsp_metrics_counter(e->f_misses, lv, &f->misses);
  if (rv == GSP_OK) rv = gsp_metrics_histogram(e->f_dur, lv, &f->dur);
  return rv;
}

static int check_opts(gsp_opt_engine *e, const char *name, const gsp_opt_func_opts *o) {
  if ((unsigned)o->strategy > GSP_OPT_CUSTOM) {
    gsp__opt_seterr(e, "function %s: strategy %d unknown", name, (int)o->strategy);
    return GSP_EINVAL;
  }
  if (o->strategy == GSP_OPT_CUSTOM && o->policy.route == NULL) {
    gsp__opt_seterr(e, "function %s: strategy custom needs policy.route", name);
    return GSP_EINVAL;
  }
  if (o->batch_size > 65536) {
    gsp__opt_seterr(e, "function %s: batch_size %u is above 65536", name, o->batch_size);
    return GSP_EINVAL;
  }
  if ((unsigned)o->caching > GSP_OPT_OFF) {
    gsp__opt_seterr(e, "function %s: caching %d is not a switch value", name, (int)o->caching);
    return GSP_EINVAL;
  }
  if (o->cache != NULL && !gsp__opt_name_ok(o->cache)) {
    gsp__opt_seterr(e, "function %s: bad cache name \"%.130s\"", name, o->cache);
    return GSP_EINVAL;
  }
  return GSP_OK;
}

static void resolve_opts(gsp_opt_engine *e, gsp_opt_func *f, const gsp_opt_func_opts *o) {
  f->o = *o;
  f->o.cache = NULL;
  if (f->o.strategy == GSP_OPT_DEFAULT) f->o.strategy = e->cfg.strategy;
  if (f->o.batch_size == 0) f->o.batch_size = e->cfg.batch_size;
  if (f->o.timeout_ms == 0) f->o.timeout_ms = (uint64_t)(e->cfg.timeout_seconds * 1000.0);
  if (e->cfg.enable_caching != GSP_OPT_ON) f->o.caching = GSP_OPT_OFF;
  if (f->o.caching == GSP_OPT_SWITCH_DEFAULT) f->o.caching = GSP_OPT_ON;
}

static gsp_opt_func *func_new(gsp_opt_engine *e, const char *name, const gsp_opt_func_opts *o) {
  gsp_opt_func *f = gsp_calloc(1, sizeof *f);
  if (f == NULL) return NULL;
  f->e = e;
  f->name = gsp_strdup(name);
  f->nlen = strlen(name);
  resolve_opts(e, f, o);
  const char *cn = o->cache != NULL ? o->cache : "default";
  f->cache_name = f->o.caching == GSP_OPT_ON ? gsp_strdup(cn) : NULL;
  bool ok = f->name != NULL && (f->o.caching != GSP_OPT_ON || f->cache_name != NULL);
  if (ok && pthread_mutex_init(&f->fl_mu, NULL) != 0) ok = false;
  if (ok && pthread_mutex_init(&f->tp_mu, NULL) != 0) {
    pthread_mutex_destroy(&f->fl_mu);
    ok = false;
  }
  if (!ok) {
    gsp_free(f->cache_name);
    gsp_free(f->name);
    gsp_free(f);
    return NULL;
  }
  return f;
}

static void func_discard(gsp_opt_func *f) {
  gsp_tier_destroy(f->big);
  pthread_mutex_destroy(&f->fl_mu);
  pthread_mutex_destroy(&f->tp_mu);
  gsp_free(f->cache_name);
  gsp_free(f->name);
  gsp_free(f);
}

static int add_locked(gsp_opt_engine *e, gsp_opt_func *f) {
  for (gsp_opt_func *g = e->funcs; g != NULL; g = g->next)
    if (strcmp(g->name, f->name) == 0) return GSP_EEXIST;
  int rv = make_series(e, f);
  if (rv != GSP_OK) return rv;
  f->next = e->funcs;
  e->funcs = f;
  e->nfuncs++;
  return GSP_OK;
}

static int do_register(gsp_opt_engine *e, const char *name, gsp_opt_fn fn, void *user,
                       const gsp_opt_func_opts *opts, gsp_opt_func **out) {
  if (!gsp__opt_name_ok(name)) {
    gsp__opt_seterr(e, "bad function name \"%.130s\" (1-128 of [A-Za-z0-9_.:/-])",
                    name ? name : "(null)");
    return GSP_EINVAL;
  }
  gsp_opt_func_opts o = opts != NULL ? *opts : (gsp_opt_func_opts){0};
  int rv = check_opts(e, name, &o);
  if (rv != GSP_OK) return rv;
  gsp_opt_func *f = func_new(e, name, &o);
  if (f == NULL) return GSP_ENOMEM;
  f->fn = fn;
  f->user = user;
  if (f->cache_name != NULL) rv = gsp__opt_cache_for(e, f->cache_name, &f->cache);
  if (rv == GSP_OK) rv = gsp__opt_memstore_create(f);
  if (rv == GSP_OK) {
    pthread_mutex_lock(&e->mu);
    rv = add_locked(e, f);
    pthread_mutex_unlock(&e->mu);
  }
  if (rv != GSP_OK) {
    if (rv == GSP_EEXIST) gsp__opt_seterr(e, "function %s: already registered", name);
    func_discard(f);
    return rv;
  }
  *out = f;
  return GSP_OK;
}

int gsp_opt_register(gsp_opt_engine *e, const char *name, gsp_opt_fn fn, void *user,
                     const gsp_opt_func_opts *opts, gsp_opt_func **out) {
  if (e == NULL || out == NULL) return GSP_EINVAL;
  *out = NULL;
  if (fn == NULL) {
    gsp__opt_seterr(e, "function %.130s: fn is NULL", name ? name : "(null)");
    return GSP_EINVAL;
  }
  return do_register(e, name, fn, user, opts, out);
}

int gsp_opt_register_monitor(gsp_opt_engine *e, const char *name, gsp_opt_func **out) {
  if (e == NULL || out == NULL) return GSP_EINVAL;
  *out = NULL;
  gsp_opt_func_opts o = {.caching = GSP_OPT_OFF};
  return do_register(e, name, NULL, NULL, &o, out);
}

gsp_opt_func *gsp_opt_find(gsp_opt_engine *e, const char *name) {
  if (e == NULL || name == NULL) return NULL;
  pthread_mutex_lock(&e->mu);
  gsp_opt_func *f = e->funcs;
  while (f != NULL && strcmp(f->name, name) != 0) f = f->next;
  pthread_mutex_unlock(&e->mu);
  return f;
}

const char *gsp_opt_func_name(const gsp_opt_func *f) { return f ? f->name : NULL; }
gsp_opt_strategy gsp_opt_func_strategy(const gsp_opt_func *f) {
  return f ? f->o.strategy : GSP_OPT_DEFAULT;
}

/* ---- results and monitoring ------------------------------------------------ */

void gsp_opt_result_release(gsp_opt_result *r) {
  if (r == NULL) return;
  gsp_cache_ref_release(r->ref_);
  gsp_free(r->own_);
  r->ref_ = NULL;
  r->own_ = NULL;
  r->data = NULL;
  r->len = 0;
}

static void record(gsp_opt_func *f, uint64_t t0, int rv, const gsp__opt_call *c) {
  gsp_counter_inc(f->calls);
  if (rv != GSP_OK) gsp_counter_inc(f->errors);
  if (rv == GSP_ETIMEDOUT) atomic_fetch_add_explicit(&f->timeouts, 1, memory_order_relaxed);
  if (c != NULL && c->looked_up) gsp_counter_inc(c->hit ? f->hits : f->misses);
  if (t0 != 0) gsp_hist_record(f->dur, gsp_now_ns() - t0);
}

void gsp_opt_record(gsp_opt_func *f, uint64_t duration_ns, int status) {
  if (f == NULL) return;
  gsp_counter_inc(f->calls);
  if (status != GSP_OK) gsp_counter_inc(f->errors);
  if (!(f->o.monitor_off & GSP_OPT_MON_DURATION)) gsp_hist_record(f->dur, duration_ns);
}

gsp_opt_scope gsp_opt_scope_open(gsp_opt_func *f, const int *status) {
  return (gsp_opt_scope){.f_ = f, .status_ = status, .t0_ = gsp_now_ns()};
}

void gsp_opt_scope_close(gsp_opt_scope *s) {
  if (s == NULL || s->f_ == NULL) return;
  gsp_opt_record(s->f_, gsp_now_ns() - s->t0_, s->status_ != NULL ? *s->status_ : GSP_OK);
  s->f_ = NULL;
}

int gsp_opt_func_stats_get(gsp_opt_func *f, gsp_opt_func_stats *out) {
  if (f == NULL || out == NULL) return GSP_EINVAL;
  gsp_hist_snap *snap = NULL;
  int rv = gsp_hist_snap_create(&snap);
  if (rv != GSP_OK) return rv;
  memset(out, 0, sizeof *out);
  out->calls = gsp_counter_value(f->calls);
  out->errors = gsp_counter_value(f->errors);
  out->cache_hits = gsp_counter_value(f->hits);
  out->cache_misses = gsp_counter_value(f->misses);
  out->timeouts = atomic_load_explicit(&f->timeouts, memory_order_relaxed);
  out->batches = atomic_load_explicit(&f->batches, memory_order_relaxed);
  uint64_t looked = out->cache_hits + out->cache_misses;
  out->hit_rate = looked ? (double)out->cache_hits / (double)looked : 0.0;
  gsp_hist_snapshot(f->dur, snap);
  gsp_hist_snap_summary(snap, &out->duration);
  gsp_hist_snap_destroy(snap);
  return GSP_OK;
}

/* ---- the call path ---------------------------------------------------------- */

int gsp__opt_run_fn(gsp_opt_func *f, const void *arg, size_t arglen, void **val, size_t *vlen) {
  *val = NULL;
  *vlen = 0;
  int rv = f->fn(f->user, arg, arglen, val, vlen);
  if (rv != GSP_OK || (*val == NULL && *vlen != 0)) {
    gsp_free(*val);
    *val = NULL;
    *vlen = 0;
    return rv < 0 ? rv : GSP_EINVAL;
  }
  return GSP_OK;
}

/* Build the key into buf (cap bytes) or a heap block (*heap, caller frees). */
static int build_key(gsp_opt_func *f, gsp__opt_call *c, unsigned char *buf, size_t cap,
                     unsigned char **heap) {
  size_t pre = f->nlen + 1, need = pre + c->arglen;
  unsigned char *k = buf;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (need > cap) {
      gsp_free(*heap);
      *heap = k = gsp_malloc(need);
      if (k == NULL) return GSP_ENOMEM;
      cap = need;
    }
    memcpy(k, f->name, pre);
    size_t klen = c->arglen;
    int rv = GSP_OK;
    if (f->o.key == NULL) {
      if (klen) memcpy(k + pre, c->arg, klen);
    } else {
      rv = f->o.key(f->o.key_user, c->arg, c->arglen, k + pre, cap - pre, &klen);
    }
    if (rv == GSP_ERANGE && attempt == 0 && pre + klen > cap) {
      need = pre + klen;
      continue;
    }
    if (rv != GSP_OK) return rv;
    c->key = k;
    c->klen = pre + klen;
    return GSP_OK;
  }
  return GSP_ERANGE;
}

typedef struct compute_ctx {
  gsp__opt_call *c;
  bool ran;
} compute_ctx;

static int compute_cb(void *user, const void *key, size_t klen, void **val, size_t *vlen) {
  compute_ctx *x = user;
  x->ran = true;
  return gsp__opt_run_fn(x->c->f, x->c->arg, x->c->arglen, val, vlen);
}

static int serve_single_flight(gsp__opt_call *c, gsp_opt_result *out) {
  gsp_opt_func *f = c->f;
  compute_ctx x = {c, false};
  gsp_cache_put_opts po = {.ttl_ms = f->o.ttl_ms};
  gsp_cache_ref *ref = NULL;
  c->looked_up = true;
  int rv = gsp_cache_get_or_compute(f->cache, c->key, c->klen, compute_cb, &x, &po, &ref);
  c->hit = !x.ran;
  if (rv != GSP_OK) return rv;
  out->ref_ = ref;
  out->data = gsp_cache_ref_value(ref, &out->len);
  return GSP_OK;
}

bool gsp__opt_should_store(gsp_opt_func *f, gsp_opt_strategy s, const void *arg, size_t arglen,
                           size_t vlen) {
  if (f->cache == NULL) return false;
  if (f->o.strategy == GSP_OPT_CUSTOM && f->o.policy.cacheable != NULL &&
      !f->o.policy.cacheable(f->o.policy.user, arg, arglen, vlen))
    return false;
  if (s != GSP_OPT_MEMORY) return true;
  if (vlen > f->e->cfg.max_value_bytes) return false;
  return gsp_mempressure_level(f->e->mem) == GSP_MEM_NORMAL;
}

void gsp__opt_store(gsp_opt_func *f, const gsp__opt_call *c, const void *val, size_t vlen) {
  gsp_cache_put_opts po = {.ttl_ms = f->o.ttl_ms};
  (void)gsp_cache_put(f->cache, c->key, c->klen, val, vlen, &po); /* best effort */
}

/* Cache lookup; true on a hit (out filled). */
static bool lookup(gsp__opt_call *c, gsp_opt_result *out) {
  gsp_cache_ref *ref = NULL;
  c->looked_up = true;
  if (gsp_cache_get(c->f->cache, c->key, c->klen, &ref) != GSP_OK) return false;
  c->hit = true;
  out->ref_ = ref;
  out->data = gsp_cache_ref_value(ref, &out->len);
  return true;
}

static int serve_get_put(gsp__opt_call *c, gsp_opt_strategy s, gsp_opt_result *out) {
  gsp_opt_func *f = c->f;
  if (f->cache != NULL && lookup(c, out)) return GSP_OK;
  if (s == GSP_OPT_MEMORY && gsp__opt_memstore_get(f, c, out)) {
    c->hit = true;
    return GSP_OK;
  }
  if (s == GSP_OPT_MEMORY) return gsp__opt_memory(c, out); /* single-flight */
  return gsp__opt_compute_store(c, s, out);
}

int gsp__opt_compute_store(gsp__opt_call *c, gsp_opt_strategy s, gsp_opt_result *out) {
  gsp_opt_func *f = c->f;
  void *val = NULL;
  size_t vlen = 0;
  int rv = gsp__opt_run_fn(f, c->arg, c->arglen, &val, &vlen);
  if (rv != GSP_OK) return rv;
  if (gsp__opt_should_store(f, s, c->arg, c->arglen, vlen)) {
    gsp__opt_store(f, c, val, vlen);
  } else if (s == GSP_OPT_MEMORY && vlen > f->e->cfg.max_value_bytes &&
             gsp_mempressure_level(f->e->mem) == GSP_MEM_NORMAL) {
    gsp__opt_memstore_put(f, c, val, vlen);
  }
  out->own_ = val;
  out->data = val;
  out->len = vlen;
  return GSP_OK;
}

static int serve(gsp__opt_call *c, gsp_opt_strategy s, gsp_opt_result *out) {
  gsp_opt_func *f = c->f;
  switch (s) {
    case GSP_OPT_LATENCY:
      if (f->cache != NULL && lookup(c, out)) return GSP_OK;
      return gsp__opt_latency(c, out);
    case GSP_OPT_THROUGHPUT:
      if (f->cache != NULL && lookup(c, out)) return GSP_OK;
      return gsp__opt_throughput(c, out);
    case GSP_OPT_MEMORY:
      return serve_get_put(c, s, out);
    default:
      break;
  }
  if (f->o.strategy == GSP_OPT_CUSTOM || f->cache == NULL) return serve_get_put(c, s, out);
  return serve_single_flight(c, out);
}

gsp_opt_strategy gsp__opt_route(gsp_opt_func *f, const void *arg, size_t arglen) {
  if (f->o.strategy != GSP_OPT_CUSTOM) return f->o.strategy;
  gsp_opt_strategy s = f->o.policy.route(f->o.policy.user, arg, arglen);
  return (s >= GSP_OPT_BALANCED && s < GSP_OPT_CUSTOM) ? s : GSP_OPT_BALANCED;
}

int gsp__opt_item(gsp_opt_func *f, gsp_opt_strategy s, const void *arg, size_t arglen,
                  gsp_opt_result *out) {
  unsigned mo = f->o.monitor_off;
  uint64_t t0 = (mo & GSP_OPT_MON_DURATION) ? 0 : gsp_now_ns();
  gsp__opt_call c = {.f = f, .arg = arg, .arglen = arglen};
  unsigned char buf[GSP__OPT_KEYBUF], *heap = NULL;
  bool keyed = f->cache != NULL || s == GSP_OPT_LATENCY || s == GSP_OPT_MEMORY; /* flights too */
  int rv = keyed ? build_key(f, &c, buf, sizeof buf, &heap) : GSP_OK;
  if (rv == GSP_OK) rv = serve(&c, s, out);
  gsp_free(heap);
  if (c.hit && (mo & GSP_OPT_MON_HIT_DURATION)) t0 = 0;
  record(f, t0, rv, &c);
  out->status = rv;
  return rv;
}

int gsp_opt_call(gsp_opt_func *f, const void *arg, size_t arglen, gsp_opt_result *out) {
  if (out != NULL) memset(out, 0, sizeof *out);
  if (f == NULL || out == NULL || (arg == NULL && arglen != 0)) return GSP_EINVAL;
  if (f->fn == NULL) return GSP_EINVAL;
  return gsp__opt_item(f, gsp__opt_route(f, arg, arglen), arg, arglen, out);
}
