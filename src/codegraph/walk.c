/*
 * walk.c - find the source files under the root: skip .git, honour
 * .gitignore files, never loop through symlinks.
 *
 * Walk: depth-first with readdir, one path buffer extended and cut back in
 * place. Symbolic links are not followed, to files or directories, as git
 * records a link rather than what it points at: no link can loop the walk,
 * count a file twice or lead out of the tree. A directory is also entered
 * at most once by (device, inode), which guards against bind mounts.
 * Entries are lstat()ed (fstatat on the open directory, by name, which
 * saves the kernel a walk of the whole path per entry) for their type and
 * size (readdir's d_type is skipped early only for links, because some
 * file systems do not fill it); a file keeps its device, inode, mtime and
 * ctime for the stat index (stat_index.c), and the walk notes the time it
 * began (CLOCK_REALTIME), before the first lstat, as that index's
 * reference time. Regular files without an extension are kept apart as
 * candidates (cg->cands; not lstat()ed when d_type says regular):
 * resolve_cxx.c makes those an #include reaches files of the graph.
 *
 * Network mounts (netfs.h): each directory's device is compared with its
 * parent's; where it changes, one statfs of that directory tells whether
 * it is on a network or FUSE file system, and if so its relative path goes
 * on cg->netdirs (in the arena) and nothing below it is checked again. So
 * a walk costs one statfs per mount crossed, none per file.
 *
 * .gitignore: the subset git users write daily. Blank lines and # comments
 * are skipped; "!" negates; a trailing "/" matches directories only; a
 * pattern with a "/" elsewhere is anchored to its .gitignore's directory
 * and matched against the path below it (fnmatch with FNM_PATHNAME), other
 * patterns against the entry's name at any depth; "**" matches across
 * directories. The rules of every .gitignore from the root down to the
 * entry's directory are tried in order and the last match wins. An
 * ignored directory is not entered, so nothing under it comes back (as in
 * git).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "cg_int.h"
#include "netfs.h"

const cg_fs_hook *gsp__cg_fs_hook;

typedef struct ig_rule {
  char *pat;
  size_t base_len; /* length of the relative dir of its .gitignore ("" = 0) */
  bool neg, dir_only, anchored, deep;
} ig_rule;

typedef struct walker {
  gsp_cg *cg;
  char path[4096]; /* root + "/" + relative path */
  size_t root_len;
  ig_rule *rules;
  size_t nrules, crules;
  dev_t *vdev;
  ino_t *vino;
  size_t nvisited, cvisited;
  int err;
} walker;

/* What the walk knows of a directory's file system. */
typedef struct dir_fs {
  uint64_t dev;
  bool net; /* on a network or FUSE mount (or below one) */
} dir_fs;

static const char *rel(const walker *w) {
  return w->path[w->root_len] == '/' ? w->path + w->root_len + 1 : w->path + w->root_len;
}

static int add_rule(walker *w, const char *line, size_t n, size_t base_len) {
  ig_rule r = {.base_len = base_len};
  if (n && line[0] == '!') r.neg = true, line++, n--;
  if (n && line[n - 1] == '/') r.dir_only = true, n--;
  if (n && line[0] == '/') r.anchored = true, line++, n--;
  if (n == 0) return GSP_OK;
  if (memchr(line, '/', n)) r.anchored = true;
  r.deep = n >= 2 && strstr(line, "**") != NULL && (size_t)(strstr(line, "**") - line) < n;
  if (n >= 3 && strncmp(line, "**/", 3) == 0 && !memchr(line + 3, '/', n - 3))
    line += 3, n -= 3, r.anchored = false;
  if (w->nrules == w->crules) {
    size_t nc = w->crules ? w->crules * 2 : 32;
    ig_rule *q = gsp_realloc(w->rules, nc * sizeof *q);
    if (q == NULL) return GSP_ENOMEM;
    w->rules = q, w->crules = nc;
  }
  r.pat = gsp_malloc(n + 1);
  if (r.pat == NULL) return GSP_ENOMEM;
  memcpy(r.pat, line, n);
  r.pat[n] = '\0';
  w->rules[w->nrules++] = r;
  return GSP_OK;
}

/* Read dir/.gitignore (w->path is the directory) into rules. */
static int load_gitignore(walker *w, size_t dir_len) {
  if (dir_len + 12 >= sizeof w->path) return GSP_OK;
  memcpy(w->path + dir_len, "/.gitignore", 12);
  FILE *f = fopen(w->path, "r");
  w->path[dir_len] = '\0';
  if (f == NULL) return GSP_OK;
  char line[1024];
  size_t base_len = strlen(rel(w));
  int rv = GSP_OK;
  while (rv == GSP_OK && fgets(line, sizeof line, f)) {
    size_t n = strcspn(line, "\r\n");
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
    if (n == 0 || line[0] == '#') continue;
    rv = add_rule(w, line, n, base_len);
  }
  fclose(f);
  return rv;
}

