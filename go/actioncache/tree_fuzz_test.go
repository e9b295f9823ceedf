package actioncache

import (
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
)

// FuzzTreeRoot feeds arbitrary bytes to rootBytes, which finds the root
// Directory of a Tree blob a client uploaded so that its
// root_directory_digest can be checked. For every blob that is a valid
// Tree, the bytes it returns must decode to exactly the Tree's root (the
// merge of every root field, as protobuf decodes them); for a Tree encoded
// canonically they must be the root's canonical encoding.
func FuzzTreeRoot(f *testing.F) {
	file := digest.OfBytes([]byte("x")).Proto()
	root := &repb.Directory{
		Files:       []*repb.FileNode{{Name: "f", Digest: file, IsExecutable: true}},
		Directories: []*repb.DirectoryNode{{Name: "d", Digest: digest.Empty.Proto()}},
		Symlinks:    []*repb.SymlinkNode{{Name: "l", Target: "f"}},
	}
	for _, tree := range []*repb.Tree{
		{},
		{Root: root},
		{Root: root, Children: []*repb.Directory{{}, {Files: root.Files}}},
	} {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(tree)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Two root fields, which decode to their merge; and a child first.
	rb, _ := proto.Marshal(root)
	f.Add(append(append([]byte{0x12, 0x00, 0x0a, byte(len(rb))}, rb...), 0x0a, 0x02, 0x1a, 0x00))
	f.Fuzz(func(t *testing.T, data []byte) {
		tree := &repb.Tree{}
		if proto.Unmarshal(data, tree) != nil {
			return
		}
		got := &repb.Directory{}
		rb := rootBytes(data)
		if err := proto.Unmarshal(rb, got); err != nil {
			t.Fatalf("rootBytes of a valid Tree is no Directory: %v", err)
		}
		want := tree.GetRoot()
		if want == nil {
			want = &repb.Directory{}
		}
		if !proto.Equal(got, want) {
			t.Fatalf("rootBytes decodes to %v, the Tree's root is %v", got, want)
		}
		canon, err := proto.MarshalOptions{Deterministic: true}.Marshal(tree)
		if err != nil {
			t.Fatal(err)
		}
		if string(canon) == string(data) {
			wantBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if string(rb) != string(wantBytes) {
				t.Fatalf("canonical Tree: rootBytes %x, canonical root %x", rb, wantBytes)
			}
		}
	})
}
