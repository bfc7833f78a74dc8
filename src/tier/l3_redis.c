/*
 * l3_redis.c - the tier's shared level: a Redis server through hiredis
 * (`l3 = "redis://HOST:PORT/DB"`), for a cache shared by many machines.
 *
 * Data layout. Each entry is one Redis string, key "gsp:tier:" + the key,
 * value the record (record.c: version, key, checksum, payload), with the
 * record's expiry also given to Redis (SET ... PXAT), so Redis drops expired
 * entries itself. A record is checked on every read like an LMDB one; a bad
 * one is deleted and reported as GSP_ECORRUPT.
 *
 * Bound and eviction are the server's (maxmemory and maxmemory-policy): a
 * shared server is configured by whoever runs it, so l3_max_bytes and
 * l3_strategy do not apply here; the stats count entries and bytes (key +
 * record, as for LMDB) with SCAN and a pipelined STRLEN per key, and the
 * capacity is the server's maxmemory (0 if unbounded or not readable). Durability is the server's
 * too (RDB/AOF); sync is a no-op.
 *
 * Connections. hiredis contexts are not thread-safe, so a small pool of
 * them (under mu) is shared: a call takes one (or connects a new one, with
 * a 1 s connect and 2 s I/O timeout), and gives it back only if it is
 * still sound. A context that saw an error is freed, so when the server
 * goes away calls fail with GSP_EIO (naming the server) and when it comes
 * back the next call connects again: the tier recovers without help.
 *
 * A batch is sent as MULTI, SET/DEL..., EXEC in one pipeline: all or none.
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tier_int.h"

#define POOL 8
#define PREFIX "gsp:tier:"
#define PREFIX_LEN (sizeof PREFIX - 1)
#define PATTERN "gsp:tier:*" /* every key of ours */

typedef struct redis_l3 {
  gsp__l3 base;
  char host[256];
  int port, db;
  char *uri;
  pthread_mutex_t mu;
  redisContext *pool[POOL];
  unsigned n;
} redis_l3;

static int rfail(redis_l3 *r, const char *what, const char *why) {
  gsp__l3_seterr(&r->base, "L3 %s: %s: %s", r->uri, what, why);
  return GSP_EIO;
}

static int conn_get(redis_l3 *r, redisContext **out) {
  redisContext *c = NULL;
  pthread_mutex_lock(&r->mu);
  if (r->n > 0) c = r->pool[--r->n];
  pthread_mutex_unlock(&r->mu);
  if (c) {
    *out = c;
    return GSP_OK;
  }
  c = redisConnectWithTimeout(r->host, r->port, (struct timeval){1, 0});
  if (c == NULL) return rfail(r, "connect", "out of memory");
  if (c->err) {
    int st = rfail(r, "connect", c->errstr);
    redisFree(c);
    return st;
  }
  redisSetTimeout(c, (struct timeval){2, 0});
  if (r->db != 0) {
    char db[16];
    snprintf(db, sizeof db, "%d", r->db);
    redisReply *rep = redisCommand(c, "SELECT %s", db);
    bool ok = rep && rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    if (!ok) {
      redisFree(c);
      return rfail(r, "select", "the server refused the database number");
    }
  }
  *out = c;
  return GSP_OK;
}

/* Give a context back, or free it if it saw an error. */
static void conn_put(redis_l3 *r, redisContext *c, bool sound) {
  if (sound && c->err == 0) {
    pthread_mutex_lock(&r->mu);
    if (r->n < POOL) {
      r->pool[r->n++] = c;
      c = NULL;
    }
    pthread_mutex_unlock(&r->mu);
  }
  if (c) redisFree(c);
}

/* "gsp:tier:" + key in a gsp_malloc'd buffer. */
static char *rkey(const void *key, size_t klen) {
  char *k = gsp_malloc(PREFIX_LEN + klen);
  if (k == NULL) return NULL;
  memcpy(k, PREFIX, PREFIX_LEN);
  memcpy(k + PREFIX_LEN, key, klen);
  return k;
}

