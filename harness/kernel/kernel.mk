# harness/kernel/kernel.mk - the kernel backend's build (DESIGN.md 8).
#
# Included by the top Makefile with one line; self-contained: it uses only
# $(B), $(CC), $(CFLAGS), $(LDFLAGS), $(LDLIBS) from there, -DFIU_ENABLE*
# if $(CPPFLAGS) has it (so the bdev/* libfiu points of core/bdev.h work in
# our dm-bufio too), and the file names $(B)/libpdata.a, $(B)/libsimdisk.a
# and $(B)/flags.txt (a stamp that changes with the flags).
#
#   make kernel         fetch Linux 6.1 and 6.12 and build $(B)/kernel/libkernel.a
#   make ktest          $(B)/ktest: the kernel backend's C tests, both versions
#   make KERNEL_SRC=~/linux kernel
#                       the same from a developer's tree too (version "custom")
#
# pdcrash links every version's client adapter (client_kernel.o, see
# harness/engine/client.h) and libkernel.a unless KERNEL=0 (then only the
# core backend is in it).
#
# Sources.  harness/kernel/fetch.sh puts the members we need, unmodified, in
# $(B)/kernel/<V>/ under their kernel paths (drivers/md/persistent-data/...,
# drivers/md/dm-thin-metadata.[ch], include/linux/dm-bufio.h, ...), from
# Debian's linux-source-<V> package (cached in $(B)/kernel/deb/) or from
# $(KERNEL_SRC).  No kernel file is ever edited or committed; a planted bug
# is a patch applied to a copy of that tree (patch -p1 -d COPY).
#
# Compilation.  Every kernel file is compiled with -include kshim.h and the
# shim headers (harness/kernel/include/linux/...) first on the include path,
# then the tree's own include/ (only dm-bufio.h is taken from there) and
# drivers/md/.  Our dm-bufio (harness/kernel/bufio.c) is compiled once per
# version against that version's dm-bufio.h.  The shim's runtime
# (harness/kernel/shim.c: printk, BUG, kmalloc) is compiled once for all.
#
# Symbol localisation.  Two versions must live in one program, next to our
# core/ (which has names of its own like sm_ll_*).  Per version V:
#   1. ld -r links the kernel objects and bufio.o into kthin-all.o;
#   2. entry.syms lists the names that stay global: every global defined by
#      dm-thin-metadata.o (its API: dm_pool_*, dm_thin_*) and by
#      dm-cache-metadata.o (dm_cache_*), every global of bufio.o named
#      dm_bufio_* or kbufio_*, and of policy.o (our dm-cache policy
#      stand-in, harness/kernel/policy.h) named kpolicy_*;
#   3. objcopy --keep-global-symbols=entry.syms makes every other defined
#      global local (dm_bm_*, dm_tm_*, dm_btree_*, dm_sm_*, sm_ll_*,
#      btree_node_validator, bdev_nr_sectors, ...);
#   4. objcopy --redefine-syms renames each entry NAME to <P>NAME, with
#      P = k61_ for 6.1, k612_ for 6.12, kcustom_ for KERNEL_SRC.
# The result is $(B)/kernel/<V>/kthin.o (it holds dm-cache-metadata.c too;
# the name is older than that).  Undefined references (libc,
# libfiu, pd_crc32c from libpdata, kshim_* from kshim.o) are untouched, so
# the final link resolves them once for every version.  rename.h has one
# `#define NAME <P>NAME` per entry: a C file compiled with the kernel
# include paths of V and -include rename.h calls the kernel API by its own
# names and links against that version (tests/kernel/ does; so can the
# phase-B adapter).  $(B)/kernel/libkernel.a holds kshim.o and every kthin.o.

KERNEL_VERSIONS ?= 6.1 6.12
ifneq ($(KERNEL_SRC),)
KERNEL_VERSIONS += custom
endif

KDIR  := harness/kernel
KB     = $(B)/kernel
KLD   ?= ld
KOBJCOPY ?= objcopy
KNM   ?= nm

# The kernel files we compile.
KERNEL_C := \
	drivers/md/persistent-data/dm-array.c \
	drivers/md/persistent-data/dm-bitset.c \
	drivers/md/persistent-data/dm-block-manager.c \
	drivers/md/persistent-data/dm-btree.c \
	drivers/md/persistent-data/dm-btree-remove.c \
	drivers/md/persistent-data/dm-btree-spine.c \
	drivers/md/persistent-data/dm-space-map-common.c \
	drivers/md/persistent-data/dm-space-map-disk.c \
	drivers/md/persistent-data/dm-space-map-metadata.c \
	drivers/md/persistent-data/dm-transaction-manager.c \
	drivers/md/dm-thin-metadata.c \
	drivers/md/dm-cache-metadata.c

KSHIM_HDRS := $(shell find $(KDIR)/include -name '*.h') $(KDIR)/bufio.h
KFLAGS_STAMP := $(wildcard $(B)/flags.txt)

