#include "tokenizer/spm.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <unordered_set>

#include "support/error.h"
#include "tokenizer/utf8.h"

namespace longctx::tokenizer {
namespace {

// Minimal protobuf wire-format writer: enough for sentencepiece's ModelProto.
class ProtoWriter {
 public:
  void varint_field(int field, uint64_t value) {
    key(field, 0);
    varint(value);
  }
  void float_field(int field, float value) {
    key(field, 5);
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    for (int i = 0; i < 4; ++i) out_ += char((bits >> (8 * i)) & 0xff);
  }
  void bytes_field(int field, std::string_view bytes) {
    key(field, 2);
    varint(bytes.size());
    out_ += bytes;
  }
  const std::string& bytes() const { return out_; }

 private:
  void key(int field, int wire_type) { varint(uint64_t(field) << 3 | uint64_t(wire_type)); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_ += char((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += char(v);
  }
  std::string out_;
};

// Field numbers of sentencepiece_model.proto.
enum ModelProtoField { kPieces = 1, kTrainerSpec = 2, kNormalizerSpec = 3 };
enum PieceField { kPiece = 1, kScore = 2, kType = 3 };
enum TrainerField {
  kModelType = 3,
  kVocabSize = 4,
  kByteFallback = 35,
  kUnkId = 40,
  kBosId = 41,
  kEosId = 42,
  kPadId = 43,
};
enum NormalizerField {
  kName = 1,
  kAddDummyPrefix = 3,
  kRemoveExtraWhitespaces = 4,
  kEscapeWhitespaces = 5,
};
constexpr int kModelTypeBpe = 2;  // llama.cpp's SPM algorithm: merge the best-scoring bigram

constexpr std::string_view kSpaceMark = "\xe2\x96\x81";  // U+2581, SentencePiece's space

// GGUF keeps whitespace-only user-defined pieces with real spaces ("  "), but sentencepiece
// matches pieces after turning spaces into U+2581, so they are spelled that way here (the same
// fix transformers applies when it reads these files).
std::string proto_piece(const std::string& text, TokenType type) {
  if (type != TokenType::UserDefined || text.find(' ') == std::string::npos) return text;
  if (text.find_first_not_of(' ') != std::string::npos) return text;
  std::string spelled;
  for (size_t i = 0; i < text.size(); ++i) spelled += kSpaceMark;
  return spelled;
}

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
    auto status = processor_.LoadFromSerializedProto(
        vocab_.spm_model.empty() ? spm_model_proto(vocab_) : vocab_.spm_model);
    if (!status.ok()) throw Error("sentencepiece rejected the vocabulary: " + status.ToString());
    if (processor_.GetPieceSize() != vocab_size()) {
      throw Error("sentencepiece vocabulary size differs from the model's");
    }
    pieces_.resize(vocab_.tokens.size());
    for (size_t id = 0; id < vocab_.tokens.size(); ++id) {
      const std::string& t = vocab_.tokens[id];
      if (vocab_.types[id] == TokenType::Byte && t.size() == 6 && t.rfind("<0x", 0) == 0) {
        pieces_[id] = std::string(1, char(std::stoi(t.substr(3, 2), nullptr, 16)));
        continue;
      }
      std::string text;
      for (size_t i = 0; i < t.size();) {
        if (t.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
          text += ' ';
          i += kSpaceMark.size();
        } else {
          text += t[i++];
        }
      }
      pieces_[id] = text;
    }
    index_inner_pairs();
  }

  // Long texts are encoded in segments cut where no piece can span the cut (see
  // index_inner_pairs): the same ids, in linear time. 0 encodes every text whole.
  void set_segment_bytes(size_t bytes) { segment_bytes_ = bytes; }

 protected:
  void encode_text(std::string_view text, bool, std::vector<Token>& out) const override {
    std::vector<size_t> cuts = {0};
    while (splittable_ && segment_bytes_ > 0 && text.size() - cuts.back() > segment_bytes_) {
      const size_t cut = safe_cut(text, cuts.back() + segment_bytes_);
      if (cut == std::string_view::npos) break;
      cuts.push_back(cut);
    }
    cuts.push_back(text.size());
    if (cuts.size() == 2) return encode_whole(text, out);
    // Segments are independent: encoded side by side, joined in order.
    std::vector<std::vector<Token>> parts(cuts.size() - 1);
#pragma omp parallel for schedule(dynamic)
    for (size_t s = 0; s < parts.size(); ++s)
      encode_whole(text.substr(cuts[s], cuts[s + 1] - cuts[s]), parts[s]);
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  }

