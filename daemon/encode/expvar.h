/*
 * expvar.h: the /debug/vars body (expvar.c).
 *
 * expvar_format() writes exactly the bytes Go's expvar handler writes for a
 * program that publishes only the default variables:
 *
 *	{\n"cmdline": <json.Marshal(os.Args)>,\n"memstats": <json.Marshal(MemStats)>\n}\n
 *
 * with Go's encoding/json rules as json.h describes them.
 */
#ifndef GOMEMD_EXPVAR_H
#define GOMEMD_EXPVAR_H

#include <stddef.h>

#include "gomem_memstats.h"

#define EXPVAR_CONTENT_TYPE "application/json; charset=utf-8"

/*
 * The whole /debug/vars body; malloc'd, NUL-terminated, NULL on no memory.
 * ended, when not NULL, is the JSON text of a variable "ended", written
 * between cmdline and memstats (Go's handler writes variables sorted by
 * name) as a program that published it would show it.
 */
char *expvar_format(const char *cmdline, size_t cmdlen, const char *ended, size_t endedlen,
		    const struct gomem_memstats *ms, size_t *len);
/* The same with memstats already a JSON text made by our writer (Go's fields, one object). */
char *expvar_format_text(const char *cmdline, size_t cmdlen, const char *ended, size_t endedlen,
			 const char *memstats, size_t mslen, size_t *len);

#endif /* GOMEMD_EXPVAR_H */
