#include <cstdio>

int main() {
  std::puts("allspark 0.1.0");
  return 0;
}
