// Internals of .npz: reading and writing zip archives held in memory (stored and deflate, zip64), with zlib.
#ifndef PATHQ_DETAIL_ZIP_HPP
#define PATHQ_DETAIL_ZIP_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <zlib.h>

#include <pathq/core/error.hpp>
#include <pathq/detail/npy_header.hpp>

namespace pathq::detail {

/// One member of a zip archive, as its central directory describes it.
struct ZipMember {
  std::string name;          ///< file name as stored (bytes)
  std::uint16_t method = 0;  ///< 0 stored, 8 deflate
  std::uint32_t crc = 0;     ///< CRC-32 of the uncompressed data
  std::uint64_t compressed_size = 0;
  std::uint64_t size = 0;          ///< uncompressed size
  std::uint64_t local_offset = 0;  ///< where its local header starts in the archive
  std::uint64_t data_offset = 0;   ///< where the (compressed) data starts in the archive
};

/// Signatures of the zip records (APPNOTE 6.3.10, sections 4.3.7 to 4.3.16).
inline constexpr std::uint32_t zip_local_signature = 0x04034b50;
inline constexpr std::uint32_t zip_central_signature = 0x02014b50;
inline constexpr std::uint32_t zip_end_signature = 0x06054b50;
inline constexpr std::uint32_t zip64_end_signature = 0x06064b50;
inline constexpr std::uint32_t zip64_locator_signature = 0x07064b50;

/// Little-endian reads from a byte buffer; the caller has checked the bounds.
inline std::uint64_t zip_read(std::string_view bytes, std::uint64_t at, int width) {
  std::uint64_t value = 0;
  for (int i = 0; i < width; ++i)
    value |= std::uint64_t{static_cast<unsigned char>(bytes[static_cast<std::size_t>(at) + i])} << (8 * i);
  return value;
}

/// Little-endian appends.
inline void zip_put(std::string& out, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

/// "0x1234abcd", for CRC values in messages.
inline std::string zip_hex(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", static_cast<unsigned>(value));
  return text;
}

/// CRC-32 (the zip and PNG polynomial) of `data`, by zlib, in chunks that fit zlib's uInt.
inline std::uint32_t zip_crc32(std::string_view data) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  std::size_t done = 0;
  while (done < data.size()) {
    const std::size_t chunk = std::min<std::size_t>(data.size() - done, std::size_t{1} << 30);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(data.data() + done), static_cast<uInt>(chunk));
    done += chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

/// Reads the directory of a zip archive held in `bytes`: the end of central directory record
/// (and the zip64 one when present), then every central directory entry and the local header it
/// points to. Errors throw "pathq::<where>: <name>: <problem>". Checked: the end record exists
/// where its comment length says; single disk; the central directory lies between the members and
/// the end record and holds exactly the announced entries; every entry's signature, lengths and
/// zip64 extra field; no encryption; compression method 0 or 8 (stored sizes equal); local header
/// signature and name matching the central directory; data inside the member area; no two
/// members sharing bytes. Every read is
/// bounds-checked against `bytes`, so arbitrary input is safe.
/// Complexity: linear in the size of the central directory (plus a backward scan of at most
/// 64 KiB for the end record).
inline std::vector<ZipMember> zip_list(std::string_view bytes, const char* where, const std::string& name) {
  const auto fail = [&](const auto&... parts) { throw_invalid(where, name, ": ", parts...); };
  const std::uint64_t size = bytes.size();
  if (size >= 4 && zip_read(bytes, 0, 4) != zip_local_signature && zip_read(bytes, 0, 4) != zip_end_signature)
    fail("bad signature: not a zip archive (it begins with ", npy_quoted(bytes.substr(0, 4)),
         ", not 'PK\\x03\\x04')");
  if (size < 22)
    fail("truncated: ", size, " bytes is shorter than a zip end of central directory record (22 bytes)");

  // The end record: its signature, followed by exactly as many comment bytes as it says.
  std::uint64_t end = size;  // sentinel: not found
  const std::uint64_t lowest = size - 22 > 0xffff ? size - 22 - 0xffff : 0;
  for (std::uint64_t at = size - 22 + 1; at-- > lowest;) {
    if (zip_read(bytes, at, 4) == zip_end_signature && at + 22 + zip_read(bytes, at + 20, 2) == size) {
      end = at;
      break;
    }
  }
  if (end == size) fail("no end of central directory record (the archive is truncated or not a zip file)");
  if (zip_read(bytes, end + 4, 2) != 0 || zip_read(bytes, end + 6, 2) != 0 ||
      zip_read(bytes, end + 8, 2) != zip_read(bytes, end + 10, 2))
    fail("multi-disk (split) zip archives are not supported");
  std::uint64_t entries = zip_read(bytes, end + 10, 2);
  std::uint64_t directory_size = zip_read(bytes, end + 12, 4);
  std::uint64_t directory_offset = zip_read(bytes, end + 16, 4);
  std::uint64_t directory_limit = end;  // the directory must end before this offset

  const bool has_locator = end >= 20 && zip_read(bytes, end - 20, 4) == zip64_locator_signature;
  if (has_locator) {
    const std::uint64_t locator = end - 20;
    const std::uint64_t record = zip_read(bytes, locator + 8, 8);
    if (zip_read(bytes, locator + 4, 4) != 0 || zip_read(bytes, locator + 16, 4) > 1)
      fail("multi-disk (split) zip archives are not supported");
    if (record > locator || locator - record < 56)
      fail("truncated zip64 end of central directory record (offset ", record, ")");
    if (zip_read(bytes, record, 4) != zip64_end_signature)
      fail("bad zip64 end of central directory signature at offset ", record);
    if (zip_read(bytes, record + 16, 4) != 0 || zip_read(bytes, record + 20, 4) != 0 ||
        zip_read(bytes, record + 24, 8) != zip_read(bytes, record + 32, 8))
      fail("multi-disk (split) zip archives are not supported");
    entries = zip_read(bytes, record + 32, 8);
    directory_size = zip_read(bytes, record + 40, 8);
    directory_offset = zip_read(bytes, record + 48, 8);
    directory_limit = record;
  } else if (directory_size == 0xffffffff || directory_offset == 0xffffffff) {
    fail("truncated: the end record points to a zip64 end record that is missing");
  }
  if (directory_offset > directory_limit || directory_size > directory_limit - directory_offset)
    fail("truncated central directory: offset ", directory_offset, " and size ", directory_size,
         " extend beyond its end record at offset ", directory_limit);
  if (entries > directory_size / 46)
    fail("truncated central directory: ", directory_size, " bytes cannot hold ", entries, " entries");

  std::vector<ZipMember> members;
  members.reserve(static_cast<std::size_t>(entries));
  const std::uint64_t directory_end = directory_offset + directory_size;
  std::uint64_t at = directory_offset;
  for (std::uint64_t i = 0; i < entries; ++i) {
    if (directory_end - at < 46) fail("truncated central directory at entry ", i);
    if (zip_read(bytes, at, 4) != zip_central_signature)
      fail("bad central directory signature at offset ", at, " (entry ", i, ")");
    ZipMember m;
    const auto flags = static_cast<std::uint16_t>(zip_read(bytes, at + 8, 2));
    m.method = static_cast<std::uint16_t>(zip_read(bytes, at + 10, 2));
    m.crc = static_cast<std::uint32_t>(zip_read(bytes, at + 16, 4));
    m.compressed_size = zip_read(bytes, at + 20, 4);
    m.size = zip_read(bytes, at + 24, 4);
    const std::uint64_t name_length = zip_read(bytes, at + 28, 2);
    const std::uint64_t extra_length = zip_read(bytes, at + 30, 2);
    const std::uint64_t comment_length = zip_read(bytes, at + 32, 2);
    std::uint64_t disk = zip_read(bytes, at + 34, 2);
    std::uint64_t local = zip_read(bytes, at + 42, 4);
    if (directory_end - at - 46 < name_length + extra_length + comment_length)
      fail("truncated central directory at entry ", i);
    m.name =
        std::string(bytes.substr(static_cast<std::size_t>(at + 46), static_cast<std::size_t>(name_length)));
    const std::string member = "member " + npy_quoted(m.name, 64);

    // Zip64 extra field (id 1): 8-byte sizes and offset for the fields saturated at 0xffffffff.
    const bool need_size = m.size == 0xffffffff, need_compressed = m.compressed_size == 0xffffffff;
    const bool need_local = local == 0xffffffff, need_disk = disk == 0xffff;
    if (need_size || need_compressed || need_local || need_disk) {
      bool found = false;
      std::uint64_t x = at + 46 + name_length;
      const std::uint64_t x_end = x + extra_length;
      while (x_end - x >= 4) {
        const std::uint64_t id = zip_read(bytes, x, 2), length = zip_read(bytes, x + 2, 2);
        if (x_end - x - 4 < length) fail(member, ": malformed extra field in the central directory");
        if (id == 1) {
          std::uint64_t f = x + 4;
          const std::uint64_t f_end = f + length;
          const auto take = [&](std::uint64_t& value, int width) {
            if (f_end - f < static_cast<std::uint64_t>(width))
              fail(member, ": zip64 extra field is too short");
            value = zip_read(bytes, f, width);
            f += width;
          };
          if (need_size) take(m.size, 8);
          if (need_compressed) take(m.compressed_size, 8);
          if (need_local) take(local, 8);
          if (need_disk) take(disk, 4);
          found = true;
          break;
        }
        x += 4 + length;
      }
      if (!found) fail(member, ": sizes saturated at 0xffffffff but no zip64 extra field");
    }
    if (disk != 0) fail(member, ": multi-disk (split) zip archives are not supported");
    if ((flags & 0x0041) != 0) fail(member, ": encrypted members are not supported");
    if (m.method != 0 && m.method != 8) {
      const char* known = m.method == 9    ? " (deflate64)"
                          : m.method == 12 ? " (bzip2)"
                          : m.method == 14 ? " (LZMA)"
                          : m.method == 93 ? " (zstd)"
                          : m.method == 95 ? " (xz)"
                                           : "";
      fail(member, ": unsupported compression method ", m.method, known, " (supported: 0 stored, 8 deflate)");
    }
    if (m.method == 0 && m.compressed_size != m.size)
      fail(member, ": stored member has compressed size ", m.compressed_size, " but size ", m.size);

    // The local header, before the central directory; its name must agree.
    if (local > directory_offset || directory_offset - local < 30)
      fail(member, ": local header offset ", local, " is outside the member area (truncated archive?)");
    if (zip_read(bytes, local, 4) != zip_local_signature)
      fail(member, ": bad local header signature at offset ", local);
    const std::uint64_t local_name_length = zip_read(bytes, local + 26, 2);
    const std::uint64_t local_extra_length = zip_read(bytes, local + 28, 2);
    if (directory_offset - local - 30 < local_name_length + local_extra_length)
      fail(member, ": truncated local header at offset ", local);
    const std::string_view local_name =
        bytes.substr(static_cast<std::size_t>(local + 30), static_cast<std::size_t>(local_name_length));
    if (local_name != m.name)
      fail(member, ": the local header names it ", npy_quoted(local_name, 64), " instead");
    m.local_offset = local;
    m.data_offset = local + 30 + local_name_length + local_extra_length;
    if (m.compressed_size > directory_offset - m.data_offset)
      fail(member, ": truncated: ", m.compressed_size, " bytes of data at offset ", m.data_offset,
           " extend beyond the member area (", directory_offset, " bytes)");
    members.push_back(std::move(m));
    at += 46 + name_length + extra_length + comment_length;
  }
  if (at != directory_end)
    fail("central directory size ", directory_size, " does not match its ", entries, " entries (",
         at - directory_offset, " bytes)");

  // Members may not share bytes (overlapping members are a known way to build zip bombs).
  std::vector<const ZipMember*> by_offset;
  for (const ZipMember& m : members) by_offset.push_back(&m);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const ZipMember* a, const ZipMember* b) { return a->local_offset < b->local_offset; });
  for (std::size_t k = 1; k < by_offset.size(); ++k) {
    const ZipMember& a = *by_offset[k - 1];
    const ZipMember& b = *by_offset[k];
    if (b.local_offset < a.data_offset + a.compressed_size)
      fail("members ", npy_quoted(a.name, 64), " and ", npy_quoted(b.name, 64), " overlap in the archive");
  }
  return members;
}

