/*
 * manager.c - named caches (the seed's CacheManager).
 *
 * Layout: an array of (name, cache) kept sorted by name, under one mutex;
 * lookups are binary searches. The manager owns its caches. The mutex
 * guards only the array: cache operations never take it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "gsperf/cache.h"

typedef struct named_cache {
  char *name;
  gsp_cache *cache;
} named_cache;

struct gsp_cache_manager {
  pthread_mutex_t lock;
  named_cache *items;
  size_t n, cap;
  char errmsg[256];
};

int gsp_cache_manager_create(gsp_cache_manager **out) {
  if (out == NULL) return GSP_EINVAL;
  gsp_cache_manager *m = gsp_calloc(1, sizeof *m);
  if (m == NULL) return GSP_ENOMEM;
  if (pthread_mutex_init(&m->lock, NULL) != 0) {
    gsp_free(m);
    return GSP_ENOMEM;
  }
  *out = m;
  return GSP_OK;
}

void gsp_cache_manager_destroy(gsp_cache_manager *m) {
  if (m == NULL) return;
  for (size_t i = 0; i < m->n; i++) {
    gsp_cache_destroy(m->items[i].cache);
    gsp_free(m->items[i].name);
  }
  gsp_free(m->items);
  pthread_mutex_destroy(&m->lock);
  gsp_free(m);
}

/* Index of name, or where it would go (with *found false). */
static size_t search_locked(const gsp_cache_manager *m, const char *name, bool *found) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(m->items[mid].name, name);
    if (cmp == 0) {
      *found = true;
      return mid;
    }
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = false;
  return lo;
}

static int grow_locked(gsp_cache_manager *m) {
  if (m->n < m->cap) return GSP_OK;
  size_t ncap = m->cap ? m->cap * 2 : 8;
  named_cache *ni = gsp_realloc(m->items, ncap * sizeof *ni);
  if (ni == NULL) return GSP_ENOMEM;
  m->items = ni;
  m->cap = ncap;
  return GSP_OK;
}

static int insert_locked(gsp_cache_manager *m, size_t at, const char *name, gsp_cache *c) {
  char *copy = gsp_strdup(name);
  if (copy == NULL || grow_locked(m) != GSP_OK) {
    gsp_free(copy);
    return GSP_ENOMEM;
  }
  memmove(&m->items[at + 1], &m->items[at], (m->n - at) * sizeof *m->items);
  m->items[at] = (named_cache){copy, c};
  m->n++;
  return GSP_OK;
}

/* Names are what JSON and metric labels carry without escaping. */
static bool name_char_ok(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '-' || ch == '.' || ch == ':' || ch == '/';
}

static int check_name(gsp_cache_manager *m, const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 128) {
    snprintf(m->errmsg, sizeof m->errmsg, "cache name must be 1 to 128 characters, not %zu", n);
    return GSP_EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    if (!name_char_ok(name[i])) {
      snprintf(m->errmsg, sizeof m->errmsg,
               "cache name \"%.128s\": character %zu (0x%02x) is not one of [A-Za-z0-9_.:/-]", name,
               i + 1, (unsigned char)name[i]);
      return GSP_EINVAL;
    }
  }
  return GSP_OK;
}

int gsp_cache_manager_create_cache(gsp_cache_manager *m, const char *name,
                                   const gsp_cache_config *cfg, gsp_cache **out) {
  if (out != NULL) *out = NULL;
  if (m == NULL || name == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&m->lock);
  int bad = check_name(m, name);
  pthread_mutex_unlock(&m->lock);
  if (bad != GSP_OK) return bad;
  gsp_cache *c = NULL;
  int rv = gsp_cache_create(cfg, &c);
  pthread_mutex_lock(&m->lock);
  if (rv != GSP_OK) {
    snprintf(m->errmsg, sizeof m->errmsg, "cache \"%s\": invalid configuration or no memory (%s)",
             name, gsp_strerror(rv));
    goto out_unlock;
  }
  bool found;
  size_t at = search_locked(m, name, &found);
  if (found) {
    rv = GSP_EEXIST;
    snprintf(m->errmsg, sizeof m->errmsg, "a cache named \"%s\" exists already", name);
  } else {
    rv = insert_locked(m, at, name, c);
  }
  if (rv != GSP_OK) {
    gsp_cache_destroy(c);
    c = NULL;
  }
out_unlock:
  pthread_mutex_unlock(&m->lock);
  if (out != NULL) *out = c;
  return rv;
}

gsp_cache *gsp_cache_manager_find(gsp_cache_manager *m, const char *name) {
  if (m == NULL || name == NULL) return NULL;
  pthread_mutex_lock(&m->lock);
  bool found;
  size_t at = search_locked(m, name, &found);
  gsp_cache *c = found ? m->items[at].cache : NULL;
  pthread_mutex_unlock(&m->lock);
  return c;
}

int gsp_cache_manager_remove(gsp_cache_manager *m, const char *name) {
  if (m == NULL || name == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&m->lock);
  bool found;
  size_t at = search_locked(m, name, &found);
  named_cache victim = {0};
  if (found) {
    victim = m->items[at];
    memmove(&m->items[at], &m->items[at + 1], (m->n - at - 1) * sizeof *m->items);
    m->n--;
  } else {
    snprintf(m->errmsg, sizeof m->errmsg, "no cache named \"%s\"", name);
  }
  pthread_mutex_unlock(&m->lock);
  gsp_cache_destroy(victim.cache);
  gsp_free(victim.name);
  return found ? GSP_OK : GSP_ENOENT;
}

size_t gsp_cache_manager_count(gsp_cache_manager *m) {
  pthread_mutex_lock(&m->lock);
  size_t n = m->n;
  pthread_mutex_unlock(&m->lock);
  return n;
}

const char *gsp_cache_manager_name(gsp_cache_manager *m, size_t i) {
  pthread_mutex_lock(&m->lock);
  const char *name = i < m->n ? m->items[i].name : NULL;
  pthread_mutex_unlock(&m->lock);
  return name;
}

/* Append to buf at *len like snprintf, tracking the length needed. */
static void append(char *buf, size_t cap, size_t *len, const char *s, size_t n) {
  if (*len < cap) {
    size_t room = cap - *len - 1;
    memcpy(buf + *len, s, n < room ? n : room);
    buf[*len + (n < room ? n : room)] = '\0';
  }
  *len += n;
}

size_t gsp_cache_manager_stats_json(gsp_cache_manager *m, char *buf, size_t cap) {
  size_t len = 0;
  char one[512];
  if (cap > 0) buf[0] = '\0';
  append(buf, cap, &len, "{", 1);
  pthread_mutex_lock(&m->lock);
  for (size_t i = 0; i < m->n; i++) {
    gsp_cache_stats s;
    gsp_cache_stats_get(m->items[i].cache, &s);
    int k = snprintf(one, sizeof one, "%s\"%s\":", i ? "," : "", m->items[i].name);
    if (k > 0) append(buf, cap, &len, one, (size_t)k < sizeof one ? (size_t)k : sizeof one - 1);
    size_t j = gsp_cache_stats_json(&s, one, sizeof one);
    append(buf, cap, &len, one, j < sizeof one ? j : sizeof one - 1);
  }
  pthread_mutex_unlock(&m->lock);
  append(buf, cap, &len, "}", 1);
  return len;
}

const char *gsp_cache_manager_errmsg(gsp_cache_manager *m) { return m ? m->errmsg : ""; }
