/* pg_stubs.h — the stubbed backend of the fuzz harness (see pg_stubs.c). */
#ifndef PG_STUBS_H
#define PG_STUBS_H

#include <setjmp.h>

extern sigjmp_buf *stub_error_jump;	/* where an ERROR jumps to */
extern int	stub_errors;		/* ERRORs raised so far */
extern void stub_arena_reset(void); /* free everything palloc'd */

#endif
