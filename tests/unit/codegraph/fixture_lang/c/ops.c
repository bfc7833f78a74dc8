#include "api.h"

static int twice(int x) { return 2 * x; }

int use(ops_t *p, struct ops s) {
  p->run(1);
  s.run(2);
  return api_open("x", 0) + api_max(1, 2) + twice(3) + api_read(0, 0);
}
