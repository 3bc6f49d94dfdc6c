/*
 * test_inflight.c: the flush position moves only past transactions whose
 * every message Kafka acknowledged, and everything before them.
 */
#include "inflight.h"
#include "unit.h"

static void
test_order(void)
{
	wb_inflight inf;
	uint64_t	a,
				b,
				c;

	inflight_init(&inf);
	CHECK(inflight_take_confirmable(&inf) == 0);

	a = inflight_open(&inf);
	inflight_add_message(&inf, a);
	inflight_add_message(&inf, a);
	b = inflight_open(&inf);
	inflight_add_message(&inf, b);
	inflight_close(&inf, b, 200);
	inflight_close(&inf, a, 100);

	/* b is acknowledged first: nothing moves, a is still out */
	inflight_ack(&inf, b);
	CHECK(inflight_take_confirmable(&inf) == 0);
	inflight_ack(&inf, a);
	CHECK(inflight_take_confirmable(&inf) == 0);	/* a has one more */
	inflight_ack(&inf, a);
	CHECK(inflight_take_confirmable(&inf) == 200);	/* a and b together */
	CHECK(inflight_count(&inf) == 0);

	/* an open transaction holds back even acknowledged chunks */
	c = inflight_open(&inf);
	inflight_add_message(&inf, c);
	inflight_ack(&inf, c);
	CHECK(inflight_take_confirmable(&inf) == 0);
	inflight_close(&inf, c, 300);
	CHECK(inflight_take_confirmable(&inf) == 300);

	/* stale ids (a previous entry) are ignored */
	inflight_ack(&inf, a);
	CHECK(inflight_count(&inf) == 0);
	inflight_free(&inf);
}

/* many transactions, acknowledged out of order, across ring growth */
static void
test_growth(void)
{
	wb_inflight inf;
	enum {N = 5000};
	uint64_t	ids[N];
	uint64_t	confirmed = 0;

	inflight_init(&inf);
	for (int i = 0; i < N; i++)
	{
		ids[i] = inflight_open(&inf);
		inflight_add_message(&inf, ids[i]);
		inflight_close(&inf, ids[i], (uint64_t) (i + 1) * 10);
	}
	CHECK(inflight_count(&inf) == N);
	CHECK(inflight_pending_messages(&inf) == N);
	/* acknowledge odd ones first: nothing confirmable past the first even */
	for (int i = 1; i < N; i += 2)
		inflight_ack(&inf, ids[i]);
	CHECK(inflight_take_confirmable(&inf) == 0);
	for (int i = 0; i < N; i += 2)
	{
		uint64_t	got;

		inflight_ack(&inf, ids[i]);
		got = inflight_take_confirmable(&inf);
		/* acknowledging i releases i and i + 1 */
		CHECK(got == (uint64_t) (i + 2 > N ? N : i + 2) * 10);
		if (got > confirmed)
			confirmed = got;
	}
	CHECK(confirmed == (uint64_t) N * 10);
	CHECK(inflight_count(&inf) == 0);
	inflight_free(&inf);
}

int
main(void)
{
	test_order();
	test_growth();
	return unit_report();
}
