// The pathq command-line tool: quantize layers and networks stored in .npy files.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include <pathq/version.hpp>

#include "bench_command.hpp"
#include "huge_pages.hpp"
#include "layer_command.hpp"
#include "model_command.hpp"

namespace {

void print_usage(std::FILE* f) {
  std::fprintf(f, "pathq %s: post-training quantization of neural-network layers\n\n%s\n%s\n%s\n", pathq::version_string,
               pathq_tool::layer_usage(), pathq_tool::model_usage(), pathq_tool::bench_usage());
  std::fprintf(f, "methods:");
  for (const auto& m : pathq_tool::method_registry()) std::fprintf(f, " %s", m.name.c_str());
  std::fprintf(f, "\n");
}

// One line, no newlines inside: scripts read the first line of stderr.
void fail_line(const std::string& what) {
  std::string line = what;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stderr, "pathq: %s\n", line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("pathq %s\n", pathq::version_string);
    return 0;
  }
  const std::string command = argv[1];
  bool mpi = false;  // under mpirun the process is not restarted
  for (int i = 2; i < argc; ++i) mpi = mpi || !std::strcmp(argv[i], "--mpi");
  if ((command == "layer" || command == "model" || command == "bench") && !mpi) pathq_tool::restart_with_huge_pages(argv);
  try {
    if (command == "layer") {
      if (argc >= 3 && (!std::strcmp(argv[2], "--help") || !std::strcmp(argv[2], "-h"))) {
        print_usage(stdout);
        return 0;
      }
      return pathq_tool::layer_command(argc, argv, 2);
    }
    if (command == "model") {
      if (argc >= 3 && (!std::strcmp(argv[2], "--help") || !std::strcmp(argv[2], "-h"))) {
        print_usage(stdout);
        return 0;
      }
      return pathq_tool::model_command(argc, argv, 2);
    }
    if (command == "bench") {
      if (argc >= 3 && (!std::strcmp(argv[2], "--help") || !std::strcmp(argv[2], "-h"))) {
        std::printf("%s", pathq_tool::bench_usage());
        return 0;
      }
      return pathq_tool::bench_command(argc, argv, 2);
    }
    fail_line("unknown command '" + command + "' (known: layer, model, bench)");
    return 2;
  } catch (const pathq_tool::UsageError& e) {
    fail_line(e.message);
    return 2;
  } catch (const std::bad_alloc&) {
    fail_line("out of memory");
    return 1;
  } catch (const std::exception& e) {
    fail_line(e.what());
    return 1;
  }
}
