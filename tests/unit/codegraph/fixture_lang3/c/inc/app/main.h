int app_main(void);
