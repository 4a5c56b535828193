#pragma once
// UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above
// U+10FFFF), fast on ASCII. Used for WebSocket text messages (RFC 6455 8.1)
// and HTTP bodies.
#include <string_view>

namespace allspark::protocol {

bool is_valid_utf8(std::string_view text);

}  // namespace allspark::protocol
