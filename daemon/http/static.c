/* static.c: the dashboard's files.  See static.h. */
#include "config.h"

#include "http/reply.h"
#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Is every component of the relative URL path acceptable? */
static int static_safe(const char *rel)
{
	const char *p = rel, *q;
	size_t n;

	if (strchr(rel, '\\') != NULL)
		return 0;
	while (*p != '\0') {
		q = strchr(p, '/');
		n = q != NULL ? (size_t)(q - p) : strlen(p);
		/* Empty components (a//b) are harmless; dot names are not. */
		if (n > 0 && p[0] == '.')
			return 0;
		p += n;
		while (*p == '/')
			p++;
	}
	return 1;
}

int static_resolve(const char *root, const char *url, char *path, size_t pathsz)
{
	char realroot[PATH_MAX], joined[PATH_MAX * 2], *real;
	const char *rel = url;
	size_t rootlen;
	struct stat st;
	int n;

	if (url == NULL || url[0] != '/')
		return -EACCES;
	while (*rel == '/')
		rel++;
	if (*rel == '\0')
		rel = "index.html";
	if (!static_safe(rel))
		return -EACCES;
	if (realpath(root, realroot) == NULL)
		return -ENOENT;
	n = snprintf(joined, sizeof joined, "%s/%s", realroot, rel);
	if (n < 0 || (size_t)n >= sizeof joined)
		return -ENOENT;
	real = realpath(joined, NULL);
	if (real == NULL)
		return errno == EACCES ? -EACCES : -ENOENT;
	rootlen = strlen(realroot);
	if (strncmp(real, realroot, rootlen) != 0 || (real[rootlen] != '/' && rootlen > 1)) {
		free(real);
		return -EACCES;
	}
	if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
		free(real);
		return -ENOENT;
	}
	n = snprintf(path, pathsz, "%s", real);
	free(real);
	return n < 0 || (size_t)n >= pathsz ? -ENOENT : 0;
}

const char *static_content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".map", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".txt", "text/plain; charset=utf-8"},
	    {".md", "text/plain; charset=utf-8"},
	};
	const char *base = strrchr(path, '/'), *dot;
	size_t i;

	base = base != NULL ? base + 1 : path;
	dot = strrchr(base, '.');
	if (dot == NULL)
		return strncmp(base, "LICENSE", 7) == 0 ? "text/plain; charset=utf-8"
							: "application/octet-stream";
	for (i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/*
 * The dashboard runs with the privileges of whoever opened it on gomemd's
 * routes, so it loads nothing but its own files: scripts and styles from
 * the web root only (no inline script, no eval), requests to gomemd only,
 * and no page of another site may frame it.  Style attributes set from
 * script (uPlot, d3) go through the CSSOM, which style-src allows; the one
 * inline stylesheet is the one d3-flame-graph 5.0.0 inserts, allowed by its
 * hash (a different vendored version fails the dashboard test until this
 * hash follows it).
 */
#define FLAMEGRAPH_CSS "'sha256-PjPkXjWPssRCMzB6p5SnF25xrwIH7ThbVHWlE+SG1DE='"
static void static_security_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; script-src 'self'; style-src 'self' " FLAMEGRAPH_CSS "; "
				"img-src 'self' data:; connect-src 'self'; font-src 'self'; "
				"base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

enum MHD_Result static_serve(struct MHD_Connection *conn, const char *root, const char *url,
			     unsigned int *status)
{
	char path[PATH_MAX];
	struct MHD_Response *r;
	struct stat st;
	enum MHD_Result ret;
	int fd, err;

	err = static_resolve(root, url, path, sizeof path);
	if (err == -EACCES) {
		*status = MHD_HTTP_FORBIDDEN;
		return http_queue_error(conn, *status, "path outside the web root", NULL, NULL);
	}
	if (err != 0) {
		*status = MHD_HTTP_NOT_FOUND;
		return http_queue_error(conn, *status, "not found", NULL, NULL);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		*status = MHD_HTTP_NOT_FOUND;
		return http_queue_error(conn, *status, "not found", NULL, NULL);
	}
	r = MHD_create_response_from_fd((size_t)st.st_size, fd);
	if (r == NULL) {
		close(fd);
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		return http_queue_error(conn, *status, "out of memory", NULL, NULL);
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, static_content_type(path));
	static_security_headers(r);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	*status = MHD_HTTP_OK;
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}
