# pdcrash - one Makefile, every output under build/.
#
#   make              build libpdata, simdisk, pdcrash, pdtool and the tests
#   make check        C unit tests, then the pytest suite (installs missing
#                     Debian packages first, see tests/deps.sh)
#   make crashtest    the default scenarios at every cut point
#   make bench        benchmarks; they print figures, they do not pass or fail
#   make valgrind     the unit tests under memcheck
#   make coverage     gcov + gcovr HTML into reports/coverage/
#   make mutants      build/pdcrash-mutants, with the planted bugs, and check
#                     that pdcrash catches each (tests/mutants.py)
#   make coverage-crash  branches of core/ the crash suite reaches, split
#                     into workloads and recovery (reports/coverage-crash/)
#   make search       build/search/pdcrash: core/ with SanitizerCoverage
#                     edge counters (clang-14), for `pdcrash search`
#   make SAN=1 check  everything built with ASan + UBSan
#   make FIU=0        no libfiu fault points compiled in
#   make KERNEL=0     pdcrash without the kernel backends (no linux-source)
#
# Objects are rebuilt whenever the flags change (build/flags.txt), so
# `make SAN=1 check` and `make check` can follow each other safely.

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	   -Wno-sign-compare -fno-strict-aliasing
CPPFLAGS += $(CPPFLAGS_EXTRA) -D_POSIX_C_SOURCE=200809L \
	    -D_DEFAULT_SOURCE -MMD -MP
LDFLAGS ?=
LDLIBS  += -lm
# core/ alone may be compiled by another compiler with extra flags (make
# search: clang with SanitizerCoverage counters on core/ only).
CORE_CC ?= $(CC)
CORE_CFLAGS_EXTRA ?=
PYTHON  ?= /usr/bin/python3
B       := build
# One spelling of the build directory, however make was called (B=build,
# B=/abs/build from pytest): the dependency files (-MMD) name their targets
# by it, so a header change rebuilds what depends on it in every build.
override B := $(abspath $(B))

FIU ?= 1
ifeq ($(FIU),1)
CPPFLAGS += -DFIU_ENABLE=1
LDLIBS   += -lfiu -ldl
endif

SAN ?= 0
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

COV ?= 0
ifeq ($(COV),1)
CFLAGS  += --coverage -O0
CPPFLAGS += -DPD_COVERAGE=1
LDFLAGS += --coverage
endif

# --- layering: each folder sees only what it may (DESIGN.md section 1) ---
#   core/            -Icore and libc
#   simdisk/         core/bdev.h and its two fault headers, nothing else
#   harness/engine/  core/, simdisk/, itself, and pdtool's dump and restore
#                    code through harness/pdtool/thin_xml.h (the restore op)
#   harness/pdcrash/ the engine and itself
#   harness/pdtool/  core/ and itself; linked against libpdata only
# `make layering` (run by `make check`) proves the first two on copies of the
# folders, so a relative include cannot get round the flags either.
SIMDISK_CORE_H := core/bdev.h core/fault.h core/fiu-local.h
INC_core     := -Icore
INC_simdisk  := -I$(B)/inc/simdisk
INC_engine   := -Icore -Isimdisk -Iharness/engine -Iharness/pdtool
INC_pdcrash  := $(INC_engine) -Iharness/pdcrash
INC_pdtool   := -Icore -Iharness/pdtool
INC_tests    := $(INC_engine) -Iharness/pdtool -Itests/unit

