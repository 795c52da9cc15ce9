/*
 * json.h: the one JSON writer of gomemd (json.c), used for every object it
 * serves.  Bytes follow Go's encoding/json as shipped by Debian 12 (Go
 * 1.19), so /debug/vars is byte-identical to Go's and everything else reads
 * the same in any client: strings escape <, >, & as \u003c \u003e \u0026,
 * U+2028/U+2029 as \u2028/\u2029, control bytes other than \n \r \t as
 * \u00XX (lower-case hex), invalid UTF-8 as \ufffd; floats use the shortest
 * representation that reads back, with an exponent only below 1e-6 or from
 * 1e21 on; integers are exact (no detour through doubles).
 *
 * Keys of the objects gomemd defines are Go-style PascalCase ("Pid",
 * "TimeNs", "Error"); only /debug/vars keeps expvar's "cmdline" and
 * "memstats".
 *
 *	struct obuf b; struct json j;
 *	obuf_init(&b, 256); json_init(&j, &b);
 *	json_object(&j);
 *	json_kv_u64(&j, "Pid", 42);
 *	json_key(&j, "Cmdline"); json_array(&j); json_cstr(&j, "a"); json_end(&j);
 *	json_end(&j);			-> {"Pid":42,"Cmdline":["a"]}
 *
 * The writer never fails: out of memory marks the obuf bad (obuf_take()
 * then returns NULL).  Unbalanced nesting is a bug and fatal.
 */
#ifndef GOMEMD_JSON_H
#define GOMEMD_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "gomem_memstats.h"
#include "base/obuf.h"

#define JSON_MAX_DEPTH 16

struct json {
	struct obuf *b;
	int depth;
	int after_key;			     /* a key was written, its value is next */
	char close[JSON_MAX_DEPTH];	     /* '}' or ']' per open level */
	unsigned char first[JSON_MAX_DEPTH]; /* no element at this level yet */
};

/* Go's encoding of single values, straight into an obuf. */
void gojson_string(struct obuf *b, const char *s, size_t n);
void gojson_float(struct obuf *b, double f);
void gojson_cmdline(struct obuf *b, const char *cmdline, size_t len);

void json_init(struct json *j, struct obuf *b);
void json_object(struct json *j);
void json_array(struct json *j);
void json_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_u64(struct json *j, uint64_t v);
void json_f64(struct json *j, double v);
void json_bool(struct json *j, int v);
void json_null(struct json *j);
void json_str(struct json *j, const char *s, size_t n);
void json_cstr(struct json *j, const char *s);
void json_raw(struct json *j, const char *text, size_t n);
void json_raw_open(struct json *j, const char *text, size_t n, const char *closers);
void json_kv_u64(struct json *j, const char *key, uint64_t v);
void json_kv_str(struct json *j, const char *key, const char *s);
void json_kv_bool(struct json *j, const char *key, int v);

/* MemStats from the X-macros of gomem_memstats.h (see json.c). */
void json_memstats_go(struct json *j, const struct gomem_memstats *m, int arrays);
void json_memstats_extra(struct json *j, const struct gomem_memstats *m);

#endif /* GOMEMD_JSON_H */
