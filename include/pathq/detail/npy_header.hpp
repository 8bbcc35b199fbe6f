// Internals of the .npy format: the header dictionary's parser and writer, and message helpers.
#ifndef PATHQ_DETAIL_NPY_HEADER_HPP
#define PATHQ_DETAIL_NPY_HEADER_HPP

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <pathq/core/error.hpp>

namespace pathq::detail {

/// `text` quoted for an error message: non-printable bytes as \xNN, cut after `limit` bytes.
inline std::string npy_quoted(std::string_view text, std::size_t limit = 48) {
  static const char* hex = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out + (text.size() > limit ? "'..." : "'");
}

/// A shape as Python writes the tuple: (), (5,), (2, 3).
inline std::string npy_shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

/// Product of the dimensions (0 when any is 0, whatever the others), or -1 when a dimension is
/// negative or the product overflows int64.
inline std::int64_t npy_checked_count(const std::vector<std::int64_t>& shape) {
  bool has_zero = false;
  for (const std::int64_t d : shape) {
    if (d < 0) return -1;
    has_zero = has_zero || d == 0;
  }
  if (has_zero) return 0;
  std::int64_t count = 1;
  for (const std::int64_t d : shape) {
    if (count > std::numeric_limits<std::int64_t>::max() / d) return -1;
    count *= d;
  }
  return count;
}

/// Cold path for read_npy: throws "pathq::read_npy: <name>: <parts...>".
template <class... Parts>
[[noreturn]] void npy_fail(const std::string& name, const Parts&... parts) {
  throw_invalid("read_npy", name, ": ", parts...);
}

/// The three fields of a .npy header dictionary.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

/// Recursive-descent parser for the header, a Python dict literal such as
/// `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`. Any whitespace, key order,
/// either quote, with or without the trailing comma; exactly the three keys, each once.
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, const std::string& name) : m_text(text), m_name(name) {}

  NpyHeader parse() {
    NpyHeader header;
    bool seen[3] = {false, false, false};
    skip_space();
    expect('{', "'{' to open the header dictionary");
    skip_space();
    while (peek() != '}') {
      const std::string key = parse_string("a quoted key");
      const int index = key == "descr" ? 0 : key == "fortran_order" ? 1 : key == "shape" ? 2 : -1;
      if (index < 0) npy_fail(m_name, "unexpected key ", npy_quoted(key), " in the header");
      if (seen[index]) npy_fail(m_name, "duplicate key ", npy_quoted(key), " in the header");
      seen[index] = true;
      skip_space();
      expect(':', "':' after a key");
      skip_space();
      if (index == 0) {
        if (peek() != '\'' && peek() != '"')
          npy_fail(m_name, "unsupported 'descr' ", npy_quoted(m_text.substr(m_pos), 24),
                   " (structured and object dtypes are not supported)");
        header.descr = parse_string("a quoted dtype");
      } else if (index == 1) {
        header.fortran_order = parse_bool();
      } else {
        header.shape = parse_shape();
      }
      skip_space();
      if (peek() != ',') break;
      ++m_pos;
      skip_space();
    }
    expect('}', "',' or '}' after a value");
    skip_space();
    if (m_pos != m_text.size())
      fail("only padding after the dictionary, found ", npy_quoted(m_text.substr(m_pos), 16));
    static const char* names[3] = {"descr", "fortran_order", "shape"};
    for (int i = 0; i < 3; ++i)
      if (!seen[i]) npy_fail(m_name, "header is missing the key '", names[i], "'");
    return header;
  }

 private:
  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    const std::size_t end = m_text.find_last_not_of(" \t\n\r\f\v");  // padding is not shown
    npy_fail(m_name, "malformed header: expected ", parts..., " at offset ", m_pos, " of ",
             npy_quoted(m_text.substr(0, end == std::string_view::npos ? 0 : end + 1), 96));
  }
  /// The next character, or '\0' at the end (a '\0' inside the header fails wherever it appears).
  char peek() const { return m_pos < m_text.size() ? m_text[m_pos] : '\0'; }
  void skip_space() {
    while (m_pos < m_text.size() && is_space(m_text[m_pos])) ++m_pos;
  }
  void expect(char c, const char* what) {
    if (m_pos >= m_text.size() || m_text[m_pos] != c) fail(what);
    ++m_pos;
  }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
  static bool is_name_char(char c) {
    return c == '_' || is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }

  std::string parse_string(const char* what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail(what);
    const std::size_t end = m_text.find(quote, m_pos + 1);
    if (end == std::string_view::npos) fail("a closing quote");
    std::string value(m_text.substr(m_pos + 1, end - m_pos - 1));
    m_pos = end + 1;
    return value;
  }

  bool parse_bool() {
    const std::string_view rest = m_text.substr(m_pos);
    const bool is_true = rest.substr(0, 4) == "True";
    const bool is_false = rest.substr(0, 5) == "False";
    const std::size_t length = is_true ? 4 : 5;
    const char next = m_pos + length < m_text.size() ? m_text[m_pos + length] : ' ';
    if ((!is_true && !is_false) || is_name_char(next))
      npy_fail(m_name, "'fortran_order' must be True or False, found ",
               npy_quoted(rest.substr(0, rest.find_first_of(",} \t\r\n")), 16));
    m_pos += length;
    return is_true;
  }

  std::int64_t parse_dimension() {
    const std::size_t start = m_pos;
    const bool negative = peek() == '-';
    if (negative) ++m_pos;
    if (!is_digit(peek())) fail("a non-negative integer in 'shape'");
    std::int64_t value = 0;
    bool overflow = false;
    while (is_digit(peek())) {
      const int digit = peek() - '0';
      if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) overflow = true;
      if (!overflow) value = value * 10 + digit;
      ++m_pos;
    }
    if (peek() == 'L' || peek() == 'l') ++m_pos;  // Python 2 long literal, e.g. (3L, 4L)
    const std::string_view literal = m_text.substr(start, m_pos - start);
    if (negative) npy_fail(m_name, "negative dimension ", npy_quoted(literal), " in 'shape'");
    if (overflow) npy_fail(m_name, "dimension ", npy_quoted(literal), " in 'shape' is too large");
    return value;
  }

  std::vector<std::int64_t> parse_shape() {
    std::vector<std::int64_t> shape;
    const std::size_t start = m_pos;
    expect('(', "a tuple '(' for 'shape'");
    skip_space();
    bool trailing_comma = false;
    while (peek() != ')') {
      shape.push_back(parse_dimension());
      skip_space();
      trailing_comma = peek() == ',';
      if (!trailing_comma) break;
      ++m_pos;
      skip_space();
    }
    expect(')', "',' or ')' in 'shape'");
    if (shape.size() == 1 && !trailing_comma)
      npy_fail(m_name, "malformed header: 'shape' ", npy_quoted(m_text.substr(start, m_pos - start)),
               " is not a tuple (one dimension needs a trailing comma, e.g. (5,))");
    return shape;
  }

  std::string_view m_text;
  const std::string& m_name;
  std::size_t m_pos = 0;
};

/// The .npy preamble: magic, version, header length, header dictionary, padding and '\n', sized
/// so that the data starts at a multiple of 64 bytes. Version 1.0 unless the header needs 2.0.
inline std::string npy_preamble(const char* descr, bool fortran_order,
                                const std::vector<std::int64_t>& shape) {
  const std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': " +
                           (fortran_order ? "True" : "False") + ", 'shape': " + npy_shape_text(shape) + ", }";
  std::size_t prefix = 10;
  std::size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  if (total - prefix > 0xffff) {
    prefix = 12;
    total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  }
  const std::size_t header_length = total - prefix;
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(prefix == 10 ? 1 : 2);
  out += '\0';
  for (std::size_t i = 0; i < prefix - 8; ++i)
    out += static_cast<char>((header_length >> (8 * i)) & 0xff);
  out += dict;
  out.append(total - out.size() - 1, ' ');
  out += '\n';
  return out;
}

}  // namespace pathq::detail

#endif  // PATHQ_DETAIL_NPY_HEADER_HPP
