// Internals of the safetensors format: a strict parser and writer for its JSON header.
#ifndef PATHQ_DETAIL_SAFETENSORS_HEADER_HPP
#define PATHQ_DETAIL_SAFETENSORS_HEADER_HPP

#include <cstddef>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pathq/core/error.hpp>
#include <pathq/detail/npy_header.hpp>

namespace pathq::detail {

/// Cold path for read_safetensors: throws "pathq::read_safetensors: <name>: <parts...>".
template <class... Parts>
[[noreturn]] void safetensors_fail(const std::string& name, const Parts&... parts) {
  throw_invalid("read_safetensors", name, ": ", parts...);
}

/// A shape as the safetensors header writes it: [], [5], [2, 3].
inline std::string safetensors_shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

/// The offset of the first byte of `text` that is not valid UTF-8 (overlong forms, surrogates
/// and code points above U+10FFFF are invalid), or npos when all of it is valid.
inline std::size_t utf8_invalid_at(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code = 0, min_code = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2, code = c & 0x1fu, min_code = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3, code = c & 0x0fu, min_code = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4, code = c & 0x07u, min_code = 0x10000;
    } else {
      return i;
    }
    if (text.size() - i < length) return i;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return i;
      code = (code << 6) | (next & 0x3fu);
    }
    if (code < min_code || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return i;
    i += length;
  }
  return std::string_view::npos;
}

/// Appends code point `code` (at most U+10FFFF, not a surrogate) to `out` as UTF-8.
inline void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xc0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xe0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  }
}

/// `text` (valid UTF-8) as a JSON string literal: quotes, backslash and control characters
/// escaped, everything else as it is.
inline std::string json_quoted(std::string_view text) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

/// One tensor entry of a safetensors header, as written (checked later against the file).
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  ///< data_offsets[0], relative to the start of the data buffer
  std::uint64_t end = 0;    ///< data_offsets[1]
};

/// The parsed header: tensor entries in file order and the `__metadata__` pairs.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;
};

/// Strict recursive-descent parser for the header, a JSON object of the form
/// `{"__metadata__": {"key": "value", ...}, "name": {"dtype": "F32", "shape": [2, 3],
/// "data_offsets": [0, 24]}, ...}`. Standard JSON (RFC 8259) restricted to this schema: the
/// text must be valid UTF-8 and begin with '{'; string escapes including \uXXXX surrogate
/// pairs; whitespace between tokens and after the object (the padding). Rejected, with the
/// offset: anything else after the object, keys other than dtype/shape/data_offsets in an entry,
/// missing or repeated keys, non-string metadata values, and numbers that are not non-negative
/// integers (fractions, exponents, signs, leading zeros, values past 2^63 - 1). The nesting
/// depth is fixed by the schema, so no input can exhaust the stack.
class SafetensorsHeaderParser {
 public:
  SafetensorsHeaderParser(std::string_view text, const std::string& name) : m_text(text), m_name(name) {}

  SafetensorsHeader parse() {
    const std::size_t bad = utf8_invalid_at(m_text);
    if (bad != std::string_view::npos)
      safetensors_fail(m_name, "malformed header: invalid UTF-8 at offset ", bad, " of the JSON header");
    if (m_text.empty() || m_text[0] != '{')
      safetensors_fail(m_name, "malformed header: the JSON header must begin with '{', found ",
                       npy_quoted(m_text.substr(0, 16), 16));
    SafetensorsHeader header;
    std::set<std::string> names;
    bool seen_metadata = false;
    m_pos = 1;
    skip_space();
    if (peek() != '}') {
      for (;;) {
        const std::size_t key_at = m_pos;
        std::string key = parse_string("a quoted tensor name or '}'");
        skip_space();
        expect(':', "':' after a key");
        skip_space();
        if (key == "__metadata__") {
          if (seen_metadata) fail_at(key_at, "duplicate key '__metadata__'");
          seen_metadata = true;
          header.metadata = parse_metadata();
        } else {
          if (!names.insert(key).second) fail_at(key_at, "duplicate tensor name ", npy_quoted(key));
          header.tensors.push_back(parse_entry(std::move(key)));
        }
        skip_space();
        if (peek() != ',') break;
        ++m_pos;
        skip_space();
      }
    }
    expect('}', "',' or '}' after a value");
    skip_space();
    if (m_pos != m_text.size()) fail("only whitespace padding after the header object");
    return header;
  }

