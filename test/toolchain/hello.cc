#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "greet.h"

int main() {
  std::vector<int> v(100);
  std::iota(v.begin(), v.end(), 1);
  std::cout << greeting("toolchain") << " "
            << std::accumulate(v.begin(), v.end(), 0) << std::endl;
  return 0;
}
