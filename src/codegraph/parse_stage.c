/*
 * parse_stage.c - the parse stage of gsp_cg_run: for every file, read it,
 * hash it (XXH3-128), look its result up in the result store, else parse
 * and extract it (one gsp_cg_parser per worker) and put the result into
 * the store. gsp_exec_parallel_for over the files, in chunks that shrink
 * to one file near the end, in the database writer's id order (or path
 * order) but for the large files that would start too late: those go
 * first (plan_order), so no thread parses a large file alone at the end.
 *
 * Reads: with an I/O executor (gsp_cg_config.io) a worker reads ahead: it
 * first reads the next file of its chunk itself with RWF_NOWAIT, which
 * succeeds when the file is in the page cache (no blocking, and no hand-off
 * to another thread: two wake-ups cost more than reading a cached file);
 * only a read that would block is submitted to the executor
 * (gsp_io_read_file into the slot's other buffer) before the worker hashes
 * and parses the current file, so the blocking overlaps the parse. Without
 * an executor, read(2) on the worker. Either way a file that cannot be
 * read, or grew beyond its walked size meanwhile, is skipped and counted,
 * never an error.
 *
 * Stat index (stat_index.c): with a store that has a cache directory, the
 * files whose (device, inode, size, mtime, ctime) match the last run's and
 * are not racy come with their content hash; each chunk first looks those
 * up in the store by that hash, with no read, no hash and no parser slot
 * (a chunk made only of such files takes no slot at all), then reads the rest
 * as below. A vouched file the store no longer holds is read like any
 * other. The index is rewritten after the stage when anything changed.
 *
 * Learned names (hmacro.c): before the files, each C file's names learned
 * from its direct includes are worked out from the pre-scan's notes; a
 * file with some is parsed with them (gsp__cg_parse_with, the slot's
 * extra table) and its store key mixes their key into the content hash;
 * once its result is final its hash becomes the identity of that result
 * (gsp__cg_hm_settle, before the database writer takes it).
 *
 * Data: a slot (free list, one per concurrently running chunk) holds a
 * parser and two read buffers that grow to the largest file seen and are
 * reused; the source text lives only there. Nothing is allocated per file
 * but the result.
 *
 * Memory first (cfg.memory == GSP_CG_MEMORY_AGGRESSIVE): the parse trees
 * are the stage's peak. A tree costs about 14 (C) to 23 (Python) times its
 * source bytes at the median, 20 and 29 at the 90th percentile, up to 52
 * (heap measured per file on /usr/include and /usr/lib/python3.11), and
 * it is alive only while its file is parsed and extracted. So:
 *  - budget: a parse whose estimated tree (tree_estimate) reaches
 *    LARGE_TREE counts against PARSE_BUDGET; it starts only when the large
 *    parses in flight leave room for it, or when no other large parse is
 *    in flight (a file larger than the whole budget still runs, alone).
 *    Small parses never wait. A large file that does not fit is deferred
 *    (its index on j->deferred, counted as the miss it was) and the worker
 *    goes on with its chunk; after each of its files a worker takes the
 *    deferred files that fit now (read again into the buffer just used,
 *    with read(2), so the read hook sees that file twice; parsed without
 *    a second lookup), and the calling thread takes what is left once
 *    every chunk is done.
 *  - trim: glibc keeps freed memory in the arena of the thread that freed
 *    it (one arena per thread), and results allocated while a tree was
 *    alive pin the holes it leaves, so the memory one thread freed is not
 *    there for the next huge tree on another. malloc_trim(0) gives the
 *    whole free pages of every arena back: before and after a parse whose
 *    estimate reaches HUGE_TREE, and once when the stage ends (before the
 *    resolution allocates on the calling thread). Trimming after every
 *    large parse saved no more and cost about 10% CPU in page faults.
 *    Skipped under a sanitizer runtime, whose allocator is not glibc's.
 *  - buffers: a read buffer grown beyond BIG_BUF is freed after its file,
 *    not kept for the rest of the run.
 *
 * Invariants: a buffer with a read in flight is touched by nobody until
 * that read's future completes; a chunk waits for its read-ahead before it
 * returns its slot, on every path. j->inflight is the sum of the estimates
 * of the large parses running; a deferred file is on j->deferred exactly
 * once until it is taken, and every file is finished (or the stage fails)
 * before gsp__cg_parse_stage returns. j->order, when set, is a
 * permutation of the files (each position maps to one file, each file to
 * one position).
 */
