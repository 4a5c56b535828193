// Boost.Asio and Beast compiled once (BOOST_ASIO_SEPARATE_COMPILATION,
// BOOST_BEAST_SEPARATE_COMPILATION): every other file includes headers only.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
