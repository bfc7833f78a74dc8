/*
 * netfs.h - network and FUSE mounts inside the tree (walk.c finds them,
 * stat_index.c leaves the files below them to be hashed).
 *
 * A file system whose times come from another machine's clock (NFS,
 * SMB/CIFS, FUSE, 9p, Ceph, AFS, Coda) cannot vouch for a file by its stat
 * (stat_index.c, "Clocks of another machine"). The root is checked by
 * statfs; below it the walk compares each directory's device with its
 * parent's and, where it changes (a mount crossed), checks that directory
 * once: a directory on such a file system is recorded (cg->netdirs), and
 * everything below it is taken to be on it too, without further checks.
 *
 * Thread safety: the walk records the list on the calling thread before
 * any parallel stage; gsp__cg_on_netfs only reads it, from any thread.
 * Ownership: the list and its paths live in cg->arena, freed with the
 * graph.
 */
#ifndef GSP_CG_NETFS_H
#define GSP_CG_NETFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/codegraph.h"

/* A directory of the tree on a network or FUSE mount (relative path). */
typedef struct cg_netdir {
  const char *path;
  size_t len;
  struct cg_netdir *next;
} cg_netdir;

/* Whether the relative path lies below one of the tree's network mounts. */
bool gsp__cg_on_netfs(const gsp_cg *cg, const char *path);
/* Whether the file system holding path keeps another machine's times
 * (statfs; true when statfs fails, as nothing can be vouched for then). */
bool gsp__cg_remote_fs(const char *path);

/* Test hook, NULL in normal runs: what the walk and gsp__cg_remote_fs see
 * of the file systems, so that a test can show a "network mount" inside a
 * scratch tree. dir_dev: the device of directory path given the one
 * lstat reported; fs_type: statfs(path)'s f_type into *type, 0 or -1. */
typedef struct cg_fs_hook {
  uint64_t (*dir_dev)(const char *path, uint64_t dev);
  int (*fs_type)(const char *path, long *type);
} cg_fs_hook;
extern const cg_fs_hook *gsp__cg_fs_hook;

#endif
