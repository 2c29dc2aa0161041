# garage-pxe. Two commands matter (see README): `make serve` and `make test`.
SWIFT ?= swift
CONFIG ?= config/garage-pxe.yaml
SERVE_FLAGS ?=

.PHONY: all build release serve test check clean deps-build deps-serve deps-test bench-http

all: build

deps-build:
	bash scripts/install-deps.sh build
deps-serve:
	bash scripts/install-deps.sh serve
deps-test:
	bash scripts/install-deps.sh test

build: deps-build
	$(SWIFT) build

release: deps-build
	$(SWIFT) build -c release

# Runs the daemon in the foreground with the repository's config. Needs root (ports 67,
# 69, 4011) and answers PXE clients on the configured interface: run it on the server
# facing the bench LAN, not on an office network.
serve: deps-serve release
	.build/release/garage-pxe check --config $(CONFIG) $(SERVE_FLAGS)
	.build/release/garage-pxe serve --config $(CONFIG) $(SERVE_FLAGS)

check: build
	.build/debug/garage-pxe check --config $(CONFIG)

# Every test: unit tests on captured packets, and real clients (QEMU's iPXE ROM, OVMF,
# busybox udhcpc) in network namespaces the tests create and delete.
test: deps-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# garage-pxe against nginx serving the Debian initrd, in a private network namespace
# (needs root; installs nginx and wrk without starting nginx on the host).
bench-http: release
	bash Benchmarks/http/run.sh

clean:
	rm -rf .build
