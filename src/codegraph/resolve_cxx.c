/*
 * resolve_cxx.c - C++ standard-style headers: files without an extension
 * (`#include <vector>`, `<cstdint>`, libstdc++'s c++/12/vector) become files
 * of the graph when, and only when, an #include reaches them.
 *
 * Why a pass before the parse: which files the graph holds must be known
 * before the parse stage starts (the database writer numbers them then),
 * and an extension-less file says nothing about its language by its name;
 * what makes it a header is that a C or C++ file includes it. So the walk
 * keeps every regular file without an extension as a candidate (walk.c:
 * cg->cands; links are not followed and .gitignore applies, as for every
 * file), and this pass reads the C files' include lines.
 *
 * Rule: every `#include <x>` / `#include "x"` of a C file whose last path
 * component has no '.' is looked up with the include search order of
 * resolve_imports.c (the including file's directory for "x", the -I
 * directories, the root, the directories above the including file),
 * against the candidates. A candidate found becomes a C file (parsed with
 * the C grammar: the build has no C++ grammar, so a C++ header yields its
 * includes, macros and whatever declarations C can read, with syntax
 * errors flagged) and its own include lines are read in turn, until no
 * new candidate is reached. The set reached is a closure, the same
 * whatever the order files are read in or the number of threads.
 *
 * Include lines: a line whose first non-blank character is '#' followed
 * by `include` and <...> or "..." on the same line. The scan does not
 * track comments or conditionals (an include inside `#if 0` or a block
 * comment counts): it over-approximates what the parse will see, never
 * misses an include the parse records.
 *
 * The C pre-scan (hmacro.c): the same pass reads every C file, candidates
 * or not, and also runs the macro pre-pass over it (gsp__cg_c_note_macros):
 * its #include spellings as the pass sees them (kinds 'q' / 's'), the
 * names it teaches its includers ('T') and the names it #undefs ('U'), so
 * that the parse stage knows each C file's names learned from its includes
 * before parsing it. The lists are handed to cg->hm when the pass ends.
 *
 * Memo (cxx_memo.h, kept by stat_index.c beside the stat index): per C
 * file scanned, its stat and its notes (extension-less spellings, then the
 * pre-scan's). A file the memo vouches for
 * (same path, device, inode, size, mtime, ctime as the walk saw, not racy
 * by the stat index's rule, not over max_file_bytes) is not read: its
 * recorded notes stand in for the scan of its text, which they are,
 * since they depend on the content alone (the lookups, which
 * depend on the include path and the candidates, are made again every
 * run). Any other file is read. So the set reached is exactly a full
 * scan's. The memo is written again when any file was read or one it
 * held is gone.
 *
 * Data: per file index (nfiles + ncands: room for the headers appended)
 * a list of its notes (kind byte, text, NUL: GSP_CG_IMPORT_INCLUDE_* for
 * an extension-less spelling, CG_NOTE_* for the pre-scan's) and whether it
 * was scanned (a list the memo vouched for points into the memo's buffer
 * rather than copying it: a warm run touches no fresh memory for its
 * notes, and the buffer goes to cg->hm with them), a hash set of the
 * candidates' paths and a "reached" mark
 * per candidate; the lists go to cg->hm, the rest is freed before
 * returning; candidates reached are appended to cg->files (lang C), to be
 * sorted with the rest. Cost: nothing when the walk found no C file; else
 * per C file one memo lookup, and for a file not vouched for one read, one
 * memchr pass and one macro pre-pass (parallel over files); then a lookup
 * per extension-less include.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "cxx_memo.h"
#include "hmacro.h"
#include "resolve_int.h"

_Atomic uint64_t gsp__cg_cxx_reads; /* cxx_memo.h */

typedef struct cxx_job {
  gsp_cg *cg;
  const uint32_t *wave; /* file indexes to scan in this round */
  cg_notes *lists;      /* per file index (nfiles + ncands) */
  cg_cxx_memo memo;
  uint32_t *slots; /* candidate hash set: index + 1, 0 = empty */
  size_t cslots;
  uint8_t *reached;
} cxx_job;

/* The spelling s[0, n) names a file without an extension. */
static bool bare_name(const char *s, size_t n) {
  const char *last = gsp__cg_last_slash(s, n);
  size_t b = last ? (size_t)(last - s) + 1 : 0;
  return b < n && memchr(s + b, '.', n - b) == NULL;
}

static size_t skip_blanks(const char *s, size_t i, size_t n) {
  while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
  return i;
}

/* The include line whose '#' is at p: its extension-less spelling into l
 * (kind GSP_CG_IMPORT_INCLUDE_*). Returns where to go on. */
