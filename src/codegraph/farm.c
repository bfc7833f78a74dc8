/*
 * farm.c - the parse stage handed to a farm (gsp_cg_config.farm), and
 * gsp_cg_parse_file, which a farm's workers use to read, hash and parse
 * one file as the local parse stage does.
 *
 * Data: one gsp_cg_farm_file per walked file, in file order, pointing at
 * the file's path in cg->arena; the farm fills hash and res, which move
 * into cg->files. Invariants: the hash is XXH3-128 (seed 0, canonical
 * bytes) of the file's content, the same as the local stage's, so a farmed
 * run's graph and database equal the local run's.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cg_int.h"

#define DEFAULT_MAX_FILE ((size_t)16 << 20)

static int read_all(int fd, size_t max, char **buf, size_t *len) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) return GSP_EIO;
  size_t cap = (size_t)st.st_size + 1, n = 0;
  char *b = gsp_malloc(cap);
  if (b == NULL) return GSP_ENOMEM;
  ssize_t r;
  while (n < cap && (r = read(fd, b + n, cap - n)) > 0) n += (size_t)r;
  if (n >= cap) { /* grew while we read */
    gsp_free(b);
    return GSP_EIO;
  }
  *buf = b, *len = n;
  return GSP_OK;
}

int gsp_cg_parse_file(gsp_cg_parser *p, const char *path, gsp_cg_lang lang, size_t max_bytes,
                      uint8_t hash[16], gsp_cg_result **out) {
  if (p == NULL || path == NULL || hash == NULL || out == NULL) return GSP_EINVAL;
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return GSP_EIO;
  char *src = NULL;
  size_t len = 0;
  int rv = read_all(fd, max_bytes ? max_bytes : DEFAULT_MAX_FILE, &src, &len);
  close(fd);
  if (rv != GSP_OK) return rv;
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits_withSeed(src, len, 0));
  memcpy(hash, c.digest, 16);
  rv = gsp_cg_parse(p, lang, src, len, out);
  gsp_free(src);
  return rv;
}

int gsp__cg_farm_stage(gsp_cg *cg) {
  gsp_cg_farm_file *ff = gsp_calloc(cg->nfiles + 1, sizeof *ff);
  if (ff == NULL) return GSP_ENOMEM;
  for (size_t i = 0; i < cg->nfiles; i++)
    ff[i] = (gsp_cg_farm_file){.path = cg->files[i].path, .lang = cg->files[i].lang};
  int rv = cg->cfg.farm(cg->cfg.farm_user, cg->root, ff, cg->nfiles);
  for (size_t i = 0; i < cg->nfiles; i++) {
    if (rv == GSP_OK) {
      cg_file *f = &cg->files[i];
      f->res = ff[i].res;
      memcpy(f->hash, ff[i].hash, 16);
      cg->st.parsed += f->res != NULL;
      cg->st.files_skipped += f->res == NULL;
    } else {
      gsp_cg_result_free(ff[i].res);
    }
  }
  gsp_free(ff);
  if (rv != GSP_OK && cg->err[0] == '\0')
    gsp__cg_seterr(cg, "%s: parse farm failed: %s", cg->root, gsp_strerror(rv));
  return rv;
}
