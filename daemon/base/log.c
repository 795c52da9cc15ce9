/*
 * log.c: logging to stderr (journald adds time stamps) and fatal errors.
 * Callable from any thread; the verbosity is atomic (SIGHUP changes it while
 * HTTP threads log).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static int log_verbose;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Set the verbosity: 0 warnings and info, 1 adds debug. */
void log_init(int verbose)
{
	__atomic_store_n(&log_verbose, verbose, __ATOMIC_RELAXED);
}

/* Whether debug messages are written. */
int log_is_verbose(void)
{
	return __atomic_load_n(&log_verbose, __ATOMIC_RELAXED) != 0;
}

/* Write one line with an optional errno text. */
static void log_vwrite(const char *level, int err, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof msg, fmt, ap);
	pthread_mutex_lock(&log_lock);
	if (err)
		fprintf(stderr, "gomemd: %s%s: %s\n", level, msg, strerror(err));
	else
		fprintf(stderr, "gomemd: %s%s\n", level, msg);
	pthread_mutex_unlock(&log_lock);
}

/* Log a warning with errno. */
void log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("warning: ", err, fmt, ap);
	va_end(ap);
	errno = err;
}

/* Log a warning. */
void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("warning: ", 0, fmt, ap);
	va_end(ap);
}

/* Log an informational message. */
void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("", 0, fmt, ap);
	va_end(ap);
}

/* Log a debug message when verbose. */
void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_is_verbose())
		return;
	va_start(ap, fmt);
	log_vwrite("debug: ", 0, fmt, ap);
	va_end(ap);
}

/* Log an error with errno and exit. */
void fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("", err, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error and exit. */
void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
