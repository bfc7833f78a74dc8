/*
 * test_tier_redis.c - the Redis L3 against a real redis-server that the
 * test starts on a free loopback port (no persistence) and stops: entries
 * reach Redis and are read back by a new tier, delete/TTL/clear, a damaged
 * record (written behind the tier's back) is a counted miss and is removed;
 * the server going away mid-run gives errors (naming the server), never a
 * crash, while L1 keeps serving; when it comes back the tier works again
 * without being reopened. Exits 77 (skipped) when redis-server is absent.
 */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "tier_test_util.h"

#define REDIS "/usr/bin/redis-server"

static int g_port;
static pid_t g_pid;
static char g_uri[64];

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    abort();
  close(fd);
  return ntohs(a.sin_port);
}

static bool ping(void) {
  redisContext *c = redisConnectWithTimeout("127.0.0.1", g_port, (struct timeval){0, 200000});
  bool ok = false;
  if (c && !c->err) {
    redisReply *r = redisCommand(c, "PING");
    ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
  }
  redisFree(c);
  return ok;
}

static void start_server(void) {
  char port[16];
  snprintf(port, sizeof port, "%d", g_port);
  g_pid = fork();
  if (g_pid == 0) {
    int dn = open("/dev/null", O_WRONLY);
    dup2(dn, 1);
    dup2(dn, 2);
    execl(REDIS, REDIS, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
          "--daemonize", "no", "--dir", "/tmp", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 100 && !ping(); i++) usleep(50000);
  if (!ping()) fail_msg("redis-server did not start on port %d", g_port);
}

static void stop_server(void) {
  if (g_pid <= 0) return;
  kill(g_pid, SIGKILL);
  waitpid(g_pid, NULL, 0);
  g_pid = 0;
}

static gsp_tier *make(void) {
  gsp_tier *t = NULL;
  char err[256];
  gsp_tier_config c = {.l1_max_entries = 4, .l2_max_bytes = SIZE_MAX, .l3 = g_uri};
  int rv = gsp_tier_create(&c, &t, err, sizeof err);
  if (rv != GSP_OK) fail_msg("create: %s", err);
  return t;
}

static void put_i(gsp_tier *t, unsigned i, int want) {
  char k[32], v[300];
  size_t n = make_value(v, 100 + i % 200, i, 1, 1);
  int rv = gsp_tier_put(t, k, key_of(k, sizeof k, i), v, n, NULL);
  if (rv != want) fail_msg("put %u: %s, expected %s", i, gsp_err_name(rv), gsp_err_name(want));
}

static int get_i(gsp_tier *t, unsigned i) {
  char k[32];
  void *v;
  size_t n;
  int rv = gsp_tier_get(t, k, key_of(k, sizeof k, i), &v, &n);
  if (rv == GSP_OK) {
    assert_true(value_ok(v, n, i, 1));
    gsp_free(v);
  }
  return rv;
}

static void test_basic(void **st) {
  (void)st;
  gsp_tier *t = make();
  assert_int_equal(gsp_tier_clear(t), GSP_OK);
  for (unsigned i = 0; i < 50; i++) put_i(t, i, GSP_OK);
  gsp_tier_destroy(t);
  t = make();
  for (unsigned i = 0; i < 50; i++) assert_int_equal(get_i(t, i), GSP_OK);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[GSP_TIER_L3].hits, 50);
  assert_int_equal(s.level[GSP_TIER_L3].entries, 50);
  /* bytes: key + record (32-byte header, key, raw value) per entry */
  uint64_t want = 0;
  for (unsigned i = 0; i < 50; i++) want += 2 * 12 + 32 + 100 + i % 200;
  assert_int_equal(s.level[GSP_TIER_L3].bytes, want);
  char k[32];
  assert_int_equal(gsp_tier_delete(t, k, key_of(k, sizeof k, 7)), GSP_OK);
  assert_int_equal(get_i(t, 7), GSP_ENOENT);
  gsp_tier_put_opts o = {.ttl_ms = 40};
  assert_int_equal(gsp_tier_put(t, "short", 5, "lived", 5, &o), GSP_OK);
  usleep(150000);
  void *v;
  size_t n;
  assert_int_equal(gsp_tier_get(t, "short", 5, &v, &n), GSP_ENOENT);
  uint64_t good, bad;
  assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
  assert_int_equal(good, 49);
  assert_int_equal(bad, 0);
  assert_int_equal(gsp_tier_clear(t), GSP_OK);
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[GSP_TIER_L3].entries, 0);
  gsp_tier_destroy(t);
}

static void test_damaged(void **st) {
  (void)st;
  redisContext *c = redisConnect("127.0.0.1", g_port);
  assert_non_null(c);
  freeReplyObject(redisCommand(c, "SET gsp:tier:bad %s", "not a record at all, really not"));
  gsp_tier *t = make();
  void *v;
  size_t n;
  assert_int_equal(gsp_tier_get(t, "bad", 3, &v, &n), GSP_ENOENT);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[GSP_TIER_L3].corrupt, 1);
  redisReply *r = redisCommand(c, "EXISTS gsp:tier:bad");
  assert_int_equal(r->integer, 0); /* removed */
  freeReplyObject(r);
  redisFree(c);
  gsp_tier_destroy(t);
}

static void test_outage(void **st) {
  (void)st;
  gsp_tier *t = make();
  for (unsigned i = 100; i < 120; i++) put_i(t, i, GSP_OK);
  stop_server();
  put_i(t, 200, GSP_EIO); /* not stored in L3: said so */
  assert_non_null(strstr(gsp_tier_errmsg(t), g_uri));
  assert_int_equal(get_i(t, 200), GSP_OK);  /* L1 still serves it */
  assert_int_equal(get_i(t, 100), GSP_EIO); /* only in L3: an error, not a miss */
  char k[32];
  assert_int_equal(gsp_tier_delete(t, k, key_of(k, sizeof k, 101)), GSP_EIO);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_true(s.level[GSP_TIER_L3].errors >= 3);
  start_server(); /* empty: no persistence */
  put_i(t, 300, GSP_OK);
  for (unsigned i = 301; i < 310; i++) put_i(t, i, GSP_OK); /* push 300 out of L1 */
  assert_int_equal(get_i(t, 300), GSP_OK);
  gsp_tier_stats_get(t, &s);
  assert_true(s.level[GSP_TIER_L3].hits >= 1);
  gsp_tier_destroy(t);
}

int main(void) {
  if (access(REDIS, X_OK) != 0) {
    printf("skipped: %s not installed\n", REDIS);
    return 77;
  }
  signal(SIGPIPE, SIG_IGN);
  g_port = free_port();
  snprintf(g_uri, sizeof g_uri, "redis://127.0.0.1:%d/0", g_port);
  start_server();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_damaged),
      cmocka_unit_test(test_outage),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  stop_server();
  return rc;
}
