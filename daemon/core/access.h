/*
 * access.h: who may do what, as pure decisions the HTTP layer applies.
 *
 *   - Host: the request must name this listener (a loopback name, or a name
 *     the configuration lists), else 421: a page on another site that a
 *     DNS rebinding points at 127.0.0.1 still says its own name.
 *   - Cross-origin state changes (POST, DELETE, ...) are refused (403),
 *     judged by Sec-Fetch-Site and Origin, what browsers send.
 *   - Routes are public (counters, the process list: what /proc shows every
 *     user) or private (profiles, stacks, addresses, mappings, attach and
 *     detach), which need an authenticated TCP client (401) or an
 *     authorised unix-socket peer (403).
 *   - A unix-socket peer: root and members of the gomem group get
 *     everything; another uid gets the private routes of its own processes.
 *   - Failed authentications are rate-limited per client.
 */
#ifndef GOMEMD_ACCESS_H
#define GOMEMD_ACCESS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum access_class {
	ACCESS_PUBLIC,	/* anyone who can connect */
	ACCESS_PRIVATE, /* authenticated, or the socket peer owning the process */
};

/* A unix-socket peer, from SO_PEERCRED and SO_PEERGROUPS. */
struct access_peer {
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups */
	size_t ngroups;
};

int access_host_ok(const char *host, const char *const *names, size_t nnames);
int access_is_loopback_name(const char *name, size_t len);
int access_cross_origin_refused(const char *method, const char *host, const char *origin,
				const char *sec_fetch_site);
enum access_class access_route_class(const char *method, const char *path);
int access_peer_may(const struct access_peer *peer, gid_t admin_gid, enum access_class cls,
		    int owner_known, uid_t owner);

/*
 * Failed-authentication limiter: a token bucket per client key (an address
 * or a uid), in a fixed table that forgets the least recently failed client
 * when full.  lock protects every field.
 */
#define ACCESS_LIMITER_SLOTS 256

struct access_limiter {
	pthread_mutex_t lock;
	unsigned burst;		/* failures allowed at once */
	uint64_t refill_ns;	/* one failure forgiven per this much time */
	uint64_t blocked_total; /* requests refused while out of tokens */
	struct {
		uint64_t key;	  /* 0: free slot */
		uint64_t last_ns; /* time of the last refill */
		unsigned tokens;
	} slot[ACCESS_LIMITER_SLOTS];
};

void access_limiter_init(struct access_limiter *l, unsigned burst, uint64_t refill_ns);
void access_limiter_destroy(struct access_limiter *l);
int access_limiter_allow(struct access_limiter *l, uint64_t key, uint64_t now_ns,
			 unsigned *retry_after_s);
void access_limiter_fail(struct access_limiter *l, uint64_t key, uint64_t now_ns);
uint64_t access_limiter_blocked(struct access_limiter *l);
struct sockaddr;
uint64_t access_client_key(const struct sockaddr *sa);
uint64_t access_uid_key(unsigned uid);
uint64_t access_tcp_uid_key(unsigned uid);

#endif /* GOMEMD_ACCESS_H */
