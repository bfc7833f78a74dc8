/*
 * prof_fork_stress.c - forks many children while threads start and exit
 * and samples flow, and checks that every child's file descriptors stay
 * its own: each child redirects its stdout the way a shell does for
 * `echo x > file` (save fd 1 above 10, close(1), dup2(file, 1), write,
 * restore) many times, checks every write() and the file's content, and
 * exits 0 only if all of them were right; the parent does the same
 * while each child runs. Run under the preload, where each child starts
 * its own CPU profile (a collector thread that opens and closes files)
 * just as the child begins redirecting, and the parent's collector wakes
 * at every thread start and exit.
 * usage: prof_fork_stress DIR [CHILDREN [REDIRECTS]]   (200, 50)
 * Exits 0 when every redirect of the parent and the children was right,
 * 1 otherwise (and says which).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHURNERS 2

static atomic_int g_stop;
static volatile uint64_t g_sink;

static void *short_thread(void *arg) {
  uint64_t x = (uintptr_t)arg;
  for (int i = 0; i < 20000; i++) x = x * 6364136223846793005ull + 1;
  g_sink += x;
  return NULL;
}

/* Starts and joins short threads until told to stop: the profile's
 * thread table changes all the time, also at the moments of fork. */
static void *churn(void *arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    pthread_t t;
    if (pthread_create(&t, NULL, short_thread, NULL) == 0) pthread_join(t, NULL);
  }
  return NULL;
}

/* One `echo N > path` as dash does it; 0 when the write and the file are right. */
static int redirect_once(const char *path, int n) {
  char want[32], got[32];
  int len = snprintf(want, sizeof want, "%d\n", n);
  int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (f < 0) return 1;
  int saved = fcntl(1, F_DUPFD, 10);
  close(1);
  int rv = 0;
  if (dup2(f, 1) != 1) rv = 2;
  close(f);
  if (rv == 0 && write(1, want, (size_t)len) != len) rv = 3;
  int e = errno;
  if (saved >= 0) {
    dup2(saved, 1);
    close(saved);
  }
  if (rv != 0) {
    fprintf(stderr, "process %ld: redirect %d failed (step %d, %s)\n", (long)getpid(), n, rv,
            strerror(e));
    return rv;
  }
  int r = open(path, O_RDONLY);
  ssize_t k = r >= 0 ? read(r, got, sizeof got) : -1;
  if (r >= 0) close(r);
  if (k != len || memcmp(got, want, (size_t)len) != 0) {
    fprintf(stderr, "process %ld: redirect %d: file content wrong\n", (long)getpid(), n);
    return 4;
  }
  return 0;
}

/* redirects in a row into DIR/out.<pid>; 0 when all were right. */
static int redirect_many(const char *dir, int redirects) {
  char path[4096];
  snprintf(path, sizeof path, "%s/out.%ld", dir, (long)getpid());
  for (int i = 0; i < redirects; i++)
    if (redirect_once(path, i) != 0) return 1;
  unlink(path);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int children = argc > 2 ? atoi(argv[2]) : 200, redirects = argc > 3 ? atoi(argv[3]) : 50;
  pthread_t churners[CHURNERS];
  for (int i = 0; i < CHURNERS; i++) pthread_create(&churners[i], NULL, churn, NULL);
  int bad = 0;
  for (int i = 0; i < children; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      bad++;
      break;
    }
    if (pid == 0) _exit(redirect_many(argv[1], redirects));
    /* the parent redirects too, while its threads come and go */
    if (redirect_many(argv[1], redirects) != 0) bad++;
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < CHURNERS; i++) pthread_join(churners[i], NULL);
  if (bad) fprintf(stderr, "%d failures in %d rounds\n", bad, children);
  return bad ? 1 : 0;
}
