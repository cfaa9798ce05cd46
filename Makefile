# keyetl — build, test and demo entry points.
#   make            build build/keyetl (release, -O2)
#   make demo       install deps, build, run the pipeline on generated sample data
#   make test       install deps (incl. test tools), build normal + ASan/UBSan, run every suite
#   make bench      run the benchmark suite (bench/run.sh)

VERSION    := 0.1.0
BUILD_ID   := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
CC         ?= cc
CSTD       := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN       := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes
OPT        ?= -O2 -g
DEFS       := -DKEYETL_VERSION='"$(VERSION)"' -DKEYETL_BUILD_ID='"$(BUILD_ID)"'
INC        := -Isrc
LIBS       := -lzstd -lsnappy -lz -lsqlite3 -ljansson -lxxhash -lcrypto -lpthread -lm
SAN        := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_DIRS   := util io core parquet catalog pipeline
LIB_SRC    := $(foreach d,$(LIB_DIRS),$(wildcard src/$(d)/*.c))
CLI_SRC    := $(wildcard src/cli/*.c)
TEST_SRC   := $(wildcard tests/unit/*.c)

define objs
$(patsubst %.c,$(1)/obj/%.o,$(2))
endef

.DEFAULT_GOAL := all

B          := build
BA         := build-asan

# The build id is compiled into `keyetl --version`, Parquet `created_by` and run logs. A
# stamp file per build folder changes only when the id changes, so exactly the objects that
# embed it are rebuilt after a new commit.
$(shell for d in $(B) $(BA); do mkdir -p $$d; echo '$(BUILD_ID)' | cmp -s - $$d/.build_id || echo '$(BUILD_ID)' > $$d/.build_id; done)
ID_USERS   := src/cli/main src/parquet/writer src/pipeline/runner
$(foreach o,$(ID_USERS),$(eval $(B)/obj/$(o).o: $(B)/.build_id))
$(foreach o,$(ID_USERS),$(eval $(BA)/obj/$(o).o: $(BA)/.build_id))

.PHONY: all demo test test-build bench clean deps deps-test fuzz
all: $(B)/keyetl

# ---- release build -------------------------------------------------------------------------
$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(CC) $(CSTD) $(WARN) $(OPT) $(DEFS) $(INC) -MMD -MP -c $< -o $@

$(B)/libkeyetl.a: $(call objs,$(B),$(LIB_SRC))
	@rm -f $@
	ar rcs $@ $^

$(B)/keyetl: $(call objs,$(B),$(CLI_SRC)) $(B)/libkeyetl.a
	$(CC) $(OPT) -o $@ $^ $(LIBS)

$(B)/test_unit: $(call objs,$(B),$(TEST_SRC)) $(B)/libkeyetl.a
	$(CC) $(OPT) -o $@ $^ $(LIBS)

# Test-only driver: runs stage functions directly on a hand-built version folder.
$(B)/keyetl-stage: $(call objs,$(B),tests/tools/stage_driver.c) $(B)/libkeyetl.a
	$(CC) $(OPT) -o $@ $^ $(LIBS)

# ---- sanitizer build (ASan + UBSan) -----------------------------------------------------------
$(BA)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(CC) $(CSTD) $(WARN) -O1 -g $(SAN) $(DEFS) $(INC) -MMD -MP -c $< -o $@

$(BA)/libkeyetl.a: $(call objs,$(BA),$(LIB_SRC))
	@rm -f $@
	ar rcs $@ $^

$(BA)/keyetl: $(call objs,$(BA),$(CLI_SRC)) $(BA)/libkeyetl.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

$(BA)/test_unit: $(call objs,$(BA),$(TEST_SRC)) $(BA)/libkeyetl.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

$(BA)/keyetl-stage: $(call objs,$(BA),tests/tools/stage_driver.c) $(BA)/libkeyetl.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

# ---- fuzzing (clang libFuzzer) ----------------------------------------------------------------
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
build-fuzz/%: tests/fuzz/%.c $(LIB_SRC)
	@mkdir -p build-fuzz
	clang $(CSTD) -O1 -g -fsanitize=fuzzer,address,undefined $(DEFS) $(INC) -o $@ $< $(LIB_SRC) $(LIBS)
fuzz: $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))

# ---- entry points -----------------------------------------------------------------------------
deps:
	@scripts/install-deps.sh
deps-test:
	@scripts/install-deps.sh --test

test-build: $(B)/keyetl $(B)/test_unit $(B)/keyetl-stage $(BA)/keyetl $(BA)/test_unit $(BA)/keyetl-stage

test: deps-test
	@$(MAKE) --no-print-directory test-build
	@$(MAKE) --no-print-directory fuzz || echo "fuzz build failed (clang missing?)"
	@tests/run_all.sh

demo: deps
	@$(MAKE) --no-print-directory $(B)/keyetl
	@scripts/demo.sh

bench: deps-test
	@$(MAKE) --no-print-directory $(B)/keyetl
	@bench/run.sh

clean:
	rm -rf $(B) $(BA) build-fuzz

-include $(shell find $(B) $(BA) -name '*.d' 2>/dev/null)