kprefix = k$(subst .,,$(1))_
# The backend name pdcrash knows the version by (--backend).
kname = $(if $(filter custom,$(1)),kernel,kernel-$(1))

# The adapters pdcrash links (beside libkernel.a), two per version: thin
# (client_kernel.c) and dm-cache (client_kernel_cache.c).
KCLIENT_OBJS = $(foreach v,$(KERNEL_VERSIONS),$(KB)/$(v)/client_kernel.o \
	$(KB)/$(v)/client_kernel_cache.o)

# Kernel files: our flags, GNU C, and silence for what is the kernel's style
# (unused parameters, shadowing, %llu for uint64_t) rather than our business.
KERNEL_CFLAGS = $(CFLAGS) -std=gnu11 -fno-strict-aliasing -fwrapv \
	-Wno-unused-parameter -Wno-shadow -Wno-format -Wno-sign-compare \
	-Wno-missing-field-initializers -Wno-implicit-fallthrough \
	-Wno-type-limits -Wno-unused-function -Wno-pointer-sign
KSHIM_CFLAGS = $(CFLAGS) -std=gnu11
kcppflags = -I$(KDIR)/include -I$(KB)/$(1)/include -I$(KB)/$(1)/drivers/md \
	-Icore -I$(KDIR) -include $(KDIR)/include/kshim.h -D_DEFAULT_SOURCE \
	$(filter -DFIU_ENABLE%,$(CPPFLAGS))

KTEST_SRC := $(wildcard tests/kernel/test_*.c)

.PHONY: kernel ktest kernel-fetch kernel-force

# A stamp that changes with the list of versions: the top Makefile's
# .SECONDARY would otherwise let libkernel.a look up to date when a
# version (KERNEL_SRC) is added and its kthin.o does not exist yet.
$(KB)/versions.txt: kernel-force
	@mkdir -p $(KB)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(KERNEL_VERSIONS)' ]; then \
		echo '$(KERNEL_VERSIONS)' > $@; fi

kernel: $(KB)/libkernel.a
kernel-fetch: $(foreach v,$(KERNEL_VERSIONS),$(KB)/$(v)/.fetched)
ktest: $(B)/ktest

