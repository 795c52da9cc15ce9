/*
 * glibc-shim: support/test-driver.c (see check.h).  Included at the end of
 * a test: main runs do_test in a child process with an alarm (three times
 * the test's TIMEOUT) and exits with its status; a test that defines
 * EXPECTED_SIGNAL passes when the child dies of that signal.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "test-driver.h"

int shim_failed;

#ifndef TIMEOUT
#define TIMEOUT DEFAULT_TIMEOUT
#endif

int main(void)
{
	pid_t pid;
	int st, r;

	setvbuf(stdout, NULL, _IONBF, 0);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		alarm(TIMEOUT * 3);
		/* Every test here names its function do_test (TEST_FUNCTION
		 * is "do_test" or "do_test ()"). */
		r = do_test();
		exit(r != 0 ? r : shim_failed);
	}
	if (waitpid(pid, &st, 0) != pid) {
		perror("waitpid");
		return 1;
	}
#ifdef EXPECTED_SIGNAL
	if (WIFSIGNALED(st) && WTERMSIG(st) == EXPECTED_SIGNAL)
		return 0;
	printf("expected signal %d (%s)\n", EXPECTED_SIGNAL, strsignal(EXPECTED_SIGNAL));
	return 1;
#endif
	if (WIFSIGNALED(st)) {
		printf("killed by signal %d (%s)\n", WTERMSIG(st), strsignal(WTERMSIG(st)));
		return 1;
	}
	return WEXITSTATUS(st);
}
