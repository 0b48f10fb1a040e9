package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stratamq/strata/mqtt/packet"
)

// client is what a scenario needs of an MQTT client engine.
type client interface {
	Subscribe(ctx context.Context, filter string, qos byte) error
	// Publish sends one message; the returned func waits for its
	// acknowledgement (at once for QoS 0).
	Publish(topic string, qos byte, payload []byte) func(ctx context.Context) error
	// PublishRetained is Publish with the RETAIN flag (the retained scenario).
	PublishRetained(topic string, qos byte, payload []byte) func(ctx context.Context) error
	Close()
}

// Engines: "paho" (paho.mqtt.golang, what users run) and "lean" (our codec,
// pipelined writes, few allocations: the generator is not the bottleneck).
var Engines = []string{"paho", "lean"}

func dial(ctx context.Context, cfg *Config, id string, handler func([]byte)) (client, error) {
	switch cfg.Client {
	case "", "paho":
		return dialPaho(ctx, cfg, id, handler)
	case "lean":
		return dialLean(ctx, cfg, id, handler)
	}
	return nil, fmt.Errorf("bench: unknown client engine %q (paho, lean)", cfg.Client)
}

type pahoClient struct{ c paho.Client }

func dialPaho(ctx context.Context, cfg *Config, id string, handler func([]byte)) (client, error) {
	broker := cfg.Broker
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(true).
		SetUsername(cfg.Username).SetPassword(cfg.Password).SetTLSConfig(cfg.TLS).
		SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(false).
		SetMaxResumePubInFlight(0).SetWriteTimeout(30 * time.Second).SetKeepAlive(60 * time.Second)
	if handler != nil {
		// In order: a subscriber's handler runs once per message, in arrival
		// order, so the order check sees what the broker sent.
		o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { handler(m.Payload()) }).SetOrderMatters(true)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if err := waitToken(ctx, tok); err != nil {
		return nil, fmt.Errorf("connect %s to %s: %w", id, broker, err)
	}
	return &pahoClient{c}, nil
}

func (p *pahoClient) Subscribe(ctx context.Context, filter string, qos byte) error {
	return waitToken(ctx, p.c.Subscribe(filter, qos, nil))
}

func (p *pahoClient) Publish(topic string, qos byte, payload []byte) func(context.Context) error {
	tok := p.c.Publish(topic, qos, false, payload)
	return func(ctx context.Context) error { return waitToken(ctx, tok) }
}

func (p *pahoClient) PublishRetained(topic string, qos byte, payload []byte) func(context.Context) error {
	tok := p.c.Publish(topic, qos, true, payload)
	return func(ctx context.Context) error { return waitToken(ctx, tok) }
}

func (p *pahoClient) Close() { p.c.Disconnect(50) }

func waitToken(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leanClient is an MQTT 3.1.1 client on mqtt/packet: one reader goroutine,
// writes coalesced in a buffer that a flusher goroutine drains.
type leanClient struct {
	nc      net.Conn
	handler func([]byte)

	mu      sync.Mutex // guards bw, buf, pending, nextID
	bw      *bufio.Writer
	buf     []byte
	pending map[uint16]chan error
	nextID  uint16
	err     error

	flush chan struct{}
	done  chan struct{}
}

func dialLean(ctx context.Context, cfg *Config, id string, handler func([]byte)) (client, error) {
	broker := cfg.Broker
	u, err := url.Parse(broker)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl") {
		return nil, fmt.Errorf("bench: the lean client speaks tcp://host:port or ssl://host:port, not %q", broker)
	}
	nc, err := dialURL(ctx, u, cfg.TLS)
	if err != nil {
		return nil, err
	}
	c := &leanClient{nc: nc, handler: handler, bw: bufio.NewWriterSize(nc, 64<<10),
		pending: map[uint16]chan error{}, flush: make(chan struct{}, 1), done: make(chan struct{})}
	br := bufio.NewReaderSize(nc, 64<<10)
	cp := &packet.Connect{ProtocolVersion: packet.Version311, ClientID: id, CleanStart: true, KeepAliveSeconds: 60}
	if cfg.Username != "" {
		cp.HasUsername, cp.Username = true, cfg.Username
		cp.HasPassword, cp.Password = true, []byte(cfg.Password)
	}
	if err := c.write(cp); err != nil {
		nc.Close()
		return nil, err
	}
	c.mu.Lock()
	c.bw.Flush()
	c.mu.Unlock()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packet.Read(br, packet.Version311, 0)
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s to %s: %w", id, broker, err)
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != 0 {
		nc.Close()
		return nil, fmt.Errorf("connect %s to %s: refused: %v", id, broker, p)
	}
	go c.readLoop(br)
	go c.flushLoop()
	return c, nil
}

