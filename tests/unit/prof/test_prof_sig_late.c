/*
 * test_prof_sig_late.c - the perf signal source's handler step
 * (gsp__cap_take with a perf page) on synthetic pages and signal
 * contexts, so a late signal is made on purpose instead of waited for:
 *
 * - a signal delivered after the thread moved on (its context's ip is
 *   not the sample's): the sample is where the kernel took it, the
 *   context is not used, and it is counted late;
 * - the same ip reached through another caller: the copy's frame-pointer
 *   chain disagrees with the kernel's, so the kernel's chain is kept;
 * - several samples in the page by the time the handler runs: one sample
 *   of weight 1 each, in order; a later signal finding the page empty
 *   adds none;
 * - a record that wraps around the end of the buffer, and the kernel's
 *   count of lost samples (PERF_RECORD_LOST), returned as lost;
 * - a context that agrees with the sample: its stack is used (a sample
 *   without a kernel chain gets the chain found in the copy);
 * - a timer's signal (no page) keeps its weight;
 * - a stale signal naming another thread's page (its records' tid is not
 *   the caller's) leaves it; the drain without a context takes it.
 *
 * The unwinder is not loaded here, so a sample's stack is the chain the
 * kernel gave, or the copy's frame-pointer chain where it gave none.
 */
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <cmocka.h>

#include "sampler_int.h"

#define PAGE 4096u
#define DATA 4096u

enum { A = 0x401000, B = 0x402000, C = 0x403000, R1 = 0x404010, R2 = 0x405020 };
enum { X1 = 0x406030, X2 = 0x407040 };

static _Alignas(4096) unsigned char g_page[PAGE + DATA];
static _Alignas(16) uint64_t g_stack[1024]; /* 8 KiB: the 4 KiB window lies inside */

static struct perf_event_mmap_page *page_reset(uint64_t at) {
  memset(g_page, 0, sizeof g_page);
  struct perf_event_mmap_page *pg = (struct perf_event_mmap_page *)g_page;
  pg->data_offset = PAGE;
  pg->data_size = DATA;
  pg->data_head = pg->data_tail = at;
  return pg;
}

static void put_u64(struct perf_event_mmap_page *pg, uint64_t v) {
  for (unsigned i = 0; i < 8; i++)
    g_page[PAGE + ((pg->data_head + i) & (DATA - 1))] = (unsigned char)(v >> (8 * i));
  pg->data_head += 8;
}

/* A PERF_RECORD_SAMPLE (IP | TID | CALLCHAIN) of ip with the user chain
 * chain[0..n) (chain[0] the ip), after the kernel's PERF_CONTEXT_USER. */
static uint64_t g_tid_word; /* pid | tid << 32 of the records put_sample writes */

static void put_sample(struct perf_event_mmap_page *pg, uint64_t ip, const uint64_t *chain,
                       unsigned n) {
  uint64_t size = 32 + 8 * (n ? n + 1 : 0);
  put_u64(pg, PERF_RECORD_SAMPLE | (size << 48));
  put_u64(pg, ip);
  put_u64(pg, g_tid_word);
  put_u64(pg, n ? n + 1 : 0);
  if (n) put_u64(pg, (uint64_t)PERF_CONTEXT_USER);
  for (unsigned i = 0; i < n; i++) put_u64(pg, chain[i]);
}

static void put_lost(struct perf_event_mmap_page *pg, uint64_t lost) {
  put_u64(pg, PERF_RECORD_LOST | ((uint64_t)24 << 48));
  put_u64(pg, 7);
  put_u64(pg, lost);
}

/* A signal context at ip whose stack holds the frame records of a chain
 * ip, r1, r2 (bp pointing at the first record). */
static ucontext_t context_at(uint64_t ip, uint64_t r1, uint64_t r2) {
  memset(g_stack, 0, sizeof g_stack);
  g_stack[4] = (uint64_t)(uintptr_t)&g_stack[8];
  g_stack[5] = r1;
  g_stack[8] = (uint64_t)(uintptr_t)&g_stack[12];
  g_stack[9] = r2;
  g_stack[13] = 0; /* the outermost frame */
  ucontext_t uc;
  memset(&uc, 0, sizeof uc);
  uc.uc_mcontext.gregs[REG_RIP] = (greg_t)ip;
  uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)&g_stack[0];
  uc.uc_mcontext.gregs[REG_RBP] = (greg_t)(uintptr_t)&g_stack[4];
  return uc;
}

static int setup(void **state) {
  (void)state;
  g_tid_word = (uint64_t)(uint32_t)getpid() | (uint64_t)(uint32_t)syscall(SYS_gettid) << 32;
  return gsp__cap_open(99) == GSP_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  gsp__cap_close();
  return 0;
}

static void expect_sample(uint32_t weight, const uint64_t *pcs, uint32_t n) {
  gsp__sample s;
  assert_true(gsp__cap_pop(&s, 64));
  assert_int_equal(s.weight, weight);
  assert_int_equal(s.depth, n);
  for (uint32_t i = 0; i < n; i++) assert_int_equal(s.pcs[i], pcs[i]);
}

static void expect_none(void) {
  gsp__sample s;
  assert_false(gsp__cap_pop(&s, 64));
}

static void test_late_signal_keeps_the_kernels_sample(void **state) {
  (void)state;
  struct perf_event_mmap_page *pg = page_reset(0);
  const uint64_t k[] = {A, R1, R2};
  put_sample(pg, A, k, 3);
  ucontext_t uc = context_at(C, X1, X2); /* where the thread is at delivery */
  uint64_t late = gsp__cap_late();
  assert_int_equal(gsp__cap_take(1, &uc, pg), 0);
  assert_int_equal(pg->data_tail, pg->data_head);
  expect_sample(1, k, 3);
  expect_none();
  assert_int_equal(gsp__cap_late(), late + 1);
}