/// The uncompressed data of `member` (stored or raw deflate), checked against its size and CRC.
/// A declared size that deflate could not reach from the compressed size (deflate's ratio is at
/// most about 1032:1) is rejected at once, and the output buffer only grows with the data.
/// \throws pathq::invalid_argument "pathq::<where>: <name>: member '<m>': <problem>".
inline std::string zip_extract(std::string_view bytes, const ZipMember& m, const char* where,
                               const std::string& name) {
  const std::string member = "member " + npy_quoted(m.name, 64);
  const auto fail = [&](const auto&... parts) { throw_invalid(where, name, ": ", member, ": ", parts...); };
  const std::string_view input =
      bytes.substr(static_cast<std::size_t>(m.data_offset), static_cast<std::size_t>(m.compressed_size));
  std::string out;
  if (m.method == 0) {
    out.assign(input.data(), input.size());
  } else {
    if (m.size / 1040 > m.compressed_size + 8)
      fail("declared size ", m.size, " is impossible for ", m.compressed_size, " bytes of deflate data");
    // The output grows as data arrives (never past the declared size plus one spare byte, which
    // detects overlong data), so a false declared size cannot make us allocate much.
    const std::size_t limit = static_cast<std::size_t>(m.size) + 1;
    out.resize(std::min<std::size_t>(limit, std::max<std::size_t>(std::size_t{1} << 16, 4 * input.size())));
    z_stream stream{};
    if (::inflateInit2(&stream, -MAX_WBITS) != Z_OK) fail("cannot initialise zlib's inflate");
    std::size_t in_done = 0, out_done = 0;
    int status = Z_OK;
    for (;;) {
      if (out_done == out.size() && out.size() < limit) out.resize(std::min(limit, 2 * out.size()));
      const std::size_t in_chunk = std::min<std::size_t>(input.size() - in_done, std::size_t{1} << 30);
      const std::size_t out_chunk = std::min<std::size_t>(out.size() - out_done, std::size_t{1} << 30);
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data() + in_done));
      stream.avail_in = static_cast<uInt>(in_chunk);
      stream.next_out = reinterpret_cast<Bytef*>(&out[0] + out_done);
      stream.avail_out = static_cast<uInt>(out_chunk);
      status = ::inflate(&stream, Z_NO_FLUSH);
      const std::size_t consumed = in_chunk - stream.avail_in, produced = out_chunk - stream.avail_out;
      in_done += consumed;
      out_done += produced;
      if (status != Z_OK && status != Z_BUF_ERROR) break;  // the end, or an error
      if (consumed == 0 && produced == 0) break;           // out of input, or output full
    }
    const std::string message = stream.msg != nullptr ? stream.msg : "";
    ::inflateEnd(&stream);
    if (status == Z_MEM_ERROR) fail("zlib ran out of memory");
    if (status == Z_DATA_ERROR || status == Z_NEED_DICT || status == Z_STREAM_ERROR)
      fail("corrupt deflate data (zlib: ", message.empty() ? "data error" : message, ")");
    if (out_done > m.size) fail("the deflate data inflates to more than the declared size ", m.size);
    if (status != Z_STREAM_END) fail("truncated deflate data (the stream ends early)");
    if (out_done != m.size)
      fail("the deflate data inflates to ", out_done, " bytes but the declared size is ", m.size);
    if (in_done != input.size())
      fail("the deflate stream ends after ", in_done, " of its ", input.size(), " compressed bytes");
    out.resize(out_done);
  }
  const std::uint32_t crc = zip_crc32(out);
  if (crc != m.crc) fail("CRC mismatch (stored ", zip_hex(m.crc), ", computed ", zip_hex(crc), ")");
  return out;
}

