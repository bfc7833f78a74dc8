/*
 * heap_save.c - heap data that survives the program (preload library):
 * DIR/heap.<pid>.raw written while the program runs, not only at exit,
 * so a program that is killed (SIGKILL) or crashes leaves its heap sites.
 * Built only into libgsperf-preload.so.
 *
 * A thread of its own (its allocations and I/O untracked, the sampling signal
 * blocked so it is not sampled as the program) writes the sites every
 * period: to heap.<pid>.raw.tmp, then rename, so a reader sees an old or
 * a new file, never half of one; the memory map (heap.<pid>.raw.maps) is
 * saved at start and again when objects were loaded or unloaded since.
 * A file written while the program runs says "leaks 0" (no leak check
 * ran); the exit path (gsp__heap_finish) replaces it with the checked one.
 *
 * Fatal signals. For SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM,
 * SIGINT and SIGQUIT whose disposition is the default one at start, a
 * handler writes the sites once (open, write, close, rename: all
 * async-signal-safe; the sites are formatted by hand), to a second
 * temporary name, puts the default action back and raises the signal
 * again, so the program dies as it would have. The memory map is the
 * one last saved by the thread. A program's own handler installed later
 * replaces ours (it then decides how the program ends). A fork child
 * (without exec) does neither; its exit still writes its own file.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prof_int.h"

static const int k_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM, SIGINT, SIGQUIT};
#define NSIGS (sizeof k_sigs / sizeof k_sigs[0])

static char g_path[PATH_MAX], g_tmp[PATH_MAX + 8], g_sigtmp[PATH_MAX + 8], g_maps[PATH_MAX + 8];
static pthread_t g_thread;
static bool g_running;
static _Atomic int g_stop, g_saved_in_signal;
static unsigned g_period_ms;
static unsigned long long g_loads;
static bool g_hooked[NSIGS];

static void save_raw(const char *tmp) {
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  int rv = gsp__heap_write_sites(fd, false);
  if (close(fd) == 0 && rv == GSP_OK) rename(tmp, g_path);
}

static int count_loads(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  *(unsigned long long *)arg = info->dlpi_adds + info->dlpi_subs;
  return 1;
}

static void save_maps(bool force) {
  unsigned long long loads = 0;
  dl_iterate_phdr(count_loads, &loads);
  if (!force && loads == g_loads) return;
  if (gsp__maps_save(g_maps) == GSP_OK) g_loads = loads;
}

static void *saver(void *arg) {
  (void)arg;
  gsp__heap_guard(true);
  gsp__io_guard(true);
  while (!atomic_load(&g_stop)) {
    for (unsigned t = 0; t < g_period_ms && !atomic_load(&g_stop); t += 50) {
      struct timespec ts = {0, 50 * 1000000L};
      nanosleep(&ts, NULL);
    }
    if (atomic_load(&g_stop)) break;
    save_maps(false);
    save_raw(g_tmp);
  }
  return NULL;
}

static void on_fatal(int sig) {
  if (!atomic_exchange(&g_saved_in_signal, 1)) {
    gsp__heap_guard(true);
    save_raw(g_sigtmp);
  }
  signal(sig, SIG_DFL);
  raise(sig); /* pending until the handler returns, then the default action */
}

static void hook_signals(void) {
  for (size_t i = 0; i < NSIGS; i++) {
    struct sigaction old;
    if (sigaction(k_sigs[i], NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
        old.sa_handler != SIG_DFL)
      continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sigemptyset(&sa.sa_mask);
    g_hooked[i] = sigaction(k_sigs[i], &sa, NULL) == 0;
  }
}

static void unhook_signals(void) {
  for (size_t i = 0; i < NSIGS; i++) {
    struct sigaction cur;
    if (!g_hooked[i] || sigaction(k_sigs[i], NULL, &cur) != 0) continue;
    if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == on_fatal) signal(k_sigs[i], SIG_DFL);
    g_hooked[i] = false;
  }
}

/* A fork child has no saver thread, and its pid is not in the paths: it
 * neither saves periodically nor on signals (its exit still writes). */
static void forget_in_child(void) {
  g_running = false;
  unhook_signals();
}

void gsp__heap_autosave_start(const char *dir, unsigned period_ms) {
  long pid = (long)getpid();
  if (snprintf(g_path, sizeof g_path, "%s/heap.%ld.raw", dir, pid) >= (int)sizeof g_path) return;
  snprintf(g_tmp, sizeof g_tmp, "%s.tmp", g_path);
  snprintf(g_sigtmp, sizeof g_sigtmp, "%s.sig", g_path);
  snprintf(g_maps, sizeof g_maps, "%s.maps", g_path);
  save_maps(true);
  hook_signals();
  pthread_atfork(NULL, NULL, forget_in_child);
  if (period_ms == 0) return;
  g_period_ms = period_ms;
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGPROF);
  sigaddset(&block, gsp_prof_sample_signal());
  pthread_sigmask(SIG_BLOCK, &block, &old);
  atomic_store(&g_stop, 0);
  g_running = pthread_create(&g_thread, NULL, saver, NULL) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void gsp__heap_autosave_stop(void) {
  unhook_signals();
  if (!g_running) return;
  atomic_store(&g_stop, 1);
  pthread_join(g_thread, NULL);
  g_running = false;
}