/* relpath starts with the base directory of every rule on the stack. */
static bool ignored(const walker *w, const char *relpath, const char *name, bool is_dir) {
  bool ig = false;
  for (size_t i = 0; i < w->nrules; i++) {
    const ig_rule *r = &w->rules[i];
    /* only a rule that would flip the current verdict needs matching */
    if ((r->dir_only && !is_dir) || ig != r->neg) continue;
    const char *subject = r->anchored ? relpath + (r->base_len ? r->base_len + 1 : 0) : name;
    int flags = r->anchored && !r->deep ? FNM_PATHNAME : 0;
    if (fnmatch(r->pat, subject, flags) == 0) ig = !r->neg;
  }
  return ig;
}

static bool seen_dir(walker *w, const struct stat *st) {
  for (size_t i = 0; i < w->nvisited; i++)
    if (w->vdev[i] == st->st_dev && w->vino[i] == st->st_ino) return true;
  if (w->nvisited == w->cvisited) {
    size_t nc = w->cvisited ? w->cvisited * 2 : 64;
    dev_t *d = gsp_realloc(w->vdev, nc * sizeof *d);
    if (d) w->vdev = d;
    ino_t *n = gsp_realloc(w->vino, nc * sizeof *n);
    if (n) w->vino = n;
    if (d == NULL || n == NULL) {
      w->err = GSP_ENOMEM;
      return true;
    }
    w->cvisited = nc;
  }
  w->vdev[w->nvisited] = st->st_dev;
  w->vino[w->nvisited++] = st->st_ino;
  return false;
}

static int64_t ns_of(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

/* The current entry's path relative to the root, copied into the arena. */
static const char *rel_copy(walker *w) {
  const char *r = rel(w);
  size_t n = strlen(r);
  char *p = gsp_arena_alloc(w->cg->arena, n + 1, 1);
  if (p != NULL) memcpy(p, r, n + 1);
  return p;
}

static int add_file(walker *w, gsp_cg_lang lang, const struct stat *st) {
  gsp_cg *cg = w->cg;
  if (cg->nfiles == cg->cfiles) {
    size_t nc = cg->cfiles ? cg->cfiles * 2 : 256;
    cg_file *q = gsp_realloc(cg->files, nc * sizeof *q);
    if (q == NULL) return GSP_ENOMEM;
    cg->files = q, cg->cfiles = nc;
  }
  const char *p = rel_copy(w);
  if (p == NULL) return GSP_ENOMEM;
  cg->files[cg->nfiles++] = (cg_file){.path = p,
                                      .size = (uint64_t)st->st_size,
                                      .lang = lang,
                                      .dev = (uint64_t)st->st_dev,
                                      .ino = (uint64_t)st->st_ino,
                                      .mtime_ns = ns_of(st->st_mtim),
                                      .ctime_ns = ns_of(st->st_ctim)};
  return GSP_OK;
}

/* A regular file without an extension: a candidate (resolve_cxx.c). */
static int add_candidate(walker *w) {
  gsp_cg *cg = w->cg;
  if (cg->ncands == cg->ccands) {
    size_t nc = cg->ccands ? cg->ccands * 2 : 64;
    const char **q = gsp_realloc((void *)cg->cands, nc * sizeof *q);
    if (q == NULL) return GSP_ENOMEM;
    cg->cands = q, cg->ccands = nc;
  }
  const char *p = rel_copy(w);
  if (p == NULL) return GSP_ENOMEM;
  cg->cands[cg->ncands++] = p;
  return GSP_OK;
}

bool gsp__cg_remote_fs(const char *path) {
  long type = 0;
  if (gsp__cg_fs_hook && gsp__cg_fs_hook->fs_type) {
    if (gsp__cg_fs_hook->fs_type(path, &type) != 0) return true;
  } else {
    struct statfs sf;
    if (statfs(path, &sf) != 0) return true;
    type = (long)sf.f_type;
  }
  switch ((unsigned long)type) {
    case NFS_SUPER_MAGIC:
    case SMB_SUPER_MAGIC:
    case CIFS_SUPER_MAGIC:
    case SMB2_SUPER_MAGIC:
    case FUSE_SUPER_MAGIC:
    case V9FS_MAGIC:
    case CEPH_SUPER_MAGIC:
    case AFS_SUPER_MAGIC:
    case CODA_SUPER_MAGIC:
      return true;
    default:
      return false;
  }
}

bool gsp__cg_on_netfs(const gsp_cg *cg, const char *path) {
  for (const cg_netdir *d = cg->netdirs; d; d = d->next)
    if (strncmp(path, d->path, d->len) == 0 && path[d->len] == '/') return true;
  return false;
}

/* The device of the directory at w->path, as lstat gave it. */
static uint64_t dir_dev(const walker *w, dev_t dev) {
  const cg_fs_hook *h = gsp__cg_fs_hook;
  return h && h->dir_dev ? h->dir_dev(w->path, (uint64_t)dev) : (uint64_t)dev;
}

/* The directory at w->path, on device dev, below parent: where the device
 * changes, one statfs; a network directory goes on cg->netdirs. */
static int enter_fs(walker *w, const dir_fs *parent, uint64_t dev, dir_fs *out) {
  *out = (dir_fs){.dev = dev, .net = parent->net};
  if (parent->net || dev == parent->dev || !gsp__cg_remote_fs(w->path)) return GSP_OK;
  cg_netdir *d = gsp_arena_alloc(w->cg->arena, sizeof *d, _Alignof(cg_netdir));
  const char *p = d ? rel_copy(w) : NULL;
  if (p == NULL) return GSP_ENOMEM;
  *d = (cg_netdir){.path = p, .len = strlen(p), .next = w->cg->netdirs};
  w->cg->netdirs = d;
  out->net = true;
  return GSP_OK;
}

static int walk_dir(walker *w, size_t dir_len, unsigned depth, const dir_fs *fs);

static int visit_entry(walker *w, int dfd, struct dirent *e, size_t dir_len, unsigned depth,
                       const dir_fs *fs) {
  size_t n = strlen(e->d_name);
  if (e->d_type == DT_LNK || dir_len + 1 + n + 1 > sizeof w->path) return GSP_OK;
  bool bare = strchr(e->d_name, '.') == NULL; /* no extension: a C++-style header? */
  if (e->d_type == DT_REG && !bare && gsp_cg_lang_of_path(e->d_name) == GSP_CG_LANG_NONE)
    return GSP_OK;
  w->path[dir_len] = '/';
  memcpy(w->path + dir_len + 1, e->d_name, n + 1);
  if (e->d_type == DT_REG && bare) /* no lstat: only an included one is stat'ed */
    return ignored(w, rel(w), e->d_name, false) ? GSP_OK : add_candidate(w);
  struct stat st;
  /* by name in the open directory: no walk of the whole path per entry */
  if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISLNK(st.st_mode))
    return GSP_OK; /* raced away, or a link */
  bool is_dir = S_ISDIR(st.st_mode), is_reg = S_ISREG(st.st_mode);
  if (is_dir && strcmp(e->d_name, ".git") == 0) return GSP_OK;
  gsp_cg_lang lang = is_reg ? gsp_cg_lang_of_path(e->d_name) : GSP_CG_LANG_NONE;
  if (is_reg && bare && !ignored(w, rel(w), e->d_name, false)) return add_candidate(w);
  if ((!is_dir && lang == GSP_CG_LANG_NONE) || ignored(w, rel(w), e->d_name, is_dir)) return GSP_OK;
  if (!is_dir) return add_file(w, lang, &st);
  if (seen_dir(w, &st)) return w->err;
  dir_fs sub;
  int rv = enter_fs(w, fs, dir_dev(w, st.st_dev), &sub);
  return rv == GSP_OK ? walk_dir(w, dir_len + 1 + n, depth + 1, &sub) : rv;
}

