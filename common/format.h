/*-------------------------------------------------------------------------
 *
 * format.h
 *		The walbridge record format: tags, layout constants and the format
 *		version.  This is a public, versioned contract (docs/FORMAT.md); the
 *		output plugin writes it, walbridge.decode() and walbridged read it.
 *
 * Plain C on purpose: no postgres.h, so the forwarder can include it.
 *
 * IDENTIFICATION
 *		common/format.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WALBRIDGE_FORMAT_H
#define WALBRIDGE_FORMAT_H

/*
 * Version of the record layout.  Carried in every BEGIN record.  Bump it on
 * any change a reader could misread; adding a new record tag also counts.
 */
#define WALBRIDGE_FORMAT_VERSION		1

/*
 * Every record is one msgpack array whose first element is one of these
 * tags (a positive fixint, so one byte on the wire).  The remaining elements
 * are positional; see docs/FORMAT.md for the field lists.
 */
#define WB_REC_BEGIN		'B'		/* [tag, version, xid, commit_lsn,
									 *  commit_time, origin_id, origin_name,
									 *  origin_lsn] */
#define WB_REC_RELATION		'R'		/* [tag, relid, schema, table,
									 *  replident, [[name, typoid, typname,
									 *  typmod, flags], ...]] */
#define WB_REC_INSERT		'I'		/* [tag, relid, new] */
#define WB_REC_UPDATE		'U'		/* [tag, relid, old_kind, old, new] */
#define WB_REC_DELETE		'D'		/* [tag, relid, old_kind, old] */
#define WB_REC_TRUNCATE		'T'		/* [tag, flags, [relid, ...]] */
#define WB_REC_MESSAGE		'M'		/* [tag, transactional, lsn, prefix,
									 *  content] */
#define WB_REC_COMMIT		'C'		/* [tag, xid, commit_lsn, end_lsn,
									 *  commit_time] */
#define WB_REC_SNAPSHOT		'S'		/* [tag, relid, new, commit_time]: a
									 * row of the initial copy, from
									 * walbridge.snapshot_records() */

/* Number of elements in each record's array, tag included. */
#define WB_BEGIN_NFIELDS		8
#define WB_RELATION_NFIELDS		6
#define WB_INSERT_NFIELDS		3
#define WB_UPDATE_NFIELDS		5
#define WB_DELETE_NFIELDS		4
#define WB_TRUNCATE_NFIELDS		3
#define WB_MESSAGE_NFIELDS		5
#define WB_COMMIT_NFIELDS		5
#define WB_SNAPSHOT_NFIELDS		4
#define WB_SNAPSHOT_NFIELDS_V0	3	/* before commit_time: still read */
#define WB_COLUMN_NFIELDS		5

/* old_kind of UPDATE and DELETE: what the old tuple holds (nil: none). */
#define WB_OLD_KEY			'k'		/* replica identity columns only, in
									 * column order */
#define WB_OLD_FULL			'o'		/* every column (REPLICA IDENTITY FULL) */

/* replident of RELATION: pg_class.relreplident as is. */
#define WB_REPLIDENT_DEFAULT	'd'
#define WB_REPLIDENT_NOTHING	'n'
#define WB_REPLIDENT_FULL		'f'
#define WB_REPLIDENT_INDEX		'i'

/* Column flags in RELATION. */
#define WB_COLUMN_IDENTITY		0x01	/* old value identifies the row */
#define WB_COLUMN_PRIMARY_KEY	0x02	/* part of the primary key */

/* TRUNCATE flags. */
#define WB_TRUNCATE_CASCADE		0x01
#define WB_TRUNCATE_RESTART_SEQS 0x02

/*
 * A value in a tuple that is an unchanged TOASTed column (UPDATE did not
 * touch it and it was stored out of line, so WAL does not carry it): a
 * msgpack ext of this type with zero bytes of data.  Never nil, which is
 * SQL NULL.
 */
#define WB_EXT_UNCHANGED_TOAST	1

/*
 * timestamp and timestamptz values: a msgpack ext of these types holding
 * an 8-byte big-endian signed count of microseconds since 2000-01-01
 * 00:00 (UTC for timestamptz, no zone for timestamp), PostgreSQL's own
 * epoch and representation, so every value PostgreSQL allows fits (years
 * up to 294276 would overflow from the Unix epoch); INT64_MAX is
 * 'infinity' and INT64_MIN '-infinity'.  10 bytes instead of a 20 to 35
 * byte text, and no time zone arithmetic while decoding.
 */
#define WB_EXT_TIMESTAMP		2
#define WB_EXT_TIMESTAMPTZ		3
#define WB_EXT_TIMESTAMP_LEN	8

/*
 * Commit timestamps are microseconds since the Unix epoch (1970-01-01 UTC),
 * not PostgreSQL's 2000-01-01 epoch, so other readers need no conversion.
 */
#define WB_PG_EPOCH_OFFSET_USECS	INT64_C(946684800000000)

#endif							/* WALBRIDGE_FORMAT_H */
