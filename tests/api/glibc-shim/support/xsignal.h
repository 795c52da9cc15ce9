/* glibc-shim: support/xsignal.h (see check.h). */
#ifndef GLIBC_SHIM_XSIGNAL_H
#define GLIBC_SHIM_XSIGNAL_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "xthread.h"

static inline sighandler_t xsignal(int sig, sighandler_t h)
{
	sighandler_t r = signal(sig, h);

	if (r == SIG_ERR) {
		perror("signal");
		exit(1);
	}
	return r;
}

#endif
