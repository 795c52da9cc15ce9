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
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	*status = MHD_HTTP_OK;
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}
