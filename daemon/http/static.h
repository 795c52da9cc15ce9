/*
 * static.h: serve the dashboard files of web/ with correct content types.
 *
 * Only files under the web root are served: a URL path with a "." or ".."
 * component, a hidden name, a NUL or backslash is refused, and the resolved
 * real path must still lie under the real web root (no symlink escape).
 * "/" serves index.html.  Missing files get a 404 JSON error.
 */
#ifndef GOMEMD_STATIC_H
#define GOMEMD_STATIC_H

#include <stddef.h>

#include <microhttpd.h>

/*
 * Resolve URL path url under root into path (the real path of a regular
 * file).  0, -ENOENT (no such file) or -EACCES (refused).
 */
int static_resolve(const char *root, const char *url, char *path, size_t pathsz);
/* Content-Type for a file name. */
const char *static_content_type(const char *path);
/*
 * Answer GET/HEAD url from root.  Returns MHD_queue_response's result;
 * *status gets the HTTP status.
 */
enum MHD_Result static_serve(struct MHD_Connection *conn, const char *root, const char *url,
			     unsigned int *status);

#endif /* GOMEMD_STATIC_H */
