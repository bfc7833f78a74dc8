int c_fn(void);
