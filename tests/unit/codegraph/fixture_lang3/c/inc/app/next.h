int app_next(void);