#define _GNU_SOURCE /* preadv2, RWF_NOWAIT */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/uio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cg_int.h"
#include "hmacro.h"

#define PROGRESS_EVERY_NS 100000000ull
#define PATH_CAP 4096
#define LARGE_TREE ((uint64_t)1 << 20)   /* aggressive: estimates from here on count */
#define PARSE_BUDGET ((uint64_t)8 << 20) /* aggressive: large trees alive at once */
#define HUGE_TREE (PARSE_BUDGET / 2)     /* aggressive: trim before and after */
#define BIG_BUF ((size_t)256 << 10)      /* aggressive: larger read buffers are freed */
#define DEFERRED ((int)1)                /* result_of: the parse waits for room */

typedef struct slot {
  struct slot *next;
  gsp_cg_parser *parser;
  char *buf[2];
  size_t cap[2];
  cg_macro_tab extra; /* the learned names of the file being parsed */
} slot;

typedef struct parse_job {
  gsp_cg *cg;
  cg_store store;
  bool use_store;
  pthread_mutex_t mu;
  slot *free_slots;
  _Atomic uint64_t files_done, bytes_done, parsed, hits, misses, skipped, last_report;
  _Atomic uint64_t handed_off; /* reads that went to the I/O executor */
  _Atomic uint64_t stat_hits;  /* vouched for by the stat index and found in the store */
  cg_stat_index ix;
  atomic_flag reporting;
  uint64_t start_ns;
  bool lean;         /* cfg.memory == AGGRESSIVE */
  uint64_t inflight; /* under mu: estimates of the large parses running */
  size_t *deferred;  /* under mu: files waiting for room (lean runs only) */
  _Atomic size_t ndeferred;
  size_t *order; /* file at each position (NULL: cg->parse_order or path order) */
} parse_job;

/* Under a sanitizer runtime malloc is not glibc's (see src/mem/pressure.c):
 * the runtime's counter is found through a weak symbol. */
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

/* Heap bytes a tree-sitter tree of a file of `bytes` may take: a little
 * above the 90th percentile of the measured ratio per language. */
static uint64_t tree_estimate(gsp_cg_lang lang, uint64_t bytes) {
  if (lang == GSP_CG_LANG_JSON) return 0; /* read with jansson, no tree */
  return bytes * (lang == GSP_CG_LANG_C ? 20 : 32);
}

/* Lean runs: the free pages of every arena back to the system. */
static void trim(const parse_job *j) {
  if (j->lean && __sanitizer_get_current_allocated_bytes == NULL) malloc_trim(0);
}

/* May a parse with this estimate start now? Large ones are counted; before
 * a huge one, the memory other threads freed is given back. */
static bool admit(parse_job *j, uint64_t est) {
  if (!j->lean || est < LARGE_TREE) return true;
  pthread_mutex_lock(&j->mu);
  bool ok = j->inflight == 0 || j->inflight + est <= PARSE_BUDGET;
  if (ok) j->inflight += est;
  pthread_mutex_unlock(&j->mu);
  if (ok && est >= HUGE_TREE) trim(j);
  return ok;
}

/* A parse admitted with est is over and its tree freed. */
static void release(parse_job *j, uint64_t est) {
  if (!j->lean || est < LARGE_TREE) return;
  pthread_mutex_lock(&j->mu);
  j->inflight -= est;
  pthread_mutex_unlock(&j->mu);
  if (est >= HUGE_TREE) trim(j);
}

