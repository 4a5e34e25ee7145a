# SPDX-License-Identifier: Apache-2.0
# Thin wrapper over meson for the two README commands.
#   make demo    install dependencies, build, run the main job on examples/
#   make check   install dependencies, run the whole test suite
#   make         build only

.PHONY: all build deps demo check clean bench bench-pull bench-prune bench-containerd bench-containment bench-stores bench-context bench-step-cache bench-cluster bench-stages windows

all: build

deps:
	scripts/install-deps

build:
	@[ -f build/build.ninja ] || meson setup build
	ninja -C build

demo: deps build
	scripts/demo

check:
	scripts/check

clean:
	rm -rf build build-asan build-fuzz build-windows build-*.ninja.log

# The Windows tools, cross-built with mingw-w64: build-windows/src/cairn.exe and
# cairn-hcn.exe, and the tests run under wine in build-windows/tests/.
windows:
	scripts/install-deps
	scripts/cross-deps
	@[ -f build-windows/build.ninja ] || PKG_CONFIG_LIBDIR=$(CURDIR)/build-windows-deps/lib/pkgconfig \
		meson setup build-windows --cross-file scripts/mingw-w64.ini
	PKG_CONFIG_LIBDIR=$(CURDIR)/build-windows-deps/lib/pkgconfig ninja -C build-windows

bench:
	bench/run

bench-pull:
	bench/pull

bench-prune:
	bench/prune

bench-containerd:
	bench/containerd

bench-containment:
	bench/containment

bench-stores:
	bench/stores

bench-context:
	bench/context

bench-step-cache:
	bench/step-cache

bench-cluster:
	bench/cluster

bench-stages:
	bench/stages
