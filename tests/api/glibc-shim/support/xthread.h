/* glibc-shim: support/xthread.h (see check.h): each call or exit 1. */
#ifndef GLIBC_SHIM_XTHREAD_H
#define GLIBC_SHIM_XTHREAD_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHIM_X(call)                                                                               \
	do {                                                                                       \
		int e_ = (call);                                                                   \
		if (e_ != 0) {                                                                     \
			printf("%s: %s\n", #call, strerror(e_));                                   \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static inline pthread_t xpthread_create(pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	pthread_t t;

	SHIM_X(pthread_create(&t, a, fn, arg));
	return t;
}

static inline void *xpthread_join(pthread_t t)
{
	void *r;

	SHIM_X(pthread_join(t, &r));
	return r;
}

/* True in the one thread the barrier picks (PTHREAD_BARRIER_SERIAL_THREAD). */
static inline int xpthread_barrier_wait(pthread_barrier_t *b)
{
	int r = pthread_barrier_wait(b);

	if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD) {
		printf("pthread_barrier_wait: %s\n", strerror(r));
		exit(1);
	}
	return r == PTHREAD_BARRIER_SERIAL_THREAD;
}

#define xpthread_barrier_init(b, a, n)	      SHIM_X(pthread_barrier_init(b, a, n))
#define xpthread_barrier_destroy(b)	      SHIM_X(pthread_barrier_destroy(b))
#define xpthread_barrierattr_init(a)	      SHIM_X(pthread_barrierattr_init(a))
#define xpthread_barrierattr_destroy(a)	      SHIM_X(pthread_barrierattr_destroy(a))
#define xpthread_barrierattr_setpshared(a, s) SHIM_X(pthread_barrierattr_setpshared(a, s))
#define xpthread_kill(t, s)		      SHIM_X(pthread_kill(t, s))
#define xpthread_mutex_lock(m)		      SHIM_X(pthread_mutex_lock(m))
#define xpthread_mutex_unlock(m)	      SHIM_X(pthread_mutex_unlock(m))
#define xpthread_attr_init(a)		      SHIM_X(pthread_attr_init(a))
#define xpthread_attr_destroy(a)	      SHIM_X(pthread_attr_destroy(a))
#define xpthread_attr_setstacksize(a, n)      SHIM_X(pthread_attr_setstacksize(a, n))
#define xpthread_attr_setdetachstate(a, d)    SHIM_X(pthread_attr_setdetachstate(a, d))
#define xpthread_detach(t)		      SHIM_X(pthread_detach(t))
#define xpthread_sigmask(h, s, o)	      SHIM_X(pthread_sigmask(h, s, o))

#endif