/* One read of one file into one of the slot's buffers. */
typedef struct pending {
  gsp_io_read req;
  gsp_exec_future *fu;
  char path[PATH_CAP];
  uint64_t t0, t_done; /* submitted; finished (stamped on the I/O thread) */
  int status;          /* when no future: the read's outcome */
  size_t len;
} pending;

static int grow(slot *s, int which, size_t want) {
  if (want <= s->cap[which]) return GSP_OK;
  char *b = gsp_realloc(s->buf[which], want);
  if (b == NULL) return GSP_ENOMEM;
  s->buf[which] = b, s->cap[which] = want;
  return GSP_OK;
}

int gsp__cg_read_into(const char *path, char *buf, size_t cap, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return GSP_EIO;
  size_t n = 0;
  ssize_t r;
  while (n < cap && (r = read(fd, buf + n, cap - n)) > 0) n += (size_t)r;
  close(fd);
  if (n >= cap) return GSP_ERANGE; /* grew while we read */
  *len = n;
  return GSP_OK;
}

/* Read path whole into buf if that needs no waiting (its pages are
 * cached): GSP_OK / GSP_EIO / GSP_ERANGE as gsp__cg_read_into, or GSP_EBUSY when it
 * would block (or the file system cannot tell), to be read elsewhere. */
static int cached_read(const char *path, char *buf, size_t cap, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return GSP_EIO;
  size_t n = 0;
  ssize_t r;
  do {
    struct iovec iov = {buf + n, cap - n};
    r = preadv2(fd, &iov, 1, (off_t)n, RWF_NOWAIT);
    if (r > 0) n += (size_t)r;
  } while (r > 0 && n < cap);
  int err = r < 0 ? errno : 0;
  close(fd);
  if (r < 0) return err == EAGAIN || err == EOPNOTSUPP || err == EINVAL ? GSP_EBUSY : GSP_EIO;
  if (n >= cap) return GSP_ERANGE; /* grew while we read */
  *len = n;
  return GSP_OK;
}

static void read_done(gsp_io_read *req, void *user) {
  (void)req;
  ((pending *)user)->t_done = gsp_now_ns();
}

/* Start reading f into buffer `which`: on the I/O executor, else now. */
static void start_read(parse_job *j, slot *s, const cg_file *f, int which, pending *p) {
  gsp_cg *cg = j->cg;
  p->fu = NULL, p->len = 0, p->t0 = gsp_now_ns(), p->t_done = 0;
  p->status = f->size > cg->cfg.max_file_bytes ? GSP_EIO : grow(s, which, (size_t)f->size + 1);
  if (p->status == GSP_OK &&
      snprintf(p->path, sizeof p->path, "%s/%s", cg->root, f->path) >= (int)sizeof p->path)
    p->status = GSP_EIO;
  if (p->status != GSP_OK) return;
  if (cg->cfg.io == NULL) {
    p->status = gsp__cg_read_into(p->path, s->buf[which], s->cap[which], &p->len);
    return;
  }
  p->status = cached_read(p->path, s->buf[which], s->cap[which], &p->len);
  if (p->status != GSP_EBUSY) return;
  atomic_fetch_add_explicit(&j->handed_off, 1, memory_order_relaxed);
  p->status = GSP_OK;
  p->req = (gsp_io_read){
      .path = p->path, .buf = s->buf[which], .cap = s->cap[which], .done = read_done, .user = p};
  if (gsp_io_read_file(cg->cfg.io, &p->req, &p->fu) != GSP_OK) { /* busy: read here */
    p->fu = NULL;
    p->status = gsp__cg_read_into(p->path, s->buf[which], s->cap[which], &p->len);
  }
}

/* Wait for a read started by start_read; returns its status. */
static int finish_read(const gsp_cg *cg, pending *p, size_t *len) {
  if (p->fu != NULL) {
    int res = GSP_OK;
    gsp_exec_future_wait(p->fu, &res);
    gsp_exec_future_release(p->fu);
    p->fu = NULL;
    p->status = p->req.status, p->len = p->req.len;
  }
  *len = p->len;
  uint64_t end = p->t_done ? p->t_done : gsp_now_ns();
  gsp__cg_hook(cg, GSP_CG_STAGE_READ, end - p->t0, p->status, false);
  return p->status;
}

