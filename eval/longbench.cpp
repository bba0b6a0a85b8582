#include "eval/longbench.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "eval/text.h"
#include "support/error.h"
#include "support/text_file.h"

namespace longctx::eval {

const std::vector<LongBenchDataset>& longbench_datasets() {
  // name, category, metric, max new tokens, chinese, skip chat template, first line; prompt
  // (LongBench/config/dataset2prompt.json verbatim, typos included).
  static const std::vector<LongBenchDataset> sets = {
      {"narrativeqa", "Single-Doc QA", "qa_f1_score", 128, false, false, false,
       "You are given a story, which can be either a novel or a movie script, and a question. "
       "Answer the question asconcisely as you can, using a single phrase if possible. Do not "
       "provide any explanation.\n\nStory: {context}\n\nNow, answer the question based on the "
       "story asconcisely as you can, using a single phrase if possible. Do not provide any "
       "explanation.\n\nQuestion: {input}\n\nAnswer:"},
      {"qasper", "Single-Doc QA", "qa_f1_score", 128, false, false, false,
       "You are given a scientific article and a question. Answer the question as concisely as you "
       "can, using a single phrase or sentence if possible. If the question cannot be answered "
       "based on the information in the article, write \"unanswerable\". If the question is a "
       "yes/no question, answer \"yes\", \"no\", or \"unanswerable\". Do not provide any "
       "explanation.\n\nArticle: {context}\n\n Answer the question based on the above article as "
       "concisely as you can, using a single phrase or sentence if possible. If the question "
       "cannot be answered based on the information in the article, write \"unanswerable\". If the "
       "question is a yes/no question, answer \"yes\", \"no\", or \"unanswerable\". Do not provide "
       "any explanation.\n\nQuestion: {input}\n\nAnswer:"},
      {"multifieldqa_en", "Single-Doc QA", "qa_f1_score", 64, false, false, false,
       "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following "
       "question based on the above text, only give me the answer and do not output any other "
       "words.\n\nQuestion: {input}\nAnswer:"},
      {"multifieldqa_zh", "Single-Doc QA", "qa_f1_zh_score", 64, true, false, false,
       "阅读以下文字并用中文简短回答：\n\n{context}"
       "\n\n现在请基于上面的文章回答下面的问题，只告诉我答案，不要输出任何其他字词。\n\n问题：{"
       "input}\n回答："},
      {"hotpotqa", "Multi-Doc QA", "qa_f1_score", 32, false, false, false,
       "Answer the question based on the given passages. Only give me the answer and do not output "
       "any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question "
       "based on the given passages. Only give me the answer and do not output any other "
       "words.\n\nQuestion: {input}\nAnswer:"},
      {"2wikimqa", "Multi-Doc QA", "qa_f1_score", 32, false, false, false,
       "Answer the question based on the given passages. Only give me the answer and do not output "
       "any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question "
       "based on the given passages. Only give me the answer and do not output any other "
       "words.\n\nQuestion: {input}\nAnswer:"},
      {"musique", "Multi-Doc QA", "qa_f1_score", 32, false, false, false,
       "Answer the question based on the given passages. Only give me the answer and do not output "
       "any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question "
       "based on the given passages. Only give me the answer and do not output any other "
       "words.\n\nQuestion: {input}\nAnswer:"},
      {"dureader", "Multi-Doc QA", "rouge_zh_score", 128, true, false, false,
       "请基于给定的文章回答下述问题。\n\n文章：{context}"
       "\n\n请基于上述文章回答下面的问题。\n\n问题：{input}\n回答："},
      {"gov_report", "Summarization", "rouge_score", 512, false, false, false,
       "You are given a report by a government agency. Write a one-page summary of the "
       "report.\n\nReport:\n{context}\n\nNow, write a one-page summary of the report.\n\nSummary:"},
      {"qmsum", "Summarization", "rouge_score", 512, false, false, false,
       "You are given a meeting transcript and a query containing a question or instruction. "
       "Answer the query in one or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the "
       "query based on the above meeting transcript in one or more sentences.\n\nQuery: "
       "{input}\nAnswer:"},
      {"multi_news", "Summarization", "rouge_score", 512, false, false, false,
       "You are given several news passages. Write a one-page summary of all news. "
       "\n\nNews:\n{context}\n\nNow, write a one-page summary of all the news.\n\nSummary:"},
      {"vcsum", "Summarization", "rouge_zh_score", 512, true, false, false,
       "下面有一段会议记录，请你阅读后，写一段总结，总结会议的内容。\n会议记录：\n{context}"
       "\n\n会议总结："},
      {"trec", "Few-shot", "classification_score", 64, false, true, true,
       "Please determine the type of the question below. Here are some examples of "
       "questions.\n\n{context}\n{input}"},
      {"triviaqa", "Few-shot", "qa_f1_score", 32, false, true, true,
       "Answer the question based on the given passage. Only give me the answer and do not output "
       "any other words. The following are some examples.\n\n{context}\n\n{input}"},
      {"samsum", "Few-shot", "rouge_score", 128, false, true, true,
       "Summarize the dialogue into a few short sentences. The following are some "
       "examples.\n\n{context}\n\n{input}"},
      {"lsht", "Few-shot", "classification_score", 64, true, true, true,
       "请判断给定新闻的类别，下面是一些例子。\n\n{context}\n{input}"},
      {"passage_count", "Synthetic", "count_score", 32, false, false, false,
       "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. "
       "Please carefully read these paragraphs and determine how many unique paragraphs there are "
       "after removing duplicates. In other words, how many non-repeating paragraphs are there in "
       "total?\n\n{context}\n\nPlease enter the final count of unique paragraphs after removing "
       "duplicates. The output format should only contain the number, such as 1, 2, 3, and so "
       "on.\n\nThe final answer is: "},
      {"passage_retrieval_en", "Synthetic", "retrieval_score", 32, false, false, false,
       "Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which "
       "paragraph the abstract is from.\n\n{context}\n\nThe following is an "
       "abstract.\n\n{input}\n\nPlease enter the number of the paragraph that the abstract is "
       "from. The answer format must be like \"Paragraph 1\", \"Paragraph 2\", etc.\n\nThe answer "
       "is: "},
      {"passage_retrieval_zh", "Synthetic", "retrieval_zh_score", 32, true, false, false,
       "以下是若干段落文字，以及其中一个段落的摘要。请确定给定的摘要出自哪一段。\n\n{context}"
       "\n\n下面是一个摘要\n\n{input}"
       "\n\n请输入摘要所属段落的编号。答案格式必须是\"段落1\"，\"段落2\"等格式\n\n答案是："},
      {"lcc", "Code", "code_sim_score", 64, false, true, false,
       "Please complete the code given below. \n{context}Next line of code:\n"},
      {"repobench-p", "Code", "code_sim_score", 64, false, true, false,
       "Please complete the code given below. \n{context}{input}Next line of code:\n"},
  };
  return sets;
}

const LongBenchDataset& longbench_dataset(std::string_view name) {
  for (const auto& d : longbench_datasets())
    if (d.name == name) return d;
  std::string known;
  for (const auto& d : longbench_datasets())
    known += (known.empty() ? "" : ", ") + std::string(d.name);
  throw Error("unknown LongBench dataset '" + std::string(name) + "' (known: " + known + ")");
}

std::string longbench_e_bucket(int64_t length_words) {
  return length_words < 4000 ? "0-4k" : length_words < 8000 ? "4-8k" : "8k+";
}

namespace {

// The prompt template filled with the sample's fields (str.format on the template only).
std::string fill(std::string_view tpl, const nlohmann::json& row) {
  return format_fields(tpl, [&](std::string_view name) -> std::optional<std::string> {
    auto it = row.find(std::string(name));
    if (it == row.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  });
}

}  // namespace

std::vector<EvalSample> longbench_samples(const LongBenchDataset& ds, const LongBenchOptions& o,
                                          const PromptFormat& format, int64_t max_input_tokens,
                                          int64_t length, int64_t limit) {
  if (ds.chinese) {
    throw Error("LongBench " + std::string(ds.name) +
                " is scored with the jieba segmenter in the official code, which longctx does not "
                "reproduce; leave the Chinese datasets out");
  }
  std::string file = std::string(ds.name) + (o.e ? "_e" : "") + ".jsonl";
  std::filesystem::path path = o.data_dir / file;
  if (!std::filesystem::exists(path) && std::filesystem::exists(o.data_dir / "data" / file))
    path = o.data_dir / "data" / file;
  if (std::filesystem::exists(path)) require_regular_file(path.string());
  std::ifstream in(path);
  if (!in) {
    throw Error(path.string() +
                ": cannot open (LongBench's data.zip from https://huggingface.co/datasets/THUDM/"
                "LongBench, unzipped; point --data-dir at the folder holding the .jsonl files)");
  }
  const tokenizer::Tokenizer& tok = format.tokenizer();
  std::vector<EvalSample> out;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line) && (limit <= 0 || int64_t(out.size()) < limit)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto where = [&] { return path.string() + ":" + std::to_string(line_no) + ": "; };
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where() + "not valid JSON (" + e.what() + ")");
    }
    EvalSample s;
    s.benchmark = o.e ? "longbench-e" : "longbench";
    s.task = ds.name;
    s.length = length;
    s.index = int64_t(out.size());
    s.max_new_tokens = ds.max_new_tokens;
    s.stop_at_newline = ds.name == "samsum";
    s.metric = ds.metric;
    s.first_line = ds.first_line;
    std::string prompt;
    try {
      prompt = fill(ds.prompt, row);
      for (const auto& a : row.at("answers")) s.answers.push_back(a.get<std::string>());
      if (row.contains("all_classes") && row["all_classes"].is_array())
        for (const auto& c : row["all_classes"]) s.all_classes.push_back(c.get<std::string>());
      if (row.contains("length")) {
        // A float would be converted to int64 out of range (1e30): integers only.
        if (!row["length"].is_number_integer()) throw Error("field 'length' is not an integer");
        s.extra["lb_length"] = row["length"].get<int64_t>();
      }
      if (row.contains("_id")) s.extra["lb_id"] = row["_id"];
    } catch (const std::exception& e) {
      throw Error(where() + e.what());
    }
    // pred.py: tokenize with special tokens; over the budget, keep the first and last halves.
    std::vector<int32_t> ids = tok.encode(prompt, true, false);
    s.extra["input_tokens"] = int64_t(ids.size());
    bool truncated = max_input_tokens > 0 && int64_t(ids.size()) > max_input_tokens;
    if (truncated) {
      size_t half = size_t(max_input_tokens / 2);
      std::span<const int32_t> all(ids);
      prompt = tok.decode(all.first(half), true) + tok.decode(all.last(half), true);
    }
    s.extra["truncated"] = truncated;
    s.extra["category"] = ds.category;
    if (o.e && s.extra.contains("lb_length"))
      s.extra["bucket"] = longbench_e_bucket(s.extra["lb_length"]);
    s.tokens = format.encode(prompt, "", !ds.skip_chat);
    out.push_back(std::move(s));
  }
  if (out.empty()) throw Error(path.string() + ": no samples");
  return out;
}

}  // namespace longctx::eval
