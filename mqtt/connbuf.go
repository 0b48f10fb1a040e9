package mqtt

import (
	"bufio"
	"sync"
)

// Buffers of a connection. An idle connection (most of them, at scale)
// holds only a small read buffer: the 16 KiB ones are taken from pools
// while a client streams packets or the writer has something to send, and
// given back when they are empty (docs/benchmarks.md, memory per
// connection).
const (
	smallReadSize = 512      // CONNECT, SUBSCRIBE, PINGREQ, small publishes
	bigBufSize    = 16 << 10 // while streaming: one read or write syscall for many packets
	maxKeptEncode = 64 << 10 // an encode buffer larger than this is not kept while idle
)

var (
	bigReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bigBufSize) }}
	bigWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bigBufSize) }}
)

// readBuffers sizes the reader's buffer between two packets: a client
// whose next packet already arrived with the last one is streaming, so a
// pooled big reader is stacked on the small one (which hands over what it
// holds, then reads straight from the socket into the big buffer); once
// both are empty, the big one goes back to the pool before the reader
// blocks waiting for the client.
func (c *conn) readBuffers() {
	big := c.r.br != c.r.small
	switch {
	case !big && c.r.small.Buffered() > 0:
		br := bigReaders.Get().(*bufio.Reader)
		br.Reset(c.r.small)
		c.r.br = br
	case big && c.r.br.Buffered() == 0 && c.r.small.Buffered() == 0:
		c.releaseReader()
	}
}

// releaseReader gives a pooled big reader back; the reader reads through
// the small one again.
func (c *conn) releaseReader() {
	if c.r.br == c.r.small {
		return
	}
	c.r.br.Reset(nil)
	bigReaders.Put(c.r.br)
	c.r.br = c.r.small
}

// writer is the writer's buffered writer, taken from the pool when it has
// something to write.
func (c *conn) writer() *bufio.Writer {
	if c.w.bw == nil {
		c.w.bw = bigWriters.Get().(*bufio.Writer)
		c.w.bw.Reset(c.nc)
	}
	return c.w.bw
}

// flush sends what is buffered and gives the buffer back to the pool: the
// writer flushes only when it has nothing more to send right away.
func (c *conn) flush() error {
	if c.w.bw == nil {
		return nil
	}
	err := c.w.bw.Flush()
	c.w.bw.Reset(nil)
	bigWriters.Put(c.w.bw)
	c.w.bw = nil
	if cap(c.w.buf) > maxKeptEncode {
		c.w.buf = nil
	}
	return err
}
