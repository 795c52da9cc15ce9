/*
 * cli.h: what the commands of `gomem` share (client.c): the server
 * address, requests to gomemd, and formatting.
 */
#ifndef GOMEM_CLI_H
#define GOMEM_CLI_H

#include <stddef.h>

#include <cjson/cJSON.h>

extern const char *server;

/* Print "gomem: ..." to stderr and exit 1 (atexit handlers run). */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/*
 * One request to the server: the body (malloc'ed, binary-safe, NUL after
 * it) and *status; dies if the server cannot be reached.
 */
char *http_request(const char *method, const char *path, int *status, size_t *bodylen);
/* GET/POST/DELETE path; the parsed JSON body; dies on an HTTP error with the server's message. */
cJSON *get_json(const char *method, const char *path);
/* A number item as unsigned long long; 0 when absent or not a number. */
unsigned long long num(const cJSON *n);
/* Bytes in a human unit ("12.3 MiB") into buf. */
const char *human(unsigned long long v, char *buf, size_t len);

/* top.c: gomem top [-b] [-d SECONDS] [-n ITERATIONS] [-s COLUMN]. */
int cmd_top(int argc, char **argv);

#endif /* GOMEM_CLI_H */
