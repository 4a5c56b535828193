// allspark: serve, token, --help, --version (PROTOCOL.md section 10).
#include <cstdio>

#include "app/config.hpp"
#include "app/server.hpp"
#include "app/token_command.hpp"

int main(int argc, char** argv) {
  using namespace allspark::app;
  CommandLine command_line = parse_command_line(argc, argv);
  switch (command_line.command) {
    case Command::serve: return run_server(command_line.serve);
    case Command::token: return run_token_command(command_line.token, stdout, stderr);
    case Command::exit: break;
  }
  std::FILE* out = command_line.exit_status == 0 ? stdout : stderr;
  std::fputs(command_line.output.c_str(), out);
  if (!command_line.output.empty() && command_line.output.back() != '\n') std::fputc('\n', out);
  return command_line.exit_status;
}
