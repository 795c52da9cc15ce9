/*
 * expvar.h: Go-compatible JSON pieces and the /debug/vars body.
 *
 * expvar_format() writes exactly the bytes Go's expvar handler writes for a
 * program that publishes only the default variables:
 *
 *	{\n"cmdline": <json.Marshal(os.Args)>,\n"memstats": <json.Marshal(MemStats)>\n}\n
 *
 * The JSON follows Go's encoding/json as shipped by Debian 12 (Go 1.19):
 * strings escape <, >, & as \u003c \u003e \u0026, U+2028/U+2029 as
 * \u2028/\u2029, control bytes other than \n \r \t as \u00XX (lower-case hex),
 * invalid UTF-8 as \ufffd; floats use the shortest representation that reads
 * back, with an exponent only below 1e-6 or from 1e21 on.
 */
#ifndef GOMEMD_EXPVAR_H
#define GOMEMD_EXPVAR_H

#include <stddef.h>

#include "gomem_memstats.h"
#include "obuf.h"

#define EXPVAR_CONTENT_TYPE "application/json; charset=utf-8"

/* Length of the valid UTF-8 sequence at s, 0 where Go's decoder sees RuneError. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* Append json.Marshal(string) of n bytes. */
void gojson_string(struct obuf *b, const char *s, size_t n);
/* Append json.Marshal(float64); NaN and infinities (which Go refuses) as 0. */
void gojson_float(struct obuf *b, double f);
/* Append json.Marshal(runtime.MemStats): compact, Go's fields in Go's order. */
void gojson_memstats(struct obuf *b, const struct gomem_memstats *ms);
/* Append json.Marshal([]string) of a NUL-separated argv (/proc/PID/cmdline). */
void gojson_cmdline(struct obuf *b, const char *cmdline, size_t len);

/* The whole /debug/vars body; malloc'd, NUL-terminated, NULL on no memory. */
char *expvar_format(const char *cmdline, size_t cmdlen, const struct gomem_memstats *ms,
		    size_t *len);

/*
 * At most this much of a process's command line is echoed by /debug/vars
 * (whole arguments): the process chose it, and every request renders it.
 */
#define EXPVAR_MAX_CMDLINE (16u << 10)

/* Read /proc/PID/cmdline (at most EXPVAR_MAX_CMDLINE) into a malloc'd buffer; 0 or -errno. */
int expvar_read_cmdline(int pid, char **buf, size_t *len);

#endif /* GOMEMD_EXPVAR_H */
