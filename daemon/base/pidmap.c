/* pidmap.c: per-process records by pid, chained hashing.  See pidmap.h. */
#include "config.h"

#include "base/pidmap.h"

/* The chain of pid. */
static struct pidmap_node **pidmap_chain(const struct pidmap *m, int pid)
{
	return (struct pidmap_node **)&m->buckets[(unsigned)pid % PIDMAP_BUCKETS];
}

/* pid's node, or NULL. */
struct pidmap_node *pidmap_find(const struct pidmap *m, int pid)
{
	struct pidmap_node *n;

	for (n = *pidmap_chain(m, pid); n != NULL; n = n->next)
		if (n->pid == pid)
			return n;
	return NULL;
}

/* Insert a node. */
void pidmap_insert(struct pidmap *m, struct pidmap_node *n)
{
	struct pidmap_node **head = pidmap_chain(m, n->pid);

	n->next = *head;
	*head = n;
	m->count++;
}

/* Unlink pid's node. */
struct pidmap_node *pidmap_remove(struct pidmap *m, int pid)
{
	struct pidmap_node **pp, *n;

	for (pp = pidmap_chain(m, pid); (n = *pp) != NULL; pp = &n->next) {
		if (n->pid == pid) {
			*pp = n->next;
			m->count--;
			return n;
		}
	}
	return NULL;
}

/* Walk every node, unlinking those fn asks to. */
int pidmap_walk(struct pidmap *m, int (*fn)(struct pidmap_node *n, void *arg), void *arg)
{
	struct pidmap_node **pp, *n, *next;
	size_t b;
	int rc;

	for (b = 0; b < PIDMAP_BUCKETS; b++) {
		for (pp = &m->buckets[b]; (n = *pp) != NULL;) {
			next = n->next;
			rc = fn(n, arg);
			if (rc < 0)
				return rc;
			if (rc > 0) {
				*pp = next; /* n may be gone already */
				m->count--;
			} else {
				pp = &n->next;
			}
		}
	}
	return 0;
}
