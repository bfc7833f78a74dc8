int conf_fn(void);
