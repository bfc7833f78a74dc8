/* header-path macros */
#define APP_MAIN_H <app/main.h>
#define APP_CFG_H "app/cfg.h"
#define APP_VERSION "1.0"
#define APP_NAME <app name>
