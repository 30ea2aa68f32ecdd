package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"

	"github.com/fluxrelay/fluxrelay/notification"
)

// A record is stored as its metadata in JSON, then its raw body:
//
//	plain:      uint32 length of the JSON (big endian), JSON, raw body
//	compressed: 0x01, uvarint length of the frame, zstd frame of the plain form
//	blob:       0x02, uvarint length of the name, the blob's name, then the
//	            compressed form of the record without its raw body, payload
//	            and headers, which are in the blob (blob.go)
//
// Records are written compressed: a notification's JSON and its mapped
// payload repeat each other and compress to about a third, and every byte
// saved is saved again on each write, flush and compaction. The plain form
// (whose first byte is always 0: no record's JSON reaches 16 MB) is still
// read, so stores written by earlier releases open as they are. The length
// before the frame lets a scan of damaged files find where a frame ends.
const (
	recordZstd = 0x01
	recordBlob = 0x02
)

var (
	// zstd's fastest level: a record compresses in microseconds, and
	// records are small, so a 64 KB window loses nothing.
	recordEncoder = must(zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithWindowSize(64<<10), zstd.WithEncoderConcurrency(2), zstd.WithLowerEncoderMem(true)))
	recordDecoder = must(zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(64<<20)))
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

func encodeRecord(r *notification.Record) ([]byte, error) {
	plain, err := encodePlain(r)
	if err != nil {
		return nil, err
	}
	frame := recordEncoder.EncodeAll(plain, make([]byte, 0, len(plain)/2))
	out := make([]byte, 1, 1+binary.MaxVarintLen64+len(frame))
	out[0] = recordZstd
	out = binary.AppendUvarint(out, uint64(len(frame)))
	return append(out, frame...), nil
}

func encodePlain(r *notification.Record) ([]byte, error) {
	meta := *r
	meta.Raw = nil
	j, err := json.Marshal(&meta)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 4, 4+len(j)+len(r.Raw))
	binary.BigEndian.PutUint32(buf, uint32(len(j)))
	return append(append(buf, j...), r.Raw...), nil
}

// encodeSmall is the blob form of r, whose raw body, payload and headers
// are in the blob r.Blob.
func encodeSmall(r *notification.Record) ([]byte, error) {
	small := *r
	small.Raw, small.Payload, small.Headers = nil, nil, nil
	inner, err := encodeRecord(&small)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1, 1+binary.MaxVarintLen64+len(r.Blob)+len(inner))
	out[0] = recordBlob
	out = binary.AppendUvarint(out, uint64(len(r.Blob)))
	out = append(out, r.Blob...)
	return append(out, inner...), nil
}

// blobName returns the name of the blob a stored value refers to, or "".
func blobName(v []byte) (name string, rest []byte, err error) {
	if len(v) == 0 || v[0] != recordBlob {
		return "", v, nil
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || n == 0 || n > uint64(len(v)-1-k) {
		return "", nil, errors.New("truncated record")
	}
	return string(v[1+k : 1+k+int(n)]), v[1+k+int(n):], nil
}

// decodeRecord reads a stored value. A record in the blob form gets its
// name in r.Blob and is missing its raw body, payload and headers, which
// the caller reads from the blob.
func decodeRecord(v []byte, r *notification.Record) error {
	name, v, err := blobName(v)
	if err != nil {
		return err
	}
	r.Blob = name
	if len(v) > 0 && v[0] == recordZstd {
		frame, err := compressedFrame(v)
		if err != nil {
			return err
		}
		plain, err := recordDecoder.DecodeAll(frame, nil)
		if err != nil {
			return fmt.Errorf("record: %w", err)
		}
		return decodePlain(plain, r, false)
	}
	return decodePlain(v, r, true)
}

// compressedFrame returns the zstd frame of a compressed record.
func compressedFrame(v []byte) ([]byte, error) {
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || n > uint64(len(v)-1-k) {
		return nil, errors.New("truncated record")
	}
	return v[1+k : 1+k+int(n)], nil
}

// decodePlain reads the plain form; the raw body is copied when v belongs
// to Badger (valid only inside the transaction).
func decodePlain(v []byte, r *notification.Record, copyRaw bool) error {
	if len(v) < 4 || int(binary.BigEndian.Uint32(v)) > len(v)-4 {
		return errors.New("truncated record")
	}
	n := int(binary.BigEndian.Uint32(v))
	if err := json.Unmarshal(v[4:4+n], r); err != nil {
		return err
	}
	if len(v) > 4+n {
		r.Raw = v[4+n:]
		if copyRaw {
			r.Raw = bytes.Clone(r.Raw)
		}
	}
	return nil
}
