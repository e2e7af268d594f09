# urunit: `make` builds the static release binary; `make test` runs every test;
# `make demo` runs urunit as PID 1 on service-examples/; `make bench` compares with C runit.
SHELL := /bin/bash
TARGET ?= x86_64-unknown-linux-musl
BIN := target/$(TARGET)/release/urunit
CRUNIT := target/crunit
export CRUNIT_DIR := $(abspath $(CRUNIT))
CARGO ?= cargo

.PHONY: musl-target all build size test unit integration fmt-check deps crunit demo bench clean aarch64

all: build

# The musl target is installed with rustup when missing.
musl-target:
	@rustup target list --installed 2>/dev/null | grep -qx $(TARGET) || rustup target add $(TARGET)

build: musl-target
	$(CARGO) build --release --target $(TARGET) -p urunit
	@$(MAKE) --no-print-directory size

size:
	@echo "urunit: $$(stat -c %s $(BIN)) bytes, $$(file -L $(BIN) | grep -Eo 'static-pie linked|statically linked|dynamically linked'), $$(file -L $(BIN) | grep -Eo 'not stripped|stripped')"

# No core::fmt in shipped code: build unstripped into its own directory and count symbols.
fmt-check: musl-target
	CARGO_PROFILE_RELEASE_STRIP=false $(CARGO) build --release --target $(TARGET) -p urunit --target-dir target/unstripped -q
	@n=$$(nm -C target/unstripped/$(TARGET)/release/urunit | grep -c 'core::fmt' || true); \
	  echo "core::fmt symbols in the release binary: $$n"; test "$$n" -eq 0

# Debian packages the tests use: podman + runc (containers), busybox-static (a shell
# for scratch roots), and C runit's binaries (unpacked, not installed) for interop.
deps:
	@need=""; for p in podman runc busybox-static strace; do dpkg -s $$p >/dev/null 2>&1 || need="$$need $$p"; done; \
	  if [ -n "$$need" ]; then echo "installing:$$need"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; fi
	@$(MAKE) --no-print-directory crunit

crunit: $(CRUNIT)/usr/bin/runsv
$(CRUNIT)/usr/bin/runsv:
	mkdir -p $(CRUNIT)/deb
	cd $(CRUNIT)/deb && (apt-get download runit 2>/dev/null || (apt-get update -qq && apt-get download runit))
	dpkg -x $(CRUNIT)/deb/runit_*.deb $(CRUNIT)
	@test -x $@

unit:
	$(CARGO) test -p urunit --target x86_64-unknown-linux-gnu

integration: build deps
	URUNIT_BIN=$(abspath $(BIN)) $(CARGO) test -p urunit-tests --target x86_64-unknown-linux-gnu -- --test-threads=4

test: build fmt-check unit integration
	@$(MAKE) --no-print-directory size

demo: build
	./demo.sh $(BIN)

bench: build crunit
	python3 bench/bench.py --urunit $(BIN) --crunit $(CRUNIT)

clean:
	$(CARGO) clean