static void test_same_ip_other_caller(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__)
  skip(); /* no stack copy under TSan: nothing to disagree */
#endif
  struct perf_event_mmap_page *pg = page_reset(0);
  const uint64_t k[] = {C, R1, R2};
  put_sample(pg, C, k, 3);
  ucontext_t uc = context_at(C, X1, X2);
  uint64_t late = gsp__cap_late();
  assert_int_equal(gsp__cap_take(1, &uc, pg), 0);
  expect_sample(1, k, 3);
  assert_int_equal(gsp__cap_late(), late + 1);
}

static void test_batched_samples_weigh_one_each(void **state) {
  (void)state;
  struct perf_event_mmap_page *pg = page_reset(0);
  const uint64_t ka[] = {A, R1, R2}, kb[] = {B, R1, R2}, kc[] = {C, R1, R2};
  put_sample(pg, A, ka, 3);
  put_sample(pg, B, kb, 3);
  put_sample(pg, C, kc, 3);
  ucontext_t uc = context_at(C, R1, R2); /* the last sample's context */
  uint64_t late = gsp__cap_late();
  assert_int_equal(gsp__cap_take(1, &uc, pg), 0);
  expect_sample(1, ka, 3);
  expect_sample(1, kb, 3);
  expect_sample(1, kc, 3);
  expect_none();
  assert_int_equal(gsp__cap_late(), late);
  /* the signals of B and C, delivered next, find the page empty */
  assert_int_equal(gsp__cap_take(1, &uc, pg), 0);
  assert_int_equal(gsp__cap_take(1, &uc, pg), 0);
  expect_none();
}

static void test_wrapped_record_and_lost(void **state) {
  (void)state;
  struct perf_event_mmap_page *pg = page_reset(DATA - 20); /* the record wraps */
  const uint64_t k[] = {B, R1, R2};
  put_sample(pg, B, k, 3);
  put_lost(pg, 5);
  ucontext_t uc = context_at(C, X1, X2);
  assert_int_equal(gsp__cap_take(1, &uc, pg), 5);
  assert_int_equal(pg->data_tail, pg->data_head);
  expect_sample(1, k, 3);
  expect_none();
}

static void test_agreeing_context_is_used(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__)
  skip(); /* no stack copy under TSan: a sample is the pc */
#endif
  struct perf_event_mmap_page *pg = page_reset(0);
  put_sample(pg, C, NULL, 0); /* no chain from the kernel */
  ucontext_t uc = context_at(C, R1, R2);
  uint64_t late = gsp__cap_late();
  assert_int_equal(gsp__cap_take(1, &uc, pg), 0);
  const uint64_t want[] = {C, R1, R2};
  expect_sample(1, want, 3);
  assert_int_equal(gsp__cap_late(), late);
}

static void test_timer_signal_keeps_its_weight(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__)
  skip(); /* no stack copy under TSan: a sample is the pc */
#endif
  ucontext_t uc = context_at(C, R1, R2);
  assert_int_equal(gsp__cap_take(3, &uc, NULL), 0);
  const uint64_t want[] = {C, R1, R2};
  expect_sample(3, want, 3);
  expect_none();
}

static void test_full_queue_counts_each_record(void **state) {
  (void)state;
  uint32_t slots = gsp__cap_slots();
  ucontext_t uc = context_at(C, R1, R2);
  for (uint32_t i = 0; i < slots; i++) assert_int_equal(gsp__cap_take(1, &uc, NULL), 0);
  struct perf_event_mmap_page *pg = page_reset(0);
  const uint64_t k[] = {A, R1, R2};
  put_sample(pg, A, k, 3);
  put_sample(pg, A, k, 3);
  assert_int_equal(gsp__cap_take(1, &uc, pg), 2);
  assert_int_equal(pg->data_tail, pg->data_head);
  gsp__sample s;
  for (uint32_t i = 0; i < slots; i++) assert_true(gsp__cap_pop(&s, 64));
  expect_none();
}

/* A queued signal that outlived its event, naming an fd number that now
 * belongs to another thread's event: its records are left for that
 * thread; the drain when an event closes (no context) takes them. */
static void test_stale_signal_leaves_other_threads_page(void **state) {
  (void)state;
  struct perf_event_mmap_page *pg = page_reset(0);
  const uint64_t k[] = {A, R1, R2};
  uint64_t mine = g_tid_word;
  g_tid_word = (uint64_t)(uint32_t)getpid() | (uint64_t)((uint32_t)syscall(SYS_gettid) + 1) << 32;
  put_sample(pg, A, k, 3);
  g_tid_word = mine;
  ucontext_t uc = context_at(A, R1, R2);
  assert_int_equal(gsp__cap_take(1, &uc, pg), 0);
  assert_int_equal(pg->data_tail, 0); /* not taken */
  expect_none();
  assert_int_equal(gsp__cap_take(1, NULL, pg), 0);
  assert_int_equal(pg->data_tail, pg->data_head);
  expect_sample(1, k, 3);
  expect_none();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_late_signal_keeps_the_kernels_sample, setup, teardown),
      cmocka_unit_test_setup_teardown(test_same_ip_other_caller, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batched_samples_weigh_one_each, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrapped_record_and_lost, setup, teardown),
      cmocka_unit_test_setup_teardown(test_agreeing_context_is_used, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer_signal_keeps_its_weight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_full_queue_counts_each_record, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_signal_leaves_other_threads_page, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
