/*
 * prof_system.c - a program whose children are waited for inside the C
 * library: system() and pclose(). Writes what it sees (return values,
 * SIGCHLD deliveries, the signal state its children start with, its own
 * SIGINT disposition afterwards) to FILE, so that a run under `gsperf
 * profile` can be compared line by line with a plain run.
 * usage: prof_system FILE
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_chld;

static void on_chld(int sig) {
  (void)sig;
  g_chld++;
}

static void sys(const char *name, const char *cmd) {
  fflush(stdout);
  int r = system(cmd);
  printf("%s: %d (SIGCHLD seen %d)\n", name, r, (int)g_chld);
}

static void pipe_read(void) {
  char line[64] = "";
  FILE *f = popen("echo from-child; exit 5", "r");
  if (f == NULL || fgets(line, sizeof line, f) == NULL) {
    printf("popen r: failed\n");
    return;
  }
  line[strcspn(line, "\n")] = '\0';
  printf("popen r: read '%s', pclose %d\n", line, pclose(f));
}

static void pipe_write(void) {
  fflush(stdout);
  FILE *f = popen("read x; test \"$x\" = to-child && exit 4; exit 1", "w");
  if (f == NULL) {
    printf("popen w: failed\n");
    return;
  }
  fputs("to-child\n", f);
  printf("popen w: pclose %d\n", pclose(f));
}

int main(int argc, char **argv) {
  if (argc < 2 || freopen(argv[1], "w", stdout) == NULL) return 2;
  struct sigaction sa = {.sa_handler = on_chld, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, NULL);
  printf("system(NULL): %d\n", system(NULL) != 0);
  sys("exit 3", "exit 3");
  sys("kill -TERM $$", "kill -TERM $$");
  /* the shell's mask, and its ignored signals among 1..4 (HUP INT QUIT ILL) */
  static const char mask[] =
      "exec awk '/^SigBlk/ { print } /^SigIgn/ "
      "{ print \"SigIgn 1-4: \" substr($2, 16, 1) }' /proc/self/status";
  sys("child mask", mask);
  signal(SIGQUIT, SIG_IGN);
  sys("child mask, SIGQUIT ignored by the caller", mask);
  signal(SIGQUIT, SIG_DFL);
  sys("SIGINT to the caller", "kill -INT $PPID; exit 0");
  struct sigaction now;
  sigaction(SIGINT, NULL, &now);
  printf("SIGINT after: %s\n", now.sa_handler == SIG_DFL ? "default" : "changed");
  sys("no such command", "exec /nonexistent/prof-system 2> /dev/null");
  g_chld = 0;
  pipe_read();
  pipe_write();
  sys("sh -c in sh", "sh -c 'exit 6'");
  return 0;
}
