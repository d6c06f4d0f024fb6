// The one doctest main shared by every suite (tests/test_<layer>.cpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
