#pragma once
#include "tests/cuda_cpu/cub.h"
