/*
 * prof_heap_live.c - a test program for heap data that survives the
 * program: allocates 7 blocks of 1000 bytes at keep_site, says "ready"
 * on stdout, then sleeps until killed (mode "sleep"), dereferences a
 * null pointer (mode "segv"), or (mode "thread") starts a thread that
 * allocates 4444 bytes referenced only from its own stack and blocks,
 * and exits while that thread still runs.
 * usage: prof_heap_live sleep|segv|thread
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile g_keep[7];

__attribute__((noinline)) static void keep_site(int i) {
  g_keep[i] = malloc(1000);
  __asm__ volatile("" ::: "memory");
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_ready;

__attribute__((noinline)) static void *stack_site(void) {
  void *p = malloc(4444);
  __asm__ volatile("" ::: "memory");
  return p;
}

static void *holder(void *arg) {
  (void)arg;
  void *volatile mine = stack_site(); /* only this stack refers to it */
  pthread_mutex_lock(&g_mu);
  g_ready = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  for (;;) pause();
  return (void *)mine;
}

static int exit_with_thread(void) {
  pthread_t t;
  if (pthread_create(&t, NULL, holder, NULL) != 0) return 1;
  pthread_mutex_lock(&g_mu);
  while (!g_ready) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  return 0; /* the leak check runs at exit, the thread still running */
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  for (int i = 0; i < 7; i++) keep_site(i);
  if (write(1, "ready\n", 6) != 6) return 1;
  if (strcmp(argv[1], "thread") == 0) return exit_with_thread();
  if (strcmp(argv[1], "segv") == 0) {
    volatile int *null = NULL;
    *null = 1;
  }
  for (;;) pause();
}
