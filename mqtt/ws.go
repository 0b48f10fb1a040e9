package mqtt

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

// WebSocketHandler serves MQTT over WebSocket (MQTT 5.0 section 6) on path
// /mqtt: the subprotocol must be "mqtt" (or "mqttv3.1" for old clients),
// messages are binary, and a packet may span several frames or share one.
// serve runs the connection and returns when it ends.
//
// Any Origin is accepted: an MQTT connection carries no ambient browser
// credentials (cookies are not used), and clients authenticate in CONNECT.
func WebSocketHandler(serve func(c net.Conn), logger zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mqtt" {
			http.NotFound(w, r)
			return
		}
		var offered []string
		for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
			for _, p := range strings.Split(v, ",") {
				offered = append(offered, strings.TrimSpace(p))
			}
		}
		if !slices.Contains(offered, "mqtt") && !slices.Contains(offered, "mqttv3.1") {
			http.Error(w, "MQTT over WebSocket needs the subprotocol \"mqtt\" (Sec-WebSocket-Protocol: mqtt)", http.StatusBadRequest)
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:       []string{"mqtt", "mqttv3.1"},
			InsecureSkipVerify: true, // any Origin: see above
		})
		if err != nil {
			logger.Debug().Err(err).Str("remote", r.RemoteAddr).Msg("websocket upgrade failed")
			return
		}
		ws.SetReadLimit(-1) // the broker bounds packets itself (--max-packet-size)
		nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
		serve(&wsConn{Conn: nc, remote: remoteAddr(r.RemoteAddr)})
	})
}

// wsConn reports the HTTP client's address as the connection's.
type wsConn struct {
	net.Conn
	remote net.Addr
}

func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

func remoteAddr(s string) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", s); err == nil {
		return a
	}
	return wsAddr(s)
}

type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }
