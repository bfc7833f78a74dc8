#define APP_NEXT_H <app/next.h>
int app_cfg;
