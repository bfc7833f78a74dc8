/*
 * got.c - redirects the process's calls of named functions (malloc,
 * read, ...) to hooks by rewriting the relocation slots through which
 * every loaded object calls them, for the in-process MEMORY and IO
 * profiles. The library exports no malloc of its own: the preload
 * library interposes by symbol, this file by patching.
 *
 * An object calls a function of another object through a slot of its
 * global offset table: an R_X86_64_JUMP_SLOT relocation (DT_JMPREL, the
 * PLT's slots) or an R_X86_64_GLOB_DAT one (DT_RELA: -fno-plt calls and
 * taken addresses; glibc calls its own malloc and free that way). For
 * every object that dl_iterate_phdr lists, except the vDSO, the dynamic
 * loader and this library when it is a shared object of its own (when it
 * is linked into the program statically it is part of the program), the
 * relocation tables are walked from PT_DYNAMIC, the symbol of each slot
 * named, and a slot of a hooked name is recorded (address, original
 * value) and overwritten with the hook by one aligned 8-byte atomic
 * store, so a thread calling through it concurrently gets either the old
 * or the new target, never a torn pointer. A slot inside PT_GNU_RELRO
 * (read-only once relocated; all of the GOT with -z now) is made
 * writable for the store with mprotect and read-only again after.
 *
 * Groups. Hooks come in groups (the heap's, the I/O's), patched and
 * restored independently. While any group is patched, dlopen and dlclose
 * are hooked too: after a dlopen the objects are scanned again and the
 * slots not yet pointing at a hook are patched (so a library loaded later
 * is seen), after a dlclose the records of slots in objects no longer
 * loaded are dropped. Restoring a slot is a compare-and-swap from the
 * hook back to the original value, so a slot rewritten meanwhile (by the
 * lazy binder) is left alone.
 *
 * State: g_mu (a mutex; never taken in a hook of malloc or I/O, only by
 * patch/unpatch and the dlopen/dlclose hooks) guards the function table
 * and the slot records; records live in an mmap'ed array (MAX_SLOTS),
 * outside the heap being tracked. Known limits: an object being loaded
 * by another thread while a group is patched may be seen before its
 * relocation (its slots are then patched again after its dlopen
 * returns); a call that already entered the lazy binder when its slot
 * was patched may overwrite the hook with the real target (the call and
 * later ones from that slot are then not seen).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prof_int.h"

#define MAX_FNS 48
#define MAX_SLOTS 65536u
#define GROUP_LOADER 0x80000000u

typedef struct fn_ent {
  const char *name;
  void *hook;
  unsigned group; /* 0 = free entry */
} fn_ent;

typedef struct slot_rec {
  void **addr;
  void *orig;
  uint32_t fn;
  bool ro; /* in RELRO: made writable for each store */
} slot_rec;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static fn_ent g_fns[MAX_FNS];
static slot_rec *g_slots;
static size_t g_nslots;
static unsigned g_groups; /* patched user groups */
static uintptr_t g_self_base;
static bool g_self_shared;
static void *(*g_real_dlopen)(const char *, int);
static int (*g_real_dlclose)(void *);

/* ---- reading an object's dynamic section -------------------------------- */

typedef struct dyn_info {
  const ElfW(Sym) * sym;
  const char *str;
  const ElfW(Rela) * rel[2];
  size_t nrel[2];
  uintptr_t ro_lo, ro_hi; /* RELRO pages, [lo, hi) */
} dyn_info;

/* glibc stores relocated addresses in the dynamic section; an address
 * below the load base is a file address still. */
static const void *dyn_addr(const struct dl_phdr_info *info, ElfW(Addr) v) {
  uintptr_t a = v < info->dlpi_addr ? info->dlpi_addr + v : v;
  return (const void *)a;  // NOLINT(performance-no-int-to-ptr): an address in the object
}

static void read_dyn(const struct dl_phdr_info *info, const ElfW(Dyn) * d, dyn_info *out) {
  size_t relasz = 0, pltsz = 0;
  bool plt_rela = true;
  for (; d->d_tag != DT_NULL; d++) {
    switch (d->d_tag) {
      case DT_SYMTAB:
        out->sym = dyn_addr(info, d->d_un.d_ptr);
        break;
      case DT_STRTAB:
        out->str = dyn_addr(info, d->d_un.d_ptr);
        break;
      case DT_RELA:
        out->rel[0] = dyn_addr(info, d->d_un.d_ptr);
        break;
      case DT_RELASZ:
        relasz = d->d_un.d_val;
        break;
      case DT_JMPREL:
        out->rel[1] = dyn_addr(info, d->d_un.d_ptr);
        break;
      case DT_PLTRELSZ:
        pltsz = d->d_un.d_val;
        break;
      case DT_PLTREL:
        plt_rela = d->d_un.d_val == DT_RELA;
        break;
      default:
        break;
    }
  }
  out->nrel[0] = out->rel[0] ? relasz / sizeof(ElfW(Rela)) : 0;
  out->nrel[1] = out->rel[1] && plt_rela ? pltsz / sizeof(ElfW(Rela)) : 0;
}

