/*
 * check_access.c: unit tests of daemon/core/access.c, gomemd's access
 * policy.  Expectations from the standards the policy follows: RFC 9110's
 * Host (name, optional port, IPv6 literals in brackets), RFC 6761's
 * localhost, the Fetch standard's Sec-Fetch-Site values and the Origin
 * serialisation browsers send; and from the issue: which routes are public.
 */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check_run.h"
#include "core/access.h"

START_TEST(test_host)
{
	static const char *const names[] = {"gomem.example.org", "10.0.0.5"};

	/* loopback names and addresses, with and without port */
	ck_assert(access_host_ok("127.0.0.1:6060", NULL, 0));
	ck_assert(access_host_ok("127.1.2.3", NULL, 0));
	ck_assert(access_host_ok("localhost:6060", NULL, 0));
	ck_assert(access_host_ok("LocalHost", NULL, 0));
	ck_assert(access_host_ok("localhost.", NULL, 0));
	ck_assert(access_host_ok("app.localhost:8080", NULL, 0));
	ck_assert(access_host_ok("[::1]:6060", NULL, 0));
	ck_assert(access_host_ok("[::1]", NULL, 0));
	ck_assert(access_host_ok("[::ffff:127.0.0.1]:6060", NULL, 0));
	ck_assert(access_host_ok(NULL, NULL, 0)); /* HTTP/1.0 without Host */
	/* DNS rebinding: the attacker's own name */
	ck_assert(!access_host_ok("evil.example.com:6060", NULL, 0));
	ck_assert(!access_host_ok("localhost.evil.example.com", NULL, 0));
	ck_assert(!access_host_ok("127.0.0.1.evil.example.com", NULL, 0));
	ck_assert(!access_host_ok("10.0.0.5:6060", NULL, 0));
	ck_assert(!access_host_ok("[::2]:6060", NULL, 0));
	ck_assert(!access_host_ok("0.0.0.0:6060", NULL, 0));
	/* malformed */
	ck_assert(!access_host_ok("", NULL, 0));
	ck_assert(!access_host_ok(":6060", NULL, 0));
	ck_assert(!access_host_ok("::1", NULL, 0));
	ck_assert(!access_host_ok("[::1", NULL, 0));
	ck_assert(!access_host_ok("[::1]x", NULL, 0));
	ck_assert(!access_host_ok("localhost:", NULL, 0));
	ck_assert(!access_host_ok("localhost:60x0", NULL, 0));
	ck_assert(!access_host_ok("localhost:123456", NULL, 0));
	/* configured names */
	ck_assert(access_host_ok("gomem.example.org:6060", names, 2));
	ck_assert(access_host_ok("GOMEM.example.org", names, 2));
	ck_assert(access_host_ok("10.0.0.5:6060", names, 2));
	ck_assert(!access_host_ok("gomem.example.org.evil.com", names, 2));
	ck_assert(!access_host_ok("example.org", names, 2));
}
END_TEST

START_TEST(test_cross_origin)
{
	/* reads are never refused */
	ck_assert(
	    !access_cross_origin_refused("GET", "127.0.0.1:6060", "http://evil.com", "cross-site"));
	/* Sec-Fetch-Site decides when present */
	ck_assert(access_cross_origin_refused("POST", "127.0.0.1:6060", NULL, "cross-site"));
	ck_assert(access_cross_origin_refused("DELETE", "127.0.0.1:6060", NULL, "same-site"));
	ck_assert(!access_cross_origin_refused("POST", "127.0.0.1:6060", NULL, "same-origin"));
	ck_assert(!access_cross_origin_refused("POST", "127.0.0.1:6060", NULL, "none"));
	/* else Origin against Host */
	ck_assert(
	    !access_cross_origin_refused("POST", "127.0.0.1:6060", "http://127.0.0.1:6060", NULL));
	ck_assert(!access_cross_origin_refused("POST", "gomem.example.org",
					       "https://gomem.example.org", NULL));
	ck_assert(access_cross_origin_refused("POST", "127.0.0.1:6060", "http://evil.com", NULL));
	ck_assert(
	    access_cross_origin_refused("POST", "127.0.0.1:6060", "http://127.0.0.1:6061", NULL));
	ck_assert(access_cross_origin_refused("DELETE", "127.0.0.1:6060", "null", NULL));
	ck_assert(access_cross_origin_refused("POST", NULL, "http://127.0.0.1:6060", NULL));
	/* curl and other non-browser clients send neither */
	ck_assert(!access_cross_origin_refused("POST", "127.0.0.1:6060", NULL, NULL));
}
END_TEST

