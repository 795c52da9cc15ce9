/*
 * check_deadline.c: unit tests of daemon/http/deadline.c with real
 * sockets: the peer of a connection whose header is late sees its
 * connection end; connections whose header came, or that closed, are left
 * alone; a full table refuses; so does one client's cap.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "http/deadline.h"

#define S 1000000000ull

/* Whether the client end sees its connection ended (EOF) without blocking. */
static int ended(int client)
{
	char c;
	ssize_t n;

	fcntl(client, F_SETFL, O_NONBLOCK);
	n = read(client, &c, 1);
	return n == 0;
}

START_TEST(test_sweep)
{
	static struct deadline_table t;
	int late[2], quick[2], closed[2];
	int conn_late, conn_quick, conn_closed;

	ck_assert_int_eq(deadline_init(&t, 4), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, late), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, quick), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, closed), 0);
	ck_assert_int_eq(deadline_open(&t, &conn_late, late[0], 1, 0, 0, 0, 10 * S), 0);
	ck_assert_int_eq(deadline_open(&t, &conn_quick, quick[0], 1, 0, 0, 0, 10 * S), 0);
	ck_assert_int_eq(deadline_open(&t, &conn_closed, closed[0], 1, 0, 0, 0, 10 * S), 0);
	deadline_done(&t, &conn_quick);
	deadline_close(&t, &conn_closed);

	ck_assert_uint_eq(deadline_sweep(&t, 14 * S, 5 * S), 0); /* not yet */
	ck_assert(!ended(late[1]));
	ck_assert_uint_eq(deadline_sweep(&t, 16 * S, 5 * S), 1);
	ck_assert(ended(late[1]));
	ck_assert(!ended(quick[1]));
	ck_assert(!ended(closed[1]));
	ck_assert_uint_eq(deadline_sweep(&t, 30 * S, 5 * S), 0); /* once */
	ck_assert_uint_eq(deadline_dropped(&t), 1);

	/* slots are reused; a full table refuses */
	deadline_close(&t, &conn_late);
	deadline_close(&t, &conn_quick);
	ck_assert_int_eq(deadline_open(&t, &late[0], -1, 1, 0, 0, 0, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &late[1], -1, 1, 0, 0, 0, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &quick[0], -1, 1, 0, 0, 0, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &quick[1], -1, 1, 0, 0, 0, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &closed[0], -1, 1, 0, 0, 0, 0), -1);
	deadline_fini(&t);
	close(late[0]), close(late[1]), close(quick[0]), close(quick[1]);
	close(closed[0]), close(closed[1]);
}
END_TEST

START_TEST(test_per_client)
{
	static struct deadline_table t;
	int c[6];

	ck_assert_int_eq(deadline_init(&t, 5), 0);
	ck_assert_int_eq(deadline_open(&t, &c[0], -1, 7, 2, 0, 0, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &c[1], -1, 7, 2, 0, 0, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &c[2], -1, 7, 2, 0, 0, 0), -2); /* client 7's third */
	ck_assert_int_eq(deadline_open(&t, &c[2], -1, 8, 2, 0, 0, 0), 0);  /* another client */
	ck_assert_int_eq(deadline_open(&t, &c[3], -1, 1, 2, 0, 0, 0), 0);  /* 1 is never capped */
	ck_assert_int_eq(deadline_open(&t, &c[4], -1, 1, 2, 0, 0, 0), 0);
	deadline_close(&t, &c[0]);
	ck_assert_int_eq(deadline_open(&t, &c[5], -1, 7, 2, 0, 0, 0), 0); /* a slot of 7's is free */
	ck_assert_int_eq(deadline_open(&t, &c[0], -1, 9, 0, 0, 0, 0), -1); /* the table is full */
	deadline_fini(&t);
}
END_TEST

/* A group's cap (the socket's users together) beside each one's own. */
START_TEST(test_per_group)
{
	static struct deadline_table t;
	int c[8];

	ck_assert_int_eq(deadline_init(&t, 8), 0);
	ck_assert_int_eq(deadline_open(&t, &c[0], -1, 7, 2, 1, 3, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &c[1], -1, 7, 2, 1, 3, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &c[2], -1, 8, 2, 1, 3, 0), 0);
	/* client 9 is under its own cap, but the group has its 3 */
	ck_assert_int_eq(deadline_open(&t, &c[3], -1, 9, 2, 1, 3, 0), -2);
	/* outside the group, or client 1, neither counted nor capped */
	ck_assert_int_eq(deadline_open(&t, &c[3], -1, 9, 2, 0, 3, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &c[4], -1, 1, 2, 1, 3, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &c[5], -1, 1, 2, 1, 3, 0), 0);
	ck_assert_int_eq(deadline_open(&t, &c[6], -1, 10, 2, 2, 3, 0), 0); /* another group */
	deadline_close(&t, &c[2]);
	ck_assert_int_eq(deadline_open(&t, &c[2], -1, 9, 2, 1, 3, 0), 0); /* a group slot is free */
	deadline_fini(&t);
}
END_TEST

int main(void)
{
	CHECK_RUN("deadline", NULL, NULL, test_sweep, test_per_client, test_per_group);
}
