/*
 * io_work.c - the workload of bench_prof's I/O runs: N rounds of a 4 KiB
 * pwrite and a 4 KiB pread at rotating offsets of a 16 MiB file (page
 * cache: the calls, not the disk, are what is measured), then unlink.
 * usage: io_work FILE N
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long n = atol(argv[2]);
  static char buf[4096];
  memset(buf, 'y', sizeof buf);
  int fd = open(argv[1], O_CREAT | O_TRUNC | O_RDWR, 0644);
  if (fd < 0) return 1;
  for (long i = 0; i < n; i++) {
    off_t off = (off_t)(i % 4096) * 4096;
    if (pwrite(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) return 1;
    if (pread(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) return 1;
  }
  close(fd);
  unlink(argv[1]);
  return 0;
}