START_TEST(test_routes)
{
	/* public: counters, the process list, the dashboard's files, 404s */
	static const char *const pub[] = {
	    "/memstats",      "/memstats/history", "/processes",
	    "/processes/42",  "/healthz",	   "/metrics",
	    "/debug/vars",    "/events",	   "/",
	    "/index.html",    "/app.js",	   "/vendor/uplot/uPlot.min.js",
	    "/no/such/route", "/../secret.txt",	   "/profiles.css",
	    "/debug/pprofx",
	};
	/* private: profiles, stacks, addresses, mappings */
	static const char *const priv[] = {
	    "/debug/pprof/heap",
	    "/debug/pprof/",
	    "/debug/pprof",
	    "/profile/top",
	    "/leaks",
	    "/processes/42/maps",
	    "/processes/42/attach",
	    "/stacks",
	    "/maps/1",
	    "/symbols",
	};
	size_t i;

	for (i = 0; i < sizeof pub / sizeof pub[0]; i++)
		ck_assert_msg(access_route_class("GET", pub[i]) == ACCESS_PUBLIC, "%s", pub[i]);
	for (i = 0; i < sizeof priv / sizeof priv[0]; i++)
		ck_assert_msg(access_route_class("GET", priv[i]) == ACCESS_PRIVATE, "%s", priv[i]);
	ck_assert(access_route_class("HEAD", "/metrics") == ACCESS_PUBLIC);
	/* attach and detach, whatever the path */
	ck_assert(access_route_class("POST", "/processes/42/attach") == ACCESS_PRIVATE);
	ck_assert(access_route_class("DELETE", "/processes/42") == ACCESS_PRIVATE);
	ck_assert(access_route_class("POST", "/memstats") == ACCESS_PRIVATE);
}
END_TEST

START_TEST(test_peer)
{
	const gid_t gomem = 990, other_groups[] = {100, 990};
	struct access_peer root = {0, 0, NULL, 0}, member = {1000, 1000, other_groups, 2},
			   primary = {1001, 990, NULL, 0}, user = {1002, 1002, NULL, 0};

	ck_assert(access_peer_may(&root, gomem, ACCESS_PRIVATE, 1, 1002));
	ck_assert(access_peer_may(&member, gomem, ACCESS_PRIVATE, 1, 0));
	ck_assert(access_peer_may(&primary, gomem, ACCESS_PRIVATE, 0, 0));
	/* another uid: public always, private only its own */
	ck_assert(access_peer_may(&user, gomem, ACCESS_PUBLIC, 1, 0));
	ck_assert(access_peer_may(&user, gomem, ACCESS_PRIVATE, 1, 1002));
	ck_assert(!access_peer_may(&user, gomem, ACCESS_PRIVATE, 1, 0));
	ck_assert(!access_peer_may(&user, gomem, ACCESS_PRIVATE, 0, 0));
}
END_TEST

START_TEST(test_limiter)
{
	static struct access_limiter l;
	const uint64_t s = 1000000000ull;
	struct sockaddr_in a4 = {.sin_family = AF_INET}, b4 = {.sin_family = AF_INET};
	uint64_t a, b;
	unsigned retry = 0, i;

	inet_pton(AF_INET, "10.0.0.2", &a4.sin_addr);
	inet_pton(AF_INET, "10.0.0.3", &b4.sin_addr);
	a = access_client_key((struct sockaddr *)&a4);
	b = access_client_key((struct sockaddr *)&b4);
	ck_assert(a != b && a != 0);
	access_limiter_init(&l, 3, 2 * s); /* 3 failures at once, one more per 2 s */
	for (i = 0; i < 3; i++) {
		ck_assert(access_limiter_allow(&l, a, 10 * s, &retry));
		access_limiter_fail(&l, a, 10 * s);
	}
	ck_assert(!access_limiter_allow(&l, a, 10 * s, &retry));
	ck_assert_uint_eq(retry, 2);
	ck_assert(access_limiter_allow(&l, b, 10 * s, NULL)); /* others unaffected */
	ck_assert(!access_limiter_allow(&l, a, 11 * s, &retry));
	ck_assert_uint_eq(retry, 1);
	ck_assert(access_limiter_allow(&l, a, 12 * s, NULL)); /* one forgiven */
	access_limiter_fail(&l, a, 12 * s);
	ck_assert(!access_limiter_allow(&l, a, 12 * s, NULL));
	ck_assert(access_limiter_allow(&l, a, 100 * s, NULL)); /* all forgiven */
	ck_assert_uint_eq(access_limiter_blocked(&l), 3);

	/* a flood of distinct clients cannot grow the table or evict by force */
	for (i = 0; i < 10 * ACCESS_LIMITER_SLOTS; i++)
		access_limiter_fail(&l, 1000 + i, 200 * s + i);
	for (i = 0; i < 3; i++)
		access_limiter_fail(&l, a, 300 * s);
	ck_assert(!access_limiter_allow(&l, a, 300 * s, NULL));
	access_limiter_destroy(&l);
}
END_TEST

