// `longctx eval ruler|longbench|niah|passkey`: one run evaluates every --attn mode on the same
// samples and writes predictions JSONL (resumable, shardable), scores JSON, a manifest and plots;
// `eval merge` joins shards, `eval score` re-scores a directory without a model.
#include <memory>
#include <string>
#include <vector>

#include "cmd/commands.h"
#include "cmd/generation.h"
#include "cmd/model_path.h"
#include "eval/directory.h"

namespace longctx::cmd {
Action add_eval(CLI::App& app) {
  app.require_subcommand(1);
  auto o = std::make_shared<eval::EvalOptions>();
  auto action = std::make_shared<std::function<int()>>();
  for (const char* bench : {"ruler", "longbench", "longbench-v2", "niah", "passkey"}) {
    CLI::App* sub = app.add_subcommand(bench, std::string("evaluate ") + bench);
    add_model_flags(*sub, o->model);
    add_trace_flag(*sub, o->model);
    sub->get_option("--attn")->description(
        "attention modes to compare, comma-separated (e.g. dense,streaming,h2o:budget=512)");
    sub->add_option("--tasks,--datasets", o->tasks,
                    std::string(bench) == "ruler" ? "tasks (default: all 13)"
                                                  : "datasets (default: the English ones)");
    sub->add_option("--lengths", o->lengths,
                    "context lengths: 4k,8k,16k or token counts (default 4k)");
    if (std::string(bench) == "ruler") {
      sub->add_option("--data", o->data,
                      "evaluate RULER's own samples: JSONL files from its prepare.py, comma-"
                      "separated (task and length from their paths, or --tasks/--lengths)");
      sub->add_option("--dump-samples", o->dump_samples,
                      "write the generated samples as RULER JSONL under DIR/LENGTH/TASK/ and stop");
    }
    sub->add_option(
           "--samples,-N", o->samples,
           "samples per task and length (default: ruler 10, passkey 10, niah 1; longbench: all)")
        ->check(at_least(0));
    sub->add_option("--data-dir", o->data_dir, "benchmark data (default ~/.cache/longctx/eval)");
    sub->add_option("-o,--out", o->out, "output directory (default eval-out/BENCH-MODEL)");
    sub->add_flag("--no-shared-prefill", o->no_shared_prefill,
                  "every mode evaluates every prompt whole (by default the modes that prefill "
                  "densely take the prompt's shared part from one dense session)");
    sub->add_option("--metric", o->metric,
                    "generate (the text, scored), likelihood (the reference answer teacher-forced: "
                    "log P(answer), paired against dense), or both (default: both, LongBench: "
                    "generate)")
        ->check(CLI::IsMember({"generate", "likelihood", "both"}));
    sub->add_flag("--attention-recall", o->attention_recall,
                  "at every decode step, the share of dense attention's mass on the keys each "
                  "mode read (CPU; keeps a float copy of every key)");
    sub->add_option("--shard", o->shard,
                    "i/n: evaluate every n-th sample from the i-th (Slurm arrays, k8s jobs)");
    sub->add_option("--chat-template", o->chat_template,
                    "template family, model (the model's own), or none for plain text "
                    "(default: the model's; with --data: the samples as prepared)");
    sub->add_flag(
        "--no-think", o->no_think,
        "Qwen3: an empty think block in the generation prompt, so the model answers directly");
    sub->add_option("--seed", o->seed, "generator seed (default 42)");
    if (std::string(bench) == "longbench") {
      sub->add_flag("--e", o->longbench_e,
                    "LongBench-E: the *_e.jsonl files, scored by length bucket");
      sub->add_option("--max-input-tokens", o->max_input_tokens,
                      "middle-truncation budget (default: length - 500)")
          ->check(at_least(1));
    }
    if (std::string(bench) == "longbench-v2") {
      sub->add_flag("--cot", o->cot,
                    "chain of thought: 1024 tokens of reasoning, then a second turn that answers");
      sub->add_option("--max-input-tokens", o->max_input_tokens,
                      "middle-truncation budget (default: what fits in the length with the "
                      "generation and the chat template)")
          ->check(at_least(1));
    }
    if (std::string(bench) == "niah")
      sub->add_option("--depths", o->depths, "needle depths in percent (default 0,25,50,75,100)");
    sub->callback([o, bench, action] {
      o->benchmark = bench;
      *action = [o] {
        start_trace(o->model);  // a trace that cannot be written fails before any work
        eval::EvalOptions options = *o;
        options.model.model = resolve_model(o->model.model);
        return eval::run_benchmark(options);
      };
    });
  }
  auto merge_dirs = std::make_shared<std::vector<std::string>>();
  auto merge_out = std::make_shared<std::string>();
  CLI::App* m = app.add_subcommand("merge", "join the predictions of shards and score them");
  m->add_option("dirs", *merge_dirs, "shard output directories")->required();
  m->add_option("-o,--out", *merge_out, "merged directory (default: the first)");
  m->callback([=] { *action = [=] { return eval::merge_directories(*merge_dirs, *merge_out); }; });
  auto score_dir = std::make_shared<std::string>();
  CLI::App* s = app.add_subcommand("score", "re-score a directory's predictions (no model needed)");
  s->add_option("dir", *score_dir, "eval output directory")->required();
  s->callback([=] {
    *action = [=] {
      eval::score_directory(*score_dir);
      return 0;
    };
  });
  return [action] { return (*action)(); };
}

}  // namespace longctx::cmd
