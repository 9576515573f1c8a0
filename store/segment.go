package store

import (
	"fmt"
	"io"
	"os"
)

// Segment is one call's frame segment (FrameCodec) as a SegmentWriter receives it: Data
// in memory, or, when Data is nil and Len > 0, Len bytes at Off of the file File (a
// write-ahead log file that the Writer keeps until the batch is stored). A store copies a
// file segment file to file (SegmentFiles.CopyTo), so the frames of a batch that waited
// in the log never pass through the heap: issue 17 measured that read-back, and the
// concatenated copy the store wrote from, as ~100 MB of the heap's peak at 20,000
// calls ending at once.
type Segment struct {
	Data []byte
	File string
	Off  int64
	Len  int64
}

// InFile reports whether s lies in a file rather than in memory.
func (s Segment) InFile() bool { return s.Data == nil && s.Len > 0 }

// IsZero reports whether s holds no segment (the store encodes the record's frames).
func (s Segment) IsZero() bool { return !s.InFile() && len(s.Data) == 0 }

// SegmentFiles reads and copies file segments, keeping each source file open until
// Close. Not safe for concurrent use.
type SegmentFiles struct {
	open map[string]*os.File
}

func (sf *SegmentFiles) file(path string) (*os.File, error) {
	if f := sf.open[path]; f != nil {
		return f, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if sf.open == nil {
		sf.open = map[string]*os.File{}
	}
	sf.open[path] = f
	return f, nil
}

// Bytes returns s's bytes: Data, or a new array read from its file.
func (sf *SegmentFiles) Bytes(s Segment) ([]byte, error) {
	if !s.InFile() {
		return s.Data, nil
	}
	f, err := sf.file(s.File)
	if err != nil {
		return nil, err
	}
	b := make([]byte, s.Len)
	if _, err := f.ReadAt(b, s.Off); err != nil {
		return nil, fmt.Errorf("store: segment %s at %d (%d bytes): %w", s.File, s.Off, s.Len, err)
	}
	return b, nil
}

// CopyTo appends s to dst at dst's current offset. A file segment is copied file to file:
// os.File.ReadFrom from a limited *os.File uses copy_file_range(2) on Linux (a copy
// between page caches, or none at all on a file system that shares extents) and falls
// back to a buffered copy elsewhere.
func (sf *SegmentFiles) CopyTo(dst *os.File, s Segment) error {
	if !s.InFile() {
		_, err := dst.Write(s.Data)
		return err
	}
	f, err := sf.file(s.File)
	if err != nil {
		return err
	}
	if _, err := f.Seek(s.Off, io.SeekStart); err != nil {
		return err
	}
	n, err := dst.ReadFrom(io.LimitReader(f, s.Len))
	if err == nil && n != s.Len {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("store: segment %s at %d (%d bytes): %w", s.File, s.Off, s.Len, err)
	}
	return nil
}

// Close closes the source files.
func (sf *SegmentFiles) Close() {
	for _, f := range sf.open {
		f.Close()
	}
	clear(sf.open)
}
