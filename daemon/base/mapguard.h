/*
 * mapguard.h: surviving a file that shrinks under a mapping.
 *
 * gomemd reads ELF files that watched processes map, and the owner of such
 * a file may truncate it at any moment.  Code that maps the file it reads
 * (elfutils' libelf with ELF_C_READ_MMAP, libdwfl, which maps every object
 * it symbolises) then touches a page past the new end of the file, and the
 * kernel sends SIGBUS, whose default action ends gomemd.  mapguard catches
 * that SIGBUS and puts a private page of zeros over the one that faulted, so
 * the read returns zeros and the parser fails or finds nothing, as for any
 * other malformed file.  Counted; nothing else changes.
 */
#ifndef GOMEMD_MAPGUARD_H
#define GOMEMD_MAPGUARD_H

#include <stdint.h>

/* Install the SIGBUS handler (once, before threads start); 0 or -1. */
int mapguard_install(void);

/* Pages put in place of a shrunk file's so far. */
uint64_t mapguard_pages(void);

#endif /* GOMEMD_MAPGUARD_H */
