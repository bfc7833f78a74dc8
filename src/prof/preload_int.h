/*
 * preload_int.h - what the files of libgsperf-preload.so share beyond
 * prof_int.h: the reaping of a child with its exit status recorded
 * (preload.c), used by the system/popen/pclose of preload_child.c.
 *
 * Thread safety: gsp__preload_reap may be called from any thread and
 * from a signal handler (raw system calls, no allocation, no lock).
 */
#ifndef GSP_PROF_PRELOAD_INT_H
#define GSP_PROF_PRELOAD_INT_H

#include <sys/types.h>

/* Waits for the child pid (retrying on EINTR) and writes its exit status
 * to $GSP_PROF_DIR/exit.<pid>, as the interposed wait family does.
 * Returns pid with *status set, or -1 with errno set (ECHILD: not a
 * child, or already reaped). */
pid_t gsp__preload_reap(pid_t pid, int *status);

#endif