static size_t include_line(const char *s, size_t n, size_t p, cg_notes *l, int *rv) {
  size_t q = skip_blanks(s, p + 1, n);
  if (n - q < 8 || memcmp(s + q, "include", 7) != 0) return p + 1;
  q = skip_blanks(s, q + 7, n);
  if (q >= n || (s[q] != '<' && s[q] != '"')) return p + 1;
  char close = s[q] == '<' ? '>' : '"';
  size_t e = q + 1;
  while (e < n && s[e] != close && s[e] != '\n') e++;
  if (e >= n || s[e] != close) return e;
  if (e > q + 1 && bare_name(s + q + 1, e - q - 1))
    *rv = gsp__cg_notes_add(
        l, close == '>' ? GSP_CG_IMPORT_INCLUDE_SYSTEM : GSP_CG_IMPORT_INCLUDE_QUOTED, s + q + 1,
        e - q - 1);
  return e + 1;
}

static int scan_text(const char *s, size_t n, cg_notes *l) {
  int rv = GSP_OK;
  for (size_t i = 0; s != NULL && i < n && rv == GSP_OK;) {
    const char *h = memchr(s + i, '#', n - i);
    if (h == NULL) break;
    size_t p = (size_t)(h - s), b = p;
    while (b > 0 && (s[b - 1] == ' ' || s[b - 1] == '\t')) b--;
    i = b == 0 || s[b - 1] == '\n' ? include_line(s, n, p, l, &rv) : p + 1;
  }
  return rv;
}

/* Read file f whole into *buf (grown as needed); false when it cannot be
 * read (it is then parsed, or skipped, by the parse stage as usual). */
static bool read_file(const gsp_cg *cg, const cg_file *f, char **buf, size_t *cap, size_t *len) {
  char path[PATH_MAX_CG];
  if (f->size > cg->cfg.max_file_bytes ||
      snprintf(path, sizeof path, "%s/%s", cg->root, f->path) >= (int)sizeof path)
    return false;
  if (f->size + 1 > *cap) {
    char *q = gsp_realloc(*buf, (size_t)f->size + 1);
    if (q == NULL) return false;
    *buf = q, *cap = (size_t)f->size + 1;
  }
  return gsp__cg_read_into(path, *buf, *cap, len) == GSP_OK;
}

static int scan_range(void *user, size_t begin, size_t end) {
  cxx_job *j = user;
  char *buf = NULL;
  size_t cap = 0, len = 0;
  cg_macro_set scratch = {0};
  int rv = GSP_OK;
  for (size_t i = begin; i < end && rv == GSP_OK; i++) {
    const cg_file *f = &j->cg->files[j->wave[i]];
    cg_notes *l = &j->lists[j->wave[i]];
    const char *sp;
    size_t n;
    if (gsp__cg_cxx_memo_find(&j->memo, j->cg, f, &sp, &n)) {
      /* the memo's entries as they are, borrowed: the memo's buffer goes to cg->hm */
      *l = (cg_notes){.buf = (char *)sp, .len = n, .scanned = true, .borrowed = true};
    } else if (read_file(j->cg, f, &buf, &cap, &len)) {
      atomic_fetch_add(&gsp__cg_cxx_reads, 1);
      l->scanned = true;
      rv = scan_text(buf, len, l);
      if (rv == GSP_OK) rv = gsp__cg_c_note_macros(buf, len, &scratch, gsp__cg_notes_add, l);
    }
  }
  gsp__cg_macro_set_free(&scratch);
  gsp_free(buf);
  return rv;
}

/* ---- the candidates ---- */

static size_t cand_hash(const char *p, size_t n) { return (size_t)XXH3_64bits(p, n); }

static long cand_lookup(const void *ctx, const char *path, size_t len) {
  const cxx_job *j = ctx;
  const gsp_cg *cg = j->cg;
  size_t mask = j->cslots - 1;
  for (size_t h = cand_hash(path, len) & mask; j->slots[h]; h = (h + 1) & mask) {
    const char *c = cg->cands[j->slots[h] - 1];
    if (strncmp(c, path, len) == 0 && c[len] == '\0') return (long)j->slots[h] - 1;
  }
  return -1;
}

static int index_cands(cxx_job *j) {
  const gsp_cg *cg = j->cg;
  size_t cap = 16;
  while (cap < cg->ncands * 2) cap *= 2;
  j->slots = gsp_calloc(cap, sizeof *j->slots);
  j->reached = gsp_calloc(cg->ncands + 1, 1);
  if (j->slots == NULL || j->reached == NULL) return GSP_ENOMEM;
  j->cslots = cap;
  for (size_t i = 0; i < cg->ncands; i++) {
    size_t h = cand_hash(cg->cands[i], strlen(cg->cands[i])) & (cap - 1);
    while (j->slots[h]) h = (h + 1) & (cap - 1);
    j->slots[h] = (uint32_t)i + 1;
  }
  return GSP_OK;
}

