int vec_grow(void);
