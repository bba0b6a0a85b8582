# The project's CUDA code executed on the CPU with CUDA's semantics (tests/cuda_cpu/exec.h), in
# every build, nvcc or not: the same kernels/cuda/*.cu and engine/cuda_backend.cpp compiled as C++
# against this folder's stand-ins for the CUDA headers. Three copies: plain (the CUDA tests, the
# op table's CUDA rows and a longctx binary whose --device cuda runs here), under AddressSanitizer
# with UBSan, and under ThreadSanitizer. docs/cuda.md says what this proves and what it cannot.
set(CUDA_CPU_DIR ${CMAKE_CURRENT_LIST_DIR})
file(GLOB CUDA_CPU_CU CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/cuda/*.cu)
set(CUDA_CPU_WRAPPERS "")
foreach(cu IN LISTS CUDA_CPU_CU)
  get_filename_component(stem ${cu} NAME)
  set(wrapper ${CMAKE_CURRENT_BINARY_DIR}/cuda_cpu/${stem}.cpp)
  file(CONFIGURE OUTPUT ${wrapper} CONTENT "#include \"${cu}\"\n")
  list(APPEND CUDA_CPU_WRAPPERS ${wrapper})
endforeach()
set(CUDA_CPU_SOURCES
  ${CUDA_CPU_DIR}/fiber.cpp ${CUDA_CPU_DIR}/exec.cpp ${CUDA_CPU_DIR}/runtime.cpp
  ${CUDA_CPU_DIR}/cublas.cpp ${CUDA_CPU_DIR}/cub.cpp ${CUDA_CPU_WRAPPERS}
  ${CMAKE_SOURCE_DIR}/kernels/cuda/device.cpp ${CMAKE_SOURCE_DIR}/engine/cuda_backend.cpp)

# cuda_cpu_backend(NAME [compile options...]): the CUDA backend over the CPU execution, as an
# object library a binary links instead of ${LONGCTX_CUDA_BACKEND}.
function(cuda_cpu_backend name)
  add_library(${name} OBJECT ${CUDA_CPU_SOURCES})
  target_include_directories(${name} BEFORE PUBLIC ${CUDA_CPU_DIR}/include)
  target_link_libraries(${name} PUBLIC longctx_engine)
  target_compile_options(${name} PRIVATE ${LONGCTX_WARNINGS} ${ARGN})
endfunction()

cuda_cpu_backend(longctx_cuda_cpu)
target_link_libraries(longctx_cuda_cpu PUBLIC OpenMP::OpenMP_CXX)  # cuBLAS's stand-in threads

# The CUDA tests: kernels against the CPU, then whole models under every policy.
add_executable(test_cuda_cpu test_cuda.cpp test_cuda_models.cpp)
target_link_libraries(test_cuda_cpu PRIVATE longctx_cuda_cpu)
target_compile_definitions(test_cuda_cpu PRIVATE LONGCTX_FIXTURES_DIR="${FIXTURES_DIR}")
add_test(NAME cuda_cpu COMMAND test_cuda_cpu)
set_tests_properties(cuda_cpu PROPERTIES TIMEOUT 1800 LABELS "cuda_cpu;long"
                     ENVIRONMENT LONGCTX_CUDA_TEST_PROMPT=150)

# The op table (tests/test_backend_ops.cpp) with its CUDA rows running.
add_executable(backend_ops_cuda_cpu main.cpp test_backend_ops.cpp)
target_link_libraries(backend_ops_cuda_cpu PRIVATE longctx_test_support longctx_cuda_cpu Catch2::Catch2)
target_compile_definitions(backend_ops_cuda_cpu PRIVATE LONGCTX_FIXTURES_DIR="${FIXTURES_DIR}"
                           LONGCTX_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_test(NAME backend_ops_cuda_cpu COMMAND backend_ops_cuda_cpu "[backend]")
set_tests_properties(backend_ops_cuda_cpu PROPERTIES LABELS cuda_cpu
                     ENVIRONMENT LONGCTX_REQUIRE_BACKEND=cuda)

# longctx itself with --device cuda on the CPU execution (the CLI tests below).
add_executable(longctx_cuda_cpu_cli ${CMAKE_SOURCE_DIR}/cmd/main.cpp)
target_link_libraries(longctx_cuda_cpu_cli PRIVATE longctx_cmd longctx_cuda_cpu)
set_target_properties(longctx_cuda_cpu_cli PROPERTIES OUTPUT_NAME longctx-cuda-cpu)

# Under AddressSanitizer and UBSan: an out-of-bounds access to device memory (a host allocation
# here), to dynamic shared memory or to a CUB scratch buffer is a report. The kernels, then the
# tiny llama folder under every policy (the real models' vocabularies make it too slow here).
if(LONGCTX_SANITIZE_TESTS)
  set(CUDA_CPU_ASAN -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g)
  cuda_cpu_backend(longctx_cuda_cpu_asan ${CUDA_CPU_ASAN})
  add_executable(test_cuda_cpu_asan test_cuda.cpp test_cuda_models.cpp)
  target_link_libraries(test_cuda_cpu_asan PRIVATE longctx_cuda_cpu_asan OpenMP::OpenMP_CXX)
  target_compile_options(test_cuda_cpu_asan PRIVATE ${CUDA_CPU_ASAN})
  target_link_options(test_cuda_cpu_asan PRIVATE -fsanitize=address,undefined)
  target_compile_definitions(test_cuda_cpu_asan PRIVATE LONGCTX_FIXTURES_DIR="${FIXTURES_DIR}")
  add_test(NAME cuda_cpu_asan COMMAND test_cuda_cpu_asan)
  set_tests_properties(cuda_cpu_asan PROPERTIES TIMEOUT 1800 LABELS "cuda_cpu;asan;long"
                       ENVIRONMENT "LONGCTX_CUDA_TEST_MODELS=tiny-llama;LONGCTX_CUDA_TEST_SMALL=1;LONGCTX_CUDA_TEST_PROMPT=150")
endif()

# Under ThreadSanitizer: every kernel thread is a thread to it and only CUDA's orderings (launch,
# __syncthreads, warp shuffles, the end of a grid) order them, so a shared-memory read with no
# barrier after the write that feeds it is a reported race. Kernels only (the engine around them
# is not instrumented here; build/tsan covers it).
if(LONGCTX_TSAN_TESTS AND NOT LONGCTX_TSAN)
  set(CUDA_CPU_TSAN -fsanitize=thread -O1 -g)
  cuda_cpu_backend(longctx_cuda_cpu_tsan ${CUDA_CPU_TSAN})
  add_executable(test_cuda_cpu_tsan test_cuda.cpp test_cuda_models.cpp)
  target_link_libraries(test_cuda_cpu_tsan PRIVATE longctx_cuda_cpu_tsan)
  target_compile_options(test_cuda_cpu_tsan PRIVATE ${CUDA_CPU_TSAN})
  target_link_options(test_cuda_cpu_tsan PRIVATE -fsanitize=thread)
  target_compile_definitions(test_cuda_cpu_tsan PRIVATE LONGCTX_FIXTURES_DIR="${FIXTURES_DIR}")
  add_test(NAME cuda_cpu_tsan COMMAND test_cuda_cpu_tsan)
  set_tests_properties(cuda_cpu_tsan PROPERTIES TIMEOUT 1800 LABELS "cuda_cpu;tsan;long"
                       ENVIRONMENT "LONGCTX_CUDA_TEST_MODELS=0;LONGCTX_CUDA_TEST_SMALL=1;TSAN_OPTIONS=halt_on_error=1 exitcode=66")
endif()

# `longctx run --device cuda` prints the text `--device cpu` prints, on both real models, dense
# and every policy (budgets that act on the 134-token prompt), 12 tokens each.
set(CUDA_CPU_POLICIES dense streaming:sinks=4,window=60 quest:budget=96,page=16
    dhsa:budget=96,local=16 recycled:k=64,stride=2 h2o:budget=96 snapkv:budget=96,window=16)
foreach(model SmolLM2-135M-Instruct.Q4_1.gguf gemma-3-270m-q4_k_m.gguf)
  string(REGEX MATCH "^[A-Za-z0-9]+" short ${model})
  foreach(policy IN LISTS CUDA_CPU_POLICIES)
    string(REGEX MATCH "^[a-z0-9]+" pname ${policy})
    add_test(NAME cuda_cpu_run_${short}_${pname}
             COMMAND ${CMAKE_COMMAND} -DCPU=$<TARGET_FILE:longctx>
                     -DCUDA=$<TARGET_FILE:longctx_cuda_cpu_cli>
                     "-DARGS=run;-m;${MODELS_DIR}/${model};-f;${CUDA_CPU_DIR}/prompt.txt;-n;12;-c;512;--temp;0;--attn;${policy}"
                     -P ${CUDA_CPU_DIR}/same_text.cmake)
    set_tests_properties(cuda_cpu_run_${short}_${pname} PROPERTIES LABELS cuda_cpu TIMEOUT 900)
  endforeach()
endforeach()

# `longctx eval --device cuda`: the same predictions and scores as on the CPU, on both models.
foreach(model SmolLM2-135M-Instruct.Q4_1.gguf gemma-3-270m-q4_k_m.gguf)
  string(REGEX MATCH "^[A-Za-z0-9]+" short ${model})
  add_test(NAME cuda_cpu_eval_${short}
           COMMAND ${CMAKE_COMMAND} -DCPU=$<TARGET_FILE:longctx>
                   -DCUDA=$<TARGET_FILE:longctx_cuda_cpu_cli> -DOUT=${CMAKE_CURRENT_BINARY_DIR}/cuda_cpu_eval_${short}
                   "-DARGS=eval;passkey;-m;${MODELS_DIR}/${model};--lengths;256;--samples;1;--attn;dense,quest:budget=96,h2o:budget=96;-t;2"
                   -P ${CUDA_CPU_DIR}/same_eval.cmake)
  set_tests_properties(cuda_cpu_eval_${short} PROPERTIES LABELS cuda_cpu TIMEOUT 900)
endforeach()
