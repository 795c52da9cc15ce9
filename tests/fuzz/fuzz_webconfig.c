/*
 * fuzz_webconfig.c: libFuzzer harness for the web config reader
 * (daemon/core/webconfig.c, libyaml underneath).  A parse either fails with
 * a message naming the file or gives a config whose invariants hold; a
 * password check on every user must not crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/webconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webconfig wc;
	char err[512];
	size_t i;

	if (webconfig_parse((const char *)data, size, "web.yml", "/etc/gomemd", &wc, err,
			    sizeof err) != 0) {
		if (strncmp(err, "web.yml", 7) != 0)
			abort(); /* every error names the file */
		return 0;
	}
	if ((wc.cert_file == NULL) != (wc.key_file == NULL))
		abort();
	if (wc.cert_file != NULL && wc.cert_file[0] != '/')
		abort();
	for (i = 0; i < wc.nusers; i++)
		if (strlen(wc.users[i].hash) != 60 || wc.users[i].name[0] == '\0')
			abort();
	/* one bcrypt run per input at most: cost 4..31 could take minutes */
	if (wc.nusers > 0 && strncmp(wc.users[0].hash + 4, "04$", 3) == 0)
		(void)webconfig_check_user(&wc, wc.users[0].name, "x");
	webconfig_free(&wc);
	return 0;
}
