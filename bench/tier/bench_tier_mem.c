/*
 * bench_tier_mem.c - sections l2, zipf and restart of bench_tier (see
 * bench_tier.c): L2's LZ4 against zstd level 1 on real source files and on
 * their serialized parse results (what the code graph caches), and
 * the whole hierarchy against L1 alone on a Zipf workload larger than L1.
 */
#include <lz4.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "bench_tier.h"
#include "gsperf/cache.h"
#include "gsperf/codegraph.h"

/* ---- l2: codecs ------------------------------------------------------------------ */

typedef struct codec_run {
  double comp_s, decomp_s;
  size_t raw, packed;
} codec_run;

static void run_lz4(const corpus *c, char *dst, size_t cap, char *back, codec_run *o) {
  double t0 = now_s(CLOCK_PROCESS_CPUTIME_ID), tc = 0;
  o->raw = o->packed = 0;
  for (size_t i = 0; i < c->n; i++) {
    double a = now_s(CLOCK_PROCESS_CPUTIME_ID);
    int n = LZ4_compress_default(c->data[i], dst, (int)c->len[i], (int)cap);
    tc += now_s(CLOCK_PROCESS_CPUTIME_ID) - a;
    size_t stored = n > 0 && (size_t)n < c->len[i] ? (size_t)n : c->len[i]; /* raw if no gain */
    o->raw += c->len[i];
    o->packed += stored;
    if (n > 0 && LZ4_decompress_safe(dst, back, n, (int)c->len[i]) != (int)c->len[i]) abort();
  }
  o->comp_s = tc;
  o->decomp_s = now_s(CLOCK_PROCESS_CPUTIME_ID) - t0 - tc;
}

static void run_zstd(const corpus *c, char *dst, size_t cap, char *back, codec_run *o) {
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  ZSTD_DCtx *dc = ZSTD_createDCtx();
  double t0 = now_s(CLOCK_PROCESS_CPUTIME_ID), tc = 0;
  o->raw = o->packed = 0;
  for (size_t i = 0; i < c->n; i++) {
    double a = now_s(CLOCK_PROCESS_CPUTIME_ID);
    size_t n = ZSTD_compressCCtx(cc, dst, cap, c->data[i], c->len[i], 1);
    tc += now_s(CLOCK_PROCESS_CPUTIME_ID) - a;
    o->raw += c->len[i];
    o->packed += n < c->len[i] ? n : c->len[i];
    if (ZSTD_decompressDCtx(dc, back, c->len[i], dst, n) != c->len[i]) abort();
  }
  o->comp_s = tc;
  o->decomp_s = now_s(CLOCK_PROCESS_CPUTIME_ID) - t0 - tc;
  ZSTD_freeCCtx(cc);
  ZSTD_freeDCtx(dc);
}

/* Every file through a tier with a one-entry L1: each put demotes the
 * previous file into L2; each get is an L2 hit. */
static void tier_l2(const corpus *c) {
  gsp_tier *t;
  gsp_tier_config cfg = {.l1_max_entries = 1, .l2_max_bytes = 256u << 20};
  if (gsp_tier_create(&cfg, &t, NULL, 0) != GSP_OK) return;
  char k[33];
  for (unsigned i = 0; i < c->n; i++) {
    hex_key(k, i);
    gsp_tier_put(t, k, 32, c->data[i], c->len[i], NULL);
  }
  unsigned ok = 0;
  for (unsigned i = 0; i + 1 < c->n; i++) {
    hex_key(k, i);
    void *v;
    size_t n;
    if (gsp_tier_get(t, k, 32, &v, &n) == GSP_OK && n == c->len[i] && memcmp(v, c->data[i], n) == 0)
      ok++;
    gsp_free(v);
  }
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  const gsp_tier_level_stats *l2 = &s.level[GSP_TIER_L2];
  double avg = (double)c->bytes / (double)c->n;
  printf(
      "%-26s %8.2f %14.0f %14.0f   (L2 hits %llu of %zu, intact %u; p50 write %llu us,"
      " read %llu us)\n",
      "tier L2 end to end", l2->compression_ratio, avg / l2->write.mean_ns * 1e3,
      avg / l2->read.mean_ns * 1e3, (unsigned long long)l2->hits, c->n - 1, ok,
      (unsigned long long)l2->write.p50_ns / 1000, (unsigned long long)l2->read.p50_ns / 1000);
  gsp_tier_destroy(t);
}

/* The same files as the code graph keeps them in the tier: each file's
 * parse result (definitions, references, imports), serialized. */
