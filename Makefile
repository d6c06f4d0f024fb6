# aha: one Makefile for the library, the `aha` command, the tests and the benchmarks.
#
#   make            build build/aha (CUDA backend when nvcc is found; CUDA=0 off, CUDA=1 on)
#                   in parallel, one job per core, unless -j is given (make -j1 for one at a time)
#   make test       build and run every doctest suite (non-zero exit on any failure)
#   make check EX=NAME   grade one exercise: build only its suite, run only its tests (EX=all: every one;
#                   no EX: the list); make assignment OUT=dir writes the student copy (README "For teachers")
#   make demo       the main job: the cpu-tiny pipeline
#   make asan       the tests under AddressSanitizer + UndefinedBehaviorSanitizer (CPU only)
#   make fuzz       libFuzzer targets (clang) for the tokenizer, answer parser, expression evaluator, trace
#                   checker and checkpoint reader
#   make bench      benchmark tables (never gate a test); make bench-gpu on a GPU machine: aha vs PyTorch
#   make golden     remake the golden files from the PyTorch reference (needs python3 + torch)
#   make paper-notebook  execute notebooks/paper_to_code.ipynb: the GRPO equations vs the C++ (no run needed)
#   make deps       install the missing Debian packages
#   make clean

SHELL := /bin/bash
# Parallel by default: a newcomer types `make test`, and a serial build of every
# suite takes minutes. One job per core unless the command line gives -j (only at
# the top level: a sub-make shares its parent's jobs). `make test` builds with
# --output-sync=target, so each file's compiler messages stay together; the
# long runs (the tests, the demo, fuzzing) are not synced: their progress streams.
ifeq ($(MAKELEVEL)$(filter -j%,$(MAKEFLAGS)),0)
  MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 1)
endif
BUILD ?= build
CXX ?= g++
OPT ?= -O2
# One instruction set on every x86-64 CPU with AVX2 and FMA (x86-64-v3, what
# Eigen's fast paths use), not the host's own (-march=native): the vector width
# and the fused multiply-adds decide the last bits of every sum, so the same
# seed gives the same numbers, bit for bit, on any such CPU (with the same
# compiler and libm; the blocking of the products is pinned in
# tensor/cpu/eigen_maps.h). Older CPUs get their native set, and their own bits.
ifeq ($(shell uname -m),x86_64)
  ifeq ($(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && echo yes),yes)
    ARCH ?= -march=x86-64-v3
  else
    ARCH ?= -march=native -mno-avx512f
  endif
endif
SAN ?=
# -fopenmp: the CPU kernels split rows across cores (tensor/cpu/parallel.h); OMP_NUM_THREADS sets how many.
CXXFLAGS += -std=c++17 $(OPT) $(ARCH) -g -Wall -Wextra -fopenmp -MMD -MP -I. -isystem /usr/include/eigen3 $(SAN)
LDFLAGS += -fopenmp $(SAN)
# The CPU kernels may assume floating-point ops never trap (no code reads FP exception
# flags): GCC then turns the selects of exp_fast/tanh_fast into vector blends.
$(BUILD)/tensor/cpu/%.o: CXXFLAGS += -fno-trapping-math
LDLIBS += -lpthread

# ---- CUDA switch: auto-detect nvcc unless CUDA=0/1 is given ----
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(origin CUDA),undefined)
  CUDA := $(if $(NVCC),1,0)
