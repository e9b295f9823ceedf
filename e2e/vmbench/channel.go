package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/e2e/actionlog"
	"github.com/actiond/actiond/go/digest"
)

// chunk is the ByteStream message size, Bazel's default upload chunk.
const chunk = 16 << 10

// channelRow measures write and read throughput and Execute latency.
func channelRow(addr, tool string, blobMiB, execs int) (string, error) {
	ctx := context.Background()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	blob := make([]byte, blobMiB<<20)
	_, _ = rand.Read(blob)
	d := digest.OfBytes(blob)

	start := time.Now()
	if err := write(ctx, conn, blob, d); err != nil {
		return "", err
	}
	writeSecs := time.Since(start).Seconds()
	start = time.Now()
	n, err := read(ctx, conn, d)
	if err != nil {
		return "", err
	}
	if n != d.Size {
		return "", fmt.Errorf("read %d of %d bytes", n, d.Size)
	}
	readSecs := time.Since(start).Seconds()

	lat, err := executeLatencies(ctx, conn, tool, execs)
	if err != nil {
		return "", err
	}
	mib := float64(blobMiB)
	return fmt.Sprintf("%.0f | %.0f | %.1f | %.1f", mib/writeSecs, mib/readSecs, actionlog.Percentile(lat, 50), actionlog.Percentile(lat, 90)), nil
}

func write(ctx context.Context, conn *grpc.ClientConn, blob []byte, d digest.Digest) error {
	stream, err := bspb.NewByteStreamClient(conn).Write(ctx)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("uploads/vmbench-%d/blobs/%s/%d", time.Now().UnixNano(), d.Hash, d.Size)
	for off := 0; off < len(blob); off += chunk {
		end := min(off+chunk, len(blob))
		req := &bspb.WriteRequest{WriteOffset: int64(off), Data: blob[off:end], FinishWrite: end == len(blob)}
		if off == 0 {
			req.ResourceName = name
		}
		if err := stream.Send(req); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("ByteStream.Write: %w", err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("ByteStream.Write: %w", err)
	}
	if resp.GetCommittedSize() != d.Size {
		return fmt.Errorf("ByteStream.Write committed %d of %d bytes", resp.GetCommittedSize(), d.Size)
	}
	return nil
}

func read(ctx context.Context, conn *grpc.ClientConn, d digest.Digest) (int64, error) {
	stream, err := bspb.NewByteStreamClient(conn).Read(ctx, &bspb.ReadRequest{ResourceName: fmt.Sprintf("blobs/%s/%d", d.Hash, d.Size)})
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("ByteStream.Read: %w", err)
		}
		n += int64(len(resp.GetData()))
	}
}

// executeLatencies runs the trivial action execs times, one at a time,
// and returns each Execute's time to its final response in milliseconds.
func executeLatencies(ctx context.Context, conn *grpc.ClientConn, tool string, execs int) ([]float64, error) {
	bin, err := os.ReadFile(tool)
	if err != nil {
		return nil, err
	}
	cas := repb.NewContentAddressableStorageClient(conn)
	root := &repb.Directory{Files: []*repb.FileNode{{Name: "tool", Digest: digest.OfBytes(bin).Proto(), IsExecutable: true}}}
	cmd := &repb.Command{Arguments: []string{"./tool", "true"}}
	blobs := [][]byte{bin, marshal(root), marshal(cmd)}
	var actions []digest.Digest
	for i := 0; i < execs; i++ {
		a := marshal(&repb.Action{
			CommandDigest:   digest.OfBytes(blobs[2]).Proto(),
			InputRootDigest: digest.OfBytes(blobs[1]).Proto(),
			Salt:            []byte(fmt.Sprintf("vmbench-%d-%d", time.Now().UnixNano(), i)),
		})
		blobs = append(blobs, a)
		actions = append(actions, digest.OfBytes(a))
	}
	var reqs []*repb.BatchUpdateBlobsRequest_Request
	for _, b := range blobs {
		reqs = append(reqs, &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes(b).Proto(), Data: b})
	}
	if _, err := cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: reqs}); err != nil {
		return nil, err
	}
	exec := repb.NewExecutionClient(conn)
	var lat []float64
	for _, a := range actions {
		start := time.Now()
		stream, err := exec.Execute(ctx, &repb.ExecuteRequest{ActionDigest: a.Proto(), SkipCacheLookup: true})
		if err != nil {
			return nil, err
		}
		var done bool
		for {
			op, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			if op.GetDone() {
				resp := &repb.ExecuteResponse{}
				if err := op.GetResponse().UnmarshalTo(resp); err != nil {
					return nil, err
				}
				if resp.GetStatus().GetCode() != 0 || resp.GetResult().GetExitCode() != 0 {
					return nil, fmt.Errorf("trivial action failed: %v, exit %d", resp.GetStatus(), resp.GetResult().GetExitCode())
				}
				done = true
			}
		}
		if !done {
			return nil, fmt.Errorf("Execute ended without a result")
		}
		lat = append(lat, float64(time.Since(start))/float64(time.Millisecond))
	}
	return lat, nil
}

func marshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}