static void parsed_corpus(const corpus *c, corpus *out) {
  memset(out, 0, sizeof *out);
  gsp_cg_parser *p = NULL;
  if (gsp_cg_parser_create(&p) != GSP_OK) return;
  out->data = calloc(c->n, sizeof *out->data);
  out->len = calloc(c->n, sizeof *out->len);
  for (size_t i = 0; i < c->n && out->data && out->len; i++) {
    gsp_cg_lang lang = i < c->n_c ? GSP_CG_LANG_C : GSP_CG_LANG_PYTHON;
    gsp_cg_result *r = NULL;
    if (gsp_cg_parse(p, lang, c->data[i], c->len[i], &r) != GSP_OK) continue;
    size_t len = 0;
    const void *b = gsp_cg_result_bytes(r, &len);
    out->data[out->n] = malloc(len);
    if (out->data[out->n] != NULL) {
      memcpy(out->data[out->n], b, len);
      out->len[out->n++] = len;
      out->bytes += len;
    }
    gsp_cg_result_free(r);
  }
  gsp_cg_parser_destroy(p);
}

static void free_corpus(corpus *c) {
  for (size_t i = 0; i < c->n; i++) free(c->data[i]);
  free(c->data);
  free(c->len);
}

static void l2_codecs(const corpus *c, const char *what);

void section_l2(const corpus *c) {
  l2_codecs(c, "source files");
  corpus pc;
  parsed_corpus(c, &pc);
  if (pc.n > 0) l2_codecs(&pc, "serialized parse results of the same files");
  free_corpus(&pc);
}

static void l2_codecs(const corpus *c, const char *what) {
  size_t maxlen = 0;
  for (size_t i = 0; i < c->n; i++)
    if (c->len[i] > maxlen) maxlen = c->len[i];
  size_t cap = ZSTD_compressBound(maxlen) + (size_t)LZ4_compressBound((int)maxlen);
  char *dst = malloc(cap), *back = malloc(maxlen);
  double cz[2][MAX_ROUNDS], dz[2][MAX_ROUNDS];
  codec_run runs[2];
  for (unsigned r = 0; r < g_rounds; r++)
    for (int j = 0; j < 2; j++) {
      int s = (j + (int)r) % 2;
      if (s == 0) run_lz4(c, dst, cap, back, &runs[0]);
      if (s == 1) run_zstd(c, dst, cap, back, &runs[1]);
      cz[s][r] = runs[s].comp_s;
      dz[s][r] = runs[s].decomp_s;
    }
  printf("== l2: %zu %s, %.1f MB, one value per file (CPU time)\n", c->n, what,
         (double)c->bytes / 1e6);
  printf("%-26s %8s %14s %14s\n", "codec", "ratio", "compress MB/s", "decomp MB/s");
  static const char *const names[2] = {"LZ4 (L2's codec)", "zstd level 1"};
  for (int s = 0; s < 2; s++)
    printf("%-26s %8.2f %14.0f %14.0f\n", names[s], (double)runs[s].raw / (double)runs[s].packed,
           (double)c->bytes / 1e6 / median(cz[s], g_rounds),
           (double)c->bytes / 1e6 / median(dz[s], g_rounds));
  tier_l2(c);
  printf("\n");
  free(dst);
  free(back);
}

/* ---- zipf and restart ---------------------------------------------------------- */

typedef struct zipf {
  double *cdf;
  unsigned n;
} zipf;

static void zipf_init(zipf *z, unsigned n, double s) {
  z->n = n;
  z->cdf = malloc(n * sizeof *z->cdf);
  double sum = 0;
  for (unsigned i = 0; i < n; i++) z->cdf[i] = (sum += 1.0 / pow(i + 1, s));
  for (unsigned i = 0; i < n; i++) z->cdf[i] /= sum;
}

static unsigned zipf_next(const zipf *z, uint64_t *seed) {
  *seed ^= *seed << 13, *seed ^= *seed >> 7, *seed ^= *seed << 17;
  double u = (double)(*seed >> 11) / 9007199254740992.0;
  unsigned lo = 0, hi = z->n - 1;
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    if (z->cdf[mid] < u) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  /* scatter ranks over the key space so hot keys are not neighbours */
  return (unsigned)((lo * 2654435761u) % z->n);
}

typedef struct zrun {
  double wall, cpu, hit_rate;
} zrun;

/* ops gets with put-on-miss; a NULL tier means the plain cache. */
static zrun zipf_pass(gsp_tier *t, gsp_cache *l1, const corpus *c, const zipf *z, size_t v,
                      unsigned ops) {
  uint64_t seed = 0x2545F4914F6CDD1Dull;
  unsigned hits = 0;
  char k[33], *buf = malloc(v);
  double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
  for (unsigned i = 0; i < ops; i++) {
    unsigned key = zipf_next(z, &seed);
    hex_key(k, key);
    int rc;
    if (t) {
      void *val;
      size_t n;
      rc = gsp_tier_get(t, k, 32, &val, &n);
      gsp_free(val);
    } else {
      size_t n;
      rc = gsp_cache_get_copy(l1, k, 32, buf, v, &n);
    }
    if (rc == GSP_OK) {
      hits++;
      continue;
    }
    const char *val = slice(c, key, v);
    if (t) {
      gsp_tier_put(t, k, 32, val, v, NULL);
    } else {
      gsp_cache_put(l1, k, 32, val, v, NULL);
    }
  }
  zrun r = {now_s(CLOCK_MONOTONIC) - w0, now_s(CLOCK_PROCESS_CPUTIME_ID) - c0, (double)hits / ops};
  free(buf);
  return r;
}

