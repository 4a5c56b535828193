#include "protocol/ids.hpp"

#include <gtest/gtest.h>

#include <string>

using allspark::protocol::is_valid_id;

TEST(Ids, AcceptsTheAllowedAlphabet) {
  EXPECT_TRUE(is_valid_id("phone1"));
  EXPECT_TRUE(is_valid_id("a.b_c:d@e-f"));
  EXPECT_TRUE(is_valid_id(std::string(128, 'x')));
}

TEST(Ids, RejectsEmptyTooLongAndOtherBytes) {
  EXPECT_FALSE(is_valid_id(""));
  EXPECT_FALSE(is_valid_id(std::string(129, 'x')));
  EXPECT_FALSE(is_valid_id("a b"));
  EXPECT_FALSE(is_valid_id("a/b"));
  EXPECT_FALSE(is_valid_id("\xc3\xa9"));
  EXPECT_FALSE(is_valid_id(std::string("a\0b", 3)));
}
