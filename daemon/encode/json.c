/*
 * json.c: the one JSON writer of gomemd (see json.h): Go's encoding/json
 * bytes for strings and floats, exact integers, and a small state machine
 * that places commas and colons, streaming into an obuf.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/utf8.h"
#include "encode/json.h"

static const char hexdig[] = "0123456789abcdef";

/* Append json.Marshal(string) of n bytes (Go's escaping; see json.h). */
void gojson_string(struct obuf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, start = 0, sz;
	char esc[6];

	obuf_addc(b, '"');
	while (i < n) {
		unsigned char c = s[i];

		if (c < 0x80) {
			if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' &&
			    c != '&') {
				i++;
				continue;
			}
			obuf_add(b, s + start, i - start);
			switch (c) {
			case '"':
			case '\\':
				esc[0] = '\\';
				esc[1] = (char)c;
				obuf_add(b, esc, 2);
				break;
			case '\n':
				obuf_add(b, "\\n", 2);
				break;
			case '\r':
				obuf_add(b, "\\r", 2);
				break;
			case '\t':
				obuf_add(b, "\\t", 2);
				break;
			default:
				memcpy(esc, "\\u00", 4);
				esc[4] = hexdig[c >> 4];
				esc[5] = hexdig[c & 0xf];
				obuf_add(b, esc, 6);
				break;
			}
			start = ++i;
			continue;
		}
		sz = utf8_seq_len(s + i, n - i);
		if (sz == 0) {
			obuf_add(b, s + start, i - start);
			obuf_add(b, "\\ufffd", 6);
			start = ++i;
			continue;
		}
		/* U+2028 and U+2029 are E2 80 A8 and E2 80 A9. */
		if (sz == 3 && c == 0xe2 && s[i + 1] == 0x80 &&
		    (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
			obuf_add(b, s + start, i - start);
			obuf_add(b, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			i += 3;
			start = i;
			continue;
		}
		i += sz;
	}
	obuf_add(b, s + start, n - start);
	obuf_addc(b, '"');
}

/* Append json.Marshal(float64); NaN and infinities (which Go refuses) as 0. */
void gojson_float(struct obuf *b, double f)
{
	char tmp[40], digits[24], out[400];
	int prec, exp10, nd = 0, k;
	double a;
	char *p, *o = out;

	if (isnan(f) || isinf(f)) {
		obuf_addc(b, '0');
		return;
	}
	if (f == 0) {
		obuf_adds(b, signbit(f) ? "-0" : "0");
		return;
	}
	/* Shortest digit string that reads back as f (like strconv 'e', -1). */
	for (prec = 0; prec < 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*e", prec, f);
		if (strtod(tmp, NULL) == f)
			break;
	}
	p = tmp;
	if (*p == '-') {
		*o++ = '-';
		p++;
	}
	for (; *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	exp10 = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;

	a = fabs(f);
	if (a < 1e-6 || a >= 1e21) {
		/* d.ddde±dd, then encoding/json turns e-0d into e-d. */
		*o++ = digits[0];
		if (nd > 1) {
			*o++ = '.';
			memcpy(o, digits + 1, (size_t)nd - 1);
			o += nd - 1;
		}
		o += sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
		if (exp10 < 0 && exp10 > -10) {
			o[-2] = o[-1];
			o--;
		}
	} else if (exp10 >= 0) {
		for (k = 0; k <= exp10; k++)
			*o++ = k < nd ? digits[k] : '0';
		if (nd > exp10 + 1) {
			*o++ = '.';
			for (; k < nd; k++)
				*o++ = digits[k];
		}
	} else {
		*o++ = '0';
		*o++ = '.';
		for (k = 0; k < -exp10 - 1; k++)
			*o++ = '0';
		memcpy(o, digits, (size_t)nd);
		o += nd;
	}
	obuf_add(b, out, (size_t)(o - out));
}

/* Append json.Marshal([]string) of a NUL-separated argv (/proc/PID/cmdline). */
void gojson_cmdline(struct obuf *b, const char *cmdline, size_t len)
{
	size_t start = 0, i;
	int first = 1;

	obuf_addc(b, '[');
	for (i = 0; i <= len; i++) {
		/* An argument ends at each NUL, and the last one at the end. */
		if (i < len && cmdline[i] != '\0')
			continue;
		if (i == len && start == len)
			break;
		if (!first)
			obuf_addc(b, ',');
		first = 0;
		gojson_string(b, cmdline + start, i - start);
		start = i + 1;
	}
	obuf_addc(b, ']');
}

/* ---- the writer ---- */

/* Start writing into b. */
void json_init(struct json *j, struct obuf *b)
{
	memset(j, 0, sizeof *j);
	j->b = b;
}

/* Put the comma a new element needs, unless it is the value of a key. */
static void json_sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->depth > 0) {
		if (!j->first[j->depth - 1])
			obuf_addc(j->b, ',');
		j->first[j->depth - 1] = 0;
	}
}

/* Open an object or array: c is '{' or '['. */
static void json_open(struct json *j, char c)
{
	json_sep(j);
	if (j->depth == JSON_MAX_DEPTH)
		fatalx("json: nesting deeper than %d", JSON_MAX_DEPTH); /* a bug of ours */
	obuf_addc(j->b, c);
	j->close[j->depth] = c == '{' ? '}' : ']';
	j->first[j->depth] = 1;
	j->depth++;
}

