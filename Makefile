# pactwatch's one front door. `make demo` runs the daemon on the embedded default; `make test`
# builds and passes every test. Both install what they need first (Debian 12).
JOBS ?= $(shell nproc)
PRESET ?= default
BUILD_DIR := build

.PHONY: all deps fuzz-deps configure build test demo asan fuzz bench bench-eval install deb clean

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
	ctest --preset debug-asan -j $(JOBS)

DEMO := build/bin/pactwatch
DEMO_CONFIG := --config demo/pactwatch.yaml
demo: deps
	$(MAKE) build
	@mkdir -p var
	@for kind in tickets deals surveys events; do \
	  $(DEMO) import $$kind demo/items/$$kind.ndjson --source demo $(DEMO_CONFIG) --log-level warn || exit 1; \
	done
	@echo
	@echo "pactwatch demo: SQLite store in ./var/, partners, calendars and contracts from ./rules/examples/,"
	@echo "demo items from ./demo/items/. In another terminal:"
	@echo "  curl http://127.0.0.1:8080/livez"
	@echo "  curl http://127.0.0.1:8080/readyz"
	@echo "  $(DEMO) check $(DEMO_CONFIG)"
	@echo "  $(DEMO) eval $(DEMO_CONFIG) --period 2026-10 --as-of 2026-11-02T00:00:00Z"
	@echo "  $(DEMO) eval $(DEMO_CONFIG) --partner contoso-eu --period 2026-Q3 --as-of 2026-10-05T00:00:00Z --format json"
	@echo "  $(DEMO) test rules/examples/scenarios/*.yaml"
	@echo "  $(DEMO) report compensation $(DEMO_CONFIG) --period 2026-10 --as-of 2026-11-02T00:00:00Z"
	@echo "  $(DEMO) what-if $(DEMO_CONFIG) --partner fabrikam-field --period 2026-10 --set first_time_fix=95% --as-of 2026-11-02T00:00:00Z"
	@echo "  $(DEMO) calendar rules/examples/calendars/eu-support.yaml add 2026-01-05T15:00:00Z 3600"
	@echo "Stop with Ctrl-C."
	@echo
	$(DEMO) serve $(DEMO_CONFIG)

# Coverage-guided fuzzing with libFuzzer (clang 19 from Debian 12), FUZZ_SECONDS per target,
# starting from the committed corpus; new inputs go to build-fuzz/corpus-<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := calendar ical config partners scalars expr contract import pages
fuzz-deps: deps
	@bash scripts/install-deps.sh --fuzz

fuzz: fuzz-deps
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus-$$t; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  build-fuzz/bin/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    build-fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

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

# Installs the Release build under PREFIX (default /usr/local; DESTDIR for staging). The unit
# expects /usr/bin/pactwatch: for a system install use the .deb, or PREFIX=/usr.
PREFIX ?= /usr/local
install: deps
	cmake --preset release -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build --preset release -j $(JOBS) --target pactwatch
	cmake --install build-release

# A Debian package of the Release build (build-release/pactwatch_VERSION_ARCH.deb).
deb: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target pactwatch
	cd build-release && cpack -G DEB

clean:
	rm -rf build build-asan build-release build-fuzz build-bench
