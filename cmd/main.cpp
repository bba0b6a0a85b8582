// longctx: command-line inference for long-context LLMs. This file only dispatches; each
// subcommand lives in its own file of cmd/.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>

#include "cmd/commands.h"
#include "support/error.h"

int main(int argc, char** argv) {
  CLI::App app{"longctx: long-context LLM inference with switchable attention strategies"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log more");

  // The subcommands, one file of cmd/ each.
  struct Subcommand {
    const char* name;
    const char* help;
    longctx::cmd::Action (*add)(CLI::App&);
  };
  static constexpr Subcommand kSubcommands[] = {
      {"run", "generate text from a prompt", longctx::cmd::add_run},
      {"chat", "interactive multi-turn chat", longctx::cmd::add_chat},
      {"perplexity", "windowed perplexity of a text, as llama.cpp computes it",
       longctx::cmd::add_perplexity},
      {"bench", "prompt and generation speed, llama-bench style", longctx::cmd::add_bench},
      {"eval", "RULER, LongBench, needle and passkey evaluations across attention modes",
       longctx::cmd::add_eval},
      {"serve", "an OpenAI-compatible HTTP server (completions, chat, streaming, logprobs)",
       longctx::cmd::add_serve},
      {"info", "describe a model: hyper-parameters, tokenizer, tensors", longctx::cmd::add_info},
      {"tokenize", "show the tokens of a text", longctx::cmd::add_tokenize},
  };
  std::map<CLI::App*, longctx::cmd::Action> actions;
  for (const Subcommand& sc : kSubcommands) {
    CLI::App* sub = app.add_subcommand(sc.name, sc.help);
    actions[sub] = sc.add(*sub);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "longctx: error: %s (see --help)\n", e.what());
    return longctx::kExitBadInput;
  }
  // Logs go to stderr beside the errors, never into the generated text on stdout.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("longctx"));
  spdlog::set_pattern("longctx: %l: %v");
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);

  try {
    for (auto& [sub, action] : actions) {
      if (sub->parsed()) return action();
    }
  } catch (const longctx::Error& e) {
    std::fprintf(stderr, "longctx: error: %s\n", e.what());
    return longctx::kExitBadInput;
  } catch (const std::filesystem::filesystem_error& e) {
    // A path the user named cannot be used (permissions, a missing parent): their input.
    std::fprintf(stderr, "longctx: error: %s\n", e.what());
    return longctx::kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "longctx: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    // The last line of defence: every cause should be a longctx::Error where it arises, so this is
    // a defect of longctx, reported as one line instead of an abort.
    std::fprintf(stderr, "longctx: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
