/*
 * preload_child.c - system, popen and pclose of libgsperf-preload.so, so
 * that the exit status of the children they wait for is recorded.
 *
 * Why: the C library's system() and pclose() wait for their child with
 * internal calls that never reach the interposed wait family
 * (preload.c), so the report could not say how such a child ended. These
 * replacements do what the C library does, on the same public pieces
 * (posix_spawn of "/bin/sh -c CMD", then a wait), and reap through
 * gsp__preload_reap, which writes exit.<pid> like any wait.
 *
 * Behaviour kept (POSIX, and glibc 2.36's own choices where POSIX leaves
 * room):
 * - system(NULL): nonzero when a shell can run ("exit 0" succeeds).
 * - system(CMD): while the child runs, SIGINT and SIGQUIT are ignored in
 *   the caller (counted, so that overlapping calls from several threads
 *   restore the dispositions once, when the last one ends) and SIGCHLD
 *   is blocked in the calling thread; the child starts with the caller's
 *   original mask and with SIGINT/SIGQUIT at their defaults unless the
 *   caller had them ignored. Result: the wait status; when the shell
 *   cannot be started, the status of `_exit(127)` with errno set; -1 when
 *   the wait fails. The wait retries on EINTR.
 * - popen(CMD, MODE): MODE is "r" or "w" with an optional 'e' (the
 *   returned stream's descriptor close-on-exec), anything else EINVAL.
 *   The child's stdout (r) or stdin (w) is the pipe; streams of earlier
 *   popen calls still open are closed in the child.
 * - pclose(F): closes F, waits for its child, returns the wait status
 *   (-1 and ECHILD when it cannot be waited for). A stream this file did
 *   not open goes to the C library's pclose.
 * Not the same: a thread cancelled while it waits in system() or pclose()
 * does not kill the child first as glibc's cleanup handler does (the
 * child runs on, and is reaped by no one but the subreaper); fclose() of
 * a popen stream (instead of pclose) does not wait for the child.
 *
 * Data layout: the open popen streams, a list of {stream, descriptor,
 * pid} under g_popen_lock (held through the spawn, so that a concurrent
 * popen's child closes every stream opened before it). The counted
 * SIGINT/SIGQUIT dispositions under g_sys_lock. The pipe ends the caller
 * does not keep are closed with the raw system call: the C library's own
 * popen makes no call the I/O hooks would see, and neither does this one.
 *
 * Thread safety: all three may be called from any thread.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gsperf/common.h"
#include "preload_int.h"

#define EXPORT __attribute__((visibility("default")))
#define SHELL "/bin/sh"

extern char **environ;

/* ---- system ---------------------------------------------------------------- */

static pthread_mutex_t g_sys_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_sys_users;                        /* calls in progress; under g_sys_lock */
static struct sigaction g_sys_int, g_sys_quit; /* before the first of them */

static void ignore_int_quit(void) {
  struct sigaction ign = {.sa_handler = SIG_IGN};
  sigemptyset(&ign.sa_mask);
  pthread_mutex_lock(&g_sys_lock);
  if (g_sys_users++ == 0) {
    sigaction(SIGINT, &ign, &g_sys_int);
    sigaction(SIGQUIT, &ign, &g_sys_quit);
  }
  pthread_mutex_unlock(&g_sys_lock);
}

static void restore_int_quit(void) {
  pthread_mutex_lock(&g_sys_lock);
  if (--g_sys_users == 0) {
    sigaction(SIGINT, &g_sys_int, NULL);
    sigaction(SIGQUIT, &g_sys_quit, NULL);
  }
  pthread_mutex_unlock(&g_sys_lock);
}

/* Spawns "sh -c cmd" with the original mask omask and SIGINT/SIGQUIT
 * reset unless they were ignored before; posix_spawn's error or 0. */
static int spawn_system(const char *cmd, const sigset_t *omask, pid_t *pid) {
  posix_spawnattr_t at;
  sigset_t dfl;
  sigemptyset(&dfl);
  pthread_mutex_lock(&g_sys_lock);
  if (g_sys_int.sa_handler != SIG_IGN) sigaddset(&dfl, SIGINT);
  if (g_sys_quit.sa_handler != SIG_IGN) sigaddset(&dfl, SIGQUIT);
  pthread_mutex_unlock(&g_sys_lock);
  posix_spawnattr_init(&at);
  posix_spawnattr_setsigdefault(&at, &dfl);
  posix_spawnattr_setsigmask(&at, omask);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  char *argv[] = {"sh", "-c", (char *)cmd, NULL};
  int rc = posix_spawn(pid, SHELL, NULL, &at, argv, environ);
  posix_spawnattr_destroy(&at);
  return rc;
}

