/*
 * client.c: what the commands of `gomem` share: the server address, one
 * HTTP request to gomemd (over its unix socket or TCP), JSON replies, and
 * formatting.  See cli.h.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"

#define MAX_RESPONSE (64u << 20)

const char *server;

/* Print an error and exit 1. */
void die(const char *fmt, ...)
{
	va_list ap;

	fputs("gomem: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * One HTTP request to the server; returns the body (malloc'ed) and sets
 * *status.  Dies if the server cannot be reached.
 */
char *http_request(const char *method, const char *path, int *status, size_t *bodylen)
{
	struct addrinfo hints = {0}, *ai, *a;
	char host[256], *colon, *buf = NULL, *body, req[512];
	size_t len = 0, cap = 0;
	struct timeval tv = {10, 0};
	int fd = -1, rc;
	ssize_t n;

	if (strchr(server, '/') != NULL) { /* gomemd's unix socket */
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		if (strlen(server) >= sizeof sa.sun_path)
			die("socket path too long: %s", server);
		memcpy(sa.sun_path, server, strlen(server) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
			die("cannot reach gomemd at %s: %s (is it running? see gomemd(8))", server,
			    strerror(errno));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		goto connected;
	}
	snprintf(host, sizeof host, "%s", server);
	colon = strrchr(host, ':');
	if (colon == NULL)
		die("bad server address %s (want ADDR:PORT or a socket path)", server);
	*colon = '\0';
	if (host[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0)
		die("%s: %s", server, gai_strerror(rc));
	for (a = ai; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		die("cannot reach gomemd at %s: %s (is it running? see gomemd(8))", server,
		    strerror(errno));
connected:
	n = snprintf(req, sizeof req,
		     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gomem/%s\r\n"
		     "Content-Length: 0\r\nConnection: close\r\n\r\n",
		     method, path, strchr(server, '/') != NULL ? "localhost" : server,
		     PACKAGE_VERSION);
	if (write(fd, req, (size_t)n) != n)
		die("sending to %s: %s", server, strerror(errno));
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			if (cap > MAX_RESPONSE)
				die("response from %s too large", server);
			buf = realloc(buf, cap + 1);
			if (buf == NULL)
				die("out of memory");
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("reading from %s: %s", server, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf == NULL)
		die("empty response from %s", server);
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
		die("bad response from %s", server);
	body = strstr(buf, "\r\n\r\n");
	if (body == NULL)
		die("bad response from %s", server);
	body += 4;
	*bodylen = len - (size_t)(body - buf);
	memmove(buf, body, *bodylen + 1); /* binary-safe: profiles are gzip */
	return buf;
}

/* Request, parse JSON, die on an HTTP error with the server's message. */
cJSON *get_json(const char *method, const char *path)
{
	int status = 0;
	size_t len;
	char *body = http_request(method, path, &status, &len);
	cJSON *root = cJSON_Parse(body), *e;

	free(body);
	if (root == NULL)
		die("%s %s: response is not JSON (HTTP %d)", method, path, status);
	if (status != 200) {
		e = cJSON_GetObjectItemCaseSensitive(root, "Error");
		die("%s", cJSON_IsString(e) ? e->valuestring : "request failed");
	}
	return root;
}

/* A number item as unsigned long long (raw text kept exact by cJSON's parse). */
unsigned long long num(const cJSON *n)
{
	if (n == NULL || !cJSON_IsNumber(n))
		return 0;
	return n->valuedouble >= 18446744073709551615.0 ? ~0ull
							: (unsigned long long)n->valuedouble;
}

/* Bytes in a human unit. */
const char *human(unsigned long long v, char *buf, size_t len)
{
	const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", v);
	else
		snprintf(buf, len, "%.1f %s", d, units[u]);
	return buf;
}
