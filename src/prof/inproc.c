/*
 * inproc.c - the in-process MEMORY and IO profiles seen from the profile
 * handle: prof.c starts and stops them through gsp__inproc_start/stop,
 * and the public calls here return their results (gsp_prof_heap_save,
 * gsp_prof_heap_get, gsp_prof_io_get, gsp_prof_io_write_text).
 *
 * The hooks (inproc_heap.c, io_hook.c) are process-wide, so the results
 * belong to the profile that last started them: g_heap_owner and
 * g_io_owner (under g_mu) name it, and a result call from any other
 * profile is GSP_ESTATE. The profiler's own work on the calling thread
 * (patching, the leak check, writing and loading result files) runs
 * with that thread's hooks guarded, so it is not counted as the
 * program's.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prof_int.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static const gsp_prof *g_heap_owner, *g_io_owner;
static size_t g_unscanned;

static void guard(bool on) {
  gsp__iheap_guard(on);
  gsp__io_guard(on);
}

void gsp__inproc_thread_init(void) { guard(true); }

int gsp__inproc_start(const gsp_prof *p, unsigned types, uint64_t heap_sample, unsigned io_sample) {
  int rv = GSP_OK;
  guard(true);
  if (types & GSP_PROF_MEMORY) rv = gsp__iheap_start(heap_sample);
  if (rv == GSP_OK && (types & GSP_PROF_IO)) {
    rv = gsp__io_inproc_start(io_sample);
    if (rv != GSP_OK && (types & GSP_PROF_MEMORY)) gsp__iheap_stop();
  }
  guard(false);
  if (rv != GSP_OK) return rv;
  pthread_mutex_lock(&g_mu);
  if (types & GSP_PROF_MEMORY) g_heap_owner = p;
  if (types & GSP_PROF_IO) g_io_owner = p;
  pthread_mutex_unlock(&g_mu);
  return GSP_OK;
}

void gsp__inproc_stop(const gsp_prof *p, unsigned types) {
  guard(true);
  if (types & GSP_PROF_IO) gsp__io_inproc_stop();
  if (types & GSP_PROF_MEMORY) {
    gsp__iheap_stop();
    pthread_mutex_lock(&g_mu);
    if (g_heap_owner == p) g_unscanned = gsp__iheap_threads_missed();
    pthread_mutex_unlock(&g_mu);
  }
  guard(false);
}

void gsp__inproc_forget(const gsp_prof *p) {
  pthread_mutex_lock(&g_mu);
  if (g_heap_owner == p) g_heap_owner = NULL;
  if (g_io_owner == p) g_io_owner = NULL;
  pthread_mutex_unlock(&g_mu);
}

uint64_t gsp__inproc_unscanned(const gsp_prof *p) {
  pthread_mutex_lock(&g_mu);
  uint64_t n = g_heap_owner == p ? g_unscanned : 0;
  pthread_mutex_unlock(&g_mu);
  return n;
}

static bool owns(const gsp_prof *p, const gsp_prof *const *owner) {
  pthread_mutex_lock(&g_mu);
  bool yes = p && *owner == p;
  pthread_mutex_unlock(&g_mu);
  return yes;
}

/* ---- heap ------------------------------------------------------------------ */

static int write_pair(int fd, const char *path) {
  char maps[PATH_MAX];
  if (snprintf(maps, sizeof maps, "%s.maps", path) >= (int)sizeof maps) return GSP_EINVAL;
  int rv = gsp__iheap_write(fd);
  if (rv == GSP_OK) rv = gsp__maps_save(maps);
  return rv == GSP_OK || rv == GSP_ENOMEM ? rv : GSP_EIO;
}

int gsp_prof_heap_save(gsp_prof *p, const char *path) {
  if (!p || !path) return GSP_EINVAL;
  if (!owns(p, &g_heap_owner)) return GSP_ESTATE;
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return GSP_EINVAL;
  guard(true);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rv = GSP_EIO;
  if (fd >= 0) {
    rv = write_pair(fd, path);
    if (close(fd) != 0) rv = GSP_EIO;
    if (rv == GSP_OK && rename(tmp, path) != 0) rv = GSP_EIO;
    if (rv != GSP_OK) unlink(tmp);
  }
  guard(false);
  return rv;
}

int gsp_prof_heap_get(gsp_prof *p, gsp_prof_heap **out) {
  if (!p || !out) return GSP_EINVAL;
  if (!owns(p, &g_heap_owner)) return GSP_ESTATE;
  const char *dir = getenv("TMPDIR");
  char path[PATH_MAX], maps[PATH_MAX + 8];
  snprintf(path, sizeof path, "%s/gsperf-heap-XXXXXX", dir && dir[0] ? dir : "/tmp");
  guard(true);
  int fd = mkstemp(path), rv = GSP_EIO;
  if (fd >= 0) {
    rv = write_pair(fd, path);
    close(fd);
    if (rv == GSP_OK) rv = gsp_prof_heap_load(path, out);
    snprintf(maps, sizeof maps, "%s.maps", path);
    unlink(maps);
    unlink(path);
  }
  guard(false);
  return rv;
}

/* ---- I/O ------------------------------------------------------------------- */

int gsp_prof_io_get(gsp_prof *p, gsp_prof_io_stat **out, size_t *n) {
  if (!p || !out || !n) return GSP_EINVAL;
  if (!owns(p, &g_io_owner)) return GSP_ESTATE;
  guard(true);
  size_t want = gsp__io_rows(NULL, 0);
  gsp_prof_io_stat *rows = gsp_calloc(want + 1, sizeof *rows);
  if (rows) {
    size_t got = gsp__io_rows(rows, want);
    *n = got < want ? got : want;
    *out = rows;
  }
  guard(false);
  return rows ? GSP_OK : GSP_ENOMEM;
}

int gsp_prof_io_write_text(gsp_prof *p, FILE *f) {
  if (!f) return GSP_EINVAL;
  gsp_prof_io_stat *rows;
  size_t n;
  int rv = gsp_prof_io_get(p, &rows, &n);
  if (rv != GSP_OK) return rv;
  guard(true);
  rv = gsp__io_write_table(f, rows, n, gsp__io_sample());
  guard(false);
  gsp_free(rows);
  return rv;
}
