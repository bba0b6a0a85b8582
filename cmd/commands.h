// The subcommands of the `longctx` binary. Each registers its flags on the CLI11 app and returns
// the action to run once parsing succeeded; actions throw longctx::Error on bad input.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace longctx::cmd {

using Action = std::function<int()>;

Action add_info(CLI::App& app);
Action add_tokenize(CLI::App& app);
Action add_run(CLI::App& app);
Action add_perplexity(CLI::App& app);
Action add_chat(CLI::App& app);
Action add_bench(CLI::App& app);
Action add_eval(CLI::App& app);
Action add_serve(CLI::App& app);

}  // namespace longctx::cmd
