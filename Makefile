# nestbox: the two commands of the README's quick start, and the rest.
#   make run    install what is missing, build, prepare kernel (+ demo image), run
#   make check  the same preparation, then every test
# Everything is idempotent: a second call skips what is done.

BUILD      ?= build
ASAN_BUILD ?= build-asan
PREFIX     ?= /usr/local
PYTHON     ?= /usr/bin/python3
DATA_DIR   ?= $(shell [ -n "$$NESTBOX_HOME" ] && echo "$$NESTBOX_HOME" || \
		{ [ "$$(id -u)" = 0 ] && echo /var/lib/nestbox || echo "$$HOME/.local/share/nestbox"; })
WERROR     ?= true
NESTBOX    := $(BUILD)/nestbox

.PHONY: all deps build demo run check unit lint asan fuzz fuzz-build bench install kernel clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=$(WERROR) --prefix=$(PREFIX)

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) >/dev/null || ninja -C $(BUILD)

# The default guest kernel: Debian's, fetched and made bootable by `nestbox kernel
# prepare` (a second call only re-resolves the package name).
kernel: build
	@NESTBOX_HOME="$(DATA_DIR)" $(NESTBOX) --quiet kernel prepare >/dev/null

# The demo image: busybox-static with an entrypoint and an httpd, as an OCI
# layout in the build dir, imported into the store as localhost/demo:latest
# (imports of an unchanged layout are skipped).
DEMO := $(BUILD)/demo
demo: build
	@scripts/make-demo.sh $(DEMO)
	@if [ ! -f $(DEMO)/.imported ] || [ $(DEMO)/.imported -ot $(DEMO)/index.json ] || \
	    ! $(NESTBOX) --quiet inspect demo >/dev/null 2>&1; then \
		$(NESTBOX) --quiet import oci:$(DEMO) >/dev/null && touch $(DEMO)/.imported; fi

run: build kernel demo
	$(NESTBOX) run --rm demo -- echo hello from a nestbox VM

unit: build
	meson test -C $(BUILD) --print-errorlogs

check: build kernel fuzz-build
	$(PYTHON) tests/run-all.py --build $(BUILD) --fuzz $(ASAN_BUILD)

$(ASAN_BUILD)/build.ninja:
	CC=clang meson setup $(ASAN_BUILD) -Dwerror=$(WERROR) -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debug -Dfuzz=true

# The sanitizer build also holds the libFuzzer targets (clang, -Dfuzz=true).
fuzz-build: deps $(ASAN_BUILD)/build.ninja
	@ninja -C $(ASAN_BUILD) >/dev/null || ninja -C $(ASAN_BUILD)

fuzz: fuzz-build
	$(PYTHON) tests/run-all.py --build $(ASAN_BUILD) --unit-only --fuzz $(ASAN_BUILD) \
		--fuzz-seconds $${FUZZ_SECONDS:-600}

asan: deps kernel fuzz-build
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(PYTHON) tests/run-all.py --build $(ASAN_BUILD)

lint: build
	@bash scripts/lint.sh $(BUILD)

bench: build kernel
	@set -e; for b in bench/*; do \
		if [ -f "$$b" ] && [ -x "$$b" ]; then echo "== $$b"; NESTBOX=$(NESTBOX) "$$b"; fi; \
	done

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
