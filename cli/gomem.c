/*
 * gomem.c: the `gomem` command, the client of gomemd.
 *
 *   gomem run [--library PATH] [--] CMD [ARGS...]   exec CMD with libgomem preloaded
 *   gomem stats PID [--server ADDR:PORT]           a process's MemStats from gomemd
 *   gomem ps [--server ADDR:PORT]                  processes gomemd watches
 *   gomem attach PID [--server ADDR:PORT]          ask gomemd to watch PID
 *   gomem detach PID [--server ADDR:PORT]          ask gomemd to stop watching PID
 *   gomem pprof PID [-o FILE] [--seconds N]        the heap profile, for go tool pprof
 *   gomem leaks PID [--seconds N]                  stacks by in-use growth
 *   gomem top [-b] [-d SECS] [-n N] [-s COLUMN]    watched processes live, like top(1) (top.c)
 *
 * The server defaults to $GOMEMD_SERVER, else gomemd's unix socket
 * /run/gomemd/gomemd.sock when it exists (root and the gomem group may do
 * everything there, other users act on their own processes), else
 * 127.0.0.1:6060.  --server takes ADDR:PORT or a socket path.  HTTP is a
 * plain HTTP/1.1 request with Connection: close over a socket.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"

#ifndef GOMEM_DEFAULT_LIBRARY
#define GOMEM_DEFAULT_LIBRARY "/usr/local/lib/libgomem.so.0"
#endif

#define DEFAULT_SOCKET "/run/gomemd/gomemd.sock"

/* Print usage and exit with status. */
static void __attribute__((noreturn)) usage(int status)
{
	fprintf(
	    status ? stderr : stdout,
	    "usage: gomem run [--library PATH] [--] CMD [ARGS...]\n"
	    "       gomem stats PID [--server ADDR:PORT]\n"
	    "       gomem ps [--server ADDR:PORT]\n"
	    "       gomem attach PID [--server ADDR:PORT]\n"
	    "       gomem detach PID [--server ADDR:PORT]\n"
	    "       gomem pprof PID [-o FILE] [--seconds N] [--server ADDR:PORT]\n"
	    "       gomem leaks PID [--seconds N] [--server ADDR:PORT]\n"
	    "       gomem top [-b] [-d SECONDS] [-n ITERATIONS] [-s COLUMN] [--server ADDR:PORT]\n"
	    "The server (ADDR:PORT or a socket path) defaults to $GOMEMD_SERVER, else\n"
	    "the unix socket " DEFAULT_SOCKET " if it exists, else 127.0.0.1:6060.\n");
	exit(status);
}

/* gomem run: exec argv with libgomem prepended to LD_PRELOAD. */
static int cmd_run(int argc, char **argv)
{
	const char *lib = getenv("GOMEM_LIBRARY"), *old;
	char *preload;
	int i = 1;

	if (lib == NULL)
		lib = GOMEM_DEFAULT_LIBRARY;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--library") == 0 && i + 1 < argc)
			lib = argv[++i];
		else if (strncmp(argv[i], "--library=", 10) == 0)
			lib = argv[i] + 10;
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else
			break;
	}
	if (i >= argc)
		usage(2);
	if (access(lib, R_OK) != 0)
		die("%s: %s (use --library PATH)", lib, strerror(errno));
	old = getenv("LD_PRELOAD");
	if (old != NULL && old[0] != '\0') {
		if (asprintf(&preload, "%s:%s", lib, old) < 0)
			die("out of memory");
	} else {
		preload = strdup(lib);
	}
	if (preload == NULL || setenv("LD_PRELOAD", preload, 1) != 0)
		die("setting LD_PRELOAD: %s", strerror(errno));
	/*
	 * CPython serves small objects from its own arenas (pymalloc), so
	 * libgomem would see only 256 KiB arena blocks: ask it to use malloc,
	 * unless the user chose an allocator already.
	 */
	{
		const char *base = strrchr(argv[i], '/');

		base = base != NULL ? base + 1 : argv[i];
		if (strncmp(base, "python", 6) == 0 && getenv("PYTHONMALLOC") == NULL) {
			setenv("PYTHONMALLOC", "malloc", 1);
			fprintf(stderr,
				"gomem: PYTHONMALLOC=malloc so that Python's small objects "
				"come from libgomem (set PYTHONMALLOC to choose otherwise)\n");
		}
	}
	execvp(argv[i], argv + i);
	die("%s: %s", argv[i], strerror(errno));
}

