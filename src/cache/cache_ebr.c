/*
 * cache_ebr.c - epoch-based reclamation (EBR) for the cache's lock-free
 * read path, one domain for the whole process.
 *
 * Data layout. A global epoch G (its own cache line) and GSP__EBR_SLOTS
 * reader slots, one cache line each, statically allocated. A thread claims
 * a slot the first time it reads lock-free (under a mutex) and gives it back
 * when it exits (a pthread key destructor). `high` is one past the highest
 * slot ever claimed, so a scan reads only slots that can be in use.
 *
 * Reader. enter: load G, store G << 1 | 1 into its own slot; exit: store 0.
 * Two plain stores to a line no other thread writes: no lock-prefixed
 * instruction on the read path. The store must be visible before the
 * reader's first load of the table; instead of a fence on every read, the
 * reclaimer runs membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) before it
 * scans the slots (the asymmetric fence of userspace RCU's "memb" flavour):
 * every thread of the process then executes a full barrier, so a scan that
 * misses a reader's announcement is followed by that reader's loads, which
 * see everything unlinked before. Where membarrier is unavailable readers
 * fence themselves (gsp__ebr_fenced).
 *
 * Reclaimer. G moves from g to g + 1 only when no reader is inside a
 * section entered at an epoch below g. Memory unlinked under a shard lock
 * gets a tag t and is freed once G >= t + 2. With readers fencing
 * themselves, t = G read after a full fence (the unlink is visible before
 * t is read): a reader that could still reach the memory read G <= t
 * before the unlink was visible, and blocks the step from t + 1 to t + 2
 * for as long as it stays in its section. With membarrier the retiring
 * thread does not fence (one full fence per put cost a fifth of a
 * miss+put): it reads G = r and tags t = r + 1. Let M be the first
 * advance whose membarrier() ran after the unlink store executed; that
 * barrier drains the store, so readers that read the value M's CAS writes,
 * or a later one, cannot reach the memory: the ones that can entered at an
 * epoch <= g, where g -> g + 1 is M's step. The barrier of the step to g
 * ran after the CAS to g - 1 and before the unlink, hence before the load
 * of G that follows it in program order: r >= g - 1, so t >= g, and the
 * step from t + 1 to t + 2 >= g + 2 waits for every such reader.
 *
 * Invariants: G never decreases; a slot's state is 0 whenever its thread
 * is outside a section; a slot is used by at most one thread at a time.
 */
#include "cache_ebr.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

_Atomic uint64_t gsp__ebr_epoch __attribute__((aligned(64))) = 2;
_Atomic uint64_t gsp__ebr_tsan_fence __attribute__((aligned(64))); /* cache_ebr.h */
bool gsp__ebr_fenced;
__thread gsp__ebr_slot *gsp__ebr_self __attribute__((tls_model("initial-exec")));

static gsp__ebr_slot g_slots[GSP__EBR_SLOTS];
static atomic_uint g_high;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static bool g_key_ok;

static long membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }

static void slot_release(void *p) {
  gsp__ebr_slot *s = p;
  atomic_store_explicit(&s->state, 0, memory_order_release);
  atomic_store_explicit(&s->used, false, memory_order_release);
}

static void ebr_init(void) {
  long cmds = membarrier(MEMBARRIER_CMD_QUERY);
  gsp__ebr_fenced = !(cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                      membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0);
  g_key_ok = pthread_key_create(&g_key, slot_release) == 0;
  for (unsigned i = 0; i < GSP__EBR_SLOTS; i++) g_slots[i].id = i;
}

gsp__ebr_slot *gsp__ebr_register(void) {
  pthread_once(&g_once, ebr_init);
  if (!g_key_ok) return NULL;
  gsp__ebr_slot *got = NULL;
  pthread_mutex_lock(&g_mu);
  for (unsigned i = 0; i < GSP__EBR_SLOTS && got == NULL; i++) {
    if (atomic_load_explicit(&g_slots[i].used, memory_order_acquire)) continue;
    got = &g_slots[i];
    atomic_store_explicit(&got->used, true, memory_order_relaxed);
    if (i + 1 > atomic_load_explicit(&g_high, memory_order_relaxed))
      atomic_store_explicit(&g_high, i + 1, memory_order_release);
  }
  pthread_mutex_unlock(&g_mu);
  if (got != NULL && pthread_setspecific(g_key, got) != 0) {
    slot_release(got);
    got = NULL;
  }
  gsp__ebr_self = got;
  return got;
}

uint64_t gsp__ebr_tag(void) {
  pthread_once(&g_once, ebr_init); /* a writer may retire before any reader registers */
  if (gsp__ebr_fenced) {
    gsp__ebr_full_fence();
    return atomic_load_explicit(&gsp__ebr_epoch, memory_order_acquire);
  }
  /* No fence: the unlink may still sit in this thread's store buffer when
   * G is read, so tag one epoch later (see "Reclaimer" above). */
  return atomic_load_explicit(&gsp__ebr_epoch, memory_order_acquire) + 1;
}

bool gsp__ebr_try_advance(void) {
  pthread_once(&g_once, ebr_init);
  uint64_t g = atomic_load_explicit(&gsp__ebr_epoch, memory_order_acquire);
  if (gsp__ebr_fenced || membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) gsp__ebr_full_fence();
  unsigned high = atomic_load_explicit(&g_high, memory_order_acquire);
  for (unsigned i = 0; i < high; i++) {
    uint64_t st = atomic_load_explicit(&g_slots[i].state, memory_order_acquire);
    if ((st & 1u) && (st >> 1) < g) return false;
  }
  atomic_compare_exchange_strong_explicit(&gsp__ebr_epoch, &g, g + 1, memory_order_acq_rel,
                                          memory_order_acquire);
  return true;
}

bool gsp__ebr_wait(uint64_t tag, unsigned tries) {
  for (unsigned i = 0; !gsp__ebr_safe(tag); i++) {
    if (i == tries) return false;
    if (!gsp__ebr_try_advance()) sched_yield();
  }
  return true;
}
