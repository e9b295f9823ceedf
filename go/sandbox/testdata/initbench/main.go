package main

import (
	_ "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	_ "google.golang.org/grpc"

	"github.com/actiond/actiond/go/sandbox"
)

func main() {
	sandbox.MaybeRunInit()
}
