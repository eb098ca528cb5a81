# taskrun: `make` leaves ./taskrun and ./taskrun-sim. See README.md for the tour.
VERSION := 0.1.0
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
COMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
CC ?= cc
# The generators in tools/ (the man pages, --help, the API --check reads) are Lua scripts.
LUA ?= lua5.4

# mimalloc (Debian's libmimalloc-dev) takes malloc over for the whole process, libcurl
# included, once linked. Named though nothing calls it by name: the linker must keep it.
MIMALLOC := -Wl,--push-state,--no-as-needed -lmimalloc -Wl,--pop-state

# SANITIZE=1 builds ASan+UBSan into its own folder, so switching modes never mixes objects.
ifeq ($(SANITIZE),1)
  BUILD := build/sanitize
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  CHECKFLAGS := -DTR_CHECK_STACK
  OPT := -O1 -g
  MALLOC_LIBS :=
else
  BUILD := build/release
  SANFLAGS :=
  CHECKFLAGS :=
  OPT := -O2 -g
  # The release build allocates with mimalloc: glibc's malloc was 15-18% of taskrun's CPU at
  # 10,000 waits (perf), most of it sorting and consolidating free chunks around libcurl's
  # per-request buffers in a heap of many small Lua objects. ASan brings its own allocator:
  # the sanitizer build has none.
  MALLOC_LIBS := $(MIMALLOC)
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASEFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) -MMD -MP
PKGS := lua5.4 libcurl sqlite3 libpq
SIM_PKGS := libmicrohttpd jansson

# `make deps` runs before the packages exist: ask pkg-config only when building.
ifneq ($(MAKECMDGOALS),deps)
  PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
  PKG_LIBS := $(shell pkg-config --libs $(PKGS))
  SIM_PKG_CFLAGS := $(shell pkg-config --cflags $(SIM_PKGS))
  SIM_PKG_LIBS := $(shell pkg-config --libs $(SIM_PKGS))
endif
TR_CFLAGS := $(BASEFLAGS) $(CHECKFLAGS) $(PKG_CFLAGS) -iquote runtime -iquote bindings \
  -iquote $(BUILD) -DTR_VERSION='"$(VERSION)"'
TR_LIBS := $(PKG_LIBS) -lm
SIM_CFLAGS := $(BASEFLAGS) $(SIM_PKG_CFLAGS) -Isim -pthread
SIM_LIBS := $(SIM_PKG_LIBS) -pthread -lm