static gsp_tier *zipf_tier(size_t l1, size_t l2, const char *dir, gsp_tier_write_mode wm) {
  char uri[600];
  snprintf(uri, sizeof uri, "lmdb:%s", dir ? dir : "");
  gsp_tier_config cfg = {.l1_max_bytes = l1,
                         .l2_max_bytes = l2,
                         .l3 = dir ? uri : NULL,
                         .write_mode = wm,
                         .durability = GSP_TIER_NONE};
  gsp_tier *t = NULL;
  char err[512];
  if (gsp_tier_create(&cfg, &t, err, sizeof err) != GSP_OK) {
    fprintf(stderr, "tier: %s\n", err);
    exit(1);
  }
  return t;
}

static void restart(const corpus *c, const zipf *z, size_t l1, size_t v, unsigned ops,
                    const char *dir) {
  gsp_tier *t = zipf_tier(l1, l1, dir, GSP_TIER_WRITE_THROUGH);
  gsp_tier_clear(t);
  zrun cold = zipf_pass(t, NULL, c, z, v, ops);
  zrun warm = zipf_pass(t, NULL, c, z, v, ops);
  gsp_tier_destroy(t);
  t = zipf_tier(l1, l1, dir, GSP_TIER_WRITE_THROUGH);
  zrun again = zipf_pass(t, NULL, c, z, v, ops);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  printf("== restart: the same trace, L1+L2+L3\n");
  printf(
      "cold pass %.4f, warm pass %.4f, after destroy+reopen %.4f (L3 hits %llu), "
      "%.0f ops/s after reopen\n\n",
      cold.hit_rate, warm.hit_rate, again.hit_rate, (unsigned long long)s.level[GSP_TIER_L3].hits,
      ops / again.wall);
  gsp_tier_destroy(t);
}

void section_zipf(const corpus *c, unsigned nkeys, size_t v, unsigned ops) {
  zipf z;
  zipf_init(&z, nkeys, 0.99);
  size_t data = (size_t)nkeys * (v + 32 + 8 + 96), l1 = data / 10;
  char dir[512];
  scratch(dir, sizeof dir, "zipf");
  enum { Z_L1, Z_L12, Z_L123, Z_L123WB, Z_N };
  static const char *const names[Z_N] = {"L1 alone (gsp_cache)", "tier L1+L2",
                                         "tier L1+L2+L3 (w-through)", "tier L1+L2+L3 (w-back)"};
  double wall[Z_N][MAX_ROUNDS], cpu[Z_N][MAX_ROUNDS], hr[Z_N] = {0};
  for (unsigned r = 0; r < g_rounds; r++)
    for (int j = 0; j < Z_N; j++) {
      int s = (j + (int)r) % Z_N;
      gsp_cache *cache = NULL;
      gsp_tier *t = NULL;
      if (s == Z_L1) gsp_cache_create(&(gsp_cache_config){.max_bytes = l1}, &cache);
      if (s == Z_L12) t = zipf_tier(l1, l1, NULL, GSP_TIER_WRITE_THROUGH);
      if (s == Z_L123) t = zipf_tier(l1, l1, dir, GSP_TIER_WRITE_THROUGH);
      if (s == Z_L123WB) t = zipf_tier(l1, l1, dir, GSP_TIER_WRITE_BACK);
      if (t) gsp_tier_clear(t);
      zrun zr = zipf_pass(t, cache, c, &z, v, ops);
      wall[s][r] = zr.wall;
      cpu[s][r] = zr.cpu;
      hr[s] = zr.hit_rate;
      gsp_tier_destroy(t);
      gsp_cache_destroy(cache);
    }
  printf(
      "== zipf: s=0.99 over %u keys of %zu B (%.1f MB), L1 %.1f MB (10%%), L2 the same "
      "(compressed), %u ops (get, put on miss), cold start\n",
      nkeys, v, (double)data / 1e6, (double)l1 / 1e6, ops);
  printf("%-28s %10s %12s %12s\n", "subject", "hit rate", "ops/s wall", "ops/s cpu");
  for (int s = 0; s < Z_N; s++)
    printf("%-28s %10.4f %12.0f %12.0f\n", names[s], hr[s], ops / median(wall[s], g_rounds),
           ops / median(cpu[s], g_rounds));
  printf("\n");
  restart(c, &z, l1, v, ops, dir);
  rm_scratch(dir);
  free(z.cdf);
}