/* The key of an address given as text (IPv4 or IPv6). */
static uint64_t key_of(const char *text)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};

	if (inet_pton(AF_INET, text, &v4.sin_addr) == 1)
		return access_client_key((struct sockaddr *)&v4);
	ck_assert_msg(inet_pton(AF_INET6, text, &v6.sin6_addr) == 1, "bad address %s", text);
	return access_client_key((struct sockaddr *)&v6);
}

START_TEST(test_client_key)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	uint64_t lo = key_of("127.0.0.1");

	/* any local user can bind any loopback address: one client */
	ck_assert(key_of("127.0.0.2") == lo);
	ck_assert(key_of("127.1.2.3") == lo);
	ck_assert(key_of("::1") == lo);
	ck_assert(key_of("::ffff:127.0.0.9") == lo);
	/* IPv4 is the address, mapped or not */
	ck_assert(key_of("10.0.0.1") == key_of("::ffff:10.0.0.1"));
	ck_assert(key_of("10.0.0.1") != key_of("10.0.0.2"));
	ck_assert(key_of("10.0.0.1") != lo);
	/* IPv6 by the whole address (hosts of one /64 are other clients) */
	ck_assert(key_of("2001:db8::1") == key_of("2001:db8:0:0::1"));
	ck_assert(key_of("2001:db8::1") != key_of("2001:db8::2"));
	ck_assert(key_of("2001:db8::1") != lo);
	/* no address: 1, which no limit applies to */
	ck_assert_uint_eq(access_client_key(NULL), 1);
	ck_assert_uint_eq(access_client_key((struct sockaddr *)&un), 1);
	ck_assert(lo != 1 && key_of("10.0.0.1") != 1);
}
END_TEST

START_TEST(test_uid_key)
{
	unsigned uid, a, b;

	/* root is never capped; every other uid is a client of its own */
	ck_assert_uint_eq(access_uid_key(0), 1);
	/* over TCP root is a client like the others: never 1 */
	ck_assert(access_tcp_uid_key(0) > 1 && access_tcp_uid_key(0) != key_of("127.0.0.1"));
	for (a = 1; a < 2000; a += 7)
		for (b = a + 1; b < a + 50; b++)
			ck_assert(access_uid_key(a) != access_uid_key(b));
	ck_assert(access_uid_key(65534) != access_uid_key(65533));
	ck_assert(access_uid_key(1000) != access_uid_key(1000 + (1u << 24)));
	/* and never an address's key, nor 1: not the IPv4 address of the
	 * uid's bytes whatever its first byte (a tag xored into FNV's start
	 * would give exactly that), nor loopback */
	for (uid = 1; uid < 70000; uid += 97) {
		char ip[48];
		unsigned first;

		ck_assert(access_uid_key(uid) != 1);
		ck_assert(access_uid_key(uid) != key_of("127.0.0.1"));
		/* over TCP a uid is another client than on the socket */
		ck_assert(access_tcp_uid_key(uid) != access_uid_key(uid));
		ck_assert(access_tcp_uid_key(uid) != key_of("127.0.0.1"));
		ck_assert(access_tcp_uid_key(uid) != access_tcp_uid_key(uid + 1));
		for (first = 0; first < 256; first++) {
			snprintf(ip, sizeof ip, "%u.%u.%u.%u", first, (uid >> 8) & 255,
				 (uid >> 16) & 255, uid >> 24);
			ck_assert_msg(access_uid_key(uid) != key_of(ip), "uid %u = %s", uid, ip);
			snprintf(ip, sizeof ip, "%u.%u.%u.%u", uid & 255, (uid >> 8) & 255,
				 (uid >> 16) & 255, first);
			ck_assert_msg(access_uid_key(uid) != key_of(ip), "uid %u = %s", uid, ip);
		}
	}
}
END_TEST

int main(void)
{
	CHECK_RUN("access", NULL, NULL, test_host, test_cross_origin, test_routes, test_peer,
		  test_limiter, test_client_key, test_uid_key);
}
