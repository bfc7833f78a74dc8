/*
 * farm.c - the parse stage handed to a farm (gsp_cg_config.farm), and
 * gsp_cg_parse_file, which a farm's workers use to read, hash and parse
 * one file as the local parse stage does.
 *
 * With a result store (the run's tier or cache, unless no_cache) the stage
 * first looks every file up, as the local stage does: each file is read
 * and hashed here (in parallel on cfg.exec, serially without one) and its
 * result taken from the store by content key; only the misses go to the
 * farm, and what the farm returns is put into the store under the key of
 * the hash the farm computed (the content it actually parsed). A warm run
 * thus parses nothing and sends nothing; the farm is still called once,
 * with no files, so that remote workers are released.
 *
 * Misses with the same content (same key) are farmed once: the others
 * copy that file's result and count as cache hits, as in a local run,
 * where the first one's result is stored before the others look it up.
 *
 * Data: per file a miss flag, its store key and the earlier file with the
 * same key (an open-addressing table over the keys finds them); one
 * gsp_cg_farm_file per farmed miss, in file order, pointing at the file's
 * path in cg->arena; the farm fills hash and res, which move into
 * cg->files. A lookup chunk reads into one buffer of its own that grows to
 * the largest file of the chunk.
 *
 * With cfg.farm_macros, a C file that learned annotation macros from its
 * includes (hmacro.c) is farmed with their names, and its hash is settled
 * (mixed with them) after every result is in, as the local stage does;
 * without, learned names are not computed: the farm's results are keyed by
 * content alone, as it parsed them.
 *
 * Invariants: the hash is XXH3-128 (seed 0, canonical bytes) of the file's
 * content and the store key is derived from it, the language, the result
 * format and the learned names by the same function as parse_stage.c's
 * (gsp__cg_hm_store_key), so farmed, local and cached runs share store
 * entries and a farmed run's graph and database equal the local run's. A file unreadable here is a
 * miss (the farm decides whether it is skipped).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cg_int.h"
#include "hmacro.h"

#define DEFAULT_MAX_FILE ((size_t)16 << 20)
#define LOOKUP_GRAIN 16

/* Read all of fd (a regular file of at most max bytes) into *buf, which
 * grows (capacity *cap) as needed. */
static int read_all(int fd, size_t max, char **buf, size_t *cap, size_t *len) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) return GSP_EIO;
  size_t want = (size_t)st.st_size + 1, n = 0;
  if (want > *cap) {
    char *b = gsp_realloc(*buf, want);
    if (b == NULL) return GSP_ENOMEM;
    *buf = b, *cap = want;
  }
  ssize_t r;
  while (n < want && (r = read(fd, *buf + n, want - n)) > 0) n += (size_t)r;
  if (n >= want) return GSP_EIO; /* grew while we read */
  *len = n;
  return GSP_OK;
}

static int read_path(const char *path, size_t max, char **buf, size_t *cap, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return GSP_EIO;
  int rv = read_all(fd, max, buf, cap, len);
  close(fd);
  return rv;
}

static void content_hash(const char *src, size_t len, uint8_t hash[16]) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits_withSeed(src, len, 0));
  memcpy(hash, c.digest, 16);
}

int gsp_cg_parse_file_with(gsp_cg_parser *p, const char *path, gsp_cg_lang lang, size_t max_bytes,
                           const char *const *macros, size_t n, uint8_t hash[16],
                           gsp_cg_result **out) {
  if (p == NULL || path == NULL || hash == NULL || out == NULL || (macros == NULL && n > 0))
    return GSP_EINVAL;
  *out = NULL;
  cg_macro_tab extra = {0};
  int rv = GSP_OK;
  for (size_t i = 0; i < n && rv == GSP_OK; i++)
    rv = macros[i] ? gsp__cg_macro_tab_add(&extra, macros[i], strlen(macros[i])) : GSP_EINVAL;
  char *src = NULL;
  size_t cap = 0, len = 0;
  if (rv == GSP_OK)
    rv = read_path(path, max_bytes ? max_bytes : DEFAULT_MAX_FILE, &src, &cap, &len);
  if (rv == GSP_OK) {
    content_hash(src, len, hash);
    rv = gsp__cg_parse_with(p, lang, src, len, n ? &extra : NULL, out);
  }
  gsp_free(src);
  gsp__cg_macro_tab_free(&extra);
  return rv;
}

int gsp_cg_parse_file(gsp_cg_parser *p, const char *path, gsp_cg_lang lang, size_t max_bytes,
                      uint8_t hash[16], gsp_cg_result **out) {
  return gsp_cg_parse_file_with(p, path, lang, max_bytes, NULL, 0, hash, out);
}

