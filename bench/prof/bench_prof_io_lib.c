/*
 * bench_prof_io_lib.c - the loop of bench_prof_io_hook, in a shared
 * library of its own so that its pread calls go through a PLT/GOT slot
 * (the slot an in-process IO profile patches), bound at run time to the
 * program's pread.
 */
#include <sys/types.h>
#include <unistd.h>

long bench_io_lib_loop(int fd, long n);

__attribute__((visibility("default"))) long bench_io_lib_loop(int fd, long n) {
  char c;
  long got = 0;
  for (long i = 0; i < n; i++) got += pread(fd, &c, 1, 0);
  return got;
}
