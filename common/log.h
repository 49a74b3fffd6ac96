/* Logging to stderr with a timestamp and the program name; never pass secrets here. */
#ifndef FG_LOG_H
#define FG_LOG_H

void	fg_log_init(const char *prog);
void	fg_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fg_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fg_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fg_log_set_debug(int on);
void	fg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