/* ---- store lookups before the farm ---- */

enum { FOUND = 0, MISS_READ = 1, MISS_UNREAD = 2 };

typedef struct lookup_job {
  gsp_cg *cg;
  cg_store store;
  uint8_t *miss;       /* per file: FOUND, or a miss (goes to the farm) */
  uint8_t (*keys)[16]; /* per file: its store key, when MISS_READ */
  uint32_t *dup;       /* per file: 1 + an earlier miss with the same key, or 0 */
  _Atomic uint64_t hits, misses;
} lookup_job;

/* File i from the store, if it is there; else marked a miss. */
static int lookup_one(lookup_job *j, size_t i, char **buf, size_t *cap) {
  gsp_cg *cg = j->cg;
  cg_file *f = &cg->files[i];
  uint64_t t0 = gsp_now_ns();
  char path[4096];
  size_t len = 0;
  j->miss[i] = MISS_UNREAD;
  int rv = snprintf(path, sizeof path, "%s/%s", cg->root, f->path) < (int)sizeof path
               ? read_path(path, cg->cfg.max_file_bytes, buf, cap, &len)
               : GSP_EIO;
  if (rv == GSP_ENOMEM) return rv;
  uint8_t hash[16], key[16];
  if (rv == GSP_OK) {
    content_hash(*buf, len, hash);
    gsp__cg_hm_store_key(cg, i, hash, key);
    rv = j->store.get(j->store.user, key, &f->res);
    if (rv != GSP_OK) j->miss[i] = MISS_READ, memcpy(j->keys[i], key, 16);
  }
  if (rv != GSP_OK) {
    atomic_fetch_add(&j->misses, 1);
    return GSP_OK;
  }
  memcpy(f->hash, hash, 16);
  j->miss[i] = FOUND;
  atomic_fetch_add(&j->hits, 1);
  gsp__cg_hook(cg, GSP_CG_STAGE_PARSE, gsp_now_ns() - t0, GSP_OK, true);
  return GSP_OK;
}

static int lookup_range(void *user, size_t begin, size_t end) {
  lookup_job *j = user;
  char *buf = NULL;
  size_t cap = 0;
  int rv = GSP_OK;
  for (size_t i = begin; i < end && rv == GSP_OK; i++) rv = lookup_one(j, i, &buf, &cap);
  gsp_free(buf);
  return rv;
}

/* Misses with the same content as an earlier miss (e.g. a header copied
 * into several directories) are not farmed: dup[i] names the earlier one,
 * whose result they copy. *nfarm = the misses left. */
static int find_dups(lookup_job *j, size_t *nfarm) {
  gsp_cg *cg = j->cg;
  size_t cap = 16, n = 0;
  while (cap < cg->nfiles * 2) cap *= 2;
  uint32_t *slots = gsp_calloc(cap, sizeof *slots); /* file + 1, 0 = empty */
  if (slots == NULL) return GSP_ENOMEM;
  for (size_t i = 0; i < cg->nfiles; i++) {
    if (j->miss[i] != MISS_READ) {
      n += j->miss[i] == MISS_UNREAD;
      continue;
    }
    uint64_t h;
    memcpy(&h, j->keys[i], sizeof h); /* the key is a hash already */
    size_t s = (size_t)h & (cap - 1);
    while (slots[s] && memcmp(j->keys[slots[s] - 1], j->keys[i], 16) != 0) s = (s + 1) & (cap - 1);
    if (slots[s] == 0) {
      slots[s] = (uint32_t)i + 1, n++;
    } else {
      j->dup[i] = slots[s], j->miss[i] = FOUND;
    }
  }
  gsp_free(slots);
  *nfarm = n;
  return GSP_OK;
}

/* Each duplicate takes a copy of its original's result (none when the
 * farm could not read the original: then it is skipped too). */
static int copy_dups(lookup_job *j) {
  gsp_cg *cg = j->cg;
  for (size_t i = 0; i < cg->nfiles; i++) {
    if (j->dup[i] == 0) continue;
    cg_file *f = &cg->files[i];
    const cg_file *src = &cg->files[j->dup[i] - 1];
    cg->st.cache_hits++, cg->st.cache_misses--;
    if (src->res == NULL) {
      cg->st.files_skipped++;
      continue;
    }
    size_t len = 0;
    const void *bytes = gsp_cg_result_bytes(src->res, &len);
    int rv = gsp_cg_result_load(bytes, len, &f->res);
    if (rv != GSP_OK) return rv;
    memcpy(f->hash, src->hash, 16);
    gsp__cg_hook(cg, GSP_CG_STAGE_PARSE, 0, GSP_OK, true);
  }
  return GSP_OK;
}

