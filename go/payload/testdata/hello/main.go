// Command hello prints a fixed line: payload tests add sections or a
// trailer to it and check that it still runs.
package main

import "fmt"

func main() {
	fmt.Println("hello from go")
}
