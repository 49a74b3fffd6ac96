/* Logging to stderr with a timestamp and the program name; never pass secrets here. */
#ifndef FG_LOG_H
#define FG_LOG_H

#include <stddef.h>

void	fg_log_init(const char *prog);
void	fg_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fg_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fg_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fg_log_set_debug(int on);
const char *fg_log_clean(char *dst, size_t dstlen, const char *src);
void	fg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
