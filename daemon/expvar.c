/*
 * expvar.c: Go expvar /debug/vars bytes and the Go encoding/json pieces it
 * needs.  See expvar.h for the exact rules followed.
 */
#include "expvar.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char hexdig[] = "0123456789abcdef";

/*
 * utf8_seq_len: length of the valid UTF-8 sequence at s (n bytes left), or 0 if Go's
 * utf8.DecodeRune would return RuneError with size 1 there.
 */
size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < need)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

void
gojson_string(struct obuf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, start = 0, sz;
	char esc[6];

	obuf_addc(b, '"');
	while (i < n) {
		unsigned char c = s[i];

		if (c < 0x80) {
			if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
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
		if (sz == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
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

void
gojson_float(struct obuf *b, double f)
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

/* The X-macro callbacks that write one "Name":value pair each. */
#define EV_KEY_(b, n) obuf_adds(b, first ? "\"" #n "\":" : ",\"" #n "\":"), first = 0
#define EV_U64_(n, ...)                                                                            \
	EV_KEY_(b, n);                                                                             \
	obuf_u64(b, ms->n);
#define EV_U64A_(n)                                                                                \
	EV_KEY_(b, n);                                                                             \
	obuf_addc(b, '[');                                                                         \
	for (i = 0; i < GOMEM_NUM_PAUSE; i++) {                                                    \
		if (i > 0)                                                                         \
			obuf_addc(b, ',');                                                         \
		obuf_u64(b, ms->n[i]);                                                             \
	}                                                                                          \
	obuf_addc(b, ']');
#define EV_U32_(n) EV_U64_(n)
#define EV_F64_(n, ...)                                                                            \
	EV_KEY_(b, n);                                                                             \
	gojson_float(b, ms->n);
#define EV_BOOL_(n)                                                                                \
	EV_KEY_(b, n);                                                                             \
	obuf_adds(b, ms->n ? "true" : "false");
#define EV_BYSZ_(n)                                                                                \
	EV_KEY_(b, n);                                                                             \
	obuf_addc(b, '[');                                                                         \
	for (i = 0; i < GOMEM_NUM_BYSIZE; i++) {                                                   \
		obuf_adds(b, i > 0 ? ",{\"Size\":" : "{\"Size\":");                                \
		obuf_u64(b, ms->n[i].Size);                                                        \
		obuf_adds(b, ",\"Mallocs\":");                                                     \
		obuf_u64(b, ms->n[i].Mallocs);                                                     \
		obuf_adds(b, ",\"Frees\":");                                                       \
		obuf_u64(b, ms->n[i].Frees);                                                       \
		obuf_addc(b, '}');                                                                 \
	}                                                                                          \
	obuf_addc(b, ']');

void
gojson_memstats(struct obuf *b, const struct gomem_memstats *ms)
{
	int first = 1, i;

	obuf_addc(b, '{');
	GOMEM_MEMSTATS_GO_FIELDS(EV_U64_, EV_U64A_, EV_U32_, EV_F64_, EV_BOOL_, EV_BYSZ_)
	obuf_addc(b, '}');
	(void)first;
}

void
gojson_cmdline(struct obuf *b, const char *cmdline, size_t len)
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

char *
expvar_format(const char *cmdline, size_t cmdlen, const struct gomem_memstats *ms, size_t *len)
{
	struct obuf b;

	obuf_init(&b, 8192);
	obuf_adds(&b, "{\n\"cmdline\": ");
	gojson_cmdline(&b, cmdline, cmdlen);
	obuf_adds(&b, ",\n\"memstats\": ");
	gojson_memstats(&b, ms);
	obuf_adds(&b, "\n}\n");
	return obuf_take(&b, len);
}

int
expvar_read_cmdline(int pid, char **buf, size_t *len)
{
	char path[64];
	struct obuf b;
	char chunk[4096];
	size_t got = 0;
	ssize_t n;
	int fd, err, truncated = 0;

	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	obuf_init(&b, 256);
	for (;;) {
		n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (got + (size_t)n > EXPVAR_MAX_CMDLINE) {
			n = (ssize_t)(EXPVAR_MAX_CMDLINE - got);
			obuf_add(&b, chunk, (size_t)n);
			got += (size_t)n;
			truncated = 1;
			break;
		}
		obuf_add(&b, chunk, (size_t)n);
		got += (size_t)n;
	}
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err != 0) {
		obuf_free(&b);
		return err;
	}
	*buf = obuf_take(&b, len);
	if (*buf == NULL)
		return -ENOMEM;
	if (truncated) { /* whole arguments only: up to the last NUL */
		while (*len > 0 && (*buf)[*len - 1] != '\0')
			(*len)--;
	}
	return 0;
}
