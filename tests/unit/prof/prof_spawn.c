/*
 * prof_spawn.c - a small driver for the multi-process tests of `gsperf
 * profile`: runs several programs at once (fork + exec each), writes
 * their pids, one a line in order, to PIDFILE, waits for all of them and
 * exits with STATUS. It allocates nothing it does not free, so under
 * --leaks it has no leak of its own.
 * usage: prof_spawn PIDFILE STATUS -- PROG ARGS... [-- PROG ARGS...]...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROGS 8

int main(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) return 2;
  pid_t pids[MAX_PROGS];
  int n = 0;
  for (int i = 4; i < argc && n < MAX_PROGS;) {
    int j = i;
    while (j < argc && strcmp(argv[j], "--") != 0) j++;
    argv[j < argc ? j : argc] = NULL; /* ends this program's arguments */
    pid_t pid = fork();
    if (pid == 0) {
      execv(argv[i], argv + i);
      _exit(127);
    }
    if (pid < 0) return 1;
    pids[n++] = pid;
    i = j + 1;
  }
  FILE *f = fopen(argv[1], "w");
  if (!f) return 1;
  for (int i = 0; i < n; i++) fprintf(f, "%ld\n", (long)pids[i]);
  if (fclose(f) != 0) return 1;
  for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
  return atoi(argv[2]);
}
