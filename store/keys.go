package store

import (
	"encoding/binary"
	"time"
)

// Keys. Times are big-endian nanoseconds so byte order is time order.
const (
	pRecord = "n/"
	pDedup  = "d/"
	pDue    = "r/"
	pAge    = "a/"
	pDead   = "x/"
	pBroken = "z/"
	// pRef indexes notifications by their transactionRef and paymentRef,
	// for fluxrelay find: f/<ref>\x00<id>.
	pRef = "f/"
	// pRecv indexes notifications by when they were received, for
	// fluxrelay report and replay: t/<received>/<id>.
	pRecv = "t/"
)

func recordKey(id string) []byte   { return []byte(pRecord + id) }
func dedupKey(id string) []byte    { return []byte(pDedup + id) }
func deadKey(id string) []byte     { return []byte(pDead + id) }
func refKey(ref, id string) []byte { return []byte(pRef + ref + "\x00" + id) }
func damagedKey(id string) []byte  { return []byte(pBroken + id) }

func timeKey(prefix string, t time.Time, id string) []byte {
	k := make([]byte, len(prefix)+8+len(id))
	copy(k, prefix)
	binary.BigEndian.PutUint64(k[len(prefix):], uint64(max(t.UnixNano(), 0)))
	copy(k[len(prefix)+8:], id)
	return k
}

func splitTimeKey(prefix string, k []byte) (time.Time, string) {
	n := int64(binary.BigEndian.Uint64(k[len(prefix):]))
	return time.Unix(0, n), string(k[len(prefix)+8:])
}
