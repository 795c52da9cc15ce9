/*
 * reply.c: replies and request arguments for the handlers, the one error
 * reply (JSON), and the request and status counters.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "base/obuf.h"
#include "encode/json.h"
#include "http/reply.h"

static uint64_t nrequests;			      /* atomic */
static unsigned long long status_counts[HTTP_NCODES]; /* atomic each */

/* Count one request. */
void http_count_request(void)
{
	__atomic_add_fetch(&nrequests, 1, __ATOMIC_RELAXED);
}

/* Count one response with this status. */
void http_count_status(unsigned status)
{
	if (status >= 100 && status < 100 + HTTP_NCODES)
		__atomic_fetch_add(&status_counts[status - 100], 1, __ATOMIC_RELAXED);
}

/* Responses by status since start: out[i] for status 100 + i. */
void http_status_counts(unsigned long long out[HTTP_NCODES])
{
	size_t i;

	for (i = 0; i < HTTP_NCODES; i++)
		out[i] = __atomic_load_n(&status_counts[i], __ATOMIC_RELAXED);
}

/* Whether `method` is in the comma-separated list (HEAD counts as GET). */
int http_method_allowed(const char *allow, const char *method)
{
	size_t n = strlen(method);
	const char *p;

	if (strcmp(method, "HEAD") == 0)
		method = "GET", n = 3;
	for (p = allow; (p = strstr(p, method)) != NULL; p += n)
		if ((p == allow || p[-1] == ' ' || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return 1;
	return 0;
}

/* Queue a response with a malloc'ed body (freed by MHD). */
int http_reply(struct http_req *req, unsigned status, const char *ctype, char *body, size_t len)
{
	return http_reply_hdr(req, status, ctype, body, len, NULL, NULL);
}

/* http_reply() with one more header (hname NULL: none). */
int http_reply_hdr(struct http_req *req, unsigned status, const char *ctype, char *body, size_t len,
		   const char *hname, const char *hvalue)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (hname != NULL)
		MHD_add_response_header(r, hname, hvalue);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	http_count_status(status);
	ret = MHD_queue_response(req->conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Queue a JSON response: the text in b (consumed) and a newline. */
int http_reply_json(struct http_req *req, unsigned status, struct obuf *b)
{
	size_t len;
	char *s;

	obuf_addc(b, '\n');
	s = obuf_take(b, &len);
	if (s == NULL)
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return http_reply(req, status, "application/json", s, len);
}

/*
 * The one error reply of gomemd: {"Error": msg, "Status": N}, JSON, not
 * cached.  msg may quote a client's bytes: it is escaped like any string.
 * NULL when out of memory.
 */
static struct MHD_Response *http_error_response(unsigned status, const char *msg)
{
	struct MHD_Response *r;
	struct obuf b;
	struct json j;
	size_t len;
	char *s;

	obuf_init(&b, 128);
	json_init(&j, &b);
	json_object(&j);
	json_kv_str(&j, "Error", msg);
	json_kv_u64(&j, "Status", status);
	json_end(&j);
	obuf_addc(&b, '\n');
	if ((s = obuf_take(&b, &len)) == NULL)
		return NULL;
	r = MHD_create_response_from_buffer_with_free_callback(len, s, free);
	if (r == NULL) {
		free(s);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return r;
}

/*
 * Queue the error reply on a connection, with one more header (hname NULL:
 * none); not counted (for sse.c and static.c, whose callers count).
 */
int http_queue_error(struct MHD_Connection *conn, unsigned status, const char *msg,
		     const char *hname, const char *hvalue)
{
	struct MHD_Response *r = http_error_response(status, msg);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	if (hname != NULL)
		MHD_add_response_header(r, hname, hvalue);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Queue and count an error reply with one more header. */
static int reply_error_hdr(struct http_req *req, unsigned status, const char *msg,
			   const char *hname, const char *hvalue)
{
	http_count_status(status);
	return http_queue_error(req->conn, status, msg, hname, hvalue);
}

/* Queue an error reply with a printf-formatted message. */
int http_reply_error(struct http_req *req, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return reply_error_hdr(req, status, msg, NULL, NULL);
}

/* Queue 405 with an Allow header. */
int http_reply_405(struct http_req *req, const char *allow)
{
	char msg[512], allowh[128];

	snprintf(msg, sizeof msg, "method %.32s not allowed for %.400s", req->method, req->url);
	/* HEAD is allowed wherever GET is */
	snprintf(allowh, sizeof allowh, "%s%s", allow,
		 http_method_allowed(allow, "GET") ? ", HEAD" : "");
	return reply_error_hdr(req, MHD_HTTP_METHOD_NOT_ALLOWED, msg, MHD_HTTP_HEADER_ALLOW,
			       allowh);
}

/* A query argument, or NULL. */
const char *http_arg(struct http_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

/*
 * Parse a pid: decimal digits only, 1 .. 4194304 (PID_MAX_LIMIT).  0 on
 * success, -1 if malformed.
 */
int http_parse_pid(const char *s, int *pid)
{
	unsigned long v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 7)
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 4194304)
		return -1;
	*pid = (int)v;
	return 0;
}

/*
 * The one ?pid= parser.  Returns 1 with *pid set; 0 when absent and not
 * required (*pid = 0); -1 when it replied 400 itself, with the handler's
 * return value in *ret.
 */
int http_pid_arg(struct http_req *req, int required, int *pid, int *ret)
{
	const char *s = NULL;
	size_t n = 0;
	/* "?pid" with no value is there (s NULL): malformed, not absent */
	int given = MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, "pid", 3, &s,
						  &n) == MHD_YES;

	*pid = 0;
	if (!given && !required)
		return 0;
	if (given && s == NULL)
		s = "";
	if (s == NULL) {
		*ret = http_reply_error(req, MHD_HTTP_BAD_REQUEST, "missing pid (use ?pid=N)");
		return -1;
	}
	if (http_parse_pid(s, pid) != 0) {
		*ret = http_reply_error(req, MHD_HTTP_BAD_REQUEST, "malformed pid \"%.32s\"", s);
		return -1;
	}
	return 1;
}

/* Requests answered since start. */
uint64_t http_requests(void)
{
	return __atomic_load_n(&nrequests, __ATOMIC_RELAXED);
}
