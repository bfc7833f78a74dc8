/*
 * record.c - the record format of the tier's L2 and L3 levels.
 *
 * A record is a self-describing, checksummed copy of one entry: a 32-byte
 * little-endian header (format version, flags, key/value/payload lengths,
 * expiry), the key, and the payload, which is the value either raw or as an
 * LZ4 block (flag GSP__REC_LZ4) when that is smaller. The header layout is
 * documented in tier_int.h.
 *
 * Invariants. A record that passes gsp__rec_check() has the current version,
 * lengths that add up to the record's size exactly, a payload no longer
 * than the value (raw payloads equal it), the key asked for, and an XXH3-64
 * over header, key and payload equal to the stored one. Only such a record
 * is ever decoded; decoding an LZ4 payload must also produce exactly vlen
 * bytes, or the record is corrupt. A newer version is told apart
 * (GSP_EFORMAT) so an L3 written by a newer gsperf is not called damaged.
 */
#include <lz4.h>
#include <string.h>
#include <time.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xxh_x86dispatch.h> /* XXH3 with the widest vector unit of the CPU */
#define REC_XXH3 XXH3_64bits_dispatch
#define REC_XXH3_UPDATE XXH3_64bits_update_dispatch
#else
#define REC_XXH3 XXH3_64bits
#define REC_XXH3_UPDATE XXH3_64bits_update
#endif

#include "tier_int.h"

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

uint64_t gsp__wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* XXH3 over everything after the checksum. A record read from L3 is
 * usually not in the CPU caches, and the hardware prefetcher stops at each
 * 4 KiB page, so the hash would wait on its cache lines nearly one at a
 * time: every line is requested first (a hint; the sum is the same), which
 * brings the hash of a cold record close to the cost of a memcpy of it.
 * Records over WINDOW bytes are hashed in WINDOW-byte steps (streaming
 * XXH3, equal to the one-shot sum), the next window requested ahead. */
#define WINDOW ((size_t)256 * 1024)

static void prefetch(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i += 64) __builtin_prefetch(p + i);
}

/* `fetched`: the caller has requested every line already. */
static uint64_t rec_sum(const uint8_t *rec, size_t klen, size_t plen, bool fetched) {
  const uint8_t *p = rec + 8;
  size_t n = GSP__REC_HDR - 8 + klen + plen;
  if (n <= WINDOW) {
    if (!fetched) prefetch(p, n);
    return REC_XXH3(p, n);
  }
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  prefetch(p, WINDOW);
  for (size_t off = 0; off < n; off += WINDOW) {
    size_t len = n - off < WINDOW ? n - off : WINDOW;
    if (off + len < n) prefetch(p + off + len, n - off - len < WINDOW ? n - off - len : WINDOW);
    REC_XXH3_UPDATE(&st, p + off, len);
  }
  return XXH3_64bits_digest(&st);
}

/* Try LZ4 into dst (capacity vlen - 1); returns the size or 0 if no gain. */
static int try_compress(const void *val, size_t vlen, uint8_t *dst) {
  if (vlen < 32) return 0;
  return LZ4_compress_default(val, (char *)dst, (int)vlen, (int)(vlen - 1));
}

int gsp__rec_encode_to(const void *key, size_t klen, const void *val, size_t vlen,
                       uint64_t expire_ms, bool compress, uint8_t *rec, size_t *olen) {
  if (klen > GSP__REC_MAX_VAL || vlen > GSP__REC_MAX_VAL) return GSP_EOVERFLOW;
  uint8_t *payload = rec + GSP__REC_HDR + klen;
  int clen = compress ? try_compress(val, vlen, payload) : 0;
  size_t plen = clen > 0 ? (size_t)clen : vlen;
  if (clen <= 0 && vlen > 0) memcpy(payload, val, vlen);
  if (klen > 0) memcpy(rec + GSP__REC_HDR, key, klen);
  rec[8] = (uint8_t)GSP_TIER_FORMAT_VERSION;
  rec[9] = clen > 0 ? GSP__REC_LZ4 : 0;
  rec[10] = rec[11] = 0;
  put32(rec + 12, (uint32_t)klen);
  put32(rec + 16, (uint32_t)vlen);
  put32(rec + 20, (uint32_t)plen);
  put64(rec + 24, expire_ms);
  put64(rec, rec_sum(rec, klen, plen, true));
  *olen = GSP__REC_HDR + klen + plen;
  return GSP_OK;
}

