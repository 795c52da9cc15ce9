/*
 * check_heartbeat.c: unit tests of daemon/base/heartbeat.c: a loop that
 * stops beating is reported, with its name, the time and what it was
 * doing; one that beats is not; a beat from another thread counts.
 */
#include <check.h>
#include <pthread.h>
#include <string.h>

#include "base/heartbeat.h"
#include "check_run.h"

#define S 1000000000ull

START_TEST(test_stall)
{
	struct heartbeat a, b;
	struct heartbeat *const all[] = {&a, &b};
	char why[256];

	heartbeat_init(&a, "main loop", 5 * S, 100 * S);
	heartbeat_init(&b, "collector", 10 * S, 100 * S);
	ck_assert_int_eq(heartbeat_check(all, 2, 104 * S, why, sizeof why), 0);
	ck_assert_str_eq(why, "");
	heartbeat_beat(&a, 104 * S);
	ck_assert_int_eq(heartbeat_check(all, 2, 109 * S, why, sizeof why), 0);
	heartbeat_beat(&a, 110 * S);
	heartbeat_busy(&b, "reading the ring buffer");
	ck_assert_int_eq(heartbeat_check(all, 2, 111 * S + S / 2, why, sizeof why), -1);
	ck_assert_str_eq(why, "collector stalled: no progress for 11.5 s (limit 10.0 s) while "
			      "reading the ring buffer");
	heartbeat_beat(&b, 111 * S);
	heartbeat_busy(&b, NULL);
	ck_assert_int_eq(heartbeat_check(all, 2, 112 * S, why, sizeof why), 0);
	/* the first stalled loop is named */
	ck_assert_int_eq(heartbeat_check(all, 2, 200 * S, why, sizeof why), -1);
	ck_assert_ptr_nonnull(strstr(why, "main loop stalled: no progress for 90.0 s"));
	/* a clock that went backwards is not a stall */
	ck_assert_int_eq(heartbeat_check(all, 2, 50 * S, why, sizeof why), 0);
}
END_TEST

static struct heartbeat shared;

static void *beater(void *arg)
{
	(void)arg;
	heartbeat_beat(&shared, 500 * S);
	return NULL;
}

START_TEST(test_other_thread)
{
	struct heartbeat *const all[] = {&shared};
	char why[256];
	pthread_t t;

	heartbeat_init(&shared, "symboliser", S, 100 * S);
	ck_assert_int_eq(heartbeat_check(all, 1, 500 * S, why, sizeof why), -1);
	ck_assert_int_eq(pthread_create(&t, NULL, beater, NULL), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(heartbeat_check(all, 1, 500 * S, why, sizeof why), 0);
}
END_TEST

int main(void)
{
	CHECK_RUN("heartbeat", NULL, NULL, test_stall, test_other_thread);
}
