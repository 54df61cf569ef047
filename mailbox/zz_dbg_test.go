package mailbox

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestDbgRandom(t *testing.T) {
	seeds := [][]byte{
		[]byte("* 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [PERMANENTFLAGS (\\Seen \\*)] p\r\n* OK [UIDNEXT 3] n\r\n"),
		[]byte("* SEARCH 1 2\r\n"),
		[]byte("* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 5 INTERNALDATE \"01-Jan-2026 10:00:00 +0000\" BODY[] {5}\r\nhello)\r\n"),
	}
	mut := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		for range rand.IntN(4) {
			if len(b) == 0 {
				break
			}
			switch rand.IntN(3) {
			case 0:
				b[rand.IntN(len(b))] = byte(rand.IntN(256))
			case 1:
				i := rand.IntN(len(b))
				b = append(b[:i], b[i+1:]...)
			case 2:
				i := rand.IntN(len(b))
				b = append(b[:i], append([]byte{"0123456789 *(){}\r\n"[rand.IntN(18)]}, b[i:]...)...)
			}
		}
		return b
	}
	for i := range 300 {
		a, b, c := mut(seeds[0]), mut(seeds[1]), mut(seeds[2])
		t0 := time.Now()
		runHostile(t, a, b, c)
		if d := time.Since(t0); d > 2*time.Second {
			t.Logf("iteration %d took %v: %q %q %q", i, d, a, b, c)
		}
	}
}
