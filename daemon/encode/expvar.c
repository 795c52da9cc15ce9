/*
 * expvar.c: the /debug/vars body, byte for byte what Go's expvar handler
 * writes.  See expvar.h.
 */
#include "config.h"

#include <stdlib.h>

#include "base/obuf.h"
#include "encode/expvar.h"
#include "encode/json.h"

/* The whole /debug/vars body from texts. */
char *expvar_format_text(const char *cmdline, size_t cmdlen, const char *ended, size_t endedlen,
			 const char *memstats, size_t mslen, size_t *len)
{
	struct obuf b;

	obuf_init(&b, mslen + cmdlen + endedlen + 64);
	obuf_adds(&b, "{\n\"cmdline\": ");
	gojson_cmdline(&b, cmdline, cmdlen);
	if (ended != NULL) {
		obuf_adds(&b, ",\n\"ended\": ");
		obuf_add(&b, ended, endedlen);
	}
	obuf_adds(&b, ",\n\"memstats\": ");
	obuf_add(&b, memstats, mslen);
	obuf_adds(&b, "\n}\n");
	return obuf_take(&b, len);
}

/* The whole /debug/vars body. */
char *expvar_format(const char *cmdline, size_t cmdlen, const char *ended, size_t endedlen,
		    const struct gomem_memstats *ms, size_t *len)
{
	struct obuf b;
	struct json j;
	size_t mslen;
	char *text, *body;

	obuf_init(&b, 8192);
	json_init(&j, &b);
	json_memstats_go(&j, ms, 1);
	json_end(&j);
	text = obuf_take(&b, &mslen);
	if (text == NULL)
		return NULL;
	body = expvar_format_text(cmdline, cmdlen, ended, endedlen, text, mslen, len);
	free(text);
	return body;
}
