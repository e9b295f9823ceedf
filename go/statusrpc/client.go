package statusrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/digest"
)

// gatherTimeout bounds Gather, which prometheus.Gatherer gives no context.
const gatherTimeout = 10 * time.Second

// Client reads a remote daemon's status, metrics and blobs over conn. It is
// a prometheus.Gatherer, and a statuspage source.
type Client struct {
	conn grpc.ClientConnInterface
}

// NewClient returns a Client using conn.
func NewClient(conn grpc.ClientConnInterface) *Client { return &Client{conn: conn} }

// Snapshot returns the remote daemon's status.
func (c *Client) Snapshot(ctx context.Context) (activity.Snapshot, error) {
	var out wrapperspb.BytesValue
	if err := c.conn.Invoke(ctx, snapshotMethod, &emptypb.Empty{}, &out); err != nil {
		return activity.Snapshot{}, err
	}
	var snap activity.Snapshot
	if err := json.Unmarshal(out.GetValue(), &snap); err != nil {
		return activity.Snapshot{}, fmt.Errorf("decoding the status snapshot: %w", err)
	}
	return snap, nil
}

// Gather implements prometheus.Gatherer with the remote daemon's metrics.
func (c *Client) Gather() ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), gatherTimeout)
	defer cancel()
	var out wrapperspb.BytesValue
	if err := c.conn.Invoke(ctx, metricsMethod, &emptypb.Empty{}, &out); err != nil {
		return nil, err
	}
	dec := expfmt.NewDecoder(bytes.NewReader(out.GetValue()), expfmt.NewFormat(expfmt.TypeProtoDelim))
	var mfs []*dto.MetricFamily
	for {
		mf := new(dto.MetricFamily)
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			return mfs, nil
		}
		if err != nil {
			return mfs, fmt.Errorf("decoding metrics: %w", err)
		}
		mfs = append(mfs, mf)
	}
}

// ReadBlob reads blob d, of at most limit bytes, through ByteStream.
func (c *Client) ReadBlob(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", d, limit)
	}
	stream, err := bspb.NewByteStreamClient(c.conn).Read(ctx, &bspb.ReadRequest{
		ResourceName: fmt.Sprintf("blobs/%s/%d", d.Hash, d.Size),
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
		if int64(buf.Len()+len(resp.GetData())) > limit {
			return nil, fmt.Errorf("blob %s sent more than %d bytes", d, limit)
		}
		buf.Write(resp.GetData())
	}
}