/* Open an object. */
void json_object(struct json *j)
{
	json_open(j, '{');
}

/* Open an array. */
void json_array(struct json *j)
{
	json_open(j, '[');
}

/* Close the innermost object or array. */
void json_end(struct json *j)
{
	if (j->depth == 0)
		fatalx("json: end without open"); /* a bug of ours */
	j->depth--;
	obuf_addc(j->b, j->close[j->depth]);
}

/* A member's key; its value comes next. */
void json_key(struct json *j, const char *key)
{
	json_sep(j);
	gojson_string(j->b, key, strlen(key));
	obuf_addc(j->b, ':');
	j->after_key = 1;
}

/* An exact unsigned integer. */
void json_u64(struct json *j, uint64_t v)
{
	json_sep(j);
	obuf_u64(j->b, v);
}

/* A float as Go writes it. */
void json_f64(struct json *j, double v)
{
	json_sep(j);
	gojson_float(j->b, v);
}

/* true or false. */
void json_bool(struct json *j, int v)
{
	json_sep(j);
	obuf_adds(j->b, v ? "true" : "false");
}

/* null. */
void json_null(struct json *j)
{
	json_sep(j);
	obuf_adds(j->b, "null");
}

/* A string of n bytes (stops at a NUL); invalid UTF-8 becomes U+FFFD. */
void json_str(struct json *j, const char *s, size_t n)
{
	json_sep(j);
	gojson_string(j->b, s, strnlen(s, n));
}

/* A C string. */
void json_cstr(struct json *j, const char *s)
{
	json_str(j, s, strlen(s));
}

/* A value already encoded as JSON by this writer. */
void json_raw(struct json *j, const char *text, size_t n)
{
	json_sep(j);
	obuf_add(j->b, text, n);
}

/*
 * The start of a value this writer produced earlier (a cached prefix): the
 * text opens strlen(closers) objects or arrays, outermost first, each
 * closed later by json_end() with the matching char of closers, and each
 * already holding at least one element.
 */
void json_raw_open(struct json *j, const char *text, size_t n, const char *closers)
{
	json_sep(j);
	obuf_add(j->b, text, n);
	for (; *closers != '\0'; closers++) {
		if (j->depth == JSON_MAX_DEPTH)
			fatalx("json: nesting deeper than %d", JSON_MAX_DEPTH); /* a bug of ours */
		j->close[j->depth] = *closers;
		j->first[j->depth] = 0;
		j->depth++;
	}
}

/* "key": unsigned integer. */
void json_kv_u64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_u64(j, v);
}

/* "key": C string. */
void json_kv_str(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_cstr(j, s);
}

/* "key": boolean. */
void json_kv_bool(struct json *j, const char *key, int v)
{
	json_key(j, key);
	json_bool(j, v);
}

/* ---- MemStats ---- */

/* The X-macro callbacks: one member per field, from gomem_memstats.h. */
#define JS_U64_(n, ...) json_kv_u64(j, #n, m->n);
#define JS_U64A_(n)                                                                                \
	if (arrays) {                                                                              \
		json_key(j, #n);                                                                   \
		json_array(j);                                                                     \
		for (i = 0; i < GOMEM_NUM_PAUSE; i++)                                              \
			json_u64(j, m->n[i]);                                                      \
		json_end(j);                                                                       \
	}
#define JS_U32_(n) json_kv_u64(j, #n, m->n);
#define JS_F64_(n, ...)                                                                            \
	json_key(j, #n);                                                                           \
	json_f64(j, m->n);
#define JS_BOOL_(n) json_kv_bool(j, #n, m->n != 0);
#define JS_BYSZ_(n)                                                                                \
	if (arrays) {                                                                              \
		json_key(j, #n);                                                                   \
		json_array(j);                                                                     \
		for (i = 0; i < GOMEM_NUM_BYSIZE; i++) {                                           \
			json_object(j);                                                            \
			json_kv_u64(j, "Size", m->n[i].Size);                                      \
			json_kv_u64(j, "Mallocs", m->n[i].Mallocs);                                \
			json_kv_u64(j, "Frees", m->n[i].Frees);                                    \
			json_end(j);                                                               \
		}                                                                                  \
		json_end(j);                                                                       \
	}

/*
 * Open a MemStats object and write Go's fields, in Go's order and Go's
 * bytes (json.Marshal(runtime.MemStats) when arrays is set; without
 * PauseNs, PauseEnd and BySize otherwise).  The object stays open.
 */
void json_memstats_go(struct json *j, const struct gomem_memstats *m, int arrays)
{
	int i;

	json_object(j);
	GOMEM_MEMSTATS_GO_FIELDS(JS_U64_, JS_U64A_, JS_U32_, JS_F64_, JS_BOOL_, JS_BYSZ_)
	(void)i;
}

/*
 * Write our own fields of the struct (the "Extra" members) into the open
 * object: the X-macro's additions, then the struct's size and version.
 */
void json_memstats_extra(struct json *j, const struct gomem_memstats *m)
{
	GOMEM_MEMSTATS_EXTRA_FIELDS(JS_U64_)
	json_kv_u64(j, "StructSize", m->size);
	json_kv_u64(j, "StructVersion", m->version);
}

#undef JS_U64_
#undef JS_U64A_
#undef JS_U32_
#undef JS_F64_
#undef JS_BOOL_
#undef JS_BYSZ_
