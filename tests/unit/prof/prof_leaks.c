/*
 * prof_leaks.c - a test program for the leak check of `gsperf profile
 * --leaks`. "leaky" loses exactly three blocks from three call sites
 * (leak_site_one and leak_site_two on the main thread, leak_site_three on
 * a second thread); "clean" loses none. Both also keep blocks that are
 * not leaks: reachable from a global (directly, and through a chain of
 * blocks), from a thread-local variable, from a stdio buffer, aligned
 * blocks in a global, and the usual freed traffic (realloc, calloc,
 * strdup, posix_memalign).
 * usage: prof_leaks leaky|clean
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
  struct node *next;
  char pad[40];
} node;

/* Not static, so the compiler cannot drop the stores into them. */
node *volatile g_chain;      /* global -> block -> block -> block */
void *volatile g_aligned[2]; /* aligned blocks kept */
__thread void *volatile t_kept;
static void *volatile g_sink;

__attribute__((noinline)) static void lose(void *p) {
  memset(p, 0x5a, 16);
  g_sink = NULL;
}

__attribute__((noinline)) static void leak_site_one(void) { lose(malloc(100)); }
__attribute__((noinline)) static void leak_site_two(void) { lose(calloc(3, 50)); }
__attribute__((noinline)) static void leak_site_three(void) {
  char *p = malloc(10);
  lose(realloc(p, 300));
}

static void keep_reachable(void) {
  for (int i = 0; i < 3; i++) {
    node *n = malloc(sizeof *n);
    n->next = g_chain;
    g_chain = n;
  }
  t_kept = malloc(64);
  void *a;
  if (posix_memalign(&a, 64, 200) != 0) abort();
  g_aligned[0] = a;
  g_aligned[1] = aligned_alloc(4096, 4096);
  printf("prof_leaks: stdout is buffered through a malloc'd buffer\n");
}

static void churn(void) {
  for (int i = 0; i < 1000; i++) {
    char *s = strdup("churn");
    void *a = calloc(1, 32), *b = realloc(NULL, 16), *c = memalign(32, 48), *d;
    b = realloc(b, 4000);
    if (posix_memalign(&d, 128, 64) != 0) abort();
    free(s);
    free(a);
    free(b);
    free(c);
    free(d);
  }
}

static void *worker(void *arg) {
  int leaky = *(int *)arg;
  churn();
  if (leaky) leak_site_three();
  return NULL;
}

/* Overwrites the dead stack below main's frame, where the lost pointers
 * were, so that only live roots remain (LeakSanitizer's tests do the same). */
__attribute__((noinline)) static void scrub_stack(void) {
  volatile char buf[16384];
  memset((char *)buf, 0, sizeof buf);
}

int main(int argc, char **argv) {
  int leaky = argc > 1 && strcmp(argv[1], "leaky") == 0;
  keep_reachable();
  churn();
  if (leaky) {
    leak_site_one();
    leak_site_two();
  }
  pthread_t t;
  if (pthread_create(&t, NULL, worker, &leaky) != 0) return 1;
  pthread_join(t, NULL);
  scrub_stack();
  return 0;
}