/* One command; *rep is the reply (caller frees) unless it failed. */
static int command(redis_l3 *r, int argc, const char **argv, const size_t *lens, redisReply **rep) {
  redisContext *c;
  int st = conn_get(r, &c);
  if (st != GSP_OK) return st;
  *rep = redisCommandArgv(c, argc, argv, lens);
  if (*rep == NULL) {
    st = rfail(r, argv[0], c->errstr[0] ? c->errstr : "no reply");
  } else if ((*rep)->type == REDIS_REPLY_ERROR) {
    st = rfail(r, argv[0], (*rep)->str);
    freeReplyObject(*rep);
    *rep = NULL;
  }
  conn_put(r, c, st == GSP_OK);
  return st;
}

static int rd_del(gsp__l3 *b, const void *key, size_t klen);

static int rd_get(gsp__l3 *b, const void *key, size_t klen, void **val, size_t *vlen,
                  uint64_t *expire_ms) {
  redis_l3 *r = (redis_l3 *)b;
  char *k = rkey(key, klen);
  if (k == NULL) return GSP_ENOMEM;
  const char *argv[2] = {"GET", k};
  size_t lens[2] = {3, PREFIX_LEN + klen};
  redisReply *rep;
  int st = command(r, 2, argv, lens, &rep);
  gsp_free(k);
  if (st != GSP_OK) return st;
  if (rep->type != REDIS_REPLY_STRING) {
    freeReplyObject(rep);
    return GSP_ENOENT;
  }
  gsp__rec_view rv;
  st = gsp__rec_check(rep->str, rep->len, key, klen, &rv);
  if (st == GSP_OK && rv.expire_ms != 0 && rv.expire_ms <= gsp__wall_ms()) st = GSP_ENOENT;
  if (st == GSP_OK) st = gsp__rec_value(&rv, val, vlen);
  if (st == GSP_OK) *expire_ms = rv.expire_ms;
  freeReplyObject(rep);
  if (st == GSP_ECORRUPT || st == GSP_EFORMAT) {
    rd_del(b, key, klen);
    gsp__l3_seterr(b, "L3 %s: record failed its check, removed", r->uri);
    st = GSP_ECORRUPT;
  }
  return st;
}

static int rd_contains(gsp__l3 *b, const void *key, size_t klen) {
  void *v = NULL;
  size_t n;
  uint64_t e;
  int st = rd_get(b, key, klen, &v, &n, &e);
  gsp_free(v);
  return st;
}

/* Append one SET (or DEL) of a batch to the pipeline. */
static int append_op(redisContext *c, const void *key, size_t klen, const void *rec, size_t rlen) {
  char *k = rkey(key, klen);
  if (k == NULL) return GSP_ENOMEM;
  gsp__rec_view rv;
  char px[32];
  const char *argv[5] = {rec ? "SET" : "DEL", k, rec, "PXAT", px};
  size_t lens[5] = {3, PREFIX_LEN + klen, rlen, 4, 0};
  int argc = rec ? 3 : 2;
  if (rec && gsp__rec_check(rec, rlen, key, klen, &rv) == GSP_OK && rv.expire_ms != 0) {
    lens[4] = (size_t)snprintf(px, sizeof px, "%llu", (unsigned long long)rv.expire_ms);
    argc = 5;
  }
  int rc = redisAppendCommandArgv(c, argc, argv, lens);
  gsp_free(k);
  return rc == REDIS_OK ? GSP_OK : GSP_ENOMEM;
}

static int rd_put_batch(gsp__l3 *b, size_t n, const void *const *keys, const size_t *klens,
                        const void *const *recs, const size_t *rlens) {
  redis_l3 *r = (redis_l3 *)b;
  redisContext *c;
  int st = conn_get(r, &c);
  if (st != GSP_OK) return st;
  if (redisAppendCommand(c, "MULTI") != REDIS_OK) st = GSP_ENOMEM;
  for (size_t i = 0; st == GSP_OK && i < n; i++)
    st = append_op(c, keys[i], klens[i], recs[i], rlens[i]);
  if (st == GSP_OK && redisAppendCommand(c, "EXEC") != REDIS_OK) st = GSP_ENOMEM;
  bool sound = st == GSP_OK;
  /* read every reply (MULTI, n QUEUED, EXEC); the last says all or none */
  for (size_t i = 0; sound && i < n + 2; i++) {
    redisReply *rep = NULL;
    if (redisGetReply(c, (void **)&rep) != REDIS_OK || rep == NULL) {
      st = rfail(r, "write", c->errstr[0] ? c->errstr : "no reply");
      sound = false;
    } else if (rep->type == REDIS_REPLY_ERROR || (i == n + 1 && rep->type != REDIS_REPLY_ARRAY)) {
      st = rfail(r, "write", rep->type == REDIS_REPLY_ERROR ? rep->str : "transaction aborted");
    }
    freeReplyObject(rep);
  }
  conn_put(r, c, sound);
  return st;
}

