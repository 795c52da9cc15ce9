/* glibc-shim: support/temp_file.h (see check.h). */
#ifndef GLIBC_SHIM_TEMP_FILE_H
#define GLIBC_SHIM_TEMP_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A new file under TMPDIR (or /tmp); its name in *name if name is not NULL.
 * The runner removes the directory afterwards. */
static inline int create_temp_file(const char *base, char **name)
{
	const char *dir = getenv("TMPDIR");
	char *path = malloc(4096);
	int fd;

	if (path == NULL)
		exit(1);
	snprintf(path, 4096, "%s/%sXXXXXX", dir != NULL ? dir : "/tmp", base);
	fd = mkstemp(path);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	if (name != NULL)
		*name = path;
	else
		free(path);
	return fd;
}

static inline void add_temp_file(const char *name)
{
	(void)name;
}

#endif
