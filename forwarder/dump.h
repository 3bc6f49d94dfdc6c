/*-------------------------------------------------------------------------
 *
 * dump.h
 *		walbridged dump: print a walbridge topic as JSON lines.
 *
 * IDENTIFICATION
 *		forwarder/dump.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_DUMP_H
#define WB_DUMP_H

/*
 * The "dump" subcommand: argv[0] is "dump", its options and the topic
 * follow.  Returns the exit status.
 */
extern int	dump_main(int argc, char **argv, const char *progname);

#endif							/* WB_DUMP_H */
