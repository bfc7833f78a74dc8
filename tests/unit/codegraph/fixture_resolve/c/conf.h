int conf_other(void);
