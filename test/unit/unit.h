/*
 * unit.h: the smallest test harness.  CHECK(expr) counts and reports;
 * unit_report() prints "N passed, N failed" and gives the exit status.
 */
#ifndef WALBRIDGE_UNIT_H
#define WALBRIDGE_UNIT_H

#include <stdio.h>

static int	unit_passed;
static int	unit_failed;

#define CHECK(expr) \
	do { \
		if (expr) \
			unit_passed++; \
		else \
		{ \
			unit_failed++; \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
		} \
	} while (0)

static inline int
unit_report(void)
{
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed == 0 ? 0 : 1;
}

#endif