static int64_t ns_of(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

/* A reached candidate becomes a C file of the graph. */
static int add_header(gsp_cg *cg, const char *path) {
  char full[PATH_MAX_CG];
  struct stat st;
  if (snprintf(full, sizeof full, "%s/%s", cg->root, path) >= (int)sizeof full ||
      lstat(full, &st) != 0 || !S_ISREG(st.st_mode))
    return GSP_OK; /* gone meanwhile */
  if (cg->nfiles == cg->cfiles) {
    size_t nc = cg->cfiles ? cg->cfiles * 2 : 256;
    cg_file *q = gsp_realloc(cg->files, nc * sizeof *q);
    if (q == NULL) return GSP_ENOMEM;
    cg->files = q, cg->cfiles = nc;
  }
  /* device, inode and times as walk.c keeps them, for the stat index */
  cg->files[cg->nfiles++] = (cg_file){.path = path,
                                      .size = (uint64_t)st.st_size,
                                      .lang = GSP_CG_LANG_C,
                                      .dev = (uint64_t)st.st_dev,
                                      .ino = (uint64_t)st.st_ino,
                                      .mtime_ns = ns_of(st.st_mtim),
                                      .ctime_ns = ns_of(st.st_ctim)};
  cg->cxx_headers++;
  return GSP_OK;
}

/* The candidates the scanned files' lists reach, not reached before, as
 * new files; *next gets their indexes (the next files to scan). */
static int reach(cxx_job *j, size_t nwave, uint32_t *next, size_t *nnext) {
  gsp_cg *cg = j->cg;
  int rv = GSP_OK;
  *nnext = 0;
  for (size_t i = 0; i < nwave && rv == GSP_OK; i++) {
    const cg_notes *l = &j->lists[j->wave[i]];
    const char *from = cg->files[j->wave[i]].path;
    for (size_t o = 0; o < l->len && rv == GSP_OK;) {
      const char *spell = l->buf + o + 1;
      char kind = l->buf[o];
      o += strlen(spell) + 2;
      if (kind != GSP_CG_IMPORT_INCLUDE_QUOTED && kind != GSP_CG_IMPORT_INCLUDE_SYSTEM) continue;
      long c =
          gsp__cg_resolve_include_in(cg, from, (gsp_cg_import_kind)kind, spell, cand_lookup, j);
      if (c < 0 || j->reached[c]) continue;
      j->reached[c] = 1;
      size_t before = cg->nfiles;
      rv = add_header(cg, cg->cands[c]);
      if (cg->nfiles > before) next[(*nnext)++] = (uint32_t)before;
    }
  }
  return rv;
}

/* Scan the files in wave[0, n), then reach from them; in rounds until no
 * new candidate is reached. wave has room for nfiles + ncands entries. */
static int rounds(cxx_job *j, gsp_exec *ex, uint32_t *wave, uint32_t *next, size_t n) {
  int rv = GSP_OK;
  while (n > 0 && rv == GSP_OK) {
    j->wave = wave;
    rv = gsp__cg_for(ex, n, 16, scan_range, j);
    size_t nn = 0;
    if (rv == GSP_OK) rv = reach(j, n, next, &nn);
    uint32_t *t = wave;
    wave = next, next = t, n = nn;
  }
  return rv;
}

/* Every file scanned this run, with its spellings, into the memo (none
 * out of memory: the next run reads the files again). */
static void save_memo(cxx_job *j) {
  const gsp_cg *cg = j->cg;
  cg_cxx_rec *recs = gsp_malloc((cg->nfiles + 1) * sizeof *recs);
  if (recs == NULL) return;
  size_t n = 0;
  for (size_t f = 0; f < cg->nfiles; f++)
    if (j->lists[f].scanned)
      recs[n++] = (cg_cxx_rec){.file = (uint32_t)f, .sp = j->lists[f].buf, .len = j->lists[f].len};
  gsp__cg_cxx_memo_save(j->cg, &j->memo, recs, n);
  gsp_free(recs);
}

int gsp__cg_cxx_headers(gsp_cg *cg, gsp_exec *ex) {
  size_t nc = 0;
  for (size_t i = 0; i < cg->nfiles; i++) nc += cg->files[i].lang == GSP_CG_LANG_C;
  if (nc == 0) return GSP_OK;
  cxx_job j = {.cg = cg};
  size_t room = cg->nfiles + cg->ncands;
  uint32_t *wave = gsp_malloc(room * sizeof *wave), *next = gsp_malloc(room * sizeof *next);
  j.lists = gsp_calloc(room, sizeof *j.lists);
  int rv = wave && next && j.lists ? index_cands(&j) : GSP_ENOMEM;
  if (rv == GSP_OK) gsp__cg_cxx_memo_load(cg, &j.memo);
  size_t n = 0;
  for (size_t i = 0; rv == GSP_OK && i < cg->nfiles; i++)
    if (cg->files[i].lang == GSP_CG_LANG_C) wave[n++] = (uint32_t)i;
  if (rv == GSP_OK) rv = rounds(&j, ex, wave, next, n);
  if (rv == GSP_OK) save_memo(&j);
  void *backing = NULL; /* borrowed from by the lists the memo vouched for */
  if (j.memo.hits > 0) backing = j.memo.buf, j.memo.buf = NULL;
  gsp__cg_cxx_memo_free(&j.memo);
  if (j.lists) { /* the notes, for the parse stage */
    int arv = gsp__cg_hm_adopt(cg, j.lists, room, backing);
    if (rv == GSP_OK) rv = arv;
  } else {
    gsp_free(backing);
  }
  gsp_free(wave), gsp_free(next), gsp_free(j.slots), gsp_free(j.reached);
  return rv;
}