$(KB)/kshim.o: $(KDIR)/shim.c $(KSHIM_HDRS) $(KFLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(KSHIM_CFLAGS) -I$(KDIR)/include -include $(KDIR)/include/kshim.h -c -o $@ $<

# One version: fetch, compile, link, localise, rename.
define KERNEL_VERSION_RULES
$(KB)/$(1)/.fetched:
	sh $(KDIR)/fetch.sh $(B) $(1)

$(addprefix $(KB)/$(1)/,$(KERNEL_C)): $(KB)/$(1)/.fetched ;

$(KB)/$(1)/obj/%.o: $(KB)/$(1)/%.c $(KB)/$(1)/.fetched $(KSHIM_HDRS) $(KFLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$(CC) $$(KERNEL_CFLAGS) $(call kcppflags,$(1)) -c -o $$@ $$<

$(KB)/$(1)/obj/bufio.o: $(KDIR)/bufio.c $(KB)/$(1)/.fetched $(KSHIM_HDRS) $(KFLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$(CC) $$(KSHIM_CFLAGS) $(call kcppflags,$(1)) -c -o $$@ $$<

$(KB)/$(1)/obj/policy.o: $(KDIR)/policy.c $(KDIR)/policy.h $(KB)/$(1)/.fetched $(KSHIM_HDRS) $(KFLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$(CC) $$(KSHIM_CFLAGS) $(call kcppflags,$(1)) -c -o $$@ $$<

$(KB)/$(1)/kthin-all.o: $(patsubst %.c,$(KB)/$(1)/obj/%.o,$(KERNEL_C)) $(KB)/$(1)/obj/bufio.o $(KB)/$(1)/obj/policy.o
	$(KLD) -r -o $$@ $$^

$(KB)/$(1)/entry.syms: $(KB)/$(1)/kthin-all.o
	{ $(KNM) -g --defined-only $(KB)/$(1)/obj/drivers/md/dm-thin-metadata.o; \
	  $(KNM) -g --defined-only $(KB)/$(1)/obj/drivers/md/dm-cache-metadata.o; \
	  $(KNM) -g --defined-only $(KB)/$(1)/obj/policy.o | grep -E ' kpolicy_'; \
	  $(KNM) -g --defined-only $(KB)/$(1)/obj/bufio.o | grep -E ' (dm_bufio_|kbufio_)'; } | \
		awk '{print $$$$3}' | sort -u > $$@.tmp
	@test -s $$@.tmp
	@mv $$@.tmp $$@

$(KB)/$(1)/kthin.o: $(KB)/$(1)/kthin-all.o $(KB)/$(1)/entry.syms
	$(KOBJCOPY) --keep-global-symbols=$(KB)/$(1)/entry.syms $$< $$@.tmp
	awk '{print $$$$1 " $(call kprefix,$(1))" $$$$1}' $(KB)/$(1)/entry.syms > $(KB)/$(1)/rename.map
	$(KOBJCOPY) --redefine-syms=$(KB)/$(1)/rename.map $$@.tmp $$@
	@rm -f $$@.tmp
	@if $(KNM) -g --defined-only $$@ | awk '{print $$$$3}' | grep -v '^$(call kprefix,$(1))' | grep -v '^__odr_asan' ; then \
		echo "kernel.mk: global symbols without prefix in $$@" >&2; rm -f $$@; exit 1; fi

$(KB)/$(1)/rename.h: $(KB)/$(1)/entry.syms
	awk '{print "#define " $$$$1 " $(call kprefix,$(1))" $$$$1}' $$< > $$@

# The client adapter (harness/kernel/client_kernel.c) for this version:
# compiled like the tests, beside kthin.o (it uses the public API only).
$(KB)/$(1)/client_kernel.o: $(KDIR)/client_kernel.c harness/engine/client.h core/thin.h $(KB)/$(1)/rename.h $(KSHIM_HDRS) $(KFLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$(CC) $$(KSHIM_CFLAGS) $(call kcppflags,$(1)) -MMD -MP -Iharness/engine \
		-include $(KB)/$(1)/rename.h -DKCLIENT_PREFIX=$(call kprefix,$(1)) \
		-DKCLIENT_NAME='"$(call kname,$(1))"' -c -o $$@ $$<

# The dm-cache adapter (harness/kernel/client_kernel_cache.c) likewise.
$(KB)/$(1)/client_kernel_cache.o: $(KDIR)/client_kernel_cache.c $(KDIR)/policy.h harness/engine/cache_client.h $(KB)/$(1)/rename.h $(KSHIM_HDRS) $(KFLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$(CC) $$(KSHIM_CFLAGS) $(call kcppflags,$(1)) -MMD -MP -Iharness/engine \
		-include $(KB)/$(1)/rename.h -DKCLIENT_PREFIX=$(call kprefix,$(1)) \
		-DKCLIENT_NAME='"$(call kname,$(1))"' -c -o $$@ $$<

# tests/kernel/*.c for this version (names test_<prefix>NAME, see ktest.h)
$(KB)/$(1)/ktest/%.o: tests/kernel/%.c tests/kernel/ktest.h $(KB)/$(1)/rename.h $(KSHIM_HDRS) $(KFLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$(CC) $$(KSHIM_CFLAGS) $(call kcppflags,$(1)) -MMD -MP -Itests/unit -Isimdisk \
		-include $(KB)/$(1)/rename.h -DKTEST_VERSION=$(subst .,,$(1)) \
		-DKTEST_VERSION_NAME='"$(1)"' -c -o $$@ $$<
endef

$(foreach v,$(KERNEL_VERSIONS),$(eval $(call KERNEL_VERSION_RULES,$(v))))

$(KB)/libkernel.a: $(KB)/versions.txt $(KB)/kshim.o $(foreach v,$(KERNEL_VERSIONS),$(KB)/$(v)/kthin.o)
	@rm -f $@
	$(AR) rcs $@ $(filter %.o,$^)

# --- $(B)/ktest: tests/kernel/test_*.c once per version, on tests/unit's runner
KTEST_OBJS = $(foreach v,$(KERNEL_VERSIONS),$(patsubst tests/kernel/%.c,$(KB)/$(v)/ktest/%.o,$(KTEST_SRC)))

$(KB)/ktest/test_list.h: $(KTEST_SRC) $(KB)/versions.txt $(KFLAGS_STAMP)
	@mkdir -p $(dir $@)
	@for v in $(KERNEL_VERSIONS); do \
		p=k$$(echo $$v | tr -d .)_; \
		sed -n "s/^TEST(\([A-Za-z0-9_]*\)).*/TEST_ENTRY($$p\1)/p" $(KTEST_SRC); \
	done > $@.tmp
	@mv $@.tmp $@

$(KB)/ktest/runner.o: tests/unit/runner.c $(KB)/ktest/test_list.h $(KFLAGS_STAMP)
	$(CC) $(CFLAGS) -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I$(KB)/ktest -Itests/unit -Icore \
		-c -o $@ $<

$(B)/ktest: $(KB)/ktest/runner.o $(KTEST_OBJS) $(KB)/libkernel.a $(B)/libsimdisk.a $(B)/libpdata.a
	$(CC) $(LDFLAGS) -o $@ $(KB)/ktest/runner.o $(KTEST_OBJS) $(KB)/libkernel.a \
		$(B)/libsimdisk.a $(B)/libpdata.a $(LDLIBS)

# Our adapters and kernel tests track the headers they include (ours, the
# shim's), so editing one rebuilds them; the kernel tree's own objects are
# rebuilt by the flags stamp and the version rules above instead.
-include $(wildcard $(KB)/*/client_kernel*.d $(KB)/*/ktest/*.d)
