/*
 * fuzz_access.c: libFuzzer harness for the request facts gomemd parses
 * before routing: the Host header, Origin and Sec-Fetch-Site against a
 * method, the route classification of a path, the ?pid= / /processes/N
 * parser (http/reply.c's http_parse_pid), and /proc/PID/maps lines
 * (daemon/core/access.c, daemon/base/safefile.c).  The input is split at
 * NUL bytes into the strings.  Also checks properties: a Host accepted
 * without configured names is a loopback one, reads are never refused as
 * cross-origin, and a parsed maps line is a valid range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/safefile.h"
#include "core/access.h"
#include "http/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "HEAD", "POST", "DELETE", "PUT", "OPTIONS"};
	static const char *const names[] = {"gomem.example.org"};
	static struct safefile_map m;
	const char *s[4] = {"", "", "", ""};
	char *buf;
	size_t i, k = 0;
	const char *method;

	if (size == 0)
		return 0;
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	method = methods[(unsigned char)buf[0] % 6];
	s[0] = buf + 1;
	for (i = 1; i < size && k < 3; i++)
		if (buf[i] == '\0')
			s[++k] = buf + i + 1;

	if (access_host_ok(s[0], NULL, 0) && s[0][0] != '1' && s[0][0] != '[' &&
	    !strcasestr(s[0], "localhost"))
		abort(); /* accepted a Host that is not loopback */
	(void)access_host_ok(s[0], names, 1);
	if (access_cross_origin_refused(method, s[0], s[1][0] ? s[1] : NULL,
					s[2][0] ? s[2] : NULL) &&
	    (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0))
		abort();
	if (access_route_class(method, s[3]) == ACCESS_PUBLIC && strcmp(method, "GET") != 0 &&
	    strcmp(method, "HEAD") != 0)
		abort();
	if (safefile_parse_map(s[0], &m) == 0 && m.end <= m.start)
		abort();
	{
		int pid = -7;
		const char *p;

		if (http_parse_pid(s[3], &pid) == 0) {
			if (pid < 1 || pid > 4194304 || s[3][0] == '\0')
				abort();
			for (p = s[3]; *p; p++)
				if (*p < '0' || *p > '9')
					abort(); /* digits only */
		} else if (pid != -7) {
			abort(); /* a refusal leaves *pid alone */
		}
	}
	free(buf);
	return 0;
}