/* The store key of f's content hash (gsp__cg_hm_store_key). */
static void key_of(const gsp_cg *cg, const cg_file *f, uint8_t key[16]) {
  gsp__cg_hm_store_key(cg, (size_t)(f - cg->files), f->hash, key);
}

static void make_key(const gsp_cg *cg, cg_file *f, const char *src, size_t len, uint8_t key[16]) {
  XXH128_hash_t h = XXH3_128bits_withSeed(src, len, 0);
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  memcpy(f->hash, c.digest, 16);
  key_of(cg, f, key);
}

static void report_progress(parse_job *j) {
  gsp_cg *cg = j->cg;
  if (cg->cfg.progress == NULL) return;
  uint64_t now = gsp_now_ns(), last = atomic_load(&j->last_report);
  if (now - last < PROGRESS_EVERY_NS ||
      !atomic_compare_exchange_strong(&j->last_report, &last, now))
    return;
  if (atomic_flag_test_and_set(&j->reporting)) return;
  gsp_cg_progress p = {atomic_load(&j->files_done), cg->nfiles, atomic_load(&j->bytes_done),
                       cg->st.bytes, now - j->start_ns};
  cg->cfg.progress(cg->cfg.progress_user, &p);
  atomic_flag_clear(&j->reporting);
}

/* Parse f (admitted with est) and put its result into the store. */
static int parse_one(parse_job *j, slot *s, cg_file *f, const char *src, size_t len,
                     const uint8_t key[16], uint64_t est) {
  int rv;
  const cg_macro_tab *extra = gsp__cg_hm_extra(j->cg, (size_t)(f - j->cg->files), &s->extra, &rv);
  if (rv == GSP_OK) rv = gsp__cg_parse_with(s->parser, f->lang, src, len, extra, &f->res);
  release(j, est);
  if (rv == GSP_OK) atomic_fetch_add(&j->parsed, 1);
  if (rv == GSP_OK && j->use_store) j->store.put(j->store.user, key, f->res); /* else a miss */
  return rv;
}

/* File i's result is final (or it was skipped): its hash settled (the
 * identity of a result parsed with learned names), then the database
 * writer told. */
static void ready(gsp_cg *cg, size_t i) {
  gsp__cg_hm_settle(cg, i);
  gsp__cg_dbw_ready(cg, i);
}

/* A file's result is final: count it, tell the hook and the progress. */
static int finished(parse_job *j, uint64_t t0, int rv, bool hit, size_t len) {
  gsp__cg_hook(j->cg, GSP_CG_STAGE_PARSE, gsp_now_ns() - t0, rv, hit);
  if (rv != GSP_OK) return rv;
  atomic_fetch_add(&j->bytes_done, len);
  atomic_fetch_add(&j->files_done, 1);
  report_progress(j);
  return GSP_OK;
}

/* The index's word on f no longer counts: its hash is what reading it
 * gives (zero when the read fails or the file is skipped), as in a run
 * without an index. */
static void forget_known(cg_file *f) {
  f->stat_known = false;
  memset(f->hash, 0, sizeof f->hash);
}

/* File i, vouched for by the stat index: its result from the store by the
 * recorded content hash, without reading it. false on a miss (it is then
 * read, hashed and looked up as any other file). */
