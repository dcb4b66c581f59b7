# pactwatch's one front door. `make demo` runs the daemon on the embedded default; `make test`
# builds and passes every test. Both install what they need first (Debian 12).
JOBS ?= $(shell nproc)
PRESET ?= default
BUILD_DIR := build


.PHONY: property-eval
.PHONY: all deps fuzz-deps configure build test demo asan fuzz bench bench-eval bench-api bench-import bench-cluster drill tsan install deb clean

all: build

deps:
	@bash scripts/install-deps.sh

configure:
	cmake --preset $(PRESET)

build: configure
	cmake --build --preset $(PRESET) -j $(JOBS)
	@test -x $(BUILD_DIR)/bin/pactwatch

test: deps
	$(MAKE) build
	ctest --preset $(PRESET) -j $(JOBS)

# The sanitizer build (AddressSanitizer + UndefinedBehaviorSanitizer) with the whole suite.
asan: deps
	cmake --preset debug-asan
	cmake --build --preset debug-asan -j $(JOBS)
	PACTWATCH_PROPERTY_CASES=400 ctest --preset debug-asan -j $(JOBS)

DEMO := build/bin/pactwatch
DEMO_CONFIG := --config var/demo.yaml
# The whole loop on the embedded default (SQLite): the demo items are imported, serve evaluates
# them, a file dropped into var/inbox after 20 s adds late field-service dispatches, and every
# breach and violation is delivered as a signed webhook to scripts/webhook-sink.py, which checks
# the signature and prints it. Ctrl-C stops it all.
demo: deps
	$(MAKE) build
	@mkdir -p var/inbox
	@sed 's|@ROOT@|$(CURDIR)|g' demo/demo.yaml.in > var/demo.yaml
	@test -s var/webhook.secret || (umask 077; python3 -c "import base64,os; print('whsec_' + base64.b64encode(os.urandom(24)).decode())" > var/webhook.secret)
	@for kind in tickets deals surveys events; do \
	  $(DEMO) import $$kind demo/items/$$kind.ndjson --source demo $(DEMO_CONFIG) --log-level warn || exit 1; \
	done
	@$(DEMO) contract adopt --all --vouched-by demo@brand.example $(DEMO_CONFIG) --log-level warn > /dev/null
	@$(DEMO) contract status contoso-resale --format json $(DEMO_CONFIG) --log-level warn | grep -q '"state": "draft"' && \
	  $(DEMO) contract propose contoso-resale 1 --by demo@brand.example --comment "first resale terms for review" \
	    $(DEMO_CONFIG) --log-level warn > /dev/null || true
	@$(DEMO) dispute list --partner fabrikam-field $(DEMO_CONFIG) --log-level warn | grep -q fabrikam-F10 || \
	  $(DEMO) dispute record --partner fabrikam-field --contract fabrikam-field --version 1 --period 2026-10 --rule on_site_4h \
	    --item demo/tickets/fabrikam-F10 --category customer_caused --from service@fabrikam.example \
	    --reason "the site was closed when the technician arrived; the customer rescheduled" \
	    $(DEMO_CONFIG) --log-level warn > /dev/null || echo "(the demo dispute was not recorded: see the reason above)"
	@$(DEMO) correction list --partner fabrikam-field $(DEMO_CONFIG) --log-level warn | grep -q first_time_fix || \
	  $(DEMO) correction declare --partner fabrikam-field --contract fabrikam-field --version 1 --rules first_time_fix \
	    --from 2026-10-08T13:30:00Z --until 2026-10-08T15:00:00Z --category brand_caused \
	    --reason "dispatch platform outage: technicians left without their part lists" \
	    $(DEMO_CONFIG) --log-level warn > /dev/null
	@test -s var/finance.token || (umask 077; $(DEMO) token create --role finance --name demo-finance $(DEMO_CONFIG) --log-level warn > var/finance.token 2>/dev/null)
	@test -s var/northwind.token || (umask 077; $(DEMO) token create --role partner --partner northwind --name demo-northwind $(DEMO_CONFIG) --log-level warn > var/northwind.token 2>/dev/null)
	@echo
	@echo "pactwatch demo: SQLite store in ./var/, partners, calendars and contracts from ./rules/examples/,"
	@echo "demo items from ./demo/items/, webhooks to scripts/webhook-sink.py (lines marked [webhook-sink])."
	@echo "In 20 s a file of late dispatches is dropped into var/inbox. In another terminal:"
	@echo "  curl http://127.0.0.1:8080/readyz; curl http://127.0.0.1:8080/metrics"
	@echo "  curl -H \"Authorization: Bearer \$$(cat var/northwind.token)\" 'http://127.0.0.1:8080/v1/partners/northwind/kpis?period=2026-10'"
	@echo "  curl -H \"Authorization: Bearer \$$(cat var/finance.token)\" 'http://127.0.0.1:8080/v1/compensation?period=2026-10&format=csv'"
	@echo "Portal: http://127.0.0.1:8080/portal — sign in with the token in var/northwind.token (a partner)"
	@echo "or var/finance.token (finance: every partner, the report, close)."
	@echo "  $(DEMO) eval $(DEMO_CONFIG) --period 2026-10 --as-of 2026-11-02T00:00:00Z"
	@echo "  $(DEMO) report compensation $(DEMO_CONFIG) --period 2026-10 --as-of 2026-11-02T00:00:00Z"
	@echo "  $(DEMO) what-if $(DEMO_CONFIG) --partner fabrikam-field --period 2026-10 --set first_time_fix=95% --as-of 2026-11-02T00:00:00Z"
	@echo "  $(DEMO) outbox list $(DEMO_CONFIG)"
	@echo "  $(DEMO) contract status $(DEMO_CONFIG)   # contoso-resale v1 is proposed, awaiting both approvals"
	@echo "  $(DEMO) dispute list $(DEMO_CONFIG)      # fabrikam-field disputes ticket F10, awaiting the brand's answer"
	@echo "  $(DEMO) correction list $(DEMO_CONFIG)   # the brand's dispatch outage, pre-agreed: F4 and F9 leave first_time_fix"
	@echo "  $(DEMO) test rules/examples/scenarios/*.yaml"
	@echo "Stop with Ctrl-C."
	@echo
	@python3 scripts/webhook-sink.py 8099 var/webhook.secret & sink=$$!; \
	(sleep 20; cp demo/drops/*.ndjson var/inbox/.drop.tmp 2>/dev/null && mv var/inbox/.drop.tmp var/inbox/2026-10-30-late-dispatches.ndjson) & dropper=$$!; \
	trap 'kill $$sink $$dropper 2>/dev/null' EXIT INT TERM; \
	$(DEMO) serve $(DEMO_CONFIG)

# Coverage-guided fuzzing with libFuzzer (clang 19 from Debian 12), FUZZ_SECONDS per target,
# starting from the committed corpus; new inputs go to build-fuzz/corpus-<target>/. A crash, a
# hang past 10 s or 2 GB of memory stops it with the input saved as crash-*/timeout-*/oom-* in
# the working directory: commit that file to tests/fuzz/corpus/<target>/ with the fix, and `make
# test` replays it from then on. JOBS targets run at once (scripts/fuzz-all.sh, a log per target in
# build-fuzz/). CI runs every target for 30 s.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := calendar ical config partners scalars expr contract import pages api agreement evaluation
fuzz-deps: deps
	@bash scripts/install-deps.sh --fuzz

fuzz: fuzz-deps
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	scripts/fuzz-all.sh $(FUZZ_SECONDS) $(JOBS) $(FUZZ_TARGETS)

# The concurrent parts under ThreadSanitizer: the dispatcher, the API, the evaluation runner and
# serve itself (its daemons are TSan builds; a race report fails the test). setarch -R: TSan
# needs the address layout that high mmap randomisation on newer kernels breaks.
# Only the suites it runs are built (TSAN_TESTS, and integration_cli for Serve.*): the rest of a
# TSan build is never run and cost CI most of this target's build time.
TSAN_TESTS := integration_dispatcher integration_api integration_evaluation unit_app unit_notify unit_core
tsan: deps
	cmake --preset debug-tsan
	cmake --build --preset debug-tsan -j $(JOBS) --target $(TSAN_TESTS) integration_cli
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" setarch $$(uname -m) -R \
	  ctest -j $(JOBS) --output-on-failure -R '^($(subst $(eval) ,|,$(TSAN_TESTS)))$$'
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" setarch $$(uname -m) -R build-tsan/bin/integration_cli --gtest_filter='Serve.*'

# The evaluation property test: the engine against the reference evaluator written from the docs
# (tests/reference/, docs/development.md). make test runs it with its fixed seed; this runs it
# alone, e.g. PACTWATCH_PROPERTY_SEED=random make property-eval to explore new cases.
property-eval: build
	build/bin/property_evaluation

# Reliability drills, longer than make test runs them (docs/reliability.md): 500 SIGKILLs per
# backend, and 200 on a pair of instances sharing PostgreSQL (DRILL_KILLS, DRILL_PAIR_KILLS,
# DRILL_SEED); about 15 minutes.
DRILL_KILLS ?= 500
DRILL_PAIR_KILLS ?= 200
DRILL_SEED ?= 1
drill: build
	PACTWATCH_DRILL_KILLS=$(DRILL_KILLS) PACTWATCH_DRILL_PAIR_KILLS=$(DRILL_PAIR_KILLS) PACTWATCH_DRILL_SEED=$(DRILL_SEED) build/bin/drill_crash

# Benchmarks (Release build): figures go in docs/benchmarks.md.
bench: deps
	cmake --preset bench
	cmake --build --preset bench -j $(JOBS) --target calendar_bench
	build-bench/bin/calendar_bench

# End-to-end evaluation benchmark: 1,000 partners, 1,000,000 tickets, 1,000 changed (BENCH_ARGS).
BENCH_ARGS ?= 1000 1000000 1000
bench-eval: deps
	cmake --preset bench
	cmake --build --preset bench -j $(JOBS) --target eval_driver pactwatch
	build-bench/bin/eval_driver $(BENCH_ARGS)

# Import throughput into SQLite and PostgreSQL, one INSERT per item against batched, connector pages and
# bulk pages (COPY on PostgreSQL) (IMPORT_ARGS: items, page size, bulk page size).
IMPORT_ARGS ?= 100000 100 10000
bench-import: deps
	cmake --preset bench
	cmake --build --preset bench -j $(JOBS) --target import_driver
	build-bench/bin/import_driver $(IMPORT_ARGS)

# Scale benchmark: 10,000 partners and 10,000,000 tickets on PostgreSQL, full evaluation by 1, 2 and
# 3 instances (CLUSTER_ARGS: PARTNERS TICKETS INSTANCES [nosqlite]; about 40 minutes on 2 cores).
bench-cluster: deps
	cmake --preset bench
	cmake --build --preset bench -j $(JOBS) --target cluster_driver pactwatch
	build-bench/bin/cluster_driver $(CLUSTER_ARGS)

# API load benchmark: wrk against a partner's KPI standing next to static-file and /livez baselines, idle and
# slow-header connections, oversized bodies, and one token's expensive requests against another's (API_BENCH_ARGS:
# partners, tickets, seconds per run, keep-alive connections).
API_BENCH_ARGS ?= 100 100000 10 256
bench-api: deps
	cmake --preset bench
	cmake --build --preset bench -j $(JOBS) --target pactwatch
	bash bench/api_load.sh build-bench/bin/pactwatch $(API_BENCH_ARGS)

# Installs the Release build under PREFIX (default /usr/local; DESTDIR for staging). The unit
# expects /usr/bin/pactwatch: for a system install use the .deb, or PREFIX=/usr.
PREFIX ?= /usr/local
install: deps
	cmake --preset release -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build --preset release -j $(JOBS) --target pactwatch
	cmake --install build-release

# A Debian package of the Release build (build-release/pactwatch_VERSION-REVISION_ARCH.deb): maintainer
# scripts, conffile, copyright (docs/operations.md, "The package"). Its maintainer comes from git
# config user.name and user.email, or DEB_MAINTAINER="Name <email>".
DEB_MAINTAINER ?=
deb: deps
	cmake --preset release $(if $(DEB_MAINTAINER),"-DPACTWATCH_DEB_MAINTAINER=$(DEB_MAINTAINER)")
	cmake --build --preset release -j $(JOBS) --target pactwatch
	cd build-release && cpack -G DEB

clean:
	rm -rf build build-asan build-release build-fuzz build-bench
