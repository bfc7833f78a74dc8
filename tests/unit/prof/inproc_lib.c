/*
 * inproc_lib.c - a shared library that test_prof_inproc loads with dlopen
 * after an in-process profile started: its allocation and its write must
 * be seen (its GOT is patched when it is loaded).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *inproc_lib_alloc(size_t n);
long inproc_lib_write(int fd, const char *s, size_t n);

__attribute__((visibility("default"), noinline)) void *inproc_lib_alloc(size_t n) {
  void *p = malloc(n);
  if (p) memset(p, 0, n);
  return p;
}

__attribute__((visibility("default"))) long inproc_lib_write(int fd, const char *s, size_t n) {
  return (long)write(fd, s, n);
}
