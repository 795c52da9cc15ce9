/* dashboard.c: the dashboard's files (web/), served by http/static.c. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "http/reply.h"
#include "http/static.h"
#include "routes/routes.h"

#ifndef GOMEMD_WEBDIR
#define GOMEMD_WEBDIR "/usr/local/share/gomem/web"
#endif

/* Where the dashboard files are: $GOMEMD_WEB_DIR, else the installed copy. */
static const char *dashboard_dir(void)
{
	const char *d = getenv("GOMEMD_WEB_DIR");

	return d != NULL && *d != '\0' ? d : GOMEMD_WEBDIR;
}

int dashboard_http(struct http_req *req)
{
	unsigned int status;
	int ret;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
		return http_reply_405(req, "GET"); /* HEAD is added */
	ret = static_serve(req->conn, dashboard_dir(), req->url, &status);
	http_count_status(status);
	return ret;
}
