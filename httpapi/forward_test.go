package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// TestForwardMarksWhatWasNotSent: a refused connection is ErrNotSent (safe
// to send elsewhere); a request that reached a leader that never answers is
// not (its records may commit there).
func TestForwardMarksWhatWasNotSent(t *testing.T) {
	fwd := Forward(&http.Client{})
	recs := []log.Record{{Kind: 1, Key: []byte("t"), Value: []byte("v")}}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := fwd(ctx, closed, recs); !errors.Is(err, replication.ErrNotSent) {
		t.Fatalf("forward to a closed port: %v, want ErrNotSent", err)
	}

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() { // accepts and reads, never answers (a paused leader)
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); c.Read(make([]byte, 1<<16)); <-ctx.Done() }()
		}
	}()
	sctx, scancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer scancel()
	_, err = fwd(sctx, silent.Addr().String(), recs)
	if err == nil || errors.Is(err, replication.ErrNotSent) {
		t.Fatalf("forward to a leader that never answers: %v, want an error that is not ErrNotSent", err)
	}
}
