/*
 * cmd_cache.c - `gsperf cache`: look after a persistent cache directory
 * (the L3 level of the tier, include/gsperf/tier.h).
 *
 *   gsperf cache [--json] stats DIR            entries, bytes, bound, file
 *   gsperf cache [--json] verify [--repair] DIR  check every record
 *   gsperf cache [--json] clear DIR
 *   gsperf cache [--json] get DIR KEY          the value to stdout
 *   gsperf cache [--json] put DIR KEY VALUE    VALUE "-" reads stdin
 *
 * DIR may also be a Redis L3, "redis://HOST:PORT/DB". stats, verify and
 * get open a directory read-only (it must exist); put and clear create it
 * if needed. Exit codes: 0 success, 1 failure
 * (error, key not found, a bad record found by verify), 2 bad usage.
 * Human output by default; --json prints one JSON object per command.
 * The tier is opened with no L2 and a small L1: every read and write
 * reaches the directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "gsperf/tier.h"

static const char *const prog = "gsperf cache";

typedef struct opts {
  bool json;
  bool repair;
  const char *sub;
  char **args; /* after the subcommand */
  int nargs;
} opts;

static void usage(FILE *out) {
  fprintf(out,
          "usage: %s [--json] stats DIR\n"
          "       %s [--json] verify [--repair] DIR\n"
          "       %s [--json] clear DIR\n"
          "       %s [--json] get DIR KEY\n"
          "       %s [--json] put DIR KEY VALUE   (VALUE '-' reads standard input)\n",
          prog, prog, prog, prog, prog);
}

static int open_dir(const char *dir, bool readonly, gsp_tier **t) {
  size_t n = strlen(dir) + 6;
  char *uri = malloc(n), err[600];
  if (uri == NULL) return 1;
  snprintf(uri, n, "%s%s", strncmp(dir, "redis://", 8) == 0 ? "" : "lmdb:", dir);
  gsp_tier_config c = {.l1_max_entries = 16,
                       .l2_max_bytes = SIZE_MAX,
                       .l3 = uri,
                       .l3_readonly = readonly,
                       .durability = GSP_TIER_SYNC};
  int rv = gsp_tier_create(&c, t, err, sizeof err);
  free(uri);
  if (rv != GSP_OK) {
    fprintf(stderr, "%s: %s\n", prog, err[0] ? err : gsp_strerror(rv));
    return 1;
  }
  return 0;
}

/* JSON string of n bytes: escapes; bytes >= 0x80 are passed through. */
static void json_str(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      printf("\\%c", c);
    } else if (c < 0x20) {
      printf("\\u%04x", c);
    } else {
      putchar(c);
    }
  }
  putchar('"');
}

/* True when the n bytes are UTF-8 (so they can go into a JSON string). */
static bool utf8_ok(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i], len = c < 0x80         ? 1
                             : (c >> 5) == 6  ? 2
                             : (c >> 4) == 14 ? 3
                             : (c >> 3) == 30 ? 4
                                              : 0;
    if (len == 0 || i + len > n) return false;
    for (unsigned j = 1; j < len; j++)
      if ((s[i + j] & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

static int do_stats(const opts *o, gsp_tier *t, const char *dir) {
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  const gsp_tier_level_stats *l = &s.level[GSP_TIER_L3];
  char f[4096];
  struct stat sb;
  snprintf(f, sizeof f, "%s/data.mdb", dir);
  long long fsize = stat(f, &sb) == 0 ? (long long)sb.st_size : -1;
  if (o->json) {
    printf("{\"dir\":");
    json_str(dir, strlen(dir));
    printf(
        ",\"format_version\":%u,\"entries\":%llu,\"bytes\":%llu,\"max_bytes\":%llu,"
        "\"file_bytes\":%lld}\n",
        GSP_TIER_FORMAT_VERSION, (unsigned long long)l->entries, (unsigned long long)l->bytes,
        (unsigned long long)l->capacity, fsize);
  } else {
    printf("cache      %s\nformat     %u\nentries    %llu\n", dir, GSP_TIER_FORMAT_VERSION,
           (unsigned long long)l->entries);
    if (l->capacity) {
      printf("bytes      %llu of %llu (%.1f%%)\n", (unsigned long long)l->bytes,
             (unsigned long long)l->capacity, 100.0 * (double)l->bytes / (double)l->capacity);
    } else { /* a Redis server without maxmemory */
      printf("bytes      %llu (no bound)\n", (unsigned long long)l->bytes);
    }
    if (fsize >= 0) printf("file       %lld bytes\n", fsize);
  }
  return 0;
}

static int do_verify(const opts *o, gsp_tier *t) {
  uint64_t good, bad;
  int rv = gsp_tier_verify(t, o->repair, &good, &bad);
  if (rv != GSP_OK) {
    fprintf(stderr, "%s: verify: %s\n", prog, gsp_tier_errmsg(t));
    return 1;
  }
  if (o->json) {
    printf("{\"good\":%llu,\"bad\":%llu,\"repaired\":%s}\n", (unsigned long long)good,
           (unsigned long long)bad, o->repair && bad ? "true" : "false");
  } else {
    printf("good %llu\nbad  %llu%s\n", (unsigned long long)good, (unsigned long long)bad,
           o->repair && bad ? " (removed)" : "");
  }
  return bad ? 1 : 0;
}

static int do_clear(const opts *o, gsp_tier *t) {
  int rv = gsp_tier_clear(t);
  if (rv != GSP_OK) {
    fprintf(stderr, "%s: clear: %s\n", prog, gsp_tier_errmsg(t));
    return 1;
  }
  printf(o->json ? "{\"cleared\":true}\n" : "cleared\n");
  return 0;
}

static int do_get(const opts *o, gsp_tier *t, const char *key) {
  void *v;
  size_t n;
  int rv = gsp_tier_get(t, key, strlen(key), &v, &n);
  if (rv == GSP_ENOENT) {
    if (o->json) printf("{\"found\":false}\n");
    fprintf(stderr, "%s: get: %s: not found\n", prog, key);
    return 1;
  }
  if (rv != GSP_OK) {
    fprintf(stderr, "%s: get: %s: %s\n", prog, key, gsp_tier_errmsg(t));
    return 1;
  }
  if (!o->json) {
    fwrite(v, 1, n, stdout);
  } else if (utf8_ok(v, n)) {
    printf("{\"found\":true,\"size\":%zu,\"value\":", n);
    json_str(v, n);
    printf("}\n");
  } else {
    printf("{\"found\":true,\"size\":%zu,\"value_hex\":\"", n);
    for (size_t i = 0; i < n; i++) printf("%02x", ((unsigned char *)v)[i]);
    printf("\"}\n");
  }
  gsp_free(v);
  return 0;
}

/* Standard input into a malloc'd buffer. */
static char *read_stdin(size_t *len) {
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, stdin);
    n += got;
    if (got == 0) break;
    if (n == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (nb == NULL) free(buf);
      buf = nb;
    }
  }
  *len = n;
  return ferror(stdin) ? (free(buf), NULL) : buf;
}