// dialURL opens a TCP connection to u's host, with TLS for ssl://.
func dialURL(ctx context.Context, u *url.URL, conf *tls.Config) (net.Conn, error) {
	if u.Scheme == "ssl" {
		d := tls.Dialer{Config: conf}
		return d.DialContext(ctx, "tcp", u.Host)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", u.Host)
}

func (c *leanClient) write(p packet.Packet) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeLocked(p)
}

func (c *leanClient) writeLocked(p packet.Packet) error {
	if c.err != nil {
		return c.err
	}
	var err error
	c.buf, err = packet.Encode(c.buf[:0], p, packet.Version311)
	if err != nil {
		return err
	}
	_, err = c.bw.Write(c.buf)
	return err
}

func (c *leanClient) kick() {
	select {
	case c.flush <- struct{}{}:
	default:
	}
}

func (c *leanClient) flushLoop() {
	for {
		select {
		case <-c.done:
			return
		case <-c.flush:
			c.mu.Lock()
			err := c.bw.Flush()
			c.mu.Unlock()
			if err != nil {
				c.fail(err)
				return
			}
		}
	}
}

func (c *leanClient) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	for id, ch := range c.pending {
		ch <- err
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

func (c *leanClient) readLoop(br *bufio.Reader) {
	defer close(c.done)
	for {
		p, err := packet.Read(br, packet.Version311, 0)
		if err != nil {
			c.fail(fmt.Errorf("connection: %w", err))
			return
		}
		switch p := p.(type) {
		case *packet.Publish:
			c.handler(p.Payload)
			switch p.QoS {
			case 1:
				c.write(&packet.Puback{PacketID: p.PacketID})
				c.kick()
			case 2:
				c.write(&packet.Pubrec{PacketID: p.PacketID})
				c.kick()
			}
		case *packet.Pubrel:
			c.write(&packet.Pubcomp{PacketID: p.PacketID})
			c.kick()
		case *packet.Pubrec:
			c.write(&packet.Pubrel{PacketID: p.PacketID})
			c.kick()
		case *packet.Puback:
			c.resolve(p.PacketID, nil)
		case *packet.Pubcomp:
			c.resolve(p.PacketID, nil)
		case *packet.Suback:
			var err error
			for _, code := range p.ReasonCodes {
				if code.IsError() {
					err = fmt.Errorf("subscription refused: %v", code)
				}
			}
			c.resolve(p.PacketID, err)
		}
	}
}

func (c *leanClient) resolve(id uint16, err error) {
	c.mu.Lock()
	ch := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ch != nil {
		ch <- err
	}
}

// track reserves a packet id and its completion channel.
func (c *leanClient) trackLocked() (uint16, chan error) {
	for {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if _, used := c.pending[c.nextID]; !used {
			break
		}
	}
	ch := make(chan error, 1)
	c.pending[c.nextID] = ch
	return c.nextID, ch
}

func (c *leanClient) Subscribe(ctx context.Context, filter string, qos byte) error {
	c.mu.Lock()
	id, ch := c.trackLocked()
	err := c.writeLocked(&packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.kick()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errClosed = errors.New("bench: client closed")

func (c *leanClient) Publish(topic string, qos byte, payload []byte) func(context.Context) error {
	return c.publish(&packet.Publish{Topic: topic, QoS: qos, Payload: payload})
}

func (c *leanClient) PublishRetained(topic string, qos byte, payload []byte) func(context.Context) error {
	return c.publish(&packet.Publish{Topic: topic, QoS: qos, Retain: true, Payload: payload})
}

func (c *leanClient) publish(p *packet.Publish) func(context.Context) error {
	qos := p.QoS
	c.mu.Lock()
	var ch chan error
	if qos > 0 {
		p.PacketID, ch = c.trackLocked()
	}
	err := c.writeLocked(p)
	c.mu.Unlock()
	c.kick()
	return func(ctx context.Context) error {
		if err != nil || ch == nil {
			return err
		}
		select {
		case err := <-ch:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return errClosed
		}
	}
}

func (c *leanClient) Close() {
	c.write(&packet.Disconnect{})
	c.mu.Lock()
	c.bw.Flush()
	c.mu.Unlock()
	c.nc.Close()
}