/* Whether a MemStats field counts bytes. */
static int is_bytes(const char *name)
{
	static const char *const b[] = {"Alloc",       "TotalAlloc",   "Sys",
					"HeapAlloc",   "HeapSys",      "HeapIdle",
					"HeapInuse",   "HeapReleased", "StackInuse",
					"StackSys",    "MSpanInuse",   "MSpanSys",
					"MCacheInuse", "MCacheSys",    "BuckHashSys",
					"GCSys",       "OtherSys",     "NextGC",
					"RSS",	       "ScavengeGoal", "ScavengeReleasedTotal",
					"MemoryLimit"};
	size_t i;

	for (i = 0; i < sizeof b / sizeof b[0]; i++)
		if (strcmp(name, b[i]) == 0)
			return 1;
	return 0;
}

/* Print one "name  value  (human)" row; raw keeps the exact digits. */
static void print_row(const cJSON *it)
{
	char h[32];

	if (cJSON_IsBool(it)) {
		printf("  %-22s %20s\n", it->string, cJSON_IsTrue(it) ? "true" : "false");
	} else if (cJSON_IsString(it)) {
		printf("  %-22s %20s\n", it->string, it->valuestring);
	} else if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;

		if (d != (double)(unsigned long long)d || d < 0)
			printf("  %-22s %20g\n", it->string, d);
		else if (is_bytes(it->string))
			printf("  %-22s %20llu  %s\n", it->string, num(it),
			       human(num(it), h, sizeof h));
		else
			printf("  %-22s %20llu\n", it->string, num(it));
	}
}

/* gomem stats PID. */
static int cmd_stats(const char *pid)
{
	char path[64];
	cJSON *root, *it, *extra, *bysize;
	int any = 0;

	snprintf(path, sizeof path, "/memstats?pid=%s", pid);
	root = get_json("GET", path);
	extra = cJSON_GetObjectItemCaseSensitive(root, "Extra");
	it = cJSON_GetObjectItemCaseSensitive(extra, "Comm");
	printf("process %s (%s)\n\nMemStats\n", pid, cJSON_IsString(it) ? it->valuestring : "?");
	cJSON_ArrayForEach(it, root)
	{
		if (cJSON_IsArray(it) || cJSON_IsObject(it))
			continue;
		print_row(it);
	}
	bysize = cJSON_GetObjectItemCaseSensitive(root, "BySize");
	printf("\nBySize (classes in use)\n  %10s %20s %20s %20s\n", "Size", "Mallocs", "Frees",
	       "Live");
	cJSON_ArrayForEach(it, bysize)
	{
		unsigned long long s = num(cJSON_GetObjectItemCaseSensitive(it, "Size"));
		unsigned long long m = num(cJSON_GetObjectItemCaseSensitive(it, "Mallocs"));
		unsigned long long f = num(cJSON_GetObjectItemCaseSensitive(it, "Frees"));

		if (m == 0)
			continue;
		printf("  %10llu %20llu %20llu %20llu\n", s, m, f, m - f);
		any = 1;
	}
	if (!any)
		printf("  (none)\n");
	printf("\nExtra\n");
	cJSON_ArrayForEach(it, extra)
	{
		print_row(it);
	}
	cJSON_Delete(root);
	return 0;
}

/*
 * How a process ended, in a few words: "exit 3", "SIGKILL (OOM killer)",
 * "SIGSEGV (core dumped)", "exec sh".  from: a process object of /processes
 * (its Processes or Ended list).
 */