static int do_put(const opts *o, gsp_tier *t, const char *key, const char *val) {
  size_t n = strlen(val);
  char *in = NULL;
  if (strcmp(val, "-") == 0) {
    if ((in = read_stdin(&n)) == NULL) {
      fprintf(stderr, "%s: put: cannot read standard input\n", prog);
      return 1;
    }
    val = in;
  }
  int rv = gsp_tier_put(t, key, strlen(key), val, n, NULL);
  free(in);
  if (rv != GSP_OK) {
    fprintf(stderr, "%s: put: %s: %s\n", prog, key, gsp_tier_errmsg(t));
    return 1;
  }
  if (o->json) {
    printf("{\"stored\":true,\"size\":%zu}\n", n);
  } else {
    printf("stored %zu bytes\n", n);
  }
  return 0;
}

static int parse(int argc, char **argv, opts *o) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
    if (strcmp(argv[i], "--json") == 0) {
      o->json = true;
    } else if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      exit(0);
    } else {
      fprintf(stderr, "%s: unknown option '%s'\n", prog, argv[i]);
      return 2;
    }
  }
  if (i >= argc) return 2;
  o->sub = argv[i++];
  if (strcmp(o->sub, "verify") == 0 && i < argc && strcmp(argv[i], "--repair") == 0) {
    o->repair = true;
    i++;
  }
  o->args = argv + i;
  o->nargs = argc - i;
  static const struct {
    const char *name;
    int nargs;
  } subs[] = {{"stats", 1}, {"verify", 1}, {"clear", 1}, {"get", 2}, {"put", 3}};
  for (size_t s = 0; s < sizeof subs / sizeof *subs; s++)
    if (strcmp(o->sub, subs[s].name) == 0) {
      if (o->nargs == subs[s].nargs) return 0;
      fprintf(stderr, "%s %s: expected %d argument(s), got %d\n", prog, o->sub, subs[s].nargs,
              o->nargs);
      return 2;
    }
  fprintf(stderr, "%s: unknown subcommand '%s'\n", prog, o->sub);
  return 2;
}

int gsp_cmd_cache(int argc, char **argv) {
  opts o = {0};
  if (parse(argc, argv, &o) != 0) {
    usage(stderr);
    return 2;
  }
  const char *dir = o.args[0];
  bool writes = strcmp(o.sub, "put") == 0 || strcmp(o.sub, "clear") == 0 ||
                (strcmp(o.sub, "verify") == 0 && o.repair);
  gsp_tier *t = NULL;
  if (open_dir(dir, !writes, &t) != 0) return 1;
  int rc;
  if (strcmp(o.sub, "stats") == 0) {
    rc = do_stats(&o, t, dir);
  } else if (strcmp(o.sub, "verify") == 0) {
    rc = do_verify(&o, t);
  } else if (strcmp(o.sub, "clear") == 0) {
    rc = do_clear(&o, t);
  } else if (strcmp(o.sub, "get") == 0) {
    rc = do_get(&o, t, o.args[1]);
  } else {
    rc = do_put(&o, t, o.args[1], o.args[2]);
  }
  gsp_tier_destroy(t);
  return rc;
}