/// `data` compressed as a raw deflate stream at `level` (1..9) by zlib.
inline std::string zip_deflate(std::string_view data, int level, const char* where) {
  z_stream stream{};
  if (::deflateInit2(&stream, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw_invalid(where, "cannot initialise zlib's deflate at level ", level);
  std::string out;
  std::size_t in_done = 0;
  char buffer[1 << 16];
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    const std::size_t in_chunk = std::min<std::size_t>(data.size() - in_done, std::size_t{1} << 30);
    const int flush = in_done + in_chunk == data.size() ? Z_FINISH : Z_NO_FLUSH;
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in_done));
    stream.avail_in = static_cast<uInt>(in_chunk);
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    status = ::deflate(&stream, flush);
    in_done += in_chunk - stream.avail_in;
    out.append(buffer, sizeof buffer - stream.avail_out);
    if (status == Z_STREAM_ERROR) {
      ::deflateEnd(&stream);
      throw_invalid(where, "zlib's deflate failed");
    }
  }
  ::deflateEnd(&stream);
  return out;
}

/// A zip archive of `members` (name, data) in the given order. Each member is stored (method 0)
/// or deflated (method 8, raw deflate at `level`), with its CRC-32, the fixed timestamp
/// 1980-01-01 00:00 and Unix permissions 0644, so the same input gives the same bytes. Zip64
/// records are written where sizes or offsets reach 4 GiB or 65535 members, or everywhere when
/// `zip64` is true (as NumPy does for its local headers). Names are flagged UTF-8 when not ASCII.
/// \throws pathq::invalid_argument "pathq::<where>: ..." for a name longer than 65535 bytes.
inline std::string zip_archive(const std::vector<std::pair<std::string, std::string>>& members, bool deflate,
                               int level, bool zip64, const char* where) {
  constexpr std::uint64_t max32 = 0xffffffff;
  std::string out, directory;
  for (const auto& [member_name, data] : members) {
    PATHQ_CHECK(member_name.size() <= 0xffff, where, "member name of ", member_name.size(),
                " bytes is longer than zip allows (65535)");
    const std::uint32_t crc = zip_crc32(data);
    const std::string packed = deflate ? zip_deflate(data, level, where) : std::string();
    const std::string& payload = deflate ? packed : data;
    const std::uint64_t offset = out.size();
    const bool big = zip64 || data.size() >= max32 || payload.size() >= max32 || offset >= max32;
    const bool ascii = std::all_of(member_name.begin(), member_name.end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    const std::uint64_t version = big ? 45 : 20;
    const std::uint64_t flags = ascii ? 0 : 0x0800;
    const std::uint64_t method = deflate ? 8 : 0;

    zip_put(out, zip_local_signature, 4);
    zip_put(out, version, 2);
    zip_put(out, flags, 2);
    zip_put(out, method, 2);
    zip_put(out, 0, 2);       // time 00:00:00
    zip_put(out, 0x0021, 2);  // date 1980-01-01
    zip_put(out, crc, 4);
    zip_put(out, big ? max32 : payload.size(), 4);
    zip_put(out, big ? max32 : data.size(), 4);
    zip_put(out, member_name.size(), 2);
    zip_put(out, big ? 20 : 0, 2);
    out += member_name;
    if (big) {
      zip_put(out, 1, 2);
      zip_put(out, 16, 2);
      zip_put(out, data.size(), 8);
      zip_put(out, payload.size(), 8);
    }
    out += payload;

    zip_put(directory, zip_central_signature, 4);
    zip_put(directory, (3u << 8) | version, 2);  // made by: Unix
    zip_put(directory, version, 2);
    zip_put(directory, flags, 2);
    zip_put(directory, method, 2);
    zip_put(directory, 0, 2);
    zip_put(directory, 0x0021, 2);
    zip_put(directory, crc, 4);
    zip_put(directory, big ? max32 : payload.size(), 4);
    zip_put(directory, big ? max32 : data.size(), 4);
    zip_put(directory, member_name.size(), 2);
    zip_put(directory, big ? 28 : 0, 2);
    zip_put(directory, 0, 2);               // comment length
    zip_put(directory, 0, 2);               // disk
    zip_put(directory, 0, 2);               // internal attributes
    zip_put(directory, 0100644u << 16, 4);  // external attributes: regular file, rw-r--r--
    zip_put(directory, big ? max32 : offset, 4);
    directory += member_name;
    if (big) {
      zip_put(directory, 1, 2);
      zip_put(directory, 24, 2);
      zip_put(directory, data.size(), 8);
      zip_put(directory, payload.size(), 8);
      zip_put(directory, offset, 8);
    }
  }
  const std::uint64_t directory_offset = out.size();
  const std::uint64_t count = members.size();
  out += directory;
  const bool big = zip64 || count >= 0xffff || directory.size() >= max32 || directory_offset >= max32;
  if (big) {
    const std::uint64_t record = out.size();
    zip_put(out, zip64_end_signature, 4);
    zip_put(out, 44, 8);  // size of the rest of the record
    zip_put(out, (3u << 8) | 45, 2);
    zip_put(out, 45, 2);
    zip_put(out, 0, 4);
    zip_put(out, 0, 4);
    zip_put(out, count, 8);
    zip_put(out, count, 8);
    zip_put(out, directory.size(), 8);
    zip_put(out, directory_offset, 8);
    zip_put(out, zip64_locator_signature, 4);
    zip_put(out, 0, 4);
    zip_put(out, record, 8);
    zip_put(out, 1, 4);
  }
  zip_put(out, zip_end_signature, 4);
  zip_put(out, 0, 2);
  zip_put(out, 0, 2);
  zip_put(out, big ? 0xffff : count, 2);
  zip_put(out, big ? 0xffff : count, 2);
  zip_put(out, big ? max32 : directory.size(), 4);
  zip_put(out, big ? max32 : directory_offset, 4);
  zip_put(out, 0, 2);  // comment length
  return out;
}

}  // namespace pathq::detail

#endif  // PATHQ_DETAIL_ZIP_HPP
