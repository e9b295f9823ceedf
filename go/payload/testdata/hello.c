/* payload tests add sections to this program and check that it still runs. */
#include <stdio.h>

int main(void) {
	puts("hello from c");
	return 0;
}
