/*
 * expvar.c: the /debug/vars body, byte for byte what Go's expvar handler
 * writes.  See expvar.h.
 */
#include "config.h"

#include "base/obuf.h"
#include "encode/expvar.h"
#include "encode/json.h"

/* The whole /debug/vars body. */
char *expvar_format(const char *cmdline, size_t cmdlen, const struct gomem_memstats *ms,
		    size_t *len)
{
	struct obuf b;
	struct json j;

	obuf_init(&b, 8192);
	obuf_adds(&b, "{\n\"cmdline\": ");
	gojson_cmdline(&b, cmdline, cmdlen);
	obuf_adds(&b, ",\n\"memstats\": ");
	json_init(&j, &b);
	json_memstats_go(&j, ms, 1);
	json_end(&j);
	obuf_adds(&b, "\n}\n");
	return obuf_take(&b, len);
}
