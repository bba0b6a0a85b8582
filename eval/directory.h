// An evaluation's output directory: one run of every attention mode over the same samples, written
// as predictions JSONL (resumed where an interrupted run stopped, one file per shard), a manifest
// that refuses to mix runs of other settings, scores JSON, a table and plots; shards merged;
// predictions re-scored without a model.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "eval/samples.h"

namespace longctx::eval {

// Runs (or resumes) the benchmark `o` names; o.model.model is the model's path.
int run_benchmark(const EvalOptions& o);
// Joins the predictions of shard directories into `out` ("" : the first) and scores them.
int merge_directories(const std::vector<std::string>& dirs, const std::string& out);
// Scores a directory's predictions: scores.json, the table on stdout (unless quiet), plots.
void score_directory(const std::filesystem::path& dir, bool quiet = false);

}  // namespace longctx::eval