endif
ifeq ($(CUDA),1)
  ifeq ($(NVCC),)
    $(error CUDA=1 but nvcc was not found; install the CUDA toolkit or build with CUDA=0)
  endif
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
  CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
               -gencode arch=compute_90,code=compute_90
  NVCCFLAGS += -std=c++17 -O2 -lineinfo -I. $(CUDA_ARCH) -MMD -MP -Xcompiler -Wall,-Wextra
  CXXFLAGS += -DAHA_CUDA=1 -isystem $(CUDA_HOME)/include
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcublasLt -lcudart
  CUDA_SRC := $(wildcard tensor/cuda/*.cu)
else
  CXXFLAGS += -DAHA_CUDA=0
  CUDA_SRC :=
endif

# ---- layers (docs/ARCHITECTURE.md): each layer's objects, and the layers it may use ----
layer_src = $(wildcard $(1)/*.cpp $(1)/cpu/*.cpp $(1)/reference/*.cpp)
obj = $(patsubst %.cpp,$(BUILD)/%.o,$(filter %.cpp,$(1))) $(patsubst %.cu,$(BUILD)/%.cu.o,$(filter %.cu,$(1)))

TENSOR_OBJ   := $(call obj,$(call layer_src,tensor) $(CUDA_SRC))
AUTOGRAD_OBJ := $(call obj,$(call layer_src,autograd))
MODEL_OBJ    := $(call obj,$(call layer_src,model))
DATA_OBJ     := $(call obj,$(call layer_src,data))
REWARD_OBJ   := $(call obj,$(call layer_src,reward))
GRPO_OBJ     := $(call obj,$(call layer_src,grpo))
CLI_OBJ      := $(call obj,$(call layer_src,cli))

DEPS_tensor   := $(TENSOR_OBJ)
DEPS_autograd := $(AUTOGRAD_OBJ) $(DEPS_tensor)
DEPS_model    := $(MODEL_OBJ) $(DEPS_autograd)
DEPS_data     := $(DATA_OBJ)
DEPS_reward   := $(REWARD_OBJ) $(DEPS_data)
DEPS_grpo     := $(GRPO_OBJ) $(DEPS_model) $(DEPS_reward)
ALL_OBJ       := $(GRPO_OBJ) $(MODEL_OBJ) $(AUTOGRAD_OBJ) $(REWARD_OBJ) $(DATA_OBJ) $(TENSOR_OBJ)

# One doctest binary per layer: tests/test_<layer>.cpp (+ tests/test_<layer>_*.cpp).
SUITES := $(foreach s,tensor autograd model data reward grpo,$(if $(wildcard tests/test_$(s).cpp),$(s)))
TEST_BINS := $(foreach s,$(SUITES),$(BUILD)/test_$(s))
TEST_MAIN := $(BUILD)/tests/main.o

.PHONY: all test check assignment demo asan fuzz bench bench-gpu golden deps clean notebooks paper-notebook
.DEFAULT_GOAL := all

all: $(BUILD)/aha

$(BUILD)/aha: $(CLI_OBJ) $(ALL_OBJ)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

define suite_rule
$(BUILD)/test_$(1): $(TEST_MAIN) $(call obj,$(wildcard tests/test_$(1).cpp tests/test_$(1)_*.cpp)) $(DEPS_$(1))
	$$(CXX) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SUITES),$(eval $(call suite_rule,$(s))))

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

# Tests run from the repository root (golden files are read from tests/golden/),
# one suite after another once everything is built.
test: deps
	@$(MAKE) --no-print-directory --output-sync=target $(TEST_BINS) $(BUILD)/aha
	@fail=0; for t in $(TEST_BINS); do echo "== $$t"; $$t || fail=1; done; \
	 if [ $$fail -ne 0 ]; then echo "make test: FAILED"; exit 1; fi; echo "make test: all suites passed"

# ---- the exercises (scripts/assignment/exercises.tsv; README "For teachers") ----
# check: build only the suite that grades EX and run only its grading tests
# ($(MAKE) in the line: the script's make shares this make's jobs).
check: deps
	@BUILD=$(BUILD) MAKE="$(MAKE) --output-sync=target" scripts/assignment/check.sh $(EX)

# assignment: the student copy, each exercise's body replaced by a throw naming it.
assignment:
	@[ -n "$(OUT)" ] || { echo "make assignment: say where: make assignment OUT=dir [EX=name,name]" >&2; exit 2; }
	@scripts/assignment/make_assignment.sh $(if $(EX),--only $(EX)) "$(OUT)"

demo: deps all
	./scripts/demo.sh $(BUILD)/aha

asan: deps
	@$(MAKE) --no-print-directory test BUILD=build-asan CUDA=0 OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# ---- fuzzing: tests/fuzz/fuzz_<name>.cpp, linked with data/ and reward/ (the checkpoint reader: below) ----
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.cpp)
FUZZ_BINS := $(patsubst tests/fuzz/%.cpp,build-fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 20
FUZZ_FLAGS := -std=c++17 -O1 -g -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
build-fuzz/%: tests/fuzz/%.cpp $(call layer_src,data) $(call layer_src,reward)
	@mkdir -p build-fuzz
	clang++ $(FUZZ_FLAGS) -o $@ $^
# The checkpoint reader's checks need no tensors (model/safetensors_header.h,
# model/checkpoint_layout.h): they link alone, without building the tensor layer.
FUZZ_CHECKPOINT_SRC := model/safetensors_header.cpp model/checkpoint_layout.cpp model/metadata_field.cpp model/gpt_config.cpp
build-fuzz/fuzz_checkpoint: tests/fuzz/fuzz_checkpoint.cpp $(FUZZ_CHECKPOINT_SRC)
	@mkdir -p build-fuzz
	clang++ $(FUZZ_FLAGS) -o $@ $^
fuzz: deps $(FUZZ_BINS)
	@set -o pipefail; for f in $(FUZZ_BINS); do echo "== $$f ($(FUZZ_SECONDS) s)"; \
	  mkdir -p build-fuzz/corpus-$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build-fuzz/corpus-$$(basename $$f) 2>&1 | tail -4 || exit 1; \
	done

# Benchmarks print tables; the model workloads are also timed in PyTorch at the
# same shapes (bench/reference.py speed, when python3 has torch) and the two
# joined by bench/compare.py into one table: aha ms, PyTorch ms, ratio, MFU.
BENCH_OUT ?= $(BUILD)/bench
TORCH_OK = python3 -c 'import torch' 2>/dev/null
bench: all
	@mkdir -p $(BENCH_OUT)
	$(BUILD)/aha bench ops --device cpu
	$(BUILD)/aha bench model --preset cpu-tiny --device cpu --json $(BENCH_OUT)/aha-cpu.jsonl
	@if $(TORCH_OK); then \
	  python3 bench/reference.py speed --device cpu --shapes cpu-tiny --out $(BENCH_OUT)/torch-cpu.jsonl && \
	  python3 bench/compare.py $(BENCH_OUT)/aha-cpu.jsonl $(BENCH_OUT)/torch-cpu.jsonl; \
	else echo "bench: python3 has no torch: the PyTorch comparison is skipped (pip install -r requirements.txt)"; fi

# On the GPU machine (issue 7's table; record it in bench/RESULTS.md). PyTorch is
# timed eager, torch.compile'd, and (generation) replayed from a CUDA graph.
bench-gpu: all
	@mkdir -p $(BENCH_OUT)
	$(BUILD)/aha bench ops --device cuda
	$(BUILD)/aha bench model --preset gpu-small --device cuda --profile --json $(BENCH_OUT)/aha-small.jsonl
	$(BUILD)/aha bench model --preset gpu-medium --device cuda --profile --json $(BENCH_OUT)/aha-medium.jsonl
	$(BUILD)/aha bench model --preset gpu-small --device cuda --workloads generate --kv-cache bf16 --json $(BENCH_OUT)/aha-small-kv.jsonl
	$(BUILD)/aha bench model --preset gpu-medium --device cuda --workloads generate --kv-cache bf16 --json $(BENCH_OUT)/aha-medium-kv.jsonl
	$(BUILD)/aha bench model --preset gpu-small --device cuda --workloads grpo_update --dtype bf16 --profile \
	  --json $(BENCH_OUT)/aha-small-bf16.jsonl
	$(BUILD)/aha bench model --preset gpu-medium --device cuda --workloads grpo_update --dtype bf16 \
	  --json $(BENCH_OUT)/aha-medium-bf16.jsonl
	cat $(BENCH_OUT)/aha-small.jsonl $(BENCH_OUT)/aha-medium.jsonl $(BENCH_OUT)/aha-small-kv.jsonl \
	  $(BENCH_OUT)/aha-medium-kv.jsonl $(BENCH_OUT)/aha-small-bf16.jsonl $(BENCH_OUT)/aha-medium-bf16.jsonl \
	  > $(BENCH_OUT)/aha-gpu.jsonl
	python3 bench/reference.py speed --device cuda --shapes gpu-small,gpu-medium --dtypes fp32,bf16 \
	  --compile --graph --out $(BENCH_OUT)/torch-gpu.jsonl
	python3 bench/compare.py $(BENCH_OUT)/aha-gpu.jsonl $(BENCH_OUT)/torch-gpu.jsonl

golden:
	python3 bench/reference.py golden --out tests/golden

notebooks:
	./scripts/notebooks.sh $(RUNS)

# The paper-to-code notebook needs only the aha binary (`aha objective`); it
# asserts that numpy and the C++ agree, so it fails when the objective changes.
# The executed copy, outputs included, goes to $(BUILD)/notebooks/.
paper-notebook: all
	@command -v jupyter >/dev/null || { echo "paper-notebook: jupyter not found; pip install -r requirements.txt" >&2; exit 1; }
	AHA_BIN=$(abspath $(BUILD)/aha) jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=120 \
	  --output-dir $(BUILD)/notebooks notebooks/paper_to_code.ipynb

# Install the Debian packages whose headers are missing (sudo when not root).
DEB_HEADERS := libeigen3-dev:/usr/include/eigen3/Eigen/Dense doctest-dev:/usr/include/doctest/doctest.h \
               nlohmann-json3-dev:/usr/include/nlohmann/json.hpp libcli11-dev:/usr/include/CLI/CLI.hpp
deps:
	@missing=""; for p in $(DEB_HEADERS); do [ -f "$${p#*:}" ] || missing="$$missing $${p%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