TR_SRCS := $(wildcard runtime/*.c) $(wildcard bindings/*.c)
TR_OBJS := $(TR_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/stdlib_embed.o
SIM_SRCS := $(wildcard sim/*.c)
SIM_OBJS := $(SIM_SRCS:%.c=$(BUILD)/%.o)
# The Lua language server definitions of the runbook API; taskrun.lua first (the others extend
# it), then in the order taskrun-lua(7) shows them. tools/luals.lua reads them into taskrun._api,
# the API --check knows, built into the binary.
TYPES_FIRST := types/taskrun.lua types/task.lua types/errors.lua types/http.lua types/json.lua \
  types/client.lua
TYPES := $(TYPES_FIRST) $(filter-out $(TYPES_FIRST),$(sort $(wildcard types/*.lua)))
GEN := build/gen
API := $(GEN)/stdlib/taskrun/_api.lua
STDLIB := $(sort $(wildcard stdlib/taskrun/*.lua)) $(API)

.PHONY: all test deps install uninstall clean bench demo fuzz fuzz-build valgrind
all: taskrun taskrun-sim build/taskrun-stub man

# The binaries at the top are copies of the current mode's build: always the mode asked for,
# even when the other mode's copy is newer.
# cp then mv: a running ./taskrun-sim (a spec's, a --sim run's) must not block the copy.
taskrun: $(BUILD)/taskrun FORCE
	@cmp -s $< $@ || { cp $< $@.tmp && mv $@.tmp $@; }
taskrun-sim: $(BUILD)/taskrun-sim FORCE
	@cmp -s $< $@ || { cp $< $@.tmp && mv $@.tmp $@; }
FORCE:

$(BUILD)/taskrun: $(TR_OBJS)
	$(CC) $(SANFLAGS) -o $@ $^ $(MALLOC_LIBS) $(TR_LIBS)
$(BUILD)/taskrun-sim: $(SIM_OBJS)
	$(CC) $(SANFLAGS) -o $@ $^ $(SIM_LIBS)

$(BUILD)/runtime/%.o $(BUILD)/bindings/%.o: CFLAGS_USED = $(TR_CFLAGS)
$(BUILD)/sim/%.o: CFLAGS_USED = $(SIM_CFLAGS)
$(BUILD)/%.o: %.c | build-dirs
	$(CC) $(CFLAGS_USED) -c -o $@ $<

# The stdlib is embedded in the binary: it works from the source tree and after install alike.
$(BUILD)/stdlib_embed.c: $(STDLIB) tools/embed.sh | build-dirs
	sh tools/embed.sh $(STDLIB) > $@
$(BUILD)/stdlib_embed.o: $(BUILD)/stdlib_embed.c
	$(CC) $(TR_CFLAGS) -c -o $@ $<

$(API): $(TYPES) tools/luals.lua
	@mkdir -p $(dir $@)
	$(LUA) tools/luals.lua $(TYPES) > $@.tmp && mv $@.tmp $@

# One source, doc/taskrun.1.txt, for the man page and --help (tools/mangen.lua says how).
$(BUILD)/help.h: doc/taskrun.1.txt tools/mangen.lua | build-dirs
	$(LUA) tools/mangen.lua help $< $(VERSION) > $@.tmp && mv $@.tmp $@
$(BUILD)/runtime/main.o: $(BUILD)/help.h

# The man pages: the same in both modes, so outside them.
MAN_PAGES := build/man/taskrun.1 build/man/taskrun-lua.7
.PHONY: man
man: $(MAN_PAGES)
build/man/taskrun.1: doc/taskrun.1.txt tools/mangen.lua
	@mkdir -p build/man
	$(LUA) tools/mangen.lua man $< $(VERSION) > $@.tmp && mv $@.tmp $@
# The runbook API's page, written from the language server definitions.
build/man/taskrun-lua.7: doc/taskrun-lua.7.txt tools/mangen.lua tools/luals.lua $(TYPES)
	@mkdir -p build/man
	$(LUA) tools/mangen.lua man $< $(VERSION) $(TYPES) > $@.tmp && mv $@.tmp $@

.PHONY: build-dirs
build-dirs:
	@mkdir -p $(BUILD)/runtime $(BUILD)/bindings $(BUILD)/sim

# libcurl alone, the floor under taskrun's cost per poll (bench/poll.sh, bench/poll_profile.sh).
# Linked with the allocator taskrun's release build has, as taskrun's libcurl allocates with it.
build/bench/curl_poll: bench/curl_poll.c
	@mkdir -p build/bench
	$(CC) -std=c11 -O2 $(WARN) -o $@ $< $(MIMALLOC) $$(pkg-config --cflags --libs libcurl)

# The misbehaving-server specs' stub: canned raw bytes over plain sockets (tools/stub_server.c).
# A test tool, the same in both modes, so it lives outside them.
build/taskrun-stub: tools/stub_server.c
	@mkdir -p build
	$(CC) -std=c11 -D_GNU_SOURCE -O2 $(WARN) -o $@ $<

# libFuzzer targets (fuzz/*.c), built by Debian's clang with ASan and UBSan into build/fuzz from
# their own objects of the runtime and bindings (every source but main.c, in an archive so each
# target links only what it uses). `make fuzz` runs each for FUZZ_SECONDS on its seed corpus
# fuzz/corpus/<target>; a crash fails it. See fuzz/run.sh.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_BUILD := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# The project's sources and the targets are held to clang's warnings here as to gcc's elsewhere.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) $(FUZZ_SAN) -DTR_CHECK_STACK $(PKG_CFLAGS) \
  -iquote runtime -iquote bindings -iquote fuzz -DTR_VERSION='"$(VERSION)"' -MMD -MP
FUZZ_TARGETS := json_decode http_response route duration redact step_log
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(filter-out runtime/main.c,$(TR_SRCS))) \
  $(FUZZ_BUILD)/stdlib_embed.o
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz-build: $(FUZZ_BINS)
.PRECIOUS: $(FUZZ_BUILD)/fuzz/%.o
fuzz: fuzz-build
	sh fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

$(FUZZ_BUILD)/libtaskrun.a: $(FUZZ_LIB_OBJS)
	rm -f $@ && ar rcs $@ $^
$(FUZZ_BUILD)/fuzz/%.o: fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_BUILD)/stdlib_embed.c: $(STDLIB) tools/embed.sh
	@mkdir -p $(FUZZ_BUILD)
	sh tools/embed.sh $(STDLIB) > $@
$(FUZZ_BUILD)/stdlib_embed.o: $(FUZZ_BUILD)/stdlib_embed.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/fuzz/%.o $(FUZZ_BUILD)/libtaskrun.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(TR_LIBS) -pthread

test: all
	SANITIZE=$(SANITIZE) sh tools/run-specs

# Each fan-out run measures its 100-wait baseline first, in the same process.
bench: all build/bench/curl_poll
	sh bench/startup.sh
	sh bench/sim.sh
	bash bench/poll.sh
	./taskrun --sim --quiet --no-journal bench/idle.lua cpu 20
	./taskrun --sim --quiet --no-journal bench/idle.lua memory 10000
	bash bench/fanout.sh 10000
	./taskrun --sim --quiet --timeout 10m bench/fanout.lua 100000
	sh bench/journal.sh

# valgrind's memcheck on a mixed runbook (tools/valgrind_mixed.lua): no error, no leak.
valgrind: all
	state=$$(mktemp -d) && valgrind -q --leak-check=full \
	  --show-leak-kinds=definite,indirect,possible \
	  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=9 \
	  ./taskrun --sim --quiet --state-dir "$$state" tools/valgrind_mixed.lua; \
	  rc=$$?; rm -rf "$$state"; exit $$rc

demo: all
	./taskrun --sim scripts/restore_then_mount.lua

deps:
	@sh tools/deps.sh liblua5.4-dev libcurl4-openssl-dev lua-cjson-dev lua-busted lua5.4 libsqlite3-dev \
	  sqlite3 libmicrohttpd-dev libjansson-dev pkg-config wrk valgrind clang libclang-rt-14-dev \
	  python3-requests curl jq man-db lua-check python3-yaml systemd libpq-dev postgresql \
	  libmimalloc-dev

# The definitions go to share/taskrun/types, where `taskrun init` finds them from bin/.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 \
	  $(DESTDIR)$(DATADIR)/taskrun/types $(DESTDIR)$(COMPLETIONDIR)
	install -m 755 taskrun taskrun-sim $(DESTDIR)$(BINDIR)/
	install -m 644 build/man/taskrun.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 build/man/taskrun-lua.7 $(DESTDIR)$(MANDIR)/man7/
	install -m 644 $(TYPES) $(DESTDIR)$(DATADIR)/taskrun/types/
	install -m 644 completion/taskrun $(DESTDIR)$(COMPLETIONDIR)/taskrun

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/taskrun $(DESTDIR)$(BINDIR)/taskrun-sim
	rm -f $(DESTDIR)$(MANDIR)/man1/taskrun.1 $(DESTDIR)$(MANDIR)/man7/taskrun-lua.7
	rm -f $(DESTDIR)$(COMPLETIONDIR)/taskrun
	rm -rf $(DESTDIR)$(DATADIR)/taskrun

clean:
	rm -rf build taskrun taskrun-sim

-include $(shell find build -name '*.d' 2>/dev/null)
