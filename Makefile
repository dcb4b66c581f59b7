# pactwatch's one front door. `make demo` runs the daemon on the embedded default; `make test`
# builds and passes every test. Both install what they need first (Debian 12).
JOBS ?= $(shell nproc)
PRESET ?= default
BUILD_DIR := build

.PHONY: all deps configure build test demo asan clean

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

demo: deps
	$(MAKE) build
	@mkdir -p var
	@echo
	@echo "pactwatch demo: SQLite store in ./var/, rules and partners from ./rules/"
	@echo "  curl http://127.0.0.1:8080/livez"
	@echo "  curl http://127.0.0.1:8080/readyz"
	@echo "  sqlite3 var/pactwatch.db 'select id, name, kind, tier from partners'"
	@echo "Stop with Ctrl-C."
	@echo
	$(BUILD_DIR)/bin/pactwatch serve --config demo/pactwatch.yaml

clean:
	rm -rf build build-asan build-release
