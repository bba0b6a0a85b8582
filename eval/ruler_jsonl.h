// RULER's sample files, both ways. In: the JSONL that RULER's scripts/data/prepare.py writes
// (one object per line: index, input, outputs, length, answer_prefix, ...), each line one sample
// scored with its task's metric. Out: the samples longctx generates, in that format, so they can
// be set beside RULER's own and fed to other pipelines.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/ruler.h"
#include "eval/sample.h"

namespace longctx::eval {

// The task a file holds, read from its path as RULER lays it out (…/niah_single_1/validation.jsonl)
// or from its name (niah_single_1.jsonl); empty when neither names one of the 13 tasks.
std::string ruler_task_from_path(const std::filesystem::path& file);
// The length a file was prepared for, from the nearest folder named by a number (RULER's
// …/synthetic/4096/data/TASK/validation.jsonl, and --dump-samples' DIR/4096/TASK/); 0 when none.
int64_t ruler_length_from_path(const std::filesystem::path& file);

struct RulerFileOptions {
  int64_t length = 0;   // the cell the samples are filed under
  int64_t limit = 0;    // the first `limit` samples (0: all)
  int64_t context = 0;  // the model's context: a line whose prompt and generation exceed it fails
  bool wrap_chat = false;  // input as the user turn of `format`'s chat template, not as prepared
};

// Every sample of one file. The prompt is `input + answer_prefix` tokenized as RULER's client
// sends it (the template chosen at preparation is in the text), or, with wrap_chat, `input` as the
// user turn of the chat template and `answer_prefix` after its generation prompt. Each sample's
// index is its line's ordinal among the samples (RULER's niah files put a character offset in
// `index`, which may repeat); the file's index and line are kept in `extra`. Throws longctx::Error
// naming the file and line for a line that is not a JSON object with the fields of the task (input:
// text; outputs: a non-empty list of texts; answer_prefix, index, length: of their types when
// present) or that does not fit in the context.
std::vector<EvalSample> read_ruler_file(const std::filesystem::path& file, const RulerTask& task,
                                        const PromptFormat& format, const RulerFileOptions& o);

// One line of RULER's format for a generated sample: `input` is the prompt text before the answer
// prefix as the model reads it (chat template included, as prepare.py writes it for a chat
// --model_template_type), `length` and `length_w_model_temp` its tokens plus the generation
// budget, `others` the generator's details (needle depths, haystack size).
nlohmann::json ruler_file_line(const EvalSample& s, const TaskText& text,
                               const PromptFormat& format);

}  // namespace longctx::eval