static void end_words(const cJSON *from, char *buf, size_t len)
{
	const cJSON *how = cJSON_GetObjectItemCaseSensitive(from, "How");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(from, "ExitCode");
	const cJSON *sig = cJSON_GetObjectItemCaseSensitive(from, "Signal");
	const cJSON *exec = cJSON_GetObjectItemCaseSensitive(from, "ExecComm");
	int core = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(from, "CoreDumped"));
	int oom = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(from, "OOMKilled"));

	if (cJSON_IsString(sig) && sig->valuestring[0] != '\0')
		snprintf(buf, len, "%s%s%s", sig->valuestring, core ? " (core dumped)" : "",
			 oom ? " (OOM killer)" : "");
	else if (cJSON_IsNumber(code) && code->valuedouble >= 0)
		snprintf(buf, len, "exit %d%s", code->valueint, oom ? " (OOM killer)" : "");
	else if (cJSON_IsString(how) && strcmp(how->valuestring, "exec") == 0)
		snprintf(buf, len, "exec %s", cJSON_IsString(exec) ? exec->valuestring : "?");
	else
		snprintf(buf, len, "%s", cJSON_IsString(how) ? how->valuestring : "ended");
}

/* gomem ps: the watched processes, then those the state directory keeps. */
static int cmd_ps(void)
{
	cJSON *root = get_json("GET", "/processes"), *procs, *p;
	char h[32], state[64];
	int header = 0;

	procs = cJSON_GetObjectItemCaseSensitive(root, "Processes");
	printf("%8s %-16s %12s %10s %-8s  %s\n", "PID", "COMM", "RSS", "AGE(ms)", "STATE",
	       "LIBRARY");
	cJSON_ArrayForEach(p, procs)
	{
		const cJSON *exited = cJSON_GetObjectItemCaseSensitive(p, "Exited");
		const cJSON *has = cJSON_GetObjectItemCaseSensitive(p, "HasSnapshot");
		const cJSON *comm = cJSON_GetObjectItemCaseSensitive(p, "Comm");
		const cJSON *lib = cJSON_GetObjectItemCaseSensitive(p, "Library");

		if (cJSON_IsTrue(exited))
			end_words(p, state, sizeof state);
		else
			snprintf(state, sizeof state, "%s", cJSON_IsTrue(has) ? "live" : "waiting");
		printf("%8llu %-16s %12s %10llu %-8s  %s\n",
		       num(cJSON_GetObjectItemCaseSensitive(p, "Pid")),
		       cJSON_IsString(comm) ? comm->valuestring : "?",
		       human(num(cJSON_GetObjectItemCaseSensitive(p, "RSS")), h, sizeof h),
		       num(cJSON_GetObjectItemCaseSensitive(p, "SnapshotAgeMs")), state,
		       cJSON_IsString(lib) ? lib->valuestring : "");
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(root, "Ended"))
	{
		const cJSON *comm = cJSON_GetObjectItemCaseSensitive(p, "Comm");
		time_t t = (time_t)(num(cJSON_GetObjectItemCaseSensitive(p, "EndedTimeNs")) /
				    1000000000ull);
		char when[32];
		struct tm tm;

		if (!header) {
			printf("\nEnded (kept in the state directory)\n%8s %-16s %-20s  %s\n",
			       "PID", "COMM", "ENDED (UTC)", "HOW");
			header = 1;
		}
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
		end_words(p, state, sizeof state);
		printf("%8llu %-16s %-20s  %s\n", num(cJSON_GetObjectItemCaseSensitive(p, "Pid")),
		       cJSON_IsString(comm) ? comm->valuestring : "?", when, state);
	}
	cJSON_Delete(root);
	return 0;
}

/* gomem attach PID / gomem detach PID. */
static int cmd_attach(const char *pid, int detach)
{
	char path[64];
	cJSON *root;

	if (detach) {
		snprintf(path, sizeof path, "/processes/%s", pid);
		root = get_json("DELETE", path);
		printf("gomemd stopped watching process %s\n", pid);
	} else {
		snprintf(path, sizeof path, "/processes/%s/attach", pid);
		root = get_json("POST", path);
		printf("gomemd watches process %s\n", pid);
	}
	cJSON_Delete(root);
	return 0;
}

