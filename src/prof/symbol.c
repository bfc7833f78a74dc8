/*
 * symbol.c - addresses to (function, file, line) with libdw, after the
 * fact, from a saved memory map.
 *
 * The maps text (a copy of /proc/PID/maps taken while the process ran) is
 * handed to libdwfl's dwfl_linux_proc_maps_report, which reports one
 * module per mapped ELF file at its load address (PIE executables and
 * shared libraries at their bias, a non-PIE executable at its link
 * address). Each module's ELF is opened from its path and its debug info
 * found the standard way (.debug sections in the file, build-id or
 * debuglink files). The vDSO (a mapping with no file, which libdwfl may
 * count as part of a neighbouring module) is looked for first: its range
 * is taken from the maps text and its addresses are named "[vdso]". A
 * lookup asks the module for the symbol covering the
 * address (the ELF symbol table; static functions included) and the line
 * table for file and line. An address with no module or no symbol gets a
 * name "FILE+0xOFF" (or "0xADDR"), so it still counts under one name.
 *
 * Strings returned are interned in a chained hash set owned by the table
 * and live until it is destroyed. Not thread-safe: one thread per table.
 */
#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prof_int.h"

#define INTERN_BUCKETS 4096

typedef struct istr {
  struct istr *next;
  char s[];
} istr;

struct gsp__symtab {
  Dwfl *dwfl;
  uint64_t vdso_start, vdso_end; /* 0, 0 when the maps text has none */
  istr *buckets[INTERN_BUCKETS];
};

/* The [vdso] line of a maps text ("START-END perms ... [vdso]"), if any. */
static void find_vdso(gsp__symtab *s, const char *maps, size_t len) {
  const char *end = maps + len;
  for (const char *line = maps; line < end;) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
    if (n > 6 && memcmp(line + n - 6, "[vdso]", 6) == 0) {
      char *dash, *stop;
      unsigned long long a = strtoull(line, &dash, 16);
      unsigned long long b = *dash == '-' ? strtoull(dash + 1, &stop, 16) : 0;
      if (b > a) {
        s->vdso_start = a;
        s->vdso_end = b;
      }
    }
    line += n + 1;
  }
}

static char *g_debuginfo_path;
static const Dwfl_Callbacks g_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &g_debuginfo_path,
};

int gsp__symtab_create(const char *maps_text, size_t len, gsp__symtab **out) {
  gsp__symtab *s = gsp_calloc(1, sizeof *s);
  if (!s) return GSP_ENOMEM;
  s->dwfl = dwfl_begin(&g_callbacks);
  if (!s->dwfl) {
    gsp_free(s);
    return GSP_ENOMEM;
  }
  find_vdso(s, maps_text, len);
  if (len > 0) {
    FILE *f = fmemopen((void *)maps_text, len, "r");
    if (!f) {
      gsp__symtab_destroy(s);
      return GSP_ENOMEM;
    }
    dwfl_report_begin(s->dwfl);
    int rc = dwfl_linux_proc_maps_report(s->dwfl, f);
    dwfl_report_end(s->dwfl, NULL, NULL);
    fclose(f);
    if (rc != 0) {
      gsp__symtab_destroy(s);
      return GSP_EFORMAT;
    }
  }
  *out = s;
  return GSP_OK;
}

void gsp__symtab_destroy(gsp__symtab *s) {
  if (!s) return;
  if (s->dwfl) dwfl_end(s->dwfl);
  for (size_t i = 0; i < INTERN_BUCKETS; i++) {
    for (istr *e = s->buckets[i], *n; e; e = n) {
      n = e->next;
      gsp_free(e);
    }
  }
  gsp_free(s);
}

const char *gsp__symtab_intern(gsp__symtab *s, const char *str) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char *p = str; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
  istr **b = &s->buckets[h % INTERN_BUCKETS];
  for (istr *e = *b; e; e = e->next)
    if (strcmp(e->s, str) == 0) return e->s;
  size_t n = strlen(str);
  istr *e = gsp_malloc(sizeof *e + n + 1);
  if (!e) return "?";
  memcpy(e->s, str, n + 1);
  e->next = *b;
  *b = e;
  return e->s;
}

static const char *base_name(const char *p) {
  const char *b = strrchr(p, '/');
  return b ? b + 1 : p;
}

static void lookup_module(gsp__symtab *s, Dwfl_Module *m, uint64_t pc, gsp__sym *out) {
  Dwarf_Addr start = 0, end = 0;
  const char *mname = dwfl_module_info(m, NULL, &start, &end, NULL, NULL, NULL, NULL);
  out->map_start = start;
  out->map_limit = end;
  out->map_file = gsp__symtab_intern(s, mname ? mname : "");
  GElf_Off off = 0;
  GElf_Sym sym;
  const char *name = dwfl_module_addrinfo(m, pc, &off, &sym, NULL, NULL, NULL);
  char buf[512];
  if (!name) {
    snprintf(buf, sizeof buf, "%s+0x%" PRIx64, base_name(out->map_file), pc - start);
    name = buf;
  }
  out->func = gsp__symtab_intern(s, name);
  Dwfl_Line *l = dwfl_module_getsrc(m, pc);
  int line = 0;
  const char *file = l ? dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL) : NULL;
  out->file = gsp__symtab_intern(s, file ? file : "");
  out->line = line > 0 ? (unsigned)line : 0;
}

void gsp__symtab_lookup(gsp__symtab *s, uint64_t pc, gsp__sym *out) {
  memset(out, 0, sizeof *out);
  if (pc >= s->vdso_start && pc < s->vdso_end) {
    out->func = gsp__symtab_intern(s, "[vdso]");
    out->file = gsp__symtab_intern(s, "");
    out->map_file = out->func;
    out->map_start = s->vdso_start;
    out->map_limit = s->vdso_end;
    return;
  }
  Dwfl_Module *m = dwfl_addrmodule(s->dwfl, pc);
  if (m) {
    lookup_module(s, m, pc, out);
    return;
  }
  char buf[32];
  snprintf(buf, sizeof buf, "0x%" PRIx64, pc);
  out->func = gsp__symtab_intern(s, buf);
  out->file = gsp__symtab_intern(s, "");
  out->map_file = out->file;
}