static bool known_hit(parse_job *j, size_t i) {
  cg_file *f = &j->cg->files[i];
  if (!f->stat_known || !j->use_store) return false;
  if (f->size > j->cg->cfg.max_file_bytes) { /* skipped as when read: no result */
    forget_known(f);
    return false;
  }
  uint64_t t0 = gsp_now_ns();
  uint8_t key[16];
  key_of(j->cg, f, key);
  if (j->store.get(j->store.user, key, &f->res) != GSP_OK) {
    f->res = NULL;
    forget_known(f); /* the read decides its hash, as without an index */
    return false;
  }
  atomic_fetch_add(&j->hits, 1);
  atomic_fetch_add(&j->stat_hits, 1);
  gsp__cg_hook(j->cg, GSP_CG_STAGE_READ, 0, GSP_OK, true); /* answered by the index */
  finished(j, t0, GSP_OK, true, (size_t)f->size);
  ready(j->cg, i);
  return true;
}

/* Put file i on the deferred list (its tree does not fit yet). */
static void defer(parse_job *j, size_t i) {
  pthread_mutex_lock(&j->mu);
  j->deferred[atomic_load(&j->ndeferred)] = i;
  atomic_fetch_add(&j->ndeferred, 1);
  pthread_mutex_unlock(&j->mu);
}

/* The result of file i from its text src[0, len): from the store, else
 * parsed; DEFERRED when its parse must wait for room in the budget. */
static int result_of(parse_job *j, slot *s, size_t i, const char *src, size_t len) {
  cg_file *f = &j->cg->files[i];
  uint64_t t0 = gsp_now_ns();
  uint8_t key[16];
  make_key(j->cg, f, src, len, key);
  bool hit = j->use_store && j->store.get(j->store.user, key, &f->res) == GSP_OK;
  int rv = GSP_OK;
  if (hit) {
    atomic_fetch_add(&j->hits, 1);
  } else {
    if (j->use_store) atomic_fetch_add(&j->misses, 1);
    uint64_t est = tree_estimate(f->lang, len);
    if (!admit(j, est)) {
      defer(j, i);
      return DEFERRED;
    }
    rv = parse_one(j, s, f, src, len, key, est);
  }
  return finished(j, t0, rv, hit, len);
}

static slot *take_slot(parse_job *j) {
  pthread_mutex_lock(&j->mu);
  slot *s = j->free_slots;
  if (s) j->free_slots = s->next;
  pthread_mutex_unlock(&j->mu);
  if (s) return s;
  s = gsp_calloc(1, sizeof *s);
  if (s && gsp_cg_parser_create(&s->parser) != GSP_OK) gsp_free(s), s = NULL;
  return s;
}

static void give_slot(parse_job *j, slot *s) {
  pthread_mutex_lock(&j->mu);
  s->next = j->free_slots;
  j->free_slots = s;
  pthread_mutex_unlock(&j->mu);
}

/* Lean runs: a buffer grown beyond BIG_BUF goes back after its file. */
static void drop_big_buffer(const parse_job *j, slot *s, int which) {
  if (!j->lean || s->cap[which] <= BIG_BUF) return;
  gsp_free(s->buf[which]);
  s->buf[which] = NULL, s->cap[which] = 0;
}

/* Take a deferred file that may start now (all: any; the budget is free
 * for the caller's last pass); false when there is none. */
static bool take_deferred(parse_job *j, bool all, size_t *out, uint64_t *est) {
  if (atomic_load(&j->ndeferred) == 0) return false;
  bool found = false;
  pthread_mutex_lock(&j->mu);
  size_t n = atomic_load(&j->ndeferred);
  for (size_t k = 0; k < n && !found; k++) {
    const cg_file *f = &j->cg->files[j->deferred[k]];
    uint64_t e = tree_estimate(f->lang, f->size);
    if (!all && j->inflight != 0 && j->inflight + e > PARSE_BUDGET) continue;
    *out = j->deferred[k], *est = e, found = true;
    j->deferred[k] = j->deferred[n - 1];
    atomic_fetch_sub(&j->ndeferred, 1);
    j->inflight += e;
  }
  pthread_mutex_unlock(&j->mu);
  return found;
}