/* gomem pprof PID: the heap profile (gzipped pprof) into a file. */
static int cmd_pprof(const char *pid, const char *out, unsigned seconds)
{
	char path[128], def[64];
	int status = 0;
	size_t len;
	char *body;
	FILE *f;

	snprintf(path, sizeof path, "/debug/pprof/heap?pid=%s&seconds=%u", pid, seconds);
	body = http_request("GET", path, &status, &len);
	if (status != 200) {
		cJSON *root = cJSON_Parse(body),
		      *e = cJSON_GetObjectItemCaseSensitive(root, "Error");

		die("%s", cJSON_IsString(e) ? e->valuestring : "request failed");
	}
	if (out == NULL) {
		snprintf(def, sizeof def, "heap-%s.pb.gz", pid);
		out = def;
	}
	f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
	if (f == NULL || fwrite(body, 1, len, f) != len || (f != stdout && fclose(f) != 0))
		die("writing %s: %s", out, strerror(errno));
	if (f != stdout)
		fprintf(stderr, "gomem: wrote %s (%zu bytes); view it with: go tool pprof %s\n",
			out, len, out);
	free(body);
	return 0;
}

/* gomem leaks PID: stacks ranked by in-use growth. */
static int cmd_leaks(const char *pid, unsigned seconds)
{
	char path[128], a[32], b[32];
	cJSON *root, *l, *it;

	snprintf(path, sizeof path, "/leaks?pid=%s&seconds=%u", pid, seconds);
	root = get_json("GET", path);
	l = cJSON_GetObjectItemCaseSensitive(root, "Leaks");
	printf("growth over %llu s, sampled every %llu bytes (GOMEM_PROFILE_RATE=1 for exact "
	       "counts)\n",
	       num(cJSON_GetObjectItemCaseSensitive(root, "WindowSeconds")),
	       num(cJSON_GetObjectItemCaseSensitive(root, "Rate")));
	printf("%10s %10s %10s  %s\n", "GROWTH", "IN USE", "OLDEST", "FUNCTION");
	cJSON_ArrayForEach(it, l)
	{
		const cJSON *fn = cJSON_GetObjectItemCaseSensitive(it, "Function");

		printf("%10s %10s %9llus  %s\n",
		       human(num(cJSON_GetObjectItemCaseSensitive(it, "GrowthBytes")), a, sizeof a),
		       human(num(cJSON_GetObjectItemCaseSensitive(it, "InuseBytes")), b, sizeof b),
		       num(cJSON_GetObjectItemCaseSensitive(it, "OldestAgeSeconds")),
		       cJSON_IsString(fn) ? fn->valuestring : "?");
	}
	cJSON_Delete(root);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd, *pid = NULL, *out = NULL;
	unsigned seconds = 0;
	int i;

	server = getenv("GOMEMD_SERVER");
	if (server == NULL || server[0] == '\0')
		server = access(DEFAULT_SOCKET, F_OK) == 0 ? DEFAULT_SOCKET : "127.0.0.1:6060";
	if (argc < 2)
		usage(2);
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
		usage(0);
	if (strcmp(cmd, "--version") == 0) {
		printf("gomem %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "top") == 0)
		return cmd_top(argc - 1, argv + 1);

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			server = argv[++i];
		else if (strncmp(argv[i], "--server=", 9) == 0)
			server = argv[i] + 9;
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc &&
			 strspn(argv[i + 1], "0123456789") == strlen(argv[i + 1]) && argv[i + 1][0])
			seconds = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (pid == NULL && argv[i][0] != '-')
			pid = argv[i];
		else
			usage(2);
	}
	if (strcmp(cmd, "ps") == 0)
		return cmd_ps();
	if (pid == NULL || strspn(pid, "0123456789") != strlen(pid))
		usage(2);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(pid);
	if (strcmp(cmd, "attach") == 0)
		return cmd_attach(pid, 0);
	if (strcmp(cmd, "detach") == 0)
		return cmd_attach(pid, 1);
	if (strcmp(cmd, "pprof") == 0)
		return cmd_pprof(pid, out, seconds);
	if (strcmp(cmd, "leaks") == 0)
		return cmd_leaks(pid, seconds);
	usage(2);
}
