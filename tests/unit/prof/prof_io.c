/*
 * prof_io.c - a test program for `gsperf profile --io`: known I/O on a
 * file given on the command line (100 writes of 4096 bytes, fsync,
 * fdatasync, close; reopen with openat; 50 preads of 4096, 1 readv of
 * 2 x 1024, 1 writev of 2 x 512, 1 pwrite of 100, close) and on a socket
 * pair (10 sends and 10 recvs of 64 bytes).
 * usage: prof_io FILE
 */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  static char buf[4096];
  memset(buf, 'x', sizeof buf);
  int fd = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) return 1;
  for (int i = 0; i < 100; i++)
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) return 1;
  if (fsync(fd) != 0 || fdatasync(fd) != 0 || close(fd) != 0) return 1;
  fd = openat(AT_FDCWD, argv[1], O_RDWR);
  if (fd < 0) return 1;
  for (int i = 0; i < 50; i++)
    if (pread(fd, buf, sizeof buf, (off_t)i * 4096) != (ssize_t)sizeof buf) return 1;
  struct iovec v[2] = {{buf, 1024}, {buf + 1024, 1024}};
  if (readv(fd, v, 2) != 2048) return 1;
  struct iovec w[2] = {{buf, 512}, {buf + 512, 512}};
  if (writev(fd, w, 2) != 1024 || pwrite(fd, buf, 100, 0) != 100) return 1;
  close(fd);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
  for (int i = 0; i < 10; i++)
    if (send(sv[0], buf, 64, 0) != 64 || recv(sv[1], buf, 64, 0) != 64) return 1;
  close(sv[0]);
  close(sv[1]);
  return 0;
}
