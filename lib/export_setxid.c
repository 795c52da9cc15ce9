/*
 * export_setxid.c: the functions that change a process's ids, wrapped so
 * that the scavenger thread is not there while they run.
 *
 * glibc applies setuid, setgid, setgroups and the rest to every thread: it
 * signals each thread to make the same system call and aborts the process
 * if one of them fails.  Capabilities are per thread, so a program that
 * raises one on its own thread only and then changes an id (setpriv
 * --reuid --regid does exactly this) would fail in the scavenger thread and
 * abort.  Each wrapper stops and joins the thread (scavenge.c), calls
 * libc's function, and starts a new thread, which inherits the caller's
 * ids and capabilities: no thread of ours keeps privileges the program
 * dropped, and none lacks those it kept.
 *
 * initgroups is wrapped too (glibc calls its own setgroups from it).
 * unshare and setns are wrapped for another reason: the kernel refuses a
 * new user namespace (unshare(CLONE_NEWUSER), setns into one) to a process
 * with more than one thread, with EINVAL.  The new thread starts inside
 * the namespaces the caller has entered.
 * Direct system calls (syscall(SYS_setuid, ...)) act on one thread only and
 * need nothing.  The wrappers are not on any allocation path.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* libc's function name, found once (dlsym may allocate: before the pause). */
static void *gm_next_sym(void *_Atomic *slot, const char *name)
{
	void *f = atomic_load_explicit(slot, memory_order_acquire);

	if (f == NULL) {
		f = dlsym(RTLD_NEXT, name);
		atomic_store_explicit(slot, f, memory_order_release);
	}
	return f;
}

/*
 * With a thread stopped, whether a call that got EINVAL should be tried
 * again: for up to GM_SETXID_RETRY_NS from started, with a yield, then
 * 100 us sleeps, between tries.  pthread_join returns when the kernel
 * clears the thread's id word, before the thread leaves the group and
 * drops its fs_struct, and until then the kernel refuses a new user
 * namespace (more than one thread) or mount namespace (a shared
 * fs_struct).  No call a program can make tells that moment but the
 * refused one itself: 86 of 300 of setxid.sh's Python unshare/setns runs
 * failed without a retry, and 4 or 5 of 12 with 1000 yields (about a
 * millisecond) on a guest whose other vCPU was slow to run the exiting
 * thread.  An EINVAL for another reason costs the caller the bound.
 */
#define GM_SETXID_RETRY_NS 1000000000u

static bool gm_setxid_again(uint64_t started, unsigned tries)
{
	struct timespec nap = {0, 100000};

	if (gm_nanotime() - started >= GM_SETXID_RETRY_NS)
		return false;
	if (tries < 100)
		sched_yield();
	else
		syscall(SYS_nanosleep, &nap, NULL); /* not a cancellation point */
	return true;
}

/*
 * Define wrapper NAME(PARAMS) that calls libc's NAME(ARGS) with the
 * scavenger stopped; -1 with ENOSYS if libc has none.  With retry, an
 * EINVAL after a thread was stopped is tried again (gm_setxid_again).
 */
#define GM_SETXID(name, params, args, retry)                                                       \
	GM_API int name params                                                                     \
	{                                                                                          \
		static void *_Atomic next;                                                         \
		int(*f) params = (int(*) params)gm_next_sym(&next, #name);                         \
		int ran;                                                                           \
		int rc, err_;                                                                      \
                                                                                                   \
		if (f == NULL) {                                                                   \
			errno = ENOSYS;                                                            \
			return -1;                                                                 \
		}                                                                                  \
		ran = gm_scav_pause();                                                             \
		rc = f args;                                                                       \
		if (retry && ran > 0 && rc == -1 && errno == EINVAL) {                             \
			uint64_t t0_ = gm_nanotime();                                              \
                                                                                                   \
			for (unsigned i_ = 0;                                                      \
			     rc == -1 && errno == EINVAL && gm_setxid_again(t0_, i_); i_++)        \
				rc = f args;                                                       \
		}                                                                                  \
		err_ = errno;                                                                      \
		gm_scav_resume(ran);                                                               \
		errno = err_;                                                                      \
		return rc;                                                                         \
	}

GM_SETXID(setuid, (uid_t u), (u), 0)
GM_SETXID(setgid, (gid_t g), (g), 0)
GM_SETXID(seteuid, (uid_t u), (u), 0)
GM_SETXID(setegid, (gid_t g), (g), 0)
GM_SETXID(setreuid, (uid_t r, uid_t e), (r, e), 0)
GM_SETXID(setregid, (gid_t r, gid_t e), (r, e), 0)
GM_SETXID(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s), 0)
GM_SETXID(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s), 0)
GM_SETXID(setgroups, (size_t n, const gid_t *list), (n, list), 0)
GM_SETXID(initgroups, (const char *user, gid_t g), (user, g), 0)
GM_SETXID(unshare, (int flags), (flags), 1)
GM_SETXID(setns, (int fd, int nstype), (fd, nstype), 1)
