#include "http_call.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace allspark::bench {

bool http_call(const Endpoint& endpoint, std::string_view method, std::string_view path, std::string_view auth_key,
               std::string_view body, HttpAnswer& answer, std::string& error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(endpoint.port);
  if (fd < 0 || ::inet_pton(AF_INET, endpoint.host.c_str(), &address.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    error = "cannot connect to " + endpoint.host + ":" + std::to_string(endpoint.port) + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  std::string request = std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: " + endpoint.host +
                        "\r\nAuthorization: Bearer " + std::string(auth_key) +
                        "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
  for (std::size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      error = std::string("send: ") + std::strerror(errno);
      ::close(fd);
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string data;
  char buffer[16384];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) data.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  std::size_t head_end = data.find("\r\n\r\n");
  if (data.rfind("HTTP/1.1 ", 0) != 0 || data.size() < 12 || head_end == std::string::npos) {
    error = "not an HTTP answer: " + data.substr(0, 80);
    return false;
  }
  answer.status = std::atoi(data.c_str() + 9);
  answer.body = data.substr(head_end + 4);
  return true;
}

}  // namespace allspark::bench
