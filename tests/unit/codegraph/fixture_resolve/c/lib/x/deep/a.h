#include "x/b.h"
#include <x/deep/c.h>
#include "conf.h"
#include "nowhere.h"
