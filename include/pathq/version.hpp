// pathq version, defined once here and read by CMake.
#ifndef PATHQ_VERSION_HPP
#define PATHQ_VERSION_HPP

#define PATHQ_VERSION_MAJOR 0
#define PATHQ_VERSION_MINOR 1
#define PATHQ_VERSION_PATCH 0

namespace pathq {
/// The library version as "MAJOR.MINOR.PATCH".
inline constexpr const char* version_string = "0.1.0";
}  // namespace pathq

#endif  // PATHQ_VERSION_HPP
