# walbridge: PostgreSQL-to-PostgreSQL sync through Apache Kafka
#
#   make && make install      plugin (walbridge.so), extension files
#   make installcheck         pg_regress against a temporary server
#   make test                 every test (see test/run)
#   make bench                benchmarks (bench/run: decoding; bench/publish.sh: slot to Kafka)

EXTENSION    = walbridge
EXTVERSION   = 0.1.0

MODULE_big   = walbridge
OBJS         = $(patsubst %.c,%.o,$(wildcard plugin/*.c common/*.c))
DATA         = $(wildcard sql/*--*--*.sql)
DATA_built   = sql/$(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN  = test/tmp_check test/results test/regression.diffs \
               test/regression.out test/logical.generated.conf

PG_CPPFLAGS += -I$(srcdir)/common -I$(srcdir)/plugin $(shell pkg-config --cflags msgpack)
SHLIB_LINK  += $(shell pkg-config --libs msgpack)

# pg_regress starts its own server with test/logical.conf; its port stays
# below 32768 so the kernel never hands it out as an outgoing port.
REGRESS_PORT ?= 25431
REGRESS      = setup $(filter-out setup,$(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql))))
REGRESS_OPTS = --inputdir=test --outputdir=test --load-extension=$(EXTENSION) \
               --temp-instance=test/tmp_check --port=$(REGRESS_PORT) \
               --temp-config=test/logical.generated.conf

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)

all: sql/$(EXTENSION)--$(EXTVERSION).sql forwarder

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

include $(PGXS)

# walbridged and the test broker have their own Makefile (PGXS builds one
# module per Makefile).
.PHONY: forwarder
forwarder:
	$(MAKE) -C forwarder PG_CONFIG=$(PG_CONFIG)

install: install-forwarder
install-forwarder: forwarder
	$(MAKE) -C forwarder install PG_CONFIG=$(PG_CONFIG)

clean: clean-forwarder
clean-forwarder:
	$(MAKE) -C forwarder clean
	$(MAKE) -C test/unit clean

# The temporary server's settings, plus output_plugin_libraries where the
# server knows that setting (15.19 and later).
installcheck: test/logical.generated.conf
test/logical.generated.conf: test/logical.conf
	test/gen-conf $(shell $(PG_CONFIG) --bindir) $< > $@

.PHONY: test sanitize valgrind fuzz bench demo
test:
	test/run

# walbridged built with ASan+UBSan, and under valgrind, over the end-to-end tests
sanitize:
	test/run sanitize

valgrind:
	test/run valgrind

fuzz:
	test/run fuzz

bench:
	bench/run
	bench/publish.sh

demo:
	test/demo.sh