/* Read deferred file i again, with read(2), into buffer `which`. */
static int reread(const gsp_cg *cg, slot *s, const cg_file *f, int which, size_t *len) {
  char path[PATH_CAP];
  uint64_t t0 = gsp_now_ns();
  int rv = f->size > cg->cfg.max_file_bytes ? GSP_EIO : grow(s, which, (size_t)f->size + 1);
  if (rv == GSP_OK && snprintf(path, sizeof path, "%s/%s", cg->root, f->path) >= (int)sizeof path)
    rv = GSP_EIO;
  if (rv == GSP_OK) rv = gsp__cg_read_into(path, s->buf[which], s->cap[which], len);
  gsp__cg_hook(cg, GSP_CG_STAGE_READ, gsp_now_ns() - t0, rv, false);
  return rv;
}

/* Parse deferred file i (admitted with est) from a fresh read; its lookup
 * missed before, the key comes from the text read now. */
static int parse_deferred(parse_job *j, slot *s, int which, size_t i, uint64_t est) {
  gsp_cg *cg = j->cg;
  cg_file *f = &cg->files[i];
  uint64_t t0 = gsp_now_ns();
  size_t len = 0;
  int rv = reread(cg, s, f, which, &len);
  if (rv != GSP_OK) { /* it changed meanwhile: skipped, as any unreadable file */
    release(j, est);
    if (rv == GSP_ENOMEM) return rv;
    atomic_fetch_add(&j->skipped, 1);
    ready(cg, i);
    return GSP_OK;
  }
  uint8_t key[16];
  make_key(cg, f, s->buf[which], len, key);
  rv = finished(j, t0, parse_one(j, s, f, s->buf[which], len, key, est), false, len);
  drop_big_buffer(j, s, which);
  if (rv == GSP_OK) ready(cg, i);
  return rv;
}

/* Parse the deferred files that fit now, in buffer `which`. */
static int run_deferred(parse_job *j, slot *s, int which, bool all) {
  size_t i;
  uint64_t est;
  int rv = GSP_OK;
  while (rv == GSP_OK && take_deferred(j, all, &i, &est)) {
    if (est >= HUGE_TREE) trim(j);
    rv = parse_deferred(j, s, which, i, est);
    if (rv != GSP_OK) gsp__cg_seterr(j->cg, "%s: %s", j->cg->files[i].path, gsp_strerror(rv));
  }
  return rv;
}

/* File i was read (status st) into buffer cur: its result, or skipped. */
static int one_file(parse_job *j, slot *s, size_t i, int cur, int st, size_t len) {
  gsp_cg *cg = j->cg;
  int rv = st == GSP_ENOMEM ? st : GSP_OK;
  if (st != GSP_OK && st != GSP_ENOMEM) atomic_fetch_add(&j->skipped, 1);
  if (st == GSP_OK) rv = result_of(j, s, i, s->buf[cur], len);
  drop_big_buffer(j, s, cur);
  if (rv == DEFERRED) return GSP_OK;
  if (rv != GSP_OK) gsp__cg_seterr(cg, "%s: %s", cg->files[i].path, gsp_strerror(rv));
  if (rv == GSP_OK) ready(cg, i); /* its symbols can be written */
  return rv;
}

/* The file at position i of the base order: the database writer's id
 * order when it offers one (cg->parse_order), else path order. */
static size_t base_nth(const gsp_cg *cg, size_t i) {
  return cg->parse_order ? cg->parse_order[i] : i;
}

/* The file parsed at position i (see plan_order). */
static size_t nth(const parse_job *j, size_t i) {
  return j->order ? j->order[i] : base_nth(j->cg, i);
}

/* The parse order (cg_int.h). A file is moved when it is over SMALL_FILE
 * and its size, times twice the threads, is over the bytes after it in
 * the base order that stay in place: it then starts while at least that
 * much other work remains. Moved files, largest first, take positions 0,
 * grain, 2 x grain, ...: one to a chunk, as the first chunks are grain
 * files each; the others keep their base order. */
#define SMALL_FILE (16u << 10)

