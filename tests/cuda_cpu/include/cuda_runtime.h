// The CPU execution of the project's CUDA code: this folder stands in for the CUDA toolkit's
// headers (tests/cuda_cpu/runtime.h).
#pragma once
#include "tests/cuda_cpu/runtime.h"
