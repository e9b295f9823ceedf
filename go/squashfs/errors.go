package squashfs

import "errors"

// Sentinel errors; returned errors wrap them with the offending path.
var (
	// ErrUnsupportedFileType is returned for sockets, device nodes, FIFOs
	// and anything else that is not a file, directory or symlink.
	ErrUnsupportedFileType = errors.New("unsupported file type")
	// ErrDuplicatePath is returned when two sources provide the same image
	// path.
	ErrDuplicatePath = errors.New("duplicate path")
	// ErrInvalidPath is returned for image paths with empty, ".", ".." or
	// over-long components, and for paths below a non-directory.
	ErrInvalidPath = errors.New("invalid image path")
	// ErrInvalidOptions is returned for an unknown compression, a block
	// size that is not a power of two in [4 KiB, 1 MiB], or a bad level.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrFileChanged is returned when a host file's size differs between
	// AddTree and WriteTo, or a tar archive given to AddTar shrank.
	ErrFileChanged = errors.New("file changed while building the image")
)