/* ---- the farm ---- */

/* Hand the n files whose miss flag is set (all when miss is NULL) to the
 * farm; move its results into cg->files and, with a store, into it. */
static int farm_misses(gsp_cg *cg, const uint8_t *miss, size_t n, const cg_store *st) {
  gsp_cg_farm_file *ff = gsp_calloc(n + 1, sizeof *ff);
  uint32_t *idx = gsp_calloc(n + 1, sizeof *idx);
  int rv = ff && idx ? GSP_OK : GSP_ENOMEM;
  for (size_t i = 0, k = 0; rv == GSP_OK && i < cg->nfiles; i++) {
    if (miss && !miss[i]) continue;
    ff[k] = (gsp_cg_farm_file){.path = cg->files[i].path, .lang = cg->files[i].lang};
    ff[k].macros = gsp__cg_hm_names(cg, i, &ff[k].nmacros);
    idx[k++] = (uint32_t)i;
  }
  uint64_t t0 = gsp_now_ns();
  if (rv == GSP_OK) rv = cg->cfg.farm(cg->cfg.farm_user, cg->root, ff, n);
  /* the farm's wall time, shared evenly by the files it parsed */
  uint64_t each = n ? (gsp_now_ns() - t0) / n : 0;
  for (size_t k = 0; ff && k < n; k++) {
    if (rv != GSP_OK) {
      gsp_cg_result_free(ff[k].res);
      continue;
    }
    cg_file *f = &cg->files[idx[k]];
    f->res = ff[k].res;
    memcpy(f->hash, ff[k].hash, 16);
    cg->st.parsed += f->res != NULL;
    cg->st.files_skipped += f->res == NULL;
    if (f->res == NULL) continue;
    if (st) {
      uint8_t key[16];
      gsp__cg_hm_store_key(cg, idx[k], f->hash, key);
      (void)st->put(st->user, key, f->res); /* a failed put is a miss next time */
    }
    gsp__cg_hook(cg, GSP_CG_STAGE_PARSE, each, GSP_OK, false);
  }
  gsp_free(idx), gsp_free(ff);
  return rv;
}

/* Look every file up in the store; farm out the misses (once per content). */
static int farm_with_store(gsp_cg *cg, const cg_store *st) {
  lookup_job j = {.cg = cg, .store = *st};
  j.miss = gsp_calloc(cg->nfiles + 1, 1);
  j.keys = gsp_calloc(cg->nfiles + 1, sizeof *j.keys);
  j.dup = gsp_calloc(cg->nfiles + 1, sizeof *j.dup);
  int rv = j.miss && j.keys && j.dup ? GSP_OK : GSP_ENOMEM;
  size_t grain = cg->nfiles / ((size_t)gsp__cg_threads(cg->cfg.exec) * 32 + 1) + 1, nfarm = 0;
  if (rv == GSP_OK)
    rv = gsp__cg_for(cg->cfg.exec, cg->nfiles, grain < LOOKUP_GRAIN ? grain : LOOKUP_GRAIN,
                     lookup_range, &j);
  cg->st.cache_hits = j.hits, cg->st.cache_misses = j.misses;
  if (rv == GSP_OK) rv = find_dups(&j, &nfarm);
  if (rv == GSP_OK) rv = farm_misses(cg, j.miss, nfarm, st);
  if (rv == GSP_OK) rv = copy_dups(&j);
  gsp_free(j.miss), gsp_free(j.keys), gsp_free(j.dup);
  return rv;
}

/* With farm_macros, each C file's learned names (hmacro.c) go with it to
 * the farm and into its store key; once every result is in (duplicates
 * copied from their originals' content hashes), each file's hash is
 * settled as in a local run. Without, no file has learned names. */
int gsp__cg_farm_stage(gsp_cg *cg) {
  cg_store st;
  int rv = cg->cfg.farm_macros ? gsp__cg_hm_prepare(cg, cg->cfg.exec) : GSP_OK;
  bool stored = rv == GSP_OK && !cg->cfg.no_cache && gsp__cg_store_open(&cg->cfg, &st) == GSP_OK;
  if (rv == GSP_OK)
    rv = stored ? farm_with_store(cg, &st) : farm_misses(cg, NULL, cg->nfiles, NULL);
  for (size_t i = 0; rv == GSP_OK && i < cg->nfiles; i++) gsp__cg_hm_settle(cg, i);
  gsp__cg_hm_free(cg);
  if (rv != GSP_OK && cg->err[0] == '\0')
    gsp__cg_seterr(cg, "%s: parse farm failed: %s", cg->root, gsp_strerror(rv));
  return rv;
}
