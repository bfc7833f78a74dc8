/*
 * cg_gen.h - generated source trees for the parse-budget tests: Python
 * modules and a C file of a chosen size (tree estimates below, at or above
 * the aggressive parse budget) and small modules that import each other.
 * Include after <cmocka.h>; everything is static.
 */
#ifndef GSP_TEST_CG_GEN_H
#define GSP_TEST_CG_GEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_file(const char *dir, const char *name, const char *text, size_t len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  fclose(f);
}

/* A Python module of about `bytes` bytes: functions that call the
 * previous one and a helper imported from small module `dep`. */
static void python_module(const char *dir, const char *name, int dep, size_t bytes) {
  size_t cap = bytes + 4096, n = 0;
  char *b = malloc(cap);
  assert_non_null(b);
  n += (size_t)snprintf(b + n, cap - n, "from .small%d import helper%d\n", dep, dep);
  for (int i = 0; n + 512 < bytes; i++)
    n += (size_t)snprintf(b + n, cap - n,
                          "def f%d(x, y=%d):\n    z = helper%d(x) + y\n"
                          "    if z > %d:\n        return f%d(z - 1, y)\n"
                          "    return [z, x, y, 'text %d']\n\n",
                          i, i, dep, i, i > 0 ? i - 1 : 0, i);
  write_file(dir, name, b, n);
  free(b);
}

/* A C file of about `bytes` bytes that includes small.h. */
static void c_file(const char *dir, size_t bytes) {
  size_t cap = bytes + 4096, n = 0;
  char *b = malloc(cap);
  assert_non_null(b);
  n += (size_t)snprintf(b + n, cap - n, "#include \"small.h\"\n");
  for (int i = 0; n + 256 < bytes; i++)
    n += (size_t)snprintf(b + n, cap - n, "static int g%d(int a) { return small_fn(a) + %d; }\n", i,
                          i);
  write_file(dir, "big.c", b, n);
  free(b);
}

/* huge: files whose tree estimate exceeds the budget; large: files that
 * count against it; nsmall: files that do not (small<i> imports small<i+1>;
 * huge<i> and large<i> import helpers from them, so keep nsmall > large + 1). */
static void make_tree(char *dir, int nsmall, int huge, int large, size_t large_bytes) {
  assert_non_null(mkdtemp(dir));
  write_file(dir, "__init__.py", "", 0);
  const char h[] = "int small_fn(int a);\nstruct small { int x; };\n";
  write_file(dir, "small.h", h, sizeof h - 1);
  for (int i = 0; i < nsmall; i++) {
    char name[64], text[256];
    snprintf(name, sizeof name, "small%d.py", i);
    int n = snprintf(text, sizeof text,
                     "import os\nfrom . import small%d\n\ndef helper%d(v):\n"
                     "    return os.path.join(str(v), small%d.__name__)\n",
                     (i + 1) % nsmall, i, (i + 1) % nsmall);
    write_file(dir, name, text, (size_t)n);
  }
  for (int i = 0; i < huge; i++) {
    char name[64];
    snprintf(name, sizeof name, "huge%d.py", i);
    python_module(dir, name, i, 300 << 10); /* estimate about 9.4 MiB > 8 MiB */
  }
  for (int i = 0; i < large; i++) {
    char name[64];
    snprintf(name, sizeof name, "large%d.py", i);
    python_module(dir, name, i + 2, large_bytes);
  }
  if (large >= 6) c_file(dir, 64 << 10);
}

static void remove_tree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

#endif
