package mqtt

import (
	"sort"
	"time"

	"github.com/stratamq/strata/log"
)

// ConnInfo describes one of this node's client connections, for the
// admin API. What the log knows of the session (subscriptions, expiry,
// connect time) is in the fsm views; this is what only the node holding
// the connection knows.
type ConnInfo struct {
	ClientID        string
	Name            string // the connection's name in the log (fsm Session.Node)
	Remote          string // the peer's address
	Listener        string // "tcp", "tls", "ws" or "wss"
	User            string // authenticated user name, "" for anonymous
	ProtocolVersion byte
	KeepAlive       time.Duration // in force (CONNACK's Server Keep Alive when set)
	ConnectOffset   log.Offset    // the SessionConnect that opened it
}

// Connections lists the connections whose CONNECT was accepted, by client
// id. Safe for concurrent use. Disconnecting a client is not here: the
// admin API proposes a disconnect to the log (fsm KindSessionDisconnect)
// and the node holding the connection closes it when it applies
// (dispatch.go sessionEvent), wherever the API was called.
func (b *Broker) Connections() []ConnInfo {
	b.mu.Lock()
	out := make([]ConnInfo, 0, len(b.clients))
	for _, c := range b.clients {
		out = append(out, c.info())
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out
}

// Connection describes the connection named name (fsm Session.Node) if it
// is open here and its CONNECT was accepted. Safe for concurrent use.
func (b *Broker) Connection(name string) (ConnInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.conns[name]
	if c == nil || b.clients[c.clientID] != c {
		return ConnInfo{}, false
	}
	return c.info(), true
}

// info describes c. Call it with b.mu held and c registered: register ran
// under b.mu after CONNECT set these fields, so the reads are ordered
// after their writes.
func (c *conn) info() ConnInfo {
	return ConnInfo{ClientID: c.clientID, Name: c.name, Remote: c.nc.RemoteAddr().String(),
		Listener: c.listener.Name, User: c.identity.User, ProtocolVersion: c.version,
		KeepAlive: c.keepAlive, ConnectOffset: c.connectOffset()}
}

// Counters returns the counters by name (snake case, as the HTTP API's
// GET /v1/stats shows them). Safe for concurrent use.
func (s *Stats) Counters() map[string]uint64 {
	return map[string]uint64{
		"connections":       uint64(max(s.Connections.Load(), 0)),
		"connects_total":    s.ConnectsTotal.Load(),
		"publish_received":  s.PublishReceived(),
		"publish_sent":      s.PublishSent(),
		"dropped_qos0":      s.DroppedQoS0.Load(),
		"dropped_too_large": s.DroppedTooLarge.Load(),
		"expired":           s.Expired.Load(),
		"bytes_received":    s.BytesReceived.Load(),
		"bytes_sent":        s.BytesSent.Load(),
	}
}
