/*
 * alloc.c - the allocator hooks every gsperf allocation goes through.
 *
 * The active allocator is one struct copied in by gsp_set_allocator(); it is
 * read without a lock, which is why the setter must run before other
 * threads use gsperf. gsp_calloc checks n*size for overflow.
 */
#include <stdlib.h>
#include <string.h>

#include "gsperf/common.h"

static void *libc_malloc(void *user, size_t size) {
  (void)user;
  return malloc(size);
}

static void *libc_realloc(void *user, void *ptr, size_t size) {
  (void)user;
  return realloc(ptr, size);
}

static void libc_free(void *user, void *ptr) {
  (void)user;
  free(ptr);
}

static gsp_allocator g_alloc = {libc_malloc, libc_realloc, libc_free, NULL};

void gsp_set_allocator(const gsp_allocator *a) {
  if (a == NULL || a->malloc == NULL || a->realloc == NULL || a->free == NULL) {
    g_alloc = (gsp_allocator){libc_malloc, libc_realloc, libc_free, NULL};
    return;
  }
  g_alloc = *a;
}

void *gsp_malloc(size_t size) { return g_alloc.malloc(g_alloc.user, size ? size : 1); }

void *gsp_calloc(size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) return NULL;
  void *p = gsp_malloc(n * size);
  if (p != NULL) memset(p, 0, n * size);
  return p;
}

void *gsp_realloc(void *ptr, size_t size) {
  return g_alloc.realloc(g_alloc.user, ptr, size ? size : 1);
}

void gsp_free(void *ptr) {
  if (ptr != NULL) g_alloc.free(g_alloc.user, ptr);
}

char *gsp_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = gsp_malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}
