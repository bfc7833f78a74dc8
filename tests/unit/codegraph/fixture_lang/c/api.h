#ifndef API_H
#define API_H

#define API_EXPORT
#define API_PURE __attribute__ ((__pure__))

__BEGIN_DECLS

extern int api_open (const char *__path, int __flags) __THROW __nonnull ((1)) __wur;
extern int api_close (int __fd) __THROW;
API_EXPORT int api_count (void) API_PURE;
extern int __REDIRECT (api_read, (int __fd, void *__buf), api_read64) __wur;

__extern_inline int
__NTH (api_max (int __a, int __b))
{
  return __a > __b ? __a : __b;
}

typedef struct ops {
  int (*run) (int);
} ops_t;

__END_DECLS

#endif