 private:
  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    safetensors_fail(m_name, "malformed header JSON: expected ", parts..., " at offset ", m_pos, ", found ",
                     m_pos < m_text.size() ? npy_quoted(m_text.substr(m_pos), 16) : std::string("the end"));
  }
  template <class... Parts>
  [[noreturn]] void fail_at(std::size_t at, const Parts&... parts) const {
    safetensors_fail(m_name, "malformed header: ", parts..., " at offset ", at);
  }
  char peek() const { return m_pos < m_text.size() ? m_text[m_pos] : '\0'; }
  bool at_end() const { return m_pos >= m_text.size(); }
  void skip_space() {
    while (m_pos < m_text.size() &&
           (m_text[m_pos] == ' ' || m_text[m_pos] == '\t' || m_text[m_pos] == '\n' || m_text[m_pos] == '\r'))
      ++m_pos;
  }
  void expect(char c, const char* what) {
    if (at_end() || m_text[m_pos] != c) fail(what);
    ++m_pos;
  }
  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  std::uint32_t parse_hex4() {
    if (m_text.size() - m_pos < 4) fail("four hex digits after \\u");
    std::uint32_t code = 0;
    for (int k = 0; k < 4; ++k) {
      const int digit = hex_value(m_text[m_pos]);
      if (digit < 0) fail("four hex digits after \\u");
      code = code * 16 + static_cast<std::uint32_t>(digit);
      ++m_pos;
    }
    return code;
  }

  std::string parse_string(const char* what) {
    if (peek() != '"') fail(what);
    ++m_pos;
    std::string out;
    for (;;) {
      if (at_end()) fail("a closing '\"'");
      const char c = m_text[m_pos];
      if (c == '"') {
        ++m_pos;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("no raw control character in a string");
      if (c != '\\') {
        out += c;  // the header was checked to be valid UTF-8 as a whole
        ++m_pos;
        continue;
      }
      ++m_pos;
      if (at_end()) fail("an escape character after '\\'");
      const char e = m_text[m_pos++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t code = parse_hex4();
          if (code >= 0xdc00 && code <= 0xdfff) fail("no lone low surrogate in \\u escape");
          if (code >= 0xd800 && code <= 0xdbff) {
            if (m_text.substr(m_pos, 2) != "\\u")
              fail("a low surrogate \\uDC00-\\uDFFF after a high surrogate");
            m_pos += 2;
            const std::uint32_t low = parse_hex4();
            if (low < 0xdc00 || low > 0xdfff) fail("a low surrogate \\uDC00-\\uDFFF after a high surrogate");
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          }
          append_utf8(out, code);
          break;
        }
        default: --m_pos; fail("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
      }
    }
  }

  /// A JSON number that must be a non-negative integer no larger than `limit`.
  std::uint64_t parse_count(const std::string& tensor, const char* field, std::uint64_t limit) {
    const std::size_t start = m_pos;
    if (peek() == '-') ++m_pos;
    if (!(peek() >= '0' && peek() <= '9')) {
      m_pos = start;
      fail("a non-negative integer in '", field, "' of tensor ", npy_quoted(tensor));
    }
    std::uint64_t value = 0;
    bool overflow = false;
    const std::size_t digits_at = m_pos;
    while (peek() >= '0' && peek() <= '9') {
      const auto digit = static_cast<std::uint64_t>(peek() - '0');
      if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) overflow = true;
      if (!overflow) value = value * 10 + digit;
      ++m_pos;
    }
    const bool leading_zero = m_text[digits_at] == '0' && m_pos - digits_at > 1;
    bool fractional = false;
    if (peek() == '.') {
      ++m_pos;
      if (!(peek() >= '0' && peek() <= '9')) fail("digits after '.'");
      while (peek() >= '0' && peek() <= '9') ++m_pos;
      fractional = true;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++m_pos;
      if (peek() == '+' || peek() == '-') ++m_pos;
      if (!(peek() >= '0' && peek() <= '9')) fail("digits in the exponent");
      while (peek() >= '0' && peek() <= '9') ++m_pos;
      fractional = true;
    }
    const std::string literal = npy_quoted(m_text.substr(start, m_pos - start), 32);
    const std::string where = std::string("'") + field + "' of tensor " + npy_quoted(tensor);
    if (leading_zero) fail_at(start, "number ", literal, " with a leading zero in ", where);
    if (m_text[start] == '-') fail_at(start, "negative value ", literal, " in ", where);
    if (fractional) fail_at(start, "value ", literal, " in ", where, " is not an integer");
    if (overflow || value > limit) fail_at(start, "value ", literal, " in ", where, " is too large");
    return value;
  }

  std::vector<std::uint64_t> parse_counts(const std::string& tensor, const char* field, std::uint64_t limit) {
    std::vector<std::uint64_t> values;
    if (peek() != '[') fail("an array '[' for '", field, "' of tensor ", npy_quoted(tensor));
    ++m_pos;
    skip_space();
    if (peek() == ']') {
      ++m_pos;
      return values;
    }
    for (;;) {
      values.push_back(parse_count(tensor, field, limit));
      skip_space();
      if (peek() != ',') break;
      ++m_pos;
      skip_space();
    }
    expect(']', "',' or ']' in an array");
    return values;
  }

  SafetensorsEntry parse_entry(std::string name) {
    SafetensorsEntry entry;
    entry.name = std::move(name);
    if (peek() != '{') fail("an object '{' describing tensor ", npy_quoted(entry.name));
    ++m_pos;
    bool seen[3] = {false, false, false};
    skip_space();
    if (peek() != '}') {
      for (;;) {
        const std::size_t key_at = m_pos;
        const std::string key = parse_string("a quoted key in the entry of a tensor");
        const int index = key == "dtype" ? 0 : key == "shape" ? 1 : key == "data_offsets" ? 2 : -1;
        if (index < 0)
          fail_at(key_at, "unexpected key ", npy_quoted(key), " in tensor ", npy_quoted(entry.name),
                  " (expected 'dtype', 'shape' and 'data_offsets')");
        if (seen[index])
          fail_at(key_at, "duplicate key ", npy_quoted(key), " in tensor ", npy_quoted(entry.name));
        seen[index] = true;
        skip_space();
        expect(':', "':' after a key");
        skip_space();
        if (index == 0) {
          entry.dtype = parse_string("a quoted dtype string");
        } else if (index == 1) {
          const std::vector<std::uint64_t> shape = parse_counts(
              entry.name, "shape", static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
          entry.shape.assign(shape.begin(), shape.end());
        } else {
          const std::size_t at = m_pos;
          const std::vector<std::uint64_t> offsets =
              parse_counts(entry.name, "data_offsets", std::numeric_limits<std::uint64_t>::max());
          if (offsets.size() != 2)
            fail_at(at, "'data_offsets' of tensor ", npy_quoted(entry.name),
                    " must hold two integers [begin, end], found ", offsets.size());
          entry.begin = offsets[0];
          entry.end = offsets[1];
        }
        skip_space();
        if (peek() != ',') break;
        ++m_pos;
        skip_space();
      }
    }
    expect('}', "',' or '}' in the entry of a tensor");
    static const char* keys[3] = {"dtype", "shape", "data_offsets"};
    for (int k = 0; k < 3; ++k)
      if (!seen[k])
        safetensors_fail(m_name, "malformed header: tensor ", npy_quoted(entry.name), " has no '", keys[k],
                         "'");
    return entry;
  }

  std::vector<std::pair<std::string, std::string>> parse_metadata() {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::set<std::string> keys;
    if (peek() != '{') fail("an object '{' of strings for '__metadata__'");
    ++m_pos;
    skip_space();
    if (peek() != '}') {
      for (;;) {
        const std::size_t key_at = m_pos;
        std::string key = parse_string("a quoted key in '__metadata__'");
        if (!keys.insert(key).second)
          fail_at(key_at, "duplicate key ", npy_quoted(key), " in '__metadata__'");
        skip_space();
        expect(':', "':' after a key");
        skip_space();
        if (peek() != '"')
          fail("a string value for '__metadata__' key ", npy_quoted(key), " (metadata values are strings)");
        std::string value = parse_string("a string value");
        pairs.emplace_back(std::move(key), std::move(value));
        skip_space();
        if (peek() != ',') break;
        ++m_pos;
        skip_space();
      }
    }
    expect('}', "',' or '}' in '__metadata__'");
    return pairs;
  }

  std::string_view m_text;
  const std::string& m_name;
  std::size_t m_pos = 0;
};

}  // namespace pathq::detail

#endif  // PATHQ_DETAIL_SAFETENSORS_HEADER_HPP
