/*
 * fuzz_config.c: libFuzzer harness for gomemd's configuration file reader
 * (daemon/core/conf.c: `key = value` lines, listen addresses, numbers, paths).
 * The input is the file; it is read through a memfd so the real
 * conf_load_file() runs, then freed.  Included, not linked, to reach the
 * static reader.
 */
#include "../../daemon/core/conf.c"

#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gomemd_config c;
	char err[512], path[64];
	int fd;

	fd = memfd_create("gomemd.conf", MFD_CLOEXEC);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	conf_defaults(&c);
	if (conf_load_file(&c, path, err, sizeof err) != 0 && err[0] == '\0')
		abort(); /* a refusal must say why */
	conf_free(&c);
	close(fd);
	return 0;
}
