/*
 * pidmap.h: a table of per-process records keyed by pid (pidmap.c), the
 * process table's and the profile store's.  Intrusive: a record embeds a
 * struct pidmap_node as its first member, so a node pointer is a record
 * pointer.  A zeroed struct pidmap is empty.  Not thread-safe: the owner's
 * lock covers it.
 */
#ifndef GOMEMD_PIDMAP_H
#define GOMEMD_PIDMAP_H

#include <stddef.h>

#define PIDMAP_BUCKETS 1024

struct pidmap_node {
	struct pidmap_node *next; /* hash chain */
	int pid;
};

struct pidmap {
	struct pidmap_node *buckets[PIDMAP_BUCKETS];
	size_t count;
};

struct pidmap_node *pidmap_find(const struct pidmap *m, int pid);
/* Insert n (n->pid set; not present yet). */
void pidmap_insert(struct pidmap *m, struct pidmap_node *n);
/* Unlink pid's node and return it, or NULL. */
struct pidmap_node *pidmap_remove(struct pidmap *m, int pid);
/*
 * Call fn for every node until it returns < 0; a node for which it returns
 * > 0 is unlinked (after fn returned, without touching the node, so fn may
 * free it).  Returns fn's negative value, or 0.
 */
int pidmap_walk(struct pidmap *m, int (*fn)(struct pidmap_node *n, void *arg), void *arg);

#endif /* GOMEMD_PIDMAP_H */
