# `longctx run` on the CPU backend and the same command with --device cuda on the CPU execution of
# the CUDA code must print the same text (greedy decoding).
# Usage: cmake -DCPU=<longctx> -DCUDA=<longctx-cuda-cpu> "-DARGS=run;-m;..." -P same_text.cmake
execute_process(COMMAND ${CPU} ${ARGS} --device cpu RESULT_VARIABLE rc_cpu OUTPUT_VARIABLE out_cpu
                ERROR_VARIABLE err_cpu)
# Prefill products in float (LONGCTX_CUDA_GEMM=f32), as the CPU's: the default bfloat16 tiles move
# logits by ~1e-2, enough to flip a greedy near-tie (docs/cuda.md).
execute_process(COMMAND ${CMAKE_COMMAND} -E env LONGCTX_CUDA_GEMM=f32 ${CUDA} ${ARGS} --device cuda
                RESULT_VARIABLE rc_cuda
                OUTPUT_VARIABLE out_cuda ERROR_VARIABLE err_cuda)
if(NOT rc_cpu EQUAL 0 OR NOT rc_cuda EQUAL 0)
  message(FATAL_ERROR "exit codes: cpu ${rc_cpu}, cuda ${rc_cuda}\ncpu: ${err_cpu}\ncuda: ${err_cuda}")
endif()
if(out_cpu STREQUAL "")
  message(FATAL_ERROR "no text from the CPU run: ${err_cpu}")
endif()
if(NOT out_cpu STREQUAL out_cuda)
  message(FATAL_ERROR "different text\n--- cpu:\n${out_cpu}\n--- cuda:\n${out_cuda}\n--- cuda stderr:\n${err_cuda}")
endif()
# The CUDA backend ran (its device is named in the run's summary line), not a CPU fallback.
string(FIND "${err_cuda}" "CUDA (the CPU, executing the CUDA code" on_cuda)
if(on_cuda EQUAL -1)
  message(FATAL_ERROR "the --device cuda run did not name the CUDA backend:\n${err_cuda}")
endif()
message(STATUS "same text on both:\n${out_cpu}")
