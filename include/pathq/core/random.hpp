// Counter-based random streams: a uniform draw is a pure function of (seed, stream, counter).
#ifndef PATHQ_CORE_RANDOM_HPP
#define PATHQ_CORE_RANDOM_HPP

#include <cstdint>

namespace pathq {

/// SplitMix64 finalizer: a bijective 64-bit mixer with good avalanche (Steele, Lea, Flood 2014).
constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// A counter-based random stream. Draw `k` of stream `s` under seed `seed` is
/// `mix(mix(seed, s), k)`: no state, so the value never depends on which thread asks, in what
/// order, or on the standard library. pathq keys one stream per neuron (column) and uses the
/// feature index as the counter, so results are the same for every thread count.
class RandomStream {
 public:
  constexpr RandomStream(std::uint64_t seed, std::uint64_t stream) noexcept
      : m_key(splitmix64(splitmix64(seed) ^ (stream * 0xD1B54A32D192ED03ULL + 0x8CB92BA72F3D8DD7ULL))) {}

  /// 64 raw bits for counter `k`.
  constexpr std::uint64_t bits(std::uint64_t k) const noexcept {
    return splitmix64(m_key ^ splitmix64(k * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL));
  }

  /// A uniform double in [0, 1) with 53 random bits, for counter `k`.
  constexpr double uniform(std::uint64_t k) const noexcept {
    return static_cast<double>(bits(k) >> 11) * 0x1.0p-53;
  }

 private:
  std::uint64_t m_key;
};

}  // namespace pathq

#endif  // PATHQ_CORE_RANDOM_HPP
