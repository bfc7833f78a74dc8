/*
 * trace.h - cache traces for `gsperf cachesim`: read one file (plain or
 * zstd-compressed) in one of three formats into an in-memory request array
 * that can be replayed any number of times.
 *
 * Formats:
 *   oracle  libCacheSim's oracleGeneral: little-endian 24-byte records
 *           {uint32 time, uint64 id, uint32 size, int64 next access or -1}
 *   keys    text, one request per line: `key` or `key size`; a key is any
 *           token without blanks, interned to a number
 *   lis     the ARC paper's text format: `start count ...` stands for
 *           `count` requests of ids start .. start+count-1
 * A file is zstd-compressed when it starts with the zstd magic number,
 * whatever its name; a `.zst` name without the magic is an error.
 *
 * Thread safety: loading touches only its own arguments; a loaded trace is
 * read-only and may be replayed from several threads at once.
 */
#ifndef GSP_CLI_TRACE_H
#define GSP_CLI_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cs_trace_format {
  CS_FMT_AUTO = 0, /* by name: .lis, .oracleGeneral / .bin, else keys */
  CS_FMT_ORACLE,
  CS_FMT_KEYS,
  CS_FMT_LIS,
} cs_trace_format;

/* Objects are numbered densely (0, 1, ... in order of first request) so
 * per-object state can live in plain arrays. */
typedef struct cs_trace {
  char *name;             /* file basename without .zst and format extension */
  cs_trace_format format; /* the format actually read (never AUTO) */
  size_t n;               /* requests */
  uint32_t *obj;          /* [n] dense object number of each request */
  uint32_t *size;         /* [n] object size of each request (1 if none) */
  int64_t *next;          /* [n] the oracle next-access field as read (-1 or
                             a request number, 0- or 1-based; see belady.h);
                             NULL unless the format carries it */
  uint64_t *id;           /* [n_obj] the object's id (keys: its intern number) */
  size_t n_obj;           /* unique objects */
  uint64_t unique_bytes;  /* sum over objects of their first-seen size */
  bool has_sizes;         /* the format carries sizes */
} cs_trace;

/*
 * Read the file at path. Returns 0 and fills *out (free it with
 * cs_trace_free), or a negative GSP_E* code with a one-line message in err
 * naming the file and where (byte offset or line) it went wrong. An empty
 * trace is an error.
 */
int cs_trace_load(const char *path, cs_trace_format fmt, cs_trace *out, char *err, size_t errcap);
/* Free what a successful load allocated; NULL-safe; leaves *t zeroed. */
void cs_trace_free(cs_trace *t);

/* "auto", "oracle", "keys", "lis" (also "oracleGeneral"); GSP_EINVAL if none. */
int cs_trace_format_parse(const char *s, cs_trace_format *out);
const char *cs_trace_format_name(cs_trace_format f);
/* The format a file name suggests (after dropping a .zst suffix). */
cs_trace_format cs_trace_format_guess(const char *path);

#endif
