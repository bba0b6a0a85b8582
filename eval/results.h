// What an evaluation leaves on disk and how it is scored: predictions JSONL (one line per sample
// and attention mode, appended and flushed as they finish, so a run resumes where it stopped and
// shards merge by concatenation), scores JSON (re-computable from the predictions alone), the
// terminal table (the plots: eval/plots.h).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace longctx::eval {

// The prediction files of a run directory: predictions.jsonl and predictions.shard-*.jsonl.
std::vector<std::filesystem::path> prediction_files(const std::filesystem::path& dir);
// Every line of the files, de-duplicated by (id, mode) keeping the first; a malformed line is an
// error naming file and line.
std::vector<nlohmann::json> read_predictions(const std::vector<std::filesystem::path>& files);
std::string prediction_key(const nlohmann::json& p);  // "<id> <mode>"
// A run killed mid-write leaves a last line without its newline. Cuts it off (the resumed run
// redoes that row) so the next row does not glue onto it; returns how many bytes went.
size_t drop_torn_last_line(const std::filesystem::path& file);

// Scores every prediction again from its stored fields (pred, answers, metric, all_classes,
// first_line) and aggregates: rows per benchmark x task x length x mode (score 0-100 rounded to 2
// places as the official scripts do, n, nulls, decode and prefill tokens/s, KV bytes, latency),
// per-length means over tasks (LongBench: over categories), and relative-to-dense ratios.
nlohmann::json score_predictions(std::vector<nlohmann::json>& predictions);

// The table: task x length x mode with score, score / dense, tokens/s and KV held.
std::string format_table(const nlohmann::json& scores);
// The modes in the run's --attn order when the scores carry it (`order`), else as they first
// appear in `rows`; dense first when present.
std::vector<std::string> modes_in_order(const nlohmann::json& rows,
                                        const nlohmann::json& order = nullptr);

}  // namespace longctx::eval