static int cmp_moved(const void *a, const void *b, void *sizes) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  uint64_t sx = ((const uint64_t *)sizes)[x], sy = ((const uint64_t *)sizes)[y];
  return sx != sy ? (sx < sy ? 1 : -1) : (x > y) - (x < y);
}

size_t gsp__cg_plan_order(const uint64_t *sizes, size_t n, unsigned threads, size_t grain,
                          size_t *perm) {
  size_t nmoved = 0, k = n;
  uint64_t after = 0;
  for (size_t p = n; p-- > 0;) /* moved: perm[0..nmoved); kept: perm[k..n) */
    if (sizes[p] > SMALL_FILE && sizes[p] * 2 * threads > after)
      perm[nmoved++] = p;
    else
      perm[--k] = p, after += sizes[p];
  if (nmoved == 0) return 0;
  size_t *moved = perm + n; /* the caller's second half: scratch */
  memcpy(moved, perm, nmoved * sizeof *perm);
  qsort_r(moved, nmoved, sizeof *moved, cmp_moved, (void *)sizes);
  size_t m = 0, kept = k;
  for (size_t p = 0; p < n; p++)
    perm[p] = (m < nmoved && (p % grain == 0 || kept == n)) ? moved[m++] : perm[kept++];
  return nmoved;
}

/* The job's parse order (gsp__cg_plan_order) from the base order; a file
 * the stat index vouches for costs nothing and counts as 0 bytes. Not in
 * a lean run (large files at once would compete for the parse budget);
 * without memory for it the base order is used. */
static void plan_order(parse_job *j, unsigned threads, size_t grain) {
  const gsp_cg *cg = j->cg;
  size_t n = cg->nfiles;
  if (threads < 2 || n < 2 || j->lean) return;
  uint64_t *sizes = gsp_malloc(n * sizeof *sizes);
  size_t *perm = gsp_malloc(2 * n * sizeof *perm);
  if (sizes == NULL || perm == NULL) {
    gsp_free(sizes), gsp_free(perm);
    return;
  }
  for (size_t p = 0; p < n; p++) {
    const cg_file *f = &cg->files[base_nth(cg, p)];
    sizes[p] = f->stat_known && j->use_store ? 0 : f->size;
  }
  if (gsp__cg_plan_order(sizes, n, threads, grain, perm) > 0) {
    for (size_t p = 0; p < n; p++) perm[p] = base_nth(cg, perm[p]);
    j->order = perm;
  } else {
    gsp_free(perm);
  }
  gsp_free(sizes);
}

/* The first position from i on in [i, end) whose file still needs a read
 * (its result did not come through the stat index). */
static size_t to_read(const parse_job *j, size_t i, size_t end) {
  while (i < end && j->cg->files[nth(j, i)].res != NULL) i++;
  return i;
}

/* Positions [begin, end) but those whose result came through the stat
 * index: each file read into one buffer while the file before it is
 * parsed from the other; a deferred file that fits now is parsed in the
 * buffer just freed before the next read starts there. */
static int parse_files(parse_job *j, slot *s, size_t begin, size_t end) {
  gsp_cg *cg = j->cg;
  pending rd[2];
  int rv = GSP_OK, cur = 0;
  size_t i = to_read(j, begin, end);
  if (i < end) start_read(j, s, &cg->files[nth(j, i)], cur, &rd[cur]);
  while (i < end) {
    size_t len = 0, next = to_read(j, i + 1, end);
    int st = finish_read(cg, &rd[cur], &len);
    if (rv == GSP_OK && next < end)
      start_read(j, s, &cg->files[nth(j, next)], cur ^ 1, &rd[cur ^ 1]);
    if (rv != GSP_OK) break; /* the read-ahead, if any, was waited for above */
    rv = one_file(j, s, nth(j, i), cur, st, len);
    if (rv == GSP_OK) rv = run_deferred(j, s, cur, false);
    i = next, cur ^= 1;
  }
  return rv;
}

/* Positions [begin, end): first the files the stat index vouches for,
 * straight from the store, then (with a parser slot, taken only if
 * needed) the rest. */
