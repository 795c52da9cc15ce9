/*
 * log.h: logging to stderr and fatal errors (log.c).
 *
 * Error convention of the daemon: impossible states and out of memory are
 * fatal (fatal/fatalx; xmalloc.h never returns NULL).  Everything else
 * returns 0 on success and -1 (or -errno where the caller needs the cause)
 * on failure, with a message in a caller's `char *err, size_t errlen` when a
 * user will read it.
 */
#ifndef GOMEMD_LOG_H
#define GOMEMD_LOG_H

void log_init(int verbose);
int log_is_verbose(void);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* GOMEMD_LOG_H */