static int rd_del(gsp__l3 *b, const void *key, size_t klen) {
  redis_l3 *r = (redis_l3 *)b;
  char *k = rkey(key, klen);
  if (k == NULL) return GSP_ENOMEM;
  const char *argv[2] = {"DEL", k};
  size_t lens[2] = {3, PREFIX_LEN + klen};
  redisReply *rep;
  int st = command(r, 2, argv, lens, &rep);
  gsp_free(k);
  if (st != GSP_OK) return st;
  st = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0 ? GSP_OK : GSP_ENOENT;
  freeReplyObject(rep);
  return st;
}

/* Walk every key of ours with SCAN; fn sees each batch of names. */
static int scan_all(redis_l3 *r, int (*fn)(redis_l3 *, redisReply *, void *), void *arg) {
  char cursor[32] = "0";
  do {
    const char *argv[6] = {"SCAN", cursor, "MATCH", PATTERN, "COUNT", "1000"};
    size_t lens[6] = {4, strlen(cursor), 5, PREFIX_LEN + 1, 5, 4};
    redisReply *rep;
    int st = command(r, 6, argv, lens, &rep);
    if (st != GSP_OK) return st;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
      freeReplyObject(rep);
      return rfail(r, "scan", "unexpected reply");
    }
    snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
    st = fn(r, rep->element[1], arg);
    freeReplyObject(rep);
    if (st != GSP_OK) return st;
  } while (strcmp(cursor, "0") != 0);
  return GSP_OK;
}

static int unlink_batch(redis_l3 *r, redisReply *names, void *arg) {
  (void)arg;
  for (size_t i = 0; i < names->elements; i++) {
    const char *argv[2] = {"UNLINK", names->element[i]->str};
    size_t lens[2] = {6, names->element[i]->len};
    redisReply *rep;
    int st = command(r, 2, argv, lens, &rep);
    if (st != GSP_OK) return st;
    freeReplyObject(rep);
  }
  return GSP_OK;
}

static int rd_clear(gsp__l3 *b) { return scan_all((redis_l3 *)b, unlink_batch, NULL); }

typedef struct vstate {
  uint64_t good, bad;
} vstate;

static int verify_batch(redis_l3 *r, redisReply *names, void *arg) {
  vstate *vs = arg;
  for (size_t i = 0; i < names->elements; i++) {
    const char *name = names->element[i]->str;
    size_t nlen = names->element[i]->len;
    void *v = NULL;
    size_t n;
    uint64_t e;
    int st = rd_get(&r->base, name + PREFIX_LEN, nlen - PREFIX_LEN, &v, &n, &e);
    gsp_free(v);
    if (st == GSP_OK) vs->good++;
    if (st == GSP_ECORRUPT) vs->bad++;
    if (st != GSP_OK && st != GSP_ECORRUPT && st != GSP_ENOENT) return st;
  }
  return GSP_OK;
}

/* Every record read is checked; a bad one is removed when met, so `repair`
 * changes nothing here. */
static int rd_verify(gsp__l3 *b, bool repair, uint64_t *good, uint64_t *bad) {
  (void)repair;
  vstate vs = {0};
  int st = scan_all((redis_l3 *)b, verify_batch, &vs);
  *good = vs.good;
  *bad = vs.bad;
  return st;
}

typedef struct istate {
  uint64_t count, bytes;
} istate;

/* Count a SCAN batch and add up key + record sizes: one STRLEN per name,
 * pipelined (one round trip per batch). A key gone meanwhile adds 0. */