static int parse_range(void *user, size_t begin, size_t end) {
  parse_job *j = user;
  if (j->ix.known)
    for (size_t i = begin; i < end; i++) known_hit(j, nth(j, i));
  begin = to_read(j, begin, end);
  if (begin == end) return GSP_OK;
  slot *s = take_slot(j);
  if (s == NULL) return GSP_ENOMEM;
  int rv = parse_files(j, s, begin, end);
  give_slot(j, s);
  return rv;
}

/* After every chunk: the deferred files nobody could start, one by one. */
static int finish_deferred(parse_job *j) {
  if (atomic_load(&j->ndeferred) == 0) return GSP_OK;
  slot *s = take_slot(j);
  if (s == NULL) return GSP_ENOMEM;
  int rv = run_deferred(j, s, 0, true);
  give_slot(j, s);
  return rv;
}

static void finish_job(gsp_cg *cg, parse_job *j) {
  for (slot *s = j->free_slots, *n; s; s = n) {
    n = s->next;
    gsp_cg_parser_destroy(s->parser);
    gsp__cg_macro_tab_free(&s->extra);
    gsp_free(s->buf[0]), gsp_free(s->buf[1]);
    gsp_free(s);
  }
  cg->st.parsed = j->parsed, cg->st.cache_hits = j->hits, cg->st.cache_misses = j->misses;
  cg->st.files_skipped = j->skipped;
  cg->st.reads_async = j->handed_off;
  cg->st.files_stat_known = j->stat_hits;
  if (cg->cfg.progress) {
    gsp_cg_progress p = {j->files_done, cg->nfiles, j->bytes_done, cg->st.bytes,
                         gsp_now_ns() - j->start_ns};
    cg->cfg.progress(cg->cfg.progress_user, &p);
  }
}

int gsp__cg_parse_stage(gsp_cg *cg, gsp_exec *ex) {
  if (cg->cfg.farm) return gsp__cg_farm_stage(cg);
  parse_job *j = gsp_calloc(1, sizeof *j);
  if (j == NULL) return GSP_ENOMEM;
  j->cg = cg;
  j->reporting = (atomic_flag)ATOMIC_FLAG_INIT;
  pthread_mutex_init(&j->mu, NULL);
  j->lean = cg->cfg.memory == GSP_CG_MEMORY_AGGRESSIVE;
  if (j->lean && (j->deferred = gsp_calloc(cg->nfiles + 1, sizeof *j->deferred)) == NULL) {
    pthread_mutex_destroy(&j->mu);
    gsp_free(j);
    return GSP_ENOMEM;
  }
  int prv = gsp__cg_hm_prepare(cg, ex); /* each C file's learned names */
  if (prv != GSP_OK) {
    gsp__cg_hm_free(cg);
    pthread_mutex_destroy(&j->mu);
    gsp_free(j->deferred);
    gsp_free(j);
    return prv;
  }
  j->use_store = !cg->cfg.no_cache && gsp__cg_store_open(&cg->cfg, &j->store) == GSP_OK;
  if (j->use_store) gsp__cg_stat_index_load(cg, &j->ix);
  j->start_ns = gsp_now_ns();
  unsigned threads = gsp__cg_threads(ex);
  size_t grain = cg->nfiles / ((size_t)threads * 32 + 1) + 1;
  if (grain > 16) grain = 16;
  plan_order(j, threads, grain);
  int rv = gsp__cg_for(ex, cg->nfiles, grain, parse_range, j);
  if (rv == GSP_OK) rv = finish_deferred(j);
  trim(j); /* before the resolution allocates on the calling thread */
  if (rv == GSP_OK) gsp__cg_stat_index_save(cg, &j->ix);
  gsp__cg_stat_index_free(&j->ix);
  finish_job(cg, j);
  gsp__cg_hm_free(cg);
  pthread_mutex_destroy(&j->mu);
  gsp_free(j->deferred);
  gsp_free(j->order);
  gsp_free(j);
  return rv;
}