static bool find_dyn(const struct dl_phdr_info *info, dyn_info *out) {
  memset(out, 0, sizeof *out);
  const ElfW(Dyn) *dyn = NULL;
  uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_DYNAMIC) dyn = dyn_addr(info, ph->p_vaddr);
    if (ph->p_type == PT_GNU_RELRO) {
      out->ro_lo = (info->dlpi_addr + ph->p_vaddr) & ~(pg - 1);
      out->ro_hi = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(pg - 1);
    }
  }
  if (!dyn) return false;
  read_dyn(info, dyn, out);
  return out->sym && out->str;
}

static bool skip_object(const struct dl_phdr_info *info) {
  const char *name = info->dlpi_name ? info->dlpi_name : "";
  if (info->dlpi_addr == (uintptr_t)getauxval(AT_SYSINFO_EHDR)) return true;
  if (strncmp(name, "linux-vdso", 10) == 0 || strstr(name, "/ld-linux") != NULL) return true;
  return g_self_shared && info->dlpi_addr == g_self_base;
}

/* ---- patching ------------------------------------------------------------ */

static int fn_index(const char *name) {
  for (int i = 0; i < MAX_FNS; i++)
    if (g_fns[i].group && g_fns[i].name[0] == name[0] && strcmp(g_fns[i].name, name) == 0) return i;
  return -1;
}

static bool is_hook(const void *v) {
  for (int i = 0; i < MAX_FNS; i++)
    if (g_fns[i].group && g_fns[i].hook == v) return true;
  return false;
}

/* Replaces *slot by v if it still holds expect (one 8-byte CAS), making
 * its page writable for the store when it is in the object's RELRO range;
 * false when the page cannot be written or the slot changed. */
static bool swap_slot(void **slot, void *expect, void *v, bool ro) {
  uintptr_t a = (uintptr_t)slot, pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  void *page = (void *)(a & ~(pg - 1));  // NOLINT(performance-no-int-to-ptr): a page address
  if (ro && mprotect(page, pg, PROT_READ | PROT_WRITE) != 0) return false;
  bool ok =
      __atomic_compare_exchange_n(slot, &expect, v, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  if (ro) mprotect(page, pg, PROT_READ);
  return ok;
}

static void patch_rel(const struct dl_phdr_info *info, const dyn_info *d, const ElfW(Rela) * r) {
  unsigned type = ELF64_R_TYPE(r->r_info);
  if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) return;
  const char *name = d->str + d->sym[ELF64_R_SYM(r->r_info)].st_name;
  int fi = name[0] ? fn_index(name) : -1;
  if (fi < 0 || g_nslots >= MAX_SLOTS) return;
  void **slot = (void **)(info->dlpi_addr + r->r_offset);  // NOLINT(performance-no-int-to-ptr)
  void *cur = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (cur == g_fns[fi].hook || is_hook(cur)) return;
  bool ro = (uintptr_t)slot >= d->ro_lo && (uintptr_t)slot < d->ro_hi;
  if (!swap_slot(slot, cur, g_fns[fi].hook, ro)) return;
  g_slots[g_nslots++] = (slot_rec){slot, cur, (uint32_t)fi, ro};
}

static int patch_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  (void)arg;
  dyn_info d;
  if (skip_object(info) || !find_dyn(info, &d)) return 0;
  for (int t = 0; t < 2; t++)
    for (size_t i = 0; i < d.nrel[t]; i++) patch_rel(info, &d, &d.rel[t][i]);
  return 0;
}

/* ---- objects loaded and unloaded ----------------------------------------- */

typedef struct range_q {
  uintptr_t a;
  bool found;
} range_q;

static int holds_addr(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  range_q *q = arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && q->a >= lo && q->a < lo + ph->p_memsz) q->found = true;
  }
  return q->found;
}

