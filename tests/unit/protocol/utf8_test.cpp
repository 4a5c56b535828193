#include "protocol/utf8.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using allspark::protocol::is_valid_utf8;
using allspark::protocol::Utf8Validator;

// A slow, obviously correct decoder to compare against: RFC 3629 section 3,
// decode each sequence then check it is the shortest form and a scalar value.
bool reference_valid(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto t = static_cast<unsigned char>(s[i + k]);
      if ((t & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (t & 0x3f);
    }
    const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < smallest[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

// Validates `s` split into pieces at the given positions.
bool valid_in_pieces(std::string_view s, std::vector<std::size_t> cuts) {
  Utf8Validator v;
  std::size_t from = 0;
  cuts.push_back(s.size());
  for (std::size_t cut : cuts) {
    if (!v.feed(s.substr(from, cut - from))) {
      EXPECT_FALSE(v.finish());
      return false;
    }
    from = cut;
  }
  return v.finish();
}

// Checks one-shot and every 1- and 2-cut split agree with `expected`.
void expect_validity(std::string_view s, bool expected) {
  SCOPED_TRACE(::testing::PrintToString(std::string(s)));
  EXPECT_EQ(reference_valid(s), expected) << "the reference disagrees";
  EXPECT_EQ(is_valid_utf8(s), expected);
  for (std::size_t a = 0; a <= s.size(); ++a) {
    EXPECT_EQ(valid_in_pieces(s, {a}), expected) << "cut at " << a;
    for (std::size_t b = a; b <= s.size(); ++b) EXPECT_EQ(valid_in_pieces(s, {a, b}), expected) << a << "," << b;
  }
  // With ASCII around it, on both sides of the 8- and 16-byte fast paths.
  for (std::size_t pad : {1, 7, 8, 15, 16, 17, 31}) {
    const std::string padded = std::string(pad, 'a') + std::string(s) + std::string(pad, 'z');
    EXPECT_EQ(is_valid_utf8(padded), expected) << "padding " << pad;
  }
}

void valid(std::string_view s) { expect_validity(s, true); }
void invalid(std::string_view s) { expect_validity(s, false); }

TEST(Utf8, Empty) {
  EXPECT_TRUE(is_valid_utf8(""));
  Utf8Validator v;
  EXPECT_TRUE(v.finish());
  EXPECT_TRUE(v.feed(""));
  EXPECT_TRUE(v.finish());
}

TEST(Utf8, AsciiAndKuhnsGreekWord) {
  valid("Hello, world");
  valid(std::string("\0\x01\x7f", 3));
  valid("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");  // κόσμε
}

TEST(Utf8, FirstAndLastOfEachLength) {
  valid(std::string("\0", 1));           // U+0000
  valid("\xc2\x80");                      // U+0080
  valid("\xe0\xa0\x80");                  // U+0800
  valid("\xf0\x90\x80\x80");              // U+10000
  valid("\x7f");                          // U+007F
  valid("\xdf\xbf");                      // U+07FF
  valid("\xef\xbf\xbf");                  // U+FFFF
  valid("\xf4\x8f\xbf\xbf");              // U+10FFFF
}

TEST(Utf8, OtherBoundaries) {
  valid("\xed\x9f\xbf");          // U+D7FF, just below the surrogates
  valid("\xee\x80\x80");          // U+E000, just above them
  valid("\xef\xbf\xbd");          // U+FFFD
  valid("\xef\xbf\xbe");          // U+FFFE: a noncharacter, still valid UTF-8
  valid("\xf3\xbf\xbf\xbf");      // U+FFFFF
  invalid("\xf4\x90\x80\x80");    // U+110000
  invalid("\xf7\xbf\xbf\xbf");    // U+1FFFFF
}

TEST(Utf8, FiveAndSixByteFormsAreGone) {
  invalid("\xf8\x88\x80\x80\x80");
  invalid("\xfb\xbf\xbf\xbf\xbf");
  invalid("\xfc\x84\x80\x80\x80\x80");
  invalid("\xfd\xbf\xbf\xbf\xbf\xbf");
}

TEST(Utf8, UnexpectedContinuationBytes) {
  invalid("\x80");
  invalid("\xbf");
  invalid("\x80\xbf");
  invalid("\x80\xbf\x80");
  invalid("a\x80z");
  for (int c = 0x80; c <= 0xbf; ++c) invalid(std::string(1, static_cast<char>(c)));
}

TEST(Utf8, LonelyStartBytes) {
  for (int c = 0xc0; c <= 0xff; ++c) invalid(std::string{static_cast<char>(c), ' '});
}

TEST(Utf8, ImpossibleBytes) {
  for (int c = 0xf5; c <= 0xff; ++c) invalid(std::string(1, static_cast<char>(c)));
  invalid("\xc0");
  invalid("\xc1");
  invalid("\xfe\xfe\xff\xff");
}

TEST(Utf8, TruncatedSequences) {
  invalid("\xc2");
  invalid("\xdf");
  invalid("\xe0\xa0");
  invalid("\xe0");
  invalid("\xef\xbf");
  invalid("\xf0\x90\x80");
  invalid("\xf0\x90");
  invalid("\xf4\x8f\xbf");
  invalid("\xc2\xe0\xa0\xf0\x90\x80");  // all of them in a row
  invalid("\xe0\xa0z");
  invalid("\xf0\x90\x80z");
}

TEST(Utf8, Overlongs) {
  invalid("\xc0\xaf");                  // "/" in 2, 3, 4 bytes
  invalid("\xe0\x80\xaf");
  invalid("\xf0\x80\x80\xaf");
  invalid("\xc1\xbf");                  // the largest overlongs
  invalid("\xe0\x9f\xbf");
  invalid("\xf0\x8f\xbf\xbf");
  invalid("\xc0\x80");                  // overlong NUL (modified UTF-8)
  invalid("\xe0\x80\x80");
  invalid("\xf0\x80\x80\x80");
}

// Decision: a surrogate is invalid whether alone or paired (CESU-8 is not UTF-8).
TEST(Utf8, Surrogates) {
  invalid("\xed\xa0\x80");  // U+D800
  invalid("\xed\xad\xbf");  // U+DB7F
  invalid("\xed\xae\x80");  // U+DB80
  invalid("\xed\xaf\xbf");  // U+DBFF
  invalid("\xed\xb0\x80");  // U+DC00
  invalid("\xed\xbe\x80");  // U+DF80
  invalid("\xed\xbf\xbf");  // U+DFFF
  invalid("\xed\xa0\x80\xed\xb0\x80");  // U+D800 U+DC00 paired
  invalid("\xed\xaf\xbf\xed\xbf\xbf");  // U+DBFF U+DFFF paired
}

TEST(Utf8, FailsAsSoonAsThePrefixCannotBeValid) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed("ok \xe0"));   // could go on validly
  EXPECT_FALSE(v.finish());
  EXPECT_FALSE(v.feed("\x80"));     // E0 80: overlong, known now
  EXPECT_FALSE(v.feed("fine"));     // and it stays failed
  EXPECT_FALSE(v.finish());

  Utf8Validator s;
  EXPECT_TRUE(s.feed("\xed"));
  EXPECT_FALSE(s.feed("\xa0"));  // a surrogate, before its last byte

  Utf8Validator f;
  EXPECT_TRUE(f.feed("\xf4"));
  EXPECT_FALSE(f.feed("\x90"));  // above U+10FFFF
}

TEST(Utf8, ByteAtATime) {
  const std::string text = "a\xc2\x80" "b\xe0\xa0\x80" "c\xf0\x90\x80\x80" "d\xf4\x8f\xbf\xbf\xce\xba";
  Utf8Validator v;
  for (char c : text) {
    EXPECT_TRUE(v.feed(std::string_view(&c, 1)));
  }
  EXPECT_TRUE(v.finish());
}

TEST(Utf8, LongAsciiWithOneBadByteAnywhere) {
  for (std::size_t pos = 0; pos < 300; ++pos) {
    std::string s(300, 'x');
    s[pos] = '\x80';
    EXPECT_FALSE(is_valid_utf8(s)) << pos;
    s[pos] = '\xc3';
    EXPECT_EQ(is_valid_utf8(s), false) << pos;  // C3 followed by 'x' or nothing
    s.insert(pos + 1, 1, '\xa9');  // é
    EXPECT_TRUE(is_valid_utf8(s)) << pos;
  }
}

// Every sequence of 1, 2 and 3 bytes, and 4-byte ones over interesting bytes,
// agree with the reference.
TEST(Utf8, ExhaustiveAgainstTheReference) {
  char b[4];
  std::size_t valid_count = 0;
  for (int x = 0; x < 256; ++x) {
    b[0] = static_cast<char>(x);
    ASSERT_EQ(is_valid_utf8({b, 1}), reference_valid({b, 1})) << x;
    for (int y = 0; y < 256; ++y) {
      b[1] = static_cast<char>(y);
      ASSERT_EQ(is_valid_utf8({b, 2}), reference_valid({b, 2})) << x << " " << y;
      for (int z = 0; z < 256; ++z) {
        b[2] = static_cast<char>(z);
        const bool expected = reference_valid({b, 3});
        valid_count += expected;
        ASSERT_EQ(is_valid_utf8({b, 3}), expected) << x << " " << y << " " << z;
      }
    }
  }
  EXPECT_GT(valid_count, 0u);
  const int interesting[] = {0x00, 0x41, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff};
  for (int w = 0xe0; w <= 0xff; ++w) {
    b[0] = static_cast<char>(w);
    for (int x : interesting) {
      b[1] = static_cast<char>(x);
      for (int y : interesting) {
        b[2] = static_cast<char>(y);
        for (int z : interesting) {
          b[3] = static_cast<char>(z);
          ASSERT_EQ(is_valid_utf8({b, 4}), reference_valid({b, 4})) << w << " " << x << " " << y << " " << z;
          Utf8Validator v;  // and split after the lead byte
          const bool split = v.feed({b, 1}) && v.feed({b + 1, 3}) && v.finish();
          ASSERT_EQ(split, reference_valid({b, 4}));
        }
      }
    }
  }
}

}  // namespace
