# bosun — top-level build.
#
#   make          build every binary into bin/
#   make deps     install missing Debian packages (apt-get)
#   make run      deps + build + the all-in-one cluster (bin/bosun up)
#   make test     deps + build (plain and ASan+UBSan) + every test
#   make bench    benchmarks; rows go to docs/benchmarks.md
#
# Sources are discovered by directory so that adding a module needs no edit here:
#   lib/*.c                      -> libbosun.a
#   schema/*.c                   -> libschema.a (+ the generated field tables)
#   <daemon>/**/*.c but main.c   -> lib<daemon>.a ; <daemon>/main.c -> bin/<daemon>
#   tests/unit/test_*.c          -> one cmocka binary each, linked with every archive
# VARIANT=asan builds the same tree with ASan+UBSan into build/asan/.

VARIANT ?= release
O := build/$(VARIANT)

CC ?= cc
PKGS := libgit2 yaml-0.1 jansson libcurl libmicrohttpd openssl libarchive
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wvla -fno-common
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE -g $(WARN) -fstack-protector-strong -I. -I$(O)/gen \
	$(PKG_CFLAGS) -MMD -MP
LDLIBS_ALL := $(PKG_LIBS) -lpthread -lm

ifeq ($(VARIANT),fuzz)
# libFuzzer build of the whole tree: clang's own warnings are reported, not fatal,
# since the release and asan builds already hold the tree to -Werror with gcc.
CC := clang
CFLAGS_ALL += -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-Wno-error
LDFLAGS_ALL := -fsanitize=fuzzer,address,undefined
BINDIR := $(O)/bin
else ifeq ($(VARIANT),asan)
CFLAGS_ALL += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS_ALL := -fsanitize=address,undefined
BINDIR := $(O)/bin
else
# Frame pointers: `perf record -g` on a running daemon shows whole call chains, for ~1 %.
CFLAGS_ALL += -O2 -fno-omit-frame-pointer
LDFLAGS_ALL :=
BINDIR := bin
endif

DAEMONS := reconcilerd gitsync scheduler nodeagent proxy
BINS := $(DAEMONS) bosun

srcs_under = $(shell find $(1) -name '*.c' 2>/dev/null | sort)
obj = $(patsubst %.c,$(O)/%.o,$(1))

LIB_SRCS := $(wildcard lib/*.c)
SCHEMA_SRCS := $(wildcard schema/*.c)
GEN_FIELDS := $(O)/gen/schema_fields_data.c

LIB_A := $(O)/libbosun.a
SCHEMA_A := $(O)/libschema.a

# dir of each binary: the CLI lives in cli/
bindir_of = $(if $(filter bosun,$(1)),cli,$(1))
archive_of = $(O)/$(1)-body.a
main_src_of = $(call bindir_of,$(1))/main.c
body_srcs_of = $(filter-out $(call main_src_of,$(1)),$(call srcs_under,$(call bindir_of,$(1))))

ALL_ARCHIVES := $(foreach b,$(BINS),$(call archive_of,$(b)))
LINK_ARCHIVES := $(ALL_ARCHIVES) $(SCHEMA_A) $(LIB_A)

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/fuzz/%,$(FUZZ_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))

.PHONY: all deps run test unit asan bench fuzz fmt clean image
all: $(addprefix $(BINDIR)/,$(BINS)) image

# ---- objects -------------------------------------------------------------
$(O)/%.o: %.c | $(GEN_FIELDS)
	@mkdir -p $(dir $@)
	@echo "  CC $(VARIANT) $<"
	@$(CC) $(CFLAGS_ALL) $(EXTRA_CFLAGS) -c $< -o $@

$(O)/gen/%.o: $(O)/gen/%.c
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# The Kubernetes field tree, embedded as data (schema/ loads it once).
$(GEN_FIELDS): schema/k8s-fields-1.30.json tools/embed.c
	@mkdir -p $(O)/gen $(O)/tools
	$(CC) -std=c11 -O1 -o $(O)/tools/embed tools/embed.c
	$(O)/tools/embed schema_fields_json $< > $@.tmp && mv $@.tmp $@

$(LIB_A): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

$(SCHEMA_A): $(call obj,$(SCHEMA_SRCS)) $(O)/gen/schema_fields_data.o
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

# `bosun store check` reads a store offline: the one place the CLI links reconcilerd code.
EXTRA_ARCHIVES_bosun := $(call archive_of,reconcilerd)

define BIN_RULES
$(call archive_of,$(1)): $(call obj,$(call body_srcs_of,$(1)))
	@mkdir -p $$(dir $$@)
	@rm -f $$@ && ar rcs $$@ $$^

$(BINDIR)/$(1): $(call obj,$(call main_src_of,$(1))) $(LINK_ARCHIVES)
	@mkdir -p $$(dir $$@)
	@echo "  LD $(VARIANT) $$@"
	@$$(CC) $(LDFLAGS_ALL) -o $$@ $$< $(call archive_of,$(1)) $(EXTRA_ARCHIVES_$(1)) \
		$(SCHEMA_A) $(LIB_A) $(LDLIBS_ALL)
endef
$(foreach b,$(BINS),$(eval $(call BIN_RULES,$(b))))

$(O)/tests/%: tests/unit/%.c $(LINK_ARCHIVES)
	@mkdir -p $(dir $@)
	@echo "  LD $(VARIANT) $@"
	@$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LINK_ARCHIVES) $(LDLIBS_ALL) -lcmocka

$(O)/fuzz/%: tests/fuzz/%.c $(LINK_ARCHIVES)
	@mkdir -p $(dir $@)
	@echo "  LD $(VARIANT) $@"
	@$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LINK_ARCHIVES) $(LDLIBS_ALL)

# ---- the busybox:1.35 OCI image (no network needed) ------------------------
IMAGE_DIR := build/images/busybox
image: $(IMAGE_DIR)/index.json
$(IMAGE_DIR)/index.json: tools/mkimage-busybox.sh
	@if [ -x /bin/busybox ]; then sh tools/mkimage-busybox.sh $(IMAGE_DIR); \
	else echo "image: /bin/busybox missing (run 'make deps'); skipping the busybox image"; fi

# ---- entry points -----------------------------------------------------------
deps:
	@sh tools/deps.sh

unit: $(UNIT_BINS)

asan:
	$(MAKE) VARIANT=asan $(addprefix build/asan/bin/,$(BINS)) $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRCS))

fuzz:
	$(MAKE) VARIANT=fuzz $(FUZZ_BINS)

run: deps
	$(MAKE) all
	./bin/bosun up

test: deps
	$(MAKE) all unit
	$(MAKE) asan
	$(MAKE) fuzz
	bash tests/run.sh

bench: deps
	$(MAKE) all
	bash tests/bench/run.sh

fmt:
	clang-format -i $$(find lib schema $(DAEMONS) cli tests tools -name '*.[ch]')

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
