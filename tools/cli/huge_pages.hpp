// The tool's large buffers on transparent huge pages, through glibc's malloc tunables.
#ifndef PATHQ_TOOLS_HUGE_PAGES_HPP
#define PATHQ_TOOLS_HUGE_PAGES_HPP

#include <cstdlib>
#include <string>

#if defined(__linux__) && defined(__GLIBC__)
#include <unistd.h>
#endif

namespace pathq_tool {

/// The tool allocates `O(N_in^2)` statistics and engine matrices and `O(N_in N_out)` weights,
/// each touched first by one pass. On 4 KiB pages every first touch is a page fault, which on
/// virtual machines costs as much as the statistics themselves (bench/RESULTS.md, "The whole
/// `pathq layer` job"). glibc's malloc backs its memory with transparent huge pages and keeps
/// freed blocks up to 32 MiB for reuse when its tunables say so, but reads them only at program
/// start; so this function starts the tool once more, the same arguments and environment, with
/// `GLIBC_TUNABLES` extended by `glibc.malloc.hugetlb=1`, `glibc.malloc.mmap_threshold` and
/// `glibc.malloc.trim_threshold`. It returns (and the tool carries on as it is) when the
/// environment already names `glibc.malloc.hugetlb`, when `PATHQ_HUGE_PAGES=0`, on systems
/// other than Linux with glibc, or when the new start fails.
inline void restart_with_huge_pages(char** argv) {
#if defined(__linux__) && defined(__GLIBC__)
  const char* off = std::getenv("PATHQ_HUGE_PAGES");
  if (off && std::string(off) == "0") return;
  const char* given = std::getenv("GLIBC_TUNABLES");
  const std::string before = given ? given : "";
  if (before.find("glibc.malloc.hugetlb") != std::string::npos) return;  // the user's choice, or done
  const std::string ours =
      "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=33554432";
  if (setenv("GLIBC_TUNABLES", (before.empty() ? ours : before + ":" + ours).c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Still here: the new start failed. Leave the environment as it was.
  if (given) setenv("GLIBC_TUNABLES", before.c_str(), 1);
  else unsetenv("GLIBC_TUNABLES");
#else
  (void)argv;
#endif
}

}  // namespace pathq_tool

#endif  // PATHQ_TOOLS_HUGE_PAGES_HPP