CORE_SRC    := $(wildcard core/*.c)
SIMDISK_SRC := $(wildcard simdisk/*.c)
ENGINE_SRC  := $(wildcard harness/engine/*.c)
PDCRASH_SRC := $(wildcard harness/pdcrash/*.c)
PDTOOL_SRC  := $(wildcard harness/pdtool/*.c)
SELFTEST_SRC := $(wildcard tests/simdisk/*.c)
UNIT_SRC    := $(wildcard tests/unit/*.c)
BENCH_SRC   := $(wildcard tests/bench/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBPDATA   := $(B)/libpdata.a
LIBSIMDISK := $(B)/libsimdisk.a
LIBENGINE  := $(B)/libengine.a
PROGRAMS   := $(B)/pdcrash $(B)/pdtool $(B)/sdselftest
BENCHES    := $(patsubst tests/bench/%.c,$(B)/%,$(BENCH_SRC))
UNIT       := $(B)/unit_tests
LIBS       := $(LIBENGINE) $(LIBSIMDISK) $(LIBPDATA)

.PHONY: all deps check test test-unit test-py crashtest bench valgrind \
	coverage coverage-crash mutants mutants-build search clean layering FORCE
.DEFAULT_GOAL := all

all: deps $(PROGRAMS) $(UNIT) $(BENCHES)

# Installs missing Debian packages (as root) or says what to run and fails.
deps:
	@sh tests/deps.sh

# --- flags stamp: any change of flags rebuilds every object --------------
FLAGS_NOW := $(CC) $(CORE_CC) $(CORE_CFLAGS_EXTRA) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) $(LDLIBS)
$(B)/flags.txt: FORCE
	@mkdir -p $(B)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(FLAGS_NOW)' ]; then \
		echo '$(FLAGS_NOW)' > $@; fi

# simdisk/ compiles against copies of the three core headers it may use.
$(B)/inc/simdisk/%.h: core/%.h
	@mkdir -p $(dir $@)
	cp $< $@
$(call obj,$(SIMDISK_SRC)): | $(patsubst core/%,$(B)/inc/simdisk/%,$(SIMDISK_CORE_H))

$(B)/obj/core/%.o: core/%.c $(B)/flags.txt
	@mkdir -p $(dir $@)
	$(CORE_CC) $(INC_core) $(CPPFLAGS) $(CFLAGS) $(CORE_CFLAGS_EXTRA) -c -o $@ $<
$(B)/obj/simdisk/%.o: simdisk/%.c $(B)/flags.txt
	@mkdir -p $(dir $@)
	$(CC) $(INC_simdisk) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
$(B)/obj/harness/engine/%.o: harness/engine/%.c $(B)/flags.txt
	@mkdir -p $(dir $@)
	$(CC) $(INC_engine) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
$(B)/obj/harness/pdcrash/%.o: harness/pdcrash/%.c $(B)/flags.txt
	@mkdir -p $(dir $@)
	$(CC) $(INC_pdcrash) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
$(B)/obj/harness/pdtool/%.o: harness/pdtool/%.c $(B)/flags.txt
	@mkdir -p $(dir $@)
	$(CC) $(INC_pdtool) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
$(B)/obj/tests/simdisk/%.o: tests/simdisk/%.c $(B)/flags.txt
	@mkdir -p $(dir $@)
	$(CC) -Icore -Isimdisk $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
$(B)/obj/tests/%.o: tests/%.c $(B)/flags.txt
	@mkdir -p $(dir $@)
	$(CC) $(INC_tests) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBPDATA): $(call obj,$(CORE_SRC))
	@rm -f $@
	$(AR) rcs $@ $^
$(LIBSIMDISK): $(call obj,$(SIMDISK_SRC))
	@rm -f $@
	$(AR) rcs $@ $^
# the restore op (workload.c) runs pdtool's dump and restore code
# (harness/pdtool/thin_xml.h): their objects go into the engine's archive
ENGINE_PDTOOL := $(call obj,harness/pdtool/dump.c harness/pdtool/restore.c \
			    harness/pdtool/xml.c harness/pdtool/common.c)
$(LIBENGINE): $(call obj,$(ENGINE_SRC)) $(ENGINE_PDTOOL)
	@rm -f $@
	$(AR) rcs $@ $^

include harness/kernel/kernel.mk

# pdcrash carries the kernel backends (harness/engine/client.h) unless
# KERNEL=0: each version's adapter object, then the kernel's code.
KERNEL ?= 1
ifeq ($(KERNEL),1)
PDCRASH_KERNEL := $(KCLIENT_OBJS) $(KB)/libkernel.a
endif

$(B)/pdcrash: $(call obj,$(PDCRASH_SRC)) $(PDCRASH_KERNEL) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $(call obj,$(PDCRASH_SRC)) $(PDCRASH_KERNEL) $(LIBS) $(LDLIBS)
$(B)/pdtool: $(call obj,$(PDTOOL_SRC)) $(LIBPDATA)
	$(CC) $(LDFLAGS) -o $@ $(call obj,$(PDTOOL_SRC)) $(LIBPDATA) $(LDLIBS)
$(B)/sdselftest: $(call obj,$(SELFTEST_SRC)) $(LIBSIMDISK) $(LIBPDATA)
	$(CC) $(LDFLAGS) -o $@ $(call obj,$(SELFTEST_SRC)) $(LIBSIMDISK) $(LIBPDATA) $(LDLIBS)

$(B)/%: $(B)/obj/tests/bench/%.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

# --- C unit tests: every TEST(name) in tests/unit/*.c is registered ------
# (once: a test may have a second body under #else that only skips)
$(B)/test_list.h: $(filter-out tests/unit/runner.c,$(UNIT_SRC)) $(B)/flags.txt
	@mkdir -p $(B)
	@sed -n 's/^TEST(\([A-Za-z0-9_]*\)).*/TEST_ENTRY(\1)/p' \
		$(filter-out tests/unit/runner.c,$(UNIT_SRC)) | awk '!seen[$$0]++' > $@.tmp
	@mv $@.tmp $@
$(B)/obj/tests/unit/runner.o: CPPFLAGS += -I$(B)
$(B)/obj/tests/unit/runner.o: $(B)/test_list.h
# pdtool's XML reader is tested on its own (tests/unit/test_xml.c); the
# fuzz targets that include pdtool's commands need its shared part too.
UNIT_EXTRA := $(B)/obj/harness/pdtool/xml.o $(B)/obj/harness/pdtool/common.o
$(UNIT): $(call obj,$(UNIT_SRC)) $(UNIT_EXTRA) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $(call obj,$(UNIT_SRC)) $(UNIT_EXTRA) $(LIBS) $(LDLIBS)

# --- layering proof: core/ alone with -I. only; simdisk/ with its three ---
# headers only.  Syntax-checked on copies in a scratch folder.
layering: deps
	@rm -rf $(B)/layering && mkdir -p $(B)/layering/core $(B)/layering/simdisk
	@cp core/*.c core/*.h $(B)/layering/core/
	@cp simdisk/*.c simdisk/*.h $(SIMDISK_CORE_H) $(B)/layering/simdisk/
	@for f in $(B)/layering/core/*.c $(B)/layering/simdisk/*.c; do \
		d=$$(dirname $$f); \
		$(CC) -std=c11 -fsyntax-only -I$$d -D_POSIX_C_SOURCE=200809L \
			-D_DEFAULT_SOURCE -DFIU_ENABLE=1 $$f || { \
			echo "layering: $$f includes something outside its folder"; exit 1; }; \
	done
	@echo "layering: core/ compiles with -Icore alone; simdisk/ with bdev.h, fault.h, fiu-local.h alone"

# --- running -------------------------------------------------------------
check: layering test
test: test-unit test-py

test-unit: all
	PD_BUILD=$(abspath $(B)) $(UNIT)

test-py: all
	PD_BUILD=$(abspath $(B)) $(PYTHON) -m pytest -q -ra tests

crashtest: all
	PD_BUILD=$(abspath $(B)) sh tests/crashtest.sh

bench: all
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done
	@echo "== tests/bench_pdtool.py (pdtool against thin-provisioning-tools)"
	PD_BUILD=$(abspath $(B)) $(PYTHON) tests/bench_pdtool.py
	@echo "== pdcrash: crash states per second on one core, default suite"
	$(B)/pdcrash run --jobs 1 --json | $(PYTHON) -c 'import json,sys; \
		j=json.load(sys.stdin); print("%d states in %.1f s: %.0f states/s on one core (violations: %d)" % \
		(j["states"], j["seconds"], j["states_per_second"], len(j["violations"])))'
	@echo "== pdcrash: states/s per backend, default suite, one core each (KERNEL=0: core only)"
	@for be in core kernel-6.1 kernel-6.12; do \
		$(B)/pdcrash run --backend $$be --jobs 1 --json 2>/dev/null | $(PYTHON) -c 'import json,sys; \
		j=json.load(sys.stdin); print("%-12s %6d states in %5.1f s: %6.0f states/s (violations: %d)" % \
		(sys.argv[1], j["states"], j["seconds"], j["states_per_second"], len(j["violations"])))' $$be || \
		echo "$$be: not built"; done
	@echo "== pdcrash: exhaustive with tearing against --sample without, default suite, 2 jobs"
	$(B)/pdcrash run --jobs 2 --json --tear > $(B)/bench-exhaustive.json; \
	$(B)/pdcrash run --jobs 2 --json --sample > $(B)/bench-sample.json; \
	$(PYTHON) tests/bench_modes.py $(B)/bench-exhaustive.json $(B)/bench-sample.json
	@echo "== make crashtest's two steps: seconds, CPU use, --jobs 1 and serial fault runs"
	PD_BUILD=$(abspath $(B)) $(PYTHON) tests/bench_crashtest.py
	@echo "== pdcrash: the same, every state checked in full (--no-memo)"
	$(B)/pdcrash run --jobs 1 --json --no-memo provision snapshots unmap | $(PYTHON) -c 'import json,sys; \
		j=json.load(sys.stdin); print("%d states in %.1f s: %.0f states/s on one core" % \
		(j["states"], j["seconds"], j["states_per_second"]))'

valgrind: deps
	$(MAKE) SAN=0 COV=0 all
	@mkdir -p reports
	@rm -f reports/valgrind-*.log
	PD_BUILD=$(abspath $(B)) PD_TEST_TIMEOUT=600 valgrind -q --error-exitcode=1 --leak-check=full \
		--show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible \
		--log-file=reports/valgrind-%p.log $(UNIT) \
		&& echo "valgrind: clean" \
		|| { cat reports/valgrind-*.log; exit 1; }

coverage: deps
	rm -rf $(B)/obj reports/coverage
	$(MAKE) COV=1 SAN=0 test
	@mkdir -p reports/coverage
	gcovr -r . --object-directory $(B)/obj --html-details \
		-o reports/coverage/index.html -e tests/ \
		--print-summary
	@echo "coverage report: reports/coverage/index.html"

# make crashtest's core steps, with its flags, built with coverage in
# $(B)/cov: the crash suite (every scenario, torn writes), then the same
# with --io-errors (every read, write and flush of each run failed once and
# from then on; its fault runs dump their counters into the workload tree),
# --alloc-faults (an allocation failure and a space-map -ENOSPC at each
# allocation call site), --media-faults (every read and write of each run
# given a media fault) and --damage (every metadata block of the committed
# images damaged, harness/engine/damage.h; its recovery counts as
# recovery).  At -O0 on 2 shared cores the --io-errors run takes about
# 9-16 minutes, --media-faults about 7, --alloc-faults 2-3 (the plain run
# 3-10 s); COVERAGE_IO=0, COVERAGE_ALLOC=0, COVERAGE_MEDIA=0 and
# COVERAGE_DAMAGE=0 skip them, and COVERAGE_IO_ARGS (e.g. a few scenario
# names) narrows the first.  The parent (the workloads) writes its
# counters under $(B)/cov/gcda-workload, the workers (recovery: open,
# check, continue) under $(B)/cov/gcda-recovery; see
# harness/engine/covdump.h and tests/coverage/coverage_crash.py.  The full
# default run (every step, nothing narrowed) also copies unreached.md to
# scenarios/reach/UNREACHED.md.
COVERAGE_IO ?= 1
COVERAGE_IO_ARGS ?=
COVERAGE_ALLOC ?= 1
COVERAGE_MEDIA ?= 1
COVERAGE_DAMAGE ?= 1
COVB := $(B)/cov
coverage-crash: deps
	$(MAKE) B=$(COVB) COV=1 SAN=0 $(COVB)/pdcrash
	rm -rf $(COVB)/gcda-workload $(COVB)/gcda-recovery
	find $(COVB)/obj -name '*.gcda' -delete
	export GCOV_PREFIX=$(abspath $(COVB))/gcda-workload \
	PDCRASH_GCOV_WORKER_PREFIX=$(abspath $(COVB))/gcda-recovery \
	PDCRASH_SCENARIOS=$(abspath scenarios); \
	t=$$(date +%s); $(COVB)/pdcrash run --tear $(PDCRASH_ARGS) > $(COVB)/run.txt; \
	echo "pdcrash run: exit $$?, $$(( $$(date +%s) - t )) s"; tail -n 4 $(COVB)/run.txt; \
	rm -f $(COVB)/run-io.txt; \
	if [ "$(COVERAGE_IO)" = 1 ]; then \
		t=$$(date +%s); \
		$(COVB)/pdcrash run --tear --io-errors $(PDCRASH_ARGS) $(COVERAGE_IO_ARGS) > $(COVB)/run-io.txt; \
		echo "pdcrash run --io-errors: exit $$?, $$(( $$(date +%s) - t )) s"; tail -n 4 $(COVB)/run-io.txt; \
	fi; \
	rm -f $(COVB)/run-alloc.txt $(COVB)/run-media.txt $(COVB)/run-damage.txt; \
	if [ "$(COVERAGE_ALLOC)" = 1 ]; then \
		t=$$(date +%s); \
		$(COVB)/pdcrash run --tear --alloc-faults $(PDCRASH_ARGS) > $(COVB)/run-alloc.txt; \
		echo "pdcrash run --alloc-faults: exit $$?, $$(( $$(date +%s) - t )) s"; tail -n 4 $(COVB)/run-alloc.txt; \
	fi; \
	if [ "$(COVERAGE_MEDIA)" = 1 ]; then \
		t=$$(date +%s); \
		$(COVB)/pdcrash run --tear --media-faults $(PDCRASH_ARGS) > $(COVB)/run-media.txt; \
		echo "pdcrash run --media-faults: exit $$?, $$(( $$(date +%s) - t )) s"; tail -n 4 $(COVB)/run-media.txt; \
	fi; \
	if [ "$(COVERAGE_DAMAGE)" = 1 ]; then \
		t=$$(date +%s); \
		$(COVB)/pdcrash run --damage $(PDCRASH_ARGS) > $(COVB)/run-damage.txt; \
		echo "pdcrash run --damage: exit $$?, $$(( $$(date +%s) - t )) s"; tail -n 2 $(COVB)/run-damage.txt; \
	fi
	$(PYTHON) tests/coverage/coverage_crash.py --build $(COVB) \
		--out reports/coverage-crash \
		--unreached-md reports/coverage-crash/unreached.md
	@if [ "$(COVERAGE_IO)$(COVERAGE_ALLOC)$(COVERAGE_MEDIA)$(COVERAGE_DAMAGE)" = 1111 ] && \
	    [ -z "$(COVERAGE_IO_ARGS)$(PDCRASH_ARGS)" ]; then \
		cp reports/coverage-crash/unreached.md scenarios/reach/UNREACHED.md; \
		echo "scenarios/reach/UNREACHED.md regenerated (commit it)"; \
	fi

# mutants-build: build/pdcrash-mutants alone; mutants: then every planted
# bug run with the command that should catch it (tests/mutants.py).
mutants-build: deps
	$(MAKE) B=$(B)/mutants KERNEL=0 CPPFLAGS_EXTRA=-DPD_MUTANTS $(B)/mutants/pdcrash \
		$(B)/mutants/unit_tests
	cp $(B)/mutants/pdcrash $(B)/pdcrash-mutants

mutants: mutants-build
	PD_BUILD=$(abspath $(B)) $(PYTHON) tests/mutants.py

# search: build/search/pdcrash for `pdcrash search` (harness/pdcrash/
# search.c): core/ alone compiled by clang with SanitizerCoverage's inline
# 8-bit edge counters (harness/engine/sancov.h reads them in process), the
# rest as usual; the planted bugs are compiled in (off unless --mutant).
SEARCHB    := $(B)/search
SEARCH_CC  ?= clang-14
SEARCH_COV ?= edge,inline-8bit-counters
search: deps
	@command -v $(SEARCH_CC) >/dev/null || { echo "make search: $(SEARCH_CC) \
		not found (apt-get install clang-14, or SEARCH_CC=clang)"; exit 2; }
	$(MAKE) B=$(SEARCHB) KERNEL=0 CORE_CC=$(SEARCH_CC) \
		CORE_CFLAGS_EXTRA=-fsanitize-coverage=$(SEARCH_COV) \
		CPPFLAGS_EXTRA=-DPD_MUTANTS $(SEARCHB)/pdcrash
	@echo "make search: $(SEARCHB)/pdcrash (then: $(SEARCHB)/pdcrash search --seconds 60)"

# --- fuzz: libFuzzer targets (tests/fuzz/, one .c per target) -------------
#   make fuzz            build them with clang into build/fuzz/ and run each
#                        for FUZZ_SECONDS (default 60) on its corpus; exit 2
#                        without clang/libFuzzer, 1 if any target crashed
#   make fuzz-build      build only
# The same targets are linked with tests/fuzz/driver.c (a plain main(), the
# normal compiler and flags) into build/fuzz-regress/, built by `all`; the
# pytest tests/test_fuzz_regress.py feeds them every file of
# tests/fuzz/corpus/<target>/ and tests/fuzz/regress/<target>/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_INC     := -Icore -Isimdisk -Iharness/engine -Iharness/pdcrash \
		-Iharness/pdtool -Itests/fuzz
FUZZ_CFLAGS  := -std=c11 -g -O1 -fno-omit-frame-pointer -D_POSIX_C_SOURCE=200809L \
		-D_DEFAULT_SOURCE -MMD -MP -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined
FUZZ_LIB_SRC := $(CORE_SRC) $(SIMDISK_SRC) $(ENGINE_SRC) harness/pdtool/xml.c harness/pdtool/common.c \
		harness/pdtool/dump.c harness/pdtool/restore.c \
		$(filter-out harness/pdcrash/main.c,$(PDCRASH_SRC))
FUZZ_LIB     := $(B)/fuzz/libfuzzdeps.a
FUZZ_BINS    := $(addprefix $(B)/fuzz/,$(FUZZ_TARGETS))
FUZZ_REGRESS := $(addprefix $(B)/fuzz-regress/,$(FUZZ_TARGETS))
FUZZ_PDCRASH := $(B)/fuzz-regress/libpdcrash.a

.PHONY: fuzz fuzz-build
fuzz:
	@sh tests/fuzz/run.sh check "$(FUZZ_CC)"
	$(MAKE) fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh run $(B)/fuzz $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_BINS)

$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_INC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_LIB): $(patsubst %.c,$(B)/fuzz/obj/%.o,$(FUZZ_LIB_SRC))
	@rm -f $@
	$(AR) rcs $@ $^
$(B)/fuzz/fuzz_%: $(B)/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB) -lm

all: $(FUZZ_REGRESS)
$(B)/obj/tests/fuzz/%.o: CPPFLAGS += -Iharness/pdcrash -Itests/fuzz
$(FUZZ_PDCRASH): $(call obj,$(filter-out harness/pdcrash/main.c,$(PDCRASH_SRC)))
	@mkdir -p $(dir $@) && rm -f $@
	$(AR) rcs $@ $^
$(B)/fuzz-regress/fuzz_%: $(B)/obj/tests/fuzz/fuzz_%.o $(B)/obj/tests/fuzz/driver.o \
		$(FUZZ_PDCRASH) $(UNIT_EXTRA) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(B)/obj/tests/fuzz/driver.o $(FUZZ_PDCRASH) \
		$(UNIT_EXTRA) $(LIBS) $(LDLIBS)

-include $(shell find $(B)/fuzz/obj -name '*.d' 2>/dev/null)

clean:
	rm -rf $(B)

FORCE:

# Keep the objects of programs (make would delete them as intermediate).
.SECONDARY:

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
