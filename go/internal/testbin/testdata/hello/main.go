// Command hello prints "hello": the helper testbin's own test runs.
package main

import "fmt"

func main() { fmt.Println("hello") }
