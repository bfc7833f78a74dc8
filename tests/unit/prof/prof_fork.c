/*
 * prof_fork.c - a program that forks without exec, twice deep: the parent
 * burns CPU in parent_burn, its child in child_burn, the grandchild in
 * grandchild_burn. It prints the child's and the grandchild's pids (one
 * a line), so a test can find each process's profile by pid.
 * usage: prof_fork [SECONDS]   (CPU-seconds each process burns; 0.5)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prof_test_util.h"

static volatile uint64_t g_sink;

static void burn(double s) {
  uint64_t x = g_sink + 1;
  double end = cpu_now() + s;
  while (cpu_now() < end)
    for (int i = 0; i < 100000; i++) {
      x = x * 6364136223846793005ull + 1;
      __asm__ volatile("" : "+r"(x));
    }
  g_sink = x;
}

__attribute__((noinline)) static void parent_burn(double s) {
  burn(s);
  g_sink++;
}
/* (distinct bodies: identical ones would be folded into one function) */
__attribute__((noinline)) static void child_burn(double s) {
  burn(s);
  g_sink += 2;
}
__attribute__((noinline)) static void grandchild_burn(double s) {
  burn(s);
  g_sink += 3;
}

static int reap(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid) return 1;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  double s = argc > 1 ? atof(argv[1]) : 0.5;
  parent_burn(s / 2);
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild < 0) exit(1);
    if (grandchild == 0) {
      grandchild_burn(s);
      exit(0);
    }
    printf("%ld\n", (long)grandchild);
    fflush(stdout);
    child_burn(s);
    exit(reap(grandchild));
  }
  printf("%ld\n", (long)child);
  fflush(stdout);
  parent_burn(s / 2);
  return reap(child);
}
