// allspark-connect-floor: what the kernel costs a connect when the server
// does nothing else. A single-threaded epoll server that answers
// allspark-bench's connect flow with fixed bytes: GET /v1/preconnect gets a
// canned 200 (Connection: close), any other request the 101 (with the real
// Sec-WebSocket-Accept) and a welcome frame in one write. No tokens, no
// routing, no HTTP parsing beyond finding the blank line: the same system
// calls Allspark's connect path makes (accept4, read, write, close, epoll),
// so `connect --server-pid` against it gives the floor Allspark's figure is
// measured against (bench/README.md, "connect (issue 7)"). Not a server to use.
//
//   allspark-connect-floor PORT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>

namespace {

std::string accept_value(const std::string& key) {
  const std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha1(), nullptr);
  unsigned char encoded[64];
  const int size = EVP_EncodeBlock(encoded, digest, static_cast<int>(length));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(size));
}

bool write_all(int fd, const std::string& bytes) {
  return ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: allspark-connect-floor PORT\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by accepted sockets
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 4096) != 0) {
    std::perror("allspark-connect-floor: bind/listen");
    return 1;
  }
  std::printf("listening on http://127.0.0.1:%d\n", port);
  std::fflush(stdout);
  const std::string body = "{\"url\":\"ws://127.0.0.1:" + std::to_string(port) + "/v1/connect\",\"validation_key\":\"x\"}";
  const std::string preconnect = "HTTP/1.1 200 OK\r\nServer: allspark\r\nContent-Type: application/json\r\nConnection: "
                                 "close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string welcome = R"({"type":-10,"node_id":"n","connection_id":"c","server_id":"s","timestamp":1})";

  const int epoll = ::epoll_create1(0);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listener;
  ::epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
  std::unordered_map<int, std::string> heads;  // connections still sending their request head
  epoll_event events[256];
  char buffer[65536];
  for (;;) {
    const int count = ::epoll_wait(epoll, events, 256, -1);
    for (int i = 0; i < count; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        for (int client; (client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          epoll_event added{};
          added.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
          added.data.fd = client;
          ::epoll_ctl(epoll, EPOLL_CTL_ADD, client, &added);
          heads[client];
        }
        continue;
      }
      auto head = heads.find(fd);
      bool closed = false;
      for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n > 0 && head != heads.end()) head->second.append(buffer, static_cast<std::size_t>(n));
        if (n > 0) continue;
        closed = n == 0;
        break;
      }
      if (closed) {
        ::close(fd);
        heads.erase(fd);
        continue;
      }
      if (head == heads.end() || head->second.find("\r\n\r\n") == std::string::npos) continue;
      const std::string request = std::move(head->second);
      heads.erase(head);  // from here the connection is a WebSocket, or closed
      if (request.compare(0, 18, "GET /v1/preconnect") == 0) {
        write_all(fd, preconnect);
        ::close(fd);
        continue;
      }
      const std::size_t key = request.find("Sec-WebSocket-Key: ");
      if (key == std::string::npos) {
        ::close(fd);
        continue;
      }
      std::string answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: " + accept_value(request.substr(key + 19, 24)) + "\r\n\r\n";
      answer += static_cast<char>(0x81);
      answer += static_cast<char>(welcome.size());
      answer += welcome;
      if (!write_all(fd, answer)) ::close(fd);
    }
  }
}