  std::string piece_bytes(Token id) const override {
    return pieces_[size_t(id)];
  }

 private:
  void encode_whole(std::string_view text, std::vector<Token>& out) const {
    std::vector<int> ids;
    auto status = processor_.Encode(text, &ids);
    if (!status.ok()) throw Error("sentencepiece: " + status.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
  }

  static uint64_t pair_key(uint32_t a, uint32_t b) {
    return uint64_t(a) << 32 | b;
  }

  // The code point of `s` starting at byte i (and its length); a stray byte is itself.
  static uint32_t code_point(std::string_view s, size_t i, size_t* len) {
    const auto lead = uint8_t(s[i]);
    size_t n = utf8::sequence_length(lead);
    if (i + n > s.size()) n = 1;
    uint32_t cp = n == 1 ? lead : n == 2 ? lead & 0x1f : n == 3 ? lead & 0x0f : lead & 0x07;
    for (size_t k = 1; k < n; ++k) cp = cp << 6 | (uint8_t(s[i + k]) & 0x3f);
    *len = n;
    return cp;
  }

  // sentencepiece's BPE only ever joins two symbols into a piece of the vocabulary (user-defined
  // pieces are matched whole, unknown characters fall back to bytes): a symbol can span the
  // boundary between two characters x|y only if some piece contains "xy". Cutting the text at
  // boundaries no piece spans leaves every merge, and so every id, as encoding it whole does;
  // merges of different segments never compete, and inside a segment their order is unchanged.
  // This holds for the model longctx builds (identity normalizer) when no dummy prefix or
  // whitespace folding applies at each call's start, and every character has a fallback.
  void index_inner_pairs() {
    bool has_bytes = false;
    for (size_t id = 0; id < pieces_.size(); ++id) {
      const TokenType type = vocab_.types[id];
      has_bytes |= type == TokenType::Byte;
      if (type == TokenType::Byte || type == TokenType::Control || type == TokenType::Unknown)
        continue;
      const std::string& p = pieces_[id];
      size_t len = 0;
      uint32_t prev = 0;
      for (size_t i = 0; i < p.size(); i += len) {
        const uint32_t cp = code_point(p, i, &len);
        if (i > 0) inner_pairs_.insert(pair_key(prev, cp));
        prev = cp;
      }
    }
    splittable_ = vocab_.spm_model.empty() && !vocab_.add_space_prefix &&
                  !vocab_.remove_extra_whitespaces && has_bytes;
  }

  // The first character boundary at or after `from` that no piece spans, or npos.
  size_t safe_cut(std::string_view s, size_t from) const {
    while (from < s.size() && (uint8_t(s[from]) & 0xc0) == 0x80) ++from;  // a character start
    if (from == 0 || from >= s.size()) return std::string_view::npos;
    size_t back = from - 1;
    while (back > 0 && (uint8_t(s[back]) & 0xc0) == 0x80) --back;
    size_t len = 0;
    uint32_t prev = code_point(s, back, &len);
    if (back + len != from) prev = uint8_t(s[from - 1]);  // a stray byte before the cut
    for (size_t i = from; i < s.size(); i += len) {
      const uint32_t cp = code_point(s, i, &len);
      if (!inner_pairs_.count(pair_key(prev, cp))) return i;
      prev = cp;
    }
    return std::string_view::npos;
  }

  sentencepiece::SentencePieceProcessor processor_;
  std::vector<std::string> pieces_;
  std::unordered_set<uint64_t> inner_pairs_;  // adjacent code points inside some piece
  bool splittable_ = false;
  size_t segment_bytes_ = 16384;
};

}  // namespace

std::string spm_model_proto(const Vocab& v) {
  ProtoWriter model;
  bool has_bytes = false;
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    ProtoWriter piece;
    TokenType type = v.types[id];
    // sentencepiece knows no UNDEFINED pieces; they behave as normal ones.
    if (type == TokenType::Undefined) type = TokenType::Normal;
    // sentencepiece needs exactly one UNKNOWN piece, the vocabulary's unk (some converters mark
    // <unk> as CONTROL). Other pieces typed UNKNOWN (the 53 "[PAD32011]"... of llama.cpp's Phi-3
    // files) are what llama.cpp makes of them: special pieces matched only when parse_special,
    // never produced by the merges: CONTROL to sentencepiece.
    if (int32_t(id) == v.unk) {
      type = TokenType::Unknown;
    } else if (type == TokenType::Unknown) {
      type = TokenType::Control;
    }
    piece.bytes_field(kPiece, proto_piece(v.tokens[id], type));
    piece.float_field(kScore, v.scores.empty() ? 0.0f : v.scores[id]);
    piece.varint_field(kType, uint64_t(type));
    model.bytes_field(kPieces, piece.bytes());
    has_bytes |= type == TokenType::Byte;
  }
  ProtoWriter trainer;
  trainer.varint_field(kModelType, kModelTypeBpe);
  trainer.varint_field(kVocabSize, v.tokens.size());
  trainer.varint_field(kByteFallback, has_bytes);
  // sentencepiece stores ids as int32 varints; -1 ("none") is ten bytes of two's complement.
  trainer.varint_field(kUnkId, uint64_t(int64_t(v.unk)));
  trainer.varint_field(kBosId, uint64_t(int64_t(v.bos)));
  trainer.varint_field(kEosId, uint64_t(int64_t(v.eos)));
  trainer.varint_field(kPadId, uint64_t(int64_t(v.pad)));
  model.bytes_field(kTrainerSpec, trainer.bytes());
  ProtoWriter normalizer;
  normalizer.bytes_field(kName, "identity");
  normalizer.varint_field(kAddDummyPrefix, v.add_space_prefix);
  normalizer.varint_field(kRemoveExtraWhitespaces, v.remove_extra_whitespaces);
  normalizer.varint_field(kEscapeWhitespaces, 1);
  model.bytes_field(kNormalizerSpec, normalizer.bytes());
  return model.bytes();
}

namespace {

// Reads the pieces (field 1: piece, score, type) of a serialized ModelProto, bounds-checked.
class ProtoReader {
 public:
  explicit ProtoReader(std::string_view bytes) : b_(bytes) {}
  bool done() const { return pos_ >= b_.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) throw Error("sentencepiece model: truncated varint");
      uint8_t c = uint8_t(b_[pos_++]);
      v |= uint64_t(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    throw Error("sentencepiece model: varint too long");
  }
  std::string_view bytes(uint64_t n) {
    if (n > b_.size() - pos_) throw Error("sentencepiece model: a field runs past the end");
    std::string_view v = b_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        break;
      case 1:
        bytes(8);
        break;
      case 2:
        bytes(varint());
        break;
      case 5:
        bytes(4);
        break;
      default:
        throw Error("sentencepiece model: unknown wire type " + std::to_string(wire_type));
    }
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

}  // namespace

Vocab vocab_from_spm_model(std::string serialized) {
  sentencepiece::SentencePieceProcessor sp;
  auto status = sp.LoadFromSerializedProto(serialized);
  if (!status.ok()) throw Error("not a sentencepiece model: " + status.ToString());
  Vocab v;
  v.kind = VocabKind::Spm;
  ProtoReader model(serialized);
  while (!model.done()) {
    uint64_t key = model.varint();
    if ((key >> 3) != kPieces || (key & 7) != 2) {
      model.skip(int(key & 7));
      continue;
    }
    ProtoReader piece(model.bytes(model.varint()));
    std::string text;
    float score = 0;
    int64_t type = int64_t(TokenType::Normal);
    while (!piece.done()) {
      uint64_t k = piece.varint();
      if ((k >> 3) == kPiece && (k & 7) == 2) {
        text = std::string(piece.bytes(piece.varint()));
      } else if ((k >> 3) == kScore && (k & 7) == 5) {
        std::memcpy(&score, piece.bytes(4).data(), 4);
      } else if ((k >> 3) == kType && (k & 7) == 0) {
        type = int64_t(piece.varint());
      } else {
        piece.skip(int(k & 7));
      }
    }
    if (type < 1 || type > int64_t(TokenType::Byte)) type = int64_t(TokenType::Normal);
    v.tokens.push_back(text);
    v.scores.push_back(score);
    v.types.push_back(TokenType(type));
  }
  if (int64_t(v.tokens.size()) != sp.GetPieceSize())
    throw Error("sentencepiece model: piece count differs");
  v.bos = sp.bos_id();
  v.eos = sp.eos_id();
  v.unk = sp.unk_id();
  v.pad = sp.pad_id();
  v.add_bos = true;  // SentencePiece vocabularies start with BOS unless the config says otherwise
  v.spm_model = std::move(serialized);
  return v;
}

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab, size_t segment_bytes) {
  auto tok = std::make_unique<SpmTokenizer>(std::move(vocab));
  tok->set_segment_bytes(segment_bytes);
  return tok;
}

}  // namespace longctx::tokenizer