static int run_system(const char *cmd) {
  sigset_t chld, omask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ignore_int_quit();
  pthread_sigmask(SIG_BLOCK, &chld, &omask);
  pid_t pid;
  int status = -1;
  int rc = spawn_system(cmd, &omask, &pid);
  if (rc == 0) {
    if (gsp__preload_reap(pid, &status) != pid) status = -1;
  } else {
    status = 127 << 8; /* as if the shell had called _exit(127) */
  }
  int saved = errno;
  restore_int_quit();
  pthread_sigmask(SIG_SETMASK, &omask, NULL);
  errno = rc != 0 ? rc : saved;
  return status;
}

EXPORT int system(const char *cmd) {
  if (cmd == NULL) return run_system("exit 0") == 0;
  return run_system(cmd);
}

/* ---- popen and pclose ------------------------------------------------------ */

typedef struct popen_ent {
  FILE *f;
  int fd;
  pid_t pid;
  struct popen_ent *next;
} popen_ent;

static pthread_mutex_t g_popen_lock = PTHREAD_MUTEX_INITIALIZER;
static popen_ent *g_popen; /* under g_popen_lock */

/* MODE: 'r' or 'w' once, 'e' optionally; false if anything else. */
static bool parse_mode(const char *mode, bool *rd, bool *cloexec) {
  int r = 0, w = 0;
  *cloexec = false;
  for (; *mode; mode++) {
    if (*mode == 'r')
      r++;
    else if (*mode == 'w')
      w++;
    else if (*mode == 'e')
      *cloexec = true;
    else
      return false;
  }
  *rd = r == 1;
  return r + w == 1;
}

static void raw_close(int fd) { syscall(SYS_close, fd); }

/* The child: "sh -c cmd" with child_end as its stdout (rd) or stdin, the
 * streams of earlier popens closed. Under g_popen_lock. */
static int spawn_popen_locked(const char *cmd, bool rd, int child_end, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  int target = rd ? 1 : 0, rc = posix_spawn_file_actions_init(&fa);
  if (rc != 0) return rc;
  for (popen_ent *e = g_popen; e && rc == 0; e = e->next)
    if (e->fd != target) rc = posix_spawn_file_actions_addclose(&fa, e->fd);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, child_end, target);
  char *argv[] = {"sh", "-c", (char *)cmd, NULL};
  if (rc == 0) rc = posix_spawn(pid, SHELL, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

/* The stream on parent_end for the child pid, registered; NULL (child
 * reaped, descriptor closed, errno set) if no memory. Under the lock. */
static FILE *open_stream_locked(int parent_end, bool rd, bool cloexec, pid_t pid) {
  popen_ent *e = gsp_malloc(sizeof *e);
  FILE *f = e ? fdopen(parent_end, rd ? "r" : "w") : NULL;
  if (f == NULL) {
    int st;
    gsp_free(e);
    raw_close(parent_end);
    gsp__preload_reap(pid, &st);
    errno = ENOMEM;
    return NULL;
  }
  if (!cloexec) fcntl(parent_end, F_SETFD, 0);
  *e = (popen_ent){.f = f, .fd = parent_end, .pid = pid, .next = g_popen};
  g_popen = e;
  return f;
}

EXPORT FILE *popen(const char *cmd, const char *mode) {
  bool rd, cloexec;
  int p[2];
  if (cmd == NULL || mode == NULL || !parse_mode(mode, &rd, &cloexec)) {
    errno = EINVAL;
    return NULL;
  }
  if (pipe2(p, O_CLOEXEC) != 0) return NULL;
  int parent_end = rd ? p[0] : p[1], child_end = rd ? p[1] : p[0];
  pid_t pid;
  FILE *f = NULL;
  pthread_mutex_lock(&g_popen_lock);
  int rc = spawn_popen_locked(cmd, rd, child_end, &pid);
  raw_close(child_end);
  if (rc == 0) f = open_stream_locked(parent_end, rd, cloexec, pid);
  pthread_mutex_unlock(&g_popen_lock);
  if (rc != 0) {
    raw_close(parent_end);
    errno = rc;
  }
  return f;
}

/* The entry of f, unlinked; NULL if f is not one of ours. */
static popen_ent *take(FILE *f) {
  pthread_mutex_lock(&g_popen_lock);
  popen_ent **pp = &g_popen, *e;
  while ((e = *pp) != NULL && e->f != f) pp = &e->next;
  if (e) *pp = e->next;
  pthread_mutex_unlock(&g_popen_lock);
  return e;
}

EXPORT int pclose(FILE *f) {
  popen_ent *e = take(f);
  if (e == NULL) {
    int (*real)(FILE *);
    *(void **)&real = dlsym(RTLD_NEXT, "pclose");
    if (real) return real(f);
    errno = ECHILD;
    return -1;
  }
  pid_t pid = e->pid;
  gsp_free(e);
  fclose(f);
  int status;
  return gsp__preload_reap(pid, &status) == pid ? status : -1;
}