static int walk_dir(walker *w, size_t dir_len, unsigned depth, const dir_fs *fs) {
  if (depth > 256) return GSP_OK;
  w->path[dir_len] = '\0';
  size_t rules_before = w->nrules;
  int rv = load_gitignore(w, dir_len);
  DIR *d = rv == GSP_OK ? opendir(w->path) : NULL;
  if (d == NULL) goto out_rules;
  struct dirent *e;
  while (rv == GSP_OK && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    rv = visit_entry(w, dirfd(d), e, dir_len, depth, fs);
  }
  closedir(d);
out_rules:
  for (size_t i = rules_before; i < w->nrules; i++) gsp_free(w->rules[i].pat);
  w->nrules = rules_before;
  return rv;
}

int gsp__cg_walk_tree(gsp_cg *cg) {
  walker *w = gsp_calloc(1, sizeof *w);
  if (w == NULL) return GSP_ENOMEM;
  w->cg = cg;
  w->root_len = strlen(cg->root);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  cg->walk_real_ns = ns_of(now); /* before any file is stat'ed: the stat index's reference */
  struct stat st;
  int rv = GSP_OK;
  if (w->root_len + 1 >= sizeof w->path || stat(cg->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
    gsp__cg_seterr(cg, "%s: %s", cg->root,
                   w->root_len + 1 >= sizeof w->path ? "path too long"
                   : errno                           ? strerror(errno)
                                                     : "not a directory");
    rv = GSP_ENOENT;
    goto out;
  }
  memcpy(w->path, cg->root, w->root_len + 1);
  seen_dir(w, &st);
  /* the root's own file system is the stat index's to check */
  dir_fs root_fs = {.dev = dir_dev(w, st.st_dev)};
  rv = w->err ? w->err : walk_dir(w, w->root_len, 0, &root_fs);
  if (rv == GSP_ENOMEM) gsp__cg_seterr(cg, "out of memory while walking %s", cg->root);
out:
  gsp_free(w->rules);
  gsp_free(w->vdev);
  gsp_free(w->vino);
  gsp_free(w);
  return rv;
}
