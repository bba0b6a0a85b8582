// Reading whole files that a user names (prompts, JSON configs, datasets) without hanging or
// blowing up: only regular files (or standard input, named "-"), read up to a bound, every
// failure a longctx::Error naming the path.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace longctx {

// The most a text file may hold unless a caller says otherwise: far above any prompt, config or
// dataset file the tools read (LongBench's largest JSONL is ~60 MiB), far below this machine's RAM.
inline constexpr size_t kMaxTextFileBytes = size_t(1) << 30;

// The whole file. A directory, FIFO, device or socket is refused (reading one would block or never
// end); "-" reads standard input, which must be a regular file or a pipe and is also bounded.
// `max_bytes` bounds what is read: a larger file is an error naming its size and the bound.
std::string read_text_file(const std::string& path, size_t max_bytes = kMaxTextFileBytes);

// read_text_file, then JSON: a syntax error names the path and its byte offset.
nlohmann::json read_json_file(const std::string& path, size_t max_bytes = kMaxTextFileBytes);

// The same check alone, for readers that stream (e.g. line by line): throws unless `path` is a
// regular file that can be opened for reading.
void require_regular_file(const std::string& path);

// An open descriptor of `path` (the caller closes it) and its size, or an Error naming the path:
// opened without blocking (a FIFO with no writer would block open() itself), then required to be
// a regular file.
int open_regular_file(const std::string& path, size_t* size);

}  // namespace longctx
