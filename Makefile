# urunit: `make` builds the static release binary; `make test` runs every test;
# `make demo` runs urunit as PID 1 on service-examples/; `make bench` compares with C runit, s6
# and busybox's runit applets.
SHELL := /bin/bash
TARGET ?= x86_64-unknown-linux-musl
BIN := target/$(TARGET)/release/urunit
CRUNIT := target/crunit
export CRUNIT_DIR := $(abspath $(CRUNIT))
CARGO ?= cargo

.PHONY: musl-target all build size test unit integration fmt-check style lint-libc deps crunit demo bench bench-deps busybox-runit clean aarch64 fuzz floor

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

# The code is formatted by rustfmt (rustfmt.toml); where the toolchain has no rustfmt the check
# says so and is skipped (no other toolchain component can be fetched here).
style:
	@if $(CARGO) fmt --version >/dev/null 2>&1; then $(CARGO) fmt --all --check && echo "rustfmt: formatted"; \
	  else echo "rustfmt: not installed, format check skipped"; fi

# libc is called from src/sys/ (and rt.rs) only: programs use sys functions and constants.
# TODO: report-only while runsv still has some; the coordinator makes it fail (exit 1).
lint-libc:
	@hits=$$(grep -rn 'libc::' src --include='*.rs' | grep -v -e '^src/sys/' -e '^src/rt.rs:' || true); \
	  if [ -n "$$hits" ]; then echo "$$hits"; echo "lint-libc: libc:: outside src/sys/ and src/rt.rs"; exit 1; fi; \
	  echo "lint-libc: no libc:: outside src/sys/ and src/rt.rs"

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

# Seeded random inputs for every parser of outside input (src/fuzz.rs): FUZZ_ITERS per
# parser (make unit runs 20,000 each); prints how many inputs each parser took.
FUZZ_ITERS ?= 2000000
fuzz:
	set -o pipefail; FUZZ_ITERS=$(FUZZ_ITERS) $(CARGO) test --release -p urunit --target x86_64-unknown-linux-gnu fuzz:: -- --nocapture --test-threads=2 2>&1 | grep -E '^fuzz:|^test result|panicked|FAILED'

integration: build deps
	URUNIT_BIN=$(abspath $(BIN)) $(CARGO) test -p urunit-tests --target x86_64-unknown-linux-gnu -- --test-threads=4

test: build fmt-check style lint-libc unit integration
	@$(MAKE) --no-print-directory size

demo: build
	./demo.sh $(BIN)

# The bench's other supervisors: Debian's s6 (installed when missing) and a busybox built from
# Debian's source with its runit applets (Debian's builds have none; when that fails,
# target/busybox-runit/why.txt says why and the bench leaves the column out). The unstripped
# build gives urunit's bytes per module.
BUSYBOX_RUNIT := target/busybox-runit
bench-deps: crunit
	@command -v s6-svscan >/dev/null || { echo "installing: s6"; (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq s6 >/dev/null || echo "s6 not installed: the bench leaves its column out"; }
	@$(MAKE) --no-print-directory busybox-runit

busybox-runit:
	@mkdir -p $(BUSYBOX_RUNIT); test -x $(BUSYBOX_RUNIT)/busybox || timeout 900 bench/busybox-runit.sh $(BUSYBOX_RUNIT) || \
	  echo "busybox column left out: the build script did not finish" > $(BUSYBOX_RUNIT)/why.txt

# The floor of this machine (bench/floor.c, no supervisor): per service, a fork+exec of a
# stand-in that fork+execs the service; at stop, TERM, ./finish, exit; `runit`: start-up with
# the supervise/ files every runit-compatible supervisor writes. Built with musl-gcc
# (musl-tools), so an exec costs what urunit's does (gcc -static if it cannot be installed).
FLOOR := target/floor
$(FLOOR): bench/floor.c
	@command -v musl-gcc >/dev/null || { echo "installing: musl-tools"; (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null; }
	@mkdir -p target && $$(command -v musl-gcc || echo gcc) -O2 -static -s -o $@ $<

floor: $(FLOOR)
	@for n in 1 1 1 50 50 50 500 500 500; do setsid $(FLOOR) start $$n; done
	@for n in 1 1 1 50 50 50 500 500 500; do setsid $(FLOOR) stop $$n; done
	@for n in 50 50 50 500 500 500; do setsid $(FLOOR) runit $$n; done

bench: build bench-deps $(FLOOR)
	CARGO_PROFILE_RELEASE_STRIP=false $(CARGO) build --release --target $(TARGET) -p urunit --target-dir target/unstripped -q
	python3 bench/bench.py --urunit $(BIN) --crunit $(CRUNIT) --busybox $(BUSYBOX_RUNIT)/busybox \
	  --unstripped target/unstripped/$(TARGET)/release/urunit --floor $(FLOOR)

clean:
	$(CARGO) clean

# ---- aarch64 and container images (README: Containers)
AARCH64 := aarch64-unknown-linux-musl
AARCH64_BIN := target/$(AARCH64)/release/urunit
PODMAN ?= podman --runtime /usr/sbin/runc
# The Alpine base image; the default is a local stand-in (busybox-static) for machines with
# no registry. With network: make images ALPINE_IMAGE=docker.io/library/alpine:3.20
ALPINE_IMAGE ?= localhost/alpine-standin
IMAGE ?= localhost/urunit

.PHONY: images

# The aarch64 static binary, linked by rust-lld (no cross toolchain needed), and Debian's
# qemu-user-static, which runs its tests here (tests/tests/aarch64.rs).
aarch64:
	@rustup target list --installed 2>/dev/null | grep -qx $(AARCH64) || rustup target add $(AARCH64)
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld $(CARGO) build --release --target $(AARCH64) -p urunit
	@command -v qemu-aarch64-static >/dev/null || { (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null; }
	@echo "urunit (aarch64): $$(stat -c %s $(AARCH64_BIN)) bytes, $$(file -L $(AARCH64_BIN) | grep -Eo 'statically linked|static-pie linked|dynamically linked')"

# $(IMAGE):alpine and $(IMAGE):scratch from the binary `make` built (no Rust image needed);
# CONTAINERS_CONF drops default ulimits, which these machines may not raise.
images: build deps
	@mkdir -p target
	rustc --edition 2021 -O -C strip=symbols --target $(TARGET) service-examples/scratch/demo-app.rs -o target/demo-app
	@printf '[containers]\ndefault_ulimits = []\n' > target/containers.conf
	@export CONTAINERS_CONF=$${CONTAINERS_CONF:-$(abspath target/containers.conf)}; set -e; \
	  if [ "$(ALPINE_IMAGE)" = localhost/alpine-standin ]; then alpine/standin.sh $(ALPINE_IMAGE) $(PODMAN); fi; \
	  $(PODMAN) build --pull=missing --layers=false --format docker -f alpine/Dockerfile --build-arg URUNIT_FROM=prebuilt \
	    --build-arg URUNIT_BIN=$(BIN) --build-arg BASE_IMAGE=$(ALPINE_IMAGE) -t $(IMAGE):alpine . ; \
	  $(PODMAN) build --layers=false --format docker -f alpine/Containerfile.scratch --build-arg URUNIT_FROM=prebuilt \
	    --build-arg URUNIT_BIN=$(BIN) --build-arg APP_BIN=target/demo-app -t $(IMAGE):scratch . ; \
	  $(PODMAN) images $(IMAGE)

# The aarch64 tests need the aarch64 binary and qemu.
integration: aarch64
