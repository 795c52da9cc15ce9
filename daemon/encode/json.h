/*
 * json.h: JSON on top of cJSON with exact integers (json.c).
 */
#ifndef GOMEMD_JSON_H
#define GOMEMD_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "gomem_memstats.h"

cJSON *json_u64(uint64_t v);
cJSON *json_i64(int64_t v);
cJSON *json_string(const char *s, size_t n);
void json_add_string(cJSON *o, const char *name, const char *s);
void json_add_u64(cJSON *o, const char *name, uint64_t v);
cJSON *json_memstats(const struct gomem_memstats *m, int arrays);
char *json_print(const cJSON *root);

#endif /* GOMEMD_JSON_H */