static int size_batch(redis_l3 *r, redisReply *names, void *arg) {
  istate *is = arg;
  redisContext *c;
  int st = conn_get(r, &c);
  if (st != GSP_OK) return st;
  for (size_t i = 0; st == GSP_OK && i < names->elements; i++) {
    const char *argv[2] = {"STRLEN", names->element[i]->str};
    size_t lens[2] = {6, names->element[i]->len};
    if (redisAppendCommandArgv(c, 2, argv, lens) != REDIS_OK) st = GSP_ENOMEM;
  }
  bool sound = st == GSP_OK;
  for (size_t i = 0; sound && i < names->elements; i++) {
    redisReply *rep = NULL;
    if (redisGetReply(c, (void **)&rep) != REDIS_OK || rep == NULL) {
      st = rfail(r, "stats", c->errstr[0] ? c->errstr : "no reply");
      sound = false;
    } else if (rep->type == REDIS_REPLY_INTEGER && rep->integer > 0) {
      is->count++;
      is->bytes += names->element[i]->len - PREFIX_LEN + (uint64_t)rep->integer;
    }
    freeReplyObject(rep);
  }
  conn_put(r, c, sound);
  return st;
}

/* The server's maxmemory (0: unbounded, or CONFIG not allowed). */
static uint64_t maxmemory(redis_l3 *r) {
  const char *argv[3] = {"CONFIG", "GET", "maxmemory"};
  size_t lens[3] = {6, 3, 9};
  redisReply *rep;
  if (command(r, 3, argv, lens, &rep) != GSP_OK) return 0;
  uint64_t v = 0;
  if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
      rep->element[1]->type == REDIS_REPLY_STRING)
    v = strtoull(rep->element[1]->str, NULL, 10);
  freeReplyObject(rep);
  return v;
}

/* Entries and bytes (key + record, as LMDB counts them) of our keys, from a
 * SCAN: exact for a quiet server, a close count while others write. */
static void rd_info(gsp__l3 *b, uint64_t *entries, uint64_t *bytes, uint64_t *capacity) {
  redis_l3 *r = (redis_l3 *)b;
  istate is = {0};
  bool ok = scan_all(r, size_batch, &is) == GSP_OK;
  *entries = ok ? is.count : 0;
  *bytes = ok ? is.bytes : 0;
  *capacity = maxmemory(r);
}

static int rd_sync(gsp__l3 *b) {
  (void)b;
  return GSP_OK;
}

static void rd_close(gsp__l3 *b) {
  redis_l3 *r = (redis_l3 *)b;
  while (r->n > 0) redisFree(r->pool[--r->n]);
  pthread_mutex_destroy(&r->mu);
  pthread_mutex_destroy(&r->base.errmu);
  gsp_free(r->uri);
  gsp_free(r);
}

static const gsp__l3_ops redis_ops = {
    .get = rd_get,
    .contains = rd_contains,
    .put_batch = rd_put_batch,
    .del = rd_del,
    .clear = rd_clear,
    .sync = rd_sync,
    .verify = rd_verify,
    .info = rd_info,
    .close = rd_close,
};

/* "redis://HOST:PORT/DB" (PORT default 6379, DB default 0). */
static bool parse_uri(const char *uri, redis_l3 *r) {
  const char *p = uri + strlen("redis://");
  size_t hl = strcspn(p, ":/");
  if (hl == 0 || hl >= sizeof r->host) return false;
  memcpy(r->host, p, hl);
  r->host[hl] = '\0';
  p += hl;
  r->port = 6379;
  r->db = 0;
  char *end;
  if (*p == ':') {
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || v <= 0 || v > 65535) return false;
    r->port = (int)v;
    p = end;
  }
  if (*p == '/' && p[1] != '\0') {
    long v = strtol(p + 1, &end, 10);
    if (*end != '\0' || v < 0 || v > 1000000) return false;
    r->db = (int)v;
  } else if (*p != '\0' && strcmp(p, "/") != 0) {
    return false;
  }
  return true;
}

int gsp__l3_redis_open(const char *uri, gsp__l3 **out, char *eb, size_t ec) {
  *out = NULL;
  redis_l3 *r = gsp_calloc(1, sizeof *r);
  if (r == NULL || (r->uri = gsp_strdup(uri)) == NULL) {
    gsp_free(r);
    if (eb && ec) snprintf(eb, ec, "L3 %s: out of memory", uri);
    return GSP_ENOMEM;
  }
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->base.errmu, NULL);
  r->base.ops = &redis_ops;
  if (!parse_uri(uri, r)) {
    if (eb && ec) snprintf(eb, ec, "L3 %s: expected redis://HOST[:PORT][/DB]", uri);
    rd_close(&r->base);
    return GSP_EINVAL;
  }
  *out = &r->base; /* the server may be down now: calls connect when needed */
  return GSP_OK;
}