int gsp__rec_encode(const void *key, size_t klen, const void *val, size_t vlen, uint64_t expire_ms,
                    bool compress, uint8_t **out, size_t *olen) {
  if (klen > GSP__REC_MAX_VAL || vlen > GSP__REC_MAX_VAL) return GSP_EOVERFLOW;
  uint8_t *rec = gsp_malloc(GSP__REC_HDR + klen + vlen);
  if (rec == NULL) return GSP_ENOMEM;
  int st = gsp__rec_encode_to(key, klen, val, vlen, expire_ms, compress, rec, olen);
  if (st != GSP_OK) {
    gsp_free(rec);
    return st;
  }
  *out = rec;
  return GSP_OK;
}

/* The header of gsp__rec_check(): version, flags, lengths. */
static int rec_parse(const uint8_t *r, size_t rlen, gsp__rec_view *v) {
  if (rlen < GSP__REC_HDR) return GSP_ECORRUPT;
  if (r[8] > GSP_TIER_FORMAT_VERSION) return GSP_EFORMAT;
  if (r[8] != GSP_TIER_FORMAT_VERSION || (r[9] & ~GSP__REC_LZ4) != 0 || r[10] != 0 || r[11] != 0)
    return GSP_ECORRUPT;
  v->flags = r[9];
  v->klen = get32(r + 12);
  v->vlen = get32(r + 16);
  v->plen = get32(r + 20);
  v->expire_ms = get64(r + 24);
  if ((uint64_t)GSP__REC_HDR + v->klen + v->plen != rlen) return GSP_ECORRUPT;
  if (v->vlen > GSP__REC_MAX_VAL || v->plen > v->vlen) return GSP_ECORRUPT;
  if (!(v->flags & GSP__REC_LZ4) && v->plen != v->vlen) return GSP_ECORRUPT;
  v->key = r + GSP__REC_HDR;
  v->payload = r + GSP__REC_HDR + v->klen;
  return GSP_OK;
}

int gsp__rec_check(const void *rec, size_t rlen, const void *key, size_t klen, gsp__rec_view *v) {
  const uint8_t *r = rec;
  /* request every line before the header is read, so its cache miss
   * overlaps the others' instead of coming first (the key is compared
   * after the sum, when its line is in cache) */
  if (rlen <= WINDOW) prefetch(r, rlen);
  int st = rec_parse(r, rlen, v);
  if (st != GSP_OK) return st;
  if (rec_sum(r, v->klen, v->plen, rlen <= WINDOW) != get64(r)) return GSP_ECORRUPT;
  if (key != NULL && (v->klen != klen || memcmp(r + GSP__REC_HDR, key, klen) != 0))
    return GSP_ECORRUPT;
  return GSP_OK;
}

int gsp__rec_value(const gsp__rec_view *v, void **val, size_t *vlen) {
  *val = NULL;
  *vlen = 0;
  if (v->vlen == 0) return GSP_OK;
  char *buf = gsp_malloc((size_t)v->vlen + GSP__REC_SLACK);
  if (buf == NULL) return GSP_ENOMEM;
  if (v->flags & GSP__REC_LZ4) {
    int n = LZ4_decompress_safe((const char *)v->payload, buf, (int)v->plen, (int)v->vlen);
    if (n < 0 || (uint32_t)n != v->vlen) {
      gsp_free(buf);
      return GSP_ECORRUPT;
    }
  } else {
    memcpy(buf, v->payload, v->vlen);
  }
  *val = buf;
  *vlen = v->vlen;
  return GSP_OK;
}
