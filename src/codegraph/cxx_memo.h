/*
 * cxx_memo.h - the include memo of the extension-less header scan
 * (stat_index.c writes and reads it, resolve_cxx.c uses it): per C file
 * its (device, inode, size, mtime ns, ctime ns) when the scan last read it
 * and the notes of the C pre-scan found then (every include spelling, the
 * names it teaches and #undefs: hmacro.h; version 2), so that a warm run
 * takes the spellings of a file whose stat is unchanged (and not racy, by
 * the stat index's rule) instead of reading it again.
 *
 * Thread safety: load and save on one thread; find may be called from any
 * number of threads at once between them (it only reads). Ownership: the
 * memo owns its buffers (freed by gsp__cg_cxx_memo_free); find returns a
 * pointer into buf; save copies what it is given. A user may take buf
 * over after save (set it to NULL before free): resolve_cxx.c hands it to
 * cg->hm with the notes that point into it.
 */
#ifndef GSP_CG_CXX_MEMO_H
#define GSP_CG_CXX_MEMO_H

#include "cg_int.h"

typedef struct cg_cxx_memo {
  char *path;          /* NULL = no memo this run */
  uint8_t *buf;        /* the memo file, when it passed its checks (gsp_malloc'd) */
  uint32_t count;      /* its entries */
  int64_t ref_ns;      /* its reference time */
  uint32_t *slots;     /* path hash: entry + 1, 0 = empty */
  size_t cslots;       /* power of two */
  _Atomic size_t hits; /* files find vouched for */
} cg_cxx_memo;

/* One scanned file for save: its index in cg->files and its spellings
 * (entries: kind byte, spelling, NUL; len bytes in all, 0 for none). */
typedef struct cg_cxx_rec {
  uint32_t file;
  const char *sp;
  size_t len;
} cg_cxx_rec;

/* The memo of cg's tree, beside the stat index; an empty one (find finds
 * nothing) when there is no cache directory, no memo yet, or a memo that
 * fails a check (no warning: the scan then reads every file, as without
 * a memo, and writes a sound memo again); out of memory, an empty one
 * too: the memo only ever spares reads. */
void gsp__cg_cxx_memo_load(gsp_cg *cg, cg_cxx_memo *m);
/* The recorded spellings of f when the memo vouches for it: same path,
 * device, inode, size, mtime and ctime, not racy, and not larger than
 * cfg.max_file_bytes. */
bool gsp__cg_cxx_memo_find(cg_cxx_memo *m, const gsp_cg *cg, const cg_file *f, const char **sp,
                           size_t *len);
/* Write the memo of this run's scanned files atomically (temporary file
 * renamed over the old one), unless every one was vouched for and the memo
 * held no other: then it is left as it is. A write failure is logged. */
void gsp__cg_cxx_memo_save(gsp_cg *cg, cg_cxx_memo *m, const cg_cxx_rec *recs, size_t n);
void gsp__cg_cxx_memo_free(cg_cxx_memo *m);

/* resolve_cxx.c, a test hook: the C files the scan has read (those not
 * taken from the memo), over every run of the process; atomic. */
extern _Atomic uint64_t gsp__cg_cxx_reads;

#endif
