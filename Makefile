# garage-pxe. Three commands matter (see README): `make demo`, `make test`, `make serve`.
SWIFT ?= swift
CONFIG ?= config/garage-pxe.yaml
SERVE_FLAGS ?=

PREFIX ?= /usr
DESTDIR ?=
MANPAGE = build/man/garage-pxe.8

DEMO_MODE ?= bios
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all build release demo serve test check clean deps-build deps-serve deps-test deps-deb man install uninstall deb bench-http \
  fuzz test-sanitize

all: build

deps-build:
	bash scripts/install-deps.sh build
deps-serve:
	bash scripts/install-deps.sh serve
deps-test:
	bash scripts/install-deps.sh test
deps-deb:
	bash scripts/install-deps.sh deb

build: deps-build
	$(SWIFT) build

# The Swift runtime is linked in, so the binary needs only libc, libstdc++ and libsystemd.
# RELEASE_SCRATCH is where it is built: `make test` builds it in .build-release, apart from
# the tests' .build, so that it compiles at low priority while the tests run (SwiftPM holds
# a lock on its build folder for the whole of a build or a test run).
RELEASE_SCRATCH ?= .build
RELEASE_BIN = $(RELEASE_SCRATCH)/release/garage-pxe
release: deps-build
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path $(RELEASE_SCRATCH)

# Man page generated from the command-line definitions by swift-argument-parser's
# generate-manual, run on the release binary (its package plugin would rebuild that
# binary without the static runtime).
man: release
	$(SWIFT) build --product generate-manual
	mkdir -p $(dir $(MANPAGE))
	.build/debug/generate-manual $(RELEASE_BIN) --output-directory $(dir $(MANPAGE)) \
	  --section 8 --authors "garage-pxe developers"

# Binary, unit, sysusers/tmpfiles, config in /etc/garage-pxe (an edited file is kept;
# the new default lands next to it as .dist), menus, man page, bash completion.
install: man
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" MANPAGE="$(MANPAGE)" BINARY="$(RELEASE_BIN)" bash scripts/install-tree.sh

# Removes what install put in place, except /etc/garage-pxe and /var/lib/garage-pxe,
# which hold the workshop's own menus and images.
uninstall:
	-[ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && systemctl disable --now garage-pxe.service
	rm -f $(DESTDIR)$(PREFIX)/bin/garage-pxe \
	  $(DESTDIR)/usr/lib/systemd/system/garage-pxe.service \
	  $(DESTDIR)/usr/lib/sysusers.d/garage-pxe.conf $(DESTDIR)/usr/lib/tmpfiles.d/garage-pxe.conf \
	  $(DESTDIR)/usr/lib/systemd/catalog/garage-pxe.catalog \
	  $(DESTDIR)$(PREFIX)/share/man/man8/garage-pxe.8.gz \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/garage-pxe
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/garage-pxe
	-[ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && systemctl daemon-reload

# build/garage-pxe_VERSION_amd64.deb, checked with lintian.
deb: deps-deb man
	MANPAGE="$(MANPAGE)" BINARY="$(RELEASE_BIN)" bash scripts/build-deb.sh

# Runs the daemon in the foreground with the repository's config. Needs root (ports 67,
# 69, 4011) and answers PXE clients on the configured interface: run it on the server
# facing the bench LAN, not on an office network.
serve: deps-serve release
	@# The shipped menu installs Debian 13: import its netboot image (kernel, initrd and
	@# the signed shim and GRUB for Secure Boot PCs) on the first run. deps-serve fetched it.
	[ -d images/debian-13-amd64 ] || $(RELEASE_BIN) import debian \
	  "$$(bash scripts/fetch-debian13-netboot.sh)" --config $(CONFIG)
	@# The daemon binds its ports as root and runs as the config's user (garage-pxe),
	@# created here as the package creates it (a missing user is an error).
	getent passwd garage-pxe >/dev/null || systemd-sysusers systemd/garage-pxe.sysusers
	$(RELEASE_BIN) check --config $(CONFIG) $(SERVE_FLAGS)
	$(RELEASE_BIN) serve --config $(CONFIG) $(SERVE_FLAGS)

# A virtual PC installing Debian through garage-pxe, on a virtual bench LAN made of
# network namespaces (nothing touches the host's interfaces); Ctrl-C cleans up.
demo: deps-test build
	$(SUDO) bash scripts/demo.sh $(DEMO_MODE)

check: build
	.build/debug/garage-pxe check --config $(CONFIG)

# Every test: unit tests on captured packets, real clients (QEMU's iPXE ROM, OVMF, TFTP
# clients, curl) in network namespaces the tests create and delete, the systemd unit,
# then the Debian package and `make install`, checked in scratch roots.
# scripts/test-all.sh runs each phase even after a failure, prints a summary per phase
# and ends with one line `N passed, N failed`. The phases are separate runs because Swift
# Testing runs synchronous tests on the cooperative pool (one thread per core, two here):
# tests that wait minutes on real clients would starve the in-process HTTP servers of
# BootHTTPTests, which run on that pool too. So BootHTTPTests run apart, and the QEMU
# guests of EndToEndTests (both cores for minutes) run last.
test: deps-test
	SWIFT=$(SWIFT) bash scripts/test-all.sh

# garage-pxe against nginx serving the Debian initrd, in a private network namespace
# (needs root; installs nginx and wrk without starting nginx on the host).
bench-http: release
	bash Benchmarks/http/run.sh

# libFuzzer targets (Fuzz/) for the DHCP codec+policy, the TFTP codec+transfer state
# machine, the menu.yaml loader and the HTTP query validation, built with
# -sanitize=fuzzer,address in .build-sanitize/fuzz; each runs FUZZ_SECONDS, seeded from
# Tests/Fixtures/dhcp and the shipped menus. Prints executions and crashes per target
# (FUZZING.md has the last numbers); fails if any target crashed.
FUZZ_SECONDS ?= 60
fuzz: deps-test
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) bash Fuzz/run.sh

# The tests under ThreadSanitizer, then AddressSanitizer, each in its own build folder
# (.build-sanitize/thread, .build-sanitize/address) so the normal .build is untouched.
# Skipped: EndToEndTests (QEMU firmware booting the Debian installer: minutes per case,
# and the instrumented daemon makes them slower still; `make test` runs them).
# Not part of `make test` or .ci/run: run it by hand, on a quiet machine.
SANITIZE_SKIP ?= EndToEndTests
test-sanitize: deps-test
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-sanitize/thread
	$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-sanitize/thread --skip $(SANITIZE_SKIP)
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-sanitize/address
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan-suppressions.txt \
	  $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-sanitize/address --skip $(SANITIZE_SKIP)

clean:
	rm -rf .build .build-sanitize build
