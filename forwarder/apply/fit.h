/*-------------------------------------------------------------------------
 *
 * fit.h
 *		Whether a value's text fits a column's length or precision limit
 *		here, so that apply can name the column a value is too large for.
 *		Pure: no server, no Kafka.
 *
 * PostgreSQL's own error ("value too long for type character
 * varying(10)") names the type, not the column; a row has many columns of
 * one type.  apply calls fit_check() on each value of the change that
 * failed, and says which column, how large the value is and what the
 * column takes.
 *
 * IDENTIFICATION
 *		forwarder/apply/fit.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_FIT_H
#define WB_FIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The base types whose typmod limits what a value may hold. */
#define WB_TYPE_BPCHAR		1042
#define WB_TYPE_VARCHAR		1043
#define WB_TYPE_BIT			1560
#define WB_TYPE_VARBIT		1562
#define WB_TYPE_NUMERIC		1700

/*
 * Whether text (a value's input text) fits a column of base type basetype
 * with typmod (-1: no limit).  When it does not, why says how large the
 * value is ("130 characters", "9 bits", "7 digits before the decimal
 * point").  Types without a length limit always fit.
 */
extern bool fit_check(uint32_t basetype, int32_t typmod, const char *text,
					  char *why, size_t whylen);

#endif							/* WB_FIT_H */
