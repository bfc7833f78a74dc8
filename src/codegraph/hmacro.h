/*
 * hmacro.h - annotation macros learned from included headers, in the
 * parse stage (hmacro.c): the C pre-scan's notes per file (made by
 * resolve_cxx.c's scan, or taken from its memo), and from them, per C
 * file, the names its direct includes teach it and the store key they add.
 *
 * Thread safety: adopt, prepare and free on the run's calling thread (prepare
 * runs its own parallel loop); key and extra may be called from any number
 * of parse workers at once between prepare and free (they only read cg->hm;
 * extra fills the caller's own table); settle from the worker that
 * finished file f, once per file (it writes f's entries only). Ownership:
 * cg->hm owns the notes it adopts, the memo buffer they may borrow from,
 * and every per-file list; the names point into the notes.
 */
#ifndef GSP_CG_HMACRO_H
#define GSP_CG_HMACRO_H

#include "extract.h"

/* One C file's pre-scan notes: entries (kind byte CG_NOTE_*, text, NUL).
 * A list taken from the include memo borrows the memo's buffer (borrowed:
 * buf points into it, cap is 0, free does not free it; adding to it copies
 * it first). */
typedef struct cg_notes {
  char *buf;
  size_t len, cap;
  bool scanned;  /* read, or taken from the memo */
  bool borrowed; /* buf is the memo's, not the list's own */
} cg_notes;

/* Append an entry to the cg_notes at user (a cg_note_fn). GSP_ENOMEM. */
int gsp__cg_notes_add(void *user, char kind, const char *s, size_t n);

/* Take notes[0, n) (gsp_calloc'd; entry i belongs to cg->files[i] as it
 * is now, before the files are sorted) and backing (the gsp_malloc'd
 * buffer the borrowed lists point into, or NULL) into cg->hm; frees them
 * and returns GSP_ENOMEM when out of memory. */
int gsp__cg_hm_adopt(gsp_cg *cg, cg_notes *notes, size_t n, void *backing);
/* After the files are sorted and indexed: per C file the union of the
 * names its direct includes teach (includes resolved by the import rules,
 * gsp__cg_resolve_include_in), minus the names it teaches or #undefs itself,
 * sorted; and its key, XXH3-128 of those names. GSP_ENOMEM. */
int gsp__cg_hm_prepare(gsp_cg *cg, gsp_exec *ex);
/* The learned names' key of file f, or NULL when it has none (the store
 * key is then the content's alone, as without learned names). */
const uint8_t *gsp__cg_hm_key(const gsp_cg *cg, size_t f);
/* scratch filled with the learned names of file f: scratch, or NULL when it
 * has none (or on GSP_ENOMEM, in *rv). */
const cg_macro_tab *gsp__cg_hm_extra(const gsp_cg *cg, size_t f, cg_macro_tab *scratch, int *rv);
/* The learned names of file f (*n of them, sorted), NULL when it has none.
 * Valid until gsp__cg_hm_free. */
const char *const *gsp__cg_hm_names(const gsp_cg *cg, size_t f, size_t *n);
/* The result store key of file f with content hash: the hash, f's language,
 * the result format and, when f learned names, their key (parse_stage.c and
 * farm.c both key by this, so local, farmed and cached runs share entries). */
void gsp__cg_hm_store_key(const gsp_cg *cg, size_t f, const uint8_t hash[16], uint8_t key[16]);
/* Whether f learned any name: how many files did (a count for tests and the
 * report is gsp__cg_hm_files). */
size_t gsp__cg_hm_files(const gsp_cg *cg);
/* File f's result is final: when it parsed with learned names, its hash
 * (cg->files[f].hash, what the database, the stored resolution and
 * gsp_cg_file_hash see) becomes the identity of that result, XXH3-128 of
 * (content hash, names key), so that a file whose learned names changed
 * counts as changed to them; gsp__cg_hm_content still gives the content
 * hash (the stat index records that). Before gsp__cg_dbw_ready(f). */
void gsp__cg_hm_settle(gsp_cg *cg, size_t f);

#endif