/* Drops the records of slots whose object is no longer loaded. */
static void prune_locked(void) {
  size_t k = 0;
  for (size_t i = 0; i < g_nslots; i++) {
    range_q q = {(uintptr_t)g_slots[i].addr, false};
    dl_iterate_phdr(holds_addr, &q);
    if (q.found) g_slots[k++] = g_slots[i];
  }
  g_nslots = k;
}

static void *hk_dlopen(const char *file, int flags) {
  void *h = g_real_dlopen(file, flags);
  pthread_mutex_lock(&g_mu);
  if (h && g_groups) dl_iterate_phdr(patch_object, NULL);
  pthread_mutex_unlock(&g_mu);
  return h;
}

static int hk_dlclose(void *h) {
  int rv = g_real_dlclose(h);
  pthread_mutex_lock(&g_mu);
  prune_locked();
  pthread_mutex_unlock(&g_mu);
  return rv;
}

/* ---- groups -------------------------------------------------------------- */

static int add_fn(const char *name, void *hook, unsigned group) {
  for (int i = 0; i < MAX_FNS; i++) {
    if (g_fns[i].group) continue;
    g_fns[i] = (fn_ent){name, hook, group};
    return GSP_OK;
  }
  return GSP_ENOSPC;
}

static void drop_group_locked(unsigned group) {
  size_t k = 0;
  for (size_t i = 0; i < g_nslots; i++) {
    slot_rec *s = &g_slots[i];
    if (g_fns[s->fn].group != group) {
      g_slots[k++] = *s;
      continue;
    }
    range_q q = {(uintptr_t)s->addr, false};
    dl_iterate_phdr(holds_addr, &q);
    if (q.found) swap_slot(s->addr, g_fns[s->fn].hook, s->orig, s->ro);
  }
  g_nslots = k;
  for (int i = 0; i < MAX_FNS; i++)
    if (g_fns[i].group == group) g_fns[i].group = 0;
}

static int init_locked(void) {
  if (g_slots) return GSP_OK;
  void *m = mmap(NULL, MAX_SLOTS * sizeof(slot_rec), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return GSP_ENOMEM;
  g_slots = m;
  Dl_info di;
  struct link_map *lm = NULL;
  if (dladdr1((void *)init_locked, &di, (void **)&lm, RTLD_DL_LINKMAP) && lm) {
    g_self_base = lm->l_addr;
    g_self_shared = lm->l_name && lm->l_name[0];
  }
  g_real_dlopen = (void *(*)(const char *, int))dlsym(RTLD_DEFAULT, "dlopen");
  g_real_dlclose = (int (*)(void *))dlsym(RTLD_DEFAULT, "dlclose");
  return g_real_dlopen && g_real_dlclose ? GSP_OK : GSP_ESYS;
}

static int add_loader_hooks_locked(void) {
  if (g_groups) return GSP_OK;
  int rv = add_fn("dlopen", (void *)hk_dlopen, GROUP_LOADER);
  if (rv == GSP_OK) rv = add_fn("dlclose", (void *)hk_dlclose, GROUP_LOADER);
  return rv;
}

int gsp__got_patch(unsigned group, const gsp__got_fn *fns, size_t n) {
  if (group == 0 || group == GROUP_LOADER) return GSP_EINVAL;
  pthread_mutex_lock(&g_mu);
  int rv = init_locked();
  if (rv == GSP_OK && (g_groups & group)) rv = GSP_EBUSY;
  if (rv == GSP_OK) rv = add_loader_hooks_locked();
  for (size_t i = 0; rv == GSP_OK && i < n; i++) rv = add_fn(fns[i].name, fns[i].hook, group);
  if (rv == GSP_OK) {
    g_groups |= group;
    dl_iterate_phdr(patch_object, NULL);
  } else {
    drop_group_locked(group);
    if (!g_groups) drop_group_locked(GROUP_LOADER);
  }
  pthread_mutex_unlock(&g_mu);
  return rv;
}

void gsp__got_unpatch(unsigned group) {
  pthread_mutex_lock(&g_mu);
  if (g_groups & group) {
    drop_group_locked(group);
    g_groups &= ~group;
    if (!g_groups) drop_group_locked(GROUP_LOADER);
  }
  pthread_mutex_unlock(&g_mu);
}

size_t gsp__got_patched(unsigned group) {
  pthread_mutex_lock(&g_mu);
  size_t n = 0;
  for (size_t i = 0; i < g_nslots; i++) n += g_fns[g_slots[i].fn].group == group;
  pthread_mutex_unlock(&g_mu);
  return n;
}
