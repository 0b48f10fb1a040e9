package mqtt

import (
	"bufio"
	"net"
	"sync"

	"github.com/stratamq/strata/mqtt/packet"
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
	outBufs    = sync.Pool{New: func() any { return &outBuf{slab: make([]byte, 0, bigBufSize)} }}
)

// readPacket reads the reader's next packet. A PUBLISH's body is read into
// the connection's body buffer, reused for the next one: handling a
// publish keeps nothing of it once it returns (the proposal's record is a
// copy, topics and properties are strings), so a streaming publisher's
// bodies cost no allocation each (issue 14, item 2). The buffer is
// allocated when a PUBLISH arrives, never while the reader waits.
func (c *conn) readPacket() (packet.Packet, error) {
	return packet.ReadReusing(c.r.br, c.version, c.b.o.MaxPacketSize, &c.r.body)
}

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
	if c.r.br.Buffered() == 0 {
		c.r.body = nil // the client paused: an idle connection holds no body buffer
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

// out is the writer's output buffer, taken from the pool when it has
// something to write.
func (c *conn) out() *outBuf {
	if c.w.out == nil {
		c.w.out = outBufs.Get().(*outBuf)
		c.w.out.nc = c.nc
	}
	return c.w.out
}

// flush sends what is buffered and gives the buffer back to the pool: the
// writer flushes only when it has nothing more to send right away.
func (c *conn) flush() error {
	if c.w.out == nil {
		return nil
	}
	err := c.w.out.writeOut()
	c.w.out.nc = nil
	outBufs.Put(c.w.out)
	c.w.out = nil
	if cap(c.w.buf) > maxKeptEncode {
		c.w.buf = nil
	}
	return err
}

// Bounds of what an outBuf holds before it writes, whatever the writer
// still has queued: a large payload is written from where it lies rather
// than copied (refIn).
const (
	refMin     = 2 << 10   // a part at least this large is referenced, not copied
	maxPending = 256 << 10 // bytes
	maxParts   = 128       // writev's iovecs
)

// outBuf gathers a connection's packets into one vectored write (writev on
// TCP; net.Buffers writes the parts in turn on TLS and WebSocket
// connections): small parts are copied into slab, so that many small
// packets leave in one syscall, and large ones are referenced where they
// lie. Owned by the connection's writer; not safe for concurrent use.
type outBuf struct {
	nc      net.Conn
	slab    []byte      // copied parts; cap bigBufSize
	from    int         // slab[from:] is not in parts yet
	parts   net.Buffers // in order: sealed spans of slab and referenced parts
	pending int         // bytes in parts and slab[from:]
}

// copyIn adds a copy of b.
func (o *outBuf) copyIn(b []byte) error {
	for len(b) > 0 {
		if len(o.slab) == cap(o.slab) {
			if err := o.writeOut(); err != nil {
				return err
			}
		}
		n := copy(o.slab[len(o.slab):cap(o.slab)], b)
		o.slab, o.pending, b = o.slab[:len(o.slab)+n], o.pending+n, b[n:]
	}
	return nil
}

// refIn adds b without copying it when it is large: b must not change
// until the next writeOut (the writer's flush, or a bound reached).
func (o *outBuf) refIn(b []byte) error {
	if len(b) < refMin {
		return o.copyIn(b)
	}
	o.seal()
	o.parts = append(o.parts, b)
	o.pending += len(b)
	if o.pending >= maxPending || len(o.parts) >= maxParts {
		return o.writeOut()
	}
	return nil
}

// seal moves what was copied into slab since the last part into parts.
func (o *outBuf) seal() {
	if len(o.slab) > o.from {
		o.parts = append(o.parts, o.slab[o.from:])
		o.from = len(o.slab)
	}
}

// writeOut writes everything pending in one vectored write and empties o.
func (o *outBuf) writeOut() error {
	var err error
	switch {
	case len(o.parts) == 0 && len(o.slab) > 0:
		_, err = o.nc.Write(o.slab)
	case len(o.parts) > 0:
		o.seal()
		v := o.parts // WriteTo consumes its receiver
		_, err = v.WriteTo(o.nc)
		clear(o.parts) // references to payloads: let them go
	}
	o.parts, o.slab, o.from, o.pending = o.parts[:0], o.slab[:0], 0, 0
	return err
}
